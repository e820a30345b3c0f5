//! The bodies of the fuzz targets (fuzz/fuzz_targets/), here so that a stable
//! `cargo test` can run them as a smoke test too. Each panics on a bug.

use std::time::{Duration, Instant};

use super::auth::Key;
use super::buffer::FrameBuf;
use super::frame::{MAX_FRAME, MAX_HANDSHAKE_FRAME, decode, encode};
use super::handshake::{ClientHandshake, ClientParams, FeedKeys, ServerHandshake, ServerStep};
use super::kdf;
use super::record::{self, Sealer};
use super::session::{EgressEvent, EgressSession, IngressEvent, IngressSession};

/// Any byte stream, cut anywhere, through the reassembler and the decoder: no
/// panic, no allocation beyond the fixed buffer, and whatever decodes encodes
/// back to a frame that decodes the same.
pub fn frames(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    // The first byte picks the read size and the limit, as a peer could.
    let chunk = 1 + (first as usize & 0x7f);
    let max = if first & 0x80 == 0 {
        MAX_HANDSHAKE_FRAME
    } else {
        MAX_FRAME
    };
    let mut fb = FrameBuf::new(MAX_FRAME, max);
    for piece in rest.chunks(chunk) {
        let space = fb.unfilled();
        let n = piece.len().min(space.len());
        space[..n].copy_from_slice(&piece[..n]);
        fb.filled(n);
        loop {
            match fb.next_range() {
                Ok(Some(r)) => {
                    let bytes = &fb.bytes()[r];
                    if let Ok(Some((frame, used))) = decode(bytes, max) {
                        assert_eq!(used, bytes.len());
                        let mut again = Vec::new();
                        encode(&frame, &mut again);
                        let (back, _) = decode(&again, MAX_FRAME)
                            .expect("re-encoded frame decodes")
                            .expect("whole");
                        assert_eq!(back, frame);
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

/// Arbitrary frames against both handshake state machines: no panic, and
/// nothing is ever accepted without proof of the key.
pub fn handshake(data: &[u8]) {
    let key = Key::parse(
        "0f0e0d0c0b0a0908:5d2c8e1f7a3b9d064e8c2a5f1b7d3e90c6a4f2e8d0b5c7a3e9f1d3b5a7c9e2f4",
    )
    .expect("valid key");
    let lookup = |f: &str| {
        (f == "prod").then(|| FeedKeys {
            keys: vec![key.clone()],
        })
    };
    let mut server = ServerHandshake::new([3; 32], None);
    let params = ClientParams {
        feed: "prod".into(),
        sender: "fuzz".into(),
        stream_id: 1,
        key: Some(key.clone()),
        encrypt: false,
        manifest: vec![],
    };
    let mut client = Some(ClientHandshake::start(params, [4; 32], None).0);
    let mut pos = 0;
    while pos < data.len() {
        let Ok(Some((_, used))) = decode(&data[pos..], MAX_HANDSHAKE_FRAME) else {
            return;
        };
        let bytes = &data[pos..pos + used];
        pos += used;
        if let Ok(ServerStep::Accepted(a)) = server.on_frame(bytes, lookup) {
            panic!("accepted without proof of the key: {a:?}");
        }
        if let Some(c) = client.take() {
            let _ = c.on_reply(bytes);
        }
    }
}

/// Arbitrary bytes into both established sessions, either raw (what an
/// on-path attacker can send) or sealed with the right keys (what a buggy or
/// hostile key holder can send): no panic, and the link's rules hold for
/// whatever comes out.
pub fn session(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let encrypt = mode & 1 != 0;
    let keys = kdf::derive(Some(&[7; 32]), None, &kdf::transcript(b"h", b"c"));
    let bytes = if mode & 2 != 0 {
        // Chunks of `u8 length` + body, each sealed as one record.
        let dir = if mode & 4 != 0 { &keys.c2s } else { &keys.s2c };
        let mut s = Sealer::new(dir, encrypt);
        let mut out = Vec::new();
        let mut r = rest;
        while let Some((&n, tail)) = r.split_first() {
            let n = (n as usize).min(tail.len());
            let start = record::begin(&mut out);
            out.extend_from_slice(&tail[..n]);
            s.seal(&mut out, start).expect("far from exhausted");
            r = &tail[n..];
        }
        out
    } else {
        rest.to_vec()
    };
    let piece = 1 + (mode >> 3) as usize * 61;
    let t0 = Instant::now();
    let ms = Duration::from_millis(1);
    if mode & 4 != 0 {
        let resume = 5;
        let mut e = EgressSession::new(&keys, encrypt, t0, resume, &[]);
        let (mut last, mut closed) = (None::<u64>, false);
        for (i, c) in bytes.chunks(piece).enumerate() {
            let n = c.len().min(e.recv_buf().len());
            e.recv_buf()[..n].copy_from_slice(&c[..n]);
            e.handle_read(n, t0 + ms * i as u32);
            while let Some(ev) = e.poll_event() {
                assert!(!closed, "an event after the session closed");
                match ev {
                    EgressEvent::Data(d) => {
                        assert!(d.seq >= resume && d.seq < u64::MAX);
                        assert!(last.is_none_or(|l| d.seq > l), "sequence went back");
                        assert!(d.payload.end <= e.bytes().len());
                        last = Some(d.seq);
                    }
                    EgressEvent::Closed(_) => closed = true,
                }
            }
            let mut out = Vec::new();
            while e.poll_transmit(t0 + ms * i as u32, &mut out) {}
            e.handle_timeout(t0 + ms * i as u32 * 100);
        }
    } else {
        let head = 1000;
        let mut g = IngressSession::new(&keys, encrypt, t0, head, &[]);
        let (mut acked, mut closed) = (0, false);
        for (i, c) in bytes.chunks(piece).enumerate() {
            let n = c.len().min(g.recv_buf().len());
            g.recv_buf()[..n].copy_from_slice(&c[..n]);
            g.handle_read(n, t0 + ms * i as u32);
            while let Some(ev) = g.poll_event() {
                assert!(!closed, "an event after the session closed");
                match ev {
                    IngressEvent::Welcome { resume_from, .. } => {
                        assert!(resume_from <= head);
                        g.start(t0, resume_from);
                        if g.can_send() {
                            let mut out = Vec::new();
                            let start = record::begin(&mut out);
                            super::frame::encode_data(resume_from, 0, ANY, ANY, b"x", &mut out);
                            g.seal_data(&mut out, start, resume_from + 1);
                            g.on_written(t0);
                        }
                    }
                    IngressEvent::Acked(a) => {
                        assert!(a > acked && a <= g.sent(), "ack out of bounds");
                        acked = a;
                    }
                    IngressEvent::Closed(_) => closed = true,
                }
            }
            let mut out = Vec::new();
            if g.poll_transmit(t0 + ms * i as u32, &mut out) {
                g.on_written(t0 + ms * i as u32);
            }
            g.handle_timeout(t0 + ms * i as u32 * 100);
        }
    }
}

const ANY: std::net::SocketAddrV4 = std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 1);

#[cfg(test)]
mod tests {
    use super::super::frame::{Auth, AuthMethod, Frame, Hello, VERSION, encode};
    use rand::{RngExt, SeedableRng};

    /// A few seconds of what the fuzzers do, on stable: random and mutated input.
    #[test]
    fn fuzz_smoke() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut seed = Vec::new();
        for f in [
            Frame::Hello(Hello {
                version: VERSION,
                auth: AuthMethod::PreSharedKey,
                stream_id: 1,
                nonce: [1; 32],
                key_id: [2; 8],
                feed: "prod".into(),
                manifest: vec!["239.1.1.1:5000".parse().unwrap()],
                encrypt: false,
                sender: "dc-a".into(),
            }),
            Frame::Auth(Auth { proof: [9; 32] }),
            Frame::Ack { next_seq: 5 },
        ] {
            encode(&f, &mut seed);
        }
        super::super::frame::encode_data(
            3,
            4,
            "239.1.1.1:1".parse().unwrap(),
            "10.0.0.1:2".parse().unwrap(),
            b"payload",
            &mut seed,
        );
        let t = std::time::Instant::now();
        let mut runs = 0u64;
        while t.elapsed() < std::time::Duration::from_secs(3) {
            let mut input = if rng.random::<bool>() {
                seed.clone()
            } else {
                (0..rng.random_range(0..512))
                    .map(|_| rng.random::<u8>())
                    .collect()
            };
            for _ in 0..rng.random_range(0..8) {
                if input.is_empty() {
                    break;
                }
                let i = rng.random_range(0..input.len());
                input[i] = rng.random();
            }
            super::frames(&input);
            super::handshake(&input);
            super::session(&input);
            runs += 1;
        }
        assert!(runs > 1000, "{runs} inputs in 3 s");
    }
}
