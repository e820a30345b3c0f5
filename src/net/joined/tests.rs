//! Real multicast on the loopback: which socket gets what, and what the
//! epoll names.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, poll};

use super::{EVENTS, Joined, Ready};
use crate::net::addr::GroupPort;
use crate::net::batch::RecvBatch;
use crate::net::mcast::{Iface, Membership, max_memberships};

fn sender() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_multicast_ttl_v4(1).unwrap();
    socket2::SockRef::from(&s)
        .set_multicast_if_v4(&Ipv4Addr::LOCALHOST)
        .unwrap();
    s
}

fn open(groups: &[SocketAddrV4]) -> Joined {
    let lo = Iface::resolve("127.0.0.1").unwrap();
    let gs: Vec<GroupPort> = groups.iter().map(|g| GroupPort(*g)).collect();
    Joined::open(&gs, &lo, Membership::AnySource, 1 << 20).unwrap()
}

fn port() -> u16 {
    crate::tools::publish::free_udp_port().unwrap()
}

/// Every socket named ready, waiting up to 2 s for the first; drained.
fn take_ready(j: &Joined, ready: &mut Ready) -> Vec<usize> {
    j.ready(Some(Duration::from_secs(2)), ready).unwrap();
    ready.iter().collect()
}

/// What socket `i` holds: (destination, payload) of each datagram.
fn drain(j: &Joined, i: usize) -> Vec<(Ipv4Addr, Vec<u8>)> {
    let mut b = RecvBatch::new(64, 2048);
    let mut out = Vec::new();
    while let Ok(n) = b.recv(j.sockets()[i].sock.as_fd()) {
        for k in 0..n {
            let (m, p) = b.get(k);
            out.push((m.dst.unwrap(), p.to_vec()));
        }
    }
    out
}

#[test]
fn a_port_with_few_groups_shares_one_socket_in_arrival_order() {
    let (lo, hi) = {
        let (a, b) = (port(), port());
        (a.min(b), a.max(b))
    };
    let ip = |x: u8| Ipv4Addr::new(239, 255, 93, x);
    // Two groups on `hi`, one of them again on `lo`, and a duplicate, which
    // gets no second membership.
    let given = [(1, hi), (2, hi), (1, lo), (2, hi)].map(|(x, p)| SocketAddrV4::new(ip(x), p));
    let j = open(&given);
    let layout: Vec<_> = j
        .sockets()
        .iter()
        .map(|r| (r.sock.local_addr().unwrap(), r.port, r.groups.clone()))
        .collect();
    let any = |p| std::net::SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, p));
    assert_eq!(
        layout,
        [
            (any(lo), lo, vec![ip(1)]),
            (any(hi), hi, vec![ip(1), ip(2)])
        ],
        "ports ascending, one socket each, bound to 0.0.0.0"
    );
    let mut ready = Ready::new(&j);
    j.ready(None, &mut ready).unwrap();
    assert_eq!(ready.iter().count(), 0, "nothing sent yet");

    // Both groups' datagrams come out of the one socket in the order sent;
    // 239.255.93.3 on the same port, joined by none, is not among them.
    let tx = sender();
    for k in 0..6u8 {
        tx.send_to(&[k], SocketAddrV4::new(ip(1 + k % 3), hi))
            .unwrap();
    }
    assert_eq!(take_ready(&j, &mut ready), [1]);
    let want: Vec<_> = [0u8, 1, 3, 4]
        .iter()
        .map(|k| (ip(1 + k % 3), vec![*k]))
        .collect();
    assert_eq!(drain(&j, 1), want);
    j.ready(Some(Duration::from_millis(50)), &mut ready)
        .unwrap();
    assert_eq!(
        ready.iter().count(),
        0,
        "nothing for the other port's socket"
    );
}

#[test]
fn a_socket_is_named_once_per_arrival_so_readers_drain_it() {
    let g = SocketAddrV4::new(Ipv4Addr::new(239, 255, 93, 9), port());
    let j = open(&[g]);
    let mut ready = Ready::new(&j);
    let tx = sender();
    for k in 0..3u8 {
        tx.send_to(&[k], g).unwrap();
    }
    assert_eq!(take_ready(&j, &mut ready), [0]);
    let mut b = RecvBatch::new(1, 16);
    assert_eq!(b.recv(j.sockets()[0].sock.as_fd()).unwrap(), 1);
    assert_eq!(b.get(0).1, [0]);
    // Edge-triggered: two still wait, but nothing new came, so the socket
    // is not named again (which is why a reader drains what it is named).
    j.ready(Some(Duration::from_millis(50)), &mut ready)
        .unwrap();
    assert_eq!(ready.iter().count(), 0);
    // A datagram that arrives after names it again, and all three are there.
    tx.send_to(&[3], g).unwrap();
    assert_eq!(take_ready(&j, &mut ready), [0]);
    let left: Vec<_> = drain(&j, 0).into_iter().map(|(_, p)| p).collect();
    assert_eq!(left, [[1], [2], [3]]);
}

#[test]
fn woken_names_a_lone_socket_at_once_and_asks_the_kernel_about_several() {
    let g = |p| SocketAddrV4::new(Ipv4Addr::new(239, 255, 93, 7), p);
    let one = open(&[g(port())]);
    let mut ready = Ready::new(&one);
    // Nothing was sent: the one socket is named all the same (the caller's
    // wait said the epoll was readable), and the reader's recvmmsg says empty.
    one.woken(&mut ready).unwrap();
    assert_eq!(ready.iter().collect::<Vec<_>>(), [0]);
    assert!(!ready.is_full(), "one named, no more to ask for");
    assert!(drain(&one, 0).is_empty());

    let two = open(&[g(port()), g(port())]);
    let mut ready = Ready::new(&two);
    two.woken(&mut ready).unwrap();
    assert_eq!(ready.iter().count(), 0, "two sockets: the kernel is asked");
    let to = two.sockets()[1].port;
    sender().send_to(b"x", g(to)).unwrap();
    // Wait as the runtime does, on the epoll's own descriptor.
    let mut fds = [PollFd::new(two.as_fd(), PollFlags::POLLIN)];
    assert_eq!(poll(&mut fds, 2000u16).unwrap(), 1, "readable within 2 s");
    two.woken(&mut ready).unwrap();
    assert_eq!(ready.iter().collect::<Vec<_>>(), [1]);
    assert_eq!(drain(&two, 1), [(*g(to).ip(), b"x".to_vec())]);
}

#[test]
fn past_the_membership_limit_each_group_has_a_socket_bound_to_it() {
    let p = port();
    // More groups than one socket may join, and than one epoll call names.
    let n = (max_memberships() + 1).max(EVENTS + 44);
    let groups: Vec<_> = (0..n)
        .map(|k| {
            SocketAddrV4::new(
                Ipv4Addr::new(239, 255, 94 + (k / 250) as u8, (k % 250) as u8 + 1),
                p,
            )
        })
        .collect();
    let j = open(&groups);
    assert_eq!(j.len(), n);
    // Bound to its group, not 0.0.0.0: the kernel finds it by a hash lookup.
    for (r, g) in j.sockets().iter().zip(&groups) {
        assert_eq!(r.groups, [*g.ip()]);
        assert_eq!(r.sock.local_addr().unwrap(), std::net::SocketAddr::V4(*g));
    }
    let tx = sender();
    for (k, g) in groups.iter().enumerate() {
        tx.send_to(&(k as u32).to_be_bytes(), g).unwrap();
    }
    let mut ready = Ready::new(&j);
    let mut got = vec![None; n];
    let mut calls = 0;
    while got.iter().any(Option::is_none) {
        calls += 1;
        assert!(calls <= 20, "all {n} sockets named within 20 calls");
        let r = take_ready(&j, &mut ready);
        assert!(r.len() <= EVENTS);
        if r.len() == EVENTS {
            assert!(ready.is_full());
        }
        for i in r {
            let d = drain(&j, i);
            assert_eq!(d.len(), 1, "one datagram on socket {i}");
            assert_eq!(d[0].0, *groups[i].ip());
            assert!(
                got[i]
                    .replace(u32::from_be_bytes(d[0].1[..].try_into().unwrap()))
                    .is_none()
            );
        }
    }
    // Each socket got exactly the datagram sent to its group.
    assert!(got.iter().enumerate().all(|(k, v)| *v == Some(k as u32)));
}
