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

fn v4(s: &UdpSocket) -> SocketAddrV4 {
    match s.local_addr().unwrap() {
        std::net::SocketAddr::V4(a) => a,
        _ => unreachable!(),
    }
}

/// Every datagram waiting on `rx`, as its own bytes, waiting up to 5 s for `n`.
fn drain(rx: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
    rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 65_536];
    while got.len() < n {
        let k = rx.recv(&mut b).expect("a datagram within 5 s");
        got.push(b[..k].to_vec());
    }
    rx.set_nonblocking(true).unwrap();
    assert!(rx.recv(&mut b).is_err(), "nothing more than {n}");
    got
}

/// A batch of runs (one size to one destination), a shorter last one, other
/// destinations between and sizes that break a run: each datagram arrives on
/// its own, whole, in order, however the batch cut them into messages.
/// Returns how many the batch said went inside segmented messages.
fn runs_arrive_as_datagrams(sb: &mut SendBatch, tx: &UdpSocket) -> usize {
    let (a, b) = (
        UdpSocket::bind("127.0.0.1:0").unwrap(),
        UdpSocket::bind("127.0.0.1:0").unwrap(),
    );
    let sizes: Vec<(bool, usize)> = [(true, 160); 5]
        .into_iter()
        .chain([(true, 90), (false, 160), (false, 160), (true, 300)])
        .chain([(true, 1400); 50])
        .collect();
    let mut buf = Vec::new();
    let mut items = Vec::new();
    for (i, &(to_a, len)) in sizes.iter().enumerate() {
        let start = buf.len();
        buf.extend((0..len).map(|j| (i * 7 + j) as u8));
        items.push((if to_a { v4(&a) } else { v4(&b) }, start..buf.len()));
    }
    let (mut done, mut segmented) = (0, 0);
    while done < items.len() {
        done += sb.send(tx.as_fd(), &buf, &items[done..]).unwrap();
        segmented += sb.segmented();
    }
    assert_eq!(done, items.len());
    let want = |to_a: bool| -> Vec<Vec<u8>> {
        items
            .iter()
            .filter(|(d, _)| (*d == v4(&a)) == to_a)
            .map(|(_, r)| buf[r.clone()].to_vec())
            .collect()
    };
    assert_eq!(drain(&a, want(true).len()), want(true));
    assert_eq!(drain(&b, want(false).len()), want(false));
    segmented
}

#[test]
fn segmented_runs_arrive_as_the_datagrams_they_were() {
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut sb = SendBatch::with_gso(64, tx.as_fd());
    assert!(sb.gso(), "this kernel (4.18 or later) takes UDP_SEGMENT");
    // Runs: 5 x 160 and a shorter 90 (6), 2 x 160 to b (2), then 50 x 1,400
    // as 46 (65,507 bytes at most) and 4; the lone 300 goes alone.
    assert_eq!(runs_arrive_as_datagrams(&mut sb, &tx), 6 + 2 + 46 + 4);
    assert!(sb.gso(), "and keeps taking it");
}

#[test]
fn a_run_the_kernel_refuses_goes_datagram_by_datagram() {
    // Without a checksum the kernel refuses a segmented message (EINVAL):
    // the batch sends that call datagram by datagram instead.
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    set_int(tx.as_fd(), libc::SOL_SOCKET, libc::SO_NO_CHECK, 1).unwrap();
    let mut sb = SendBatch::with_gso(64, tx.as_fd());
    assert_eq!(
        runs_arrive_as_datagrams(&mut sb, &tx),
        0,
        "sent one by one, none counted as segmented"
    );
}

#[test]
fn without_gso_each_datagram_is_its_own_message() {
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut sb = SendBatch::new(64);
    assert!(!sb.gso());
    assert_eq!(runs_arrive_as_datagrams(&mut sb, &tx), 0);
}
