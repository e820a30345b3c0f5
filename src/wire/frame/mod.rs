//! The wire format, v2: a pure codec with no I/O (see docs/PROTOCOL.md).
//!
//! Every frame is `u32 length` (big-endian, counts the bytes after it), `u8 kind`,
//! then the body. [`check`] looks at a buffer and says whether a whole frame is
//! there without allocating; [`decode`] borrows data payloads from the buffer.
//! After the handshake every frame travels inside a sealed record
//! (`super::record`), itself a frame of kind [`kind::SEALED`].

use std::net::SocketAddrV4;

use thiserror::Error;

mod decode;
mod encode;

pub use decode::decode;
pub use encode::{encode, encode_data, write_data_header};

pub const MAGIC: [u8; 4] = *b"MCRL";
pub const VERSION: u16 = 2;
/// Length field plus kind byte.
pub const FRAME_HEADER: usize = 5;
/// Fixed part of a data frame before the payload (after the 5-byte frame header).
pub const DATA_FIXED: usize = 8 + 8 + 4 + 2 + 4 + 2;
/// Where each field of a data frame sits, from the frame's first byte: the
/// one statement of the layout that the encoder and the replay window share.
pub mod data_at {
    use std::ops::Range;
    pub const SEQ: Range<usize> = 5..13;
    pub const RECV_NS: Range<usize> = 13..21;
    pub const GROUP: Range<usize> = 21..25;
    pub const GROUP_PORT: Range<usize> = 25..27;
    pub const SOURCE: Range<usize> = 27..31;
    pub const SOURCE_PORT: Range<usize> = 31..33;
}

/// The receive time stamped in an encoded data frame.
pub fn data_recv_ns(frame: &[u8]) -> u64 {
    u64::from_be_bytes(frame[data_at::RECV_NS].try_into().expect("8 bytes"))
}

/// Whole data-frame overhead per datagram on the wire.
pub const DATA_OVERHEAD: usize = FRAME_HEADER + DATA_FIXED;
/// Largest UDP payload IPv4 can carry.
pub const MAX_DATAGRAM: usize = 65_507;
/// Largest frame accepted once a session is established.
pub const MAX_FRAME: usize = DATA_OVERHEAD + MAX_DATAGRAM;
/// Largest frame accepted during the handshake, before the peer is trusted.
pub const MAX_HANDSHAKE_FRAME: usize = 8 * 1024;
pub const MAX_FEED_NAME: usize = 64;
pub const MAX_MANIFEST: usize = 1024;
pub const NONCE_LEN: usize = 32;
pub const KEY_ID_LEN: usize = 8;
pub const PROOF_LEN: usize = 32;
/// Longest sender name in a Hello.
pub const MAX_SENDER_NAME: usize = 64;
/// Hello flag: seal records with encryption, not only authentication.
pub const FLAG_ENCRYPT: u8 = 0x01;

pub mod kind {
    pub const HELLO: u8 = 0x01;
    pub const CHALLENGE: u8 = 0x02;
    pub const AUTH: u8 = 0x03;
    pub const WELCOME: u8 = 0x04;
    pub const DATA: u8 = 0x10;
    pub const ACK: u8 = 0x20;
    pub const HEARTBEAT: u8 = 0x21;
    pub const GOODBYE: u8 = 0x7f;
    /// A sealed record holding frames (after the handshake); never a frame kind itself.
    pub const SEALED: u8 = 0xa0;
}

/// How the sender of a Hello means to prove itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// No key: records are still sealed, but with keys anyone can derive.
    None = 0,
    /// A pre-shared key, named by `key_id`, proven by the client first.
    PreSharedKey = 1,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub version: u16,
    pub auth: AuthMethod,
    /// Random per ingress process: lets an egress tell a restarted ingress from a reconnect.
    pub stream_id: u64,
    pub nonce: [u8; NONCE_LEN],
    /// Which pre-shared key the client holds (see `auth::key_id`); zero without auth.
    pub key_id: [u8; KEY_ID_LEN],
    pub feed: String,
    /// The groups the ingress joined, so an egress can refuse an obvious loop.
    pub manifest: Vec<SocketAddrV4>,
    /// v2: encrypt records too (`FLAG_ENCRYPT`).
    pub encrypt: bool,
    /// v2: which sender this is, stable across its restarts (a host, or a host and a line).
    pub sender: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub nonce: [u8; NONCE_LEN],
}

/// The client's proof: its finished value from the key schedule (`super::kdf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub proof: [u8; PROOF_LEN],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Welcome {
    /// The next sequence number this egress expects of this stream, or 0 if it has none.
    pub resume_from: u64,
    pub heartbeat_ms: u32,
}

/// One multicast datagram, borrowed from the buffer it was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Data<'a> {
    pub seq: u64,
    /// Ingress receive time, ns since the Unix epoch.
    pub recv_ns: u64,
    pub group: SocketAddrV4,
    pub source: SocketAddrV4,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    Hello(Hello),
    Challenge(Challenge),
    Auth(Auth),
    Welcome(Welcome),
    Data(Data<'a>),
    /// Everything before `next_seq` has been emitted.
    Ack {
        next_seq: u64,
    },
    Heartbeat {
        sent_ns: u64,
    },
    Goodbye {
        code: u16,
        reason: String,
    },
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame of {len} bytes is over the limit of {max}")]
    TooLong { len: usize, max: usize },
    #[error("frame too short for its kind 0x{kind:02x}")]
    Truncated { kind: u8 },
    #[error("unknown frame kind 0x{0:02x}")]
    UnknownKind(u8),
    #[error("bad magic: not an mcast-relay peer")]
    BadMagic,
    #[error("malformed {0}")]
    Malformed(&'static str),
}

impl FrameError {
    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::TooLong { .. } => "oversize",
            FrameError::Truncated { .. } => "truncated",
            FrameError::UnknownKind(_) => "unknown_kind",
            FrameError::BadMagic => "bad_magic",
            FrameError::Malformed(_) => "malformed",
        }
    }
}

/// The name of a frame kind, for errors and logs.
pub fn kind_name(k: u8) -> &'static str {
    match k {
        kind::HELLO => "Hello",
        kind::CHALLENGE => "Challenge",
        kind::AUTH => "Auth",
        kind::WELCOME => "Welcome",
        kind::DATA => "Data",
        kind::ACK => "Ack",
        kind::HEARTBEAT => "Heartbeat",
        kind::GOODBYE => "Goodbye",
        kind::SEALED => "a sealed record",
        _ => "an unknown frame",
    }
}

impl Frame<'_> {
    pub fn kind(&self) -> u8 {
        match self {
            Frame::Hello(_) => kind::HELLO,
            Frame::Challenge(_) => kind::CHALLENGE,
            Frame::Auth(_) => kind::AUTH,
            Frame::Welcome(_) => kind::WELCOME,
            Frame::Data(_) => kind::DATA,
            Frame::Ack { .. } => kind::ACK,
            Frame::Heartbeat { .. } => kind::HEARTBEAT,
            Frame::Goodbye { .. } => kind::GOODBYE,
        }
    }

    pub fn name(&self) -> &'static str {
        kind_name(self.kind())
    }
}

/// What a stream that is not ours looks like, from its first bytes, so the
/// log can say "an HTTP request" rather than "frame too long".
pub fn sniff(first: &[u8]) -> Option<&'static str> {
    const HTTP: [&[u8]; 9] = [
        b"GET ", b"POST", b"HEAD", b"PUT ", b"DELE", b"OPTI", b"CONN", b"PATC", b"PRI ",
    ];
    if first.len() >= 4 && HTTP.iter().any(|m| first.starts_with(m)) {
        Some("http")
    } else if first.len() >= 3 && first[0] == 0x16 && first[1] == 0x03 && first[2] <= 0x04 {
        Some("tls_client_hello")
    } else if first.starts_with(b"SSH-") {
        Some("ssh")
    } else {
        None
    }
}

/// Is a whole frame at the start of `buf`? `Ok(Some(n))` gives its total length,
/// `Ok(None)` asks for more bytes. The length is checked against `max` before
/// anyone allocates or waits for the rest.
pub fn check(buf: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len == 0 {
        return Err(FrameError::Malformed("empty frame"));
    }
    if len + 4 > max {
        return Err(FrameError::TooLong { len: len + 4, max });
    }
    if buf.len() < len + 4 {
        return Ok(None);
    }
    Ok(Some(len + 4))
}

#[cfg(test)]
mod tests;
