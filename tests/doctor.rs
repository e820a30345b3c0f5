//! `mcast-relay doctor` against fake /proc and /sys trees in a tempdir and a
//! fake instance metadata service on 127.0.0.1. Nothing here reads or changes
//! the host's sysctls.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mcast-relay");

/// What the kernel's /dev/cpu_dma_latency reads as when nothing asks for a limit.
const NO_LIMIT: i32 = 2_000_000_000;

/// The feed at its peak for the tcp-buffer check: London-Tokyo's round trip.
const PEAK: [&str; 6] = [
    "--rtt",
    "230ms",
    "--peak-rate",
    "100000",
    "--avg-datagram",
    "1400",
];

/// A host tree: /proc and /sys under a tempdir, healthy unless changed.
struct FakeHost {
    dir: tempfile::TempDir,
}

impl FakeHost {
    fn healthy() -> FakeHost {
        let h = FakeHost {
            dir: tempfile::tempdir().unwrap(),
        };
        for dev in ["all", "eth0", "lo"] {
            h.set(
                &format!("proc/sys/net/ipv4/conf/{dev}/force_igmp_version"),
                "2",
            );
            h.set(&format!("proc/sys/net/ipv4/conf/{dev}/rp_filter"), "2");
        }
        h.set("proc/sys/net/core/rmem_max", "16777216");
        h.set("proc/sys/net/core/wmem_max", "16777216");
        h.set(
            "proc/net/route",
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
             eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
             eth0\t0000000A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n",
        );
        h.set("sys/class/net/eth0/flags", "0x1003");
        h.set("sys/class/net/eth0/operstate", "up");
        h.set("sys/class/net/eth0/mtu", "8500");
        h.set("sys/class/net/lo/flags", "0x9");
        h.set("sys/class/net/lo/operstate", "unknown");
        h.set("sys/class/net/lo/mtu", "65536");
        h.set("sys/class/dmi/id/sys_vendor", "Amazon EC2");
        h.set("sys/class/dmi/id/product_name", "c6in.xlarge");
        // TCP buffers that hold 2 × BDP at 100,000 datagrams/s of 1400 bytes over 230 ms.
        h.set("proc/sys/net/ipv4/tcp_wmem", "4096\t16384\t67108864");
        h.set("proc/sys/net/ipv4/tcp_rmem", "4096\t131072\t67108864");
        h.set("proc/sys/net/ipv4/tcp_moderate_rcvbuf", "1");
        // Two CPUs that idle in nothing deeper than 2 µs, at full clock.
        h.set(
            "sys/devices/system/cpu/cpuidle/current_driver",
            "intel_idle",
        );
        for cpu in ["cpu0", "cpu1"] {
            h.cstate(cpu, 0, "POLL", 0);
            h.cstate(cpu, 1, "C1", 2);
            h.set(
                &format!("sys/devices/system/cpu/{cpu}/cpufreq/scaling_governor"),
                "performance",
            );
        }
        h.qos(&NO_LIMIT.to_ne_bytes());
        h
    }

    /// An enabled idle state of `cpu`, its exit latency in µs.
    fn cstate(&self, cpu: &str, n: u32, name: &str, latency: u32) {
        let d = format!("sys/devices/system/cpu/{cpu}/cpuidle/state{n}");
        self.set(&format!("{d}/name"), name);
        self.set(&format!("{d}/latency"), &latency.to_string());
        self.set(&format!("{d}/disable"), "0");
    }

    /// What /dev/cpu_dma_latency reads as: 4 bytes, a native-endian i32.
    fn qos(&self, bytes: &[u8]) {
        let p = self.dir.path().join("dev/cpu_dma_latency");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    fn set(&self, rel: &str, text: &str) {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, format!("{text}\n")).unwrap();
    }

    fn remove(&self, rel: &str) {
        std::fs::remove_file(self.dir.path().join(rel)).unwrap();
    }

    fn root(&self, which: &str) -> String {
        self.dir.path().join(which).display().to_string()
    }
}

/// How the fake metadata service behaves.
#[derive(Clone, Copy)]
enum Imds {
    /// IMDSv2: a token by PUT, the instance type only with that token.
    Answers(&'static str),
    /// Accepts connections and never answers.
    Silent,
}

/// A fake IMDS on 127.0.0.1, served until dropped.
struct FakeImds {
    url: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<String>>>,
}

const TOKEN: &str = "AQAEAFakeToken==";

impl FakeImds {
    fn start(how: Imds) -> FakeImds {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut held = Vec::new();
            let t0 = Instant::now();
            while !s2.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(30) {
                let Ok((mut c, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                c.set_nonblocking(false).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut buf = [0u8; 4096];
                let mut req = Vec::new();
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let req = String::from_utf8_lossy(&req).to_string();
                seen.push(req.lines().next().unwrap_or("").to_string());
                let Imds::Answers(kind) = how else {
                    held.push(c);
                    continue;
                };
                let has = |h: &str| req.to_ascii_lowercase().contains(&h.to_ascii_lowercase());
                let (code, body) = if req.starts_with("PUT /latest/api/token ")
                    && has("x-aws-ec2-metadata-token-ttl-seconds:")
                {
                    (200, TOKEN.to_string())
                } else if req.starts_with("GET /latest/meta-data/instance-type ") {
                    if has(&format!("x-aws-ec2-metadata-token: {TOKEN}")) {
                        (200, kind.to_string())
                    } else {
                        (401, String::new())
                    }
                } else {
                    (404, String::new())
                };
                let _ = write!(
                    c,
                    "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
            seen
        });
        FakeImds {
            url,
            stop,
            thread: Some(thread),
        }
    }

    /// Stop and return the request lines it saw.
    fn requests(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for FakeImds {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Run doctor on the fake host; returns the exit code, the checks by id, and
/// how long it took.
fn doctor(host: &FakeHost, imds: &str, extra: &[&str]) -> (i32, BTreeMap<String, Value>, Duration) {
    let t = Instant::now();
    let args: Vec<&str> = ["--json", "--iface", "eth0"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let out = run_doctor(host, imds, &args);
    let took = t.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let checks = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c.clone()))
        .collect();
    (out.status.code().unwrap(), checks, took)
}

/// Run doctor on the fake host with `args` (after `doctor`), text or JSON as asked.
fn run_doctor(host: &FakeHost, imds: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("doctor")
        .args(args)
        .args(["--imds-url", imds])
        .args([
            "--proc-root",
            &host.root("proc"),
            "--sys-root",
            &host.root("sys"),
            "--dev-root",
            &host.root("dev"),
        ])
        .env_remove("MCAST_RELAY_DOCTOR_IFACE")
        .output()
        .unwrap()
}

fn status(checks: &BTreeMap<String, Value>, id: &str) -> String {
    checks
        .get(id)
        .unwrap_or_else(|| panic!("no check {id}: {checks:?}"))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// An address nothing listens on: connections are refused at once.
fn closed_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    format!("http://{a}")
}

#[test]
fn a_healthy_nitro_host_passes_every_check_over_imdsv2() {
    let host = FakeHost::healthy();
    let imds = FakeImds::start(Imds::Answers("c6in.xlarge"));
    let (code, checks, _) = doctor(&host, &imds.url.clone(), &PEAK);
    for (id, c) in &checks {
        assert_eq!(c["status"], "pass", "{id}: {c}");
        assert!(c.get("fix").is_none(), "{id}: a pass has no fix");
    }
    for id in [
        "interface",
        "igmp-all",
        "igmp-iface",
        "multicast-route",
        "rp-filter",
        "rmem-max",
        "wmem-max",
        "tcp-buffer",
        "mtu",
        "ttl",
        "ec2-nitro",
        "cpuidle",
        "pm-qos",
        "cpufreq",
    ] {
        assert!(checks.contains_key(id), "no {id}");
    }
    assert_eq!(code, 0);
    assert!(
        checks["ec2-nitro"]["detail"]
            .as_str()
            .unwrap()
            .contains("c6in.xlarge")
    );
    // IMDSv2: the token first, then the instance type with it.
    let reqs = imds.requests();
    assert!(reqs[0].starts_with("PUT /latest/api/token"), "{reqs:?}");
    assert!(
        reqs[1].starts_with("GET /latest/meta-data/instance-type"),
        "{reqs:?}"
    );
}

#[test]
fn igmp_version_checks_all_and_the_interface() {
    let imds = FakeImds::start(Imds::Answers("c6in.xlarge"));
    let host = FakeHost::healthy();
    host.set("proc/sys/net/ipv4/conf/all/force_igmp_version", "0");
    host.set("proc/sys/net/ipv4/conf/eth0/force_igmp_version", "0");
    let (code, c, _) = doctor(&host, &imds.url, &[]);
    assert_eq!(status(&c, "igmp-all"), "fail");
    assert_eq!(status(&c, "igmp-iface"), "fail");
    assert!(
        c["igmp-all"]["fix"]
            .as_str()
            .unwrap()
            .contains("sysctl -w net.ipv4.conf.all.force_igmp_version=2")
    );
    assert!(
        c["igmp-iface"]["fix"]
            .as_str()
            .unwrap()
            .contains("net.ipv4.conf.eth0.")
    );
    assert_eq!(code, 4, "a failed check exits 4");

    // `all` = 2 forces v2 on every interface: the interface's 0 is only a warning.
    host.set("proc/sys/net/ipv4/conf/all/force_igmp_version", "2");
    let (code, c, _) = doctor(&host, &imds.url, &[]);
    assert_eq!(status(&c, "igmp-all"), "pass");
    assert_eq!(status(&c, "igmp-iface"), "warn");
    assert_eq!(code, 0, "warnings alone exit 0");

    // 1 anywhere means IGMPv1.
    host.set("proc/sys/net/ipv4/conf/eth0/force_igmp_version", "1");
    let (_, c, _) = doctor(&host, &imds.url, &[]);
    assert_eq!(status(&c, "igmp-iface"), "fail");
    assert_eq!(
        status(&c, "igmp-all"),
        "fail",
        "the interface's 1 wins over all=2"
    );
}

#[test]
fn interface_flags_routes_rp_filter_and_buffers() {
    let imds = FakeImds::start(Imds::Answers("c6in.xlarge"));
    let host = FakeHost::healthy();
    host.set("sys/class/net/eth0/flags", "0x1002");
    let (code, c, _) = doctor(&host, &imds.url, &[]);
    assert_eq!(status(&c, "interface"), "fail");
    assert!(
        c["interface"]["fix"]
            .as_str()
            .unwrap()
            .contains("ip link set dev eth0 up")
    );
    assert_eq!(code, 4, "a failed check exits 4");
    host.set("sys/class/net/eth0/flags", "0x1003");
    host.set("sys/class/net/eth0/operstate", "down");
    let (_, c, _) = doctor(&host, &imds.url, &[]);
    assert_eq!(status(&c, "interface"), "fail", "no carrier");
    host.set("sys/class/net/eth0/operstate", "up");
    host.set("sys/class/net/eth0/flags", "0x3");
    let (_, c, _) = doctor(&host, &imds.url, &[]);
    assert_eq!(status(&c, "interface"), "fail");
    assert!(
        c["interface"]["fix"]
            .as_str()
            .unwrap()
            .contains("multicast on")
    );
    host.set("sys/class/net/eth0/flags", "0x1003");

    // Routes: a 224.0.0.0/4 route on another interface wins over the default.
    host.set(
        "proc/net/route",
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
         eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
         eth1\t000000E0\t00000000\t0001\t0\t0\t0\t000000F0\t0\t0\t0\n",
    );
    let (_, c, _) = doctor(&host, &imds.url, &[]);
    assert_eq!(status(&c, "multicast-route"), "warn");
    assert!(
        c["multicast-route"]["detail"]
            .as_str()
            .unwrap()
            .contains("eth1")
    );
    assert_eq!(
        c["multicast-route"]["fix"],
        "ip route add 224.0.0.0/4 dev eth0"
    );
    host.set(
        "proc/net/route",
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
         eth0\t0000000A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n",
    );
    let (code, c, _) = doctor(&host, &imds.url, &[]);
    assert_eq!(status(&c, "multicast-route"), "fail", "no route at all");
    assert_eq!(code, 4, "a failed check exits 4");
    host.set(
        "proc/net/route",
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
         eth0\t000000E0\t00000000\t0001\t0\t0\t0\t000000F0\t0\t0\t0\n",
    );
    let (_, c, _) = doctor(&host, &imds.url, &[]);
    assert_eq!(status(&c, "multicast-route"), "pass");

    // Reverse-path filtering: the kernel uses the larger of all and the interface.
    host.set("proc/sys/net/ipv4/conf/all/rp_filter", "1");
    let (_, c, _) = doctor(&host, &imds.url, &[]);
    assert_eq!(status(&c, "rp-filter"), "pass", "all=1, eth0=2: loose");
    host.set("proc/sys/net/ipv4/conf/eth0/rp_filter", "0");
    let (_, c, _) = doctor(&host, &imds.url, &[]);
    assert_eq!(status(&c, "rp-filter"), "warn", "all=1, eth0=0: strict");
    assert!(
        c["rp-filter"]["fix"]
            .as_str()
            .unwrap()
            .contains("rp_filter=2")
    );
    host.set("proc/sys/net/ipv4/conf/all/rp_filter", "0");
    let (_, c, _) = doctor(&host, &imds.url, &[]);
    assert_eq!(status(&c, "rp-filter"), "pass");

    // Socket buffer caps against the 8 MiB the relay asks for.
    host.set("proc/sys/net/core/rmem_max", "212992");
    let (_, c, _) = doctor(&host, &imds.url, &[]);
    assert_eq!(status(&c, "rmem-max"), "warn");
    assert_eq!(status(&c, "wmem-max"), "pass");
    assert!(
        c["rmem-max"]["fix"]
            .as_str()
            .unwrap()
            .contains("net.core.rmem_max=8388608")
    );
    let (_, c, _) = doctor(&host, &imds.url, &["--buffer", "200000"]);
    assert_eq!(status(&c, "rmem-max"), "pass", "a relay that asks for less");
}

#[test]
fn mtu_against_the_transit_gateway_and_fragmentation_and_ttl() {
    let imds = FakeImds::start(Imds::Answers("c6in.xlarge"));
    let host = FakeHost::healthy();
    host.set("sys/class/net/eth0/mtu", "9001");
    let (code, c, _) = doctor(&host, &imds.url, &[]);
    assert_eq!(status(&c, "mtu"), "warn", "{:?}", c["mtu"]);
    assert!(c["mtu"]["fix"].as_str().unwrap().contains("mtu 8500"));
    assert_eq!(code, 0);
    host.set("sys/class/net/eth0/mtu", "1500");
    let (_, c, _) = doctor(&host, &imds.url, &[]);
    assert_eq!(status(&c, "mtu"), "pass", "1472-byte datagrams fit 1500");
    let (code, c, _) = doctor(&host, &imds.url, &["--max-datagram", "4000"]);
    assert_eq!(status(&c, "mtu"), "fail", "4000 bytes would be fragmented");
    assert_eq!(code, 4, "a failed check exits 4");
    host.set("sys/class/net/eth0/mtu", "9001");
    let (_, c, _) = doctor(&host, &imds.url, &["--max-datagram", "8473"]);
    assert_eq!(
        status(&c, "mtu"),
        "fail",
        "8473 + 28 is over the TGW's 8500"
    );
    let (_, c, _) = doctor(&host, &imds.url, &["--max-datagram", "8472"]);
    assert_eq!(status(&c, "mtu"), "warn");

    let (code, c, _) = doctor(&host, &imds.url, &["--ttl", "1"]);
    assert_eq!(status(&c, "ttl"), "fail");
    assert_eq!(code, 4, "a failed check exits 4");
    let (_, c, _) = doctor(&host, &imds.url, &["--ttl", "2"]);
    assert_eq!(status(&c, "ttl"), "pass");
}

#[test]
fn a_xen_instance_fails() {
    let host = FakeHost::healthy();
    let imds = FakeImds::start(Imds::Answers("m4.large"));
    let (code, c, _) = doctor(&host, &imds.url, &[]);
    assert_eq!(status(&c, "ec2-nitro"), "fail");
    assert!(
        c["ec2-nitro"]["detail"]
            .as_str()
            .unwrap()
            .contains("m4.large")
    );
    assert_eq!(code, 4, "a failed check exits 4");
}

#[test]
fn a_metadata_service_that_never_answers_is_given_up_within_a_second() {
    let host = FakeHost::healthy();
    let imds = FakeImds::start(Imds::Silent);
    let (code, c, took) = doctor(&host, &imds.url, &[]);
    assert_eq!(status(&c, "ec2-nitro"), "warn");
    let detail = c["ec2-nitro"]["detail"].as_str().unwrap();
    assert!(detail.contains("no answer within 1000 ms"), "{detail}");
    // DMI says EC2: the fix is about reaching IMDS from where doctor runs.
    assert!(
        c["ec2-nitro"]["fix"]
            .as_str()
            .unwrap()
            .contains("hop-limit")
    );
    assert!(took < Duration::from_millis(1900), "took {took:?}");
    assert!(
        took >= Duration::from_millis(900),
        "took {took:?}: did it wait at all?"
    );
    assert_eq!(code, 0, "not knowing is a warning");
    assert!(!imds.requests().is_empty(), "doctor did ask the fake");

    // Off EC2 altogether: no DMI vendor, nothing listening.
    host.remove("sys/class/dmi/id/sys_vendor");
    let (_, c, took) = doctor(&host, &closed_port_url(), &[]);
    assert_eq!(status(&c, "ec2-nitro"), "warn");
    assert!(
        c["ec2-nitro"]["fix"]
            .as_str()
            .unwrap()
            .contains("datacenter")
    );
    assert!(took < Duration::from_millis(1900));
}

#[test]
fn an_unknown_interface_fails_and_text_output_names_each_fix() {
    let host = FakeHost::healthy();
    let imds = closed_port_url();
    let out = run_doctor(&host, &imds, &["--iface", "eth9"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(text.contains("FAIL  interface"), "{text}");
    assert!(text.contains("eth9"), "{text}");
    // Text mode: every warn/fail line is followed by its fix.
    host.set("sys/class/net/eth0/mtu", "9001");
    let out = run_doctor(&host, &imds, &["--iface", "eth0"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let mut warned = 0;
    for (i, l) in lines.iter().enumerate() {
        if l.trim_start().starts_with("WARN") || l.trim_start().starts_with("FAIL") {
            warned += 1;
            assert!(lines[i + 1].contains("fix: "), "{l} has no fix:\n{text}");
        }
    }
    assert!(warned >= 2, "{text}");
    assert!(text.contains("WARN  mtu"), "{text}");
    assert!(
        text.lines().last().unwrap().starts_with("doctor: "),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
}

#[test]
fn the_fake_tree_is_what_doctor_reads() {
    // Guard against a test passing by reading the real host: a tree with
    // every file missing must not pass the sysctl checks.
    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(empty.path().join("sys/class/net/eth0")).unwrap();
    let out = Command::new(BIN)
        .args([
            "doctor",
            "--json",
            "--iface",
            "eth0",
            "--imds-url",
            &closed_port_url(),
        ])
        .arg("--proc-root")
        .arg(empty.path().join("proc"))
        .arg("--sys-root")
        .arg(empty.path().join("sys"))
        .arg("--dev-root")
        .arg(empty.path().join("dev"))
        .args(PEAK)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_id = |id: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(by_id("igmp-all"), "fail");
    assert_eq!(by_id("interface"), "fail");
    assert_eq!(by_id("rmem-max"), "warn");
    assert_eq!(by_id("tcp-buffer"), "warn", "no tcp_rmem to read");
    assert_eq!(by_id("cpuidle"), "skip", "no cpuidle driver to read");
    assert_eq!(by_id("pm-qos"), "skip", "no /dev/cpu_dma_latency to read");
    assert_eq!(by_id("cpufreq"), "skip", "no governor to read");
    assert_eq!(
        by_id("multicast-route"),
        "warn",
        "no /proc/net/route to read"
    );
}

/// A datacenter host as docs/DEPLOY.md section 5 leaves it: IGMP at the
/// kernel's default (v3, for source-specific joins), a jumbo MTU, not EC2.
fn datacenter_host() -> FakeHost {
    let host = FakeHost::healthy();
    for dev in ["all", "eth0"] {
        host.set(
            &format!("proc/sys/net/ipv4/conf/{dev}/force_igmp_version"),
            "0",
        );
    }
    host.set("sys/class/net/eth0/mtu", "9000");
    host.remove("sys/class/dmi/id/sys_vendor");
    host.remove("sys/class/dmi/id/product_name");
    host
}

#[test]
fn role_ingress_skips_what_the_datacenter_host_does_not_need() {
    let host = datacenter_host();
    let imds = closed_port_url();
    // Without a role, doctor checks it as an AWS egress host: IGMPv3 fails.
    let (code, c, _) = doctor(&host, &imds, &[]);
    assert_eq!(status(&c, "igmp-all"), "fail");
    assert_eq!(code, 4, "a failed check exits 4");

    let (code, c, _) = doctor(&host, &imds, &["--role", "ingress", "--ttl", "1"]);
    assert_eq!(code, 0, "nothing fails on a datacenter host: {c:?}");
    for id in ["igmp-all", "igmp-iface", "ttl", "ec2-nitro"] {
        assert_eq!(status(&c, id), "skip", "{id}: {:?}", c[id]);
        let detail = c[id]["detail"].as_str().unwrap();
        assert!(detail.contains("role ingress"), "{id} says why: {detail}");
        assert!(c[id].get("fix").is_none(), "{id}: a skip has no fix");
    }
    assert!(
        c["igmp-all"]["detail"]
            .as_str()
            .unwrap()
            .contains("exchange's routers")
    );
    // What still applies there: the feed interface, routes, rp_filter, buffers, fragmentation.
    for id in [
        "interface",
        "multicast-route",
        "rp-filter",
        "rmem-max",
        "wmem-max",
        "mtu",
    ] {
        assert_eq!(status(&c, id), "pass", "{id}: {:?}", c[id]);
    }
    let (code, c, _) = doctor(
        &host,
        &imds,
        &["--role", "ingress", "--max-datagram", "9000"],
    );
    assert_eq!(status(&c, "mtu"), "fail", "9000 + 28 does not fit 9000");
    assert_eq!(code, 4, "a failed check exits 4");
    // rp_filter strict still warns: the exchange's sources must pass it.
    for dev in ["all", "eth0"] {
        host.set(&format!("proc/sys/net/ipv4/conf/{dev}/rp_filter"), "1");
    }
    let (_, c, _) = doctor(&host, &imds, &["--role", "ingress"]);
    assert_eq!(status(&c, "rp-filter"), "warn");
}

#[test]
fn role_receiver_checks_igmp_and_nitro_but_not_ttl_or_an_mtu_above_8500() {
    let imds = FakeImds::start(Imds::Answers("c6in.xlarge"));
    let host = FakeHost::healthy();
    host.set("sys/class/net/eth0/mtu", "9001");
    let args = ["--role", "receiver", "--ttl", "1"];
    let (code, c, _) = doctor(&host, &imds.url, &args);
    assert_eq!(code, 0, "{c:?}");
    assert_eq!(status(&c, "ttl"), "skip");
    assert!(
        c["ttl"]["detail"]
            .as_str()
            .unwrap()
            .contains("sends no multicast")
    );
    assert_eq!(
        status(&c, "mtu"),
        "pass",
        "EC2's 9001 is fine for a receiver"
    );
    assert_eq!(status(&c, "igmp-all"), "pass");
    assert_eq!(status(&c, "ec2-nitro"), "pass");
    // The same host as an egress: the MTU warns and TTL 1 fails.
    let (code, c, _) = doctor(&host, &imds.url, &["--role", "egress", "--ttl", "1"]);
    assert_eq!(status(&c, "mtu"), "warn");
    assert_eq!(status(&c, "ttl"), "fail");
    assert_eq!(code, 4, "a failed check exits 4");
    // A receiver still needs IGMPv2 and Nitro.
    host.set("proc/sys/net/ipv4/conf/all/force_igmp_version", "0");
    host.set("proc/sys/net/ipv4/conf/eth0/force_igmp_version", "0");
    let (code, c, _) = doctor(&host, &imds.url, &args);
    assert_eq!(status(&c, "igmp-all"), "fail");
    assert_eq!(code, 4, "a failed check exits 4");
    drop(imds);
    let xen = FakeImds::start(Imds::Answers("m4.large"));
    let (_, c, _) = doctor(&host, &xen.url, &args);
    assert_eq!(status(&c, "ec2-nitro"), "fail");
    // Datagrams the Transit Gateway drops never reach a receiver either.
    let (_, c, _) = doctor(
        &host,
        &xen.url,
        &["--role", "receiver", "--max-datagram", "8473"],
    );
    assert_eq!(status(&c, "mtu"), "fail");
}

#[test]
fn the_default_role_is_egress_and_the_output_names_the_role() {
    let host = datacenter_host();
    let imds = closed_port_url();
    let json = |args: &[&str]| -> Value {
        serde_json::from_slice(&run_doctor(&host, &imds, args).stdout).unwrap()
    };
    let v = json(&[&["--json", "--iface", "eth0"][..], &PEAK].concat());
    assert_eq!(v["role"], "egress");
    assert_eq!(v["skip"], 0, "egress checks everything: {v}");
    let v = json(
        &[
            &["--json", "--iface", "eth0", "--role", "ingress"][..],
            &PEAK,
        ]
        .concat(),
    );
    assert_eq!(v["role"], "ingress");
    assert_eq!(v["skip"], 4, "{v}");
    assert_eq!(v["fail"], 0, "{v}");

    let out = run_doctor(
        &host,
        &imds,
        &[&["--role", "ingress", "--iface", "eth0"][..], &PEAK].concat(),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("mcast-relay doctor: interface eth0, role ingress"),
        "{text}"
    );
    assert!(text.contains("SKIP  igmp-all"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.trim_start().starts_with("SKIP") {
            assert!(
                !lines[i + 1].contains("fix: "),
                "a skip has no fix:\n{text}"
            );
        }
    }
    assert!(lines.last().unwrap().ends_with(", 4 skipped"), "{text}");
    assert_eq!(out.status.code(), Some(0), "{text}");

    let help = Command::new(BIN)
        .args(["doctor", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--role <ROLE>"), "{help}");
    assert!(help.contains("[default: egress]"), "{help}");
    assert!(help.contains("--role ingress --iface feed0"), "{help}");
}

fn text(checks: &BTreeMap<String, Value>, id: &str, field: &str) -> String {
    checks[id][field].as_str().unwrap_or("").to_string()
}

#[test]
fn tcp_buffers_against_twice_the_bandwidth_delay_product() {
    let host = FakeHost::healthy();
    let imds = closed_port_url();
    // 2 × 100,000/s × (1400 + 33) B × 0.23 s = 65,918,000, rounded up to 4 KiB.
    let need = "65921024";

    // Without a round trip and a rate there is nothing to size it against.
    let (code, c, _) = doctor(&host, &imds, &[]);
    assert_eq!(status(&c, "tcp-buffer"), "skip");
    assert!(text(&c, "tcp-buffer", "detail").contains("--rtt"));
    assert_eq!(code, 0);
    let (_, c, _) = doctor(&host, &imds, &["--rtt", "230ms"]);
    assert_eq!(status(&c, "tcp-buffer"), "skip", "--peak-rate too");

    // The egress receives: tcp_rmem's max is the one that counts.
    let (_, c, _) = doctor(&host, &imds, &PEAK);
    assert_eq!(status(&c, "tcp-buffer"), "pass", "{:?}", c["tcp-buffer"]);
    let detail = text(&c, "tcp-buffer", "detail");
    assert!(
        detail.contains("net.ipv4.tcp_rmem max = 67108864"),
        "{detail}"
    );
    assert!(detail.contains(need), "{detail}");
    // An explicit SO_RCVBUF would be capped at the 16 MiB rmem_max: said, not failed.
    assert!(detail.contains("SO_RCVBUF"), "{detail}");
    host.set("proc/sys/net/ipv4/tcp_rmem", "4096 131072 6291456");
    let (code, c, _) = doctor(&host, &imds, &PEAK);
    assert_eq!(status(&c, "tcp-buffer"), "warn");
    let fix = text(&c, "tcp-buffer", "fix");
    assert!(
        fix.contains(&format!(
            "sysctl -w net.ipv4.tcp_rmem=\"4096 131072 {need}\""
        )),
        "{fix}"
    );
    assert!(fix.contains("/etc/sysctl.d/"), "{fix}");
    assert!(fix.contains(&format!("net.core.rmem_max={need}")), "{fix}");
    assert_eq!(code, 0, "a small buffer is a warning");
    // A feed a twentieth as fast needs 3,297,280: 6 MiB holds it.
    let slow = [
        "--rtt",
        "230ms",
        "--peak-rate",
        "5000",
        "--avg-datagram",
        "1400",
    ];
    let (_, c, _) = doctor(&host, &imds, &slow);
    assert_eq!(status(&c, "tcp-buffer"), "pass", "{:?}", c["tcp-buffer"]);
    // Without receive autotuning the default (128 KiB) is all there is.
    host.set("proc/sys/net/ipv4/tcp_moderate_rcvbuf", "0");
    let (_, c, _) = doctor(&host, &imds, &slow);
    assert_eq!(status(&c, "tcp-buffer"), "warn");
    assert!(text(&c, "tcp-buffer", "fix").contains("tcp_moderate_rcvbuf=1"));

    // The ingress sends: tcp_wmem. Without --avg-datagram, --max-datagram's
    // 1472: 2 × 100,000 × 1505 × 0.23 = 69,230,000 -> 69,230,592.
    host.set("proc/sys/net/ipv4/tcp_wmem", "4096 16384 4194304");
    let args = [
        "--role",
        "ingress",
        "--rtt",
        "230ms",
        "--peak-rate",
        "100000",
    ];
    let (code, c, _) = doctor(&host, &imds, &args);
    assert_eq!(status(&c, "tcp-buffer"), "warn", "{:?}", c["tcp-buffer"]);
    assert!(text(&c, "tcp-buffer", "detail").contains("net.ipv4.tcp_wmem max = 4194304"));
    let fix = text(&c, "tcp-buffer", "fix");
    assert!(
        fix.contains("sysctl -w net.ipv4.tcp_wmem=\"4096 16384 69230592\""),
        "{fix}"
    );
    assert_eq!(code, 0);
    host.set("proc/sys/net/ipv4/tcp_wmem", "4096 16384 69230592");
    let (_, c, _) = doctor(&host, &imds, &args);
    assert_eq!(status(&c, "tcp-buffer"), "pass", "{:?}", c["tcp-buffer"]);
    let detail = text(&c, "tcp-buffer", "detail");
    assert!(
        detail.contains("SO_SNDBUF"),
        "wmem_max's cap is named: {detail}"
    );

    // A receiver has no relay TCP connection.
    let (_, c, _) = doctor(&host, &imds, &[&["--role", "receiver"][..], &PEAK].concat());
    assert_eq!(status(&c, "tcp-buffer"), "skip");
    assert!(text(&c, "tcp-buffer", "detail").contains("role receiver"));

    // A round trip that does not read is a usage error.
    let out = run_doctor(&host, &imds, &["--rtt", "soon", "--peak-rate", "1"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn deep_c_states_pm_qos_and_the_governor_warn_at_most() {
    let host = FakeHost::healthy();
    let imds = closed_port_url();
    let (_, c, _) = doctor(&host, &imds, &[]);
    for id in ["cpuidle", "pm-qos", "cpufreq"] {
        assert_eq!(status(&c, id), "pass", "{id}: {:?}", c[id]);
    }
    assert!(text(&c, "cpuidle", "detail").contains("intel_idle"));

    // C6 (133 µs) enabled on both CPUs, nothing holding a limit.
    for cpu in ["cpu0", "cpu1"] {
        host.cstate(cpu, 2, "C6", 133);
    }
    let (code, c, _) = doctor(&host, &imds, &[]);
    assert_eq!(status(&c, "cpuidle"), "warn", "{:?}", c["cpuidle"]);
    let detail = text(&c, "cpuidle", "detail");
    assert!(detail.contains("C6 133 µs on 2 of 2 CPUs"), "{detail}");
    assert!(detail.contains("shared host"), "{detail}");
    assert!(text(&c, "cpuidle", "fix").contains("tuned-adm profile latency-performance"));
    assert_eq!(status(&c, "pm-qos"), "warn", "{:?}", c["pm-qos"]);
    assert!(text(&c, "pm-qos", "detail").contains("no limit"));
    let fix = text(&c, "pm-qos", "fix");
    assert!(
        fix.contains("tuned-adm profile latency-performance"),
        "{fix}"
    );
    assert!(
        fix.contains("run the relay with --cpu-dma-latency-us 0"),
        "{fix}"
    );
    assert_eq!(code, 0, "never a failure");

    // A limit below C6's latency keeps cores out of it: both pass.
    host.qos(&0i32.to_ne_bytes());
    let (_, c, _) = doctor(&host, &imds, &[]);
    assert_eq!(status(&c, "cpuidle"), "pass", "{:?}", c["cpuidle"]);
    assert!(text(&c, "cpuidle", "detail").contains("PM QoS limit of 0 µs"));
    assert_eq!(status(&c, "pm-qos"), "pass");
    // A limit of C6's own latency does not.
    host.qos(&133i32.to_ne_bytes());
    let (_, c, _) = doctor(&host, &imds, &[]);
    assert_eq!(status(&c, "cpuidle"), "warn");
    assert_eq!(status(&c, "pm-qos"), "warn");

    // Disabled on one CPU: still enabled on the other.
    host.qos(&NO_LIMIT.to_ne_bytes());
    host.set("sys/devices/system/cpu/cpu0/cpuidle/state2/disable", "1");
    let (_, c, _) = doctor(&host, &imds, &[]);
    assert!(text(&c, "cpuidle", "detail").contains("C6 133 µs on 1 of 2 CPUs"));
    host.set("sys/devices/system/cpu/cpu1/cpuidle/state2/disable", "1");
    let (_, c, _) = doctor(&host, &imds, &[]);
    assert_eq!(status(&c, "cpuidle"), "pass", "{:?}", c["cpuidle"]);
    assert_eq!(status(&c, "pm-qos"), "pass", "no limit needed");

    // The device that does not read as 4 bytes, or is not there: skip.
    host.qos(&[0, 0]);
    let (_, c, _) = doctor(&host, &imds, &[]);
    assert_eq!(status(&c, "pm-qos"), "skip");
    host.remove("dev/cpu_dma_latency");
    let (_, c, _) = doctor(&host, &imds, &[]);
    assert_eq!(status(&c, "pm-qos"), "skip");
    host.remove("sys/devices/system/cpu/cpuidle/current_driver");
    let (_, c, _) = doctor(&host, &imds, &[]);
    assert_eq!(status(&c, "cpuidle"), "skip");

    // The governor: powersave on one CPU warns; none at all (a VM) skips.
    host.set(
        "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
        "powersave",
    );
    let (code, c, _) = doctor(&host, &imds, &[]);
    assert_eq!(status(&c, "cpufreq"), "warn");
    assert!(text(&c, "cpufreq", "detail").contains("powersave on 1 of 2 CPUs"));
    assert!(text(&c, "cpufreq", "fix").contains("cpupower frequency-set -g performance"));
    assert_eq!(code, 0);
    for cpu in ["cpu0", "cpu1"] {
        host.remove(&format!(
            "sys/devices/system/cpu/{cpu}/cpufreq/scaling_governor"
        ));
    }
    let (_, c, _) = doctor(&host, &imds, &[]);
    assert_eq!(status(&c, "cpufreq"), "skip");
}
