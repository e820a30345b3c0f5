//! A latency histogram read back, for the rates the watch reports each
//! second.

use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A latency histogram read back: sum, count and cumulative buckets (upper
/// bound, count), as the text exposition has them (prometheus-client has no
/// getters outside its tests).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latency {
    pub sum: f64,
    pub count: u64,
    pub buckets: Vec<(f64, u64)>,
}

impl Latency {
    pub fn read(h: &Histogram) -> Latency {
        let mut r = Registry::default();
        r.register("l", "", h.clone());
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &r).is_err() {
            return Latency::default();
        }
        let mut out = Latency::default();
        for line in text.lines() {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            if name == "l_sum" {
                out.sum = value.parse().unwrap_or(0.0);
            } else if name == "l_count" {
                out.count = value.parse().unwrap_or(0);
            } else if let Some(le) = name
                .strip_prefix("l_bucket{le=\"")
                .and_then(|x| x.strip_suffix("\"}"))
            {
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap_or(f64::INFINITY)
                };
                out.buckets.push((le, value.parse().unwrap_or(0)));
            }
        }
        out
    }

    /// The `q` quantile of what was observed between `before` and `self`: the
    /// upper bound of the bucket it falls in (None: nothing observed, or it
    /// fell past the last finite bound).
    pub fn quantile_since(&self, before: &Latency, q: f64) -> Option<f64> {
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
