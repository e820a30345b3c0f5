//! The link under attack and under faults, end to end on the loopback:
//! keys, TLS, takeover, dead peers, failover without loss, a stalled
//! destination, fan-out.

mod common;

use std::net::SocketAddrV4;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

fn sa(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

/// `listen` as a process, JSON summary at the end.
/// `listen` as a process, returned once it has joined.
fn listen(group: SocketAddrV4, idle: &str, duration: &str) -> Proc {
    listen_group(group, idle, duration)
}

#[test]
fn keys_authenticate_and_a_wrong_or_missing_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let new_key = || mcast_relay::wire::auth::Key::generate().to_line();
    let (cur, nxt, wrong) = (new_key(), new_key(), new_key());
    let both = key_file(dir.path(), "egress.key", &[&cur, &nxt]);
    let next = key_file(dir.path(), "next.key", &[&nxt]);
    let wrong = key_file(dir.path(), "wrong.key", &[&wrong]);
    let port = free_udp();
    let src = sa(&format!("239.41.1.1:{port}"));
    let out = sa(&format!("239.41.2.1:{port}"));
    // The ingress holds the next key: accepted during a rotation.
    let p = pair(
        "auth",
        &[src],
        "239.41.1.0/24=239.41.2.0/24",
        "239.41.2.0/24",
        &["--key-file", &next],
        &["--key-file", &both],
    );
    let l = listen(out, "2s", "15s");
    let n = sent(publish(src, 2000, 2, 200));
    let s = summary(l);
    assert_eq!(
        s["unique"].as_u64(),
        Some(n),
        "the authenticated feed flows: {s}"
    );
    let dest = format!("127.0.0.1:{}", p.tcp);
    let g = src.to_string();
    for (args, reason) in [
        (vec!["--key-file", wrong.as_str()], "unknown_key"),
        (vec!["--insecure-no-auth"], "auth_required"),
    ] {
        let mut a = vec![
            "ingress",
            "--feed",
            "auth",
            "--iface",
            "lo",
            "--group",
            &g,
            "--dest",
            &dest,
            "--http",
            "127.0.0.1:0",
        ];
        a.extend(args);
        let bad = Proc::spawn("ingress", &a);
        let label = format!(
            r#"mcast_relay_handshake_failures_total{{feed="auth",role="egress",reason="{reason}"}}"#
        );
        assert!(
            eventually(Duration::from_secs(5), || metric(p.eg_http, &label)
                .is_some_and(|v| v >= 1.0)),
            "{reason} counted"
        );
        let logs = bad.logs();
        assert!(
            logs.contains(reason),
            "the refused ingress is told why: {logs}"
        );
    }
    assert_eq!(
        metric(
            p.eg_http,
            r#"mcast_relay_connected_peers{feed="auth",role="egress"}"#
        ),
        Some(1.0),
        "the real feed stays connected"
    );
    let egress_logs = p.egress.logs();
    let secret = |line: &str| line.split_once(':').unwrap().1.to_string();
    assert!(
        !egress_logs.contains(&secret(&cur)) && !egress_logs.contains(&secret(&nxt)[..16]),
        "keys never logged"
    );
}

#[test]
fn tls_carries_the_feed_and_client_certificates_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let [ca, srv, srv_key, cli, cli_key] = certs(dir.path());
    let port = free_udp();
    let src = sa(&format!("239.42.1.1:{port}"));
    let out = sa(&format!("239.42.2.1:{port}"));
    let p = pair(
        "tls",
        &[src],
        "239.42.1.0/24=239.42.2.0/24",
        "239.42.2.0/24",
        &[
            "--tls-ca",
            &ca,
            "--tls-server-name",
            "localhost",
            "--tls-cert",
            &cli,
            "--tls-key",
            &cli_key,
        ],
        &[
            "--tls-cert",
            &srv,
            "--tls-key",
            &srv_key,
            "--tls-client-ca",
            &ca,
        ],
    );
    let l = listen(out, "2s", "15s");
    let n = sent(publish(src, 2000, 2, 300));
    assert_eq!(
        summary(l)["unique"].as_u64(),
        Some(n),
        "the feed flows over TLS"
    );
    let dest = format!("127.0.0.1:{}", p.tcp);
    let g = src.to_string();
    let base = [
        "ingress",
        "--feed",
        "tls",
        "--iface",
        "lo",
        "--group",
        g.as_str(),
        "--dest",
        dest.as_str(),
        "--http",
        "127.0.0.1:0",
    ];
    // Without a client certificate, and without TLS at all: refused.
    for extra in [
        vec!["--tls-ca", ca.as_str(), "--tls-server-name", "localhost"],
        vec![],
    ] {
        let before = metric(
            p.eg_http,
            r#"mcast_relay_handshake_failures_total{feed="-",role="egress",reason="tls"}"#,
        )
        .unwrap_or(0.0);
        let a: Vec<&str> = base.iter().copied().chain(extra).collect();
        let _bad = Proc::spawn("ingress", &a);
        assert!(eventually(Duration::from_secs(5), || {
            metric(
                p.eg_http,
                r#"mcast_relay_handshake_failures_total{feed="-",role="egress",reason="tls"}"#,
            )
            .unwrap_or(0.0)
                > before
        }));
    }
    assert_eq!(
        metric(
            p.eg_http,
            r#"mcast_relay_connected_peers{feed="tls",role="egress"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn a_new_sender_takes_over_and_the_handover_is_logged() {
    let port = free_udp();
    let src = sa(&format!("239.43.1.1:{port}"));
    let p = pair(
        "take",
        &[src],
        "239.43.1.0/24=239.43.2.0/24",
        "239.43.2.0/24",
        &[],
        &[],
    );
    let (g, dest) = (src.to_string(), format!("127.0.0.1:{}", p.tcp));
    let second = Proc::spawn(
        "ingress",
        &[
            "ingress",
            "--feed",
            "take",
            "--iface",
            "lo",
            "--group",
            &g,
            "--dest",
            &dest,
            "--http",
            "127.0.0.1:0",
        ],
    );
    // The first sender loses its link to the second (its reconnect is counted).
    let first_lost =
        format!(r#"mcast_relay_reconnects_total{{feed="take",role="ingress",peer="{dest}"}}"#);
    assert!(eventually(Duration::from_secs(10), || metric(
        p.in_http,
        &first_lost
    )
    .is_some_and(|v| v >= 1.0)));
    assert_eq!(
        metric(
            p.eg_http,
            r#"mcast_relay_connected_peers{feed="take",role="egress"}"#
        ),
        Some(1.0),
        "one active sender"
    );
    drop(second);
    let first_logs = p.ingress.logs();
    assert!(
        first_logs.contains("taken_over") && first_logs.contains("another sender took over"),
        "the old sender is told: {first_logs}"
    );
    assert!(
        p.egress.logs().contains("took over"),
        "the egress logs the handover"
    );
}

#[test]
fn a_dead_peer_is_noticed_within_three_seconds_on_both_sides() {
    let port = free_udp();
    let src = sa(&format!("239.44.1.1:{port}"));
    let p = pair(
        "dead",
        &[src],
        "239.44.1.0/24=239.44.2.0/24",
        "239.44.2.0/24",
        &[],
        &[],
    );
    let reconnects = format!(
        r#"mcast_relay_reconnects_total{{feed="dead",role="ingress",peer="127.0.0.1:{}"}}"#,
        p.tcp
    );
    // Egress frozen: the ingress notices.
    p.egress.signal(Signal::SIGSTOP);
    let t = Instant::now();
    assert!(eventually(Duration::from_secs(6), || metric(
        p.in_http,
        &reconnects
    )
    .is_some_and(|v| v >= 1.0)));
    let ingress_saw = t.elapsed();
    p.egress.signal(Signal::SIGCONT);
    let up = r#"mcast_relay_connected_peers{feed="dead",role="egress"}"#;
    assert!(
        eventually(Duration::from_secs(10), || metric(p.eg_http, up)
            == Some(1.0)),
        "it comes back"
    );
    // Ingress frozen: the egress notices.
    p.ingress.signal(Signal::SIGSTOP);
    let t = Instant::now();
    assert!(eventually(Duration::from_secs(6), || metric(p.eg_http, up)
        == Some(0.0)));
    let egress_saw = t.elapsed();
    p.ingress.signal(Signal::SIGCONT);
    eprintln!(
        "dead peer noticed: by the ingress in {ingress_saw:?}, by the egress in {egress_saw:?}"
    );
    // 2.5 s of silence plus up to one 25 ms poll of this test.
    assert!(ingress_saw < Duration::from_millis(3100), "{ingress_saw:?}");
    assert!(egress_saw < Duration::from_millis(3100), "{egress_saw:?}");
}

#[test]
fn an_egress_killed_and_restarted_loses_nothing() {
    let port = free_udp();
    let src = sa(&format!("239.45.1.1:{port}"));
    let out = sa(&format!("239.45.2.1:{port}"));
    let p = pair(
        "kill",
        &[src],
        "239.45.1.0/24=239.45.2.0/24",
        "239.45.2.0/24",
        &[],
        &[],
    );
    let l = listen(out, "3s", "40s");
    let publisher = publish(src, 2000, 6, 200);
    std::thread::sleep(Duration::from_secs(2));
    p.egress.signal(Signal::SIGKILL);
    let killed = Instant::now();
    let _ = p.egress.wait(Duration::from_secs(2));
    std::thread::sleep(Duration::from_secs(1));
    let listen_at = format!("kill=127.0.0.1:{}", p.tcp);
    let h = format!("127.0.0.1:{}", p.eg_http);
    let _again = Proc::spawn(
        "egress",
        &[
            "egress",
            "--listen",
            &listen_at,
            "--iface",
            "lo",
            "--ttl",
            "1",
            "--map",
            "239.45.1.0/24=239.45.2.0/24",
            "--allow",
            "239.45.2.0/24",
            "--http",
            &h,
        ],
    );
    let up = r#"mcast_relay_connected_peers{feed="kill",role="egress"}"#;
    assert!(eventually(Duration::from_secs(10), || metric(
        p.eg_http, up
    ) == Some(1.0)));
    let recovered = killed.elapsed();
    let n = sent(publisher);
    let s = summary(l);
    eprintln!(
        "egress SIGKILL + restart after 1 s: sent {n}, {s}, flowing again after {recovered:?}"
    );
    assert_eq!(s["unique"].as_u64(), Some(n), "no datagram lost: {s}");
    assert_eq!(s["gaps"].as_u64(), Some(0));
    // A fresh egress cannot know what its predecessor emitted but did not acknowledge.
    assert!(
        s["duplicates"].as_u64().unwrap() <= 2000 / 20 + 50,
        "at most ~50 ms of duplicates: {s}"
    );
}

#[test]
fn a_cut_link_reconnects_without_loss_or_duplicates() {
    let port = free_udp();
    let src = sa(&format!("239.46.1.1:{port}"));
    let out = sa(&format!("239.46.2.1:{port}"));
    let (tcp, eg_http, in_http) = (free_tcp(), free_tcp(), free_tcp());
    let (l_at, h) = (
        format!("cut=127.0.0.1:{tcp}"),
        format!("127.0.0.1:{eg_http}"),
    );
    let _eg = Proc::spawn(
        "egress",
        &[
            "egress",
            "--listen",
            &l_at,
            "--iface",
            "lo",
            "--ttl",
            "1",
            "--map",
            "239.46.1.0/24=239.46.2.0/24",
            "--allow",
            "239.46.2.0/24",
            "--http",
            &h,
        ],
    );
    let proxy = Proxy::start(tcp);
    let (g, dest, ih) = (
        src.to_string(),
        format!("127.0.0.1:{}", proxy.port),
        format!("127.0.0.1:{in_http}"),
    );
    let _in = Proxy::start(tcp); // an unused second proxy proves nothing leaks between them
    let _ing = Proc::spawn(
        "ingress",
        &[
            "ingress", "--feed", "cut", "--iface", "lo", "--group", &g, "--dest", &dest, "--http",
            &ih,
        ],
    );
    let up = r#"mcast_relay_connected_peers{feed="cut",role="egress"}"#;
    assert!(eventually(Duration::from_secs(10), || metric(eg_http, up) == Some(1.0)));
    let l = listen(out, "3s", "30s");
    let publisher = publish(src, 2000, 5, 200);
    std::thread::sleep(Duration::from_secs(2));
    proxy.cut.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(1500));
    proxy.cut.store(false, Ordering::Relaxed);
    let n = sent(publisher);
    let s = summary(l);
    eprintln!("link cut 1.5 s: sent {n}: {s}");
    assert_eq!(s["unique"].as_u64(), Some(n), "nothing lost: {s}");
    assert_eq!(
        s["duplicates"].as_u64(),
        Some(0),
        "the egress drops what it already emitted: {s}"
    );
    let replayed = metric(
        in_http,
        r#"mcast_relay_replayed_total{feed="cut",role="ingress"}"#,
    )
    .unwrap();
    let dups = metric(
        eg_http,
        r#"mcast_relay_duplicates_total{feed="cut",role="egress"}"#,
    )
    .unwrap();
    eprintln!("replayed by the ingress: {replayed}, dropped as duplicates by the egress: {dups}");
    assert!(replayed > 0.0);
}

#[test]
fn a_stalled_destination_does_not_slow_another_and_its_loss_is_counted() {
    let port = free_udp();
    let src = sa(&format!("239.47.1.1:{port}"));
    let (out_a, out_b) = (
        sa(&format!("239.47.2.1:{port}")),
        sa(&format!("239.47.3.1:{port}")),
    );
    let (ta, tb, ha, hb, hi) = (free_tcp(), free_tcp(), free_tcp(), free_tcp(), free_tcp());
    let egress = |t: u16, h: u16, to: &str| {
        let (l, h, m, a) = (
            format!("fan=127.0.0.1:{t}"),
            format!("127.0.0.1:{h}"),
            format!("239.47.1.0/24={to}"),
            to.to_string(),
        );
        Proc::spawn(
            "egress",
            &[
                "egress", "--listen", &l, "--iface", "lo", "--ttl", "1", "--map", &m, "--allow",
                &a, "--http", &h,
            ],
        )
    };
    let (_a, b) = (
        egress(ta, ha, "239.47.2.0/24"),
        egress(tb, hb, "239.47.3.0/24"),
    );
    let (g, da, db, h) = (
        src.to_string(),
        format!("127.0.0.1:{ta}"),
        format!("127.0.0.1:{tb}"),
        format!("127.0.0.1:{hi}"),
    );
    let ing = Proc::spawn(
        "ingress",
        &[
            "ingress",
            "--feed",
            "fan",
            "--iface",
            "lo",
            "--group",
            &g,
            "--dest",
            &da,
            "--dest",
            &db,
            "--http",
            &h,
            "--window-bytes",
            "2000000",
        ],
    );
    for hh in [ha, hb] {
        assert!(eventually(Duration::from_secs(10), || metric(
            hh,
            r#"mcast_relay_connected_peers{feed="fan",role="egress"}"#
        ) == Some(1.0)));
    }
    let la = listen(out_a, "3s", "30s");
    let lb = listen(out_b, "3s", "30s");
    let publisher = publish(src, 4000, 6, 1000);
    std::thread::sleep(Duration::from_secs(1));
    b.signal(Signal::SIGSTOP);
    std::thread::sleep(Duration::from_secs(4));
    let rss_kb: u64 = std::fs::read_to_string(format!("/proc/{}/status", ing.child.id()))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap();
    // The stalled destination shows how far behind it is; the live one does not.
    let lag = |d: &str| {
        metric(
            hi,
            &format!(
                r#"mcast_relay_link_behind_datagrams{{feed="fan",role="ingress",peer="{d}"}}"#
            ),
        )
        .unwrap_or(-1.0)
    };
    let (lag_a, lag_b) = (lag(&da), lag(&db));
    b.signal(Signal::SIGCONT);
    let n = sent(publisher);
    let (sa_, sb) = (summary(la), summary(lb));
    let behind = metric(
        hi,
        r#"mcast_relay_drops_total{feed="fan",role="ingress",reason="behind"}"#,
    )
    .unwrap_or(0.0);
    eprintln!(
        "A (live): {sa_}\nB (stalled 4 s): {sb}\ningress RSS while B stalled: {rss_kb} kB; counted behind: {behind}; behind gauge A {lag_a}, B {lag_b}"
    );
    assert_eq!(
        sa_["unique"].as_u64(),
        Some(n),
        "the live destination lost nothing"
    );
    assert!(
        sb["unique"].as_u64().unwrap() < n,
        "the stalled one missed some"
    );
    assert!(behind > 0.0, "and its loss is counted");
    assert!(
        lag_b > 1000.0 && lag_a >= 0.0 && lag_a < lag_b,
        "behind while stalled: A {lag_a}, B {lag_b}"
    );
    assert!(
        rss_kb < 64 * 1024,
        "ingress memory stays bounded: {rss_kb} kB"
    );
}

#[test]
fn fanout_serves_one_group_on_two() {
    let port = free_udp();
    let src = sa(&format!("239.48.1.1:{port}"));
    let (o1, o2) = (
        sa(&format!("239.48.2.1:{port}")),
        sa(&format!("239.48.3.1:{port}")),
    );
    let _p = pair(
        "fanout",
        &[src],
        "239.48.1.0/24=239.48.2.0/24",
        "239.48.0.0/16",
        &[],
        &["--fanout", "239.48.1.0/24=239.48.3.0/24"],
    );
    let rx = Receiver::join(&[o1, o2]);
    let tx = loopback_sender();
    for i in 0..500u32 {
        tx.send_to(&i.to_be_bytes(), src).unwrap();
    }
    let got = rx.collect(1000, Duration::from_secs(2), Duration::from_secs(10));
    let sent: Vec<Vec<u8>> = (0..500u32).map(|i| i.to_be_bytes().to_vec()).collect();
    // The egress sends a batch's main copies before its extra ones (so each
    // group's run can go as one segmented message): order holds per group.
    assert_eq!(got.get(&o1), Some(&sent), "the mapped group, in order");
    assert_eq!(got.get(&o2), Some(&sent), "the fanout group, in order");
}
