//! Watching the feeds: rates from counter samples, and "degraded" when a feed
//! goes silent. Market data should basically always flow, so a feed with no
//! datagram in (or none out) for longer than `degraded_after` is degraded: in
//! `/status`, in `mcast_relay_feed_degraded` and in the logs. Never in
//! `/healthz`: restarting a relay does not bring back an exchange's silence.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::logs::RateLimit;
use super::metrics::Snapshot;
use super::metrics::{FeedStats, Metrics};

/// Default threshold of silence before a feed counts as degraded.
pub const DEFAULT_DEGRADED_AFTER: Duration = crate::config::defaults::DEGRADED_AFTER.0;

/// How often the monitor samples the counters.
pub const TICK: Duration = Duration::from_secs(1);

/// Repeated "still degraded" warnings: one line per this period per feed.
pub const LOG_EVERY: Duration = Duration::from_secs(60);

static DEFAULT_MS: AtomicU64 = AtomicU64::new(DEFAULT_DEGRADED_AFTER.as_millis() as u64);

/// The threshold new [`Watch`]es start with (the process's `--degraded-after`).
pub fn set_default_degraded_after(d: Duration) {
    DEFAULT_MS.store(d.as_millis() as u64, Ordering::Relaxed);
}

pub use crate::clock::now_ns;

/// Counter values at one moment.
#[derive(Debug, Clone, Default)]
struct Sample {
    at_ns: u64,
    datagrams_in: u64,
    bytes_in: u64,
    datagrams_out: u64,
    bytes_out: u64,
    latency: Snapshot,
}

impl Sample {
    fn take(f: &FeedStats, at_ns: u64, latency: bool) -> Sample {
        Sample {
            at_ns,
            datagrams_in: f.datagrams_in.get(),
            bytes_in: f.bytes_in.get(),
            datagrams_out: f.datagrams_out.get(),
            bytes_out: f.bytes_out.get(),
            latency: if latency {
                f.latency.snapshot()
            } else {
                Snapshot::default()
            },
        }
    }
}

/// Per second over the last sampling interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Rates {
    pub datagrams_in: f64,
    pub bytes_in: f64,
    pub datagrams_out: f64,
    pub bytes_out: f64,
    /// Mean receive-to-send time of the datagrams sent in the interval (egress).
    pub latency_mean_s: Option<f64>,
    /// Median and 99th percentile over the interval, as bucket upper bounds.
    pub latency_p50_s: Option<f64>,
    pub latency_p99_s: Option<f64>,
}

fn rates(prev: &Sample, last: &Sample) -> Rates {
    let dt = last.at_ns.saturating_sub(prev.at_ns) as f64 * 1e-9;
    if dt <= 0.0 {
        return Rates::default();
    }
    let per_s = |a: u64, b: u64| b.saturating_sub(a) as f64 / dt;
    let (a, b) = (&prev.latency, &last.latency);
    let n = b.count.saturating_sub(a.count);
    Rates {
        datagrams_in: per_s(prev.datagrams_in, last.datagrams_in),
        bytes_in: per_s(prev.bytes_in, last.bytes_in),
        datagrams_out: per_s(prev.datagrams_out, last.datagrams_out),
        bytes_out: per_s(prev.bytes_out, last.bytes_out),
        latency_mean_s: (n > 0).then(|| (b.sum - a.sum) / n as f64),
        latency_p50_s: b.quantile_since(a, 0.5),
        latency_p99_s: b.quantile_since(a, 0.99),
    }
}

struct FeedWatch {
    first_seen_ns: u64,
    prev: Option<Sample>,
    last: Sample,
    seen_in: u64,
    seen_out: u64,
    in_moved_ns: u64,
    out_moved_ns: u64,
    degraded: Option<String>,
    degraded_since_ns: u64,
    limit: RateLimit,
}

/// What the watch concludes about one feed now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FeedHealth {
    pub degraded: bool,
    pub degraded_reason: Option<String>,
    /// Seconds since a datagram came in (since the feed appeared, if none has).
    pub silent_s: f64,
    /// When a datagram last came in, seconds since the epoch.
    pub last_in: Option<f64>,
    pub rates: Rates,
}

/// Why a feed is degraded, or `None`. `in_at`/`out_at`: when datagrams last
/// came in/went out (or when the feed appeared), ns since the epoch.
pub fn assess(now_ns: u64, threshold: Duration, in_at: u64, out_at: u64) -> Option<String> {
    let limit = threshold.as_nanos() as u64;
    if limit == 0 {
        return None;
    }
    let silent = now_ns.saturating_sub(in_at);
    let stuck = now_ns.saturating_sub(out_at);
    if silent >= limit {
        Some(format!(
            "no datagram in for {:.0} s (threshold {} s)",
            silent as f64 * 1e-9,
            threshold.as_secs_f64()
        ))
    } else if stuck >= limit {
        Some(format!(
            "datagrams come in but none went out for {:.0} s (threshold {} s)",
            stuck as f64 * 1e-9,
            threshold.as_secs_f64()
        ))
    } else {
        None
    }
}

/// A merged feed's sender behind the merged stream by this much, on average,
/// makes the feed degraded.
pub const SENDER_LAG_LIMIT: f64 = 1.0;
/// A sender gone this long is forgotten (it was taken out of service).
pub const SENDER_FORGET: Duration = Duration::from_secs(3600);

/// Why a merged feed is degraded by one of its senders (gone, silent or
/// behind for longer than `threshold`), though the merged stream flows.
pub fn assess_senders(
    now_ns: u64,
    threshold: Duration,
    senders: &[std::sync::Arc<super::senders::SenderStats>],
) -> Option<String> {
    let limit = threshold.as_secs_f64();
    if limit == 0.0 {
        return None;
    }
    senders.iter().find_map(|s| {
        let i = s.info(now_ns);
        if !i.connected && i.for_s >= limit && i.for_s < SENDER_FORGET.as_secs_f64() {
            Some(format!(
                "sender {} disconnected for {:.0} s; the feed has one copy fewer",
                i.sender, i.for_s
            ))
        } else if i.connected && i.silent_s.unwrap_or(i.for_s) >= limit {
            Some(format!(
                "sender {} connected but silent for {:.0} s",
                i.sender,
                i.silent_s.unwrap_or(i.for_s)
            ))
        } else if i.connected && i.lag_s >= SENDER_LAG_LIMIT {
            Some(format!(
                "sender {} runs {:.1} s behind the merged stream",
                i.sender, i.lag_s
            ))
        } else {
            None
        }
    })
}

/// The watch over every feed of a process.
pub struct Watch {
    threshold_ms: AtomicU64,
    feeds: Mutex<HashMap<(String, &'static str), FeedWatch>>,
    monitor: AtomicBool,
}

impl Default for Watch {
    fn default() -> Self {
        Watch {
            threshold_ms: AtomicU64::new(DEFAULT_MS.load(Ordering::Relaxed)),
            feeds: Mutex::new(HashMap::new()),
            monitor: AtomicBool::new(false),
        }
    }
}

impl Watch {
    pub fn degraded_after(&self) -> Duration {
        Duration::from_millis(self.threshold_ms.load(Ordering::Relaxed))
    }

    /// 0 turns the degraded state off.
    pub fn set_degraded_after(&self, d: Duration) {
        self.threshold_ms
            .store(d.as_millis() as u64, Ordering::Relaxed);
    }

    /// True the first time only: so one process runs one monitor.
    pub fn claim_monitor(&self) -> bool {
        !self.monitor.swap(true, Ordering::SeqCst)
    }

    /// Look at every feed now. With `sample`, take a new sample for the rates
    /// (the monitor does, once per [`TICK`]); with `log`, log transitions and
    /// (rate-limited) the feeds that stay degraded. Sets the gauges.
    pub fn update(
        &self,
        metrics: &Metrics,
        now_ns: u64,
        sample: bool,
        log: bool,
    ) -> Vec<(String, &'static str, FeedHealth)> {
        let threshold = self.degraded_after();
        let mut feeds = self.feeds.lock().expect("watch lock");
        let mut out = Vec::new();
        for f in metrics.feeds() {
            let s = Sample::take(&f, now_ns, sample);
            let w = feeds.entry((f.feed.clone(), f.role)).or_insert_with(|| {
                // Silent since the feed was made, unless it already moved.
                let born = f.created_ns.min(now_ns);
                let moved = |n: u64| if n > 0 { now_ns } else { born };
                FeedWatch {
                    first_seen_ns: born,
                    prev: None,
                    last: s.clone(),
                    seen_in: s.datagrams_in,
                    seen_out: s.datagrams_out,
                    in_moved_ns: moved(s.datagrams_in),
                    out_moved_ns: moved(s.datagrams_out),
                    degraded: None,
                    degraded_since_ns: 0,
                    limit: RateLimit::new(LOG_EVERY),
                }
            });
            if s.datagrams_in != w.seen_in {
                (w.seen_in, w.in_moved_ns) = (s.datagrams_in, now_ns);
            }
            if s.datagrams_out != w.seen_out {
                (w.seen_out, w.out_moved_ns) = (s.datagrams_out, now_ns);
            }
            if sample {
                w.prev = Some(std::mem::replace(&mut w.last, s));
            }
            let last_in = f.last_in_ns.load(Ordering::Relaxed);
            let in_at = last_in.max(w.in_moved_ns).max(w.first_seen_ns);
            let out_at = w.out_moved_ns.max(w.first_seen_ns);
            let reason = assess(now_ns, threshold, in_at, out_at)
                .map(|why| match (f.role, f.connected.get()) {
                    ("egress", 0) => format!("{why}; no ingress connected"),
                    ("ingress", 0) => format!("{why}; no destination connected"),
                    _ => why,
                })
                .or_else(|| assess_senders(now_ns, threshold, &f.senders.all()));
            let silent_s = now_ns.saturating_sub(in_at) as f64 * 1e-9;
            f.degraded.set(reason.is_some() as i64);
            f.silent_seconds.set(silent_s);
            if log {
                match (&w.degraded, &reason) {
                    (_, Some(why)) => {
                        if w.degraded.is_none() {
                            w.degraded_since_ns = now_ns;
                        }
                        crate::warn_limited!(w.limit, feed = %f.feed, role = f.role, reason = %why, "feed degraded");
                    }
                    (Some(_), None) => tracing::info!(
                        feed = %f.feed,
                        role = f.role,
                        after_s = now_ns.saturating_sub(w.degraded_since_ns) as f64 * 1e-9,
                        "feed recovered: datagrams flow again"
                    ),
                    (None, None) => {}
                }
                w.degraded = reason.clone();
            }
            let rates = w
                .prev
                .as_ref()
                .map(|p| rates(p, &w.last))
                .unwrap_or_default();
            out.push((
                f.feed.clone(),
                f.role,
                FeedHealth {
                    degraded: reason.is_some(),
                    degraded_reason: reason,
                    silent_s,
                    last_in: (last_in > 0).then_some(last_in as f64 * 1e-9),
                    rates,
                },
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn silence_past_the_threshold_is_degraded() {
        let t = Duration::from_secs(10);
        assert_eq!(assess(100 * S, t, 95 * S, 95 * S), None);
        let why = assess(100 * S, t, 89 * S, 99 * S).unwrap();
        assert!(why.starts_with("no datagram in for 11 s"), "{why}");
        let why = assess(100 * S, t, 99 * S, 80 * S).unwrap();
        assert!(why.contains("none went out for 20 s"), "{why}");
        assert_eq!(
            assess(100 * S, Duration::ZERO, 0, 0),
            None,
            "0 turns it off"
        );
    }

    #[test]
    fn rates_come_from_the_last_two_samples_and_gauges_follow() {
        let m = Metrics::new();
        let f = m.feed("prod", "egress");
        let w = Watch::default();
        w.set_degraded_after(Duration::from_secs(5));
        let t0 = 1_000 * S;
        w.update(&m, t0, true, false);
        f.datagrams_in.inc_by(500);
        f.bytes_in.inc_by(50_000);
        f.datagrams_out.inc_by(400);
        f.latency.observe(0.002);
        f.latency.observe(0.004);
        f.last_in_ns.store(t0 + S, Ordering::Relaxed);
        let v = w.update(&m, t0 + 2 * S, true, false);
        let h = &v[0].2;
        assert_eq!(h.rates.datagrams_in, 250.0);
        assert_eq!(h.rates.bytes_in, 25_000.0);
        assert_eq!(h.rates.datagrams_out, 200.0);
        assert!((h.rates.latency_mean_s.unwrap() - 0.003).abs() < 1e-9);
        // Buckets double from 10 us: 2 ms falls under 2.56 ms, 4 ms under 5.12 ms.
        assert_eq!(h.rates.latency_p50_s, Some(0.00256));
        assert_eq!(h.rates.latency_p99_s, Some(0.00512));
        assert!(!h.degraded);
        assert_eq!(f.degraded.get(), 0);
        // Nothing moves for 6 s more: degraded, in the gauge too.
        let v = w.update(&m, t0 + 8 * S, true, false);
        assert!(v[0].2.degraded, "{:?}", v[0].2);
        assert_eq!(v[0].2.rates.datagrams_in, 0.0);
        assert_eq!(f.degraded.get(), 1);
        assert!(
            m.encode()
                .contains("mcast_relay_feed_degraded{feed=\"prod\",role=\"egress\"} 1")
        );
        // Traffic again: no longer degraded.
        f.datagrams_in.inc();
        f.datagrams_out.inc();
        f.last_in_ns.store(t0 + 9 * S, Ordering::Relaxed);
        let v = w.update(&m, t0 + 9 * S, true, false);
        assert!(!v[0].2.degraded);
        assert_eq!(f.degraded.get(), 0);
    }

    #[test]
    fn a_feed_that_never_saw_a_datagram_degrades_after_the_threshold() {
        let m = Metrics::new();
        let _f = m.feed("dev", "ingress");
        let w = Watch::default();
        w.set_degraded_after(Duration::from_secs(3));
        assert!(!w.update(&m, 10 * S, true, false)[0].2.degraded);
        assert!(!w.update(&m, 12 * S, true, false)[0].2.degraded);
        assert!(w.update(&m, 13 * S, true, false)[0].2.degraded);
    }
}
