//! Any byte stream, cut anywhere, through the frame reassembler and decoder:
//! no panic, no allocation beyond the fixed buffer, and whatever decodes
//! encodes back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcast_relay::wire::buffer::FrameBuf;
use mcast_relay::wire::frame::{MAX_FRAME, MAX_HANDSHAKE_FRAME, decode, encode};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    // The first byte picks the read size and the limit, as a peer could.
    let chunk = 1 + (first as usize & 0x7f);
    let max = if first & 0x80 == 0 { MAX_HANDSHAKE_FRAME } else { MAX_FRAME };
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
                        let (back, _) = decode(&again, MAX_FRAME).unwrap().unwrap();
                        assert_eq!(back, frame);
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
