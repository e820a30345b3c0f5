//! Strangers on the feed port: each kind of bad input is refused quickly,
//! counted by reason, and the authenticated feed keeps flowing without loss.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};

use common::*;

fn sa(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

/// Send `bytes`, then time how long until the egress closes the connection.
fn closed_after(port: u16, bytes: &[u8]) -> Duration {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    let _ = s.write_all(bytes);
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return t.elapsed(),
            Ok(_) => {}
        }
    }
}

fn failures(http: u16, feed: &str, reason: &str) -> f64 {
    metric(http, &format!(r#"mcast_relay_handshake_failures_total{{feed="{feed}",role="egress",reason="{reason}"}}"#)).unwrap_or(0.0)
}

/// A Hello naming `feed`, from the library's own encoder.
fn hello(feed: &str, auth: bool) -> Vec<u8> {
    use mcast_relay::wire::frame::{AuthMethod, Frame, Hello, VERSION, encode};
    let mut out = Vec::new();
    let h = Hello {
        version: VERSION,
        auth: if auth {
            AuthMethod::PreSharedKey
        } else {
            AuthMethod::None
        },
        stream_id: 7,
        nonce: [1; 32],
        key_id: [9; 8],
        feed: feed.into(),
        manifest: vec![],
        encrypt: false,
        sender: "stranger".into(),
    };
    encode(&Frame::Hello(h), &mut out);
    out
}

#[test]
fn strangers_are_refused_quickly_and_counted_while_the_feed_flows() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    std::fs::write(&key, mcast_relay::wire::auth::Key::generate().to_line()).unwrap();
    let key = key.display().to_string();
    let port = free_udp();
    let src = sa(&format!("239.49.1.1:{port}"));
    let out = sa(&format!("239.49.2.1:{port}"));
    let p = pair(
        "prod",
        &[src],
        "239.49.1.0/24=239.49.2.0/24",
        "239.49.2.0/24",
        &["--key-file", &key],
        &["--key-file", &key],
    );
    let mut listener = listen(&[
        "--group",
        &out.to_string(),
        "--idle",
        "3s",
        "--duration",
        "60s",
        "--json",
    ]);
    let publisher = std::process::Command::new(BIN)
        .args([
            "publish",
            "--group",
            &src.to_string(),
            "--rate",
            "2000",
            "--duration",
            "12",
            "--size",
            "200",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    let h = p.eg_http;
    let mut rng_bytes = Vec::new();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        rng_bytes.push(x as u8);
    }
    // What the egress must make of the random bytes follows from their first four.
    let len = u32::from_be_bytes(rng_bytes[..4].try_into().unwrap()) as usize;
    let random_reason = if len + 4 > 8192 {
        "oversize"
    } else {
        "unknown_kind"
    };
    let mut tls_hello = vec![
        0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03,
    ];
    tls_hello.extend([0u8; 190]);
    let mut table = Vec::new();
    for (what, bytes, feed, reason) in [
        (
            "an HTTP request",
            b"GET / HTTP/1.1\r\nHost: relay\r\n\r\n".to_vec(),
            "-",
            "http",
        ),
        (
            "a TLS ClientHello on the plain port",
            tls_hello,
            "-",
            "tls_client_hello",
        ),
        ("random bytes", rng_bytes.clone(), "-", random_reason),
        (
            "a 4 GiB length prefix",
            vec![0xff, 0xff, 0xff, 0xff, 0x01],
            "-",
            "oversize",
        ),
        (
            "a Hello for another feed",
            hello("other", true),
            "-",
            "unknown_feed",
        ),
        (
            "a Hello without a key",
            hello("prod", false),
            "prod",
            "auth_required",
        ),
        (
            "a Hello with the wrong key",
            hello("prod", true),
            "prod",
            "unknown_key",
        ),
    ] {
        let before = failures(h, feed, reason);
        let took = closed_after(p.tcp, &bytes);
        assert!(
            eventually(Duration::from_secs(2), || failures(h, feed, reason)
                > before),
            "{what}: counted as {reason}"
        );
        assert!(took < Duration::from_secs(1), "{what}: closed in {took:?}");
        table.push(format!(
            "{what}: refused in {:.1} ms, reason {reason}",
            took.as_secs_f64() * 1e3
        ));
    }

    // A slow drip, a byte a second, is cut at the handshake timeout.
    let before = failures(h, "-", "timeout");
    let mut drip = TcpStream::connect(("127.0.0.1", p.tcp)).unwrap();
    let t = Instant::now();
    let bytes = hello("prod", true);
    // Between bytes, wait on a read: the egress closing shows at once as EOF
    // (after its Goodbye), not only at a later write.
    drip.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut cut = None;
    let mut buf = [0u8; 512];
    'drip: for b in &bytes {
        if drip.write_all(&[*b]).is_err() {
            cut = Some(t.elapsed());
            break;
        }
        let waited = Instant::now();
        while waited.elapsed() < Duration::from_secs(1) {
            match drip.read(&mut buf) {
                Ok(0) => {
                    cut = Some(t.elapsed());
                    break 'drip;
                }
                Ok(_) => {} // the Goodbye; EOF follows
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => {
                    cut = Some(t.elapsed());
                    break 'drip;
                }
            }
        }
        if t.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    let cut = cut.expect("the egress cuts a handshake that drips a byte a second");
    assert!(
        failures(h, "-", "timeout") > before,
        "the drip is counted as a timeout"
    );
    table.push(format!("a slow drip (1 byte/s): cut after {cut:.2?}"));

    // Many idle connections: the oldest pending handshakes are dropped, the feed goes on.
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let _ = setrlimit(Resource::RLIMIT_NOFILE, hard.min(4096), hard);
    let before = failures(h, "-", "too_many_connections");
    let idle: Vec<TcpStream> = (0..1000)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", p.tcp)).ok())
        .collect();
    assert!(eventually(Duration::from_secs(3), || failures(
        h,
        "-",
        "too_many_connections"
    ) - before
        >= 900.0));
    table.push(format!(
        "{} idle connections: {} dropped while pending",
        idle.len(),
        failures(h, "-", "too_many_connections") - before
    ));
    drop(idle);

    let out = publisher.wait_with_output().unwrap();
    let sent: u64 = String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let got: serde_json::Value =
        serde_json::from_reader(listener.child.stdout.take().unwrap()).unwrap();
    table.push(format!(
        "the authenticated feed meanwhile: sent {sent}, received {}, gaps {}",
        got["unique"], got["gaps"]
    ));
    eprintln!("{}", table.join("\n"));
    assert_eq!(
        got["unique"].as_u64(),
        Some(sent),
        "the real feed lost nothing: {got}"
    );
    assert_eq!(
        metric(
            h,
            r#"mcast_relay_connected_peers{feed="prod",role="egress"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            h,
            r#"mcast_relay_reconnects_total{feed="prod",role="egress",peer="127.0.0.1"}"#
        )
        .unwrap_or(0.0),
        0.0
    );
}
