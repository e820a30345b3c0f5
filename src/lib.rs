//! mcast-relay: carries UDP multicast over TCP and turns it back into multicast.
//!
//! See docs/ARCHITECTURE.md for where each concept lives.
#![deny(unsafe_code)]

pub mod wire;
