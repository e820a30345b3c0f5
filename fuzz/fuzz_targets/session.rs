//! Arbitrary bytes into both established sessions (see src/wire/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: \&[u8]| mcast_relay::wire::fuzz::session(data));
