//! The `pm-qos` check: the CPU latency limit in /dev/cpu_dma_latency, which
//! keeps every core out of C-states slower than it while some process holds
//! the device open with a value written (tuned's latency-performance profile
//! does). Reading it gives the current limit as 4 bytes, a native-endian
//! i32 of µs. Opening it files a request at the default (no limit), which
//! lowers nothing, and closing withdraws it: doctor still changes nothing.

use std::io::Read;

use super::cpuidle::{DEEP_US, Idle};
use super::{Check, Host, pass, skip, warn};

/// What the kernel reports when nothing asks for a limit (PM_QOS_DEFAULT_VALUE).
pub(super) const NO_LIMIT: i64 = 2_000_000_000;

pub(super) enum Qos {
    /// No such device: a kernel without CPU latency QoS.
    Absent,
    /// It exists but does not read (it is root's: mode 0600).
    Unreadable(String),
    /// The current limit, µs.
    Limit(i64),
}

impl Qos {
    pub(super) fn limit(&self) -> Option<i64> {
        match self {
            Qos::Limit(v) => Some(*v),
            _ => None,
        }
    }
}

pub(super) fn read(host: &Host) -> Qos {
    let p = host.dev_root.join("cpu_dma_latency");
    let mut f = match std::fs::File::open(&p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Qos::Absent,
        Err(e) => return Qos::Unreadable(e.to_string()),
    };
    let mut b = [0u8; 4];
    match f.read_exact(&mut b) {
        Ok(()) => Qos::Limit(i32::from_ne_bytes(b) as i64),
        Err(e) => Qos::Unreadable(format!("not 4 bytes: {e}")),
    }
}

pub(super) fn check(qos: &Qos, idle: Option<&Idle>) -> Check {
    let id = "pm-qos";
    let v = match qos {
        Qos::Absent => {
            return skip(
                id,
                "no /dev/cpu_dma_latency: this kernel has no CPU latency QoS",
            );
        }
        Qos::Unreadable(e) => {
            return skip(
                id,
                &format!(
                    "cannot read /dev/cpu_dma_latency ({e}): it is root's; run doctor as root to see the limit"
                ),
            );
        }
        Qos::Limit(v) => *v,
    };
    let shown = if v == NO_LIMIT {
        format!("no limit ({v}, the default)")
    } else {
        format!("a limit of {v} µs")
    };
    if v <= DEEP_US as i64 {
        return pass(
            id,
            format!(
                "/dev/cpu_dma_latency holds {shown}: some process (tuned, or one holding the device open) keeps cores out of C-states slower than that"
            ),
        );
    }
    match idle.and_then(|i| i.shallowest_deep()) {
        None => {
            return pass(
                id,
                format!(
                    "/dev/cpu_dma_latency holds {shown}, and none is needed: no enabled C-state takes over {DEEP_US} µs to leave"
                ),
            );
        }
        // The kernel skips a state whose exit latency is above the limit.
        Some(deep) if v < deep as i64 => {
            return pass(
                id,
                format!(
                    "/dev/cpu_dma_latency holds {shown}, below the shallowest deep C-state's {deep} µs"
                ),
            );
        }
        Some(_) => {}
    }
    warn(
        id,
        format!(
            "/dev/cpu_dma_latency holds {shown}: nothing keeps cores out of the deep C-states (see cpuidle). Fine for a shared host"
        ),
        "on a dedicated host only: run the relay with --cpu-dma-latency-us 0 (it holds the request while it runs), or tuned-adm profile latency-performance".into(),
    )
}
