//! Deribit's legacy multicast format ("Deribit Multicast", served in AWS today).
//!
//! A UDP payload is an 8-byte frame header, then one or more SBE messages, all
//! little-endian:
//!
//! ```text
//! frame:   u16 packetLength (= payload - 8), u16 channelId, u32 sequenceNumber (+1 per packet)
//! message: u16 blockLength, u16 templateId, u16 schemaId (1), u16 version,
//!          u16 numGroups, u16 numVarDataFields, then the root block (blockLength bytes),
//!          numGroups repeating groups, numVarDataFields variable-length fields
//! group:   u16 blockLength, u16 numInGroup, u16 numGroups, u16 numVarDataFields,
//!          then numInGroup entries: the entry block, its nested groups, its var data
//! var:     u8 length, then that many bytes
//! ```
//!
//! The group and var-data encodings are not in the field notes: they were read
//! off the sample captures, where walking every message this way ends exactly
//! at the end of every one of the 6,390 datagrams of the four captures
//! (`tests/feeds.rs` checks it again with an independent walker).

mod synth;

pub use synth::{LAYOUTS, Layout, Msg, PACKETS, encode, layout, msg_len, shape};

/// Frame header length.
pub const FRAME_LEN: usize = 8;
/// SBE message header length.
pub const MSG_HDR_LEN: usize = 12;
/// Repeating group header length.
pub const GROUP_HDR_LEN: usize = 8;
/// The schema id of every message of the legacy feed.
pub const SCHEMA_ID: u16 = 1;
/// The first template id; the names follow in order.
pub const FIRST_TEMPLATE: u16 = 1000;
/// Template names, 1000 to 1010.
pub const TEMPLATES: [&str; 11] = [
    "instrument",
    "book",
    "trades",
    "ticker",
    "snapshot",
    "snapshot_start",
    "snapshot_end",
    "combo_legs",
    "price_index",
    "rfq",
    "instrument_v2",
];

/// The name of a template id, if it is one of the feed's.
pub fn template_name(id: u16) -> Option<&'static str> {
    id.checked_sub(FIRST_TEMPLATE)
        .and_then(|i| TEMPLATES.get(i as usize))
        .copied()
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// The 8-byte frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// The packetLength field: the payload length minus 8 when all is well.
    pub length: u16,
    pub channel: u16,
    pub seq: u32,
}

impl Frame {
    /// The frame header at the start of a UDP payload, if it is long enough.
    pub fn parse(payload: &[u8]) -> Option<Frame> {
        Some(Frame {
            length: u16_at(payload, 0)?,
            channel: u16_at(payload, 2)?,
            seq: u32::from_le_bytes(payload.get(4..8)?.try_into().ok()?),
        })
    }

    /// Whether the length field agrees with the datagram.
    pub fn length_ok(&self, payload_len: usize) -> bool {
        self.length as usize + FRAME_LEN == payload_len
    }

    pub fn write(&self, buf: &mut [u8]) {
        buf[0..2].copy_from_slice(&self.length.to_le_bytes());
        buf[2..4].copy_from_slice(&self.channel.to_le_bytes());
        buf[4..8].copy_from_slice(&self.seq.to_le_bytes());
    }
}

/// The 12-byte SBE message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgHeader {
    pub block_length: u16,
    pub template: u16,
    pub schema: u16,
    pub version: u16,
    pub num_groups: u16,
    pub num_var: u16,
}

impl MsgHeader {
    pub fn parse(b: &[u8]) -> Option<MsgHeader> {
        Some(MsgHeader {
            block_length: u16_at(b, 0)?,
            template: u16_at(b, 2)?,
            schema: u16_at(b, 4)?,
            version: u16_at(b, 6)?,
            num_groups: u16_at(b, 8)?,
            num_var: u16_at(b, 10)?,
        })
    }

    pub fn write(&self, buf: &mut [u8]) {
        for (i, v) in [
            self.block_length,
            self.template,
            self.schema,
            self.version,
            self.num_groups,
            self.num_var,
        ]
        .into_iter()
        .enumerate()
        {
            buf[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
        }
    }
}

/// What walking the messages of one datagram found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Walked {
    /// Messages counted (each reported to the callback).
    pub messages: u32,
    /// Every message was sized and the last ended exactly at the end of the
    /// datagram. When false, the last message counted could not be sized (its
    /// groups or var data run past the end, or it is not schema 1) and
    /// whatever followed it was not counted.
    pub exact: bool,
}

/// Nested groups deeper than this are not sized (the feed uses one level).
const MAX_DEPTH: u32 = 4;

/// End offset of `n` groups starting at `at`, or None if they run past the end.
fn skip_groups(b: &[u8], mut at: usize, n: u16, depth: u32) -> Option<usize> {
    if n > 0 && depth >= MAX_DEPTH {
        return None;
    }
    for _ in 0..n {
        let block = u16_at(b, at)? as usize;
        let count = u16_at(b, at + 2)?;
        let nested = u16_at(b, at + 4)?;
        let vars = u16_at(b, at + 6)?;
        at += GROUP_HDR_LEN;
        for _ in 0..count {
            at += block;
            at = skip_groups(b, at, nested, depth + 1)?;
            at = skip_vars(b, at, vars)?;
        }
    }
    (at <= b.len()).then_some(at)
}

fn skip_vars(b: &[u8], mut at: usize, n: u16) -> Option<usize> {
    for _ in 0..n {
        at += 1 + *b.get(at)? as usize;
    }
    (at <= b.len()).then_some(at)
}

/// The length of the SBE message starting at `b[0]`, if it fits in `b`.
pub fn message_len(b: &[u8]) -> Option<usize> {
    let h = MsgHeader::parse(b)?;
    if h.schema != SCHEMA_ID {
        return None;
    }
    let at = MSG_HDR_LEN + h.block_length as usize;
    if at > b.len() {
        return None;
    }
    let at = skip_groups(b, at, h.num_groups, 0)?;
    skip_vars(b, at, h.num_var)
}

/// Walk the SBE messages of a datagram (after the frame header), calling
/// `f(templateId)` for each. A message that cannot be sized is still counted
/// (its header is there), and the walk stops at it.
pub fn walk(payload: &[u8], mut f: impl FnMut(u16)) -> Walked {
    let mut w = Walked::default();
    let mut at = FRAME_LEN;
    while at < payload.len() {
        let rest = &payload[at..];
        let Some(h) = MsgHeader::parse(rest) else {
            return w; // fewer than 12 bytes left: not a message
        };
        f(h.template);
        w.messages += 1;
        match message_len(rest) {
            Some(n) => at += n,
            None => return w,
        }
    }
    w.exact = at == payload.len() && w.messages > 0;
    w
}

/// Whether a datagram looks like the legacy format: the length field agrees,
/// and the first message is schema 1 with a known template.
pub fn looks_like(payload: &[u8]) -> bool {
    let (Some(f), Some(h)) = (
        Frame::parse(payload),
        payload.get(FRAME_LEN..).and_then(MsgHeader::parse),
    ) else {
        return false;
    };
    f.length_ok(payload.len()) && h.schema == SCHEMA_ID && template_name(h.template).is_some()
}

#[cfg(test)]
mod tests;
