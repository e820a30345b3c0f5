//! The `interface` check: `--iface` names an interface that is up, has a
//! carrier and takes multicast.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use super::{Check, Host, fail, pass, warn};

const IFF_UP: u32 = 0x1;
const IFF_LOOPBACK: u32 = 0x8;
const IFF_MULTICAST: u32 = 0x1000;

/// Why `--iface` names no interface of this host.
#[derive(Debug, thiserror::Error)]
pub(super) enum NoInterface {
    #[error("--iface {spec}: {source}")]
    NoAddress {
        spec: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no interface {name:?} (nothing at {})", .path.display())]
    Missing { name: String, path: PathBuf },
}

/// The interface's name: as given, or the one holding the address given.
pub(super) fn resolve(spec: &str, host: &Host) -> Result<String, NoInterface> {
    let name = if spec.parse::<Ipv4Addr>().is_ok() {
        crate::net::mcast::Iface::resolve(spec)
            .map(|i| i.name)
            .map_err(|source| NoInterface::NoAddress {
                spec: spec.to_string(),
                source,
            })?
    } else {
        spec.to_string()
    };
    let path = host.sys_root.join("class/net").join(&name);
    if path.exists() {
        Ok(name)
    } else {
        Err(NoInterface::Missing { name, path })
    }
}

/// The check, and whether `dev` is the loopback.
pub(super) fn check(host: &Host, dev: &str) -> (Check, bool) {
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
