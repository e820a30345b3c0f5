//! The link's rules, on the sans-IO sessions with injected time: no sockets,
//! no sleeps; every deadline is checked at its instant.
//!
//! Over 400 lines on purpose: each test drives both sides as a pair through
//! the helpers above, one test per rule; split by side, they would part.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use super::*;
use crate::wire::frame::{self, Frame};
use crate::wire::handshake::Reject;
use crate::wire::kdf::{self, SessionKeys};
use crate::wire::record::{self, Sealer};

fn keys() -> SessionKeys {
    kdf::derive(
        Some(&[1; 32]),
        None,
        &kdf::transcript(b"hello", b"challenge"),
    )
}

fn g() -> SocketAddrV4 {
    "239.1.1.1:6100".parse().unwrap()
}

const MS: Duration = Duration::from_millis(1);

/// Copy `bytes` into a session's receive buffer in pieces of `piece`.
fn feed_egress(e: &mut EgressSession, bytes: &[u8], now: Instant, piece: usize) {
    for c in bytes.chunks(piece.max(1)) {
        e.recv_buf()[..c.len()].copy_from_slice(c);
        e.handle_read(c.len(), now);
    }
}

fn feed_ingress(i: &mut IngressSession, bytes: &[u8], now: Instant) {
    i.recv_buf()[..bytes.len()].copy_from_slice(bytes);
    i.handle_read(bytes.len(), now);
}

fn ingress_events(i: &mut IngressSession) -> Vec<IngressEvent> {
    std::iter::from_fn(|| i.poll_event()).collect()
}

fn egress_events(e: &mut EgressSession) -> Vec<(EgressEvent, Vec<u8>)> {
    let mut v = Vec::new();
    while let Some(ev) = e.poll_event() {
        let payload = match &ev {
            EgressEvent::Data(d) => e.bytes()[d.payload.clone()].to_vec(),
            _ => vec![],
        };
        v.push((ev, payload));
    }
    v
}

/// A connected pair past the Welcome, the ingress sending from `first`.
struct Pair {
    i: IngressSession,
    e: EgressSession,
    t0: Instant,
}

fn pair(resume_from: u64, head: u64, first: u64) -> Pair {
    let t0 = Instant::now();
    let k = keys();
    let mut e = EgressSession::new(&k, false, t0, resume_from, &[]);
    let mut i = IngressSession::new(&k, false, t0, head, &[]);
    let mut out = Vec::new();
    assert!(e.poll_transmit(t0, &mut out), "the Welcome goes first");
    feed_ingress(&mut i, &out, t0);
    assert_eq!(
        ingress_events(&mut i),
        vec![IngressEvent::Welcome {
            resume_from,
            heartbeat: HEARTBEAT
        }]
    );
    i.start(t0, first);
    Pair { i, e, t0 }
}

/// Seal data frames `seqs` into one record, as the ingress driver does.
fn data_record(i: &mut IngressSession, seqs: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    let start = record::begin(&mut out);
    for &s in seqs {
        frame::encode_data(s, 7, g(), g(), format!("dgram {s}").as_bytes(), &mut out);
    }
    i.seal_data(&mut out, start, seqs.last().unwrap() + 1);
    out
}

fn closed_egress(e: &mut EgressSession) -> End {
    match egress_events(e).pop() {
        Some((EgressEvent::Closed(end), _)) => end,
        other => panic!("expected the session to close, got {other:?}"),
    }
}

fn closed_ingress(i: &mut IngressSession) -> End {
    match ingress_events(i).pop() {
        Some(IngressEvent::Closed(end)) => end,
        other => panic!("expected the session to close, got {other:?}"),
    }
}

/// What the egress sends next, opened with the ingress's view of the keys.
fn goodbye_code_sent_by_egress(e: &mut EgressSession, now: Instant) -> Option<u16> {
    let mut out = Vec::new();
    if !e.poll_transmit(now, &mut out) {
        return None;
    }
    // Open it as a fresh ingress would (the Welcome was record 0 already, so
    // replay the opener's position by sealing the same count): simpler to scan
    // for the Goodbye code in the clear body, since records here are not encrypted.
    let body = &out[frame::FRAME_HEADER..out.len() - record::TAG_LEN];
    let mut pos = 0;
    while let Ok(Some((f, n))) = frame::decode(&body[pos..], frame::MAX_FRAME) {
        if let Frame::Goodbye { code, .. } = f {
            return Some(code);
        }
        pos += n;
    }
    None
}

#[test]
fn datagrams_cross_in_order_and_are_acknowledged_at_the_cadence() {
    let Pair { mut i, mut e, t0 } = pair(0, 3, 0);
    let rec = data_record(&mut i, &[0, 1, 2]);
    i.on_written(t0);
    // Any split of the stream gives the same datagrams.
    feed_egress(&mut e, &rec, t0 + MS, 7);
    let got = egress_events(&mut e);
    let seqs: Vec<u64> = got
        .iter()
        .map(|(ev, p)| match ev {
            EgressEvent::Data(d) => {
                assert_eq!(p, format!("dgram {}", d.seq).as_bytes());
                d.seq
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seqs, [0, 1, 2]);
    assert_eq!(e.processed(), 3);
    // The Welcome counted as the last transmit at t0: the Ack waits for 50 ms.
    let mut out = Vec::new();
    assert!(
        !e.poll_transmit(t0 + 49 * MS, &mut out),
        "no Ack before 50 ms"
    );
    assert_eq!(e.poll_timeout(), Some(t0 + ACK_EVERY));
    assert!(e.poll_transmit(t0 + ACK_EVERY, &mut out));
    feed_ingress(&mut i, &out, t0 + ACK_EVERY);
    assert_eq!(ingress_events(&mut i), vec![IngressEvent::Acked(3)]);
    assert_eq!(i.acked(), 3);
    // Nothing owed now: the next deadline is the heartbeat, not the Ack.
    assert_eq!(e.poll_timeout(), Some(t0 + ACK_EVERY + HEARTBEAT));
}

#[test]
fn heartbeats_go_out_after_a_second_of_silence() {
    let Pair { mut i, mut e, t0 } = pair(0, 0, 0);
    let mut out = Vec::new();
    assert!(!e.poll_transmit(t0 + 999 * MS, &mut out));
    assert!(
        e.poll_transmit(t0 + HEARTBEAT, &mut out),
        "egress heartbeat"
    );
    assert!(!i.poll_transmit(t0 + 999 * MS, &mut out));
    assert_eq!(i.poll_timeout(), Some(t0 + HEARTBEAT));
    out.clear();
    assert!(
        i.poll_transmit(t0 + HEARTBEAT, &mut out),
        "ingress heartbeat"
    );
    assert!(
        !i.poll_transmit(t0 + HEARTBEAT, &mut Vec::new()),
        "one transmit in flight"
    );
    i.on_written(t0 + HEARTBEAT);
    feed_egress(&mut e, &out, t0 + HEARTBEAT, usize::MAX);
    assert!(egress_events(&mut e).is_empty(), "a heartbeat is no event");
}

#[test]
fn a_silent_peer_is_dead_at_exactly_two_and_a_half_seconds() {
    let Pair { mut i, mut e, t0 } = pair(0, 0, 0);
    e.handle_timeout(t0 + DEAD_AFTER - MS);
    i.handle_timeout(t0 + DEAD_AFTER - MS);
    assert!(e.poll_event().is_none() && i.poll_event().is_none());
    assert_eq!(e.poll_timeout(), Some(t0 + HEARTBEAT), "heartbeat first");
    e.handle_timeout(t0 + DEAD_AFTER);
    i.handle_timeout(t0 + DEAD_AFTER);
    assert_eq!(closed_egress(&mut e), End::Dead(DEAD_AFTER));
    assert_eq!(closed_ingress(&mut i), End::Dead(DEAD_AFTER));
    assert_eq!(e.poll_timeout(), None);
    assert!(e.is_done() && i.is_done(), "nothing to say to a dead peer");
    // Anything heard resets the clock.
    let Pair { mut i, e: _, t0 } = pair(0, 0, 0);
    feed_ingress(&mut i, &[0], t0 + 2 * DEAD_AFTER / 3);
    i.handle_timeout(t0 + DEAD_AFTER);
    assert!(i.poll_event().is_none());
}

#[test]
fn an_ack_beyond_what_was_sent_ends_the_session_and_says_why() {
    for bogus in [4, u64::MAX] {
        let Pair { mut i, e: _, t0 } = pair(0, 3, 0);
        let _ = data_record(&mut i, &[0, 1, 2]);
        i.on_written(t0);
        // A key-holding egress that lies: Ack(bogus) after three datagrams.
        let mut out = Vec::new();
        let mut s = Sealer::new(&keys().s2c, false);
        let mut skip = Vec::new();
        let st = record::begin(&mut skip);
        frame::encode(&Frame::Heartbeat { sent_ns: 0 }, &mut skip);
        s.seal(&mut skip, st).unwrap(); // record 0
        let st = record::begin(&mut out);
        frame::encode(&Frame::Ack { next_seq: bogus }, &mut out);
        s.seal(&mut out, st).unwrap(); // record 1
        feed_ingress(&mut i, &out, t0 + MS);
        assert_eq!(
            closed_ingress(&mut i),
            End::Violation(Violation::AckBeyondSent {
                ack: bogus,
                sent: 3
            })
        );
        assert_eq!(i.acked(), 0, "the bogus position is never taken");
        let mut bye = Vec::new();
        assert!(i.poll_transmit(t0 + MS, &mut bye), "a Goodbye says why");
        assert!(!i.is_done());
        i.on_written(t0 + MS);
        assert!(i.is_done());
    }
}

#[test]
fn a_resume_position_beyond_the_head_is_refused() {
    let t0 = Instant::now();
    let mut e = EgressSession::new(&keys(), false, t0, u64::MAX, &[]);
    let mut i = IngressSession::new(&keys(), false, t0, 1000, &[]);
    let mut out = Vec::new();
    e.poll_transmit(t0, &mut out);
    feed_ingress(&mut i, &out, t0);
    assert_eq!(
        closed_ingress(&mut i),
        End::Violation(Violation::ResumeBeyondHead {
            resume: u64::MAX,
            head: 1000
        })
    );
    // A resume position at the head is fine (nothing new to send).
    let Pair { i, .. } = pair(1000, 1000, 1000);
    assert_eq!(i.sent(), 1000);
}

#[test]
fn resume_point_takes_the_later_of_acked_and_resume_and_counts_what_left_the_window() {
    assert_eq!(resume_point(10, 0, 0), Resume { start: 10, lost: 0 });
    assert_eq!(resume_point(10, 15, 0), Resume { start: 15, lost: 0 });
    assert_eq!(resume_point(10, 15, 20), Resume { start: 20, lost: 5 });
    assert_eq!(resume_point(0, 0, 0), Resume { start: 0, lost: 0 });
}

#[test]
fn sequence_numbers_must_increase_and_never_reach_the_top() {
    let cases: [(&[u64], Violation); 3] = [
        (&[5, 5], Violation::SeqNotIncreasing { prev: 5, seq: 5 }),
        (&[7, 3], Violation::SeqNotIncreasing { prev: 7, seq: 3 }),
        (&[u64::MAX - 1, u64::MAX], Violation::SeqExhausted),
    ];
    for (seqs, want) in cases {
        let Pair { mut i, mut e, t0 } = pair(0, u64::MAX, 0);
        let mut out = Vec::new();
        let start = record::begin(&mut out);
        for &s in seqs {
            frame::encode_data(s, 0, g(), g(), b"x", &mut out);
        }
        i.seal_data(&mut out, start, 1);
        feed_egress(&mut e, &out, t0, usize::MAX);
        let ev = egress_events(&mut e);
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert_eq!(ev[1].0, EgressEvent::Closed(End::Violation(want.clone())));
        assert_eq!(
            goodbye_code_sent_by_egress(&mut e, t0),
            Some(Reject::Protocol.code())
        );
    }
    // A sender may skip ahead (its window evicted some), and may not start below the resume point.
    let Pair { mut i, mut e, t0 } = pair(10, 100, 10);
    let rec = data_record(&mut i, &[10, 50]);
    feed_egress(&mut e, &rec, t0, usize::MAX);
    assert_eq!(egress_events(&mut e).len(), 2);
    let Pair { mut i, mut e, t0 } = pair(10, 100, 10);
    let mut out = Vec::new();
    let start = record::begin(&mut out);
    frame::encode_data(9, 0, g(), g(), b"x", &mut out);
    i.seal_data(&mut out, start, 10 + 1);
    feed_egress(&mut e, &out, t0, usize::MAX);
    assert_eq!(
        closed_egress(&mut e),
        End::Violation(Violation::SeqBelowResume { seq: 9, resume: 10 })
    );
}

#[test]
fn a_record_that_fails_its_tag_ends_the_session() {
    let Pair { mut i, mut e, t0 } = pair(0, 10, 0);
    let good = data_record(&mut i, &[0]);
    i.on_written(t0);
    let mut bad = data_record(&mut i, &[1]);
    let at = bad.len() / 2;
    bad[at] ^= 0x40;
    feed_egress(&mut e, &good, t0, usize::MAX);
    feed_egress(&mut e, &bad, t0, usize::MAX);
    let ev = egress_events(&mut e);
    assert!(matches!(ev[0].0, EgressEvent::Data(ref d) if d.seq == 0));
    assert!(
        matches!(ev[1].0, EgressEvent::Closed(End::BadRecord(_))),
        "{ev:?}"
    );
    assert_eq!(ev.len(), 2, "nothing of the bad record is handed out");
    assert_eq!(
        goodbye_code_sent_by_egress(&mut e, t0),
        Some(Reject::BadRecord.code())
    );
    assert!(e.is_done());
}

#[test]
fn injected_plain_frames_and_bad_framing_are_violations() {
    // A plain Data frame after the handshake (what an on-path relay would inject).
    let Pair { e: mut e1, t0, .. } = pair(0, 10, 0);
    let mut inj = Vec::new();
    frame::encode_data(0, 0, g(), g(), b"FORGED", &mut inj);
    feed_egress(&mut e1, &inj, t0, usize::MAX);
    assert_eq!(
        closed_egress(&mut e1),
        End::Violation(Violation::Unexpected("Data"))
    );
    // A frame whose length runs past its record, and an empty record.
    for (body, want) in [
        (
            vec![0, 0, 0, 9, frame::kind::HEARTBEAT, 0],
            Violation::FrameAcrossRecords,
        ),
        (vec![], Violation::EmptyRecord),
    ] {
        let Pair { mut i, mut e, t0 } = pair(0, 10, 0);
        let mut out = Vec::new();
        let start = record::begin(&mut out);
        out.extend_from_slice(&body);
        i.seal_data(&mut out, start, 1);
        feed_egress(&mut e, &out, t0, usize::MAX);
        assert!(
            matches!(closed_egress(&mut e), End::Violation(ref v) if *v == want),
            "{want:?}"
        );
    }
    // An ingress may not send an Ack, a Welcome or a Hello inside a record.
    let Pair { mut i, mut e, t0 } = pair(0, 10, 0);
    let mut out = Vec::new();
    let start = record::begin(&mut out);
    frame::encode(&Frame::Ack { next_seq: 1 }, &mut out);
    i.seal_data(&mut out, start, 1);
    feed_egress(&mut e, &out, t0, usize::MAX);
    assert_eq!(
        closed_egress(&mut e),
        End::Violation(Violation::Unexpected("Ack"))
    );
}

#[test]
fn goodbyes_end_the_session_and_carry_their_reason() {
    // The ingress stops after flushing: the egress sees a clean goodbye.
    let Pair { mut i, mut e, t0 } = pair(0, 2, 0);
    let rec = data_record(&mut i, &[0, 1]);
    i.on_written(t0);
    i.close(Reject::ShuttingDown, "ingress stopping");
    let mut bye = Vec::new();
    assert!(i.poll_transmit(t0, &mut bye));
    feed_egress(&mut e, &[rec, bye].concat(), t0, usize::MAX);
    let ev = egress_events(&mut e);
    assert_eq!(ev.len(), 3);
    let EgressEvent::Closed(end) = &ev[2].0 else {
        panic!("{ev:?}")
    };
    assert!(end.is_clean(), "{end:?}");
    assert_eq!(end.peer_reject(), Some(Reject::ShuttingDown));
    // Taken over: the egress acks what it handled and says goodbye; the
    // ingress learns both.
    let Pair { mut i, mut e, t0 } = pair(0, 2, 0);
    let rec = data_record(&mut i, &[0, 1]);
    i.on_written(t0);
    feed_egress(&mut e, &rec, t0, usize::MAX);
    assert_eq!(egress_events(&mut e).len(), 2);
    e.close(Reject::TakenOver, "another sender took over this feed");
    let mut out = Vec::new();
    assert!(
        e.poll_transmit(t0 + MS, &mut out),
        "final Ack and Goodbye, without waiting 50 ms"
    );
    assert!(e.is_done());
    assert_eq!(
        egress_events(&mut e),
        vec![(EgressEvent::Closed(End::Closed(Reject::TakenOver)), vec![])]
    );
    feed_ingress(&mut i, &out, t0 + MS);
    let ev = ingress_events(&mut i);
    assert_eq!(ev[0], IngressEvent::Acked(2));
    let IngressEvent::Closed(end) = &ev[1] else {
        panic!("{ev:?}")
    };
    assert_eq!(end.peer_reject(), Some(Reject::TakenOver));
    assert!(!end.is_clean());
}

#[test]
fn the_first_record_proves_the_egress() {
    let t0 = Instant::now();
    // A plain Goodbye in place of the first record: a refusal after our proof.
    let mut i = IngressSession::new(&keys(), false, t0, 0, &[]);
    feed_ingress(&mut i, &Reject::Loop.goodbye_bytes("would loop"), t0);
    let end = closed_ingress(&mut i);
    assert!(
        matches!(end, End::Refused(ref g) if g.reject() == Some(Reject::Loop)),
        "{end:?}"
    );
    // A first record sealed with other keys: this egress does not hold our key.
    let other = kdf::derive(
        Some(&[2; 32]),
        None,
        &kdf::transcript(b"hello", b"challenge"),
    );
    let mut e = EgressSession::new(&other, false, t0, 0, &[]);
    let mut out = Vec::new();
    e.poll_transmit(t0, &mut out);
    let mut i = IngressSession::new(&keys(), false, t0, 0, &[]);
    feed_ingress(&mut i, &out, t0);
    assert_eq!(closed_ingress(&mut i), End::NoProof);
    // A refusal after the client proved itself is sealed, without a Welcome.
    let mut e = EgressSession::new(&keys(), false, t0, 0, &[]);
    e.close(Reject::Loop, "would loop");
    let mut out = Vec::new();
    assert!(e.poll_transmit(t0, &mut out));
    let mut i = IngressSession::new(&keys(), false, t0, 0, &[]);
    feed_ingress(&mut i, &out, t0);
    let end = closed_ingress(&mut i);
    assert!(
        matches!(end, End::Goodbye(ref g) if g.reject() == Some(Reject::Loop)),
        "{end:?}"
    );
}

#[test]
fn a_link_that_cannot_write_what_it_holds_is_stalled() {
    let Pair { mut i, e: _, t0 } = pair(0, 0, 0);
    assert!(
        !i.stalled(t0 + 2 * STALL_AFTER),
        "idle and caught up is not stalled"
    );
    let t1 = t0 + 100 * MS;
    i.set_head(t1, 100);
    let _ = data_record(&mut i, &[0]);
    // The write blocks (a full TCP window): stalled one second after data began to wait.
    assert!(!i.stalled(t1 + STALL_AFTER - MS));
    assert_eq!(
        i.poll_timeout(),
        Some(t1 + STALL_AFTER),
        "the stall has a deadline"
    );
    assert!(i.stalled(t1 + STALL_AFTER));
    i.handle_timeout(t1 + STALL_AFTER);
    assert_eq!(
        i.poll_timeout(),
        Some(t0 + DEAD_AFTER),
        "noted once, no busy loop"
    );
    let t2 = t1 + STALL_AFTER + 100 * MS;
    i.on_written(t2);
    assert!(!i.stalled(t2), "progress clears it");
    assert!(i.stalled(t2 + STALL_AFTER), "99 datagrams still wait");
}

#[test]
fn encrypted_records_carry_the_same_link() {
    let t0 = Instant::now();
    let k = keys();
    let mut e = EgressSession::new(&k, true, t0, 0, &[]);
    let mut i = IngressSession::new(&k, true, t0, 5, &[]);
    let mut out = Vec::new();
    e.poll_transmit(t0, &mut out);
    feed_ingress(&mut i, &out, t0);
    assert!(matches!(
        ingress_events(&mut i)[0],
        IngressEvent::Welcome { .. }
    ));
    i.start(t0, 0);
    let rec = data_record(&mut i, &[0, 1, 2, 3, 4]);
    assert!(
        !rec.windows(5).any(|w| w == b"dgram"),
        "payloads are not readable on the wire"
    );
    feed_egress(&mut e, &rec, t0, 3);
    let got = egress_events(&mut e);
    assert_eq!(got.len(), 5);
    assert_eq!(got[4].1, b"dgram 4");
    // An unencrypting peer cannot read it.
    let mut plain = EgressSession::new(&k, false, t0, 0, &[]);
    feed_egress(&mut plain, &rec, t0, usize::MAX);
    assert!(matches!(closed_egress(&mut plain), End::BadRecord(_)));
}
