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
//! Each feed comes twice, on an A and a B group; `super::arbiter` merges them.

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
}
