//! Floods at the doors, end to end on the loopback: idle connects on the feed
//! port cannot keep the real sender out or cost much memory, and idle HTTP
//! clients cannot starve the feed port, the health check or the descriptors.
//! Every flood is bounded in count and time; the figures are printed.

mod common;

use std::collections::VecDeque;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use socket2::{Domain, Socket, Type};

fn sa(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn raise_own_nofile() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let _ = setrlimit(Resource::RLIMIT_NOFILE, hard.min(65_536), hard);
}

/// A connection from `source` to 127.0.0.1:`port` that says nothing.
fn idle_connect(source: Ipv4Addr, port: u16, wait: Duration) -> Option<Socket> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
    s.bind(&SocketAddrV4::new(source, 0).into()).ok()?;
    s.connect_timeout(&SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into(), wait)
        .ok()?;
    Some(s)
}

/// Idle connects at `rate` per second for `secs`, from 127.0.0.2 up (`sources`
/// addresses), each held `hold` and then closed. Returns how many were opened.
fn flood(
    port: u16,
    rate: u64,
    secs: f64,
    hold: Duration,
    sources: u8,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let t = Instant::now();
        let mut held: VecDeque<(Instant, Socket)> = VecDeque::new();
        let mut opened = 0u64;
        let total = (rate as f64 * secs) as u64;
        for i in 0..total {
            let due = Duration::from_secs_f64(i as f64 / rate as f64);
            if let Some(w) = due.checked_sub(t.elapsed()) {
                std::thread::sleep(w);
            }
            let src = Ipv4Addr::new(127, 0, 0, 2 + (i % sources as u64) as u8);
            if let Some(s) = idle_connect(src, port, Duration::from_millis(200)) {
                opened += 1;
                held.push_back((Instant::now(), s));
            }
            while held.front().is_some_and(|(at, _)| at.elapsed() > hold) {
                held.pop_front();
            }
        }
        opened
    })
}

fn vm_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap()
}

/// `listen` once it has joined; the JSON summary at its end.
fn listen(group: SocketAddrV4, secs: &str) -> Proc {
    listen_group(group, "3s", secs)
}

#[test]
fn a_connect_flood_cannot_keep_a_distant_sender_out() {
    raise_own_nofile();
    let port = free_udp();
    let src = sa(&format!("239.56.1.1:{port}"));
    let out = sa(&format!("239.56.2.1:{port}"));
    // The key holder is 50 ms away: 25 ms each way through the proxy.
    let proxy = std::cell::OnceCell::new();
    let p = pair_via(
        "far",
        &[src],
        "239.56.1.0/24=239.56.2.0/24",
        "239.56.2.0/24",
        &[],
        &[],
        |to| {
            let pr = Proxy::with_delay(to, Duration::from_millis(25));
            let port = pr.port;
            let _ = proxy.set(pr);
            port
        },
    );
    let proxy = proxy.into_inner().unwrap();
    let l = listen(out, "40s");
    let publisher = publish(src, 2000, 12, 200);
    let f = flood(p.tcp, 3000, 9.0, Duration::from_secs(1), 64);
    std::thread::sleep(Duration::from_secs(3)); // the flood in full swing
    let connects = || {
        let s: serde_json::Value =
            serde_json::from_str(&get(p.in_http, "/status").unwrap().1).unwrap();
        (
            s["links"][0]["connects"].as_u64().unwrap(),
            s["links"][0]["state"].clone(),
        )
    };
    let before = connects().0;
    let cut = Instant::now();
    proxy.kick();
    let back = eventually(Duration::from_secs(6), || {
        let (n, state) = connects();
        n > before && state == "up"
    });
    let took = cut.elapsed();
    let opened = f.join().unwrap();
    let n = sent(publisher);
    let s = summary(l);
    let evicted = metric(
        p.eg_http,
        r#"mcast_relay_handshake_failures_total{feed="-",role="egress",reason="too_many_connections"}"#,
    )
    .unwrap_or(0.0);
    eprintln!(
        "connect flood: {opened} idle connects in 9 s from 64 addresses ({evicted} evicted while pending); the 50 ms sender, cut, was up again after {:.0} ms; feed sent {n}, received {}, gaps {}",
        took.as_secs_f64() * 1e3,
        s["unique"],
        s["gaps"]
    );
    assert!(opened >= 20_000, "the flood ran at ~3,000/s ({opened})");
    assert!(
        back && took < Duration::from_secs(3),
        "reconnected in {took:?}"
    );
    assert_eq!(
        s["unique"].as_u64(),
        Some(n),
        "the window covered the cut: {s}"
    );
}

#[test]
fn four_thousand_idle_strangers_cost_little_memory() {
    raise_own_nofile();
    let port = free_udp();
    let src = sa(&format!("239.57.1.1:{port}"));
    let p = pair(
        "mem",
        &[src],
        "239.57.1.0/24=239.57.2.0/24",
        "239.57.2.0/24",
        &[],
        &[],
    );
    let pid = p.egress.child.id();
    let before = vm_kib(pid, "VmRSS:");
    let held: Vec<Socket> = (0..4000u32)
        .filter_map(|i| {
            // A SYN the full accept queue dropped is sent again after 1 s.
            idle_connect(
                Ipv4Addr::new(127, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8),
                p.tcp,
                Duration::from_secs(5),
            )
        })
        .collect();
    // Until the egress has dealt with every one (each is evicted or pending).
    let pending = r#"mcast_relay_handshake_failures_total{feed="-",role="egress",reason="too_many_connections"}"#;
    assert!(eventually(Duration::from_secs(10), || {
        metric(p.eg_http, pending).unwrap_or(0.0) >= held.len() as f64 - 256.0
    }));
    let peak = vm_kib(pid, "VmHWM:");
    eprintln!(
        "idle strangers: {} connections held; egress RSS {:.1} MiB before, peak {:.1} MiB",
        held.len(),
        before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    assert_eq!(held.len(), 4000);
    assert!(peak < 96 * 1024, "peak RSS {peak} KiB");
    assert_eq!(
        metric(
            p.eg_http,
            r#"mcast_relay_connected_peers{feed="mem",role="egress"}"#
        ),
        Some(1.0),
        "the real link stayed up"
    );
}

#[test]
fn idle_http_clients_cannot_starve_the_feed_or_the_health_check() {
    raise_own_nofile();
    let (tcp, http) = (free_tcp(), free_tcp());
    let port = free_udp();
    let (src, out) = (
        sa(&format!("239.58.1.1:{port}")),
        sa(&format!("239.58.2.1:{port}")),
    );
    let (listen_a, http_a) = (format!("lim=127.0.0.1:{tcp}"), format!("127.0.0.1:{http}"));
    // The egress with 1,024 descriptors at most, soft and hard.
    let child = Command::new("sh")
        .args(["-c", "ulimit -n 1024 && exec \"$0\" \"$@\"", BIN])
        .args([
            "egress",
            "--listen",
            &listen_a,
            "--iface",
            "127.0.0.1",
            "--ttl",
            "1",
            "--allow",
            "239.58.2.0/24",
        ])
        .args(["--map", "239.58.1.0/24=239.58.2.0/24", "--http", &http_a])
        .env("MCAST_RELAY_KEY", test_key())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let egress = Proc::adopt(child, "egress");
    assert!(eventually(Duration::from_secs(5), || get(http, "/readyz")
        .is_some_and(|r| r.0 == 200)));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", egress.child.id())).unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains(" 1024 ")),
        "{limits}"
    );
    let t = Instant::now();
    let idle: Vec<TcpStream> = (0..1010)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", http)).ok())
        .collect();
    assert_eq!(idle.len(), 1010);
    // The health check answers at once however many clients idle.
    let t_h = Instant::now();
    let health = get(http, "/healthz").map(|r| r.0);
    let health_ms = t_h.elapsed().as_secs_f64() * 1e3;
    // A key holder connects now, and its feed arrives complete.
    let dest = format!("127.0.0.1:{tcp}");
    let g = src.to_string();
    let in_http = free_tcp();
    let ih = format!("127.0.0.1:{in_http}");
    let _ing = Proc::spawn(
        "ingress",
        &[
            "ingress", "--feed", "lim", "--iface", "lo", "--group", &g, "--dest", &dest, "--http",
            &ih,
        ],
    );
    let up = eventually(Duration::from_secs(10), || {
        metric(
            http,
            r#"mcast_relay_connected_peers{feed="lim",role="egress"}"#,
        ) == Some(1.0)
    });
    let l = listen(out, "20s");
    let n = sent(publish(src, 2000, 2, 200));
    let s = summary(l);
    // Every idle client is closed by the egress within 30 s.
    let mut last_close = Duration::ZERO;
    let mut open: Vec<TcpStream> = idle;
    open.iter().for_each(|s| s.set_nonblocking(true).unwrap());
    while !open.is_empty() && t.elapsed() < Duration::from_secs(30) {
        open.retain_mut(|s| {
            let mut b = [0u8; 256];
            match s.read(&mut b) {
                Ok(0) => false,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
                _ => false,
            }
        });
        last_close = t.elapsed();
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "HTTP flood under ulimit -n 1024: 1,010 idle clients; /healthz {health:?} in {health_ms:.1} ms; the key holder up: {up}; feed sent {n}, received {}; {} of 1,010 idle clients closed by the egress, the last after {:.1} s",
        s["unique"],
        1010 - open.len(),
        last_close.as_secs_f64()
    );
    assert_eq!(health, Some(200));
    assert!(up, "the key holder connected");
    assert_eq!(s["unique"].as_u64(), Some(n));
    assert!(
        open.is_empty(),
        "{} idle clients still open after 30 s",
        open.len()
    );
    let logs = egress.logs();
    assert!(!logs.contains("Too many open files"), "{logs}");
}
