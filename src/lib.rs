//! mcast-relay: carries UDP multicast over TCP and turns it back into multicast.
//!
//! See docs/ARCHITECTURE.md for where each concept lives.
#![deny(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod egress;
pub mod feeds;
pub mod ingress;
pub mod keys;
pub mod net;
pub mod obs;
pub mod ring;
pub mod shutdown;
pub mod tools;
pub mod wire;
