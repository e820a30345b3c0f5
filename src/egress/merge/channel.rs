//! One venue channel of a merged feed, each sender's view of it, and the
//! rules that read them: a venue restart, who could still fill a gap, what
//! was emitted first from whom.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;

use super::{RESET_AFTER, RESET_RUN};
use crate::feeds::seq::SeqTracker;
use crate::obs::senders::SenderStats;

/// Lag samples: the weight of a new one in the moving average.
const LAG_WEIGHT: f64 = 0.05;
/// First arrival times remembered per channel, for the lag of later copies.
pub(super) const FIRSTS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct ChanId {
    pub(super) group: SocketAddrV4,
    pub(super) channel: u32,
}

pub(super) struct Held {
    pub(super) end: u64,
    pub(super) sender: usize,
    pub(super) link_seq: u64,
    pub(super) group: SocketAddrV4,
    pub(super) recv_ns: u64,
    pub(super) arrived_ns: u64,
    pub(super) payload: Vec<u8>,
}

/// One sender's view of one channel.
#[derive(Default)]
pub(super) struct Copy {
    /// One past the highest number it delivered.
    pub(super) pos: Option<u64>,
    /// Its packets behind the merged stream in a row, up to now.
    pub(super) late_run: u32,
    pub(super) own: Option<Box<SeqTracker>>,
    /// It restarted and has not delivered on this channel since.
    pub(super) fresh: bool,
}

pub(super) struct Channel {
    pub(super) next: Option<u64>,
    pub(super) copies: Vec<Copy>,
    /// Numbers emitted, to tell which of a sender's gaps another filled.
    pub(super) emitted: Box<SeqTracker>,
    pub(super) held: BTreeMap<u64, Held>,
    pub(super) firsts: Box<[(u64, u64)]>,
    pub(super) gaps: Counter,
    /// Since when every live sender sends numbers far behind (a venue restart?).
    pub(super) behind_since: Option<u64>,
    /// Where its position is kept across restarts (`super::state`), and
    /// whether it moved since it was last written there.
    pub(super) slot: Option<usize>,
    pub(super) dirty: bool,
}

pub(super) struct Sender {
    pub(super) stats: Arc<SenderStats>,
    pub(super) live: bool,
}

impl Channel {
    /// A channel first seen now; `next` is where a predecessor left it, if known.
    pub(super) fn new(next: Option<u64>, gaps: Counter, slot: Option<usize>) -> Channel {
        Channel {
            next,
            copies: Vec::new(),
            emitted: Box::default(),
            held: BTreeMap::new(),
            firsts: vec![(u64::MAX, 0); FIRSTS].into_boxed_slice(),
            gaps,
            behind_since: None,
            slot,
            dirty: false,
        }
    }
}

/// Has the venue started this channel again? Every live sender behind the
/// merged stream, [`RESET_RUN`] packets in a row, for [`RESET_AFTER`]. One
/// sender replaying an old window does not count: the others are current.
pub(super) fn restarted_venue(ch: &mut Channel, senders: &[Sender], now_ns: u64) -> bool {
    if ch.next.is_none() {
        return false;
    }
    let mut any = false;
    let all = senders.iter().enumerate().all(|(j, s)| {
        let run = ch.copies.get(j).map_or(0, |c| c.late_run);
        any |= s.live && run > 0;
        !s.live || run >= RESET_RUN || ch.copies.get(j).is_none_or(|c| c.pos.is_none())
    });
    if !(all && any) {
        ch.behind_since = None;
        return false;
    }
    let since = *ch.behind_since.get_or_insert(now_ns);
    if now_ns.saturating_sub(since) >= RESET_AFTER.as_nanos() as u64 {
        ch.behind_since = None;
        return true;
    }
    false
}

/// Could a live sender other than `from` still deliver the numbers before `s`?
pub(super) fn can_fill(senders: &[Sender], ch: &Channel, s: u64, from: usize) -> bool {
    senders.iter().enumerate().any(|(j, snd)| {
        j != from && snd.live && ch.copies.get(j).and_then(|c| c.pos).is_none_or(|p| p < s)
    })
}

/// `seq .. end` went out, first from `from`: note it, and credit the senders
/// that had skipped these numbers with a gap another filled.
pub(super) fn emitted(
    ch: &mut Channel,
    senders: &[Sender],
    seq: u64,
    end: u64,
    from: usize,
    now_ns: u64,
) {
    let next = ch.next.unwrap_or(seq).max(end);
    ch.next = Some(next);
    ch.dirty = true;
    ch.emitted.on_range(seq, end - seq);
    ch.firsts[(seq as usize) % FIRSTS] = (seq, now_ns);
    for (j, c) in ch.copies.iter().enumerate() {
        if j == from {
            continue;
        }
        if let Some(own) = &c.own
            && own.next().is_some_and(|n| n > seq)
            && !own.has(seq)
            && let Some(s) = senders.get(j)
        {
            s.stats.filled.inc_by(end - seq);
        }
    }
}

pub(super) fn lag_sample(s: &SenderStats, lag_s: f64) {
    let old = s.lag_seconds.get();
    s.lag_seconds.set(old + LAG_WEIGHT * (lag_s - old));
}
