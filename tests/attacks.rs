//! Attacks on the link, end to end on the loopback, each against real relay
//! processes: a man in the middle who injects, forges, replays, splices or
//! flips bits, or forges Acks; a key holder who lies about positions or
//! sequence numbers; a middlebox that terminates TLS. None may put a byte on a
//! customer's group that the datacenter did not send, and none may silence
//! the feed: the link drops, the attack is counted, the window heals the gap.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use mcast_relay::wire::auth::Key;
use mcast_relay::wire::frame::{self, Frame, MAX_HANDSHAKE_FRAME, Welcome, kind};
use mcast_relay::wire::handshake::{
    ClientHandshake, ClientParams, FeedKeys, Reject, ServerHandshake, ServerStep,
};
use mcast_relay::wire::record::{self, Opener, Sealer};

const KEY: &str =
    "5e1a0c2b3d4f6a7b:93c4e1f07a2b5d8e6c1f3a9b7d0e2c5f8a4b6d1e3f7c9a0b2d4e6f8a1c3b5d7e";

fn sa(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

/// A datagram that proves itself: its number, then bytes derived from it.
fn dgram(i: u64) -> Vec<u8> {
    let mut v = i.to_be_bytes().to_vec();
    v.extend((0..152u64).map(|k| (i.wrapping_mul(2_654_435_761) >> (k % 24)) as u8 ^ k as u8));
    v
}

fn genuine(b: &[u8]) -> Option<u64> {
    let i = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
    (dgram(i) == b).then_some(i)
}

/// Datagrams 0..n to `group` at `rate` per second, from the loopback.
fn send(group: SocketAddrV4, n: u64, rate: u64) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let s = loopback_sender();
        let t = Instant::now();
        for i in 0..n {
            let due = Duration::from_secs_f64(i as f64 / rate as f64);
            if let Some(w) = due.checked_sub(t.elapsed()) {
                std::thread::sleep(w);
            }
            s.send_to(&dgram(i), group).unwrap();
        }
    })
}

/// What a customer received: the genuine numbers, and everything else.
fn tally(rx: &Receiver, n: u64) -> (BTreeSet<u64>, Vec<Vec<u8>>) {
    let got = rx.collect(n as usize, Duration::from_secs(5), Duration::from_secs(40));
    let (mut ok, mut bad) = (BTreeSet::new(), Vec::new());
    for d in got.into_values().flatten() {
        match genuine(&d) {
            Some(i) => {
                ok.insert(i);
            }
            None => bad.push(d),
        }
    }
    (ok, bad)
}

/// A keyed feed `prod` from `src` to `out`, with `front` between the relays.
struct Feed {
    p: Pair,
    src: SocketAddrV4,
    out: SocketAddrV4,
    _dir: tempfile::TempDir,
}

fn feed(tag: u8, extra_in: &[&str], extra_eg: &[&str], front: impl FnOnce(u16) -> u16) -> Feed {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "k", &[KEY]);
    let port = free_udp();
    let src = sa(&format!("239.60.{tag}.1:{port}"));
    let out = sa(&format!("239.61.{tag}.1:{port}"));
    let mut ein = vec!["--key-file", key.as_str()];
    ein.extend(extra_in);
    let mut eeg = vec!["--key-file", key.as_str()];
    eeg.extend(extra_eg);
    let p = pair_via(
        "prod",
        &[src],
        &format!("239.60.{tag}.0/24=239.61.{tag}.0/24"),
        &format!("239.61.{tag}.0/24"),
        &ein,
        &eeg,
        front,
    );
    Feed {
        p,
        src,
        out,
        _dir: dir,
    }
}

fn errors(http: u16, role: &str, reason: &str) -> f64 {
    metric(
        http,
        &format!(
            r#"mcast_relay_session_errors_total{{feed="prod",role="{role}",reason="{reason}"}}"#
        ),
    )
    .unwrap_or(0.0)
}

/// Which way bytes go through the middle, and how many sealed records went
/// that way on this connection before this frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Up,
    Down,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    conn: usize,
    dir: Dir,
    sealed: usize,
}

type Tamper = dyn Fn(Seen, &[u8]) -> Vec<u8> + Send + Sync;

/// A man in the middle: forwards each connection to `to`, one whole frame at
/// a time through `tamper`, which returns what to forward instead.
fn mitm(to: u16, tamper: impl Fn(Seen, &[u8]) -> Vec<u8> + Send + Sync + 'static) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let tamper: Arc<Tamper> = Arc::new(tamper);
    std::thread::spawn(move || {
        // Numbered by connections relayed: one the egress refused (not yet
        // listening) does not count.
        let mut conn = 0;
        for s in l.incoming().flatten().take(100) {
            let Ok(up) = TcpStream::connect(("127.0.0.1", to)) else {
                continue;
            };
            conn += 1;
            let conn = conn - 1;
            for (dir, a, b) in [
                (Dir::Up, s.try_clone().unwrap(), up.try_clone().unwrap()),
                (Dir::Down, up, s),
            ] {
                let t = tamper.clone();
                std::thread::spawn(move || relay_frames(conn, dir, a, b, &*t));
            }
        }
    });
    port
}

fn relay_frames(conn: usize, dir: Dir, mut a: TcpStream, mut b: TcpStream, t: &Tamper) {
    let (mut buf, mut chunk, mut sealed) = (Vec::new(), vec![0u8; 1 << 16], 0);
    'outer: loop {
        match a.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        let mut pos = 0;
        while buf.len() - pos >= 5 {
            let len = u32::from_be_bytes(buf[pos..pos + 4].try_into().unwrap()) as usize + 4;
            if buf.len() - pos < len {
                break;
            }
            let f = &buf[pos..pos + len];
            let out = t(Seen { conn, dir, sealed }, f);
            if f[4] == kind::SEALED {
                sealed += 1;
            }
            if b.write_all(&out).is_err() {
                break 'outer;
            }
            pos += len;
        }
        buf.drain(..pos);
    }
    let _ = b.shutdown(Shutdown::Both);
    let _ = a.shutdown(Shutdown::Both);
}

/// A record with a made-up tag around `frames`.
fn forged_record(frames: &[Frame<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let start = record::begin(&mut out);
    for f in frames {
        frame::encode(f, &mut out);
    }
    out.extend_from_slice(&[0; record::TAG_LEN]);
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    out[start + 4] = kind::SEALED;
    out
}

fn forged_data(src: SocketAddrV4, what: &str) -> Vec<u8> {
    let mut d = Vec::new();
    frame::encode_data(0, 0, src, src, what.as_bytes(), &mut d);
    d
}

#[test]
fn an_on_path_relay_cannot_inject_forge_replay_or_splice_datagrams() {
    let kept: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
    let k = kept.clone();
    let src_for_forgery = Arc::new(Mutex::new(None::<SocketAddrV4>));
    let s4f = src_for_forgery.clone();
    let f = feed(1, &[], &[], move |to| {
        mitm(to, move |s: Seen, frame: &[u8]| {
            let mut out = frame.to_vec();
            if s.dir != Dir::Up || frame[4] != kind::SEALED || s.sealed != 0 {
                return out;
            }
            let src = s4f.lock().unwrap().unwrap_or(sa("239.60.1.1:1"));
            match s.conn {
                0 => {
                    *k.lock().unwrap() = Some(frame.to_vec());
                    // A plain Data frame after the handshake, as against v1.
                    out.extend(forged_data(src, "FORGED by MITM 0"));
                }
                // A record with a made-up tag.
                1 => out.extend(forged_record(&[Frame::Data(frame::Data {
                    seq: 1 << 40,
                    recv_ns: 0,
                    group: src,
                    source: src,
                    payload: b"FORGED by MITM 1",
                })])),
                // The record just sent, again.
                2 => out.extend_from_slice(frame),
                // A record of another connection, spliced in.
                3 => out.extend(
                    k.lock()
                        .unwrap()
                        .clone()
                        .expect("connection 0 kept a record"),
                ),
                _ => {}
            }
            out
        })
    });
    *src_for_forgery.lock().unwrap() = Some(f.src);
    let rx = Receiver::join(&[f.out]);
    let n = 6000;
    send(f.src, n, 2000).join().unwrap();
    let (ok, bad) = tally(&rx, n);
    let h = f.p.eg_http;
    let (unexpected, bad_record) = (
        errors(h, "egress", "unexpected_frame"),
        errors(h, "egress", "bad_record"),
    );
    eprintln!(
        "injection: {} of {n} genuine at the customer, {} other; egress session errors: unexpected_frame {unexpected}, bad_record {bad_record}",
        ok.len(),
        bad.len()
    );
    assert!(
        bad.is_empty(),
        "forged bytes reached a customer: {:?}",
        &bad[..1]
    );
    assert_eq!(ok.len() as u64, n, "the window healed every cut");
    assert!(unexpected >= 1.0, "the injected plain frame was caught");
    assert!(
        bad_record >= 3.0,
        "the forged, replayed and spliced records were caught"
    );
}

#[test]
fn flipped_bits_never_reach_a_customer() {
    let flips = Arc::new(AtomicUsize::new(0));
    let fl = flips.clone();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let rng = Mutex::new(move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    });
    let f = feed(2, &[], &[], move |to| {
        mitm(to, move |s: Seen, frame: &[u8]| {
            let mut out = frame.to_vec();
            let r = (rng.lock().unwrap())();
            // After the handshake, one record in eight loses a bit, ten times in all.
            if s.dir == Dir::Up
                && frame[4] == kind::SEALED
                && r % 8 == 0
                && fl.fetch_add(1, Ordering::Relaxed) < 10
            {
                let bit = (r >> 8) as usize % (out.len() * 8);
                out[bit / 8] ^= 1 << (bit % 8);
            }
            out
        })
    });
    let rx = Receiver::join(&[f.out]);
    let n = 8000;
    send(f.src, n, 2000).join().unwrap();
    let (ok, bad) = tally(&rx, n);
    let h = f.p.eg_http;
    let caught: f64 = [
        "bad_record",
        "malformed",
        "record_too_long",
        "frame_across_records",
    ]
    .iter()
    .map(|r| errors(h, "egress", r))
    .sum();
    eprintln!(
        "bit flips: {} flipped, {} of {n} genuine at the customer, {} corrupted; egress caught {caught}",
        flips.load(Ordering::Relaxed).min(10),
        ok.len(),
        bad.len()
    );
    assert!(
        flips.load(Ordering::Relaxed) >= 10,
        "the test flipped its ten bits"
    );
    assert!(bad.is_empty(), "a corrupted datagram reached a customer");
    assert_eq!(ok.len() as u64, n);
    assert!(caught >= 1.0);
}

#[test]
fn a_forged_ack_cannot_silence_the_feed() {
    let f = feed(3, &[], &[], |to| {
        mitm(to, |s: Seen, frame: &[u8]| {
            let mut out = frame.to_vec();
            // Right after the Welcome record, as the attack on v1 did.
            if s.dir == Dir::Down && frame[4] == kind::SEALED && s.sealed == 0 {
                match s.conn {
                    0 => frame::encode(&Frame::Ack { next_seq: u64::MAX }, &mut out),
                    1 => out.extend(forged_record(&[Frame::Ack { next_seq: u64::MAX }])),
                    _ => {}
                }
            }
            out
        })
    });
    let rx = Receiver::join(&[f.out]);
    let n = 6000;
    send(f.src, n, 2000).join().unwrap();
    let (ok, bad) = tally(&rx, n);
    let h = f.p.in_http;
    let caught = (
        errors(h, "ingress", "unexpected_frame"),
        errors(h, "ingress", "bad_record"),
    );
    let status: serde_json::Value = serde_json::from_str(&get(h, "/status").unwrap().1).unwrap();
    let link = &status["links"][0];
    eprintln!(
        "forged Acks: {} of {n} at the customer; ingress caught {caught:?}; link {} behind {}",
        ok.len(),
        link["state"],
        link["behind"]
    );
    assert!(bad.is_empty());
    assert_eq!(ok.len() as u64, n, "the feed was not silenced");
    assert!(caught.0 >= 1.0 && caught.1 >= 1.0, "{caught:?}");
    assert_eq!(link["state"], "up");
    assert_eq!(link["behind"], 0);
    let logs = f.p.ingress.logs();
    assert!(
        !logs.contains("18446744073709551615"),
        "a bogus position was taken: {logs}"
    );
}

/// Read one whole frame from a blocking stream.
fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut v = vec![0u8; 4];
    s.read_exact(&mut v).ok()?;
    let n = u32::from_be_bytes(v[..4].try_into().unwrap()) as usize;
    if n > 1 << 20 {
        return None;
    }
    v.resize(4 + n, 0);
    s.read_exact(&mut v[4..]).ok()?;
    Some(v)
}

fn sealed(s: &mut Sealer, frames: &[Frame<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let start = record::begin(&mut out);
    for f in frames {
        frame::encode(f, &mut out);
    }
    s.seal(&mut out, start).unwrap();
    out
}

/// An egress that holds the key and lies: with a resume position beyond
/// anything sent, or with an Ack of 2^64-1 after the first record.
fn lying_egress(mut s: TcpStream, key: &Key, resume_from: u64, ack: Option<u64>) {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let lookup = |_: &str| {
        Some(FeedKeys {
            keys: vec![key.clone()],
        })
    };
    let mut hs = ServerHandshake::new(rand::random(), None);
    let Some(hello) = read_frame(&mut s) else {
        return;
    };
    let Ok(ServerStep::Send(ch)) = hs.on_frame(&hello, lookup) else {
        return;
    };
    s.write_all(&ch).unwrap();
    let Some(auth) = read_frame(&mut s) else {
        return;
    };
    let Ok(ServerStep::Accepted(a)) = hs.on_frame(&auth, lookup) else {
        return;
    };
    let mut sealer = Sealer::new(&a.keys.s2c, a.encrypt);
    let welcome = Frame::Welcome(Welcome {
        resume_from,
        heartbeat_ms: 1000,
    });
    let _ = s.write_all(&sealed(&mut sealer, &[welcome]));
    if let Some(next_seq) = ack
        && read_frame(&mut s).is_some()
    {
        let _ = s.write_all(&sealed(&mut sealer, &[Frame::Ack { next_seq }]));
    }
    let mut sink = [0u8; 4096];
    while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
}

#[test]
fn a_key_holder_cannot_stall_the_ingress_with_positions_it_never_sent() {
    let key = Key::parse(KEY).unwrap();
    let f = feed(4, &[], &[], move |to| {
        // The first two connections meet a lying egress, the rest the real one.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for (i, s) in l.incoming().flatten().enumerate().take(100) {
                let key = key.clone();
                std::thread::spawn(move || match i {
                    0 => lying_egress(s, &key, u64::MAX, None),
                    1 => lying_egress(s, &key, 0, Some(u64::MAX)),
                    _ => {
                        let Ok(up) = TcpStream::connect(("127.0.0.1", to)) else {
                            return;
                        };
                        for (mut a, mut b) in
                            [(s.try_clone().unwrap(), up.try_clone().unwrap()), (up, s)]
                        {
                            std::thread::spawn(move || {
                                let _ = std::io::copy(&mut a, &mut b);
                                let _ = b.shutdown(Shutdown::Both);
                            });
                        }
                    }
                });
            }
        });
        port
    });
    let rx = Receiver::join(&[f.out]);
    let n = 4000;
    send(f.src, n, 2000).join().unwrap();
    let (ok, bad) = tally(&rx, n);
    let h = f.p.in_http;
    let caught = (
        errors(h, "ingress", "resume_beyond_head"),
        errors(h, "ingress", "ack_beyond_sent"),
    );
    eprintln!(
        "lying egress: {} of {n} at the customer; ingress refused resume_beyond_head {}, ack_beyond_sent {}",
        ok.len(),
        caught.0,
        caught.1
    );
    assert!(bad.is_empty());
    assert_eq!(ok.len() as u64, n);
    assert_eq!(caught, (1.0, 1.0));
}

/// A key holder that sends what it likes as an ingress: returns the egress's
/// resume position and the Goodbye code it closed with.
fn rogue_ingress(port: u16, key: &Key, records: &[&[(u64, &str)]]) -> (u64, Option<u16>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (hs, hello) = ClientHandshake::start(
        ClientParams {
            feed: "prod".into(),
            sender: "rogue".into(),
            stream_id: 77,
            key: Some(key.clone()),
            encrypt: false,
            manifest: vec![],
        },
        rand::random(),
        None,
    );
    s.write_all(&hello).unwrap();
    let ch = read_frame(&mut s).unwrap();
    let (auth, keys) = hs.on_reply(&ch).unwrap();
    s.write_all(&auth).unwrap();
    let mut opener = Opener::new(&keys.s2c, false);
    let mut next_frames = |s: &mut TcpStream| -> Vec<Frame<'static>> {
        let Some(mut rec) = read_frame(s) else {
            return vec![];
        };
        let Ok(body) = opener.open(&mut rec) else {
            return vec![];
        };
        let (mut v, mut pos, b) = (Vec::new(), 0, &rec[body]);
        while let Ok(Some((f, n))) = frame::decode(&b[pos..], MAX_HANDSHAKE_FRAME) {
            if let Frame::Goodbye { code, reason } = f {
                v.push(Frame::Goodbye { code, reason });
            } else if let Frame::Welcome(w) = f {
                v.push(Frame::Welcome(w));
            }
            pos += n;
        }
        v
    };
    let resume = match next_frames(&mut s).first() {
        Some(Frame::Welcome(w)) => w.resume_from,
        other => panic!("no Welcome: {other:?}"),
    };
    let mut sealer = Sealer::new(&keys.c2s, false);
    let g = sa("239.60.5.1:1");
    for r in records {
        let mut out = Vec::new();
        let start = record::begin(&mut out);
        for (seq, what) in r.iter() {
            frame::encode_data(*seq, 0, g, g, what.as_bytes(), &mut out);
        }
        sealer.seal(&mut out, start).unwrap();
        let _ = s.write_all(&out);
    }
    for _ in 0..10 {
        for f in next_frames(&mut s) {
            if let Frame::Goodbye { code, .. } = f {
                return (resume, Some(code));
            }
        }
    }
    (resume, None)
}

#[test]
fn sequence_numbers_never_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = key_file(dir.path(), "k", &[KEY]);
    let (tcp, http) = (free_tcp(), free_tcp());
    let port = free_udp();
    let out = sa(&format!("239.61.5.1:{port}"));
    let listen = format!("prod=127.0.0.1:{tcp}");
    let http_s = format!("127.0.0.1:{http}");
    let map = format!("239.60.5.1:1=239.61.5.1:{port}");
    let _eg = Proc::spawn(
        "egress",
        &[
            "egress",
            "--listen",
            &listen,
            "--iface",
            "127.0.0.1",
            "--ttl",
            "1",
            "--allow",
            "239.61.5.0/24",
            "--map",
            &map,
            "--http",
            &http_s,
            "--key-file",
            &key_path,
        ],
    );
    assert!(eventually(Duration::from_secs(10), || get(http, "/readyz")
        .is_some_and(|r| r.0 == 200)));
    let rx = Receiver::join(&[out]);
    let key = Key::parse(KEY).unwrap();
    let top = u64::MAX;
    let first = rogue_ingress(
        tcp,
        &key,
        &[&[(top - 1, "wrap 1"), (top, "wrap 2")], &[(0, "wrap 3")]],
    );
    let second = rogue_ingress(tcp, &key, &[&[(0, "wrap 4")]]);
    let got = rx.collect(4, Duration::from_secs(2), Duration::from_secs(5));
    let got: Vec<String> = got
        .into_values()
        .flatten()
        .map(|d| String::from_utf8_lossy(&d).into_owned())
        .collect();
    let m = |l: &str| metric(http, l).unwrap_or(-1.0);
    let gaps = m(r#"mcast_relay_gaps_total{feed="prod",role="egress"}"#);
    eprintln!(
        "sequence wrap: customer got {got:?}; first connection resumed at {}, goodbye {:?}; second resumed at {}, goodbye {:?}; gaps_total {gaps}",
        first.0, first.1, second.0, second.1
    );
    assert_eq!(
        got,
        ["wrap 1"],
        "nothing after 2^64-2, and nothing earlier again"
    );
    assert_eq!(first, (0, Some(Reject::Protocol.code())));
    assert_eq!(second, (u64::MAX, Some(Reject::Protocol.code())));
    assert_eq!(gaps, 0.0);
    assert_eq!(errors(http, "egress", "seq_exhausted"), 1.0);
    assert_eq!(errors(http, "egress", "seq_below_resume"), 1.0);
}

/// A TLS-terminating middlebox with a certificate the ingress trusts:
/// it decrypts, relays the plaintext to the egress over its own TLS session.
fn tls_middlebox(to: u16, ca: &str, cert: &str, key: &str) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, PrivateKeyDer::from_pem_file(key).unwrap())
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(l).unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
            let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
            for _ in 0..50 {
                let Ok((s, _)) = l.accept().await else { return };
                let (acceptor, connector) = (acceptor.clone(), connector.clone());
                tokio::spawn(async move {
                    let Ok(mut down) = acceptor.accept(s).await else {
                        return;
                    };
                    let Ok(tcp) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await else {
                        return;
                    };
                    let name = ServerName::try_from("localhost").unwrap();
                    let Ok(mut up) = connector.connect(name, tcp).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                });
            }
        });
    });
    port
}

#[test]
fn a_tls_terminating_middlebox_cannot_relay_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let [ca, srv, srv_key, _, _] = certs(dir.path());
    let key = key_file(dir.path(), "k", &[KEY]);
    let (tcp, eg_http, in_http) = (free_tcp(), free_tcp(), free_tcp());
    let port = free_udp();
    let (src, out) = (
        sa(&format!("239.60.6.1:{port}")),
        sa(&format!("239.61.6.1:{port}")),
    );
    let (listen, eg_h, in_h) = (
        format!("prod=127.0.0.1:{tcp}"),
        format!("127.0.0.1:{eg_http}"),
        format!("127.0.0.1:{in_http}"),
    );
    let _eg = Proc::spawn(
        "egress",
        &[
            "egress",
            "--listen",
            &listen,
            "--iface",
            "127.0.0.1",
            "--ttl",
            "1",
            "--allow",
            "239.61.6.0/24",
            "--map",
            "239.60.6.0/24=239.61.6.0/24",
            "--http",
            &eg_h,
            "--key-file",
            &key,
            "--tls-cert",
            &srv,
            "--tls-key",
            &srv_key,
        ],
    );
    let mb = tls_middlebox(tcp, &ca, &srv, &srv_key);
    let dest = format!("localhost:{mb}");
    let (g, ing) = (src.to_string(), "ingress");
    let _in = Proc::spawn(
        ing,
        &[
            "ingress",
            "--feed",
            "prod",
            "--iface",
            "lo",
            "--group",
            &g,
            "--dest",
            &dest,
            "--http",
            &in_h,
            "--key-file",
            &key,
            "--tls-ca",
            &ca,
        ],
    );
    let bad_proof = || {
        metric(
            eg_http,
            r#"mcast_relay_handshake_failures_total{feed="prod",role="egress",reason="bad_proof"}"#,
        )
        .unwrap_or(0.0)
    };
    assert!(
        eventually(Duration::from_secs(10), || bad_proof() >= 1.0),
        "the egress refused the relayed proof"
    );
    let rx = Receiver::join(&[out]);
    send(src, 500, 1000).join().unwrap();
    let got = rx.collect(1, Duration::from_secs(2), Duration::from_secs(3));
    let status: serde_json::Value =
        serde_json::from_str(&get(in_http, "/status").unwrap().1).unwrap();
    eprintln!(
        "TLS middlebox: egress bad_proof {}, customer received {}, ingress link {} ({})",
        bad_proof(),
        got.values().map(Vec::len).sum::<usize>(),
        status["links"][0]["state"],
        status["links"][0]["last_error"]
    );
    assert!(got.is_empty(), "nothing crossed the middlebox");
    assert_eq!(status["links"][0]["state"], "refused");
    assert_eq!(
        metric(
            eg_http,
            r#"mcast_relay_connected_peers{feed="prod",role="egress"}"#
        ),
        Some(0.0)
    );
}
