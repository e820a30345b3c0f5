//! Property tests of the codec: round trips, arbitrary splits, arbitrary bytes.

use proptest::prelude::*;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::buffer::FrameBuf;
use super::frame::*;

fn addr() -> impl Strategy<Value = SocketAddrV4> {
    (any::<u32>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV4::new(Ipv4Addr::from(ip), port))
}

/// Frames owning their payloads, so strategies can produce them.
#[derive(Debug, Clone)]
enum Owned {
    Frame(Frame<'static>),
    Data(u64, u64, SocketAddrV4, SocketAddrV4, Vec<u8>),
}

impl Owned {
    fn frame(&self) -> Frame<'_> {
        match self {
            Owned::Frame(f) => f.clone(),
            Owned::Data(seq, recv_ns, group, source, p) => Frame::Data(Data {
                seq: *seq,
                recv_ns: *recv_ns,
                group: *group,
                source: *source,
                payload: p,
            }),
        }
    }
}

fn owned() -> impl Strategy<Value = Owned> {
    prop_oneof![
        (
            any::<u64>(),
            any::<u64>(),
            addr(),
            addr(),
            proptest::collection::vec(any::<u8>(), 0..2000)
        )
            .prop_map(|(a, b, g, s, p)| Owned::Data(a, b, g, s, p)),
        (
            any::<u16>(),
            any::<bool>(),
            any::<u64>(),
            any::<[u8; 32]>(),
            any::<[u8; 8]>(),
            "[a-z0-9._-]{0,64}",
            proptest::collection::vec(addr(), 0..20),
            (any::<bool>(), "[a-z0-9._:-]{0,64}"),
        )
            .prop_map(
                |(version, a, stream_id, nonce, key_id, feed, manifest, (encrypt, sender))| {
                    Owned::Frame(Frame::Hello(Hello {
                        version,
                        auth: if a {
                            AuthMethod::PreSharedKey
                        } else {
                            AuthMethod::None
                        },
                        stream_id,
                        nonce,
                        key_id,
                        feed,
                        manifest,
                        encrypt,
                        sender,
                    }))
                }
            ),
        any::<[u8; 32]>().prop_map(|nonce| Owned::Frame(Frame::Challenge(Challenge { nonce }))),
        any::<[u8; 32]>().prop_map(|proof| Owned::Frame(Frame::Auth(Auth { proof }))),
        (any::<u64>(), any::<u32>()).prop_map(|(resume_from, heartbeat_ms)| Owned::Frame(
            Frame::Welcome(Welcome {
                resume_from,
                heartbeat_ms
            })
        )),
        any::<u64>().prop_map(|next_seq| Owned::Frame(Frame::Ack { next_seq })),
        any::<u64>().prop_map(|sent_ns| Owned::Frame(Frame::Heartbeat { sent_ns })),
        (any::<u16>(), "\\PC{0,60}")
            .prop_map(|(code, reason)| Owned::Frame(Frame::Goodbye { code, reason })),
    ]
}

proptest! {
    #[test]
    fn decode_inverts_encode(o in owned()) {
        let mut buf = Vec::new();
        encode(&o.frame(), &mut buf);
        let (back, used) = decode(&buf, MAX_FRAME).unwrap().unwrap();
        prop_assert_eq!(used, buf.len());
        prop_assert_eq!(back, o.frame());
        // One byte short is never a frame.
        prop_assert_eq!(decode(&buf[..buf.len() - 1], MAX_FRAME).unwrap(), None);
    }

    #[test]
    fn any_split_decodes_the_same(frames in proptest::collection::vec(owned(), 1..20),
                                  cuts in proptest::collection::vec(1usize..3000, 1..50)) {
        let mut stream = Vec::new();
        for f in &frames {
            encode(&f.frame(), &mut stream);
        }
        let mut fb = FrameBuf::new(MAX_FRAME, MAX_FRAME);
        let mut got = Vec::new();
        let (mut pos, mut i) = (0, 0);
        while pos < stream.len() {
            let n = cuts[i % cuts.len()].min(stream.len() - pos);
            i += 1;
            fb.unfilled()[..n].copy_from_slice(&stream[pos..pos + n]);
            fb.filled(n);
            pos += n;
            while let Some(r) = fb.next_range().unwrap() {
                let mut one = Vec::new();
                encode(&decode(&fb.bytes()[r], MAX_FRAME).unwrap().unwrap().0, &mut one);
                got.push(one);
            }
        }
        prop_assert_eq!(fb.pending(), 0);
        let want: Vec<Vec<u8>> = frames.iter().map(|f| { let mut v = Vec::new(); encode(&f.frame(), &mut v); v }).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4000),
                                   max in prop_oneof![Just(MAX_HANDSHAKE_FRAME), Just(MAX_FRAME)]) {
        let mut fb = FrameBuf::new(MAX_FRAME, max);
        let mut pos = 0;
        'outer: while pos < bytes.len() {
            let space = fb.unfilled();
            let n = space.len().min(bytes.len() - pos).min(97);
            space[..n].copy_from_slice(&bytes[pos..pos + n]);
            fb.filled(n);
            pos += n;
            loop {
                match fb.next_range() {
                    Ok(Some(r)) => { let _ = decode(&fb.bytes()[r], max); }
                    Ok(None) => break,
                    Err(_) => break 'outer,
                }
            }
        }
    }

    #[test]
    fn lengths_over_the_limit_are_refused_from_the_header(len in (MAX_HANDSHAKE_FRAME as u32 - 3)..=u32::MAX) {
        let mut fb = FrameBuf::new(MAX_FRAME, MAX_HANDSHAKE_FRAME);
        fb.unfilled()[..4].copy_from_slice(&len.to_be_bytes());
        fb.filled(4);
        let too_long = matches!(fb.next_range(), Err(FrameError::TooLong { .. }));
        prop_assert!(too_long);
    }
}
