//! The formats listen reads, each behind [`Decoder`]: where a datagram goes
//! (its channel), the numbers it carries, its send time, and what only that
//! format counts (Deribit's templates, Starbase's packet types).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::feeds::{deribit, sequenced, starbase, testhdr};

/// What the datagrams carry.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Decide from the first datagrams (and say which).
    #[default]
    Auto,
    /// mcast-relay's test header (publish, demo): sequence and send time.
    Test,
    /// Deribit legacy multicast: 8-byte frame header and SBE messages.
    Deribit,
    /// Deribit Starbase: 24-byte packet header.
    Starbase,
    /// Count datagrams and bytes only.
    Raw,
}

impl Format {
    pub fn name(&self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Test => "test",
            Format::Deribit => "deribit",
            Format::Starbase => "starbase",
            Format::Raw => "raw",
        }
    }

    /// What a sequence number counts in this format.
    pub fn unit(&self) -> &'static str {
        match self {
            Format::Starbase => "messages",
            _ => "packets",
        }
    }

    /// The format one datagram looks like, if any.
    pub fn of(payload: &[u8]) -> Option<Format> {
        if testhdr::parse(payload).is_some() {
            Some(Format::Test)
        } else if deribit::looks_like(payload) {
            Some(Format::Deribit)
        } else if starbase::looks_like(payload) {
            Some(Format::Starbase)
        } else {
            None
        }
    }
}

/// One datagram as its format reads it.
pub(super) struct Decoded {
    /// The venue's channel id; `None`: one sequence per stream.
    pub(super) channel: Option<u32>,
    /// The first number it carries and how many (0: a heartbeat); `None`:
    /// the format numbers nothing, so every datagram counts as distinct.
    pub(super) seq: Option<(u64, u64)>,
    /// When it was sent, ns since the epoch, where the format says.
    pub(super) sent_ns: Option<u64>,
}

impl Decoded {
    fn numbered(channel: Option<u32>, seq: u64, count: u64, sent_ns: Option<u64>) -> Decoded {
        Decoded {
            channel,
            seq: Some((seq, count)),
            sent_ns,
        }
    }
}

/// What only some formats count, per channel.
#[derive(Default)]
pub(super) struct Tally {
    /// Deribit: packets whose packetLength field disagrees with the datagram.
    pub(super) length_mismatches: u64,
    /// Deribit: SBE messages; Starbase: the sum of messageCount.
    pub(super) messages: u64,
    /// Deribit: packets whose messages could not all be sized.
    pub(super) not_sized: u64,
    /// Deribit: messages per template id.
    pub(super) templates: BTreeMap<u16, u64>,
    /// Starbase: empty packets.
    pub(super) heartbeats: u64,
    /// Starbase: packets by type bit (incremental, snapshot, retransmit).
    pub(super) types: [u64; 3],
}

/// A format listen reads.
pub(super) trait Decoder {
    /// What [`Decoder::decode`] read that [`Decoder::tally`] uses again.
    type Header;
    /// Read one datagram; `None` when it is not in this format.
    fn decode(p: &[u8]) -> Option<(Decoded, Self::Header)>;
    /// Add what only this format counts to its channel's tally.
    fn tally(_p: &[u8], _h: &Self::Header, _t: &mut Tally) {}
}

/// mcast-relay's test header: one sequence per stream, and a send time.
pub(super) struct TestHdr;

impl Decoder for TestHdr {
    type Header = ();
    fn decode(p: &[u8]) -> Option<(Decoded, ())> {
        let (seq, sent) = testhdr::parse(p)?;
        Some((Decoded::numbered(None, seq, 1, Some(sent)), ()))
    }
}

/// Deribit legacy: a sequence per channel, +1 per packet.
pub(super) struct Deribit;

impl Decoder for Deribit {
    type Header = deribit::Frame;
    // A frame whose length disagrees still counts (as a mismatch) when its
    // first message is schema 1; anything else is not this format.
    fn decode(p: &[u8]) -> Option<(Decoded, deribit::Frame)> {
        let f = sequenced::deribit_frame(p)?;
        let d = Decoded::numbered(Some(f.channel as u32), f.seq as u64, 1, None);
        Some((d, f))
    }

    fn tally(p: &[u8], f: &deribit::Frame, t: &mut Tally) {
        t.length_mismatches += !f.length_ok(p.len()) as u64;
        let templates = &mut t.templates;
        let w = deribit::walk(p, |id| *templates.entry(id).or_default() += 1);
        t.messages += w.messages as u64;
        t.not_sized += !w.exact as u64;
    }
}

/// Deribit Starbase: a sequence of messages per channel, and a send time.
pub(super) struct Starbase;

impl Decoder for Starbase {
    type Header = starbase::Header;
    fn decode(p: &[u8]) -> Option<(Decoded, starbase::Header)> {
        let h = sequenced::starbase_header(p)?;
        let sent = (h.sending_ns > 0).then_some(h.sending_ns as u64);
        let d = Decoded::numbered(Some(h.channel as u32), h.seq as u64, h.count as u64, sent);
        Some((d, h))
    }

    fn tally(_p: &[u8], h: &starbase::Header, t: &mut Tally) {
        t.messages += h.count as u64;
        t.heartbeats += h.is_heartbeat() as u64;
        let bits = [
            starbase::INCREMENTAL,
            starbase::SNAPSHOT,
            starbase::RETRANSMIT,
        ];
        for (n, bit) in t.types.iter_mut().zip(bits) {
            *n += (h.packet_type & bit != 0) as u64;
        }
    }
}

/// Anything: counted, never numbered.
pub(super) struct Raw;

impl Decoder for Raw {
    type Header = ();
    fn decode(_p: &[u8]) -> Option<(Decoded, ())> {
        let d = Decoded {
            channel: None,
            seq: None,
            sent_ns: None,
        };
        Some((d, ()))
    }
}
