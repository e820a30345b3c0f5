//! One egress feed: who sends it now, and the emission state its senders'
//! connections share.
//!
//! Without a merge a feed has one active sender: an authenticated newcomer
//! takes over. With a merge (`--merge FORMAT`) it takes several live senders
//! at once, told apart by the name each gives in its Hello (`--sender`): a
//! connection with a name already connected replaces that connection (the
//! same sender restarted, or its half-dead link); another name is another
//! live sender. A sender without a key never takes over anything.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;

use super::emitter::Emitter;
use super::merge::{MergeFormat, Merger, Released};
use super::state::{self, State};
use crate::clock::now_ns;
use crate::config::EgressFeed;
use crate::obs::links::Link;
use crate::obs::metrics::FeedStats;
use crate::wire::dedup::Emitted;

/// Live senders a merged feed takes at most.
pub const MAX_SENDERS: usize = 8;

/// What a feed's connections share, under one lock taken per batch.
pub struct Output {
    pub emitter: Emitter,
    pub merger: Option<Merger>,
    /// Per sender: the duplicate filter of its stream, and where it is kept.
    pub streams: Vec<(Emitted, Option<usize>)>,
    pub released: Released,
    /// What this feed emitted, kept across restarts (`--state-dir`).
    pub state: Option<Arc<State>>,
}

impl Output {
    /// The duplicate filter of sender `id` (named `key`), restored from the
    /// state file the first time, if a predecessor kept one.
    pub fn stream(&mut self, id: usize, key: &str) -> &mut Emitted {
        while self.streams.len() <= id {
            self.streams.push((Emitted::default(), None));
        }
        if self.streams[id].1.is_none()
            && let Some(st) = &self.state
            && let Some(slot) = st.slot(state::key(&[b"stream", key.as_bytes()]))
        {
            let [stream, next, kept] = st.get(slot);
            if kept == 1 && !self.streams[id].0.stream().1 {
                self.streams[id].0.restore(stream, next);
            }
            self.streams[id].1 = Some(slot);
        }
        &mut self.streams[id].0
    }

    /// Write sender `id`'s position and the merge's (after the batch went out).
    pub fn persist(&mut self, id: usize) {
        let Some(st) = &self.state else { return };
        if let Some((e, Some(slot))) = self.streams.get(id) {
            let (stream, seen) = e.stream();
            if seen {
                let held = self.merger.as_ref().and_then(|m| m.lowest_held(id));
                let next = held.map_or(e.next_seq(), |h| h.min(e.next_seq()));
                st.set(*slot, [stream, next, 1]);
            }
        }
        if let Some(m) = &mut self.merger {
            m.persist();
        }
    }

    /// Write every sender's position and the merge's: after datagrams the
    /// hold timer released went out, which no connection will persist.
    pub fn persist_all(&mut self) {
        for id in 0..self.streams.len() {
            self.persist(id);
        }
        if self.streams.is_empty()
            && let Some(m) = &mut self.merger
        {
            m.persist();
        }
    }

    /// Emit what the merger released (after what was queued from `buf`).
    pub async fn emit_released(&mut self, buf: &[u8]) {
        if self.released.items.is_empty() {
            return;
        }
        self.emitter.flush(buf).await;
        let Output {
            emitter, released, ..
        } = self;
        for it in &released.items {
            if emitter.queue(it.group, it.payload.clone(), it.recv_ns) {
                emitter.flush(&released.buf).await;
            }
        }
        emitter.flush(&released.buf).await;
        released.clear();
    }
}

/// A connection that sends for a feed.
struct Active {
    conn: u64,
    cut: CancellationToken,
    authenticated: bool,
}

#[derive(Default)]
struct Senders {
    names: Vec<String>,
    active: Vec<Option<Active>>,
    next_conn: u64,
}

/// A claim on a feed: which sender this connection is.
pub struct Claim {
    pub sender: usize,
    pub conn: u64,
    pub cut: CancellationToken,
    /// The connection it replaced, if any.
    pub replaced: Option<String>,
}

/// Why a connection may not send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// Without a key, a connected sender is never replaced.
    Unauthenticated,
    /// The feed has [`MAX_SENDERS`] senders already.
    TooManySenders,
}

pub struct Feed {
    pub cfg: EgressFeed,
    pub stats: Arc<FeedStats>,
    pub link: Arc<Link>,
    pub out: Mutex<Output>,
    senders: std::sync::Mutex<Senders>,
    /// Wakes the hold timer when something was held.
    pub wake: Notify,
}

impl Feed {
    pub fn new(
        cfg: EgressFeed,
        stats: Arc<FeedStats>,
        link: Arc<Link>,
        emitter: Emitter,
    ) -> std::io::Result<Feed> {
        let state = match &cfg.state_dir {
            Some(dir) => {
                let p = dir.join(format!("{}.state", cfg.feed));
                let st = State::open(&p).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("--state-dir: {}: {e}", p.display()))
                })?;
                Some(Arc::new(st))
            }
            None => None,
        };
        let merger = (cfg.merge != MergeFormat::None).then(|| {
            let mut m = Merger::new(cfg.merge, cfg.merge_wait.get(), stats.clone());
            if let Some(st) = &state {
                m.keep_in(st.clone());
            }
            m
        });
        Ok(Feed {
            out: Mutex::new(Output {
                emitter,
                merger,
                streams: Vec::new(),
                released: Released::default(),
                state,
            }),
            senders: Default::default(),
            wake: Notify::new(),
            cfg,
            stats,
            link,
        })
    }

    pub fn merging(&self) -> bool {
        self.cfg.merge != MergeFormat::None
    }

    /// Take the feed (or this sender's place in it) for a new connection.
    pub fn claim(&self, name: &str, authenticated: bool) -> Result<Claim, Busy> {
        let mut s = self.senders.lock().expect("senders lock");
        // Without a merge every connection is the one sender.
        let key = if self.merging() { name } else { "" };
        let sender = match s.names.iter().position(|n| n == key) {
            Some(i) => i,
            None if s.names.len() >= MAX_SENDERS => return Err(Busy::TooManySenders),
            None => {
                s.names.push(key.to_string());
                s.active.push(None);
                s.names.len() - 1
            }
        };
        if s.active[sender].is_some() && !authenticated {
            return Err(Busy::Unauthenticated);
        }
        s.next_conn += 1;
        let (conn, cut) = (s.next_conn, CancellationToken::new());
        let old = s.active[sender].replace(Active {
            conn,
            cut: cut.clone(),
            authenticated,
        });
        let replaced = old.map(|a| {
            a.cut.cancel();
            if a.authenticated {
                "an authenticated connection".to_string()
            } else {
                "an unauthenticated connection".to_string()
            }
        });
        Ok(Claim {
            sender,
            conn,
            cut,
            replaced,
        })
    }

    /// Connection `conn` of `sender` stopped; true if it was still the active one.
    pub fn release(&self, sender: usize, conn: u64) -> bool {
        let mut s = self.senders.lock().expect("senders lock");
        match s.active.get_mut(sender) {
            Some(slot) if slot.as_ref().is_some_and(|a| a.conn == conn) => {
                *slot = None;
                true
            }
            _ => false,
        }
    }
}

/// Release held datagrams as their waits end, until `stop` (merged feeds).
pub async fn hold_timer(feed: Arc<Feed>, stop: CancellationToken) {
    loop {
        let due = {
            let out = feed.out.lock().await;
            out.merger.as_ref().and_then(|m| m.next_deadline_ns())
        };
        let sleep = async {
            match due {
                Some(t) => {
                    let wait = Duration::from_nanos(t.saturating_sub(now_ns()));
                    tokio::time::sleep(wait).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = feed.wake.notified() => continue,
            _ = stop.cancelled() => return,
        }
        let mut out = feed.out.lock().await;
        let o = &mut *out;
        if let Some(m) = &mut o.merger {
            m.release_due(now_ns(), &mut o.released);
        }
        o.emit_released(&[]).await;
        o.persist_all();
    }
}
