//! The `cpuidle` check: whether cores may sleep in C-states slow to wake
//! from. A datagram that arrives on a core in a deep state waits for it to
//! wake (tens to hundreds of µs). That is a fair trade on a shared host; on
//! a host dedicated to the relay it is latency for nothing.

use std::collections::BTreeMap;

use super::host::numbered;
use super::{Check, Host, pass, skip, warn};

/// A C-state whose exit latency is above this many µs counts as deep.
pub(super) const DEEP_US: u64 = 10;

/// What /sys/devices/system/cpu says about idle states.
pub(super) struct Idle {
    driver: String,
    /// CPUs that have a cpuidle directory.
    cpus: usize,
    /// Enabled states deeper than [`DEEP_US`]: (latency µs, name) -> CPUs.
    deep: BTreeMap<(u64, String), usize>,
    /// Every state seen, for the detail: (latency µs, name).
    all: BTreeMap<(u64, String), ()>,
}

impl Idle {
    /// The shallowest enabled deep state's exit latency, µs.
    pub(super) fn shallowest_deep(&self) -> Option<u64> {
        self.deep.keys().next().map(|(l, _)| *l)
    }
}

/// `None` when there is no cpuidle driver: the kernel manages no C-states.
pub(super) fn read(host: &Host) -> Option<Idle> {
    let driver = host.cpu("cpuidle/current_driver")?;
    if driver == "none" || driver.is_empty() {
        return None;
    }
    let mut idle = Idle {
        driver,
        cpus: 0,
        deep: BTreeMap::new(),
        all: BTreeMap::new(),
    };
    for cpu in host.cpus() {
        let dir = host.sys_root.join("devices/system/cpu").join(&cpu);
        let states = numbered(&dir.join("cpuidle"), "state");
        if states.is_empty() {
            continue;
        }
        idle.cpus += 1;
        for s in states {
            let get = |f: &str| host.cpu(&format!("{cpu}/cpuidle/{s}/{f}"));
            let name = get("name").unwrap_or_else(|| s.clone());
            let Some(latency) = get("latency").and_then(|l| l.parse::<u64>().ok()) else {
                continue;
            };
            idle.all.insert((latency, name.clone()), ());
            if latency > DEEP_US && get("disable").as_deref() != Some("1") {
                *idle.deep.entry((latency, name)).or_default() += 1;
            }
        }
    }
    Some(idle)
}

pub(super) fn check(idle: Option<&Idle>, qos_us: Option<i64>) -> Check {
    let id = "cpuidle";
    let Some(idle) = idle else {
        return skip(
            id,
            "no cpuidle driver (/sys/devices/system/cpu/cpuidle/current_driver absent or none): the kernel manages no C-states here",
        );
    };
    let list = |m: &BTreeMap<(u64, String), usize>| {
        m.iter()
            .map(|((l, n), c)| format!("{n} {l} µs on {c} of {} CPUs", idle.cpus))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(shallowest) = idle.shallowest_deep() else {
        let states: Vec<String> = idle
            .all
            .keys()
            .map(|(l, n)| format!("{n} {l} µs"))
            .collect();
        return pass(
            id,
            format!(
                "driver {}: no enabled C-state takes over {DEEP_US} µs to leave ({})",
                idle.driver,
                states.join(", ")
            ),
        );
    };
    if let Some(q) = qos_us.filter(|q| (*q as u128) < shallowest as u128) {
        return pass(
            id,
            format!(
                "driver {}: deep C-states are enabled ({}), but the PM QoS limit of {q} µs keeps cores out of them",
                idle.driver,
                list(&idle.deep)
            ),
        );
    }
    let slowest = idle.deep.keys().last().map(|(l, _)| *l).unwrap_or(0);
    warn(
        id,
        format!(
            "driver {}: C-states over {DEEP_US} µs are enabled ({}): a datagram that arrives on a sleeping core waits up to {slowest} µs for it to wake. Fine for a shared host; a host dedicated to the relay should keep them off",
            idle.driver,
            list(&idle.deep)
        ),
        format!(
            "on a dedicated host only: tuned-adm profile latency-performance (it holds /dev/cpu_dma_latency), or cpupower idle-set -D {DEEP_US} (disables states slower than {DEEP_US} µs, until reboot), or boot with intel_idle.max_cstate=1; on a shared host leave them"
        ),
    )
}
