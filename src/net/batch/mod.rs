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
use std::os::fd::{AsRawFd, BorrowedFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

mod send;
pub use send::SendBatch;

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
pub fn register<T: std::os::fd::AsRawFd>(sock: T, interest: Interest) -> io::Result<AsyncFd<T>> {
    // SAFETY: the AsyncFd owns `sock`, which owns its descriptor (a socket,
    // or the epoll of `net::joined`), so the descriptor stays open and the
    // same for as long as the registration lives.
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
mod tests;
