//! Any byte stream through the frame reassembler and decoder (see src/wire/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcast_relay::wire::fuzz::frames(data));
