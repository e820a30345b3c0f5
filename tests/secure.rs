//! Secure by default, end to end: no feed without a key unless on purpose,
//! only random keys in one form, rotation with the feed running, a keyless
//! feed that says so and cannot be taken over, allow rules only onto
//! multicast, peers' words escaped in the logs, and /status agreeing with
//! /metrics on every refusal.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpListener};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use mcast_relay::wire::auth::Key;

fn sa(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn status(http: u16) -> serde_json::Value {
    serde_json::from_str(&get(http, "/status").expect("/status answers").1).unwrap()
}

fn feed_status(http: u16, feed: &str, role: &str) -> serde_json::Value {
    status(http)["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feed"] == feed && f["role"] == role)
        .cloned()
        .unwrap_or_else(|| panic!("no feed {feed} {role} in /status"))
}

/// Run a relay command that should refuse to start; its stderr.
fn refused(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("MCAST_RELAY_KEY");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} started: {err}");
    err
}

#[test]
fn a_relay_without_a_key_refuses_to_start_and_says_how_to_make_one() {
    for args in [
        &[
            "ingress",
            "--feed",
            "prod",
            "--iface",
            "lo",
            "--group",
            "239.50.0.1:6100",
            "--dest",
            "127.0.0.1:1",
            "--http",
            "127.0.0.1:0",
        ][..],
        &[
            "egress",
            "--listen",
            "prod=127.0.0.1:0",
            "--iface",
            "lo",
            "--allow",
            "239.50.0.0/16",
            "--http",
            "127.0.0.1:0",
        ][..],
    ] {
        let err = refused(args, &[]);
        assert!(
            err.contains("no key")
                && err.contains("mcast-relay keygen")
                && err.contains("MCAST_RELAY_KEY_PROD")
                && err.contains("--insecure-no-auth"),
            "{err}"
        );
    }
}

#[test]
fn only_random_keys_in_the_one_form_are_taken() {
    let dir = tempfile::tempdir().unwrap();
    let good = Key::generate().to_line();
    let weak = format!(
        "0011223344556677:{}",
        hex::encode("marketdata-2024!marketdata-2024!")
    );
    for (text, want) in [
        (
            "# made by hand\nmarketdata-2024!\n".to_string(),
            "line 2: not a key",
        ),
        (weak.clone(), "does not look random"),
        ("ab".repeat(31) + "a", "line 1: not a key"),
        (format!("{good}\n{good}\n"), "share the id"),
    ] {
        let f = key_file(dir.path(), "k", &[&text]);
        let err = refused(
            &[
                "egress",
                "--listen",
                "prod=127.0.0.1:0",
                "--iface",
                "lo",
                "--allow",
                "239.50.0.0/16",
                "--http",
                "127.0.0.1:0",
                "--key-file",
                &f,
            ],
            &[],
        );
        assert!(err.contains(want), "{text:?}: {err}");
    }
    // The environment refuses the same way, and names the variable.
    let err = refused(
        &[
            "egress",
            "--listen",
            "prod=127.0.0.1:0",
            "--iface",
            "lo",
            "--allow",
            "239.50.0.0/16",
            "--http",
            "127.0.0.1:0",
        ],
        &[("MCAST_RELAY_KEY_PROD", &weak)],
    );
    assert!(
        err.contains("MCAST_RELAY_KEY_PROD") && err.contains("does not look random"),
        "{err}"
    );
    // Two keys on one line of a file and in a variable are the same two keys.
    let next = Key::generate().to_line();
    let both = key_file(dir.path(), "both", &[&format!("{good},{next}")]);
    let toml = dir.path().join("c.toml");
    let conf = |kf: &str| {
        format!(
            "[[egress]]\nfeed = \"prod\"\nlisten = \"127.0.0.1:6667\"\niface = \"lo\"\nallow = [\"239.50.0.0/16\"]\n{kf}"
        )
    };
    let shown = |env: Option<&str>| {
        let mut c = Command::new(BIN);
        c.args(["check-config"])
            .arg(&toml)
            .env_remove("MCAST_RELAY_KEY");
        if let Some(v) = env {
            c.env("MCAST_RELAY_KEY_PROD", v);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    std::fs::write(&toml, conf(&format!("key_file = \"{both}\"\n"))).unwrap();
    let from_file = shown(None);
    std::fs::write(&toml, conf("")).unwrap();
    let from_env = shown(Some(&format!("{good}\n{next}")));
    let ids = |t: &str| {
        t.lines()
            .find(|l| l.contains("key(s)"))
            .unwrap()
            .to_string()
    };
    assert!(ids(&from_file).contains("2 key(s)"), "{from_file}");
    assert_eq!(ids(&from_file), ids(&from_env));
}

#[test]
fn keygen_prints_a_key_file_that_parses() {
    let out = Command::new(BIN)
        .args(["keygen", "--feed", "prod"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let keys = Key::parse_list(&text).unwrap();
    assert_eq!(keys.len(), 1);
    assert!(
        text.contains(&hex::encode(keys[0].id())),
        "the comment names the id: {text}"
    );
    let again = Command::new(BIN).arg("keygen").output().unwrap().stdout;
    assert_ne!(
        Key::parse_list(&String::from_utf8(again).unwrap()).unwrap(),
        keys
    );
}

#[test]
fn a_key_file_others_can_read_draws_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let f = key_file(dir.path(), "k", &[&Key::generate().to_line()]);
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    let http = free_tcp();
    let h = format!("127.0.0.1:{http}");
    let eg = Proc::spawn(
        "egress",
        &[
            "egress",
            "--listen",
            "prod=127.0.0.1:0",
            "--iface",
            "lo",
            "--allow",
            "239.50.0.0/16",
            "--http",
            &h,
            "--key-file",
            &f,
        ],
    );
    assert!(eventually(Duration::from_secs(5), || get(http, "/readyz")
        .is_some_and(|r| r.0 == 200)));
    let logs = eg.logs();
    assert!(
        logs.contains("readable by group or others (mode 644)") && logs.contains("chmod 600"),
        "{logs}"
    );
}

#[test]
fn a_feed_without_a_key_on_purpose_says_so_and_cannot_be_taken_over() {
    let port = free_udp();
    let src = sa(&format!("239.51.1.1:{port}"));
    let out = sa(&format!("239.51.2.1:{port}"));
    let p = pair(
        "open",
        &[src],
        "239.51.1.0/24=239.51.2.0/24",
        "239.51.2.0/24",
        &["--insecure-no-auth"],
        &["--insecure-no-auth"],
    );
    for (http, role) in [(p.eg_http, "egress"), (p.in_http, "ingress")] {
        assert_eq!(feed_status(http, "open", role)["authenticated"], false);
        assert_eq!(
            metric(
                http,
                &format!(r#"mcast_relay_feed_authenticated{{feed="open",role="{role}"}}"#)
            ),
            Some(0.0)
        );
    }
    // A stranger with no key names the same feed: the real sender keeps it.
    let dest = format!("127.0.0.1:{}", p.tcp);
    let g = src.to_string();
    let stranger = Proc::spawn(
        "stranger",
        &[
            "ingress",
            "--feed",
            "open",
            "--iface",
            "lo",
            "--group",
            &g,
            "--dest",
            &dest,
            "--http",
            "127.0.0.1:0",
            "--insecure-no-auth",
            "--sender",
            "stranger",
        ],
    );
    let busy =
        r#"mcast_relay_handshake_failures_total{feed="open",role="egress",reason="feed_busy"}"#;
    assert!(
        eventually(Duration::from_secs(5), || metric(p.eg_http, busy)
            .is_some_and(|v| v >= 1.0)),
        "the stranger was refused"
    );
    let rx = Receiver::join(&[out]);
    let tx = loopback_sender();
    for i in 0..200u32 {
        tx.send_to(format!("real-{i}").as_bytes(), src).unwrap();
    }
    let got = rx.collect(200, Duration::from_secs(2), Duration::from_secs(10));
    assert_eq!(
        got.get(&out).map_or(0, Vec::len),
        200,
        "the real sender kept the feed"
    );
    let reconnects = metric(
        p.in_http,
        &format!(r#"mcast_relay_reconnects_total{{feed="open",role="ingress",peer="{dest}"}}"#),
    );
    assert_eq!(reconnects.unwrap_or(0.0), 0.0, "it was never kicked off");
    let s_logs = stranger.logs();
    assert!(s_logs.contains("feed_busy"), "{s_logs}");
    let (e_logs, i_logs) = (p.egress.logs(), p.ingress.logs());
    for l in [&e_logs, &i_logs] {
        assert!(
            l.contains("WITHOUT authentication (--insecure-no-auth)"),
            "{l}"
        );
    }
}

#[test]
fn keys_rotate_with_the_feed_running_and_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let keygen = || {
        let out = Command::new(BIN).arg("keygen").output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let line = |file: &str| {
        file.lines()
            .find(|l| !l.starts_with('#'))
            .unwrap()
            .to_string()
    };
    let (a, b) = (keygen(), keygen());
    let (la, lb) = (line(&a), line(&b));
    let id = |l: &str| l.split_once(':').unwrap().0.to_string();
    let ek = key_file(dir.path(), "egress.key", &[&a]);
    let ik = key_file(dir.path(), "ingress.key", &[&a]);
    let port = free_udp();
    let src = sa(&format!("239.52.1.1:{port}"));
    let out = sa(&format!("239.52.2.1:{port}"));
    let proxy = std::cell::OnceCell::new();
    let p = pair_via(
        "rot",
        &[src],
        "239.52.1.0/24=239.52.2.0/24",
        "239.52.2.0/24",
        &["--key-file", &ik],
        &["--key-file", &ek],
        |to| {
            let pr = Proxy::start(to);
            let port = pr.port;
            let _ = proxy.set(pr);
            port
        },
    );
    let proxy = proxy.into_inner().unwrap();
    let listener = listen_group(out, "3s", "60s");
    let publisher = Command::new(BIN)
        .args([
            "publish",
            "--group",
            &src.to_string(),
            "--rate",
            "1000",
            "--duration",
            "10",
            "--size",
            "200",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ids_at = |http: u16, role: &str| -> Vec<String> {
        feed_status(http, "rot", role)["key_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let connects = || status(p.in_http)["links"][0]["connects"].as_u64().unwrap();
    let reconnect = |why: &str| {
        let before = connects();
        proxy.kick();
        assert!(
            eventually(Duration::from_secs(8), || connects() > before
                && status(p.in_http)["links"][0]["state"] == "up"),
            "{why}: the link came back"
        );
    };
    std::thread::sleep(Duration::from_millis(1500)); // let traffic flow first
    // 1. The next key added on the egress: it holds both.
    std::fs::write(&ek, format!("{a}{lb}\n")).unwrap();
    assert!(eventually(Duration::from_secs(5), || ids_at(
        p.eg_http, "egress"
    ) == [
        id(&la),
        id(&lb)
    ]));
    // 2. The ingress switched to it; its next handshake proves B.
    std::fs::write(&ik, &b).unwrap();
    assert!(eventually(Duration::from_secs(5), || ids_at(
        p.in_http, "ingress"
    ) == [id(&lb)]));
    reconnect("switched to the next key");
    // 3. The old key removed on the egress.
    std::fs::write(&ek, &b).unwrap();
    assert!(eventually(Duration::from_secs(5), || ids_at(
        p.eg_http, "egress"
    ) == [id(&lb)]));
    reconnect("old key removed");
    let n: u64 = {
        let o = publisher.wait_with_output().unwrap();
        String::from_utf8_lossy(&o.stderr)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };
    let got: serde_json::Value = summary(listener);
    // The old key no longer opens the feed.
    let old = key_file(dir.path(), "old.key", &[&a]);
    let dest = format!("127.0.0.1:{}", p.tcp);
    let g = src.to_string();
    let _stale = Proc::spawn(
        "stale",
        &[
            "ingress",
            "--feed",
            "rot",
            "--iface",
            "lo",
            "--group",
            &g,
            "--dest",
            &dest,
            "--http",
            "127.0.0.1:0",
            "--key-file",
            &old,
            "--sender",
            "stale",
        ],
    );
    let unknown =
        r#"mcast_relay_handshake_failures_total{feed="rot",role="egress",reason="unknown_key"}"#;
    assert!(eventually(Duration::from_secs(5), || metric(
        p.eg_http, unknown
    )
    .is_some_and(|v| v >= 1.0)));
    eprintln!(
        "rotation: sent {n}, received {}, gaps {}, duplicates {}; two reconnects, the old key refused after",
        got["unique"], got["gaps"], got["duplicates"]
    );
    assert_eq!(got["unique"].as_u64(), Some(n), "nothing lost: {got}");
    assert_eq!(got["gaps"].as_u64(), Some(0));
}

#[test]
fn allow_and_map_onto_unicast_are_refused_at_start() {
    for (flag, value) in [
        ("--allow", "0.0.0.0/0"),
        ("--map", "239.53.0.0/16=10.0.0.0/16"),
    ] {
        let mut args = vec![
            "egress",
            "--listen",
            "x=127.0.0.1:0",
            "--iface",
            "lo",
            "--http",
            "127.0.0.1:0",
            "--insecure-no-auth",
        ];
        if flag == "--map" {
            args.extend(["--allow", "239.53.0.0/16"]);
        }
        args.extend([flag, value]);
        let err = refused(&args, &[]);
        assert!(
            err.contains(value.split('=').next_back().unwrap())
                && (err.contains("224.0.0.0/4") || err.contains("not a multicast")),
            "{err}"
        );
    }
}

#[test]
fn a_peers_words_cannot_forge_a_log_line() {
    // Whoever answers the ingress's connection may say anything in a Goodbye.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let forged = "nope\n2026-12-01T00:00:00.000000Z  INFO mcast_relay::ingress: link up dest=evil";
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten().take(3) {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let mut bye = Vec::new();
            mcast_relay::wire::frame::encode(
                &mcast_relay::wire::frame::Frame::Goodbye {
                    code: 6,
                    reason: forged.into(),
                },
                &mut bye,
            );
            let _ = s.write_all(&bye);
        }
    });
    let dest = format!("127.0.0.1:{port}");
    let http = free_tcp();
    let h = format!("127.0.0.1:{http}");
    let ing = Proc::spawn(
        "ingress",
        &[
            "ingress",
            "--feed",
            "prod",
            "--iface",
            "lo",
            "--group",
            "239.54.0.1:6100",
            "--dest",
            &dest,
            "--http",
            &h,
        ],
    );
    assert!(eventually(Duration::from_secs(5), || {
        get(http, "/status").is_some_and(|(_, b)| b.contains("\"refused\""))
    }));
    let logs = ing.logs();
    assert!(
        logs.contains("link up dest=evil"),
        "the words are logged: {logs}"
    );
    assert!(
        !logs.lines().any(|l| l.starts_with("2026-12-01T00:00:00")),
        "but never as a line of their own: {logs}"
    );
}

#[test]
fn status_and_metrics_agree_on_every_refusal() {
    let port = free_udp();
    let src = sa(&format!("239.55.1.1:{port}"));
    let p = pair(
        "agree",
        &[src],
        "239.55.1.0/24=239.55.2.0/24",
        "239.55.2.0/24",
        &[],
        &[],
    );
    let dir = tempfile::tempdir().unwrap();
    let wrong = key_file(dir.path(), "wrong", &[&Key::generate().to_line()]);
    let dest = format!("127.0.0.1:{}", p.tcp);
    let g = src.to_string();
    let _w = Proc::spawn(
        "wrong",
        &[
            "ingress",
            "--feed",
            "agree",
            "--iface",
            "lo",
            "--group",
            &g,
            "--dest",
            &dest,
            "--http",
            "127.0.0.1:0",
            "--key-file",
            &wrong,
            "--sender",
            "w",
        ],
    );
    for bytes in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &[0xff, 0xff, 0xff, 0xff, 1][..],
    ] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", p.tcp)).unwrap();
        let _ = s.write_all(bytes);
        let _ = s.read(&mut [0u8; 64]);
    }
    let key = |feed: &str, reason: &str| {
        format!(
            r#"mcast_relay_handshake_failures_total{{feed="{feed}",role="egress",reason="{reason}"}}"#
        )
    };
    assert!(eventually(Duration::from_secs(5), || {
        metric(p.eg_http, &key("agree", "unknown_key")).is_some_and(|v| v >= 1.0)
            && metric(p.eg_http, &key("-", "http")) == Some(1.0)
            && metric(p.eg_http, &key("-", "oversize")) == Some(1.0)
    }));
    let st = status(p.eg_http);
    let feed = st["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feed"] == "agree" && f["role"] == "egress")
        .unwrap();
    let by_reason = feed["handshake_failures_by_reason"].as_object().unwrap();
    let mut total = 0.0;
    for (reason, n) in by_reason {
        assert_eq!(
            metric(p.eg_http, &key("agree", reason)),
            n.as_f64(),
            "{reason}"
        );
        total += n.as_f64().unwrap();
    }
    assert_eq!(feed["handshake_failures"].as_f64(), Some(total));
    assert!(total >= 1.0);
    let other = st["handshake_failures_unattributed"]["egress"]
        .as_object()
        .unwrap();
    assert_eq!(other["http"], 1);
    assert_eq!(other["oversize"], 1);
}
