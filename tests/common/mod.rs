//! Helpers for the loopback end-to-end tests: relay processes that die with
//! the test, free ports, and a plain multicast receiver independent of ours.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

pub const BIN: &str = env!("CARGO_BIN_EXE_mcast-relay");

/// A relay process, killed when dropped so no test leaves one behind. Its
/// stderr is read as it comes (a relay that logs more than a pipe holds
/// would otherwise block), kept, and searchable while it runs.
pub struct Proc {
    pub child: Child,
    pub name: String,
    log: Arc<(Mutex<String>, Condvar)>,
    drain: Option<std::thread::JoinHandle<()>>,
}

/// One key for every relay this test process starts without a key of its
/// own (given in the environment, as `MCAST_RELAY_KEY`): every feed runs
/// authenticated, as in production.
pub fn test_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| mcast_relay::wire::auth::Key::generate().to_line())
}

impl Proc {
    /// Start `mcast-relay ARGS`. A relay (ingress, egress, run) given neither
    /// `--key-file` nor `--insecure-no-auth` gets [`test_key`].
    pub fn spawn(name: &str, args: &[&str]) -> Proc {
        let relay = matches!(args.first(), Some(&("ingress" | "egress" | "run")));
        let own = args
            .iter()
            .any(|a| *a == "--key-file" || *a == "--insecure-no-auth");
        Proc::spawn_with_key(name, args, (relay && !own).then(test_key))
    }

    /// Start `mcast-relay ARGS` with `key` (or no key at all) in the environment.
    pub fn spawn_with_key(name: &str, args: &[&str], key: Option<&str>) -> Proc {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("RUST_LOG", "info")
            .env_remove("MCAST_RELAY_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(k) = key {
            cmd.env("MCAST_RELAY_KEY", k);
        }
        Proc::adopt(cmd.spawn().expect("start mcast-relay"), name)
    }

    /// Take charge of a child started elsewhere (its stderr piped or not).
    pub fn adopt(mut child: Child, name: &str) -> Proc {
        let log = Arc::new((Mutex::new(String::new()), Condvar::new()));
        let drain = child.stderr.take().map(|err| {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    let (text, cv) = &*log;
                    let mut t = text.lock().unwrap();
                    t.push_str(&line);
                    t.push('\n');
                    cv.notify_all();
                }
            })
        });
        Proc {
            child,
            name: name.into(),
            log,
            drain,
        }
    }

    /// Wait until stderr has a line containing `needle`; that line, or None
    /// after `limit` (or at the process's end).
    pub fn wait_for(&self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        let (text, cv) = &*self.log;
        let mut t = text.lock().unwrap();
        loop {
            if let Some(l) = t.lines().find(|l| l.contains(needle)) {
                return Some(l.to_string());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            t = cv.wait_timeout(t, deadline - now).unwrap().0;
        }
    }

    /// What it has logged so far.
    pub fn logged(&self) -> String {
        self.log.0.lock().unwrap().clone()
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig);
    }

    /// Wait for the exit within `limit`; returns the status and stderr.
    pub fn wait(mut self, limit: Duration) -> (Option<std::process::ExitStatus>, String) {
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
        if let Some(d) = self.drain.take() {
            let _ = d.join();
        }
        (status, self.logged())
    }

    /// Stop it and return what it logged.
    pub fn logs(self) -> String {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        self.wait(Duration::from_secs(6)).1
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `mcast-relay listen ARGS` and return once it has joined its groups
/// (it says so on stderr): what is sent after this is counted.
pub fn listen(args: &[&str]) -> Proc {
    let child = Command::new(BIN)
        .arg("listen")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mcast-relay listen");
    let p = Proc::adopt(child, "listen");
    if p.wait_for("listen: joined", Duration::from_secs(10))
        .is_none()
    {
        panic!("listen did not join within 10 s: {}", p.logged());
    }
    p
}

/// `listen --group GROUP --idle IDLE --duration DURATION --json`, joined.
pub fn listen_group(group: SocketAddrV4, idle: &str, duration: &str) -> Proc {
    listen(&[
        "--group",
        &group.to_string(),
        "--idle",
        idle,
        "--duration",
        duration,
        "--json",
    ])
}

/// The JSON summary `listen --json` prints at its end.
pub fn summary(mut p: Proc) -> serde_json::Value {
    let mut out = String::new();
    let mut stdout = p.child.stdout.take().expect("listen's stdout");
    stdout.read_to_string(&mut out).unwrap();
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("listen printed no JSON ({e}): {out}: {}", p.logged()))
}

/// A feed given by flags alone, complete but for its key, sending nowhere
/// that answers (port 1 on the loopback).
pub const FLAG_FEED: [&str; 8] = [
    "--feed",
    "t",
    "--iface",
    "lo",
    "--group",
    "239.1.1.1:6100",
    "--dest",
    "127.0.0.1:1",
];

/// Skip a test whose prerequisite is missing, saying why. Under CI
/// (`MCAST_RELAY_CI` set by .ci/run) a missing prerequisite fails instead.
pub fn skip(why: &str) {
    if std::env::var_os("MCAST_RELAY_CI").is_some() {
        panic!("MCAST_RELAY_CI is set, so this cannot be skipped: {why}");
    }
    eprintln!("SKIPPED: {why}");
}

/// True when running as root; otherwise skips (see [`skip`]) with `why`.
pub fn root_or_skip(why: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        skip(&format!("needs root {why} (CI runs as root)"));
    }
    root
}

/// A free port below the kernel's ephemeral range, never one handed out
/// before in this test process. Below the range, because an outgoing
/// connection of another test's relay takes its local port from that range and
/// could take ours between this check and the relay's bind; never twice, so
/// parallel tests (or one relay's feed and HTTP ports) cannot collide.
fn unique_port(free: impl Fn(u16) -> bool) -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (from, to) = if low > 12_000 {
        (10_000, low)
    } else {
        (low / 2, low)
    };
    loop {
        let p = rand::random_range(from..to);
        if free(p) && GIVEN.lock().unwrap().insert(p) {
            return p;
        }
    }
}

pub fn free_tcp() -> u16 {
    unique_port(|p| TcpListener::bind(("127.0.0.1", p)).is_ok())
}

pub fn free_udp() -> u16 {
    unique_port(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok())
}

/// GET a path from a relay's HTTP port.
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let code = body.split_whitespace().nth(1)?.parse().ok()?;
    let text = body
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    Some((code, text))
}

/// The value of one metric line (exact labels) from /metrics.
pub fn metric(port: u16, name_and_labels: &str) -> Option<f64> {
    let (_, text) = get(port, "/metrics")?;
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Wait until `f` holds or `limit` passes.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    f()
}

/// `publish` as a process: `rate` datagrams/s of `size` bytes for `secs`.
pub fn publish(group: SocketAddrV4, rate: u32, secs: u32, size: u32) -> Child {
    Command::new(BIN)
        .args([
            "publish",
            "--group",
            &group.to_string(),
            "--rate",
            &rate.to_string(),
            "--duration",
            &secs.to_string(),
            "--size",
            &size.to_string(),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// How many datagrams a [`publish`] sent, from its last words.
pub fn sent(child: Child) -> u64 {
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    text.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("publish said: {text}"))
}

/// A sender written with std only: IP_MULTICAST_IF 127.0.0.1, TTL 1.
pub fn loopback_sender() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_multicast_ttl_v4(1).unwrap();
    let sock = socket2::SockRef::from(&s);
    sock.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
    sock.set_send_buffer_size(4 << 20).unwrap();
    s
}

/// Plain receivers, one socket bound to each group:port and joined on the loopback.
pub struct Receiver {
    socks: Vec<(SocketAddrV4, UdpSocket)>,
}

impl Receiver {
    pub fn join(groups: &[SocketAddrV4]) -> Receiver {
        let socks = groups
            .iter()
            .map(|g| {
                let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
                s.set_reuse_address(true).unwrap();
                let _ = s.set_recv_buffer_size(8 << 20);
                s.bind(&(*g).into()).unwrap();
                s.join_multicast_v4(g.ip(), &Ipv4Addr::LOCALHOST).unwrap();
                s.set_nonblocking(true).unwrap();
                (*g, UdpSocket::from(s))
            })
            .collect();
        Receiver { socks }
    }

    /// Collect datagrams per group until `want` arrived or nothing came for `idle`.
    pub fn collect(
        &self,
        want: usize,
        idle: Duration,
        limit: Duration,
    ) -> BTreeMap<SocketAddrV4, Vec<Vec<u8>>> {
        let mut out: BTreeMap<SocketAddrV4, Vec<Vec<u8>>> = BTreeMap::new();
        let (start, mut last, mut n) = (Instant::now(), Instant::now(), 0);
        let mut buf = vec![0u8; 65_536];
        while n < want && last.elapsed() < idle && start.elapsed() < limit {
            let mut any = false;
            for (g, s) in &self.socks {
                while let Ok(len) = s.recv(&mut buf) {
                    out.entry(*g).or_default().push(buf[..len].to_vec());
                    n += 1;
                    any = true;
                }
            }
            if any {
                last = Instant::now();
            } else {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        out
    }
}

/// The Deribit captures, or None (with a note) where ../shared/data is absent.
pub fn capture(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/deribit-legacy")
        .join(name);
    if p.exists() {
        Some(p)
    } else {
        skip(&format!(
            "{} is absent; this test needs the Deribit captures in ../shared/data",
            p.display()
        ));
        None
    }
}

/// Start an egress and an ingress for `feed` between `src` groups and their
/// mapped outputs; returns them once the link is up.
pub struct Pair {
    pub egress: Proc,
    pub ingress: Proc,
    pub eg_http: u16,
    pub in_http: u16,
    pub tcp: u16,
}

pub fn pair(
    feed: &str,
    groups: &[SocketAddrV4],
    map: &str,
    allow: &str,
    extra_in: &[&str],
    extra_eg: &[&str],
) -> Pair {
    pair_via(feed, groups, map, allow, extra_in, extra_eg, |p| p)
}

/// As [`pair`], with something between them: `front` gets the egress's port
/// and returns the port the ingress should send to.
pub fn pair_via(
    feed: &str,
    groups: &[SocketAddrV4],
    map: &str,
    allow: &str,
    extra_in: &[&str],
    extra_eg: &[&str],
    front: impl FnOnce(u16) -> u16,
) -> Pair {
    let (tcp, eg_http, in_http) = (free_tcp(), free_tcp(), free_tcp());
    let listen = format!("{feed}=127.0.0.1:{tcp}");
    let eg_http_s = format!("127.0.0.1:{eg_http}");
    let mut eg_args = vec![
        "egress",
        "--listen",
        &listen,
        "--iface",
        "127.0.0.1",
        "--ttl",
        "1",
        "--allow",
        allow,
        "--http",
        &eg_http_s,
    ];
    if !map.is_empty() {
        eg_args.extend(["--map", map]);
    }
    eg_args.extend(extra_eg);
    let egress = Proc::spawn("egress", &eg_args);
    let dest = format!("127.0.0.1:{}", front(tcp));
    let in_http_s = format!("127.0.0.1:{in_http}");
    let group_args: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    let mut in_args = vec![
        "ingress", "--feed", feed, "--iface", "lo", "--dest", &dest, "--http", &in_http_s,
    ];
    for g in &group_args {
        in_args.extend(["--group", g.as_str()]);
    }
    in_args.extend(extra_in);
    let ingress = Proc::spawn("ingress", &in_args);
    let label = format!("mcast_relay_connected_peers{{feed=\"{feed}\",role=\"egress\"}}");
    let connected = eventually(Duration::from_secs(10), || {
        metric(eg_http, &label) == Some(1.0)
    }) && eventually(Duration::from_secs(5), || {
        get(in_http, "/readyz").is_some_and(|r| r.0 == 200)
    });
    if !connected {
        let (e, i) = (egress.logs(), ingress.logs());
        panic!("the ingress did not connect\n--- egress:\n{e}\n--- ingress:\n{i}");
    }
    Pair {
        egress,
        ingress,
        eg_http,
        in_http,
        tcp,
    }
}

pub fn key_file(dir: &std::path::Path, name: &str, lines: &[&str]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n")).unwrap();
    p.display().to_string()
}

/// A CA, a server certificate for "localhost" and a client certificate, as PEM files.
pub fn certs(dir: &std::path::Path) -> [String; 5] {
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |name: &str, usage| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
        p.extended_key_usages = vec![usage];
        (
            p.signed_by(&key, &issuer).unwrap().pem(),
            key.serialize_pem(),
        )
    };
    let (srv, srv_key) = leaf("localhost", ExtendedKeyUsagePurpose::ServerAuth);
    let (cli, cli_key) = leaf("datacenter-ingress", ExtendedKeyUsagePurpose::ClientAuth);
    let w = |n: &str, t: &str| key_file(dir, n, &[t]);
    [
        w("ca.pem", &ca_cert.pem()),
        w("srv.pem", &srv),
        w("srv.key", &srv_key),
        w("cli.pem", &cli),
        w("cli.key", &cli_key),
    ]
}

/// A TCP proxy to 127.0.0.1:`to` that the test can cut (every connection
/// closed, new ones refused while `cut` is set), kick (the connections of now
/// closed, new ones taken) and slow down (each direction's bytes held `delay`).
pub struct Proxy {
    pub port: u16,
    pub cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Proxy {
    pub fn start(to: u16) -> Proxy {
        Proxy::with_delay(to, Duration::ZERO)
    }

    pub fn with_delay(to: u16, delay: Duration) -> Proxy {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(AtomicU64::new(0));
        let (c, g) = (cut.clone(), generation.clone());
        std::thread::spawn(move || {
            for s in l.incoming().flatten().take(10_000) {
                if c.load(Ordering::Relaxed) {
                    continue;
                }
                let Ok(up) = std::net::TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                let mine = g.load(Ordering::Relaxed);
                for (a, b) in [(s.try_clone().unwrap(), up.try_clone().unwrap()), (up, s)] {
                    let (c, g) = (c.clone(), g.clone());
                    let gone =
                        move || c.load(Ordering::Relaxed) || g.load(Ordering::Relaxed) != mine;
                    std::thread::spawn(move || pipe(a, b, delay, gone));
                }
            }
        });
        Proxy {
            port,
            cut,
            generation,
        }
    }

    /// Close every connection through the proxy now; new ones get through.
    pub fn kick(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Copy `a` to `b`, each piece `delay` later than it came, until either side
/// closes or `gone()`.
fn pipe(
    mut a: std::net::TcpStream,
    b: std::net::TcpStream,
    delay: Duration,
    gone: impl Fn() -> bool + Send + 'static,
) {
    use std::io::Write;
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    let mut w = b.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        for (due, bytes) in rx {
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if w.write_all(&bytes).is_err() {
                return;
            }
        }
    });
    a.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut buf = vec![0u8; 65536];
    loop {
        if gone() {
            break;
        }
        match a.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    drop(tx);
    if gone() {
        let _ = a.shutdown(std::net::Shutdown::Both);
        let _ = b.shutdown(std::net::Shutdown::Both);
    }
    let _ = writer.join();
    let _ = a.shutdown(std::net::Shutdown::Both);
    let _ = b.shutdown(std::net::Shutdown::Both);
}
