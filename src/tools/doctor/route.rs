//! The `multicast-route` and `rp-filter` checks: where multicast goes out,
//! and whether it is let in from where it comes.

use std::net::Ipv4Addr;

use super::host::sysctl_name;
use super::{Check, Host, fail, pass, warn};

/// One line of /proc/net/route.
#[derive(Debug)]
struct Route {
    dev: String,
    dest: u32,
    mask: u32,
    metric: u32,
}

fn parse_routes(text: &str) -> Vec<Route> {
    let hex = |s: &str| -> Option<u32> {
        // The kernel prints the network-order word as a host-order number.
        u32::from_str_radix(s, 16)
            .ok()
            .map(|v| u32::from_be_bytes(v.to_ne_bytes()))
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            Some(Route {
                dev: f[0].to_string(),
                dest: hex(f[1])?,
                mask: hex(f[7])?,
                metric: f[6].parse().ok()?,
            })
        })
        .collect()
}

pub(super) fn check(host: &Host, dev: &str) -> Check {
    let id = "multicast-route";
    let fix = format!("ip route add 224.0.0.0/4 dev {dev}");
    let Some(text) = host.read(host.proc_root.join("net/route")) else {
        return warn(id, "cannot read /proc/net/route".into(), fix);
    };
    let mcast: u32 = u32::from(Ipv4Addr::new(224, 0, 0, 0));
    let four: u32 = 0xf000_0000;
    // Routes that cover all of 224.0.0.0/4; the longest one wins, then the lowest metric.
    let best = parse_routes(&text)
        .into_iter()
        .filter(|r| r.mask.leading_ones() <= 4 && (mcast & r.mask) == r.dest && r.mask & !four == 0)
        .min_by_key(|r| (std::cmp::Reverse(r.mask.leading_ones()), r.metric));
    match best {
        None => fail(
            id,
            "no route covers 224.0.0.0/4 (and no default route): programs that join or send without naming an interface get ENODEV".into(),
            fix,
        ),
        Some(r) if r.dev == dev && r.mask != 0 => pass(
            id,
            format!(
                "224.0.0.0/{} goes out {dev}",
                r.mask.leading_ones()
            ),
        ),
        Some(r) if r.dev == dev => pass(
            id,
            format!("224.0.0.0/4 goes out {dev} by the default route ({fix} would pin it)"),
        ),
        Some(r) => warn(
            id,
            format!(
                "224.0.0.0/4 goes out {} ({}), not {dev}: programs that join or send without naming an interface use {}; mcast-relay names it, so it is not affected",
                r.dev,
                if r.mask == 0 { "default route" } else { "multicast route" },
                r.dev
            ),
            fix,
        ),
    }
}

pub(super) fn rp_filter(host: &Host, dev: &str) -> Check {
    let id = "rp-filter";
    let all = host.conf("all", "rp_filter").unwrap_or(0);
    let own = host.conf(dev, "rp_filter").unwrap_or(0);
    // The kernel uses the larger of the two.
    let v = all.max(own);
    let name = match v {
        0 => "off",
        1 => "strict",
        _ => "loose",
    };
    let detail = format!(
        "rp_filter {v} ({name}): net.ipv4.conf.all.rp_filter = {all}, net.ipv4.conf.{}.rp_filter = {own}",
        sysctl_name(dev)
    );
    if v == 1 {
        warn(
            id,
            format!(
                "{detail}; multicast from a source this host would not route back out {dev} is dropped silently"
            ),
            format!(
                "sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.{}.rp_filter=2 (loose)",
                sysctl_name(dev)
            ),
        )
    } else {
        pass(id, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_in_network_order() {
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
                    eth1\t000000E0\t00000000\t0001\t0\t0\t0\t000000F0\t0\t0\t0\n";
        let r = parse_routes(text);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].metric, 100);
        assert_eq!(Ipv4Addr::from(r[1].dest), Ipv4Addr::new(224, 0, 0, 0));
        assert_eq!(r[1].mask.leading_ones(), 4);
    }
}
