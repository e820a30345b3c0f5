//! Scenario 4: The dc-ldn link blackholed for 5 s: detection, recovery, loss.

use std::time::Duration;

use crate::common::eventually;

use crate::harness::*;

/// Scenario 4: The dc-ldn link blackholed for 5 s: detection, recovery, loss.
#[test]
fn s4_link_cut_for_five_seconds() {
    let Some(lab) = Lab::up("s4", &[], &[]) else {
        return;
    };
    let r = lab.two_regions(&[]);
    let rate = 2000;
    let sender = Sender::start(&lab, &[G1], rate, Duration::from_secs(16), Size::Fixed(200));
    std::thread::sleep(Duration::from_secs(3));
    let t_cut = now_ns();
    lab.link("ldn", &["cut=1"]);
    let (mut det_in, mut det_eg) = (None, None);
    while now_ns() - t_cut < 5_000_000_000 {
        if det_in.is_none() && lab.m("dc", &ing("connected_peers")) < 2.0 {
            det_in = Some(now_ns() - t_cut);
        }
        if det_eg.is_none() && lab.m("ldn", &eg("connected_peers")) < 1.0 {
            det_eg = Some(now_ns() - t_cut);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let t_restore = now_ns();
    lab.link("ldn", &["cut=0"]);
    let cut_stats = lab.link_stats("ldn");
    let linked = eventually(Duration::from_secs(15), || {
        lab.m("ldn", &eg("connected_peers")) == 1.0 && lab.m("dc", &ing("connected_peers")) == 2.0
    });
    let t_linked = now_ns();
    let sent = sender.finish();
    let n = sent.total();
    drained(&lab, &["ldn", "tyo"], n, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    let got_a = r.ra.finish();
    let a = Tally::of(&sent, &got_a);
    let t = Tally::of(&sent, &r.rt.finish());
    let flows = first_after(&got_a, t_restore).map(|f| f - t_restore);
    let caught = caught_up(&got_a, t_restore, 20).map(|c| c - t_restore);
    let dc = lab.metrics("dc").unwrap_or_default();
    let ldn = lab.metrics("ldn").unwrap_or_default();
    let blackholed: u64 = ["a_to_b", "b_to_a"]
        .iter()
        .map(|d| cut_stats[d]["cut"].as_u64().unwrap_or(0))
        .sum();

    eprintln!("FIGURES s4 dc-ldn link blackholed for 5 s ({rate}/s, 200 B, 16 s)");
    eprintln!("  {}", a.line("London cust-a"));
    eprintln!("  {}", t.line("Tokyo cust-t"));
    eprintln!(
        "  detected by the ingress after {:?} ms, by the egress after {:?} ms; {blackholed} packets blackholed",
        det_in.map(ms),
        det_eg.map(ms)
    );
    eprintln!(
        "  after the restore: link up in {:.0} ms, first datagram in {:?} ms, live again (first datagram under 20 ms old) in {:?} ms",
        ms(t_linked - t_restore),
        flows.map(ms),
        caught.map(ms)
    );
    eprintln!(
        "  ingress replayed {} reconnects {}; egress duplicates filtered {} gaps {}",
        metric_sum(&dc, "mcast_relay_replayed_total", &[]),
        metric_sum(&dc, "mcast_relay_reconnects_total", &[]),
        metric_in(&ldn, &eg("duplicates_total")).unwrap_or(0.0),
        metric_in(&ldn, &eg("gaps_total")).unwrap_or(0.0),
    );
    assert!(blackholed > 0, "the emulator did cut the link");
    assert!(linked, "the link came back");
    assert!(
        det_in.is_some_and(|d| d < 4_000_000_000),
        "the ingress noticed within 4 s"
    );
    assert!(
        det_eg.is_some_and(|d| d < 4_000_000_000),
        "the egress noticed within 4 s"
    );
    assert_eq!(
        (a.lost, a.dups, a.reordered, a.corrupt),
        (0, 0, 0, 0),
        "London: nothing lost, nothing twice"
    );
    assert_eq!((t.lost, t.dups), (0, 0), "Tokyo did not notice");
    assert!(
        caught.is_some_and(|c| c < 10_000_000_000),
        "live again within 10 s of the restore"
    );
}

fn ing(name: &str) -> String {
    format!(r#"mcast_relay_{name}{{feed="prod",role="ingress"}}"#)
}
