//! What every scenario uses: the lab itself (`Lab`: `lab/up` under a prefix of
//! its own, torn down when dropped), processes in its namespaces (`Bg`), our
//! own sender and receivers that know every byte (`Sender`, `Receiver`,
//! `Tally`), metrics and pcap readers; and for the two-host scenarios (s10-s13,
//! `lab/up --two-dc`) the two ingresses and the merging egresses (`TwoHosts`).

use std::collections::HashSet;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::{BIN, eventually};
use serde_json::Value;

pub const PORT: u16 = 6667;
pub const HTTP: u16 = 9180;
pub const ALLOW: &str = "239.201.0.0/16";
pub const G1: &str = "239.201.0.1:6100";
pub const G2: &str = "239.201.0.2:6101";
pub const DC_FEED: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
pub const LDN_WAN: &str = "10.200.1.6";
pub const TYO_WAN: &str = "10.200.2.6";
pub const LDN_VPC: Ipv4Addr = Ipv4Addr::new(10, 201, 1, 1);
pub const CA: Ipv4Addr = Ipv4Addr::new(10, 201, 1, 11);
pub const CB: Ipv4Addr = Ipv4Addr::new(10, 201, 1, 12);
pub const CT: Ipv4Addr = Ipv4Addr::new(10, 202, 1, 11);
/// Two datacenter hosts (`lab/up --two-dc`): the publisher on the exchange
/// LAN, and dc2's ends of its own links at the egress hosts.
pub const EX_PUB: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 100);
pub const LDN_WAN2: &str = "10.200.3.6";
pub const TYO_WAN2: &str = "10.200.4.6";

static SERIAL: Mutex<()> = Mutex::new(());

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

pub fn ga(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn lab_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("lab")
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Move this thread into network namespace `ns` (it stays there until it ends).
pub fn enter(ns: &str) {
    let f = fs::File::open(format!("/run/netns/{ns}")).unwrap_or_else(|e| panic!("{ns}: {e}"));
    // SAFETY: setns on a valid namespace fd; it changes only the calling thread.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

/// Run `f` on a thread inside namespace `ns`.
pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(ns);
            f()
        })
        .join()
        .expect("thread in namespace")
    })
}

/// A process started inside a namespace (`ip netns exec` execs it, so the
/// child's pid is the program's), logging to a file; killed when dropped.
pub struct Bg {
    pub child: Child,
    pub name: String,
    pub log: PathBuf,
}

impl Bg {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid(), sig) };
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, wait up to `limit`, then SIGKILL; returns the exit code, if any.
    pub fn stop(&mut self, limit: Duration) -> Option<i32> {
        self.signal(libc::SIGCONT);
        self.signal(libc::SIGTERM);
        self.wait(limit)
    }

    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let t = Instant::now();
        while t.elapsed() < limit {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("{} did not stop within {limit:?}; killed", self.name);
        None
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGCONT);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One lab, torn down by `lab/down` when dropped (after every `Bg` declared
/// after it). Holds the lock that runs the scenarios one at a time.
pub struct Lab {
    p: String,
    pub run: PathBuf,
    started: Instant,
    /// Set when the scenario ends; until then a watchdog tears the lab down
    /// after [`WATCHDOG`], so a hung scenario fails instead of blocking the suite.
    done: Arc<AtomicBool>,
    /// Built with two datacenter hosts (`lab/up --two-dc`): the publisher is on
    /// the exchange LAN in `ex`, not in `dc`.
    pub two_dc: bool,
    _serial: MutexGuard<'static, ()>,
}

const WATCHDOG: Duration = Duration::from_secs(120);

impl Lab {
    /// `lab/up` under a prefix of its own, or None (with a note) if this is not root.
    pub fn up(tag: &str, tools: &[&str], env: &[(&str, &str)]) -> Option<Lab> {
        // Under CI (MCAST_RELAY_CI) neither may be missing: `skip` fails.
        if !crate::common::root_or_skip("to build the lab in network namespaces") {
            return None;
        }
        for t in tools.iter().chain(&["ip", "bridge", "python3"]) {
            if !have(t) {
                crate::common::skip(&format!("needs {t} (apt-get install {t}; .ci/run does)"));
                return None;
            }
        }
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let p = format!("mr{}{tag}", std::process::id());
        let _ = Command::new(lab_dir().join("down")).arg("--stale").output();
        let t = Instant::now();
        let out = Command::new(lab_dir().join("up"))
            .arg(&p)
            .env("LAB_OWNER_PID", std::process::id().to_string())
            .envs(env.iter().copied())
            .output()
            .expect("run lab/up");
        let done = Arc::new(AtomicBool::new(false));
        {
            let (done, p) = (done.clone(), p.clone());
            std::thread::spawn(move || {
                let t = Instant::now();
                while t.elapsed() < WATCHDOG {
                    if done.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                eprintln!("WATCHDOG: lab {p} still up after {WATCHDOG:?}; tearing it down");
                let _ = Command::new(lab_dir().join("down")).arg(&p).output();
            });
        }
        let lab = Lab {
            run: PathBuf::from("/tmp/mcast-lab").join(&p),
            p,
            started: t,
            done,
            two_dc: env.iter().any(|&(k, v)| k == "LAB_TWO_DC" && v == "1"),
            _serial: serial,
        };
        assert!(
            out.status.success(),
            "lab/up failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("lab {} up in {:.1} s", lab.p, t.elapsed().as_secs_f64());
        Some(lab)
    }

    /// The lab with two datacenter hosts (`lab/up --two-dc`).
    pub fn up_two_dc(tag: &str) -> Option<Lab> {
        Lab::up(tag, &[], &[("LAB_TWO_DC", "1")])
    }

    pub fn ns(&self, short: &str) -> String {
        format!("{}-{short}", self.p)
    }

    pub fn key(&self) -> String {
        self.run.join("prod.key").display().to_string()
    }

    /// Start `prog args` in namespace `short`, output to a log in the run dir.
    pub fn spawn_prog(&self, short: &str, name: &str, prog: &str, args: &[String]) -> Bg {
        let log = self.run.join(format!("{name}.log"));
        let f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(short), prog])
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap();
        Bg {
            child,
            name: name.into(),
            log,
        }
    }

    pub fn spawn(&self, short: &str, name: &str, args: &[String]) -> Bg {
        self.spawn_prog(short, name, BIN, args)
    }

    pub fn egress(&self, side: &str) -> Bg {
        self.egress_on(side, &format!("egress-{side}"), PORT, HTTP, &[])
    }

    /// An egress in `side` taking feed prod on TCP `port`, serving HTTP on `http`.
    pub fn egress_on(&self, side: &str, name: &str, port: u16, http: u16, extra: &[&str]) -> Bg {
        let mut args = strings(&[
            "egress",
            "--listen",
            &format!("prod=0.0.0.0:{port}"),
            "--iface",
            "vpc0",
            "--allow",
            ALLOW,
            "--key-file",
            &format!("prod={}", self.key()),
            "--http",
            &format!("0.0.0.0:{http}"),
            "--emf-interval",
            "0",
        ]);
        args.extend(strings(extra));
        self.spawn(side, name, &args)
    }

    /// The ingress in dc, joined to `groups` on feed0, sending to `dests` (ldn, tyo).
    pub fn ingress(&self, groups: &[&str], dests: &[&str], extra: &[&str]) -> Bg {
        let mut args = strings(&[
            "ingress",
            "--feed",
            "prod",
            "--iface",
            "feed0",
            "--key-file",
            &self.key(),
            "--http",
            &format!("127.0.0.1:{HTTP}"),
            "--emf-interval",
            "0",
        ]);
        for g in groups {
            args.extend(strings(&["--group", g]));
        }
        for d in dests {
            let addr = match *d {
                "ldn" => LDN_WAN,
                "tyo" => TYO_WAN,
                other => panic!("no such egress {other}"),
            };
            args.extend(strings(&["--dest", &format!("{addr}:{PORT}")]));
        }
        args.extend(strings(extra));
        self.spawn("dc", "ingress", &args)
    }

    /// Wait until each egress in `sides` has the ingress connected.
    pub fn wait_links(&self, sides: &[&str]) -> Duration {
        let t = Instant::now();
        for s in sides {
            assert!(
                eventually(Duration::from_secs(15), || self
                    .m(s, &eg("connected_peers"))
                    == 1.0),
                "the ingress did not connect to {s}:\n{}",
                fs::read_to_string(self.run.join("ingress.log")).unwrap_or_default()
            );
        }
        t.elapsed()
    }

    /// GET a path from the relay's HTTP port inside namespace `short`.
    pub fn http(&self, short: &str, path: &str) -> Option<String> {
        self.http_at(short, HTTP, path)
    }

    /// GET a path from HTTP port `port` inside namespace `short`.
    pub fn http_at(&self, short: &str, port: u16, path: &str) -> Option<String> {
        in_ns(&self.ns(short), || {
            let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into();
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
            let mut body = String::new();
            s.read_to_string(&mut body).ok()?;
            body.split_once("\r\n\r\n").map(|x| x.1.to_string())
        })
    }

    /// A metric (exact name and labels) from the relay in `short`; 0 when absent.
    pub fn m(&self, short: &str, line: &str) -> f64 {
        self.metrics(short)
            .and_then(|t| metric_in(&t, line))
            .unwrap_or(0.0)
    }

    pub fn metrics(&self, short: &str) -> Option<String> {
        self.http(short, "/metrics")
    }

    /// Change a WAN link through `lab/link` (the emulator applies it within 50 ms).
    pub fn link(&self, which: &str, settings: &[&str]) {
        let out = Command::new(lab_dir().join("link"))
            .arg(&self.p)
            .arg(which)
            .args(settings)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "lab/link: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The link emulator's counters.
    pub fn link_stats(&self, which: &str) -> Value {
        let p = self.run.join(format!("link-{which}.json"));
        serde_json::from_str(&fs::read_to_string(p).unwrap_or_default()).unwrap_or(Value::Null)
    }

    /// The bridge's multicast database in VPC namespace `vpc`: (port, group) pairs.
    pub fn mdb(&self, vpc: &str) -> Vec<(String, String)> {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(vpc),
                "bridge",
                "-j",
                "mdb",
                "show",
            ])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let mut r = Vec::new();
        for dev in v.as_array().into_iter().flatten() {
            for e in dev["mdb"].as_array().into_iter().flatten() {
                if let (Some(p), Some(g)) = (e["port"].as_str(), e["grp"].as_str()) {
                    r.push((p.to_string(), g.to_string()));
                }
            }
        }
        r
    }

    pub fn member(&self, vpc: &str, port: &str, group: &str) -> bool {
        let ip = group.split(':').next().unwrap();
        self.mdb(vpc).iter().any(|(p, g)| p == port && g == ip)
    }

    /// Wait until the bridge has `port` as a member of every group.
    pub fn wait_member(&self, vpc: &str, port: &str, groups: &[&str]) {
        assert!(
            eventually(Duration::from_secs(5), || groups
                .iter()
                .all(|g| self.member(vpc, port, g))),
            "{port} did not join {groups:?} on {vpc}: {:?}",
            self.mdb(vpc)
        );
    }

    /// tcpdump on `iface` in namespace `short`, writing a pcap in the run dir.
    pub fn capture(&self, short: &str, iface: &str, filter: &str, file: &str) -> (Bg, PathBuf) {
        let path = self.run.join(file);
        let args = strings(&[
            "-i",
            iface,
            "-n",
            "-U",
            "-Z",
            "root",
            "-w",
            &path.display().to_string(),
            filter,
        ]);
        let bg = self.spawn_prog(short, &format!("tcpdump-{file}"), "tcpdump", &args);
        assert!(
            eventually(Duration::from_secs(5), || bg.log().contains("listening on")),
            "tcpdump did not start: {}",
            bg.log()
        );
        (bg, path)
    }
}

/// What most scenarios start with (`Lab::two_regions`): both egresses, the
/// ingress joined to G1 and sending to both, cust-a and cust-t joined to G1.
pub struct TwoRegions {
    pub el: Bg,
    pub et: Bg,
    pub ing: Bg,
    pub ra: Receiver,
    pub rt: Receiver,
}

impl Lab {
    /// Start [`TwoRegions`], `extra` arguments for the ingress, and wait until
    /// the links are up and both customers are members of G1.
    pub fn two_regions(&self, extra: &[&str]) -> TwoRegions {
        let el = self.egress("ldn");
        let et = self.egress("tyo");
        let ing = self.ingress(&[G1], &["ldn", "tyo"], extra);
        self.wait_links(&["ldn", "tyo"]);
        let ra = Receiver::start(self, "ca", CA, &[G1]);
        let rt = Receiver::start(self, "ct", CT, &[G1]);
        self.wait_member("vl", "p-a", &[G1]);
        self.wait_member("vt", "p-t", &[G1]);
        TwoRegions {
            el,
            et,
            ing,
            ra,
            rt,
        }
    }
}

// ---------------------------------------------------------------------------
// Two datacenter hosts (`lab/up --two-dc`; scenarios 10-13): both hosts see the
// exchange's multicast, each sends the feed over its own links, and the
// egresses merge the two senders by the test header's sequence numbers.

/// One datacenter host of the two-host lab.
pub struct Host {
    /// Its namespace (short name).
    pub ns: &'static str,
    /// The name its ingress gives the egresses (`--sender`).
    pub sender: &'static str,
    /// Its own links to London and to Tokyo (`lab/link` names).
    pub links: [&'static str; 2],
    /// The far ends of those links: the egress hosts' addresses on them.
    pub dests: [&'static str; 2],
    /// Its path alone (`TwoHosts` with `alone`): the TCP and HTTP ports of the
    /// unmerged egress it feeds on each egress host, the --map that egress
    /// applies, and the group G1 comes out on.
    pub alone_port: u16,
    pub alone_http: u16,
    pub alone_map: &'static str,
    pub alone_g1: &'static str,
}

pub const HOSTS: [Host; 2] = [
    Host {
        ns: "dc",
        sender: "dc-a",
        links: ["ldn", "tyo"],
        dests: [LDN_WAN, TYO_WAN],
        alone_port: 6668,
        alone_http: 9181,
        alone_map: "239.201.0.0/24=239.201.10.0/24",
        alone_g1: "239.201.10.1:6100",
    },
    Host {
        ns: "dc2",
        sender: "dc-b",
        links: ["ldn2", "tyo2"],
        dests: [LDN_WAN2, TYO_WAN2],
        alone_port: 6669,
        alone_http: 9182,
        alone_map: "239.201.0.0/24=239.201.20.0/24",
        alone_g1: "239.201.20.1:6100",
    },
];

/// The two-host layout (`Lab::two_hosts`): an egress in each region merging
/// both senders (`--merge testhdr`), an ingress on each datacenter host
/// sending to both regions over its own links, cust-a and cust-t joined.
/// In the regions named in `alone` ("ldn", "tyo"), each path also runs on its
/// own: on that egress host an unmerged egress per datacenter host, fed by
/// that host only and emitting G1 to the host's own group (`Host::alone_g1`),
/// which the region's customer joins too; so every datagram's latency through
/// the merge and through each path alone is measured at the same time, under
/// the same load.
pub struct TwoHosts {
    // The egresses are held, not read: dropping them stops the processes.
    #[allow(dead_code)]
    pub el: Bg,
    #[allow(dead_code)]
    pub et: Bg,
    /// The ingresses of `HOSTS[0]` (dc, dc-a) and `HOSTS[1]` (dc2, dc-b).
    pub ing: Vec<Bg>,
    pub ra: Receiver,
    pub rt: Receiver,
    #[allow(dead_code)]
    pub alone: Vec<Bg>,
}

impl Lab {
    /// Start [`TwoHosts`] carrying `groups` and wait until every link is up and
    /// both customers are members of every group they receive.
    pub fn two_hosts(&self, groups: &[&str], alone: &[&str]) -> TwoHosts {
        assert!(self.two_dc, "two_hosts needs Lab::up_two_dc");
        let merge = ["--merge", "testhdr"];
        let el = self.egress_on("ldn", "egress-ldn", PORT, HTTP, &merge);
        let et = self.egress_on("tyo", "egress-tyo", PORT, HTTP, &merge);
        let mut alone_eg = Vec::new();
        for h in &HOSTS {
            for &side in alone {
                let name = format!("alone-{}-{side}", h.sender);
                let map = ["--map", h.alone_map];
                alone_eg.push(self.egress_on(side, &name, h.alone_port, h.alone_http, &map));
            }
        }
        let ing = HOSTS
            .iter()
            .map(|h| self.host_ingress(h, groups, alone))
            .collect();
        self.wait_senders(&["ldn", "tyo"], 2);
        for h in &HOSTS {
            for &side in alone {
                assert!(
                    eventually(Duration::from_secs(15), || self.m_at(
                        side,
                        h.alone_http,
                        &eg("connected_peers")
                    ) == 1.0),
                    "{} did not connect to its path-alone egress in {side}",
                    h.sender
                );
            }
        }
        let joined = |side: &str| {
            let mut j: Vec<&str> = groups.to_vec();
            if alone.contains(&side) {
                j.extend(HOSTS.iter().map(|h| h.alone_g1));
            }
            j
        };
        let ra = Receiver::start(self, "ca", CA, &joined("ldn"));
        let rt = Receiver::start(self, "ct", CT, &joined("tyo"));
        self.wait_member("vl", "p-a", &joined("ldn"));
        self.wait_member("vt", "p-t", &joined("tyo"));
        TwoHosts {
            el,
            et,
            ing,
            ra,
            rt,
            alone: alone_eg,
        }
    }

    /// The ingress on datacenter host `h`: joined to `groups` on its feed0,
    /// sending as `h.sender` to both regions over its own links (and to its
    /// path-alone egresses in the regions named in `alone`).
    pub fn host_ingress(&self, h: &Host, groups: &[&str], alone: &[&str]) -> Bg {
        let mut args = strings(&[
            "ingress",
            "--feed",
            "prod",
            "--iface",
            "feed0",
            "--sender",
            h.sender,
            "--key-file",
            &self.key(),
            "--http",
            &format!("127.0.0.1:{HTTP}"),
            "--emf-interval",
            "0",
        ]);
        for g in groups {
            args.extend(strings(&["--group", g]));
        }
        for (d, side) in h.dests.iter().zip(["ldn", "tyo"]) {
            args.extend(strings(&["--dest", &format!("{d}:{PORT}")]));
            if alone.contains(&side) {
                args.extend(strings(&["--dest", &format!("{d}:{}", h.alone_port)]));
            }
        }
        self.spawn(h.ns, &format!("ingress-{}", h.sender), &args)
    }

    /// Wait until the (merging) egress in each of `sides` has `n` senders connected.
    pub fn wait_senders(&self, sides: &[&str], n: u32) {
        for s in sides {
            assert!(
                eventually(Duration::from_secs(15), || self
                    .m(s, &eg("connected_peers"))
                    == n as f64),
                "{n} senders did not connect to {s}:\n{}",
                self.metrics(s).unwrap_or_default()
            );
        }
    }

    /// A metric from the relay serving HTTP on `port` in `short`; 0 when absent.
    pub fn m_at(&self, short: &str, port: u16, line: &str) -> f64 {
        self.http_at(short, port, "/metrics")
            .and_then(|t| metric_in(&t, line))
            .unwrap_or(0.0)
    }

    /// A per-sender counter of the merging egress in `side`
    /// (`mcast_relay_sender_{name}_total{feed="prod",sender=...}`).
    pub fn sender_m(&self, side: &str, name: &str, sender: &str) -> f64 {
        self.m(
            side,
            &format!(r#"mcast_relay_sender_{name}_total{{feed="prod",sender="{sender}"}}"#),
        )
    }

    /// The merging egress's per-sender counters in `side`, one line.
    pub fn senders_line(&self, side: &str) -> String {
        let text = self.metrics(side).unwrap_or_default();
        let get = |name: &str, s: &str| {
            metric_in(
                &text,
                &format!(r#"mcast_relay_sender_{name}{{feed="prod",sender="{s}"}}"#),
            )
            .unwrap_or(0.0)
        };
        HOSTS
            .iter()
            .map(|h| {
                let s = h.sender;
                format!(
                    "{s}: delivered {} first {} late {} gaps {} filled {} restart gaps {} lag {:.2} ms",
                    get("datagrams_total", s),
                    get("first_total", s),
                    get("late_total", s),
                    get("gaps_total", s),
                    get("filled_total", s),
                    get("restart_gaps_total", s),
                    get("lag_seconds", s) * 1e3
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// How much slower than a reference the merged stream may be, at p50 and at
/// p99 (ms), and still count as no slower: tight in the release build; in the
/// debug build (plain `cargo test`, as CI runs it) on 2 shared cores the
/// relays' CPU is most of the latency, and the merging egress, which takes
/// every copy from both senders, runs out of it first. Both still catch a
/// merge that waits (its --merge-wait is 100 ms).
pub fn slack_ms() -> (f64, f64) {
    if cfg!(debug_assertions) {
        (50.0, 50.0)
    } else {
        (0.5, 10.0)
    }
}

/// The arrivals of `group`, relabelled as `as_group` (a path-alone egress
/// emits G1's datagrams to its own group; relabelled, they tally against G1).
pub fn of_group(got: &[Arrival], group: &str, as_group: &str) -> Vec<Arrival> {
    let (g, to) = (ga(group), ga(as_group));
    got.iter()
        .filter(|a| a.group == g)
        .map(|a| Arrival {
            group: to,
            ..a.clone()
        })
        .collect()
}

/// Latency of the datagrams sent in `[from, to)` (ns since the epoch).
#[derive(Clone, Copy, Debug)]
pub struct Lat {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub n: usize,
}

impl Lat {
    pub fn of(got: &[Arrival], from: u64, to: u64) -> Lat {
        let mut v: Vec<u64> = got
            .iter()
            .filter(|a| a.seq.is_some() && a.send_ns >= from && a.send_ns < to)
            .map(|a| a.recv_ns.saturating_sub(a.send_ns))
            .collect();
        v.sort_unstable();
        let q = |q: f64| {
            if v.is_empty() {
                f64::NAN
            } else {
                v[((v.len() as f64 - 1.0) * q).round() as usize] as f64 / 1e6
            }
        };
        Lat {
            p50: q(0.5),
            p99: q(0.99),
            max: q(1.0),
            n: v.len(),
        }
    }
}

impl std::fmt::Display for Lat {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.2} p99 {:.2} max {:.2} ms ({})",
            self.p50, self.p99, self.max, self.n
        )
    }
}

/// What a link emulator counted between two snapshots, both directions: (in, lost, held back).
pub fn link_delta(before: &Value, after: &Value) -> (u64, u64, u64) {
    let d = |k: &str| -> u64 {
        ["a_to_b", "b_to_a"]
            .iter()
            .map(|x| {
                after[x][k]
                    .as_u64()
                    .unwrap_or(0)
                    .saturating_sub(before[x][k].as_u64().unwrap_or(0))
            })
            .sum()
    };
    (d("in"), d("lost"), d("held_back"))
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        // The processes lab/up started (the link emulators), to check they are gone.
        let pids: Vec<i32> = fs::read_dir(&self.run)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "pid"))
            .filter_map(|e| fs::read_to_string(e.path()).ok()?.trim().parse().ok())
            .collect();
        let out = Command::new(lab_dir().join("down")).arg(&self.p).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "lab/down {}: {}",
                self.p,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("lab/down {}: {e}", self.p),
        }
        let left = Command::new("ip").args(["netns", "list"]).output();
        if let Ok(o) = left {
            let text = String::from_utf8_lossy(&o.stdout);
            let ours: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("{}-", self.p)))
                .collect();
            if !ours.is_empty() && !std::thread::panicking() {
                panic!("namespaces left behind: {ours:?}");
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        let alive: Vec<i32> = pids
            .into_iter()
            .filter(|p| {
                fs::read_to_string(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| c.contains("linkemu"))
            })
            .collect();
        if !alive.is_empty() && !std::thread::panicking() {
            panic!("processes left behind: {alive:?}");
        }
        eprintln!(
            "lab {} down; the scenario took {:.1} s from lab/up to lab/down",
            self.p,
            self.started.elapsed().as_secs_f64()
        );
    }
}

pub fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

pub fn eg(name: &str) -> String {
    format!(r#"mcast_relay_{name}{{feed="prod",role="egress"}}"#)
}

pub fn metric_in(text: &str, line: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(line) && l[line.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The sum of every sample of `name` whose labels contain all of `with`.
pub fn metric_sum(text: &str, name: &str, with: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && with.iter().all(|w| l.contains(w)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |a, b| a + b)
}

// ---------------------------------------------------------------------------
// Our own sender and receivers: they know every byte, so arrivals are checked
// byte for byte, and each arrival's time gives the timeline of a fault.

/// Datagram sizes: fixed, or a mix from 20 bytes to 1,472 (the most a
/// 1,500-byte VPC MTU carries unfragmented).
#[derive(Clone, Copy)]
pub enum Size {
    Fixed(usize),
    Mixed,
}

pub fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
    x |= 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

pub fn digest(b: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

/// What the sender sent to each group: (digest, length, send time) by sequence.
#[derive(Default)]
pub struct Sent {
    pub groups: Vec<SocketAddrV4>,
    pub per_group: Vec<Vec<(u64, usize, u64)>>,
}

impl Sent {
    pub fn total(&self) -> u64 {
        self.per_group.iter().map(|g| g.len() as u64).sum()
    }

    /// How many were sent at or after `t_ns`.
    pub fn after(&self, t_ns: u64) -> u64 {
        self.per_group
            .iter()
            .flatten()
            .filter(|x| x.2 >= t_ns)
            .count() as u64
    }
}

/// Stops sending when dropped (a failed test does not leave it running).
pub struct Sender {
    stop: Arc<AtomicBool>,
    h: Option<JoinHandle<Sent>>,
}

impl Sender {
    /// Send our test header (magic, per-group sequence from 0, send time) and
    /// pseudo-random bytes from dc's feed0, `rate` datagrams a second in all,
    /// round robin over `groups`, for `dur`.
    /// With two datacenter hosts it sends from the exchange LAN (`ex`), which
    /// both hosts join.
    pub fn start(lab: &Lab, groups: &[&str], rate: u64, dur: Duration, size: Size) -> Sender {
        let (ns, src) = if lab.two_dc {
            (lab.ns("ex"), EX_PUB)
        } else {
            (lab.ns("dc"), DC_FEED)
        };
        let groups: Vec<SocketAddrV4> = groups.iter().map(|g| ga(g)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let h = std::thread::spawn(move || {
            enter(&ns);
            let s = UdpSocket::bind(SocketAddrV4::new(src, 0)).unwrap();
            let sock = socket2::SockRef::from(&s);
            sock.set_multicast_if_v4(&src).unwrap();
            sock.set_multicast_ttl_v4(1).unwrap();
            let _ = sock.set_send_buffer_size(4 << 20);
            let mut sent = Sent {
                groups: groups.clone(),
                per_group: vec![Vec::new(); groups.len()],
            };
            let total = rate * dur.as_millis() as u64 / 1000;
            let mut sizes = xorshift(0x5eed);
            let mut buf = vec![0u8; 1472];
            let t0 = Instant::now();
            let mut n = 0u64;
            while n < total && !stop2.load(Ordering::Relaxed) {
                let due = ((t0.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
                while n < due {
                    let gi = (n % groups.len() as u64) as usize;
                    let seq = sent.per_group[gi].len() as u64;
                    let len = match size {
                        Size::Fixed(l) => l,
                        Size::Mixed => 20 + (sizes() % 1453) as usize,
                    };
                    let t = now_ns();
                    buf[0..4].copy_from_slice(b"MRT1");
                    buf[4..12].copy_from_slice(&seq.to_be_bytes());
                    buf[12..20].copy_from_slice(&t.to_be_bytes());
                    let mut r = xorshift(seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ gi as u64);
                    for chunk in buf[20..len].chunks_mut(8) {
                        let v = r().to_le_bytes();
                        chunk.copy_from_slice(&v[..chunk.len()]);
                    }
                    s.send_to(&buf[..len], groups[gi]).unwrap();
                    sent.per_group[gi].push((digest(&buf[..len]), len, t));
                    n += 1;
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            sent
        });
        Sender { stop, h: Some(h) }
    }

    pub fn finish(mut self) -> Sent {
        self.h.take().unwrap().join().expect("sender")
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[derive(Clone, Debug)]
pub struct Arrival {
    pub group: SocketAddrV4,
    /// The test header's sequence and send time, when there is one.
    pub seq: Option<u64>,
    pub send_ns: u64,
    pub recv_ns: u64,
    pub digest: u64,
    pub len: usize,
}

/// Leaves its groups when dropped (a failed test does not leave it running).
pub struct Receiver {
    stop: Arc<AtomicBool>,
    h: Option<JoinHandle<(Vec<Arrival>, u64)>>,
}

impl Receiver {
    /// A plain receiver in a customer's namespace, joined to `groups` on its eth0
    /// (the kernel sends the IGMP reports; the customer forces v2).
    pub fn start(lab: &Lab, short: &str, iface: Ipv4Addr, groups: &[&str]) -> Receiver {
        let ns = lab.ns(short);
        let groups: Vec<SocketAddrV4> = groups.iter().map(|g| ga(g)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let h = std::thread::spawn(move || {
            enter(&ns);
            let socks: Vec<(SocketAddrV4, UdpSocket)> = groups
                .iter()
                .map(|g| {
                    use socket2::{Domain, Protocol, Socket, Type};
                    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
                    s.set_reuse_address(true).unwrap();
                    let bytes: libc::c_int = 64 << 20;
                    // SAFETY: setsockopt with a valid fd and an int option value.
                    unsafe {
                        libc::setsockopt(
                            s.as_raw_fd(),
                            libc::SOL_SOCKET,
                            libc::SO_RCVBUFFORCE,
                            &bytes as *const _ as *const libc::c_void,
                            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                        )
                    };
                    s.bind(&(*g).into()).unwrap();
                    s.join_multicast_v4(g.ip(), &iface).unwrap();
                    s.set_nonblocking(true).unwrap();
                    (*g, UdpSocket::from(s))
                })
                .collect();
            tx.send(()).unwrap();
            let mut out = Vec::new();
            let mut buf = vec![0u8; 65_536];
            let mut stopping: Option<Instant> = None;
            loop {
                let mut any = false;
                for (g, s) in &socks {
                    while let Ok(len) = s.recv(&mut buf) {
                        let b = &buf[..len];
                        let (seq, send_ns) = if len >= 20 && &b[0..4] == b"MRT1" {
                            (
                                Some(u64::from_be_bytes(b[4..12].try_into().unwrap())),
                                u64::from_be_bytes(b[12..20].try_into().unwrap()),
                            )
                        } else {
                            (None, 0)
                        };
                        out.push(Arrival {
                            group: *g,
                            seq,
                            send_ns,
                            recv_ns: now_ns(),
                            digest: digest(b),
                            len,
                        });
                        any = true;
                    }
                }
                if stop2.load(Ordering::Relaxed) {
                    // Take what is already queued, then leave (closing the sockets
                    // sends the IGMP leave).
                    let s = *stopping.get_or_insert_with(Instant::now);
                    if !any && s.elapsed() > Duration::from_millis(20) {
                        break;
                    }
                }
                if !any {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            // What the kernel dropped for want of buffer space, so a receiver's
            // own overflow is never mistaken for the relay's loss.
            let drops = fs::read_to_string("/proc/thread-self/net/udp")
                .unwrap_or_default()
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
            (out, drops)
        });
        rx.recv_timeout(Duration::from_secs(5))
            .expect("receiver joined");
        Receiver { stop, h: Some(h) }
    }

    /// Leave and return the arrivals; panics if the receiver's own socket
    /// buffers overflowed (that would be the test's loss, not the relay's).
    pub fn finish(mut self) -> Vec<Arrival> {
        self.stop.store(true, Ordering::Relaxed);
        let (got, drops) = self.h.take().unwrap().join().expect("receiver");
        assert_eq!(drops, 0, "the test's receiver overflowed its socket buffer");
        got
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What one customer got, compared with what was sent.
#[derive(Debug, Default)]
pub struct Tally {
    pub sent: u64,
    pub unique: u64,
    pub lost: u64,
    pub dups: u64,
    pub reordered: u64,
    /// In range but not the bytes sent.
    pub corrupt: u64,
    /// Not ours at all (another sender, another group, no header).
    pub foreign: u64,
    pub lat_us: Vec<u64>,
}

impl Tally {
    pub fn of(sent: &Sent, got: &[Arrival]) -> Tally {
        let mut t = Tally {
            sent: sent.total(),
            ..Default::default()
        };
        let mut seen: Vec<HashSet<u64>> = vec![HashSet::new(); sent.groups.len()];
        let mut high: Vec<Option<u64>> = vec![None; sent.groups.len()];
        for a in got {
            let Some(gi) = sent.groups.iter().position(|g| *g == a.group) else {
                t.foreign += 1;
                continue;
            };
            let Some(seq) = a.seq else {
                t.foreign += 1;
                continue;
            };
            let Some(&(d, len, _)) = sent.per_group[gi].get(seq as usize) else {
                t.foreign += 1;
                continue;
            };
            if d != a.digest || len != a.len {
                t.corrupt += 1;
                continue;
            }
            if !seen[gi].insert(seq) {
                t.dups += 1;
                continue;
            }
            if high[gi].is_some_and(|h| seq < h) {
                t.reordered += 1;
            }
            high[gi] = Some(high[gi].map_or(seq, |h| h.max(seq)));
            t.lat_us.push(a.recv_ns.saturating_sub(a.send_ns) / 1000);
        }
        t.unique = seen.iter().map(|s| s.len() as u64).sum();
        t.lost = t.sent - t.unique;
        t.lat_us.sort_unstable();
        t
    }

    pub fn pct_ms(&self, q: f64) -> f64 {
        if self.lat_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.lat_us.len() as f64 - 1.0) * q).round() as usize;
        self.lat_us[i] as f64 / 1000.0
    }

    pub fn line(&self, who: &str) -> String {
        format!(
            "{who}: sent {} received {} lost {} duplicated {} reordered {} corrupt {} foreign {}; latency ms p50 {:.2} p99 {:.2} max {:.2}",
            self.sent,
            self.unique,
            self.lost,
            self.dups,
            self.reordered,
            self.corrupt,
            self.foreign,
            self.pct_ms(0.5),
            self.pct_ms(0.99),
            self.pct_ms(1.0)
        )
    }
}

/// The first arrival received after `t_ns`.
pub fn first_after(got: &[Arrival], t_ns: u64) -> Option<u64> {
    got.iter().map(|a| a.recv_ns).filter(|&r| r > t_ns).min()
}

/// When the feed was live again after `t_ns`: the first arrival after it that
/// took less than `ms` end to end (what came before it was the replayed backlog).
pub fn caught_up(got: &[Arrival], t_ns: u64, ms: u64) -> Option<u64> {
    got.iter()
        .filter(|a| a.recv_ns > t_ns && a.recv_ns.saturating_sub(a.send_ns) < ms * 1_000_000)
        .map(|a| a.recv_ns)
        .min()
}

pub fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Wait until each egress emitted `n` datagrams (or `limit` passes).
pub fn drained(lab: &Lab, sides: &[&str], n: u64, limit: Duration) -> bool {
    eventually(limit, || {
        sides
            .iter()
            .all(|s| lab.m(s, &eg("datagrams_out_total")) >= n as f64)
    })
}

// ---------------------------------------------------------------------------
// Reading tcpdump's pcap files.

/// (time ns, frame) of each record of a classic pcap file.
pub fn pcap_frames(path: &Path) -> Vec<(u64, Vec<u8>)> {
    let b = fs::read(path).unwrap_or_default();
    if b.len() < 24 {
        return Vec::new();
    }
    let magic = u32::from_le_bytes(b[0..4].try_into().unwrap());
    let (le, nanos) = match magic {
        0xa1b2_c3d4 => (true, false),
        0xa1b2_3c4d => (true, true),
        0xd4c3_b2a1 => (false, false),
        0x4d3c_b2a1 => (false, true),
        m => panic!("{}: not a pcap file ({m:#x})", path.display()),
    };
    let u32_at = |i: usize| {
        let a: [u8; 4] = b[i..i + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut out = Vec::new();
    let mut i = 24;
    while i + 16 <= b.len() {
        let (sec, frac, caplen) = (
            u32_at(i) as u64,
            u32_at(i + 4) as u64,
            u32_at(i + 8) as usize,
        );
        if i + 16 + caplen > b.len() {
            break;
        }
        let ns = sec * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        out.push((ns, b[i + 16..i + 16 + caplen].to_vec()));
        i += 16 + caplen;
    }
    out
}

/// An Ethernet frame's IPv4 header fields and payload: (src, dst, protocol, payload).
pub fn ipv4(frame: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, &[u8])> {
    if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let ihl = (ip[0] & 0x0f) as usize * 4;
    if ip.len() < ihl || ihl < 20 {
        return None;
    }
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    Some((src, dst, ip[9], &ip[ihl..]))
}

/// Latency per `step` of send time from `from` to `to`, for a timeline: one
/// `(window start, Lat)` per step.
pub fn series(got: &[Arrival], from: u64, to: u64, step: Duration) -> Vec<(u64, Lat)> {
    let step = step.as_nanos() as u64;
    (from..to)
        .step_by(step as usize)
        .map(|t| (t, Lat::of(got, t, (t + step).min(to))))
        .collect()
}
