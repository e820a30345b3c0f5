//! `publish`: paced synthetic multicast for demos and load: our test header,
//! or Deribit legacy packets shaped like the real feed.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};

use crate::clock::now_ns;
use crate::feeds::{deribit, deribit_size, testhdr};
use crate::net::addr::GroupPort;
use crate::net::batch::SendBatch;
use crate::net::mcast::{self, Iface};

/// What `publish` sends.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PublishFormat {
    /// mcast-relay's test header (sequence per group, send time), padded to the size.
    #[default]
    Test,
    /// Deribit legacy packets: frame header with per-channel sequences, SBE
    /// messages in the sample capture's size distribution and template mix.
    Deribit,
}

#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "Examples:\n  mcast-relay publish --group 239.255.0.1:5001 --rate 20000 --duration 10s\n  \
    mcast-relay publish --format deribit --channels 22 --group 239.255.111.1:6100 --group 239.255.111.2:6100 --rate 5000\n\n\
    Environment: MCAST_RELAY_PUBLISH_IFACE (--iface), read by publish alone; the relays' MCAST_RELAY_IFACE is not."
)]
pub struct PublishArgs {
    /// Group to send to, GROUP:PORT; repeat for several (sent round robin).
    #[arg(long = "group", required = true, value_name = "GROUP:PORT")]
    pub groups: Vec<GroupPort>,
    /// Interface to send from: a name or an IPv4 address. The loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1", env = "MCAST_RELAY_PUBLISH_IFACE")]
    pub iface: String,
    /// Datagrams per second; 0 sends as fast as the socket takes them.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Stop after this many datagrams.
    #[arg(long)]
    pub count: Option<u64>,
    /// Stop after this long (default 10s when --count is not given).
    #[arg(long, value_parser = super::parse_duration)]
    pub duration: Option<Duration>,
    /// Every datagram this many bytes (at least 20); default: the size mix of the Deribit capture.
    #[arg(long, value_parser = clap::value_parser!(u16).range(20..))]
    pub size: Option<u16>,
    /// Multicast TTL.
    #[arg(long, default_value_t = 1)]
    pub ttl: u32,
    /// Datagrams per sendmmsg call at most.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// What to send.
    #[arg(long, value_enum, default_value_t = PublishFormat::Test)]
    pub format: PublishFormat,
    /// Deribit: this many channels (ids 0 to N-1), channel i on group i mod the
    /// number of groups, datagrams round robin over the channels [default: one per group].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub channels: Option<u16>,
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct PublishReport {
    pub sent: u64,
    pub bytes: u64,
    pub elapsed_s: f64,
}

/// Send until the count, the duration or `stop`. `sent` counts as it goes.
pub fn run(a: &PublishArgs, stop: &AtomicBool, sent: &AtomicU64) -> std::io::Result<PublishReport> {
    let invalid = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, m.to_string());
    let deribit = a.format == PublishFormat::Deribit;
    if deribit && a.size.is_some() {
        return Err(invalid(
            "--size is for --format test; Deribit packets follow the capture's size mix",
        ));
    }
    if !deribit && a.channels.is_some() {
        return Err(invalid("--channels is for --format deribit"));
    }
    let channels = a.channels.map_or(a.groups.len(), |c| c as usize);
    let iface = Iface::resolve(&a.iface)?;
    let sock = mcast::emitter(&iface, a.ttl, 4 << 20)?;
    let duration = match (a.count, a.duration) {
        (None, None) => Some(Duration::from_secs(10)),
        (_, d) => d,
    };
    let count = a.count.unwrap_or(u64::MAX);
    let batch_n = a.batch.clamp(1, 1024);
    let mut batch = SendBatch::new(batch_n);
    let mut seqs = vec![0u64; if deribit { channels } else { a.groups.len() }];
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0x6d63_7273);
    let mut buf = vec![0u8; batch_n * 1500.max(a.size.unwrap_or(0) as usize)];
    let mut items = Vec::with_capacity(batch_n);
    let (start, mut n, mut bytes) = (Instant::now(), 0u64, 0u64);
    while n < count && !stop.load(Ordering::Relaxed) {
        let elapsed = start.elapsed();
        if duration.is_some_and(|d| elapsed >= d) {
            break;
        }
        // Datagrams due by now, at most one batch.
        let due = if a.rate == 0 {
            batch_n as u64
        } else {
            ((elapsed.as_secs_f64() * a.rate as f64) as u64 + 1).saturating_sub(n)
        };
        let k = due.min(batch_n as u64).min(count - n) as usize;
        if k == 0 {
            let next = Duration::from_secs_f64((n as f64) / a.rate as f64);
            super::pace_until(start + next);
            continue;
        }
        items.clear();
        let mut off = 0;
        let t = now_ns();
        for i in 0..k {
            let at = n + i as u64;
            if deribit {
                // Channel c on group c mod groups; sequences start at 1, +1 per packet.
                let c = (at % channels as u64) as usize;
                let size = deribit_size(rng.random::<f64>());
                let shape = deribit::shape(size).expect("a shape for every size of the mix");
                seqs[c] += 1;
                let len =
                    deribit::encode(&mut buf[off..], c as u16, seqs[c] as u32, shape, at as u8)
                        .expect("the buffer holds a datagram of the mix");
                items.push((a.groups[c % a.groups.len()].0, off..off + len));
                off += len;
                continue;
            }
            let g = (at % a.groups.len() as u64) as usize;
            let size = a
                .size
                .map_or_else(|| deribit_size(rng.random::<f64>()), |s| s as usize);
            testhdr::write(&mut buf[off..], seqs[g], t);
            seqs[g] += 1;
            items.push((a.groups[g].0, off..off + size));
            off += size;
        }
        super::send_all(&sock, &mut batch, &buf, &items)?;
        bytes += items.iter().map(|(_, r)| r.len() as u64).sum::<u64>();
        n += k as u64;
        sent.store(n, Ordering::Relaxed);
    }
    Ok(PublishReport {
        sent: n,
        bytes,
        elapsed_s: start.elapsed().as_secs_f64(),
    })
}

/// An unused socket, so tests and the demo can pick free ports.
pub fn free_udp_port() -> std::io::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}
