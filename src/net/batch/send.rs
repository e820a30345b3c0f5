//! `sendmmsg`, with UDP segmentation offload (GSO) where it is asked for: a
//! run of datagrams of one size to one destination goes as one message that
//! the kernel cuts back into those datagrams (`UDP_SEGMENT`). The stack
//! (route, output, the loopback, a local receiver's wake-up) then runs once
//! per run instead of once per datagram; what reaches the wire or a
//! receiving socket is the same datagrams in the same order.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddrV4;
use std::ops::Range;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `UDP_SEGMENT` of linux/udp.h (Linux 4.18); libc has no glibc constant.
const UDP_SEGMENT: i32 = 103;
/// Segments per message: the kernel's `UDP_MAX_SEGMENTS` (64; newer kernels take more).
const MAX_SEGMENTS: usize = 64;
/// Payload bytes per message: an IPv4 datagram less its IP and UDP headers.
const MAX_GSO_BYTES: usize = 65_535 - 20 - 8;
/// One control message carrying a u16, in u64 words (CMSG_SPACE(2) is 24 bytes).
const CTRL_WORDS: usize = 4;

/// Reusable headers for `sendmmsg`.
pub struct SendBatch {
    /// Per message.
    names: Vec<libc::sockaddr_in>,
    hdrs: Vec<libc::mmsghdr>,
    ctrl: Vec<[u64; CTRL_WORDS]>,
    /// How many items each message carries.
    segs: Vec<usize>,
    /// Of the items the last `send` sent, those inside segmented messages.
    segmented: usize,
    /// Per item.
    iovs: Vec<libc::iovec>,
    gso: bool,
}

// SAFETY: the raw pointers inside `iovs`/`hdrs` point into this struct's own
// buffers or the caller's, are rewritten before every call, and nothing is shared.
unsafe impl Send for SendBatch {}

impl SendBatch {
    /// One message per datagram.
    pub fn new(n: usize) -> Self {
        assert!(n > 0);
        SendBatch {
            // SAFETY: plain C structs; all-zero is a valid value.
            names: vec![unsafe { zeroed() }; n],
            hdrs: vec![unsafe { zeroed() }; n],
            ctrl: vec![[0; CTRL_WORDS]; n],
            segs: vec![0; n],
            segmented: 0,
            iovs: vec![unsafe { zeroed() }; n],
            gso: false,
        }
    }

    /// Runs of datagrams as one message each, if `fd`'s kernel takes
    /// `UDP_SEGMENT`. A kernel without it would send such a message as one
    /// big datagram, so it is asked first (the option is readable since 4.18).
    pub fn with_gso(n: usize, fd: BorrowedFd<'_>) -> Self {
        let mut b = SendBatch::new(n);
        b.gso = super::get_int(fd, libc::SOL_UDP, UDP_SEGMENT).is_ok();
        b
    }

    pub fn capacity(&self) -> usize {
        self.iovs.len()
    }

    /// Whether runs go as one message (see [`Self::with_gso`]).
    pub fn gso(&self) -> bool {
        self.gso
    }

    /// How many of the items the last successful [`Self::send`] sent went
    /// inside segmented messages (runs of two or more).
    pub fn segmented(&self) -> usize {
        self.segmented
    }

    /// Send `items` (destination, range of `buf`) in one call without blocking;
    /// returns how many went. At most `capacity()` items are tried.
    pub fn send(
        &mut self,
        fd: BorrowedFd<'_>,
        buf: &[u8],
        items: &[(SocketAddrV4, Range<usize>)],
    ) -> io::Result<usize> {
        match self.send_as(fd, buf, items, self.gso) {
            // A run the kernel would not take (a route's MTU below the
            // datagram, a transform on the route): sent one by one, so each
            // datagram meets its own fate. EIO says this route never takes one.
            Err(e) if self.segs[0] > 1 && e.kind() != io::ErrorKind::WouldBlock => {
                if e.raw_os_error() == Some(libc::EIO) {
                    self.gso = false;
                    tracing::info!(error = %e, "multicast socket: the kernel refuses segmentation offload here; sending datagram by datagram");
                }
                self.send_as(fd, buf, items, false)
            }
            r => r,
        }
    }

    fn send_as(
        &mut self,
        fd: BorrowedFd<'_>,
        buf: &[u8],
        items: &[(SocketAddrV4, Range<usize>)],
        gso: bool,
    ) -> io::Result<usize> {
        let n = items.len().min(self.iovs.len());
        let (mut i, mut msgs) = (0, 0);
        while i < n {
            let k = if gso { run(&items[i..n]) } else { 1 };
            for (iov, (_, r)) in self.iovs[i..i + k].iter_mut().zip(&items[i..i + k]) {
                let chunk = &buf[r.clone()];
                *iov = libc::iovec {
                    iov_base: chunk.as_ptr() as *mut libc::c_void,
                    iov_len: chunk.len(),
                };
            }
            let dst = items[i].0;
            self.names[msgs] = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: dst.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*dst.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            let ctrl = self.ctrl[msgs].as_mut_ptr() as *mut libc::c_void;
            let h = &mut self.hdrs[msgs].msg_hdr;
            h.msg_name = &mut self.names[msgs] as *mut _ as *mut libc::c_void;
            h.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = k;
            h.msg_flags = 0;
            if k > 1 {
                h.msg_control = ctrl;
                // SAFETY: CMSG_SPACE is arithmetic.
                h.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as usize;
                // SAFETY: the buffer is 8-aligned and CTRL_WORDS * 8 >= CMSG_SPACE(2),
                // so the one header and its data lie inside it.
                unsafe {
                    let c = libc::CMSG_FIRSTHDR(h);
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as usize;
                    std::ptr::write_unaligned(
                        libc::CMSG_DATA(c) as *mut u16,
                        items[i].1.len() as u16,
                    );
                }
            } else {
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
            }
            self.segs[msgs] = k;
            msgs += 1;
            i += k;
        }
        self.segmented = 0;
        if msgs == 0 {
            return Ok(0);
        }
        // SAFETY: msgs headers point at `buf` (borrowed for this call) and our own arrays.
        let sent = unsafe {
            libc::sendmmsg(
                fd.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                msgs as u32,
                libc::MSG_DONTWAIT,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let sent = &self.segs[..sent as usize];
        self.segmented = sent.iter().filter(|&&k| k > 1).sum();
        Ok(sent.iter().sum())
    }
}

/// How many of `items`, from the first, make one segmented message: the same
/// destination, the first one's size (the kernel's segment size), and at most
/// one shorter last one.
fn run(items: &[(SocketAddrV4, Range<usize>)]) -> usize {
    let (dst, size) = (items[0].0, items[0].1.len());
    if size == 0 {
        return 1;
    }
    let (mut k, mut bytes) = (1, size);
    while k < items.len().min(MAX_SEGMENTS) {
        let (d, r) = &items[k];
        if *d != dst || r.len() > size || r.is_empty() || bytes + r.len() > MAX_GSO_BYTES {
            break;
        }
        bytes += r.len();
        k += 1;
        if r.len() < size {
            break;
        }
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(spec: &[(u16, usize)]) -> Vec<(SocketAddrV4, Range<usize>)> {
        let mut off = 0;
        spec.iter()
            .map(|&(port, len)| {
                let r = off..off + len;
                off += len;
                (SocketAddrV4::new([239, 1, 1, 1].into(), port), r)
            })
            .collect()
    }

    #[test]
    fn a_run_is_one_destination_one_size_and_one_shorter_last() {
        assert_eq!(run(&items(&[(1, 160), (1, 160), (1, 160)])), 3);
        assert_eq!(run(&items(&[(1, 160), (1, 160), (2, 160)])), 2);
        assert_eq!(run(&items(&[(1, 160), (1, 100), (1, 160)])), 2);
        assert_eq!(run(&items(&[(1, 160), (1, 200)])), 1);
        assert_eq!(run(&items(&[(1, 0), (1, 0)])), 1);
        assert_eq!(run(&items(&[(1, 160), (1, 0)])), 1);
        assert_eq!(run(&items(&vec![(1, 100); 100])), MAX_SEGMENTS);
        // 1,400 B each: 46 fit in 65,507 bytes.
        assert_eq!(run(&items(&vec![(1, 1400); 60])), 46);
    }
}
