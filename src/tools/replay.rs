//! `replay`: re-send the UDP payloads of a pcap/pcapng capture to their groups
//! (or remapped ones), at the original pace, scaled, or as fast as possible.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::feeds::pcap;
use crate::net::addr::{MapRule, remap};
use crate::net::batch::SendBatch;
use crate::net::mcast::{self, Iface};

#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "Example:\n  mcast-relay replay capture.pcapng --map 239.111.111.0/24=239.255.111.0/24 --speed 2\n\n\
    Environment: MCAST_RELAY_REPLAY_IFACE (--iface), read by replay alone; the relays' MCAST_RELAY_IFACE is not."
)]
pub struct ReplayArgs {
    /// A pcap or pcapng file (Ethernet, Linux cooked or raw IP; IPv4 UDP).
    pub file: PathBuf,
    /// Interface to send from: a name or an IPv4 address. The loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1", env = "MCAST_RELAY_REPLAY_IFACE")]
    pub iface: String,
    /// Send to other groups, FROM=TO (group or CIDR, optionally :PORT); repeatable.
    #[arg(long = "map", value_name = "FROM=TO")]
    pub map: Vec<MapRule>,
    /// Play faster (2) or slower (0.5) than recorded.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Ignore the recorded timing and send as fast as possible.
    #[arg(long)]
    pub top_speed: bool,
    /// Play the capture this many times.
    #[arg(long = "loop", default_value_t = 1)]
    pub loops: u32,
    /// Multicast TTL.
    #[arg(long, default_value_t = 1)]
    pub ttl: u32,
    /// Send only datagrams to multicast groups (skip unicast in the capture).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub multicast_only: bool,
    /// Leave out every Nth datagram (to test gap detection); 0 keeps all.
    #[arg(long, default_value_t = 0)]
    pub drop_every: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub sent: u64,
    pub bytes: u64,
    /// Datagrams left out by --drop-every.
    pub left_out: u64,
    /// Frames in the file that were not IPv4 UDP (or not multicast with --multicast-only).
    pub skipped: u64,
    /// The same by reason: not_ipv4, not_udp, ip_fragment, truncated, malformed,
    /// unknown_link_type, no_interface, not_multicast.
    pub skipped_by: BTreeMap<String, u64>,
    pub elapsed_s: f64,
}

/// Replay until done or `stop`.
pub fn run(a: &ReplayArgs, stop: &AtomicBool) -> std::io::Result<ReplayReport> {
    let cap = pcap::read(&a.file)?;
    let mut skipped = cap.skipped;
    let mut skipped_by: BTreeMap<String, u64> = cap
        .skipped_by
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    let plan: Vec<(u64, SocketAddrV4, &[u8])> = cap
        .datagrams
        .iter()
        .filter(|d| {
            let keep = !a.multicast_only || d.dst.ip().is_multicast();
            if !keep {
                skipped += 1;
                *skipped_by.entry("not_multicast".into()).or_default() += 1;
            }
            keep
        })
        .map(|d| (d.ts_ns, remap(&a.map, d.dst), d.payload.as_slice()))
        .collect();
    let iface = Iface::resolve(&a.iface)?;
    let sock = mcast::emitter(&iface, a.ttl, 4 << 20)?;
    let mut batch = SendBatch::new(32);
    let mut buf = Vec::with_capacity(32 * 1500);
    let mut items = Vec::with_capacity(32);
    let tty = std::io::stderr().is_terminal();
    let total = plan.len() as u64 * a.loops as u64;
    let (start, mut sent, mut bytes, mut left_out, mut n) =
        (Instant::now(), 0u64, 0u64, 0u64, 0u64);
    let mut next_bar = start;
    for pass in 0..a.loops {
        let (pass_start, first_ts) = (Instant::now(), plan.first().map_or(0, |p| p.0));
        let mut i = 0;
        while i < plan.len() && !stop.load(Ordering::Relaxed) {
            // Gather what is due now (everything, at top speed), up to a batch.
            buf.clear();
            items.clear();
            while i < plan.len() && items.len() < batch.capacity() {
                let (ts, dst, payload) = plan[i];
                if !a.top_speed {
                    let at = pass_start
                        + Duration::from_secs_f64(
                            ts.saturating_sub(first_ts) as f64 / 1e9 / a.speed,
                        );
                    if at > Instant::now() {
                        if items.is_empty() {
                            super::pace_until(at);
                        } else {
                            break;
                        }
                    }
                }
                n += 1;
                i += 1;
                if a.drop_every > 0 && n % a.drop_every == 0 {
                    left_out += 1;
                    continue;
                }
                items.push((dst, buf.len()..buf.len() + payload.len()));
                buf.extend_from_slice(payload);
            }
            super::send_all(&sock, &mut batch, &buf, &items)?;
            sent += items.len() as u64;
            bytes += buf.len() as u64;
            if tty && Instant::now() >= next_bar {
                bar(n, total, pass + 1, a.loops);
                next_bar += Duration::from_millis(100);
            }
        }
    }
    if tty {
        bar(n, total, a.loops, a.loops);
        eprintln!();
    }
    Ok(ReplayReport {
        sent,
        bytes,
        left_out,
        skipped,
        skipped_by,
        elapsed_s: start.elapsed().as_secs_f64(),
    })
}

impl ReplayReport {
    /// The summary for a terminal.
    pub fn text(&self) -> String {
        let mut s = format!(
            "replayed {} datagrams ({} bytes) in {:.2} s; {} left out (--drop-every), {} frames skipped",
            self.sent, self.bytes, self.elapsed_s, self.left_out, self.skipped
        );
        if !self.skipped_by.is_empty() {
            let why: Vec<String> = self
                .skipped_by
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            s += &format!(" ({})", why.join(", "));
        }
        s
    }
}

fn bar(done: u64, total: u64, pass: u32, passes: u32) {
    let frac = if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    };
    let filled = (frac * 30.0) as usize;
    eprint!(
        "\r[{}{}] {:>3.0}%  {done}/{total}  pass {pass}/{passes}",
        "#".repeat(filled),
        " ".repeat(30 - filled),
        frac * 100.0
    );
    let _ = std::io::stderr().flush();
}
