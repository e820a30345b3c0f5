//! Where a packet sits in its venue's own numbering, for the formats that
//! number their packets: the channel and the numbers it carries. `listen` and
//! the egress's merge read the same key the same way.

use super::{deribit, starbase, testhdr};

/// A sequenced format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sequencing {
    /// Deribit legacy: the frame header's `channelId` and u32 `sequenceNumber`, +1 per packet.
    Deribit,
    /// Deribit Starbase: `channelId`, `seqNum` of the first message, `messageCount`.
    Starbase,
    /// The test header of `mcast-relay publish`: one sequence per group.
    TestHdr,
}

/// The numbers a packet carries on its channel: `seq .. seq + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqKey {
    pub channel: u32,
    pub seq: u64,
    pub count: u64,
    /// The venue's counter is 32 bits wide and wraps (Deribit legacy).
    pub wraps32: bool,
}

/// The Deribit legacy frame header of `p`, if `p` is such a packet: a frame
/// whose length disagrees still counts when its first message is schema 1.
pub fn deribit_frame(p: &[u8]) -> Option<deribit::Frame> {
    deribit::Frame::parse(p).filter(|f| {
        f.length_ok(p.len())
            || p.get(deribit::FRAME_LEN..)
                .and_then(deribit::MsgHeader::parse)
                .is_some_and(|h| h.schema == deribit::SCHEMA_ID)
    })
}

/// The Starbase header of `p`, if it has a usable sequence number.
pub fn starbase_header(p: &[u8]) -> Option<starbase::Header> {
    starbase::Header::parse(p).filter(|h| h.seq >= 0)
}

/// The key of `payload` in `format`, or `None` when it does not parse (or
/// carries no number: a Starbase heartbeat).
pub fn key(format: Sequencing, payload: &[u8]) -> Option<SeqKey> {
    match format {
        Sequencing::Deribit => deribit_frame(payload).map(|f| SeqKey {
            channel: f.channel as u32,
            seq: f.seq as u64,
            count: 1,
            wraps32: true,
        }),
        Sequencing::Starbase => starbase_header(payload)
            .filter(|h| h.count > 0)
            .map(|h| SeqKey {
                channel: h.channel as u32,
                seq: h.seq as u64,
                count: h.count as u64,
                wraps32: false,
            }),
        Sequencing::TestHdr => testhdr::parse(payload).map(|(seq, _)| SeqKey {
            channel: 0,
            seq,
            count: 1,
            wraps32: false,
        }),
    }
}

/// A 32-bit counter value read as the 64-bit number nearest to `near` (the
/// counter wraps after 2^32 packets; nothing reorders by 2^31).
pub fn unwrap32(near: u64, s: u32) -> u64 {
    let base = near & !0xffff_ffff;
    let candidates = [
        base.wrapping_sub(1 << 32) | s as u64,
        base | s as u64,
        base.wrapping_add(1 << 32) | s as u64,
    ];
    *candidates
        .iter()
        .min_by_key(|c| c.abs_diff(near))
        .expect("three candidates")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_each_format() {
        let mut d = vec![0u8; 40];
        deribit::Frame {
            length: 32,
            channel: 7,
            seq: 99,
        }
        .write(&mut d);
        assert_eq!(
            key(Sequencing::Deribit, &d),
            Some(SeqKey {
                channel: 7,
                seq: 99,
                count: 1,
                wraps32: true
            })
        );
        let mut t = vec![0u8; 30];
        testhdr::write(&mut t, 5, 1);
        assert_eq!(key(Sequencing::TestHdr, &t).map(|k| k.seq), Some(5));
        assert_eq!(key(Sequencing::TestHdr, b"no header here"), None);
        let mut s = vec![0u8; starbase::HDR_LEN + 32];
        starbase::Header {
            sending_ns: 1_780_000_000_000_000_000,
            seq: 1000,
            channel: 3,
            packet_type: starbase::INCREMENTAL,
            count: 2,
        }
        .write(&mut s);
        assert_eq!(
            key(Sequencing::Starbase, &s),
            Some(SeqKey {
                channel: 3,
                seq: 1000,
                count: 2,
                wraps32: false
            })
        );
    }

    #[test]
    fn a_wrapped_counter_reads_as_the_nearest_number() {
        let top = u32::MAX as u64;
        assert_eq!(unwrap32(top, 0), top + 1);
        assert_eq!(unwrap32(top + 5, u32::MAX - 2), top - 2);
        assert_eq!(unwrap32(10, 12), 12);
        assert_eq!(unwrap32(0, u32::MAX), u32::MAX as u64, "no number below 0");
    }
}
