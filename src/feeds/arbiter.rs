//! First arrival wins: merging the A and B copies of one sequenced channel, as
//! `listen --ab` reports them. Works on sequence ranges, so it serves any
//! sequenced feed: one number per packet (Deribit legacy, the test header) or
//! `seqNum`/`messageCount` (Starbase). The egress's merge of several senders
//! (`crate::egress::merge`) keeps the same per-side accounting.

use super::seq::{Seen, SeqTracker};

/// One of the two copies of a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// What one side delivered, as if it were alone.
#[derive(Debug, Clone, Default)]
pub struct SideStats {
    pub seq: SeqTracker,
    pub packets: u64,
    /// Packets of this side that carried at least one message first.
    pub won: u64,
}

/// Merges the A and B copies of one channel.
#[derive(Debug, Clone, Default)]
pub struct Arbiter {
    pub merged: SeqTracker,
    pub a: SideStats,
    pub b: SideStats,
    /// Packets that brought nothing new (the later copy).
    pub redundant: u64,
}

impl Arbiter {
    /// A packet carrying `seq .. seq + count` from `side`. Returns true when it
    /// brought at least one message first (a handler would pass it on).
    pub fn on(&mut self, side: Side, seq: u64, count: u64) -> bool {
        let s = match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        };
        s.packets += 1;
        s.seq.on_range(seq, count);
        let merged = self.merged.on_range(seq, count);
        let first = count > 0 && !matches!(merged, Seen::Duplicate | Seen::TooOld);
        if first {
            s.won += 1;
        } else if count > 0 {
            self.redundant += 1;
        }
        first
    }

    /// Duplicates within the sides (a side repeating itself), as opposed to
    /// the expected second copies.
    pub fn side_duplicates(&self) -> u64 {
        self.a.seq.duplicates + self.b.seq.duplicates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packets of `count` messages each, numbered from `start`.
    fn stream(start: u64, packets: u64, count: u64) -> Vec<(u64, u64)> {
        (0..packets).map(|i| (start + i * count, count)).collect()
    }

    #[test]
    fn each_side_loses_different_packets_and_the_merge_loses_none() {
        let all = stream(100, 50, 4);
        let mut arb = Arbiter::default();
        for (i, &(seq, n)) in all.iter().enumerate() {
            // A loses packets 3, 4 and 20; B loses 10 and 30..=32.
            let (a_lost, b_lost) = ([3, 4, 20].contains(&i), (30..=32).contains(&i) || i == 10);
            // B is usually a little later, but sometimes first.
            let order = if i % 7 == 0 {
                [Side::B, Side::A]
            } else {
                [Side::A, Side::B]
            };
            for side in order {
                let lost = match side {
                    Side::A => a_lost,
                    Side::B => b_lost,
                };
                if !lost {
                    arb.on(side, seq, n);
                }
            }
        }
        assert_eq!(arb.merged.missing, 0, "the merge is whole");
        assert_eq!(arb.merged.holes, 0);
        assert_eq!(arb.merged.unique, 200);
        assert_eq!((arb.a.seq.missing, arb.a.seq.holes), (12, 2));
        assert_eq!((arb.b.seq.missing, arb.b.seq.holes), (16, 2));
        assert_eq!(arb.a.packets + arb.b.packets, 100 - 7);
        assert_eq!(arb.a.won + arb.b.won, 50, "each packet wins once");
        assert_eq!(arb.redundant, 50 - 7);
        assert_eq!(arb.side_duplicates(), 0);
        // B won the 3 packets A lost and the every-7th ones it sent first.
        let b_first = (0..50).filter(|i| i % 7 == 0).count() as u64;
        assert_eq!(arb.b.won, 3 + b_first);
    }

    #[test]
    fn a_packet_lost_on_both_sides_is_a_gap_of_the_merge() {
        let mut arb = Arbiter::default();
        for (i, (seq, n)) in stream(0, 10, 2).into_iter().enumerate() {
            if i != 4 {
                arb.on(Side::A, seq, n);
            }
            if i != 4 && i != 6 {
                arb.on(Side::B, seq, n);
            }
        }
        assert_eq!((arb.merged.missing, arb.merged.holes), (2, 1));
        assert_eq!((arb.a.seq.missing, arb.b.seq.missing), (2, 4));
        assert_eq!(arb.b.seq.holes, 2);
    }

    #[test]
    fn a_late_copy_fills_the_merge_and_a_heartbeat_reveals_a_tail_loss() {
        let mut arb = Arbiter::default();
        assert!(arb.on(Side::A, 10, 5)); // 10..15
        assert!(arb.on(Side::A, 20, 5), "15..20 lost on A for now");
        assert_eq!(arb.merged.missing, 5);
        assert!(arb.on(Side::B, 15, 5), "B's copy comes late and fills it");
        assert!(!arb.on(Side::B, 20, 5), "B's copy of 20..25 is redundant");
        assert_eq!((arb.merged.missing, arb.merged.reordered), (0, 5));
        // Both sides then lose 25..27 and say so in their heartbeats.
        assert!(!arb.on(Side::A, 27, 0));
        assert!(!arb.on(Side::B, 27, 0));
        assert_eq!((arb.merged.missing, arb.merged.holes), (2, 1));
        assert_eq!(arb.redundant, 1, "heartbeats are not copies");
    }
}
