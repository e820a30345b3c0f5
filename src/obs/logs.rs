//! Logging setup and rate limiting of repeated warnings.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Deserialize,
    serde::Serialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Text,
    /// One JSON object per line, for CloudWatch Logs.
    Json,
}

/// Install the global subscriber. `RUST_LOG` overrides the default level (info).
/// Logs go to stderr so stdout stays free for EMF lines and tool output.
pub fn init(format: LogFormat) {
    init_with(format, "info")
}

/// As [`init`], with another default level.
pub fn init_with(format: LogFormat, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ))
        .with_writer(|| Stderr);
    let _ = match format {
        LogFormat::Text => b.try_init(),
        LogFormat::Json => b.json().flatten_event(true).try_init(),
    };
}

/// Colours only for a person at a terminal: never into a pipe, a file or
/// journald, and never when `NO_COLOR` is set to anything but empty.
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// stderr that never fails: when it is gone (a closed pipe), log lines are
/// dropped. Otherwise tracing-subscriber reports the failure with `eprintln!`,
/// which panics on that same stderr and takes the logging task down with it
/// (a relay then missed its SIGTERM).
struct Stderr;

impl std::io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Lets one line through per period and counts the rest.
#[derive(Debug)]
pub struct RateLimit {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    pub fn new(every: Duration) -> Self {
        RateLimit {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)`: log now, mentioning the `n` lines suppressed since the last one.
    pub fn check(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.duration_since(t) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// Log a warning through a [`RateLimit`], with the count it suppressed.
#[macro_export]
macro_rules! warn_limited {
    ($limit:expr, $($arg:tt)+) => {
        if let Some(suppressed) = $limit.check(std::time::Instant::now()) {
            tracing::warn!(suppressed, $($arg)+);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_with_a_count() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(Duration::from_secs(10));
        assert_eq!(r.check(t0), Some(0));
        assert_eq!(r.check(t0 + Duration::from_secs(1)), None);
        assert_eq!(r.check(t0 + Duration::from_secs(2)), None);
        assert_eq!(r.check(t0 + Duration::from_secs(11)), Some(2));
    }

    #[test]
    fn colours_only_at_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(!colour(false, None), "a pipe or journald");
        assert!(!colour(true, Some("1".into())));
        assert!(colour(true, Some("".into())), "an empty NO_COLOR is unset");
    }
}
