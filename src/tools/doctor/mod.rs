//! `doctor`: check a host for what the design learned the hard way.
//!
//! Every check reads files under /proc, /sys and /dev (or the roots given
//! with `--proc-root`/`--sys-root`/`--dev-root`, so tests use a fake tree) and the instance
//! metadata service; nothing is ever changed. Each prints pass, warn or fail
//! and, for warn and fail, the fix; a check that does not apply to the host's
//! `--role` prints skip and why. The exit code is 4 when one failed.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::units::Span;

mod buffer;
mod check;
mod cpufreq;
mod cpuidle;
mod host;
mod igmp;
mod imds;
mod interface;
mod mtu;
mod pmqos;
mod route;
mod tcpbuf;
mod ttl;

pub use check::{Check, Status};
use check::{fail, pass, skip, warn};
use host::Host;
pub use imds::is_nitro;

/// What the relay asks for its multicast socket buffers (`rcvbuf`/`sndbuf`).
pub const RELAY_BUFFER: usize = 8 << 20;
/// A Transit Gateway carries packets up to this size and drops larger multicast.
pub const TGW_MTU: u32 = 8500;
/// IPv4 and UDP headers.
pub const HEADERS: usize = 28;

#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "Examples:\n  mcast-relay doctor --iface eth0                    # an ECS host that runs the egress\n  mcast-relay doctor --role receiver --iface eth0    # a customer's receiver\n  mcast-relay doctor --role ingress --iface feed0    # the datacenter host\n  mcast-relay doctor --iface 10.0.1.5 --ttl 32 --max-datagram 1472 --json\n  mcast-relay doctor --role ingress --iface feed0 --rtt 230ms --peak-rate 100000 --avg-datagram 1400\n                                                     # TCP buffers for London-Tokyo at the peak\n\nThe cpuidle, pm-qos and cpufreq checks are for a host dedicated to the relay: they warn at most, and a shared host may leave them warning.\n\nExit code: 0 when no check failed (warnings and skips allowed), 4 otherwise.\n\nEnvironment: MCAST_RELAY_DOCTOR_IFACE (--iface) and MCAST_RELAY_DOCTOR_IMDS_URL (--imds-url), read by doctor alone; the relays' MCAST_RELAY_IFACE is not."
)]
pub struct DoctorArgs {
    /// What this host runs, which decides the checks that apply. egress (the
    /// default: a host in AWS that emits into the Transit Gateway) gets every
    /// check. receiver (a customer's instance) sends no multicast and has no
    /// relay TCP connection: no TTL or tcp-buffer check, and an MTU above
    /// 8,500 is fine. ingress (the datacenter host)
    /// leaves IGMP to the exchange's routers and is not in AWS: the IGMP, TTL,
    /// Transit Gateway MTU and Nitro checks are skipped.
    #[arg(long, value_enum, default_value_t = Role::Egress)]
    pub role: Role,
    /// Interface the relay or receiver uses: a name or an IPv4 address.
    #[arg(long, default_value = "127.0.0.1", env = "MCAST_RELAY_DOCTOR_IFACE")]
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
    /// Round trip between the ingress and the egress (e.g. 230ms), for the
    /// tcp-buffer check: with --peak-rate it sizes the TCP buffer the link
    /// needs (net.ipv4.tcp_wmem on the ingress, tcp_rmem on the egress).
    /// Without both, tcp-buffer is skipped.
    #[arg(long)]
    pub(crate) rtt: Option<Span>,
    /// The feed's peak rate, datagrams per second, for the tcp-buffer check.
    #[arg(long)]
    pub peak_rate: Option<u64>,
    /// Average UDP payload at the peak, bytes, for the tcp-buffer check; each
    /// datagram travels with 33 bytes of data framing. [default: --max-datagram,
    /// the worst case]
    #[arg(long)]
    pub avg_datagram: Option<usize>,
    /// Instance metadata service (IMDSv2) to ask whether this is an EC2 Nitro instance.
    #[arg(
        long,
        default_value = "http://169.254.169.254",
        env = "MCAST_RELAY_DOCTOR_IMDS_URL"
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
        env = "MCAST_RELAY_DOCTOR_PROC_ROOT",
        hide = true
    )]
    pub proc_root: PathBuf,
    /// Where /sys is (tests point this at a fake tree).
    #[arg(
        long,
        default_value = "/sys",
        env = "MCAST_RELAY_DOCTOR_SYS_ROOT",
        hide = true
    )]
    pub sys_root: PathBuf,
    /// Where /dev is, for /dev/cpu_dma_latency (tests point this at a fake tree).
    #[arg(
        long,
        default_value = "/dev",
        env = "MCAST_RELAY_DOCTOR_DEV_ROOT",
        hide = true
    )]
    pub dev_root: PathBuf,
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
    pub(super) fn name(self) -> &'static str {
        match self {
            Role::Ingress => "ingress",
            Role::Egress => "egress",
            Role::Receiver => "receiver",
        }
    }
}

/// Run every check.
pub async fn checks(a: &DoctorArgs) -> Vec<Check> {
    let host = Host {
        proc_root: &a.proc_root,
        sys_root: &a.sys_root,
        dev_root: &a.dev_root,
    };
    let mut out = Vec::new();
    let dev = match interface::resolve(&a.iface, &host) {
        Ok(dev) => Some(dev),
        Err(e) => {
            out.push(fail(
                "interface",
                e.to_string(),
                "give --iface an interface name or one of its IPv4 addresses (see `ip -4 addr`)"
                    .into(),
            ));
            None
        }
    };
    let mut loopback = false;
    if let Some(dev) = &dev {
        let c = interface::check(&host, dev);
        loopback = c.1;
        out.push(c.0);
        if a.role == Role::Ingress {
            out.push(skip("igmp-all", igmp::INGRESS));
            out.push(skip("igmp-iface", igmp::INGRESS));
        } else {
            out.push(igmp::check(&host, "all", dev));
            out.push(igmp::check(&host, dev, dev));
        }
        out.push(route::check(&host, dev));
        out.push(route::rp_filter(&host, dev));
    }
    out.push(buffer::check(
        &host,
        "rmem-max",
        "net.core.rmem_max",
        a.buffer,
    ));
    out.push(buffer::check(
        &host,
        "wmem-max",
        "net.core.wmem_max",
        a.buffer,
    ));
    let peak = match (a.rtt, a.peak_rate) {
        (Some(rtt), Some(rate)) => Some(tcpbuf::Peak {
            rtt: rtt.get(),
            rate,
            payload: a.avg_datagram.unwrap_or(a.max_datagram),
        }),
        _ => None,
    };
    out.push(tcpbuf::check(&host, a.role, peak));
    if let Some(dev) = &dev {
        out.push(mtu::check(&host, dev, a.max_datagram, loopback, a.role));
    }
    out.push(match a.role {
        Role::Egress => ttl::check(a.ttl),
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
    let idle = cpuidle::read(&host);
    let qos = pmqos::read(&host);
    out.push(cpuidle::check(idle.as_ref(), qos.limit()));
    out.push(pmqos::check(&qos, idle.as_ref()));
    out.push(cpufreq::check(&host));
    out
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
            if f > 0 { " (exit code 4)" } else { "" }
        );
    }
    Ok(f == 0)
}
