//! The egress side of the handshake: checks the Hello against the feeds it
//! serves, sends the Challenge, verifies the sender's proof.

use std::net::SocketAddrV4;

use super::{Goodbye, HandshakeError, Reject, check_sender_name};
use crate::wire::auth::Key;
use crate::wire::frame::{
    self, AuthMethod, Challenge, Frame, Hello, MAX_HANDSHAKE_FRAME, NONCE_LEN, VERSION,
};
use crate::wire::kdf::{self, SessionKeys};

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
        check_sender_name(&h.sender)
            .map_err(|e| HandshakeError::refuse(Reject::Malformed, e.to_string()))?;
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
