//! The command line: clap definitions and dispatch. Every relay flag can also
//! come from the environment (`MCAST_RELAY_*`) or a TOML file (`--config`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, EgressFeed, IngressFeed};
use crate::net::addr::{Cidr, GroupPort, MapRule, split_feed};
use crate::obs::Obs;
use crate::obs::logs::{self, LogFormat};
use crate::shutdown::{self, CancellationToken};
use crate::tools::{demo, doctor, listen, publish, replay};

pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("MCAST_RELAY_GIT_REV"),
    ")"
);

#[derive(Parser, Debug)]
#[command(
    name = "mcast-relay",
    version = VERSION,
    about = "Carry UDP multicast over TCP and turn it back into multicast (datacenter -> cloud).",
    after_help = "Start with `mcast-relay demo`: it runs the whole path on the loopback.\nSee README.md and docs/ for the design, the protocol and deployment."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Datacenter side: join multicast groups and send them over TCP to egresses.
    Ingress(IngressArgs),
    /// Cloud side: accept the TCP link and emit the datagrams as multicast.
    Egress(EgressArgs),
    /// Run every ingress and egress feed of a configuration file.
    #[command(after_help = "Example:\n  mcast-relay run --config /etc/mcast-relay/relay.toml")]
    Run(Common),
    /// Send synthetic multicast with a test header (sequence, send time).
    Publish(publish::PublishArgs),
    /// Join groups and report counts, gaps, duplicates, reordering and latency.
    Listen(listen::ListenArgs),
    /// Re-send the UDP datagrams of a pcap/pcapng capture as multicast.
    Replay(replay::ReplayArgs),
    /// publish -> ingress -> egress -> listen on the loopback, with a summary.
    Demo(demo::DemoArgs),
    /// Check this host for multicast readiness (IGMP version, routes, buffers, MTU, Nitro).
    Doctor(doctor::DoctorArgs),
    /// Print shell completions.
    #[command(
        after_help = "Example:\n  mcast-relay completions bash > /etc/bash_completion.d/mcast-relay"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[command(after_help = "Example:\n  mcast-relay man > mcast-relay.1 && man ./mcast-relay.1")]
    Man,
    /// Print a new random key (with its id) in the key file's format.
    #[command(
        after_help = "Example:\n  (umask 077; mcast-relay keygen --feed prod > /etc/mcast-relay/prod.key)\n\nRotation: append a second key (keygen | grep -v '^#' >> FILE) on both sides,\nthen make it the first line on the ingress, then remove the old one everywhere."
    )]
    Keygen {
        /// Name the feed in the comment line (the key works for any feed).
        #[arg(long)]
        feed: Option<String>,
    },
    /// Validate a configuration file and print the effective configuration.
    #[command(after_help = "Example:\n  mcast-relay check-config deploy/examples/egress.toml")]
    CheckConfig { file: PathBuf },
    /// Exit 0 if the health endpoint answers 200 (for container health checks).
    #[command(
        after_help = "Example:\n  mcast-relay health-probe --url http://127.0.0.1:9180/healthz"
    )]
    HealthProbe {
        #[arg(
            long,
            default_value = "http://127.0.0.1:9180/healthz",
            env = "MCAST_RELAY_HEALTH_URL"
        )]
        url: String,
        #[arg(long, default_value = "2s", value_parser = crate::tools::parse_duration)]
        timeout: Duration,
    },
}

/// Flags every relay takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// TOML configuration file; flags add to it and override its globals.
    #[arg(long, env = "MCAST_RELAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Serve /healthz, /readyz, /metrics and /status here [default: 127.0.0.1:9180].
    #[arg(long, env = "MCAST_RELAY_HTTP")]
    pub http: Option<SocketAddr>,
    /// Log lines as text or JSON (for CloudWatch).
    #[arg(long, env = "MCAST_RELAY_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Seconds between CloudWatch EMF lines on stdout; 0 turns them off [default: 60].
    #[arg(long, env = "MCAST_RELAY_EMF_INTERVAL")]
    pub emf_interval: Option<u64>,
    /// Seconds without datagrams before a feed shows as degraded (/status, /metrics, logs; never /healthz); 0 turns it off [default: 10].
    #[arg(long, env = "MCAST_RELAY_DEGRADED_AFTER")]
    pub degraded_after: Option<u64>,
    /// Runtime worker threads [default: 1: each feed's path is sequential, and
    /// one thread saves a cross-thread wake-up per datagram]. Flags and environment only.
    #[arg(long, env = "MCAST_RELAY_THREADS", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: Option<u16>,
    /// Pin the process to these CPUs, e.g. 2,3 or 2-3. Flags and environment only.
    #[arg(long, env = "MCAST_RELAY_CPUS", value_parser = parse_cpus)]
    pub cpus: Option<CpuList>,
    /// Busy-poll the multicast receive sockets for this many microseconds
    /// (SO_BUSY_POLL; needs a driver that supports it and CAP_NET_ADMIN above
    /// net.core.busy_read) [default: off].
    #[arg(long, env = "MCAST_RELAY_BUSY_POLL")]
    pub busy_poll: Option<u32>,
    /// Run every feed without a key, on purpose: anyone who reaches the link
    /// can send into it. Logged every minute and shown in /status and /metrics.
    #[arg(long, env = "MCAST_RELAY_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
}

/// CPUs to pin to.
#[derive(Debug, Clone)]
pub struct CpuList(pub Vec<usize>);

fn parse_cpus(s: &str) -> Result<CpuList, String> {
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

/// A relay takes every descriptor it may: floods of connections are bounded
/// by its own limits, not by running out (see `obs::http::connection_limit`).
fn raise_nofile() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// Pin this process (and the threads it starts later) to `cpus`.
fn pin(cpus: &CpuList) -> anyhow::Result<()> {
    let mut set = nix::sched::CpuSet::new();
    for c in &cpus.0 {
        set.set(*c)
            .map_err(|e| anyhow::anyhow!("--cpus: CPU {c}: {e}"))?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|e| anyhow::anyhow!("--cpus: {e}"))
}

#[derive(Args, Debug, Clone)]
#[command(
    after_help = "Example:\n  mcast-relay ingress --feed prod --iface eth1 --group 239.111.111.1:6100 \\\n      --group 239.111.111.1:6101 --dest relay.example.internal:6667 --key-file /etc/mcast-relay/prod.key\n\nKeys: --key-file, else MCAST_RELAY_KEY_<FEED> or MCAST_RELAY_KEY in the environment."
)]
pub struct IngressArgs {
    #[command(flatten)]
    pub common: Common,
    /// Name of the feed (the egress must serve a feed of this name).
    #[arg(long, env = "MCAST_RELAY_FEED")]
    pub feed: Option<String>,
    /// Group to join, GROUP:PORT; repeat for several.
    #[arg(
        long = "group",
        env = "MCAST_RELAY_GROUP",
        value_delimiter = ',',
        value_name = "GROUP:PORT"
    )]
    pub groups: Vec<GroupPort>,
    /// Interface to join on: a name (eth1) or one of its IPv4 addresses.
    #[arg(long, env = "MCAST_RELAY_IFACE")]
    pub iface: Option<String>,
    /// A line of the venue on its own interface, NAME=IFACE (e.g. A=eth1,
    /// B=eth2): each is joined there and sent as its own sender (SENDER:NAME),
    /// for an egress that merges them (--merge). Instead of --iface.
    #[arg(
        long = "line",
        env = "MCAST_RELAY_LINE",
        value_delimiter = ',',
        value_name = "NAME=IFACE",
        conflicts_with = "iface"
    )]
    pub lines: Vec<String>,
    /// Join source-specific: only this sender's datagrams.
    #[arg(long, env = "MCAST_RELAY_SOURCE")]
    pub source: Option<Ipv4Addr>,
    /// Egress (or load balancer) to send to, HOST:PORT; repeat for several.
    #[arg(
        long = "dest",
        env = "MCAST_RELAY_DEST",
        value_delimiter = ',',
        value_name = "HOST:PORT"
    )]
    pub dests: Vec<String>,
    /// File holding the pre-shared key (a second line: the next key).
    #[arg(long, env = "MCAST_RELAY_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// This sender's name, the same across restarts: a restarted sender takes
    /// over from itself, another name is another live sender [default: the host name].
    #[arg(long, env = "MCAST_RELAY_SENDER")]
    pub sender: Option<String>,
    /// Send the link's records authenticated but not encrypted, readable on
    /// the wire (they cost more CPU that way) [default: encrypted].
    #[arg(long, env = "MCAST_RELAY_NO_ENCRYPT")]
    pub no_encrypt: bool,
    /// Replay window size in bytes, enough for the worst failover at the
    /// feed's peak rate (docs/DEPLOY.md) [default: 768 MiB].
    #[arg(long)]
    pub window_bytes: Option<usize>,
    /// Replay window age in seconds [default: 60].
    #[arg(long)]
    pub window_secs: Option<u64>,
    /// Multicast receive buffer in bytes [default: 8 MiB].
    #[arg(long)]
    pub rcvbuf: Option<usize>,
    /// TLS on the link: the CA that signed the egress's certificate.
    #[arg(long, env = "MCAST_RELAY_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// TLS: the name to verify in the egress's certificate [default: the host of --dest].
    #[arg(long, env = "MCAST_RELAY_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,
    /// TLS: client certificate (PEM), for egresses that require one.
    #[arg(long, env = "MCAST_RELAY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS: the client certificate's private key (PEM).
    #[arg(long, env = "MCAST_RELAY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
#[command(
    after_help = "Example:\n  mcast-relay egress --listen dev=0.0.0.0:6666 --listen prod=0.0.0.0:6667 \\\n      --iface eth0 --allow 239.111.111.0/24 --http 0.0.0.0:9180\n\nKeys: --key-file [FEED=]PATH, else MCAST_RELAY_KEY_<FEED> or MCAST_RELAY_KEY."
)]
pub struct EgressArgs {
    #[command(flatten)]
    pub common: Common,
    /// TCP address to accept a feed on, [FEED=]ADDR:PORT; repeat for several feeds.
    #[arg(
        long = "listen",
        env = "MCAST_RELAY_LISTEN",
        value_delimiter = ',',
        value_name = "[FEED=]ADDR:PORT"
    )]
    pub listens: Vec<String>,
    /// Feed name for a --listen without FEED=.
    #[arg(long, env = "MCAST_RELAY_FEED")]
    pub feed: Option<String>,
    /// Interface to emit on: a name (eth0) or one of its IPv4 addresses.
    #[arg(long, env = "MCAST_RELAY_IFACE")]
    pub iface: Option<String>,
    /// Multicast TTL of emitted datagrams [default: 32, enough for a Transit Gateway hop].
    #[arg(long, env = "MCAST_RELAY_TTL")]
    pub ttl: Option<u32>,
    /// Groups this egress may emit to (after --map), as CIDRs; required.
    #[arg(
        long = "allow",
        env = "MCAST_RELAY_ALLOW",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    pub allow: Vec<Cidr>,
    /// Rewrite destinations, FROM=TO: a group or CIDR, optionally with :PORT.
    #[arg(
        long = "map",
        env = "MCAST_RELAY_MAP",
        value_delimiter = ',',
        value_name = "FROM=TO"
    )]
    pub map: Vec<MapRule>,
    /// Key file, [FEED=]PATH; repeat for several feeds.
    #[arg(
        long = "key-file",
        env = "MCAST_RELAY_KEY_FILE",
        value_name = "[FEED=]PATH"
    )]
    pub key_files: Vec<String>,
    /// Multicast send buffer in bytes [default: 8 MiB].
    #[arg(long)]
    pub sndbuf: Option<usize>,
    /// Also emit FROM's datagrams to TO (an extra copy, guarded by --allow); repeatable.
    #[arg(
        long = "fanout",
        env = "MCAST_RELAY_FANOUT",
        value_delimiter = ',',
        value_name = "FROM=TO"
    )]
    pub fanout: Vec<MapRule>,
    /// Merge several live senders of a feed (two datacenter hosts, or one per
    /// line) by the venue's sequence numbers: each packet once, in order per
    /// channel, whichever sender delivered it first [default: none, one sender
    /// at a time, a newcomer takes over].
    #[arg(long, env = "MCAST_RELAY_MERGE", value_enum)]
    pub merge: Option<crate::egress::merge::MergeFormat>,
    /// With --merge: how long a datagram after a gap waits for another sender
    /// to fill it [default: 100ms].
    #[arg(long, env = "MCAST_RELAY_MERGE_WAIT", value_parser = crate::tools::parse_duration)]
    pub merge_wait: Option<Duration>,
    /// Keep what each feed emitted in DIR/FEED.state (a small memory-mapped
    /// file), so an egress restarted on the same host resumes every sender
    /// exactly and emits nothing twice [default: none: a restart may repeat
    /// up to 50 ms of datagrams].
    #[arg(long, env = "MCAST_RELAY_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// TLS on the link: this egress's certificate chain (PEM).
    #[arg(long, env = "MCAST_RELAY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS: the certificate's private key (PEM).
    #[arg(long, env = "MCAST_RELAY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// TLS: require client certificates signed by this CA.
    #[arg(long, env = "MCAST_RELAY_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
}

impl Common {
    fn load(&self) -> anyhow::Result<Config> {
        let mut c = match &self.config {
            Some(p) => Config::from_file(p)?,
            None => Config {
                emf_interval: 60,
                ..Config::default()
            },
        };
        if self.http.is_some() {
            c.http = self.http;
        }
        c.http = c.http.or(Some(
            crate::config::DEFAULT_HTTP.parse().expect("valid default"),
        ));
        if let Some(f) = self.log_format {
            c.log_format = f;
        }
        if let Some(e) = self.emf_interval {
            c.emf_interval = e;
        }
        if let Some(d) = self.degraded_after {
            c.degraded_after = Some(d);
        }
        crate::obs::set_default_degraded_after(Duration::from_secs(c.degraded_after.unwrap_or(10)));
        Ok(c)
    }

    /// Flags that act on every feed, from the file and from flags alike.
    fn apply_to_feeds(&self, c: &mut Config) {
        if let Some(us) = self.busy_poll {
            c.ingress.iter_mut().for_each(|f| f.busy_poll = us);
        }
        if self.insecure_no_auth {
            c.ingress.iter_mut().for_each(|f| f.insecure_no_auth = true);
            c.egress.iter_mut().for_each(|f| f.insecure_no_auth = true);
        }
    }

    /// The configuration of `run`: the file and the global flags.
    fn load_run(&self) -> anyhow::Result<Config> {
        let mut c = self.load()?;
        self.apply_to_feeds(&mut c);
        Ok(c)
    }
}

impl IngressArgs {
    fn config(&self) -> anyhow::Result<Config> {
        let mut c = self.common.load()?;
        c.egress.clear();
        if self.feed.is_some() || !self.groups.is_empty() || !self.dests.is_empty() {
            let feed = self
                .feed
                .as_deref()
                .context("--feed NAME is required with --group/--dest")?;
            let lines: Vec<(Option<String>, String)> = if self.lines.is_empty() {
                let iface = self.iface.as_deref().context(
                    "--iface is required: the interface to join on (e.g. eth1 or 10.0.0.5), or --line NAME=IFACE for each line",
                )?;
                vec![(None, iface.to_string())]
            } else {
                self.lines
                    .iter()
                    .map(|l| {
                        l.split_once('=')
                            .map(|(n, i)| (Some(n.trim().to_string()), i.trim().to_string()))
                            .with_context(|| format!("--line {l}: give NAME=IFACE, e.g. A=eth1"))
                    })
                    .collect::<anyhow::Result<_>>()?
            };
            for (line, iface) in lines {
                let mut f = IngressFeed::new(feed, &iface, self.groups.clone(), self.dests.clone());
                f.line = line;
                f.source = self.source;
                f.key_file = self.key_file.clone();
                f.sender = self.sender.clone();
                if self.no_encrypt {
                    f.encrypt = false;
                }
                f.window_bytes = self.window_bytes.unwrap_or(f.window_bytes);
                f.window_secs = self.window_secs.unwrap_or(f.window_secs);
                f.rcvbuf = self.rcvbuf.unwrap_or(f.rcvbuf);
                f.tls_ca = self.tls_ca.clone();
                f.tls_server_name = self.tls_server_name.clone();
                f.tls_cert = self.tls_cert.clone();
                f.tls_key = self.tls_key.clone();
                c.ingress.push(f);
            }
        }
        if c.ingress.is_empty() {
            bail!(
                "no ingress feed: give --feed, --iface, --group and --dest, or --config with an [[ingress]] section"
            );
        }
        self.common.apply_to_feeds(&mut c);
        Ok(c)
    }
}

impl EgressArgs {
    fn config(&self) -> anyhow::Result<Config> {
        let mut c = self.common.load()?;
        c.ingress.clear();
        for l in &self.listens {
            let (feed, addr) = split_feed(l);
            let feed = feed.or(self.feed.as_deref()).with_context(|| {
                format!("--listen {l}: name the feed, as FEED=ADDR:PORT or with --feed")
            })?;
            let addr: SocketAddr = addr
                .parse()
                .with_context(|| format!("--listen {l}: {addr:?} is not ADDR:PORT"))?;
            let iface = self
                .iface
                .as_deref()
                .context("--iface is required: the interface to emit on (e.g. eth0 or 10.0.1.5)")?;
            let mut f = EgressFeed::new(feed, addr, iface, self.allow.clone());
            f.map = self.map.clone();
            f.ttl = self.ttl.unwrap_or(f.ttl);
            f.sndbuf = self.sndbuf.unwrap_or(f.sndbuf);
            f.fanout = self.fanout.clone();
            f.merge = self.merge.unwrap_or(f.merge);
            f.state_dir = self.state_dir.clone();
            f.merge_wait_ms = self
                .merge_wait
                .map_or(f.merge_wait_ms, |d| d.as_millis() as u64);
            f.tls_cert = self.tls_cert.clone();
            f.tls_key = self.tls_key.clone();
            f.tls_client_ca = self.tls_client_ca.clone();
            c.egress.push(f);
        }
        for k in &self.key_files {
            match split_feed(k) {
                (Some(feed), path) => {
                    let f = c
                        .egress
                        .iter_mut()
                        .find(|f| f.feed == feed)
                        .with_context(|| format!("--key-file {k}: no feed {feed:?}"))?;
                    f.key_file = Some(path.into());
                }
                (None, path) => c
                    .egress
                    .iter_mut()
                    .for_each(|f| f.key_file = Some(path.into())),
            }
        }
        if c.egress.is_empty() {
            bail!(
                "no egress feed: give --listen [FEED=]ADDR:PORT, --iface and --allow, or --config with an [[egress]] section"
            );
        }
        self.common.apply_to_feeds(&mut c);
        Ok(c)
    }
}

fn env_var(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// Parse the command line and run it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let common = match &cli.command {
        Command::Ingress(a) => Some(&a.common),
        Command::Egress(a) => Some(&a.common),
        Command::Run(c) => Some(c),
        _ => None,
    };
    if let Some(cpus) = common.and_then(|c| c.cpus.as_ref())
        && let Err(e) = pin(cpus)
    {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    if common.is_some() {
        raise_nofile();
    }
    let threads = common.and_then(|c| c.threads).unwrap_or(1) as usize;
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Ingress(a) => run_relays(a.config()?).await,
        Command::Egress(a) => run_relays(a.config()?).await,
        Command::Run(common) => run_relays(common.load_run()?).await,
        Command::Keygen { feed } => {
            let k = crate::wire::auth::Key::generate();
            let made = httpdate::fmt_http_date(std::time::SystemTime::now());
            let what = feed.map(|f| format!(" for feed {f}")).unwrap_or_default();
            println!(
                "# mcast-relay key{what} made {made} (id {})\n# The same file on the ingress and the egress; chmod 600. A second line adds the next key.\n{}",
                hex::encode(k.id()),
                k.to_line()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { file } => {
            let mut c = Config::from_file(&file)?;
            c.validate(&env_var)?;
            print!("{}", c.to_toml_redacted());
            eprintln!(
                "{}: valid ({} ingress, {} egress feeds)",
                file.display(),
                c.ingress.len(),
                c.egress.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::HealthProbe { url, timeout } => match crate::obs::http::probe(&url, timeout) {
            Ok(200) => Ok(ExitCode::SUCCESS),
            Ok(code) => {
                eprintln!("{url}: HTTP {code}");
                Ok(ExitCode::FAILURE)
            }
            Err(e) => {
                eprintln!("{url}: {e}");
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Publish(a) => {
            let stop = Arc::new(AtomicBool::new(false));
            on_ctrl_c(stop.clone());
            let r =
                tokio::task::spawn_blocking(move || publish::run(&a, &stop, &AtomicU64::new(0)))
                    .await??;
            eprintln!(
                "sent {} datagrams ({} bytes) in {:.2} s",
                r.sent, r.bytes, r.elapsed_s
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Listen(a) => {
            let stop = Arc::new(AtomicBool::new(false));
            on_ctrl_c(stop.clone());
            let (json, expect, fail_on_gap) = (a.json, a.expect, a.fail_on_gap);
            let r = tokio::task::spawn_blocking(move || {
                listen::run(&a, &stop, &listen::Live::default())
            })
            .await??;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                print!("{}", r.text());
            }
            Ok(match expect {
                Some(n) if r.unique < n => {
                    eprintln!("expected {n} datagrams, {} arrived", r.unique);
                    ExitCode::FAILURE
                }
                _ if fail_on_gap && r.gaps > 0 => {
                    eprintln!(
                        "{} {} missing in {} holes (--fail-on-gap)",
                        r.gaps, r.unit, r.holes
                    );
                    ExitCode::from(2)
                }
                _ => ExitCode::SUCCESS,
            })
        }
        Command::Replay(a) => {
            let stop = Arc::new(AtomicBool::new(false));
            on_ctrl_c(stop.clone());
            let r = tokio::task::spawn_blocking(move || replay::run(&a, &stop)).await??;
            eprintln!("{}", r.text());
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor(a) => Ok(if doctor::run(a).await? {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "mcast-relay",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
                .render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(a) => {
            // Quiet by default: the demo prints its own progress (RUST_LOG overrides).
            logs::init_with(LogFormat::Text, "warn");
            Ok(if demo::run(a).await? {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn on_ctrl_c(stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
}

/// Run the relays of `cfg` until SIGTERM/SIGINT or a fatal error.
async fn run_relays(mut cfg: Config) -> anyhow::Result<ExitCode> {
    cfg.validate(&env_var)?;
    logs::init(cfg.log_format);
    tracing::info!(version = VERSION, "mcast-relay starting");
    let obs = Obs::default();
    let stop = CancellationToken::new();
    shutdown::on_signals(stop.clone())?;
    let health = obs.health.clone();
    tokio::spawn(async move { health.watchdog().await });
    if let Some(addr) = cfg.http {
        let (bound, _) = crate::obs::http::serve(addr, obs.clone(), stop.clone())
            .await
            .with_context(|| format!("--http {addr}"))?;
        tracing::info!(%bound, "health and metrics served");
    }
    if cfg.emf_interval > 0 {
        tokio::spawn(crate::obs::emf::run(
            obs.clone(),
            Duration::from_secs(cfg.emf_interval),
            stop.clone(),
        ));
    }
    let mut relays = tokio::task::JoinSet::new();
    if !cfg.egress.is_empty() {
        relays.spawn(crate::egress::run(
            cfg.egress.clone(),
            obs.clone(),
            stop.clone(),
        ));
    }
    for f in cfg.ingress.clone() {
        relays.spawn(crate::ingress::run(f, obs.clone(), stop.clone()));
    }
    let mut failed = false;
    while let Some(r) = relays.join_next().await {
        let err = match r {
            Ok(Ok(())) if stop.is_cancelled() => continue,
            Ok(Ok(())) => "a relay stopped on its own".to_string(),
            Ok(Err(e)) => format!("{e:#}"),
            Err(e) => format!("a relay task panicked: {e}"),
        };
        tracing::error!(error = %err, "fatal");
        obs.health.fail(err);
        failed = true;
        stop.cancel();
    }
    tracing::info!("stopped");
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
