//! Pre-shared keys: how they are written, made and checked. What a key proves
//! and protects is the key schedule's (`super::kdf`).
//!
//! A key is one line, `ID:SECRET`: a random public id of 16 hex digits (it
//! names the key in the Hello, and says nothing about the secret), a colon,
//! and at least 32 random bytes as hex. `mcast-relay keygen` makes one. A key
//! list (a key file, or `MCAST_RELAY_KEY_<FEED>`) holds the current key and
//! optionally the next, separated by newlines or commas, the same everywhere;
//! lines starting with `#` are comments.
//!
//! ```
//! use mcast_relay::wire::auth::Key;
//! let k = Key::generate();
//! let back = Key::parse(&k.to_line()).unwrap();
//! assert_eq!(back.id(), k.id());
//! assert!(Key::parse("marketdata-2024!").is_err());
//! ```

use std::fmt;

use super::frame::KEY_ID_LEN;

/// Fewest secret bytes accepted.
pub const MIN_SECRET: usize = 32;
/// Most secret bytes accepted (a line stays readable).
pub const MAX_SECRET: usize = 64;

/// A pre-shared key. Its secret never appears in `Debug` or `Display` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    id: [u8; KEY_ID_LEN],
    secret: Vec<u8>,
}

/// Why a key or key list was refused; the message says the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "{at}not a key: a key is ID:SECRET, 16 and 64 hex digits; make one with `mcast-relay keygen`"
    )]
    Form { at: String },
    #[error(
        "{at}the secret is {len} bytes; at least {MIN_SECRET} random bytes are needed (`mcast-relay keygen`)"
    )]
    Short { at: String, len: usize },
    #[error("{at}the secret is over {MAX_SECRET} bytes")]
    Long { at: String },
    #[error("{at}the secret does not look random ({why}); make a key with `mcast-relay keygen`")]
    Weak { at: String, why: &'static str },
    #[error("no key found; put the output of `mcast-relay keygen` there")]
    Empty,
    #[error("{0} keys found; at most two (current, then next) are allowed")]
    TooMany(usize),
    #[error("two keys share the id {0}; give the next key its own (`mcast-relay keygen`)")]
    SameId(String),
}

fn at(where_: Option<&str>) -> String {
    where_.map(|w| format!("{w}: ")).unwrap_or_default()
}

impl Key {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Key {
        use ring::rand::SecureRandom;
        let rng = ring::rand::SystemRandom::new();
        let mut id = [0u8; KEY_ID_LEN];
        let mut secret = vec![0u8; MIN_SECRET];
        rng.fill(&mut id).expect("the OS random source");
        rng.fill(&mut secret).expect("the OS random source");
        Key { id, secret }
    }

    /// One key, `ID:SECRET`.
    pub fn parse(text: &str) -> Result<Key, KeyError> {
        Key::parse_at(text, None)
    }

    fn parse_at(text: &str, where_: Option<&str>) -> Result<Key, KeyError> {
        let form = || KeyError::Form { at: at(where_) };
        let (id, secret) = text.trim().split_once(':').ok_or_else(form)?;
        let hexy = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
        if id.len() != 2 * KEY_ID_LEN || !hexy(id) || !hexy(secret) || secret.len() % 2 != 0 {
            return Err(form());
        }
        let id: [u8; KEY_ID_LEN] = hex::decode(id)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(form)?;
        let secret = hex::decode(secret).map_err(|_| form())?;
        if secret.len() < MIN_SECRET {
            return Err(KeyError::Short {
                at: at(where_),
                len: secret.len(),
            });
        }
        if secret.len() > MAX_SECRET {
            return Err(KeyError::Long { at: at(where_) });
        }
        if let Some(why) = weak(&secret) {
            return Err(KeyError::Weak {
                at: at(where_),
                why,
            });
        }
        Ok(Key { id, secret })
    }

    /// A key list: the current key, then optionally the next, separated by
    /// newlines or commas; `#` lines are comments. Errors name the line.
    pub fn parse_list(text: &str) -> Result<Vec<Key>, KeyError> {
        let mut keys: Vec<Key> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with('#') {
                continue;
            }
            for (m, item) in line.split(',').enumerate() {
                let item = item.trim();
                if item.is_empty() || item.starts_with('#') {
                    continue;
                }
                let where_ = if line.contains(',') {
                    format!("line {}, item {}", n + 1, m + 1)
                } else {
                    format!("line {}", n + 1)
                };
                let k = Key::parse_at(item, Some(&where_))?;
                if keys.iter().any(|o| o.id == k.id) {
                    return Err(KeyError::SameId(hex::encode(k.id)));
                }
                keys.push(k);
            }
        }
        match keys.len() {
            0 => Err(KeyError::Empty),
            1 | 2 => Ok(keys),
            n => Err(KeyError::TooMany(n)),
        }
    }

    /// The secret bytes, for the key schedule only.
    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The public id that names this key in a Hello.
    pub fn id(&self) -> [u8; KEY_ID_LEN] {
        self.id
    }

    /// The key as a key file line. This shows the secret: for `keygen` only.
    pub fn to_line(&self) -> String {
        format!("{}:{}", hex::encode(self.id), hex::encode(&self.secret))
    }
}

/// Why a secret cannot have come from a random source, if it cannot: random
/// bytes nearly never fall short of these (the chance is below 1e-13).
fn weak(s: &[u8]) -> Option<&'static str> {
    let mut seen = [false; 256];
    s.iter().for_each(|b| seen[*b as usize] = true);
    if seen.iter().filter(|x| **x).count() < s.len() / 2 {
        return Some("too few distinct bytes");
    }
    if s.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Some("it is printable text, not random bytes");
    }
    None
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(id={}, <redacted>)", hex::encode(self.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const GOOD: &str =
        "00112233aabbccdd:7f3a9c41e2d05b86a1f47c3e9d2b6085c4e1a7f3926d0b58e3c7a14f9b2d6e08";

    #[test]
    fn debug_never_shows_the_secret() {
        let k = Key::parse(GOOD).unwrap();
        let s = format!("{k:?}");
        assert!(!s.contains("7f3a9c41"), "{s}");
        assert!(s.contains("00112233aabbccdd"));
    }

    #[test]
    fn only_random_keys_in_the_one_form_are_taken() {
        assert_eq!(Key::parse(GOOD).unwrap().to_line(), GOOD);
        let form = || KeyError::Form { at: String::new() };
        let weak = |why| KeyError::Weak {
            at: String::new(),
            why,
        };
        for (bad, want) in [
            ("marketdata-2024!".to_string(), form()),
            ("ab".repeat(32), form()),
            (
                format!("00112233aabbccdd:{}", "ab".repeat(31)),
                KeyError::Short {
                    at: String::new(),
                    len: 31,
                },
            ),
            (
                format!("00112233aabbccdd:{}", "00".repeat(32)),
                weak("too few distinct bytes"),
            ),
            (
                format!(
                    "00112233aabbccdd:{}",
                    hex::encode("marketdata-2024!marketdata-2024!")
                ),
                weak("too few distinct bytes"),
            ),
            (
                format!(
                    "00112233aabbccdd:{}",
                    hex::encode("The quick brown fox jumps over!!")
                ),
                weak("it is printable text, not random bytes"),
            ),
            (
                "0011:7f3a9c41e2d05b86a1f47c3e9d2b6085c4e1a7f3926d0b58e3c7a14f9b2d6e08".to_string(),
                form(),
            ),
            (format!("{GOOD}0"), form()),
        ] {
            assert_eq!(Key::parse(&bad), Err(want), "{bad:?}");
        }
        let g = Key::generate();
        assert_eq!(Key::parse(&g.to_line()).unwrap(), g);
        assert_ne!(Key::generate().id(), g.id());
    }

    #[test]
    fn lists_parse_one_way_with_newlines_or_commas() {
        let a = Key::generate().to_line();
        let b = Key::generate().to_line();
        let by_lines = Key::parse_list(&format!("# rotation, made today\n{a}\n\n{b}\n")).unwrap();
        let by_comma = Key::parse_list(&format!("{a},{b}")).unwrap();
        assert_eq!(by_lines, by_comma);
        assert_eq!(by_lines.len(), 2);
        // A bad entry is named by where it stands.
        assert_eq!(
            Key::parse_list(&format!("{a}\n# x\nnot-a-key\n")),
            Err(KeyError::Form {
                at: "line 3: ".into()
            })
        );
        assert_eq!(
            Key::parse_list(&format!("{a},bad")),
            Err(KeyError::Form {
                at: "line 1, item 2: ".into()
            })
        );
        assert_eq!(Key::parse_list("# nothing\n"), Err(KeyError::Empty));
        let c = Key::generate().to_line();
        assert_eq!(
            Key::parse_list(&format!("{a}\n{b}\n{c}")),
            Err(KeyError::TooMany(3))
        );
        assert!(matches!(
            Key::parse_list(&format!("{a}\n{a}")),
            Err(KeyError::SameId(_))
        ));
    }
}
