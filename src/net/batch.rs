//! The crate's only `unsafe`: batched `recvmmsg`/`sendmmsg`, a few socket
//! options the safe crates do not offer, and registering a socket with the
//! runtime for one interest only (tokio's registration is `unsafe`).
//!
//! Why: one syscall per datagram is what caps socat and udp-over-tcp. Why it is
//! sound: every pointer handed to the kernel points into buffers owned by the
//! batch itself (or a slice borrowed for the call), the headers are rebuilt before
//! each call so moving the batch cannot leave a dangling pointer, and lengths come
//! from the same Vecs they describe. The kernel writes at most `msg_len`,
//! `msg_namelen` and `msg_controllen` bytes, all bounded by what we passed.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::Range;
use std::os::fd::{AsRawFd, BorrowedFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

const CTRL_LEN: usize = 128;

/// What the kernel told us about one received datagram.
#[derive(Debug, Clone, Copy)]
pub struct RecvMeta {
    pub len: usize,
    pub src: SocketAddrV4,
    /// The IP header's destination (the group), when IP_PKTINFO is on.
    pub dst: Option<Ipv4Addr>,
    /// Kernel receive time, ns since the epoch, when SO_TIMESTAMPNS is on.
    pub kernel_ns: Option<u64>,
    /// The datagram was longer than the slot and was cut.
    pub truncated: bool,
    /// Datagrams the kernel dropped at this socket so far, when SO_RXQ_OVFL is on.
    pub overflow: Option<u32>,
}

/// Reusable buffers for `recvmmsg`: `n` slots of `slot` bytes. No allocation per call.
pub struct RecvBatch {
    data: Vec<u8>,
    slot: usize,
    ctrl: Vec<u64>,
    names: Vec<libc::sockaddr_in>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    meta: Vec<RecvMeta>,
}

// SAFETY: the raw pointers inside `iovs`/`hdrs` only ever point into this struct's
// own heap buffers and are rewritten before every syscall; nothing is shared.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub fn new(n: usize, slot: usize) -> Self {
        assert!(n > 0 && slot > 0);
        RecvBatch {
            data: vec![0; n * slot],
            slot,
            ctrl: vec![0; n * CTRL_LEN / 8],
            // SAFETY: plain C structs; all-zero is a valid value.
            names: vec![unsafe { zeroed() }; n],
            iovs: vec![unsafe { zeroed() }; n],
            hdrs: vec![unsafe { zeroed() }; n],
            meta: Vec::with_capacity(n),
        }
    }

    pub fn capacity(&self) -> usize {
        self.hdrs.len()
    }

    /// Receive what is waiting, up to the capacity, without blocking.
    /// `Err(WouldBlock)` when nothing is there.
    pub fn recv(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        let n = self.hdrs.len();
        let data = self.data.as_mut_ptr();
        let ctrl = self.ctrl.as_mut_ptr() as *mut u8;
        for i in 0..n {
            // SAFETY: i < n, and data/ctrl hold n slots of their size.
            self.iovs[i] = libc::iovec {
                iov_base: unsafe { data.add(i * self.slot) } as *mut libc::c_void,
                iov_len: self.slot,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = &mut self.names[i] as *mut _ as *mut libc::c_void;
            h.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = unsafe { ctrl.add(i * CTRL_LEN) } as *mut libc::c_void;
            h.msg_controllen = CTRL_LEN;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        // SAFETY: hdrs describes n valid messages whose buffers live as long as self.
        let got = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                n as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        let got = got as usize;
        self.meta.clear();
        for i in 0..got {
            let m = &self.hdrs[i];
            let (dst, kernel_ns, overflow) = parse_cmsgs(&m.msg_hdr);
            let sin = &self.names[i];
            self.meta.push(RecvMeta {
                len: (m.msg_len as usize).min(self.slot),
                src: SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                    u16::from_be(sin.sin_port),
                ),
                dst,
                kernel_ns,
                truncated: m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
                overflow,
            });
        }
        Ok(got)
    }

    /// The `i`th datagram of the last `recv`.
    pub fn get(&self, i: usize) -> (&RecvMeta, &[u8]) {
        let m = &self.meta[i];
        (m, &self.data[i * self.slot..i * self.slot + m.len])
    }
}

fn parse_cmsgs(h: &libc::msghdr) -> (Option<Ipv4Addr>, Option<u64>, Option<u32>) {
    let (mut dst, mut ts, mut ovfl) = (None, None, None);
    // SAFETY: h was filled by the kernel; CMSG_* walk within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            let (level, ty) = ((*c).cmsg_level, (*c).cmsg_type);
            let p = libc::CMSG_DATA(c);
            if level == libc::IPPROTO_IP && ty == libc::IP_PKTINFO {
                let info: libc::in_pktinfo = std::ptr::read_unaligned(p as *const _);
                dst = Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
            } else if level == libc::SOL_SOCKET && ty == libc::SCM_TIMESTAMPNS {
                let t: libc::timespec = std::ptr::read_unaligned(p as *const _);
                ts = Some(t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64);
            } else if level == libc::SOL_SOCKET && ty == libc::SO_RXQ_OVFL {
                ovfl = Some(std::ptr::read_unaligned(p as *const u32));
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    (dst, ts, ovfl)
}

/// Reusable headers for `sendmmsg`.
pub struct SendBatch {
    names: Vec<libc::sockaddr_in>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

// SAFETY: as for RecvBatch; pointers are rewritten before each call.
unsafe impl Send for SendBatch {}

impl SendBatch {
    pub fn new(n: usize) -> Self {
        SendBatch {
            // SAFETY: plain C structs; all-zero is a valid value.
            names: vec![unsafe { zeroed() }; n],
            iovs: vec![unsafe { zeroed() }; n],
            hdrs: vec![unsafe { zeroed() }; n],
        }
    }

    pub fn capacity(&self) -> usize {
        self.hdrs.len()
    }

    /// Send `items` (destination, range of `buf`) in one call without blocking;
    /// returns how many went. At most `capacity()` items are tried.
    pub fn send(
        &mut self,
        fd: BorrowedFd<'_>,
        buf: &[u8],
        items: &[(SocketAddrV4, Range<usize>)],
    ) -> io::Result<usize> {
        let n = items.len().min(self.hdrs.len());
        if n == 0 {
            return Ok(0);
        }
        for (i, (dst, r)) in items[..n].iter().enumerate() {
            let chunk = &buf[r.clone()];
            self.names[i] = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: dst.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*dst.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            self.iovs[i] = libc::iovec {
                iov_base: chunk.as_ptr() as *mut libc::c_void,
                iov_len: chunk.len(),
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = &mut self.names[i] as *mut _ as *mut libc::c_void;
            h.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
        }
        // SAFETY: n headers point at `buf` (borrowed for this call) and our own arrays.
        let sent = unsafe {
            libc::sendmmsg(
                fd.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                n as u32,
                libc::MSG_DONTWAIT,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
    }
}

/// Set an integer socket option.
pub fn set_int(fd: BorrowedFd<'_>, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: passes a pointer to a live i32 and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            &value as *const i32 as *const libc::c_void,
            size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Read an integer socket option.
pub fn get_int(fd: BorrowedFd<'_>, level: i32, name: i32) -> io::Result<i32> {
    let mut value: i32 = 0;
    let mut len = size_of::<i32>() as libc::socklen_t;
    // SAFETY: passes a pointer to a live i32 and its size.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            &mut value as *mut i32 as *mut libc::c_void,
            &mut len,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(value)
    }
}

/// `sock` registered with the runtime for `interest` only (a receive socket
/// needs no writability events).
pub fn register(
    sock: std::net::UdpSocket,
    interest: Interest,
) -> io::Result<AsyncFd<std::net::UdpSocket>> {
    // SAFETY: the AsyncFd owns the socket, so the descriptor stays open and
    // the same for as long as the registration lives.
    Ok(unsafe { AsyncFd::register_with_interest(sock, interest) }?)
}

/// Wait until `fd` is writable, registered with the runtime only for this
/// wait. A UDP socket kept in epoll gets an event each time the kernel frees
/// a datagram it sent (at once on the loopback, after the NIC sent it
/// otherwise), so every `sendmmsg` left one behind and the next `epoll_wait`
/// returned at once with it: a syscall per batch for nothing. An epoll ADD
/// reports a socket that is already writable, so no wake-up is lost.
pub async fn writable(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: the borrow keeps the descriptor open and the same for `'_`, and
    // the AsyncFd is dropped before this function returns.
    let reg = unsafe { AsyncFd::register_with_interest(fd, Interest::WRITABLE) }?;
    let _ready = reg.writable().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    #[test]
    fn a_batch_round_trips_on_loopback() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        set_int(rx.as_fd(), libc::IPPROTO_IP, libc::IP_PKTINFO, 1).unwrap();
        set_int(rx.as_fd(), libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1).unwrap();
        let to = match rx.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        let buf = b"onetwothree-and-a-long-one".to_vec();
        let items = vec![(to, 0..3), (to, 3..6), (to, 6..buf.len())];
        let mut sb = SendBatch::new(8);
        assert_eq!(sb.send(tx.as_fd(), &buf, &items).unwrap(), 3);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut rb = RecvBatch::new(8, 8);
        assert_eq!(rb.recv(rx.as_fd()).unwrap(), 3);
        let (m, p) = rb.get(0);
        assert_eq!(p, b"one");
        assert_eq!(m.dst, Some(Ipv4Addr::LOCALHOST));
        assert!(m.kernel_ns.unwrap() > 1_600_000_000_000_000_000);
        assert_eq!(
            m.src,
            match tx.local_addr().unwrap() {
                std::net::SocketAddr::V4(a) => a,
                _ => unreachable!(),
            }
        );
        assert_eq!(rb.get(1).1, b"two");
        let (m, p) = rb.get(2);
        assert!(m.truncated, "20 bytes into an 8-byte slot");
        assert_eq!(p, b"three-an");
        assert_eq!(
            rb.recv(rx.as_fd()).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
    }

    #[tokio::test]
    async fn writable_waits_for_room_and_sees_it_come() {
        use std::os::unix::net::UnixDatagram;
        // A UDP socket's buffer cannot be filled on the loopback (it frees
        // each datagram as it sends it); a datagram socket pair's can.
        let (tx, rx) = UnixDatagram::pair().unwrap();
        tx.set_nonblocking(true).unwrap();
        rx.set_nonblocking(true).unwrap();
        let five = std::time::Duration::from_secs(5);
        // A socket with room is writable at once: the registration reports it.
        tokio::time::timeout(five, writable(tx.as_fd()))
            .await
            .expect("writable at once")
            .unwrap();
        let mut sent = 0;
        while sent < 100_000 {
            match tx.send(&[7u8; 1024]) {
                Ok(_) => sent += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("send: {e}"),
            }
        }
        assert!(sent > 0 && sent < 100_000, "the buffer filled after {sent}");
        let wait = writable(tx.as_fd());
        tokio::pin!(wait);
        assert!(
            poll_once(wait.as_mut()).await.is_none(),
            "a full socket is not writable"
        );
        let mut b = [0u8; 2048];
        let mut got = 0;
        while rx.recv(&mut b).is_ok() {
            got += 1;
        }
        assert_eq!(got, sent);
        tokio::time::timeout(five, wait)
            .await
            .expect("writable once the receiver read")
            .unwrap();
        assert!(tx.send(b"again").is_ok());
    }

    /// Poll `f` once: its output if it is ready.
    async fn poll_once<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
