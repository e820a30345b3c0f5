//! Two datacenter senders for one feed, merged at the egress by the venue's
//! sequence numbers, end to end on the loopback: the real capture arrives
//! once, byte-identical and in order, with both senders alive and with one
//! killed -9 mid-replay; a gap on one line is filled from the other; one
//! ingress at a time restarts without loss; an egress killed and restarted
//! with its state file emits nothing twice; per-sender figures and the
//! degraded state show what happened.

mod common;

use std::net::SocketAddrV4;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use common::*;
use mcast_relay::feeds::pcap;
use mcast_relay::tools::replay::{self, ReplayArgs};
use nix::sys::signal::Signal;

fn sa(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

/// An egress merging `merge`, and one ingress per sender name, all joined to `groups`.
struct Redundant {
    egress: Proc,
    ingresses: Vec<Proc>,
    eg_http: u16,
    in_http: Vec<u16>,
    eg_args: Vec<String>,
    in_args: Vec<Vec<String>>,
}

fn egress_args(
    tcp: u16,
    http: u16,
    map: &str,
    allow: &str,
    merge: &str,
    extra: &[&str],
) -> Vec<String> {
    let mut a: Vec<String> = [
        "egress",
        "--listen",
        &format!("red=127.0.0.1:{tcp}"),
        "--iface",
        "127.0.0.1",
        "--ttl",
        "1",
        "--allow",
        allow,
        "--map",
        map,
        "--merge",
        merge,
        "--http",
        &format!("127.0.0.1:{http}"),
        "--degraded-after",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn ingress_args(
    sender: &str,
    groups: &[SocketAddrV4],
    tcp: u16,
    http: u16,
    extra: &[&str],
) -> Vec<String> {
    let mut a: Vec<String> = [
        "ingress",
        "--feed",
        "red",
        "--iface",
        "lo",
        "--dest",
        &format!("127.0.0.1:{tcp}"),
        "--http",
        &format!("127.0.0.1:{http}"),
        "--sender",
        sender,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for g in groups {
        a.extend(["--group".to_string(), g.to_string()]);
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn spawn(name: &str, args: &[String]) -> Proc {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    Proc::spawn(name, &a)
}

fn connected(http: u16) -> Option<f64> {
    metric(
        http,
        r#"mcast_relay_connected_peers{feed="red",role="egress"}"#,
    )
}

impl Redundant {
    fn start(
        groups: &[SocketAddrV4],
        map: &str,
        allow: &str,
        merge: &str,
        senders: &[(&str, &[&str])],
        extra_eg: &[&str],
    ) -> Redundant {
        let (tcp, eg_http) = (free_tcp(), free_tcp());
        let eg_args = egress_args(tcp, eg_http, map, allow, merge, extra_eg);
        let egress = spawn("egress", &eg_args);
        let mut r = Redundant {
            egress,
            ingresses: vec![],
            eg_http,
            in_http: vec![],
            eg_args,
            in_args: vec![],
        };
        for (name, extra) in senders {
            let http = free_tcp();
            let a = ingress_args(name, groups, tcp, http, extra);
            r.ingresses.push(spawn(name, &a));
            r.in_http.push(http);
            r.in_args.push(a);
        }
        let n = senders.len() as f64;
        if !eventually(Duration::from_secs(10), || connected(eg_http) == Some(n)) {
            let logs: Vec<String> = r.ingresses.into_iter().map(Proc::logs).collect();
            panic!(
                "the senders did not connect\n--- egress:\n{}\n--- ingresses:\n{}",
                r.egress.logs(),
                logs.join("\n---\n")
            );
        }
        r
    }

    fn sender_metric(&self, name: &str, sender: &str) -> f64 {
        metric(
            self.eg_http,
            &format!(r#"mcast_relay_sender_{name}_total{{feed="red",sender="{sender}"}}"#),
        )
        .unwrap_or(0.0)
    }

    fn status_feed(&self) -> serde_json::Value {
        let s: serde_json::Value =
            serde_json::from_str(&get(self.eg_http, "/status").unwrap().1).unwrap();
        s["feeds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["feed"] == "red" && f["role"] == "egress")
            .cloned()
            .unwrap()
    }
}

/// The capture through two ingresses and one egress merging deribit; `kill`:
/// after how long one ingress is killed -9.
fn capture_twice(tag: u8, kill: Option<Duration>) {
    let Some(file) = capture("sample_capture_v1_6.pcapng") else {
        return;
    };
    let cap = pcap::read(&file).unwrap();
    let (p0, p1) = (free_udp(), free_udp());
    let to_test = |d: SocketAddrV4| {
        let o = d.ip().octets();
        SocketAddrV4::new(
            [239, tag, 111, o[3]].into(),
            if d.port() == 6100 { p0 } else { p1 },
        )
    };
    let out_of =
        |g: SocketAddrV4| SocketAddrV4::new([239, tag, 112, g.ip().octets()[3]].into(), g.port());
    let mut inputs: Vec<SocketAddrV4> = cap.datagrams.iter().map(|d| to_test(d.dst)).collect();
    inputs.sort();
    inputs.dedup();
    let outputs: Vec<SocketAddrV4> = inputs.iter().map(|g| out_of(*g)).collect();
    let r = Redundant::start(
        &inputs,
        &format!("239.{tag}.111.0/24=239.{tag}.112.0/24"),
        &format!("239.{tag}.112.0/24"),
        "deribit",
        &[("dc-a", &[]), ("dc-b", &[])],
        &[],
    );
    let r = r;
    let rx = Receiver::join(&outputs);
    let args = ReplayArgs {
        file: file.clone(),
        iface: "127.0.0.1".into(),
        map: vec![
            format!("239.111.111.0/24:6100=239.{tag}.111.0/24:{p0}")
                .parse()
                .unwrap(),
            format!("239.111.111.0/24:6101=239.{tag}.111.0/24:{p1}")
                .parse()
                .unwrap(),
        ],
        // 8 times the original pace: ~10 s.
        speed: 8.0,
        top_speed: false,
        loops: 1,
        ttl: 1,
        multicast_only: true,
        drop_every: 0,
    };
    let t = Instant::now();
    let sender = std::thread::spawn(move || replay::run(&args, &AtomicBool::new(false)).unwrap());
    if let Some(after) = kill {
        std::thread::sleep(after.saturating_sub(t.elapsed()));
        r.ingresses[0].signal(Signal::SIGKILL);
    }
    let got = rx.collect(5066 + 1, Duration::from_secs(4), Duration::from_secs(40));
    let report = sender.join().unwrap();
    let mut want: std::collections::BTreeMap<SocketAddrV4, Vec<Vec<u8>>> = Default::default();
    for d in &cap.datagrams {
        want.entry(out_of(to_test(d.dst)))
            .or_default()
            .push(d.payload.clone());
    }
    let total: usize = got.values().map(Vec::len).sum();
    let firsts = (
        r.sender_metric("first", "dc-a"),
        r.sender_metric("first", "dc-b"),
    );
    let late = (
        r.sender_metric("late", "dc-a"),
        r.sender_metric("late", "dc-b"),
    );
    eprintln!(
        "capture through two senders{}: replayed {}, received {total} on {} groups; first copies dc-a {} dc-b {}, later copies dropped dc-a {} dc-b {}",
        kill.map_or(String::new(), |k| format!(
            ", dc-a killed -9 after {:.1} s",
            k.as_secs_f64()
        )),
        report.sent,
        got.len(),
        firsts.0,
        firsts.1,
        late.0,
        late.1
    );
    assert_eq!(total, 5066, "each datagram exactly once");
    for (g, w) in &want {
        assert!(
            got.get(g) == Some(w),
            "group {g}: bytes and order preserved"
        );
    }
    assert_eq!(firsts.0 + firsts.1, 5066.0, "each packet won once");
    if kill.is_none() {
        assert!(late.0 + late.1 >= 5000.0, "both carried it all: {late:?}");
    } else {
        assert!(firsts.1 > 0.0, "dc-b carried on");
    }
    assert_eq!(
        metric(
            r.eg_http,
            r#"mcast_relay_gaps_total{feed="red",role="egress"}"#
        ),
        Some(0.0)
    );
}

#[test]
fn the_capture_through_two_senders_arrives_once_in_order() {
    capture_twice(40, None);
}

#[test]
fn the_capture_arrives_once_in_order_when_one_sender_is_killed_mid_replay() {
    capture_twice(41, Some(Duration::from_secs(5)));
}

/// `listen` once it has joined.
fn listen(group: SocketAddrV4, secs: &str) -> Proc {
    listen_group(group, "3s", secs)
}

#[test]
fn a_line_that_drops_at_its_socket_is_filled_from_the_other_and_every_loss_is_counted() {
    let port = free_udp();
    let (src, out) = (
        sa(&format!("239.42.1.1:{port}")),
        sa(&format!("239.42.2.1:{port}")),
    );
    let r = Redundant::start(
        &[src],
        "239.42.1.0/24=239.42.2.0/24",
        "239.42.2.0/24",
        "testhdr",
        &[("dc-a", &["--rcvbuf", "4096"]), ("dc-b", &[])],
        &[],
    );
    let l = listen(out, "30s");
    let publisher = publish(src, 2000, 5, 200);
    std::thread::sleep(Duration::from_secs(1));
    // dc-a stops reading for a second: its small socket buffer overflows.
    r.ingresses[0].signal(Signal::SIGSTOP);
    std::thread::sleep(Duration::from_secs(1));
    r.ingresses[0].signal(Signal::SIGCONT);
    let n = sent(publisher);
    let s = summary(l);
    let dropped = metric(
        r.in_http[0],
        r#"mcast_relay_drops_total{feed="red",role="ingress",reason="socket_overflow"}"#,
    )
    .unwrap_or(0.0);
    let (gaps, filled) = (
        r.sender_metric("gaps", "dc-a"),
        r.sender_metric("filled", "dc-a"),
    );
    eprintln!(
        "one line overflows: sent {n}, customer received {} (gaps {}, duplicates {}); dc-a's socket dropped {dropped} (SO_RXQ_OVFL), the egress saw {gaps} missing from dc-a, {filled} of them filled by dc-b",
        s["unique"], s["gaps"], s["duplicates"]
    );
    assert!(dropped > 100.0, "the overflow happened and was counted");
    assert_eq!(
        gaps, dropped,
        "every number dc-a's socket dropped is a gap of dc-a's copy"
    );
    assert_eq!(filled, gaps, "and dc-b filled each one");
    assert_eq!(s["unique"].as_u64(), Some(n), "the customer lost nothing");
    assert_eq!(
        (s["gaps"].as_u64(), s["duplicates"].as_u64()),
        (Some(0), Some(0))
    );
}

#[test]
fn restarting_one_ingress_at_a_time_loses_nothing() {
    let port = free_udp();
    let (src, out) = (
        sa(&format!("239.43.1.1:{port}")),
        sa(&format!("239.43.2.1:{port}")),
    );
    let mut r = Redundant::start(
        &[src],
        "239.43.1.0/24=239.43.2.0/24",
        "239.43.2.0/24",
        "testhdr",
        &[("dc-a", &[]), ("dc-b", &[])],
        &[],
    );
    let l = listen(out, "40s");
    let publisher = publish(src, 2000, 10, 200);
    for i in 0..2 {
        std::thread::sleep(Duration::from_secs(2));
        // A new version, a key rotation, a reboot: stop it, start it again.
        let _ = r.ingresses.remove(i).logs();
        r.ingresses
            .insert(i, spawn(&format!("dc-{i}"), &r.in_args[i]));
        assert!(
            eventually(Duration::from_secs(10), || connected(r.eg_http)
                == Some(2.0)),
            "restarted {i} reconnected"
        );
    }
    let n = sent(publisher);
    let s = summary(l);
    let restart = (
        r.sender_metric("restart_gaps", "dc-a"),
        r.sender_metric("restart_gaps", "dc-b"),
    );
    eprintln!(
        "rolling restart: sent {n}, received {} (gaps {}, duplicates {}); numbers each missed while down: dc-a {}, dc-b {}",
        s["unique"], s["gaps"], s["duplicates"], restart.0, restart.1
    );
    assert_eq!(s["unique"].as_u64(), Some(n));
    assert_eq!(
        (s["gaps"].as_u64(), s["duplicates"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(
        restart.0 > 0.0 && restart.1 > 0.0,
        "each restart's loss is counted as its own"
    );
}

#[test]
fn an_egress_killed_and_restarted_with_its_state_repeats_at_most_one_send() {
    const BATCH: u64 = 8;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().display().to_string();
    let port = free_udp();
    let (src, out) = (
        sa(&format!("239.44.1.1:{port}")),
        sa(&format!("239.44.2.1:{port}")),
    );
    let mut r = Redundant::start(
        &[src],
        "239.44.1.0/24=239.44.2.0/24",
        "239.44.2.0/24",
        "testhdr",
        &[("dc-a", &[]), ("dc-b", &[])],
        // Eight datagrams per send at most: what one send in flight at the
        // kill can repeat. Without the state file it would be up to an Ack
        // interval's worth (50 ms: 100 datagrams here).
        &["--state-dir", &state, "--batch", &BATCH.to_string()],
    );
    let l = listen(out, "40s");
    let publisher = publish(src, 2000, 8, 200);
    std::thread::sleep(Duration::from_secs(3));
    r.egress.signal(Signal::SIGKILL);
    let _ = r.egress.child.wait();
    std::thread::sleep(Duration::from_millis(500));
    r.egress = spawn("egress", &r.eg_args);
    assert!(
        eventually(Duration::from_secs(10), || connected(r.eg_http)
            == Some(2.0)),
        "both came back"
    );
    let n = sent(publisher);
    let s = summary(l);
    eprintln!(
        "egress killed -9 and restarted with --state-dir: sent {n}, received {}, gaps {}, duplicates {}",
        s["unique"], s["gaps"], s["duplicates"]
    );
    assert_eq!(s["unique"].as_u64(), Some(n), "nothing lost");
    let warned: Vec<String> = r
        .egress
        .logged()
        .lines()
        .filter(|l| l.contains("WARN"))
        .map(String::from)
        .collect();
    // A SIGKILL takes effect as a system call returns: one that sent a
    // batch dies before writing its position, so that batch may go twice.
    // Nothing else may.
    let dups = s["duplicates"].as_u64().unwrap();
    assert!(
        dups <= BATCH,
        "{dups} twice: more than the one send in flight; the restarted egress warned: {warned:#?}"
    );
    assert!(std::path::Path::new(&state).join("red.state").exists());
}

#[test]
fn each_sender_is_visible_and_a_lost_one_degrades_the_feed() {
    let port = free_udp();
    let src = sa(&format!("239.45.1.1:{port}"));
    let mut r = Redundant::start(
        &[src],
        "239.45.1.0/24=239.45.2.0/24",
        "239.45.2.0/24",
        "testhdr",
        &[("dc-a", &[]), ("dc-b", &[])],
        &[],
    );
    let n = sent(publish(src, 2000, 2, 200));
    assert!(eventually(Duration::from_secs(5), || {
        r.sender_metric("first", "dc-a") + r.sender_metric("first", "dc-b") == n as f64
    }));
    let f = r.status_feed();
    let senders = f["senders"].as_array().unwrap();
    assert_eq!(senders.len(), 2, "{f}");
    for s in senders {
        assert_eq!(s["connected"], true);
        assert_eq!(s["datagrams"].as_u64(), Some(n), "each carried all: {s}");
    }
    assert_eq!(f["degraded"], false, "{f}");
    let _ = r.ingresses.remove(1).logs();
    // The feed still flows through dc-a, but has one copy fewer.
    let keep = publish(src, 200, 6, 200);
    assert!(
        eventually(Duration::from_secs(8), || {
            let f = r.status_feed();
            f["degraded"] == true
                && f["degraded_reason"]
                    .as_str()
                    .is_some_and(|w| w.contains("sender dc-b disconnected"))
        }),
        "{}",
        r.status_feed()
    );
    assert_eq!(
        metric(
            r.eg_http,
            r#"mcast_relay_sender_connected{feed="red",sender="dc-b"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        get(r.eg_http, "/healthz").map(|x| x.0),
        Some(200),
        "degraded, not unhealthy"
    );
    sent(keep);
}
