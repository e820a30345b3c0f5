//! The state of each link (an ingress destination, or the sender an egress
//! serves), for `/status` and the status page.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct LinkInfo {
    pub feed: String,
    pub role: &'static str,
    /// The destination (ingress) or the listen address (egress).
    pub peer: String,
    /// "connecting", "up", "down" or "refused".
    pub state: &'static str,
    /// When the state last changed, seconds since the epoch.
    pub since: f64,
    pub last_error: Option<String>,
    /// Times the link came up.
    pub connects: u64,
}

pub struct Link(Mutex<LinkInfo>);

impl Link {
    pub fn set(&self, state: &'static str, error: Option<String>) {
        let mut l = self.0.lock().expect("link lock");
        if state == "up" && l.state != "up" {
            l.connects += 1;
        }
        if l.state != state {
            l.since = epoch_s();
        }
        l.state = state;
        if error.is_some() {
            l.last_error = error;
        }
    }

    pub fn info(&self) -> LinkInfo {
        self.0.lock().expect("link lock").clone()
    }
}

fn epoch_s() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Every link of the process.
#[derive(Default)]
pub struct Links(Mutex<Vec<Arc<Link>>>);

impl Links {
    pub fn add(&self, feed: &str, role: &'static str, peer: &str) -> Arc<Link> {
        let l = Arc::new(Link(Mutex::new(LinkInfo {
            feed: feed.into(),
            role,
            peer: peer.into(),
            state: "connecting",
            since: epoch_s(),
            last_error: None,
            connects: 0,
        })));
        self.0.lock().expect("links lock").push(l.clone());
        l
    }

    pub fn all(&self) -> Vec<LinkInfo> {
        self.0
            .lock()
            .expect("links lock")
            .iter()
            .map(|l| l.info())
            .collect()
    }
}
