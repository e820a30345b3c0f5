//! The ingress side of an established link.

use std::time::{Duration, Instant};

use super::inbox::{Inbox, Item};
use super::shared::Core;
use super::{End, STALL_AFTER, Violation};
use crate::wire::frame::{self, kind};
use crate::wire::handshake::{Goodbye, Reject};
use crate::wire::kdf::SessionKeys;
use crate::wire::record::{self, MAX_S2C_BODY, RecordError, Sealer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngressEvent {
    /// The egress proved itself; resume at [`resume_point`](super::resume_point) and call
    /// [`IngressSession::start`].
    Welcome {
        resume_from: u64,
        heartbeat: Duration,
    },
    /// Everything below this was emitted.
    Acked(u64),
    Closed(End),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitWelcome,
    Welcomed,
    Sending,
}

/// A transmit handed to the driver and not yet written.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    /// For a data record: the sequence after its last datagram.
    data_next: Option<u64>,
}

/// The ingress side of an established link: seals the window's frames,
/// checks the egress's Acks, notices a dead peer and a stall.
pub struct IngressSession {
    core: Core,
    phase: Phase,
    head: u64,
    resume_from: u64,
    /// The sequence after the last datagram sealed (the bound on Acks).
    sent: u64,
    /// The sequence after the last datagram written out.
    written: u64,
    acked: u64,
    in_flight: Option<InFlight>,
    /// When writing last made progress, or data last became waiting.
    progress_at: Instant,
    /// The `progress_at` whose stall was already reported by a timeout.
    stall_noted: Option<Instant>,
}

impl IngressSession {
    /// After the Auth was sent: `head` is the window's next sequence number now.
    pub fn new(keys: &SessionKeys, encrypt: bool, now: Instant, head: u64, initial: &[u8]) -> Self {
        IngressSession {
            core: Core::new(
                Inbox::new(&keys.s2c, encrypt, MAX_S2C_BODY, initial),
                Sealer::new(&keys.c2s, encrypt),
                now,
            ),
            phase: Phase::AwaitWelcome,
            head,
            resume_from: 0,
            sent: 0,
            written: 0,
            acked: 0,
            in_flight: None,
            progress_at: now,
            stall_noted: None,
        }
    }

    pub fn recv_buf(&mut self) -> &mut [u8] {
        self.core.inbox.recv_buf()
    }

    pub fn handle_read(&mut self, n: usize, now: Instant) {
        self.core.handle_read(n, now);
    }

    /// The window's head moved (or was read again).
    pub fn set_head(&mut self, now: Instant, head: u64) {
        if self.head <= self.written && head > self.written {
            // Caught up until now: the wait for the new data starts here.
            self.progress_at = now;
        }
        self.head = self.head.max(head);
    }

    pub fn poll_event(&mut self) -> Option<IngressEvent> {
        if self.core.end.is_none() {
            match self.next_event() {
                Ok(Some(e)) => return Some(e),
                Ok(None) => {}
                Err(e) => self.core.fail(e),
            }
        }
        self.core.take_end().map(IngressEvent::Closed)
    }

    fn next_event(&mut self) -> Result<Option<IngressEvent>, End> {
        loop {
            let first = self.phase == Phase::AwaitWelcome;
            let item = match self.core.inbox.next(first) {
                Ok(i) => i,
                // The first record is sealed with a key only a holder of ours derives.
                Err(End::BadRecord(RecordError::BadTag)) if first => return Err(End::NoProof),
                Err(e) => return Err(e),
            };
            let (k, range) = match item {
                None => return Ok(None),
                Some(Item::Plain { range }) => {
                    return match self.core.inbox.decode(range)? {
                        frame::Frame::Goodbye { code, reason } => {
                            Err(End::Refused(Goodbye { code, reason }))
                        }
                        f => Err(Violation::Unexpected(f.name()).into()),
                    };
                }
                Some(Item::Frame { kind, range }) => (kind, range),
            };
            match (k, first) {
                (kind::WELCOME, true) => {
                    let frame::Frame::Welcome(w) = self.core.inbox.decode(range)? else {
                        unreachable!("kind checked")
                    };
                    if w.resume_from > self.head {
                        return Err(Violation::ResumeBeyondHead {
                            resume: w.resume_from,
                            head: self.head,
                        }
                        .into());
                    }
                    self.phase = Phase::Welcomed;
                    self.resume_from = w.resume_from;
                    let heartbeat = Duration::from_millis(w.heartbeat_ms.clamp(100, 1000) as u64);
                    self.core.live.interval = heartbeat;
                    return Ok(Some(IngressEvent::Welcome {
                        resume_from: w.resume_from,
                        heartbeat,
                    }));
                }
                (kind::GOODBYE, _) => {
                    let frame::Frame::Goodbye { code, reason } = self.core.inbox.decode(range)?
                    else {
                        unreachable!("kind checked")
                    };
                    return Err(End::Goodbye(Goodbye { code, reason }));
                }
                (kind::ACK, false) => {
                    let frame::Frame::Ack { next_seq } = self.core.inbox.decode(range)? else {
                        unreachable!("kind checked")
                    };
                    if next_seq > self.sent {
                        return Err(Violation::AckBeyondSent {
                            ack: next_seq,
                            sent: self.sent,
                        }
                        .into());
                    }
                    if next_seq > self.acked {
                        self.acked = next_seq;
                        return Ok(Some(IngressEvent::Acked(next_seq)));
                    }
                }
                (kind::HEARTBEAT, false) => {
                    self.core.inbox.decode(range)?;
                }
                (other, _) => return Err(Violation::Unexpected(frame::kind_name(other)).into()),
            }
        }
    }

    /// Data starts at `first` (from [`resume_point`](super::resume_point)), after the Welcome.
    pub fn start(&mut self, now: Instant, first: u64) {
        debug_assert_eq!(self.phase, Phase::Welcomed);
        self.phase = Phase::Sending;
        self.sent = first;
        self.written = first;
        self.acked = self.acked.max(self.resume_from);
        self.progress_at = now;
    }

    /// Is the session ready for [`Self::seal_data`]: sending, and nothing in flight?
    pub fn can_send(&self) -> bool {
        self.phase == Phase::Sending && self.core.end.is_none() && self.in_flight.is_none()
    }

    /// Seal the record begun at `start` in `out` (by `record::begin`), holding
    /// data frames up to (not including) sequence `next`. Write it all, then
    /// call [`Self::on_written`].
    pub fn seal_data(&mut self, out: &mut Vec<u8>, start: usize, next: u64) {
        debug_assert!(self.can_send() && next > self.sent);
        if self.core.seal(out, start) {
            self.sent = next;
            self.in_flight = Some(InFlight {
                data_next: Some(next),
            });
        }
    }

    /// A Heartbeat when due, or the Goodbye when closing, appended to `out`.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        if self.in_flight.is_some() {
            return false;
        }
        let closing = self.core.end.is_some();
        if closing && self.core.goodbye.is_none() {
            return false;
        }
        if !closing && (self.phase != Phase::Sending || !self.core.live.heartbeat_due(now)) {
            return false;
        }
        let start = record::begin(out);
        if closing {
            self.core.push_goodbye(out);
        } else {
            frame::encode(
                &frame::Frame::Heartbeat {
                    sent_ns: crate::clock::now_ns(),
                },
                out,
            );
        }
        if !self.core.seal(out, start) {
            return false;
        }
        self.in_flight = Some(InFlight { data_next: None });
        true
    }

    /// The last transmit was written out whole.
    pub fn on_written(&mut self, now: Instant) {
        if let Some(f) = self.in_flight.take() {
            self.core.live.on_tx(now);
            if let Some(n) = f.data_next {
                self.written = n;
                self.progress_at = now;
            }
        }
    }

    /// Close on purpose: the Goodbye goes out with the next [`Self::poll_transmit`]
    /// (after the write in flight, if any).
    pub fn close(&mut self, why: Reject, detail: &str) {
        if self.core.end.is_none() {
            self.core.goodbye = Some((why, detail.to_string()));
            self.core.end = Some(End::Closed(why));
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.core.end.is_some() {
            return None;
        }
        let mut t = self.core.live.dead_at();
        if self.phase == Phase::Sending && self.in_flight.is_none() {
            t = t.min(self.core.live.heartbeat_at());
        }
        if self.phase == Phase::Sending
            && self.head > self.written
            && self.stall_noted != Some(self.progress_at)
        {
            t = t.min(self.progress_at + STALL_AFTER);
        }
        Some(t)
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.core.handle_timeout(now);
        if self.stalled(now) {
            // Noted: the stall's deadline is not asked for again until progress.
            self.stall_noted = Some(self.progress_at);
        }
    }

    /// Up, holding data it has not been able to write for [`STALL_AFTER`].
    pub fn stalled(&self, now: Instant) -> bool {
        self.phase == Phase::Sending
            && self.core.end.is_none()
            && self.head > self.written
            && now.duration_since(self.progress_at) >= STALL_AFTER
    }

    /// Closed, the Goodbye (if any) written out: shut the stream down.
    pub fn is_done(&self) -> bool {
        self.core.done() && self.in_flight.is_none()
    }

    /// Everything below this was acknowledged by the egress.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// The sequence after the last datagram sealed.
    pub fn sent(&self) -> u64 {
        self.sent
    }
}
