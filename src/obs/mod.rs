//! Observability: metrics, health, HTTP endpoints, the status page, EMF and logs.

pub mod emf;
pub mod health;
pub mod http;
pub mod links;
pub mod logs;
pub mod metrics;
pub mod page;
pub mod senders;
pub mod watch;

use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

pub use watch::set_default_degraded_after;

/// What every pipeline reports to.
#[derive(Clone, Default)]
pub struct Obs {
    pub metrics: Arc<metrics::Metrics>,
    pub health: Arc<health::Health>,
    pub links: Arc<links::Links>,
    /// Rates and the degraded state of each feed.
    pub watch: Arc<watch::Watch>,
}

impl Obs {
    /// Start the monitor (once per `Obs`; later calls do nothing): every
    /// second it samples the counters for the rates, sets the degraded gauges
    /// and logs feeds that go silent or recover. `http::serve` and `emf::run`
    /// call it, so a relay with either has it.
    pub fn spawn_monitor(&self, stop: CancellationToken) {
        if !self.watch.claim_monitor() {
            return;
        }
        let obs = self.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(watch::TICK);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = t.tick() => {}
                    _ = stop.cancelled() => break,
                }
                let now = watch::now_ns();
                obs.watch.update(&obs.metrics, now, true, true);
                obs.links.sample(now);
            }
        });
    }

    /// The process state as JSON, for `/status` and the status page.
    pub fn status(&self) -> Value {
        let now = watch::now_ns();
        let seen = self.watch.update(&self.metrics, now, false, false);
        let feeds: Vec<Value> = self
            .metrics
            .feeds()
            .iter()
            .map(|f| {
                let h = seen
                    .iter()
                    .find(|(n, r, _)| *n == f.feed && *r == f.role)
                    .map(|x| x.2.clone());
                let drops: Map<String, Value> = f
                    .drops_by_reason()
                    .into_iter()
                    .map(|(r, n)| (r.to_string(), n.into()))
                    .collect();
                let groups: Vec<Value> = f
                    .groups()
                    .iter()
                    .map(|g| {
                        json!({
                            "group": g.group,
                            "datagrams_in": g.datagrams_in.get(),
                            "bytes_in": g.bytes_in.get(),
                            "datagrams_out": g.datagrams_out.get(),
                            "bytes_out": g.bytes_out.get(),
                        })
                    })
                    .collect();
                let degraded = h.as_ref().is_some_and(|h| h.degraded);
                json!({
                    "feed": f.feed,
                    "role": f.role,
                    "state": if degraded { "degraded" } else { "ok" },
                    "degraded": degraded,
                    "authenticated": f.authenticated.get() == 1,
                    "key_ids": f.key_ids(),
                    "degraded_reason": h.as_ref().and_then(|h| h.degraded_reason.clone()),
                    "silent_s": h.as_ref().map(|h| h.silent_s),
                    "last_in": h.as_ref().and_then(|h| h.last_in),
                    "rates": h.as_ref().map(|h| h.rates).unwrap_or_default(),
                    "datagrams_in": f.datagrams_in.get(),
                    "bytes_in": f.bytes_in.get(),
                    "datagrams_out": f.datagrams_out.get(),
                    "bytes_out": f.bytes_out.get(),
                    "drops": f.drops_total(),
                    "drops_by_reason": drops,
                    "gaps": f.gaps.get(),
                    "duplicates": f.duplicates.get(),
                    "replayed": f.replayed.get(),
                    "reconnects": f.reconnects_sum(),
                    "handshake_failures": f.handshake_failures_sum(),
                    "handshake_failures_by_reason": by_reason(f.handshake_failures_by_reason()),
                    "connected_peers": f.connected.get(),
                    "buffer_bytes": f.buffer_bytes.get(),
                    "groups": groups,
                    "senders": f.senders.all().iter().map(|s| s.info(now)).collect::<Vec<_>>(),
                    "channel_gaps": f.senders.channel_gaps().into_iter().map(|(c, n)| json!({"channel": c, "gaps": n})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let now_s = now as f64 * 1e-9;
        let links: Vec<Value> = self
            .links
            .all()
            .into_iter()
            .map(|l| {
                let mut v = serde_json::to_value(&l).unwrap_or(Value::Null);
                if let Value::Object(o) = &mut v {
                    o.insert("for_s".into(), json!((now_s - l.since).max(0.0)));
                }
                v
            })
            .collect();
        let live = self.health.is_live();
        let ready = self.health.is_ready();
        let any_degraded = feeds.iter().any(|f| f["degraded"] == true);
        let unattributed: Map<String, Value> = ["egress", "ingress"]
            .iter()
            .filter_map(|role| {
                let v = self.metrics.handshake_failures("-", role);
                (!v.is_empty()).then(|| (role.to_string(), Value::Object(by_reason(v))))
            })
            .collect();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "revision": env!("MCAST_RELAY_GIT_REV"),
            "state": if !live { "unhealthy" } else if !ready { "starting" } else if any_degraded { "degraded" } else { "ok" },
            "live": live,
            "ready": ready,
            "failure": self.health.failure(),
            "uptime_s": self.health.uptime().as_secs(),
            "now": now_s,
            "degraded_after_s": self.watch.degraded_after().as_secs_f64(),
            "feeds": feeds,
            "links": links,
            "handshake_failures_unattributed": unattributed,
        })
    }
}

fn by_reason(v: Vec<(String, u64)>) -> Map<String, Value> {
    v.into_iter().map(|(r, n)| (r, n.into())).collect()
}
