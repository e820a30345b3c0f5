//! End-to-end on the loopback: real processes, real multicast, real TCP.

mod common;

use std::net::SocketAddrV4;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use common::*;
use mcast_relay::feeds::pcap;
use mcast_relay::tools::replay::{self, ReplayArgs};

fn sa(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

#[test]
fn datagrams_from_an_independent_sender_arrive_byte_identical_and_in_order() {
    let port = free_udp();
    let src = sa(&format!("239.31.1.1:{port}"));
    let out = sa(&format!("239.31.2.1:{port}"));
    let p = pair(
        "t1",
        &[src],
        "239.31.1.0/24=239.31.2.0/24",
        "239.31.2.0/24",
        &[],
        &[],
    );
    let sent = varied_datagrams_arrive_identical(src, out, 3000);
    let out_count = metric(
        p.eg_http,
        r#"mcast_relay_datagrams_out_total{feed="t1",role="egress"}"#,
    );
    assert_eq!(out_count, Some(sent as f64));
    let per_group = format!(
        r#"mcast_relay_group_datagrams_out_total{{feed="t1",role="egress",group="{out}"}}"#
    );
    assert_eq!(metric(p.eg_http, &per_group), Some(sent as f64));
    let per_group_in = format!(
        r#"mcast_relay_group_datagrams_in_total{{feed="t1",role="ingress",group="{src}"}}"#
    );
    assert_eq!(metric(p.in_http, &per_group_in), Some(sent as f64));
}

/// Send `n` datagrams to `src` (sizes from 1 byte to 1,472, contents that
/// differ per datagram, in bursts of 100) and check that `out` gets every
/// one byte-identical and in order. Returns how many were sent.
fn varied_datagrams_arrive_identical(src: SocketAddrV4, out: SocketAddrV4, n: u32) -> usize {
    let rx = Receiver::join(&[out]);
    let tx = loopback_sender();
    let sent: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let len = 1 + (i as usize * 7919) % 1472;
            (0..len).map(|j| (i as usize * 31 + j * 7) as u8).collect()
        })
        .collect();
    for (i, d) in sent.iter().enumerate() {
        tx.send_to(d, src).unwrap();
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let got = rx.collect(sent.len(), Duration::from_secs(3), Duration::from_secs(20));
    let got = got.get(&out).cloned().unwrap_or_default();
    assert_eq!(got.len(), sent.len(), "every datagram arrives");
    assert!(got == sent, "bytes and order are preserved");
    sent.len()
}

/// Replay the real Deribit capture through the relay and compare per group.
fn capture_through_the_relay(tag: u8, top_speed: bool) {
    let Some(file) = capture("sample_capture_v1_6.pcapng") else {
        return;
    };
    let cap = pcap::read(&file).unwrap();
    assert_eq!(cap.datagrams.len(), 5066);
    let (p0, p1) = (free_udp(), free_udp());
    // The capture's groups and ports, moved to ones private to this test.
    let to_test = |d: SocketAddrV4| {
        let o = d.ip().octets();
        SocketAddrV4::new(
            [239, tag, 111, o[3]].into(),
            if d.port() == 6100 { p0 } else { p1 },
        )
    };
    let maps = [
        format!("239.111.111.0/24:6100=239.{tag}.111.0/24:{p0}"),
        format!("239.111.111.0/24:6101=239.{tag}.111.0/24:{p1}"),
    ];
    let mut inputs: Vec<SocketAddrV4> = cap.datagrams.iter().map(|d| to_test(d.dst)).collect();
    inputs.sort();
    inputs.dedup();
    assert_eq!(inputs.len(), 29, "22 groups over ports 6100 and 6101");
    let outputs: Vec<SocketAddrV4> = inputs
        .iter()
        .map(|g| SocketAddrV4::new([239, tag, 112, g.ip().octets()[3]].into(), g.port()))
        .collect();
    let map = format!("239.{tag}.111.0/24=239.{tag}.112.0/24");
    let allow = format!("239.{tag}.112.0/24");
    let p = pair("deribit", &inputs, &map, &allow, &[], &[]);
    let rx = Receiver::join(&outputs);
    let args = ReplayArgs {
        file: file.clone(),
        iface: "127.0.0.1".into(),
        map: maps.iter().map(|m| m.parse().unwrap()).collect(),
        speed: 1.0,
        top_speed,
        loops: 1,
        ttl: 1,
        multicast_only: true,
        drop_every: 0,
    };
    let t = Instant::now();
    let sender = std::thread::spawn(move || replay::run(&args, &AtomicBool::new(false)).unwrap());
    let limit = if top_speed {
        Duration::from_secs(30)
    } else {
        Duration::from_secs(120)
    };
    let got = rx.collect(5066, Duration::from_secs(5), limit);
    let report = sender.join().unwrap();
    eprintln!(
        "replayed {} datagrams in {:.1} s (top speed: {top_speed})",
        report.sent,
        t.elapsed().as_secs_f64()
    );
    // Expected per output group, in capture order.
    let mut want: std::collections::BTreeMap<SocketAddrV4, Vec<Vec<u8>>> = Default::default();
    for d in &cap.datagrams {
        let g = to_test(d.dst);
        let o = SocketAddrV4::new([239, tag, 112, g.ip().octets()[3]].into(), g.port());
        want.entry(o).or_default().push(d.payload.clone());
    }
    let total: usize = got.values().map(Vec::len).sum();
    assert_eq!(total, 5066, "every datagram of the capture arrived");
    for (g, w) in &want {
        assert!(
            got.get(g) == Some(w),
            "group {g}: bytes and order preserved"
        );
    }
    assert_eq!(
        metric(
            p.eg_http,
            r#"mcast_relay_gaps_total{feed="deribit",role="egress"}"#
        ),
        Some(0.0)
    );
}

#[test]
fn the_deribit_capture_survives_byte_identical_at_top_speed() {
    capture_through_the_relay(32, true);
}

#[test]
fn the_deribit_capture_survives_byte_identical_at_its_original_pace() {
    capture_through_the_relay(33, false);
}

#[test]
fn two_feeds_in_one_egress_do_not_mix_and_disallowed_groups_are_dropped() {
    let port = free_udp();
    let (dev_in, prod_in, stray) = (
        sa(&format!("239.34.1.1:{port}")),
        sa(&format!("239.34.1.2:{port}")),
        sa(&format!("239.34.1.3:{port}")),
    );
    let (dev_out, prod_out, stray_out) = (
        sa(&format!("239.34.2.1:{port}")),
        sa(&format!("239.34.2.2:{port}")),
        sa(&format!("239.34.2.3:{port}")),
    );
    let (t_dev, t_prod, eg_http) = (free_tcp(), free_tcp(), free_tcp());
    let (ld, lp, h) = (
        format!("dev=127.0.0.1:{t_dev}"),
        format!("prod=127.0.0.1:{t_prod}"),
        format!("127.0.0.1:{eg_http}"),
    );
    // Only .1 and .2 may be emitted; the stray group .3 is relayed but not allowed out.
    let _eg = Proc::spawn(
        "egress",
        &[
            "egress",
            "--listen",
            &ld,
            "--listen",
            &lp,
            "--iface",
            "lo",
            "--ttl",
            "1",
            "--map",
            "239.34.1.0/24=239.34.2.0/24",
            "--allow",
            "239.34.2.1/32",
            "--allow",
            "239.34.2.2/32",
            "--http",
            &h,
        ],
    );
    let (d1, d2) = (format!("127.0.0.1:{t_dev}"), format!("127.0.0.1:{t_prod}"));
    let (g1, g2, g3) = (dev_in.to_string(), prod_in.to_string(), stray.to_string());
    let http_dev = format!("127.0.0.1:{}", free_tcp());
    let http_prod = format!("127.0.0.1:{}", free_tcp());
    let _dev = Proc::spawn(
        "ingress",
        &[
            "ingress", "--feed", "dev", "--iface", "lo", "--group", &g1, "--dest", &d1, "--http",
            &http_dev,
        ],
    );
    let _prod = Proc::spawn(
        "ingress",
        &[
            "ingress", "--feed", "prod", "--iface", "lo", "--group", &g2, "--group", &g3, "--dest",
            &d2, "--http", &http_prod,
        ],
    );
    for f in ["dev", "prod"] {
        let l = format!("mcast_relay_connected_peers{{feed=\"{f}\",role=\"egress\"}}");
        assert!(
            eventually(Duration::from_secs(10), || metric(eg_http, &l) == Some(1.0)),
            "{f} connected"
        );
    }
    let rx = Receiver::join(&[dev_out, prod_out, stray_out]);
    let tx = loopback_sender();
    for i in 0..200u32 {
        tx.send_to(format!("dev-{i}").as_bytes(), dev_in).unwrap();
        tx.send_to(format!("prod-{i}").as_bytes(), prod_in).unwrap();
        tx.send_to(format!("stray-{i}").as_bytes(), stray).unwrap();
    }
    let got = rx.collect(400, Duration::from_secs(2), Duration::from_secs(10));
    let dev = &got[&dev_out];
    let prod = &got[&prod_out];
    assert_eq!(dev.len(), 200);
    assert_eq!(prod.len(), 200);
    assert!(
        dev.iter().all(|d| d.starts_with(b"dev-")),
        "only dev datagrams on the dev group"
    );
    assert!(
        prod.iter().all(|d| d.starts_with(b"prod-")),
        "only prod datagrams on the prod group"
    );
    assert!(
        !got.contains_key(&stray_out),
        "a group outside --allow is never emitted"
    );
    assert!(eventually(Duration::from_secs(3), || {
        metric(
            eg_http,
            r#"mcast_relay_drops_total{feed="prod",role="egress",reason="not_allowed"}"#,
        ) == Some(200.0)
    }));
    assert_eq!(
        metric(
            eg_http,
            r#"mcast_relay_datagrams_out_total{feed="dev",role="egress"}"#
        ),
        Some(200.0)
    );
    // A sender naming the dev feed on the prod port is refused.
    let wrong = Proc::spawn(
        "ingress",
        &[
            "ingress",
            "--feed",
            "dev",
            "--iface",
            "lo",
            "--group",
            &g1,
            "--dest",
            &d2,
            "--http",
            "127.0.0.1:0",
        ],
    );
    // A feed this port does not serve is counted under feed "-", never as one of ours.
    assert!(eventually(Duration::from_secs(5), || {
        metric(
            eg_http,
            r#"mcast_relay_handshake_failures_total{feed="-",role="egress",reason="unknown_feed"}"#,
        )
        .is_some_and(|v| v >= 1.0)
    }));
    assert!(
        wrong.logs().contains("unknown_feed"),
        "the ingress is told why"
    );
}

#[test]
fn an_obvious_loop_is_refused_loudly() {
    let port = free_udp();
    let g = format!("239.35.1.1:{port}");
    let (tcp, h) = (free_tcp(), free_tcp());
    let (l, hs, d) = (
        format!("loop=127.0.0.1:{tcp}"),
        format!("127.0.0.1:{h}"),
        format!("127.0.0.1:{tcp}"),
    );
    let _eg = Proc::spawn(
        "egress",
        &[
            "egress",
            "--listen",
            &l,
            "--iface",
            "lo",
            "--allow",
            "239.35.0.0/16",
            "--http",
            &hs,
        ],
    );
    let ing = Proc::spawn(
        "ingress",
        &[
            "ingress",
            "--feed",
            "loop",
            "--iface",
            "lo",
            "--group",
            &g,
            "--dest",
            &d,
            "--http",
            "127.0.0.1:0",
        ],
    );
    assert!(eventually(Duration::from_secs(5), || {
        metric(
            h,
            r#"mcast_relay_handshake_failures_total{feed="loop",role="egress",reason="loop"}"#,
        )
        .is_some_and(|v| v >= 1.0)
    }));
    assert_eq!(
        metric(
            h,
            r#"mcast_relay_connected_peers{feed="loop",role="egress"}"#
        ),
        Some(0.0)
    );
    let logs = ing.logs();
    assert!(
        logs.contains("loop") && logs.contains("--map"),
        "the ingress logs the loop and the fix: {logs}"
    );
}

#[test]
fn sigterm_stops_both_relays_cleanly_within_five_seconds() {
    let port = free_udp();
    let src = sa(&format!("239.36.1.1:{port}"));
    let p = pair(
        "term",
        &[src],
        "239.36.1.0/24=239.36.2.0/24",
        "239.36.2.0/24",
        &[],
        &[],
    );
    let t = Instant::now();
    p.ingress.signal(nix::sys::signal::Signal::SIGTERM);
    p.egress.signal(nix::sys::signal::Signal::SIGTERM);
    let (si, _) = p.ingress.wait(Duration::from_secs(5));
    let (se, _) = p.egress.wait(Duration::from_secs(5));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert!(si.is_some_and(|s| s.success()), "ingress exit: {si:?}");
    assert!(se.is_some_and(|s| s.success()), "egress exit: {se:?}");
}

#[test]
fn the_demo_reports_no_loss() {
    let out = std::process::Command::new(BIN)
        .args(["demo", "--duration", "2", "--rate", "5000"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = text
        .lines()
        .find(|l| l.starts_with("| ") && l.chars().nth(2).is_some_and(|c| c.is_ascii_digit()))
        .unwrap();
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(cells[1], cells[2], "sent equals received: {row}");
    assert_eq!(cells[3], "0", "nothing lost: {row}");
    assert!(cells[1].parse::<u64>().unwrap() >= 9_000);
    assert!(text.contains("answered 200"));
}

#[test]
fn the_redundant_demo_loses_a_sender_and_nothing_else() {
    let out = std::process::Command::new(BIN)
        .args(["demo", "--redundant", "--duration", "4", "--rate", "5000"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| sen") && !l.starts_with("|-"))
        .map(|l| l.split('|').map(str::trim).collect())
        .collect();
    let summary = &rows[0];
    assert_eq!(summary[1], summary[2], "sent equals received: {text}");
    assert_eq!(
        (summary[3], summary[4]),
        ("0", "0"),
        "0 lost, 0 duplicates: {text}"
    );
    let senders: Vec<&Vec<&str>> = rows[1..].iter().collect();
    assert_eq!(senders.len(), 2, "{text}");
    let first: u64 = senders.iter().map(|r| r[3].parse::<u64>().unwrap()).sum();
    assert_eq!(
        first.to_string(),
        summary[1],
        "each datagram went out once, from one sender"
    );
    assert!(
        text.contains("was killed at") && text.contains("the feed went on through"),
        "{text}"
    );
}

#[test]
fn check_config_validates_names_the_key_and_hides_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("prod.key");
    let line = mcast_relay::wire::auth::Key::generate().to_line();
    std::fs::write(&key, format!("{line}\n")).unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        format!(
            "[[egress]]\nfeed = \"prod\"\nlisten = \"0.0.0.0:6667\"\niface = \"lo\"\nallow = [\"239.111.111.0/24\"]\nkey_file = \"{}\"\n",
            key.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["check-config"])
        .arg(&good)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("ttl = 32") && text.contains("1 key(s)"),
        "{text}"
    );
    assert!(!text.contains(line.split_once(':').unwrap().1), "{text}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[egress]]\nfeed = \"prod\"\nlisten = \"0.0.0.0:6667\"\niface = \"lo\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["check-config"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("egress[0]") && err.contains("allow"), "{err}");
}

#[test]
fn an_egress_without_allow_refuses_to_start_and_says_how_to_fix_it() {
    let out = std::process::Command::new(BIN)
        .args([
            "egress",
            "--listen",
            "x=127.0.0.1:0",
            "--iface",
            "lo",
            "--http",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--allow"), "{err}");
}

#[test]
fn a_source_specific_ingress_relays_only_its_source() {
    let port = free_udp();
    let src = sa(&format!("239.37.1.1:{port}"));
    let out = sa(&format!("239.37.2.1:{port}"));
    let p = pair(
        "ssm",
        &[src],
        "239.37.1.0/24=239.37.2.0/24",
        "239.37.2.0/24",
        &["--source", "127.0.0.2"],
        &[],
    );
    let rx = Receiver::join(&[out]);
    // Two senders on the loopback, from 127.0.0.1 and from 127.0.0.2.
    let from = |ip: &str| {
        let s = std::net::UdpSocket::bind((ip, 0)).unwrap();
        socket2::SockRef::from(&s)
            .set_multicast_if_v4(&std::net::Ipv4Addr::LOCALHOST)
            .unwrap();
        s
    };
    let (wanted, other) = (from("127.0.0.2"), from("127.0.0.1"));
    for i in 0..100u32 {
        wanted
            .send_to(format!("wanted-{i}").as_bytes(), src)
            .unwrap();
        other.send_to(format!("other-{i}").as_bytes(), src).unwrap();
    }
    let got = rx.collect(200, Duration::from_secs(2), Duration::from_secs(10));
    let got = got.get(&out).cloned().unwrap_or_default();
    assert_eq!(got.len(), 100, "only the joined source's datagrams");
    assert!(got.iter().all(|d| d.starts_with(b"wanted-")));
    assert_eq!(
        metric(
            p.eg_http,
            r#"mcast_relay_datagrams_out_total{feed="ssm",role="egress"}"#
        ),
        Some(100.0)
    );
}

/// An egress on the loopback, keyed by the environment, its HTTP on `http`.
fn loopback_egress(http: u16) -> std::process::Command {
    let mut c = std::process::Command::new(BIN);
    c.args(["egress", "--listen", "e=127.0.0.1:0", "--iface", "lo"])
        .args([
            "--allow",
            "239.38.0.0/16",
            "--http",
            &format!("127.0.0.1:{http}"),
        ]);
    c
}

#[test]
fn a_relay_whose_stderr_is_gone_still_stops_on_sigterm() {
    // A closed log pipe made tracing-subscriber panic in whichever task logged
    // next; the SIGTERM task was one of them, so the relay never stopped.
    let http = free_tcp();
    let mut child = loopback_egress(http)
        .env("RUST_LOG", "info")
        .env("MCAST_RELAY_KEY", test_key())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let mut p = Proc::adopt(child, "egress");
    // Ready means it has logged (into the closed pipe) its start and its bind.
    assert!(eventually(Duration::from_secs(5), || get(http, "/readyz")
        .is_some_and(|r| r.0 == 200)));
    assert!(
        p.child.try_wait().unwrap().is_none(),
        "it runs on without its stderr"
    );
    p.signal(nix::sys::signal::Signal::SIGTERM);
    let (status, _) = p.wait(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "stopped cleanly on SIGTERM: {status:?}"
    );
}

/// The CPU latency limit now in force, µs (a native-endian i32).
fn cpu_dma_latency() -> i32 {
    use std::io::Read;
    let mut b = [0u8; 4];
    std::fs::File::open("/dev/cpu_dma_latency")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("/dev/cpu_dma_latency reads");
    i32::from_ne_bytes(b)
}

#[test]
fn cpu_dma_latency_us_is_held_while_the_relay_runs_and_released_after() {
    if !root_or_skip("to open /dev/cpu_dma_latency") {
        return;
    }
    let before = cpu_dma_latency();
    // A limit already at or below ours would hide whether ours took effect.
    assert!(before > 7, "something already holds a limit of {before} µs");
    let http = free_tcp();
    let child = loopback_egress(http)
        .args(["--cpu-dma-latency-us", "7"])
        .env("MCAST_RELAY_KEY", test_key())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let p = Proc::adopt(child, "egress");
    assert!(eventually(Duration::from_secs(5), || get(http, "/readyz")
        .is_some_and(|r| r.0 == 200)));
    assert_eq!(cpu_dma_latency(), 7, "the relay holds its request");
    p.signal(nix::sys::signal::Signal::SIGTERM);
    let (status, _) = p.wait(Duration::from_secs(5));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert_eq!(
        cpu_dma_latency(),
        before,
        "the request went with the process"
    );
}

/// utime + stime of process `pid`, in seconds (/proc/PID/stat, 100 ticks a second).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which ends at the last ')': state is
    // field 3, utime and stime are fields 14 and 15.
    let rest: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = rest[11].parse::<u64>().unwrap() + rest[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// The share of a core `pid` uses over half a second.
fn core_share(pid: u32) -> f64 {
    let (c0, t0) = (cpu_secs(pid), Instant::now());
    std::thread::sleep(Duration::from_millis(500));
    (cpu_secs(pid) - c0) / t0.elapsed().as_secs_f64()
}

#[test]
fn a_spinning_egress_never_sleeps_and_still_carries_the_feed_byte_identical() {
    let port = free_udp();
    let src = sa(&format!("239.31.7.1:{port}"));
    let out = sa(&format!("239.31.8.1:{port}"));
    // One process spinning, the other not: each other's control.
    let p = pair(
        "spin",
        &[src],
        "239.31.7.0/24=239.31.8.0/24",
        "239.31.8.0/24",
        &[],
        &["--spin"],
    );
    let (spinning, waiting) = (
        core_share(p.egress.child.id()),
        core_share(p.ingress.child.id()),
    );
    assert!(
        spinning > 0.3,
        "the egress spins while idle: {spinning:.2} of a core"
    );
    assert!(
        waiting < 0.1,
        "the ingress sleeps while idle: {waiting:.2} of a core"
    );
    varied_datagrams_arrive_identical(src, out, 2000);
    p.egress.signal(nix::sys::signal::Signal::SIGTERM);
    let (status, logs) = p.egress.wait(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "a spinning egress stops on SIGTERM: {status:?}\n{logs}"
    );
}
