//! The lab: the whole design in network namespaces (`lab/up`, `lab/down`), and
//! the fault scenarios of docs/RELIABILITY.md, each printing its figures.
//!
//! dc (publisher + ingress) reaches the London egress through a ~1 ms WAN link
//! and the Tokyo egress through a 115 ms one, both made by `lab/linkemu.py`
//! (this kernel has no netem); each egress emits into its VPC, a bridge with
//! IGMP snooping and an IGMPv2 querier, where customers A (joined), B (not
//! joined) and T (Tokyo, joined) force IGMPv2.
//!
//! Root only (CI runs as root): without it each test prints `SKIPPED` and
//! passes. The scenarios run one at a time (a lock in this file): they share
//! two cores and measure time. Each builds its own lab under a unique prefix
//! and tears it down on the way out, failed or not.

mod common;

use std::collections::{BTreeMap, HashSet};
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

use common::{BIN, eventually};
use serde_json::Value;

const PORT: u16 = 6667;
const HTTP: u16 = 9180;
const ALLOW: &str = "239.201.0.0/16";
const G1: &str = "239.201.0.1:6100";
const G2: &str = "239.201.0.2:6101";
const DC_FEED: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
const LDN_WAN: &str = "10.200.1.6";
const TYO_WAN: &str = "10.200.2.6";
const LDN_VPC: Ipv4Addr = Ipv4Addr::new(10, 201, 1, 1);
const CA: Ipv4Addr = Ipv4Addr::new(10, 201, 1, 11);
const CB: Ipv4Addr = Ipv4Addr::new(10, 201, 1, 12);
const CT: Ipv4Addr = Ipv4Addr::new(10, 202, 1, 11);

static SERIAL: Mutex<()> = Mutex::new(());

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn ga(s: &str) -> SocketAddrV4 {
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
fn enter(ns: &str) {
    let f = fs::File::open(format!("/run/netns/{ns}")).unwrap_or_else(|e| panic!("{ns}: {e}"));
    // SAFETY: setns on a valid namespace fd; it changes only the calling thread.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

/// Run `f` on a thread inside namespace `ns`.
fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
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
struct Bg {
    child: Child,
    name: String,
    log: PathBuf,
}

impl Bg {
    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid(), sig) };
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, wait up to `limit`, then SIGKILL; returns the exit code, if any.
    fn stop(&mut self, limit: Duration) -> Option<i32> {
        self.signal(libc::SIGCONT);
        self.signal(libc::SIGTERM);
        self.wait(limit)
    }

    fn wait(&mut self, limit: Duration) -> Option<i32> {
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
struct Lab {
    p: String,
    run: PathBuf,
    started: Instant,
    /// Set when the scenario ends; until then a watchdog tears the lab down
    /// after [`WATCHDOG`], so a hung scenario fails instead of blocking the suite.
    done: Arc<AtomicBool>,
    _serial: MutexGuard<'static, ()>,
}

const WATCHDOG: Duration = Duration::from_secs(120);

impl Lab {
    /// `lab/up` under a prefix of its own, or None (with a note) if this is not root.
    fn up(tag: &str, tools: &[&str], env: &[(&str, &str)]) -> Option<Lab> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!(
                "SKIPPED: needs root to build the lab in network namespaces (CI runs it as root)"
            );
            return None;
        }
        for t in tools.iter().chain(&["ip", "bridge", "python3"]) {
            if !have(t) {
                // CI installs them (.ci/run); there a missing tool is a failure.
                assert!(
                    std::env::var_os("CI").is_none(),
                    "{t} is missing; .ci/run installs it"
                );
                eprintln!("SKIPPED: needs {t} (apt-get install {t}; .ci/run does)");
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

    fn ns(&self, short: &str) -> String {
        format!("{}-{short}", self.p)
    }

    fn key(&self) -> String {
        self.run.join("prod.key").display().to_string()
    }

    /// Start `prog args` in namespace `short`, output to a log in the run dir.
    fn spawn_prog(&self, short: &str, name: &str, prog: &str, args: &[String]) -> Bg {
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

    fn spawn(&self, short: &str, name: &str, args: &[String]) -> Bg {
        self.spawn_prog(short, name, BIN, args)
    }

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

    fn egress(&self, side: &str) -> Bg {
        let args = strings(&[
            "egress",
            "--listen",
            &format!("prod=0.0.0.0:{PORT}"),
            "--iface",
            "vpc0",
            "--allow",
            ALLOW,
            "--key-file",
            &format!("prod={}", self.key()),
            "--http",
            &format!("0.0.0.0:{HTTP}"),
            "--emf-interval",
            "0",
        ]);
        self.spawn(side, &format!("egress-{side}"), &args)
    }

    /// The ingress in dc, joined to `groups` on feed0, sending to `dests` (ldn, tyo).
    fn ingress(&self, groups: &[&str], dests: &[&str], extra: &[&str]) -> Bg {
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
    fn wait_links(&self, sides: &[&str]) -> Duration {
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
    fn http(&self, short: &str, path: &str) -> Option<String> {
        in_ns(&self.ns(short), || {
            let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, HTTP).into();
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
            let mut body = String::new();
            s.read_to_string(&mut body).ok()?;
            body.split_once("\r\n\r\n").map(|x| x.1.to_string())
        })
    }

    /// A metric (exact name and labels) from the relay in `short`; 0 when absent.
    fn m(&self, short: &str, line: &str) -> f64 {
        self.metrics(short)
            .and_then(|t| metric_in(&t, line))
            .unwrap_or(0.0)
    }

    fn metrics(&self, short: &str) -> Option<String> {
        self.http(short, "/metrics")
    }

    /// Change a WAN link through `lab/link` (the emulator applies it within 50 ms).
    fn link(&self, which: &str, settings: &[&str]) {
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
    fn link_stats(&self, which: &str) -> Value {
        let p = self.run.join(format!("link-{which}.json"));
        serde_json::from_str(&fs::read_to_string(p).unwrap_or_default()).unwrap_or(Value::Null)
    }

    /// The bridge's multicast database in VPC namespace `vpc`: (port, group) pairs.
    fn mdb(&self, vpc: &str) -> Vec<(String, String)> {
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

    fn member(&self, vpc: &str, port: &str, group: &str) -> bool {
        let ip = group.split(':').next().unwrap();
        self.mdb(vpc).iter().any(|(p, g)| p == port && g == ip)
    }

    /// Wait until the bridge has `port` as a member of every group.
    fn wait_member(&self, vpc: &str, port: &str, groups: &[&str]) {
        assert!(
            eventually(Duration::from_secs(5), || groups
                .iter()
                .all(|g| self.member(vpc, port, g))),
            "{port} did not join {groups:?} on {vpc}: {:?}",
            self.mdb(vpc)
        );
    }

    /// tcpdump on `iface` in namespace `short`, writing a pcap in the run dir.
    fn capture(&self, short: &str, iface: &str, filter: &str, file: &str) -> (Bg, PathBuf) {
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

    /// VmRSS of a process, bytes.
    fn rss(pid: i32) -> Option<u64> {
        let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let l = s.lines().find(|l| l.starts_with("VmRSS:"))?;
        Some(l.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
    }
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

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn eg(name: &str) -> String {
    format!(r#"mcast_relay_{name}{{feed="prod",role="egress"}}"#)
}

fn ing(name: &str) -> String {
    format!(r#"mcast_relay_{name}{{feed="prod",role="ingress"}}"#)
}

fn drops(role: &str, reason: &str) -> String {
    format!(r#"mcast_relay_drops_total{{feed="prod",role="{role}",reason="{reason}"}}"#)
}

fn failures(feed: &str, reason: &str) -> String {
    format!(
        r#"mcast_relay_handshake_failures_total{{feed="{feed}",role="egress",reason="{reason}"}}"#
    )
}

fn metric_in(text: &str, line: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(line) && l[line.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The sum of every sample of `name` whose labels contain all of `with`.
fn metric_sum(text: &str, name: &str, with: &[&str]) -> f64 {
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
enum Size {
    Fixed(usize),
    Mixed,
}

fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
    x |= 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

fn digest(b: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

/// What the sender sent to each group: (digest, length, send time) by sequence.
#[derive(Default)]
struct Sent {
    groups: Vec<SocketAddrV4>,
    per_group: Vec<Vec<(u64, usize, u64)>>,
}

impl Sent {
    fn total(&self) -> u64 {
        self.per_group.iter().map(|g| g.len() as u64).sum()
    }

    /// How many were sent at or after `t_ns`.
    fn after(&self, t_ns: u64) -> u64 {
        self.per_group
            .iter()
            .flatten()
            .filter(|x| x.2 >= t_ns)
            .count() as u64
    }
}

/// Stops sending when dropped (a failed test does not leave it running).
struct Sender {
    stop: Arc<AtomicBool>,
    h: Option<JoinHandle<Sent>>,
}

impl Sender {
    /// Send our test header (magic, per-group sequence from 0, send time) and
    /// pseudo-random bytes from dc's feed0, `rate` datagrams a second in all,
    /// round robin over `groups`, for `dur`.
    fn start(lab: &Lab, groups: &[&str], rate: u64, dur: Duration, size: Size) -> Sender {
        let ns = lab.ns("dc");
        let groups: Vec<SocketAddrV4> = groups.iter().map(|g| ga(g)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let h = std::thread::spawn(move || {
            enter(&ns);
            let s = UdpSocket::bind(SocketAddrV4::new(DC_FEED, 0)).unwrap();
            let sock = socket2::SockRef::from(&s);
            sock.set_multicast_if_v4(&DC_FEED).unwrap();
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

    fn finish(mut self) -> Sent {
        self.h.take().unwrap().join().expect("sender")
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[derive(Clone, Debug)]
struct Arrival {
    group: SocketAddrV4,
    /// The test header's sequence and send time, when there is one.
    seq: Option<u64>,
    send_ns: u64,
    recv_ns: u64,
    digest: u64,
    len: usize,
}

/// Leaves its groups when dropped (a failed test does not leave it running).
struct Receiver {
    stop: Arc<AtomicBool>,
    h: Option<JoinHandle<(Vec<Arrival>, u64)>>,
}

impl Receiver {
    /// A plain receiver in a customer's namespace, joined to `groups` on its eth0
    /// (the kernel sends the IGMP reports; the customer forces v2).
    fn start(lab: &Lab, short: &str, iface: Ipv4Addr, groups: &[&str]) -> Receiver {
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
    fn finish(mut self) -> Vec<Arrival> {
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
struct Tally {
    sent: u64,
    unique: u64,
    lost: u64,
    dups: u64,
    reordered: u64,
    /// In range but not the bytes sent.
    corrupt: u64,
    /// Not ours at all (another sender, another group, no header).
    foreign: u64,
    lat_us: Vec<u64>,
}

impl Tally {
    fn of(sent: &Sent, got: &[Arrival]) -> Tally {
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

    fn pct_ms(&self, q: f64) -> f64 {
        if self.lat_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.lat_us.len() as f64 - 1.0) * q).round() as usize;
        self.lat_us[i] as f64 / 1000.0
    }

    fn line(&self, who: &str) -> String {
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

/// Latency p50/p99/max of the datagrams sent from `skip_s` seconds after the first.
fn steady(sent: &Sent, got: &[Arrival], skip_s: u64) -> String {
    let t0 = got.iter().map(|a| a.send_ns).min().unwrap_or(0) + skip_s * 1_000_000_000;
    let later: Vec<Arrival> = got.iter().filter(|a| a.send_ns >= t0).cloned().collect();
    let t = Tally::of(sent, &later);
    format!(
        "p50 {:.2} p99 {:.2} max {:.2} ms",
        t.pct_ms(0.5),
        t.pct_ms(0.99),
        t.pct_ms(1.0)
    )
}

/// Latency of the datagrams sent between `from` and `to`.
fn window(got: &[Arrival], from: u64, to: u64) -> String {
    let mut v: Vec<u64> = got
        .iter()
        .filter(|a| a.seq.is_some() && a.send_ns >= from && a.send_ns < to)
        .map(|a| a.recv_ns.saturating_sub(a.send_ns) / 1000)
        .collect();
    v.sort_unstable();
    if v.is_empty() {
        return "no datagrams".into();
    }
    let q = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize] as f64 / 1000.0;
    format!(
        "latency ms p50 {:.2} p99 {:.2} p99.9 {:.2} max {:.2} ({} datagrams)",
        q(0.5),
        q(0.99),
        q(0.999),
        q(1.0),
        v.len()
    )
}

/// The first arrival received after `t_ns`.
fn first_after(got: &[Arrival], t_ns: u64) -> Option<u64> {
    got.iter().map(|a| a.recv_ns).filter(|&r| r > t_ns).min()
}

/// The last arrival received before `t_ns`.
fn last_before(got: &[Arrival], t_ns: u64) -> Option<u64> {
    got.iter().map(|a| a.recv_ns).filter(|&r| r < t_ns).max()
}

/// When the feed was live again after `t_ns`: the first arrival after it that
/// took less than `ms` end to end (what came before it was the replayed backlog).
fn caught_up(got: &[Arrival], t_ns: u64, ms: u64) -> Option<u64> {
    got.iter()
        .filter(|a| a.recv_ns > t_ns && a.recv_ns.saturating_sub(a.send_ns) < ms * 1_000_000)
        .map(|a| a.recv_ns)
        .min()
}

/// The longest time without an arrival between `from` and `to`.
fn longest_silence(got: &[Arrival], from: u64, to: u64) -> u64 {
    let mut t: Vec<u64> = got
        .iter()
        .map(|a| a.recv_ns)
        .filter(|&r| r >= from && r <= to)
        .collect();
    t.sort_unstable();
    let mut prev = from;
    let mut worst = 0;
    for r in t {
        worst = worst.max(r - prev);
        prev = r;
    }
    worst.max(to - prev)
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Wait until each egress emitted `n` datagrams (or `limit` passes).
fn drained(lab: &Lab, sides: &[&str], n: u64, limit: Duration) -> bool {
    eventually(limit, || {
        sides
            .iter()
            .all(|s| lab.m(s, &eg("datagrams_out_total")) >= n as f64)
    })
}

// ---------------------------------------------------------------------------
// Reading tcpdump's pcap files.

/// (time ns, frame) of each record of a classic pcap file.
fn pcap_frames(path: &Path) -> Vec<(u64, Vec<u8>)> {
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
fn ipv4(frame: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, &[u8])> {
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

// ---------------------------------------------------------------------------
// The scenarios.

/// Scenario 1: Both regions, every datagram byte for byte; customer B, not joined, gets none.
#[test]
fn s1_happy_path_every_datagram_byte_identical_in_both_regions() {
    let Some(lab) = Lab::up("s1", &["tcpdump"], &[]) else {
        return;
    };
    let _el = lab.egress("ldn");
    let _et = lab.egress("tyo");
    let _ing = lab.ingress(&[G1, G2], &["ldn", "tyo"], &[]);
    let up = lab.wait_links(&["ldn", "tyo"]);
    let (mut cap_b, cap_b_file) = lab.capture("cb", "eth0", "udp", "s1-cb.pcap");
    let ra = Receiver::start(&lab, "ca", CA, &[G1, G2]);
    let rt = Receiver::start(&lab, "ct", CT, &[G1, G2]);
    lab.wait_member("vl", "p-a", &[G1, G2]);
    lab.wait_member("vt", "p-t", &[G1, G2]);

    let rate = 2000;
    let sender = Sender::start(&lab, &[G1, G2], rate, Duration::from_secs(6), Size::Mixed);
    // A unicast datagram from the London egress host to B: proof that B's
    // capture sees UDP when there is UDP for B.
    in_ns(&lab.ns("ldn"), || {
        let s = UdpSocket::bind(SocketAddrV4::new(LDN_VPC, 0)).unwrap();
        s.send_to(b"control", SocketAddrV4::new(CB, 6100)).unwrap();
    });
    let sent = sender.finish();
    let n = sent.total();
    assert!(
        drained(&lab, &["ldn", "tyo"], n, Duration::from_secs(10)),
        "the egresses did not emit all {n}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let got_a = ra.finish();
    let got_t = rt.finish();
    let a = Tally::of(&sent, &got_a);
    let t = Tally::of(&sent, &got_t);
    std::thread::sleep(Duration::from_millis(200));
    cap_b.stop(Duration::from_secs(3));
    let frames = pcap_frames(&cap_b_file);
    let mut b_mcast = 0;
    let mut b_control = 0;
    for (_, f) in &frames {
        if let Some((_, dst, 17, _)) = ipv4(f) {
            if dst.is_multicast() {
                b_mcast += 1;
            } else if dst == CB {
                b_control += 1;
            }
        }
    }
    let b_member = lab.mdb("vl").iter().any(|(p, _)| p == "p-b");

    eprintln!("FIGURES s1 happy path ({rate}/s over 2 groups, 20-1472 B, 6 s; links up {up:?})");
    eprintln!("  {}", a.line("London cust-a"));
    eprintln!("  {}", t.line("Tokyo cust-t"));
    eprintln!(
        "  steady state (after the first 2 s, once TCP's window has opened): London {}; Tokyo {}",
        steady(&sent, &got_a, 2),
        steady(&sent, &got_t, 2)
    );
    eprintln!(
        "  London cust-b (not joined): {b_mcast} multicast datagrams on its wire; the unicast control seen {b_control} time(s)"
    );
    eprintln!(
        "  egress out: London {} Tokyo {}; ingress drops {}",
        lab.m("ldn", &eg("datagrams_out_total")),
        lab.m("tyo", &eg("datagrams_out_total")),
        metric_sum(
            &lab.metrics("dc").unwrap_or_default(),
            "mcast_relay_drops_total",
            &[]
        )
    );
    for (who, x) in [("London", &a), ("Tokyo", &t)] {
        assert_eq!(x.unique, n, "{who}: every datagram arrived");
        assert_eq!(
            (x.lost, x.dups, x.reordered, x.corrupt, x.foreign),
            (0, 0, 0, 0, 0),
            "{who}: byte for byte, once, in order"
        );
    }
    assert_eq!(
        b_control, 1,
        "B's capture works (it saw the unicast control)"
    );
    assert_eq!(b_mcast, 0, "B joined nothing and got nothing");
    assert!(!b_member, "B is in no group of the bridge");
    assert!(
        t.pct_ms(0.5) > 100.0,
        "the Tokyo path carries its 115 ms (p50 {:.1} ms)",
        t.pct_ms(0.5)
    );
}

/// Scenario 2: IGMP as the customers speak it: only v2 reports; a leave stops delivery.
#[test]
fn s2_igmp_only_v2_reports_and_a_leave_stops_delivery() {
    // A general query every 12 s here (120 s from a real TGW), so one falls in the
    // run; cust-a's first join comes before it has heard any query (lab/up).
    let Some(lab) = Lab::up(
        "s2",
        &["tcpdump", "nft"],
        &[("LAB_QUERY_INTERVAL_CS", "1200")],
    ) else {
        return;
    };
    let _el = lab.egress("ldn");
    let _ing = lab.ingress(&[G1], &["ldn"], &[]);
    lab.wait_links(&["ldn"]);
    let (mut cap_br, br_file) = lab.capture("vl", "br0", "igmp", "s2-br0.pcap");
    let (mut cap_a, a_file) = lab.capture("vl", "p-a", "udp or igmp", "s2-pa.pcap");
    let t_join = now_ns();
    let ra = Receiver::start(&lab, "ca", CA, &[G1]);
    lab.wait_member("vl", "p-a", &[G1]);
    let joined_in = now_ns() - t_join;
    let sender = Sender::start(&lab, &[G1], 1000, Duration::from_secs(15), Size::Fixed(200));
    std::thread::sleep(Duration::from_secs(11));
    let t_leave = now_ns();
    let got = ra.finish();
    let t_closed = now_ns();
    assert!(
        eventually(Duration::from_secs(5), || !lab.member("vl", "p-a", G1)),
        "the bridge still has cust-a in {G1} after its leave: {:?}",
        lab.mdb("vl")
    );
    let t_gone = now_ns();
    let sent = sender.finish();
    std::thread::sleep(Duration::from_millis(300));
    cap_br.stop(Duration::from_secs(3));
    cap_a.stop(Duration::from_secs(3));

    // IGMP seen on the bridge: (type, source) of each message.
    let mut kinds: BTreeMap<(u8, String), u64> = BTreeMap::new();
    let mut queries_v2 = 0;
    let mut queries_v3 = 0;
    let mut leave_at = None;
    for (ts, f) in pcap_frames(&br_file) {
        let Some((src, _, 2, igmp)) = ipv4(&f) else {
            continue;
        };
        let Some(&kind) = igmp.first() else { continue };
        if kind == 0x11 {
            // v3 queries are at least 12 bytes; v2 queries are 8.
            if igmp.len() >= 12 {
                queries_v3 += 1
            } else {
                queries_v2 += 1
            }
        }
        if kind == 0x17 && src == CA {
            leave_at.get_or_insert(ts);
        }
        *kinds.entry((kind, src.to_string())).or_default() += 1;
    }
    let from_customers = |k: u8| -> u64 {
        kinds
            .iter()
            .filter(|((kind, src), _)| *kind == k && src.starts_with("10.201.1."))
            .map(|(_, n)| n)
            .sum()
    };
    let (v1, v2, v3, leaves) = (
        from_customers(0x12),
        from_customers(0x16),
        from_customers(0x22),
        from_customers(0x17),
    );
    // UDP on cust-a's bridge port, before the leave and after the entry went.
    let mut before = 0;
    let mut after_gone = 0;
    let mut after_leave = 0;
    for (ts, f) in pcap_frames(&a_file) {
        if let Some((_, dst, 17, _)) = ipv4(&f)
            && dst.is_multicast()
        {
            if ts < t_leave {
                before += 1;
            }
            if ts > t_closed + 50_000_000 {
                after_leave += 1;
            }
            if ts > t_gone {
                after_gone += 1;
            }
        }
    }
    // What cust-a's port carried of IGMP: queries to it, its reports and leave.
    let mut a_igmp = Vec::new();
    for (ts, f) in pcap_frames(&a_file) {
        if let Some((src, _, 2, igmp)) = ipv4(&f)
            && let Some(&kind) = igmp.first()
        {
            let what = match (kind, igmp.len() >= 12) {
                (0x11, false) => "v2 query".to_string(),
                (0x11, true) => "v3 query".to_string(),
                (0x16, _) => "v2 report".to_string(),
                (0x22, _) => "v3 report".to_string(),
                (0x17, _) => "v2 leave".to_string(),
                (k, _) => format!("type {k:#04x}"),
            };
            a_igmp.push(format!(
                "{what} from {src} at {:+.2} s",
                (ts as f64 - t_join as f64) / 1e9
            ));
        }
    }
    let a = Tally::of(&sent, &got);
    let sent_after = sent.after(t_closed);

    eprintln!("FIGURES s2 IGMP (London VPC bridge, querier v2, fast leave on customer ports)");
    eprintln!(
        "  bridge saw from customers: v2 reports (0x16) {v2}, v3 reports (0x22) {v3}, v1 reports {v1}, v2 leaves (0x17) {leaves}; querier's general queries v2 {queries_v2} v3 {queries_v3}"
    );
    let by_kind: Vec<String> = kinds
        .iter()
        .map(|((k, src), n)| format!("{k:#04x} from {src}: {n}"))
        .collect();
    eprintln!(
        "  all IGMP on the bridge (0.0.0.0 is the bridge itself: its queries and its own 224.0.0.106 report): {}",
        by_kind.join(", ")
    );
    eprintln!(
        "  on cust-a's port, from its join (0 s): {}",
        a_igmp.join("; ")
    );
    eprintln!(
        "  cust-a: member {:.1} ms after joining; leave sent {:?} ms after the socket closed; mdb entry gone {:.1} ms after",
        ms(joined_in),
        leave_at.map(|l: u64| ms(l.saturating_sub(t_leave))),
        ms(t_gone - t_leave)
    );
    eprintln!(
        "  UDP on cust-a's port: {before} before the leave, {after_leave} from 50 ms after it, {after_gone} after the entry went, while {sent_after} more were sent"
    );
    eprintln!("  {}", a.line("cust-a while joined"));
    assert!(v2 >= 1, "the join was an IGMPv2 report");
    assert_eq!(v3, 0, "no IGMPv3 report");
    assert_eq!(v1, 0, "no IGMPv1 report");
    assert!(leaves >= 1, "cust-a left with an IGMPv2 leave");
    assert!(queries_v3 == 0, "the querier speaks v2");
    assert!(before > 0 && a.unique > 0, "delivered while joined");
    assert_eq!((a.dups, a.corrupt, a.foreign), (0, 0, 0));
    assert!(
        sent_after >= 1000,
        "the feed went on after the leave ({sent_after})"
    );
    assert_eq!(
        after_gone, 0,
        "nothing on cust-a's port after its entry went"
    );
    assert_eq!(
        after_leave, 0,
        "nothing on cust-a's port 50 ms after the leave"
    );
    assert!(
        t_gone - t_leave < 2_000_000_000,
        "the leave took effect within 2 s"
    );
}

/// Scenario 3: The London egress SIGKILLed and started again: loss, duplicates, time to flow.
#[test]
fn s3_egress_killed_and_restarted() {
    let Some(lab) = Lab::up("s3", &[], &[]) else {
        return;
    };
    let mut el = lab.egress("ldn");
    let _et = lab.egress("tyo");
    let _ing = lab.ingress(&[G1], &["ldn", "tyo"], &[]);
    lab.wait_links(&["ldn", "tyo"]);
    let ra = Receiver::start(&lab, "ca", CA, &[G1]);
    let rt = Receiver::start(&lab, "ct", CT, &[G1]);
    lab.wait_member("vl", "p-a", &[G1]);
    lab.wait_member("vt", "p-t", &[G1]);
    let rate = 2000;
    let sender = Sender::start(&lab, &[G1], rate, Duration::from_secs(12), Size::Fixed(200));
    std::thread::sleep(Duration::from_secs(4));
    let t_kill = now_ns();
    el.signal(libc::SIGKILL);
    el.wait(Duration::from_secs(2));
    std::thread::sleep(Duration::from_secs(1));
    let t_restart = now_ns();
    let _el2 = lab.egress("ldn");
    let linked = eventually(Duration::from_secs(15), || {
        lab.m("ldn", &eg("connected_peers")) == 1.0
    });
    let t_linked = now_ns();
    let sent = sender.finish();
    let n = sent.total();
    drained(&lab, &["tyo"], n, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    let got_a = ra.finish();
    let a = Tally::of(&sent, &got_a);
    let t = Tally::of(&sent, &rt.finish());
    let dc = lab.metrics("dc").unwrap_or_default();
    let ldn = lab.metrics("ldn").unwrap_or_default();
    let flows = first_after(&got_a, t_restart).map(|f| f - t_restart);
    let silent = first_after(&got_a, t_restart)
        .zip(last_before(&got_a, t_kill + 1))
        .map(|(f, l)| f - l);
    let caught = caught_up(&got_a, t_restart, 20).map(|c| c - t_restart);

    eprintln!("FIGURES s3 London egress SIGKILL, restarted 1 s later ({rate}/s, 200 B, 12 s)");
    eprintln!("  {}", a.line("London cust-a"));
    eprintln!("  {}", t.line("Tokyo cust-t"));
    eprintln!(
        "  London silent for {:?} ms; after the restart: link up in {:.0} ms, first datagram in {:?} ms, live again (first datagram under 20 ms old) in {:?} ms",
        silent.map(ms),
        ms(t_linked - t_restart),
        flows.map(ms),
        caught.map(ms)
    );
    eprintln!(
        "  ingress replayed {} reconnects {}; new egress emitted {} duplicates filtered {} gaps {}",
        metric_sum(&dc, "mcast_relay_replayed_total", &[]),
        metric_sum(&dc, "mcast_relay_reconnects_total", &[]),
        metric_in(&ldn, &eg("datagrams_out_total")).unwrap_or(0.0),
        metric_in(&ldn, &eg("duplicates_total")).unwrap_or(0.0),
        metric_in(&ldn, &eg("gaps_total")).unwrap_or(0.0),
    );
    assert!(linked, "the ingress reconnected to the new egress");
    assert_eq!(
        a.lost, 0,
        "London lost nothing: the ingress replayed from its last ack"
    );
    assert_eq!((a.corrupt, a.foreign), (0, 0));
    assert!(
        a.dups <= rate / 2,
        "at most the unacknowledged half second is emitted twice ({})",
        a.dups
    );
    assert_eq!((t.lost, t.dups), (0, 0), "Tokyo did not notice");
    assert!(
        flows.is_some_and(|f| f < 6_000_000_000),
        "the feed flowed again within 6 s of the restart"
    );
}

/// Scenario 4: The dc-ldn link blackholed for 5 s: detection, recovery, loss.
#[test]
fn s4_link_cut_for_five_seconds() {
    let Some(lab) = Lab::up("s4", &[], &[]) else {
        return;
    };
    let _el = lab.egress("ldn");
    let _et = lab.egress("tyo");
    let _ing = lab.ingress(&[G1], &["ldn", "tyo"], &[]);
    lab.wait_links(&["ldn", "tyo"]);
    let ra = Receiver::start(&lab, "ca", CA, &[G1]);
    let rt = Receiver::start(&lab, "ct", CT, &[G1]);
    lab.wait_member("vl", "p-a", &[G1]);
    lab.wait_member("vt", "p-t", &[G1]);
    let rate = 2000;
    let sender = Sender::start(&lab, &[G1], rate, Duration::from_secs(16), Size::Fixed(200));
    std::thread::sleep(Duration::from_secs(3));
    let t_cut = now_ns();
    lab.link("ldn", &["cut=1"]);
    let (mut det_in, mut det_eg) = (None, None);
    while now_ns() - t_cut < 5_000_000_000 {
        if det_in.is_none() && lab.m("dc", &ing("connected_peers")) < 2.0 {
            det_in = Some(now_ns() - t_cut);
        }
        if det_eg.is_none() && lab.m("ldn", &eg("connected_peers")) < 1.0 {
            det_eg = Some(now_ns() - t_cut);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let t_restore = now_ns();
    lab.link("ldn", &["cut=0"]);
    let cut_stats = lab.link_stats("ldn");
    let linked = eventually(Duration::from_secs(15), || {
        lab.m("ldn", &eg("connected_peers")) == 1.0 && lab.m("dc", &ing("connected_peers")) == 2.0
    });
    let t_linked = now_ns();
    let sent = sender.finish();
    let n = sent.total();
    drained(&lab, &["ldn", "tyo"], n, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    let got_a = ra.finish();
    let a = Tally::of(&sent, &got_a);
    let t = Tally::of(&sent, &rt.finish());
    let flows = first_after(&got_a, t_restore).map(|f| f - t_restore);
    let caught = caught_up(&got_a, t_restore, 20).map(|c| c - t_restore);
    let dc = lab.metrics("dc").unwrap_or_default();
    let ldn = lab.metrics("ldn").unwrap_or_default();
    let blackholed: u64 = ["a_to_b", "b_to_a"]
        .iter()
        .map(|d| cut_stats[d]["cut"].as_u64().unwrap_or(0))
        .sum();

    eprintln!("FIGURES s4 dc-ldn link blackholed for 5 s ({rate}/s, 200 B, 16 s)");
    eprintln!("  {}", a.line("London cust-a"));
    eprintln!("  {}", t.line("Tokyo cust-t"));
    eprintln!(
        "  detected by the ingress after {:?} ms, by the egress after {:?} ms; {blackholed} packets blackholed",
        det_in.map(ms),
        det_eg.map(ms)
    );
    eprintln!(
        "  after the restore: link up in {:.0} ms, first datagram in {:?} ms, live again (first datagram under 20 ms old) in {:?} ms",
        ms(t_linked - t_restore),
        flows.map(ms),
        caught.map(ms)
    );
    eprintln!(
        "  ingress replayed {} reconnects {}; egress duplicates filtered {} gaps {}",
        metric_sum(&dc, "mcast_relay_replayed_total", &[]),
        metric_sum(&dc, "mcast_relay_reconnects_total", &[]),
        metric_in(&ldn, &eg("duplicates_total")).unwrap_or(0.0),
        metric_in(&ldn, &eg("gaps_total")).unwrap_or(0.0),
    );
    assert!(blackholed > 0, "the emulator did cut the link");
    assert!(linked, "the link came back");
    assert!(
        det_in.is_some_and(|d| d < 4_000_000_000),
        "the ingress noticed within 4 s"
    );
    assert!(
        det_eg.is_some_and(|d| d < 4_000_000_000),
        "the egress noticed within 4 s"
    );
    assert_eq!(
        (a.lost, a.dups, a.reordered, a.corrupt),
        (0, 0, 0, 0),
        "London: nothing lost, nothing twice"
    );
    assert_eq!((t.lost, t.dups), (0, 0), "Tokyo did not notice");
    assert!(
        caught.is_some_and(|c| c < 10_000_000_000),
        "live again within 10 s of the restore"
    );
}

/// Scenario 5: Tokyo's egress stopped for 10 s: London loses nothing, the ingress's
/// memory stays within its window, and what Tokyo lost is counted.
#[test]
fn s5_tokyo_egress_stalled() {
    let Some(lab) = Lab::up("s5", &[], &[]) else {
        return;
    };
    let window: u64 = 4 << 20;
    let _el = lab.egress("ldn");
    let et = lab.egress("tyo");
    let ing = lab.ingress(
        &[G1],
        &["ldn", "tyo"],
        &["--window-bytes", &window.to_string()],
    );
    lab.wait_links(&["ldn", "tyo"]);
    let ra = Receiver::start(&lab, "ca", CA, &[G1]);
    let rt = Receiver::start(&lab, "ct", CT, &[G1]);
    lab.wait_member("vl", "p-a", &[G1]);
    lab.wait_member("vt", "p-t", &[G1]);
    let (rate, size) = (1500, 1000);
    let sender = Sender::start(
        &lab,
        &[G1],
        rate,
        Duration::from_secs(18),
        Size::Fixed(size),
    );
    let mut rss = Vec::new();
    let sample = |rss: &mut Vec<(u64, u64)>| {
        if let Some(r) = Lab::rss(ing.pid()) {
            rss.push((now_ns(), r));
        }
    };
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        sample(&mut rss);
        std::thread::sleep(Duration::from_millis(100));
    }
    let base = rss.iter().map(|x| x.1).max().unwrap_or(0);
    let t_stop = now_ns();
    et.signal(libc::SIGSTOP);
    while now_ns() - t_stop < 10_000_000_000 {
        sample(&mut rss);
        std::thread::sleep(Duration::from_millis(100));
    }
    et.signal(libc::SIGCONT);
    let t_cont = now_ns();
    let t1 = Instant::now();
    while t1.elapsed() < Duration::from_secs(4) {
        sample(&mut rss);
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent = sender.finish();
    let n = sent.total();
    drained(&lab, &["ldn"], n, Duration::from_secs(5));
    // Tokyo: until its egress has emitted everything it will (the rest was counted lost).
    let mut last = -1.0;
    eventually(Duration::from_secs(15), || {
        std::thread::sleep(Duration::from_millis(500));
        let now = lab.m("tyo", &eg("datagrams_out_total"));
        let still = now == last && lab.m("tyo", &eg("connected_peers")) == 1.0;
        last = now;
        still
    });
    std::thread::sleep(Duration::from_millis(500));
    let got_a = ra.finish();
    let a = Tally::of(&sent, &got_a);
    let got_t = rt.finish();
    let t = Tally::of(&sent, &got_t);
    let peak = rss.iter().map(|x| x.1).max().unwrap_or(0);
    let dc = lab.metrics("dc").unwrap_or_default();
    let tyo = lab.metrics("tyo").unwrap_or_default();
    let behind = metric_in(&dc, &drops("ingress", "behind")).unwrap_or(0.0) as u64;
    let tyo_gaps = metric_in(&tyo, &eg("gaps_total")).unwrap_or(0.0) as u64;
    let london_silence = longest_silence(&got_a, t_stop, t_cont);
    let tokyo_back = first_after(&got_t, t_cont).map(|f| f - t_cont);
    let tokyo_caught = caught_up(&got_t, t_cont, 150).map(|c| c - t_cont);
    let backlog = rate * size as u64 * 10;

    eprintln!(
        "FIGURES s5 Tokyo egress SIGSTOP 10 s ({rate}/s, {size} B = {:.1} MB/s; ingress window {} MiB)",
        (rate * size as u64) as f64 / 1e6,
        window >> 20
    );
    eprintln!("  {}", a.line("London cust-a"));
    eprintln!("  {}", t.line("Tokyo cust-t"));
    eprintln!(
        "  London's longest silence during the stall: {:.1} ms",
        ms(london_silence)
    );
    eprintln!(
        "  ingress RSS: {:.1} MiB before, peak {:.1} MiB (+{:.1} MiB) against a {:.1} MB backlog",
        base as f64 / 1048576.0,
        peak as f64 / 1048576.0,
        peak.saturating_sub(base) as f64 / 1048576.0,
        backlog as f64 / 1e6
    );
    eprintln!(
        "  Tokyo lost {} (counted: ingress drops behind {behind}, Tokyo egress gaps {tyo_gaps}); back {:?} ms after SIGCONT, live again (first datagram under 150 ms old) in {:?} ms; ingress reconnects {}",
        t.lost,
        tokyo_back.map(ms),
        tokyo_caught.map(ms),
        metric_sum(&dc, "mcast_relay_reconnects_total", &[])
    );
    assert_eq!(
        (a.lost, a.dups, a.corrupt),
        (0, 0, 0),
        "London lost nothing while Tokyo stalled"
    );
    assert!(
        london_silence < 500_000_000,
        "London kept flowing during the stall (longest silence {:.0} ms)",
        ms(london_silence)
    );
    assert!(
        peak.saturating_sub(base) < window + (32 << 20),
        "the ingress stayed within its window plus slack"
    );
    assert_eq!((t.dups, t.corrupt), (0, 0), "Tokyo: nothing twice");
    assert_eq!(
        t.lost, tyo_gaps,
        "every datagram Tokyo lost is counted as a gap by its egress"
    );
    assert!(
        behind >= t.lost,
        "and by the ingress as left behind ({behind} >= {})",
        t.lost
    );
    assert!(tokyo_back.is_some(), "Tokyo flowed again after SIGCONT");
}

/// Scenario 6: 1% loss and 1% reordering on the WAN links: customers see neither;
/// the latency it costs, on the 1 ms London link (the scenario) and on the
/// 115 ms Tokyo link (where a retransmission costs a round trip). One stream:
/// 10 s clean, then 10 s impaired, so TCP is warm in both halves.
#[test]
fn s6_loss_and_reordering_on_the_wan_links() {
    let Some(lab) = Lab::up("s6", &[], &[]) else {
        return;
    };
    let _el = lab.egress("ldn");
    let _et = lab.egress("tyo");
    let _ing = lab.ingress(&[G1], &["ldn", "tyo"], &[]);
    lab.wait_links(&["ldn", "tyo"]);
    let ra = Receiver::start(&lab, "ca", CA, &[G1]);
    let rt = Receiver::start(&lab, "ct", CT, &[G1]);
    lab.wait_member("vl", "p-a", &[G1]);
    lab.wait_member("vt", "p-t", &[G1]);
    let rate = 2000;
    let t0 = now_ns();
    let sender = Sender::start(&lab, &[G1], rate, Duration::from_secs(20), Size::Fixed(200));
    std::thread::sleep(Duration::from_secs(10));
    let before = [lab.link_stats("ldn"), lab.link_stats("tyo")];
    let t_bad = now_ns();
    for l in ["ldn", "tyo"] {
        lab.link(l, &["loss=1", "reorder=1", "reorder_ms=3"]);
    }
    let sent = sender.finish();
    let t_end = now_ns();
    for l in ["ldn", "tyo"] {
        lab.link(l, &["loss=0", "reorder=0"]);
    }
    let after = [lab.link_stats("ldn"), lab.link_stats("tyo")];
    drained(&lab, &["ldn", "tyo"], sent.total(), Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    let got = [ra.finish(), rt.finish()];
    let delta = |i: usize, k: &str| -> u64 {
        ["a_to_b", "b_to_a"]
            .iter()
            .map(|d| after[i][d][k].as_u64().unwrap_or(0) - before[i][d][k].as_u64().unwrap_or(0))
            .sum()
    };
    let dc = lab.metrics("dc").unwrap_or_default();

    eprintln!(
        "FIGURES s6 1% loss + 1% reordering (held 3 ms) on both WAN links: {rate}/s, 200 B, 10 s clean then 10 s impaired"
    );
    for (i, (region, link)) in [("London", "dc-ldn, 1 ms"), ("Tokyo", "dc-tyo, 115 ms")]
        .iter()
        .enumerate()
    {
        let t = Tally::of(&sent, &got[i]);
        eprintln!("  {}", t.line(&format!("{region} ({link}) whole run")));
        eprintln!(
            "  {region}: clean (after the first 2 s) {}; impaired {}",
            window(&got[i], t0 + 2_000_000_000, t_bad),
            window(&got[i], t_bad, t_end)
        );
        eprintln!(
            "  {region}: the emulator dropped {} and held back {} of {} packets (both directions, impaired half)",
            delta(i, "lost"),
            delta(i, "held_back"),
            delta(i, "in")
        );
        assert!(
            delta(i, "lost") > 0 && delta(i, "held_back") > 0,
            "{region}: the link really lost and reordered"
        );
        assert_eq!(t.unique, sent.total(), "{region}: all arrived");
        assert_eq!(
            (t.lost, t.dups, t.reordered, t.corrupt, t.foreign),
            (0, 0, 0, 0, 0),
            "{region}: no loss, duplicate or reordering reached the customer"
        );
    }
    eprintln!(
        "  ingress reconnects {}",
        metric_sum(&dc, "mcast_relay_reconnects_total", &[])
    );
    assert_eq!(
        metric_sum(&dc, "mcast_relay_reconnects_total", &[]),
        0.0,
        "TCP carried it without a reconnect"
    );
}

/// Scenario 7: A stranger inside the London VPC: wrong keys, garbage, a connection flood.
#[test]
fn s7_a_stranger_in_the_vpc() {
    let Some(lab) = Lab::up("s7", &[], &[]) else {
        return;
    };
    let _el = lab.egress("ldn");
    let _ing = lab.ingress(&[G1], &["ldn"], &[]);
    lab.wait_links(&["ldn"]);
    let ra = Receiver::start(&lab, "ca", CA, &[G1, G2]);
    lab.wait_member("vl", "p-a", &[G1, G2]);
    let rate = 1000;
    let sender = Sender::start(&lab, &[G1], rate, Duration::from_secs(16), Size::Fixed(200));
    let egress = SocketAddrV4::new(LDN_VPC, PORT);
    let real_key = fs::read_to_string(lab.key()).unwrap();
    let mut table = Vec::new();
    let x = lab.ns("x");

    use mcast_relay::wire::auth::Key;
    use mcast_relay::wire::frame::{self, AuthMethod, Frame, Hello, VERSION};
    let hello = |key_id: [u8; 8]| {
        let mut out = Vec::new();
        let h = Hello {
            version: VERSION,
            auth: AuthMethod::PreSharedKey,
            stream_id: 0x5742_4e47,
            nonce: [7; 32],
            key_id,
            feed: "prod".into(),
            manifest: vec![ga(G1)],
            encrypt: false,
            sender: "stranger".into(),
        };
        frame::encode(&Frame::Hello(h), &mut out);
        out
    };
    let wrong = Key::generate();
    let sniffed = Key::parse_list(&real_key).unwrap()[0].id();
    let mut garbage = Vec::new();
    let mut r = xorshift(0xbad);
    for _ in 0..512 {
        garbage.extend_from_slice(&r().to_le_bytes());
    }
    garbage[4] = 0x99; // no such frame kind
    let garbage_reason = if u32::from_be_bytes(garbage[..4].try_into().unwrap()) as usize + 4 > 8192
    {
        "oversize"
    } else {
        "unknown_kind"
    };
    // Each try: bytes to send, whether to answer a Challenge with a made-up proof,
    // and the reason the egress must count.
    let tries: Vec<(&str, Vec<u8>, bool, &str, &str)> = vec![
        (
            "a Hello with a wrong key",
            hello(wrong.id()),
            false,
            "prod",
            "unknown_key",
        ),
        (
            "the real key id (sniffed) with a made-up proof",
            hello(sniffed),
            true,
            "prod",
            "bad_proof",
        ),
        ("4 KiB of random bytes", garbage, false, "-", garbage_reason),
        (
            "an HTTP request",
            b"GET /metrics HTTP/1.1\r\nHost: relay\r\n\r\n".to_vec(),
            false,
            "-",
            "http",
        ),
        (
            "a 4 GiB length prefix",
            vec![0xff, 0xff, 0xff, 0xff, 0x10],
            false,
            "-",
            "oversize",
        ),
    ];
    for (what, bytes, answer, feed, reason) in tries {
        let before = lab.m("ldn", &failures(feed, reason));
        let took = in_ns(&x, || {
            let mut s = TcpStream::connect_timeout(&egress.into(), Duration::from_secs(3)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
            let t = Instant::now();
            let _ = s.write_all(&bytes);
            let mut buf = vec![0u8; 8192];
            let mut have = Vec::new();
            let mut answered = false;
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => return t.elapsed(),
                    Ok(k) => {
                        have.extend_from_slice(&buf[..k]);
                        if answer
                            && !answered
                            && let Ok(Some((Frame::Challenge(_), _))) = frame::decode(&have, 8192)
                        {
                            let mut out = Vec::new();
                            frame::encode(
                                &Frame::Auth(frame::Auth { proof: [0x42; 32] }),
                                &mut out,
                            );
                            let _ = s.write_all(&out);
                            answered = true;
                        }
                    }
                }
            }
        });
        let counted = eventually(Duration::from_secs(2), || {
            lab.m("ldn", &failures(feed, reason)) > before
        });
        table.push(format!(
            "{what}: closed after {:.1} ms, counted as {reason}: {counted}",
            took.as_secs_f64() * 1e3
        ));
        assert!(counted, "{what}: counted as {reason}");
        assert!(took < Duration::from_secs(2), "{what}: closed in {took:?}");
    }
    // A flood: 1,000 connections held open without a word, then 1,000 opened and closed.
    let before = lab.m("ldn", &failures("-", "too_many_connections"));
    let t = Instant::now();
    let (held, churned) = in_ns(&x, || {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard.min(8192), hard);
        let idle: Vec<TcpStream> = (0..1000)
            .filter_map(|_| TcpStream::connect_timeout(&egress.into(), Duration::from_secs(2)).ok())
            .collect();
        let mut churned = 0;
        for _ in 0..1000 {
            if TcpStream::connect_timeout(&egress.into(), Duration::from_secs(2)).is_ok() {
                churned += 1;
            }
        }
        std::thread::sleep(Duration::from_secs(1));
        (idle.len(), churned)
    });
    let flood_took = t.elapsed();
    let evicted = lab.m("ldn", &failures("-", "too_many_connections")) - before;
    table.push(format!(
        "{held} idle connections + {churned} opened and closed in {:.1} s: {evicted} pending handshakes evicted",
        flood_took.as_secs_f64()
    ));

    let sent = sender.finish();
    let n = sent.total();
    drained(&lab, &["ldn"], n, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    let a = Tally::of(&sent, &ra.finish());
    let ldn = lab.metrics("ldn").unwrap_or_default();
    let all_failures = metric_sum(&ldn, "mcast_relay_handshake_failures_total", &[]);

    eprintln!(
        "FIGURES s7 a stranger in the London VPC (10.201.1.66 -> {egress}) while the feed runs at {rate}/s"
    );
    for l in &table {
        eprintln!("  {l}");
    }
    let by_reason: Vec<String> = ldn
        .lines()
        .filter(|l| l.starts_with("mcast_relay_handshake_failures_total{"))
        .filter_map(|l| {
            let reason = l.split("reason=\"").nth(1)?.split('"').next()?;
            Some(format!("{reason} {}", l.rsplit(' ').next()?))
        })
        .collect();
    eprintln!(
        "  handshake failures counted in all: {all_failures} ({})",
        by_reason.join(", ")
    );
    eprintln!(
        "  {}",
        a.line("London cust-a (joined to the feed group and another)")
    );
    eprintln!(
        "  egress: connected {} reconnects {} emitted {}",
        metric_in(&ldn, &eg("connected_peers")).unwrap_or(0.0),
        metric_sum(&ldn, "mcast_relay_reconnects_total", &[]),
        metric_in(&ldn, &eg("datagrams_out_total")).unwrap_or(0.0)
    );
    assert!(held >= 900, "the flood held its connections ({held})");
    assert!(
        evicted >= (held as f64) * 0.9,
        "the flood's pending handshakes were evicted, not piled up ({evicted})"
    );
    assert_eq!(a.unique, n, "the real feed lost nothing");
    assert_eq!(
        (a.lost, a.dups, a.corrupt, a.foreign),
        (0, 0, 0, 0),
        "and cust-a saw nothing but the real feed"
    );
    assert_eq!(metric_in(&ldn, &eg("connected_peers")), Some(1.0));
    assert_eq!(
        metric_sum(&ldn, "mcast_relay_reconnects_total", &[]),
        0.0,
        "the real link never dropped"
    );
    assert_eq!(
        metric_in(&ldn, &eg("datagrams_out_total")),
        Some(n as f64),
        "the egress emitted exactly the real feed"
    );
}

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
