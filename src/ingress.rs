//! The datacenter side: multicast in, one bounded window, one link per destination.
//!
//! Receive tasks (one per UDP port) frame each datagram into the window once.
//! Each destination task reads the window at its own position and writes whole
//! batches to its TCP link, so a slow or dead destination never holds up another
//! or the receive path; it only falls behind, and the skip is counted.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::Interest;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ns;
use crate::config::IngressFeed;
use crate::net::batch::RecvBatch;
use crate::net::link::{self, Backoff, LinkError};
use crate::net::mcast::{self, Iface, Membership};
use crate::net::tls::{self, BoxStream};
use crate::obs::Obs;
use crate::obs::links::Link;
use crate::obs::logs::RateLimit;
use crate::obs::metrics::FeedStats;
use crate::ring::{Read, Ring};
use crate::warn_limited;
use crate::wire::buffer::FrameBuf;
use crate::wire::frame::{DATA_OVERHEAD, Frame, MAX_HANDSHAKE_FRAME};
use crate::wire::session::{self, ClientHandshake, Liveness, Reject};

/// Bytes handed to one TCP write at most.
const WRITE_CHUNK: usize = 256 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
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
        for (sock, port, groups) in mcast::receivers(&cfg.groups, &iface, how, cfg.rcvbuf)
            .with_context(|| format!("ingress {:?}", cfg.feed))?
        {
            if cfg.busy_poll > 0 {
                let fd = std::os::fd::AsFd::as_fd(&sock);
                if let Err(e) = crate::net::batch::set_int(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_BUSY_POLL,
                    cfg.busy_poll as i32,
                ) {
                    tracing::warn!(error = %e, "--busy-poll: SO_BUSY_POLL refused (needs CAP_NET_ADMIN above net.core.busy_read)");
                }
            }
            sockets.push((Arc::new(UdpSocket::from_std(sock)?), port, groups));
        }
        tracing::info!(feed = %cfg.feed, iface = %iface.name, groups = cfg.groups.len(), dests = ?cfg.dests, "ingress joined");
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
            .map(|d| obs.links.add(&obs.metrics, &cfg.feed, "ingress", d))
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

        let window = Arc::new(Window {
            ring: Mutex::new(Ring::new(
                cfg.window_bytes,
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
            let mut ring = window.ring.lock().expect("window lock");
            for i in 0..n {
                let (m, payload) = batch.get(i);
                if m.truncated {
                    stats.dropped("truncated", 1);
                    warn_limited!(odd, from = %m.src, max = cfg.max_datagram, "datagram longer than max_datagram dropped");
                    continue;
                }
                let Some(g) = m.dst.and_then(|d| groups.iter().position(|g| *g == d)) else {
                    stats.dropped("not_joined", 1);
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

/// Shared between a connection's reader and writer.
struct Peer {
    acked: AtomicU64,
    last_rx_ms: AtomicU64,
    epoch: Instant,
}

impl Peer {
    fn heard(&self) {
        self.last_rx_ms
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    fn last_rx(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_rx_ms.load(Ordering::Relaxed))
    }
}

/// One destination: its own position in the window and its own link.
struct Dest {
    name: String,
    tls: Option<tls::Client>,
    cfg: IngressFeed,
    stream_id: u64,
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
            let taken_over = match self.session(acked, connected_before).await {
                Ok(_) => break,
                Err((a, e)) => {
                    let was_up = a.is_some();
                    if let Some(a) = a {
                        acked = acked.max(a);
                        connected_before = true;
                        self.stats.reconnect(&self.name);
                        self.stats.connected.dec();
                    }
                    let (dest, feed) = (&self.name, &self.cfg.feed);
                    let taken_over = matches!(&e, LinkError::Rejected { reject: Reject::Peer(c), .. } if *c == Reject::TakenOver.code());
                    match &e {
                        LinkError::Rejected { reject, .. } if !was_up => {
                            self.stats.handshake_failed(reject.label());
                            self.link.set("refused", Some(e.to_string()));
                            tracing::error!(%dest, %feed, error = %e, "the egress refused this feed");
                        }
                        _ => {
                            self.link.set("down", Some(e.to_string()));
                            // A link that was up going down is a state change, logged
                            // every time; only repeated failures to connect are limited.
                            if taken_over {
                                tracing::warn!(%dest, %feed, error = %e, "another sender took over this feed; retrying slowly");
                            } else if was_up {
                                tracing::warn!(%dest, %feed, error = %e, "link lost; reconnecting");
                            } else {
                                warn_limited!(limit, %dest, %feed, error = %e, "link down; reconnecting");
                            }
                        }
                    }
                    taken_over
                }
            };
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
    }

    /// One connection: handshake, then stream from the window. Returns the
    /// acknowledged position; on error, with it if the link had come up.
    async fn session(&self, acked: u64, replay: bool) -> Result<u64, (Option<u64>, LinkError)> {
        let (cfg, stats, dest) = (&self.cfg, &self.stats, self.name.as_str());
        let tcp = link::connect(dest, CONNECT_TIMEOUT)
            .await
            .map_err(|e| (None, e.into()))?;
        let mut stream: BoxStream = match &self.tls {
            Some(t) => tokio::time::timeout(HANDSHAKE_TIMEOUT, t.connect(dest, tcp))
                .await
                .map_err(|_| {
                    (
                        None,
                        LinkError::Tls(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "handshake timed out",
                        )),
                    )
                })?
                .map_err(|e| (None, LinkError::Tls(e)))?,
            None => Box::new(tcp),
        };
        let mut fb = FrameBuf::new(64 * 1024, MAX_HANDSHAKE_FRAME);
        let key = cfg.keys.current().into_iter().next();
        let (hs, hello) = ClientHandshake::start(
            &cfg.feed,
            self.stream_id,
            key,
            rand::random(),
            self.manifest.clone(),
        );
        let welcome = tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            link::client_handshake(&mut stream, &mut fb, hs, hello),
        )
        .await
        .map_err(|_| {
            let detail = "handshake took too long".into();
            (
                None,
                LinkError::Rejected {
                    reject: Reject::Timeout,
                    detail,
                },
            )
        })?
        .map_err(|e| (None, e))?;
        stats.connected.inc();
        self.link.set("up", None);
        let peer = Peer {
            acked: AtomicU64::new(acked),
            last_rx_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        };
        let mut start = acked.max(welcome.resume_from);
        {
            let ring = self.window.ring.lock().expect("window lock");
            if start < ring.oldest_seq() {
                let lost = ring.oldest_seq() - start;
                stats.dropped("behind", lost);
                tracing::warn!(
                    dest,
                    lost,
                    "datagrams left the window before this destination got them"
                );
                start = ring.oldest_seq();
            }
            if replay {
                stats.replayed.inc_by(ring.next_seq().saturating_sub(start));
            }
        }
        self.link.sends_next(start);
        tracing::info!(dest, feed = %cfg.feed, from = start, "link up");
        let (rd, wr) = tokio::io::split(stream);
        let hb = Duration::from_millis(welcome.heartbeat_ms.clamp(100, 10_000) as u64);
        let r = tokio::select! {
            r = read_acks(rd, fb, &peer) => r,
            r = write_window(wr, start, self, &peer, hb) => r,
        };
        let acked = peer.acked.load(Ordering::Relaxed);
        match r {
            Ok(()) => {
                stats.connected.dec();
                self.link.set("down", Some("stopped".into()));
                Ok(acked)
            }
            Err(e) => Err((Some(acked), e)),
        }
    }
}

async fn read_acks<R: AsyncRead + Unpin>(
    mut rd: R,
    mut fb: FrameBuf,
    peer: &Peer,
) -> Result<(), LinkError> {
    fb.set_max_frame(MAX_HANDSHAKE_FRAME);
    loop {
        while let Some(f) = fb.next_frame()? {
            match f {
                Frame::Ack { next_seq } => {
                    peer.acked.fetch_max(next_seq, Ordering::Relaxed);
                }
                Frame::Heartbeat { .. } => {}
                Frame::Goodbye { code, reason } => {
                    return Err(LinkError::Rejected {
                        reject: Reject::Peer(code),
                        detail: reason,
                    });
                }
                _ => {
                    return Err(LinkError::Rejected {
                        reject: Reject::Unexpected,
                        detail: "unexpected frame from the egress".into(),
                    });
                }
            }
        }
        let n = rd.read(fb.unfilled()).await?;
        if n == 0 {
            return Err(LinkError::Closed);
        }
        fb.filled(n);
        peer.heard();
    }
}

async fn write_window<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut cursor: u64,
    dest: &Dest,
    peer: &Peer,
    heartbeat: Duration,
) -> Result<(), LinkError> {
    let (window, stats, stop) = (&*dest.window, &*dest.stats, &dest.stop);
    let mut head = window.head.subscribe();
    let mut live = Liveness::new(Instant::now(), heartbeat, session::DEAD_AFTER);
    let mut out = Vec::with_capacity(WRITE_CHUNK + crate::wire::frame::MAX_FRAME);
    loop {
        out.clear();
        let read = window
            .ring
            .lock()
            .expect("window lock")
            .read(cursor, &mut out, WRITE_CHUNK);
        match read {
            Read::Copied { next } => {
                live.on_rx(peer.last_rx());
                write_live(&mut wr, &out, &mut live, peer).await?;
                let n = next - cursor;
                let bytes = (out.len() - n as usize * DATA_OVERHEAD) as u64;
                stats.datagrams_out.inc_by(n);
                stats.bytes_out.inc_by(bytes);
                dest.link.carried(n, bytes);
                dest.link.sends_next(next);
                cursor = next;
                continue;
            }
            Read::Behind { oldest } => {
                stats.dropped("behind", oldest - cursor);
                tracing::warn!(
                    lost = oldest - cursor,
                    "destination fell behind the window; skipped forward"
                );
                cursor = oldest;
                continue;
            }
            Read::UpToDate => {}
        }
        if stop.is_cancelled() {
            // Everything in the window is written: say goodbye.
            let _ = link::send(&mut wr, &Reject::ShuttingDown.goodbye("ingress stopping")).await;
            let _ = wr.shutdown().await;
            return Ok(());
        }
        live.on_rx(peer.last_rx());
        let now = Instant::now();
        if live.is_dead(now) {
            return Err(LinkError::Dead(session::DEAD_AFTER));
        }
        if live.heartbeat_due(now) {
            out.clear();
            crate::wire::frame::encode(&Frame::Heartbeat { sent_ns: now_ns() }, &mut out);
            write_live(&mut wr, &out, &mut live, peer).await?;
            continue;
        }
        tokio::select! {
            r = head.changed() => if r.is_err() { return Ok(()) },
            _ = tokio::time::sleep_until(live.next_deadline().into()) => {}
            _ = stop.cancelled() => {}
        }
    }
}

/// Write all of `buf`, failing if the peer stops answering meanwhile (a full
/// TCP window to a dead peer would otherwise block forever).
async fn write_live<W: AsyncWrite + Unpin>(
    wr: &mut W,
    buf: &[u8],
    live: &mut Liveness,
    peer: &Peer,
) -> Result<(), LinkError> {
    let mut off = 0;
    while off < buf.len() {
        tokio::select! {
            r = wr.write(&buf[off..]) => {
                let n = r?;
                if n == 0 {
                    return Err(LinkError::Closed);
                }
                off += n;
            }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {
                live.on_rx(peer.last_rx());
                if live.is_dead(Instant::now()) {
                    return Err(LinkError::Dead(session::DEAD_AFTER));
                }
            }
        }
    }
    wr.flush().await?;
    live.on_tx(Instant::now());
    Ok(())
}
