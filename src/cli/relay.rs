//! The relay subcommands (`ingress`, `egress`, `run`): their arguments are
//! the schema's structs, flattened, and their configuration is layered once
//! (file, environment, flags) before the runtime starts, so that `threads`
//! and `cpus` can come from the file too.

use std::process::ExitCode;

use anyhow::Context;
use clap::{ArgMatches, Args, Command};

use super::exit::Exit;
use crate::config::{self, Config, CpuList, EgressFeed, FeedFlags, IngressFeed, Loaded};
use crate::obs::Obs;
use crate::obs::logs;
use crate::shutdown::{self, CancellationToken};

const LAYERS: &str = "Settings: a TOML file (--config), then MCAST_RELAY_* variables, then flags; each overrides the one before. Feed flags act on the feed --feed (or --listen) names, else on every feed of the file. --print-config shows the result and where each value came from; docs/CONFIG.md lists every key.";

#[derive(Args, Debug, Clone)]
#[command(
    after_help = format!("Example:\n  mcast-relay ingress --feed prod --iface eth1 --group 239.111.111.1:6100 \\\n      --group 239.111.111.1:6101 --dest relay.example.internal:6667 --key-file /etc/mcast-relay/prod.key\n\nKeys: --key-file, else MCAST_RELAY_KEY_<FEED> or MCAST_RELAY_KEY in the environment.\n\n{LAYERS}")
)]
pub struct IngressArgs {
    #[command(flatten)]
    pub global: Config,
    #[command(flatten)]
    pub feed: IngressFeed,
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
    /// Print the effective configuration, with where each value came from, and exit.
    #[arg(long)]
    pub print_config: bool,
}

#[derive(Args, Debug, Clone)]
#[command(
    after_help = format!("Example:\n  mcast-relay egress --listen dev=0.0.0.0:6666 --listen prod=0.0.0.0:6667 \\\n      --iface eth0 --allow 239.111.111.0/24 --http 0.0.0.0:9181\n\nKeys: --key-file [FEED=]PATH, else MCAST_RELAY_KEY_<FEED> or MCAST_RELAY_KEY.\n\n{LAYERS}")
)]
pub struct EgressArgs {
    #[command(flatten)]
    pub global: Config,
    /// TCP address to accept a feed on, [FEED=]ADDR:PORT (6666 dev, 6667
    /// prod in the design); repeat for several feeds.
    #[arg(
        long = "listen",
        env = "MCAST_RELAY_LISTEN",
        value_delimiter = ',',
        value_name = "[FEED=]ADDR:PORT"
    )]
    pub listens: Vec<String>,
    /// Key file, [FEED=]PATH (`mcast-relay keygen`); repeat for several feeds.
    #[arg(
        long = "key-file",
        env = "MCAST_RELAY_KEY_FILE",
        value_name = "[FEED=]PATH"
    )]
    pub key_files: Vec<String>,
    #[command(flatten)]
    pub feed: EgressFeed,
    /// Print the effective configuration, with where each value came from, and exit.
    #[arg(long)]
    pub print_config: bool,
}

#[derive(Args, Debug, Clone)]
#[command(
    after_help = format!("Example:\n  mcast-relay run --config /etc/mcast-relay/relay.toml\n\n{LAYERS}")
)]
pub struct RunArgs {
    #[command(flatten)]
    pub global: Config,
    /// Print the effective configuration, with where each value came from, and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// A relay subcommand, configured and ready to start.
pub struct Relay {
    pub loaded: Loaded,
    pub print_config: bool,
}

impl Relay {
    /// Layer the configuration of the relay subcommand `name`.
    pub fn load(
        name: &str,
        m: &ArgMatches,
        root: &Command,
        cmd: &super::Command,
    ) -> Result<Option<Relay>, config::ConfigError> {
        let Some(sub) = root.find_subcommand(name) else {
            return Ok(None);
        };
        let (loaded, print_config) = match cmd {
            super::Command::Ingress(a) => (
                config::layer::load(
                    m,
                    sub,
                    &a.global,
                    FeedFlags::Ingress {
                        feed: &a.feed,
                        lines: &a.lines,
                    },
                )?,
                a.print_config,
            ),
            super::Command::Egress(a) => (
                config::layer::load(
                    m,
                    sub,
                    &a.global,
                    FeedFlags::Egress {
                        feed: &a.feed,
                        listens: &a.listens,
                        key_files: &a.key_files,
                    },
                )?,
                a.print_config,
            ),
            super::Command::Run(a) => (
                config::layer::load(m, sub, &a.global, FeedFlags::None)?,
                a.print_config,
            ),
            _ => return Ok(None),
        };
        Ok(Some(Relay {
            loaded,
            print_config,
        }))
    }

    /// What must happen before the runtime exists: CPU pinning (inherited by
    /// its threads) and the descriptor limit.
    pub fn prepare(&self) -> anyhow::Result<()> {
        if let Some(cpus) = &self.loaded.config.cpus {
            pin(cpus)?;
        }
        if let Some(us) = self.loaded.config.cpu_dma_latency_us {
            hold_cpu_latency(us)?;
        }
        raise_nofile();
        Ok(())
    }

    pub fn threads(&self) -> usize {
        self.loaded.config.threads as usize
    }

    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let Loaded {
            mut config,
            origins,
        } = self.loaded;
        config.validate(&env_var)?;
        if self.print_config {
            print!("{}", config::layer::print(&config, &origins));
            return Ok(Exit::Ok.into());
        }
        run_relays(config).await
    }
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
            .map_err(|e| anyhow::anyhow!("cpus: CPU {c}: {e} (flag --cpus)"))?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|e| anyhow::anyhow!("cpus {cpus}: {e} (flag --cpus)"))
}

/// The CPU latency request, held open until the process exits: the kernel
/// withdraws it when the descriptor closes.
static CPU_LATENCY: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();

/// Ask that no core take longer than `us` µs to wake (PM QoS), as tuned's
/// latency-performance profile does.
fn hold_cpu_latency(us: u32) -> anyhow::Result<()> {
    use std::io::Write;
    let path = "/dev/cpu_dma_latency";
    let err = |e: std::io::Error| {
        anyhow::anyhow!(
            "cpu_dma_latency_us {us}: {path}: {e} (it is root's: run as root, or drop --cpu-dma-latency-us)"
        )
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(err)?;
    f.write_all(&(us as i32).to_ne_bytes()).map_err(err)?;
    let _ = CPU_LATENCY.set(f);
    Ok(())
}

pub(super) fn env_var(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// Run the relays of `cfg` until SIGTERM/SIGINT or a fatal error.
async fn run_relays(cfg: Config) -> anyhow::Result<ExitCode> {
    logs::init(cfg.log_format);
    tracing::info!(version = super::VERSION, "mcast-relay starting");
    if let Some(us) = cfg.cpu_dma_latency_us {
        tracing::info!(
            us,
            "holding a CPU latency request (/dev/cpu_dma_latency) until exit"
        );
    }
    crate::obs::set_default_degraded_after(cfg.degraded_after.get());
    let obs = Obs::default();
    let stop = CancellationToken::new();
    shutdown::on_signals(stop.clone())?;
    if cfg.spin {
        tracing::info!("spinning: the runtime's thread polls its sockets and never sleeps");
        tokio::spawn(spin(stop.clone()));
    }
    let health = obs.health.clone();
    tokio::spawn(async move { health.watchdog().await });
    let (bound, _) = crate::obs::http::serve(cfg.http, obs.clone(), stop.clone())
        .await
        .with_context(|| {
            format!(
                "http {}: choose another address with --http or MCAST_RELAY_HTTP (an ingress and an egress on one host need one each)",
                cfg.http
            )
        })?;
    tracing::info!(%bound, "health and metrics served");
    if !cfg.emf_interval.get().is_zero() {
        tokio::spawn(crate::obs::emf::run(
            obs.clone(),
            cfg.emf_interval.get(),
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
    Ok(if failed { Exit::Failure } else { Exit::Ok }.into())
}

/// Keep the one runtime thread from sleeping until `stop`: a task that
/// yields in a loop makes tokio poll the sockets (epoll_wait with a zero
/// timeout) between its turns instead of parking the thread.
async fn spin(stop: CancellationToken) {
    while !stop.is_cancelled() {
        tokio::task::yield_now().await;
    }
}
