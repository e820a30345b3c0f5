//! Sockets: addresses, multicast, batched syscalls, TCP links, the HTTP client.

pub mod addr;
pub mod batch;
pub mod http_client;
pub mod joined;
pub mod link;
pub mod mcast;
pub mod tls;
