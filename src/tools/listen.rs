//! `listen`: join groups and tell what arrived: counts per group, gaps,
//! duplicates, reordering and one-way latency from the test header.

use std::collections::BTreeMap;
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use nix::poll::PollFlags;
use serde::Serialize;

use crate::feeds::seq::SeqTracker;
use crate::feeds::testhdr;
use crate::net::addr::GroupPort;
use crate::net::batch::RecvBatch;
use crate::net::mcast::{self, Iface, Membership};

#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "Example:\n  mcast-relay listen --group 239.255.0.1:5001 --duration 10s --json"
)]
pub struct ListenArgs {
    /// Group to join, GROUP:PORT; repeat for several.
    #[arg(long = "group", required = true, value_name = "GROUP:PORT")]
    pub groups: Vec<GroupPort>,
    /// Join source-specific: only datagrams from this sender.
    #[arg(long)]
    pub source: Option<std::net::Ipv4Addr>,
    /// Interface to join on: a name or an IPv4 address. The loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1", env = "MCAST_RELAY_IFACE")]
    pub iface: String,
    /// Stop after this long (default: until Ctrl-C, --expect or --idle).
    #[arg(long, value_parser = super::parse_duration)]
    pub duration: Option<Duration>,
    /// Exit non-zero unless this many distinct datagrams arrived; stop soon after they did.
    #[arg(long)]
    pub expect: Option<u64>,
    /// Stop when nothing arrived for this long after the first datagram.
    #[arg(long, value_parser = super::parse_duration)]
    pub idle: Option<Duration>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// No line a second.
    #[arg(long, short)]
    pub quiet: bool,
    /// Receive socket buffer, bytes.
    #[arg(long, default_value_t = 8 << 20)]
    pub rcvbuf: usize,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub samples: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    pub group: String,
    pub packets: u64,
    pub bytes: u64,
    pub gaps: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub untagged: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListenReport {
    /// Datagrams received, duplicates included.
    pub packets: u64,
    /// Distinct datagrams (by test-header sequence), plus those without a header.
    pub unique: u64,
    pub bytes: u64,
    /// Datagrams missing from the sequences at the end.
    pub gaps: u64,
    pub duplicates: u64,
    pub reordered: u64,
    /// Datagrams without a test header (counted, not sequenced).
    pub untagged: u64,
    pub latency_us: Latency,
    pub duration_s: f64,
    pub groups: Vec<GroupReport>,
}

#[derive(Default)]
struct PerGroup {
    packets: u64,
    bytes: u64,
    untagged: u64,
    seq: SeqTracker,
}

/// Counters others may read while a listen runs.
#[derive(Default)]
pub struct Live {
    pub packets: AtomicU64,
    pub unique: AtomicU64,
}

/// Join and count until told to stop (by `stop`, the duration, `--expect` or `--idle`).
pub fn run(a: &ListenArgs, stop: &AtomicBool, live: &Live) -> std::io::Result<ListenReport> {
    let iface = Iface::resolve(&a.iface)?;
    let how = a
        .source
        .map_or(Membership::AnySource, Membership::SourceSpecific);
    let socks: Vec<(UdpSocket, u16)> = mcast::receivers(&a.groups, &iface, how, a.rcvbuf)?
        .into_iter()
        .map(|(s, p, _)| (s, p))
        .collect();
    let mut per: BTreeMap<SocketAddrV4, PerGroup> = a
        .groups
        .iter()
        .map(|g| (g.0, PerGroup::default()))
        .collect();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds");
    let mut batch = RecvBatch::new(64, 65_536);
    let start = Instant::now();
    let (mut last_rx, mut expect_met) = (None::<Instant>, None::<Instant>);
    let mut next_line = start + Duration::from_secs(1);
    let (mut packets, mut last_packets) = (0u64, 0u64);
    loop {
        let now = Instant::now();
        if stop.load(Ordering::Relaxed)
            || a.duration.is_some_and(|d| now - start >= d)
            || a.idle.zip(last_rx).is_some_and(|(i, t)| now - t >= i)
            || expect_met.is_some_and(|t| now - t >= Duration::from_millis(300))
        {
            break;
        }
        if !a.quiet && now >= next_line {
            let gaps: u64 = per.values().map(|p| p.seq.missing).sum();
            eprintln!(
                "{:>5.1}s  {:>9} datagrams  {:>8} /s  gaps {}  p99 {:.0} us",
                (now - start).as_secs_f64(),
                packets,
                packets - last_packets,
                gaps,
                hist.value_at_quantile(0.99) as f64 / 1e3
            );
            last_packets = packets;
            next_line += Duration::from_secs(1);
        }
        let ready = super::wait(
            &socks.iter().map(|s| s.0.as_fd()).collect::<Vec<_>>(),
            PollFlags::POLLIN,
            Duration::from_millis(50),
        )?;
        for (i, (s, port)) in socks.iter().enumerate() {
            if !ready[i] {
                continue;
            }
            loop {
                let n = match batch.recv(s.as_fd()) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                };
                let fallback = crate::clock::now_ns();
                for j in 0..n {
                    let (m, payload) = batch.get(j);
                    let Some(dst) = m.dst else { continue };
                    let Some(g) = per.get_mut(&SocketAddrV4::new(dst, *port)) else {
                        continue;
                    };
                    packets += 1;
                    g.packets += 1;
                    g.bytes += payload.len() as u64;
                    match testhdr::parse(payload) {
                        Some((seq, sent)) => {
                            g.seq.on(seq);
                            let at = m.kernel_ns.unwrap_or(fallback);
                            let _ = hist.record(at.saturating_sub(sent).max(1));
                        }
                        None => g.untagged += 1,
                    }
                }
                last_rx = Some(Instant::now());
                if n < batch.capacity() {
                    break;
                }
            }
        }
        let unique: u64 = per.values().map(|p| p.seq.unique + p.untagged).sum();
        live.packets.store(packets, Ordering::Relaxed);
        live.unique.store(unique, Ordering::Relaxed);
        if expect_met.is_none() && a.expect.is_some_and(|e| unique >= e) {
            expect_met = Some(Instant::now());
        }
    }
    let q = |x: f64| hist.value_at_quantile(x) as f64 / 1e3;
    let groups: Vec<GroupReport> = per
        .iter()
        .map(|(g, p)| GroupReport {
            group: g.to_string(),
            packets: p.packets,
            bytes: p.bytes,
            gaps: p.seq.missing,
            duplicates: p.seq.duplicates,
            reordered: p.seq.reordered,
            untagged: p.untagged,
        })
        .collect();
    Ok(ListenReport {
        packets,
        unique: per.values().map(|p| p.seq.unique + p.untagged).sum(),
        bytes: groups.iter().map(|g| g.bytes).sum(),
        gaps: groups.iter().map(|g| g.gaps).sum(),
        duplicates: groups.iter().map(|g| g.duplicates).sum(),
        reordered: groups.iter().map(|g| g.reordered).sum(),
        untagged: groups.iter().map(|g| g.untagged).sum(),
        latency_us: Latency {
            p50: q(0.5),
            p99: q(0.99),
            p999: q(0.999),
            max: hist.max() as f64 / 1e3,
            samples: hist.len(),
        },
        duration_s: start.elapsed().as_secs_f64(),
        groups,
    })
}

impl ListenReport {
    /// The summary for a terminal.
    pub fn text(&self) -> String {
        let mut s = format!(
            "received {} datagrams ({} distinct, {} bytes) in {:.1} s\n\
             gaps {}  duplicates {}  reordered {}  without test header {}\n\
             latency us: p50 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  ({} samples)\n",
            self.packets,
            self.unique,
            self.bytes,
            self.duration_s,
            self.gaps,
            self.duplicates,
            self.reordered,
            self.untagged,
            self.latency_us.p50,
            self.latency_us.p99,
            self.latency_us.p999,
            self.latency_us.max,
            self.latency_us.samples
        );
        for g in &self.groups {
            s += &format!(
                "  {:<22} {:>9} datagrams {:>11} bytes  gaps {} dup {} reord {}\n",
                g.group, g.packets, g.bytes, g.gaps, g.duplicates, g.reordered
            );
        }
        s
    }
}
