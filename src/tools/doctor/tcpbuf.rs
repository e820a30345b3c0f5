//! The `tcp-buffer` check: the link's TCP buffer can hold what the feed puts
//! in flight over the round trip. The ingress's send buffer
//! (`net.ipv4.tcp_wmem`, third field) caps the bytes it has sent and not yet
//! seen acknowledged; the egress's receive buffer (`net.ipv4.tcp_rmem`) caps
//! the window it offers. Either below twice the bandwidth-delay product
//! holds the link below the feed's peak: Linux counts each skb's overhead
//! against the buffer, and with the default `tcp_adv_win_scale` only about
//! half of the receive buffer is offered as window.

use std::time::Duration;

use super::{Check, Host, Role, pass, skip, warn};
use crate::wire::frame::DATA_OVERHEAD;

/// The feed at its peak, from `--rtt`, `--peak-rate` and `--avg-datagram`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Peak {
    pub(super) rtt: Duration,
    /// Datagrams per second.
    pub(super) rate: u64,
    /// Average UDP payload at the peak, bytes.
    pub(super) payload: usize,
}

impl Peak {
    /// Bytes in flight over one round trip: rate × (payload + the data
    /// frame's 33 bytes) × RTT. The sealed record's 21 bytes are shared by
    /// the frames batched in it and left out.
    pub(super) fn bdp(&self) -> u64 {
        let per_sec = self.rate as u128 * (self.payload + DATA_OVERHEAD) as u128;
        per_sec
            .saturating_mul(self.rtt.as_nanos())
            .div_ceil(1_000_000_000)
            .min(u64::MAX as u128) as u64
    }

    /// What the buffer needs: twice the BDP, rounded up to a 4 KiB page.
    pub(super) fn need(&self) -> u64 {
        self.bdp()
            .saturating_mul(2)
            .div_ceil(4096)
            .saturating_mul(4096)
    }
}

pub(super) const ID: &str = "tcp-buffer";

pub(super) fn check(host: &Host, role: Role, peak: Option<Peak>) -> Check {
    let (key, cap, which, opt, defaults) = match role {
        Role::Receiver => {
            return skip(
                ID,
                "role receiver: it joins the groups and has no relay TCP connection",
            );
        }
        Role::Ingress => (
            "net.ipv4.tcp_wmem",
            "net.core.wmem_max",
            "send",
            "SO_SNDBUF",
            [4096, 16384],
        ),
        Role::Egress => (
            "net.ipv4.tcp_rmem",
            "net.core.rmem_max",
            "receive",
            "SO_RCVBUF",
            [4096, 131072],
        ),
    };
    let Some(peak) = peak else {
        return skip(
            ID,
            &format!(
                "give --rtt and --peak-rate (e.g. --rtt 230ms --peak-rate 100000, and --avg-datagram) to check {key} against the feed's bandwidth-delay product"
            ),
        );
    };
    let need = peak.need();
    let sums = format!(
        "2 × BDP = 2 × {} datagrams/s × ({} + {DATA_OVERHEAD}) B × {} ms = {need} B (rounded to 4 KiB)",
        peak.rate,
        peak.payload,
        peak.rtt.as_secs_f64() * 1e3,
    );
    let fields = host.sysctl3(key);
    let [min, def] = fields.map(|f| [f[0], f[1]]).unwrap_or(defaults);
    let mut fix = format!(
        "sysctl -w {key}=\"{min} {def} {need}\", and keep it: echo '{key} = {min} {def} {need}' >> /etc/sysctl.d/90-mcast-relay.conf"
    );
    let core = host.sysctl(cap);
    let capped = match core {
        Some(c) if c as u128 >= need as u128 => String::new(),
        Some(c) => format!(
            "; {cap} = {c} is below {need} too: TCP's autotuning is not bound by it, but an explicit {opt} would be capped at it"
        ),
        None => format!("; {cap}: cannot read it"),
    };
    if !capped.is_empty() {
        fix.push_str(&format!(
            "; if the link's socket buffer is ever set explicitly, also sysctl -w {cap}={need}"
        ));
    }
    let Some([_, _, max]) = fields else {
        return warn(ID, format!("{key}: cannot read it{capped}"), fix);
    };
    // Without receive autotuning the buffer stays at the default.
    let fixed = role == Role::Egress && host.sysctl("net.ipv4.tcp_moderate_rcvbuf") == Some(0);
    let (have, what) = if fixed {
        fix.push_str(", and sysctl -w net.ipv4.tcp_moderate_rcvbuf=1");
        (
            def,
            format!(
                "{key} default = {def} (net.ipv4.tcp_moderate_rcvbuf = 0: no autotuning, the buffer stays at the default)"
            ),
        )
    } else {
        (max, format!("{key} max = {max}"))
    };
    if have as u128 >= need as u128 {
        return pass(ID, format!("{what} >= {sums}{capped}"));
    }
    let effect = match role {
        Role::Ingress => {
            "the ingress's send buffer caps the bytes in flight, so at the peak the link falls behind and its backlog grows"
        }
        _ => {
            "the egress's receive buffer caps the window it offers, so at the peak the ingress cannot keep the round trip full and its backlog grows"
        }
    };
    warn(
        ID,
        format!("{what}: the TCP {which} buffer needs {sums}; {effect}{capped}"),
        fix,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_need_is_twice_the_bandwidth_delay_product_in_pages() {
        let p = Peak {
            rtt: Duration::from_millis(230),
            rate: 100_000,
            payload: 1400,
        };
        // 100,000/s × 1,433 B × 0.23 s.
        assert_eq!(p.bdp(), 32_959_000);
        assert_eq!(p.need(), 65_921_024);
        assert_eq!(p.need() % 4096, 0);
        assert!(p.need() >= 2 * p.bdp() && p.need() < 2 * p.bdp() + 4096);
        let idle = Peak { rate: 0, ..p };
        assert_eq!(idle.need(), 0);
    }
}
