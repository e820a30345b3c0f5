//! The test header that `publish` writes and `listen` reads: magic, a
//! per-group sequence number and the send time, big-endian, 20 bytes.

pub const MAGIC: [u8; 4] = *b"MRT1";
pub const LEN: usize = 20;

/// Write the header at the start of `buf` (at least [`LEN`] bytes).
pub fn write(buf: &mut [u8], seq: u64, send_ns: u64) {
    buf[0..4].copy_from_slice(&MAGIC);
    buf[4..12].copy_from_slice(&seq.to_be_bytes());
    buf[12..20].copy_from_slice(&send_ns.to_be_bytes());
}

/// `(seq, send_ns)` if `buf` starts with a test header.
pub fn parse(buf: &[u8]) -> Option<(u64, u64)> {
    if buf.len() < LEN || buf[0..4] != MAGIC {
        return None;
    }
    let seq = u64::from_be_bytes(buf[4..12].try_into().ok()?);
    let ns = u64::from_be_bytes(buf[12..20].try_into().ok()?);
    Some((seq, ns))
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let mut b = [0u8; 30];
        super::write(&mut b, 5, 77);
        assert_eq!(super::parse(&b), Some((5, 77)));
        assert_eq!(super::parse(&b[..19]), None);
        b[0] = b'X';
        assert_eq!(super::parse(&b), None);
    }
}
