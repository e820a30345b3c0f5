//! Sealed records: after the handshake every byte in each direction travels in
//! a record that AES-256-GCM authenticates (and, if asked, encrypts), so
//! injected, altered, reordered, replayed or spliced bytes are detected.
//!
//! A record is a frame of kind [`kind::SEALED`]: `u32 length`, `u8 0xa0`, the
//! body (whole frames), a 16-byte tag. The nonce is the record's number in its
//! direction (0, 1, 2, ...), never sent; the 5 header bytes are authenticated
//! too. Without encryption the body stays readable and is authenticated as
//! associated data. One record seals a whole TCP write (a batch of frames), so
//! the cost is one tag per batch, not per datagram.

use std::ops::Range;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use super::frame::{FRAME_HEADER, MAX_FRAME, kind};
use super::kdf::KEY_LEN;

pub const TAG_LEN: usize = 16;
/// What a record adds to its body on the wire.
pub const RECORD_OVERHEAD: usize = FRAME_HEADER + TAG_LEN;
/// Longest body from an ingress: a 256 KiB write plus one largest frame, with room.
pub const MAX_C2S_BODY: usize = 384 * 1024;
/// Longest body from an egress (acks, heartbeats, goodbyes).
pub const MAX_S2C_BODY: usize = 8 * 1024;
const _: () = assert!(MAX_C2S_BODY >= 256 * 1024 + MAX_FRAME);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("a record failed authentication (injected, altered, reordered or replayed bytes)")]
    BadTag,
    #[error("expected a sealed record, got {0}")]
    NotSealed(&'static str),
    #[error("a record of {0} bytes is shorter than its tag")]
    Short(usize),
    #[error("2^64 records sealed with one key")]
    Exhausted,
}

fn nonce(counter: u64) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

fn key(k: &[u8; KEY_LEN]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, k).expect("32-byte AES-256 key"))
}

/// Start a record at the end of `out`: reserves its header and returns where it
/// starts. Append whole frames after it, then [`Sealer::seal`] it.
pub fn begin(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    start
}

/// One direction's sending side.
pub struct Sealer {
    key: LessSafeKey,
    next: u64,
    encrypt: bool,
}

impl Sealer {
    pub fn new(k: &[u8; KEY_LEN], encrypt: bool) -> Sealer {
        Sealer {
            key: key(k),
            next: 0,
            encrypt,
        }
    }

    /// Seal the record begun at `start` in `out`: everything after its header
    /// is the body. Writes the header and appends the tag.
    pub fn seal(&mut self, out: &mut Vec<u8>, start: usize) -> Result<(), RecordError> {
        if self.next == u64::MAX {
            return Err(RecordError::Exhausted);
        }
        let body = out.len() - start - FRAME_HEADER;
        let len = (1 + body + TAG_LEN) as u32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
        out[start + 4] = kind::SEALED;
        let n = nonce(self.next);
        self.next += 1;
        let rec = &mut out[start..];
        let tag = if self.encrypt {
            let (hdr, body) = rec.split_at_mut(FRAME_HEADER);
            self.key
                .seal_in_place_separate_tag(n, Aad::from(&*hdr), body)
        } else {
            self.key
                .seal_in_place_separate_tag(n, Aad::from(&*rec), &mut [])
        }
        .expect("a record is far below AES-GCM's length limit");
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Records sealed so far.
    pub fn sealed(&self) -> u64 {
        self.next
    }
}

/// One direction's receiving side.
pub struct Opener {
    key: LessSafeKey,
    next: u64,
    encrypt: bool,
}

impl Opener {
    pub fn new(k: &[u8; KEY_LEN], encrypt: bool) -> Opener {
        Opener {
            key: key(k),
            next: 0,
            encrypt,
        }
    }

    /// Open one whole record (as `frame::check` delimited it) in place; returns
    /// the range of its body in `rec`. Any failure ends the session: the record
    /// number has moved on, so nothing after a bad record can open either.
    pub fn open(&mut self, rec: &mut [u8]) -> Result<Range<usize>, RecordError> {
        if rec[4] != kind::SEALED {
            return Err(RecordError::NotSealed(super::frame::kind_name(rec[4])));
        }
        if rec.len() < RECORD_OVERHEAD {
            return Err(RecordError::Short(rec.len()));
        }
        if self.next == u64::MAX {
            return Err(RecordError::Exhausted);
        }
        let n = nonce(self.next);
        self.next += 1;
        let body_end = rec.len() - TAG_LEN;
        let ok = if self.encrypt {
            let (hdr, rest) = rec.split_at_mut(FRAME_HEADER);
            self.key.open_in_place(n, Aad::from(&*hdr), rest).is_ok()
        } else {
            let (aad, tag) = rec.split_at_mut(body_end);
            self.key.open_in_place(n, Aad::from(&*aad), tag).is_ok()
        };
        if ok {
            Ok(FRAME_HEADER..body_end)
        } else {
            Err(RecordError::BadTag)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame::{Frame, check, decode, encode, kind_name};

    fn sealed(s: &mut Sealer, frames: &[Frame<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        let st = begin(&mut out);
        for f in frames {
            encode(f, &mut out);
        }
        s.seal(&mut out, st).unwrap();
        out
    }

    #[test]
    fn a_record_opens_to_its_frames_in_both_modes() {
        for encrypt in [false, true] {
            let (mut s, mut o) = (
                Sealer::new(&[5; 32], encrypt),
                Opener::new(&[5; 32], encrypt),
            );
            let f = [Frame::Ack { next_seq: 9 }, Frame::Heartbeat { sent_ns: 3 }];
            let mut rec = sealed(&mut s, &f);
            assert_eq!(check(&rec, usize::MAX).unwrap(), Some(rec.len()));
            let plain = {
                let mut p = Vec::new();
                f.iter().for_each(|f| encode(f, &mut p));
                p
            };
            assert_eq!(
                rec[FRAME_HEADER..rec.len() - TAG_LEN] == plain[..],
                !encrypt
            );
            let body = o.open(&mut rec).unwrap();
            assert_eq!(&rec[body.clone()], &plain[..]);
            let (first, _) = decode(&rec[body], usize::MAX).unwrap().unwrap();
            assert_eq!(first, f[0]);
        }
    }

    #[test]
    fn any_flipped_bit_replay_or_reorder_is_detected() {
        let mut s = Sealer::new(&[5; 32], false);
        let r0 = sealed(&mut s, &[Frame::Ack { next_seq: 1 }]);
        let r1 = sealed(&mut s, &[Frame::Ack { next_seq: 2 }]);
        for i in 0..r0.len() * 8 {
            let mut bad = r0.clone();
            bad[i / 8] ^= 1 << (i % 8);
            let mut o = Opener::new(&[5; 32], false);
            // The kind byte is checked first; every other bit is the tag's to catch.
            let want = if i / 8 == 4 {
                Err(RecordError::NotSealed(kind_name(bad[4])))
            } else {
                Err(RecordError::BadTag)
            };
            assert_eq!(o.open(&mut bad), want, "bit {i} flipped");
        }
        let mut o = Opener::new(&[5; 32], false);
        assert_eq!(
            o.open(&mut r1.clone()),
            Err(RecordError::BadTag),
            "reordered"
        );
        let mut o = Opener::new(&[5; 32], false);
        o.open(&mut r0.clone()).unwrap();
        assert_eq!(
            o.open(&mut r0.clone()),
            Err(RecordError::BadTag),
            "replayed"
        );
        let mut o = Opener::new(&[6; 32], false);
        assert_eq!(
            o.open(&mut r0.clone()),
            Err(RecordError::BadTag),
            "other key"
        );
        let mut o = Opener::new(&[5; 32], true);
        assert_eq!(
            o.open(&mut r0.clone()),
            Err(RecordError::BadTag),
            "other mode"
        );
    }
}
