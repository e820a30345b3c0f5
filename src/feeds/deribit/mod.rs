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

// ---------------------------------------------------------------------------
// Synthesis, for `publish --format deribit`.

/// How one template is laid out on the wire in the sample capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub template: u16,
    pub version: u16,
    pub block_length: u16,
    /// Entry block length of its one repeating group, if it has one.
    pub group_entry: Option<u16>,
    /// Whether it ends with one var-data field (the instrument name).
    pub name: bool,
}

/// The layouts of the templates in `sample_capture_v1_6.pcapng`, read off the
/// capture with [`walk`] (every message of a template had these values).
pub const LAYOUTS: &[Layout] = &[
    Layout {
        template: 1000,
        version: 2,
        block_length: 140,
        group_entry: None,
        name: true,
    },
    Layout {
        template: 1001,
        version: 2,
        block_length: 29,
        group_entry: Some(18),
        name: false,
    },
    Layout {
        template: 1002,
        version: 2,
        block_length: 4,
        group_entry: Some(83),
        name: false,
    },
    Layout {
        template: 1003,
        version: 2,
        block_length: 133,
        group_entry: None,
        name: false,
    },
    Layout {
        template: 1004,
        version: 2,
        block_length: 22,
        group_entry: Some(17),
        name: false,
    },
    Layout {
        template: 1005,
        version: 2,
        block_length: 4,
        group_entry: None,
        name: false,
    },
    Layout {
        template: 1006,
        version: 2,
        block_length: 0,
        group_entry: None,
        name: false,
    },
    Layout {
        template: 1008,
        version: 2,
        block_length: 32,
        group_entry: None,
        name: false,
    },
    Layout {
        template: 1010,
        version: 3,
        block_length: 139,
        group_entry: Some(16),
        name: true,
    },
];

/// Instrument names in the capture are 19 bytes long, e.g. "BTC_USDC-16JUN23-25000-C".
const NAME: &[u8; 19] = b"BTC-29DEC23-40000-C";

pub fn layout(template: u16) -> Option<&'static Layout> {
    LAYOUTS.iter().find(|l| l.template == template)
}

/// One message of a synthetic packet: a template and its group's entry count.
pub type Msg = (u16, u16);

/// The packet of each size of [`super::DERIBIT_SIZES`]: the message sequence
/// that the sample capture sent most often at exactly that size (measured with
/// [`walk`] over `../shared/data/deribit-legacy/sample_capture_v1_6.pcapng`,
/// 5,066 datagrams; the count of datagrams of that size and shape is in the
/// comment). Drawing sizes from `DERIBIT_SIZES` and sending these shapes gives
/// a message mix within two points of the capture's for every template:
/// ticker 60.0 % (capture 62.1 %), book 14.5 (15.7), price_index 6.6 (6.9),
/// trades 4.4 (4.9), snapshot 4.8 (2.9), instrument 4.5 (2.9),
/// instrument_v2 3.7 (2.9), snapshot_start 0.8 (0.9), snapshot_end 0.8 (0.9).
pub const PACKETS: &[(usize, &[Msg])] = &[
    (20, &[(1006, 0)]),                        // 60 of 60
    (24, &[(1005, 0)]),                        // 60 of 60
    (52, &[(1008, 0)]),                        // 468 of 468
    (75, &[(1001, 1)]),                        // 360 of 360
    (153, &[(1003, 0)]),                       // 3,322 of 3,322
    (220, &[(1003, 0), (1001, 1)]),            // 353 of 353
    (238, &[(1003, 0), (1001, 2)]),            // 10 of 10
    (327, &[(1002, 1), (1003, 0), (1001, 1)]), // 225 of 225
    (345, &[(1002, 1), (1003, 0), (1001, 2)]), // 37 of 37
    (428, &[(1002, 2), (1003, 0), (1001, 2)]), // 39 of 39
    (529, &[(1002, 3), (1003, 0), (1001, 3)]), // 11 of 11
    (
        1330, // 10 of 10
        &[
            (1004, 0),
            (1000, 0),
            (1010, 1),
            (1003, 0),
            (1004, 0),
            (1000, 0),
            (1010, 1),
            (1003, 0),
            (1004, 0),
            (1000, 0),
        ],
    ),
    (
        1388, // 1 of 2
        &[
            (1003, 0),
            (1004, 1),
            (1000, 0),
            (1010, 1),
            (1003, 0),
            (1004, 2),
            (1000, 0),
            (1010, 1),
            (1003, 0),
            (1004, 2),
        ],
    ),
    (
        1456, // 11 of 11
        &[
            (1010, 1),
            (1003, 0),
            (1004, 0),
            (1000, 0),
            (1010, 1),
            (1003, 0),
            (1004, 0),
            (1000, 0),
            (1010, 1),
            (1003, 0),
        ],
    ),
];

/// The message sequence for a datagram of `size` bytes from [`PACKETS`].
pub fn shape(size: usize) -> Option<&'static [Msg]> {
    PACKETS.iter().find(|p| p.0 == size).map(|p| p.1)
}

/// Bytes one message of `m` takes.
pub fn msg_len(m: Msg) -> Option<usize> {
    let l = layout(m.0)?;
    let group = l
        .group_entry
        .map_or(0, |e| GROUP_HDR_LEN + e as usize * m.1 as usize);
    Some(MSG_HDR_LEN + l.block_length as usize + group + if l.name { 1 + NAME.len() } else { 0 })
}

/// Write a whole datagram: the frame header for `channel`/`seq`, then the
/// messages. Bodies are zeros except the instrument names; `fill` gives a byte
/// to vary the bodies with. Returns the length, or None when `buf` is short or
/// a template has no layout.
pub fn encode(buf: &mut [u8], channel: u16, seq: u32, msgs: &[Msg], fill: u8) -> Option<usize> {
    let total = FRAME_LEN + msgs.iter().map(|m| msg_len(*m)).sum::<Option<usize>>()?;
    let buf = buf.get_mut(..total)?;
    buf.fill(0);
    Frame {
        length: (total - FRAME_LEN) as u16,
        channel,
        seq,
    }
    .write(buf);
    let mut at = FRAME_LEN;
    for &(template, entries) in msgs {
        let l = layout(template)?;
        MsgHeader {
            block_length: l.block_length,
            template,
            schema: SCHEMA_ID,
            version: l.version,
            num_groups: l.group_entry.is_some() as u16,
            num_var: l.name as u16,
        }
        .write(&mut buf[at..]);
        at += MSG_HDR_LEN;
        if l.block_length > 0 {
            buf[at] = fill; // a body byte that changes, so datagrams differ
        }
        at += l.block_length as usize;
        if let Some(e) = l.group_entry {
            buf[at..at + 2].copy_from_slice(&e.to_le_bytes());
            buf[at + 2..at + 4].copy_from_slice(&entries.to_le_bytes());
            at += GROUP_HDR_LEN + e as usize * entries as usize;
        }
        if l.name {
            buf[at] = NAME.len() as u8;
            buf[at + 1..at + 1 + NAME.len()].copy_from_slice(NAME);
            at += 1 + NAME.len();
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests;
