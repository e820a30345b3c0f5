//! Scenario 7: A stranger inside the London VPC: wrong keys, garbage, a connection flood.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};

use crate::common::eventually;

use crate::harness::*;

/// Scenario 7: A stranger inside the London VPC: wrong keys, garbage, a connection flood.
#[test]
fn s7_a_stranger_in_the_vpc() {
    let Some(lab) = Lab::up("s7", &[], &[]) else {
        return;
    };
    let _el = lab.egress("ldn");
    let _ing = lab.ingress(&[G1], &["ldn"], &[]);
    lab.wait_links(&["ldn"]);
    let ra = Receiver::start(&lab, "ca", CA, &[G1, G2]);
    lab.wait_member("vl", "p-a", &[G1, G2]);
    let rate = 1000;
    let sender = Sender::start(&lab, &[G1], rate, Duration::from_secs(16), Size::Fixed(200));
    let egress = SocketAddrV4::new(LDN_VPC, PORT);
    let real_key = fs::read_to_string(lab.key()).unwrap();
    let mut table = Vec::new();
    let x = lab.ns("x");

    use mcast_relay::wire::auth::Key;
    use mcast_relay::wire::frame::{self, AuthMethod, Frame, Hello, VERSION};
    let hello = |key_id: [u8; 8]| {
        let mut out = Vec::new();
        let h = Hello {
            version: VERSION,
            auth: AuthMethod::PreSharedKey,
            stream_id: 0x5742_4e47,
            nonce: [7; 32],
            key_id,
            feed: "prod".into(),
            manifest: vec![ga(G1)],
            encrypt: false,
            sender: "stranger".into(),
        };
        frame::encode(&Frame::Hello(h), &mut out);
        out
    };
    let wrong = Key::generate();
    let sniffed = Key::parse_list(&real_key).unwrap()[0].id();
    let mut garbage = Vec::new();
    let mut r = xorshift(0xbad);
    for _ in 0..512 {
        garbage.extend_from_slice(&r().to_le_bytes());
    }
    garbage[4] = 0x99; // no such frame kind
    let garbage_reason = if u32::from_be_bytes(garbage[..4].try_into().unwrap()) as usize + 4 > 8192
    {
        "oversize"
    } else {
        "unknown_kind"
    };
    // Each try: bytes to send, whether to answer a Challenge with a made-up proof,
    // and the reason the egress must count.
    let tries: Vec<(&str, Vec<u8>, bool, &str, &str)> = vec![
        (
            "a Hello with a wrong key",
            hello(wrong.id()),
            false,
            "prod",
            "unknown_key",
        ),
        (
            "the real key id (sniffed) with a made-up proof",
            hello(sniffed),
            true,
            "prod",
            "bad_proof",
        ),
        ("4 KiB of random bytes", garbage, false, "-", garbage_reason),
        (
            "an HTTP request",
            b"GET /metrics HTTP/1.1\r\nHost: relay\r\n\r\n".to_vec(),
            false,
            "-",
            "http",
        ),
        (
            "a 4 GiB length prefix",
            vec![0xff, 0xff, 0xff, 0xff, 0x10],
            false,
            "-",
            "oversize",
        ),
    ];
    for (what, bytes, answer, feed, reason) in tries {
        let before = lab.m("ldn", &failures(feed, reason));
        let took = in_ns(&x, || {
            let mut s = TcpStream::connect_timeout(&egress.into(), Duration::from_secs(3)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
            let t = Instant::now();
            let _ = s.write_all(&bytes);
            let mut buf = vec![0u8; 8192];
            let mut have = Vec::new();
            let mut answered = false;
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => return t.elapsed(),
                    Ok(k) => {
                        have.extend_from_slice(&buf[..k]);
                        if answer
                            && !answered
                            && let Ok(Some((Frame::Challenge(_), _))) = frame::decode(&have, 8192)
                        {
                            let mut out = Vec::new();
                            frame::encode(
                                &Frame::Auth(frame::Auth { proof: [0x42; 32] }),
                                &mut out,
                            );
                            let _ = s.write_all(&out);
                            answered = true;
                        }
                    }
                }
            }
        });
        let counted = eventually(Duration::from_secs(2), || {
            lab.m("ldn", &failures(feed, reason)) > before
        });
        table.push(format!(
            "{what}: closed after {:.1} ms, counted as {reason}: {counted}",
            took.as_secs_f64() * 1e3
        ));
        assert!(counted, "{what}: counted as {reason}");
        assert!(took < Duration::from_secs(2), "{what}: closed in {took:?}");
    }
    // A flood: 1,000 connections held open without a word, then 1,000 opened and closed.
    let before = lab.m("ldn", &failures("-", "too_many_connections"));
    let t = Instant::now();
    let (held, churned) = in_ns(&x, || {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard.min(8192), hard);
        let idle: Vec<TcpStream> = (0..1000)
            .filter_map(|_| TcpStream::connect_timeout(&egress.into(), Duration::from_secs(2)).ok())
            .collect();
        let mut churned = 0;
        for _ in 0..1000 {
            if TcpStream::connect_timeout(&egress.into(), Duration::from_secs(2)).is_ok() {
                churned += 1;
            }
        }
        std::thread::sleep(Duration::from_secs(1));
        (idle.len(), churned)
    });
    let flood_took = t.elapsed();
    let evicted = lab.m("ldn", &failures("-", "too_many_connections")) - before;
    table.push(format!(
        "{held} idle connections + {churned} opened and closed in {:.1} s: {evicted} pending handshakes evicted",
        flood_took.as_secs_f64()
    ));

    let sent = sender.finish();
    let n = sent.total();
    drained(&lab, &["ldn"], n, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    let a = Tally::of(&sent, &ra.finish());
    let ldn = lab.metrics("ldn").unwrap_or_default();
    let all_failures = metric_sum(&ldn, "mcast_relay_handshake_failures_total", &[]);

    eprintln!(
        "FIGURES s7 a stranger in the London VPC (10.201.1.66 -> {egress}) while the feed runs at {rate}/s"
    );
    for l in &table {
        eprintln!("  {l}");
    }
    let by_reason: Vec<String> = ldn
        .lines()
        .filter(|l| l.starts_with("mcast_relay_handshake_failures_total{"))
        .filter_map(|l| {
            let reason = l.split("reason=\"").nth(1)?.split('"').next()?;
            Some(format!("{reason} {}", l.rsplit(' ').next()?))
        })
        .collect();
    eprintln!(
        "  handshake failures counted in all: {all_failures} ({})",
        by_reason.join(", ")
    );
    eprintln!(
        "  {}",
        a.line("London cust-a (joined to the feed group and another)")
    );
    eprintln!(
        "  egress: connected {} reconnects {} emitted {}",
        metric_in(&ldn, &eg("connected_peers")).unwrap_or(0.0),
        metric_sum(&ldn, "mcast_relay_reconnects_total", &[]),
        metric_in(&ldn, &eg("datagrams_out_total")).unwrap_or(0.0)
    );
    assert!(held >= 900, "the flood held its connections ({held})");
    assert!(
        evicted >= (held as f64) * 0.9,
        "the flood's pending handshakes were evicted, not piled up ({evicted})"
    );
    assert_eq!(a.unique, n, "the real feed lost nothing");
    assert_eq!(
        (a.lost, a.dups, a.corrupt, a.foreign),
        (0, 0, 0, 0),
        "and cust-a saw nothing but the real feed"
    );
    assert_eq!(metric_in(&ldn, &eg("connected_peers")), Some(1.0));
    assert_eq!(
        metric_sum(&ldn, "mcast_relay_reconnects_total", &[]),
        0.0,
        "the real link never dropped"
    );
    assert_eq!(
        metric_in(&ldn, &eg("datagrams_out_total")),
        Some(n as f64),
        "the egress emitted exactly the real feed"
    );
}

fn failures(feed: &str, reason: &str) -> String {
    format!(
        r#"mcast_relay_handshake_failures_total{{feed="{feed}",role="egress",reason="{reason}"}}"#
    )
}
