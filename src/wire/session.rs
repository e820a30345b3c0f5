//! Session state with no sockets: the handshake of each side, heartbeats and
//! dead-peer detection, and the egress's duplicate filter. The I/O layer feeds
//! frames and clock readings in and sends what comes out.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use super::auth::{self, Key, Role};
use super::frame::{
    Auth, AuthMethod, Challenge, Frame, Hello, KEY_ID_LEN, NONCE_LEN, VERSION, Welcome,
};

/// Why a handshake or session ended. `code` travels in a Goodbye frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    BadVersion,
    UnknownFeed,
    AuthRequired,
    AuthUnavailable,
    UnknownKey,
    BadProof,
    Unexpected,
    Timeout,
    Loop,
    TakenOver,
    ShuttingDown,
    Malformed,
    TooManyConnections,
    /// The peer said goodbye with this code.
    Peer(u16),
}

impl Reject {
    pub fn code(self) -> u16 {
        match self {
            Reject::BadVersion => 1,
            Reject::UnknownFeed => 2,
            Reject::AuthRequired => 3,
            Reject::AuthUnavailable => 4,
            Reject::UnknownKey => 5,
            Reject::BadProof => 6,
            Reject::Unexpected => 7,
            Reject::Timeout => 8,
            Reject::Loop => 9,
            Reject::TakenOver => 10,
            Reject::ShuttingDown => 11,
            Reject::Malformed => 12,
            Reject::TooManyConnections => 13,
            Reject::Peer(c) => c,
        }
    }

    /// A short label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Reject::BadVersion => "bad_version",
            Reject::UnknownFeed => "unknown_feed",
            Reject::AuthRequired => "auth_required",
            Reject::AuthUnavailable => "auth_unavailable",
            Reject::UnknownKey => "unknown_key",
            Reject::BadProof => "bad_proof",
            Reject::Unexpected => "unexpected_frame",
            Reject::Timeout => "timeout",
            Reject::Loop => "loop",
            Reject::TakenOver => "taken_over",
            Reject::ShuttingDown => "shutting_down",
            Reject::Malformed => "malformed",
            Reject::TooManyConnections => "too_many_connections",
            Reject::Peer(_) => "peer_goodbye",
        }
    }

    pub fn goodbye(self, detail: &str) -> Frame<'static> {
        Frame::Goodbye {
            code: self.code(),
            reason: format!("{}: {detail}", self.label()),
        }
    }
}

/// The ingress side of the handshake.
pub struct ClientHandshake {
    feed: String,
    key: Option<Key>,
    nonce: [u8; NONCE_LEN],
    server_nonce: Option<[u8; NONCE_LEN]>,
}

/// What to do after a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientStep {
    Send(Frame<'static>),
    Established(Welcome),
}

impl ClientHandshake {
    /// Start a handshake; send the returned Hello first.
    pub fn start(
        feed: &str,
        stream_id: u64,
        key: Option<Key>,
        nonce: [u8; NONCE_LEN],
        manifest: Vec<SocketAddrV4>,
    ) -> (Self, Frame<'static>) {
        let hello = Hello {
            version: VERSION,
            auth: if key.is_some() {
                AuthMethod::HmacSha256
            } else {
                AuthMethod::None
            },
            stream_id,
            nonce,
            key_id: key.as_ref().map(Key::id).unwrap_or([0; KEY_ID_LEN]),
            feed: feed.to_string(),
            manifest,
        };
        let hs = ClientHandshake {
            feed: feed.to_string(),
            key,
            nonce,
            server_nonce: None,
        };
        (hs, Frame::Hello(hello))
    }

    pub fn on_frame(&mut self, frame: &Frame<'_>) -> Result<ClientStep, (Reject, String)> {
        match (frame, self.server_nonce) {
            (Frame::Goodbye { code, reason }, _) => Err((Reject::Peer(*code), reason.clone())),
            (Frame::Challenge(c), None) => {
                let proof = match &self.key {
                    Some(key) => {
                        if !auth::verify(
                            key,
                            Role::Server,
                            &self.feed,
                            &self.nonce,
                            &c.nonce,
                            &c.proof,
                        ) {
                            return Err((
                                Reject::BadProof,
                                "the egress did not prove it holds our key".into(),
                            ));
                        }
                        auth::proof(key, Role::Client, &self.feed, &self.nonce, &c.nonce).to_vec()
                    }
                    None => Vec::new(),
                };
                self.server_nonce = Some(c.nonce);
                Ok(ClientStep::Send(Frame::Auth(Auth { proof })))
            }
            (Frame::Welcome(w), Some(_)) => Ok(ClientStep::Established(*w)),
            _ => Err((
                Reject::Unexpected,
                format!("unexpected {} during handshake", name(frame)),
            )),
        }
    }
}

/// What a server knows about a feed it serves.
#[derive(Debug, Clone, Default)]
pub struct FeedKeys {
    /// Empty: the feed takes unauthenticated senders. Otherwise current and next key.
    pub keys: Vec<Key>,
}

/// The egress side of the handshake.
pub struct ServerHandshake {
    nonce: [u8; NONCE_LEN],
    hello: Option<(Hello, Option<Key>)>,
}

/// A sender that proved itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub feed: String,
    pub stream_id: u64,
    pub manifest: Vec<SocketAddrV4>,
    pub authenticated: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ServerStep {
    Send(Frame<'static>),
    /// Send a Welcome (its `resume_from` is the I/O layer's to fill) and go on.
    Accepted(Accepted),
}

impl ServerHandshake {
    pub fn new(nonce: [u8; NONCE_LEN]) -> Self {
        ServerHandshake { nonce, hello: None }
    }

    /// The feed the peer named, once its Hello was accepted.
    pub fn feed(&self) -> Option<&str> {
        self.hello.as_ref().map(|(h, _)| h.feed.as_str())
    }

    /// `lookup` finds a feed by name; `None` means this server does not carry it.
    pub fn on_frame(
        &mut self,
        frame: &Frame<'_>,
        lookup: impl Fn(&str) -> Option<FeedKeys>,
    ) -> Result<ServerStep, (Reject, String)> {
        match (frame, &self.hello) {
            (Frame::Hello(h), None) => {
                if h.version != VERSION {
                    return Err((
                        Reject::BadVersion,
                        format!(
                            "version {} not supported; this egress speaks {VERSION}",
                            h.version
                        ),
                    ));
                }
                let Some(feed) = lookup(&h.feed) else {
                    return Err((
                        Reject::UnknownFeed,
                        format!("no feed {:?} on this port", h.feed),
                    ));
                };
                let key = match (feed.keys.is_empty(), h.auth) {
                    (true, AuthMethod::None) => None,
                    (true, AuthMethod::HmacSha256) => {
                        return Err((
                            Reject::AuthUnavailable,
                            format!("feed {:?} has no key on this egress", h.feed),
                        ));
                    }
                    (false, AuthMethod::None) => {
                        return Err((
                            Reject::AuthRequired,
                            format!("feed {:?} requires a key", h.feed),
                        ));
                    }
                    (false, AuthMethod::HmacSha256) => {
                        match feed.keys.iter().find(|k| k.id() == h.key_id) {
                            Some(k) => Some(k.clone()),
                            None => {
                                return Err((
                                    Reject::UnknownKey,
                                    format!(
                                        "key id {} is not a key of feed {:?}",
                                        hex::encode(h.key_id),
                                        h.feed
                                    ),
                                ));
                            }
                        }
                    }
                };
                let proof = key
                    .as_ref()
                    .map(|k| auth::proof(k, Role::Server, &h.feed, &h.nonce, &self.nonce).to_vec())
                    .unwrap_or_default();
                self.hello = Some((h.clone(), key));
                Ok(ServerStep::Send(Frame::Challenge(Challenge {
                    nonce: self.nonce,
                    proof,
                })))
            }
            (Frame::Auth(a), Some((h, key))) => {
                if let Some(key) = key
                    && !auth::verify(key, Role::Client, &h.feed, &h.nonce, &self.nonce, &a.proof)
                {
                    return Err((
                        Reject::BadProof,
                        "the sender's proof does not match the key".into(),
                    ));
                }
                Ok(ServerStep::Accepted(Accepted {
                    feed: h.feed.clone(),
                    stream_id: h.stream_id,
                    manifest: h.manifest.clone(),
                    authenticated: key.is_some(),
                }))
            }
            _ => Err((
                Reject::Unexpected,
                format!("unexpected {} during handshake", name(frame)),
            )),
        }
    }
}

fn name(frame: &Frame<'_>) -> &'static str {
    match frame {
        Frame::Hello(_) => "Hello",
        Frame::Challenge(_) => "Challenge",
        Frame::Auth(_) => "Auth",
        Frame::Welcome(_) => "Welcome",
        Frame::Data(_) => "Data",
        Frame::Ack { .. } => "Ack",
        Frame::Heartbeat { .. } => "Heartbeat",
        Frame::Goodbye { .. } => "Goodbye",
    }
}

/// Heartbeats and dead-peer detection for one side of a session.
#[derive(Debug, Clone)]
pub struct Liveness {
    pub interval: Duration,
    pub dead_after: Duration,
    last_rx: Instant,
    last_tx: Instant,
}

/// Default heartbeat interval while idle.
pub const HEARTBEAT: Duration = Duration::from_millis(1000);
/// A peer silent this long is dead (heartbeats every second: within 3 s).
pub const DEAD_AFTER: Duration = Duration::from_millis(2500);

impl Liveness {
    pub fn new(now: Instant, interval: Duration, dead_after: Duration) -> Self {
        Liveness {
            interval,
            dead_after,
            last_rx: now,
            last_tx: now,
        }
    }
    pub fn on_rx(&mut self, now: Instant) {
        self.last_rx = now;
    }
    pub fn on_tx(&mut self, now: Instant) {
        self.last_tx = now;
    }
    pub fn heartbeat_due(&self, now: Instant) -> bool {
        now.duration_since(self.last_tx) >= self.interval
    }
    pub fn is_dead(&self, now: Instant) -> bool {
        now.duration_since(self.last_rx) >= self.dead_after
    }
    /// When something next needs doing, if nothing arrives meanwhile.
    pub fn next_deadline(&self) -> Instant {
        (self.last_tx + self.interval).min(self.last_rx + self.dead_after)
    }
}

/// The egress's memory of what it emitted for a feed, so replays after a
/// reconnect are not emitted twice.
#[derive(Debug, Clone, Default)]
pub struct Emitted {
    stream_id: u64,
    next_seq: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Emit it; `gap` datagrams before it never came.
    Emit {
        gap: u64,
    },
    Duplicate,
}

impl Emitted {
    /// A sender of `stream_id` connected: returns the Welcome's `resume_from`.
    pub fn begin(&mut self, stream_id: u64) -> u64 {
        if self.stream_id != stream_id {
            self.stream_id = stream_id;
            self.next_seq = None;
        }
        self.next_seq.unwrap_or(0)
    }

    pub fn check(&mut self, seq: u64) -> Verdict {
        match self.next_seq {
            Some(n) if seq < n => Verdict::Duplicate,
            Some(n) => {
                self.next_seq = Some(seq + 1);
                Verdict::Emit { gap: seq - n }
            }
            None => {
                self.next_seq = Some(seq + 1);
                Verdict::Emit { gap: 0 }
            }
        }
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq.unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(client_key: Option<&str>, server_keys: &[&str]) -> Result<Accepted, Reject> {
        let keys: Vec<Key> = server_keys.iter().map(|k| Key::parse(k).unwrap()).collect();
        let lookup = |f: &str| (f == "prod").then(|| FeedKeys { keys: keys.clone() });
        let (mut c, hello) = ClientHandshake::start(
            "prod",
            42,
            client_key.map(|k| Key::parse(k).unwrap()),
            [7; 32],
            vec![],
        );
        let mut s = ServerHandshake::new([9; 32]);
        let ServerStep::Send(challenge) = s.on_frame(&hello, lookup).map_err(|e| e.0)? else {
            panic!("expected a challenge")
        };
        let ClientStep::Send(auth) = c.on_frame(&challenge).map_err(|e| e.0)? else {
            panic!("expected auth")
        };
        let ServerStep::Accepted(acc) = s.on_frame(&auth, lookup).map_err(|e| e.0)? else {
            panic!("expected acceptance")
        };
        let welcome = Frame::Welcome(Welcome {
            resume_from: 0,
            heartbeat_ms: 1000,
        });
        assert!(matches!(
            c.on_frame(&welcome),
            Ok(ClientStep::Established(_))
        ));
        Ok(acc)
    }

    const K1: &str = "first-key-0123456789";
    const K2: &str = "second-key-0123456789";

    #[test]
    fn handshake_outcomes() {
        assert!(run(None, &[]).is_ok());
        assert!(run(Some(K1), &[K1]).unwrap().authenticated);
        assert!(
            run(Some(K2), &[K1, K2]).is_ok(),
            "next key accepted during rotation"
        );
        assert_eq!(run(None, &[K1]).unwrap_err(), Reject::AuthRequired);
        assert_eq!(run(Some(K1), &[]).unwrap_err(), Reject::AuthUnavailable);
        assert_eq!(run(Some(K2), &[K1]).unwrap_err(), Reject::UnknownKey);
    }

    #[test]
    fn forged_client_proof_is_refused() {
        let key = Key::parse(K1).unwrap();
        let lookup = |_: &str| {
            Some(FeedKeys {
                keys: vec![key.clone()],
            })
        };
        let (_, hello) = ClientHandshake::start("prod", 1, Some(key.clone()), [7; 32], vec![]);
        let mut s = ServerHandshake::new([9; 32]);
        s.on_frame(&hello, lookup).unwrap();
        let forged = Frame::Auth(Auth { proof: vec![0; 32] });
        assert_eq!(s.on_frame(&forged, lookup).unwrap_err().0, Reject::BadProof);
    }

    #[test]
    fn client_refuses_a_server_without_the_key() {
        let (mut c, _) =
            ClientHandshake::start("prod", 1, Some(Key::parse(K1).unwrap()), [7; 32], vec![]);
        let fake = Frame::Challenge(Challenge {
            nonce: [1; 32],
            proof: vec![0; 32],
        });
        assert_eq!(c.on_frame(&fake).unwrap_err().0, Reject::BadProof);
    }

    #[test]
    fn data_before_auth_is_refused() {
        let mut s = ServerHandshake::new([9; 32]);
        let d = Frame::Ack { next_seq: 1 };
        assert_eq!(
            s.on_frame(&d, |_| Some(FeedKeys::default())).unwrap_err().0,
            Reject::Unexpected
        );
    }

    #[test]
    fn liveness_timeline() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0, HEARTBEAT, DEAD_AFTER);
        assert!(!l.heartbeat_due(t0 + Duration::from_millis(999)));
        assert!(l.heartbeat_due(t0 + HEARTBEAT));
        l.on_tx(t0 + HEARTBEAT);
        assert!(!l.is_dead(t0 + Duration::from_millis(2499)));
        assert!(l.is_dead(t0 + DEAD_AFTER));
        l.on_rx(t0 + Duration::from_secs(2));
        assert!(!l.is_dead(t0 + Duration::from_secs(4)));
        assert_eq!(l.next_deadline(), t0 + Duration::from_secs(2));
    }

    #[test]
    fn duplicates_and_gaps() {
        let mut e = Emitted::default();
        assert_eq!(e.begin(5), 0);
        assert_eq!(e.check(10), Verdict::Emit { gap: 0 });
        assert_eq!(e.check(11), Verdict::Emit { gap: 0 });
        assert_eq!(e.check(11), Verdict::Duplicate);
        assert_eq!(e.check(14), Verdict::Emit { gap: 2 });
        assert_eq!(e.begin(5), 15, "same stream resumes");
        assert_eq!(e.check(12), Verdict::Duplicate);
        assert_eq!(e.begin(6), 0, "a new stream starts over");
        assert_eq!(e.check(0), Verdict::Emit { gap: 0 });
    }
}
