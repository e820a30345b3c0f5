//! Scenario 10: Two datacenter hosts carry the feed; one is killed -9 mid-stream
//! (and started again later): London and Tokyo lose nothing and get nothing twice.

use std::time::Duration;

use crate::harness::*;

/// Scenario 10: Two datacenter hosts carry the feed; one is killed -9 mid-stream
/// (and started again later): London and Tokyo lose nothing and get nothing twice.
/// The host killed is dc (dc-a), whose links are the shorter: its copies were
/// the ones emitted, so the merge has to carry on with dc2's at once.
#[test]
fn s10_one_dc_host_killed() {
    let Some(lab) = Lab::up_two_dc("s10") else {
        return;
    };
    let mut r = lab.two_hosts(&[G1], &[]);
    let rate = 2000;
    let sender = Sender::start(&lab, &[G1], rate, Duration::from_secs(14), Size::Mixed);
    std::thread::sleep(Duration::from_secs(4));
    let first_before = lab.sender_m("ldn", "first", "dc-a");
    let t_kill = now_ns();
    r.ing[0].signal(libc::SIGKILL);
    r.ing[0].wait(Duration::from_secs(2));
    // How soon each egress saw dc-a go (the kernel closed its connections).
    let (mut gone_l, mut gone_t) = (None, None);
    while now_ns() - t_kill < 4_000_000_000 {
        let dc_a = r#"mcast_relay_sender_connected{feed="prod",sender="dc-a"}"#;
        if gone_l.is_none() && lab.m("ldn", dc_a) == 0.0 {
            gone_l = Some(now_ns() - t_kill);
        }
        if gone_t.is_none() && lab.m("tyo", dc_a) == 0.0 {
            gone_t = Some(now_ns() - t_kill);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // dc started again: it rejoins the merge.
    let t_restart = now_ns();
    r.ing[0] = lab.host_ingress(&HOSTS[0], &[G1], &[]);
    lab.wait_senders(&["ldn", "tyo"], 2);
    let back = now_ns() - t_restart;
    let sent = sender.finish();
    let t_end = now_ns();
    let n = sent.total();
    assert!(
        drained(&lab, &["ldn", "tyo"], n, Duration::from_secs(10)),
        "the egresses did not emit all {n}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let got = [r.ra.finish(), r.rt.finish()];
    let tally = [Tally::of(&sent, &got[0]), Tally::of(&sent, &got[1])];
    let t0 = got[0].iter().map(|a| a.send_ns).min().unwrap_or(t_kill);
    let first_after_restart = lab.sender_m("ldn", "first", "dc-a");

    eprintln!(
        "FIGURES s10 dc (dc-a) killed -9 after 4 s, started again 4 s later; dc2 (dc-b) carries on ({rate}/s, 20-1472 B, 14 s)"
    );
    for (i, region) in ["London cust-a", "Tokyo cust-t"].iter().enumerate() {
        eprintln!("  {}", tally[i].line(region));
        eprintln!(
            "  {region}: latency with both hosts (after the first 2 s) {}; dc-b alone (after the kill) {}; both again (from 1 s after the restart) {}; longest silence around the kill {:.1} ms",
            Lat::of(&got[i], t0 + 2_000_000_000, t_kill),
            Lat::of(&got[i], t_kill, t_restart),
            Lat::of(&got[i], t_restart + 1_000_000_000, t_end),
            ms(silence(
                &got[i],
                t_kill - 500_000_000,
                t_kill + 1_000_000_000
            ))
        );
    }
    eprintln!(
        "  the egresses saw dc-a go after {:?} ms (London), {:?} ms (Tokyo); the restarted dc-a connected to both in {:.0} ms",
        gone_l.map(ms),
        gone_t.map(ms),
        ms(back)
    );
    for side in ["ldn", "tyo"] {
        eprintln!(
            "  {side} egress: {}; merged-stream gaps {}",
            lab.senders_line(side),
            lab.m(side, &eg("gaps_total"))
        );
    }
    for (i, region) in ["London", "Tokyo"].iter().enumerate() {
        let t = &tally[i];
        assert_eq!(t.unique, n, "{region}: every datagram arrived");
        assert_eq!(
            (t.lost, t.dups, t.reordered, t.corrupt, t.foreign),
            (0, 0, 0, 0, 0),
            "{region}: 0 gaps, 0 duplicates, in order, byte for byte"
        );
    }
    assert!(
        gone_l.is_some() && gone_t.is_some(),
        "both egresses saw dc-a go"
    );
    assert!(
        first_before > 0.0 && first_after_restart > first_before,
        "dc-a's copies were emitted before the kill and again after its restart ({first_before} then {first_after_restart})"
    );
    for side in ["ldn", "tyo"] {
        assert_eq!(lab.m(side, &eg("gaps_total")), 0.0, "{side}: no gap");
    }
}

/// The longest time without an arrival between `from` and `to`.
fn silence(got: &[Arrival], from: u64, to: u64) -> u64 {
    let mut t: Vec<u64> = got
        .iter()
        .map(|a| a.recv_ns)
        .filter(|&r| r >= from && r <= to)
        .collect();
    t.sort_unstable();
    let mut prev = from;
    let mut worst = 0;
    for r in t {
        worst = worst.max(r - prev);
        prev = r;
    }
    worst.max(to - prev)
}
