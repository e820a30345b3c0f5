//! Decoding: [`decode`] borrows a data frame's payload from the buffer, and
//! checks every field against the frame's own length before reading it.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::{
    Auth, AuthMethod, Challenge, Data, FLAG_ENCRYPT, FRAME_HEADER, Frame, FrameError, Hello, MAGIC,
    MAX_MANIFEST, Welcome, check, kind,
};

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
