//! The bodies of the fuzz targets (fuzz/fuzz_targets/), here so that a stable
//! `cargo test` can run them as a smoke test too. Each panics on a bug.

use super::auth::Key;
use super::buffer::FrameBuf;
use super::frame::{MAX_FRAME, MAX_HANDSHAKE_FRAME, decode, encode};
use super::session::{ClientHandshake, FeedKeys, ServerHandshake, ServerStep};

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
    let key = Key::parse("fuzzing-key-0123456789abcdef").expect("valid key");
    let lookup = |f: &str| {
        (f == "prod").then(|| FeedKeys {
            keys: vec![key.clone()],
        })
    };
    let mut server = ServerHandshake::new([3; 32]);
    let (mut client, _) = ClientHandshake::start("prod", 1, Some(key.clone()), [4; 32], vec![]);
    let mut pos = 0;
    while pos < data.len() {
        let Ok(Some((frame, used))) = decode(&data[pos..], MAX_HANDSHAKE_FRAME) else {
            return;
        };
        pos += used;
        if let Ok(ServerStep::Accepted(a)) = server.on_frame(&frame, lookup) {
            panic!("accepted without proof of the key: {a:?}");
        }
        let _ = client.on_frame(&frame);
    }
}

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
                auth: AuthMethod::HmacSha256,
                stream_id: 1,
                nonce: [1; 32],
                key_id: [2; 8],
                feed: "prod".into(),
                manifest: vec!["239.1.1.1:5000".parse().unwrap()],
            }),
            Frame::Auth(Auth { proof: vec![9; 32] }),
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
            runs += 1;
        }
        assert!(runs > 1000, "{runs} inputs in 3 s");
    }
}
