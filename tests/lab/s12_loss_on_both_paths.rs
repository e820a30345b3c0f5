//! Scenario 12: Two datacenter hosts; 1% loss and 1% reordering on all four WAN
//! links, each independently: no gap, duplicate or reordering at the customers.

use std::time::Duration;

use crate::harness::*;

/// Scenario 12: Two datacenter hosts; 1% loss and 1% reordering on all four WAN
/// links, each independently: no gap, duplicate or reordering at the customers.
/// Two groups, mixed sizes; 3 s clean, then 12 s impaired. Each link has its
/// own emulator (its own random stream), so the two copies of a datagram are
/// lost or held back independently.
#[test]
fn s12_loss_and_reordering_on_every_link_of_both_hosts() {
    let Some(lab) = Lab::up_two_dc("s12") else {
        return;
    };
    let r = lab.two_hosts(&[G1, G2], &[]);
    let links: Vec<&str> = HOSTS.iter().flat_map(|h| h.links).collect();
    let rate = 2000;
    let t0 = now_ns();
    let sender = Sender::start(&lab, &[G1, G2], rate, Duration::from_secs(15), Size::Mixed);
    std::thread::sleep(Duration::from_secs(3));
    let before: Vec<_> = links.iter().map(|l| lab.link_stats(l)).collect();
    let t_bad = now_ns();
    for l in &links {
        lab.link(l, &["loss=1", "reorder=1", "reorder_ms=3"]);
    }
    let sent = sender.finish();
    let t_end = now_ns();
    for l in &links {
        lab.link(l, &["loss=0", "reorder=0"]);
    }
    let after: Vec<_> = links.iter().map(|l| lab.link_stats(l)).collect();
    let n = sent.total();
    drained(&lab, &["ldn", "tyo"], n, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    let got = [r.ra.finish(), r.rt.finish()];

    eprintln!(
        "FIGURES s12 1% loss + 1% reordering (held 3 ms) on all four WAN links, independently: {rate}/s over 2 groups, 20-1472 B, 3 s clean then 12 s impaired"
    );
    for (i, (region, side)) in [("London", "ldn"), ("Tokyo", "tyo")].iter().enumerate() {
        let t = Tally::of(&sent, &got[i]);
        eprintln!("  {}", t.line(&format!("{region} whole run")));
        eprintln!(
            "  {region}: clean (after the first 2 s) {}; impaired {}",
            Lat::of(&got[i], t0 + 2_000_000_000, t_bad),
            Lat::of(&got[i], t_bad, t_end)
        );
        eprintln!(
            "  {side} egress: {}; merged-stream gaps {}",
            lab.senders_line(side),
            lab.m(side, &eg("gaps_total"))
        );
        assert_eq!(t.unique, n, "{region}: all arrived");
        assert_eq!(
            (t.lost, t.dups, t.reordered, t.corrupt, t.foreign),
            (0, 0, 0, 0, 0),
            "{region}: no gap, duplicate or reordering reached the customer"
        );
        assert_eq!(lab.m(side, &eg("gaps_total")), 0.0, "{region}: no gap");
    }
    for (i, l) in links.iter().enumerate() {
        let (pkts, lost, held) = link_delta(&before[i], &after[i]);
        eprintln!(
            "  link {l}: the emulator dropped {lost} and held back {held} of {pkts} packets (both directions, impaired part)"
        );
        assert!(
            lost > 0 && held > 0,
            "{l}: the link really lost and reordered"
        );
    }
    let reconnects: f64 = HOSTS
        .iter()
        .map(|h| {
            metric_sum(
                &lab.metrics(h.ns).unwrap_or_default(),
                "mcast_relay_reconnects_total",
                &[],
            )
        })
        .sum();
    eprintln!("  ingress reconnects (both hosts) {reconnects}");
}
