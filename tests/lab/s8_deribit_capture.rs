//! Scenario 8: The real Deribit capture replayed in dc: every channel whole in London and Tokyo.

use std::collections::BTreeMap;
use std::fs;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, BIN};

use crate::harness::*;

/// Scenario 8: The real Deribit capture replayed in dc: every channel whole in London and Tokyo.
#[test]
fn s8_deribit_capture_reaches_both_regions_without_gaps() {
    let Some(file) = common::capture("sample_capture_v1_6.pcapng") else {
        return;
    };
    let Some(lab) = Lab::up("s8", &[], &[]) else {
        return;
    };
    let cap = mcast_relay::feeds::pcap::read(&file).unwrap();
    // 239.111.111.x -> 239.201.111.x, same ports.
    let remap = |d: SocketAddrV4| {
        let o = d.ip().octets();
        SocketAddrV4::new(Ipv4Addr::new(239, 201, 111, o[3]), d.port())
    };
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for d in cap.datagrams.iter().filter(|d| d.dst.ip().is_multicast()) {
        *want.entry(remap(d.dst).to_string()).or_default() += 1;
    }
    let groups: Vec<String> = want.keys().cloned().collect();
    let group_refs: Vec<&str> = groups.iter().map(String::as_str).collect();
    let _el = lab.egress("ldn");
    let _et = lab.egress("tyo");
    let _ing = lab.ingress(&group_refs, &["ldn", "tyo"], &[]);
    lab.wait_links(&["ldn", "tyo"]);
    let listen = |short: &str| {
        let mut args = strings(&[
            "listen",
            "--iface",
            "eth0",
            "--format",
            "deribit",
            "--duration",
            "45s",
            "--idle",
            "4s",
            "--json",
            "--quiet",
        ]);
        for g in &groups {
            args.extend(strings(&["--group", g]));
        }
        lab.json_tool(short, &format!("listen-{short}"), &args)
    };
    let la = listen("ca");
    let lt = listen("ct");
    lab.wait_member("vl", "p-a", &group_refs);
    lab.wait_member("vt", "p-t", &group_refs);
    let speed = 4;
    let t = Instant::now();
    let (code, log) = lab.tool(
        "dc",
        &strings(&[
            "replay",
            &file.display().to_string(),
            "--iface",
            "feed0",
            "--map",
            "239.111.111.0/24=239.201.111.0/24",
            "--speed",
            &speed.to_string(),
        ]),
        Duration::from_secs(40),
    );
    let took = t.elapsed();
    assert_eq!(code, Some(0), "replay: {log}");
    let replayed: u64 = log
        .split("replayed ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("replay printed no count: {log}"));
    let (_, a) = la.finish(Duration::from_secs(40));
    let (_, tk) = lt.finish(Duration::from_secs(40));

    let per_channel = |v: &Value| -> (u64, u64, u64, u64, BTreeMap<String, u64>) {
        let mut got: BTreeMap<String, u64> = BTreeMap::new();
        let (mut gaps, mut dups, mut reord, mut n) = (0, 0, 0, 0);
        for c in v["channels"].as_array().into_iter().flatten() {
            gaps += c["gaps"].as_u64().unwrap_or(0);
            dups += c["duplicates"].as_u64().unwrap_or(0);
            reord += c["reordered"].as_u64().unwrap_or(0);
            n += 1;
            *got.entry(c["group"].as_str().unwrap_or("?").to_string())
                .or_default() += c["packets"].as_u64().unwrap_or(0);
        }
        (n, gaps, dups, reord, got)
    };
    let total: u64 = want.values().sum();
    eprintln!(
        "FIGURES s8 the Deribit capture ({total} datagrams, {} group:ports, 81 s) replayed at {speed}x in {:.1} s",
        want.len(),
        took.as_secs_f64()
    );
    for (who, v) in [("London cust-a", &a), ("Tokyo cust-t", &tk)] {
        let (channels, gaps, dups, reord, got) = per_channel(v);
        eprintln!(
            "  {who}: {} datagrams, {channels} channels, gaps {gaps} duplicates {dups} reordered {reord}",
            v["unique"]
        );
        assert_eq!(v["format"], "deribit", "{who}");
        assert_eq!(v["unique"].as_u64(), Some(total), "{who}: all arrived: {v}");
        assert_eq!(
            channels,
            want.len() as u64,
            "{who}: one channel per group:port"
        );
        assert_eq!((gaps, dups, reord), (0, 0, 0), "{who}: no gap per channel");
        assert_eq!(got, want, "{who}: per group:port, the capture's counts");
    }
    assert_eq!(replayed, total, "replay sent the whole capture");
}

struct JsonTool {
    bg: Bg,
    out: PathBuf,
}

impl JsonTool {
    /// Wait for the tool to end by itself (killed after `limit`); its JSON.
    fn finish(mut self, limit: Duration) -> (Option<i32>, Value) {
        let code = self.bg.wait(limit);
        let text = fs::read_to_string(&self.out).unwrap_or_default();
        let v = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "{} printed no JSON ({e}): {text}\n{}",
                self.bg.name,
                self.bg.log()
            )
        });
        (code, v)
    }
}

impl Lab {
    /// Run a tool to the end (killed after `limit`); its exit code and output.
    fn tool(&self, short: &str, args: &[String], limit: Duration) -> (Option<i32>, String) {
        let mut bg = self.spawn(short, &format!("tool-{}", args[0]), args);
        let code = bg.wait(limit);
        let text = bg.log();
        let _ = fs::remove_file(&bg.log);
        (code, text)
    }

    /// A tool whose stdout is JSON (listen --json): started now, read by `finish`.
    fn json_tool(&self, short: &str, name: &str, args: &[String]) -> JsonTool {
        let out = self.run.join(format!("{name}.json"));
        let err = self.run.join(format!("{name}.log"));
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(short), BIN])
            .args(args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        JsonTool {
            bg: Bg {
                child,
                name: name.into(),
                log: err,
            },
            out,
        }
    }
}
