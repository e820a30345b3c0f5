//! The established link of protocol v2 as two deterministic state machines,
//! in the shape of quinn-proto: they take bytes and the time, and hand back
//! bytes to send, the next deadline and events. The I/O drivers
//! (`crate::ingress`, `crate::egress`) only move bytes and keep the clock.
//!
//! The rules live here: every byte arrives in a sealed record
//! (`super::record`); Acks at most every [`ACK_EVERY`] while the position
//! moves; a heartbeat after [`HEARTBEAT`] without sending; a peer silent for
//! [`DEAD_AFTER`] is dead; an Ack beyond what was sent, a resume position
//! beyond the window's head or a sequence number that does not increase (or
//! would wrap) is a protocol violation, never a stall; a link that holds data
//! it cannot write for [`STALL_AFTER`] is stalled; a Goodbye ends the session.

use std::time::{Duration, Instant};

use super::frame::FrameError;
use super::handshake::{Goodbye, Reject};
use super::record::RecordError;

mod egress;
mod inbox;
mod ingress;
mod shared;

pub use egress::{DataRef, EgressEvent, EgressSession};
pub use ingress::{IngressEvent, IngressSession};

/// Heartbeat interval while idle.
pub const HEARTBEAT: Duration = Duration::from_millis(1000);
/// A peer silent this long is dead (heartbeats every second: noticed within 3 s).
pub const DEAD_AFTER: Duration = Duration::from_millis(2500);
/// The egress acknowledges at most this often while the position advances.
pub const ACK_EVERY: Duration = Duration::from_millis(50);
/// A link that cannot write what it holds for this long is shown as stalled.
pub const STALL_AFTER: Duration = Duration::from_secs(1);

/// A rule of the link the peer broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("Ack of {ack} beyond the {sent} datagrams sent")]
    AckBeyondSent { ack: u64, sent: u64 },
    #[error("resume position {resume} beyond the window's head {head}")]
    ResumeBeyondHead { resume: u64, head: u64 },
    #[error("sequence {seq} after {prev}: sequence numbers must increase")]
    SeqNotIncreasing { prev: u64, seq: u64 },
    #[error("sequence {seq} below the resume position {resume}")]
    SeqBelowResume { seq: u64, resume: u64 },
    #[error("sequence number 2^64-1: the stream would wrap")]
    SeqExhausted,
    #[error("unexpected {0} on an established link")]
    Unexpected(&'static str),
    #[error("{0}")]
    Malformed(FrameError),
    #[error("a frame runs past the end of its record")]
    FrameAcrossRecords,
    #[error("an empty record")]
    EmptyRecord,
    #[error("a record of {len} bytes is over the limit of {max}")]
    RecordTooLong { len: usize, max: usize },
}

impl Violation {
    pub fn label(&self) -> &'static str {
        match self {
            Violation::AckBeyondSent { .. } => "ack_beyond_sent",
            Violation::ResumeBeyondHead { .. } => "resume_beyond_head",
            Violation::SeqNotIncreasing { .. } => "seq_not_increasing",
            Violation::SeqBelowResume { .. } => "seq_below_resume",
            Violation::SeqExhausted => "seq_exhausted",
            Violation::Unexpected(_) => "unexpected_frame",
            Violation::Malformed(_) => "malformed",
            Violation::FrameAcrossRecords => "frame_across_records",
            Violation::EmptyRecord => "empty_record",
            Violation::RecordTooLong { .. } => "record_too_long",
        }
    }

    fn reject(&self) -> Reject {
        match self {
            Violation::Unexpected(_) => Reject::Unexpected,
            Violation::Malformed(_)
            | Violation::FrameAcrossRecords
            | Violation::EmptyRecord
            | Violation::RecordTooLong { .. } => Reject::Malformed,
            _ => Reject::Protocol,
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum End {
    #[error("peer silent for {0:?}, presumed dead")]
    Dead(Duration),
    #[error("{0}")]
    BadRecord(RecordError),
    /// Ingress: the egress's first record did not open, so it does not hold
    /// our key (or a TLS-terminating middlebox sits between us).
    #[error(
        "the egress did not prove it holds our key (wrong key, or a middlebox relaying the handshake)"
    )]
    NoProof,
    #[error("protocol violation: {0}")]
    Violation(Violation),
    /// The peer's authenticated Goodbye.
    #[error("the peer said goodbye: {0}")]
    Goodbye(Goodbye),
    /// Ingress: a plain Goodbye in place of the first record: a refusal after
    /// our proof (unauthenticated: anyone on the path could have sent it).
    #[error("the egress refused: {0}")]
    Refused(Goodbye),
    /// We closed on purpose (taken over, shutting down).
    #[error("closed: {}", .0.label())]
    Closed(Reject),
}

impl End {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            End::Dead(_) => "dead_peer",
            End::BadRecord(_) => "bad_record",
            End::NoProof => "bad_proof",
            End::Violation(v) => v.label(),
            End::Goodbye(_) => "peer_goodbye",
            End::Refused(_) => "refused",
            End::Closed(r) => r.label(),
        }
    }

    /// What we tell the peer as we close, if anything.
    fn goodbye(&self) -> Option<Reject> {
        match self {
            End::BadRecord(_) => Some(Reject::BadRecord),
            End::Violation(v) => Some(v.reject()),
            End::Closed(r) => Some(*r),
            End::Dead(_) | End::NoProof | End::Goodbye(_) | End::Refused(_) => None,
        }
    }

    /// The peer's Goodbye code, if it sent one.
    pub fn peer_reject(&self) -> Option<Reject> {
        match self {
            End::Goodbye(g) | End::Refused(g) => g.reject(),
            _ => None,
        }
    }

    /// Did the peer say it is shutting down after sending everything?
    pub fn is_clean(&self) -> bool {
        self.peer_reject() == Some(Reject::ShuttingDown) || matches!(self, End::Closed(_))
    }
}

impl From<Violation> for End {
    fn from(v: Violation) -> End {
        End::Violation(v)
    }
}

/// Heartbeats and dead-peer detection for one side of a session.
#[derive(Debug, Clone)]
pub struct Liveness {
    pub interval: Duration,
    pub dead_after: Duration,
    last_rx: Instant,
    last_tx: Instant,
}

impl Liveness {
    pub fn new(now: Instant, interval: Duration, dead_after: Duration) -> Self {
        Liveness {
            interval,
            dead_after,
            last_rx: now,
            last_tx: now,
        }
    }
    pub fn on_rx(&mut self, now: Instant) {
        self.last_rx = self.last_rx.max(now);
    }
    pub fn on_tx(&mut self, now: Instant) {
        self.last_tx = self.last_tx.max(now);
    }
    pub fn heartbeat_due(&self, now: Instant) -> bool {
        now.duration_since(self.last_tx) >= self.interval
    }
    pub fn is_dead(&self, now: Instant) -> bool {
        now.duration_since(self.last_rx) >= self.dead_after
    }
    fn dead_at(&self) -> Instant {
        self.last_rx + self.dead_after
    }
    fn heartbeat_at(&self) -> Instant {
        self.last_tx + self.interval
    }
}

/// Where an ingress resumes after a reconnect: after what the egress
/// acknowledged before or says it emitted, or at the oldest datagram the
/// window still holds, counting what fell out before it could be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    pub start: u64,
    pub lost: u64,
}

pub fn resume_point(acked: u64, resume_from: u64, oldest: u64) -> Resume {
    let want = acked.max(resume_from);
    Resume {
        start: want.max(oldest),
        lost: oldest.saturating_sub(want),
    }
}

#[cfg(test)]
mod tests;
