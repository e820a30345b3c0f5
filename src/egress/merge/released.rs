//! What the merge tells its caller: a decision per datagram, and the held
//! datagrams that became due, with their payloads.

use std::net::SocketAddrV4;
use std::ops::Range;

use super::channel::Held;

/// What to do with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Emit it, before what [`Released`] holds.
    Emit,
    /// A later copy of what was emitted (or is held): drop it.
    Late,
    /// Kept until the gap before it is filled or given up (see [`Released`]).
    Held,
    /// It goes out in [`Released`], in its place among datagrams released
    /// before it (a copy: emit nothing from the caller's buffer).
    InReleased,
}

/// Held datagrams that became due, in order, with their payloads.
#[derive(Default)]
pub struct Released {
    pub buf: Vec<u8>,
    pub items: Vec<ReleasedItem>,
}

#[derive(Debug, Clone)]
pub struct ReleasedItem {
    pub group: SocketAddrV4,
    pub payload: Range<usize>,
    pub recv_ns: u64,
    pub(super) sender: usize,
    pub(super) link_seq: u64,
}

impl Released {
    pub fn clear(&mut self) {
        self.buf.clear();
        self.items.clear();
    }

    pub(super) fn push(&mut self, h: Held, sender: usize) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&h.payload);
        self.items.push(ReleasedItem {
            group: h.group,
            payload: start..self.buf.len(),
            recv_ns: h.recv_ns,
            sender,
            link_seq: h.link_seq,
        });
    }
}
