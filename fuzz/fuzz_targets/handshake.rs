//! Arbitrary frames against both handshake state machines: no panic, and
//! nothing is ever accepted without the key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcast_relay::wire::auth::Key;
use mcast_relay::wire::frame::{MAX_HANDSHAKE_FRAME, decode};
use mcast_relay::wire::session::{ClientHandshake, FeedKeys, ServerHandshake, ServerStep};

fuzz_target!(|data: &[u8]| {
    let key = Key::parse("fuzzing-key-0123456789abcdef").unwrap();
    let lookup = |f: &str| (f == "prod").then(|| FeedKeys { keys: vec![key.clone()] });
    let mut server = ServerHandshake::new([3; 32]);
    let (mut client, _) = ClientHandshake::start("prod", 1, Some(key.clone()), [4; 32], vec![]);
    let mut pos = 0;
    while pos < data.len() {
        let Ok(Some((frame, used))) = decode(&data[pos..], MAX_HANDSHAKE_FRAME) else { return };
        pos += used;
        if let Ok(ServerStep::Accepted(a)) = server.on_frame(&frame, lookup) {
            // Only a proof made with the key gets here; random bytes never do.
            assert!(a.authenticated);
            panic!("accepted without knowing the key: {a:?}");
        }
        let _ = client.on_frame(&frame);
    }
});
