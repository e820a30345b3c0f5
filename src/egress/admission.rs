//! Admission to a listener's handshakes: strangers may connect, but they
//! cannot crowd out the real sender. Places for handshakes under way are
//! limited in total and per source address; when room is needed, a
//! connection that has said nothing goes before one that has, and one that
//! has presented a key id this egress knows goes last; within a standing, the
//! oldest goes first. Each evicted connection is told why (Goodbye 13).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// Handshakes under way at once per listener. A place costs a small buffer
/// (two handshake frames), so this bounds a flood's memory too.
pub const MAX_PENDING: usize = 256;
/// ... and per source address.
pub const MAX_PER_SOURCE: usize = 8;

/// How far a pending handshake got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Standing {
    /// Connected, sent nothing yet.
    Silent = 0,
    /// Sent a whole frame.
    Spoke = 1,
    /// Its Hello named a feed and a key id this egress holds.
    KnownKey = 2,
}

impl Standing {
    fn from_u8(v: u8) -> Standing {
        match v {
            0 => Standing::Silent,
            1 => Standing::Spoke,
            _ => Standing::KnownKey,
        }
    }
}

struct Place {
    id: u64,
    source: IpAddr,
    standing: Arc<AtomicU8>,
    cut: CancellationToken,
}

/// The handshakes under way on one listener.
#[derive(Default)]
pub struct Gate {
    next: u64,
    /// In arrival order.
    pending: Vec<Place>,
}

/// A connection that had to make room, and how far it had got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evicted {
    pub standing: Standing,
    /// Evicted for the per-source limit rather than the total.
    pub same_source: bool,
}

/// A place among the pending handshakes; dropping it frees the place.
pub struct Ticket {
    id: u64,
    /// Cancelled when this connection is evicted.
    pub cut: CancellationToken,
    standing: Arc<AtomicU8>,
    gate: Arc<Mutex<Gate>>,
}

impl Ticket {
    /// Record how far the handshake got (never moves back).
    pub fn advance(&self, s: Standing) {
        self.standing.fetch_max(s as u8, Ordering::Relaxed);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.gate
            .lock()
            .expect("gate lock")
            .pending
            .retain(|p| p.id != self.id);
    }
}

impl Gate {
    /// Evict the weakest, oldest place among those `which` picks.
    fn evict(&mut self, which: impl Fn(&Place) -> bool) -> Option<Standing> {
        let (i, s) = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, p)| which(p))
            .map(|(i, p)| (i, p.standing.load(Ordering::Relaxed)))
            .min_by_key(|(i, s)| (*s, *i))?;
        let p = self.pending.remove(i);
        p.cut.cancel();
        Some(Standing::from_u8(s))
    }
}

/// Take a place for a connection from `source`, making room if needed.
pub fn admit(gate: &Arc<Mutex<Gate>>, source: IpAddr) -> (Ticket, Option<Evicted>) {
    let mut g = gate.lock().expect("gate lock");
    let mine = g.pending.iter().filter(|p| p.source == source).count();
    let evicted = if mine >= MAX_PER_SOURCE {
        g.evict(|p| p.source == source).map(|standing| Evicted {
            standing,
            same_source: true,
        })
    } else if g.pending.len() >= MAX_PENDING {
        g.evict(|_| true).map(|standing| Evicted {
            standing,
            same_source: false,
        })
    } else {
        None
    };
    g.next += 1;
    let (id, cut, standing) = (g.next, CancellationToken::new(), Arc::new(AtomicU8::new(0)));
    g.pending.push(Place {
        id,
        source,
        standing: standing.clone(),
        cut: cut.clone(),
    });
    drop(g);
    (
        Ticket {
            id,
            cut,
            standing,
            gate: gate.clone(),
        },
        evicted,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n))
    }

    #[test]
    fn a_flood_of_silent_strangers_never_evicts_a_sender_that_spoke() {
        let gate = Arc::default();
        let (real, _) = admit(&gate, ip(1));
        real.advance(Standing::KnownKey);
        let (talker, _) = admit(&gate, ip(2));
        talker.advance(Standing::Spoke);
        let mut flood = Vec::new();
        let mut evicted = Vec::new();
        for i in 0..10_000 {
            let (t, e) = admit(&gate, ip(100 + i % 5000));
            evicted.extend(e);
            flood.push(t);
        }
        assert!(!real.cut.is_cancelled(), "the key holder kept its place");
        assert!(
            !talker.cut.is_cancelled(),
            "one that spoke outranks the silent"
        );
        assert!(evicted.iter().all(|e| e.standing == Standing::Silent));
        assert_eq!(evicted.len(), 10_000 + 2 - MAX_PENDING);
        assert_eq!(
            flood.iter().filter(|t| !t.cut.is_cancelled()).count(),
            MAX_PENDING - 2
        );
    }

    #[test]
    fn one_source_only_churns_its_own_places() {
        let gate = Arc::default();
        let others: Vec<Ticket> = (0..10).map(|i| admit(&gate, ip(i)).0).collect();
        let mut mine = Vec::new();
        for _ in 0..1000 {
            let (t, e) = admit(&gate, ip(99));
            if let Some(e) = e {
                assert!(e.same_source);
            }
            mine.push(t);
        }
        assert!(others.iter().all(|t| !t.cut.is_cancelled()));
        assert_eq!(
            mine.iter().filter(|t| !t.cut.is_cancelled()).count(),
            MAX_PER_SOURCE
        );
        // The oldest went first: the survivors are the last eight.
        assert!(
            mine[1000 - MAX_PER_SOURCE..]
                .iter()
                .all(|t| !t.cut.is_cancelled())
        );
    }

    #[test]
    fn a_dropped_ticket_frees_its_place() {
        let gate: Arc<Mutex<Gate>> = Arc::default();
        for _ in 0..3 * MAX_PER_SOURCE {
            let (_t, e) = admit(&gate, ip(1));
            assert_eq!(e, None);
        }
        assert!(gate.lock().unwrap().pending.is_empty());
    }
}
