//! The `ec2-nitro` check: ask the instance metadata service (IMDSv2, IMDSv1
//! if the token is refused) for the instance type and tell Nitro from Xen.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Check, Host, fail, pass, warn};

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
    match tokio::time::timeout(limit, instance_type(imds)).await {
        Ok(Ok(t)) if is_nitro(&t) => pass(id, format!("EC2 instance {t}: Nitro ({hint})")),
        Ok(Ok(t)) => fail(
            id,
            format!("EC2 instance {t} runs on Xen, not Nitro"),
            fix_type,
        ),
        res => {
            let why = match res {
                Ok(Err(e)) => e,
                _ => format!("no answer within {} ms", limit.as_millis()),
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

/// IMDSv2: a token by PUT, then the instance type with it; IMDSv1 (no token)
/// if the PUT is refused.
async fn instance_type(base: &str) -> Result<String, String> {
    let (hostport, _) = split_url(base)?;
    let token = match http(
        &hostport,
        "PUT",
        "/latest/api/token",
        &[("X-aws-ec2-metadata-token-ttl-seconds", "60")],
    )
    .await?
    {
        (200, t) => Some(t),
        _ => None,
    };
    let headers: Vec<(&str, &str)> = token
        .as_deref()
        .map(|t| vec![("X-aws-ec2-metadata-token", t.trim())])
        .unwrap_or_default();
    match http(
        &hostport,
        "GET",
        "/latest/meta-data/instance-type",
        &headers,
    )
    .await?
    {
        (200, t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        (code, _) => Err(format!("HTTP {code} for the instance type")),
    }
}

fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--imds-url {url:?}: give http://HOST[:PORT]"))?;
    let (hp, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let hp = if hp.contains(':') {
        hp.to_string()
    } else {
        format!("{hp}:80")
    };
    Ok((hp, path.to_string()))
}

/// A minimal HTTP/1.1 request with `Connection: close`; returns the status and body.
async fn http(
    hostport: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, String), String> {
    let mut s = tokio::net::TcpStream::connect(hostport)
        .await
        .map_err(|e| format!("{hostport}: {e}"))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "PUT" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("{hostport}: {e}"))?;
    let mut buf = Vec::new();
    s.take(64 * 1024)
        .read_to_end(&mut buf)
        .await
        .map_err(|e| format!("{hostport}: {e}"))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{hostport}: not an HTTP response"))?;
    let len = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    let body = match len {
        Some(n) if n <= body.len() => &body[..n],
        _ => body,
    };
    Ok((code, body.to_string()))
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
