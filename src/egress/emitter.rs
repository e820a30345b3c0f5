//! Emitting a feed's datagrams as multicast: remap (`--map`), extra copies
//! (`--fanout`), the guard (multicast only, `--allow`, never fragmented), and
//! batches sent with one `sendmmsg`, pointing straight into the buffer the
//! datagrams were read into (runs of one size to one group as one segmented
//! message where the kernel takes UDP GSO: `net::batch::SendBatch::with_gso`).
//! A batch sends every main copy first and then each `--fanout` rule's copies,
//! so that each destination's datagrams lie in one run, in their order.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddrV4;
use std::net::UdpSocket;
use std::ops::Range;
use std::os::fd::AsFd;
use std::sync::Arc;

use crate::clock::now_ns;
use crate::config::EgressFeed;
use crate::net::addr::remap;
use crate::net::batch::{self, SendBatch};
use crate::obs::metrics::{DropReason, FeedStats, GroupStats};

/// Per-group counter handles kept; past this, looked up each time.
const MAX_GROUP_HANDLES: usize = 1024;

/// Why a datagram is not emitted to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Refusal {
    NotMulticast,
    NotAllowed,
    TooBig,
}

impl Refusal {
    fn drop_reason(self) -> DropReason {
        match self {
            Refusal::NotMulticast => DropReason::NotMulticast,
            Refusal::NotAllowed => DropReason::NotAllowed,
            Refusal::TooBig => DropReason::TooBig,
        }
    }

    fn why(self) -> &'static str {
        match self {
            Refusal::NotMulticast => "not a multicast group (the egress emits multicast only)",
            Refusal::NotAllowed => "outside every --allow rule",
            Refusal::TooBig => "larger than the interface MTU allows unfragmented",
        }
    }
}

pub struct Emitter {
    /// Non-blocking and not kept in epoll (see [`batch::writable`]).
    sock: UdpSocket,
    batch: SendBatch,
    pending: Vec<(SocketAddrV4, Range<usize>)>,
    recv_ns: Vec<u64>,
    /// Per `--fanout` rule, its copies (with their receive time) until
    /// `flush` puts them after the main copies: interleaved, no two in a row
    /// would go to one group and GSO could not take them.
    extra: Vec<Vec<(SocketAddrV4, Range<usize>, u64)>>,
    warned: HashSet<(SocketAddrV4, Refusal)>,
    groups: HashMap<SocketAddrV4, Arc<GroupStats>>,
    max_payload: usize,
    cfg: EgressFeed,
    stats: Arc<FeedStats>,
}

impl Emitter {
    pub fn new(
        sock: UdpSocket,
        max_payload: usize,
        cfg: EgressFeed,
        stats: Arc<FeedStats>,
    ) -> Emitter {
        Emitter {
            batch: SendBatch::with_gso(cfg.batch, sock.as_fd()),
            sock,
            pending: Vec::with_capacity(cfg.batch + cfg.fanout.len()),
            recv_ns: Vec::with_capacity(cfg.batch + cfg.fanout.len()),
            extra: vec![Vec::with_capacity(cfg.batch); cfg.fanout.len()],
            warned: HashSet::new(),
            groups: HashMap::new(),
            max_payload,
            cfg,
            stats,
        }
    }

    /// Queue a datagram for `group` (before `--map`), its payload at `payload`
    /// of the buffer the next [`Self::flush`] gets. Returns whether the batch is full.
    pub fn queue(&mut self, group: SocketAddrV4, payload: Range<usize>, recv_ns: u64) -> bool {
        let main = remap(&self.cfg.map, group);
        for i in 0..=self.cfg.fanout.len() {
            let dst = match i {
                0 => main,
                _ => match self.cfg.fanout[i - 1].apply(group) {
                    Some(d) if d != main => d,
                    _ => continue,
                },
            };
            let refusal = if !dst.ip().is_multicast() {
                Some(Refusal::NotMulticast)
            } else if !self.cfg.allow.iter().any(|c| c.contains(*dst.ip())) {
                Some(Refusal::NotAllowed)
            } else if payload.len() > self.max_payload {
                Some(Refusal::TooBig)
            } else {
                None
            };
            match refusal {
                Some(r) => self.refuse(dst, r),
                None if i == 0 => {
                    self.pending.push((dst, payload.clone()));
                    self.recv_ns.push(recv_ns);
                }
                None => self.extra[i - 1].push((dst, payload.clone(), recv_ns)),
            }
        }
        let extra: usize = self.extra.iter().map(Vec::len).sum();
        self.pending.len() + extra >= self.batch.capacity()
    }

    /// Drop and count; log once per group and reason.
    fn refuse(&mut self, dst: SocketAddrV4, r: Refusal) {
        self.stats.dropped(r.drop_reason(), 1);
        if self.warned.len() < 1024 && self.warned.insert((dst, r)) {
            tracing::warn!(feed = %self.cfg.feed, group = %dst, reason = r.drop_reason().label(), "dropping datagrams: {} (logged once per group)", r.why());
        }
    }

    /// Send everything queued with sendmmsg, waiting for the socket if it is full.
    pub async fn flush(&mut self, buf: &[u8]) {
        for lane in &mut self.extra {
            for (dst, r, t) in lane.drain(..) {
                self.pending.push((dst, r));
                self.recv_ns.push(t);
            }
        }
        let mut done = 0;
        while done < self.pending.len() {
            let pending = &self.pending[done..];
            match self.batch.send(self.sock.as_fd(), buf, pending) {
                Ok(n) => {
                    self.stats.segmented.inc_by(self.batch.segmented() as u64);
                    self.sent(done, n);
                    done += n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if let Err(e) = batch::writable(self.sock.as_fd()).await {
                        tracing::debug!(error = %e, "multicast socket: waiting for room failed; retrying in 1 ms");
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                }
                Err(e) => {
                    // The first datagram of the rest failed: count it and go on.
                    let reason = if e.raw_os_error() == Some(libc::EMSGSIZE) {
                        DropReason::TooBig
                    } else {
                        DropReason::SendError
                    };
                    self.stats.dropped(reason, 1);
                    tracing::debug!(error = %e, group = %self.pending[done].0, "multicast send failed");
                    done += 1;
                }
            }
        }
        self.pending.clear();
        self.recv_ns.clear();
    }

    /// Count `n` datagrams sent from `pending[from..]`: the feed's counters
    /// once per call, a group's once per run of datagrams to it.
    fn sent(&mut self, from: usize, n: usize) {
        let now = now_ns();
        let sent = &self.pending[from..from + n];
        for &recv_ns in &self.recv_ns[from..from + n] {
            self.stats.latency.observe_ns(now.saturating_sub(recv_ns));
        }
        let mut bytes = 0;
        for run in sent.chunk_by(|a, b| a.0 == b.0) {
            let dst = run[0].0;
            let len: u64 = run.iter().map(|(_, r)| r.len() as u64).sum();
            // One handle per group, kept (a label lookup takes a lock).
            let g = match self.groups.get(&dst) {
                Some(g) => g,
                None if self.groups.len() < MAX_GROUP_HANDLES => self
                    .groups
                    .entry(dst)
                    .or_insert_with(|| self.stats.group(dst)),
                None => &self.stats.group(dst),
            };
            g.datagrams_out.inc_by(run.len() as u64);
            g.bytes_out.inc_by(len);
            bytes += len;
        }
        self.stats.datagrams_out.inc_by(n as u64);
        self.stats.bytes_out.inc_by(bytes);
        self.stats
            .last_in_ns
            .store(now, std::sync::atomic::Ordering::Relaxed);
    }
}
