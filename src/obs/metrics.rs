//! Counters and histograms in one Prometheus registry. The hot path holds
//! pre-resolved handles (an atomic add each), never a label lookup.

use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FeedLabels {
    pub feed: String,
    pub role: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub feed: String,
    pub role: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabels {
    pub feed: String,
    pub role: String,
    pub peer: String,
}

#[derive(Clone)]
struct LatencyBuckets;
impl MetricConstructor<Histogram> for LatencyBuckets {
    fn new_metric(&self) -> Histogram {
        // 10 us to ~5 s.
        Histogram::new(exponential_buckets(10e-6, 2.0, 20))
    }
}

/// Every metric family of the process.
pub struct Metrics {
    registry: Registry,
    datagrams_in: Family<FeedLabels, Counter>,
    bytes_in: Family<FeedLabels, Counter>,
    datagrams_out: Family<FeedLabels, Counter>,
    bytes_out: Family<FeedLabels, Counter>,
    drops: Family<ReasonLabels, Counter>,
    gaps: Family<FeedLabels, Counter>,
    duplicates: Family<FeedLabels, Counter>,
    replayed: Family<FeedLabels, Counter>,
    reconnects: Family<PeerLabels, Counter>,
    connected: Family<FeedLabels, Gauge>,
    buffer_bytes: Family<FeedLabels, Gauge>,
    handshake_failures: Family<ReasonLabels, Counter>,
    latency: Family<FeedLabels, Histogram, LatencyBuckets>,
    feeds: Mutex<Vec<Arc<FeedStats>>>,
}

/// One feed's handles, as one role sees it.
pub struct FeedStats {
    pub feed: String,
    pub role: &'static str,
    pub datagrams_in: Counter,
    pub bytes_in: Counter,
    pub datagrams_out: Counter,
    pub bytes_out: Counter,
    pub gaps: Counter,
    pub duplicates: Counter,
    pub replayed: Counter,
    pub connected: Gauge,
    pub buffer_bytes: Gauge,
    pub latency: Histogram,
    /// When a datagram last came in, ns since the epoch (0: never).
    pub last_in_ns: std::sync::atomic::AtomicU64,
    drops: Family<ReasonLabels, Counter>,
    reconnects: Family<PeerLabels, Counter>,
    handshake_failures: Family<ReasonLabels, Counter>,
}

impl FeedStats {
    /// Count `n` datagrams dropped for `reason` (rare; a label lookup is fine).
    pub fn dropped(&self, reason: &str, n: u64) {
        self.drops.get_or_create(&self.reason(reason)).inc_by(n);
    }

    pub fn drops_total(&self) -> u64 {
        let mut total = 0;
        for r in DROP_REASONS {
            total += self.drops.get_or_create(&self.reason(r)).get();
        }
        total
    }

    pub fn reconnect(&self, peer: &str) {
        self.reconnects
            .get_or_create(&PeerLabels {
                feed: self.feed.clone(),
                role: self.role.into(),
                peer: peer.into(),
            })
            .inc();
    }

    pub fn reconnects_total(&self, peers: &[String]) -> u64 {
        peers
            .iter()
            .map(|p| {
                self.reconnects
                    .get_or_create(&PeerLabels {
                        feed: self.feed.clone(),
                        role: self.role.into(),
                        peer: p.clone(),
                    })
                    .get()
            })
            .sum()
    }

    pub fn handshake_failed(&self, reason: &str) {
        self.handshake_failures
            .get_or_create(&self.reason(reason))
            .inc();
    }

    fn reason(&self, reason: &str) -> ReasonLabels {
        ReasonLabels {
            feed: self.feed.clone(),
            role: self.role.into(),
            reason: reason.into(),
        }
    }
}

/// Every reason a datagram can be dropped; `drops_total` sums these.
pub const DROP_REASONS: &[&str] = &[
    "not_allowed",
    "too_big",
    "truncated",
    "not_joined",
    "behind",
    "send_error",
    "stale",
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mcast_relay");
        let m = Metrics {
            datagrams_in: Family::default(),
            bytes_in: Family::default(),
            datagrams_out: Family::default(),
            bytes_out: Family::default(),
            drops: Family::default(),
            gaps: Family::default(),
            duplicates: Family::default(),
            replayed: Family::default(),
            reconnects: Family::default(),
            connected: Family::default(),
            buffer_bytes: Family::default(),
            handshake_failures: Family::default(),
            latency: Family::new_with_constructor(LatencyBuckets),
            feeds: Mutex::new(Vec::new()),
            registry: Registry::default(),
        };
        registry.register(
            "datagrams_in",
            "Datagrams received (multicast at an ingress, from the link at an egress)",
            m.datagrams_in.clone(),
        );
        registry.register("bytes_in", "UDP payload bytes received", m.bytes_in.clone());
        registry.register(
            "datagrams_out",
            "Datagrams sent (to the link at an ingress, as multicast at an egress)",
            m.datagrams_out.clone(),
        );
        registry.register("bytes_out", "UDP payload bytes sent", m.bytes_out.clone());
        registry.register("drops", "Datagrams dropped, by reason", m.drops.clone());
        registry.register(
            "gaps",
            "Datagrams missing from the sequence (lost before this relay)",
            m.gaps.clone(),
        );
        registry.register(
            "duplicates",
            "Datagrams received again after a replay and not emitted",
            m.duplicates.clone(),
        );
        registry.register(
            "replayed",
            "Datagrams resent after a reconnect",
            m.replayed.clone(),
        );
        registry.register(
            "reconnects",
            "Link connections lost and made again",
            m.reconnects.clone(),
        );
        registry.register("connected_peers", "Links up", m.connected.clone());
        registry.register(
            "buffer_bytes",
            "Bytes held in the replay window",
            m.buffer_bytes.clone(),
        );
        registry.register(
            "handshake_failures",
            "Handshakes refused or failed, by reason",
            m.handshake_failures.clone(),
        );
        registry.register(
            "latency_seconds",
            "Time from ingress receive to egress send",
            m.latency.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Handles for `feed` in `role` ("ingress" or "egress"); the same handles each call.
    pub fn feed(&self, feed: &str, role: &'static str) -> Arc<FeedStats> {
        let mut feeds = self.feeds.lock().expect("metrics lock");
        if let Some(f) = feeds.iter().find(|f| f.feed == feed && f.role == role) {
            return f.clone();
        }
        let l = FeedLabels {
            feed: feed.into(),
            role: role.into(),
        };
        let f = Arc::new(FeedStats {
            feed: feed.into(),
            role,
            datagrams_in: self.datagrams_in.get_or_create_owned(&l),
            bytes_in: self.bytes_in.get_or_create_owned(&l),
            datagrams_out: self.datagrams_out.get_or_create_owned(&l),
            bytes_out: self.bytes_out.get_or_create_owned(&l),
            gaps: self.gaps.get_or_create_owned(&l),
            duplicates: self.duplicates.get_or_create_owned(&l),
            replayed: self.replayed.get_or_create_owned(&l),
            connected: self.connected.get_or_create_owned(&l),
            buffer_bytes: self.buffer_bytes.get_or_create_owned(&l),
            latency: self.latency.get_or_create_owned(&l),
            last_in_ns: Default::default(),
            drops: self.drops.clone(),
            reconnects: self.reconnects.clone(),
            handshake_failures: self.handshake_failures.clone(),
        });
        feeds.push(f.clone());
        f
    }

    /// Every feed registered so far.
    pub fn feeds(&self) -> Vec<Arc<FeedStats>> {
        self.feeds.lock().expect("metrics lock").clone()
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_shared_and_exported() {
        let m = Metrics::new();
        let a = m.feed("prod", "egress");
        a.datagrams_out.inc_by(3);
        m.feed("prod", "egress").datagrams_out.inc();
        a.dropped("not_allowed", 2);
        a.latency.observe(0.0001);
        let text = m.encode();
        assert!(
            text.contains(r#"mcast_relay_datagrams_out_total{feed="prod",role="egress"} 4"#),
            "{text}"
        );
        assert!(text.contains(
            r#"mcast_relay_drops_total{feed="prod",role="egress",reason="not_allowed"} 2"#
        ));
        assert!(text.contains("mcast_relay_latency_seconds_bucket"));
        assert_eq!(a.drops_total(), 2);
    }
}
