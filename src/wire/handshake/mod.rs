//! The handshake of protocol v2, both sides, with no sockets.
//!
//! ```text
//! ingress                                   egress
//!   Hello(version, auth, stream, nonce_c, key_id, feed, manifest, flags, sender) ->
//!                                        <- Challenge(nonce_s)          | Goodbye
//!   Auth(client_finished) ->
//!                                        <- record 0: Welcome(resume)   | Goodbye
//! ```
//!
//! The client proves it holds the key first; the egress says nothing keyed to
//! anyone who has not, so a stranger who names a key id learns nothing to test
//! guesses against. The egress proves itself by sealing its first record with
//! a key only a holder of the pre-shared key can derive.

use super::frame::MAX_SENDER_NAME;

mod client;
mod reject;
mod server;

pub use client::{ClientHandshake, ClientParams};
pub use reject::{Goodbye, Reject};
pub use server::{Accepted, FeedKeys, ServerHandshake, ServerStep};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// We refuse: send the Goodbye of `reject`.
    #[error("{}: {detail}", reject.label())]
    Refuse { reject: Reject, detail: String },
    /// The peer refused us.
    #[error("the peer refused: {0}")]
    Refused(Goodbye),
}

impl HandshakeError {
    fn refuse(reject: Reject, detail: impl Into<String>) -> Self {
        HandshakeError::Refuse {
            reject,
            detail: detail.into(),
        }
    }

    /// The label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            HandshakeError::Refuse { reject, .. } => reject.label(),
            HandshakeError::Refused(_) => "peer_goodbye",
        }
    }
}

/// A sender name outside the rule of [`check_sender_name`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "sender name {0:?} must be 1 to {MAX_SENDER_NAME} characters of letters, digits, '.', '_', '-' or ':'"
)]
pub struct BadSenderName(pub String);

/// Names a sender may have: 1 to 64 of letters, digits, `.`, `_`, `-`, `:`.
pub fn check_sender_name(name: &str) -> Result<(), BadSenderName> {
    let ok = !name.is_empty()
        && name.len() <= MAX_SENDER_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(BadSenderName(name.to_string()))
    }
}

#[cfg(test)]
mod tests;
