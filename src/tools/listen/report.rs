//! What listen found: per channel, per joined group and in all, as JSON and as
//! the summary for a terminal.

use std::net::SocketAddrV4;
use std::time::Duration;

use serde::Serialize;

use super::decode::Format;
use super::state::State;
use crate::feeds::arbiter::{Side, SideStats};
use crate::feeds::deribit;

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

pub(super) fn report(st: &State, auto: bool, elapsed: Duration) -> ListenReport {
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
                length_mismatches: c.tally.length_mismatches,
                messages: c.tally.messages,
                not_sized: c.tally.not_sized,
                templates: c
                    .tally
                    .templates
                    .iter()
                    .map(|(id, n)| TemplateCount {
                        id: *id,
                        name: deribit::template_name(*id).unwrap_or("unknown").into(),
                        count: *n,
                    })
                    .collect(),
                heartbeats: c.tally.heartbeats,
                incremental: c.tally.types[0],
                snapshot: c.tally.types[1],
                retransmit: c.tally.types[2],
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
