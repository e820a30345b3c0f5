//! The `mtu` check: datagrams leave the interface unfragmented and fit a
//! Transit Gateway, as far as the role needs.

use super::{Check, HEADERS, Host, Role, TGW_MTU, fail, pass, warn};

pub(super) fn check(
    host: &Host,
    dev: &str,
    max_datagram: usize,
    loopback: bool,
    role: Role,
) -> Check {
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
