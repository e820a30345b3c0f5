//! The cloud side: accept the link, prove the sender, drop what was already
//! emitted, guard (allow, map, size) and emit as multicast in batches.
//!
//! One active sender per feed: a newly authenticated connection takes over and
//! the old one is closed. Strangers never get past the handshake, which is
//! bounded in time and in how many may be under way at once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{SocketAddr, SocketAddrV4};
use std::ops::Range;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::Interest;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ns;
use crate::config::EgressFeed;
use crate::net::addr::remap;
use crate::net::batch::SendBatch;
use crate::net::link::{self, LinkError};
use crate::net::mcast::{self, Iface};
use crate::net::tls::{self, BoxStream};
use crate::obs::Obs;
use crate::obs::links::{Link, LinkState};
use crate::obs::logs::RateLimit;
use crate::obs::metrics::{FeedStats, GroupStats, Metrics};
use crate::warn_limited;
use crate::wire::buffer::FrameBuf;
use crate::wire::dedup::{Emitted, Verdict};
use crate::wire::frame::MAX_HANDSHAKE_FRAME;
use crate::wire::handshake::{Accepted, FeedKeys, Reject, ServerHandshake};
use crate::wire::session::{self, DataRef, EgressEvent, EgressSession, End};
use admission::{MAX_PENDING, MAX_PER_SOURCE, Standing, Ticket};

/// From accept to the client's proof, TLS included.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// A connection's buffer until it has proven itself: two handshake frames.
const PRE_AUTH_BUF: usize = 2 * MAX_HANDSHAKE_FRAME;
/// Per-group counter handles kept by an emitter; past this, looked up each time.
const MAX_GROUP_HANDLES: usize = 1024;

pub mod admission;

/// A feed's emission state. The active connection holds the lock for its life,
/// so a takeover waits until the old connection stops emitting.
struct Emitter {
    sock: UdpSocket,
    batch: SendBatch,
    pending: Vec<(SocketAddrV4, Range<usize>)>,
    recv_ns: Vec<u64>,
    emitted: Emitted,
    warned: HashSet<(SocketAddrV4, &'static str)>,
    groups: HashMap<SocketAddrV4, Arc<GroupStats>>,
    max_payload: usize,
}

struct Feed {
    cfg: EgressFeed,
    stats: Arc<FeedStats>,
    link: Arc<Link>,
    emitter: Mutex<Emitter>,
    /// The connection sending now (its number and its token), if any.
    active: std::sync::Mutex<Option<(u64, CancellationToken)>>,
    connections: std::sync::atomic::AtomicU64,
}

impl Feed {
    /// Connection `id` stopped sending: no one is active unless a newer one is.
    fn release(&self, id: u64) {
        let mut active = self.active.lock().expect("active lock");
        if active.as_ref().is_some_and(|(a, _)| *a == id) {
            *active = None;
        }
    }
}

/// Run every egress feed of `feeds` until `shutdown`.
pub async fn run(
    feeds: Vec<EgressFeed>,
    obs: Obs,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    Egress::bind(feeds, &obs).await?.serve(shutdown).await;
    Ok(())
}

/// The feeds served on one listener, by name.
type Feeds = Arc<HashMap<String, Arc<Feed>>>;

/// Egress feeds with their sockets bound, not yet accepting.
pub struct Egress {
    listeners: Vec<(TcpListener, Feeds, Option<tls::Server>)>,
    metrics: Arc<Metrics>,
}

impl Egress {
    /// Open the multicast sockets and bind the listeners (port 0 picks one).
    pub async fn bind(feeds: Vec<EgressFeed>, obs: &Obs) -> anyhow::Result<Egress> {
        obs.health.expect();
        let mut by_addr: BTreeMap<SocketAddr, HashMap<String, Arc<Feed>>> = BTreeMap::new();
        for cfg in feeds {
            let iface = Iface::resolve(&cfg.iface)
                .with_context(|| format!("egress {:?}: --iface", cfg.feed))?;
            let sock =
                mcast::emitter(&iface, cfg.ttl, cfg.sndbuf).context("multicast send socket")?;
            let emitter = Emitter {
                sock: UdpSocket::from_std(sock)?,
                batch: SendBatch::new(cfg.batch),
                pending: Vec::with_capacity(cfg.batch),
                recv_ns: Vec::with_capacity(cfg.batch),
                emitted: Emitted::default(),
                warned: HashSet::new(),
                groups: HashMap::new(),
                max_payload: mcast::max_payload(&iface),
            };
            let stats = obs.metrics.feed(&cfg.feed, "egress");
            let feed = Arc::new(Feed {
                stats,
                link: obs
                    .links
                    .add(&obs.metrics, &cfg.feed, "egress", &cfg.listen.to_string()),
                emitter: Mutex::new(emitter),
                active: std::sync::Mutex::new(None),
                connections: Default::default(),
                cfg,
            });
            by_addr
                .entry(feed.cfg.listen)
                .or_default()
                .insert(feed.cfg.feed.clone(), feed);
        }
        let mut listeners = Vec::new();
        for (addr, feeds) in by_addr {
            // Feeds sharing a port share its TLS settings (checked in config).
            let first = &feeds.values().next().expect("at least one feed").cfg;
            let tls = match (&first.tls_cert, &first.tls_key) {
                (Some(c), Some(k)) => Some(
                    tls::Server::new(c, k, first.tls_client_ca.as_deref())
                        .with_context(|| format!("TLS for {addr}"))?,
                ),
                _ => None,
            };
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("listen on {addr}"))?;
            tracing::info!(listen = %listener.local_addr()?, feeds = ?feeds.keys().collect::<Vec<_>>(), tls = tls.is_some(), "egress listening");
            listeners.push((listener, Arc::new(feeds), tls));
        }
        obs.health.ready();
        Ok(Egress {
            listeners,
            metrics: obs.metrics.clone(),
        })
    }

    /// Where each listener is bound.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|(l, _, _)| l.local_addr().ok())
            .collect()
    }

    /// Accept and relay until `shutdown`.
    pub async fn serve(self, shutdown: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        for (_, feeds, _) in &self.listeners {
            for f in feeds.values() {
                crate::keys::guard(
                    &f.stats,
                    &f.cfg.keys,
                    f.cfg.insecure_no_auth,
                    shutdown.clone(),
                );
            }
        }
        for (listener, feeds, tls) in self.listeners {
            let l = Listener {
                feeds,
                tls,
                metrics: self.metrics.clone(),
                gate: Default::default(),
                shutdown: shutdown.clone(),
                log_limit: std::sync::Mutex::new(RateLimit::new(Duration::from_secs(1))),
            };
            tasks.spawn(accept_loop(listener, Arc::new(l)));
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// What every connection of a listener shares.
struct Listener {
    feeds: Feeds,
    tls: Option<tls::Server>,
    metrics: Arc<Metrics>,
    gate: Arc<std::sync::Mutex<admission::Gate>>,
    shutdown: CancellationToken,
    /// One refusal logged per second, the rest counted in the line.
    log_limit: std::sync::Mutex<RateLimit>,
}

impl Listener {
    fn limit(&self) -> std::sync::MutexGuard<'_, RateLimit> {
        self.log_limit.lock().expect("log limit lock")
    }
}

async fn accept_loop(listener: TcpListener, l: Arc<Listener>) {
    let mut limit = RateLimit::new(Duration::from_secs(10));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    warn_limited!(limit, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = l.shutdown.cancelled() => break,
        };
        let (ticket, evicted) = admission::admit(&l.gate, peer.ip());
        if let Some(e) = evicted {
            let why = if e.same_source {
                format!("{MAX_PER_SOURCE} handshakes under way from {}", peer.ip())
            } else {
                format!("{MAX_PENDING} handshakes under way")
            };
            warn_limited!(limit, %peer, standing = ?e.standing, "{why}; dropped the weakest, oldest one");
        }
        let _ = link::tune(&stream);
        conns.spawn(connection(stream, peer, ticket, l.clone()));
        while conns.try_join_next().is_some() {}
    }
    // Connections see the same token and say goodbye; give them a moment.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
}

/// Why a pending handshake stopped waiting.
#[derive(Debug, Clone, Copy)]
enum Cut {
    Timeout,
    Evicted,
}

impl Cut {
    fn reject(self) -> (Reject, String) {
        match self {
            Cut::Timeout => (
                Reject::Timeout,
                format!("the handshake took longer than {HANDSHAKE_TIMEOUT:?}"),
            ),
            Cut::Evicted => (
                Reject::TooManyConnections,
                "too many handshakes under way; this one was dropped to make room".to_string(),
            ),
        }
    }
}

/// TLS (if on) and the handshake, bounded by the handshake timeout and by the
/// connection's place among the pending handshakes. Every refusal is counted,
/// logged (rate-limited) and, where a stream is left to say it on, told.
async fn handshake(
    tcp: TcpStream,
    peer: SocketAddr,
    l: &Listener,
    fb: &mut FrameBuf,
    ticket: &Ticket,
) -> Option<(BoxStream, Accepted)> {
    let deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
    let fail = |feed: &str, reason: &str| l.metrics.handshake_failed(feed, "egress", reason);
    let (mut stream, exporter): (BoxStream, _) = match &l.tls {
        Some(t) => {
            let r = tokio::select! {
                r = tokio::time::timeout_at(deadline, t.accept(tcp)) => r.map_err(|_| Cut::Timeout),
                _ = ticket.cut.cancelled() => Err(Cut::Evicted),
            };
            match r {
                Ok(Ok((s, e))) => (s, Some(e)),
                Ok(Err(e)) => {
                    fail("-", "tls");
                    warn_limited!(l.limit(), %peer, error = %e, "TLS handshake refused");
                    return None;
                }
                Err(cut) => {
                    // No TLS session yet: nothing to say the Goodbye on.
                    fail("-", cut.reject().0.label());
                    return None;
                }
            }
        }
        None => (Box::new(tcp), None),
    };
    let lookup = |name: &str| {
        l.feeds.get(name).map(|f| FeedKeys {
            keys: f.cfg.keys.current(),
        })
    };
    let mut hs = ServerHandshake::new(rand::random(), exporter);
    let progress = |known: bool| {
        ticket.advance(if known {
            Standing::KnownKey
        } else {
            Standing::Spoke
        })
    };
    let r = tokio::select! {
        r = tokio::time::timeout_at(deadline, link::server_handshake(&mut stream, fb, &mut hs, lookup, progress)) => {
            r.map_err(|_| Cut::Timeout)
        }
        _ = ticket.cut.cancelled() => Err(Cut::Evicted),
    };
    let served = |f: Option<String>| {
        f.filter(|f| l.feeds.contains_key(f))
            .unwrap_or_else(|| "-".into())
    };
    match r {
        Ok(Ok(a)) => Some((stream, a)),
        Ok(Err((feed, e))) => {
            let feed = served(feed);
            fail(&feed, e.reason());
            warn_limited!(l.limit(), %peer, %feed, reason = e.reason(), error = %e, "handshake refused");
            None
        }
        Err(cut) => {
            let feed = served(hs.feed().map(str::to_string));
            let (reject, why) = cut.reject();
            fail(&feed, reject.label());
            warn_limited!(l.limit(), %peer, %feed, reason = reject.label(), "handshake cut: {why}");
            let bye = reject.goodbye_bytes(&why);
            let _ = tokio::time::timeout(Duration::from_millis(200), link::send(&mut stream, &bye))
                .await;
            None
        }
    }
}

async fn connection(tcp: TcpStream, peer: SocketAddr, ticket: Ticket, l: Arc<Listener>) {
    let local = peer.ip().is_loopback() || tcp.local_addr().is_ok_and(|a| a.ip() == peer.ip());
    // Small until the peer has proven itself; the session has its own buffer.
    let mut fb = FrameBuf::new(PRE_AUTH_BUF, MAX_HANDSHAKE_FRAME);
    let outcome = handshake(tcp, peer, &l, &mut fb, &ticket).await;
    drop(ticket);
    let Some((mut stream, accepted)) = outcome else {
        return;
    };
    let feed = l.feeds[&accepted.feed].clone();
    let now = Instant::now();
    if let Some(g) = local.then(|| looping_group(&accepted, &feed.cfg)).flatten() {
        l.metrics.handshake_failed(&accepted.feed, "egress", "loop");
        let why = format!(
            "{g} would be emitted back unchanged on this host, where the ingress joins it; add --map {}=239.255.255.1 (or another group) or run the egress elsewhere",
            g.ip()
        );
        tracing::error!(%peer, feed = %accepted.feed, "refusing a loop: {why}");
        let mut s = EgressSession::new(&accepted.keys, accepted.encrypt, now, 0, &[]);
        s.close(Reject::Loop, &why);
        let mut out = Vec::new();
        s.poll_transmit(now, &mut out);
        let _ = tokio::time::timeout(Duration::from_secs(1), link::send(&mut stream, &out)).await;
        return;
    }
    // Take over from whoever sent this feed before; without a key, never:
    // a stranger could otherwise kick the real sender off again and again.
    let me = CancellationToken::new();
    let my_id = feed
        .connections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let busy = {
        let mut active = feed.active.lock().expect("active lock");
        match active.as_ref() {
            Some(_) if !accepted.authenticated => true,
            _ => {
                if let Some((_, old)) = active.replace((my_id, me.clone())) {
                    tracing::info!(%peer, feed = %accepted.feed, sender = %accepted.sender, "a new sender took over the feed; closing the old link");
                    old.cancel();
                }
                false
            }
        }
    };
    if busy {
        l.metrics
            .handshake_failed(&accepted.feed, "egress", Reject::FeedBusy.label());
        warn_limited!(l.limit(), %peer, feed = %accepted.feed, "refused a second unauthenticated sender: without a key a feed is never taken over");
        let mut s = EgressSession::new(&accepted.keys, accepted.encrypt, now, 0, &[]);
        s.close(
            Reject::FeedBusy,
            "this unauthenticated feed has a sender; it is never taken over",
        );
        let mut out = Vec::new();
        s.poll_transmit(now, &mut out);
        let _ = tokio::time::timeout(Duration::from_secs(1), link::send(&mut stream, &out)).await;
        return;
    }
    let mut emitter = tokio::select! {
        e = feed.emitter.lock() => e,
        _ = me.cancelled() => {
            feed.release(my_id);
            return;
        }
    };
    let resume_from = emitter.emitted.begin(accepted.stream_id);
    let mut session = EgressSession::new(
        &accepted.keys,
        accepted.encrypt,
        Instant::now(),
        resume_from,
        fb.peek(),
    );
    drop(fb);
    tracing::info!(%peer, feed = %accepted.feed, sender = %accepted.sender, resume_from, authenticated = accepted.authenticated, encrypted = accepted.encrypt, "sender connected");
    feed.stats.connected.inc();
    feed.link.set(LinkState::Up, None);
    let r = receive(stream, &mut session, &feed, &mut emitter, &me, &l.shutdown).await;
    feed.release(my_id);
    feed.stats.connected.dec();
    if feed.stats.connected.get() == 0 {
        let why = r.as_ref().err().map_or_else(
            || format!("{peer} disconnected"),
            |e| format!("{peer}: {e}"),
        );
        feed.link.set(LinkState::Down, Some(why));
    }
    match r {
        Ok(()) => tracing::info!(%peer, feed = %accepted.feed, "sender disconnected"),
        Err(e) => {
            feed.stats.reconnect(&peer.ip().to_string());
            feed.stats.session_ended(e.reason());
            if matches!(e, LinkError::Session(End::BadRecord(_) | End::Violation(_))) {
                warn_limited!(l.limit(), %peer, feed = %accepted.feed, reason = e.reason(), error = %e, "link dropped: the sender's bytes broke the protocol (the ingress will replay its window)");
            } else {
                tracing::warn!(%peer, feed = %accepted.feed, error = %e, "link down");
            }
        }
    }
}

/// An ingress on this host whose groups this egress would emit back unchanged
/// (and may emit) is an obvious loop.
fn looping_group(a: &Accepted, cfg: &EgressFeed) -> Option<SocketAddrV4> {
    a.manifest
        .iter()
        .copied()
        .find(|g| remap(&cfg.map, *g) == *g && cfg.allow.iter().any(|c| c.contains(*g.ip())))
}

/// Drive an established session: read, emit, acknowledge, until it ends.
async fn receive<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    s: &mut EgressSession,
    feed: &Feed,
    em: &mut Emitter,
    me: &CancellationToken,
    shutdown: &CancellationToken,
) -> Result<(), LinkError> {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut out = Vec::with_capacity(256);
    let mut ended = None;
    loop {
        let (mut datagrams, mut bytes) = (0u64, 0u64);
        while let Some(ev) = s.poll_event() {
            match ev {
                EgressEvent::Data(d) => {
                    datagrams += 1;
                    bytes += d.payload.len() as u64;
                    em.accept(&d, feed);
                    if em.pending.len() >= em.batch.capacity() {
                        em.flush(s.bytes(), &feed.stats).await;
                    }
                }
                EgressEvent::Closed(end) => ended = Some(end),
            }
        }
        em.flush(s.bytes(), &feed.stats).await;
        feed.link.carried(datagrams, bytes);
        out.clear();
        while s.poll_transmit(Instant::now(), &mut out) {}
        if !out.is_empty() {
            match tokio::time::timeout(session::DEAD_AFTER, link::send(&mut wr, &out)).await {
                Ok(r) => r?,
                Err(_) => return Err(LinkError::Session(End::Dead(session::DEAD_AFTER))),
            }
        }
        if let Some(end) = ended.take() {
            let _ = tokio::time::timeout(Duration::from_millis(200), wr.shutdown()).await;
            return if end.is_clean() {
                Ok(())
            } else {
                Err(LinkError::Session(end))
            };
        }
        let deadline = s.poll_timeout();
        tokio::select! {
            r = rd.read(s.recv_buf()) => match r? {
                0 => return Err(LinkError::Closed),
                n => s.handle_read(n, Instant::now()),
            },
            _ = sleep_until_opt(deadline) => s.handle_timeout(Instant::now()),
            _ = me.cancelled() => s.close(Reject::TakenOver, "another sender took over this feed"),
            _ = shutdown.cancelled() => s.close(Reject::ShuttingDown, "egress stopping"),
        }
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

impl Emitter {
    /// Decide about one datagram: duplicate, not allowed, too big, or queued.
    fn accept(&mut self, d: &DataRef, feed: &Feed) {
        let s = &feed.stats;
        let len = d.payload.len();
        s.datagrams_in.inc();
        s.bytes_in.inc_by(len as u64);
        match self.emitted.check(d.seq) {
            Verdict::Duplicate => {
                s.duplicates.inc();
                return;
            }
            Verdict::Emit { gap } if gap > 0 => {
                s.gaps.inc_by(gap);
                tracing::warn!(feed = %feed.cfg.feed, missing = gap, before = d.seq, "datagrams missing from the link");
            }
            Verdict::Emit { .. } => {}
        }
        let main = remap(&feed.cfg.map, d.group);
        let copies = feed.cfg.fanout.iter().filter_map(|r| r.apply(d.group));
        for (i, dst) in std::iter::once(main).chain(copies).enumerate() {
            if i > 0 && dst == main {
                continue;
            }
            if !dst.ip().is_multicast() {
                self.refuse(dst, "not_multicast", feed);
            } else if !feed.cfg.allow.iter().any(|c| c.contains(*dst.ip())) {
                self.refuse(dst, "not_allowed", feed);
            } else if len > self.max_payload {
                self.refuse(dst, "too_big", feed);
            } else {
                self.pending.push((dst, d.payload.clone()));
                self.recv_ns.push(d.recv_ns);
            }
        }
    }

    /// Drop and count; log once per group and reason.
    fn refuse(&mut self, dst: SocketAddrV4, reason: &'static str, feed: &Feed) {
        feed.stats.dropped(reason, 1);
        if self.warned.len() < 1024 && self.warned.insert((dst, reason)) {
            let why = match reason {
                "not_allowed" => "outside every --allow rule",
                "not_multicast" => "not a multicast group (the egress emits multicast only)",
                _ => "larger than the interface MTU allows unfragmented",
            };
            tracing::warn!(feed = %feed.cfg.feed, group = %dst, reason, "dropping datagrams: {why} (logged once per group)");
        }
    }

    /// Send everything queued with sendmmsg, waiting for the socket if it is full.
    async fn flush(&mut self, buf: &[u8], stats: &FeedStats) {
        let mut done = 0;
        while done < self.pending.len() {
            let (sock, batch, pending) = (&self.sock, &mut self.batch, &self.pending[done..]);
            let r = sock.try_io(Interest::WRITABLE, || {
                batch.send(sock.as_fd(), buf, pending)
            });
            match r {
                Ok(n) => {
                    let now = now_ns();
                    stats
                        .last_in_ns
                        .store(now, std::sync::atomic::Ordering::Relaxed);
                    for i in done..done + n {
                        let (dst, range) = &self.pending[i];
                        let len = range.len() as u64;
                        stats.datagrams_out.inc();
                        stats.bytes_out.inc_by(len);
                        // One handle per group, kept (a label lookup per datagram would cost a lock).
                        let g = match self.groups.get(dst) {
                            Some(g) => g.clone(),
                            None if self.groups.len() < MAX_GROUP_HANDLES => self
                                .groups
                                .entry(*dst)
                                .or_insert_with(|| stats.group(*dst))
                                .clone(),
                            None => stats.group(*dst),
                        };
                        g.datagrams_out.inc();
                        g.bytes_out.inc_by(len);
                        stats
                            .latency
                            .observe(now.saturating_sub(self.recv_ns[i]) as f64 * 1e-9);
                    }
                    done += n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let _ = self.sock.writable().await;
                }
                Err(e) => {
                    // The first datagram of the rest failed: count it and go on.
                    let reason = if e.raw_os_error() == Some(libc::EMSGSIZE) {
                        "too_big"
                    } else {
                        "send_error"
                    };
                    stats.dropped(reason, 1);
                    tracing::debug!(error = %e, group = %self.pending[done].0, "multicast send failed");
                    done += 1;
                }
            }
        }
        self.pending.clear();
        self.recv_ns.clear();
    }
}
