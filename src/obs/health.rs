//! What `/healthz` and `/readyz` answer.
//!
//! Live: the runtime still runs its tasks (a watchdog tick is recent) and no
//! component has failed for good. Ready: every component that must bind or join
//! has done so. Neither depends on traffic: a load balancer must be able to send
//! the first connection to a target that has seen none.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct Health {
    started: Instant,
    last_tick_ms: AtomicU64,
    not_ready: AtomicUsize,
    failed: Mutex<Option<String>>,
}

/// A watchdog tick older than this means the loops are stuck.
pub const STALL: Duration = Duration::from_secs(5);

impl Default for Health {
    fn default() -> Self {
        Health {
            started: Instant::now(),
            last_tick_ms: AtomicU64::new(0),
            not_ready: AtomicUsize::new(0),
            failed: Mutex::new(None),
        }
    }
}

impl Health {
    /// A component that will call [`Health::ready`] once it is up.
    pub fn expect(&self) {
        self.not_ready.fetch_add(1, Ordering::SeqCst);
    }
    pub fn ready(&self) {
        self.not_ready.fetch_sub(1, Ordering::SeqCst);
    }
    pub fn is_ready(&self) -> bool {
        self.not_ready.load(Ordering::SeqCst) == 0 && self.is_live()
    }

    /// Mark the process as broken for good (a task ended that must not end).
    pub fn fail(&self, why: String) {
        *self.failed.lock().expect("health lock") = Some(why);
    }

    pub fn failure(&self) -> Option<String> {
        self.failed.lock().expect("health lock").clone()
    }

    pub fn tick(&self) {
        self.last_tick_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    pub fn is_live(&self) -> bool {
        let age =
            self.started.elapsed().as_millis() as u64 - self.last_tick_ms.load(Ordering::Relaxed);
        age < STALL.as_millis() as u64 && self.failure().is_none()
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Tick every half second until the process ends.
    pub async fn watchdog(&self) {
        let mut t = tokio::time::interval(Duration::from_millis(500));
        loop {
            t.tick().await;
            self.tick();
        }
    }
}
