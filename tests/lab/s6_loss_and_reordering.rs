//! Scenario 6: 1% loss and 1% reordering on the WAN links: customers see neither;

use std::time::Duration;

use crate::harness::*;

/// Scenario 6: 1% loss and 1% reordering on the WAN links: customers see neither;
/// the latency it costs, on the 1 ms London link (the scenario) and on the
/// 115 ms Tokyo link (where a retransmission costs a round trip). One stream:
/// 10 s clean, then 10 s impaired, so TCP is warm in both halves.
#[test]
fn s6_loss_and_reordering_on_the_wan_links() {
    let Some(lab) = Lab::up("s6", &[], &[]) else {
        return;
    };
    let r = lab.two_regions(&[]);
    let rate = 2000;
    let t0 = now_ns();
    let sender = Sender::start(&lab, &[G1], rate, Duration::from_secs(20), Size::Fixed(200));
    std::thread::sleep(Duration::from_secs(10));
    let before = [lab.link_stats("ldn"), lab.link_stats("tyo")];
    let t_bad = now_ns();
    for l in ["ldn", "tyo"] {
        lab.link(l, &["loss=1", "reorder=1", "reorder_ms=3"]);
    }
    let sent = sender.finish();
    let t_end = now_ns();
    for l in ["ldn", "tyo"] {
        lab.link(l, &["loss=0", "reorder=0"]);
    }
    let after = [lab.link_stats("ldn"), lab.link_stats("tyo")];
    drained(&lab, &["ldn", "tyo"], sent.total(), Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    let got = [r.ra.finish(), r.rt.finish()];
    let delta = |i: usize, k: &str| -> u64 {
        ["a_to_b", "b_to_a"]
            .iter()
            .map(|d| after[i][d][k].as_u64().unwrap_or(0) - before[i][d][k].as_u64().unwrap_or(0))
            .sum()
    };
    let dc = lab.metrics("dc").unwrap_or_default();

    eprintln!(
        "FIGURES s6 1% loss + 1% reordering (held 3 ms) on both WAN links: {rate}/s, 200 B, 10 s clean then 10 s impaired"
    );
    for (i, (region, link)) in [("London", "dc-ldn, 1 ms"), ("Tokyo", "dc-tyo, 115 ms")]
        .iter()
        .enumerate()
    {
        let t = Tally::of(&sent, &got[i]);
        eprintln!("  {}", t.line(&format!("{region} ({link}) whole run")));
        eprintln!(
            "  {region}: clean (after the first 2 s) {}; impaired {}",
            window(&got[i], t0 + 2_000_000_000, t_bad),
            window(&got[i], t_bad, t_end)
        );
        eprintln!(
            "  {region}: the emulator dropped {} and held back {} of {} packets (both directions, impaired half)",
            delta(i, "lost"),
            delta(i, "held_back"),
            delta(i, "in")
        );
        assert!(
            delta(i, "lost") > 0 && delta(i, "held_back") > 0,
            "{region}: the link really lost and reordered"
        );
        assert_eq!(t.unique, sent.total(), "{region}: all arrived");
        assert_eq!(
            (t.lost, t.dups, t.reordered, t.corrupt, t.foreign),
            (0, 0, 0, 0, 0),
            "{region}: no loss, duplicate or reordering reached the customer"
        );
    }
    eprintln!(
        "  ingress reconnects {}",
        metric_sum(&dc, "mcast_relay_reconnects_total", &[])
    );
    assert_eq!(
        metric_sum(&dc, "mcast_relay_reconnects_total", &[]),
        0.0,
        "TCP carried it without a reconnect"
    );
}

/// Latency of the datagrams sent between `from` and `to`.
fn window(got: &[Arrival], from: u64, to: u64) -> String {
    let mut v: Vec<u64> = got
        .iter()
        .filter(|a| a.seq.is_some() && a.send_ns >= from && a.send_ns < to)
        .map(|a| a.recv_ns.saturating_sub(a.send_ns) / 1000)
        .collect();
    v.sort_unstable();
    if v.is_empty() {
        return "no datagrams".into();
    }
    let q = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize] as f64 / 1000.0;
    format!(
        "latency ms p50 {:.2} p99 {:.2} p99.9 {:.2} max {:.2} ({} datagrams)",
        q(0.5),
        q(0.99),
        q(0.999),
        q(1.0),
        v.len()
    )
}
