//! The one definition of every setting: each field is a TOML key, a flag and
//! an `MCAST_RELAY_*` variable at once (serde and clap read the same struct),
//! with its default in `defaults` below and nowhere else. `super::layer`
//! puts the file, the environment and the flags together, in that order.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::builder::TypedValueParser as _;
use clap::{ArgAction, Args};
use serde::{Deserialize, Serialize};

use crate::egress::merge::MergeFormat;
use crate::keys::Keys;
use crate::net::addr::{Cidr, GroupPort, MapRule};
use crate::obs::logs::LogFormat;
use crate::units::{ByteSize, Span};

/// Every default, once.
pub mod defaults {
    use super::*;

    pub const HTTP: &str = "127.0.0.1:9180";
    /// A Transit Gateway hop and a few routers in a customer's VPC still leave
    /// it above zero, and it stays well short of leaking far should a route be wrong.
    pub const TTL: u32 = 32;
    /// The deployment's worst failover (57.5 s behind the NLB, docs/DEPLOY.md)
    /// at the feed's peak rate (50,000 datagrams/s of 160 B plus framing:
    /// 644 MB), so a failover loses nothing. Touched only as it fills.
    pub const WINDOW_BYTES: ByteSize = ByteSize::mib(768);
    pub const WINDOW_SECS: Span = Span::secs(60);
    pub const SOCKBUF: ByteSize = ByteSize::mib(8);
    pub const BATCH: usize = 64;
    pub const MAX_DATAGRAM: usize = 9000;
    pub const EMF_INTERVAL: Span = Span::secs(60);
    pub const DEGRADED_AFTER: Span = Span::secs(10);
    pub const MERGE_WAIT: Span = Span::millis(100);
    /// One worker: each feed's path is sequential, and one thread saves a
    /// cross-thread wake-up per datagram.
    pub const THREADS: u16 = 1;

    pub fn http() -> SocketAddr {
        HTTP.parse().expect("a valid address")
    }
    pub fn ttl() -> u32 {
        TTL
    }
    pub fn window_bytes() -> ByteSize {
        WINDOW_BYTES
    }
    pub fn window_secs() -> Span {
        WINDOW_SECS
    }
    pub fn sockbuf() -> ByteSize {
        SOCKBUF
    }
    pub fn batch() -> usize {
        BATCH
    }
    pub fn max_datagram() -> usize {
        MAX_DATAGRAM
    }
    pub fn emf_interval() -> Span {
        EMF_INTERVAL
    }
    pub fn degraded_after() -> Span {
        DEGRADED_AFTER
    }
    pub fn merge_wait() -> Span {
        MERGE_WAIT
    }
    pub fn threads() -> u16 {
        THREADS
    }
    pub fn yes() -> bool {
        true
    }
}

/// CPUs to pin to: `2,3` or `2-3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

impl std::str::FromStr for CpuList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut v = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || format!("{part:?} is not a CPU number or range (e.g. 2,3 or 2-3)");
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b): (usize, usize) =
                        (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                    if a > b || b >= 1024 {
                        return Err(bad());
                    }
                    v.extend(a..=b);
                }
                None => v.push(part.parse().map_err(|_| bad())?),
            }
        }
        if v.is_empty() {
            return Err("no CPU given".into());
        }
        Ok(CpuList(v))
    }
}

impl std::fmt::Display for CpuList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s: Vec<String> = self.0.iter().map(|c| c.to_string()).collect();
        f.write_str(&s.join(","))
    }
}

string_serde!(CpuList);

/// What a whole process runs: the top of the TOML file, and the flags every
/// relay takes.
#[derive(Debug, Clone, Deserialize, Serialize, Args)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// TOML configuration file; the environment and flags add to it and override it.
    #[arg(long, env = "MCAST_RELAY_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Serve /healthz, /readyz, /metrics and /status here (an ingress and an
    /// egress on one host need one each).
    #[arg(long, env = "MCAST_RELAY_HTTP", default_value = defaults::HTTP)]
    #[serde(default = "defaults::http")]
    pub http: SocketAddr,
    /// Log lines as text or JSON (for CloudWatch).
    #[arg(long, env = "MCAST_RELAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    #[serde(default)]
    pub log_format: LogFormat,
    /// How often to print CloudWatch EMF lines on stdout; 0 turns them off.
    #[arg(long, env = "MCAST_RELAY_EMF_INTERVAL", default_value_t = defaults::EMF_INTERVAL)]
    #[serde(default = "defaults::emf_interval")]
    pub emf_interval: Span,
    /// Silence before a feed shows as degraded (/status, /metrics, logs;
    /// never /healthz); 0 turns it off.
    #[arg(long, env = "MCAST_RELAY_DEGRADED_AFTER", default_value_t = defaults::DEGRADED_AFTER)]
    #[serde(default = "defaults::degraded_after")]
    pub degraded_after: Span,
    /// Runtime worker threads (one is best for most: see docs/PERFORMANCE.md).
    #[arg(long, env = "MCAST_RELAY_THREADS", default_value_t = defaults::THREADS,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    #[serde(default = "defaults::threads")]
    pub threads: u16,
    /// Pin the process to these CPUs, e.g. 2,3 or 2-3.
    #[arg(long, env = "MCAST_RELAY_CPUS")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<CpuList>,
    /// Hold a CPU latency request of this many µs (/dev/cpu_dma_latency)
    /// while running: 0 keeps idle cores polling instead of halting, which
    /// makes wake-ups cheaper and faster at the cost of power. For dedicated
    /// hosts (needs root); see docs/PERFORMANCE.md.
    #[arg(long, env = "MCAST_RELAY_CPU_DMA_LATENCY_US", value_name = "US",
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_dma_latency_us: Option<u32>,
    /// Never sleep: the runtime's thread polls its sockets in a loop instead
    /// of waiting to be woken, which takes the wake-up's delay (and its cost
    /// to whoever wakes it) out of the path and takes a whole core all the
    /// time. For hosts with a core to spare (pair it with --cpus); needs
    /// threads = 1. See docs/PERFORMANCE.md.
    #[arg(long, env = "MCAST_RELAY_SPIN",
          value_parser = clap::builder::BoolishValueParser::new())]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub spin: bool,
    #[arg(skip)]
    #[serde(default)]
    pub ingress: Vec<IngressFeed>,
    #[arg(skip)]
    #[serde(default)]
    pub egress: Vec<EgressFeed>,
}

/// One feed an ingress carries: an `[[ingress]]` section, or the flags of `ingress`.
#[derive(Debug, Clone, Deserialize, Serialize, Args)]
#[serde(deny_unknown_fields)]
pub struct IngressFeed {
    /// Name of the feed (the egress must serve a feed of this name).
    #[arg(
        long,
        env = "MCAST_RELAY_FEED",
        default_value = "",
        hide_default_value = true
    )]
    #[serde(default)]
    pub feed: String,
    /// Interface to join on: a name (eth1) or one of its IPv4 addresses.
    #[arg(
        long,
        env = "MCAST_RELAY_IFACE",
        default_value = "",
        hide_default_value = true
    )]
    #[serde(default)]
    pub iface: String,
    /// Group to join, GROUP:PORT; repeat for several.
    #[arg(
        long = "group",
        env = "MCAST_RELAY_GROUP",
        value_delimiter = ',',
        value_name = "GROUP:PORT"
    )]
    #[serde(default)]
    pub groups: Vec<GroupPort>,
    /// Join source-specific (SSM): only this sender's datagrams.
    #[arg(long, env = "MCAST_RELAY_SOURCE")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Ipv4Addr>,
    /// Egress (or load balancer) to send to, HOST:PORT, resolved at every
    /// connect; repeat for several.
    #[arg(
        long = "dest",
        env = "MCAST_RELAY_DEST",
        value_delimiter = ',',
        value_name = "HOST:PORT"
    )]
    #[serde(default)]
    pub dests: Vec<String>,
    /// This sender's name, the same across restarts: a restarted sender takes
    /// over from itself, another name is another live sender [default: the host name].
    #[arg(long, env = "MCAST_RELAY_SENDER")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// Which of the venue's lines this is (A, B, ...): joined on its own
    /// interface and sent as its own sender (SENDER:LINE). Flag: --line NAME=IFACE.
    #[arg(skip)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// Records are always authenticated and, by default, encrypted;
    /// --no-encrypt (encrypt = false) sends them readable and saves no CPU
    /// (docs/PERFORMANCE.md: the two are within a few percent).
    #[arg(long = "no-encrypt", env = "MCAST_RELAY_NO_ENCRYPT", action = ArgAction::Set,
          num_args = 0, default_value = "false", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new().map(|no: bool| !no))]
    #[serde(default = "defaults::yes")]
    pub encrypt: bool,
    /// File with the feed's key (`mcast-relay keygen`); a second line: the next key.
    #[arg(long, env = "MCAST_RELAY_KEY_FILE")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Run without a key, on purpose: the egress cannot tell this sender from
    /// a stranger. Logged every minute and shown in /status and /metrics.
    #[arg(long, env = "MCAST_RELAY_INSECURE_NO_AUTH",
          value_parser = clap::builder::BoolishValueParser::new())]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_no_auth: bool,
    /// Replay window size, enough for the worst failover at the feed's peak
    /// rate (docs/DEPLOY.md).
    #[arg(long, env = "MCAST_RELAY_WINDOW_BYTES", default_value_t = defaults::WINDOW_BYTES)]
    #[serde(default = "defaults::window_bytes")]
    pub window_bytes: ByteSize,
    /// Replay window age: the oldest datagram kept.
    #[arg(long, env = "MCAST_RELAY_WINDOW_SECS", default_value_t = defaults::WINDOW_SECS)]
    #[serde(default = "defaults::window_secs")]
    pub window_secs: Span,
    /// Receive buffer of each group's multicast socket.
    #[arg(long, env = "MCAST_RELAY_RCVBUF", default_value_t = defaults::SOCKBUF)]
    #[serde(default = "defaults::sockbuf")]
    pub rcvbuf: ByteSize,
    /// Datagrams per recvmmsg call at most (1 to 1024).
    #[arg(long, env = "MCAST_RELAY_BATCH", default_value_t = defaults::BATCH)]
    #[serde(default = "defaults::batch")]
    pub batch: usize,
    /// Longest datagram received whole, bytes; longer ones are dropped and counted.
    #[arg(long, env = "MCAST_RELAY_MAX_DATAGRAM", default_value_t = defaults::MAX_DATAGRAM)]
    #[serde(default = "defaults::max_datagram")]
    pub max_datagram: usize,
    /// Busy-poll the receive sockets this many microseconds (SO_BUSY_POLL;
    /// needs driver support and CAP_NET_ADMIN above net.core.busy_read); 0 is off.
    #[arg(long, env = "MCAST_RELAY_BUSY_POLL", default_value_t = 0)]
    #[serde(default)]
    pub busy_poll: u32,
    /// TLS on the link: the CA that signed the egress's certificate.
    #[arg(long, env = "MCAST_RELAY_TLS_CA")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// TLS: the name to verify in the egress's certificate [default: the host of --dest].
    #[arg(long, env = "MCAST_RELAY_TLS_SERVER_NAME")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
    /// TLS: a client certificate (PEM), for egresses that require one.
    #[arg(long, env = "MCAST_RELAY_TLS_CERT")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// TLS: the client certificate's private key (PEM).
    #[arg(long, env = "MCAST_RELAY_TLS_KEY")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    #[arg(skip)]
    #[serde(skip)]
    pub keys: Keys,
}

fn unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

/// One feed an egress serves: an `[[egress]]` section, or the flags of `egress`.
#[derive(Debug, Clone, Deserialize, Serialize, Args)]
#[serde(deny_unknown_fields)]
pub struct EgressFeed {
    /// Name of the feed, for a --listen without FEED=.
    #[arg(
        long,
        env = "MCAST_RELAY_FEED",
        default_value = "",
        hide_default_value = true
    )]
    #[serde(default)]
    pub feed: String,
    /// TCP address to accept the ingress on (6666 dev, 6667 prod in the
    /// design). Flag: --listen [FEED=]ADDR:PORT.
    #[arg(skip = unspecified())]
    pub listen: SocketAddr,
    /// Interface to emit on: a name (eth0) or one of its IPv4 addresses.
    #[arg(
        long,
        env = "MCAST_RELAY_IFACE",
        default_value = "",
        hide_default_value = true
    )]
    #[serde(default)]
    pub iface: String,
    /// Multicast TTL of emitted datagrams (enough for a Transit Gateway hop).
    #[arg(long, env = "MCAST_RELAY_TTL", default_value_t = defaults::TTL)]
    #[serde(default = "defaults::ttl")]
    pub ttl: u32,
    /// Groups this egress may emit to (after --map), as CIDRs inside
    /// 224.0.0.0/4; required.
    #[arg(
        long = "allow",
        env = "MCAST_RELAY_ALLOW",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    #[serde(default)]
    pub allow: Vec<Cidr>,
    /// Rewrite destinations, FROM=TO: a group or CIDR, optionally with :PORT.
    #[arg(
        long = "map",
        env = "MCAST_RELAY_MAP",
        value_delimiter = ',',
        value_name = "FROM=TO"
    )]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub map: Vec<MapRule>,
    /// Also emit FROM's datagrams to TO (an extra copy, guarded by --allow).
    #[arg(
        long = "fanout",
        env = "MCAST_RELAY_FANOUT",
        value_delimiter = ',',
        value_name = "FROM=TO"
    )]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fanout: Vec<MapRule>,
    /// File with the feed's key. Flag: --key-file [FEED=]PATH.
    #[arg(skip)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Serve without a key, on purpose: anyone who reaches the port can send
    /// into it. Logged every minute and shown in /status and /metrics.
    #[arg(long, env = "MCAST_RELAY_INSECURE_NO_AUTH",
          value_parser = clap::builder::BoolishValueParser::new())]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_no_auth: bool,
    /// Multicast send socket buffer.
    #[arg(long, env = "MCAST_RELAY_SNDBUF", default_value_t = defaults::SOCKBUF)]
    #[serde(default = "defaults::sockbuf")]
    pub sndbuf: ByteSize,
    /// Datagrams per sendmmsg call at most (1 to 1024).
    #[arg(long, env = "MCAST_RELAY_BATCH", default_value_t = defaults::BATCH)]
    #[serde(default = "defaults::batch")]
    pub batch: usize,
    /// Merge several live senders of a feed by the venue's sequence numbers
    /// (each packet once, in order per channel, whichever sender delivered it
    /// first), by content (hash), or take one sender at a time (none: a
    /// newcomer takes over).
    #[arg(long, env = "MCAST_RELAY_MERGE", value_enum, default_value_t = MergeFormat::None)]
    #[serde(default)]
    pub merge: MergeFormat,
    /// With --merge: how long a datagram after a gap waits for another
    /// sender to fill it.
    #[arg(long, env = "MCAST_RELAY_MERGE_WAIT", default_value_t = defaults::MERGE_WAIT)]
    #[serde(default = "defaults::merge_wait")]
    pub merge_wait: Span,
    /// Keep what each feed emitted in DIR/FEED.state, so an egress restarted
    /// on the same host resumes every sender where it left off: it repeats
    /// at most the one send in flight when it died (--batch datagrams).
    #[arg(long, env = "MCAST_RELAY_STATE_DIR")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    /// TLS on the link: this egress's certificate chain (PEM).
    #[arg(long, env = "MCAST_RELAY_TLS_CERT")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// TLS: the certificate's private key (PEM).
    #[arg(long, env = "MCAST_RELAY_TLS_KEY")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// TLS: require client certificates signed by this CA.
    #[arg(long, env = "MCAST_RELAY_TLS_CLIENT_CA")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_ca: Option<PathBuf>,
    #[arg(skip)]
    #[serde(skip)]
    pub keys: Keys,
}
