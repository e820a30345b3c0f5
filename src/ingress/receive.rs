//! The receive half: multicast in, each datagram framed into the window once.

use std::net::SocketAddrV4;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ns;
use crate::config::IngressFeed;
use crate::net::batch::RecvBatch;
use crate::net::joined::{Joined, Ready, Receiver};
use crate::net::mcast::{Iface, Membership};
use crate::obs::logs::RateLimit;
use crate::obs::metrics::{DropReason, FeedStats, GroupStats};
use crate::warn_limited;

use super::Window;

pub(super) async fn receive(
    joined: Arc<AsyncFd<Joined>>,
    cfg: IngressFeed,
    window: Arc<Window>,
    stats: Arc<FeedStats>,
    stop: CancellationToken,
) {
    let socks = joined.get_ref().sockets();
    let mut rx = Drain {
        batch: RecvBatch::new(cfg.batch, cfg.max_datagram),
        per_group: socks
            .iter()
            .map(|r| {
                r.groups
                    .iter()
                    .map(|g| stats.group(SocketAddrV4::new(*g, r.port)))
                    .collect()
            })
            .collect(),
        dropped_before: vec![0; socks.len()],
        odd: RateLimit::new(Duration::from_secs(10)),
        overflow: RateLimit::new(Duration::from_secs(10)),
        head: None,
        cfg: &cfg,
        window: &window,
        stats: &stats,
    };
    let mut ready = Ready::new(joined.get_ref());
    loop {
        let mut guard = tokio::select! {
            r = joined.readable() => match r { Ok(g) => g, Err(_) => return },
            _ = stop.cancelled() => return,
        };
        // Each datagram that arrives wakes this task and names its socket
        // once (edge-triggered), so every named socket is read until empty.
        loop {
            if let Err(e) = joined.get_ref().woken(&mut ready) {
                warn_limited!(rx.odd, error = %e, "multicast receive: epoll_wait failed");
            }
            for i in ready.iter() {
                rx.drain(i, &socks[i]);
            }
            // One signal for all the sockets read: it wakes each destination.
            if let Some(head) = rx.head.take() {
                window.head.send_replace(head);
            }
            if !ready.is_full() {
                guard.clear_ready();
                break;
            }
        }
    }
}

/// What the receive task keeps from one read to the next.
struct Drain<'a> {
    batch: RecvBatch,
    /// Per socket (the index of [`Joined::sockets`]), per group of it.
    per_group: Vec<Vec<Arc<GroupStats>>>,
    /// Each socket's drop count as last seen (the kernel's, cumulative).
    dropped_before: Vec<u32>,
    odd: RateLimit,
    overflow: RateLimit,
    /// The window's head after the last push, until it is signalled.
    head: Option<u64>,
    cfg: &'a IngressFeed,
    window: &'a Window,
    stats: &'a FeedStats,
}

impl Drain<'_> {
    /// Read socket `i` until it is empty, framing each datagram into the window.
    fn drain(&mut self, i: usize, r: &Receiver) {
        let (stats, port) = (self.stats, r.port);
        loop {
            let n = match self.batch.recv(r.sock.as_fd()) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    warn_limited!(self.odd, error = %e, port, "multicast receive failed");
                    return;
                }
            };
            let now = now_ns();
            let (mut count, mut bytes) = (0u64, 0u64);
            if let Some(d) = (0..n).filter_map(|j| self.batch.get(j).0.overflow).max()
                && d != self.dropped_before[i]
            {
                let lost = d.wrapping_sub(self.dropped_before[i]) as u64;
                self.dropped_before[i] = d;
                stats.dropped(DropReason::SocketOverflow, lost);
                warn_limited!(
                    self.overflow,
                    port,
                    lost,
                    rcvbuf = self.cfg.rcvbuf.get(),
                    "the kernel dropped datagrams at the multicast socket (its buffer was full); raise --rcvbuf and net.core.rmem_max, or find what kept the relay from reading"
                );
            }
            let mut ring = self.window.ring.lock().expect("window lock");
            for j in 0..n {
                let (m, payload) = self.batch.get(j);
                if m.truncated {
                    stats.dropped(DropReason::Truncated, 1);
                    warn_limited!(self.odd, from = %m.src, max = self.cfg.max_datagram, "datagram longer than max_datagram dropped");
                    continue;
                }
                let Some(g) = m.dst.and_then(|d| r.groups.iter().position(|g| *g == d)) else {
                    stats.dropped(DropReason::NotJoined, 1);
                    warn_limited!(self.odd, from = %m.src, port, "datagram for a group this feed did not join dropped");
                    continue;
                };
                let group = SocketAddrV4::new(r.groups[g], port);
                ring.push(m.kernel_ns.unwrap_or(now), group, m.src, payload);
                self.per_group[i][g].datagrams_in.inc();
                self.per_group[i][g].bytes_in.inc_by(payload.len() as u64);
                count += 1;
                bytes += payload.len() as u64;
            }
            self.head = Some(ring.next_seq());
            stats.buffer_bytes.set(ring.bytes() as i64);
            drop(ring);
            stats.last_in_ns.store(now, Ordering::Relaxed);
            stats.datagrams_in.inc_by(count);
            stats.bytes_in.inc_by(bytes);
            if n < self.batch.capacity() {
                // A short read emptied the queue: the next datagram wakes the
                // task again, so a recvmmsg that finds nothing is not paid.
                return;
            }
        }
    }
}

/// Join again when the interface comes back (an ENI re-attached, a device
/// re-created): the kernel drops memberships with the device.
pub(super) async fn keep_memberships(
    joined: Arc<AsyncFd<Joined>>,
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
                let (joined_n, failed) = joined.get_ref().rejoin(&now, how);
                for (g, e) in failed {
                    tracing::warn!(error = %e, group = %g, "rejoin failed");
                }
                tracing::warn!(iface = %now.name, joined = joined_n, "interface came back; groups joined again");
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
