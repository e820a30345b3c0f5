//! The wire protocol: codec, handshake and session state, authentication.
//! Nothing here touches a socket; see docs/PROTOCOL.md.

pub mod auth;
pub mod buffer;
pub mod frame;
#[doc(hidden)]
pub mod fuzz;
#[cfg(test)]
mod proptests;
pub mod session;
