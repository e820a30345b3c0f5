//! Encoding: [`encode`] appends a frame; the hot path frames a datagram in
//! place with [`write_data_header`].

use std::net::SocketAddrV4;

use super::{DATA_FIXED, DATA_OVERHEAD, FLAG_ENCRYPT, Frame, MAGIC, MAX_MANIFEST, data_at, kind};

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
    out[data_at::SEQ].copy_from_slice(&seq.to_be_bytes());
    out[data_at::RECV_NS].copy_from_slice(&recv_ns.to_be_bytes());
    out[data_at::GROUP].copy_from_slice(&group.ip().octets());
    out[data_at::GROUP_PORT].copy_from_slice(&group.port().to_be_bytes());
    out[data_at::SOURCE].copy_from_slice(&source.ip().octets());
    out[data_at::SOURCE_PORT].copy_from_slice(&source.port().to_be_bytes());
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
