//! The content dedupe: datagrams the format cannot number (and every one
//! under `--merge hash`), remembered by a keyed hash over a bounded window.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddrV4;
use std::time::Duration;

/// Content dedupe over the last `max` datagrams and `max_age`.
pub(super) struct Dedupe {
    ring: VecDeque<(u64, u64)>,
    seen: HashSet<u64>,
    max: usize,
    max_age_ns: u64,
    keys: std::collections::hash_map::RandomState,
}

impl Dedupe {
    pub(super) fn new(max: usize, max_age: Duration) -> Dedupe {
        Dedupe {
            ring: VecDeque::with_capacity(max),
            seen: HashSet::with_capacity(2 * max),
            max,
            max_age_ns: max_age.as_nanos() as u64,
            keys: Default::default(),
        }
    }

    /// Is this the first copy within the window?
    pub(super) fn first(&mut self, group: SocketAddrV4, payload: &[u8], now_ns: u64) -> bool {
        while let Some(&(h, t)) = self.ring.front() {
            if self.ring.len() < self.max && now_ns.saturating_sub(t) < self.max_age_ns {
                break;
            }
            self.ring.pop_front();
            self.seen.remove(&h);
        }
        let mut hasher = self.keys.build_hasher();
        hasher.write(&group.ip().octets());
        hasher.write_u16(group.port());
        hasher.write(payload);
        let h = hasher.finish();
        if !self.seen.insert(h) {
            return false;
        }
        self.ring.push_back((h, now_ns));
        true
    }
}
