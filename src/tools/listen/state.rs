//! What listen keeps while it runs: per channel (a stream and, in the Deribit
//! and Starbase formats, a channel id) its counts and sequence tracking, the
//! datagrams held while `auto` decides, and the latency histogram.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::decode::{Decoder, Deribit, Format, Raw, Starbase, Tally, TestHdr};
use crate::feeds::arbiter::{Arbiter, Side};
use crate::feeds::seq::{Seen, SeqTracker};
use crate::net::addr::GroupPort;

/// How many datagrams `auto` looks at before deciding (or fewer, after a while).
pub(super) const DETECT_N: usize = 8;
pub(super) const DETECT_WAIT: Duration = Duration::from_millis(500);

#[derive(Default)]
pub(super) struct Chan {
    pub(super) packets: u64,
    pub(super) bytes: u64,
    pub(super) unique: u64,
    pub(super) seq: SeqTracker,
    pub(super) arb: Option<Box<Arbiter>>,
    pub(super) untagged: u64,
    pub(super) tally: Tally,
    pub(super) shown: u64,
}

impl Chan {
    pub(super) fn new(ab: bool) -> Chan {
        Chan {
            arb: ab.then(Box::default),
            ..Chan::default()
        }
    }

    pub(super) fn sequence(&mut self, side: Option<Side>, seq: u64, count: u64) {
        let fresh = match (&mut self.arb, side) {
            (Some(arb), Some(side)) => arb.on(side, seq, count),
            _ => !matches!(
                self.seq.on_range(seq, count),
                Seen::Duplicate | Seen::TooOld
            ),
        };
        // A heartbeat brings no number: it is not a distinct datagram.
        self.unique += (fresh && count > 0) as u64;
    }

    pub(super) fn merged(&self) -> &SeqTracker {
        self.arb.as_ref().map_or(&self.seq, |a| &a.merged)
    }

    pub(super) fn duplicates(&self) -> u64 {
        self.arb
            .as_ref()
            .map_or(self.seq.duplicates, |a| a.side_duplicates())
    }
}

pub(super) type Key = (SocketAddrV4, Option<u32>);

pub(super) struct State {
    pub(super) format: Option<Format>,
    pub(super) held: Vec<(SocketAddrV4, u64, Vec<u8>)>,
    pub(super) held_since: Option<Instant>,
    /// Where each joined group:port goes: its stream (the A group of a pair) and side.
    pub(super) route: HashMap<SocketAddrV4, (SocketAddrV4, Option<Side>)>,
    pub(super) b_of: HashMap<SocketAddrV4, SocketAddrV4>,
    pub(super) chans: BTreeMap<Key, Chan>,
    pub(super) groups: BTreeMap<SocketAddrV4, (u64, u64)>,
    pub(super) hist: Histogram<u64>,
    pub(super) packets: u64,
    pub(super) quiet: bool,
}

impl State {
    /// `format` None: decide from the first datagrams. `route` maps each
    /// joined group:port to its stream and side, `b_of` an A group to its B.
    pub(super) fn new(
        format: Option<Format>,
        route: HashMap<SocketAddrV4, (SocketAddrV4, Option<Side>)>,
        b_of: HashMap<SocketAddrV4, SocketAddrV4>,
        groups: &[GroupPort],
        quiet: bool,
    ) -> State {
        State {
            format,
            held: Vec::new(),
            held_since: None,
            route,
            b_of,
            chans: BTreeMap::new(),
            groups: groups.iter().map(|g| (g.0, (0, 0))).collect(),
            hist: Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
            packets: 0,
            quiet,
        }
    }

    pub(super) fn decide(&mut self) {
        let mut votes: BTreeMap<&'static str, (usize, Format)> = BTreeMap::new();
        for (_, _, p) in &self.held {
            if let Some(f) = Format::of(p) {
                votes.entry(f.name()).or_insert((0, f)).0 += 1;
            }
        }
        let (n, f) = votes
            .values()
            .max_by_key(|v| v.0)
            .copied()
            .unwrap_or((0, Format::Raw));
        if !self.quiet {
            eprintln!(
                "listen: format {} (auto: {n} of the first {} datagrams look like it)",
                f.name(),
                self.held.len()
            );
        }
        self.format = Some(f);
        for (dst, at, p) in std::mem::take(&mut self.held) {
            self.on(dst, at, &p);
        }
    }

    pub(super) fn chan(
        &mut self,
        stream: SocketAddrV4,
        channel: Option<u32>,
        ab: bool,
    ) -> &mut Chan {
        self.chans
            .entry((stream, channel))
            .or_insert_with(|| Chan::new(ab))
    }

    /// One datagram to `dst`, received at `at` (ns since the epoch).
    pub(super) fn on(&mut self, dst: SocketAddrV4, at: u64, p: &[u8]) {
        let Some(&(stream, side)) = self.route.get(&dst) else {
            return;
        };
        let Some(format) = self.format else {
            self.held_since.get_or_insert_with(Instant::now);
            self.held.push((dst, at, p.to_vec()));
            if self.held.len() >= DETECT_N {
                self.decide();
            }
            return;
        };
        self.packets += 1;
        let g = self.groups.entry(dst).or_default();
        g.0 += 1;
        g.1 += p.len() as u64;
        let len = p.len() as u64;
        let (c, sent) = match format {
            Format::Test => self.read::<TestHdr>(stream, side, p),
            Format::Deribit => self.read::<Deribit>(stream, side, p),
            Format::Starbase => self.read::<Starbase>(stream, side, p),
            Format::Raw | Format::Auto => self.read::<Raw>(stream, side, p),
        };
        c.packets += 1;
        c.bytes += len;
        if let Some(sent) = sent {
            let _ = self.hist.record(at.saturating_sub(sent).max(1));
        }
    }

    /// Count `p` in format `D` into its channel; returns that channel and the send time.
    fn read<D: Decoder>(
        &mut self,
        stream: SocketAddrV4,
        side: Option<Side>,
        p: &[u8],
    ) -> (&mut Chan, Option<u64>) {
        let ab = side.is_some();
        let Some((d, h)) = D::decode(p) else {
            return (self.untagged(stream, ab), None);
        };
        let c = self.chan(stream, d.channel, ab);
        D::tally(p, &h, &mut c.tally);
        match d.seq {
            Some((seq, count)) => c.sequence(side, seq, count),
            None => c.unique += 1,
        }
        (c, d.sent_ns)
    }

    pub(super) fn untagged(&mut self, stream: SocketAddrV4, ab: bool) -> &mut Chan {
        let c = self.chan(stream, None, ab);
        c.untagged += 1;
        c.unique += 1;
        c
    }

    pub(super) fn unique(&self) -> u64 {
        self.chans.values().map(|c| c.unique).sum()
    }

    pub(super) fn gaps(&self) -> u64 {
        self.chans.values().map(|c| c.merged().missing).sum()
    }

    /// The per-channel lines of the live table.
    pub(super) fn live(&mut self, elapsed: f64) {
        let total_gaps = self.gaps();
        let rate: u64 = self.chans.values().map(|c| c.packets - c.shown).sum();
        let p99 = if self.hist.is_empty() {
            "-".to_string()
        } else {
            format!("{:.0} us", self.hist.value_at_quantile(0.99) as f64 / 1e3)
        };
        eprintln!(
            "{elapsed:>5.1}s  {:>9} datagrams  {rate:>8} /s  gaps {total_gaps}  p99 {p99}  [{}]",
            self.packets,
            self.format.map_or("deciding", |f| f.name()),
        );
        const MAX_LINES: usize = 40;
        let n = self.chans.len();
        for (i, ((stream, ch), c)) in self.chans.iter_mut().enumerate() {
            if n > 1 && i < MAX_LINES {
                let m = c.merged();
                let ab = c.arb.as_ref().map_or(String::new(), |a| {
                    format!("  A gaps {} B gaps {}", a.a.seq.missing, a.b.seq.missing)
                });
                eprintln!(
                    "        {:<22} ch {:>5}  {:>8} pkts {:>6} /s  gaps {} dup {} reord {}{ab}",
                    stream.to_string(),
                    ch.map_or("-".into(), |c| c.to_string()),
                    c.packets,
                    c.packets - c.shown,
                    m.missing,
                    c.duplicates(),
                    m.reordered,
                );
            }
            c.shown = c.packets;
        }
        if n > MAX_LINES {
            eprintln!("        ... and {} more channels", n - MAX_LINES);
        }
    }
}
