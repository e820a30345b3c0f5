//! Observability: metrics, health, HTTP endpoints, logs.

pub mod emf;
pub mod health;
pub mod http;
pub mod links;
pub mod logs;
pub mod metrics;

use std::sync::Arc;

use serde_json::{Value, json};

/// What every pipeline reports to.
#[derive(Clone, Default)]
pub struct Obs {
    pub metrics: Arc<metrics::Metrics>,
    pub health: Arc<health::Health>,
    pub links: Arc<links::Links>,
}

impl Obs {
    /// The process state as JSON, for `/status`.
    pub fn status(&self) -> Value {
        let feeds: Vec<Value> = self
            .metrics
            .feeds()
            .iter()
            .map(|f| {
                json!({
                    "feed": f.feed,
                    "role": f.role,
                    "datagrams_in": f.datagrams_in.get(),
                    "bytes_in": f.bytes_in.get(),
                    "datagrams_out": f.datagrams_out.get(),
                    "bytes_out": f.bytes_out.get(),
                    "drops": f.drops_total(),
                    "gaps": f.gaps.get(),
                    "duplicates": f.duplicates.get(),
                    "connected_peers": f.connected.get(),
                    "buffer_bytes": f.buffer_bytes.get(),
                })
            })
            .collect();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "live": self.health.is_live(),
            "ready": self.health.is_ready(),
            "uptime_s": self.health.uptime().as_secs(),
            "feeds": feeds,
            "links": self.links.all(),
        })
    }
}
