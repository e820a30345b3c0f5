//! The egress side of an established link.

use std::net::SocketAddrV4;
use std::ops::Range;
use std::time::Instant;

use super::inbox::{Inbox, Item};
use super::shared::Core;
use super::{ACK_EVERY, End, HEARTBEAT, Violation};
use crate::wire::frame::{self, Welcome, kind};
use crate::wire::handshake::{Goodbye, Reject};
use crate::wire::kdf::SessionKeys;
use crate::wire::record::{self, MAX_C2S_BODY, Sealer};

/// A datagram in an opened record; its payload is `bytes()[payload]` until
/// the next `recv_buf` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRef {
    pub seq: u64,
    pub recv_ns: u64,
    pub group: SocketAddrV4,
    pub source: SocketAddrV4,
    pub payload: Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EgressEvent {
    Data(DataRef),
    /// The session is over; send what `poll_transmit` still gives, then close.
    Closed(End),
}

/// The egress side of an established link: opens the ingress's records,
/// checks its sequence numbers, acknowledges what was handled.
pub struct EgressSession {
    core: Core,
    resume_from: u64,
    last_seq: Option<u64>,
    /// Everything below this was handed to the driver.
    processed: u64,
    /// What the last Ack said.
    acked: u64,
    last_ack: Instant,
    welcome: Option<Welcome>,
    /// Acks stay below this (the driver still holds it, e.g. a merge waiting on a gap).
    ack_limit: Option<u64>,
}

impl EgressSession {
    /// A session for an accepted sender; `initial` is what the handshake's
    /// buffer held beyond the Auth. The first record sent is the Welcome.
    pub fn new(
        keys: &SessionKeys,
        encrypt: bool,
        now: Instant,
        resume_from: u64,
        initial: &[u8],
    ) -> Self {
        EgressSession {
            core: Core::new(
                Inbox::new(&keys.c2s, encrypt, MAX_C2S_BODY, initial),
                Sealer::new(&keys.s2c, encrypt),
                now,
            ),
            resume_from,
            last_seq: None,
            processed: resume_from,
            acked: resume_from,
            last_ack: now,
            welcome: Some(Welcome {
                resume_from,
                heartbeat_ms: HEARTBEAT.as_millis() as u32,
            }),
            ack_limit: None,
        }
    }

    /// Where to read the next bytes into.
    pub fn recv_buf(&mut self) -> &mut [u8] {
        self.core.inbox.recv_buf()
    }

    /// `n` bytes were read into [`Self::recv_buf`].
    pub fn handle_read(&mut self, n: usize, now: Instant) {
        self.core.handle_read(n, now);
    }

    /// The buffer that [`DataRef::payload`] ranges point into.
    pub fn bytes(&self) -> &[u8] {
        &self.core.inbox.buf
    }

    /// The next thing that happened, after a read or a timeout. Call until `None`.
    pub fn poll_event(&mut self) -> Option<EgressEvent> {
        if self.core.end.is_none() {
            match self.next_data() {
                Ok(Some(d)) => return Some(EgressEvent::Data(d)),
                Ok(None) => {}
                Err(e) => self.core.fail(e),
            }
        }
        self.core.take_end().map(EgressEvent::Closed)
    }

    fn next_data(&mut self) -> Result<Option<DataRef>, End> {
        loop {
            let Some(Item::Frame { kind: k, range }) = self.core.inbox.next(false)? else {
                return Ok(None);
            };
            match k {
                kind::DATA => {
                    let frame::Frame::Data(d) = self.core.inbox.decode(range.clone())? else {
                        unreachable!("kind checked")
                    };
                    let seq = d.seq;
                    if seq == u64::MAX {
                        return Err(Violation::SeqExhausted.into());
                    }
                    match self.last_seq {
                        Some(prev) if seq <= prev => {
                            return Err(Violation::SeqNotIncreasing { prev, seq }.into());
                        }
                        None if seq < self.resume_from => {
                            return Err(Violation::SeqBelowResume {
                                seq,
                                resume: self.resume_from,
                            }
                            .into());
                        }
                        _ => {}
                    }
                    let d = DataRef {
                        seq,
                        recv_ns: d.recv_ns,
                        group: d.group,
                        source: d.source,
                        payload: range.start + frame::DATA_OVERHEAD..range.end,
                    };
                    self.last_seq = Some(seq);
                    self.processed = seq + 1;
                    return Ok(Some(d));
                }
                kind::HEARTBEAT => {
                    self.core.inbox.decode(range)?;
                }
                kind::GOODBYE => {
                    let frame::Frame::Goodbye { code, reason } = self.core.inbox.decode(range)?
                    else {
                        unreachable!("kind checked")
                    };
                    return Err(End::Goodbye(Goodbye { code, reason }));
                }
                other => return Err(Violation::Unexpected(frame::kind_name(other)).into()),
            }
        }
    }

    /// Close on purpose (taken over, shutting down): a final Ack and the
    /// Goodbye go out with the next [`Self::poll_transmit`].
    pub fn close(&mut self, why: Reject, detail: &str) {
        if self.core.end.is_none() {
            self.core.goodbye = Some((why, detail.to_string()));
            self.core.end = Some(End::Closed(why));
        }
    }

    /// At most one record of what is due (Welcome, Ack, Heartbeat, Goodbye),
    /// appended to `out`. Call after handling a read's events, and after a timeout.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        let closing = self.core.end.is_some();
        if closing && self.core.goodbye.is_none() {
            return false;
        }
        let start = record::begin(out);
        if let Some(w) = self.welcome.take()
            && !closing
        {
            frame::encode(&frame::Frame::Welcome(w), out);
        }
        let ackable = self.ackable();
        let ack_due =
            ackable > self.acked && (closing || now.duration_since(self.last_ack) >= ACK_EVERY);
        if ack_due {
            frame::encode(&frame::Frame::Ack { next_seq: ackable }, out);
            self.acked = ackable;
            self.last_ack = now;
        }
        if closing {
            self.core.push_goodbye(out);
        } else if out.len() == start + frame::FRAME_HEADER && self.core.live.heartbeat_due(now) {
            frame::encode(
                &frame::Frame::Heartbeat {
                    sent_ns: crate::clock::now_ns(),
                },
                out,
            );
        }
        if out.len() == start + frame::FRAME_HEADER {
            out.truncate(start);
            return false;
        }
        if !self.core.seal(out, start) {
            return false;
        }
        self.core.live.on_tx(now);
        true
    }

    /// When to call [`Self::handle_timeout`] and [`Self::poll_transmit`] if
    /// nothing arrives; `None` once closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.core.end.is_some() {
            return None;
        }
        let mut t = self.core.live.dead_at().min(self.core.live.heartbeat_at());
        if self.ackable() > self.acked {
            t = t.min(self.last_ack + ACK_EVERY);
        }
        Some(t)
    }

    /// What an Ack may say now: everything handled, short of what the driver holds.
    fn ackable(&self) -> u64 {
        self.ack_limit
            .map_or(self.processed, |l| l.min(self.processed))
    }

    /// Keep Acks below `seq` (the driver still holds it), or lift the limit.
    pub fn limit_ack(&mut self, below: Option<u64>) {
        self.ack_limit = below;
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.core.handle_timeout(now);
    }

    /// Closed and everything said: shut the stream down.
    pub fn is_done(&self) -> bool {
        self.core.done()
    }

    /// Everything below this was handed to the driver (what the next Ack says).
    pub fn processed(&self) -> u64 {
        self.processed
    }
}
