//! The latency histogram the egress observes once per datagram: one relaxed
//! atomic add per bucket and sum, no lock (prometheus-client's `Histogram`
//! takes a mutex per observation), and read back without a text round trip.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Upper bound of the first bucket: 10 µs; each next one doubles.
const FIRST_NS: u64 = 10_000;
/// Finite buckets, 10 µs to ~5.2 s; one more counts everything above.
pub const BUCKETS: usize = 20;

#[derive(Debug, Default)]
struct Cells {
    /// Per bucket (not cumulative); the last one is +Inf.
    counts: [AtomicU64; BUCKETS + 1],
    sum_ns: AtomicU64,
}

/// A latency histogram in nanoseconds, exposed in seconds. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct LatencyHistogram(Arc<Cells>);

/// What a histogram held at one moment: sum (s), count and cumulative buckets
/// (upper bound in seconds, count), as the exposition has them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub sum: f64,
    pub count: u64,
    pub buckets: Vec<(f64, u64)>,
}

impl LatencyHistogram {
    pub fn observe_ns(&self, ns: u64) {
        self.0.counts[bucket(ns)].fetch_add(1, Ordering::Relaxed);
        self.0.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Seconds, for callers that have them so (tests, tools).
    pub fn observe(&self, secs: f64) {
        self.observe_ns((secs * 1e9).max(0.0) as u64);
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut total = 0;
        let buckets = (0..=BUCKETS)
            .map(|i| {
                total += self.0.counts[i].load(Ordering::Relaxed);
                (upper_secs(i), total)
            })
            .collect();
        Snapshot {
            sum: self.0.sum_ns.load(Ordering::Relaxed) as f64 * 1e-9,
            count: total,
            buckets,
        }
    }
}

impl Snapshot {
    /// The `q` quantile of what was observed between `before` and `self`: the
    /// upper bound of the bucket it falls in (None: nothing observed, or it
    /// fell past the last finite bound).
    pub fn quantile_since(&self, before: &Snapshot, q: f64) -> Option<f64> {
        let n = self.count.saturating_sub(before.count);
        if n == 0 {
            return None;
        }
        let rank = (q * n as f64).ceil().max(1.0) as u64;
        for (i, (le, c)) in self.buckets.iter().enumerate() {
            let b = before.buckets.get(i).map(|x| x.1).unwrap_or(0);
            if c.saturating_sub(b) >= rank {
                return le.is_finite().then_some(*le);
            }
        }
        None
    }
}

/// The bucket of `ns`: the first whose upper bound is at least `ns`.
fn bucket(ns: u64) -> usize {
    if ns <= FIRST_NS {
        return 0;
    }
    // ceil(log2(ns / FIRST_NS)) without floats: bucket i holds up to FIRST_NS << i.
    let q = (ns - 1) / FIRST_NS;
    ((u64::BITS - q.leading_zeros()) as usize).min(BUCKETS)
}

fn upper_secs(i: usize) -> f64 {
    if i >= BUCKETS {
        f64::INFINITY
    } else {
        (FIRST_NS << i) as f64 * 1e-9
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        // The encoder sums the buckets itself: give it each bucket's own count.
        let s = self.snapshot();
        let mut below = 0;
        let own: Vec<(f64, u64)> = s
            .buckets
            .iter()
            .map(|&(le, c)| (le, c - std::mem::replace(&mut below, c)))
            .collect();
        encoder.encode_histogram::<NoLabelSet>(s.sum, s.count, &own, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_lands_in_the_first_bucket_that_holds_it() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(10_000), 0);
        assert_eq!(bucket(10_001), 1);
        assert_eq!(bucket(20_000), 1);
        assert_eq!(bucket(20_001), 2);
        assert_eq!(bucket(40_000), 2);
        assert_eq!(bucket(FIRST_NS << 19), 19);
        assert_eq!(bucket((FIRST_NS << 19) + 1), BUCKETS);
        assert_eq!(bucket(u64::MAX), BUCKETS);
        for ns in [1, 9_999, 10_001, 123_456, 5_000_000, 2_000_000_000] {
            let i = bucket(ns);
            assert!(ns as f64 * 1e-9 <= upper_secs(i) + 1e-15, "{ns} in {i}");
            assert!(
                i == 0 || ns as f64 * 1e-9 > upper_secs(i - 1),
                "{ns} in {i}"
            );
        }
    }

    #[test]
    fn the_exposition_matches_prometheus_clients_own_histogram() {
        use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
        use prometheus_client::registry::Registry;
        let ours = LatencyHistogram::default();
        let theirs = Histogram::new(exponential_buckets(10e-6, 2.0, 20));
        for us in [3, 10, 11, 20, 700, 3_000, 9_000_000] {
            ours.observe_ns(us * 1_000);
            theirs.observe(us as f64 * 1e-6);
        }
        let text = |r: &Registry| {
            let mut t = String::new();
            prometheus_client::encoding::text::encode(&mut t, r).unwrap();
            t
        };
        let (mut a, mut b) = (Registry::default(), Registry::default());
        a.register("l", "", ours.clone());
        b.register("l", "", theirs);
        let (ta, tb) = (text(&a), text(&b));
        // The sums differ in the last float digits (ns against seconds).
        let strip = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| !l.starts_with("l_sum"))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(strip(&ta), strip(&tb));
        let s = ours.snapshot();
        assert_eq!(s.count, 7);
        assert!((s.sum - 9_003.744e-3).abs() < 1e-9, "{}", s.sum);
    }
}
