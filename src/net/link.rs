//! TCP links: connect with backoff to every address a name resolves to, and the
//! socket options every link wants.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, lookup_host};

use crate::wire::buffer::FrameBuf;
use crate::wire::frame::{self, Frame, FrameError, NONCE_LEN, Welcome};
use crate::wire::session::{
    Accepted, ClientHandshake, ClientStep, FeedKeys, Reject, ServerHandshake, ServerStep,
};

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

/// Resolve `host:port` afresh and try each address in turn (an NLB's addresses
/// change when a zone fails). The stream has TCP_NODELAY set.
pub async fn connect(dest: &str, timeout: Duration) -> io::Result<TcpStream> {
    let addrs: Vec<_> = lookup_host(dest).await?.collect();
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{dest} resolved to no address"),
    );
    for a in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(a)).await {
            Ok(Ok(s)) => {
                tune(&s)?;
                return Ok(s);
            }
            Ok(Err(e)) => last = io::Error::new(e.kind(), format!("{a}: {e}")),
            Err(_) => {
                last = io::Error::new(io::ErrorKind::TimedOut, format!("{a}: connect timed out"))
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
    Io(#[from] io::Error),
    #[error("{}: {detail}", reject.label())]
    Rejected { reject: Reject, detail: String },
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
    #[error("peer closed the connection")]
    Closed,
    #[error("peer silent for {0:?}, presumed dead")]
    Dead(Duration),
    #[error("not an mcast-relay peer: this looks like {0} (wrong port, or TLS on one side only?)")]
    Foreign(&'static str),
    #[error("TLS: {0}")]
    Tls(io::Error),
}

impl LinkError {
    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            LinkError::Io(e) if e.kind() == io::ErrorKind::TimedOut => "timeout",
            LinkError::Io(_) => "io",
            LinkError::Rejected { reject, .. } => reject.label(),
            LinkError::Frame(e) => e.reason(),
            LinkError::Closed => "closed",
            LinkError::Dead(_) => "dead_peer",
            LinkError::Foreign(what) => what,
            LinkError::Tls(_) => "tls",
        }
    }

    fn rejected(r: (Reject, String)) -> Self {
        LinkError::Rejected {
            reject: r.0,
            detail: r.1,
        }
    }
}

/// Encode and write one frame.
pub async fn send<W: AsyncWrite + Unpin>(w: &mut W, frame: &Frame<'_>) -> io::Result<()> {
    let mut buf = Vec::with_capacity(64);
    frame::encode(frame, &mut buf);
    w.write_all(&buf).await?;
    w.flush().await
}

/// Read the next control frame (anything but Data) into an owned value.
pub async fn recv_control<R: AsyncRead + Unpin>(
    r: &mut R,
    fb: &mut FrameBuf,
) -> Result<Frame<'static>, LinkError> {
    loop {
        if let Some(f) = fb.next_frame()? {
            return owned(f).ok_or(LinkError::Rejected {
                reject: Reject::Unexpected,
                detail: "data before the handshake finished".into(),
            });
        }
        let n = r.read(fb.unfilled()).await?;
        if n == 0 {
            return Err(LinkError::Closed);
        }
        fb.filled(n);
    }
}

fn owned(f: Frame<'_>) -> Option<Frame<'static>> {
    Some(match f {
        Frame::Hello(h) => Frame::Hello(h),
        Frame::Challenge(c) => Frame::Challenge(c),
        Frame::Auth(a) => Frame::Auth(a),
        Frame::Welcome(w) => Frame::Welcome(w),
        Frame::Ack { next_seq } => Frame::Ack { next_seq },
        Frame::Heartbeat { sent_ns } => Frame::Heartbeat { sent_ns },
        Frame::Goodbye { code, reason } => Frame::Goodbye { code, reason },
        Frame::Data(_) => return None,
    })
}

/// Run the ingress side of the handshake on a fresh stream.
pub async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    fb: &mut FrameBuf,
    mut hs: ClientHandshake,
    hello: Frame<'static>,
) -> Result<Welcome, LinkError> {
    send(s, &hello).await?;
    loop {
        let f = recv_control(s, fb).await?;
        match hs.on_frame(&f).map_err(LinkError::rejected)? {
            ClientStep::Send(reply) => send(s, &reply).await?,
            ClientStep::Established(w) => return Ok(w),
        }
    }
}

/// Run the egress side of the handshake; on refusal, tell the peer why. The
/// error comes with the feed the peer named, if it got that far.
pub async fn server_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    fb: &mut FrameBuf,
    nonce: [u8; NONCE_LEN],
    lookup: impl Fn(&str) -> Option<FeedKeys>,
) -> Result<Accepted, (Option<String>, LinkError)> {
    let mut hs = ServerHandshake::new(nonce);
    loop {
        let f = match recv_control(s, fb).await {
            Ok(f) => f,
            Err(LinkError::Frame(e)) => {
                let err = frame::sniff(fb.peek()).map_or(LinkError::Frame(e), LinkError::Foreign);
                return Err((hs.feed().map(str::to_string), err));
            }
            Err(e) => return Err((hs.feed().map(str::to_string), e)),
        };
        let step = hs.on_frame(&f, &lookup);
        let named = hs.feed().map(str::to_string).or_else(|| match &f {
            Frame::Hello(h) => Some(h.feed.clone()),
            _ => None,
        });
        match step {
            Ok(ServerStep::Send(reply)) => send(s, &reply).await.map_err(|e| (named, e.into()))?,
            Ok(ServerStep::Accepted(a)) => return Ok(a),
            Err((reject, detail)) => {
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), send(s, &reject.goodbye(&detail)))
                        .await;
                return Err((named, LinkError::Rejected { reject, detail }));
            }
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
        let e = connect(&format!("127.0.0.1:{port}"), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(e.to_string().contains(&port.to_string()), "{e}");
    }
}
