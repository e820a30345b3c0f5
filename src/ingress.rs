//! The datacenter side: multicast in, one bounded window, one link per destination.
//!
//! Receive tasks (one per UDP port) frame each datagram into the window once.
//! Each destination task reads the window at its own position and writes whole
//! batches to its TCP link, so a slow or dead destination never holds up another
//! or the receive path; it only falls behind, and the skip is counted.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use libc::{SO_BUSY_POLL, SOL_SOCKET};
use tokio::io::Interest;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ns;
use crate::config::IngressFeed;
use crate::net::batch::{RecvBatch, get_int, set_int};
use crate::net::link::{self, Backoff, LinkError};
use crate::net::mcast::{self, Iface, Membership};
use crate::net::tls::{self, BoxStream};
use crate::obs::Obs;
use crate::obs::links::{Link, LinkState};
use crate::obs::logs::RateLimit;
use crate::obs::metrics::{DropReason, FeedStats};
use crate::ring::{Read, Ring};
use crate::warn_limited;
use crate::wire::buffer::FrameBuf;
use crate::wire::frame::{DATA_OVERHEAD, FRAME_HEADER, MAX_FRAME, MAX_HANDSHAKE_FRAME};
use crate::wire::handshake::{ClientHandshake, ClientParams, Reject};
use crate::wire::record::{self, RECORD_OVERHEAD};
use crate::wire::session::{self, End, IngressEvent, IngressSession};

/// Bytes handed to one TCP write at most.
const WRITE_CHUNK: usize = 256 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// TLS, the handshake and the Welcome, from the connect on.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closing session may take to write its last bytes.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long shutdown waits for destinations to flush.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// The window and the signal that it grew.
struct Window {
    ring: Mutex<Ring>,
    head: watch::Sender<u64>,
}

/// Run one ingress feed until `shutdown`; then flush, leave the groups and return.
pub async fn run(cfg: IngressFeed, obs: Obs, shutdown: CancellationToken) -> anyhow::Result<()> {
    Ingress::start(cfg, &obs)?.run(shutdown).await;
    Ok(())
}

type Sockets = Vec<(Arc<UdpSocket>, u16, Vec<Ipv4Addr>)>;

/// An ingress feed with its groups joined, not yet sending.
pub struct Ingress {
    cfg: IngressFeed,
    iface: Iface,
    how: Membership,
    sockets: Sockets,
    stats: Arc<FeedStats>,
    links: Vec<Arc<Link>>,
    tls: Option<tls::Client>,
}

impl Ingress {
    /// Resolve the interface, bind and join. Datagrams queue in the socket
    /// buffers until [`Ingress::run`].
    pub fn start(cfg: IngressFeed, obs: &Obs) -> anyhow::Result<Ingress> {
        obs.health.expect();
        let stats = obs.metrics.feed(&cfg.feed, "ingress");
        let iface = Iface::resolve(&cfg.iface)
            .with_context(|| format!("ingress {:?}: --iface", cfg.feed))?;
        let how = cfg
            .source
            .map_or(Membership::AnySource, Membership::SourceSpecific);

        let mut sockets = Vec::new();
        let mut busy_poll = 0;
        for (sock, port, groups) in mcast::receivers(&cfg.groups, &iface, how, cfg.rcvbuf.get())
            .with_context(|| format!("ingress {:?}", cfg.feed))?
        {
            let fd = sock.as_fd();
            if cfg.busy_poll > 0
                && let Err(e) = set_int(fd, SOL_SOCKET, SO_BUSY_POLL, cfg.busy_poll as i32)
            {
                tracing::warn!(error = %e, "--busy-poll: SO_BUSY_POLL refused (needs CAP_NET_ADMIN above net.core.busy_read)");
            }
            // As the socket has it, so the log says what took effect.
            busy_poll = get_int(fd, SOL_SOCKET, SO_BUSY_POLL).unwrap_or(0);
            sockets.push((Arc::new(UdpSocket::from_std(sock)?), port, groups));
        }
        tracing::info!(feed = %cfg.feed, sender = %cfg.sender_name(), iface = %iface.name, groups = cfg.groups.len(), dests = ?cfg.dests, busy_poll_us = busy_poll, "ingress joined");
        obs.health.ready();
        let tls = match &cfg.tls_ca {
            Some(ca) => {
                let pair = cfg.tls_cert.as_deref().zip(cfg.tls_key.as_deref());
                Some(
                    tls::Client::new(ca, cfg.tls_server_name.clone(), pair)
                        .with_context(|| format!("ingress {:?}: TLS", cfg.feed))?,
                )
            }
            None => None,
        };
        let links = cfg
            .dests
            .iter()
            .map(|d| {
                obs.links
                    .add(&obs.metrics, &cfg.feed, "ingress", &cfg.link_name(d))
            })
            .collect();
        Ok(Ingress {
            links,
            tls,
            cfg,
            iface,
            how,
            sockets,
            stats,
        })
    }

    /// Relay until `shutdown`; then flush, leave the groups and return.
    pub async fn run(self, shutdown: CancellationToken) {
        let Ingress {
            cfg,
            iface,
            how,
            sockets,
            stats,
            links,
            tls,
        } = self;

        crate::keys::guard(&stats, &cfg.keys, cfg.insecure_no_auth, shutdown.clone());
        let window = Arc::new(Window {
            ring: Mutex::new(Ring::new(
                cfg.window_bytes.get(),
                cfg.window_age().as_nanos() as u64,
            )),
            head: watch::channel(0).0,
        });
        let stop_rx = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        for (sock, port, groups) in &sockets {
            tasks.spawn(receive(
                sock.clone(),
                *port,
                groups.clone(),
                cfg.clone(),
                window.clone(),
                stats.clone(),
                stop_rx.clone(),
            ));
        }
        tasks.spawn(keep_memberships(
            sockets.clone(),
            cfg.iface.clone(),
            iface.clone(),
            how,
            stop_rx.clone(),
        ));

        let stream_id: u64 = rand::random();
        let manifest: Vec<SocketAddrV4> = cfg.groups.iter().map(|g| g.0).collect();
        let stop_dests = CancellationToken::new();
        let mut dests = tokio::task::JoinSet::new();
        for (d, link) in cfg.dests.iter().zip(links) {
            link.track(window.head.subscribe());
            dests.spawn(
                Dest {
                    name: d.clone(),
                    tls: tls.clone(),
                    link,
                    cfg: cfg.clone(),
                    stream_id,
                    sender: cfg.sender_name(),
                    manifest: manifest.clone(),
                    window: window.clone(),
                    stats: stats.clone(),
                    stop: stop_dests.clone(),
                }
                .run(),
            );
        }

        shutdown.cancelled().await;
        // Stop taking new datagrams, then give every destination a bounded time to
        // send what the window holds.
        stop_rx.cancel();
        while tasks.join_next().await.is_some() {}
        for (sock, _, groups) in &sockets {
            for g in groups {
                let _ = mcast::leave(sock, *g, &iface, how);
            }
        }
        stop_dests.cancel();
        if tokio::time::timeout(FLUSH_TIMEOUT, async {
            while dests.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!(feed = %cfg.feed, "some destinations did not flush within {FLUSH_TIMEOUT:?}");
        }
        tracing::info!(feed = %cfg.feed, "ingress stopped");
    }
}

async fn receive(
    sock: Arc<UdpSocket>,
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
        tokio::select! {
            r = sock.readable() => if r.is_err() { return },
            _ = stop.cancelled() => return,
        }
        loop {
            let n = match sock.try_io(Interest::READABLE, || batch.recv(sock.as_fd())) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
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
                break;
            }
        }
    }
}

/// Join again when the interface comes back (an ENI re-attached, a device
/// re-created): the kernel drops memberships with the device.
async fn keep_memberships(
    sockets: Vec<(Arc<UdpSocket>, u16, Vec<Ipv4Addr>)>,
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
                        match mcast::join(sock, *g, &now, how) {
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

/// One destination: its own position in the window and its own link.
struct Dest {
    name: String,
    tls: Option<tls::Client>,
    cfg: IngressFeed,
    stream_id: u64,
    sender: String,
    manifest: Vec<SocketAddrV4>,
    window: Arc<Window>,
    stats: Arc<FeedStats>,
    link: Arc<Link>,
    stop: CancellationToken,
}

impl Dest {
    /// Connect, stream, reconnect with backoff, until stopped.
    async fn run(self) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut limit = RateLimit::new(Duration::from_secs(10));
        // Everything before `acked` was emitted by an egress; resume after it.
        let mut acked = 0u64;
        let mut connected_before = false;
        while !self.stop.is_cancelled() {
            let started = Instant::now();
            let mut up = false;
            let r = self.session(&mut acked, connected_before, &mut up).await;
            if up {
                self.stats.connected.dec();
            }
            let Err(e) = r else { break };
            if up {
                connected_before = true;
                self.stats.reconnect(&self.name);
            }
            if up || matches!(e, LinkError::Session(_)) {
                self.stats.session_ended(e.reason());
            }
            let (dest, feed) = (&self.name, &self.cfg.feed);
            let taken_over = matches!(e.peer_reject(), Some(Reject::TakenOver | Reject::FeedBusy));
            if !up && refused(&e) {
                self.stats.handshake_failed(e.reason());
                self.link.set(LinkState::Refused, Some(e.to_string()));
                tracing::error!(%dest, %feed, error = %e, "the egress refused this feed");
            } else {
                self.link.set(LinkState::Down, Some(e.to_string()));
                // A link that was up going down is a state change, logged
                // every time; only repeated failures to connect are limited.
                if taken_over {
                    tracing::warn!(%dest, %feed, error = %e, "another sender took over this feed; retrying slowly");
                } else if up {
                    tracing::warn!(%dest, %feed, error = %e, "link lost; reconnecting");
                } else {
                    warn_limited!(limit, %dest, %feed, error = %e, "link down; reconnecting");
                }
            }
            if started.elapsed() > Duration::from_secs(10) {
                backoff.reset();
            }
            if taken_over {
                // Another sender holds the feed; do not fight it every 100 ms.
                backoff.max_out();
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff.next_delay()) => {}
                _ = self.stop.cancelled() => {}
            }
        }
        self.link.set(LinkState::Down, Some("stopped".into()));
    }

    /// One connection: handshake, then stream from the window. `acked` moves
    /// with the egress's Acks; `up` is set once the link came up.
    async fn session(&self, acked: &mut u64, replay: bool, up: &mut bool) -> Result<(), LinkError> {
        let (cfg, stats, dest) = (&self.cfg, &self.stats, self.name.as_str());
        let deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
        let in_time = |what| LinkError::Timeout(what, HANDSHAKE_TIMEOUT);
        let tcp = link::connect(dest, CONNECT_TIMEOUT).await?;
        let (mut stream, exporter): (BoxStream, _) = match &self.tls {
            Some(t) => {
                let (s, e) = tokio::time::timeout_at(deadline, t.connect(dest, tcp))
                    .await
                    .map_err(|_| in_time("the TLS handshake"))?
                    .map_err(LinkError::Tls)?;
                (s, Some(e))
            }
            None => (Box::new(tcp), None),
        };
        let mut fb = FrameBuf::new(2 * MAX_HANDSHAKE_FRAME, MAX_HANDSHAKE_FRAME);
        let (hs, hello) = ClientHandshake::start(
            ClientParams {
                feed: cfg.feed.clone(),
                sender: self.sender.clone(),
                stream_id: self.stream_id,
                key: cfg.keys.current().into_iter().next(),
                encrypt: cfg.encrypt,
                manifest: self.manifest.clone(),
            },
            rand::random(),
            exporter,
        );
        let keys = tokio::time::timeout_at(
            deadline,
            link::client_handshake(&mut stream, &mut fb, hs, &hello),
        )
        .await
        .map_err(|_| in_time("the handshake"))??;
        let head = self.window.ring.lock().expect("window lock").next_seq();
        let mut s = IngressSession::new(&keys, cfg.encrypt, Instant::now(), head, fb.peek());
        drop(fb);
        let (mut rd, mut wr) = tokio::io::split(stream);
        let resume_from = loop {
            match s.poll_event() {
                Some(IngressEvent::Welcome { resume_from, .. }) => break resume_from,
                Some(IngressEvent::Closed(end)) => {
                    say_goodbye(&mut s, &mut wr).await;
                    return Err(LinkError::Session(end));
                }
                Some(IngressEvent::Acked(_)) | None => {}
            }
            tokio::select! {
                r = rd.read(s.recv_buf()) => match r? {
                    0 => return Err(LinkError::Closed),
                    n => s.handle_read(n, Instant::now()),
                },
                _ = tokio::time::sleep_until(deadline) => return Err(in_time("the Welcome")),
            }
        };
        let start = {
            let ring = self.window.ring.lock().expect("window lock");
            let r = session::resume_point(*acked, resume_from, ring.oldest_seq());
            if r.lost > 0 {
                stats.dropped(DropReason::Behind, r.lost);
                tracing::warn!(
                    dest,
                    lost = r.lost,
                    "datagrams left the window before this destination got them"
                );
            }
            if replay {
                stats
                    .replayed
                    .inc_by(ring.next_seq().saturating_sub(r.start));
            }
            r.start
        };
        s.start(Instant::now(), start);
        *up = true;
        stats.connected.inc();
        self.link.set(LinkState::Up, None);
        self.link.sends_next(start);
        tracing::info!(dest, feed = %cfg.feed, from = start, encrypted = cfg.encrypt, "link up");
        self.stream(&mut s, rd, wr, start, acked).await
    }

    /// Stream the window from `cursor` until stopped or the session ends.
    async fn stream<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
        &self,
        s: &mut IngressSession,
        mut rd: R,
        mut wr: W,
        mut cursor: u64,
        acked: &mut u64,
    ) -> Result<(), LinkError> {
        let (window, stats) = (&*self.window, &*self.stats);
        let mut head = window.head.subscribe();
        let mut out = Vec::with_capacity(WRITE_CHUNK + MAX_FRAME + RECORD_OVERHEAD);
        let mut w = Writing::default();
        let (mut stopping, mut stalled) = (false, false);
        let mut ended: Option<(End, Instant)> = None;
        loop {
            let now = Instant::now();
            while let Some(ev) = s.poll_event() {
                match ev {
                    IngressEvent::Acked(n) => *acked = n,
                    IngressEvent::Closed(end) => ended = Some((end, now)),
                    IngressEvent::Welcome { .. } => {}
                }
            }
            if let Some((end, at)) = &ended
                && ((s.is_done() && w.idle(&out)) || now.duration_since(*at) > CLOSE_TIMEOUT)
            {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, wr.shutdown()).await;
                return match end {
                    End::Closed(_) => Ok(()),
                    e => Err(LinkError::Session(e.clone())),
                };
            }
            if w.idle(&out) {
                out.clear();
                w = Writing::default();
                if s.can_send() {
                    let start = record::begin(&mut out);
                    let read = window.ring.lock().expect("window lock").read(
                        cursor,
                        &mut out,
                        WRITE_CHUNK,
                    );
                    match read {
                        Read::Copied { next } => {
                            let n = next - cursor;
                            let bytes =
                                (out.len() - start - FRAME_HEADER - n as usize * DATA_OVERHEAD)
                                    as u64;
                            s.seal_data(&mut out, start, next);
                            stats.datagrams_out.inc_by(n);
                            stats.bytes_out.inc_by(bytes);
                            self.link.carried(n, bytes);
                            self.link.sends_next(next);
                            cursor = next;
                        }
                        Read::Behind { oldest } => {
                            out.clear();
                            stats.dropped(DropReason::Behind, oldest - cursor);
                            tracing::warn!(
                                lost = oldest - cursor,
                                "destination fell behind the window; skipped forward"
                            );
                            cursor = oldest;
                            continue;
                        }
                        Read::UpToDate => {
                            out.clear();
                            if stopping {
                                // Everything in the window is written: say goodbye.
                                s.close(Reject::ShuttingDown, "ingress stopping");
                            }
                        }
                    }
                }
                if out.is_empty() {
                    s.poll_transmit(now, &mut out);
                }
            }
            s.set_head(now, *head.borrow());
            if s.stalled(now) != stalled {
                stalled = !stalled;
                let state = if stalled {
                    LinkState::Stalled
                } else {
                    LinkState::Up
                };
                self.link.set(state, None);
            }
            let wait_head = w.idle(&out) && s.can_send();
            let deadline = match &ended {
                Some((_, at)) => Some(*at + CLOSE_TIMEOUT),
                None => s.poll_timeout(),
            };
            tokio::select! {
                r = rd.read(s.recv_buf()) => match r? {
                    0 => return Err(LinkError::Closed),
                    n => s.handle_read(n, Instant::now()),
                },
                r = w.step(&mut wr, &out), if !w.idle(&out) => {
                    if r? {
                        s.on_written(Instant::now());
                    }
                }
                r = head.changed(), if wait_head && !stopping => {
                    if r.is_err() {
                        stopping = true;
                    }
                }
                _ = sleep_until_opt(deadline) => s.handle_timeout(Instant::now()),
                _ = self.stop.cancelled(), if !stopping => stopping = true,
            }
        }
    }
}

/// Refusals that a retry will not fix by itself (a key, a name, a version).
fn refused(e: &LinkError) -> bool {
    match e {
        LinkError::Refused(_) | LinkError::Refuse { .. } => true,
        LinkError::Session(End::Refused(_) | End::NoProof) => true,
        LinkError::Session(End::Goodbye(g)) => {
            !matches!(g.reject(), Some(Reject::TakenOver | Reject::FeedBusy))
        }
        _ => false,
    }
}

/// Best effort: send a closing session's Goodbye, if it has one.
async fn say_goodbye<W: AsyncWrite + Unpin>(s: &mut IngressSession, wr: &mut W) {
    let mut out = Vec::new();
    if s.poll_transmit(Instant::now(), &mut out) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, link::send(wr, &out)).await;
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// How far one transmit has been written: bytes, then the flush.
#[derive(Default)]
struct Writing {
    off: usize,
    flushed: bool,
}

impl Writing {
    /// Nothing of `out` is left to write or flush.
    fn idle(&self, out: &[u8]) -> bool {
        out.is_empty() || self.flushed
    }

    /// Write some of `out`, or flush once it is all written. Cancel-safe: the
    /// position moves only when a call returns. `Ok(true)` once flushed.
    async fn step<W: AsyncWrite + Unpin>(
        &mut self,
        wr: &mut W,
        out: &[u8],
    ) -> Result<bool, LinkError> {
        if self.off < out.len() {
            let n = wr.write(&out[self.off..]).await?;
            if n == 0 {
                return Err(LinkError::Closed);
            }
            self.off += n;
            Ok(false)
        } else {
            wr.flush().await?;
            self.flushed = true;
            Ok(true)
        }
    }
}
