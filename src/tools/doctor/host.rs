//! The files the checks read, under roots that tests point at a fake tree.

use std::path::{Path, PathBuf};

/// The files the checks read, under injectable roots.
pub(super) struct Host<'a> {
    pub(super) proc_root: &'a Path,
    pub(super) sys_root: &'a Path,
    pub(super) dev_root: &'a Path,
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
    /// A sysctl of three numbers, as net.ipv4.tcp_wmem (min, default, max).
    pub(super) fn sysctl3(&self, key: &str) -> Option<[i64; 3]> {
        let s = self.read(self.proc_root.join("sys").join(key.replace('.', "/")))?;
        let v: Vec<i64> = s
            .split_whitespace()
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        v.try_into().ok()
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
    /// A file under /sys/devices/system/cpu.
    pub(super) fn cpu(&self, rel: &str) -> Option<String> {
        self.read(self.sys_root.join("devices/system/cpu").join(rel))
    }
    /// The CPU directories (cpu0, cpu1, ...) under /sys/devices/system/cpu, in order.
    pub(super) fn cpus(&self) -> Vec<String> {
        numbered(&self.sys_root.join("devices/system/cpu"), "cpu")
    }
    pub(super) fn net(&self, dev: &str, what: &str) -> Option<String> {
        self.read(self.sys_root.join("class/net").join(dev).join(what))
    }
}

/// `sysctl -w` names an interface with dots in it with slashes (eth0.100 -> eth0/100).
pub(super) fn sysctl_name(dev: &str) -> String {
    dev.replace('.', "/")
}

/// The entries of `dir` named `prefix` and a number (cpu0, state3), by number.
pub(super) fn numbered(dir: &Path, prefix: &str) -> Vec<String> {
    let mut v: Vec<(u32, String)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name.strip_prefix(prefix)?.parse().ok()?;
            Some((n, name))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, n)| n).collect()
}
