//! Sequence tracking for a receiver: gaps, duplicates and reordering, in a
//! fixed window of recently seen numbers (no allocation per packet).
//!
//! Numbers come one per packet (the test header, Deribit legacy) or as a range
//! per packet (Starbase: `seqNum` of the first message and `messageCount`).
//! Everything is counted in numbers; `holes` counts the separate runs of
//! missing numbers, so "3 missing in 2 holes" can be told apart from one loss
//! of three.

const WINDOW: u64 = 1 << 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    InOrder,
    /// Arrived after later numbers, filling a hole (at least one number of the range).
    Reordered,
    /// Every number was seen before.
    Duplicate,
    /// Jumped ahead, leaving this many missing for now.
    Gap(u64),
    /// Older than the window can tell about.
    TooOld,
}

#[derive(Debug, Clone)]
pub struct SeqTracker {
    first: Option<u64>,
    next: Option<u64>,
    bits: Vec<u64>,
    /// Missing now (holes not filled yet).
    pub missing: u64,
    /// Separate runs of missing numbers now.
    pub holes: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub unique: u64,
    /// Numbers that came too late for the window (neither counted nor filled).
    pub too_old: u64,
}

impl Default for SeqTracker {
    fn default() -> Self {
        SeqTracker {
            first: None,
            next: None,
            bits: vec![0; (WINDOW / 64) as usize],
            missing: 0,
            holes: 0,
            duplicates: 0,
            reordered: 0,
            unique: 0,
            too_old: 0,
        }
    }
}

impl SeqTracker {
    fn slot(s: u64) -> (usize, u64) {
        let i = (s % WINDOW) as usize;
        (i / 64, 1u64 << (i % 64))
    }

    fn is_set(&self, s: u64) -> bool {
        let (w, m) = Self::slot(s);
        self.bits[w] & m != 0
    }

    fn set(&mut self, s: u64) {
        let (w, m) = Self::slot(s);
        self.bits[w] |= m;
    }

    fn clear(&mut self, from: u64, to: u64) {
        if to.saturating_sub(from) >= WINDOW {
            self.bits.iter_mut().for_each(|w| *w = 0);
        } else {
            for s in from..to {
                let (w, m) = Self::slot(s);
                self.bits[w] &= !m;
            }
        }
    }

    /// One number (one packet of a per-packet sequence).
    pub fn on(&mut self, seq: u64) -> Seen {
        self.on_range(seq, 1)
    }

    /// The numbers `seq .. seq + count`. A `count` of 0 (a heartbeat) carries
    /// the next number to come: a `seq` beyond the expected one is a gap.
    pub fn on_range(&mut self, seq: u64, count: u64) -> Seen {
        let end = seq.saturating_add(count);
        let Some(next) = self.next else {
            self.first = Some(seq);
            self.next = Some(end);
            for s in seq..end.min(seq + WINDOW) {
                self.set(s);
            }
            self.unique += count;
            return Seen::InOrder;
        };
        if seq >= next {
            let jump = seq - next;
            self.clear(next, end);
            for s in seq.max(end.saturating_sub(WINDOW))..end {
                self.set(s);
            }
            self.next = Some(end.max(next));
            self.unique += count;
            if jump > 0 {
                self.missing += jump;
                self.holes += 1;
                return Seen::Gap(jump);
            }
            return Seen::InOrder;
        }
        // Starts below the expected number: fills holes, repeats, or both.
        if count == 0 {
            return Seen::InOrder; // a heartbeat behind: nothing to learn
        }
        if next - seq > WINDOW {
            self.too_old += count;
            return Seen::TooOld;
        }
        if let Some(f) = self.first.filter(|f| seq < *f) {
            // Older than the first number seen: the start moves back, and what
            // lies between is a hole like any other (filled below as it comes).
            self.missing += f - seq;
            self.holes += 1;
            self.first = Some(seq);
        }
        let (mut fresh, mut dup) = (0u64, 0u64);
        for s in seq..end.min(next) {
            if self.is_set(s) {
                dup += 1;
                continue;
            }
            // Filling s: does it close, shrink or split the hole it is in?
            let before = s > self.first.unwrap_or(0) && !self.is_set(s - 1);
            let after = s + 1 < next && !self.is_set(s + 1);
            match (before, after) {
                (false, false) => self.holes = self.holes.saturating_sub(1),
                (true, true) => self.holes += 1,
                _ => {}
            }
            self.set(s);
            fresh += 1;
        }
        if end > next {
            self.clear(next, end);
            for s in next..end {
                self.set(s);
            }
            self.unique += end - next;
            self.next = Some(end);
        }
        self.duplicates += dup;
        self.reordered += fresh;
        self.missing -= fresh;
        self.unique += fresh;
        if fresh > 0 {
            Seen::Reordered
        } else if end > next {
            Seen::InOrder
        } else {
            Seen::Duplicate
        }
    }

    /// Was `s` seen (within the window behind the highest number)?
    pub fn has(&self, s: u64) -> bool {
        self.next.is_some_and(|n| s < n && n - s <= WINDOW)
            && self.first.is_some_and(|f| s >= f)
            && self.is_set(s)
    }

    /// The next number expected (one past the highest seen).
    pub fn next(&self) -> Option<u64> {
        self.next
    }

    /// The first number seen.
    pub fn first(&self) -> Option<u64> {
        self.first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_kind() {
        let mut t = SeqTracker::default();
        for s in [10, 11, 13, 12, 12, 16, 14] {
            t.on(s);
        }
        assert_eq!(t.unique, 6);
        assert_eq!(t.duplicates, 1);
        assert_eq!(t.reordered, 2, "12 and 14 came late");
        assert_eq!(t.missing, 1, "15 never came");
        assert_eq!(t.holes, 1);
        assert_eq!(t.on(100_000_000), Seen::Gap(100_000_000 - 17));
        assert_eq!(t.holes, 2);
        assert_eq!(t.on(5), Seen::TooOld);
    }

    #[test]
    fn holes_split_shrink_and_close() {
        let mut t = SeqTracker::default();
        t.on(0);
        assert_eq!(t.on(6), Seen::Gap(5), "1..=5 missing");
        assert_eq!((t.missing, t.holes), (5, 1));
        t.on(3); // splits 1..=5 into 1..=2 and 4..=5
        assert_eq!((t.missing, t.holes), (4, 2));
        t.on(1); // shrinks
        assert_eq!((t.missing, t.holes), (3, 2));
        t.on(2); // closes 1..=2
        assert_eq!((t.missing, t.holes), (2, 1));
        t.on(5);
        t.on(4);
        assert_eq!((t.missing, t.holes), (0, 0));
        assert_eq!(t.reordered, 5);
    }

    #[test]
    fn ranges_count_messages() {
        let mut t = SeqTracker::default();
        assert_eq!(t.on_range(100, 3), Seen::InOrder); // 100..103
        assert_eq!(t.on_range(103, 2), Seen::InOrder); // 103..105
        assert_eq!(t.on_range(108, 4), Seen::Gap(3)); // 105..108 missing
        assert_eq!(t.on_range(112, 0), Seen::InOrder, "a heartbeat in place");
        assert_eq!(
            t.on_range(115, 0),
            Seen::Gap(3),
            "a heartbeat ahead: 112..115 lost"
        );
        assert_eq!((t.missing, t.holes), (6, 2));
        assert_eq!(t.on_range(105, 3), Seen::Reordered);
        assert_eq!((t.missing, t.holes), (3, 1));
        assert_eq!(t.on_range(100, 5), Seen::Duplicate);
        assert_eq!(t.duplicates, 5);
        // Overlapping the end: 113..115 fill, 115..117 are new.
        assert_eq!(t.on_range(113, 4), Seen::Reordered);
        assert_eq!((t.missing, t.holes), (1, 1), "112 still missing");
        assert_eq!(t.next(), Some(117));
        assert_eq!(t.unique, 3 + 2 + 4 + 3 + 4);
    }

    #[test]
    fn a_number_before_the_first_moves_the_start_back() {
        let mut t = SeqTracker::default();
        t.on(10);
        t.on(11);
        assert_eq!(t.on(7), Seen::Reordered);
        assert_eq!((t.missing, t.holes, t.first()), (2, 1, Some(7)), "8 and 9");
        t.on(9);
        t.on(8);
        assert_eq!((t.missing, t.holes, t.unique), (0, 0, 5));
    }
}
