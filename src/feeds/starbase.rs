//! Deribit's Starbase multicast format (2026), and A/B arbitration.
//!
//! Every packet starts with a 24-byte header, little-endian:
//!
//! ```text
//! i64 sendingTime (ns since the epoch), i64 seqNum (of the first message),
//! i32 channelId, u16 packetType (bits: 1 incremental, 2 snapshot, 4 retransmit),
//! u16 messageCount
//! ```
//!
//! The next packet of a channel starts at `seqNum + messageCount`. A packet
//! with no message is a heartbeat (sent after 5 s of silence); its `seqNum` is
//! taken to be the next message's number, so a heartbeat ahead of the expected
//! number reveals lost messages. The messages themselves are not decoded.
//!
//! Each feed comes twice, on an A and a B group. [`Arbiter`] merges the two:
//! the first copy of a message to arrive wins, the later copy is redundant,
//! and gaps are counted for the merged stream and for each side.

use super::seq::{Seen, SeqTracker};

pub const HDR_LEN: usize = 24;
pub const INCREMENTAL: u16 = 0x01;
pub const SNAPSHOT: u16 = 0x02;
pub const RETRANSMIT: u16 = 0x04;

/// 2015-01-01 and 2100-01-01 in ns: a sendingTime outside is not a clock.
const PLAUSIBLE_NS: std::ops::Range<i64> = 1_420_070_400_000_000_000..4_102_444_800_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub sending_ns: i64,
    pub seq: i64,
    pub channel: i32,
    pub packet_type: u16,
    pub count: u16,
}

impl Header {
    pub fn parse(p: &[u8]) -> Option<Header> {
        let b = p.get(..HDR_LEN)?;
        Some(Header {
            sending_ns: i64::from_le_bytes(b[0..8].try_into().ok()?),
            seq: i64::from_le_bytes(b[8..16].try_into().ok()?),
            channel: i32::from_le_bytes(b[16..20].try_into().ok()?),
            packet_type: u16::from_le_bytes(b[20..22].try_into().ok()?),
            count: u16::from_le_bytes(b[22..24].try_into().ok()?),
        })
    }

    pub fn write(&self, b: &mut [u8]) {
        b[0..8].copy_from_slice(&self.sending_ns.to_le_bytes());
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b[16..20].copy_from_slice(&self.channel.to_le_bytes());
        b[20..22].copy_from_slice(&self.packet_type.to_le_bytes());
        b[22..24].copy_from_slice(&self.count.to_le_bytes());
    }

    pub fn is_heartbeat(&self) -> bool {
        self.count == 0
    }

    /// The first number of the next packet.
    pub fn next(&self) -> i64 {
        self.seq.saturating_add(self.count as i64)
    }
}

/// Whether a datagram looks like Starbase: a plausible clock, known type bits,
/// non-negative numbers, and a length that fits the message count (exactly
/// the header for a heartbeat).
pub fn looks_like(p: &[u8]) -> bool {
    let Some(h) = Header::parse(p) else {
        return false;
    };
    PLAUSIBLE_NS.contains(&h.sending_ns)
        && h.seq >= 0
        && h.channel >= 0
        && h.packet_type != 0
        && h.packet_type & !(INCREMENTAL | SNAPSHOT | RETRANSMIT) == 0
        && if h.count == 0 {
            p.len() == HDR_LEN
        } else {
            p.len() >= HDR_LEN + h.count as usize
        }
}

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

/// First arrival wins: merges the A and B copies of one channel.
///
/// Works on sequence ranges, so it serves any sequenced feed: one number per
/// packet (Deribit legacy, the test header) or `seqNum`/`messageCount`.
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

    fn hdr(seq: i64, count: u16) -> Header {
        Header {
            sending_ns: 1_780_000_000_000_000_000,
            seq,
            channel: 5,
            packet_type: INCREMENTAL,
            count,
        }
    }

    #[test]
    fn header_round_trip_and_look() {
        let mut b = vec![0u8; HDR_LEN + 3 * 16];
        let h = hdr(1_000, 3);
        h.write(&mut b);
        assert_eq!(Header::parse(&b), Some(h));
        assert_eq!(h.next(), 1_003);
        assert!(looks_like(&b));
        assert!(
            !looks_like(&b[..HDR_LEN]),
            "3 messages do not fit in 24 bytes"
        );
        let mut hb = vec![0u8; HDR_LEN];
        hdr(1_003, 0).write(&mut hb);
        assert!(looks_like(&hb) && Header::parse(&hb).unwrap().is_heartbeat());
        let mut odd = b.clone();
        odd[20] = 0x08; // unknown type bit
        assert!(!looks_like(&odd));
        let mut old = b.clone();
        old[0..8].copy_from_slice(&5i64.to_le_bytes());
        assert!(!looks_like(&old), "not a clock");
        assert!(!looks_like(b"MRT1 and some more bytes here"));
    }

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
