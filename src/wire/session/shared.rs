//! What both sides of a session share: the inbox, the sealer, liveness,
//! and closing with a Goodbye.

use std::time::Instant;

use super::inbox::Inbox;
use super::{DEAD_AFTER, End, HEARTBEAT, Liveness};
use crate::wire::frame;
use crate::wire::handshake::Reject;
use crate::wire::record::Sealer;

/// What both sides share: the inbox, the sealer, liveness and closing.
pub(super) struct Core {
    pub(super) inbox: Inbox,
    sealer: Sealer,
    pub(super) live: Liveness,
    /// Set once: why the session ends. Reported by `poll_event` once.
    pub(super) end: Option<End>,
    end_reported: bool,
    /// A Goodbye still to send (and its detail).
    pub(super) goodbye: Option<(Reject, String)>,
}

impl Core {
    pub(super) fn new(inbox: Inbox, sealer: Sealer, now: Instant) -> Core {
        Core {
            inbox,
            sealer,
            live: Liveness::new(now, HEARTBEAT, DEAD_AFTER),
            end: None,
            end_reported: false,
            goodbye: None,
        }
    }

    pub(super) fn fail(&mut self, end: End) {
        if self.end.is_some() {
            return;
        }
        if let Some(r) = end.goodbye() {
            let detail = match &end {
                End::Violation(v) => v.to_string(),
                e => e.to_string(),
            };
            self.goodbye = Some((r, detail));
        }
        self.end = Some(end);
    }

    pub(super) fn take_end(&mut self) -> Option<End> {
        if self.end_reported {
            return None;
        }
        let e = self.end.clone()?;
        self.end_reported = true;
        Some(e)
    }

    pub(super) fn handle_read(&mut self, n: usize, now: Instant) {
        self.inbox.filled(n);
        if n > 0 {
            self.live.on_rx(now);
        }
    }

    pub(super) fn handle_timeout(&mut self, now: Instant) {
        if self.end.is_none() && self.live.is_dead(now) {
            self.fail(End::Dead(self.live.dead_after));
        }
    }

    /// Seal `frames` (already encoded) as one record onto `out`.
    pub(super) fn seal(&mut self, out: &mut Vec<u8>, start: usize) -> bool {
        match self.sealer.seal(out, start) {
            Ok(()) => true,
            Err(e) => {
                out.truncate(start);
                self.fail(End::BadRecord(e));
                false
            }
        }
    }

    pub(super) fn push_goodbye(&mut self, out: &mut Vec<u8>) {
        if let Some((r, detail)) = self.goodbye.take() {
            frame::encode(&r.goodbye(&detail), out);
        }
    }

    /// Closed, and nothing more to send: the driver shuts the stream down.
    pub(super) fn done(&self) -> bool {
        self.end.is_some() && self.goodbye.is_none()
    }
}
