//! Sequence tracking for a receiver: gaps, duplicates and reordering, in a
//! fixed window of recently seen numbers (no allocation per packet).

const WINDOW: u64 = 1 << 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    InOrder,
    /// Arrived after later numbers, filling a hole.
    Reordered,
    Duplicate,
    /// Jumped ahead, leaving this many missing for now.
    Gap(u64),
    /// Older than the window can tell about.
    TooOld,
}

#[derive(Debug, Clone)]
pub struct SeqTracker {
    next: Option<u64>,
    bits: Vec<u64>,
    /// Missing now (holes not filled yet).
    pub missing: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub unique: u64,
}

impl Default for SeqTracker {
    fn default() -> Self {
        SeqTracker {
            next: None,
            bits: vec![0; (WINDOW / 64) as usize],
            missing: 0,
            duplicates: 0,
            reordered: 0,
            unique: 0,
        }
    }
}

impl SeqTracker {
    fn bit(&mut self, s: u64) -> (&mut u64, u64) {
        let i = (s % WINDOW) as usize;
        (&mut self.bits[i / 64], 1u64 << (i % 64))
    }

    pub fn on(&mut self, seq: u64) -> Seen {
        let next = match self.next {
            None => {
                self.next = Some(seq + 1);
                let (w, m) = self.bit(seq);
                *w |= m;
                self.unique += 1;
                return Seen::InOrder;
            }
            Some(n) => n,
        };
        if seq >= next {
            let jump = seq - next;
            if jump + 1 >= WINDOW {
                self.bits.iter_mut().for_each(|w| *w = 0);
            } else {
                for s in next..=seq {
                    let (w, m) = self.bit(s);
                    *w &= !m;
                }
            }
            let (w, m) = self.bit(seq);
            *w |= m;
            self.next = Some(seq + 1);
            self.missing += jump;
            self.unique += 1;
            return if jump == 0 {
                Seen::InOrder
            } else {
                Seen::Gap(jump)
            };
        }
        if next - seq > WINDOW {
            return Seen::TooOld;
        }
        let (w, m) = self.bit(seq);
        if *w & m != 0 {
            self.duplicates += 1;
            Seen::Duplicate
        } else {
            *w |= m;
            self.missing -= 1;
            self.reordered += 1;
            self.unique += 1;
            Seen::Reordered
        }
    }

    /// The next number expected (one past the highest seen).
    pub fn next(&self) -> Option<u64> {
        self.next
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
        assert_eq!(t.on(100_000_000), Seen::Gap(100_000_000 - 17));
        assert_eq!(t.on(5), Seen::TooOld);
    }
}
