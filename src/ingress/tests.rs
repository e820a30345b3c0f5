//! The ingress and the egress in one test process, on the loopback: what
//! can be checked without starting the binary.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::Ingress;
use crate::config::Config;
use crate::egress::Egress;
use crate::obs::Obs;
use crate::obs::metrics::DropReason;
use crate::shutdown::CancellationToken;
use crate::wire::auth::Key;

/// A plain receiver joined to `group` on the loopback, independent of ours.
/// Bound to the group itself: bound to 0.0.0.0 it would also get the source
/// groups that the ingress joined on the same port.
fn join(group: SocketAddrV4) -> UdpSocket {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    s.set_reuse_address(true).unwrap();
    s.bind(&group.into()).unwrap();
    s.join_multicast_v4(group.ip(), &Ipv4Addr::LOCALHOST)
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.into()
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(5), "{what} within 5 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_cross_byte_for_byte_and_a_group_outside_allow_is_counted() {
    let port = crate::tools::publish::free_udp_port().unwrap();
    let (src, other) = (
        SocketAddrV4::new(Ipv4Addr::new(239, 255, 91, 1), port),
        SocketAddrV4::new(Ipv4Addr::new(239, 255, 91, 2), port),
    );
    let out = SocketAddrV4::new(Ipv4Addr::new(239, 255, 92, 1), port);
    // 239.255.91.2 maps to 239.255.92.2, which --allow leaves out.
    let mut cfg = Config::from_toml(&format!(
        r#"
[[ingress]]
feed = "t"
iface = "127.0.0.1"
groups = ["{src}", "{other}"]
dests = ["127.0.0.1:1"]
[[egress]]
feed = "t"
listen = "127.0.0.1:0"
iface = "127.0.0.1"
ttl = 1
allow = ["239.255.92.1/32"]
map = ["239.255.91.0/24=239.255.92.0/24"]
"#
    ))
    .unwrap();
    let key = Key::generate().to_line();
    cfg.validate(&|v| (v == "MCAST_RELAY_KEY").then(|| key.clone()))
        .unwrap();
    let (mut ing, eg) = (cfg.ingress.remove(0), cfg.egress.remove(0));
    let (obs, stop) = (Obs::default(), CancellationToken::new());
    let eg = Egress::bind(vec![eg], &obs).await.unwrap();
    ing.dests = vec![eg.local_addrs()[0].to_string()];
    let egress = tokio::spawn(eg.serve(stop.clone()));
    let rx = join(out);
    let ingress = tokio::spawn(Ingress::start(ing, &obs).unwrap().run(stop.clone()));
    let eg_stats = obs.metrics.feed("t", "egress");
    until("the link up", || eg_stats.connected.get() == 1).await;

    let tx = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    tx.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
    let tx: UdpSocket = tx.into();
    let sent: Vec<Vec<u8>> = (0..200u32)
        .map(|i| {
            let mut d = i.to_be_bytes().to_vec();
            d.extend((0..(i % 97) as u8).map(|b| b ^ 0x5a));
            d
        })
        .collect();
    for (i, d) in sent.iter().enumerate() {
        tx.send_to(d, src).unwrap();
        if i % 50 == 49 {
            tx.send_to(b"not for customers", other).unwrap();
        }
    }
    let mut buf = [0u8; 2048];
    for want in &sent {
        let (n, _) = rx.recv_from(&mut buf).expect("a datagram");
        assert_eq!(&buf[..n], &want[..], "byte for byte, in order");
    }
    until("the refused ones counted", || {
        eg_stats.drops_by_reason() == vec![(DropReason::NotAllowed.label(), 4)]
    })
    .await;
    // Counted after the batch's send returns: the receiver may be first.
    until("200 counted out", || eg_stats.datagrams_out.get() == 200).await;
    assert_eq!(eg_stats.gaps.get(), 0);
    stop.cancel();
    let _ = tokio::join!(egress, ingress);
}
