//! The customer's verification kit, end to end on the loopback: real Deribit
//! captures replayed into `listen`, straight and through an ingress and an
//! egress; generated captures of each link type; Starbase A/B arbitration;
//! `publish --format deribit` against the capture it imitates.
//!
//! The captures are read from ../shared/data/deribit-legacy (never copied into
//! the repository); without them those tests print "SKIPPED: ..." and pass,
//! except under CI (`MCAST_RELAY_CI`), where a missing capture fails.
//! Expected values are decoded here from the files with a walker written
//! independently of `feeds::deribit`.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use mcast_relay::feeds::pcap::{self, Capture};
use mcast_relay::tools::replay::{self, ReplayArgs};
use serde_json::Value;

// ---------------------------------------------------------------------------
// An independent decoder of the legacy format, for the expectations.

fn le16(p: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes([*p.get(at)?, *p.get(at + 1)?]) as usize)
}

/// End of `n` repeating groups (8-byte headers: block, count, nested groups, var fields).
fn end_of_groups(p: &[u8], mut at: usize, n: usize) -> Option<usize> {
    for _ in 0..n {
        let (block, count, nested, vars) = (
            le16(p, at)?,
            le16(p, at + 2)?,
            le16(p, at + 4)?,
            le16(p, at + 6)?,
        );
        at += 8;
        for _ in 0..count {
            at = end_of_groups(p, at + block, nested)?;
            for _ in 0..vars {
                at += 1 + *p.get(at)? as usize;
            }
        }
    }
    (at <= p.len()).then_some(at)
}

/// The template ids of a datagram, if every message sizes exactly to the end.
fn templates_of(p: &[u8]) -> Option<Vec<u16>> {
    let mut at = 8;
    let mut out = Vec::new();
    while at < p.len() {
        let (block, template, schema, groups, vars) = (
            le16(p, at)?,
            le16(p, at + 2)?,
            le16(p, at + 4)?,
            le16(p, at + 8)?,
            le16(p, at + 10)?,
        );
        if schema != 1 {
            return None;
        }
        out.push(template as u16);
        at = end_of_groups(p, at + 12 + block, groups)?;
        for _ in 0..vars {
            at += 1 + *p.get(at)? as usize;
        }
    }
    (at == p.len()).then_some(out)
}

#[derive(Debug, Default)]
struct Want {
    packets: u64,
    messages: u64,
    templates: BTreeMap<u16, u64>,
    seqs: Vec<u64>,
}

impl Want {
    fn first(&self) -> u64 {
        *self.seqs.iter().min().unwrap()
    }
    fn next(&self) -> u64 {
        self.seqs.iter().max().unwrap() + 1
    }
    /// Numbers missing between the first and the last received, and in how many runs.
    fn gaps_and_holes(&self) -> (u64, u64) {
        let mut s = self.seqs.clone();
        s.sort();
        s.dedup();
        let (mut gaps, mut holes) = (0, 0);
        for w in s.windows(2) {
            if w[1] > w[0] + 1 {
                gaps += w[1] - w[0] - 1;
                holes += 1;
            }
        }
        (gaps, holes)
    }
}

type Expect = BTreeMap<(String, u64), Want>;

/// Per (group:port after `to`, channel): what a receiver of the datagrams
/// kept by `keep(index)` must count.
fn decode(
    cap: &Capture,
    to: impl Fn(SocketAddrV4) -> SocketAddrV4,
    keep: impl Fn(usize) -> bool,
) -> Expect {
    let mut out = Expect::new();
    for (i, d) in cap.datagrams.iter().enumerate() {
        if !keep(i) {
            continue;
        }
        let p = &d.payload;
        assert_eq!(
            le16(p, 0).unwrap() + 8,
            p.len(),
            "length field of datagram {i}"
        );
        let channel = le16(p, 2).unwrap() as u64;
        let seq = u32::from_le_bytes(p[4..8].try_into().unwrap()) as u64;
        let w = out.entry((to(d.dst).to_string(), channel)).or_default();
        w.packets += 1;
        w.seqs.push(seq);
        let t = templates_of(p).unwrap_or_else(|| panic!("datagram {i} does not walk"));
        w.messages += t.len() as u64;
        for id in t {
            *w.templates.entry(id).or_default() += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// `listen` as a child process.

struct Listen {
    child: Child,
    stderr: mpsc::Receiver<String>,
    stdout: Option<std::thread::JoinHandle<String>>,
}

impl Listen {
    /// Start `listen ARGS --json` and wait until it has joined its groups.
    fn start(args: &[String]) -> Listen {
        let mut child = Command::new(BIN)
            .arg("listen")
            .args(args)
            .arg("--json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mcast-relay listen");
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let l = Listen {
            child,
            stderr: rx,
            stdout: Some(stdout),
        };
        let t = Instant::now();
        let mut seen = String::new();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(line) = l.stderr.recv_timeout(Duration::from_millis(100)) {
                seen += &line;
                seen += "\n";
                if line.starts_with("listen: joined") {
                    return l;
                }
            }
        }
        panic!("listen did not join within 10 s: {seen}");
    }

    /// Wait for the exit (it stops by --idle); returns the exit code, the JSON
    /// report and what it printed on stderr.
    fn finish(mut self, limit: Duration) -> (Option<i32>, Value, String) {
        let t = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break Some(s);
            }
            if t.elapsed() > limit {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = self.child.kill();
        let _ = self.child.wait();
        let err: String = self.stderr.try_iter().map(|l| l + "\n").collect();
        let out = self.stdout.take().unwrap().join().unwrap();
        let json: Value = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("listen printed no JSON ({e}): {out:?}\n{err}"));
        (status.and_then(|s| s.code()), json, err)
    }
}

impl Drop for Listen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn group_args(groups: &[SocketAddrV4]) -> Vec<String> {
    groups
        .iter()
        .flat_map(|g| ["--group".to_string(), g.to_string()])
        .collect()
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn replay_args(file: &Path, map: &[String], drop_every: u64) -> ReplayArgs {
    ReplayArgs {
        file: file.to_path_buf(),
        iface: "127.0.0.1".into(),
        map: map.iter().map(|m| m.parse().unwrap()).collect(),
        speed: 1.0,
        top_speed: true,
        loops: 1,
        ttl: 1,
        multicast_only: true,
        drop_every,
    }
}

fn channels(report: &Value) -> BTreeMap<(String, u64), &Value> {
    report["channels"]
        .as_array()
        .expect("a channel list")
        .iter()
        .map(|c| {
            (
                (
                    c["group"].as_str().unwrap().to_string(),
                    c["channel"].as_u64().expect("a channel id"),
                ),
                c,
            )
        })
        .collect()
}

/// Every channel of `want` is in the report with the same counts, and nothing else is.
fn assert_channels(report: &Value, want: &Expect) {
    let got = channels(report);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the same channels"
    );
    for (k, w) in want {
        let c = got[k];
        let (gaps, holes) = w.gaps_and_holes();
        let templates: BTreeMap<u16, u64> = c["templates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["id"].as_u64().unwrap() as u16,
                    t["count"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(c["packets"].as_u64(), Some(w.packets), "{k:?} packets");
        assert_eq!(c["messages"].as_u64(), Some(w.messages), "{k:?} messages");
        assert_eq!(templates, w.templates, "{k:?} templates");
        assert_eq!(c["gaps"].as_u64(), Some(gaps), "{k:?} gaps");
        assert_eq!(c["holes"].as_u64(), Some(holes), "{k:?} holes");
        assert_eq!(c["first_seq"].as_u64(), Some(w.first()), "{k:?} first");
        assert_eq!(c["next_seq"].as_u64(), Some(w.next()), "{k:?} next");
        for zero in [
            "duplicates",
            "reordered",
            "length_mismatches",
            "not_sized",
            "untagged",
        ] {
            assert_eq!(c[zero].as_u64(), Some(0), "{k:?} {zero}");
        }
    }
    let total = |f: fn(&Want) -> u64| want.values().map(f).sum::<u64>();
    assert_eq!(report["packets"].as_u64(), Some(total(|w| w.packets)));
    assert_eq!(
        report["gaps"].as_u64(),
        Some(total(|w| w.gaps_and_holes().0))
    );
    assert_eq!(
        report["holes"].as_u64(),
        Some(total(|w| w.gaps_and_holes().1))
    );
}

/// The capture's groups and ports moved to a /24 and two ports private to a test.
struct Remap {
    net: [u8; 3],
    p0: u16,
    p1: u16,
}

impl Remap {
    fn new(second: u8, third: u8) -> Remap {
        Remap {
            net: [239, second, third],
            p0: free_udp(),
            p1: free_udp(),
        }
    }
    fn apply(&self, d: SocketAddrV4) -> SocketAddrV4 {
        let [a, b, c] = self.net;
        let port = if d.port() == 6100 { self.p0 } else { self.p1 };
        SocketAddrV4::new(Ipv4Addr::new(a, b, c, d.ip().octets()[3]), port)
    }
    fn rules(&self) -> Vec<String> {
        let [a, b, c] = self.net;
        vec![
            format!("239.111.111.0/24:6100={a}.{b}.{c}.0/24:{}", self.p0),
            format!("239.111.111.0/24:6101={a}.{b}.{c}.0/24:{}", self.p1),
        ]
    }
    fn groups(&self, cap: &Capture) -> Vec<SocketAddrV4> {
        let mut g: Vec<SocketAddrV4> = cap.datagrams.iter().map(|d| self.apply(d.dst)).collect();
        g.sort();
        g.dedup();
        g
    }
}

fn capture_or_skip(name: &str) -> Option<(PathBuf, Capture)> {
    let file = capture(name)?;
    let cap = pcap::read(&file).unwrap();
    Some((file, cap))
}

/// Replay `file` with `map` (and --drop-every) while `listen ARGS` runs; its report.
fn replay_into_listen(
    file: &Path,
    map: &[String],
    drop_every: u64,
    listen_args: Vec<String>,
) -> (Option<i32>, Value, String) {
    let l = Listen::start(&listen_args);
    let r = replay::run(&replay_args(file, map, drop_every), &AtomicBool::new(false)).unwrap();
    assert_eq!(r.skipped, 0, "{}", r.text());
    l.finish(Duration::from_secs(60))
}

fn deribit_listen_args(groups: &[SocketAddrV4], extra: &[&str]) -> Vec<String> {
    let mut a = strings(&[
        "--format",
        "deribit",
        "--idle",
        "1500ms",
        "--duration",
        "60s",
    ]);
    a.extend(strings(extra));
    a.extend(group_args(groups));
    a
}

// ---------------------------------------------------------------------------
// The real capture.

#[test]
fn the_capture_replayed_into_listen_gives_the_file_s_per_channel_counts_and_no_gap() {
    let Some((file, cap)) = capture_or_skip("sample_capture_v1_6.pcapng") else {
        return;
    };
    assert_eq!(cap.datagrams.len(), 5066);
    let m = Remap::new(51, 111);
    let groups = m.groups(&cap);
    assert_eq!(groups.len(), 29, "22 groups over ports 6100 and 6101");
    let want = decode(&cap, |d| m.apply(d), |_| true);
    assert_eq!(want.len(), 29, "one channel per group and port");
    assert_eq!(
        want.values().map(|w| w.messages).sum::<u64>(),
        6780,
        "the capture's message count, as decoded offline by a second decoder"
    );
    let (code, report, err) = replay_into_listen(
        &file,
        &m.rules(),
        0,
        deribit_listen_args(&groups, &["--fail-on-gap"]),
    );
    assert_eq!(code, Some(0), "no gap, so --fail-on-gap exits 0: {err}");
    assert_eq!(report["format"], "deribit");
    assert_eq!(report["unit"], "packets");
    assert_channels(&report, &want);
    assert_eq!(report["gaps"].as_u64(), Some(0));
    assert_eq!(report["unique"].as_u64(), Some(5066));
    assert_eq!(
        report["bytes"].as_u64(),
        Some(cap.datagrams.iter().map(|d| d.payload.len() as u64).sum())
    );
    // The live table names the channels.
    assert!(err.contains("ch   101"), "{err}");
}

#[test]
fn dropping_every_100th_packet_reports_exactly_the_holes_it_leaves() {
    let Some((file, cap)) = capture_or_skip("sample_capture_v1_6.pcapng") else {
        return;
    };
    let m = Remap::new(51, 113);
    let groups = m.groups(&cap);
    // replay counts from 1: the 100th, 200th... datagram of the file is left out.
    let kept = |i: usize| !(i + 1).is_multiple_of(100);
    let want = decode(&cap, |d| m.apply(d), kept);
    let (gaps, holes): (u64, u64) = want.values().fold((0, 0), |(g, h), w| {
        let (a, b) = w.gaps_and_holes();
        (g + a, h + b)
    });
    // 50 datagrams left out; the few that were the first or last of their
    // channel leave no hole a receiver could see.
    assert!(
        gaps > 40 && gaps <= 50 && holes <= gaps,
        "{gaps} in {holes}"
    );
    let (code, report, err) = replay_into_listen(
        &file,
        &m.rules(),
        100,
        deribit_listen_args(&groups, &["--fail-on-gap"]),
    );
    assert_eq!(code, Some(3), "--fail-on-gap: gaps exit 3: {err}");
    assert_channels(&report, &want);
    assert_eq!(report["gaps"].as_u64(), Some(gaps));
    assert_eq!(report["packets"].as_u64(), Some(5066 - 50));
}

#[test]
fn the_capture_through_an_ingress_and_an_egress_decodes_the_same() {
    let Some((file, cap)) = capture_or_skip("sample_capture_v1_6.pcapng") else {
        return;
    };
    let into = Remap::new(52, 111);
    let out = Remap {
        net: [239, 52, 112],
        p0: into.p0,
        p1: into.p1,
    };
    let inputs = into.groups(&cap);
    let outputs = out.groups(&cap);
    let _relay = pair(
        "deribit",
        &inputs,
        "239.52.111.0/24=239.52.112.0/24",
        "239.52.112.0/24",
        &[],
        &[],
    );
    let want = decode(&cap, |d| out.apply(d), |_| true);
    let (code, report, err) = replay_into_listen(
        &file,
        &into.rules(),
        0,
        deribit_listen_args(&outputs, &["--fail-on-gap"]),
    );
    assert_eq!(code, Some(0), "{err}");
    assert_channels(&report, &want);
    assert_eq!(report["gaps"].as_u64(), Some(0));
}

#[test]
fn the_other_three_captures_replay_and_decode_with_auto_format() {
    for (name, second) in [("combo_legs", 55u8), ("price_index", 56), ("rfq", 57)] {
        let Some((file, cap)) = capture_or_skip(&format!("{name}.pcapng")) else {
            return;
        };
        let m = Remap::new(second, 111);
        let groups = m.groups(&cap);
        let want = decode(&cap, |d| m.apply(d), |_| true);
        let mut args = strings(&["--idle", "1500ms", "--duration", "60s"]);
        args.extend(group_args(&groups));
        let (code, report, err) = replay_into_listen(&file, &m.rules(), 0, args);
        assert_eq!(code, Some(0), "{name}: {err}");
        assert_eq!(report["format"], "deribit", "{name}: auto picks deribit");
        assert_eq!(report["format_auto"], true);
        assert!(
            err.contains("listen: format deribit (auto"),
            "{name}: it says which: {err}"
        );
        // These captures have holes of their own (combo_legs, rfq): listen must see them.
        assert_channels(&report, &want);
        eprintln!(
            "{name}: {} datagrams, {} channels, gaps {} in {} holes",
            report["packets"],
            want.len(),
            report["gaps"],
            report["holes"]
        );
    }
}

/// The publish model's shapes are shapes of the capture.
#[test]
fn the_publish_model_s_packets_occur_in_the_capture() {
    let Some((_, cap)) = capture_or_skip("sample_capture_v1_6.pcapng") else {
        return;
    };
    let seen: std::collections::HashSet<(usize, Vec<u16>)> = cap
        .datagrams
        .iter()
        .map(|d| (d.payload.len(), templates_of(&d.payload).unwrap()))
        .collect();
    for (size, msgs) in mcast_relay::feeds::deribit::PACKETS {
        let t: Vec<u16> = msgs.iter().map(|m| m.0).collect();
        assert!(
            seen.contains(&(*size, t.clone())),
            "{size} bytes {t:?} is in the capture"
        );
    }
}

#[test]
fn publish_deribit_has_per_channel_sequences_and_the_capture_s_shape() {
    let port = free_udp();
    let groups: Vec<SocketAddrV4> = (1..=3)
        .map(|i| SocketAddrV4::new(Ipv4Addr::new(239, 58, 1, i), port))
        .collect();
    let rx = Receiver::join(&groups);
    let mut args = strings(&["--idle", "1500ms", "--duration", "60s"]);
    args.extend(group_args(&groups));
    let l = Listen::start(&args);
    let count = 3000u64;
    let mut p = vec![
        "publish".to_string(),
        "--format".into(),
        "deribit".into(),
        "--channels".into(),
        "6".into(),
        "--count".into(),
        count.to_string(),
        "--rate".into(),
        "20000".into(),
    ];
    p.extend(group_args(&groups));
    let out = Command::new(BIN).args(&p).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = rx.collect(
        count as usize,
        Duration::from_secs(2),
        Duration::from_secs(20),
    );
    let (code, report, err) = l.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(report["format"], "deribit", "auto recognises it");
    let ch = channels(&report);
    assert_eq!(ch.len(), 6);
    for ((group, id), c) in &ch {
        // Channel i is on group i mod 3, with 500 packets numbered 1..=500.
        assert_eq!(*group, groups[*id as usize % 3].to_string());
        assert_eq!(c["packets"].as_u64(), Some(count / 6), "channel {id}");
        assert_eq!(c["first_seq"].as_u64(), Some(1));
        assert_eq!(c["next_seq"].as_u64(), Some(count / 6 + 1));
        assert_eq!(c["gaps"].as_u64(), Some(0));
        assert_eq!(c["not_sized"].as_u64(), Some(0));
        assert_eq!(c["length_mismatches"].as_u64(), Some(0));
    }
    // Sizes: exactly the sizes of the mix, in its proportions.
    let all: Vec<&Vec<u8>> = got.values().flatten().collect();
    assert_eq!(all.len() as u64, count);
    let mix = mcast_relay::feeds::DERIBIT_SIZES;
    for &(size, w) in mix {
        let share = all.iter().filter(|d| d.len() == size).count() as f64 / count as f64;
        assert!(
            (share - w as f64 / 10_000.0).abs() < 0.015,
            "size {size}: {share:.4} of datagrams, the capture has {}",
            w as f64 / 10_000.0
        );
    }
    assert!(all.iter().all(|d| mix.iter().any(|m| m.0 == d.len())));
    // Templates: within 3 points of the capture's message mix, when present.
    let mut sent: BTreeMap<u16, f64> = BTreeMap::new();
    for d in &all {
        for t in templates_of(d).expect("every datagram walks") {
            *sent.entry(t).or_default() += 1.0;
        }
    }
    let n: f64 = sent.values().sum();
    if let Some((_, cap)) = capture_or_skip("sample_capture_v1_6.pcapng") {
        let mut real: BTreeMap<u16, f64> = BTreeMap::new();
        for d in &cap.datagrams {
            for t in templates_of(&d.payload).unwrap() {
                *real.entry(t).or_default() += 1.0;
            }
        }
        let rn: f64 = real.values().sum();
        assert_eq!(
            sent.keys().collect::<Vec<_>>(),
            real.keys().collect::<Vec<_>>()
        );
        for (t, c) in &real {
            let (a, b) = (sent[t] / n * 100.0, c / rn * 100.0);
            eprintln!("template {t}: published {a:.1} %, capture {b:.1} %");
            assert!((a - b).abs() < 3.0, "template {t}: {a:.1} % vs {b:.1} %");
        }
    }
    // What listen counted per template is what was sent.
    let mut counted: BTreeMap<u16, f64> = BTreeMap::new();
    for c in ch.values() {
        for t in c["templates"].as_array().unwrap() {
            *counted.entry(t["id"].as_u64().unwrap() as u16).or_default() +=
                t["count"].as_f64().unwrap();
        }
    }
    assert_eq!(counted, sent);
}

// ---------------------------------------------------------------------------
// Generated captures: each link type, and every reason to skip a frame.

fn ipv4(dst: Ipv4Addr, proto: u8, body: &[u8], frag: u16) -> Vec<u8> {
    let total = (20 + body.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1]);
    ip.extend_from_slice(&frag.to_be_bytes());
    ip.extend_from_slice(&[1, proto, 0, 0, 10, 0, 0, 1]);
    ip.extend_from_slice(&dst.octets());
    ip.extend_from_slice(body);
    ip
}

fn udp(dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&5000u16.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// Wrap an IP packet (`v6`: an IPv6 one) in link type `lt`'s header.
fn link(lt: u16, ip: &[u8], v6: bool) -> Vec<u8> {
    let ethertype: [u8; 2] = if v6 { [0x86, 0xdd] } else { [0x08, 0x00] };
    let mut f = match lt {
        1 => {
            let mut h = vec![1, 0, 0x5e, 0, 0, 1, 2, 0, 0, 0, 0, 1];
            h.extend_from_slice(&ethertype);
            h
        }
        113 => {
            // Linux cooked v1: packet type, ARPHRD, address length, 8 address bytes, protocol.
            let mut h = vec![0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
            h.extend_from_slice(&ethertype);
            h
        }
        276 => {
            // Linux cooked v2: protocol, reserved, ifindex, ARPHRD, packet type, address length, address.
            let mut h = ethertype.to_vec();
            h.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1, 2, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
            h
        }
        _ => Vec::new(), // raw IP
    };
    f.extend_from_slice(ip);
    f
}

/// A frame and how many of its bytes were captured.
type Frame = (Vec<u8>, usize);

/// The frames of a test capture, and the payloads that must come out.
fn frames(lt: u16, group: SocketAddrV4) -> (Vec<Frame>, Vec<Vec<u8>>) {
    let payloads: Vec<Vec<u8>> = (0..3u8).map(|i| vec![b'm', i, 7, 7, 7]).collect();
    let mut f = Vec::new();
    for p in &payloads {
        let frame = link(lt, &ipv4(*group.ip(), 17, &udp(group.port(), p), 0), false);
        let n = frame.len();
        f.push((frame, n));
    }
    let unicast = link(
        lt,
        &ipv4([10, 0, 0, 2].into(), 17, &udp(6100, b"uni"), 0),
        false,
    );
    let tcp = link(lt, &ipv4(*group.ip(), 6, &[0u8; 20], 0), false);
    let mut v6 = vec![0x60, 0, 0, 0, 0, 8, 17, 1];
    v6.extend_from_slice(&[0u8; 32]);
    v6.extend_from_slice(&udp(6100, b"")[..8]);
    let v6 = link(lt, &v6, true);
    let frag = link(
        lt,
        &ipv4(*group.ip(), 17, &udp(group.port(), b"part"), 0x2000),
        false,
    );
    let long = link(
        lt,
        &ipv4(*group.ip(), 17, &udp(group.port(), &[9u8; 200]), 0),
        false,
    );
    for fr in [unicast, tcp, v6, frag] {
        let n = fr.len();
        f.push((fr, n));
    }
    let cut = long.len() - 100;
    f.push((long, cut));
    let mut want = payloads;
    want.push(b"uni".to_vec());
    (f, want)
}

fn write_pcap(path: &Path, lt: u16, frames: &[Frame]) {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0u8; 8]);
    b.extend_from_slice(&65_535u32.to_le_bytes());
    b.extend_from_slice(&(lt as u32).to_le_bytes());
    for (i, (f, caplen)) in frames.iter().enumerate() {
        b.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        b.extend_from_slice(&(i as u32 * 1000).to_le_bytes());
        b.extend_from_slice(&(*caplen as u32).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(&f[..*caplen]);
    }
    std::fs::write(path, b).unwrap();
}

fn write_pcapng(path: &Path, lt: u16, frames: &[Frame]) {
    fn block(b: &mut Vec<u8>, kind: u32, body: &[u8]) {
        let pad = (4 - body.len() % 4) % 4;
        let len = (12 + body.len() + pad) as u32;
        b.extend_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.extend_from_slice(&vec![0u8; pad]);
        b.extend_from_slice(&len.to_le_bytes());
    }
    let mut b = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut b, 0x0a0d_0d0a, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&lt.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&65_535u32.to_le_bytes());
    block(&mut b, 1, &idb);
    for (i, (f, caplen)) in frames.iter().enumerate() {
        let ts = 1_700_000_000_000_000u64 + i as u64 * 1000; // microseconds
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&(*caplen as u32).to_le_bytes());
        epb.extend_from_slice(&(f.len() as u32).to_le_bytes());
        epb.extend_from_slice(&f[..*caplen]);
        let pad = (4 - caplen % 4) % 4;
        epb.extend_from_slice(&vec![0u8; pad]);
        block(&mut b, 6, &epb);
    }
    std::fs::write(path, b).unwrap();
}

#[test]
fn generated_captures_of_each_link_type_read_and_skip_by_reason() {
    let dir = tempfile::tempdir().unwrap();
    let group: SocketAddrV4 = "239.59.1.1:6100".parse().unwrap();
    for (lt, name) in [
        (1u16, "ethernet"),
        (113, "linux-cooked-v1"),
        (276, "linux-cooked-v2"),
        (101, "raw-ip"),
        (228, "ipv4"),
    ] {
        let (f, want) = frames(lt, group);
        for ng in [false, true] {
            let path = dir
                .path()
                .join(format!("{name}.{}", if ng { "pcapng" } else { "pcap" }));
            if ng {
                write_pcapng(&path, lt, &f);
            } else {
                write_pcap(&path, lt, &f);
            }
            let cap = pcap::read(&path).unwrap();
            let got: Vec<Vec<u8>> = cap.datagrams.iter().map(|d| d.payload.clone()).collect();
            assert_eq!(got, want, "{path:?}");
            assert_eq!(cap.datagrams[0].dst, group);
            assert_eq!(
                cap.datagrams[1].ts_ns - cap.datagrams[0].ts_ns,
                1_000_000,
                "{path:?}: 1 ms apart"
            );
            let by: Vec<(&str, u64)> = cap.skipped_by.iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(
                by,
                [
                    ("ip_fragment", 1),
                    ("not_ipv4", 1),
                    ("not_udp", 1),
                    ("truncated", 1)
                ],
                "{path:?}"
            );
            assert_eq!(cap.skipped, 4);
        }
    }
}

#[test]
fn a_linux_cooked_v2_capture_replays_to_its_group_and_counts_what_it_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp();
    let group = SocketAddrV4::new(Ipv4Addr::new(239, 59, 2, 1), port);
    let (f, want) = frames(276, group);
    let path = dir.path().join("sll2.pcapng");
    write_pcapng(&path, 276, &f);
    let rx = Receiver::join(&[group]);
    let mut a = replay_args(&path, &[], 0);
    a.top_speed = false;
    let r = replay::run(&a, &AtomicBool::new(false)).unwrap();
    let got = rx.collect(3, Duration::from_secs(2), Duration::from_secs(10));
    assert_eq!(got.get(&group), Some(&want[..3].to_vec()));
    assert_eq!(r.sent, 3);
    assert_eq!(r.skipped, 5);
    assert_eq!(r.skipped_by.get("not_multicast"), Some(&1));
    assert_eq!(r.skipped_by.get("truncated"), Some(&1));
    assert!(
        r.text().contains("not_multicast 1") && r.text().contains("not_udp 1"),
        "{}",
        r.text()
    );
}

// ---------------------------------------------------------------------------
// Starbase A/B arbitration, end to end with a plain sender.

/// A Starbase packet of `count` 16-byte messages, written byte by byte.
fn starbase(seq: u64, channel: u32, count: u16) -> Vec<u8> {
    let mut p = Vec::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    p.extend_from_slice(&now.to_le_bytes());
    p.extend_from_slice(&(seq as i64).to_le_bytes());
    p.extend_from_slice(&channel.to_le_bytes());
    p.extend_from_slice(&1u16.to_le_bytes());
    p.extend_from_slice(&count.to_le_bytes());
    p.extend(std::iter::repeat_n(0xab, 16 * count as usize));
    p
}

struct Side {
    lost: fn(u32, u64) -> bool,
}

/// Send 2 channels x 300 packets on A and B, each side losing what `lost`
/// says. On channel 7 B lags 3 packets behind A; on channel 8 B leads by 2.
/// Then a heartbeat per channel and side. Returns per channel the packets
/// as (seq, count).
fn send_ab(a: SocketAddrV4, b: SocketAddrV4, sa: Side, sb: Side) -> BTreeMap<u32, Vec<(u64, u64)>> {
    let tx = loopback_sender();
    let mut plan: BTreeMap<u32, Vec<(u64, u64)>> = BTreeMap::new();
    for (ch, first) in [(7u32, 1_000u64), (8, 50)] {
        let mut seq = first;
        for i in 0..300u64 {
            let count = 1 + i % 4;
            plan.entry(ch).or_default().push((seq, count));
            seq += count;
        }
    }
    let lead = |ch: u32| {
        if ch == 7 {
            ((a, &sa), (b, &sb), 3)
        } else {
            ((b, &sb), (a, &sa), 2)
        }
    };
    for step in 0..303u64 {
        for ch in [7u32, 8] {
            let (leader, follower, lag) = lead(ch);
            for ((g, side), i) in [(leader, Some(step)), (follower, step.checked_sub(lag))] {
                let Some(i) = i.filter(|i| *i < 300) else {
                    continue;
                };
                if !(side.lost)(ch, i) {
                    let (seq, count) = plan[&ch][i as usize];
                    tx.send_to(&starbase(seq, ch, count as u16), g).unwrap();
                }
            }
        }
        if step % 50 == 49 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    for (ch, p) in &plan {
        let (seq, count) = p[p.len() - 1];
        let hb = starbase(seq + count, *ch, 0);
        tx.send_to(&hb, a).unwrap();
        tx.send_to(&hb, b).unwrap();
    }
    plan
}

/// Messages and runs of packets lost by `lost` on channel `ch`.
fn lost_messages(plan: &[(u64, u64)], ch: u32, lost: fn(u32, u64) -> bool) -> (u64, u64) {
    let (mut msgs, mut runs, mut prev) = (0, 0, false);
    for (i, (_, count)) in plan.iter().enumerate() {
        let l = lost(ch, i as u64);
        if l {
            msgs += count;
            runs += !prev as u64;
        }
        prev = l;
    }
    (msgs, runs)
}

#[test]
fn starbase_a_and_b_each_losing_different_packets_merge_without_a_gap() {
    let port = free_udp();
    let a = SocketAddrV4::new(Ipv4Addr::new(239, 60, 1, 1), port);
    let b = SocketAddrV4::new(Ipv4Addr::new(239, 60, 2, 1), port);
    let lost_a: fn(u32, u64) -> bool =
        |ch, i| (ch == 7 && i % 50 == 10) || (ch == 8 && (100..104).contains(&i));
    let lost_b: fn(u32, u64) -> bool = |ch, i| (ch == 7 && i % 50 == 30) || (ch == 8 && i == 200);
    let l = Listen::start(&strings(&[
        "--ab",
        &format!("{a}={b}"),
        "--idle",
        "1500ms",
        "--duration",
        "60s",
        "--fail-on-gap",
    ]));
    let plan = send_ab(a, b, Side { lost: lost_a }, Side { lost: lost_b });
    let (code, report, err) = l.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "the merge has no gap: {err}");
    assert_eq!(report["format"], "starbase", "auto: {err}");
    assert_eq!(report["unit"], "messages");
    assert_eq!(report["gaps"].as_u64(), Some(0));
    assert!(
        report["latency_us"]["samples"].as_u64().unwrap() > 0,
        "sendingTime gives latency"
    );
    let ch = channels(&report);
    assert_eq!(ch.len(), 2);
    for (id, packets) in &plan {
        let c = ch[&(a.to_string(), *id as u64)];
        let all: u64 = packets.iter().map(|p| p.1).sum();
        let ab = &c["ab"];
        let (a_gaps, a_holes) = lost_messages(packets, *id, lost_a);
        let (b_gaps, b_holes) = lost_messages(packets, *id, lost_b);
        assert!(a_gaps > 0 && b_gaps > 0, "both sides lose something");
        assert_eq!(c["gaps"].as_u64(), Some(0), "channel {id}: merged");
        assert_eq!(c["first_seq"].as_u64(), Some(packets[0].0));
        assert_eq!(c["next_seq"].as_u64(), Some(packets[0].0 + all));
        assert_eq!(c["heartbeats"].as_u64(), Some(2));
        assert_eq!(ab["a"]["gaps"].as_u64(), Some(a_gaps), "channel {id}: A");
        assert_eq!(ab["a"]["holes"].as_u64(), Some(a_holes));
        assert_eq!(ab["b"]["gaps"].as_u64(), Some(b_gaps), "channel {id}: B");
        assert_eq!(ab["b"]["holes"].as_u64(), Some(b_holes));
        assert_eq!(ab["b"]["group"], b.to_string());
        // One sender, one receiving socket: arrival order is send order, so the
        // follower wins exactly the packets the leader lost, and each of those
        // fills the merge late (after later packets of the leader).
        let (lead, follow, lost_lead, lost_follow) = if *id == 7 {
            ("a", "b", lost_a, lost_b)
        } else {
            ("b", "a", lost_b, lost_a)
        };
        let filled: Vec<usize> = (0..300usize)
            .filter(|i| lost_lead(*id, *i as u64) && !lost_follow(*id, *i as u64))
            .collect();
        let n = filled.len() as u64;
        assert!(n > 0);
        assert_eq!(ab[follow]["won"].as_u64(), Some(n), "channel {id}");
        assert_eq!(ab[lead]["won"].as_u64(), Some(300 - n), "channel {id}");
        let late: u64 = filled.iter().map(|i| packets[*i].1).sum();
        assert_eq!(
            c["reordered"].as_u64(),
            Some(late),
            "channel {id}: filled late"
        );
        let sent = 600
            - (0..300u64).filter(|i| lost_a(*id, *i)).count() as u64
            - (0..300u64).filter(|i| lost_b(*id, *i)).count() as u64;
        assert_eq!(ab["redundant"].as_u64(), Some(sent - 300));
        assert_eq!(c["duplicates"].as_u64(), Some(0));
    }
}

#[test]
fn starbase_a_packet_lost_on_both_sides_fails_the_check() {
    let port = free_udp();
    let a = SocketAddrV4::new(Ipv4Addr::new(239, 60, 3, 1), port);
    let b = SocketAddrV4::new(Ipv4Addr::new(239, 60, 4, 1), port);
    let lost_a: fn(u32, u64) -> bool = |ch, i| ch == 8 && (i == 77 || i == 150);
    let lost_b: fn(u32, u64) -> bool = |ch, i| ch == 8 && (i == 77 || i == 78);
    let l = Listen::start(&strings(&[
        "--format",
        "starbase",
        "--ab",
        &format!("{a}={b}"),
        "--idle",
        "1500ms",
        "--duration",
        "60s",
        "--fail-on-gap",
    ]));
    let plan = send_ab(a, b, Side { lost: lost_a }, Side { lost: lost_b });
    let (code, report, err) = l.finish(Duration::from_secs(30));
    assert_eq!(code, Some(3), "gaps exit 3: {err}");
    let lost_both: fn(u32, u64) -> bool = |ch, i| ch == 8 && i == 77;
    let want = lost_messages(&plan[&8], 8, lost_both);
    let c = channels(&report)[&(a.to_string(), 8)];
    assert_eq!(
        (c["gaps"].as_u64(), c["holes"].as_u64()),
        (Some(want.0), Some(want.1))
    );
    assert_eq!(report["gaps"].as_u64(), Some(want.0));
    let c7 = channels(&report)[&(a.to_string(), 7)];
    assert_eq!(c7["gaps"].as_u64(), Some(0));
}
