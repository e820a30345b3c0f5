//! File, then environment, then flags, put together once. The schema's
//! structs are read by clap (flags and environment) and by serde (the file);
//! here the values a person actually set on the command line or in the
//! environment (clap's `value_source`) are laid over the file's TOML table,
//! key by key, and the result is read back through serde, so a default lives
//! in one place and every route reaches the same field.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, Command};
use serde::Serialize;
use toml::{Table, Value};

use super::schema::{Config, EgressFeed, IngressFeed};
use super::{ConfigError, err};
use crate::net::addr::split_feed;

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p) => write!(f, "file {}", p.display()),
            Origin::Env(v) => write!(f, "env {v}"),
            Origin::Flag(l) => write!(f, "flag {l}"),
        }
    }
}

/// The origin of every key that is not at its default.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    pub global: BTreeMap<String, Origin>,
    pub ingress: Vec<BTreeMap<String, Origin>>,
    pub egress: Vec<BTreeMap<String, Origin>>,
}

/// The feed flags of the subcommand that was run.
pub enum FeedFlags<'a> {
    /// `run`: feeds come from the file only.
    None,
    Ingress {
        feed: &'a IngressFeed,
        lines: &'a [String],
    },
    Egress {
        feed: &'a EgressFeed,
        listens: &'a [String],
        key_files: &'a [String],
    },
}

/// A configuration with where each value came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub origins: Origins,
}

/// The values of `table` set on the command line or in the environment, by
/// the arguments of `cmd` whose ids are the table's keys.
fn set_by_user(m: &ArgMatches, cmd: &Command, table: &Table) -> Vec<(String, Value, Origin)> {
    let mut out = Vec::new();
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        let Some(v) = table.get(id) else { continue };
        let origin = match m.value_source(id) {
            Some(ValueSource::CommandLine) => {
                Origin::Flag(format!("--{}", arg.get_long().unwrap_or(id)))
            }
            Some(ValueSource::EnvVariable) => Origin::Env(
                arg.get_env()
                    .map(|e| e.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            _ => continue,
        };
        out.push((id.to_string(), v.clone(), origin));
    }
    out
}

fn origin_of(m: &ArgMatches, cmd: &Command, id: &str) -> Origin {
    let arg = cmd.get_arguments().find(|a| a.get_id() == id);
    match (m.value_source(id), arg) {
        (Some(ValueSource::EnvVariable), Some(a)) => Origin::Env(
            a.get_env()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
        (_, Some(a)) => Origin::Flag(format!("--{}", a.get_long().unwrap_or(id))),
        _ => Origin::Flag(id.to_string()),
    }
}

fn file_origin(file: Option<&Path>) -> Origin {
    Origin::File(file.unwrap_or(Path::new("")).into())
}

fn to_table<T: Serialize>(v: &T) -> Table {
    Table::try_from(v).expect("the schema serializes to a table")
}

fn read_file(path: &Path) -> Result<Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "{}: {e} (flag --config, env MCAST_RELAY_CONFIG)",
            path.display()
        ))
    })?;
    // Read it once as the schema, so its errors name the file and the key.
    toml::from_str::<Config>(&text)
        .map_err(|e| ConfigError(format!("{}: {}", path.display(), e.message())))?;
    toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
}

/// Feeds of one role in the table, and their origins, edited together.
struct Feeds {
    tables: Vec<Table>,
    origins: Vec<BTreeMap<String, Origin>>,
}

impl Feeds {
    fn take(root: &mut Table, key: &str, file: Option<&Path>) -> Feeds {
        let tables: Vec<Table> = match root.remove(key) {
            Some(Value::Array(a)) => a
                .into_iter()
                .filter_map(|v| match v {
                    Value::Table(t) => Some(t),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let origins = tables
            .iter()
            .map(|t| t.keys().map(|k| (k.clone(), file_origin(file))).collect())
            .collect();
        Feeds { tables, origins }
    }

    fn put(self, root: &mut Table, key: &str) -> Vec<BTreeMap<String, Origin>> {
        if !self.tables.is_empty() {
            let a = self.tables.into_iter().map(Value::Table).collect();
            root.insert(key.into(), Value::Array(a));
        }
        self.origins
    }

    /// The feed named `name`, made if the file has none.
    fn named(&mut self, name: &str, origin: &Origin) -> usize {
        if let Some(i) = self
            .tables
            .iter()
            .position(|t| t.get("feed").and_then(Value::as_str) == Some(name))
        {
            return i;
        }
        let mut t = Table::new();
        t.insert("feed".into(), Value::String(name.into()));
        self.tables.push(t);
        self.origins
            .push(BTreeMap::from([("feed".to_string(), origin.clone())]));
        self.tables.len() - 1
    }

    fn set(&mut self, i: usize, key: &str, v: Value, origin: Origin) {
        self.tables[i].insert(key.into(), v);
        self.origins[i].insert(key.into(), origin);
    }

    fn apply(&mut self, targets: &[usize], set: &[(String, Value, Origin)]) {
        for &i in targets {
            for (k, v, o) in set {
                self.set(i, k, v.clone(), o.clone());
            }
        }
    }
}

/// Put the file (`global.config`), the environment and the flags together.
/// `m` and `cmd` are the matches and definition of the subcommand run.
pub fn load(
    m: &ArgMatches,
    cmd: &Command,
    global: &Config,
    flags: FeedFlags<'_>,
) -> Result<Loaded, ConfigError> {
    let file = global.config.as_deref();
    let mut root = match file {
        Some(p) => read_file(p)?,
        None => Table::new(),
    };
    let mut origins = Origins::default();
    for k in root.keys().filter(|k| *k != "ingress" && *k != "egress") {
        origins.global.insert(k.clone(), file_origin(file));
    }
    for (k, v, o) in set_by_user(m, cmd, &to_table(global)) {
        root.insert(k.clone(), v);
        origins.global.insert(k, o);
    }
    let mut ingress = Feeds::take(&mut root, "ingress", file);
    let mut egress = Feeds::take(&mut root, "egress", file);
    match flags {
        FeedFlags::None => {}
        FeedFlags::Ingress { feed, lines } => {
            egress = Feeds {
                tables: Vec::new(),
                origins: Vec::new(),
            };
            ingress_flags(m, cmd, feed, lines, &mut ingress)?;
        }
        FeedFlags::Egress {
            feed,
            listens,
            key_files,
        } => {
            ingress = Feeds {
                tables: Vec::new(),
                origins: Vec::new(),
            };
            egress_flags(m, cmd, feed, listens, key_files, &mut egress)?;
        }
    }
    origins.ingress = ingress.put(&mut root, "ingress");
    origins.egress = egress.put(&mut root, "egress");
    let mut config: Config = Value::Table(root)
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError(e.message().to_string()))?;
    config.config = global.config.clone();
    Ok(Loaded { config, origins })
}

/// Which feeds the per-feed flags act on: the one `--feed` names (made if the
/// file has none), else every feed of the file.
fn targets(
    m: &ArgMatches,
    cmd: &Command,
    name: &str,
    feeds: &mut Feeds,
    any_set: bool,
    missing: &str,
) -> Result<Vec<usize>, ConfigError> {
    if !name.is_empty() {
        return Ok(vec![feeds.named(name, &origin_of(m, cmd, "feed"))]);
    }
    if any_set && feeds.tables.is_empty() {
        return err(missing.into());
    }
    Ok((0..feeds.tables.len()).collect())
}

fn ingress_flags(
    m: &ArgMatches,
    cmd: &Command,
    feed: &IngressFeed,
    lines: &[String],
    feeds: &mut Feeds,
) -> Result<(), ConfigError> {
    let mut set = set_by_user(m, cmd, &to_table(feed));
    set.retain(|(k, ..)| k != "feed");
    let at = targets(
        m,
        cmd,
        &feed.feed,
        feeds,
        !set.is_empty() || !lines.is_empty(),
        "--feed NAME is required with --group, --dest and the other feed flags (or --config with an [[ingress]] section)",
    )?;
    feeds.apply(&at, &set);
    if lines.is_empty() {
        return Ok(());
    }
    let origin = origin_of(m, cmd, "lines");
    let mut parsed = Vec::new();
    for l in lines {
        let (name, iface) = l
            .split_once('=')
            .ok_or_else(|| ConfigError(format!("--line {l}: give NAME=IFACE, e.g. A=eth1")))?;
        parsed.push((name.trim().to_string(), iface.trim().to_string()));
    }
    // Each target becomes one feed per line, in the target's place.
    for &i in at.iter().rev() {
        let (t, o) = (feeds.tables.remove(i), feeds.origins.remove(i));
        for (n, (name, iface)) in parsed.iter().enumerate() {
            let (mut t, mut o) = (t.clone(), o.clone());
            t.insert("line".into(), Value::String(name.clone()));
            t.insert("iface".into(), Value::String(iface.clone()));
            o.insert("line".into(), origin.clone());
            o.insert("iface".into(), origin.clone());
            feeds.tables.insert(i + n, t);
            feeds.origins.insert(i + n, o);
        }
    }
    Ok(())
}

fn egress_flags(
    m: &ArgMatches,
    cmd: &Command,
    feed: &EgressFeed,
    listens: &[String],
    key_files: &[String],
    feeds: &mut Feeds,
) -> Result<(), ConfigError> {
    let mut set = set_by_user(m, cmd, &to_table(feed));
    set.retain(|(k, ..)| k != "feed");
    let at = if listens.is_empty() {
        targets(
            m,
            cmd,
            &feed.feed,
            feeds,
            !set.is_empty(),
            "no egress feed: give --listen [FEED=]ADDR:PORT, --iface and --allow, or --config with an [[egress]] section",
        )?
    } else {
        let origin = origin_of(m, cmd, "listens");
        let mut at = Vec::new();
        for l in listens {
            let (name, addr) = split_feed(l);
            let name = match name {
                Some(n) => n,
                None if !feed.feed.is_empty() => feed.feed.as_str(),
                None => {
                    return err(format!(
                        "--listen {l}: name the feed, as FEED=ADDR:PORT or with --feed"
                    ));
                }
            };
            if addr.parse::<std::net::SocketAddr>().is_err() {
                return err(format!("--listen {l}: {addr:?} is not ADDR:PORT"));
            }
            let i = feeds.named(name, &origin);
            feeds.set(i, "listen", Value::String(addr.into()), origin.clone());
            at.push(i);
        }
        at
    };
    feeds.apply(&at, &set);
    let origin = origin_of(m, cmd, "key_files");
    for k in key_files {
        let path = match split_feed(k) {
            (Some(name), path) => {
                let i = feeds
                    .tables
                    .iter()
                    .position(|t| t.get("feed").and_then(Value::as_str) == Some(name))
                    .ok_or_else(|| ConfigError(format!("--key-file {k}: no feed {name:?}")))?;
                feeds.set(i, "key_file", Value::String(path.into()), origin.clone());
                continue;
            }
            (None, path) => path,
        };
        for i in 0..feeds.tables.len() {
            feeds.set(i, "key_file", Value::String(path.into()), origin.clone());
        }
    }
    Ok(())
}

/// The effective configuration as TOML, each value followed by its origin.
/// Keys are shown by their public id only.
pub fn print(c: &Config, origins: &Origins) -> String {
    let mut out =
        String::from("# The effective configuration; after each value, where it came from.\n");
    let root = to_table(c);
    let line = |out: &mut String, k: &str, v: &Value, o: Option<&Origin>| {
        let o = o.cloned().unwrap_or(Origin::Default);
        out.push_str(&format!("{k} = {v}  # {o}\n"));
    };
    for (k, v) in root
        .iter()
        .filter(|(k, _)| *k != "ingress" && *k != "egress")
    {
        line(&mut out, k, v, origins.global.get(k));
    }
    for (role, feeds, o) in [
        ("ingress", &root.get("ingress"), &origins.ingress),
        ("egress", &root.get("egress"), &origins.egress),
    ] {
        let feeds = feeds.and_then(Value::as_array).cloned().unwrap_or_default();
        for (i, f) in feeds.iter().enumerate() {
            out.push_str(&format!("\n[[{role}]]\n"));
            for (k, v) in f.as_table().into_iter().flatten() {
                line(&mut out, k, v, o.get(i).and_then(|m| m.get(k)));
            }
        }
    }
    out.push('\n');
    out.push_str(&c.key_summary());
    out
}
