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

use std::net::SocketAddrV4;
use std::ops::Range;
use std::time::{Duration, Instant};

use super::frame::{self, FrameError, MAX_FRAME, Welcome, kind};
use super::handshake::{Goodbye, Reject};
use super::kdf::SessionKeys;
use super::record::{
    self, MAX_C2S_BODY, MAX_S2C_BODY, Opener, RECORD_OVERHEAD, RecordError, Sealer,
};

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

/// One frame out of an opened record, or a plain frame where one may stand.
enum Item {
    Frame { kind: u8, range: Range<usize> },
    Plain { range: Range<usize> },
}

/// The receive side: a fixed buffer, reassembly of records, opening them in
/// place, and walking the frames inside.
struct Inbox {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    opener: Opener,
    max_body: usize,
    /// The frames of the open record not yet handed out.
    body: Range<usize>,
}

impl Inbox {
    fn new(key: &[u8; 32], encrypt: bool, max_body: usize, initial: &[u8]) -> Inbox {
        let max_record = 4 + max_body + RECORD_OVERHEAD;
        let mut buf = vec![0; (2 * max_record).max(initial.len())];
        buf[..initial.len()].copy_from_slice(initial);
        Inbox {
            buf,
            start: 0,
            end: initial.len(),
            opener: Opener::new(key, encrypt),
            max_body,
            body: 0..0,
        }
    }

    fn max_record(&self) -> usize {
        4 + self.max_body + RECORD_OVERHEAD
    }

    /// Room to read into. Moves what is buffered to the front first when the
    /// tail could not hold a whole record; ranges handed out before are void.
    fn recv_buf(&mut self) -> &mut [u8] {
        if self.buf.len() - self.start < self.max_record() && self.start > 0 {
            let shift = self.start;
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= shift;
            self.start = 0;
            self.body = self.body.start.saturating_sub(shift)..self.body.end.saturating_sub(shift);
        }
        &mut self.buf[self.end..]
    }

    fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// The next frame; opens the next whole record when the current one is done.
    fn next(&mut self, allow_plain: bool) -> Result<Option<Item>, End> {
        loop {
            if !self.body.is_empty() {
                let b = &self.buf[self.body.clone()];
                return match frame::check(b, MAX_FRAME) {
                    Ok(Some(n)) => {
                        let range = self.body.start..self.body.start + n;
                        self.body.start += n;
                        Ok(Some(Item::Frame {
                            kind: self.buf[range.start + 4],
                            range,
                        }))
                    }
                    Ok(None) => Err(Violation::FrameAcrossRecords.into()),
                    Err(e) => Err(Violation::Malformed(e).into()),
                };
            }
            let pending = &self.buf[self.start..self.end];
            let n = match frame::check(pending, self.max_record()) {
                Ok(Some(n)) => n,
                Ok(None) => return Ok(None),
                Err(FrameError::TooLong { len, max }) => {
                    return Err(Violation::RecordTooLong { len, max }.into());
                }
                Err(e) => return Err(Violation::Malformed(e).into()),
            };
            let at = self.start;
            self.start += n;
            if self.buf[at + 4] != kind::SEALED {
                if allow_plain {
                    return Ok(Some(Item::Plain { range: at..at + n }));
                }
                return Err(Violation::Unexpected(frame::kind_name(self.buf[at + 4])).into());
            }
            let body = self
                .opener
                .open(&mut self.buf[at..at + n])
                .map_err(End::BadRecord)?;
            if body.is_empty() {
                return Err(Violation::EmptyRecord.into());
            }
            self.body = at + body.start..at + body.end;
        }
    }

    fn decode(&self, range: Range<usize>) -> Result<frame::Frame<'_>, End> {
        match frame::decode(&self.buf[range], MAX_FRAME) {
            Ok(Some((f, _))) => Ok(f),
            Ok(None) => Err(Violation::FrameAcrossRecords.into()),
            Err(e) => Err(Violation::Malformed(e).into()),
        }
    }
}

/// What both sides share: the inbox, the sealer, liveness and closing.
struct Core {
    inbox: Inbox,
    sealer: Sealer,
    live: Liveness,
    /// Set once: why the session ends. Reported by `poll_event` once.
    end: Option<End>,
    end_reported: bool,
    /// A Goodbye still to send (and its detail).
    goodbye: Option<(Reject, String)>,
}

impl Core {
    fn fail(&mut self, end: End) {
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

    fn take_end(&mut self) -> Option<End> {
        if self.end_reported {
            return None;
        }
        let e = self.end.clone()?;
        self.end_reported = true;
        Some(e)
    }

    fn handle_read(&mut self, n: usize, now: Instant) {
        self.inbox.filled(n);
        if n > 0 {
            self.live.on_rx(now);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.end.is_none() && self.live.is_dead(now) {
            self.fail(End::Dead(self.live.dead_after));
        }
    }

    /// Seal `frames` (already encoded) as one record onto `out`.
    fn seal(&mut self, out: &mut Vec<u8>, start: usize) -> bool {
        match self.sealer.seal(out, start) {
            Ok(()) => true,
            Err(e) => {
                out.truncate(start);
                self.fail(End::BadRecord(e));
                false
            }
        }
    }

    fn push_goodbye(&mut self, out: &mut Vec<u8>) {
        if let Some((r, detail)) = self.goodbye.take() {
            frame::encode(&r.goodbye(&detail), out);
        }
    }

    /// Closed, and nothing more to send: the driver shuts the stream down.
    fn done(&self) -> bool {
        self.end.is_some() && self.goodbye.is_none()
    }
}

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
            core: Core {
                inbox: Inbox::new(&keys.c2s, encrypt, MAX_C2S_BODY, initial),
                sealer: Sealer::new(&keys.s2c, encrypt),
                live: Liveness::new(now, HEARTBEAT, DEAD_AFTER),
                end: None,
                end_reported: false,
                goodbye: None,
            },
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngressEvent {
    /// The egress proved itself; resume at [`resume_point`] and call
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
            core: Core {
                inbox: Inbox::new(&keys.s2c, encrypt, MAX_S2C_BODY, initial),
                sealer: Sealer::new(&keys.c2s, encrypt),
                live: Liveness::new(now, HEARTBEAT, DEAD_AFTER),
                end: None,
                end_reported: false,
                goodbye: None,
            },
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

    /// Data starts at `first` (from [`resume_point`]), after the Welcome.
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
