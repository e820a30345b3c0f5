//! listen's command line: what to join, what the datagrams carry, when to stop.

use std::str::FromStr;
use std::time::Duration;

use super::decode::Format;
use crate::net::addr::GroupPort;

/// `GROUP_A:PORT=GROUP_B:PORT`: the two copies of one feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbPair {
    pub a: GroupPort,
    pub b: GroupPort,
}

/// Why an `--ab` pair did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbPairError {
    #[error("{0:?} is not A=B (e.g. 239.111.1.1:6100=239.111.2.1:6100)")]
    NotAPair(String),
    /// One side is not a GROUP:PORT (the group parser's words).
    #[error("{0}")]
    Group(String),
    #[error("{0:?}: the A and B groups are the same")]
    Same(String),
}

impl FromStr for AbPair {
    type Err = AbPairError;
    fn from_str(s: &str) -> Result<Self, AbPairError> {
        let (a, b) = s
            .split_once('=')
            .ok_or_else(|| AbPairError::NotAPair(s.to_string()))?;
        let group = |g: &str| g.parse::<GroupPort>().map_err(AbPairError::Group);
        let (a, b) = (group(a)?, group(b)?);
        if a == b {
            return Err(AbPairError::Same(s.to_string()));
        }
        Ok(AbPair { a, b })
    }
}

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    mcast-relay listen --group 239.255.0.1:5001 --duration 10s --json\n  \
    mcast-relay listen --format deribit --group 239.111.111.1:6100 --group 239.111.111.1:6101 --fail-on-gap\n  \
    mcast-relay listen --format starbase --ab 239.111.1.1:6100=239.111.2.1:6100\n\n\
    Exit codes: 0 all well, 1 an error or --expect not met, 2 gaps with --fail-on-gap.\n\n\
    Environment: MCAST_RELAY_LISTEN_IFACE (--iface), read by listen alone; the relays' MCAST_RELAY_IFACE is not.")]
pub struct ListenArgs {
    /// Group to join, GROUP:PORT; repeat for several.
    #[arg(
        long = "group",
        required_unless_present = "ab",
        value_name = "GROUP:PORT"
    )]
    pub groups: Vec<GroupPort>,
    /// Join source-specific: only datagrams from this sender.
    #[arg(long)]
    pub source: Option<std::net::Ipv4Addr>,
    /// Interface to join on: a name or an IPv4 address. The loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1", env = "MCAST_RELAY_LISTEN_IFACE")]
    pub iface: String,
    /// Stop after this long (default: until Ctrl-C, --expect or --idle).
    #[arg(long, value_parser = crate::tools::parse_duration)]
    pub duration: Option<Duration>,
    /// Exit non-zero unless this many distinct datagrams arrived; stop soon after they did.
    #[arg(long)]
    pub expect: Option<u64>,
    /// Stop when nothing arrived for this long after the first datagram.
    #[arg(long, value_parser = crate::tools::parse_duration)]
    pub idle: Option<Duration>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// No line a second.
    #[arg(long, short)]
    pub quiet: bool,
    /// Receive socket buffer, bytes.
    #[arg(long, default_value_t = 8 << 20)]
    pub rcvbuf: usize,
    /// What the datagrams carry; auto decides from the first ones and says which.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// The A and B groups of one feed, A=B: joins both and arbitrates them
    /// (first arrival wins), reporting gaps of the merge and of each side; repeatable.
    #[arg(long = "ab", value_name = "GROUP_A:PORT=GROUP_B:PORT")]
    pub ab: Vec<AbPair>,
    /// Exit with code 2 when a sequence (the merge, for A/B) has gaps at the end.
    #[arg(long)]
    pub fail_on_gap: bool,
    /// Measure latency to when the kernel queued each datagram, not to when
    /// listen received it (the default: what an application sees).
    #[arg(long)]
    pub kernel_time: bool,
}
