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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabels {
    pub feed: String,
    pub role: String,
    /// `GROUP:PORT`, or "other" past [`MAX_GROUPS`].
    pub group: String,
}

/// Groups counted one by one per feed and role; the rest are counted together
/// as group "other", so a feed with thousands of groups cannot blow up /metrics.
pub const MAX_GROUPS: usize = 64;

/// One group's counters in one feed and role (see [`FeedStats::group`]).
pub struct GroupStats {
    /// `GROUP:PORT`, or "other".
    pub group: String,
    pub datagrams_in: Counter,
    pub bytes_in: Counter,
    pub datagrams_out: Counter,
    pub bytes_out: Counter,
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
    /// One counter per [`DropReason`], in its order.
    drops: [Counter; DropReason::ALL.len()],
    reconnects: Family<PeerLabels, Counter>,
    handshake_failures: Family<ReasonLabels, Counter>,
    session_errors: Family<ReasonLabels, Counter>,
    /// 1 while the feed is degraded (silent too long; set by `obs::watch`).
    pub degraded: Gauge,
    /// 1 when the feed runs with a key, 0 when it runs `--insecure-no-auth`.
    pub authenticated: Gauge,
    /// The public ids of the keys held, current first (for /status).
    key_ids: Mutex<Vec<String>>,
    /// Egress, merged feeds: each sender and channel.
    pub senders: super::senders::FeedSenders,
    families: super::senders::Families,
    /// Seconds since a datagram last came in (set by `obs::watch`).
    pub silent_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// When these handles were made, ns since the epoch: a feed that never
    /// saw a datagram has been silent since then.
    pub created_ns: u64,
    /// Reconnects and handshake failures over every peer and reason, for
    /// EMF and /status (the labelled families cannot be summed without names).
    reconnects_all: Counter,
    failures: Arc<Failures>,
    groups: Mutex<Vec<Arc<GroupStats>>>,
    group_families: [Family<GroupLabels, Counter>; 4],
}

impl FeedStats {
    /// Count `n` datagrams dropped for `reason`: no lookup, no allocation.
    pub fn dropped(&self, reason: DropReason, n: u64) {
        self.drops[reason as usize].inc_by(n);
    }

    pub fn drops_total(&self) -> u64 {
        self.drops.iter().map(Counter::get).sum()
    }

    pub fn reconnect(&self, peer: &str) {
        self.reconnects_all.inc();
        self.reconnects
            .get_or_create(&PeerLabels {
                feed: self.feed.clone(),
                role: self.role.into(),
                peer: peer.into(),
            })
            .inc();
    }

    /// An established link ended other than cleanly (a bad record, a
    /// protocol violation, a dead peer, ...).
    pub fn session_ended(&self, reason: &str) {
        self.session_errors
            .get_or_create(&self.reason(reason))
            .inc();
    }

    /// Established links ended for `reason` so far.
    pub fn session_errors(&self, reason: &str) -> u64 {
        self.session_errors
            .get_or_create(&self.reason(reason))
            .get()
    }

    pub fn handshake_failed(&self, reason: &str) {
        self.failures.add(&self.feed, self.role, reason);
        self.handshake_failures
            .get_or_create(&self.reason(reason))
            .inc();
    }

    /// The handles of one sender of this (egress) feed.
    pub fn sender(&self, name: &str) -> Arc<super::senders::SenderStats> {
        self.senders.sender(&self.families, &self.feed, name)
    }

    /// The gap counter of one channel of this (egress) feed.
    pub fn channel(&self, name: &str) -> Counter {
        self.senders.channel(&self.families, &self.feed, name)
    }

    /// The merge's counters of this feed: datagrams it could not number, and held now.
    pub fn merge(&self) -> (Counter, Gauge) {
        self.families.merge(&self.feed)
    }

    pub fn set_key_ids(&self, ids: Vec<String>) {
        *self.key_ids.lock().expect("key ids lock") = ids;
    }

    pub fn key_ids(&self) -> Vec<String> {
        self.key_ids.lock().expect("key ids lock").clone()
    }

    /// Handshake failures of this feed and role, by reason (what /metrics counts).
    pub fn handshake_failures_by_reason(&self) -> Vec<(String, u64)> {
        self.failures.of(&self.feed, self.role)
    }

    /// Reconnects over every peer.
    pub fn reconnects_sum(&self) -> u64 {
        self.reconnects_all.get()
    }

    /// Handshake failures over every reason.
    pub fn handshake_failures_sum(&self) -> u64 {
        self.handshake_failures_by_reason()
            .iter()
            .map(|x| x.1)
            .sum()
    }

    /// Drops per reason, the reasons with none left out.
    pub fn drops_by_reason(&self) -> Vec<(&'static str, u64)> {
        DropReason::ALL
            .iter()
            .map(|r| (r.label(), self.drops[*r as usize].get()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Counters for one group (`mcast_relay_group_*{feed,role,group}`). Takes
    /// a lock: resolve once per group and keep the handle, not per datagram.
    /// Past [`MAX_GROUPS`] distinct groups, every new one shares "other".
    pub fn group(&self, group: std::net::SocketAddrV4) -> Arc<GroupStats> {
        let name = group.to_string();
        let mut groups = self.groups.lock().expect("groups lock");
        if let Some(g) = groups.iter().find(|g| g.group == name) {
            return g.clone();
        }
        let named = groups.iter().filter(|g| g.group != "other").count();
        let name = if named < MAX_GROUPS {
            name
        } else if let Some(g) = groups.iter().find(|g| g.group == "other") {
            return g.clone();
        } else {
            "other".to_string()
        };
        let l = GroupLabels {
            feed: self.feed.clone(),
            role: self.role.into(),
            group: name.clone(),
        };
        let [a, b, c, d] = &self.group_families;
        let g = Arc::new(GroupStats {
            group: name,
            datagrams_in: a.get_or_create_owned(&l),
            bytes_in: b.get_or_create_owned(&l),
            datagrams_out: c.get_or_create_owned(&l),
            bytes_out: d.get_or_create_owned(&l),
        });
        groups.push(g.clone());
        g
    }

    /// Every group counted so far.
    pub fn groups(&self) -> Vec<Arc<GroupStats>> {
        self.groups.lock().expect("groups lock").clone()
    }

    fn reason(&self, reason: &str) -> ReasonLabels {
        ReasonLabels {
            feed: self.feed.clone(),
            role: self.role.into(),
            reason: reason.into(),
        }
    }
}

/// Why a datagram was dropped: the `reason` label of `drops_total`, and
/// the index of its counter in [`FeedStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Egress: outside every --allow rule.
    NotAllowed,
    /// Egress: larger than the interface MTU allows unfragmented.
    TooBig,
    /// Ingress: longer than max_datagram.
    Truncated,
    /// Ingress: to a group:port the feed did not join.
    NotJoined,
    /// Ingress: a destination so far behind that the window lost its data.
    Behind,
    /// Egress: the kernel refused the send.
    SendError,
    /// Egress: to an address that is not multicast.
    NotMulticast,
    /// Ingress: the kernel dropped it at a full socket buffer.
    SocketOverflow,
}

impl DropReason {
    pub const ALL: [DropReason; 8] = [
        DropReason::NotAllowed,
        DropReason::TooBig,
        DropReason::Truncated,
        DropReason::NotJoined,
        DropReason::Behind,
        DropReason::SendError,
        DropReason::NotMulticast,
        DropReason::SocketOverflow,
    ];

    pub fn label(self) -> &'static str {
        match self {
            DropReason::NotAllowed => "not_allowed",
            DropReason::TooBig => "too_big",
            DropReason::Truncated => "truncated",
            DropReason::NotJoined => "not_joined",
            DropReason::Behind => "behind",
            DropReason::SendError => "send_error",
            DropReason::NotMulticast => "not_multicast",
            DropReason::SocketOverflow => "socket_overflow",
        }
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
            reconnects: Family::default(),
            connected: Family::default(),
            buffer_bytes: Family::default(),
            handshake_failures: Family::default(),
            latency: Family::new_with_constructor(LatencyBuckets),
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
mod tests {
    use super::*;

    #[test]
    fn handles_are_shared_and_exported() {
        let m = Metrics::new();
        let a = m.feed("prod", "egress");
        a.datagrams_out.inc_by(3);
        m.feed("prod", "egress").datagrams_out.inc();
        a.dropped(DropReason::NotAllowed, 2);
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

    #[test]
    fn sums_over_peers_and_reasons() {
        let m = Metrics::new();
        let a = m.feed("prod", "egress");
        a.reconnect("10.0.0.1");
        a.reconnect("10.0.0.2");
        a.reconnect("10.0.0.1");
        a.handshake_failed("bad_key");
        assert_eq!(a.reconnects_sum(), 3);
        assert_eq!(a.handshake_failures_sum(), 1);
        a.dropped(DropReason::TooBig, 5);
        assert_eq!(a.drops_by_reason(), vec![("too_big", 5)]);
    }

    #[test]
    fn groups_are_bounded_and_the_rest_is_other() {
        let m = Metrics::new();
        let a = m.feed("prod", "ingress");
        let g = |i: usize| -> std::net::SocketAddrV4 {
            format!("239.1.{}.{}:6100", i / 250, i % 250)
                .parse()
                .unwrap()
        };
        a.group(g(0)).datagrams_in.inc();
        a.group(g(0)).bytes_in.inc_by(100);
        for i in 1..MAX_GROUPS + 10 {
            a.group(g(i)).datagrams_in.inc();
        }
        let groups = a.groups();
        assert_eq!(groups.len(), MAX_GROUPS + 1);
        let other = groups.iter().find(|x| x.group == "other").unwrap();
        assert_eq!(other.datagrams_in.get(), 10);
        let text = m.encode();
        assert!(
            text.contains(
                r#"mcast_relay_group_datagrams_in_total{feed="prod",role="ingress",group="239.1.0.0:6100"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"group="other"} 10"#), "{text}");
    }
}
