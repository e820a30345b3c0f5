//! Per-sender and per-channel counters of a merged feed: what each sender
//! delivered, which copies came first, the gaps each had and whether another
//! sender filled them, how far behind the merged stream each runs, and the
//! venue's own gaps per channel that no sender could fill.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

/// Senders counted one by one per feed; past this, "other".
pub const MAX_SENDERS: usize = 16;
/// Channels counted one by one per feed; past this, "other".
pub const MAX_CHANNELS: usize = 64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SenderLabels {
    pub feed: String,
    pub sender: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    pub feed: String,
    /// `GROUP:PORT/CHANNEL`, or "other" past [`MAX_CHANNELS`].
    pub channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MergeLabels {
    pub feed: String,
}

type FGauge = Gauge<f64, AtomicU64>;

/// The families, registered once per process.
#[derive(Clone, Default)]
pub struct Families {
    datagrams: Family<SenderLabels, Counter>,
    first: Family<SenderLabels, Counter>,
    late: Family<SenderLabels, Counter>,
    gaps: Family<SenderLabels, Counter>,
    filled: Family<SenderLabels, Counter>,
    restart_gaps: Family<SenderLabels, Counter>,
    lag: Family<SenderLabels, FGauge>,
    connected: Family<SenderLabels, Gauge>,
    channel_gaps: Family<ChannelLabels, Counter>,
    unparsed: Family<MergeLabels, Counter>,
    held: Family<MergeLabels, Gauge>,
}

impl Families {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "sender_datagrams",
            "Egress: datagrams each sender of a merged feed delivered",
            self.datagrams.clone(),
        );
        r.register(
            "sender_first",
            "Egress: datagrams of which this sender's copy came first (and was emitted)",
            self.first.clone(),
        );
        r.register(
            "sender_late",
            "Egress: later copies from this sender, dropped by the merge",
            self.late.clone(),
        );
        r.register(
            "sender_gaps",
            "Egress: the venue's numbers missing from this sender's copy (its line or its ingress lost them)",
            self.gaps.clone(),
        );
        r.register(
            "sender_filled",
            "Egress: of this sender's gaps and restart gaps, numbers another sender delivered",
            self.filled.clone(),
        );
        r.register(
            "sender_restart_gaps",
            "Egress: numbers this sender missed while it restarted (a new stream)",
            self.restart_gaps.clone(),
        );
        r.register(
            "sender_lag_seconds",
            "Egress: how far behind the merged stream this sender's copies arrive (moving average)",
            self.lag.clone(),
        );
        r.register(
            "sender_connected",
            "Egress: 1 while this sender is connected",
            self.connected.clone(),
        );
        r.register(
            "channel_gaps",
            "Egress: the venue's numbers missing from the merged stream, per channel: no sender delivered them (lost at the venue or on every line)",
            self.channel_gaps.clone(),
        );
        r.register(
            "merge_unparsed",
            "Egress: datagrams of a merged feed its format could not number; emitted once by content",
            self.unparsed.clone(),
        );
        r.register(
            "merge_held",
            "Egress: datagrams held back now, waiting for another sender to fill the gap before them",
            self.held.clone(),
        );
    }

    /// The merge's own counters for `feed`.
    pub fn merge(&self, feed: &str) -> (Counter, Gauge) {
        let l = MergeLabels { feed: feed.into() };
        (
            self.unparsed.get_or_create_owned(&l),
            self.held.get_or_create_owned(&l),
        )
    }
}

/// One sender of one feed.
pub struct SenderStats {
    pub name: String,
    pub datagrams: Counter,
    pub first: Counter,
    pub late: Counter,
    pub gaps: Counter,
    pub filled: Counter,
    pub restart_gaps: Counter,
    pub lag_seconds: FGauge,
    pub connected: Gauge,
    /// When it last delivered a datagram, ns since the epoch (0: never).
    pub last_seen_ns: AtomicU64,
    /// When it connected or disconnected last, ns since the epoch.
    pub since_ns: AtomicU64,
    /// Where it connects from (its last peer address).
    pub peer: Mutex<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SenderInfo {
    pub sender: String,
    pub connected: bool,
    pub peer: String,
    pub datagrams: u64,
    pub first: u64,
    pub late: u64,
    pub gaps: u64,
    pub filled: u64,
    pub restart_gaps: u64,
    pub lag_s: f64,
    /// Seconds since it last delivered (None: never).
    pub silent_s: Option<f64>,
    /// Seconds since it connected or disconnected.
    pub for_s: f64,
}

impl SenderStats {
    pub fn info(&self, now_ns: u64) -> SenderInfo {
        let last = self.last_seen_ns.load(Ordering::Relaxed);
        SenderInfo {
            sender: self.name.clone(),
            connected: self.connected.get() == 1,
            peer: self.peer.lock().expect("peer lock").clone(),
            datagrams: self.datagrams.get(),
            first: self.first.get(),
            late: self.late.get(),
            gaps: self.gaps.get(),
            filled: self.filled.get(),
            restart_gaps: self.restart_gaps.get(),
            lag_s: self.lag_seconds.get(),
            silent_s: (last > 0).then(|| now_ns.saturating_sub(last) as f64 * 1e-9),
            for_s: now_ns.saturating_sub(self.since_ns.load(Ordering::Relaxed)) as f64 * 1e-9,
        }
    }

    pub fn set_connected(&self, up: bool, now_ns: u64) {
        self.connected.set(up as i64);
        self.since_ns.store(now_ns, Ordering::Relaxed);
    }
}

/// A feed's senders and channels.
#[derive(Default)]
pub struct FeedSenders {
    senders: Mutex<Vec<Arc<SenderStats>>>,
    channels: Mutex<Vec<(String, Counter)>>,
}

impl FeedSenders {
    /// The handles of `sender` (the same each call); past [`MAX_SENDERS`], "other".
    pub fn sender(&self, f: &Families, feed: &str, sender: &str) -> Arc<SenderStats> {
        let mut v = self.senders.lock().expect("senders lock");
        if let Some(s) = v.iter().find(|s| s.name == sender) {
            return s.clone();
        }
        let name = if v.len() < MAX_SENDERS {
            sender
        } else {
            "other"
        };
        if let Some(s) = v.iter().find(|s| s.name == name) {
            return s.clone();
        }
        let l = SenderLabels {
            feed: feed.into(),
            sender: name.into(),
        };
        let s = Arc::new(SenderStats {
            name: name.into(),
            datagrams: f.datagrams.get_or_create_owned(&l),
            first: f.first.get_or_create_owned(&l),
            late: f.late.get_or_create_owned(&l),
            gaps: f.gaps.get_or_create_owned(&l),
            filled: f.filled.get_or_create_owned(&l),
            restart_gaps: f.restart_gaps.get_or_create_owned(&l),
            lag_seconds: f.lag.get_or_create_owned(&l),
            connected: f.connected.get_or_create_owned(&l),
            last_seen_ns: AtomicU64::new(0),
            since_ns: AtomicU64::new(crate::clock::now_ns()),
            peer: Mutex::new(String::new()),
        });
        v.push(s.clone());
        s
    }

    pub fn all(&self) -> Vec<Arc<SenderStats>> {
        self.senders.lock().expect("senders lock").clone()
    }

    /// The gap counter of one channel; past [`MAX_CHANNELS`], "other".
    pub fn channel(&self, f: &Families, feed: &str, channel: &str) -> Counter {
        let mut v = self.channels.lock().expect("channels lock");
        if let Some((_, c)) = v.iter().find(|(n, _)| n == channel) {
            return c.clone();
        }
        let name = if v.len() < MAX_CHANNELS {
            channel
        } else {
            "other"
        };
        if let Some((_, c)) = v.iter().find(|(n, _)| n == name) {
            return c.clone();
        }
        let c = f.channel_gaps.get_or_create_owned(&ChannelLabels {
            feed: feed.into(),
            channel: name.into(),
        });
        v.push((name.into(), c.clone()));
        c
    }

    /// `(channel, gaps)` of every channel counted so far.
    pub fn channel_gaps(&self) -> Vec<(String, u64)> {
        self.channels
            .lock()
            .expect("channels lock")
            .iter()
            .map(|(n, c)| (n.clone(), c.get()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_and_channels_are_bounded_and_exported() {
        let f = Families::default();
        let mut r = Registry::with_prefix("mcast_relay");
        f.register(&mut r);
        let s = FeedSenders::default();
        let a = s.sender(&f, "prod", "dc-a");
        a.first.inc();
        assert!(Arc::ptr_eq(&a, &s.sender(&f, "prod", "dc-a")));
        for i in 0..MAX_SENDERS + 3 {
            s.sender(&f, "prod", &format!("s{i}"));
        }
        assert_eq!(s.all().len(), MAX_SENDERS + 1);
        s.channel(&f, "prod", "239.1.1.1:6100/3").inc_by(4);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        assert!(
            text.contains(r#"mcast_relay_sender_first_total{feed="prod",sender="dc-a"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"mcast_relay_channel_gaps_total{feed="prod",channel="239.1.1.1:6100/3"} 4"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"sender="other""#));
    }
}
