//! The wire format, v2: a pure codec with no I/O (see docs/PROTOCOL.md).
//!
//! Every frame is `u32 length` (big-endian, counts the bytes after it), `u8 kind`,
//! then the body. [`check`] looks at a buffer and says whether a whole frame is
//! there without allocating; [`decode`] borrows data payloads from the buffer.
//! After the handshake every frame travels inside a sealed record
//! (`super::record`), itself a frame of kind [`kind::SEALED`].

use std::net::{Ipv4Addr, SocketAddrV4};
use thiserror::Error;

pub const MAGIC: [u8; 4] = *b"MCRL";
pub const VERSION: u16 = 2;
/// Length field plus kind byte.
pub const FRAME_HEADER: usize = 5;
/// Fixed part of a data frame before the payload (after the 5-byte frame header).
pub const DATA_FIXED: usize = 8 + 8 + 4 + 2 + 4 + 2;
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

/// Decode the frame at the start of `buf`, if whole. Returns the frame and the bytes it used.
pub fn decode(buf: &[u8], max: usize) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    let Some(total) = check(buf, max)? else {
        return Ok(None);
    };
    let kind = buf[4];
    let mut r = Reader {
        buf: &buf[FRAME_HEADER..total],
        kind,
    };
    let frame = match kind {
        kind::HELLO => Frame::Hello(decode_hello(&mut r)?),
        kind::CHALLENGE => {
            let nonce = r.array()?;
            // v1 carried the server's proof here; v2 proves the client first.
            if !r.short_bytes()?.is_empty() {
                return Err(FrameError::Malformed("challenge: v2 carries no proof"));
            }
            Frame::Challenge(Challenge { nonce })
        }
        kind::AUTH => {
            let proof = r.short_bytes()?;
            Frame::Auth(Auth {
                proof: proof
                    .try_into()
                    .map_err(|_| FrameError::Malformed("auth: the proof is not 32 bytes"))?,
            })
        }
        kind::WELCOME => Frame::Welcome(Welcome {
            resume_from: r.u64()?,
            heartbeat_ms: r.u32()?,
        }),
        kind::DATA => Frame::Data(Data {
            seq: r.u64()?,
            recv_ns: r.u64()?,
            group: r.addr()?,
            source: r.addr()?,
            payload: r.rest(),
        }),
        kind::ACK => Frame::Ack { next_seq: r.u64()? },
        kind::HEARTBEAT => Frame::Heartbeat { sent_ns: r.u64()? },
        kind::GOODBYE => Frame::Goodbye {
            code: r.u16()?,
            reason: std::str::from_utf8(r.short_bytes()?)
                .map_err(|_| FrameError::Malformed("goodbye: reason is not UTF-8"))?
                .to_string(),
        },
        other => return Err(FrameError::UnknownKind(other)),
    };
    Ok(Some((frame, total)))
}

fn decode_hello(r: &mut Reader<'_>) -> Result<Hello, FrameError> {
    if r.array::<4>()? != MAGIC {
        return Err(FrameError::BadMagic);
    }
    let version = r.u16()?;
    let auth = match r.u8()? {
        0 => AuthMethod::None,
        1 => AuthMethod::PreSharedKey,
        _ => return Err(FrameError::Malformed("hello: unknown auth method")),
    };
    let stream_id = r.u64()?;
    let nonce = r.array()?;
    let key_id = r.array()?;
    let feed = std::str::from_utf8(r.short_bytes()?)
        .map_err(|_| FrameError::Malformed("hello: feed name is not UTF-8"))?
        .to_string();
    let count = r.u16()? as usize;
    if count > MAX_MANIFEST {
        return Err(FrameError::Malformed("hello: manifest too long"));
    }
    let mut manifest = Vec::with_capacity(count.min(r.buf.len() / 6));
    for _ in 0..count {
        manifest.push(r.addr()?);
    }
    // v2 appends its fields after v1's, so a v1 egress still reads the
    // version and refuses it clearly; a v1 Hello simply ends here.
    let (encrypt, sender) = if r.buf.is_empty() {
        (false, String::new())
    } else {
        let flags = r.u8()?;
        if flags & !FLAG_ENCRYPT != 0 {
            return Err(FrameError::Malformed("hello: unknown flags"));
        }
        let sender = std::str::from_utf8(r.short_bytes()?)
            .map_err(|_| FrameError::Malformed("hello: sender name is not UTF-8"))?
            .to_string();
        (flags & FLAG_ENCRYPT != 0, sender)
    };
    Ok(Hello {
        version,
        auth,
        stream_id,
        nonce,
        key_id,
        feed,
        manifest,
        encrypt,
        sender,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    kind: u8,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if self.buf.len() < n {
            return Err(FrameError::Truncated { kind: self.kind });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], FrameError> {
        Ok(self.take(N)?.try_into().expect("length checked"))
    }
    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, FrameError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, FrameError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, FrameError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn addr(&mut self) -> Result<SocketAddrV4, FrameError> {
        let ip = Ipv4Addr::from(self.array::<4>()?);
        Ok(SocketAddrV4::new(ip, self.u16()?))
    }
    /// A u8 length followed by that many bytes.
    fn short_bytes(&mut self) -> Result<&'a [u8], FrameError> {
        let n = self.u8()? as usize;
        self.take(n)
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
}

/// Append the encoding of `frame` to `out`.
pub fn encode(frame: &Frame<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    match frame {
        Frame::Hello(h) => {
            out.push(kind::HELLO);
            out.extend_from_slice(&MAGIC);
            out.extend_from_slice(&h.version.to_be_bytes());
            out.push(h.auth as u8);
            out.extend_from_slice(&h.stream_id.to_be_bytes());
            out.extend_from_slice(&h.nonce);
            out.extend_from_slice(&h.key_id);
            put_str(out, &h.feed);
            let n = h.manifest.len().min(MAX_MANIFEST);
            out.extend_from_slice(&(n as u16).to_be_bytes());
            for a in &h.manifest[..n] {
                put_addr(out, a);
            }
            out.push(if h.encrypt { FLAG_ENCRYPT } else { 0 });
            put_str(out, &h.sender);
        }
        Frame::Challenge(c) => {
            out.push(kind::CHALLENGE);
            out.extend_from_slice(&c.nonce);
            out.push(0);
        }
        Frame::Auth(a) => {
            out.push(kind::AUTH);
            put_short(out, &a.proof);
        }
        Frame::Welcome(w) => {
            out.push(kind::WELCOME);
            out.extend_from_slice(&w.resume_from.to_be_bytes());
            out.extend_from_slice(&w.heartbeat_ms.to_be_bytes());
        }
        Frame::Data(d) => {
            out.truncate(start);
            encode_data(d.seq, d.recv_ns, d.group, d.source, d.payload, out);
            return;
        }
        Frame::Ack { next_seq } => {
            out.push(kind::ACK);
            out.extend_from_slice(&next_seq.to_be_bytes());
        }
        Frame::Heartbeat { sent_ns } => {
            out.push(kind::HEARTBEAT);
            out.extend_from_slice(&sent_ns.to_be_bytes());
        }
        Frame::Goodbye { code, reason } => {
            out.push(kind::GOODBYE);
            out.extend_from_slice(&code.to_be_bytes());
            put_str(out, reason);
        }
    }
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Write a data frame's header into `out[..DATA_OVERHEAD]` for a payload of `payload_len`
/// bytes. The hot path uses this to frame a datagram in place, without a copy.
pub fn write_data_header(
    out: &mut [u8],
    seq: u64,
    recv_ns: u64,
    group: SocketAddrV4,
    source: SocketAddrV4,
    payload_len: usize,
) {
    let len = (1 + DATA_FIXED + payload_len) as u32;
    out[0..4].copy_from_slice(&len.to_be_bytes());
    out[4] = kind::DATA;
    out[5..13].copy_from_slice(&seq.to_be_bytes());
    out[13..21].copy_from_slice(&recv_ns.to_be_bytes());
    out[21..25].copy_from_slice(&group.ip().octets());
    out[25..27].copy_from_slice(&group.port().to_be_bytes());
    out[27..31].copy_from_slice(&source.ip().octets());
    out[31..33].copy_from_slice(&source.port().to_be_bytes());
}

/// Append a data frame to `out`.
pub fn encode_data(
    seq: u64,
    recv_ns: u64,
    group: SocketAddrV4,
    source: SocketAddrV4,
    payload: &[u8],
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.resize(start + DATA_OVERHEAD, 0);
    write_data_header(
        &mut out[start..],
        seq,
        recv_ns,
        group,
        source,
        payload.len(),
    );
    out.extend_from_slice(payload);
}

fn put_short(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len().min(255);
    out.push(n as u8);
    out.extend_from_slice(&bytes[..n]);
}

/// A string as a u8 length and its bytes, cut at a character boundary so the
/// peer still reads valid UTF-8.
fn put_str(out: &mut Vec<u8>, s: &str) {
    let mut n = s.len().min(255);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    put_short(out, &s.as_bytes()[..n]);
}

fn put_addr(out: &mut Vec<u8>, a: &SocketAddrV4) {
    out.extend_from_slice(&a.ip().octets());
    out.extend_from_slice(&a.port().to_be_bytes());
}

#[cfg(test)]
mod tests;
