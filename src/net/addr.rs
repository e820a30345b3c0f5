//! Parsing and matching of groups, CIDRs and remapping rules.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::str::FromStr;

/// A multicast group and UDP port, `239.1.1.1:6100`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupPort(pub SocketAddrV4);

impl FromStr for GroupPort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let a: SocketAddrV4 = s
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not GROUP:PORT (e.g. 239.111.111.1:6100)"))?;
        if !a.ip().is_multicast() {
            return Err(format!(
                "{} is not a multicast address (224.0.0.0/4)",
                a.ip()
            ));
        }
        if a.port() == 0 {
            return Err(format!("{s:?}: port 0 is not a feed port"));
        }
        Ok(GroupPort(a))
    }
}

impl fmt::Display for GroupPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An IPv4 prefix, `239.111.111.0/24`; a bare address is a /32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.base)
    }
    /// Every address of it is a multicast group (inside 224.0.0.0/4).
    pub fn is_multicast(&self) -> bool {
        self.prefix >= 4 && self.base.is_multicast()
    }
    pub fn overlaps(&self, other: &Cidr) -> bool {
        let m = self.mask() & other.mask();
        u32::from(self.base) & m == u32::from(other.base) & m
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (
                ip,
                p.parse::<u8>()
                    .ok()
                    .filter(|p| *p <= 32)
                    .ok_or_else(|| format!("{s:?}: prefix length must be 0 to 32"))?,
            ),
            None => (s, 32),
        };
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("{s:?} is not an IPv4 CIDR (e.g. 239.111.111.0/24)"))?;
        let c = Cidr { base: ip, prefix };
        if u32::from(ip) & !c.mask() != 0 {
            return Err(format!(
                "{s:?} has host bits set; did you mean {}/{prefix}?",
                Ipv4Addr::from(u32::from(ip) & c.mask())
            ));
        }
        Ok(c)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// One side of a map rule: a CIDR and optionally a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selector {
    pub cidr: Cidr,
    pub port: Option<u16>,
}

impl FromStr for Selector {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        // A port follows the last ':'; CIDRs have no ':' of their own.
        let (net, port) = match s.rsplit_once(':') {
            Some((n, p)) => (
                n,
                Some(
                    p.parse::<u16>()
                        .map_err(|_| format!("{s:?}: {p:?} is not a port"))?,
                ),
            ),
            None => (s, None),
        };
        Ok(Selector {
            cidr: net.parse()?,
            port,
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.cidr.prefix, self.port) {
            (32, Some(p)) => write!(f, "{}:{p}", self.cidr.base),
            (_, Some(p)) => write!(f, "{}:{p}", self.cidr),
            (32, None) => write!(f, "{}", self.cidr.base),
            (_, None) => write!(f, "{}", self.cidr),
        }
    }
}

/// `FROM=TO`: rewrite groups (keeping the host part when both are prefixes of the
/// same length) and optionally the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapRule {
    pub from: Selector,
    pub to: Selector,
}

impl MapRule {
    /// The rewritten destination, if this rule applies.
    pub fn apply(&self, dst: SocketAddrV4) -> Option<SocketAddrV4> {
        if !self.from.cidr.contains(*dst.ip()) || self.from.port.is_some_and(|p| p != dst.port()) {
            return None;
        }
        let host = u32::from(*dst.ip()) & !self.to.cidr.mask();
        let ip = Ipv4Addr::from(u32::from(self.to.cidr.base) | host);
        Some(SocketAddrV4::new(ip, self.to.port.unwrap_or(dst.port())))
    }
}

impl FromStr for MapRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} is not FROM=TO (e.g. 239.1.1.0/24=239.2.2.0/24)"))?;
        let (from, to): (Selector, Selector) = (a.parse()?, b.parse()?);
        if to.cidr.prefix != 32 && to.cidr.prefix != from.cidr.prefix {
            return Err(format!(
                "{s:?}: the target must be a single group or a prefix of the same length as the source (/{})",
                from.cidr.prefix
            ));
        }
        if !to.cidr.base.is_multicast() {
            return Err(format!(
                "{s:?}: {} is not a multicast address",
                to.cidr.base
            ));
        }
        Ok(MapRule { from, to })
    }
}

impl fmt::Display for MapRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.from, self.to)
    }
}

/// First matching rule wins; no match leaves the destination as it is.
pub fn remap(rules: &[MapRule], dst: SocketAddrV4) -> SocketAddrV4 {
    rules.iter().find_map(|r| r.apply(dst)).unwrap_or(dst)
}

/// `[FEED=]VALUE`, as in `--listen prod=0.0.0.0:6667`.
pub fn split_feed(s: &str) -> (Option<&str>, &str) {
    match s.split_once('=') {
        Some((f, v)) if !f.contains(':') && !f.contains('/') => (Some(f.trim()), v.trim()),
        _ => (None, s.trim()),
    }
}

/// A feed name that is not 1 to 64 of `[A-Za-z0-9._-]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("feed name {0:?} must be 1 to 64 characters of letters, digits, '.', '_' or '-'")]
pub struct BadFeedName(pub String);

/// A feed name: 1 to 64 of `[A-Za-z0-9._-]`.
pub fn check_feed_name(name: &str) -> Result<(), BadFeedName> {
    let ok = !name.is_empty()
        && name.len() <= crate::wire::frame::MAX_FEED_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(BadFeedName(name.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn groups_must_be_multicast() {
        assert!("239.1.1.1:6100".parse::<GroupPort>().is_ok());
        assert!("10.1.1.1:6100".parse::<GroupPort>().is_err());
        assert!("239.1.1.1".parse::<GroupPort>().is_err());
    }

    #[test]
    fn cidr_parse_and_match() {
        let c: Cidr = "239.111.111.0/24".parse().unwrap();
        assert!(c.contains("239.111.111.21".parse().unwrap()));
        assert!(!c.contains("239.111.112.1".parse().unwrap()));
        assert!(
            "239.111.111.1/24"
                .parse::<Cidr>()
                .unwrap_err()
                .contains("239.111.111.0/24")
        );
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        assert!(c.overlaps(&"239.0.0.0/8".parse().unwrap()));
    }

    #[test]
    fn map_rules() {
        let r: MapRule = "239.111.111.0/24=239.200.0.0/24".parse().unwrap();
        assert_eq!(
            r.apply(sa("239.111.111.7:6100")),
            Some(sa("239.200.0.7:6100"))
        );
        assert_eq!(r.apply(sa("239.1.1.1:6100")), None);
        let p: MapRule = "239.1.1.1:5000=239.9.9.9:7000".parse().unwrap();
        assert_eq!(p.apply(sa("239.1.1.1:5000")), Some(sa("239.9.9.9:7000")));
        assert_eq!(p.apply(sa("239.1.1.1:5001")), None);
        let ports: MapRule = "239.111.111.0/24:6100=239.50.0.0/24:41000".parse().unwrap();
        assert_eq!(
            ports.apply(sa("239.111.111.3:6100")),
            Some(sa("239.50.0.3:41000"))
        );
        assert!("239.1.1.0/24=239.2.0.0/16".parse::<MapRule>().is_err());
        assert!("239.1.1.0/24=10.0.0.0/24".parse::<MapRule>().is_err());
        assert_eq!(remap(&[r, p], sa("239.1.1.1:5000")), sa("239.9.9.9:7000"));
        assert_eq!(remap(&[], sa("239.1.1.1:5000")), sa("239.1.1.1:5000"));
    }

    #[test]
    fn feed_prefixes() {
        assert_eq!(
            split_feed("prod=0.0.0.0:6667"),
            (Some("prod"), "0.0.0.0:6667")
        );
        assert_eq!(split_feed("0.0.0.0:6667"), (None, "0.0.0.0:6667"));
        assert!(check_feed_name("prod-1.a").is_ok());
        assert!(check_feed_name("bad name").is_err());
    }
}
