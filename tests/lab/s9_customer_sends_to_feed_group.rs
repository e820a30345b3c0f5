//! Scenario 9: A customer sends to the feed's groups. Another customer, behind the
//! receive filter the customer module builds, gets none of it and the whole real
//! feed; without that filter it gets the customer's datagrams too.
//!
//! In a Transit Gateway multicast domain with IGMPv2 (static sources off) any
//! ENI in an associated subnet may send to a group, and the gateway forwards it
//! to every member; here the London VPC bridge does the same. What keeps the
//! datagrams out is each receiver's security group
//! (deploy/terraform/modules/customer-receiver): inbound only IGMP from
//! 0.0.0.0/32 and the feed's UDP ports from `relay_source_cidrs`; outbound only
//! IGMP to 224.0.0.2/32 and the feed groups; everything else dropped, replies to
//! what the host sent allowed (security groups are stateful). [`sg_ruleset`]
//! builds the same rules in nftables in customer B's namespace.

use std::collections::HashSet;
use std::io::Write;
use std::net::{SocketAddrV4, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

/// The relay's source range as a customer's security group names it. In AWS it
/// is the relay VPC's CIDR, which no customer VPC may overlap (the operator and
/// the module refuse one that does). The lab has one /24 for the London VPC,
/// relay and customers alike, so the range that holds the egress (10.201.1.1)
/// and no customer is this /29 (the module takes /16 to /28: a VPC's sizes).
const RELAY_SOURCE_CIDR: &str = "10.201.1.0/29";
/// The nftables table that stands in for B's security group.
const TABLE: &str = "sg_receiver";

/// `relay_source_cidrs`, `feed_ports` and `feed_groups` of the customer module,
/// as nftables rules: each rule names the Terraform resource it stands for.
fn sg_ruleset(relay_cidr: &str, feed_ports: &[u16], feed_groups: &str) -> String {
    let ports: Vec<String> = feed_ports.iter().map(u16::to_string).collect();
    let ports = ports.join(", ");
    format!(
        r#"table ip {TABLE} {{
    chain input {{
        type filter hook input priority 0; policy drop;
        ct state established,related accept
        iif "lo" accept
        # aws_vpc_security_group_ingress_rule.igmp_query: IGMP from 0.0.0.0/32
        ip saddr 0.0.0.0/32 ip protocol igmp accept
        # aws_vpc_security_group_ingress_rule.feed: UDP to each feed port from the relay's range
        ip saddr {relay_cidr} udp dport {{ {ports} }} accept
        # nothing else comes in (a security group's implicit deny); counted to show what it stopped
        udp dport {{ {ports} }} counter drop
    }}
    chain output {{
        type filter hook output priority 0; policy drop;
        ct state established,related accept
        oif "lo" accept
        # aws_vpc_security_group_egress_rule.igmp: reports to the groups, leaves to 224.0.0.2
        ip daddr {{ 224.0.0.2/32, {feed_groups} }} ip protocol igmp accept
    }}
}}
"#
    )
}

/// The filter in one namespace, removed when dropped (failed test or not).
struct SgFilter {
    ns: String,
}

impl SgFilter {
    fn install(ns: &str, ruleset: &str) -> SgFilter {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run nft");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ruleset.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "nft -f in {ns}: {}\n{ruleset}",
            String::from_utf8_lossy(&out.stderr)
        );
        SgFilter { ns: ns.to_string() }
    }

    fn nft(ns: &str, args: &[&str]) -> (bool, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "nft"])
            .args(args)
            .output()
            .expect("run nft");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// Packets the final `counter drop` took: UDP to the feed ports from outside
    /// the relay's range.
    fn dropped(&self) -> u64 {
        let (_, text) = Self::nft(&self.ns, &["list", "table", "ip", TABLE]);
        text.split("counter packets ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    fn present(ns: &str) -> bool {
        Self::nft(ns, &["list", "tables"]).1.contains(TABLE)
    }
}

impl Drop for SgFilter {
    fn drop(&mut self) {
        let _ = Self::nft(&self.ns, &["delete", "table", "ip", TABLE]);
    }
}

/// Customer A's host sends `n` datagrams of 200 bytes, `rate` a second, round
/// robin to `groups`, from its own address: a header of its own ("CUST", the
/// phase, a sequence) and pseudo-random bytes. Returns their digests.
fn customer_sends(lab: &Lab, phase: u8, groups: &[&str], rate: u64, n: u64) -> HashSet<u64> {
    let groups: Vec<SocketAddrV4> = groups.iter().map(|g| ga(g)).collect();
    in_ns(&lab.ns("ca"), || {
        let s = UdpSocket::bind(SocketAddrV4::new(CA, 0)).unwrap();
        let sock = socket2::SockRef::from(&s);
        sock.set_multicast_if_v4(&CA).unwrap();
        sock.set_multicast_ttl_v4(1).unwrap();
        sock.set_multicast_loop_v4(false).unwrap();
        let mut sent = HashSet::new();
        let mut buf = [0u8; 200];
        let t0 = Instant::now();
        let mut i = 0u64;
        // Bounded: n datagrams, and never longer than twice the time they take.
        let limit = Duration::from_millis(2000 * n / rate + 1000);
        while i < n && t0.elapsed() < limit {
            let due = ((t0.elapsed().as_secs_f64() * rate as f64) as u64).min(n);
            while i < due {
                buf[0..4].copy_from_slice(b"CUST");
                buf[4] = phase;
                buf[5..13].copy_from_slice(&i.to_be_bytes());
                let mut r = xorshift(i ^ (phase as u64) << 56 ^ 0xc05);
                for chunk in buf[13..].chunks_mut(8) {
                    let v = r().to_le_bytes();
                    chunk.copy_from_slice(&v[..chunk.len()]);
                }
                s.send_to(&buf, groups[(i % groups.len() as u64) as usize])
                    .unwrap();
                sent.insert(digest(&buf));
                i += 1;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(i, n, "customer A sent all it meant to");
        sent
    })
}

/// Scenario 9: A customer's datagrams to the feed's groups are not received by another customer.
#[test]
fn s9_a_customer_sending_to_a_feed_group_is_not_received_by_another() {
    let Some(lab) = Lab::up("s9", &["nft"], &[]) else {
        return;
    };
    let _el = lab.egress("ldn");
    let _ing = lab.ingress(&[G1, G2], &["ldn"], &[]);
    lab.wait_links(&["ldn"]);
    let ports = [ga(G1).port(), ga(G2).port()];
    let ruleset = sg_ruleset(RELAY_SOURCE_CIDR, &ports, ALLOW);
    let cb = lab.ns("cb");
    // B joins behind the filter: its joins go out under the module's egress rules.
    let filter = SgFilter::install(&cb, &ruleset);
    let rb = Receiver::start(&lab, "cb", CB, &[G1, G2]);
    lab.wait_member("vl", "p-b", &[G1, G2]);

    let t_on = now_ns();
    let rate = 1000;
    let sender = Sender::start(
        &lab,
        &[G1, G2],
        rate,
        Duration::from_secs(12),
        Size::Fixed(200),
    );
    std::thread::sleep(Duration::from_millis(500));
    let (a_rate, a_n) = (250, 1000);
    let with = customer_sends(&lab, 1, &[G1, G2], a_rate, a_n);
    std::thread::sleep(Duration::from_millis(300));
    let dropped = filter.dropped();
    let t_off = now_ns();
    drop(filter);
    assert!(!SgFilter::present(&cb), "the filter is gone from {cb}");
    let without = customer_sends(&lab, 2, &[G1, G2], a_rate, a_n);
    let sent = sender.finish();
    let n = sent.total();
    assert!(
        drained(&lab, &["ldn"], n, Duration::from_secs(10)),
        "the egress did not emit all {n}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let got_b = rb.finish();
    let b = Tally::of(&sent, &got_b);
    let from_a =
        |set: &HashSet<u64>| got_b.iter().filter(|x| set.contains(&x.digest)).count() as u64;
    let (b_with, b_without) = (from_a(&with), from_a(&without));
    // The real feed sent while the filter stood, and what B got of it.
    let sent_on = sent.after(t_on) - sent.after(t_off);
    let during: Vec<Arrival> = got_b
        .iter()
        .filter(|x| x.seq.is_some() && x.send_ns >= t_on && x.send_ns < t_off)
        .cloned()
        .collect();
    let on = Tally::of(&sent, &during);
    let ldn = lab.metrics("ldn").unwrap_or_default();
    let gaps = metric_in(&ldn, &eg("gaps_total")).unwrap_or(0.0);

    eprintln!(
        "FIGURES s9 customer A (10.201.1.11) sends to both feed groups {G1} {G2} while the feed runs at {rate}/s; customer B joined to both"
    );
    eprintln!(
        "  with B's receive filter (the customer module's security group as nftables: feed UDP only from {RELAY_SOURCE_CIDR}): A sent {a_n}, B received {b_with} of them; the filter dropped {dropped}"
    );
    eprintln!(
        "  the real feed while the filter stood: sent {sent_on}, B received {} (corrupt {}, duplicated {})",
        on.unique, on.corrupt, on.dups
    );
    eprintln!("  without the filter: A sent {a_n}, B received {b_without} of them");
    eprintln!(
        "  the real feed at B: {}; egress gaps {gaps}",
        b.line("London cust-b (foreign = A's datagrams)")
    );
    assert_eq!(
        dropped, a_n,
        "A's datagrams reached B's host and the filter dropped each"
    );
    assert_eq!(
        b_with, 0,
        "behind the filter B received none of A's datagrams"
    );
    assert_eq!(
        b_without, a_n,
        "without it B received every one of A's datagrams"
    );
    assert_eq!(b.unique, n, "B received the whole real feed");
    assert!(sent_on > 0, "the feed ran while the filter stood");
    assert_eq!(
        (on.unique, on.corrupt, on.dups),
        (sent_on, 0, 0),
        "behind the filter B received all of the real feed sent meanwhile"
    );
    assert_eq!(
        (b.lost, b.dups, b.reordered, b.corrupt),
        (0, 0, 0, 0),
        "the real feed byte for byte, once, in order, with and without the filter"
    );
    assert_eq!(b.foreign, b_without, "nothing else foreign reached B");
    assert_eq!(gaps, 0.0, "the egress saw no gap");
}
