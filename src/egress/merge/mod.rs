//! Merging the copies that several senders carry of one feed (two datacenter
//! hosts, or one host per line), by the venue's own sequence numbers, so a
//! customer gets each packet once, in order per channel, whichever path
//! delivered it first.
//!
//! Per channel: the first copy of a number to arrive is emitted, later copies
//! are dropped and counted. A packet that arrives after a gap (its sender
//! skipped numbers) is held while another live sender has not yet reached it
//! and could still fill the gap; it goes out, in order, as soon as the gap is
//! filled, when every other sender has passed it, or after `max_wait`. A
//! packet the format cannot number is emitted once by its content (the hash
//! dedupe below). Nothing here allocates per datagram but a held packet.
//!
//! `--merge hash` dedupes by content alone, over a bounded window: a copy that
//! comes more than [`HASH_WINDOW`] datagrams or [`HASH_AGE`] after the first is
//! emitted again, and a venue that sends two identical datagrams within the
//! window has the second dropped.

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use crate::feeds::seq::Seen;
use crate::feeds::sequenced::{self, Sequencing};
use crate::obs::metrics::FeedStats;
use crate::obs::senders::SenderStats;

use super::state::State;

mod channel;
mod dedupe;
mod format;
mod released;

use channel::{
    ChanId, Channel, Copy, FIRSTS, Held, Sender, can_fill, emitted, lag_sample, restarted_venue,
};
use dedupe::Dedupe;
pub use format::MergeFormat;
pub use released::{Decision, Released};

/// Content hashes remembered by the dedupe.
pub const HASH_WINDOW: usize = 65_536;
/// ... for at most this long.
pub const HASH_AGE: Duration = Duration::from_secs(2);
/// Channels merged one by one; past this, by content.
pub const MAX_CHANNELS: usize = 4096;
/// Bytes of held payloads at most; past this, a gap is given up at once.
pub const MAX_HELD_BYTES: usize = 16 << 20;
/// Every live sender sending only numbers already behind the merged stream,
/// at least [`RESET_RUN`] in a row each and for [`RESET_AFTER`], means the
/// venue started the channel again (a copy that is merely slower is never
/// the only one: the faster sender's copies come first).
pub const RESET_RUN: u32 = 8;
pub const RESET_AFTER: Duration = Duration::from_millis(250);

pub struct Merger {
    seq: Option<Sequencing>,
    max_wait_ns: u64,
    senders: Vec<Sender>,
    channels: HashMap<ChanId, Channel>,
    dedupe: Dedupe,
    held_bytes: usize,
    held_count: usize,
    stats: Arc<FeedStats>,
    unparsed: Counter,
    held_gauge: Gauge,
    state: Option<Arc<State>>,
    dirty: Vec<ChanId>,
}

impl Merger {
    pub fn new(format: MergeFormat, max_wait: Duration, stats: Arc<FeedStats>) -> Merger {
        let (unparsed, held_gauge) = stats.merge();
        Merger {
            seq: format.sequencing(),
            max_wait_ns: max_wait.as_nanos() as u64,
            senders: Vec::new(),
            channels: HashMap::new(),
            dedupe: Dedupe::new(HASH_WINDOW, HASH_AGE),
            held_bytes: 0,
            held_count: 0,
            stats,
            unparsed,
            held_gauge,
            state: None,
            dirty: Vec::new(),
        }
    }

    /// Keep every channel's position in `state`, and start from what it holds.
    pub fn keep_in(&mut self, state: Arc<State>) {
        self.state = Some(state);
    }

    /// Write the positions that moved since the last call (after their
    /// datagrams went out, so a restart never skips one it did not send).
    pub fn persist(&mut self) {
        let Some(st) = &self.state else {
            self.dirty.clear();
            return;
        };
        for cid in self.dirty.drain(..) {
            if let Some(ch) = self.channels.get_mut(&cid) {
                ch.dirty = false;
                if let (Some(slot), Some(next)) = (ch.slot, ch.next) {
                    st.set(slot, [next, 1, 0]);
                }
            }
        }
    }

    /// Sender `id` connected (`restarted`: with a new stream, so what it
    /// missed meanwhile counts as its restart gap).
    pub fn sender_up(&mut self, id: usize, stats: Arc<SenderStats>, restarted: bool) {
        while self.senders.len() <= id {
            self.senders.push(Sender {
                stats: stats.clone(),
                live: false,
            });
        }
        self.senders[id] = Sender { stats, live: true };
        if restarted {
            for c in self.channels.values_mut() {
                if let Some(copy) = c.copies.get_mut(id) {
                    copy.fresh = true;
                }
            }
        }
    }

    /// Sender `id` went away: nothing waits for it any more.
    pub fn sender_down(&mut self, id: usize, now_ns: u64, out: &mut Released) {
        if let Some(s) = self.senders.get_mut(id) {
            s.live = false;
        }
        self.release_due(now_ns, out);
    }

    /// Decide about one datagram from sender `id` (`link_seq` is its sequence
    /// on that sender's link). Held datagrams that this one set free are
    /// appended to `out`, to go after it.
    #[allow(clippy::too_many_arguments)]
    pub fn accept(
        &mut self,
        id: usize,
        link_seq: u64,
        group: SocketAddrV4,
        recv_ns: u64,
        payload: &[u8],
        now_ns: u64,
        out: &mut Released,
    ) -> Decision {
        let sender = self.senders[id].stats.clone();
        sender.datagrams.inc();
        sender
            .last_seen_ns
            .store(now_ns, std::sync::atomic::Ordering::Relaxed);
        let key = self.seq.and_then(|s| sequenced::key(s, payload));
        let Some(k) = key.filter(|k| {
            self.channels.len() < MAX_CHANNELS
                || self.channels.contains_key(&ChanId {
                    group,
                    channel: k.channel,
                })
        }) else {
            if self.seq.is_some() {
                self.unparsed.inc();
            }
            return if self.dedupe.first(group, payload, now_ns) {
                sender.first.inc();
                Decision::Emit
            } else {
                sender.late.inc();
                Decision::Late
            };
        };
        let cid = ChanId {
            group,
            channel: k.channel,
        };
        let stats = &self.stats;
        let state = &self.state;
        let ch = self.channels.entry(cid).or_insert_with(|| {
            let slot = state.as_ref().and_then(|st| {
                st.slot(super::state::key(&[
                    b"channel",
                    group.to_string().as_bytes(),
                    &k.channel.to_le_bytes(),
                ]))
            });
            // Where a predecessor on this host left the channel, if it did.
            let kept = slot
                .zip(state.as_ref())
                .map(|(s, st)| st.get(s))
                .filter(|v| v[1] == 1)
                .map(|v| v[0]);
            Channel::new(kept, stats.channel(&format!("{group}/{}", k.channel)), slot)
        });
        while ch.copies.len() <= id {
            ch.copies.push(Copy::default());
        }
        let seq = match (k.wraps32, ch.next) {
            (true, Some(n)) => sequenced::unwrap32(n, k.seq as u32),
            _ => k.seq,
        };
        let end = seq.saturating_add(k.count);
        // This sender's own copy: its gaps, and how many another already filled.
        {
            let copy = &mut ch.copies[id];
            let own = copy.own.get_or_insert_with(Box::default);
            let before = own.next();
            if let Seen::Gap(n) = own.on_range(seq, k.count) {
                let from = before.unwrap_or(seq);
                let filled = (from..seq)
                    .take(1 << 16)
                    .filter(|s| ch.emitted.has(*s))
                    .count() as u64;
                if std::mem::take(&mut copy.fresh) {
                    sender.restart_gaps.inc_by(n);
                } else {
                    sender.gaps.inc_by(n);
                }
                sender.filled.inc_by(filled);
            }
            copy.fresh = false;
            copy.pos = Some(copy.pos.map_or(end, |p| p.max(end)));
            let late = ch.next.is_some_and(|n| end <= n);
            copy.late_run = if late {
                copy.late_run.saturating_add(1)
            } else {
                0
            };
        }
        if restarted_venue(ch, &self.senders, now_ns) {
            tracing::warn!(group = %group, channel = k.channel, from = seq, was = ?ch.next, "every sender numbers this channel far below the merged stream: the venue started it again; following the new numbers");
            let held: usize = ch.held.values().map(|h| h.payload.len()).sum();
            self.held_bytes -= held;
            self.held_count -= ch.held.len();
            ch.held.clear();
            ch.next = None;
            *ch.emitted = Default::default();
            for c in &mut ch.copies {
                c.pos = None;
                c.own = None;
                c.late_run = 0;
            }
        }
        let next = *ch.next.get_or_insert(seq);
        if end <= next || ch.held.contains_key(&seq) {
            let (s, t) = ch.firsts[(seq as usize) % FIRSTS];
            let lag = if s == seq {
                now_ns.saturating_sub(t)
            } else {
                0
            };
            lag_sample(&sender, lag as f64 * 1e-9);
            sender.late.inc();
            // Its sender's position moved: a held datagram may be due now.
            self.drain(cid, now_ns, out, false);
            return Decision::Late;
        }
        lag_sample(&sender, 0.0);
        if seq <= next {
            let was = ch.dirty;
            emitted(ch, &self.senders, seq, end, id, now_ns);
            if !was {
                self.dirty.push(cid);
            }
            sender.first.inc();
            self.drain(cid, now_ns, out, false);
            return Decision::Emit;
        }
        // A gap before it: it waits in line with whatever else waits, and
        // goes out in order when the gap is filled or given up.
        let full = self.held_bytes + payload.len() > MAX_HELD_BYTES;
        self.held_bytes += payload.len();
        self.held_count += 1;
        ch.held.insert(
            seq,
            Held {
                end,
                sender: id,
                link_seq,
                group,
                recv_ns,
                arrived_ns: now_ns,
                payload: payload.to_vec(),
            },
        );
        let mark = out.items.len();
        self.drain(cid, now_ns, out, full);
        let me = out.items[mark..]
            .iter()
            .any(|it| it.link_seq == link_seq && it.sender == id);
        if me {
            Decision::InReleased
        } else {
            self.held_gauge.set(self.held_count as i64);
            Decision::Held
        }
    }

    /// Give up the gaps that waited `max_wait`, and those no live sender can
    /// fill any more; the held datagrams behind them go to `out`, in order.
    pub fn release_due(&mut self, now_ns: u64, out: &mut Released) {
        let ids: Vec<ChanId> = self
            .channels
            .iter()
            .filter(|(_, c)| !c.held.is_empty())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.drain(id, now_ns, out, false);
        }
    }

    /// Release the held datagrams of a channel that are due, in order;
    /// `force`: give up every gap (the held store is full).
    fn drain(&mut self, cid: ChanId, now_ns: u64, out: &mut Released, force: bool) {
        let Some(ch) = self.channels.get_mut(&cid) else {
            return;
        };
        while let Some((s, end, from, arrived)) = ch
            .held
            .first_key_value()
            .map(|(s, h)| (*s, h.end, h.sender, h.arrived_ns))
        {
            let next = ch.next.unwrap_or(s);
            let give_up = force
                || now_ns.saturating_sub(arrived) >= self.max_wait_ns
                || !can_fill(&self.senders, ch, s, from);
            if end <= next {
                // Filled meanwhile by another copy: this one is late.
                let h = ch.held.pop_first().expect("first").1;
                self.held_bytes -= h.payload.len();
                self.held_count -= 1;
                if let Some(snd) = self.senders.get(h.sender) {
                    snd.stats.late.inc();
                }
                continue;
            }
            if s > next && !give_up {
                break;
            }
            if s > next {
                ch.gaps.inc_by(s - next);
                self.stats.gaps.inc_by(s - next);
            }
            let h = ch.held.pop_first().expect("first").1;
            self.held_bytes -= h.payload.len();
            self.held_count -= 1;
            if !ch.dirty {
                self.dirty.push(cid);
            }
            emitted(ch, &self.senders, s.max(next), end, from, now_ns);
            if let Some(snd) = self.senders.get(h.sender) {
                snd.stats.first.inc();
            }
            out.push(h, from);
        }
        self.held_gauge.set(self.held_count as i64);
    }

    /// When the next held datagram's wait is over, ns since the epoch.
    pub fn next_deadline_ns(&self) -> Option<u64> {
        self.channels
            .values()
            .filter_map(|c| c.held.values().map(|h| h.arrived_ns).min())
            .min()
            .map(|t| t + self.max_wait_ns)
    }

    /// The lowest link sequence sender `id` has held here: its Acks must stay below it.
    pub fn lowest_held(&self, id: usize) -> Option<u64> {
        self.channels
            .values()
            .flat_map(|c| c.held.values())
            .filter(|h| h.sender == id)
            .map(|h| h.link_seq)
            .min()
    }

    pub fn held(&self) -> usize {
        self.held_count
    }
}

#[cfg(test)]
mod tests;
