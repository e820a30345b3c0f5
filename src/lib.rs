//! mcast-relay: carries UDP multicast over TCP and turns it back into multicast.
//!
//! See docs/ARCHITECTURE.md for where each concept lives.
#![deny(unsafe_code)]

pub mod cli;
pub(crate) mod clock;
pub(crate) mod config;
pub(crate) mod egress;
pub mod feeds;
pub(crate) mod ingress;
pub(crate) mod keys;
pub(crate) mod net;
pub mod obs;
pub(crate) mod ring;
pub(crate) mod shutdown;
pub mod tools;
pub(crate) mod units;
pub mod wire;
