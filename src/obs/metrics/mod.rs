//! Counters and histograms in one Prometheus registry. The hot path holds
//! pre-resolved handles (an atomic add each), never a label lookup.

use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

mod feed;
mod histogram;

pub use feed::{DropReason, FeedStats, GroupStats, MAX_GROUPS};
pub use histogram::{LatencyHistogram, Snapshot};

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabels {
    pub feed: String,
    pub role: String,
    /// `GROUP:PORT`, or "other" past [`MAX_GROUPS`].
    pub group: String,
}

/// One link's handles (see [`Metrics::link`]).
pub struct LinkStats {
    pub datagrams: Counter,
    pub bytes: Counter,
    /// Ingress only: datagrams taken in that this destination has not sent yet.
    pub behind: Option<Gauge>,
    /// 1 while the link is up but cannot write what it holds.
    pub stalled: Gauge,
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
    segmented: Family<FeedLabels, Counter>,
    reconnects: Family<PeerLabels, Counter>,
    connected: Family<FeedLabels, Gauge>,
    buffer_bytes: Family<FeedLabels, Gauge>,
    handshake_failures: Family<ReasonLabels, Counter>,
    latency: Family<FeedLabels, LatencyHistogram>,
    degraded: Family<FeedLabels, Gauge>,
    authenticated: Family<FeedLabels, Gauge>,
    silent: Family<FeedLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    group_datagrams_in: Family<GroupLabels, Counter>,
    group_bytes_in: Family<GroupLabels, Counter>,
    group_datagrams_out: Family<GroupLabels, Counter>,
    group_bytes_out: Family<GroupLabels, Counter>,
    link_datagrams: Family<PeerLabels, Counter>,
    link_bytes: Family<PeerLabels, Counter>,
    link_behind: Family<PeerLabels, Gauge>,
    link_stalled: Family<PeerLabels, Gauge>,
    session_errors: Family<ReasonLabels, Counter>,
    failures: Arc<Failures>,
    senders: super::senders::Families,
    feeds: Mutex<Vec<Arc<FeedStats>>>,
}

/// Handshake failures by (feed, role, reason), counted with the Prometheus
/// family so that /status reports the same numbers as /metrics.
#[derive(Default)]
pub struct Failures(Mutex<std::collections::BTreeMap<(String, String, String), u64>>);

impl Failures {
    fn add(&self, feed: &str, role: &str, reason: &str) {
        *self
            .0
            .lock()
            .expect("failures lock")
            .entry((feed.into(), role.into(), reason.into()))
            .or_default() += 1;
    }

    /// `(reason, count)` for one feed ("-": a peer that named no feed we serve) and role.
    pub fn of(&self, feed: &str, role: &str) -> Vec<(String, u64)> {
        self.0
            .lock()
            .expect("failures lock")
            .iter()
            .filter(|((f, r, _), _)| f == feed && r == role)
            .map(|((_, _, reason), n)| (reason.clone(), *n))
            .collect()
    }
}

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
            segmented: Family::default(),
            reconnects: Family::default(),
            connected: Family::default(),
            buffer_bytes: Family::default(),
            handshake_failures: Family::default(),
            latency: Family::default(),
            degraded: Family::default(),
            authenticated: Family::default(),
            silent: Family::default(),
            group_datagrams_in: Family::default(),
            group_bytes_in: Family::default(),
            group_datagrams_out: Family::default(),
            group_bytes_out: Family::default(),
            link_datagrams: Family::default(),
            link_bytes: Family::default(),
            link_behind: Family::default(),
            link_stalled: Family::default(),
            session_errors: Family::default(),
            failures: Arc::default(),
            senders: Default::default(),
            feeds: Mutex::new(Vec::new()),
            registry: Registry::default(),
        };
        registry.register(
            "build",
            "The running build: its version and git revision (always 1)",
            prometheus_client::metrics::info::Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION")),
                ("revision", env!("MCAST_RELAY_GIT_REV")),
            ]),
        );
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
            "segmented_datagrams",
            "Datagrams sent inside segmented messages (UDP GSO: a run to one group through the kernel's stack once)",
            m.segmented.clone(),
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
        registry.register(
            "feed_degraded",
            "1 while the feed is degraded: no datagram in (or none out) for longer than --degraded-after",
            m.degraded.clone(),
        );
        registry.register(
            "feed_authenticated",
            "1 when the feed runs with a key; 0 when it runs without authentication (--insecure-no-auth)",
            m.authenticated.clone(),
        );
        registry.register(
            "feed_silent_seconds",
            "Seconds since a datagram of the feed last came in",
            m.silent.clone(),
        );
        registry.register(
            "group_datagrams_in",
            "Datagrams received per group (at most 64 groups per feed, then \"other\")",
            m.group_datagrams_in.clone(),
        );
        registry.register(
            "group_bytes_in",
            "UDP payload bytes received per group",
            m.group_bytes_in.clone(),
        );
        registry.register(
            "group_datagrams_out",
            "Datagrams sent per group (at most 64 groups per feed, then \"other\")",
            m.group_datagrams_out.clone(),
        );
        registry.register(
            "group_bytes_out",
            "UDP payload bytes sent per group",
            m.group_bytes_out.clone(),
        );
        registry.register(
            "link_datagrams",
            "Datagrams sent to this destination (ingress) or received on this listener (egress)",
            m.link_datagrams.clone(),
        );
        registry.register(
            "link_bytes",
            "UDP payload bytes sent to this destination (ingress) or received on this listener (egress)",
            m.link_bytes.clone(),
        );
        registry.register(
            "link_behind_datagrams",
            "Ingress: datagrams taken in that this destination has not been sent yet",
            m.link_behind.clone(),
        );
        registry.register(
            "link_stalled",
            "1 while the link is up but has not been able to write what it holds for a second",
            m.link_stalled.clone(),
        );
        registry.register(
            "session_errors",
            "Established links that ended other than cleanly, by reason (bad_record: bytes that failed authentication; protocol violations; dead_peer; ...)",
            m.session_errors.clone(),
        );
        m.senders.register(&mut registry);
        Metrics { registry, ..m }
    }

    /// Handles for one link: an ingress destination or an egress listener.
    pub fn link(&self, feed: &str, role: &'static str, peer: &str) -> LinkStats {
        let l = PeerLabels {
            feed: feed.into(),
            role: role.into(),
            peer: peer.into(),
        };
        LinkStats {
            datagrams: self.link_datagrams.get_or_create_owned(&l),
            bytes: self.link_bytes.get_or_create_owned(&l),
            behind: (role == "ingress").then(|| self.link_behind.get_or_create_owned(&l)),
            stalled: self.link_stalled.get_or_create_owned(&l),
        }
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
            segmented: self.segmented.get_or_create_owned(&l),
            connected: self.connected.get_or_create_owned(&l),
            buffer_bytes: self.buffer_bytes.get_or_create_owned(&l),
            latency: self.latency.get_or_create_owned(&l),
            last_in_ns: Default::default(),
            drops: DropReason::ALL.map(|r| {
                self.drops.get_or_create_owned(&ReasonLabels {
                    feed: feed.into(),
                    role: role.into(),
                    reason: r.label().into(),
                })
            }),
            reconnects: self.reconnects.clone(),
            handshake_failures: self.handshake_failures.clone(),
            session_errors: self.session_errors.clone(),
            degraded: self.degraded.get_or_create_owned(&l),
            authenticated: self.authenticated.get_or_create_owned(&l),
            key_ids: Mutex::default(),
            senders: Default::default(),
            families: self.senders.clone(),
            silent_seconds: self.silent.get_or_create_owned(&l),
            created_ns: crate::clock::now_ns(),
            reconnects_all: Counter::default(),
            failures: self.failures.clone(),
            groups: Mutex::new(Vec::new()),
            group_families: [
                self.group_datagrams_in.clone(),
                self.group_bytes_in.clone(),
                self.group_datagrams_out.clone(),
                self.group_bytes_out.clone(),
            ],
        });
        feeds.push(f.clone());
        f
    }

    /// Count a refused handshake; `feed` is "-" when the peer named none we serve.
    pub fn handshake_failed(&self, feed: &str, role: &str, reason: &str) {
        self.failures.add(feed, role, reason);
        let l = ReasonLabels {
            feed: feed.into(),
            role: role.into(),
            reason: reason.into(),
        };
        self.handshake_failures.get_or_create(&l).inc();
    }

    /// Handshake failures by reason for a feed and role, as /metrics counts them.
    pub fn handshake_failures(&self, feed: &str, role: &str) -> Vec<(String, u64)> {
        self.failures.of(feed, role)
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
mod tests;
