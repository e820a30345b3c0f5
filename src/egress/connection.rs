//! One connection on a feed port: the handshake, bounded and counted, then
//! the established session driven against the feed's shared output.

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::admission::{Standing, Ticket};
use super::feed::{Busy, Feed, MAX_SENDERS};
use super::merge::Decision;
use super::{HANDSHAKE_TIMEOUT, Listener, PRE_AUTH_BUF};
use crate::clock::now_ns;
use crate::config::EgressFeed;
use crate::net::addr::remap;
use crate::net::link::{self, LinkError};
use crate::net::tls::BoxStream;
use crate::obs::links::LinkState;
use crate::warn_limited;
use crate::wire::buffer::FrameBuf;
use crate::wire::dedup::Verdict;
use crate::wire::frame::MAX_HANDSHAKE_FRAME;
use crate::wire::handshake::{Accepted, FeedKeys, Reject, ServerHandshake};
use crate::wire::session::{self, EgressEvent, EgressSession, End};

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

/// One connection: the handshake, then the feed's session until it ends.
pub(super) async fn connection(tcp: TcpStream, peer: SocketAddr, ticket: Ticket, l: Arc<Listener>) {
    let local = peer.ip().is_loopback() || tcp.local_addr().is_ok_and(|a| a.ip() == peer.ip());
    // Small until the peer has proven itself; the session has its own buffer.
    let mut fb = FrameBuf::new(PRE_AUTH_BUF, MAX_HANDSHAKE_FRAME);
    let outcome = handshake(tcp, peer, &l, &mut fb, &ticket).await;
    drop(ticket);
    let Some((mut stream, a)) = outcome else {
        return;
    };
    let feed = l.feeds[&a.feed].clone();
    let now = Instant::now();
    // Refusals after the client's proof go in a sealed record.
    let refuse = async |stream: &mut BoxStream, r: Reject, why: &str| {
        let mut s = EgressSession::new(&a.keys, a.encrypt, now, 0, &[]);
        s.close(r, why);
        let mut out = Vec::new();
        s.poll_transmit(now, &mut out);
        let _ = tokio::time::timeout(Duration::from_secs(1), link::send(stream, &out)).await;
    };
    if let Some(g) = local.then(|| looping_group(&a, &feed.cfg)).flatten() {
        l.metrics.handshake_failed(&a.feed, "egress", "loop");
        let why = format!(
            "{g} would be emitted back unchanged on this host, where the ingress joins it; add --map {}=239.255.255.1 (or another group) or run the egress elsewhere",
            g.ip()
        );
        tracing::error!(%peer, feed = %a.feed, "refusing a loop: {why}");
        refuse(&mut stream, Reject::Loop, &why).await;
        return;
    }
    let claim = match feed.claim(&a.sender, a.authenticated) {
        Ok(c) => c,
        Err(busy) => {
            let (r, why) = match busy {
                Busy::Unauthenticated => (
                    Reject::FeedBusy,
                    "this unauthenticated feed has a sender; it is never taken over".to_string(),
                ),
                Busy::TooManySenders => (
                    Reject::TooManyConnections,
                    format!("this feed has {MAX_SENDERS} senders already"),
                ),
            };
            l.metrics.handshake_failed(&a.feed, "egress", r.label());
            warn_limited!(l.limit(), %peer, feed = %a.feed, sender = %a.sender, "refused a sender: {why}");
            refuse(&mut stream, r, &why).await;
            return;
        }
    };
    if let Some(what) = &claim.replaced {
        tracing::info!(%peer, feed = %a.feed, sender = %a.sender, "a new connection of this sender took over from {what}; closing the old link");
    }
    // Per-sender counters for merged feeds, where several senders are expected.
    let sender_stats = feed.merging().then(|| feed.stats.sender(&a.sender));
    let resume_from = {
        let mut out = feed.out.lock().await;
        let o = &mut *out;
        let key = if feed.merging() {
            a.sender.as_str()
        } else {
            ""
        };
        let (old, seen) = o.stream(claim.sender, key).stream();
        let resume = o.stream(claim.sender, key).begin(a.stream_id);
        if let (Some(m), Some(st)) = (&mut o.merger, &sender_stats) {
            m.sender_up(claim.sender, st.clone(), seen && old != a.stream_id);
        }
        resume
    };
    let mut session =
        EgressSession::new(&a.keys, a.encrypt, Instant::now(), resume_from, fb.peek());
    drop(fb);
    tracing::info!(%peer, feed = %a.feed, sender = %a.sender, resume_from, authenticated = a.authenticated, encrypted = a.encrypt, "sender connected");
    if let Some(st) = &sender_stats {
        *st.peer.lock().expect("peer lock") = peer.to_string();
        st.set_connected(true, now_ns());
    }
    feed.stats.connected.inc();
    feed.link.set(LinkState::Up, None);
    let me = Sending {
        sender: claim.sender,
        stream_id: a.stream_id,
        cut: &claim.cut,
        shutdown: &l.shutdown,
    };
    let r = receive(stream, &mut session, &feed, &me).await;
    let still_active = feed.release(claim.sender, claim.conn);
    if let Some(st) = sender_stats.as_ref().filter(|_| still_active) {
        st.set_connected(false, now_ns());
    }
    {
        let mut out = feed.out.lock().await;
        let o = &mut *out;
        if let Some(m) = o.merger.as_mut().filter(|_| still_active) {
            m.sender_down(claim.sender, now_ns(), &mut o.released);
        }
        o.emit_released(&[]).await;
    }
    feed.stats.connected.dec();
    if feed.stats.connected.get() == 0 {
        let why = r.as_ref().err().map_or_else(
            || format!("{peer} disconnected"),
            |e| format!("{peer}: {e}"),
        );
        feed.link.set(LinkState::Down, Some(why));
    }
    match r {
        Ok(()) => tracing::info!(%peer, feed = %a.feed, sender = %a.sender, "sender disconnected"),
        Err(e) => {
            feed.stats.reconnect(&peer.ip().to_string());
            feed.stats.session_ended(e.reason());
            if matches!(e, LinkError::Session(End::BadRecord(_) | End::Violation(_))) {
                warn_limited!(l.limit(), %peer, feed = %a.feed, reason = e.reason(), error = %e, "link dropped: the sender's bytes broke the protocol (the ingress will replay its window)");
            } else {
                tracing::warn!(%peer, feed = %a.feed, sender = %a.sender, error = %e, "link down");
            }
        }
    }
}

/// Who a session sends as, and what ends it from outside.
struct Sending<'a> {
    sender: usize,
    stream_id: u64,
    /// Cancelled when another connection of the same sender takes over.
    cut: &'a CancellationToken,
    shutdown: &'a CancellationToken,
}

/// An ingress on this host whose groups this egress would emit back unchanged
/// (and may emit) is an obvious loop.
fn looping_group(a: &Accepted, cfg: &EgressFeed) -> Option<SocketAddrV4> {
    a.manifest
        .iter()
        .copied()
        .find(|g| remap(&cfg.map, *g) == *g && cfg.allow.iter().any(|c| c.contains(*g.ip())))
}

/// Drive an established session: read, merge, emit, acknowledge, until it
/// ends. The feed's output is locked once per batch read, never per datagram.
async fn receive<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    s: &mut EgressSession,
    feed: &Feed,
    me: &Sending<'_>,
) -> Result<(), LinkError> {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut out = Vec::with_capacity(256);
    let mut ended = None;
    loop {
        let (mut datagrams, mut bytes) = (0u64, 0u64);
        {
            let mut guard = feed.out.lock().await;
            let o = &mut *guard;
            let now = now_ns();
            while let Some(ev) = s.poll_event() {
                let d = match ev {
                    EgressEvent::Data(d) => d,
                    EgressEvent::Closed(end) => {
                        ended = Some(end);
                        continue;
                    }
                };
                let len = d.payload.len() as u64;
                datagrams += 1;
                bytes += len;
                feed.stats.datagrams_in.inc();
                feed.stats.bytes_in.inc_by(len);
                match o.streams[me.sender].0.check(me.stream_id, d.seq) {
                    Verdict::Stale => continue,
                    Verdict::Duplicate => {
                        feed.stats.duplicates.inc();
                        continue;
                    }
                    Verdict::Emit { gap } if gap > 0 => {
                        // Without a merge these are the feed's gaps; with one,
                        // the venue's numbers say what the customer missed.
                        if o.merger.is_none() {
                            feed.stats.gaps.inc_by(gap);
                        }
                        tracing::warn!(feed = %feed.cfg.feed, missing = gap, before = d.seq, "datagrams missing from the link (the ingress's window lost them)");
                    }
                    Verdict::Emit { .. } => {}
                }
                let decision = match &mut o.merger {
                    None => Decision::Emit,
                    Some(m) => m.accept(
                        me.sender,
                        d.seq,
                        d.group,
                        d.recv_ns,
                        &s.bytes()[d.payload.clone()],
                        now,
                        &mut o.released,
                    ),
                };
                if decision == Decision::Emit && o.emitter.queue(d.group, d.payload, d.recv_ns) {
                    o.emitter.flush(s.bytes()).await;
                    // Out: say so now, not at the end of the record, so a
                    // kill in between repeats as little as it can.
                    o.persist(me.sender);
                }
                o.emit_released(s.bytes()).await;
            }
            o.emitter.flush(s.bytes()).await;
            o.persist(me.sender);
            if let Some(m) = &o.merger {
                s.limit_ack(m.lowest_held(me.sender));
                if m.held() > 0 {
                    feed.wake.notify_one();
                }
            }
        }
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
            _ = me.cut.cancelled() => s.close(Reject::TakenOver, "another connection of this sender took over"),
            _ = me.shutdown.cancelled() => s.close(Reject::ShuttingDown, "egress stopping"),
        }
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}
