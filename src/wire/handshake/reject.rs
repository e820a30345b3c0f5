//! Goodbye codes: why a handshake or a session was refused or ended, as
//! they travel in a Goodbye frame, and the Goodbye a peer sent.

use crate::wire::frame::{self, Frame};

/// Why a handshake or session was refused or ended; `code` travels in a Goodbye.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    BadVersion,
    UnknownFeed,
    AuthRequired,
    AuthUnavailable,
    UnknownKey,
    BadProof,
    Unexpected,
    Timeout,
    Loop,
    TakenOver,
    ShuttingDown,
    Malformed,
    TooManyConnections,
    /// An Ack, a resume position or a sequence number out of bounds.
    Protocol,
    /// A record failed authentication.
    BadRecord,
    /// An unauthenticated feed is held by its sender; it is never taken over.
    FeedBusy,
}

impl Reject {
    pub const ALL: [Reject; 16] = [
        Reject::BadVersion,
        Reject::UnknownFeed,
        Reject::AuthRequired,
        Reject::AuthUnavailable,
        Reject::UnknownKey,
        Reject::BadProof,
        Reject::Unexpected,
        Reject::Timeout,
        Reject::Loop,
        Reject::TakenOver,
        Reject::ShuttingDown,
        Reject::Malformed,
        Reject::TooManyConnections,
        Reject::Protocol,
        Reject::BadRecord,
        Reject::FeedBusy,
    ];

    pub fn code(self) -> u16 {
        Reject::ALL.iter().position(|r| *r == self).expect("listed") as u16 + 1
    }

    pub fn from_code(code: u16) -> Option<Reject> {
        Reject::ALL.get((code as usize).checked_sub(1)?).copied()
    }

    /// A short label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Reject::BadVersion => "bad_version",
            Reject::UnknownFeed => "unknown_feed",
            Reject::AuthRequired => "auth_required",
            Reject::AuthUnavailable => "auth_unavailable",
            Reject::UnknownKey => "unknown_key",
            Reject::BadProof => "bad_proof",
            Reject::Unexpected => "unexpected_frame",
            Reject::Timeout => "timeout",
            Reject::Loop => "loop",
            Reject::TakenOver => "taken_over",
            Reject::ShuttingDown => "shutting_down",
            Reject::Malformed => "malformed",
            Reject::TooManyConnections => "too_many_connections",
            Reject::Protocol => "protocol_violation",
            Reject::BadRecord => "bad_record",
            Reject::FeedBusy => "feed_busy",
        }
    }

    pub fn goodbye(self, detail: &str) -> Frame<'static> {
        Frame::Goodbye {
            code: self.code(),
            reason: format!("{}: {detail}", self.label()),
        }
    }

    /// The Goodbye as bytes, for a refusal before any record.
    pub fn goodbye_bytes(self, detail: &str) -> Vec<u8> {
        let mut out = Vec::new();
        frame::encode(&self.goodbye(detail), &mut out);
        out
    }
}

/// A Goodbye the peer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goodbye {
    pub code: u16,
    pub reason: String,
}

impl Goodbye {
    /// The reason, if the code is one this version knows.
    pub fn reject(&self) -> Option<Reject> {
        Reject::from_code(self.code)
    }
}

impl std::fmt::Display for Goodbye {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The peer's words, escaped: they never forge a line in our logs.
        write!(f, "code {} {:?}", self.code, self.reason)
    }
}
