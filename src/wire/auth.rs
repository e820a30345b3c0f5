//! Pre-shared keys: how they are written, and the public id that names one.
//! What a key proves and protects is the key schedule's (`super::kdf`).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;

use super::frame::KEY_ID_LEN;

type HmacSha256 = Hmac<Sha256>;

/// Shortest key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 16;

/// A pre-shared key. Its bytes never appear in `Debug` or `Display` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(Vec<u8>);

impl Key {
    /// A key from text: hex if it is all hex digits (even length, at least 32),
    /// else the bytes of the text itself. At least 16 bytes either way.
    pub fn parse(text: &str) -> Result<Key, String> {
        let t = text.trim();
        let bytes = if t.len() >= 32
            && t.len().is_multiple_of(2)
            && t.bytes().all(|b| b.is_ascii_hexdigit())
        {
            hex::decode(t).map_err(|e| e.to_string())?
        } else {
            t.as_bytes().to_vec()
        };
        if bytes.len() < MIN_KEY_LEN {
            return Err(format!(
                "a key must be at least {MIN_KEY_LEN} bytes (e.g. 64 hex digits from `openssl rand -hex 32`)"
            ));
        }
        Ok(Key(bytes))
    }

    /// Keys from a file's text: one per line, the current key first, then optionally
    /// the next one (for rotation). Blank lines and `#` comments are skipped.
    pub fn parse_list(text: &str) -> Result<Vec<Key>, String> {
        let keys = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(Key::parse)
            .collect::<Result<Vec<_>, _>>()?;
        match keys.len() {
            0 => Err("no key found (one key per line)".into()),
            1 | 2 => Ok(keys),
            n => Err(format!(
                "{n} keys found; at most two (current and next) are allowed"
            )),
        }
    }

    /// The secret bytes, for the key schedule only.
    pub(crate) fn secret(&self) -> &[u8] {
        &self.0
    }

    /// A public 8-byte name for this key, so a server holding two keys knows which
    /// one a client means. It reveals nothing usable about the key.
    pub fn id(&self) -> [u8; KEY_ID_LEN] {
        let tag = mac(self, &[b"mcast-relay v1 key-id"]);
        tag[..KEY_ID_LEN].try_into().expect("32 > 8")
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(id={}, <redacted>)", hex::encode(self.id()))
    }
}

fn mac(key: &Key, parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(&key.0).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let k = Key::parse("super-secret-pre-shared-key").unwrap();
        let s = format!("{k:?}");
        assert!(!s.contains("super-secret"), "{s}");
        assert!(s.contains("redacted"));
    }

    #[test]
    fn hex_and_text_keys() {
        let k = Key::parse(&"ab".repeat(32)).unwrap();
        assert_eq!(k.0.len(), 32);
        assert!(Key::parse("short").is_err());
        let list =
            Key::parse_list("# rotation\nfirst-key-0123456789\n\nsecond-key-0123456789\n").unwrap();
        assert_eq!(list.len(), 2);
        assert_ne!(list[0].id(), list[1].id());
        assert!(
            Key::parse_list("a-key-of-enough-bytes\nb-key-of-enough-bytes\nc-key-of-enough-bytes")
                .is_err()
        );
    }
}
