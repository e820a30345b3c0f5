//! The state of each link (an ingress destination, or the sender an egress
//! serves), for `/status`, the status page and the per-link metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::watch;

use super::metrics::{LinkStats, Metrics};
use crate::clock::now_ns;

/// Where a link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Not up yet.
    Connecting,
    Up,
    /// Up, but holding data it has not been able to write for a second
    /// (the peer or the path is not taking it).
    Stalled,
    /// Lost; reconnecting.
    Down,
    /// The peer refused this feed (a key, a name, a version).
    Refused,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkInfo {
    pub feed: String,
    pub role: &'static str,
    /// The destination (ingress) or the listen address (egress).
    pub peer: String,
    pub state: LinkState,
    /// When the state last changed, seconds since the epoch.
    pub since: f64,
    pub last_error: Option<String>,
    /// Times the link came up.
    pub connects: u64,
    /// Datagrams and payload bytes sent on this link (ingress) or received
    /// from it (egress), in all and per second over the last sample.
    pub datagrams: u64,
    pub bytes: u64,
    pub datagrams_per_s: f64,
    pub bytes_per_s: f64,
    /// Ingress: datagrams taken in that this destination has not sent yet.
    pub behind: Option<u64>,
}

struct State {
    info: LinkInfo,
    /// The last sample for the rates: (ns since the epoch, datagrams, bytes).
    prev: Option<(u64, u64, u64)>,
}

pub struct Link {
    state: Mutex<State>,
    stats: LinkStats,
    /// Ingress: the window's head and the next sequence this link will send.
    head: Mutex<Option<watch::Receiver<u64>>>,
    position: AtomicU64,
}

impl Link {
    pub fn set(&self, state: LinkState, error: Option<String>) {
        let l = &mut self.state.lock().expect("link lock").info;
        if state == LinkState::Up && !matches!(l.state, LinkState::Up | LinkState::Stalled) {
            l.connects += 1;
        }
        self.stats.stalled.set((state == LinkState::Stalled) as i64);
        if l.state != state {
            l.since = epoch_s();
        }
        l.state = state;
        if error.is_some() {
            l.last_error = error;
        }
    }

    /// Count what one write (ingress) or read (egress) carried.
    pub fn carried(&self, datagrams: u64, bytes: u64) {
        self.stats.datagrams.inc_by(datagrams);
        self.stats.bytes.inc_by(bytes);
    }

    /// Ingress: the sequence this destination sends next.
    pub fn sends_next(&self, seq: u64) {
        self.position.store(seq, Ordering::Relaxed);
    }

    /// Ingress: report how far this destination is behind `head`.
    pub fn track(&self, head: watch::Receiver<u64>) {
        *self.head.lock().expect("link lock") = Some(head);
    }

    fn behind(&self) -> Option<u64> {
        let head = self.head.lock().expect("link lock");
        let h = *head.as_ref()?.borrow();
        Some(h.saturating_sub(self.position.load(Ordering::Relaxed)))
    }

    /// Take a sample for the rates and set the `behind` gauge (once per tick).
    fn sample(&self, now_ns: u64) {
        let (d, b) = (self.stats.datagrams.get(), self.stats.bytes.get());
        if let (Some(g), Some(n)) = (&self.stats.behind, self.behind()) {
            g.set(n as i64);
        }
        let mut s = self.state.lock().expect("link lock");
        if let Some((t, d0, b0)) = s.prev {
            let dt = now_ns.saturating_sub(t) as f64 * 1e-9;
            if dt > 0.0 {
                s.info.datagrams_per_s = d.saturating_sub(d0) as f64 / dt;
                s.info.bytes_per_s = b.saturating_sub(b0) as f64 / dt;
            }
        }
        s.prev = Some((now_ns, d, b));
    }

    pub fn info(&self) -> LinkInfo {
        let mut l = self.state.lock().expect("link lock").info.clone();
        l.datagrams = self.stats.datagrams.get();
        l.bytes = self.stats.bytes.get();
        l.behind = self.behind();
        l
    }
}

fn epoch_s() -> f64 {
    now_ns() as f64 * 1e-9
}

/// Every link of the process.
#[derive(Default)]
pub struct Links(Mutex<Vec<Arc<Link>>>);

impl Links {
    pub fn add(&self, metrics: &Metrics, feed: &str, role: &'static str, peer: &str) -> Arc<Link> {
        let l = Arc::new(Link {
            state: Mutex::new(State {
                info: LinkInfo {
                    feed: feed.into(),
                    role,
                    peer: peer.into(),
                    state: LinkState::Connecting,
                    since: epoch_s(),
                    last_error: None,
                    connects: 0,
                    datagrams: 0,
                    bytes: 0,
                    datagrams_per_s: 0.0,
                    bytes_per_s: 0.0,
                    behind: None,
                },
                // Counting starts now, so the first tick already gives a rate.
                prev: Some((now_ns(), 0, 0)),
            }),
            stats: metrics.link(feed, role, peer),
            head: Mutex::new(None),
            position: AtomicU64::new(0),
        });
        self.0.lock().expect("links lock").push(l.clone());
        l
    }

    pub fn all(&self) -> Vec<LinkInfo> {
        self.list().iter().map(|l| l.info()).collect()
    }

    /// Sample every link (the monitor does, once per tick).
    pub fn sample(&self, now_ns: u64) {
        for l in self.list() {
            l.sample(now_ns);
        }
    }

    fn list(&self) -> Vec<Arc<Link>> {
        self.0.lock().expect("links lock").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn rates_and_behind_come_from_the_counts_and_the_head() {
        let m = Metrics::new();
        let links = Links::default();
        let l = links.add(&m, "prod", "ingress", "ldn:6667");
        let (tx, rx) = watch::channel(0u64);
        l.track(rx);
        tx.send_replace(500);
        links.sample(10 * S);
        l.carried(300, 30_000);
        l.sends_next(300);
        links.sample(12 * S);
        let i = &links.all()[0];
        assert_eq!((i.datagrams, i.bytes), (300, 30_000));
        assert_eq!((i.datagrams_per_s, i.bytes_per_s), (150.0, 15_000.0));
        assert_eq!(i.behind, Some(200));
        let text = m.encode();
        assert!(
            text.contains(r#"mcast_relay_link_behind_datagrams{feed="prod",role="ingress",peer="ldn:6667"} 200"#),
            "{text}"
        );
        assert!(
            text.contains(r#"mcast_relay_link_datagrams_total{feed="prod",role="ingress",peer="ldn:6667"} 300"#),
            "{text}"
        );
    }

    #[test]
    fn an_egress_link_has_no_behind() {
        let m = Metrics::new();
        let links = Links::default();
        let l = links.add(&m, "prod", "egress", "0.0.0.0:6667");
        l.carried(5, 500);
        assert_eq!(l.info().behind, None);
        assert_eq!(l.info().datagrams, 5);
        assert!(!m.encode().contains("link_behind_datagrams{"));
    }
}
