//! CloudWatch Embedded Metric Format lines on stdout.
//!
//! Every interval, one JSON object per feed and role, on one line, that the
//! awslogs driver turns into metrics in namespace `McastRelay` with dimensions
//! `Feed` and `Role` (no agent). Values are what happened during the interval
//! (deltas of the counters), so a CloudWatch `Sum` over a period is the count
//! in that period. A feed with no traffic still prints zeros: an alarm on "no
//! PacketsOut" then fires on the zeros, and on missing data when a relay dies.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::Obs;
use super::metrics::FeedStats;

pub const NAMESPACE: &str = "McastRelay";
pub const DIMENSIONS: [&str; 2] = ["Feed", "Role"];
/// Each metric and its CloudWatch unit. All but the last are counts over the
/// interval; `Senders` is how many senders (links) are connected at the
/// moment of the line, so an alarm can see a datacenter host missing.
pub const METRICS: [(&str, &str); 8] = [
    ("PacketsIn", "Count"),
    ("PacketsOut", "Count"),
    ("BytesIn", "Bytes"),
    ("BytesOut", "Bytes"),
    ("Drops", "Count"),
    ("Gaps", "Count"),
    ("Reconnects", "Count"),
    ("Senders", "Count"),
];
/// How many of [`METRICS`] are deltas of counters.
const COUNTERS: usize = 7;

/// Counter totals of one feed, in [`METRICS`] order (the last, a gauge, as it is now).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals(pub [u64; 8]);

impl Totals {
    pub fn of(f: &FeedStats) -> Totals {
        Totals([
            f.datagrams_in.get(),
            f.datagrams_out.get(),
            f.bytes_in.get(),
            f.bytes_out.get(),
            f.drops_total(),
            f.gaps.get(),
            f.reconnects_sum(),
            f.connected.get().max(0) as u64,
        ])
    }
}

/// One EMF object: `now` minus `before` for `feed` in `role`, at `timestamp_ms`.
pub fn record(feed: &str, role: &str, now: Totals, before: Totals, timestamp_ms: u64) -> Value {
    let defs: Vec<Value> = METRICS
        .iter()
        .map(|(name, unit)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut o = Map::new();
    o.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [DIMENSIONS],
                "Metrics": defs,
            }],
        }),
    );
    o.insert("Feed".into(), feed.into());
    o.insert("Role".into(), role.into());
    for (i, (name, _)) in METRICS.iter().enumerate() {
        let v = if i < COUNTERS {
            // A counter never goes down; saturate all the same (a restarted registry).
            now.0[i].saturating_sub(before.0[i])
        } else {
            now.0[i]
        };
        o.insert((*name).into(), v.into());
    }
    Value::Object(o)
}

/// The lines for every feed of `obs` since `last` (feeds not in it count from
/// zero, which is what they had at start), and the new totals.
pub fn lines(
    obs: &Obs,
    last: &HashMap<(String, &'static str), Totals>,
    timestamp_ms: u64,
) -> (Vec<String>, HashMap<(String, &'static str), Totals>) {
    let mut out = Vec::new();
    let mut next = HashMap::new();
    for f in obs.metrics.feeds() {
        let key = (f.feed.clone(), f.role);
        let now = Totals::of(&f);
        let before = last.get(&key).copied().unwrap_or_default();
        out.push(record(&f.feed, f.role, now, before, timestamp_ms).to_string());
        next.insert(key, now);
    }
    (out, next)
}

fn now_ms() -> u64 {
    super::watch::now_ns() / 1_000_000
}

/// Print one EMF line per feed every `interval` until `stop`; at `stop`, one
/// last set for the part interval so a clean shutdown loses no counts.
pub async fn run(obs: Obs, interval: Duration, stop: CancellationToken) {
    obs.spawn_monitor(stop.clone());
    let interval = interval.max(Duration::from_secs(1));
    let mut t = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = HashMap::new();
    loop {
        let stopping = tokio::select! {
            _ = t.tick() => false,
            _ = stop.cancelled() => true,
        };
        let (lines, next) = lines(&obs, &last, now_ms());
        last = next;
        emit(&lines);
        if stopping {
            break;
        }
    }
}

/// Write the lines to stdout in one call, so they never interleave with other output.
fn emit(lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let mut buf = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in lines {
        buf.push_str(l);
        buf.push('\n');
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(buf.as_bytes()).and_then(|_| out.flush()) {
        tracing::warn!(error = %e, "cannot write EMF lines to stdout");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_per_feed_and_zeros_when_idle() {
        let obs = Obs::default();
        let f = obs.metrics.feed("prod", "egress");
        f.datagrams_out.inc_by(10);
        f.bytes_out.inc_by(1000);
        f.reconnect("10.0.0.1");
        f.connected.inc();
        f.connected.inc();
        let (l1, last) = lines(&obs, &HashMap::new(), 1_700_000_000_000);
        let v: Value = serde_json::from_str(&l1[0]).unwrap();
        assert_eq!(v["PacketsOut"], 10);
        assert_eq!(v["BytesOut"], 1000);
        assert_eq!(v["Reconnects"], 1);
        assert_eq!(v["Senders"], 2, "a gauge: as it is now");
        assert_eq!(v["Role"], "egress");
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000u64);
        f.datagrams_out.inc_by(5);
        let (l2, last) = lines(&obs, &last, 1_700_000_060_000);
        let v: Value = serde_json::from_str(&l2[0]).unwrap();
        assert_eq!(v["PacketsOut"], 5);
        assert_eq!(v["Reconnects"], 0);
        assert_eq!(v["Senders"], 2, "not a delta");
        let (l3, _) = lines(&obs, &last, 1_700_000_120_000);
        let v: Value = serde_json::from_str(&l3[0]).unwrap();
        assert_eq!(v["PacketsOut"], 0, "an idle feed still reports, with zeros");
    }
}
