//! The groups one feed (or `listen`) receives, on sockets behind one epoll
//! that says which have datagrams.
//!
//! The layout, per port: while the port's groups fit in one socket
//! (`net.ipv4.igmp_max_memberships`, 20 by default), one socket bound to
//! 0.0.0.0 joins them all, so their datagrams queue in arrival order (which
//! A/B arbitration needs). Past that, each group gets a socket bound to its
//! address. For each datagram the kernel asks every socket bound to 0.0.0.0
//! on the port whether it joined the destination, and each walks its list of
//! memberships (`ip_mc_sf_allow`): with 500 groups in 25 such sockets that
//! walk was a quarter of the receiving host's CPU. A socket bound to the
//! group is the only one the kernel's hash lookup finds, with one membership.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use super::addr::GroupPort;
use super::mcast::{self, Buf, Iface, Membership};

/// Ready sockets taken from the epoll per call; more wait for the next call.
const EVENTS: usize = 256;

/// The joined sockets. As a descriptor it is the epoll's: readable while any
/// socket has a datagram, so a runtime can wait on all of them as one.
pub struct Joined {
    epoll: Epoll,
    socks: Vec<Receiver>,
}

/// One receive socket: its port and the groups it joined there (one, when
/// bound to the group).
pub struct Receiver {
    pub sock: UdpSocket,
    pub port: u16,
    pub groups: Vec<Ipv4Addr>,
}

/// The sockets one [`Joined::ready`] found with datagrams, by index into
/// [`Joined::sockets`]; reused from call to call.
pub struct Ready {
    events: Vec<EpollEvent>,
    n: usize,
    /// The kernel had as many to name as there was room for.
    full: bool,
}

impl Ready {
    /// Room for the sockets of `j`, up to [`EVENTS`].
    pub fn new(j: &Joined) -> Ready {
        Ready {
            events: vec![EpollEvent::empty(); j.len().clamp(1, EVENTS)],
            n: 0,
            full: false,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.events[..self.n].iter().map(|e| e.data() as usize)
    }

    /// As many as there was room for: more may be ready, so ask again.
    pub fn is_full(&self) -> bool {
        self.full
    }
}

impl Joined {
    /// Open and join the receive sockets of `groups` on `iface` (the
    /// layout in the module's words), each with a receive buffer of
    /// `rcvbuf` (warning once if the kernel capped it).
    pub fn open(
        groups: &[GroupPort],
        iface: &Iface,
        how: Membership,
        rcvbuf: usize,
    ) -> io::Result<Joined> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let mut socks = Vec::new();
        let mut capped = None;
        for (port, all) in by_port(groups) {
            let shared = all.len() <= mcast::max_memberships();
            let sets: Vec<&[Ipv4Addr]> = if shared {
                vec![&all[..]]
            } else {
                all.chunks(1).collect()
            };
            for set in sets {
                let at = SocketAddrV4::new(
                    if shared {
                        Ipv4Addr::UNSPECIFIED
                    } else {
                        set[0]
                    },
                    port,
                );
                let sock = mcast::receiver(at).map_err(|e| {
                    let hint = if e.raw_os_error() == Some(libc::EMFILE) {
                        " (past 20 groups on a port each takes a descriptor: raise `ulimit -n`)"
                    } else {
                        ""
                    };
                    io::Error::new(e.kind(), format!("bind UDP {at}: {e}{hint}"))
                })?;
                for g in set {
                    mcast::join(&sock, *g, iface, how).map_err(|e| {
                        io::Error::new(e.kind(), format!("join {g} on {}: {e}", iface.name))
                    })?;
                }
                let got = mcast::size_buffer(&sock, Buf::Recv, rcvbuf)?;
                if got < rcvbuf {
                    capped = Some(got);
                }
                // Edge-triggered: each datagram that arrives names its socket
                // once, and a level-triggered epoll would poll every socket it
                // named again on the next wait (a tenth of the CPU with 500).
                let ev = EpollFlags::EPOLLIN | EpollFlags::EPOLLET;
                epoll.add(&sock, EpollEvent::new(ev, socks.len() as u64))?;
                socks.push(Receiver {
                    sock,
                    port,
                    groups: set.to_vec(),
                });
            }
        }
        if let Some(got) = capped {
            tracing::warn!(
                wanted = rcvbuf,
                got,
                sockets = socks.len(),
                "multicast receive sockets: the kernel capped the receive buffer; raise net.core.rmem_max to at least {rcvbuf} or run with CAP_NET_ADMIN"
            );
        }
        Ok(Joined { epoll, socks })
    }

    pub fn len(&self) -> usize {
        self.socks.len()
    }

    /// The sockets, by port and then in the order of `open`'s groups;
    /// [`Ready`] names them by their index here.
    pub fn sockets(&self) -> &[Receiver] {
        &self.socks
    }

    /// Fill `out` with the sockets that have datagrams waiting, waiting up
    /// to `timeout` for one (`None`: not at all).
    pub fn ready(&self, timeout: Option<Duration>, out: &mut Ready) -> io::Result<()> {
        (out.n, out.full) = (0, false);
        let t = timeout.map_or(EpollTimeout::ZERO, |d| {
            EpollTimeout::try_from(d).unwrap_or(EpollTimeout::MAX)
        });
        out.n = match self.epoll.wait(&mut out.events, t) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(e.into()),
        };
        out.full = out.n == out.events.len();
        Ok(())
    }

    /// The sockets to read once a wait elsewhere (the runtime's) said the
    /// epoll is readable. With one socket that is the one, named without a
    /// system call (an `epoll_wait` per wake-up per feed, otherwise); a
    /// reader then finds it empty only after a spurious wake-up.
    pub fn woken(&self, out: &mut Ready) -> io::Result<()> {
        if self.socks.len() == 1 {
            out.events[0] = EpollEvent::new(EpollFlags::EPOLLIN, 0);
            (out.n, out.full) = (1, false);
            return Ok(());
        }
        self.ready(None, out)
    }

    /// Join every group again on `iface` (after the device came back).
    /// Returns how many joins took and the failures.
    pub fn rejoin(
        &self,
        iface: &Iface,
        how: Membership,
    ) -> (usize, Vec<(SocketAddrV4, io::Error)>) {
        let (mut joined, mut failed) = (0, Vec::new());
        for r in &self.socks {
            for g in &r.groups {
                match mcast::join(&r.sock, *g, iface, how) {
                    Ok(_) => joined += 1,
                    Err(e) => failed.push((SocketAddrV4::new(*g, r.port), e)),
                }
            }
        }
        (joined, failed)
    }

    /// Leave every group (best effort; closing leaves too, but not at once
    /// for the switches: an explicit leave sends the IGMP leave now).
    pub fn leave(&self, iface: &Iface, how: Membership) {
        for r in &self.socks {
            for g in &r.groups {
                let _ = mcast::leave(&r.sock, *g, iface, how);
            }
        }
    }
}

/// The distinct groups of each port, ports ascending, groups as given.
fn by_port(groups: &[GroupPort]) -> std::collections::BTreeMap<u16, Vec<Ipv4Addr>> {
    let mut by: std::collections::BTreeMap<u16, Vec<Ipv4Addr>> = Default::default();
    for g in groups {
        let v = by.entry(g.0.port()).or_default();
        if !v.contains(g.0.ip()) {
            v.push(*g.0.ip());
        }
    }
    by
}

impl AsRawFd for Joined {
    fn as_raw_fd(&self) -> RawFd {
        self.epoll.0.as_raw_fd()
    }
}

impl AsFd for Joined {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.0.as_fd()
    }
}

#[cfg(test)]
mod tests;
