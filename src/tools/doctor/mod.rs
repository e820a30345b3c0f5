//! `doctor`: check a host for what the design learned the hard way.
//!
//! Every check reads files under /proc and /sys (or the roots given with
//! `--proc-root`/`--sys-root`, so tests use a fake tree) and the instance
//! metadata service; nothing is ever changed. Each prints pass, warn or fail
//! and, for warn and fail, the fix; a check that does not apply to the host's
//! `--role` prints skip and why. The exit code is non-zero when one failed.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

mod imds;
pub use imds::is_nitro;

/// What the relay asks for its multicast socket buffers (`rcvbuf`/`sndbuf`).
pub const RELAY_BUFFER: usize = 8 << 20;
/// A Transit Gateway carries packets up to this size and drops larger multicast.
pub const TGW_MTU: u32 = 8500;
/// IPv4 and UDP headers.
pub const HEADERS: usize = 28;

#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "Examples:\n  mcast-relay doctor --iface eth0                    # an ECS host that runs the egress\n  mcast-relay doctor --role receiver --iface eth0    # a customer's receiver\n  mcast-relay doctor --role ingress --iface feed0    # the datacenter host\n  mcast-relay doctor --iface 10.0.1.5 --ttl 32 --max-datagram 1472 --json\n\nExit code: 0 when no check failed (warnings and skips allowed), 1 otherwise."
)]
pub struct DoctorArgs {
    /// What this host runs, which decides the checks that apply. egress (the
    /// default: a host in AWS that emits into the Transit Gateway) gets every
    /// check. receiver (a customer's instance) sends no multicast: no TTL
    /// check, and an MTU above 8,500 is fine. ingress (the datacenter host)
    /// leaves IGMP to the exchange's routers and is not in AWS: the IGMP, TTL,
    /// Transit Gateway MTU and Nitro checks are skipped.
    #[arg(long, value_enum, default_value_t = Role::Egress)]
    pub role: Role,
    /// Interface the relay or receiver uses: a name or an IPv4 address.
    #[arg(long, default_value = "127.0.0.1", env = "MCAST_RELAY_IFACE")]
    pub iface: String,
    /// Multicast TTL the egress (or another sender) uses; must be above 1 to cross a Transit Gateway.
    #[arg(long, default_value_t = crate::config::defaults::TTL)]
    pub ttl: u32,
    /// Largest UDP payload the feed carries, bytes; it must leave the interface unfragmented.
    #[arg(long, default_value_t = 1472)]
    pub max_datagram: usize,
    /// Socket buffer the relay asks for, bytes (its rcvbuf/sndbuf).
    #[arg(long, default_value_t = RELAY_BUFFER)]
    pub buffer: usize,
    /// Instance metadata service (IMDSv2) to ask whether this is an EC2 Nitro instance.
    #[arg(
        long,
        default_value = "http://169.254.169.254",
        env = "MCAST_RELAY_IMDS_URL"
    )]
    pub imds_url: String,
    /// Give up on the metadata service after this long.
    #[arg(long, default_value = "1s", value_parser = super::parse_duration)]
    pub imds_timeout: Duration,
    /// Print the results as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Where /proc is (tests point this at a fake tree).
    #[arg(
        long,
        default_value = "/proc",
        env = "MCAST_RELAY_PROC_ROOT",
        hide = true
    )]
    pub proc_root: PathBuf,
    /// Where /sys is (tests point this at a fake tree).
    #[arg(
        long,
        default_value = "/sys",
        env = "MCAST_RELAY_SYS_ROOT",
        hide = true
    )]
    pub sys_root: PathBuf,
}

/// What the host runs (`--role`).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The datacenter host: joins the exchange's groups, sends them over TCP.
    Ingress,
    /// A host in AWS that emits the feed into the VPC and the Transit Gateway.
    Egress,
    /// A customer's instance that joins the groups through the Transit Gateway.
    Receiver,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Ingress => "ingress",
            Role::Egress => "egress",
            Role::Receiver => "receiver",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Does not apply to this role; the detail says why.
    Skip,
    Pass,
    Warn,
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Skip => "SKIP",
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// A stable identifier: interface, igmp-all, igmp-iface, multicast-route,
    /// rp-filter, rmem-max, wmem-max, mtu, ttl, ec2-nitro (each is reported
    /// for every role; skip where it does not apply).
    pub id: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do about a warn or fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn pass(id: &'static str, detail: String) -> Check {
    Check {
        id,
        status: Status::Pass,
        detail,
        fix: None,
    }
}

fn skip(id: &'static str, why: &str) -> Check {
    Check {
        id,
        status: Status::Skip,
        detail: why.to_string(),
        fix: None,
    }
}

/// Why the datacenter host's IGMP is not checked (docs/DEPLOY.md section 5).
const INGRESS_IGMP: &str = "role ingress: in the datacenter the exchange's routers decide the IGMP version (source-specific joins need IGMPv3); IGMPv2 is forced only in AWS, towards the Transit Gateway";

fn warn(id: &'static str, detail: String, fix: String) -> Check {
    Check {
        id,
        status: Status::Warn,
        detail,
        fix: Some(fix),
    }
}

fn fail(id: &'static str, detail: String, fix: String) -> Check {
    Check {
        id,
        status: Status::Fail,
        detail,
        fix: Some(fix),
    }
}

const IFF_UP: u32 = 0x1;
const IFF_LOOPBACK: u32 = 0x8;
const IFF_MULTICAST: u32 = 0x1000;

/// The files the checks read, under injectable roots.
struct Host<'a> {
    proc_root: &'a Path,
    sys_root: &'a Path,
}

impl Host<'_> {
    fn read(&self, p: PathBuf) -> Option<String> {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    }
    fn sysctl(&self, key: &str) -> Option<i64> {
        self.read(self.proc_root.join("sys").join(key.replace('.', "/")))
            .and_then(|s| s.parse().ok())
    }
    fn conf(&self, dev: &str, what: &str) -> Option<i64> {
        self.read(
            self.proc_root
                .join("sys/net/ipv4/conf")
                .join(dev)
                .join(what),
        )
        .and_then(|s| s.parse().ok())
    }
    fn net(&self, dev: &str, what: &str) -> Option<String> {
        self.read(self.sys_root.join("class/net").join(dev).join(what))
    }
}

/// `sysctl -w` names an interface with dots in it with slashes (eth0.100 -> eth0/100).
fn sysctl_name(dev: &str) -> String {
    dev.replace('.', "/")
}

/// Run every check.
pub async fn checks(a: &DoctorArgs) -> Vec<Check> {
    let host = Host {
        proc_root: &a.proc_root,
        sys_root: &a.sys_root,
    };
    let mut out = Vec::new();
    let dev = match resolve(&a.iface, &host) {
        Ok(dev) => Some(dev),
        Err(e) => {
            out.push(fail(
                "interface",
                e,
                "give --iface an interface name or one of its IPv4 addresses (see `ip -4 addr`)"
                    .into(),
            ));
            None
        }
    };
    let mut loopback = false;
    if let Some(dev) = &dev {
        let c = interface(&host, dev);
        loopback = c.1;
        out.push(c.0);
        if a.role == Role::Ingress {
            out.push(skip("igmp-all", INGRESS_IGMP));
            out.push(skip("igmp-iface", INGRESS_IGMP));
        } else {
            out.push(igmp(&host, "all", dev));
            out.push(igmp(&host, dev, dev));
        }
        out.push(route(&host, dev));
        out.push(rp_filter(&host, dev));
    }
    out.push(buffer(&host, "rmem-max", "net.core.rmem_max", a.buffer));
    out.push(buffer(&host, "wmem-max", "net.core.wmem_max", a.buffer));
    if let Some(dev) = &dev {
        out.push(mtu(&host, dev, a.max_datagram, loopback, a.role));
    }
    out.push(match a.role {
        Role::Egress => ttl(a.ttl),
        Role::Receiver => skip("ttl", "role receiver: it sends no multicast"),
        Role::Ingress => skip(
            "ttl",
            "role ingress: it sends the feed over TCP; the TTL is the egress's",
        ),
    });
    out.push(match a.role {
        Role::Ingress => skip(
            "ec2-nitro",
            "role ingress: the datacenter host is not an EC2 instance",
        ),
        _ => imds::nitro(&host, &a.imds_url, a.imds_timeout).await,
    });
    out
}

/// The interface's name: as given, or the one holding the address given.
fn resolve(spec: &str, host: &Host) -> Result<String, String> {
    let name = if spec.parse::<Ipv4Addr>().is_ok() {
        crate::net::mcast::Iface::resolve(spec)
            .map(|i| i.name)
            .map_err(|e| format!("--iface {spec}: {e}"))?
    } else {
        spec.to_string()
    };
    if host.sys_root.join("class/net").join(&name).exists() {
        Ok(name)
    } else {
        Err(format!(
            "no interface {name:?} (nothing at {})",
            host.sys_root.join("class/net").join(&name).display()
        ))
    }
}

fn interface(host: &Host, dev: &str) -> (Check, bool) {
    let flags = host
        .net(dev, "flags")
        .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok());
    let Some(flags) = flags else {
        return (
            fail(
                "interface",
                format!("{dev}: cannot read its flags"),
                format!("check that {dev} exists: ip link show {dev}"),
            ),
            false,
        );
    };
    let loopback = flags & IFF_LOOPBACK != 0;
    let oper = host
        .net(dev, "operstate")
        .unwrap_or_else(|| "unknown".into());
    if flags & IFF_UP == 0 {
        return (
            fail(
                "interface",
                format!("{dev} is down (flags {flags:#x})"),
                format!("ip link set dev {dev} up"),
            ),
            loopback,
        );
    }
    if oper == "down" || oper == "lowerlayerdown" {
        return (
            fail(
                "interface",
                format!("{dev} is up but has no carrier (operstate {oper})"),
                format!("check the cable, the ENI attachment or the peer of {dev}"),
            ),
            loopback,
        );
    }
    if flags & IFF_MULTICAST == 0 {
        let fix = format!("ip link set dev {dev} multicast on");
        return (
            if loopback {
                warn(
                    "interface",
                    format!(
                        "{dev} is the loopback and has no MULTICAST flag: multicast still reaches listeners on this host (tests, the demo), nothing leaves it"
                    ),
                    fix,
                )
            } else {
                fail(
                    "interface",
                    format!(
                        "{dev} has no MULTICAST flag (flags {flags:#x}): the kernel will not join or send groups on it"
                    ),
                    fix,
                )
            },
            loopback,
        );
    }
    (
        pass(
            "interface",
            format!("{dev} is up with MULTICAST (flags {flags:#x}, operstate {oper})"),
        ),
        loopback,
    )
}

/// `net.ipv4.conf.<which>.force_igmp_version` for the interface `dev`. The
/// kernel uses IGMPv1 if `all` or the interface says 1, else IGMPv2 if either
/// says 2, else IGMPv3, which a Transit Gateway ignores.
fn igmp(host: &Host, which: &str, dev: &str) -> Check {
    let id = if which == "all" {
        "igmp-all"
    } else {
        "igmp-iface"
    };
    let other = if which == "all" { dev } else { "all" };
    let key = format!("net.ipv4.conf.{}.force_igmp_version", sysctl_name(which));
    let fix = format!(
        "sysctl -w {key}=2, and keep it: echo '{key} = 2' >> /etc/sysctl.d/90-mcast-relay.conf (in an ECS task, systemControls in the task definition)"
    );
    let (Some(v), o) = (
        host.conf(which, "force_igmp_version"),
        host.conf(other, "force_igmp_version"),
    ) else {
        return fail(id, format!("{key}: cannot read it"), fix);
    };
    let o = o.unwrap_or(0);
    match v {
        2 if o == 1 => fail(
            id,
            format!("{key} = 2, but the {other} setting is 1, which wins: IGMPv1"),
            format!(
                "sysctl -w net.ipv4.conf.{}.force_igmp_version=2",
                sysctl_name(other)
            ),
        ),
        2 => pass(id, format!("{key} = 2 (IGMPv2)")),
        1 => fail(
            id,
            format!("{key} = 1: IGMPv1, which a Transit Gateway does not speak"),
            fix,
        ),
        _ if o == 2 => warn(
            id,
            format!("{key} = {v}; IGMPv2 holds on {dev} only through the {other} setting (= 2)"),
            fix,
        ),
        _ => fail(
            id,
            format!(
                "{key} = {v}: {dev} speaks IGMPv3, which a Transit Gateway ignores, so receivers never get the groups"
            ),
            fix,
        ),
    }
}

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

fn route(host: &Host, dev: &str) -> Check {
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

fn rp_filter(host: &Host, dev: &str) -> Check {
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

fn buffer(host: &Host, id: &'static str, key: &str, want: usize) -> Check {
    let fix = format!(
        "sysctl -w {key}={want}, and keep it in /etc/sysctl.d/; or run the relay with CAP_NET_ADMIN (it then asks past the cap)"
    );
    match host.sysctl(key) {
        None => warn(id, format!("{key}: cannot read it"), fix),
        Some(v) if v as u128 >= want as u128 => {
            pass(id, format!("{key} = {v} (the relay asks for {want})"))
        }
        Some(v) => warn(
            id,
            format!(
                "{key} = {v}: the relay asks for {want} and gets {v} unless it has CAP_NET_ADMIN; bursts overflow a small buffer and datagrams are lost"
            ),
            fix,
        ),
    }
}

fn mtu(host: &Host, dev: &str, max_datagram: usize, loopback: bool, role: Role) -> Check {
    let id = "mtu";
    let Some(mtu) = host.net(dev, "mtu").and_then(|m| m.parse::<u32>().ok()) else {
        return warn(
            id,
            format!("{dev}: cannot read its MTU"),
            format!("ip link show {dev}"),
        );
    };
    let need = max_datagram + HEADERS;
    if need > mtu as usize {
        let what = match role {
            Role::Egress => {
                "they would be fragmented, and the egress (DF set) drops them as too_big"
            }
            Role::Receiver | Role::Ingress => {
                "larger packets than the interface takes arrive fragmented or not at all"
            }
        };
        return fail(
            id,
            format!(
                "MTU {mtu} on {dev}: datagrams of up to {max_datagram} bytes need {need}; {what}"
            ),
            format!(
                "ip link set dev {dev} mtu {need}, or keep datagrams at most {} bytes",
                mtu as usize - HEADERS
            ),
        );
    }
    if loopback {
        return pass(
            id,
            format!(
                "MTU {mtu} on {dev} (loopback: not on a Transit Gateway path); datagrams of {max_datagram} bytes fit"
            ),
        );
    }
    if role == Role::Ingress {
        return pass(
            id,
            format!(
                "MTU {mtu} on {dev}: datagrams of up to {max_datagram} bytes arrive unfragmented (role ingress: the Transit Gateway's {TGW_MTU} bytes are the egress's to check)"
            ),
        );
    }
    let tgw_max = TGW_MTU as usize - HEADERS;
    if need > TGW_MTU as usize {
        return fail(
            id,
            format!(
                "datagrams of up to {max_datagram} bytes make packets over the Transit Gateway's {TGW_MTU} bytes, which it drops (multicast is never fragmented)"
            ),
            format!("keep datagrams at most {tgw_max} bytes"),
        );
    }
    if mtu > TGW_MTU && role == Role::Receiver {
        return pass(
            id,
            format!(
                "MTU {mtu} on {dev}: datagrams of up to {max_datagram} bytes arrive whole (a receiver sends no multicast, so an MTU above the Transit Gateway's {TGW_MTU} does no harm)"
            ),
        );
    }
    if mtu > TGW_MTU {
        return warn(
            id,
            format!(
                "MTU {mtu} on {dev} is above the Transit Gateway's {TGW_MTU}: a datagram over {tgw_max} bytes would leave here whole and be dropped by the TGW, uncounted (yours are at most {max_datagram}, which fit)"
            ),
            format!(
                "ip link set dev {dev} mtu {TGW_MTU}: the egress then counts such datagrams as too_big"
            ),
        );
    }
    pass(
        id,
        format!(
            "MTU {mtu} on {dev}: datagrams of up to {max_datagram} bytes leave unfragmented and fit a Transit Gateway"
        ),
    )
}

fn ttl(ttl: u32) -> Check {
    let id = "ttl";
    let fix = format!(
        "use --ttl {} (the egress default): each routed hop takes one off",
        crate::config::defaults::TTL
    );
    match ttl {
        0 => fail(id, "TTL 0: datagrams never leave this host".into(), fix),
        1 => fail(
            id,
            "TTL 1: datagrams never leave the subnet; crossing a Transit Gateway needs more than 1"
                .into(),
            fix,
        ),
        2..=255 => pass(id, format!("TTL {ttl}: enough to cross a Transit Gateway")),
        _ => fail(id, format!("TTL {ttl} is not a valid TTL (1 to 255)"), fix),
    }
}

/// Run every check and print the results; `Ok(true)` when none failed.
pub async fn run(a: DoctorArgs) -> anyhow::Result<bool> {
    let results = checks(&a).await;
    let count = |s: Status| results.iter().filter(|c| c.status == s).count();
    let (p, w, f, s) = (
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::Skip),
    );
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "iface": a.iface,
                "role": a.role,
                "checks": results,
                "pass": p,
                "warn": w,
                "fail": f,
                "skip": s,
            })
        );
    } else {
        println!(
            "mcast-relay doctor: interface {}, role {}",
            a.iface,
            a.role.name()
        );
        for c in &results {
            println!("  {}  {:<16} {}", c.status.label(), c.id, c.detail);
            if let Some(fix) = &c.fix {
                println!("        {:<16} fix: {fix}", "");
            }
        }
        println!(
            "doctor: {p} pass, {w} warn, {f} fail{}{}",
            if s > 0 {
                format!(", {s} skipped")
            } else {
                String::new()
            },
            if f > 0 { " (exit code 1)" } else { "" }
        );
    }
    Ok(f == 0)
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

    #[test]
    fn ttl_must_cross_a_hop() {
        assert_eq!(ttl(1).status, Status::Fail);
        assert_eq!(ttl(0).status, Status::Fail);
        assert_eq!(ttl(2).status, Status::Pass);
        assert_eq!(ttl(32).status, Status::Pass);
        assert_eq!(ttl(300).status, Status::Fail);
    }
}
