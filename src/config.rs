//! Configuration: a TOML file, flags and `MCAST_RELAY_*` environment variables,
//! merged and checked into one [`Config`]. Errors name the key and the fix.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::keys::Keys;
use crate::net::addr::{Cidr, GroupPort, MapRule, check_feed_name, remap};
use crate::obs::logs::LogFormat;
use crate::wire::auth::Key;

/// Lets a `FromStr + Display` type live in TOML as a string.
macro_rules! string_serde {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
string_serde!(GroupPort, Cidr, MapRule);

/// Default multicast TTL at an egress: a Transit Gateway hop and a few routers
/// in a customer's VPC still leave it above zero, and it stays well short of
/// leaking far should a route be wrong.
pub const DEFAULT_TTL: u32 = 32;
pub const DEFAULT_HTTP: &str = "127.0.0.1:9180";

/// The replay window must outlast the worst failover the deployment allows
/// (docs/DEPLOY.md: 57.5 s behind the NLB) at the feed's peak rate (50,000
/// datagrams/s of 160 B plus framing: 644 MB), so a failover loses nothing.
/// The memory is touched as the window fills, not at start.
fn d_window_bytes() -> usize {
    768 << 20
}
fn d_window_secs() -> u64 {
    60
}
fn d_sockbuf() -> usize {
    8 << 20
}
fn d_batch() -> usize {
    64
}
fn d_max_datagram() -> usize {
    9000
}
fn d_ttl() -> u32 {
    DEFAULT_TTL
}
fn d_emf() -> u64 {
    60
}
fn d_true() -> bool {
    true
}
fn d_merge_wait_ms() -> u64 {
    100
}

/// One feed carried by an ingress.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngressFeed {
    pub feed: String,
    /// Interface to join on: a name (`eth1`) or one of its IPv4 addresses.
    pub iface: String,
    pub groups: Vec<GroupPort>,
    /// Join source-specific (SSM) from this sender only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Ipv4Addr>,
    /// `host:port` of each egress (or load balancer); resolved on every connect.
    pub dests: Vec<String>,
    /// Names this sender to the egress, the same across its restarts (so a
    /// restart takes over from itself) [default: the host name].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// Which of the venue's lines this is (A, B, ...): joined on its own
    /// `iface` and sent as its own sender (the sender name gets `:LINE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// Encrypt the link's records (they are always authenticated). Off sends
    /// them readable, and costs more: ring authenticates associated data
    /// about three times slower than it encrypts.
    #[serde(default = "d_true")]
    pub encrypt: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Run this feed without a key, on purpose: the egress cannot tell this
    /// sender from a stranger. Logged every minute and shown in /status.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_no_auth: bool,
    /// Replay window: bytes of framed datagrams kept for reconnects and slow destinations.
    #[serde(default = "d_window_bytes")]
    pub window_bytes: usize,
    /// Replay window: the oldest datagram kept, in seconds.
    #[serde(default = "d_window_secs")]
    pub window_secs: u64,
    /// Multicast receive socket buffer, bytes.
    #[serde(default = "d_sockbuf")]
    pub rcvbuf: usize,
    /// Datagrams per recvmmsg call at most.
    #[serde(default = "d_batch")]
    pub batch: usize,
    /// Longest datagram received whole; longer ones are dropped and counted.
    #[serde(default = "d_max_datagram")]
    pub max_datagram: usize,
    /// Busy-poll the receive sockets this many microseconds (SO_BUSY_POLL); 0 is off.
    #[serde(default)]
    pub busy_poll: u32,
    /// TLS: the CA that signed the egress's certificate; setting it turns TLS on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// TLS: the name to verify in the egress's certificate (default: the host of the dest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
    /// TLS: a client certificate and its key, for egresses that require one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    #[serde(skip)]
    pub keys: Keys,
}

/// One feed served by an egress.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EgressFeed {
    pub feed: String,
    /// TCP address to accept the ingress on (6666 dev, 6667 prod in the design).
    pub listen: SocketAddr,
    /// Interface to emit on: a name or one of its IPv4 addresses.
    pub iface: String,
    #[serde(default = "d_ttl")]
    pub ttl: u32,
    /// Groups this egress may emit to (after remapping). Required.
    #[serde(default)]
    pub allow: Vec<Cidr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub map: Vec<MapRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Serve this feed without a key, on purpose: anyone who reaches the
    /// port can send into it. Logged every minute and shown in /status.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_no_auth: bool,
    /// Multicast send socket buffer, bytes.
    #[serde(default = "d_sockbuf")]
    pub sndbuf: usize,
    /// Datagrams per sendmmsg call at most.
    #[serde(default = "d_batch")]
    pub batch: usize,
    /// TLS: this egress's certificate chain and key; setting them turns TLS on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// TLS: require client certificates signed by this CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_ca: Option<PathBuf>,
    /// Extra copies: each datagram for FROM is also emitted to TO (guarded like
    /// the rest), so a group can be served to more than one group's members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fanout: Vec<MapRule>,
    /// Merge several live senders by the venue's sequence numbers (deribit,
    /// starbase, testhdr), by content (hash), or take one sender at a time (none).
    #[serde(default)]
    pub merge: crate::egress::merge::MergeFormat,
    /// How long a datagram after a gap waits for another sender to fill it, ms.
    #[serde(default = "d_merge_wait_ms")]
    pub merge_wait_ms: u64,
    /// Keep what was emitted in DIR/FEED.state, so an egress restarted on
    /// the same host resumes every sender exactly and emits nothing twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    #[serde(skip)]
    pub keys: Keys,
}

/// Everything one process runs.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address of the HTTP endpoints (`/healthz`, `/metrics`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<SocketAddr>,
    #[serde(default)]
    pub log_format: LogFormat,
    /// Seconds between CloudWatch EMF lines; 0 turns them off.
    #[serde(default = "d_emf")]
    pub emf_interval: u64,
    /// Seconds without datagrams before a feed shows as degraded (in /status,
    /// /metrics and the logs, never /healthz); 0 turns it off [default: 10].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded_after: Option<u64>,
    #[serde(default)]
    pub ingress: Vec<IngressFeed>,
    #[serde(default)]
    pub egress: Vec<EgressFeed>,
}

impl IngressFeed {
    pub fn window_age(&self) -> Duration {
        Duration::from_secs(self.window_secs)
    }

    /// The name this ingress gives itself in its Hello.
    pub fn sender_name(&self) -> String {
        let base = self.sender.clone().unwrap_or_else(default_sender);
        match &self.line {
            Some(l) => format!("{base}:{l}"),
            None => base,
        }
    }

    /// How its link to `dest` is named in /status and /metrics.
    pub fn link_name(&self, dest: &str) -> String {
        match &self.line {
            Some(l) => format!("{dest} line {l}"),
            None => dest.to_string(),
        }
    }
}

/// The host name, made a valid sender name ("ingress" if there is none).
pub fn default_sender() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let mut name: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-:".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(crate::wire::frame::MAX_SENDER_NAME)
        .collect();
    if name.is_empty() {
        name = "ingress".into();
    }
    name
}

/// A configuration error that names where and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err<T>(msg: String) -> Result<T, ConfigError> {
    Err(ConfigError(msg))
}

impl Config {
    /// Parse a TOML file (not yet validated).
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        Config::from_toml(&text).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(e.to_string()))
    }

    /// Check everything and load keys. `env` reads environment variables (a
    /// parameter so tests need not touch the process environment).
    pub fn validate(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if self.ingress.is_empty() && self.egress.is_empty() {
            return err("nothing to run: add an [[ingress]] or [[egress]] section, or give --feed and --group (ingress) or --listen (egress)".into());
        }
        for (i, f) in self.ingress.iter_mut().enumerate() {
            let at = format!("ingress[{i}] (feed {:?})", f.feed);
            check_feed_name(&f.feed).map_err(|e| ConfigError(format!("{at}.feed: {e}")))?;
            if f.groups.is_empty() {
                return err(format!(
                    "{at}.groups: no group to join; add groups = [\"239.1.1.1:6100\"] (flag --group)"
                ));
            }
            if f.dests.is_empty() {
                return err(format!(
                    "{at}.dests: nowhere to send; add dests = [\"egress.example:6667\"] (flag --dest)"
                ));
            }
            for d in &f.dests {
                if !d.contains(':') {
                    return err(format!("{at}.dests: {d:?} needs a port, as host:port"));
                }
            }
            if f.batch == 0 || f.batch > 1024 {
                return err(format!(
                    "{at}.batch: {} is out of range; use 1 to 1024",
                    f.batch
                ));
            }
            if !(64..=65_535).contains(&f.max_datagram) {
                return err(format!("{at}.max_datagram: use 64 to 65535 bytes"));
            }
            if let Some(l) = &f.line
                && (l.is_empty() || l.len() > 16 || !l.bytes().all(|b| b.is_ascii_alphanumeric()))
            {
                return err(format!(
                    "{at}.line: {l:?} must be 1 to 16 letters or digits (e.g. A) (flag --line NAME=IFACE)"
                ));
            }
            crate::wire::handshake::check_sender_name(&f.sender_name()).map_err(|e| {
                ConfigError(format!(
                    "{at}.sender: {e} (flag --sender, or the host name)"
                ))
            })?;
            f.keys = load_keys(&at, &f.feed, f.key_file.as_deref(), f.insecure_no_auth, env)?;
            if f.tls_cert.is_some() != f.tls_key.is_some() {
                return err(format!(
                    "{at}.tls_cert and tls_key: give both or neither (flags --tls-cert, --tls-key)"
                ));
            }
            if f.tls_cert.is_some() && f.tls_ca.is_none() {
                return err(format!(
                    "{at}.tls_ca: a client certificate needs TLS on; give the egress's CA (flag --tls-ca)"
                ));
            }
        }
        for (i, f) in self.egress.iter_mut().enumerate() {
            let at = format!("egress[{i}] (feed {:?})", f.feed);
            check_feed_name(&f.feed).map_err(|e| ConfigError(format!("{at}.feed: {e}")))?;
            if f.allow.is_empty() {
                return err(format!(
                    "{at}.allow: no allow rule, so this egress would emit nothing; say which groups it may emit to, e.g. allow = [\"239.111.111.0/24\"] (flag --allow 239.111.111.0/24)"
                ));
            }
            if let Some(c) = f.allow.iter().find(|c| !c.is_multicast()) {
                return err(format!(
                    "{at}.allow: {c} is not inside 224.0.0.0/4; an egress emits multicast only, so allow only groups (e.g. 239.111.111.0/24)"
                ));
            }
            for (key, rules) in [("map", &f.map), ("fanout", &f.fanout)] {
                if let Some(r) = rules.iter().find(|r| !r.to.cidr.is_multicast()) {
                    return err(format!(
                        "{at}.{key}: {r} sends to {}, which is not inside 224.0.0.0/4; map only onto multicast groups",
                        r.to.cidr
                    ));
                }
            }
            if f.ttl == 0 || f.ttl > 255 {
                return err(format!(
                    "{at}.ttl: {} is out of range; use 1 to 255 (default {DEFAULT_TTL})",
                    f.ttl
                ));
            }
            if f.batch == 0 || f.batch > 1024 {
                return err(format!(
                    "{at}.batch: {} is out of range; use 1 to 1024",
                    f.batch
                ));
            }
            f.keys = load_keys(&at, &f.feed, f.key_file.as_deref(), f.insecure_no_auth, env)?;
            if f.tls_cert.is_some() != f.tls_key.is_some() {
                return err(format!(
                    "{at}.tls_cert and tls_key: give both or neither (flags --tls-cert, --tls-key)"
                ));
            }
            if f.tls_client_ca.is_some() && f.tls_cert.is_none() {
                return err(format!(
                    "{at}.tls_client_ca: client certificates need TLS on; give tls_cert and tls_key too"
                ));
            }
        }
        for (i, f) in self.egress.iter().enumerate() {
            let tls = |f: &EgressFeed| {
                (
                    f.tls_cert.clone(),
                    f.tls_key.clone(),
                    f.tls_client_ca.clone(),
                )
            };
            if let Some(o) = self.egress[..i]
                .iter()
                .find(|o| o.listen == f.listen && tls(o) != tls(f))
            {
                return err(format!(
                    "egress[{i}] (feed {:?}): shares {} with feed {:?} but not its TLS settings; feeds on one port share tls_cert, tls_key and tls_client_ca",
                    f.feed, f.listen, o.feed
                ));
            }
        }
        // An ingress may carry a feed twice, as two senders (two lines); an
        // egress serves each feed once.
        let ingress: Vec<(String, String)> = self
            .ingress
            .iter()
            .map(|f| (f.feed.clone(), f.sender_name()))
            .collect();
        for (i, n) in ingress.iter().enumerate() {
            if ingress[..i].contains(n) {
                return err(format!(
                    "ingress: feed {:?} is defined twice as sender {:?}; give each its own line (line = \"A\", flag --line A=IFACE) or sender",
                    n.0, n.1
                ));
            }
        }
        let egress: Vec<&String> = self.egress.iter().map(|f| &f.feed).collect();
        for (i, n) in egress.iter().enumerate() {
            if egress[..i].contains(n) {
                return err(format!(
                    "egress: feed {n:?} is defined twice; feed names must be unique"
                ));
            }
        }
        self.check_loops()
    }

    /// In one process, an egress that emits back into a group an ingress joins
    /// on the same interface would feed itself forever.
    fn check_loops(&self) -> Result<(), ConfigError> {
        for i in &self.ingress {
            for e in self.egress.iter().filter(|e| e.iface == i.iface) {
                for g in &i.groups {
                    let out = remap(&e.map, g.0);
                    if out == g.0 && e.allow.iter().any(|c| c.contains(*out.ip())) {
                        return err(format!(
                            "loop: egress feed {:?} would emit {g} on {} where ingress feed {:?} joins it; add a map rule (e.g. map = [\"{}={}\"]) or use another interface",
                            e.feed,
                            e.iface,
                            i.feed,
                            g.0.ip(),
                            Ipv4Addr::new(239, 255, 255, 1)
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML, keys shown only by their public id.
    pub fn to_toml_redacted(&self) -> String {
        let mut out =
            toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"));
        let ids = |keys: &Keys| {
            let keys = keys.current();
            keys.iter()
                .map(|k| hex::encode(k.id()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for f in &self.ingress {
            out.push_str(&format!(
                "# ingress {:?}: {} key(s), ids [{}]\n",
                f.feed,
                f.keys.current().len(),
                ids(&f.keys)
            ));
        }
        for f in &self.egress {
            out.push_str(&format!(
                "# egress {:?}: {} key(s), ids [{}]\n",
                f.feed,
                f.keys.current().len(),
                ids(&f.keys)
            ));
        }
        out
    }
}

/// Keys for a feed: its key file, else `MCAST_RELAY_KEY_<FEED>`, else
/// `MCAST_RELAY_KEY`. Every form is a key list: the current key, then
/// optionally the next, separated by newlines or commas. No key at all is
/// refused unless the feed runs with `insecure_no_auth` on purpose.
fn load_keys(
    at: &str,
    feed: &str,
    file: Option<&Path>,
    insecure: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Keys, ConfigError> {
    let per_feed = format!(
        "MCAST_RELAY_KEY_{}",
        feed.to_ascii_uppercase().replace(['-', '.'], "_")
    );
    let keys = if let Some(p) = file {
        Keys::from_file(p).map_err(|e| ConfigError(format!("{at}.key_file: {e}")))?
    } else if let Some((var, v)) = [per_feed.as_str(), "MCAST_RELAY_KEY"]
        .into_iter()
        .find_map(|var| env(var).filter(|v| !v.trim().is_empty()).map(|v| (var, v)))
    {
        Key::parse_list(&v)
            .map(Keys::fixed)
            .map_err(|e| ConfigError(format!("{at}: {var}: {e}")))?
    } else {
        Keys::default()
    };
    match (keys.is_empty(), insecure) {
        (true, false) => err(format!(
            "{at}: no key; every feed needs one. Make it with `mcast-relay keygen > /etc/mcast-relay/{feed}.key && chmod 600 /etc/mcast-relay/{feed}.key`, the same file on both sides, and give key_file (flag --key-file) or set {per_feed}. To run this feed without authentication on purpose, set insecure_no_auth = true (flag --insecure-no-auth)"
        )),
        (false, true) => err(format!(
            "{at}: a key and insecure_no_auth both given; drop insecure_no_auth (flag --insecure-no-auth) to use the key"
        )),
        _ => Ok(keys),
    }
}

impl IngressFeed {
    /// A feed with every tuning value at its default.
    pub fn new(feed: &str, iface: &str, groups: Vec<GroupPort>, dests: Vec<String>) -> Self {
        IngressFeed {
            feed: feed.into(),
            iface: iface.into(),
            groups,
            source: None,
            dests,
            sender: None,
            line: None,
            encrypt: true,
            key_file: None,
            insecure_no_auth: false,
            window_bytes: d_window_bytes(),
            window_secs: d_window_secs(),
            rcvbuf: d_sockbuf(),
            batch: d_batch(),
            max_datagram: d_max_datagram(),
            busy_poll: 0,
            tls_ca: None,
            tls_server_name: None,
            tls_cert: None,
            tls_key: None,
            keys: Keys::default(),
        }
    }
}

impl EgressFeed {
    /// A feed with every tuning value at its default.
    pub fn new(feed: &str, listen: SocketAddr, iface: &str, allow: Vec<Cidr>) -> Self {
        EgressFeed {
            feed: feed.into(),
            listen,
            iface: iface.into(),
            ttl: DEFAULT_TTL,
            allow,
            map: Vec::new(),
            key_file: None,
            insecure_no_auth: false,
            sndbuf: d_sockbuf(),
            batch: d_batch(),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            fanout: Vec::new(),
            merge: Default::default(),
            merge_wait_ms: d_merge_wait_ms(),
            state_dir: None,
            keys: Keys::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const KEY_A: &str =
        "00112233aabbccdd:7f3a9c41e2d05b86a1f47c3e9d2b6085c4e1a7f3926d0b58e3c7a14f9b2d6e08";
    const KEY_B: &str =
        "8899aabbccddeeff:1c9e5a7d3f08b62e4a91c7d5e3b0f86a2d4c19e7b5a3f0d68c2e4b1a97f53d06";

    fn key_env(k: &str) -> Option<String> {
        (k == "MCAST_RELAY_KEY").then(|| KEY_A.to_string())
    }

    const GOOD: &str = r#"
http = "127.0.0.1:9180"
[[ingress]]
feed = "prod"
iface = "lo"
groups = ["239.111.111.1:6100"]
dests = ["relay.example:6667"]
[[egress]]
feed = "prod"
listen = "0.0.0.0:6667"
iface = "lo"
allow = ["239.0.0.0/8"]
map = ["239.111.111.0/24=239.200.0.0/24"]
"#;

    #[test]
    fn a_good_file_validates_with_defaults() {
        let mut c = Config::from_toml(GOOD).unwrap();
        c.validate(&key_env).unwrap();
        assert_eq!(c.egress[0].ttl, DEFAULT_TTL);
        assert_eq!(c.ingress[0].window_secs, 60);
        assert!(c.to_toml_redacted().contains("239.200.0.0/24"));
    }

    #[test]
    fn errors_name_the_key_and_the_fix() {
        let e = Config::from_toml(&GOOD.replace("groups", "grups"))
            .unwrap_err()
            .0;
        assert!(e.contains("grups"), "{e}");
        let e = Config::from_toml(&GOOD.replace("239.111.111.1:6100", "10.0.0.1:6100"))
            .unwrap_err()
            .0;
        assert!(e.contains("not a multicast"), "{e}");
        let mut c = Config::from_toml(&GOOD.replace(r#"allow = ["239.0.0.0/8"]"#, "")).unwrap();
        let e = c.validate(&key_env).unwrap_err().0;
        assert!(
            e.contains("egress[0]") && e.contains(".allow") && e.contains("--allow"),
            "{e}"
        );
    }

    #[test]
    fn a_feed_without_a_key_is_refused_unless_insecure_on_purpose() {
        let mut c = Config::from_toml(GOOD).unwrap();
        let e = c.validate(&no_env).unwrap_err().0;
        assert!(
            e.starts_with("ingress[0] (feed \"prod\"): no key")
                && e.contains("mcast-relay keygen")
                && e.contains("--insecure-no-auth"),
            "{e}"
        );
        let open = GOOD
            .replace("dests = [", "insecure_no_auth = true\ndests = [")
            .replace("allow = [", "insecure_no_auth = true\nallow = [");
        let mut c = Config::from_toml(&open).unwrap();
        c.validate(&no_env).unwrap();
        assert!(c.ingress[0].keys.is_empty() && c.egress[0].insecure_no_auth);
        let mut c = Config::from_toml(&open).unwrap();
        let e = c.validate(&key_env).unwrap_err().0;
        assert!(e.contains("a key and insecure_no_auth both"), "{e}");
    }

    #[test]
    fn allow_and_map_targets_must_be_multicast() {
        for (from, to, want) in [
            (
                r#"allow = ["239.0.0.0/8"]"#,
                r#"allow = ["0.0.0.0/0"]"#,
                ".allow: 0.0.0.0/0",
            ),
            (
                r#"allow = ["239.0.0.0/8"]"#,
                r#"allow = ["224.0.0.0/3"]"#,
                ".allow: 224.0.0.0/3",
            ),
            (
                r#"map = ["239.111.111.0/24=239.200.0.0/24"]"#,
                r#"map = ["224.0.0.0/3=224.0.0.0/3"]"#,
                ".map: 224.0.0.0/3=224.0.0.0/3",
            ),
        ] {
            let mut c = Config::from_toml(&GOOD.replace(from, to)).unwrap();
            let e = c.validate(&key_env).unwrap_err().0;
            assert!(e.contains(want) && e.contains("224.0.0.0/4"), "{e}");
        }
    }

    #[test]
    fn an_unmapped_egress_on_the_ingress_interface_is_a_loop() {
        let mut c =
            Config::from_toml(&GOOD.replace(r#"map = ["239.111.111.0/24=239.200.0.0/24"]"#, ""))
                .unwrap();
        let e = c.validate(&key_env).unwrap_err().0;
        assert!(e.starts_with("loop"), "{e}");
    }

    #[test]
    fn keys_come_from_the_feed_variable_first_and_never_print() {
        let env = |k: &str| match k {
            "MCAST_RELAY_KEY_PROD" => Some(format!("{KEY_A},{KEY_B}")),
            "MCAST_RELAY_KEY" => Some("not even a key".to_string()),
            _ => None,
        };
        let mut c = Config::from_toml(GOOD).unwrap();
        c.validate(&env).unwrap();
        assert_eq!(c.ingress[0].keys.current().len(), 2);
        let shown = c.to_toml_redacted() + &format!("{c:?}");
        assert!(
            !shown.contains("7f3a9c41") && !shown.contains("1c9e5a7d"),
            "{shown}"
        );
        assert!(shown.contains("00112233aabbccdd"), "ids are shown: {shown}");
        let bad = |k: &str| (k == "MCAST_RELAY_KEY_PROD").then(|| format!("{KEY_A}\nnope"));
        let e = Config::from_toml(GOOD)
            .unwrap()
            .validate(&bad)
            .unwrap_err()
            .0;
        assert!(e.contains("MCAST_RELAY_KEY_PROD: line 2: not a key"), "{e}");
    }
}
