//! The ingress's bounded window of framed datagrams: the fan-out buffer every
//! destination reads from at its own position, and the replay window after a
//! reconnect. Bounded by bytes and by age; the writer never waits for a reader,
//! and a reader that falls behind the window learns how much it lost.

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use crate::wire::frame::{self, DATA_OVERHEAD};

#[derive(Debug, Clone, Copy)]
struct Entry {
    off: u32,
    len: u32,
}

pub struct Ring {
    buf: Vec<u8>,
    entries: VecDeque<Entry>,
    max_entries: usize,
    /// Sequence number of `entries[0]`; the next one to be pushed when empty.
    first_seq: u64,
    write: usize,
    max_age_ns: u64,
    bytes: usize,
    evicted: u64,
}

/// The outcome of a read at a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Frames were appended; continue at `next`.
    Copied { next: u64 },
    /// The position was evicted; the oldest frame still held is `oldest`.
    Behind { oldest: u64 },
    /// Nothing newer than the position yet.
    UpToDate,
}

impl Ring {
    /// A window of `bytes` (at least one maximal frame) holding frames for at most `max_age_ns`.
    pub fn new(bytes: usize, max_age_ns: u64) -> Self {
        let bytes = bytes.max(frame::MAX_FRAME).min(u32::MAX as usize);
        // Index sized for an average frame of 64 bytes; more frames than that evict early.
        let max_entries = (bytes / 64).max(1024);
        Ring {
            buf: vec![0; bytes],
            entries: VecDeque::with_capacity(max_entries),
            max_entries,
            first_seq: 0,
            write: 0,
            max_age_ns,
            bytes: 0,
            evicted: 0,
        }
    }

    /// Frame a datagram into the window and return its sequence number.
    pub fn push(
        &mut self,
        recv_ns: u64,
        group: SocketAddrV4,
        source: SocketAddrV4,
        payload: &[u8],
    ) -> u64 {
        let len = DATA_OVERHEAD + payload.len();
        self.expire(recv_ns);
        let off = self.reserve(len);
        let seq = self.next_seq();
        let slot = &mut self.buf[off..off + len];
        frame::write_data_header(slot, seq, recv_ns, group, source, payload.len());
        slot[DATA_OVERHEAD..].copy_from_slice(payload);
        self.entries.push_back(Entry {
            off: off as u32,
            len: len as u32,
        });
        self.write = off + len;
        self.bytes += len;
        seq
    }

    /// Append frames from `from` on to `out`, up to `max_bytes` (at least one frame).
    pub fn read(&self, from: u64, out: &mut Vec<u8>, max_bytes: usize) -> Read {
        if from < self.first_seq {
            return Read::Behind {
                oldest: self.first_seq,
            };
        }
        let mut i = (from - self.first_seq) as usize;
        if i >= self.entries.len() {
            return Read::UpToDate;
        }
        let start = out.len();
        while let Some(e) = self.entries.get(i) {
            if out.len() > start && out.len() - start + e.len as usize > max_bytes {
                break;
            }
            out.extend_from_slice(&self.buf[e.off as usize..(e.off + e.len) as usize]);
            i += 1;
        }
        Read::Copied {
            next: self.first_seq + i as u64,
        }
    }

    /// Sequence number the next push gets.
    pub fn next_seq(&self) -> u64 {
        self.first_seq + self.entries.len() as u64
    }

    pub fn oldest_seq(&self) -> u64 {
        self.first_seq
    }

    /// Bytes of frames held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Frames dropped from the window so far (by size or age).
    #[cfg(test)]
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    fn recv_ns(&self, e: &Entry) -> u64 {
        crate::wire::frame::data_recv_ns(&self.buf[e.off as usize..(e.off + e.len) as usize])
    }

    fn expire(&mut self, now_ns: u64) {
        let cutoff = now_ns.saturating_sub(self.max_age_ns);
        while self
            .entries
            .front()
            .is_some_and(|e| self.recv_ns(e) < cutoff)
        {
            self.evict();
        }
    }

    fn evict(&mut self) {
        if let Some(e) = self.entries.pop_front() {
            self.first_seq += 1;
            self.bytes -= e.len as usize;
            self.evicted += 1;
        }
    }

    /// Find `len` contiguous free bytes, evicting the oldest frames as needed.
    fn reserve(&mut self, len: usize) -> usize {
        let cap = self.buf.len();
        loop {
            if self.entries.len() >= self.max_entries {
                self.evict();
                continue;
            }
            let Some(tail) = self.entries.front().map(|e| e.off as usize) else {
                self.write = 0;
                return 0;
            };
            if self.write > tail {
                if cap - self.write >= len {
                    return self.write;
                }
                if tail >= len {
                    return 0;
                }
            } else if self.write < tail && tail - self.write >= len {
                return self.write;
            }
            self.evict();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame::{Frame, MAX_FRAME, decode};

    fn g() -> SocketAddrV4 {
        "239.1.1.1:5000".parse().unwrap()
    }

    fn frames(buf: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some((f, n)) = decode(&buf[pos..], MAX_FRAME).unwrap() {
            let Frame::Data(d) = f else { panic!() };
            out.push((d.seq, d.payload.to_vec()));
            pos += n;
        }
        out
    }

    #[test]
    fn readers_see_every_frame_in_order() {
        let mut r = Ring::new(0, u64::MAX);
        for i in 0..100u8 {
            assert_eq!(r.push(1, g(), g(), &[i; 10]), i as u64);
        }
        let mut out = Vec::new();
        assert_eq!(r.read(0, &mut out, 430), Read::Copied { next: 10 });
        assert_eq!(r.read(10, &mut out, 1 << 20), Read::Copied { next: 100 });
        let got = frames(&out);
        assert_eq!(got.len(), 100);
        assert!(
            got.iter()
                .enumerate()
                .all(|(i, (s, p))| *s == i as u64 && p == &vec![i as u8; 10])
        );
        assert_eq!(r.read(100, &mut out, 1), Read::UpToDate);
    }

    #[test]
    fn a_full_window_evicts_the_oldest_and_tells_the_slow_reader() {
        let mut r = Ring::new(0, u64::MAX);
        let cap = r.capacity();
        let payload = vec![7u8; 1000];
        let n = 3 * cap / (1000 + DATA_OVERHEAD);
        for _ in 0..n {
            r.push(1, g(), g(), &payload);
        }
        assert!(r.bytes() <= cap);
        assert!(r.oldest_seq() > 0);
        assert_eq!(r.evicted(), r.oldest_seq());
        let mut out = Vec::new();
        assert_eq!(
            r.read(0, &mut out, 1 << 30),
            Read::Behind {
                oldest: r.oldest_seq()
            }
        );
        let Read::Copied { next } = r.read(r.oldest_seq(), &mut out, 1 << 30) else {
            panic!()
        };
        assert_eq!(next, n as u64);
        let got = frames(&out);
        assert_eq!(got.first().unwrap().0, r.oldest_seq());
        assert!(
            got.iter().all(|(_, p)| p == &payload),
            "no frame was overwritten while held"
        );
    }

    #[test]
    fn age_bounds_the_window() {
        let mut r = Ring::new(0, 1_000);
        r.push(100, g(), g(), b"a");
        r.push(600, g(), g(), b"b");
        r.push(1_200, g(), g(), b"c");
        assert_eq!(
            r.oldest_seq(),
            1,
            "the frame at 100 is older than 1000 ns at 1200"
        );
        r.push(2_100, g(), g(), b"d");
        assert_eq!(r.oldest_seq(), 2, "and at 2100, the frame at 600");
    }
}
