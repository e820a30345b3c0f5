//! The send half: one task per destination reads the window at its own
//! position and drives its link (connect, handshake, session, replay).

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::config::IngressFeed;
use crate::net::link::{self, Backoff, LinkError};
use crate::net::tls::{self, BoxStream};
use crate::obs::links::{Link, LinkState};
use crate::obs::logs::RateLimit;
use crate::obs::metrics::{DropReason, FeedStats};
use crate::ring::Read;
use crate::warn_limited;
use crate::wire::buffer::FrameBuf;
use crate::wire::frame::{DATA_OVERHEAD, FRAME_HEADER, MAX_FRAME, MAX_HANDSHAKE_FRAME};
use crate::wire::handshake::{ClientHandshake, ClientParams, Reject};
use crate::wire::record::{self, RECORD_OVERHEAD};
use crate::wire::session::{self, End, IngressEvent, IngressSession};

use super::{CLOSE_TIMEOUT, CONNECT_TIMEOUT, HANDSHAKE_TIMEOUT, WRITE_CHUNK, Window};

/// One destination: its own position in the window and its own link.
pub(super) struct Dest {
    pub(super) name: String,
    pub(super) tls: Option<tls::Client>,
    pub(super) cfg: IngressFeed,
    pub(super) stream_id: u64,
    pub(super) sender: String,
    pub(super) manifest: Vec<SocketAddrV4>,
    pub(super) window: Arc<Window>,
    pub(super) stats: Arc<FeedStats>,
    pub(super) link: Arc<Link>,
    pub(super) stop: CancellationToken,
}

impl Dest {
    /// Connect, stream, reconnect with backoff, until stopped.
    pub(super) async fn run(self) {
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
