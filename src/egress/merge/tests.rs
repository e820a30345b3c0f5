//! The merge's unit tests: senders, gaps, holds and restarts, with injected time.

use super::*;
use crate::feeds::testhdr;
use crate::obs::metrics::Metrics;

const MS: u64 = 1_000_000;

fn g() -> SocketAddrV4 {
    "239.1.1.1:5000".parse().unwrap()
}

fn pkt(seq: u64) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    testhdr::write(&mut p, seq, 0);
    p[30] = seq as u8;
    p
}

struct T {
    m: Merger,
    out: Released,
    emitted: Vec<u64>,
    senders: Vec<Arc<SenderStats>>,
    stats: Arc<FeedStats>,
}

impl T {
    fn new(format: MergeFormat, n: usize) -> T {
        let metrics = Metrics::new();
        let stats = metrics.feed("prod", "egress");
        let mut m = Merger::new(format, Duration::from_millis(100), stats.clone());
        let senders: Vec<_> = (0..n).map(|i| stats.sender(&format!("s{i}"))).collect();
        for (i, s) in senders.iter().enumerate() {
            m.sender_up(i, s.clone(), false);
        }
        T {
            m,
            out: Released::default(),
            emitted: vec![],
            senders,
            stats,
        }
    }

    fn on(&mut self, id: usize, seq: u64, now: u64) -> Decision {
        let d = self
            .m
            .accept(id, seq, g(), 0, &pkt(seq), now, &mut self.out);
        if d == Decision::Emit {
            self.emitted.push(seq);
        }
        self.take();
        if d == Decision::InReleased {
            Decision::Emit
        } else {
            d
        }
    }

    fn take(&mut self) {
        for it in self.out.items.drain(..) {
            let p = &self.out.buf[it.payload];
            self.emitted.push(testhdr::parse(p).unwrap().0);
        }
        self.out.buf.clear();
    }
}

#[test]
fn the_first_copy_wins_and_later_ones_are_dropped() {
    let mut t = T::new(MergeFormat::Testhdr, 2);
    for s in 0..10 {
        assert_eq!(t.on(s as usize % 2, s, s * MS), Decision::Emit);
        assert_eq!(t.on(1 - s as usize % 2, s, s * MS + MS / 2), Decision::Late);
    }
    assert_eq!(t.emitted, (0..10).collect::<Vec<_>>());
    assert_eq!(t.senders[0].first.get() + t.senders[1].first.get(), 10);
    assert_eq!(t.senders[0].late.get() + t.senders[1].late.get(), 10);
    assert!(
        t.senders[1].lag_seconds.get() > 0.0,
        "the later copies' lag is measured"
    );
}

#[test]
fn a_gap_on_one_sender_is_filled_from_the_other_in_order() {
    let mut t = T::new(MergeFormat::Testhdr, 2);
    t.on(0, 0, 0);
    t.on(1, 0, 0);
    // Sender 0 skips 1 and 2 (its line lost them); sender 1 is a little behind.
    assert_eq!(
        t.on(0, 3, MS),
        Decision::Held,
        "held: sender 1 can still fill 1..3"
    );
    assert_eq!(t.on(0, 4, MS), Decision::Held);
    assert_eq!(t.m.next_deadline_ns(), Some(MS + 100 * MS));
    assert_eq!(t.on(1, 1, 2 * MS), Decision::Emit);
    assert_eq!(
        t.on(1, 2, 2 * MS),
        Decision::Emit,
        "fills the gap; 3 and 4 follow"
    );
    assert_eq!(t.on(1, 3, 3 * MS), Decision::Late);
    assert_eq!(t.emitted, [0, 1, 2, 3, 4], "in order, each once");
    assert_eq!((t.senders[0].gaps.get(), t.senders[0].filled.get()), (2, 2));
    assert_eq!(t.stats.gaps.get(), 0, "the merged stream has no gap");
    assert_eq!(t.m.held(), 0);
}

#[test]
fn a_gap_nobody_can_fill_is_given_up_when_every_sender_has_passed_it() {
    let mut t = T::new(MergeFormat::Testhdr, 2);
    t.on(0, 0, 0);
    t.on(1, 0, 0);
    assert_eq!(t.on(0, 2, MS), Decision::Held);
    // Sender 1 lacks 1 too (the venue lost it): once it passes 2, 2 goes out.
    assert_eq!(t.on(1, 2, 2 * MS), Decision::Late, "a copy of the one held");
    assert_eq!(t.on(1, 3, 2 * MS), Decision::Emit);
    assert_eq!(t.emitted, [0, 2, 3]);
    assert_eq!(t.stats.gaps.get(), 1, "1 is missing from the merged stream");
    let ch: Vec<_> = t.stats.senders.channel_gaps();
    assert_eq!(ch, vec![("239.1.1.1:5000/0".to_string(), 1)]);
}

#[test]
fn a_held_packet_waits_at_most_max_wait_and_not_for_a_sender_that_left() {
    let mut t = T::new(MergeFormat::Testhdr, 2);
    t.on(0, 0, 0);
    assert_eq!(t.on(0, 5, MS), Decision::Held);
    t.m.release_due(50 * MS, &mut t.out);
    t.take();
    assert_eq!(t.emitted, [0], "still waiting at 50 ms");
    t.m.release_due(101 * MS, &mut t.out);
    t.take();
    assert_eq!(t.emitted, [0, 5], "given up at 100 ms");
    assert_eq!(t.on(0, 7, 102 * MS), Decision::Held);
    t.m.sender_down(1, 103 * MS, &mut t.out);
    t.take();
    assert_eq!(t.emitted, [0, 5, 7], "no one left to fill 6");
    assert_eq!(t.on(0, 9, 104 * MS), Decision::Emit, "alone, no wait");
}

#[test]
fn a_restarted_sender_counts_what_it_missed_as_a_restart_gap() {
    let mut t = T::new(MergeFormat::Testhdr, 2);
    for s in 0..5 {
        t.on(0, s, 0);
        t.on(1, s, 0);
    }
    t.m.sender_down(0, 0, &mut t.out);
    for s in 5..10 {
        t.on(1, s, 0);
    }
    let s0 = t.senders[0].clone();
    t.m.sender_up(0, s0, true);
    t.on(0, 10, 0);
    assert_eq!(t.on(1, 10, 0), Decision::Late);
    assert_eq!(
        (t.senders[0].restart_gaps.get(), t.senders[0].gaps.get()),
        (5, 0)
    );
    assert_eq!(t.senders[0].filled.get(), 5);
    assert_eq!(t.emitted, (0..11).collect::<Vec<_>>());
}

#[test]
fn unnumbered_datagrams_are_emitted_once_by_content() {
    let mut t = T::new(MergeFormat::Testhdr, 2);
    let raw = b"no header at all".to_vec();
    let mut out = Released::default();
    assert_eq!(t.m.accept(0, 0, g(), 0, &raw, 0, &mut out), Decision::Emit);
    assert_eq!(t.m.accept(1, 0, g(), 0, &raw, MS, &mut out), Decision::Late);
    let (unparsed, _) = t.stats.merge();
    assert_eq!(unparsed.get(), 2);
    let mut h = T::new(MergeFormat::Hash, 2);
    assert_eq!(h.m.accept(0, 0, g(), 0, &raw, 0, &mut out), Decision::Emit);
    assert_eq!(h.m.accept(1, 0, g(), 0, &raw, MS, &mut out), Decision::Late);
    assert_eq!(
        h.m.accept(1, 0, g(), 0, &raw, 3_000 * MS, &mut out),
        Decision::Emit,
        "past the window's age it is new again (the stated limit)"
    );
}

#[test]
fn a_channel_the_venue_starts_again_is_followed_but_a_replay_is_not_mistaken_for_it() {
    let mut t = T::new(MergeFormat::Testhdr, 2);
    let top = 1_000_000;
    for s in top..top + 10 {
        t.on(0, s, 0);
        t.on(1, s, 0);
    }
    // Sender 1 replays an old window for a second while sender 0 is
    // current, so nothing resets.
    for s in 0..100 {
        assert_eq!(
            t.on(1, top - 100 + s, 3_000 * MS + s * 10 * MS),
            Decision::Late
        );
        t.on(0, top + 10 + s, 3_000 * MS + s * 10 * MS);
    }
    // The venue restarts the channel at 0: both senders say so, for 250 ms.
    let t0 = 10_000 * MS;
    let mut followed = None;
    for s in 0..40u64 {
        let at = t0 + s * 25 * MS;
        let d = t.on(0, s, at);
        assert_eq!(t.on(1, s, at), Decision::Late, "{s}");
        if d == Decision::Emit && followed.is_none() {
            followed = Some(s);
        }
    }
    // 8 in a row (the 8th is number 7), then 250 ms at 25 ms apart.
    assert_eq!(followed, Some(7 + 10), "followed after the run and 250 ms");
    assert_eq!(t.emitted.last(), Some(&39), "and every number after it");
}

#[test]
fn a_32_bit_counter_wraps_without_a_gap() {
    use crate::feeds::deribit;
    let metrics = Metrics::new();
    let stats = metrics.feed("prod", "egress");
    let mut m = Merger::new(
        MergeFormat::Deribit,
        Duration::from_millis(100),
        stats.clone(),
    );
    m.sender_up(0, stats.sender("a"), false);
    let mut out = Released::default();
    for s in [u32::MAX - 1, u32::MAX, 0, 1] {
        let mut p = vec![0u8; 20];
        deribit::Frame {
            length: 12,
            channel: 1,
            seq: s,
        }
        .write(&mut p);
        assert_eq!(
            m.accept(0, 0, g(), 0, &p, 0, &mut out),
            Decision::Emit,
            "{s}"
        );
    }
    assert_eq!(stats.gaps.get(), 0);
}
