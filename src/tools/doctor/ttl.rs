//! The `ttl` check: the egress's datagrams live long enough to cross a
//! Transit Gateway.

use super::{Check, fail, pass};

pub(super) fn check(ttl: u32) -> Check {
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

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    #[test]
    fn ttl_must_cross_a_hop() {
        assert_eq!(check(1).status, Status::Fail);
        assert_eq!(check(0).status, Status::Fail);
        assert_eq!(check(2).status, Status::Pass);
        assert_eq!(check(32).status, Status::Pass);
        assert_eq!(check(300).status, Status::Fail);
    }
}
