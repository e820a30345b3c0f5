use super::*;

#[test]
fn handles_are_shared_and_exported() {
    let m = Metrics::new();
    let a = m.feed("prod", "egress");
    a.datagrams_out.inc_by(3);
    m.feed("prod", "egress").datagrams_out.inc();
    a.dropped(DropReason::NotAllowed, 2);
    a.latency.observe(0.0001);
    let text = m.encode();
    assert!(
        text.contains(r#"mcast_relay_datagrams_out_total{feed="prod",role="egress"} 4"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"mcast_relay_drops_total{feed="prod",role="egress",reason="not_allowed"} 2"#
        )
    );
    assert!(text.contains("mcast_relay_latency_seconds_bucket"));
    assert_eq!(a.drops_total(), 2);
}

#[test]
fn sums_over_peers_and_reasons() {
    let m = Metrics::new();
    let a = m.feed("prod", "egress");
    a.reconnect("10.0.0.1");
    a.reconnect("10.0.0.2");
    a.reconnect("10.0.0.1");
    a.handshake_failed("bad_key");
    assert_eq!(a.reconnects_sum(), 3);
    assert_eq!(a.handshake_failures_sum(), 1);
    a.dropped(DropReason::TooBig, 5);
    assert_eq!(a.drops_by_reason(), vec![("too_big", 5)]);
}

#[test]
fn groups_are_bounded_and_the_rest_is_other() {
    let m = Metrics::new();
    let a = m.feed("prod", "ingress");
    let g = |i: usize| -> std::net::SocketAddrV4 {
        format!("239.1.{}.{}:6100", i / 250, i % 250)
            .parse()
            .unwrap()
    };
    a.group(g(0)).datagrams_in.inc();
    a.group(g(0)).bytes_in.inc_by(100);
    for i in 1..MAX_GROUPS + 10 {
        a.group(g(i)).datagrams_in.inc();
    }
    let groups = a.groups();
    assert_eq!(groups.len(), MAX_GROUPS + 1);
    let other = groups.iter().find(|x| x.group == "other").unwrap();
    assert_eq!(other.datagrams_in.get(), 10);
    let text = m.encode();
    assert!(
        text.contains(
            r#"mcast_relay_group_datagrams_in_total{feed="prod",role="ingress",group="239.1.0.0:6100"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"group="other"} 10"#), "{text}");
}
