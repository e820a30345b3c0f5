//! The handshake of protocol v2, both sides, with no sockets.
//!
//! ```text
//! ingress                                   egress
//!   Hello(version, auth, stream, nonce_c, key_id, feed, manifest, flags, sender) ->
//!                                        <- Challenge(nonce_s)          | Goodbye
//!   Auth(client_finished) ->
//!                                        <- record 0: Welcome(resume)   | Goodbye
//! ```
//!
//! The client proves it holds the key first; the egress says nothing keyed to
//! anyone who has not, so a stranger who names a key id learns nothing to test
//! guesses against. The egress proves itself by sealing its first record with
//! a key only a holder of the pre-shared key can derive.

use std::net::SocketAddrV4;

use super::auth::Key;
use super::frame::{
    self, AuthMethod, Challenge, Frame, Hello, KEY_ID_LEN, MAX_HANDSHAKE_FRAME, MAX_SENDER_NAME,
    NONCE_LEN, VERSION,
};
use super::kdf::{self, SessionKeys};

/// Why a handshake or session was refused or ended; `code` travels in a Goodbye.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// An Ack, a resume position or a sequence number out of bounds.
    Protocol,
    /// A record failed authentication.
    BadRecord,
    /// An unauthenticated feed is held by its sender; it is never taken over.
    FeedBusy,
}

impl Reject {
    pub const ALL: [Reject; 16] = [
        Reject::BadVersion,
        Reject::UnknownFeed,
        Reject::AuthRequired,
        Reject::AuthUnavailable,
        Reject::UnknownKey,
        Reject::BadProof,
        Reject::Unexpected,
        Reject::Timeout,
        Reject::Loop,
        Reject::TakenOver,
        Reject::ShuttingDown,
        Reject::Malformed,
        Reject::TooManyConnections,
        Reject::Protocol,
        Reject::BadRecord,
        Reject::FeedBusy,
    ];

    pub fn code(self) -> u16 {
        Reject::ALL.iter().position(|r| *r == self).expect("listed") as u16 + 1
    }

    pub fn from_code(code: u16) -> Option<Reject> {
        Reject::ALL.get((code as usize).checked_sub(1)?).copied()
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
            Reject::Protocol => "protocol_violation",
            Reject::BadRecord => "bad_record",
            Reject::FeedBusy => "feed_busy",
        }
    }

    pub fn goodbye(self, detail: &str) -> Frame<'static> {
        Frame::Goodbye {
            code: self.code(),
            reason: format!("{}: {detail}", self.label()),
        }
    }

    /// The Goodbye as bytes, for a refusal before any record.
    pub fn goodbye_bytes(self, detail: &str) -> Vec<u8> {
        let mut out = Vec::new();
        frame::encode(&self.goodbye(detail), &mut out);
        out
    }
}

/// A Goodbye the peer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goodbye {
    pub code: u16,
    pub reason: String,
}

impl Goodbye {
    /// The reason, if the code is one this version knows.
    pub fn reject(&self) -> Option<Reject> {
        Reject::from_code(self.code)
    }
}

impl std::fmt::Display for Goodbye {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The peer's words, escaped: they never forge a line in our logs.
        write!(f, "code {} {:?}", self.code, self.reason)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// We refuse: send the Goodbye of `reject`.
    #[error("{}: {detail}", reject.label())]
    Refuse { reject: Reject, detail: String },
    /// The peer refused us.
    #[error("the peer refused: {0}")]
    Refused(Goodbye),
}

impl HandshakeError {
    fn refuse(reject: Reject, detail: impl Into<String>) -> Self {
        HandshakeError::Refuse {
            reject,
            detail: detail.into(),
        }
    }

    /// The label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            HandshakeError::Refuse { reject, .. } => reject.label(),
            HandshakeError::Refused(_) => "peer_goodbye",
        }
    }
}

/// Names a sender may have: 1 to 64 of letters, digits, `.`, `_`, `-`, `:`.
pub fn check_sender_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_SENDER_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "sender name {name:?} must be 1 to 64 characters of letters, digits, '.', '_', '-' or ':'"
        ))
    }
}

/// Who the ingress is and what it asks for.
#[derive(Debug, Clone)]
pub struct ClientParams {
    pub feed: String,
    pub sender: String,
    pub stream_id: u64,
    pub key: Option<Key>,
    pub encrypt: bool,
    pub manifest: Vec<SocketAddrV4>,
}

/// The ingress side: send the Hello, answer the Challenge.
pub struct ClientHandshake {
    key: Option<Key>,
    hello: Vec<u8>,
    exporter: Option<[u8; 32]>,
}

impl ClientHandshake {
    /// Start; send the returned Hello bytes first. `exporter` is the TLS
    /// exporter value when the link runs inside TLS.
    pub fn start(
        p: ClientParams,
        nonce: [u8; NONCE_LEN],
        exporter: Option<[u8; 32]>,
    ) -> (Self, Vec<u8>) {
        let hello = Hello {
            version: VERSION,
            auth: if p.key.is_some() {
                AuthMethod::PreSharedKey
            } else {
                AuthMethod::None
            },
            stream_id: p.stream_id,
            nonce,
            key_id: p.key.as_ref().map(Key::id).unwrap_or([0; KEY_ID_LEN]),
            feed: p.feed,
            manifest: p.manifest,
            encrypt: p.encrypt,
            sender: p.sender,
        };
        let mut bytes = Vec::new();
        frame::encode(&Frame::Hello(hello), &mut bytes);
        let hs = ClientHandshake {
            key: p.key,
            hello: bytes.clone(),
            exporter,
        };
        (hs, bytes)
    }

    /// The egress's answer to the Hello (one whole frame): returns the Auth to
    /// send and the session keys. What comes next is record 0 (`super::session`).
    pub fn on_reply(self, reply: &[u8]) -> Result<(Vec<u8>, SessionKeys), HandshakeError> {
        let f = match frame::decode(reply, MAX_HANDSHAKE_FRAME) {
            Ok(Some((f, n))) if n == reply.len() => f,
            _ => {
                return Err(HandshakeError::refuse(
                    Reject::Malformed,
                    "the egress's reply is not a frame",
                ));
            }
        };
        match f {
            Frame::Challenge(Challenge { .. }) => {
                let th = kdf::transcript(&self.hello, reply);
                let keys = kdf::derive(
                    self.key.as_ref().map(Key::secret),
                    self.exporter.as_ref(),
                    &th,
                );
                let mut auth = Vec::new();
                frame::encode(
                    &Frame::Auth(frame::Auth {
                        proof: keys.client_finished,
                    }),
                    &mut auth,
                );
                Ok((auth, keys))
            }
            Frame::Goodbye { code, reason } => {
                Err(HandshakeError::Refused(Goodbye { code, reason }))
            }
            other => Err(HandshakeError::refuse(
                Reject::Unexpected,
                format!("unexpected {} during the handshake", other.name()),
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

/// A sender that proved itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub feed: String,
    pub sender: String,
    pub stream_id: u64,
    pub manifest: Vec<SocketAddrV4>,
    pub authenticated: bool,
    pub encrypt: bool,
    pub keys: SessionKeys,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ServerStep {
    /// Send these bytes (the Challenge) and wait for the next frame.
    Send(Vec<u8>),
    /// The sender proved itself: start a session, whose first record is the Welcome.
    Accepted(Box<Accepted>),
}

enum ServerState {
    AwaitHello,
    AwaitAuth {
        hello: Box<Hello>,
        keys: SessionKeys,
    },
    Done,
}

/// The egress side.
pub struct ServerHandshake {
    nonce: [u8; NONCE_LEN],
    exporter: Option<[u8; 32]>,
    state: ServerState,
    feed: Option<String>,
}

impl ServerHandshake {
    pub fn new(nonce: [u8; NONCE_LEN], exporter: Option<[u8; 32]>) -> Self {
        ServerHandshake {
            nonce,
            exporter,
            state: ServerState::AwaitHello,
            feed: None,
        }
    }

    /// The feed the peer named in its Hello, once it named one this server serves.
    pub fn feed(&self) -> Option<&str> {
        self.feed.as_deref()
    }

    /// Whether the peer has presented a key id this server knows (its Hello was
    /// accepted): such a connection is more likely the real sender.
    pub fn presented_known_key(&self) -> bool {
        matches!(self.state, ServerState::AwaitAuth { .. })
    }

    /// One whole frame from the peer. `lookup` finds a feed by name; `None`
    /// means this server does not carry it.
    pub fn on_frame(
        &mut self,
        bytes: &[u8],
        lookup: impl Fn(&str) -> Option<FeedKeys>,
    ) -> Result<ServerStep, HandshakeError> {
        let f = match frame::decode(bytes, MAX_HANDSHAKE_FRAME) {
            Ok(Some((f, n))) if n == bytes.len() => f,
            Ok(_) => {
                return Err(HandshakeError::refuse(
                    Reject::Malformed,
                    "not one whole frame",
                ));
            }
            Err(e) => return Err(HandshakeError::refuse(Reject::Malformed, e.to_string())),
        };
        match (std::mem::replace(&mut self.state, ServerState::Done), f) {
            (ServerState::AwaitHello, Frame::Hello(h)) => self.on_hello(h, bytes, lookup),
            (ServerState::AwaitAuth { hello, keys }, Frame::Auth(a)) => {
                if !kdf::same(&a.proof, &keys.client_finished) {
                    return Err(HandshakeError::refuse(
                        Reject::BadProof,
                        "the sender's proof does not match the key",
                    ));
                }
                Ok(ServerStep::Accepted(Box::new(Accepted {
                    authenticated: hello.auth == AuthMethod::PreSharedKey,
                    feed: hello.feed,
                    sender: hello.sender,
                    stream_id: hello.stream_id,
                    manifest: hello.manifest,
                    encrypt: hello.encrypt,
                    keys,
                })))
            }
            (_, Frame::Goodbye { code, reason }) => {
                Err(HandshakeError::Refused(Goodbye { code, reason }))
            }
            (_, other) => Err(HandshakeError::refuse(
                Reject::Unexpected,
                format!("unexpected {} during the handshake", other.name()),
            )),
        }
    }

    fn on_hello(
        &mut self,
        h: Hello,
        bytes: &[u8],
        lookup: impl Fn(&str) -> Option<FeedKeys>,
    ) -> Result<ServerStep, HandshakeError> {
        if h.version != VERSION {
            let detail = if h.version < VERSION {
                format!(
                    "the ingress speaks protocol v{}, this egress v{VERSION}: upgrade the ingress (older peers are refused, never downgraded)",
                    h.version
                )
            } else {
                format!(
                    "the ingress speaks protocol v{}, this egress only v{VERSION}: upgrade the egress",
                    h.version
                )
            };
            return Err(HandshakeError::refuse(Reject::BadVersion, detail));
        }
        check_sender_name(&h.sender).map_err(|e| HandshakeError::refuse(Reject::Malformed, e))?;
        let Some(feed) = lookup(&h.feed) else {
            return Err(HandshakeError::refuse(
                Reject::UnknownFeed,
                format!("no feed {:?} on this port", h.feed),
            ));
        };
        self.feed = Some(h.feed.clone());
        let key = match (feed.keys.is_empty(), h.auth) {
            (true, AuthMethod::None) => None,
            (true, AuthMethod::PreSharedKey) => {
                return Err(HandshakeError::refuse(
                    Reject::AuthUnavailable,
                    format!("feed {:?} has no key on this egress", h.feed),
                ));
            }
            (false, AuthMethod::None) => {
                return Err(HandshakeError::refuse(
                    Reject::AuthRequired,
                    format!("feed {:?} requires a key", h.feed),
                ));
            }
            (false, AuthMethod::PreSharedKey) => {
                match feed.keys.iter().find(|k| k.id() == h.key_id) {
                    Some(k) => Some(k.clone()),
                    None => {
                        return Err(HandshakeError::refuse(
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
        let mut challenge = Vec::new();
        frame::encode(
            &Frame::Challenge(Challenge { nonce: self.nonce }),
            &mut challenge,
        );
        let th = kdf::transcript(bytes, &challenge);
        let keys = kdf::derive(key.as_ref().map(Key::secret), self.exporter.as_ref(), &th);
        self.state = ServerState::AwaitAuth {
            hello: Box::new(h),
            keys,
        };
        Ok(ServerStep::Send(challenge))
    }
}

#[cfg(test)]
mod tests;
