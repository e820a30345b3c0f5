//! The receive side of a session: a fixed buffer, reassembly of records,
//! opening them in place, and walking the frames inside.

use std::ops::Range;

use super::{End, Violation};
use crate::wire::frame::{self, FrameError, MAX_FRAME, kind};
use crate::wire::record::{Opener, RECORD_OVERHEAD};

/// One frame out of an opened record, or a plain frame where one may stand.
pub(super) enum Item {
    Frame { kind: u8, range: Range<usize> },
    Plain { range: Range<usize> },
}

/// The receive side: a fixed buffer, reassembly of records, opening them in
/// place, and walking the frames inside.
pub(super) struct Inbox {
    pub(super) buf: Vec<u8>,
    start: usize,
    end: usize,
    opener: Opener,
    max_body: usize,
    /// The frames of the open record not yet handed out.
    body: Range<usize>,
}

impl Inbox {
    pub(super) fn new(key: &[u8; 32], encrypt: bool, max_body: usize, initial: &[u8]) -> Inbox {
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
    pub(super) fn recv_buf(&mut self) -> &mut [u8] {
        if self.buf.len() - self.start < self.max_record() && self.start > 0 {
            let shift = self.start;
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= shift;
            self.start = 0;
            self.body = self.body.start.saturating_sub(shift)..self.body.end.saturating_sub(shift);
        }
        &mut self.buf[self.end..]
    }

    pub(super) fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// The next frame; opens the next whole record when the current one is done.
    pub(super) fn next(&mut self, allow_plain: bool) -> Result<Option<Item>, End> {
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

    pub(super) fn decode(&self, range: Range<usize>) -> Result<frame::Frame<'_>, End> {
        match frame::decode(&self.buf[range], MAX_FRAME) {
            Ok(Some((f, _))) => Ok(f),
            Ok(None) => Err(Violation::FrameAcrossRecords.into()),
            Err(e) => Err(Violation::Malformed(e).into()),
        }
    }
}
