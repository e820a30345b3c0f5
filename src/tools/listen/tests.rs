//! listen's unit tests: the state fed datagrams by hand, in each format and A/B.

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::time::Duration;

use super::state::{DETECT_N, State};
use super::*;
use crate::feeds::arbiter::Side;
use crate::feeds::{deribit, starbase, testhdr};

fn state(format: Option<Format>, ab: bool) -> State {
    let (a, b): (SocketAddrV4, SocketAddrV4) = (
        "239.1.1.1:5000".parse().unwrap(),
        "239.1.1.2:5000".parse().unwrap(),
    );
    let mut route = HashMap::new();
    route.insert(a, (a, ab.then_some(Side::A)));
    if ab {
        route.insert(b, (a, Some(Side::B)));
    }
    State::new(format, route, [(a, b)].into_iter().collect(), &[], true)
}

fn g(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn deribit_packet(channel: u16, seq: u32, size: usize) -> Vec<u8> {
    let mut b = vec![0u8; 1500];
    let n = deribit::encode(&mut b, channel, seq, deribit::shape(size).unwrap(), 0).unwrap();
    b.truncate(n);
    b
}

#[test]
fn deribit_channels_are_tracked_apart_with_templates_and_length_checks() {
    let mut st = state(Some(Format::Deribit), false);
    let a = g("239.1.1.1:5000");
    for seq in [1u32, 2, 4, 3, 3, 7] {
        st.on(a, 0, &deribit_packet(1, seq, 220));
    }
    for seq in 100..110u32 {
        st.on(a, 0, &deribit_packet(2, seq, 153));
    }
    let mut bad = deribit_packet(2, 110, 153);
    bad.push(0);
    st.on(a, 0, &bad);
    st.on(a, 0, &[1, 2, 3]);
    let r = report(&st, false, Duration::from_secs(1));
    let c1 = r.channels.iter().find(|c| c.channel == Some(1)).unwrap();
    assert_eq!(
        (c1.packets, c1.gaps, c1.holes),
        (6, 2, 1),
        "5 and 6 missing"
    );
    assert_eq!((c1.duplicates, c1.reordered), (1, 1));
    assert_eq!(c1.messages, 12);
    assert_eq!(
        c1.templates,
        vec![
            TemplateCount {
                id: 1001,
                name: "book".into(),
                count: 6
            },
            TemplateCount {
                id: 1003,
                name: "ticker".into(),
                count: 6
            }
        ]
    );
    let c2 = r.channels.iter().find(|c| c.channel == Some(2)).unwrap();
    assert_eq!((c2.packets, c2.gaps, c2.length_mismatches), (11, 0, 1));
    assert_eq!(c2.not_sized, 1, "the trailing byte is not a message");
    assert_eq!(r.untagged, 1);
    assert_eq!((r.gaps, r.holes, r.packets), (2, 1, 18));
    assert_eq!(r.unique, 18 - 1, "one duplicate");
    assert!(r.text().contains("1003 ticker 6"), "{}", r.text());
}

#[test]
fn auto_decides_from_the_first_datagrams_and_replays_them() {
    let mut st = state(None, false);
    let a = g("239.1.1.1:5000");
    for seq in 0..(DETECT_N as u32 - 1) {
        st.on(a, 0, &deribit_packet(3, seq, 52));
    }
    assert!(st.format.is_none() && st.packets == 0, "still holding");
    st.on(a, 0, b"garbage that is no format at all");
    assert_eq!(st.format, Some(Format::Deribit), "7 of 8 vote deribit");
    st.on(a, 0, &deribit_packet(3, 7, 52));
    let r = report(&st, true, Duration::from_secs(1));
    assert_eq!((r.packets, r.gaps, r.untagged), (9, 0, 1));
    assert!(r.format_auto);
    let mut t = vec![0u8; 40];
    testhdr::write(&mut t, 1, 2);
    assert_eq!(Format::of(&t), Some(Format::Test));
    let mut sb = vec![0u8; 24 + 16];
    starbase::Header {
        sending_ns: 1_780_000_000_000_000_000,
        seq: 1,
        channel: 1,
        packet_type: 1,
        count: 1,
    }
    .write(&mut sb);
    assert_eq!(Format::of(&sb), Some(Format::Starbase));
    assert_eq!(Format::of(&deribit_packet(1, 1, 20)), Some(Format::Deribit));
}

#[test]
fn starbase_a_b_merge() {
    let mut st = state(Some(Format::Starbase), true);
    let (a, b) = (g("239.1.1.1:5000"), g("239.1.1.2:5000"));
    let pkt = |seq: i64, count: u16| {
        let mut p = vec![0u8; 24 + 16 * count as usize];
        starbase::Header {
            sending_ns: 1_780_000_000_000_000_000,
            seq,
            channel: 9,
            packet_type: starbase::INCREMENTAL,
            count,
        }
        .write(&mut p);
        p
    };
    for i in 0..20i64 {
        if i != 5 {
            st.on(a, 0, &pkt(i * 3, 3));
        }
        if i != 12 && i != 13 {
            st.on(b, 0, &pkt(i * 3, 3));
        }
    }
    st.on(a, 0, &pkt(60, 0));
    let r = report(&st, false, Duration::from_secs(1));
    assert_eq!(r.channels.len(), 1);
    let c = &r.channels[0];
    let ab = c.ab.as_ref().unwrap();
    assert_eq!((c.gaps, c.messages, c.heartbeats), (0, 111, 1));
    assert_eq!((ab.a.gaps, ab.a.holes, ab.b.gaps, ab.b.holes), (3, 1, 6, 1));
    assert_eq!(ab.b.group, "239.1.1.2:5000");
    assert_eq!(ab.redundant, 17);
    assert_eq!((r.duplicates, r.gaps, r.unit), (0, 0, "messages"));
    // The groups list shows each side's own gaps.
    let by: HashMap<_, _> = r.groups.iter().map(|g| (g.group.clone(), g.gaps)).collect();
    assert_eq!(by.get("239.1.1.1:5000"), Some(&3));
    assert_eq!(by.get("239.1.1.2:5000"), Some(&6));
}

#[test]
fn ab_pairs_parse() {
    let p: AbPair = "239.1.1.1:6100=239.1.2.1:6100".parse().unwrap();
    assert_eq!(p.b.0, g("239.1.2.1:6100"));
    assert_eq!(
        "239.1.1.1:6100".parse::<AbPair>(),
        Err(AbPairError::NotAPair("239.1.1.1:6100".into()))
    );
    assert_eq!(
        "239.1.1.1:6100=239.1.1.1:6100".parse::<AbPair>(),
        Err(AbPairError::Same("239.1.1.1:6100=239.1.1.1:6100".into()))
    );
    assert!(matches!(
        "239.1.1.1:6100=10.0.0.1:6100".parse::<AbPair>(),
        Err(AbPairError::Group(_))
    ));
}
