//! Arbitrary frames against both handshake state machines (see src/wire/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcast_relay::wire::fuzz::handshake(data));
