//! Synthetic packets in the legacy format, for `publish --format deribit`:
//! the sample capture's template layouts and packet shapes, and an encoder.

use super::{FRAME_LEN, Frame, GROUP_HDR_LEN, MSG_HDR_LEN, MsgHeader, SCHEMA_ID};

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
/// capture with [`walk`](super::walk) (every message of a template had these values).
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

/// The packet of each size of [`DERIBIT_SIZES`](crate::feeds::DERIBIT_SIZES): the message sequence
/// that the sample capture sent most often at exactly that size (measured with
/// [`walk`](super::walk) over `../shared/data/deribit-legacy/sample_capture_v1_6.pcapng`,
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
