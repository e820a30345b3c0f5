//! The egress's memory of what it emitted for a sender's stream, so a replay
//! after a reconnect is emitted once.

#[derive(Debug, Clone, Default)]
pub struct Emitted {
    stream_id: u64,
    /// Wider than a sequence number, so the one after 2^64-1 still compares above it.
    next_seq: Option<u128>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Emit it; `gap` datagrams before it never came.
    Emit {
        gap: u64,
    },
    Duplicate,
    /// From a stream that is no longer this sender\'s (a connection taken over).
    Stale,
}

impl Emitted {
    /// A sender of `stream_id` connected: returns the Welcome's `resume_from`.
    pub fn begin(&mut self, stream_id: u64) -> u64 {
        if self.stream_id != stream_id {
            self.stream_id = stream_id;
            self.next_seq = None;
        }
        self.next_seq()
    }

    /// The session refuses `u64::MAX` already; here nothing wraps either, so
    /// an earlier datagram can never be emitted again.
    pub fn check(&mut self, stream_id: u64, seq: u64) -> Verdict {
        if stream_id != self.stream_id {
            return Verdict::Stale;
        }
        let s = seq as u128;
        let gap = match self.next_seq {
            Some(n) if s < n => return Verdict::Duplicate,
            Some(n) => (s - n) as u64,
            None => 0,
        };
        self.next_seq = Some(s + 1);
        Verdict::Emit { gap }
    }

    /// Take up where a predecessor left `stream_id`: everything below
    /// `next_seq` was emitted.
    pub fn restore(&mut self, stream_id: u64, next_seq: u64) {
        self.stream_id = stream_id;
        self.next_seq = Some(next_seq as u128);
    }

    /// The stream it follows now, and whether it has seen any datagram of it.
    pub fn stream(&self) -> (u64, bool) {
        (self.stream_id, self.next_seq.is_some())
    }

    /// The next sequence expected (saturated at 2^64-1).
    pub fn next_seq(&self) -> u64 {
        self.next_seq.unwrap_or(0).min(u64::MAX as u128) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_gaps() {
        const S: u64 = 5;
        let mut e = Emitted::default();
        assert_eq!(e.begin(5), 0);
        assert_eq!(e.check(S, 10), Verdict::Emit { gap: 0 });
        assert_eq!(e.check(S, 11), Verdict::Emit { gap: 0 });
        assert_eq!(e.check(S, 11), Verdict::Duplicate);
        assert_eq!(e.check(S, 14), Verdict::Emit { gap: 2 });
        assert_eq!(e.begin(5), 15, "same stream resumes");
        assert_eq!(e.check(S, 12), Verdict::Duplicate);
        assert_eq!(e.begin(6), 0, "a new stream starts over");
        assert_eq!(e.check(6, 0), Verdict::Emit { gap: 0 });
        assert_eq!(
            e.check(5, 20),
            Verdict::Stale,
            "the old stream's last datagrams"
        );
    }

    #[test]
    fn the_top_of_the_range_never_wraps() {
        const S: u64 = 1;
        let mut e = Emitted::default();
        e.begin(1);
        assert_eq!(e.check(S, u64::MAX - 1), Verdict::Emit { gap: 0 });
        assert_eq!(e.check(S, u64::MAX), Verdict::Emit { gap: 0 });
        assert_eq!(e.check(S, u64::MAX), Verdict::Duplicate);
        assert_eq!(
            e.check(S, 0),
            Verdict::Duplicate,
            "an earlier datagram is never emitted again"
        );
    }
}
