//! `listen`: join groups and tell what arrived, per feed channel: counts,
//! gaps, duplicates, reordering, the Deribit template mix, A/B arbitration,
//! and one-way latency where the format carries a send time.
//!
//! Formats: `test` (our 20-byte header, one sequence per group), `deribit`
//! (legacy frame header, one sequence per group, port and channel, +1 per
//! packet), `starbase` (24-byte header, `seqNum + messageCount`), `raw`
//! (counts only) and `auto`, which decides from the first datagrams.

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use nix::poll::PollFlags;
use serde::Serialize;

use crate::feeds::arbiter::{Arbiter, Side, SideStats};
use crate::feeds::seq::{Seen, SeqTracker};
use crate::feeds::{deribit, testhdr};
use crate::feeds::{sequenced, starbase};
use crate::net::addr::GroupPort;
use crate::net::batch::RecvBatch;
use crate::net::mcast::{self, Iface, Membership};

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

/// `GROUP_A:PORT=GROUP_B:PORT`: the two copies of one feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbPair {
    pub a: GroupPort,
    pub b: GroupPort,
}

impl FromStr for AbPair {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} is not A=B (e.g. 239.111.1.1:6100=239.111.2.1:6100)"))?;
        let (a, b): (GroupPort, GroupPort) = (a.parse()?, b.parse()?);
        if a == b {
            return Err(format!("{s:?}: the A and B groups are the same"));
        }
        Ok(AbPair { a, b })
    }
}

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    mcast-relay listen --group 239.255.0.1:5001 --duration 10s --json\n  \
    mcast-relay listen --format deribit --group 239.111.111.1:6100 --group 239.111.111.1:6101 --fail-on-gap\n  \
    mcast-relay listen --format starbase --ab 239.111.1.1:6100=239.111.2.1:6100\n\n\
    Exit codes: 0 all well, 1 an error or --expect not met, 2 gaps with --fail-on-gap.")]
pub struct ListenArgs {
    /// Group to join, GROUP:PORT; repeat for several.
    #[arg(
        long = "group",
        required_unless_present = "ab",
        value_name = "GROUP:PORT"
    )]
    pub groups: Vec<GroupPort>,
    /// Join source-specific: only datagrams from this sender.
    #[arg(long)]
    pub source: Option<std::net::Ipv4Addr>,
    /// Interface to join on: a name or an IPv4 address. The loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1", env = "MCAST_RELAY_IFACE")]
    pub iface: String,
    /// Stop after this long (default: until Ctrl-C, --expect or --idle).
    #[arg(long, value_parser = super::parse_duration)]
    pub duration: Option<Duration>,
    /// Exit non-zero unless this many distinct datagrams arrived; stop soon after they did.
    #[arg(long)]
    pub expect: Option<u64>,
    /// Stop when nothing arrived for this long after the first datagram.
    #[arg(long, value_parser = super::parse_duration)]
    pub idle: Option<Duration>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// No line a second.
    #[arg(long, short)]
    pub quiet: bool,
    /// Receive socket buffer, bytes.
    #[arg(long, default_value_t = 8 << 20)]
    pub rcvbuf: usize,
    /// What the datagrams carry; auto decides from the first ones and says which.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// The A and B groups of one feed, A=B: joins both and arbitrates them
    /// (first arrival wins), reporting gaps of the merge and of each side; repeatable.
    #[arg(long = "ab", value_name = "GROUP_A:PORT=GROUP_B:PORT")]
    pub ab: Vec<AbPair>,
    /// Exit with code 2 when a sequence (the merge, for A/B) has gaps at the end.
    #[arg(long)]
    pub fail_on_gap: bool,
    /// Measure latency to when the kernel queued each datagram, not to when
    /// listen received it (the default: what an application sees).
    #[arg(long)]
    pub kernel_time: bool,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub samples: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    pub group: String,
    pub packets: u64,
    pub bytes: u64,
    pub gaps: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub untagged: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TemplateCount {
    pub id: u16,
    pub name: String,
    pub count: u64,
}

/// One side of an arbitrated channel, as if it were alone.
#[derive(Debug, Clone, Serialize)]
pub struct SideReport {
    pub group: String,
    pub packets: u64,
    pub gaps: u64,
    pub holes: u64,
    pub duplicates: u64,
    pub reordered: u64,
    /// Packets of this side that arrived first.
    pub won: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AbReport {
    pub a: SideReport,
    pub b: SideReport,
    /// Later copies, dropped by the arbitration.
    pub redundant: u64,
}

/// One channel: a group:port (or an A/B pair) and, for the Deribit and
/// Starbase formats, a channel id. Sequence counts are in the format's unit
/// (packets; messages for Starbase), and for A/B those of the merged stream.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelReport {
    pub group: String,
    pub channel: Option<u32>,
    pub packets: u64,
    pub bytes: u64,
    /// Packets that brought at least one new number (not heartbeats, not
    /// later copies), plus those not in the format.
    pub unique: u64,
    /// Numbers missing at the end.
    pub gaps: u64,
    /// Separate runs of missing numbers at the end.
    pub holes: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub first_seq: Option<u64>,
    pub next_seq: Option<u64>,
    /// Datagrams that did not parse in the format (too short, no test header).
    pub untagged: u64,
    /// Deribit: packets whose packetLength field disagrees with the datagram.
    pub length_mismatches: u64,
    /// Deribit: SBE messages; Starbase: the sum of messageCount.
    pub messages: u64,
    /// Deribit: packets whose messages could not all be sized; the first
    /// unsizable message was counted and the rest of the packet was not.
    pub not_sized: u64,
    /// Deribit: messages per template id.
    pub templates: Vec<TemplateCount>,
    /// Starbase: empty packets.
    pub heartbeats: u64,
    /// Starbase: packets by type bit.
    pub incremental: u64,
    pub snapshot: u64,
    pub retransmit: u64,
    pub ab: Option<AbReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListenReport {
    /// The format used.
    pub format: Format,
    /// Whether it was decided from the datagrams (--format auto).
    pub format_auto: bool,
    /// What the sequence counts (gaps, duplicates, reordered) count.
    pub unit: &'static str,
    /// Datagrams received, duplicates included.
    pub packets: u64,
    /// Distinct datagrams (by sequence, heartbeats not counted), plus those without a sequence.
    pub unique: u64,
    pub bytes: u64,
    /// Numbers missing from the sequences at the end (of the merge, for A/B).
    pub gaps: u64,
    /// Separate runs of missing numbers.
    pub holes: u64,
    pub duplicates: u64,
    pub reordered: u64,
    /// Datagrams without a header of the format (counted, not sequenced).
    pub untagged: u64,
    pub latency_us: Latency,
    pub duration_s: f64,
    pub channels: Vec<ChannelReport>,
    pub groups: Vec<GroupReport>,
}

/// Counters others may read while a listen runs.
#[derive(Default)]
pub struct Live {
    pub packets: AtomicU64,
    pub unique: AtomicU64,
}

/// How many datagrams `auto` looks at before deciding (or fewer, after a while).
const DETECT_N: usize = 8;
const DETECT_WAIT: Duration = Duration::from_millis(500);

#[derive(Default)]
struct Chan {
    packets: u64,
    bytes: u64,
    unique: u64,
    seq: SeqTracker,
    arb: Option<Box<Arbiter>>,
    untagged: u64,
    length_mismatches: u64,
    messages: u64,
    not_sized: u64,
    templates: BTreeMap<u16, u64>,
    heartbeats: u64,
    types: [u64; 3],
    shown: u64,
}

impl Chan {
    fn new(ab: bool) -> Chan {
        Chan {
            arb: ab.then(Box::default),
            ..Chan::default()
        }
    }

    fn sequence(&mut self, side: Option<Side>, seq: u64, count: u64) {
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

    fn merged(&self) -> &SeqTracker {
        self.arb.as_ref().map_or(&self.seq, |a| &a.merged)
    }

    fn duplicates(&self) -> u64 {
        self.arb
            .as_ref()
            .map_or(self.seq.duplicates, |a| a.side_duplicates())
    }
}

type Key = (SocketAddrV4, Option<u32>);

struct State {
    format: Option<Format>,
    held: Vec<(SocketAddrV4, u64, Vec<u8>)>,
    held_since: Option<Instant>,
    /// Where each joined group:port goes: its stream (the A group of a pair) and side.
    route: HashMap<SocketAddrV4, (SocketAddrV4, Option<Side>)>,
    b_of: HashMap<SocketAddrV4, SocketAddrV4>,
    chans: BTreeMap<Key, Chan>,
    groups: BTreeMap<SocketAddrV4, (u64, u64)>,
    hist: Histogram<u64>,
    packets: u64,
    quiet: bool,
}

impl State {
    fn decide(&mut self) {
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

    fn chan(&mut self, stream: SocketAddrV4, channel: Option<u32>, ab: bool) -> &mut Chan {
        self.chans
            .entry((stream, channel))
            .or_insert_with(|| Chan::new(ab))
    }

    /// One datagram to `dst`, received at `at` (ns since the epoch).
    fn on(&mut self, dst: SocketAddrV4, at: u64, p: &[u8]) {
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
        let ab = side.is_some();
        let len = p.len() as u64;
        let mut latency = None;
        let c = match format {
            Format::Test => match testhdr::parse(p) {
                Some((seq, sent)) => {
                    latency = Some(sent);
                    let c = self.chan(stream, None, ab);
                    c.sequence(side, seq, 1);
                    c
                }
                None => self.untagged(stream, ab),
            },
            // A frame whose length disagrees still counts (as a mismatch) when its
            // first message is schema 1; anything else is not this format.
            Format::Deribit => match sequenced::deribit_frame(p) {
                Some(f) => {
                    let c = self.chan(stream, Some(f.channel as u32), ab);
                    c.length_mismatches += !f.length_ok(p.len()) as u64;
                    let templates = &mut c.templates;
                    let w = deribit::walk(p, |t| *templates.entry(t).or_default() += 1);
                    c.messages += w.messages as u64;
                    c.not_sized += !w.exact as u64;
                    c.sequence(side, f.seq as u64, 1);
                    c
                }
                None => self.untagged(stream, ab),
            },
            Format::Starbase => match sequenced::starbase_header(p) {
                Some(h) => {
                    if h.sending_ns > 0 {
                        latency = Some(h.sending_ns as u64);
                    }
                    let c = self.chan(stream, Some(h.channel as u32), ab);
                    c.messages += h.count as u64;
                    c.heartbeats += h.is_heartbeat() as u64;
                    for (i, bit) in [
                        starbase::INCREMENTAL,
                        starbase::SNAPSHOT,
                        starbase::RETRANSMIT,
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        c.types[i] += (h.packet_type & bit != 0) as u64;
                    }
                    c.sequence(side, h.seq as u64, h.count as u64);
                    c
                }
                None => self.untagged(stream, ab),
            },
            Format::Raw | Format::Auto => {
                let c = self.chan(stream, None, ab);
                c.unique += 1;
                c
            }
        };
        c.packets += 1;
        c.bytes += len;
        if let Some(sent) = latency {
            let _ = self.hist.record(at.saturating_sub(sent).max(1));
        }
    }

    fn untagged(&mut self, stream: SocketAddrV4, ab: bool) -> &mut Chan {
        let c = self.chan(stream, None, ab);
        c.untagged += 1;
        c.unique += 1;
        c
    }

    fn unique(&self) -> u64 {
        self.chans.values().map(|c| c.unique).sum()
    }

    fn gaps(&self) -> u64 {
        self.chans.values().map(|c| c.merged().missing).sum()
    }

    /// The per-channel lines of the live table.
    fn live(&mut self, elapsed: f64) {
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

/// Join and count until told to stop (by `stop`, the duration, `--expect` or `--idle`).
pub fn run(a: &ListenArgs, stop: &AtomicBool, live: &Live) -> std::io::Result<ListenReport> {
    let iface = Iface::resolve(&a.iface)?;
    let how = a
        .source
        .map_or(Membership::AnySource, Membership::SourceSpecific);
    let mut route: HashMap<SocketAddrV4, (SocketAddrV4, Option<Side>)> = HashMap::new();
    let mut b_of = HashMap::new();
    for p in &a.ab {
        for (g, side) in [(p.a, Side::A), (p.b, Side::B)] {
            if route.insert(g.0, (p.a.0, Some(side))).is_some() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("--ab: {g} is in two pairs"),
                ));
            }
        }
        b_of.insert(p.a.0, p.b.0);
    }
    for g in &a.groups {
        route.entry(g.0).or_insert((g.0, None));
    }
    let mut all: Vec<GroupPort> = route.keys().map(|g| GroupPort(*g)).collect();
    all.sort();
    let socks: Vec<(UdpSocket, u16)> = mcast::receivers(&all, &iface, how, a.rcvbuf)?
        .into_iter()
        .map(|(s, p, _)| (s, p))
        .collect();
    if !a.quiet {
        eprintln!(
            "listen: joined {} group(s) on {} ({} socket(s)), format {}",
            all.len(),
            iface.name,
            socks.len(),
            a.format.name()
        );
    }
    let mut st = State {
        format: (a.format != Format::Auto).then_some(a.format),
        held: Vec::new(),
        held_since: None,
        route,
        b_of,
        chans: BTreeMap::new(),
        groups: all.iter().map(|g| (g.0, (0, 0))).collect(),
        hist: Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
        packets: 0,
        quiet: a.quiet,
    };
    let mut batch = RecvBatch::new(64, 65_536);
    let start = Instant::now();
    let (mut last_rx, mut expect_met) = (None::<Instant>, None::<Instant>);
    let mut next_line = start + Duration::from_secs(1);
    loop {
        let now = Instant::now();
        if stop.load(Ordering::Relaxed)
            || a.duration.is_some_and(|d| now - start >= d)
            || a.idle.zip(last_rx).is_some_and(|(i, t)| now - t >= i)
            || expect_met.is_some_and(|t| now - t >= Duration::from_millis(300))
        {
            break;
        }
        if st.format.is_none() && st.held_since.is_some_and(|t| now - t >= DETECT_WAIT) {
            st.decide();
        }
        if !a.quiet && now >= next_line {
            st.live((now - start).as_secs_f64());
            next_line += Duration::from_secs(1);
        }
        let ready = super::wait(
            &socks.iter().map(|s| s.0.as_fd()).collect::<Vec<_>>(),
            PollFlags::POLLIN,
            Duration::from_millis(50),
        )?;
        for (i, (s, port)) in socks.iter().enumerate() {
            if !ready[i] {
                continue;
            }
            loop {
                let n = match batch.recv(s.as_fd()) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                };
                let fallback = crate::clock::now_ns();
                for j in 0..n {
                    let (m, payload) = batch.get(j);
                    let Some(dst) = m.dst else { continue };
                    st.on(
                        SocketAddrV4::new(dst, *port),
                        if a.kernel_time {
                            m.kernel_ns.unwrap_or(fallback)
                        } else {
                            fallback
                        },
                        payload,
                    );
                }
                last_rx = Some(Instant::now());
                if n < batch.capacity() {
                    break;
                }
            }
        }
        let unique = st.unique();
        live.packets.store(st.packets, Ordering::Relaxed);
        live.unique.store(unique, Ordering::Relaxed);
        if expect_met.is_none() && a.expect.is_some_and(|e| unique >= e) {
            expect_met = Some(Instant::now());
        }
    }
    if st.format.is_none() {
        if st.held.is_empty() {
            if !a.quiet && a.format == Format::Auto {
                eprintln!("listen: nothing arrived, so no format was decided");
            }
            st.format = Some(Format::Raw);
        } else {
            st.decide();
        }
    }
    live.packets.store(st.packets, Ordering::Relaxed);
    live.unique.store(st.unique(), Ordering::Relaxed);
    Ok(report(&st, a.format == Format::Auto, start.elapsed()))
}

fn side_report(group: SocketAddrV4, s: &SideStats) -> SideReport {
    SideReport {
        group: group.to_string(),
        packets: s.packets,
        gaps: s.seq.missing,
        holes: s.seq.holes,
        duplicates: s.seq.duplicates,
        reordered: s.seq.reordered,
        won: s.won,
    }
}

fn report(st: &State, auto: bool, elapsed: Duration) -> ListenReport {
    let format = st.format.unwrap_or(Format::Raw);
    let channels: Vec<ChannelReport> = st
        .chans
        .iter()
        .map(|((stream, ch), c)| {
            let m = c.merged();
            ChannelReport {
                group: stream.to_string(),
                channel: *ch,
                packets: c.packets,
                bytes: c.bytes,
                unique: c.unique,
                gaps: m.missing,
                holes: m.holes,
                duplicates: c.duplicates(),
                reordered: m.reordered,
                first_seq: m.first(),
                next_seq: m.next(),
                untagged: c.untagged,
                length_mismatches: c.length_mismatches,
                messages: c.messages,
                not_sized: c.not_sized,
                templates: c
                    .templates
                    .iter()
                    .map(|(id, n)| TemplateCount {
                        id: *id,
                        name: deribit::template_name(*id).unwrap_or("unknown").into(),
                        count: *n,
                    })
                    .collect(),
                heartbeats: c.heartbeats,
                incremental: c.types[0],
                snapshot: c.types[1],
                retransmit: c.types[2],
                ab: c.arb.as_ref().map(|arb| AbReport {
                    a: side_report(*stream, &arb.a),
                    b: side_report(st.b_of.get(stream).copied().unwrap_or(*stream), &arb.b),
                    redundant: arb.redundant,
                }),
            }
        })
        .collect();
    // Per joined group: the sequences of the streams it carries (its side's, for A/B).
    let groups = st
        .groups
        .iter()
        .map(|(g, (packets, bytes))| {
            let (stream, side) = st.route.get(g).copied().unwrap_or((*g, None));
            let (mut gaps, mut duplicates, mut reordered, mut untagged) = (0, 0, 0, 0);
            for ((s, _), c) in st.chans.range((stream, None)..=(stream, Some(u32::MAX))) {
                debug_assert_eq!(*s, stream);
                let t = match (&c.arb, side) {
                    (Some(a), Some(Side::A)) => &a.a.seq,
                    (Some(a), Some(Side::B)) => &a.b.seq,
                    _ => &c.seq,
                };
                gaps += t.missing;
                duplicates += t.duplicates;
                reordered += t.reordered;
                if side != Some(Side::B) {
                    untagged += c.untagged;
                }
            }
            GroupReport {
                group: g.to_string(),
                packets: *packets,
                bytes: *bytes,
                gaps,
                duplicates,
                reordered,
                untagged,
            }
        })
        .collect();
    let q = |x: f64| st.hist.value_at_quantile(x) as f64 / 1e3;
    ListenReport {
        format,
        format_auto: auto,
        unit: format.unit(),
        packets: st.packets,
        unique: st.unique(),
        bytes: channels.iter().map(|c| c.bytes).sum(),
        gaps: channels.iter().map(|c| c.gaps).sum(),
        holes: channels.iter().map(|c| c.holes).sum(),
        duplicates: channels.iter().map(|c| c.duplicates).sum(),
        reordered: channels.iter().map(|c| c.reordered).sum(),
        untagged: channels.iter().map(|c| c.untagged).sum(),
        latency_us: Latency {
            p50: q(0.5),
            p99: q(0.99),
            p999: q(0.999),
            max: st.hist.max() as f64 / 1e3,
            samples: st.hist.len(),
        },
        duration_s: elapsed.as_secs_f64(),
        channels,
        groups,
    }
}

impl ListenReport {
    /// The summary for a terminal.
    pub fn text(&self) -> String {
        let mut s = format!(
            "format {}{}\n\
             received {} datagrams ({} distinct, {} bytes) in {:.1} s\n\
             gaps {} {} (in {} holes)  duplicates {}  reordered {}  not in the format {}\n",
            self.format.name(),
            if self.format_auto { " (auto)" } else { "" },
            self.packets,
            self.unique,
            self.bytes,
            self.duration_s,
            self.gaps,
            self.unit,
            self.holes,
            self.duplicates,
            self.reordered,
            self.untagged,
        );
        if self.latency_us.samples > 0 {
            s += &format!(
                "latency us: p50 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  ({} samples)\n",
                self.latency_us.p50,
                self.latency_us.p99,
                self.latency_us.p999,
                self.latency_us.max,
                self.latency_us.samples
            );
        } else {
            s += "latency: no send times in this format\n";
        }
        for c in &self.channels {
            s += &format!(
                "  {:<22} ch {:>5}  {:>7} pkts  gaps {} ({} holes)  dup {}  reord {}",
                c.group,
                c.channel.map_or("-".into(), |c| c.to_string()),
                c.packets,
                c.gaps,
                c.holes,
                c.duplicates,
                c.reordered
            );
            if let (Some(f), Some(n)) = (c.first_seq, c.next_seq) {
                s += &format!("  seq {f}..{}", n.saturating_sub(1));
            }
            if c.untagged > 0 {
                s += &format!("  not in the format {}", c.untagged);
            }
            if self.format == Format::Deribit {
                s += &format!(
                    "  length mismatches {}  messages {}",
                    c.length_mismatches, c.messages
                );
                if c.not_sized > 0 {
                    s += &format!(
                        " ({} packets not sized to the end: their first unsizable message was counted, the rest not)",
                        c.not_sized
                    );
                }
            }
            if self.format == Format::Starbase {
                s += &format!(
                    "  messages {}  heartbeats {}  incremental {}  snapshot {}  retransmit {}",
                    c.messages, c.heartbeats, c.incremental, c.snapshot, c.retransmit
                );
            }
            s += "\n";
            if !c.templates.is_empty() {
                let t: Vec<String> = c
                    .templates
                    .iter()
                    .map(|t| format!("{} {} {}", t.id, t.name, t.count))
                    .collect();
                s += &format!("      templates: {}\n", t.join(", "));
            }
            if let Some(ab) = &c.ab {
                for (name, x) in [("A", &ab.a), ("B", &ab.b)] {
                    s += &format!(
                        "      {name} {:<22} {:>7} pkts  gaps {} ({} holes)  dup {}  first {}\n",
                        x.group, x.packets, x.gaps, x.holes, x.duplicates, x.won
                    );
                }
                s += &format!("      later copies dropped {}\n", ab.redundant);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests;
