//! Sizes and durations as people write them, the same in flags, the
//! environment and TOML: `64MiB`, `8M`, `65536`; `30s`, `250ms`, `2m`, `10`.
//! A bare number is bytes for a size and seconds for a duration.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A size or a duration that does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("{0:?} is not a size (e.g. 64MiB, 8M, 65536)")]
    NotASize(String),
    #[error("{0:?} is not a duration (e.g. 10s, 250ms, 2m)")]
    NotADuration(String),
    #[error("{0:?} is out of range")]
    OutOfRange(String),
}

/// A number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub const fn mib(n: u64) -> ByteSize {
        ByteSize(n << 20)
    }

    pub fn get(self) -> usize {
        self.0 as usize
    }
}

const UNITS: [(&str, u64); 9] = [
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("KB", 1_000),
    ("G", 1 << 30),
    ("M", 1 << 20),
    ("K", 1 << 10),
];

impl FromStr for ByteSize {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        let t = s.trim();
        let bad = || UnitError::NotASize(s.into());
        let (num, scale) = UNITS
            .iter()
            .find_map(|(u, m)| t.strip_suffix(u).map(|n| (n.trim(), *m)))
            .unwrap_or((t.strip_suffix('B').unwrap_or(t).trim(), 1));
        let n: u64 = num.parse().map_err(|_| bad())?;
        n.checked_mul(scale).map(ByteSize).ok_or_else(bad)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (u, m) in &UNITS[..3] {
            if self.0 >= *m && self.0.is_multiple_of(*m) {
                return write!(f, "{}{u}", self.0 / m);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrText::deserialize(d)? {
            NumOrText::Num(n) => Ok(ByteSize(n)),
            NumOrText::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A length of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl Span {
    pub const fn secs(n: u64) -> Span {
        Span(Duration::from_secs(n))
    }

    pub const fn millis(n: u64) -> Span {
        Span(Duration::from_millis(n))
    }

    pub fn get(self) -> Duration {
        self.0
    }
}

/// `10s`, `250ms`, `2m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, UnitError> {
    let t = s.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| UnitError::NotADuration(t.into()))?;
    if !(0.0..=1e7).contains(&v) {
        return Err(UnitError::OutOfRange(t.into()));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

impl FromStr for Span {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        parse_duration(s).map(Span)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if !ms.is_multiple_of(1000) || ms == 0 && !self.0.is_zero() {
            write!(f, "{ms}ms")
        } else if ms >= 60_000 && ms.is_multiple_of(60_000) {
            write!(f, "{}m", ms / 60_000)
        } else {
            write!(f, "{}s", ms / 1000)
        }
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrText::deserialize(d)? {
            NumOrText::Num(n) => Ok(Span::secs(n)),
            NumOrText::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrText {
    Num(u64),
    Text(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_and_print_as_written() {
        for (s, n) in [
            ("64MiB", 64 << 20),
            ("8M", 8 << 20),
            ("65536", 65536),
            ("1 GiB", 1 << 30),
            ("16KiB", 16 << 10),
            ("2MB", 2_000_000),
            ("100B", 100),
        ] {
            assert_eq!(s.parse::<ByteSize>().unwrap().0, n, "{s}");
        }
        assert_eq!(ByteSize::mib(768).to_string(), "768MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000");
        assert!("lots".parse::<ByteSize>().is_err());
        assert!("99999999999999GiB".parse::<ByteSize>().is_err());
    }

    #[test]
    fn spans_read_and_print_as_written() {
        assert_eq!("30s".parse::<Span>().unwrap(), Span::secs(30));
        assert_eq!("10".parse::<Span>().unwrap(), Span::secs(10));
        assert_eq!("250ms".parse::<Span>().unwrap(), Span::millis(250));
        assert_eq!("2m".parse::<Span>().unwrap(), Span::secs(120));
        assert_eq!(Span::secs(60).to_string(), "1m");
        assert_eq!(Span::secs(30).to_string(), "30s");
        assert_eq!(Span::millis(100).to_string(), "100ms");
        assert_eq!(Span::secs(0).to_string(), "0s");
        assert_eq!(
            parse_duration(" soon "),
            Err(UnitError::NotADuration("soon".into()))
        );
        assert_eq!(
            parse_duration("-1s"),
            Err(UnitError::OutOfRange("-1s".into()))
        );
    }

    #[test]
    fn toml_takes_a_number_or_the_written_form() {
        #[derive(Deserialize)]
        struct T {
            a: ByteSize,
            b: ByteSize,
            c: Span,
            d: Span,
        }
        let t: T = toml::from_str("a = 1024\nb = \"64MiB\"\nc = 30\nd = \"250ms\"").unwrap();
        assert_eq!((t.a.0, t.b.0), (1024, 64 << 20));
        assert_eq!((t.c, t.d), (Span::secs(30), Span::millis(250)));
    }
}
