//! One check's result, and how each is made.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Does not apply to this role; the detail says why.
    Skip,
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub(super) fn label(self) -> &'static str {
        match self {
            Status::Skip => "SKIP",
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// A stable identifier: interface, igmp-all, igmp-iface, multicast-route,
    /// rp-filter, rmem-max, wmem-max, tcp-buffer, mtu, ttl, ec2-nitro,
    /// cpuidle, pm-qos, cpufreq (each is reported
    /// for every role; skip where it does not apply).
    pub id: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do about a warn or fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

pub(super) fn pass(id: &'static str, detail: String) -> Check {
    Check {
        id,
        status: Status::Pass,
        detail,
        fix: None,
    }
}

pub(super) fn skip(id: &'static str, why: &str) -> Check {
    Check {
        id,
        status: Status::Skip,
        detail: why.to_string(),
        fix: None,
    }
}

pub(super) fn warn(id: &'static str, detail: String, fix: String) -> Check {
    Check {
        id,
        status: Status::Warn,
        detail,
        fix: Some(fix),
    }
}

pub(super) fn fail(id: &'static str, detail: String, fix: String) -> Check {
    Check {
        id,
        status: Status::Fail,
        detail,
        fix: Some(fix),
    }
}
