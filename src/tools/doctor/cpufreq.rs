//! The `cpufreq` check: the frequency governor. A governor other than
//! performance lowers the clock when the host is quiet and raises it only
//! once load arrives, so the first datagrams of a burst after a lull are
//! handled slowly. Fine for a shared host; a dedicated one should pin it.

use std::collections::BTreeMap;

use super::{Check, Host, pass, skip, warn};

pub(super) fn check(host: &Host) -> Check {
    let id = "cpufreq";
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for cpu in host.cpus() {
        if let Some(g) = host.cpu(&format!("{cpu}/cpufreq/scaling_governor")) {
            *by.entry(g).or_default() += 1;
        }
    }
    let n: usize = by.values().sum();
    if n == 0 {
        return skip(
            id,
            "no cpufreq scaling_governor: no frequency scaling driver here (common in a VM: the hypervisor or the firmware decides)",
        );
    }
    let list = by
        .iter()
        .map(|(g, c)| format!("{g} on {c} of {n} CPUs"))
        .collect::<Vec<_>>()
        .join(", ");
    if by.len() == 1 && by.contains_key("performance") {
        return pass(id, format!("governor {list}"));
    }
    warn(
        id,
        format!(
            "governor {list}: the clock drops when the host is quiet and rises only after load arrives. Fine for a shared host; a host dedicated to the relay should use performance"
        ),
        "on a dedicated host only: cpupower frequency-set -g performance, or tuned-adm profile latency-performance".into(),
    )
}
