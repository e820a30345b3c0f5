//! The codec's unit tests: layouts, limits, and what is refused.

use super::*;

fn sa(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

#[test]
fn data_layout_is_as_documented() {
    let mut out = Vec::new();
    encode_data(
        7,
        9,
        sa("239.1.2.3:6100"),
        sa("10.0.0.1:5000"),
        b"xy",
        &mut out,
    );
    assert_eq!(out.len(), DATA_OVERHEAD + 2);
    assert_eq!(&out[0..4], &(DATA_OVERHEAD as u32 - 4 + 2).to_be_bytes());
    assert_eq!(out[4], kind::DATA);
    assert_eq!(&out[21..27], &[239, 1, 2, 3, 0x17, 0xd4]);
    assert_eq!(&out[33..], b"xy");
}

#[test]
fn long_reasons_are_cut_between_characters() {
    let reason = "é".repeat(200);
    let mut out = Vec::new();
    encode(
        &Frame::Goodbye {
            code: 9,
            reason: reason.clone(),
        },
        &mut out,
    );
    let Frame::Goodbye { reason: back, .. } = decode(&out, MAX_FRAME).unwrap().unwrap().0 else {
        panic!()
    };
    assert_eq!(back.len(), 254, "127 two-byte characters fit in 255 bytes");
    assert!(reason.starts_with(&back));
}

#[test]
fn a_reason_that_is_not_utf8_is_malformed() {
    let out = [0, 0, 0, 5, kind::GOODBYE, 0, 1, 1, 0xff];
    assert_eq!(
        decode(&out, MAX_FRAME),
        Err(FrameError::Malformed("goodbye: reason is not UTF-8"))
    );
}

#[test]
fn strangers_are_recognised() {
    assert_eq!(sniff(b"GET / HTTP/1.1\r\n"), Some("http"));
    assert_eq!(
        sniff(&[0x16, 0x03, 0x01, 0x02, 0x00]),
        Some("tls_client_hello")
    );
    assert_eq!(sniff(b"SSH-2.0-OpenSSH"), Some("ssh"));
    let mut ours = Vec::new();
    encode(&Frame::Heartbeat { sent_ns: 1 }, &mut ours);
    assert_eq!(sniff(&ours), None);
}

#[test]
fn oversized_length_is_refused_from_four_bytes() {
    let buf = 0xffff_fff0u32.to_be_bytes();
    assert_eq!(
        check(&buf, MAX_FRAME),
        Err(FrameError::TooLong {
            len: 0xffff_fff0 + 4,
            max: MAX_FRAME
        })
    );
}

fn hello() -> Hello {
    Hello {
        version: VERSION,
        auth: AuthMethod::PreSharedKey,
        stream_id: 7,
        nonce: [1; NONCE_LEN],
        key_id: [2; KEY_ID_LEN],
        feed: "prod".into(),
        manifest: vec![sa("239.1.1.1:6100")],
        encrypt: true,
        sender: "dc-a".into(),
    }
}

#[test]
fn hello_round_trips() {
    let mut out = Vec::new();
    encode(&Frame::Hello(hello()), &mut out);
    assert_eq!(
        decode(&out, MAX_HANDSHAKE_FRAME),
        Ok(Some((Frame::Hello(hello()), out.len())))
    );
}

#[test]
fn hello_without_magic_is_refused() {
    // A well-formed Hello but for one byte of its magic: the magic alone
    // must be what refuses it (hello_round_trips decodes it unaltered).
    let mut out = Vec::new();
    encode(&Frame::Hello(hello()), &mut out);
    out[FRAME_HEADER] ^= 0x20;
    assert_eq!(decode(&out, MAX_HANDSHAKE_FRAME), Err(FrameError::BadMagic));
}
