//! Scenario 11: Two datacenter hosts; dc's link to London blackholed for 5 s:
//! London loses nothing, and its latency steps no further than dc2's path alone.

use std::time::Duration;

use crate::common::eventually;

use crate::harness::*;

/// Scenario 11: Two datacenter hosts; dc's link to London blackholed for 5 s:
/// London loses nothing, and its latency steps no further than dc2's path alone.
/// Each path also runs on its own (unmerged egresses fed by one host each,
/// `TwoHosts` with `alone`), so the merged stream is compared, second by
/// second, with what dc2's path delivers by itself at the same time.
#[test]
fn s11_one_dc_hosts_link_cut_for_five_seconds() {
    let Some(lab) = Lab::up_two_dc("s11") else {
        return;
    };
    let r = lab.two_hosts(&[G1], &["ldn"]);
    let rate = 2000;
    let sender = Sender::start(&lab, &[G1], rate, Duration::from_secs(16), Size::Fixed(200));
    std::thread::sleep(Duration::from_secs(4));
    let t_cut = now_ns();
    lab.link(HOSTS[0].links[0], &["cut=1"]);
    let dc_a = r#"mcast_relay_sender_connected{feed="prod",sender="dc-a"}"#;
    let mut noticed = None;
    while now_ns() - t_cut < 5_000_000_000 {
        if noticed.is_none() && lab.m("ldn", dc_a) == 0.0 {
            noticed = Some(now_ns() - t_cut);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let t_restore = now_ns();
    lab.link(HOSTS[0].links[0], &["cut=0"]);
    let cut_stats = lab.link_stats(HOSTS[0].links[0]);
    let back = eventually(Duration::from_secs(15), || lab.m("ldn", dc_a) == 1.0);
    let t_back = now_ns();
    let sent = sender.finish();
    let t_end = now_ns();
    let n = sent.total();
    drained(&lab, &["ldn", "tyo"], n, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    let got_a = r.ra.finish();
    let got_t = r.rt.finish();
    let merged = of_group(&got_a, G1, G1);
    let alone: Vec<Vec<Arrival>> = HOSTS
        .iter()
        .map(|h| of_group(&got_a, h.alone_g1, G1))
        .collect();
    let a = Tally::of(&sent, &merged);
    let t = Tally::of(&sent, &of_group(&got_t, G1, G1));
    let blackholed: u64 = ["a_to_b", "b_to_a"]
        .iter()
        .map(|d| cut_stats[d]["cut"].as_u64().unwrap_or(0))
        .sum();
    let t0 = merged.iter().map(|x| x.send_ns).min().unwrap_or(t_cut);
    let rel = |t: u64| (t as f64 - t_cut as f64) / 1e9;

    eprintln!(
        "FIGURES s11 dc's link to London (dc-a's path) blackholed for 5 s; dc2's (dc-b, 2 ms) carries on ({rate}/s, 200 B, 16 s)"
    );
    eprintln!("  {}", a.line("London cust-a (merged)"));
    eprintln!("  {}", t.line("Tokyo cust-t (merged)"));
    eprintln!(
        "  London egress saw dc-a go after {:?} ms; {blackholed} packets blackholed; dc-a back {:.0} ms after the restore",
        noticed.map(ms),
        ms(t_back - t_restore)
    );
    eprintln!("  London latency by send time, merged | dc-a's path alone | dc-b's path alone:");
    let phases = [
        ("before", t0 + 1_000_000_000, t_cut),
        ("cut", t_cut, t_restore),
        ("after", t_restore, t_end),
    ];
    for (name, from, to) in phases {
        eprintln!(
            "    {name:6} merged {} | dc-a {} | dc-b {}",
            Lat::of(&merged, from, to),
            Lat::of(&alone[0], from, to),
            Lat::of(&alone[1], from, to)
        );
    }
    // Second by second, around the cut: the merged stream against the better
    // of the two paths alone.
    let mut worst: (f64, f64) = (f64::MIN, f64::MIN);
    let step = Duration::from_secs(1);
    let m = series(&merged, t_cut - 3_000_000_000, t_end, step);
    let pa = series(&alone[0], t_cut - 3_000_000_000, t_end, step);
    let pb = series(&alone[1], t_cut - 3_000_000_000, t_end, step);
    for ((m, a), b) in m.iter().zip(&pa).zip(&pb) {
        if m.1.n < 100 {
            continue;
        }
        let best = (a.1.p50.min(b.1.p50), a.1.p99.min(b.1.p99));
        worst = (worst.0.max(m.1.p50 - best.0), worst.1.max(m.1.p99 - best.1));
        eprintln!(
            "    {:+5.1} s  merged p50 {:6.2} p99 {:7.2} | dc-a p50 {:8.2} p99 {:8.2} | dc-b p50 {:6.2} p99 {:7.2}",
            rel(m.0),
            m.1.p50,
            m.1.p99,
            a.1.p50,
            a.1.p99,
            b.1.p50,
            b.1.p99
        );
    }
    let (before, during) = (
        Lat::of(&merged, t0 + 1_000_000_000, t_cut),
        Lat::of(&merged, t_cut, t_restore),
    );
    let b_before = Lat::of(&alone[1], t0 + 1_000_000_000, t_cut);
    eprintln!(
        "  the step: the merged p50 rose {:+.2} ms during the cut; dc-b's path alone was {:+.2} ms slower than the merged stream before it",
        during.p50 - before.p50,
        b_before.p50 - before.p50
    );
    eprintln!(
        "  merged minus the better path alone, worst second: p50 {:+.2} ms, p99 {:+.2} ms (allowed at p50: {} ms, this build)",
        worst.0,
        worst.1,
        slack_ms().0
    );
    eprintln!(
        "  ldn egress: {}; merged-stream gaps {}",
        lab.senders_line("ldn"),
        lab.m("ldn", &eg("gaps_total"))
    );
    assert!(blackholed > 0, "the emulator did cut the link");
    assert!(back, "dc-a came back to London");
    assert_eq!(a.unique, n, "London: every datagram arrived");
    assert_eq!(
        (a.lost, a.dups, a.reordered, a.corrupt, a.foreign),
        (0, 0, 0, 0, 0),
        "London: 0 gaps, 0 duplicates, in order"
    );
    assert_eq!(
        (t.lost, t.dups, t.reordered),
        (0, 0, 0),
        "Tokyo did not notice"
    );
    let (p50_slack, p99_slack) = slack_ms();
    assert!(
        worst.0 < p50_slack,
        "no second of the merged stream is slower at p50 than the better path alone by more than {p50_slack} ms: {worst:?}"
    );
    assert!(
        during.p50 - before.p50 <= b_before.p50 - before.p50 + p50_slack,
        "the merged p50 stepped by no more than the other path is slower ({:+.2} against {:+.2} ms)",
        during.p50 - before.p50,
        b_before.p50 - before.p50
    );
    let b_cut = Lat::of(&alone[1], t_cut, t_restore);
    assert!(
        during.p99 <= b_cut.p99 + p99_slack.max(b_cut.p99 * 0.25),
        "during the cut the merged p99 ({:.2} ms) is dc-b's path's alone ({:.2} ms): a merge that waited for the cut path would show its --merge-wait, 100 ms",
        during.p99,
        b_cut.p99
    );
    assert_eq!(lab.m("ldn", &eg("gaps_total")), 0.0);
}
