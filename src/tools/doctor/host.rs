//! The files the checks read, under roots that tests point at a fake tree.

use std::path::{Path, PathBuf};

/// The files the checks read, under injectable roots.
pub(super) struct Host<'a> {
    pub(super) proc_root: &'a Path,
    pub(super) sys_root: &'a Path,
}

impl Host<'_> {
    pub(super) fn read(&self, p: PathBuf) -> Option<String> {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    }
    pub(super) fn sysctl(&self, key: &str) -> Option<i64> {
        self.read(self.proc_root.join("sys").join(key.replace('.', "/")))
            .and_then(|s| s.parse().ok())
    }
    pub(super) fn conf(&self, dev: &str, what: &str) -> Option<i64> {
        self.read(
            self.proc_root
                .join("sys/net/ipv4/conf")
                .join(dev)
                .join(what),
        )
        .and_then(|s| s.parse().ok())
    }
    pub(super) fn net(&self, dev: &str, what: &str) -> Option<String> {
        self.read(self.sys_root.join("class/net").join(dev).join(what))
    }
}

/// `sysctl -w` names an interface with dots in it with slashes (eth0.100 -> eth0/100).
pub(super) fn sysctl_name(dev: &str) -> String {
    dev.replace('.', "/")
}
