//! Observability end to end on the loopback: the HTTP endpoints of real relay
//! processes, the degraded state, CloudWatch EMF lines on stdout, and the
//! status page in headless Chromium.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn sa(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn status(port: u16) -> Value {
    let (code, body) = get(port, "/status").expect("GET /status");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("/status is not JSON ({e}): {body}"))
}

/// The feed `feed` in `role` from a /status document.
fn feed<'a>(s: &'a Value, feed: &str, role: &str) -> &'a Value {
    s["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feed"] == feed && f["role"] == role)
        .unwrap_or_else(|| panic!("no feed {feed}/{role} in {s}"))
}

/// Sends datagrams to `group` on the loopback, about `pps` a second, until stopped.
struct Traffic {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Traffic {
    fn start(group: SocketAddrV4, pps: u64, size: usize) -> Traffic {
        let (stop, sent) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let (s2, n2) = (stop.clone(), sent.clone());
        let thread = std::thread::spawn(move || {
            let tx = loopback_sender();
            let payload = vec![0x5au8; size];
            let t0 = Instant::now();
            // Bounded: 60 s at most whatever the caller does.
            while !s2.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(60) {
                let due = (t0.elapsed().as_secs_f64() * pps as f64) as u64;
                while n2.load(Ordering::Relaxed) < due {
                    tx.send_to(&payload, group).unwrap();
                    n2.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Traffic {
            stop,
            sent,
            thread: Some(thread),
        }
    }

    /// Stop and return how many were sent.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn send_n(group: SocketAddrV4, n: usize) {
    let tx = loopback_sender();
    for i in 0..n {
        tx.send_to(&[i as u8; 200], group).unwrap();
        if i % 50 == 49 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

#[test]
fn endpoints_rates_and_the_degraded_state_of_a_live_pair() {
    let port = free_udp();
    let src = sa(&format!("239.41.1.1:{port}"));
    let p = pair(
        "obs1",
        &[src],
        "239.41.1.0/24=239.41.2.0/24",
        "239.41.2.0/24",
        &["--degraded-after", "2"],
        &["--degraded-after", "2"],
    );
    for http in [p.eg_http, p.in_http] {
        assert_eq!(get(http, "/healthz"), Some((200, "ok\n".into())));
        assert_eq!(get(http, "/readyz"), Some((200, "ready\n".into())));
    }
    let (code, page) = get(p.eg_http, "/").unwrap();
    assert_eq!(code, 200);
    assert!(page.contains("<title>mcast-relay status</title>"), "{page}");

    // While traffic flows: rates on both sides, links up, nothing degraded.
    let traffic = Traffic::start(src, 2000, 300);
    let mut seen = Value::Null;
    let flowing = eventually(Duration::from_secs(8), || {
        let (e, i) = (status(p.eg_http), status(p.in_http));
        let ok = feed(&e, "obs1", "egress")["rates"]["datagrams_out"]
            .as_f64()
            .unwrap()
            > 500.0
            && feed(&i, "obs1", "ingress")["rates"]["datagrams_in"]
                .as_f64()
                .unwrap()
                > 500.0;
        seen = serde_json::json!([e, i]);
        ok
    });
    assert!(flowing, "rates never showed the traffic: {seen}");
    let e = status(p.eg_http);
    let f = feed(&e, "obs1", "egress");
    assert_eq!(f["state"], "ok", "{e}");
    assert_eq!(f["degraded"], false);
    assert!(f["rates"]["bytes_out"].as_f64().unwrap() > 500.0 * 300.0);
    assert!(f["last_in"].as_f64().is_some());
    assert_eq!(e["state"], "ok");
    let link = &e["links"][0];
    assert_eq!(link["state"], "up", "{e}");
    assert_eq!(link["connects"], 1);
    // Per link: what it carried and its rate; only the ingress's has "behind".
    assert!(link["datagrams"].as_u64().unwrap() > 500, "{e}");
    assert!(link["behind"].is_null(), "{e}");
    // The link's rate comes from the monitor's samples, one a second.
    let mut i = status(p.in_http);
    let rated = eventually(Duration::from_secs(3), || {
        i = status(p.in_http);
        i["links"][0]["datagrams_per_s"].as_f64().unwrap() > 0.0
    });
    assert!(rated, "the link's rate never showed the traffic: {i}");
    assert_eq!(i["links"][0]["state"], "up", "{i}");
    let il = &i["links"][0];
    assert!(il["datagrams"].as_u64().unwrap() > 500, "{i}");
    assert!(il["bytes"].as_u64().unwrap() > 500 * 300, "{i}");
    assert!(il["behind"].as_u64().is_some(), "{i}");
    let sent_here = format!(
        r#"mcast_relay_link_datagrams_total{{feed="obs1",role="ingress",peer="127.0.0.1:{}"}}"#,
        p.tcp
    );
    assert!(metric(p.in_http, &sent_here).is_some_and(|v| v > 500.0));
    assert!(
        i["links"][0]["peer"]
            .as_str()
            .unwrap()
            .ends_with(&p.tcp.to_string())
    );
    assert_eq!(
        metric(
            p.eg_http,
            r#"mcast_relay_feed_degraded{feed="obs1",role="egress"}"#
        ),
        Some(0.0)
    );
    let sent = traffic.stop();

    // Every datagram is counted the same in /status and /metrics on both sides.
    let out = r#"mcast_relay_datagrams_out_total{feed="obs1",role="egress"}"#;
    assert!(
        eventually(Duration::from_secs(5), || metric(p.eg_http, out)
            == Some(sent as f64)),
        "egress sent {:?} of {sent}",
        metric(p.eg_http, out)
    );
    let e = status(p.eg_http);
    assert_eq!(feed(&e, "obs1", "egress")["datagrams_out"], sent);
    assert_eq!(feed(&e, "obs1", "egress")["bytes_out"], sent * 300);
    assert_eq!(
        feed(&status(p.in_http), "obs1", "ingress")["datagrams_in"],
        sent
    );

    // /metrics carries every family the issue asks for (reconnects and
    // handshake failures appear with their first peer or reason).
    let (_, text) = get(p.eg_http, "/metrics").unwrap();
    for family in [
        "datagrams_in",
        "bytes_in",
        "datagrams_out",
        "bytes_out",
        "drops",
        "gaps",
        "duplicates",
        "connected_peers",
        "replayed",
        "segmented_datagrams",
        "buffer_bytes",
        "latency_seconds",
        "feed_degraded",
        "feed_silent_seconds",
    ] {
        assert!(
            text.contains(&format!("# TYPE mcast_relay_{family} ")),
            "no {family} in /metrics:\n{text}"
        );
    }
    let lat = r#"mcast_relay_latency_seconds_count{feed="obs1",role="egress"}"#;
    assert_eq!(metric(p.eg_http, lat), Some(sent as f64));
    // Of what went out, those inside segmented messages: how many depends
    // on how the reads fell, but never more than went out.
    let seg = r#"mcast_relay_segmented_datagrams_total{feed="obs1",role="egress"}"#;
    assert!(metric(p.eg_http, seg).is_some_and(|v| v <= sent as f64));

    // Silence: degraded after 2 s, in /status and /metrics; health untouched.
    let degraded = eventually(Duration::from_secs(8), || {
        feed(&status(p.eg_http), "obs1", "egress")["degraded"] == true
    });
    assert!(degraded, "{}", status(p.eg_http));
    let e = status(p.eg_http);
    let why = feed(&e, "obs1", "egress")["degraded_reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(why.starts_with("no datagram in for"), "{why}");
    assert_eq!(e["state"], "degraded");
    assert!(feed(&e, "obs1", "egress")["silent_s"].as_f64().unwrap() >= 2.0);
    assert_eq!(
        metric(
            p.eg_http,
            r#"mcast_relay_feed_degraded{feed="obs1",role="egress"}"#
        ),
        Some(1.0)
    );
    assert!(eventually(Duration::from_secs(5), || feed(
        &status(p.in_http),
        "obs1",
        "ingress"
    )["degraded"]
        == true));
    for http in [p.eg_http, p.in_http] {
        assert_eq!(
            get(http, "/healthz").unwrap().0,
            200,
            "silence must not fail /healthz"
        );
        assert_eq!(get(http, "/readyz").unwrap().0, 200, "nor /readyz");
    }

    // Traffic again (after a monitor tick, which logs): recovered.
    std::thread::sleep(Duration::from_millis(1200));
    send_n(src, 100);
    assert!(eventually(Duration::from_secs(5), || {
        feed(&status(p.eg_http), "obs1", "egress")["degraded"] == false
            && metric(
                p.eg_http,
                r#"mcast_relay_feed_degraded{feed="obs1",role="egress"}"#,
            ) == Some(0.0)
    }));
    // The monitor (once a second) logs the degradation and the recovery.
    std::thread::sleep(Duration::from_millis(1200));
    let Pair {
        egress, ingress, ..
    } = p;
    let logs = egress.logs();
    assert!(logs.contains("feed degraded"), "{logs}");
    assert!(logs.contains("no datagram in for"), "{logs}");
    assert!(logs.contains("feed recovered"), "{logs}");
    assert_eq!(
        logs.matches("feed degraded").count(),
        1,
        "one warning per minute at most: {logs}"
    );
    drop(ingress);
}

#[test]
fn a_lone_egress_is_live_and_ready_but_degraded() {
    let (tcp, http) = (free_tcp(), free_tcp());
    let listen = format!("lone=127.0.0.1:{tcp}");
    let http_s = format!("127.0.0.1:{http}");
    let eg = Proc::spawn(
        "egress",
        &[
            "egress",
            "--listen",
            &listen,
            "--iface",
            "127.0.0.1",
            "--allow",
            "239.42.0.0/16",
            "--http",
            &http_s,
            "--degraded-after",
            "1",
        ],
    );
    assert!(eventually(Duration::from_secs(10), || get(http, "/readyz")
        .is_some_and(|r| r.0 == 200)));
    assert!(eventually(Duration::from_secs(5), || status(http)["state"]
        == "degraded"));
    let s = status(http);
    assert_eq!(s["live"], true);
    assert_eq!(s["ready"], true);
    assert_eq!(s["degraded_after_s"], 1.0);
    let f = feed(&s, "lone", "egress");
    let why = f["degraded_reason"].as_str().unwrap();
    assert!(why.contains("no ingress connected"), "{why}");
    assert_eq!(f["last_in"], Value::Null);
    assert_eq!(s["links"][0]["peer"], format!("127.0.0.1:{tcp}"));
    assert_eq!(get(http, "/healthz"), Some((200, "ok\n".into())));
    assert_eq!(get(http, "/nothing-here").map(|r| r.0), Some(404));
    drop(eg);
}

#[test]
fn healthz_and_readyz_follow_the_health_state_not_traffic() {
    use mcast_relay::obs::{Obs, http};
    use tokio_util::sync::CancellationToken;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let obs = Obs::default();
    let stop = CancellationToken::new();
    let (addr, _) = rt
        .block_on(http::serve(
            "127.0.0.1:0".parse().unwrap(),
            obs.clone(),
            stop.clone(),
        ))
        .unwrap();
    let port = addr.port();
    let probe = |path: &str| {
        let url = format!("http://127.0.0.1:{port}{path}");
        // The server runs on the runtime; drive it while probing from a thread.
        let h = std::thread::spawn(move || http::probe(&url, Duration::from_secs(2)).unwrap());
        rt.block_on(async {
            while !h.is_finished() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        h.join().unwrap()
    };
    obs.health.tick();
    obs.health.expect();
    assert_eq!(probe("/healthz"), 200);
    assert_eq!(probe("/readyz"), 503, "a component is not up yet");
    obs.health.ready();
    assert_eq!(probe("/readyz"), 200);
    // A feed silent forever changes neither.
    obs.metrics.feed("quiet", "egress");
    obs.watch.set_degraded_after(Duration::from_millis(1));
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(obs.status()["feeds"][0]["degraded"], true);
    assert_eq!(probe("/healthz"), 200);
    assert_eq!(probe("/readyz"), 200);
    // A task that must not end ended: unhealthy, and not ready.
    obs.health.fail("the egress stopped".into());
    assert_eq!(probe("/healthz"), 503);
    assert_eq!(probe("/readyz"), 503);
    stop.cancel();
}

/// Check one line against the EMF rules (field notes, section 5) and our
/// contract with the alarms: namespace, dimensions, the eight metrics.
fn check_emf(line: &str) -> Result<Value, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let o = v.as_object().ok_or("not an object")?;
    let aws = o.get("_aws").and_then(Value::as_object).ok_or("no _aws")?;
    let ts = aws
        .get("Timestamp")
        .and_then(Value::as_u64)
        .ok_or("_aws.Timestamp is not an integer")?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    if ts.abs_diff(now_ms) > 3_600_000 {
        return Err(format!("Timestamp {ts} is not milliseconds near now"));
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("no CloudWatchMetrics array")?;
    if directives.is_empty() {
        return Err("empty CloudWatchMetrics".into());
    }
    for d in directives {
        if d["Namespace"] != "McastRelay" {
            return Err(format!("namespace {}", d["Namespace"]));
        }
        let dims = d["Dimensions"]
            .as_array()
            .ok_or("Dimensions not an array")?;
        for set in dims {
            let set = set.as_array().ok_or("a dimension set is not an array")?;
            if set.len() > 30 {
                return Err(format!(
                    "{} keys in a dimension set (30 at most)",
                    set.len()
                ));
            }
            for k in set {
                let k = k.as_str().ok_or("a dimension key is not a string")?;
                if !o.get(k).is_some_and(Value::is_string) {
                    return Err(format!("dimension {k} is not a top-level string field"));
                }
            }
        }
        let metrics = d["Metrics"].as_array().ok_or("Metrics not an array")?;
        if metrics.len() > 100 {
            return Err(format!("{} metrics (100 at most)", metrics.len()));
        }
        for m in metrics {
            let name = m["Name"].as_str().ok_or("a metric without Name")?;
            if !o.get(name).is_some_and(Value::is_number) {
                return Err(format!("metric {name} is not a top-level number"));
            }
            let unit = m["Unit"].as_str().unwrap_or("None");
            if !["Count", "Bytes"].contains(&unit) {
                return Err(format!("unit {unit} of {name}"));
            }
        }
        let names: Vec<&str> = metrics.iter().filter_map(|m| m["Name"].as_str()).collect();
        let want = [
            "PacketsIn",
            "PacketsOut",
            "BytesIn",
            "BytesOut",
            "Drops",
            "Gaps",
            "Reconnects",
            "Senders",
        ];
        if names != want {
            return Err(format!("metrics {names:?}, want {want:?}"));
        }
        if dims.len() != 1 || dims[0] != serde_json::json!(["Feed", "Role"]) {
            return Err(format!("dimensions {dims:?}, want [[Feed, Role]]"));
        }
    }
    Ok(v)
}

#[test]
fn the_emf_checker_rejects_what_cloudwatch_would() {
    let good = mcast_relay::obs::emf::record(
        "prod",
        "egress",
        mcast_relay::obs::emf::Totals([5, 4, 3, 2, 1, 0, 0, 1]),
        Default::default(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    );
    check_emf(&good.to_string()).unwrap();
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("Gaps");
    assert!(check_emf(&v.to_string()).unwrap_err().contains("Gaps"));
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("Role");
    assert!(check_emf(&v.to_string()).unwrap_err().contains("Role"));
    let mut v = good.clone();
    let keys: Vec<String> = (0..31).map(|i| format!("K{i}")).collect();
    for k in &keys {
        v[k.as_str()] = "x".into();
    }
    v["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = serde_json::json!([keys]);
    assert!(check_emf(&v.to_string()).unwrap_err().contains("31 keys"));
    let mut v = good.clone();
    v["_aws"]["Timestamp"] = 1_700_000_000u64.into();
    assert!(
        check_emf(&v.to_string()).is_err(),
        "seconds, not milliseconds"
    );
}

#[test]
fn emf_lines_on_stdout_follow_the_rules_and_add_up_to_the_traffic() {
    let port = free_udp();
    let src = sa(&format!("239.43.1.1:{port}"));
    let mut p = pair(
        "emf1",
        &[src],
        "239.43.1.0/24=239.43.2.0/24",
        "239.43.2.0/24",
        &["--emf-interval", "1"],
        &["--emf-interval", "1"],
    );
    let collect = |out: std::process::ChildStdout| {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let l2 = lines.clone();
        let t = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                l2.lock().unwrap().push(line);
            }
        });
        (lines, t)
    };
    let (eg_lines, eg_t) = collect(p.egress.child.stdout.take().unwrap());
    let (in_lines, in_t) = collect(p.ingress.child.stdout.take().unwrap());
    send_n(src, 500);
    let out = r#"mcast_relay_datagrams_out_total{feed="emf1",role="egress"}"#;
    assert!(eventually(Duration::from_secs(5), || metric(
        p.eg_http, out
    ) == Some(500.0)));
    // At least two intervals' lines on each side before stopping.
    assert!(eventually(Duration::from_secs(5), || {
        eg_lines.lock().unwrap().len() >= 2 && in_lines.lock().unwrap().len() >= 2
    }));
    let Pair {
        egress, ingress, ..
    } = p;
    let (eg_log, in_log) = (egress.logs(), ingress.logs());
    eg_t.join().unwrap();
    in_t.join().unwrap();
    for (role, lines, logs) in [("egress", eg_lines, eg_log), ("ingress", in_lines, in_log)] {
        let lines = lines.lock().unwrap();
        assert!(lines.len() >= 2, "{role}: {lines:?}");
        assert!(
            !logs.contains("CloudWatchMetrics"),
            "EMF goes to stdout, not the logs"
        );
        let mut total = [0u64; 4];
        for l in lines.iter() {
            let v = check_emf(l).unwrap_or_else(|e| panic!("{role}: {e}: {l}"));
            assert_eq!(v["Feed"], "emf1");
            assert_eq!(v["Role"], role);
            for (i, k) in ["PacketsIn", "PacketsOut", "BytesIn", "BytesOut"]
                .iter()
                .enumerate()
            {
                total[i] += v[k].as_u64().unwrap();
            }
        }
        // Deltas: their sum over every line (the last one flushed at SIGTERM)
        // is the total the relay counted.
        assert_eq!(total[0], 500, "{role} PacketsIn over {lines:?}");
        assert_eq!(total[1], 500, "{role} PacketsOut");
        assert_eq!(total[2], 500 * 200, "{role} BytesIn");
        assert_eq!(total[3], 500 * 200, "{role} BytesOut");
    }
}

#[test]
fn emf_names_agree_with_the_terraform_alarms() {
    let tf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/terraform/modules/relay-service/alarms.tf");
    // A tracked file: its absence is a failure, not a reason to skip.
    let text = std::fs::read_to_string(&tf).unwrap_or_else(|e| panic!("{}: {e}", tf.display()));
    use mcast_relay::obs::emf::{DIMENSIONS, METRICS, NAMESPACE};
    let traffic = text
        .split("resource \"aws_cloudwatch_metric_alarm\" \"traffic\"")
        .nth(1)
        .expect("a traffic alarm resource");
    let traffic = traffic.split("\nresource ").next().unwrap();
    assert!(
        traffic.contains(&format!("namespace           = \"{NAMESPACE}\"")),
        "{traffic}"
    );
    let dims = traffic
        .lines()
        .find(|l| l.trim_start().starts_with("dimensions"))
        .expect("dimensions");
    for d in DIMENSIONS {
        assert!(dims.contains(&format!("{d} =")), "{dims}");
    }
    assert!(dims.contains("Role = \"egress\""), "{dims}");
    assert_eq!(dims.matches(" = ").count(), 1 + DIMENSIONS.len(), "{dims}");
    // The metrics the alarms are made for.
    let list = text
        .split("setproduct(local.alarm_feeds, [")
        .nth(1)
        .and_then(|x| x.split(']').next())
        .expect("the alarmed metric list");
    let names: Vec<&str> = list
        .split(',')
        .map(|s| s.trim().trim_matches('"'))
        .collect();
    assert!(!names.is_empty());
    for n in names {
        assert!(
            METRICS.iter().any(|(m, _)| *m == n),
            "alarm on {n}, which the EMF lines do not carry"
        );
    }
}

/// Chromium from Debian's package, or None with a SKIPPED note.
fn chromium() -> Option<PathBuf> {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = Path::new(dir).join(c);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    skip("no chromium on PATH (apt-get install -y chromium; .ci/run does)");
    None
}

/// Run headless Chromium on `url` with `extra` flags, 60 s at most; returns stdout.
fn headless(chrome: &Path, url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(out), &mut s);
        s
    });
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// One relay process running a feed's ingress and egress (and a second,
/// idle feed, and a destination that refuses), so the page has every state.
fn one_process_relay(tag: u8) -> (Proc, u16, SocketAddrV4, tempfile::TempDir) {
    let (tcp_prod, tcp_dev, http) = (free_tcp(), free_tcp(), free_tcp());
    let dead = free_tcp();
    let (port, dev_port) = (free_udp(), free_udp());
    let src = sa(&format!("239.44.{tag}.1:{port}"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("relay.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
http = "127.0.0.1:{http}"
degraded_after = 3
[[ingress]]
feed = "prod"
iface = "127.0.0.1"
groups = ["{src}"]
dests = ["127.0.0.1:{tcp_prod}", "127.0.0.1:{dead}"]
[[ingress]]
feed = "dev"
iface = "127.0.0.1"
groups = ["239.44.{tag}.9:{dev_port}"]
dests = ["127.0.0.1:{tcp_dev}"]
[[egress]]
feed = "prod"
listen = "127.0.0.1:{tcp_prod}"
iface = "127.0.0.1"
ttl = 1
allow = ["239.45.{tag}.0/24"]
map = ["239.44.{tag}.0/24=239.45.{tag}.0/24"]
[[egress]]
feed = "dev"
listen = "127.0.0.1:{tcp_dev}"
iface = "127.0.0.1"
ttl = 1
allow = ["239.45.{tag}.0/24"]
map = ["239.44.{tag}.0/24=239.45.{tag}.0/24"]
"#
        ),
    )
    .unwrap();
    let relay = Proc::spawn("relay", &["run", "--config", cfg.to_str().unwrap()]);
    let up = r#"mcast_relay_connected_peers{feed="prod",role="egress"}"#;
    assert!(
        eventually(Duration::from_secs(10), || metric(http, up) == Some(1.0)),
        "the prod link did not come up"
    );
    (relay, http, src, dir)
}

#[test]
fn the_status_page_fills_itself_in_headless_chromium() {
    let Some(chrome) = chromium() else {
        return;
    };
    let (relay, http, src, _dir) = one_process_relay(1);
    // The idle feed degrades after 3 s; wait for it so the page shows it.
    assert!(eventually(Duration::from_secs(10), || feed(
        &status(http),
        "dev",
        "egress"
    )["degraded"]
        == true));
    let traffic = Traffic::start(src, 3000, 400);
    // Let the monitor see a second of traffic so the rates are not zero.
    assert!(eventually(Duration::from_secs(8), || {
        feed(&status(http), "prod", "egress")["rates"]["datagrams_out"]
            .as_f64()
            .unwrap()
            > 1000.0
    }));
    let url = format!("http://127.0.0.1:{http}/");
    let dom = headless(&chrome, &url, &["--virtual-time-budget=3000", "--dump-dom"]);
    if let Ok(shot) = std::env::var("MCAST_RELAY_SCREENSHOT") {
        // For the docs: MCAST_RELAY_SCREENSHOT=$PWD/docs/img/status.png cargo test ...
        headless(
            &chrome,
            &url,
            &[
                "--virtual-time-budget=3000",
                "--hide-scrollbars",
                &format!("--screenshot={shot}"),
                "--window-size=1200,800",
            ],
        );
    }
    drop(traffic);
    drop(relay);

    assert!(dom.contains("<title>mcast-relay status</title>"), "{dom}");
    assert!(
        !dom.contains("waiting for /status"),
        "the script never filled the tables:\n{dom}"
    );
    let row = |kind: &str, feed: &str, role: &str| -> String {
        let at = format!(r#"data-feed="{feed}" data-role="{role}""#);
        dom.split("<tr ")
            .find(|r| r.contains(&at) && r.starts_with(&format!("class=\"{kind} ")))
            .unwrap_or_else(|| panic!("no {kind} row {feed}/{role} in:\n{dom}"))
            .split("</tr>")
            .next()
            .unwrap()
            .to_string()
    };
    let cell = |row: &str, class: &str| -> String {
        row.split(&format!(r#"class="{class}">"#))
            .nth(1)
            .and_then(|x| x.split('<').next())
            .unwrap_or_else(|| panic!("no {class} cell in {row}"))
            .to_string()
    };
    // The live feed: ok, with its rates filled in from /status.
    let eg = row("feed", "prod", "egress");
    assert!(eg.contains(r#"<span class="badge ok">ok</span>"#), "{eg}");
    let rate: f64 = cell(&eg, "num rate-out")
        .trim_end_matches('k')
        .parse()
        .unwrap_or_else(|_| panic!("rate-out not a number: {eg}"));
    assert!(rate > 0.0, "{eg}");
    assert_ne!(cell(&eg, "num mbit-out"), "0.00", "{eg}");
    assert_ne!(cell(&eg, "num latency"), "-", "{eg}");
    let ing = row("feed", "prod", "ingress");
    assert!(ing.contains("badge ok"), "{ing}");
    // The idle feed: degraded, with the reason.
    let dev = row("feed", "dev", "egress");
    assert!(dev.contains("badge degraded"), "{dev}");
    assert!(cell(&dev, "why").starts_with("no datagram in for"), "{dev}");
    // Links: prod's destination up, the refusing one down with its error.
    let links: Vec<&str> = dom
        .split("<tr ")
        .filter(|r| r.starts_with("class=\"link "))
        .collect();
    assert_eq!(
        links.len(),
        5,
        "3 ingress destinations and 2 egress listeners: {links:?}"
    );
    let up = links
        .iter()
        .find(|l| l.contains(r#"data-feed="prod" data-role="ingress""#) && l.contains("badge up"))
        .unwrap_or_else(|| panic!("prod's destination is not up: {links:?}"));
    assert!(
        cell(up, "num rate") != "-" && cell(up, "num rate") != "0",
        "{up}"
    );
    assert!(cell(up, "num behind").parse::<f64>().is_ok(), "{up}");
    assert!(
        links.iter().any(|l| l.contains("badge down")
            && l.contains("class=\"error\">")
            && !l.contains("class=\"error\"></td>")),
        "the refusing destination shows down with its error: {links:?}"
    );
    assert!(
        dom.contains(r#"<body data-state="degraded">"#),
        "the idle feed degrades the process"
    );
}
