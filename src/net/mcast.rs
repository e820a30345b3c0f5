//! Multicast sockets: find the interface, join (any-source or source-specific),
//! and emit with an explicit interface, TTL and no fragmentation.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockRef, Socket, Type};

use super::batch;

/// A local interface, found by name or by one of its IPv4 addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    pub index: u32,
    pub addr: Ipv4Addr,
    pub mtu: u32,
}

impl Iface {
    pub fn resolve(spec: &str) -> io::Result<Iface> {
        let by_addr: Option<Ipv4Addr> = spec.parse().ok();
        let mut found: Option<(String, Ipv4Addr)> = None;
        for ifa in nix::ifaddrs::getifaddrs().map_err(io::Error::from)? {
            let Some(ip) = ifa
                .address
                .as_ref()
                .and_then(|a| a.as_sockaddr_in())
                .map(|s| s.ip())
            else {
                continue;
            };
            if by_addr == Some(ip) || (by_addr.is_none() && ifa.interface_name == spec) {
                found = Some((ifa.interface_name.clone(), ip));
                break;
            }
        }
        let (name, addr) = found.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no interface {spec:?} with an IPv4 address (try `ip -4 addr` for names)"),
            )
        })?;
        let index = nix::net::if_::if_nametoindex(name.as_str()).map_err(io::Error::from)?;
        let mtu = std::fs::read_to_string(format!("/sys/class/net/{name}/mtu"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1500);
        Ok(Iface {
            name,
            index,
            addr,
            mtu,
        })
    }
}

/// Which way a socket buffer goes.
#[derive(Debug, Clone, Copy)]
pub enum Buf {
    Recv,
    Send,
}

/// Ask for a socket buffer of `want` bytes; with the privilege, go past the
/// sysctl cap. Returns the usable size (the kernel reports double) so callers
/// can warn when it is short.
pub fn size_buffer(sock: &impl AsFd, which: Buf, want: usize) -> io::Result<usize> {
    let (opt, force) = match which {
        Buf::Recv => (libc::SO_RCVBUF, libc::SO_RCVBUFFORCE),
        Buf::Send => (libc::SO_SNDBUF, libc::SO_SNDBUFFORCE),
    };
    let fd = sock.as_fd();
    let n = want.min(i32::MAX as usize / 2) as i32;
    batch::set_int(fd, libc::SOL_SOCKET, opt, n)?;
    if (batch::get_int(fd, libc::SOL_SOCKET, opt)? as usize) / 2 < want {
        // Needs CAP_NET_ADMIN; failure just leaves the capped size.
        let _ = batch::set_int(fd, libc::SOL_SOCKET, force, n);
    }
    Ok(batch::get_int(fd, libc::SOL_SOCKET, opt)? as usize / 2)
}

/// Size a buffer and warn once if the kernel capped it.
pub fn size_buffer_or_warn(sock: &impl AsFd, which: Buf, want: usize, what: &str) {
    match size_buffer(sock, which, want) {
        Ok(got) if got < want => tracing::warn!(
            wanted = want,
            got,
            "{what}: the kernel capped the {} buffer; raise net.core.{}_max to at least {want} or run with CAP_NET_ADMIN",
            match which {
                Buf::Recv => "receive",
                Buf::Send => "send",
            },
            match which {
                Buf::Recv => "rmem",
                Buf::Send => "wmem",
            },
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "{what}: could not size the socket buffer"),
    }
}

/// How to join a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    AnySource,
    SourceSpecific(Ipv4Addr),
}

/// A non-blocking receive socket bound to `at` (0.0.0.0 or a group, and the
/// port; see [`super::joined`]), with the destination (IP_PKTINFO), the kernel receive time and the
/// socket's drop count (SO_RXQ_OVFL) of each datagram. Not yet joined.
pub fn receiver(at: SocketAddrV4) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    // Without this, Linux delivers every group any process joined on this port.
    s.set_multicast_all_v4(false)?;
    s.bind(&at.into())?;
    batch::set_int(s.as_fd(), libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
    batch::set_int(s.as_fd(), libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    // The count of datagrams the kernel dropped at this socket (buffer full)
    // comes with each datagram, so every such loss is counted.
    batch::set_int(s.as_fd(), libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// How many groups one socket may join (`net.ipv4.igmp_max_memberships`, 20 by default).
pub fn max_memberships() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/igmp_max_memberships")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or(20)
}

/// Join `group` on `iface`. Joining twice is not an error (`Ok(false)`); a fresh
/// join returns `Ok(true)`, which is how a lost membership shows it came back.
pub fn join(sock: &impl AsFd, group: Ipv4Addr, iface: &Iface, how: Membership) -> io::Result<bool> {
    let s = SockRef::from(sock);
    let r = match how {
        Membership::AnySource => {
            s.join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(iface.index))
        }
        Membership::SourceSpecific(src) => s.join_ssm_v4(&src, &group, &iface.addr),
    };
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Leave `group` (best effort; closing the socket leaves too).
pub fn leave(sock: &impl AsFd, group: Ipv4Addr, iface: &Iface, how: Membership) -> io::Result<()> {
    let s = SockRef::from(sock);
    match how {
        Membership::AnySource => {
            s.leave_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(iface.index))
        }
        Membership::SourceSpecific(src) => s.leave_ssm_v4(&src, &group, &iface.addr),
    }
}

/// A non-blocking socket that sends multicast out of `iface` only, with `ttl`,
/// looped back to local listeners, and never fragmented (DF set: a Transit
/// Gateway drops fragmented multicast).
pub fn emitter(iface: &Iface, ttl: u32, sndbuf: usize) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.bind(&SocketAddrV4::new(iface.addr, 0).into())?;
    s.set_multicast_if_v4(&iface.addr)?;
    s.set_multicast_ttl_v4(ttl)?;
    s.set_multicast_loop_v4(true)?;
    batch::set_int(
        s.as_fd(),
        libc::IPPROTO_IP,
        libc::IP_MTU_DISCOVER,
        libc::IP_PMTUDISC_DO,
    )?;
    s.set_nonblocking(true)?;
    size_buffer_or_warn(&s, Buf::Send, sndbuf, "multicast send socket");
    Ok(s.into())
}

/// Largest UDP payload that leaves `iface` unfragmented.
pub fn max_payload(iface: &Iface) -> usize {
    (iface.mtu as usize)
        .saturating_sub(28)
        .min(crate::wire::frame::MAX_DATAGRAM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolves_by_name_and_address() {
        let a = Iface::resolve("127.0.0.1").unwrap();
        let b = Iface::resolve("lo").unwrap();
        assert_eq!(a, b);
        assert!(a.mtu >= 1500);
        assert!(Iface::resolve("no-such-if0").is_err());
    }
}
