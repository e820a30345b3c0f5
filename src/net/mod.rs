//! Sockets: addresses, multicast, batched syscalls, TCP links.

pub mod addr;
pub mod batch;
pub mod link;
pub mod mcast;
pub mod tls;
