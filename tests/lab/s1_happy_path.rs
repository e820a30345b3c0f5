//! Scenario 1: Both regions, every datagram byte for byte; customer B, not joined, gets none.

use std::net::{SocketAddrV4, UdpSocket};
use std::time::Duration;

use crate::harness::*;

/// Scenario 1: Both regions, every datagram byte for byte; customer B, not joined, gets none.
#[test]
fn s1_happy_path_every_datagram_byte_identical_in_both_regions() {
    let Some(lab) = Lab::up("s1", &["tcpdump"], &[]) else {
        return;
    };
    let _el = lab.egress("ldn");
    let _et = lab.egress("tyo");
    let _ing = lab.ingress(&[G1, G2], &["ldn", "tyo"], &[]);
    let up = lab.wait_links(&["ldn", "tyo"]);
    let (mut cap_b, cap_b_file) = lab.capture("cb", "eth0", "udp", "s1-cb.pcap");
    let ra = Receiver::start(&lab, "ca", CA, &[G1, G2]);
    let rt = Receiver::start(&lab, "ct", CT, &[G1, G2]);
    lab.wait_member("vl", "p-a", &[G1, G2]);
    lab.wait_member("vt", "p-t", &[G1, G2]);

    let rate = 2000;
    let sender = Sender::start(&lab, &[G1, G2], rate, Duration::from_secs(6), Size::Mixed);
    // A unicast datagram from the London egress host to B: proof that B's
    // capture sees UDP when there is UDP for B.
    in_ns(&lab.ns("ldn"), || {
        let s = UdpSocket::bind(SocketAddrV4::new(LDN_VPC, 0)).unwrap();
        s.send_to(b"control", SocketAddrV4::new(CB, 6100)).unwrap();
    });
    let sent = sender.finish();
    let n = sent.total();
    assert!(
        drained(&lab, &["ldn", "tyo"], n, Duration::from_secs(10)),
        "the egresses did not emit all {n}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let got_a = ra.finish();
    let got_t = rt.finish();
    let a = Tally::of(&sent, &got_a);
    let t = Tally::of(&sent, &got_t);
    std::thread::sleep(Duration::from_millis(200));
    cap_b.stop(Duration::from_secs(3));
    let frames = pcap_frames(&cap_b_file);
    let mut b_mcast = 0;
    let mut b_control = 0;
    for (_, f) in &frames {
        if let Some((_, dst, 17, _)) = ipv4(f) {
            if dst.is_multicast() {
                b_mcast += 1;
            } else if dst == CB {
                b_control += 1;
            }
        }
    }
    let b_member = lab.mdb("vl").iter().any(|(p, _)| p == "p-b");

    eprintln!("FIGURES s1 happy path ({rate}/s over 2 groups, 20-1472 B, 6 s; links up {up:?})");
    eprintln!("  {}", a.line("London cust-a"));
    eprintln!("  {}", t.line("Tokyo cust-t"));
    eprintln!(
        "  steady state (after the first 2 s, once TCP's window has opened): London {}; Tokyo {}",
        steady(&sent, &got_a, 2),
        steady(&sent, &got_t, 2)
    );
    eprintln!(
        "  London cust-b (not joined): {b_mcast} multicast datagrams on its wire; the unicast control seen {b_control} time(s)"
    );
    eprintln!(
        "  egress out: London {} Tokyo {}; ingress drops {}",
        lab.m("ldn", &eg("datagrams_out_total")),
        lab.m("tyo", &eg("datagrams_out_total")),
        metric_sum(
            &lab.metrics("dc").unwrap_or_default(),
            "mcast_relay_drops_total",
            &[]
        )
    );
    for (who, x) in [("London", &a), ("Tokyo", &t)] {
        assert_eq!(x.unique, n, "{who}: every datagram arrived");
        assert_eq!(
            (x.lost, x.dups, x.reordered, x.corrupt, x.foreign),
            (0, 0, 0, 0, 0),
            "{who}: byte for byte, once, in order"
        );
    }
    assert_eq!(
        b_control, 1,
        "B's capture works (it saw the unicast control)"
    );
    assert_eq!(b_mcast, 0, "B joined nothing and got nothing");
    assert!(!b_member, "B is in no group of the bridge");
    assert!(
        t.pct_ms(0.5) > 100.0,
        "the Tokyo path carries its 115 ms (p50 {:.1} ms)",
        t.pct_ms(0.5)
    );
}

/// Latency p50/p99/max of the datagrams sent from `skip_s` seconds after the first.
fn steady(sent: &Sent, got: &[Arrival], skip_s: u64) -> String {
    let t0 = got.iter().map(|a| a.send_ns).min().unwrap_or(0) + skip_s * 1_000_000_000;
    let later: Vec<Arrival> = got.iter().filter(|a| a.send_ns >= t0).cloned().collect();
    let t = Tally::of(sent, &later);
    format!(
        "p50 {:.2} p99 {:.2} max {:.2} ms",
        t.pct_ms(0.5),
        t.pct_ms(0.99),
        t.pct_ms(1.0)
    )
}
