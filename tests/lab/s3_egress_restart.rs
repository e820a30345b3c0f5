//! Scenario 3: The London egress SIGKILLed and started again: loss, duplicates, time to flow.

use std::time::Duration;

use crate::common::eventually;

use crate::harness::*;

/// Scenario 3: The London egress SIGKILLed and started again: loss, duplicates, time to flow.
#[test]
fn s3_egress_killed_and_restarted() {
    let Some(lab) = Lab::up("s3", &[], &[]) else {
        return;
    };
    let mut r = lab.two_regions(&[]);
    let rate = 2000;
    let sender = Sender::start(&lab, &[G1], rate, Duration::from_secs(12), Size::Fixed(200));
    std::thread::sleep(Duration::from_secs(4));
    let t_kill = now_ns();
    r.el.signal(libc::SIGKILL);
    r.el.wait(Duration::from_secs(2));
    std::thread::sleep(Duration::from_secs(1));
    let t_restart = now_ns();
    let _el2 = lab.egress("ldn");
    let linked = eventually(Duration::from_secs(15), || {
        lab.m("ldn", &eg("connected_peers")) == 1.0
    });
    let t_linked = now_ns();
    let sent = sender.finish();
    let n = sent.total();
    drained(&lab, &["tyo"], n, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    let got_a = r.ra.finish();
    let a = Tally::of(&sent, &got_a);
    let t = Tally::of(&sent, &r.rt.finish());
    let dc = lab.metrics("dc").unwrap_or_default();
    let ldn = lab.metrics("ldn").unwrap_or_default();
    let flows = first_after(&got_a, t_restart).map(|f| f - t_restart);
    let silent = first_after(&got_a, t_restart)
        .zip(last_before(&got_a, t_kill + 1))
        .map(|(f, l)| f - l);
    let caught = caught_up(&got_a, t_restart, 20).map(|c| c - t_restart);

    eprintln!("FIGURES s3 London egress SIGKILL, restarted 1 s later ({rate}/s, 200 B, 12 s)");
    eprintln!("  {}", a.line("London cust-a"));
    eprintln!("  {}", t.line("Tokyo cust-t"));
    eprintln!(
        "  London silent for {:?} ms; after the restart: link up in {:.0} ms, first datagram in {:?} ms, live again (first datagram under 20 ms old) in {:?} ms",
        silent.map(ms),
        ms(t_linked - t_restart),
        flows.map(ms),
        caught.map(ms)
    );
    eprintln!(
        "  ingress replayed {} reconnects {}; new egress emitted {} duplicates filtered {} gaps {}",
        metric_sum(&dc, "mcast_relay_replayed_total", &[]),
        metric_sum(&dc, "mcast_relay_reconnects_total", &[]),
        metric_in(&ldn, &eg("datagrams_out_total")).unwrap_or(0.0),
        metric_in(&ldn, &eg("duplicates_total")).unwrap_or(0.0),
        metric_in(&ldn, &eg("gaps_total")).unwrap_or(0.0),
    );
    assert!(linked, "the ingress reconnected to the new egress");
    assert_eq!(
        a.lost, 0,
        "London lost nothing: the ingress replayed from its last ack"
    );
    assert_eq!((a.corrupt, a.foreign), (0, 0));
    assert!(
        a.dups <= rate / 2,
        "at most the unacknowledged half second is emitted twice ({})",
        a.dups
    );
    assert_eq!((t.lost, t.dups), (0, 0), "Tokyo did not notice");
    assert!(
        flows.is_some_and(|f| f < 6_000_000_000),
        "the feed flowed again within 6 s of the restart"
    );
}

/// The last arrival received before `t_ns`.
fn last_before(got: &[Arrival], t_ns: u64) -> Option<u64> {
    got.iter().map(|a| a.recv_ns).filter(|&r| r < t_ns).max()
}
