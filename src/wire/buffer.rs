//! Reassembles frames from a byte stream read in arbitrary pieces. Fixed
//! capacity: a frame longer than the limit is refused from its length field,
//! never buffered.

use std::ops::Range;

use super::frame::{self, Frame, FrameError};

pub struct FrameBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max_frame: usize,
}

impl FrameBuf {
    /// `capacity` must be at least the largest frame that will be allowed.
    pub fn new(capacity: usize, max_frame: usize) -> Self {
        assert!(capacity >= max_frame);
        FrameBuf {
            buf: vec![0; capacity],
            start: 0,
            end: 0,
            max_frame,
        }
    }

    /// Change the frame limit (small during the handshake, larger after).
    pub fn set_max_frame(&mut self, max: usize) {
        assert!(max <= self.buf.len());
        self.max_frame = max;
    }

    /// Space to read into. Moves buffered bytes to the front first when the
    /// tail is too short for a whole frame; ranges given out before are then void.
    pub fn unfilled(&mut self) -> &mut [u8] {
        if self.buf.len() - self.start < self.max_frame && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// Record that `n` bytes were read into [`Self::unfilled`].
    pub fn filled(&mut self, n: usize) {
        self.end += n;
        debug_assert!(self.end <= self.buf.len());
    }

    /// The next whole frame's byte range in [`Self::bytes`], consumed.
    pub fn next_range(&mut self) -> Result<Option<Range<usize>>, FrameError> {
        match frame::check(&self.buf[self.start..self.end], self.max_frame)? {
            Some(n) => {
                let r = self.start..self.start + n;
                self.start += n;
                if self.start == self.end {
                    // Empty again: reading can start at the front.
                    self.start = 0;
                    self.end = 0;
                }
                Ok(Some(r))
            }
            None => Ok(None),
        }
    }

    /// Whole-frame convenience for callers that need one frame at a time.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, FrameError> {
        match self.next_range()? {
            Some(r) => Ok(frame::decode(&self.buf[r], self.max_frame)?.map(|(f, _)| f)),
            None => Ok(None),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The buffered bytes not yet consumed.
    pub fn peek(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Bytes buffered but not yet part of a whole frame.
    pub fn pending(&self) -> usize {
        self.end - self.start
    }
}
