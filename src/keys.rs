//! A feed's keys as a relay holds them: from a key file or the environment,
//! checked when read, and, from a file, watched: an edited or replaced file is
//! read again within a second and its keys swapped in. So keys rotate without
//! a restart, and nothing a handshake does touches the disk.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::obs::metrics::FeedStats;
use crate::wire::auth::Key;

/// How often a key file is looked at for changes.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone, Default)]
pub struct Keys {
    file: Option<PathBuf>,
    keys: Arc<RwLock<Vec<Key>>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({} key(s) <redacted>)", self.current().len())
    }
}

/// What identifies one version of a file: replaced or edited, one of these moves.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(p: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).ok()?;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
        inode: m.ino(),
    })
}

impl Keys {
    pub fn fixed(keys: Vec<Key>) -> Keys {
        Keys {
            file: None,
            keys: Arc::new(RwLock::new(keys)),
        }
    }

    pub fn from_file(path: &Path) -> Result<Keys, KeyFileError> {
        let keys = read(path)?;
        Ok(Keys {
            file: Some(path.to_path_buf()),
            keys: Arc::new(RwLock::new(keys)),
        })
    }

    /// The keys now: the current first, then the next one if any.
    pub fn current(&self) -> Vec<Key> {
        self.keys.read().expect("keys lock").clone()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.read().expect("keys lock").is_empty()
    }

    /// Where they come from, for messages.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// A warning when the key file can be read by others than its owner.
    pub fn permission_warning(&self) -> Option<String> {
        use std::os::unix::fs::PermissionsExt;
        let p = self.file.as_ref()?;
        let mode = std::fs::metadata(p).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "key file {} is readable by group or others (mode {mode:03o}); chmod 600 {}",
                p.display(),
                p.display()
            )
        })
    }

    /// Look at the key file once: if it changed since `seen`, read it and
    /// swap its keys in; a file that does not parse keeps the last good keys.
    fn refresh(&self, seen: &mut Option<Stamp>) -> Refresh {
        let Some(path) = &self.file else {
            return Refresh::Unchanged;
        };
        let now = stamp(path);
        if now == *seen {
            return Refresh::Unchanged;
        }
        *seen = now;
        match read(path) {
            Ok(new) => {
                let mut k = self.keys.write().expect("keys lock");
                if *k == new {
                    return Refresh::Unchanged;
                }
                *k = new;
                Refresh::Swapped(k.iter().map(|k| hex::encode(k.id())).collect())
            }
            Err(e) => Refresh::Broken(e.to_string()),
        }
    }

    /// The ids of the keys now, current first, as hex.
    pub fn ids(&self) -> Vec<String> {
        self.current().iter().map(|k| hex::encode(k.id())).collect()
    }

    /// Watch the key file until `stop` (every [`WATCH_EVERY`], off the
    /// runtime's threads); `swapped` hears the new ids after each swap.
    pub fn watch(&self, stop: CancellationToken, swapped: impl Fn(Vec<String>) + Send + 'static) {
        let Some(path) = self.file.clone() else {
            return;
        };
        let keys = self.clone();
        tokio::spawn(async move {
            let mut seen = stamp(&path);
            let mut tick = tokio::time::interval(WATCH_EVERY);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => return,
                }
                let k = keys.clone();
                let Ok((r, s)) =
                    tokio::task::spawn_blocking(move || (k.refresh(&mut seen), seen)).await
                else {
                    return;
                };
                seen = s;
                match r {
                    Refresh::Unchanged => {}
                    Refresh::Swapped(ids) => {
                        tracing::info!(file = %path.display(), ids = ?ids, "keys read again; current key first");
                        swapped(ids);
                    }
                    Refresh::Broken(e) => {
                        tracing::warn!(error = %e, "key file changed but does not parse; keeping the keys read before")
                    }
                }
            }
        });
    }
}

/// How often a feed run without a key says so.
pub const INSECURE_EVERY: Duration = Duration::from_secs(60);

/// At a relay's start: warn of a key file others can read, watch it, and for
/// a feed run without a key, say so now and every minute until `stop`.
/// The ids of the keys held are kept in `stats` for /status.
pub fn guard(stats: &Arc<FeedStats>, keys: &Keys, insecure: bool, stop: CancellationToken) {
    let (feed, role) = (stats.feed.clone(), stats.role);
    if let Some(w) = keys.permission_warning() {
        tracing::warn!(%feed, role, "{w}");
    }
    stats.authenticated.set(!insecure as i64);
    stats.set_key_ids(keys.ids());
    let s = stats.clone();
    keys.watch(stop.clone(), move |ids| s.set_key_ids(ids));
    if !insecure {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INSECURE_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => return,
            }
            let who = match role {
                "egress" => "anyone who reaches its port can send into it",
                _ => "the egress cannot tell this sender from a stranger",
            };
            tracing::warn!(%feed, role, "feed runs WITHOUT authentication (--insecure-no-auth): {who}; give it a key (mcast-relay keygen)");
        }
    });
}

#[derive(Debug, PartialEq, Eq)]
enum Refresh {
    Unchanged,
    /// The new keys' ids.
    Swapped(Vec<String>),
    Broken(String),
}

/// Why a key file gave no keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: crate::wire::auth::KeyError,
    },
}

fn read(p: &Path) -> Result<Vec<Key>, KeyFileError> {
    let text = std::fs::read_to_string(p).map_err(|source| KeyFileError::Read {
        path: p.into(),
        source,
    })?;
    Key::parse_list(&text).map_err(|source| KeyFileError::Parse {
        path: p.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edited_or_replaced_file_is_swapped_in_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let (a, b) = (Key::generate(), Key::generate());
        std::fs::write(&p, a.to_line()).unwrap();
        let k = Keys::from_file(&p).unwrap();
        let mut seen = stamp(&p);
        assert_eq!(k.refresh(&mut seen), Refresh::Unchanged);
        // Edited in place: the next key added.
        std::fs::write(&p, format!("{}\n{}\n", a.to_line(), b.to_line())).unwrap();
        let ids = |v: &[&Key]| v.iter().map(|k| hex::encode(k.id())).collect::<Vec<_>>();
        assert_eq!(k.refresh(&mut seen), Refresh::Swapped(ids(&[&a, &b])));
        assert_eq!(k.current(), vec![a.clone(), b.clone()]);
        // Replaced by rename (as a key sync does): switched to the next key.
        let tmp = dir.path().join("k.new");
        std::fs::write(&tmp, b.to_line()).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert_eq!(k.refresh(&mut seen), Refresh::Swapped(ids(&[&b])));
        // Broken: the last good keys stay.
        std::fs::write(&p, "not a key").unwrap();
        assert!(matches!(k.refresh(&mut seen), Refresh::Broken(e) if e.contains("line 1")));
        assert_eq!(k.current(), vec![b]);
    }

    #[test]
    fn a_key_file_others_can_read_draws_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, Key::generate().to_line()).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let k = Keys::from_file(&p).unwrap();
        let w = k.permission_warning().unwrap();
        assert!(w.contains("mode 644") && w.contains("chmod 600"), "{w}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(k.permission_warning(), None);
    }
}
