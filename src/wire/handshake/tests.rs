//! The handshake's unit tests: both sides in memory, every refusal by its code.

use super::*;
use crate::wire::auth::Key;
use crate::wire::frame::{self, AuthMethod, Challenge, Frame, Hello};
use crate::wire::kdf::SessionKeys;

pub(crate) fn params(key: Option<&Key>) -> ClientParams {
    ClientParams {
        feed: "prod".into(),
        sender: "dc-a".into(),
        stream_id: 42,
        key: key.cloned(),
        encrypt: false,
        manifest: vec![],
    }
}

fn run(
    client_key: Option<&str>,
    server_keys: &[&str],
) -> Result<(Accepted, SessionKeys), HandshakeError> {
    let keys: Vec<Key> = server_keys.iter().map(|k| Key::parse(k).unwrap()).collect();
    let lookup = |f: &str| (f == "prod").then(|| FeedKeys { keys: keys.clone() });
    let ck = client_key.map(|k| Key::parse(k).unwrap());
    let (c, hello) = ClientHandshake::start(params(ck.as_ref()), [7; 32], None);
    let mut s = ServerHandshake::new([9; 32], None);
    let ServerStep::Send(challenge) = s.on_frame(&hello, lookup)? else {
        panic!("expected a challenge")
    };
    let (auth, ckeys) = c.on_reply(&challenge)?;
    let ServerStep::Accepted(acc) = s.on_frame(&auth, lookup)? else {
        panic!("expected acceptance")
    };
    Ok((*acc, ckeys))
}

const K1: &str =
    "00112233aabbccdd:7f3a9c41e2d05b86a1f47c3e9d2b6085c4e1a7f3926d0b58e3c7a14f9b2d6e08";
const K2: &str =
    "8899aabbccddeeff:1c9e5a7d3f08b62e4a91c7d5e3b0f86a2d4c19e7b5a3f0d68c2e4b1a97f53d06";

fn refused(r: Result<(Accepted, SessionKeys), HandshakeError>) -> Reject {
    match r {
        Err(HandshakeError::Refuse { reject, .. }) => reject,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn handshake_outcomes() {
    let (a, ck) = run(Some(K1), &[K1]).unwrap();
    assert!(a.authenticated);
    assert_eq!(a.keys, ck, "both sides derive the same keys");
    assert_eq!((a.sender.as_str(), a.stream_id), ("dc-a", 42));
    assert!(
        run(Some(K2), &[K1, K2]).is_ok(),
        "next key accepted during rotation"
    );
    assert!(!run(None, &[]).unwrap().0.authenticated);
    assert_eq!(refused(run(None, &[K1])), Reject::AuthRequired);
    assert_eq!(refused(run(Some(K1), &[])), Reject::AuthUnavailable);
    assert_eq!(refused(run(Some(K2), &[K1])), Reject::UnknownKey);
}

#[test]
fn the_egress_says_nothing_keyed_before_the_client_proves() {
    let key = Key::parse(K1).unwrap();
    let lookup = |_: &str| {
        Some(FeedKeys {
            keys: vec![key.clone()],
        })
    };
    let (_, hello) = ClientHandshake::start(params(Some(&key)), [7; 32], None);
    let mut s = ServerHandshake::new([9; 32], None);
    let ServerStep::Send(challenge) = s.on_frame(&hello, lookup).unwrap() else {
        panic!()
    };
    // The Challenge is the server nonce and nothing else: the same bytes for any key.
    let mut expect = Vec::new();
    frame::encode(&Frame::Challenge(Challenge { nonce: [9; 32] }), &mut expect);
    assert_eq!(challenge, expect);
    let forged = {
        let mut v = Vec::new();
        frame::encode(&Frame::Auth(frame::Auth { proof: [0; 32] }), &mut v);
        v
    };
    assert_eq!(
        refused(s.on_frame(&forged, lookup).map(|_| unreachable!())),
        Reject::BadProof
    );
}

#[test]
fn a_changed_hello_breaks_the_proof() {
    // An on-path relay that rewrites any field of the Hello (here the stream
    // id) changes the transcript, so the client's proof no longer verifies.
    let key = Key::parse(K1).unwrap();
    let lookup = |_: &str| {
        Some(FeedKeys {
            keys: vec![key.clone()],
        })
    };
    let (c, hello) = ClientHandshake::start(params(Some(&key)), [7; 32], None);
    let mut p = params(Some(&key));
    p.stream_id = 43;
    let (_, altered) = ClientHandshake::start(p, [7; 32], None);
    let mut s = ServerHandshake::new([9; 32], None);
    let ServerStep::Send(ch) = s.on_frame(&altered, lookup).unwrap() else {
        panic!()
    };
    let (auth, _) = c.on_reply(&ch).unwrap();
    let _ = hello;
    assert_eq!(
        refused(s.on_frame(&auth, lookup).map(|_| unreachable!())),
        Reject::BadProof
    );
}

#[test]
fn tls_sessions_that_differ_give_different_keys() {
    // A TLS-terminating middlebox has one TLS session with each side, so
    // the exporters differ and the relayed proof fails.
    let key = Key::parse(K1).unwrap();
    let lookup = |_: &str| {
        Some(FeedKeys {
            keys: vec![key.clone()],
        })
    };
    let (c, hello) = ClientHandshake::start(params(Some(&key)), [7; 32], Some([1; 32]));
    let mut s = ServerHandshake::new([9; 32], Some([2; 32]));
    let ServerStep::Send(ch) = s.on_frame(&hello, lookup).unwrap() else {
        panic!()
    };
    let (auth, _) = c.on_reply(&ch).unwrap();
    assert_eq!(
        refused(s.on_frame(&auth, lookup).map(|_| unreachable!())),
        Reject::BadProof
    );
}

#[test]
fn old_versions_are_refused_clearly() {
    let mut h = Hello {
        version: 1,
        auth: AuthMethod::None,
        stream_id: 1,
        nonce: [0; 32],
        key_id: [0; 8],
        feed: "prod".into(),
        manifest: vec![],
        encrypt: false,
        sender: String::new(),
    };
    let mut v1 = Vec::new();
    frame::encode(&Frame::Hello(h.clone()), &mut v1);
    let mut s = ServerHandshake::new([9; 32], None);
    match s.on_frame(&v1, |_| Some(FeedKeys::default())) {
        Err(HandshakeError::Refuse {
            reject: Reject::BadVersion,
            detail,
        }) => {
            assert!(detail.contains("upgrade the ingress"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    h.version = 2;
    h.sender = "bad name!".into();
    let mut bad = Vec::new();
    frame::encode(&Frame::Hello(h), &mut bad);
    let mut s = ServerHandshake::new([9; 32], None);
    assert_eq!(
        s.on_frame(&bad, |_| Some(FeedKeys::default())),
        Err(HandshakeError::Refuse {
            reject: Reject::Malformed,
            detail: BadSenderName("bad name!".into()).to_string(),
        })
    );
}

#[test]
fn sender_names_follow_the_rule() {
    for ok in ["dc-a", "ld4:A", "host.example_1", &"x".repeat(64)] {
        assert_eq!(check_sender_name(ok), Ok(()), "{ok:?}");
    }
    for bad in ["", "bad name!", "é", &"x".repeat(65)] {
        assert_eq!(
            check_sender_name(bad),
            Err(BadSenderName(bad.to_string())),
            "{bad:?}"
        );
    }
}

#[test]
fn codes_convert_both_ways() {
    for r in Reject::ALL {
        assert_eq!(Reject::from_code(r.code()), Some(r));
    }
    assert_eq!(
        Reject::TakenOver.code(),
        10,
        "v1's codes keep their numbers"
    );
    assert_eq!(Reject::BadRecord.code(), 15);
    assert_eq!(Reject::from_code(0), None);
    assert_eq!(Reject::from_code(99), None);
}

#[test]
fn data_before_auth_is_refused() {
    let mut s = ServerHandshake::new([9; 32], None);
    let mut ack = Vec::new();
    frame::encode(&Frame::Ack { next_seq: 1 }, &mut ack);
    assert!(matches!(
        s.on_frame(&ack, |_| Some(FeedKeys::default())),
        Err(HandshakeError::Refuse {
            reject: Reject::Unexpected,
            ..
        })
    ));
}
