//! The wire protocol: codec, record layer, key schedule, handshake and the
//! established session. Nothing here touches a socket; see docs/PROTOCOL.md.

pub mod auth;
pub mod buffer;
pub mod dedup;
pub mod frame;
#[doc(hidden)]
pub mod fuzz;
pub mod handshake;
pub mod kdf;
#[cfg(test)]
mod proptests;
pub mod record;
pub mod session;
