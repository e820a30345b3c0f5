//! Faults that need interfaces of their own, in network namespaces the test
//! makes and removes (root only; skipped with a note otherwise): a membership
//! that outlives its interface, and datagrams too big for the egress's MTU.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// A network namespace, deleted (with every process in it) when dropped.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("mcr-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        assert!(
            Command::new("ip")
                .args(["netns", "add", &name])
                .status()
                .unwrap()
                .success()
        );
        let ns = Netns(name);
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) {
        let ok = Command::new("ip")
            .args(["netns", "exec", &self.0, "ip"])
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "ip {args:?} in {}", self.0);
    }

    /// An interface with multicast on and an address: one end of a veth pair
    /// (this kernel has no dummy driver), the other end up and unaddressed.
    fn iface(&self, name: &str, cidr: &str, mtu: &str) {
        let peer = format!("{name}p");
        self.ip(&[
            "link", "add", name, "mtu", mtu, "type", "veth", "peer", "name", &peer, "mtu", mtu,
        ]);
        self.ip(&["link", "set", &peer, "up"]);
        self.ip(&["link", "set", name, "multicast", "on", "up"]);
        self.ip(&["addr", "add", cidr, "dev", name]);
    }

    fn spawn(&self, name: &str, args: &[&str]) -> Proc {
        let mut all = vec!["netns", "exec", &self.0, BIN];
        all.extend(args);
        // Relays run keyed, as in production (see common::test_key).
        let child = Command::new("ip")
            .args(&all)
            .env("RUST_LOG", "info")
            .env("MCAST_RELAY_KEY", test_key())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        Proc::adopt(child, name)
    }

    /// Run a tool to completion inside the namespace; returns stdout.
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0, BIN])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `GET path` on a port inside the namespace.
    fn metric(&self, port: u16, line: &str) -> Option<f64> {
        let url = format!("http://127.0.0.1:{port}/metrics");
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0, "python3", "-c", &format!("import urllib.request;print(urllib.request.urlopen('{url}',timeout=2).read().decode())")])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find(|l| l.starts_with(line) && l[line.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip").args(["netns", "pids", &self.0]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn listen_json(ns: &Netns, iface: &str, group: &str, duration: &str) -> serde_json::Value {
    let out = ns.run(&[
        "listen",
        "--iface",
        iface,
        "--group",
        group,
        "--duration",
        duration,
        "--idle",
        "1s",
        "--json",
        "--quiet",
    ]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn the_ingress_joins_again_when_its_interface_comes_back() {
    if !root_or_skip("to make a network namespace") {
        return;
    }
    let ns = Netns::new("rejoin");
    ns.iface("feed0", "10.78.0.1/24", "1500");
    let _eg = ns.spawn(
        "egress",
        &[
            "egress",
            "--listen",
            "r=127.0.0.1:7001",
            "--iface",
            "lo",
            "--map",
            "239.78.1.0/24=239.78.2.0/24",
            "--allow",
            "239.78.2.0/24",
            "--http",
            "127.0.0.1:7101",
        ],
    );
    let ing = ns.spawn(
        "ingress",
        &[
            "ingress",
            "--feed",
            "r",
            "--iface",
            "feed0",
            "--group",
            "239.78.1.1:5001",
            "--dest",
            "127.0.0.1:7001",
            "--http",
            "127.0.0.1:7102",
        ],
    );
    let up = r#"mcast_relay_connected_peers{feed="r",role="egress"}"#;
    assert!(eventually(Duration::from_secs(10), || ns.metric(7101, up) == Some(1.0)));
    let phase = |n: &str| {
        let listener = std::thread::scope(|s| {
            let l = s.spawn(|| listen_json(&ns, "lo", "239.78.2.1:5001", "6s"));
            std::thread::sleep(Duration::from_millis(500));
            ns.run(&[
                "publish",
                "--iface",
                "feed0",
                "--group",
                "239.78.1.1:5001",
                "--count",
                n,
                "--rate",
                "1000",
                "--size",
                "100",
            ]);
            l.join().unwrap()
        });
        listener["unique"].as_u64().unwrap()
    };
    assert_eq!(phase("500"), 500, "before the interface goes");
    ns.ip(&["link", "del", "feed0"]);
    std::thread::sleep(Duration::from_millis(1500));
    ns.iface("feed0", "10.78.0.1/24", "1500");
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(phase("500"), 500, "after it came back, without a restart");
    let logs = ing.logs();
    assert!(logs.contains("groups joined again"), "{logs}");
}

#[test]
fn datagrams_too_big_for_the_egress_interface_are_dropped_not_fragmented() {
    if !root_or_skip("to make a network namespace") {
        return;
    }
    let ns = Netns::new("mtu");
    // The egress emits on an interface with a 1,500-byte MTU: 1,472 bytes of UDP payload at most.
    ns.iface("vpc0", "10.79.0.1/24", "1500");
    let _eg = ns.spawn(
        "egress",
        &[
            "egress",
            "--listen",
            "m=127.0.0.1:7001",
            "--iface",
            "vpc0",
            "--map",
            "239.79.1.0/24=239.79.2.0/24",
            "--allow",
            "239.79.2.0/24",
            "--http",
            "127.0.0.1:7101",
        ],
    );
    let _ing = ns.spawn(
        "ingress",
        &[
            "ingress",
            "--feed",
            "m",
            "--iface",
            "lo",
            "--group",
            "239.79.1.1:5001",
            "--group",
            "239.79.1.2:5001",
            "--dest",
            "127.0.0.1:7001",
            "--http",
            "127.0.0.1:7102",
        ],
    );
    let up = r#"mcast_relay_connected_peers{feed="m",role="egress"}"#;
    assert!(eventually(Duration::from_secs(10), || ns.metric(7101, up) == Some(1.0)));
    let (small, big) = std::thread::scope(|s| {
        let a = s.spawn(|| listen_json(&ns, "vpc0", "239.79.2.1:5001", "5s"));
        let b = s.spawn(|| listen_json(&ns, "vpc0", "239.79.2.2:5001", "5s"));
        std::thread::sleep(Duration::from_millis(500));
        ns.run(&[
            "publish",
            "--group",
            "239.79.1.1:5001",
            "--count",
            "200",
            "--rate",
            "1000",
            "--size",
            "1472",
        ]);
        ns.run(&[
            "publish",
            "--group",
            "239.79.1.2:5001",
            "--count",
            "200",
            "--rate",
            "1000",
            "--size",
            "1473",
        ]);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(
        small["unique"].as_u64(),
        Some(200),
        "1,472 bytes fit: {small}"
    );
    assert_eq!(
        big["packets"].as_u64(),
        Some(0),
        "1,473 bytes would fragment: never sent: {big}"
    );
    let too_big = r#"mcast_relay_drops_total{feed="m",role="egress",reason="too_big"}"#;
    assert!(eventually(Duration::from_secs(3), || ns
        .metric(7101, too_big)
        == Some(200.0)));
}
