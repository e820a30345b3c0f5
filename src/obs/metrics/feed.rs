//! One feed's handles, as one role sees it, and why datagrams are dropped.

use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::{Failures, GroupLabels, LatencyHistogram, PeerLabels, ReasonLabels};

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
    /// Egress: datagrams that went inside segmented (GSO) messages.
    pub segmented: Counter,
    pub connected: Gauge,
    pub buffer_bytes: Gauge,
    pub latency: LatencyHistogram,
    /// When a datagram last came in, ns since the epoch (0: never).
    pub last_in_ns: std::sync::atomic::AtomicU64,
    /// One counter per [`DropReason`], in its order.
    pub(super) drops: [Counter; DropReason::ALL.len()],
    pub(super) reconnects: Family<PeerLabels, Counter>,
    pub(super) handshake_failures: Family<ReasonLabels, Counter>,
    pub(super) session_errors: Family<ReasonLabels, Counter>,
    /// 1 while the feed is degraded (silent too long; set by `obs::watch`).
    pub degraded: Gauge,
    /// 1 when the feed runs with a key, 0 when it runs `--insecure-no-auth`.
    pub authenticated: Gauge,
    /// The public ids of the keys held, current first (for /status).
    pub(super) key_ids: Mutex<Vec<String>>,
    /// Egress, merged feeds: each sender and channel.
    pub senders: crate::obs::senders::FeedSenders,
    pub(super) families: crate::obs::senders::Families,
    /// Seconds since a datagram last came in (set by `obs::watch`).
    pub silent_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// When these handles were made, ns since the epoch: a feed that never
    /// saw a datagram has been silent since then.
    pub created_ns: u64,
    /// Reconnects and handshake failures over every peer and reason, for
    /// EMF and /status (the labelled families cannot be summed without names).
    pub(super) reconnects_all: Counter,
    pub(super) failures: Arc<Failures>,
    pub(super) groups: Mutex<Vec<Arc<GroupStats>>>,
    pub(super) group_families: [Family<GroupLabels, Counter>; 4],
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
    pub fn sender(&self, name: &str) -> Arc<crate::obs::senders::SenderStats> {
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
