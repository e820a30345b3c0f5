//! What an egress has emitted, kept in a small file mapped into memory
//! (`--state-dir`): each position is one plain store, no syscall per batch,
//! and the pages outlive the process, so an egress killed and started again
//! on the same host resumes every sender where it left off. Positions are
//! written right after each send, so it never skips a datagram; what it can
//! repeat is the one send in flight when it died (a SIGKILL takes effect as
//! that system call returns, before the position is written): `--batch`
//! datagrams at most. Without the file (or on another host, such as a
//! replaced ECS task) an egress starts afresh, and customers may see up to
//! one Ack interval (50 ms) of datagrams twice.
//!
//! This module holds the crate's other `unsafe`: the mapping. Why it is
//! sound: the mapping is `LEN` bytes of a file this module sized itself, kept
//! mapped for the life of [`State`] and unmapped on drop; it is only ever read
//! and written as `AtomicU64`s (same size and alignment as `u64`; a page is
//! aligned), so concurrent stores race benignly, never into undefined values.
//! Another process truncating the file would fault this one: the file is the
//! relay's own, in its own directory.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::num::NonZeroUsize;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap};

const MAGIC: u64 = u64::from_le_bytes(*b"MCRLST01");
/// Positions a feed keeps: its senders' streams and its channels.
pub const SLOTS: usize = 4096;
const WORDS: usize = 4; // key, then three values
const LEN: usize = 8 * (WORDS + SLOTS * WORDS);

pub struct State {
    ptr: NonNull<AtomicU64>,
    _file: File,
}

// SAFETY: the mapping is only accessed through atomics.
unsafe impl Send for State {}
unsafe impl Sync for State {}

impl State {
    /// Map `path`, making it if needed. A file that is not ours (wrong size or
    /// magic) is started afresh.
    pub fn open(path: &Path) -> io::Result<State> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let fresh = file.metadata()?.len() != LEN as u64;
        if fresh {
            file.set_len(0)?;
            file.set_len(LEN as u64)?;
        }
        let len = NonZeroUsize::new(LEN).expect("not zero");
        // SAFETY: a new shared mapping of a file we just sized to LEN bytes.
        let p = unsafe {
            mmap(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                &file,
                0,
            )
        }
        .map_err(io::Error::from)?;
        let s = State {
            ptr: p.cast(),
            _file: file,
        };
        if s.words()[0].load(Ordering::Relaxed) != MAGIC {
            s.words().iter().for_each(|w| w.store(0, Ordering::Relaxed));
            s.words()[0].store(MAGIC, Ordering::Relaxed);
        }
        Ok(s)
    }

    fn words(&self) -> &[AtomicU64] {
        // SAFETY: LEN / 8 AtomicU64s, mapped for as long as self lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), LEN / 8) }
    }

    /// The slot of `key`: the one it has, or a free one it takes; `None` when full.
    pub fn slot(&self, key: u64) -> Option<usize> {
        let w = self.words();
        let start = (key as usize) % SLOTS;
        for i in 0..SLOTS {
            let s = (start + i) % SLOTS;
            let k = &w[WORDS * (1 + s)];
            match k.load(Ordering::Relaxed) {
                x if x == key => return Some(s),
                0 => {
                    k.store(key, Ordering::Relaxed);
                    return Some(s);
                }
                _ => {}
            }
        }
        None
    }

    /// The three values of a slot (all 0 when it was just taken).
    pub fn get(&self, slot: usize) -> [u64; 3] {
        let w = &self.words()[WORDS * (1 + slot) + 1..WORDS * (2 + slot)];
        [0, 1, 2].map(|i| w[i].load(Ordering::Relaxed))
    }

    pub fn set(&self, slot: usize, values: [u64; 3]) {
        let w = &self.words()[WORDS * (1 + slot) + 1..WORDS * (2 + slot)];
        for (i, v) in values.into_iter().enumerate() {
            w[i].store(v, Ordering::Relaxed);
        }
    }
}

impl Drop for State {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `open`, with its length; not used after.
        let _ = unsafe { munmap(self.ptr.cast(), LEN) };
    }
}

/// A stable key for the parts (FNV-1a; never 0, which marks a free slot).
pub fn key(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(&[0xff]) {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_outlive_the_mapping_and_a_foreign_file_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("prod.state");
        let (a, b) = (
            key(&[b"chan", b"239.1.1.1:6100", b"7"]),
            key(&[b"stream", b"dc-a"]),
        );
        assert_ne!(a, b);
        {
            let s = State::open(&p).unwrap();
            let (sa, sb) = (s.slot(a).unwrap(), s.slot(b).unwrap());
            assert_eq!(s.get(sa), [0, 0, 0], "a new slot");
            s.set(sa, [41, 1, 0]);
            s.set(sb, [0xfeed, 1000, 1]);
        }
        let s = State::open(&p).unwrap();
        assert_eq!(s.get(s.slot(a).unwrap()), [41, 1, 0]);
        assert_eq!(s.get(s.slot(b).unwrap()), [0xfeed, 1000, 1]);
        drop(s);
        std::fs::write(&p, b"not a state file").unwrap();
        let s = State::open(&p).unwrap();
        assert_eq!(s.get(s.slot(a).unwrap()), [0, 0, 0]);
    }

    #[test]
    fn slots_fill_up_then_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(&dir.path().join("s")).unwrap();
        for i in 0..SLOTS as u64 {
            assert!(s.slot(key(&[&i.to_le_bytes()])).is_some());
        }
        assert_eq!(s.slot(key(&[b"one more"])), None);
    }
}
