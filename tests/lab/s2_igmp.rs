//! Scenario 2: IGMP as the customers speak it: only v2 reports; a leave stops delivery.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::eventually;

use crate::harness::*;

/// Scenario 2: IGMP as the customers speak it: only v2 reports; a leave stops delivery.
#[test]
fn s2_igmp_only_v2_reports_and_a_leave_stops_delivery() {
    // A general query every 12 s here (120 s from a real TGW), so one falls in the
    // run; cust-a's first join comes before it has heard any query (lab/up).
    let Some(lab) = Lab::up(
        "s2",
        &["tcpdump", "nft"],
        &[("LAB_QUERY_INTERVAL_CS", "1200")],
    ) else {
        return;
    };
    let _el = lab.egress("ldn");
    let _ing = lab.ingress(&[G1], &["ldn"], &[]);
    lab.wait_links(&["ldn"]);
    let (mut cap_br, br_file) = lab.capture("vl", "br0", "igmp", "s2-br0.pcap");
    let (mut cap_a, a_file) = lab.capture("vl", "p-a", "udp or igmp", "s2-pa.pcap");
    let t_join = now_ns();
    let ra = Receiver::start(&lab, "ca", CA, &[G1]);
    lab.wait_member("vl", "p-a", &[G1]);
    let joined_in = now_ns() - t_join;
    let sender = Sender::start(&lab, &[G1], 1000, Duration::from_secs(15), Size::Fixed(200));
    std::thread::sleep(Duration::from_secs(11));
    let t_leave = now_ns();
    let got = ra.finish();
    let t_closed = now_ns();
    assert!(
        eventually(Duration::from_secs(5), || !lab.member("vl", "p-a", G1)),
        "the bridge still has cust-a in {G1} after its leave: {:?}",
        lab.mdb("vl")
    );
    let t_gone = now_ns();
    let sent = sender.finish();
    std::thread::sleep(Duration::from_millis(300));
    cap_br.stop(Duration::from_secs(3));
    cap_a.stop(Duration::from_secs(3));

    // IGMP seen on the bridge: (type, source) of each message.
    let mut kinds: BTreeMap<(u8, String), u64> = BTreeMap::new();
    let mut queries_v2 = 0;
    let mut queries_v3 = 0;
    let mut leave_at = None;
    for (ts, f) in pcap_frames(&br_file) {
        let Some((src, _, 2, igmp)) = ipv4(&f) else {
            continue;
        };
        let Some(&kind) = igmp.first() else { continue };
        if kind == 0x11 {
            // v3 queries are at least 12 bytes; v2 queries are 8.
            if igmp.len() >= 12 {
                queries_v3 += 1
            } else {
                queries_v2 += 1
            }
        }
        if kind == 0x17 && src == CA {
            leave_at.get_or_insert(ts);
        }
        *kinds.entry((kind, src.to_string())).or_default() += 1;
    }
    let from_customers = |k: u8| -> u64 {
        kinds
            .iter()
            .filter(|((kind, src), _)| *kind == k && src.starts_with("10.201.1."))
            .map(|(_, n)| n)
            .sum()
    };
    let (v1, v2, v3, leaves) = (
        from_customers(0x12),
        from_customers(0x16),
        from_customers(0x22),
        from_customers(0x17),
    );
    // UDP on cust-a's bridge port, before the leave and after the entry went.
    let mut before = 0;
    let mut after_gone = 0;
    let mut after_leave = 0;
    for (ts, f) in pcap_frames(&a_file) {
        if let Some((_, dst, 17, _)) = ipv4(&f)
            && dst.is_multicast()
        {
            if ts < t_leave {
                before += 1;
            }
            if ts > t_closed + 50_000_000 {
                after_leave += 1;
            }
            if ts > t_gone {
                after_gone += 1;
            }
        }
    }
    // What cust-a's port carried of IGMP: queries to it, its reports and leave.
    let mut a_igmp = Vec::new();
    for (ts, f) in pcap_frames(&a_file) {
        if let Some((src, _, 2, igmp)) = ipv4(&f)
            && let Some(&kind) = igmp.first()
        {
            let what = match (kind, igmp.len() >= 12) {
                (0x11, false) => "v2 query".to_string(),
                (0x11, true) => "v3 query".to_string(),
                (0x16, _) => "v2 report".to_string(),
                (0x22, _) => "v3 report".to_string(),
                (0x17, _) => "v2 leave".to_string(),
                (k, _) => format!("type {k:#04x}"),
            };
            a_igmp.push(format!(
                "{what} from {src} at {:+.2} s",
                (ts as f64 - t_join as f64) / 1e9
            ));
        }
    }
    let a = Tally::of(&sent, &got);
    let sent_after = sent.after(t_closed);

    eprintln!("FIGURES s2 IGMP (London VPC bridge, querier v2, fast leave on customer ports)");
    eprintln!(
        "  bridge saw from customers: v2 reports (0x16) {v2}, v3 reports (0x22) {v3}, v1 reports {v1}, v2 leaves (0x17) {leaves}; querier's general queries v2 {queries_v2} v3 {queries_v3}"
    );
    let by_kind: Vec<String> = kinds
        .iter()
        .map(|((k, src), n)| format!("{k:#04x} from {src}: {n}"))
        .collect();
    eprintln!(
        "  all IGMP on the bridge (0.0.0.0 is the bridge itself: its queries and its own 224.0.0.106 report): {}",
        by_kind.join(", ")
    );
    eprintln!(
        "  on cust-a's port, from its join (0 s): {}",
        a_igmp.join("; ")
    );
    eprintln!(
        "  cust-a: member {:.1} ms after joining; leave sent {:?} ms after the socket closed; mdb entry gone {:.1} ms after",
        ms(joined_in),
        leave_at.map(|l: u64| ms(l.saturating_sub(t_leave))),
        ms(t_gone - t_leave)
    );
    eprintln!(
        "  UDP on cust-a's port: {before} before the leave, {after_leave} from 50 ms after it, {after_gone} after the entry went, while {sent_after} more were sent"
    );
    eprintln!("  {}", a.line("cust-a while joined"));
    assert!(v2 >= 1, "the join was an IGMPv2 report");
    assert_eq!(v3, 0, "no IGMPv3 report");
    assert_eq!(v1, 0, "no IGMPv1 report");
    assert!(leaves >= 1, "cust-a left with an IGMPv2 leave");
    assert!(queries_v3 == 0, "the querier speaks v2");
    assert!(before > 0 && a.unique > 0, "delivered while joined");
    assert_eq!((a.dups, a.corrupt, a.foreign), (0, 0, 0));
    assert!(
        sent_after >= 1000,
        "the feed went on after the leave ({sent_after})"
    );
    assert_eq!(
        after_gone, 0,
        "nothing on cust-a's port after its entry went"
    );
    assert_eq!(
        after_leave, 0,
        "nothing on cust-a's port 50 ms after the leave"
    );
    assert!(
        t_gone - t_leave < 2_000_000_000,
        "the leave took effect within 2 s"
    );
}
