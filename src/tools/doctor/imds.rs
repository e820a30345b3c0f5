//! The `ec2-nitro` check: ask the instance metadata service (IMDSv2, IMDSv1
//! if the token is refused) for the instance type and tell Nitro from Xen.

use std::time::{Duration, Instant};

use super::{Check, Host, fail, pass, warn};
use crate::net::http_client::{HttpError, Method, Response, Url, request};

/// Instance families that run on Xen, not Nitro (AWS: "Instances built on the
/// AWS Nitro System"; bare metal `*.metal` sizes are Nitro).
const XEN_FAMILIES: &[&str] = &[
    "t1", "t2", "m1", "m2", "m3", "m4", "c1", "c3", "c4", "cc1", "cc2", "cg1", "cr1", "r3", "r4",
    "x1", "x1e", "d2", "h1", "hi1", "hs1", "i2", "i3", "f1", "g2", "g3", "g3s", "p2", "p3",
];

/// Whether an instance type runs on Nitro.
pub fn is_nitro(instance_type: &str) -> bool {
    let family = instance_type.split('.').next().unwrap_or("");
    instance_type.ends_with(".metal") || !XEN_FAMILIES.contains(&family)
}

pub(super) async fn nitro(host: &Host<'_>, imds: &str, limit: Duration) -> Check {
    let id = "ec2-nitro";
    let vendor = host.read(host.sys_root.join("class/dmi/id/sys_vendor"));
    let product = host.read(host.sys_root.join("class/dmi/id/product_name"));
    let hint = match (&vendor, &product) {
        (Some(v), Some(p)) => format!("DMI: {v}, {p}"),
        (Some(v), None) => format!("DMI: {v}"),
        _ => "no DMI vendor".into(),
    };
    let fix_type = "run the egress (and senders in AWS) on a Nitro instance type, e.g. c6in, c7i, m6i, c5n: non-Nitro instances cannot send multicast through a Transit Gateway".to_string();
    // The client is blocking and bounded by the deadline; the timeout here
    // is only a backstop (a host name that takes long to resolve).
    let deadline = Instant::now() + limit;
    let url = imds.to_string();
    let asked = tokio::task::spawn_blocking(move || instance_type(&url, deadline));
    let answer = match tokio::time::timeout(limit, asked).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(lost)) => Err(ImdsError::Lost(lost)),
        Err(_) => Err(ImdsError::Http(HttpError::Timeout {
            host: imds.to_string(),
        })),
    };
    match answer {
        Ok(t) if is_nitro(&t) => pass(id, format!("EC2 instance {t}: Nitro ({hint})")),
        Ok(t) => fail(
            id,
            format!("EC2 instance {t} runs on Xen, not Nitro"),
            fix_type,
        ),
        Err(e) => {
            let why = match e {
                ImdsError::Http(HttpError::Timeout { .. }) => {
                    format!("no answer within {} ms", limit.as_millis())
                }
                e => e.to_string(),
            };
            let aws = vendor.as_deref() == Some("Amazon EC2");
            if aws {
                warn(
                    id,
                    format!(
                        "the instance metadata service at {imds} did not answer ({why}), though {hint} says EC2 Nitro"
                    ),
                    "in a container, IMDS may be blocked (ECS_AWSVPC_BLOCK_IMDS) or one hop too far (aws ec2 modify-instance-metadata-options --http-put-response-hop-limit 2); or run doctor on the host".into(),
                )
            } else {
                warn(
                    id,
                    format!(
                        "not an EC2 instance, or its metadata service at {imds} is off ({why}; {hint})"
                    ),
                    "fine for an ingress in the datacenter; an egress must run on an EC2 Nitro instance type (e.g. c6in, c7i, m6i, c5n)".into(),
                )
            }
        }
    }
}

/// Why the metadata service gave no instance type.
#[derive(Debug, thiserror::Error)]
enum ImdsError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("HTTP {0} for the instance type")]
    Status(u16),
    #[error("the request was lost: {0}")]
    Lost(tokio::task::JoinError),
}

/// IMDSv2: a token by PUT, then the instance type with it; IMDSv1 (no token)
/// if the PUT is refused. Both before `deadline`.
fn instance_type(base: &str, deadline: Instant) -> Result<String, ImdsError> {
    let base: Url = base.parse()?;
    let token = request(
        Method::Put,
        &base.with_path("/latest/api/token"),
        &[("X-aws-ec2-metadata-token-ttl-seconds", "60")],
        deadline,
    )?;
    let token = (token.status == 200).then_some(token.body);
    let headers: Vec<(&str, &str)> = token
        .as_deref()
        .map(|t| vec![("X-aws-ec2-metadata-token", t.trim())])
        .unwrap_or_default();
    match request(
        Method::Get,
        &base.with_path("/latest/meta-data/instance-type"),
        &headers,
        deadline,
    )? {
        Response { status: 200, body } if !body.trim().is_empty() => Ok(body.trim().to_string()),
        Response { status, .. } => Err(ImdsError::Status(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nitro_families() {
        for t in [
            "c5n.xlarge",
            "c6in.2xlarge",
            "m5.large",
            "t3.micro",
            "i3.metal",
            "p3dn.24xlarge",
            "i3en.large",
        ] {
            assert!(is_nitro(t), "{t}");
        }
        for t in [
            "t2.micro",
            "m4.large",
            "c4.large",
            "i3.large",
            "p3.2xlarge",
            "r4.xlarge",
        ] {
            assert!(!is_nitro(t), "{t}");
        }
    }
}
