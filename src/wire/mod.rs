//! The wire protocol: codec, handshake and session state, authentication.
//! Nothing here touches a socket; see docs/PROTOCOL.md.

pub mod auth;
pub mod buffer;
pub mod frame;
#[cfg(test)]
mod proptests;
#[doc(hidden)]
pub mod fuzz;
pub mod session;
