//! The key schedule of protocol v2: session keys from the pre-shared key, the
//! handshake transcript and, with TLS, the TLS session (HKDF-SHA256, from ring).
//!
//! The transcript hash covers the Hello and the Challenge exactly as sent, so
//! both nonces, the feed, the sender, the stream id, the flags and the
//! manifest are bound to every key; each key has its own label, so one
//! direction's key is never the other's. Nothing here is secret without a key:
//! a feed run with `--insecure-no-auth` still gets records that detect
//! corruption, but anyone could forge them.

use ring::{digest, hkdf};

pub const KEY_LEN: usize = 32;
/// Label of the TLS exporter (RFC 5705 / RFC 8446 7.5) that binds a session to its TLS session.
pub const TLS_EXPORTER_LABEL: &[u8] = b"EXPORTER-mcast-relay-v2";

/// What both ends derive after the Challenge.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// The client's proof, sent in Auth: only a holder of the key computes it.
    pub client_finished: [u8; KEY_LEN],
    /// Seals records from the ingress to the egress.
    pub c2s: [u8; KEY_LEN],
    /// Seals records from the egress to the ingress (the first holds the Welcome,
    /// so opening it proves the egress holds the key).
    pub s2c: [u8; KEY_LEN],
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys(<redacted>)")
    }
}

/// SHA-256 over the Hello and Challenge frames as they were on the wire.
pub fn transcript(hello: &[u8], challenge: &[u8]) -> [u8; 32] {
    let mut c = digest::Context::new(&digest::SHA256);
    c.update(hello);
    c.update(challenge);
    c.finish().as_ref().try_into().expect("SHA-256 is 32 bytes")
}

/// Derive the session keys. `psk` is the feed's secret (`None` without auth),
/// `exporter` the TLS exporter value when the link runs inside TLS.
pub fn derive(psk: Option<&[u8]>, exporter: Option<&[u8; 32]>, th: &[u8; 32]) -> SessionKeys {
    let psk = psk.unwrap_or_default();
    let exp: &[u8] = exporter.map_or(&[], |e| &e[..]);
    // Length-prefixed, so "key, no TLS" and "no key, TLS" never share an input.
    let mut ikm = Vec::with_capacity(2 + psk.len() + exp.len());
    ikm.push(psk.len() as u8);
    ikm.extend_from_slice(psk);
    ikm.push(exp.len() as u8);
    ikm.extend_from_slice(exp);
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"mcast-relay v2").extract(&ikm);
    let expand = |label: &[u8]| {
        let mut out = [0u8; KEY_LEN];
        prk.expand(&[label, th], hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut out))
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    };
    SessionKeys {
        client_finished: expand(b"mcast-relay v2 client finished"),
        c2s: expand(b"mcast-relay v2 c2s"),
        s2c: expand(b"mcast-relay v2 s2c"),
    }
}

/// Compare two secrets in constant time.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_changes_every_key() {
        let th = transcript(b"hello", b"challenge");
        let base = derive(Some(&[1; 32]), None, &th);
        assert_ne!(base.c2s, base.s2c, "one key per direction");
        assert_ne!(base.client_finished, base.c2s);
        for other in [
            derive(Some(&[2; 32]), None, &th),
            derive(None, None, &th),
            derive(Some(&[1; 32]), Some(&[0; 32]), &th),
            derive(Some(&[1; 32]), None, &transcript(b"hellp", b"challenge")),
            derive(Some(&[1; 32]), None, &transcript(b"hello", b"challengf")),
        ] {
            assert_ne!(other.c2s, base.c2s);
            assert_ne!(other.s2c, base.s2c);
            assert_ne!(other.client_finished, base.client_finished);
        }
        // Moving bytes between the Hello and the Challenge is a different
        // transcript only through the frames' own length fields, which the
        // caller includes; the hash itself sees one stream.
        assert_eq!(derive(Some(&[1; 32]), None, &th), base, "deterministic");
    }

    #[test]
    fn key_without_tls_differs_from_tls_without_key() {
        let th = transcript(b"h", b"c");
        assert_ne!(
            derive(Some(&[7; 32]), None, &th).c2s,
            derive(None, Some(&[7; 32]), &th).c2s
        );
    }
}
