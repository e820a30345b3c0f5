//! The command line: clap definitions and dispatch. The relay subcommands
//! (`relay.rs`) take the configuration schema's own structs as arguments;
//! exit statuses are in `exit.rs`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::obs::logs::{self, LogFormat};
use crate::tools::{demo, doctor, listen, publish, replay};

pub mod exit;
mod help;
pub mod relay;

pub use exit::Exit;
use relay::{EgressArgs, IngressArgs, Relay, RunArgs};

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
    after_help = help::top_after_help()
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
    Run(RunArgs),
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
        /// The shell to complete for.
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
    /// Validate a configuration file and print the effective configuration,
    /// with where each value came from (the file, the environment, a default).
    #[command(after_help = "Example:\n  mcast-relay check-config deploy/examples/egress.toml")]
    CheckConfig {
        /// The TOML file to check (the environment is applied as `run` would).
        file: PathBuf,
    },
    /// Print a reference of every setting: TOML key, flag, variable, default (docs/CONFIG.md).
    ConfigReference,
    /// Exit 0 if the health endpoint answers 200 (for container health checks).
    #[command(
        after_help = "Example:\n  mcast-relay health-probe --url http://127.0.0.1:9180/healthz"
    )]
    HealthProbe {
        /// The health endpoint to ask (the relay's --http, path /healthz).
        #[arg(
            long,
            default_value = "http://127.0.0.1:9180/healthz",
            env = "MCAST_RELAY_HEALTH_URL"
        )]
        url: String,
        /// Give up after this long (e.g. 2s, 500ms).
        #[arg(long, default_value = "2s", value_parser = crate::units::parse_duration)]
        timeout: Duration,
    },
}

/// Parse the command line and run it.
pub fn main() -> ExitCode {
    let root = Cli::command();
    let m = root.clone().get_matches();
    let cli = match Cli::from_arg_matches(&m) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let relay = match m.subcommand() {
        Some((name, sub)) => Relay::load(name, sub, &root, &cli.command),
        None => Ok(None),
    };
    let relay = match relay {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage.into();
        }
    };
    match &relay {
        Some(r) => {
            if let Err(e) = r.prepare() {
                eprintln!("error: {e:#}");
                return Exit::Usage.into();
            }
        }
        // A tool whose reader went away (`doctor --json | head`) ends
        // quietly, as a Unix tool does. Relays keep SIGPIPE ignored.
        None => sigpipe::reset(),
    }
    let threads = relay.as_ref().map_or(1, Relay::threads);
    // A relay on one thread (the default) gets a current-thread runtime: no
    // work-stealing bookkeeping, no cross-thread wake-ups. The tools (demo
    // runs a relay beside blocking readers) keep the multi-thread one.
    let mut builder = if threads == 1 && relay.is_some() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return Exit::Failure.into();
        }
    };
    let done = match relay {
        Some(r) => rt.block_on(r.run()).map_err(exit::Failed::from),
        None => rt.block_on(dispatch(cli.command)),
    };
    match done {
        Ok(code) => code,
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            f.exit.into()
        }
    }
}

/// The tools: every subcommand but the relays.
async fn dispatch(cmd: Command) -> Result<ExitCode, exit::Failed> {
    match cmd {
        Command::Ingress(_) | Command::Egress(_) | Command::Run(_) => {
            unreachable!("relays are run by Relay")
        }
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
            let root = Cli::command();
            let args = ["mcast-relay", "run", "--config"];
            let m = root
                .clone()
                .try_get_matches_from(
                    args.iter()
                        .map(Into::into)
                        .chain([file.clone().into_os_string()]),
                )
                .map_err(anyhow::Error::from)?;
            let Some(("run", sub)) = m.subcommand() else {
                unreachable!("run was given")
            };
            let cli = Cli::from_arg_matches(&m).map_err(anyhow::Error::from)?;
            let Some(r) = Relay::load("run", sub, &root, &cli.command)? else {
                unreachable!("run is a relay")
            };
            let (mut c, origins) = (r.loaded.config, r.loaded.origins);
            c.validate(&relay::env_var)?;
            print!("{}", crate::config::layer::print(&c, &origins));
            eprintln!(
                "{}: valid ({} ingress, {} egress feeds)",
                file.display(),
                c.ingress.len(),
                c.egress.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::ConfigReference => {
            print!("{}", crate::config::reference::markdown());
            Ok(Exit::Ok.into())
        }
        Command::HealthProbe { url, timeout } => match crate::obs::http::probe(&url, timeout) {
            Ok(200) => Ok(ExitCode::SUCCESS),
            Ok(code) => {
                eprintln!("{url}: HTTP {code}");
                Ok(Exit::Unhealthy.into())
            }
            Err(e) => {
                eprintln!("{url}: {e}");
                Ok(Exit::Unhealthy.into())
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
                    Exit::Loss.into()
                }
                _ if fail_on_gap && r.gaps > 0 => {
                    eprintln!(
                        "{} {} missing in {} holes (--fail-on-gap)",
                        r.gaps, r.unit, r.holes
                    );
                    Exit::Loss.into()
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
            Exit::Ok
        } else {
            Exit::CheckFailed
        }
        .into()),
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
            help::man(&mut std::io::stdout())?;
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
