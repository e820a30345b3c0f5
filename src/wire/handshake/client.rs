//! The ingress side of the handshake: the Hello, then the Auth that proves
//! the key in answer to the Challenge.

use std::net::SocketAddrV4;

use super::{Goodbye, HandshakeError, Reject};
use crate::wire::auth::Key;
use crate::wire::frame::{
    self, AuthMethod, Challenge, Frame, Hello, KEY_ID_LEN, MAX_HANDSHAKE_FRAME, NONCE_LEN, VERSION,
};
use crate::wire::kdf::{self, SessionKeys};

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
