//! The `rmem-max` and `wmem-max` checks: the socket buffers the relay asks
//! for are within the kernel's caps.

use super::{Check, Host, pass, warn};

pub(super) fn check(host: &Host, id: &'static str, key: &str, want: usize) -> Check {
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
