//! The receive half: multicast in, each datagram framed into the window once.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ns;
use crate::config::IngressFeed;
use crate::net::batch::RecvBatch;
use crate::net::mcast::{self, Iface, Membership};
use crate::obs::logs::RateLimit;
use crate::obs::metrics::{DropReason, FeedStats};
use crate::warn_limited;

use super::Window;

pub(super) async fn receive(
    sock: Arc<AsyncFd<UdpSocket>>,
    port: u16,
    groups: Vec<Ipv4Addr>,
    cfg: IngressFeed,
    window: Arc<Window>,
    stats: Arc<FeedStats>,
    stop: CancellationToken,
) {
    let mut batch = RecvBatch::new(cfg.batch, cfg.max_datagram);
    let per_group: Vec<_> = groups
        .iter()
        .map(|g| stats.group(SocketAddrV4::new(*g, port)))
        .collect();
    let mut odd = RateLimit::new(Duration::from_secs(10));
    let mut overflow = RateLimit::new(Duration::from_secs(10));
    // The socket's drop count as last seen (the kernel's, cumulative).
    let mut dropped_before = 0u32;
    loop {
        let mut ready = tokio::select! {
            r = sock.readable() => match r { Ok(g) => g, Err(_) => return },
            _ = stop.cancelled() => return,
        };
        loop {
            let n = match batch.recv(sock.get_ref().as_fd()) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    ready.clear_ready();
                    break;
                }
                Err(e) => {
                    warn_limited!(odd, error = %e, port, "multicast receive failed");
                    break;
                }
            };
            let now = now_ns();
            let (mut count, mut bytes) = (0u64, 0u64);
            if let Some(d) = (0..n).filter_map(|i| batch.get(i).0.overflow).max()
                && d != dropped_before
            {
                let lost = d.wrapping_sub(dropped_before) as u64;
                dropped_before = d;
                stats.dropped(DropReason::SocketOverflow, lost);
                warn_limited!(
                    overflow,
                    port,
                    lost,
                    rcvbuf = cfg.rcvbuf.get(),
                    "the kernel dropped datagrams at the multicast socket (its buffer was full); raise --rcvbuf and net.core.rmem_max, or find what kept the relay from reading"
                );
            }
            let mut ring = window.ring.lock().expect("window lock");
            for i in 0..n {
                let (m, payload) = batch.get(i);
                if m.truncated {
                    stats.dropped(DropReason::Truncated, 1);
                    warn_limited!(odd, from = %m.src, max = cfg.max_datagram, "datagram longer than max_datagram dropped");
                    continue;
                }
                let Some(g) = m.dst.and_then(|d| groups.iter().position(|g| *g == d)) else {
                    stats.dropped(DropReason::NotJoined, 1);
                    warn_limited!(odd, from = %m.src, port, "datagram for a group this feed did not join dropped");
                    continue;
                };
                let group = SocketAddrV4::new(groups[g], port);
                ring.push(m.kernel_ns.unwrap_or(now), group, m.src, payload);
                per_group[g].datagrams_in.inc();
                per_group[g].bytes_in.inc_by(payload.len() as u64);
                count += 1;
                bytes += payload.len() as u64;
            }
            let head = ring.next_seq();
            stats.buffer_bytes.set(ring.bytes() as i64);
            drop(ring);
            stats.last_in_ns.store(now, Ordering::Relaxed);
            stats.datagrams_in.inc_by(count);
            stats.bytes_in.inc_by(bytes);
            window.head.send_replace(head);
            if n < batch.capacity() {
                // A short read emptied the queue: wait for the next edge rather
                // than pay a recvmmsg that finds nothing (one per wake-up).
                // A datagram that came after it raised a new one.
                ready.clear_ready();
                break;
            }
        }
    }
}

/// Join again when the interface comes back (an ENI re-attached, a device
/// re-created): the kernel drops memberships with the device.
pub(super) async fn keep_memberships(
    sockets: super::Sockets,
    spec: String,
    mut current: Iface,
    how: Membership,
    stop: CancellationToken,
) {
    let mut seen = true;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        match Iface::resolve(&spec) {
            Ok(now) if !seen || now.index != current.index || now.addr != current.addr => {
                let mut joined = 0;
                for (sock, _, groups) in &sockets {
                    for g in groups {
                        match mcast::join(sock.get_ref(), *g, &now, how) {
                            Ok(_) => joined += 1,
                            Err(e) => tracing::warn!(error = %e, group = %g, "rejoin failed"),
                        }
                    }
                }
                tracing::warn!(iface = %now.name, joined, "interface came back; groups joined again");
                current = now;
                seen = true;
            }
            Ok(_) => {}
            Err(e) => {
                if seen {
                    tracing::error!(error = %e, iface = %spec, "interface gone; will join again when it returns");
                }
                seen = false;
            }
        }
    }
}
