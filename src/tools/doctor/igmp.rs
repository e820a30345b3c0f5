//! The `igmp-all` and `igmp-iface` checks: IGMPv2, which a Transit Gateway
//! speaks, forced on the interface.

use super::host::sysctl_name;
use super::{Check, Host, fail, pass, warn};

/// Why the datacenter host's IGMP is not checked (docs/DEPLOY.md section 5).
pub(super) const INGRESS: &str = "role ingress: in the datacenter the exchange's routers decide the IGMP version (source-specific joins need IGMPv3); IGMPv2 is forced only in AWS, towards the Transit Gateway";

/// `net.ipv4.conf.<which>.force_igmp_version` for the interface `dev`. The
/// kernel uses IGMPv1 if `all` or the interface says 1, else IGMPv2 if either
/// says 2, else IGMPv3, which a Transit Gateway ignores.
pub(super) fn check(host: &Host, which: &str, dev: &str) -> Check {
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
