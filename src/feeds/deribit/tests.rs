//! The Deribit legacy format's unit tests: hand-built messages, hostile groups, the synthetic shapes.

use super::*;

#[test]
fn names() {
    assert_eq!(template_name(1000), Some("instrument"));
    assert_eq!(template_name(1010), Some("instrument_v2"));
    assert_eq!(template_name(1011), None);
    assert_eq!(template_name(999), None);
}

#[test]
fn every_shape_has_its_size_and_walks_back_to_its_templates() {
    let sizes: Vec<usize> = super::super::DERIBIT_SIZES.iter().map(|s| s.0).collect();
    assert_eq!(PACKETS.iter().map(|p| p.0).collect::<Vec<_>>(), sizes);
    let mut buf = vec![0u8; 1500];
    for (size, msgs) in PACKETS {
        let n = encode(&mut buf, 7, 41, msgs, 3).unwrap();
        assert_eq!(n, *size);
        let p = &buf[..n];
        assert!(looks_like(p));
        assert_eq!(
            Frame::parse(p),
            Some(Frame {
                length: (n - 8) as u16,
                channel: 7,
                seq: 41
            })
        );
        let mut seen = Vec::new();
        let w = walk(p, |t| seen.push(t));
        assert!(w.exact, "size {size}");
        assert_eq!(seen, msgs.iter().map(|m| m.0).collect::<Vec<_>>());
    }
}

/// A book message with one entry, built by hand byte by byte.
fn book() -> Vec<u8> {
    let mut m = Vec::new();
    for v in [29u16, 1001, 1, 2, 1, 0] {
        m.extend_from_slice(&v.to_le_bytes());
    }
    m.extend_from_slice(&[0u8; 29]);
    for v in [18u16, 1, 0, 0] {
        m.extend_from_slice(&v.to_le_bytes());
    }
    m.extend_from_slice(&[0u8; 18]);
    m
}

fn datagram(msgs: &[&[u8]]) -> Vec<u8> {
    let body: Vec<u8> = msgs.concat();
    let mut p = vec![0u8; 8];
    Frame {
        length: body.len() as u16,
        channel: 3,
        seq: 9,
    }
    .write(&mut p);
    p.extend_from_slice(&body);
    p
}

#[test]
fn walks_groups_and_var_data_and_stops_at_what_it_cannot_size() {
    let b = book();
    assert_eq!(b.len(), 67, "the capture's one-entry book is 67 bytes");
    let mut name = Vec::new();
    for v in [4u16, 1000, 1, 2, 0, 2] {
        name.extend_from_slice(&v.to_le_bytes());
    }
    name.extend_from_slice(&[0, 0, 0, 0, 3, b'a', b'b', b'c', 0]);
    let p = datagram(&[&b, &name, &b]);
    let mut seen = Vec::new();
    let w = walk(&p, |t| seen.push(t));
    assert_eq!(seen, [1001, 1000, 1001]);
    assert!(w.exact);
    // Cut inside the last book's group: it is counted, the walk is not exact.
    let mut seen = Vec::new();
    let w = walk(&p[..p.len() - 5], |t| seen.push(t));
    assert_eq!((seen.len(), w.exact), (3, false));
    // A wrong schema: counted, not sized, nothing after it is counted.
    let mut other = b.clone();
    other[4] = 9;
    let p = datagram(&[&other, &b]);
    let mut seen = Vec::new();
    let w = walk(&p, |t| seen.push(t));
    assert_eq!((seen, w.exact), (vec![1001], false));
    // Trailing bytes shorter than a header.
    let mut p = datagram(&[&b]);
    p.extend_from_slice(&[0; 5]);
    let w = walk(&p, |_| {});
    assert_eq!((w.messages, w.exact), (1, false));
}

#[test]
fn hostile_groups_do_not_explode() {
    // numInGroup 65535 of empty entries each with 65535 nested groups: the
    // nested headers run past the end at once.
    let mut m = Vec::new();
    for v in [0u16, 1001, 1, 2, 1, 0, 0, 65535, 65535, 0] {
        m.extend_from_slice(&v.to_le_bytes());
    }
    let p = datagram(&[&m]);
    let w = walk(&p, |_| {});
    assert_eq!((w.messages, w.exact), (1, false));
}

#[test]
fn the_length_field_and_the_look() {
    let p = datagram(&[&book()]);
    assert!(looks_like(&p));
    let mut bad = p.clone();
    bad.push(0);
    assert!(!looks_like(&bad), "length disagrees");
    assert!(!Frame::parse(&bad).unwrap().length_ok(bad.len()));
    assert!(!looks_like(b"MRT1...................."));
    assert!(!looks_like(&p[..7]));
}
