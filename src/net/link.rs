//! TCP links: connect with backoff to every address a name resolves to, and the
//! socket options every link wants.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, lookup_host};

use crate::wire::buffer::FrameBuf;
use crate::wire::frame::{self, FrameError};
use crate::wire::handshake::{
    Accepted, ClientHandshake, FeedKeys, Goodbye, HandshakeError, Reject, ServerHandshake,
    ServerStep,
};
use crate::wire::kdf::SessionKeys;
use crate::wire::session::End;

/// Capped exponential backoff with jitter ("equal jitter": half fixed, half random),
/// so a fleet of ingresses does not reconnect in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The wait before the next attempt; doubles each time up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let half = base / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    pub fn reset(&mut self) {
        self.next = self.min;
    }

    /// Wait the longest from now on.
    pub fn max_out(&mut self) {
        self.next = self.max;
    }
}

/// Why no connection came of a destination.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{dest}: cannot resolve: {source}")]
    Resolve { dest: String, source: io::Error },
    #[error("{dest} resolved to no address")]
    NoAddress { dest: String },
    #[error("{addr}: {source}")]
    Refused {
        addr: std::net::SocketAddr,
        source: io::Error,
    },
    #[error("{addr}: connect timed out after {after:?}")]
    TimedOut {
        addr: std::net::SocketAddr,
        after: Duration,
    },
    #[error("socket options: {0}")]
    Tune(#[source] io::Error),
}

/// Resolve `host:port` afresh and try each address in turn (an NLB's addresses
/// change when a zone fails); the error is the last address's. The stream
/// has TCP_NODELAY set.
pub async fn connect(dest: &str, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let addrs: Vec<_> = lookup_host(dest)
        .await
        .map_err(|source| ConnectError::Resolve {
            dest: dest.into(),
            source,
        })?
        .collect();
    let mut last = ConnectError::NoAddress { dest: dest.into() };
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                tune(&s).map_err(ConnectError::Tune)?;
                return Ok(s);
            }
            Ok(Err(source)) => last = ConnectError::Refused { addr, source },
            Err(_) => {
                last = ConnectError::TimedOut {
                    addr,
                    after: timeout,
                }
            }
        }
    }
    Err(last)
}

/// Options for every link socket: no Nagle delay, and kernel keepalive as a
/// backstop under the protocol's own heartbeats.
pub fn tune(s: &TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    let ka = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(10))
        .with_interval(Duration::from_secs(2));
    socket2::SockRef::from(s).set_tcp_keepalive(&ka)
}

/// Why a link ended or never came up.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{0}")]
    Connect(#[from] ConnectError),
    #[error("{0}")]
    Io(#[from] io::Error),
    /// We refused the peer during the handshake (and told it why).
    #[error("{}: {detail}", reject.label())]
    Refuse { reject: Reject, detail: String },
    /// The peer refused us during the handshake.
    #[error("refused: {0}")]
    Refused(Goodbye),
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
    #[error("peer closed the connection")]
    Closed,
    /// The established session ended.
    #[error("{0}")]
    Session(End),
    #[error("not an mcast-relay peer: this looks like {0} (wrong port, or TLS on one side only?)")]
    Foreign(&'static str),
    #[error("TLS: {0}")]
    Tls(io::Error),
    #[error("{0} took longer than {1:?}")]
    Timeout(&'static str, Duration),
}

impl LinkError {
    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            LinkError::Connect(ConnectError::TimedOut { .. }) => "timeout",
            LinkError::Connect(_) => "connect",
            LinkError::Io(_) => "io",
            LinkError::Refuse { reject, .. } => reject.label(),
            LinkError::Refused(_) => "refused",
            LinkError::Frame(e) => e.reason(),
            LinkError::Closed => "closed",
            LinkError::Session(e) => e.label(),
            LinkError::Foreign(what) => what,
            LinkError::Tls(_) => "tls",
            LinkError::Timeout(..) => "timeout",
        }
    }

    /// The Goodbye code the peer sent, if it refused us or ended the session.
    pub fn peer_reject(&self) -> Option<Reject> {
        match self {
            LinkError::Refused(g) => g.reject(),
            LinkError::Session(e) => e.peer_reject(),
            _ => None,
        }
    }
}

impl From<HandshakeError> for LinkError {
    fn from(e: HandshakeError) -> Self {
        match e {
            HandshakeError::Refuse { reject, detail } => LinkError::Refuse { reject, detail },
            HandshakeError::Refused(g) => LinkError::Refused(g),
        }
    }
}

/// Write `bytes` and flush.
pub async fn send<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> io::Result<()> {
    w.write_all(bytes).await?;
    w.flush().await
}

/// Read until one whole handshake frame is buffered; returns its range in `fb.bytes()`.
pub async fn recv_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    fb: &mut FrameBuf,
) -> Result<std::ops::Range<usize>, LinkError> {
    loop {
        if let Some(range) = fb.next_range()? {
            return Ok(range);
        }
        let n = r.read(fb.unfilled()).await?;
        if n == 0 {
            return Err(LinkError::Closed);
        }
        fb.filled(n);
    }
}

/// Run the ingress side of the handshake on a fresh stream: Hello, Challenge,
/// Auth. What follows is the session, whose first record holds the Welcome;
/// bytes already read past the Challenge stay in `fb`.
pub async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    fb: &mut FrameBuf,
    hs: ClientHandshake,
    hello: &[u8],
) -> Result<SessionKeys, LinkError> {
    send(s, hello).await?;
    let reply = recv_frame(s, fb).await?;
    let (auth, keys) = hs.on_reply(&fb.bytes()[reply])?;
    send(s, &auth).await?;
    Ok(keys)
}

/// Run the egress side of the handshake; on refusal, tell the peer why. The
/// error comes with the feed the peer named, if it got that far. `progress`
/// hears of each whole frame: whether the peer has presented a known key id.
pub async fn server_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    fb: &mut FrameBuf,
    hs: &mut ServerHandshake,
    lookup: impl Fn(&str) -> Option<FeedKeys>,
    progress: impl Fn(bool),
) -> Result<Accepted, (Option<String>, LinkError)> {
    loop {
        let named = |hs: &ServerHandshake| hs.feed().map(str::to_string);
        let range = match recv_frame(s, fb).await {
            Ok(r) => r,
            Err(LinkError::Frame(e)) => {
                let err = frame::sniff(fb.peek()).map_or(LinkError::Frame(e), LinkError::Foreign);
                return Err((named(hs), err));
            }
            Err(e) => return Err((named(hs), e)),
        };
        let step = hs.on_frame(&fb.bytes()[range], &lookup);
        progress(hs.presented_known_key());
        match step {
            Ok(ServerStep::Send(reply)) => {
                send(s, &reply).await.map_err(|e| (named(hs), e.into()))?
            }
            Ok(ServerStep::Accepted(a)) => return Ok(*a),
            Err(HandshakeError::Refuse { reject, detail }) => {
                let bye = reject.goodbye_bytes(&detail);
                let _ = tokio::time::timeout(Duration::from_secs(1), send(s, &bye)).await;
                return Err((named(hs), LinkError::Refuse { reject, detail }));
            }
            Err(e) => return Err((named(hs), e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let mut last = first;
        for _ in 0..20 {
            last = b.next_delay();
            assert!(last <= Duration::from_secs(5));
        }
        assert!(last >= Duration::from_millis(2500));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn tries_every_address_and_reports_the_last_error() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let s = connect(&format!("localhost:{port}"), Duration::from_secs(1))
            .await
            .unwrap();
        assert!(s.nodelay().unwrap());
        drop(l);
        // localhost may be ::1 then 127.0.0.1: the error is the last one's.
        let addrs: Vec<_> = lookup_host(format!("localhost:{port}"))
            .await
            .unwrap()
            .collect();
        match connect(&format!("localhost:{port}"), Duration::from_secs(1)).await {
            Err(ConnectError::Refused { addr, source }) => {
                assert_eq!(Some(&addr), addrs.last());
                assert_eq!(source.kind(), io::ErrorKind::ConnectionRefused);
            }
            other => panic!("{other:?}"),
        }
        match connect("no-such-host.invalid:1", Duration::from_secs(1)).await {
            Err(ConnectError::Resolve { dest, .. }) => assert_eq!(dest, "no-such-host.invalid:1"),
            other => panic!("{other:?}"),
        }
    }
}
