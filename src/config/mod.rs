//! Configuration: one schema (`schema.rs`) read from a TOML file, the
//! `MCAST_RELAY_*` environment and flags, put together by `layer.rs` and
//! checked here. Errors name the key and the fix.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

pub use crate::keys::Keys;
use crate::net::addr::{Cidr, GroupPort, MapRule, check_feed_name, remap};
use crate::wire::auth::Key;

/// Lets a `FromStr + Display` type live in TOML as a string.
macro_rules! string_serde {
    ($($t:ty),*) => {$(
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <String as serde::Deserialize>::deserialize(d)?.parse().map_err(serde::de::Error::custom)
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
string_serde!(GroupPort, Cidr, MapRule);

pub mod layer;
pub mod reference;
pub mod schema;

pub use layer::{FeedFlags, Loaded, Origins};
pub use schema::{Config, CpuList, EgressFeed, IngressFeed, defaults};

impl IngressFeed {
    pub fn window_age(&self) -> Duration {
        self.window_secs.get()
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
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(e.to_string()))
    }

    /// Check everything and load keys. `env` reads environment variables (a
    /// parameter so tests need not touch the process environment).
    pub fn validate(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if self.ingress.is_empty() && self.egress.is_empty() {
            return err("nothing to run: add an [[ingress]] or [[egress]] section, or give --feed and --group (ingress) or --listen (egress)".into());
        }
        if !(1..=64).contains(&self.threads) {
            return err(format!(
                "threads: {} is out of range; use 1 to 64 (flag --threads)",
                self.threads
            ));
        }
        if self.spin && self.threads != 1 {
            return err(format!(
                "spin: it keeps one runtime thread busy, and threads is {}; set threads = 1 (flag --threads 1) or drop spin (flag --spin)",
                self.threads
            ));
        }
        for (i, f) in self.ingress.iter_mut().enumerate() {
            let at = format!("ingress[{i}] (feed {:?})", f.feed);
            check_feed_name(&f.feed).map_err(|e| ConfigError(format!("{at}.feed: {e}")))?;
            if f.iface.is_empty() {
                return err(format!(
                    "{at}.iface: no interface to join on; add iface = \"eth1\" (a name or one of its IPv4 addresses; flag --iface, or --line NAME=IFACE for each line)"
                ));
            }
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
            if f.iface.is_empty() {
                return err(format!(
                    "{at}.iface: no interface to emit on; add iface = \"eth0\" (a name or one of its IPv4 addresses; flag --iface)"
                ));
            }
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
                    "{at}.ttl: {} is out of range; use 1 to 255 (default {})",
                    f.ttl,
                    defaults::TTL
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
        layer::print(self, &Origins::default())
    }

    /// One comment line per feed: how many keys it has and their public ids.
    pub fn key_summary(&self) -> String {
        let ids = |keys: &Keys| {
            let keys = keys.current();
            let ids: Vec<String> = keys.iter().map(|k| hex::encode(k.id())).collect();
            format!("{} key(s), ids [{}]", ids.len(), ids.join(", "))
        };
        let mut out = String::new();
        for f in &self.ingress {
            out.push_str(&format!("# ingress {:?}: {}\n", f.feed, ids(&f.keys)));
        }
        for f in &self.egress {
            out.push_str(&format!("# egress {:?}: {}\n", f.feed, ids(&f.keys)));
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

#[cfg(test)]
mod tests;
