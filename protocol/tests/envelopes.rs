//! Encoding and decoding of the protocol's MessagePack envelopes.

use std::collections::BTreeMap;

use aegis_protocol::{
    DeadLetter, DecodeError, Envelope, GatewayCommand, GatewayEvent, GatewayEventRef, Job,
    PROTOCOL_VERSION, RawBytes,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

fn event() -> GatewayEvent {
    GatewayEvent {
        v: PROTOCOL_VERSION,
        event: "GUILD_MEMBER_ADD".into(),
        shard: 3,
        session_id: "a1b2c3".into(),
        seq: 42,
        guild_id: Some(81_384_788_765_712_384),
        received_at_ms: 1_764_000_000_000,
        payload: Bytes::from_static(br#"{"guild_id":"81384788765712384","user":{"id":"1"}}"#),
    }
}

#[test]
fn a_borrowed_gateway_event_writes_the_same_bytes() {
    let event = event();
    for guild_id in [event.guild_id, None] {
        let owned = GatewayEvent {
            guild_id,
            ..event.clone()
        };
        let borrowed = GatewayEventRef {
            v: owned.v,
            event: &owned.event,
            shard: owned.shard,
            session_id: &owned.session_id,
            seq: owned.seq,
            guild_id: owned.guild_id,
            received_at_ms: owned.received_at_ms,
            payload: RawBytes(&owned.payload),
        };
        let bytes = borrowed.encode().expect("encodes");
        assert_eq!(bytes, owned.encode().expect("encodes"));
        assert_eq!(GatewayEvent::decode(&bytes).expect("decodes"), owned);
    }
}

#[test]
fn every_envelope_round_trips() {
    let event = event();
    assert_eq!(
        GatewayEvent::decode(&event.encode().expect("encodes")).expect("decodes"),
        event
    );

    let command = GatewayCommand {
        v: PROTOCOL_VERSION,
        shard: 1,
        op: 8,
        data: Bytes::from_static(br#"{"guild_id":"1","limit":0,"query":""}"#),
    };
    assert_eq!(
        GatewayCommand::decode(&command.encode().expect("encodes")).expect("decodes"),
        command
    );

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Unban {
        user_id: u64,
        case: u32,
    }
    let job = Job::new(
        "act-9",
        "unban",
        Some(5),
        1_764_000_000_000,
        &Unban {
            user_id: 7,
            case: 12,
        },
    )
    .expect("body encodes");
    let decoded = Job::decode(&job.encode().expect("encodes")).expect("decodes");
    assert_eq!(decoded, job);
    assert_eq!(decoded.attempt, 1);
    assert_eq!(
        decoded.body::<Unban>().expect("body decodes"),
        Unban {
            user_id: 7,
            case: 12
        }
    );

    let dead = DeadLetter {
        v: PROTOCOL_VERSION,
        original_subject: "aegis.jobs.unban".into(),
        deliveries: 5,
        error: "rest-proxy unreachable".into(),
        failed_at_ms: 1,
        message: job.encode().expect("encodes"),
    };
    assert_eq!(
        DeadLetter::decode(&dead.encode().expect("encodes")).expect("decodes"),
        dead
    );
}

#[test]
fn the_payload_is_carried_byte_for_byte() {
    // Discord's JSON, with odd spacing and key order, must come out exactly as it went in.
    let raw = br#"{ "z":1,"a" : [ "\u00e9" ] }"#;
    let event = GatewayEvent {
        payload: Bytes::from_static(raw),
        ..event()
    };
    let decoded = GatewayEvent::decode(&event.encode().expect("encodes")).expect("decodes");
    assert_eq!(&decoded.payload[..], &raw[..]);
}

#[test]
fn corrupt_input_is_a_typed_error() {
    for garbage in [
        &b""[..],
        b"\xc1",
        b"not msgpack at all",
        b"\x92\x01\x02",
        b"\xff\xff\xff",
    ] {
        let err = GatewayEvent::decode(garbage).expect_err("garbage must not decode");
        assert!(
            matches!(
                err,
                DecodeError::Malformed { .. } | DecodeError::MissingVersion { .. }
            ),
            "{garbage:?} gave {err:?}"
        );
    }
}

#[test]
fn every_truncation_is_a_typed_error() {
    let bytes = event().encode().expect("encodes");
    for len in 0..bytes.len() {
        let err =
            GatewayEvent::decode(&bytes[..len]).expect_err("a truncated message must not decode");
        assert!(matches!(
            err,
            DecodeError::Malformed { .. } | DecodeError::MissingVersion { .. }
        ));
    }
}

#[test]
fn a_map_without_a_version_is_refused() {
    let mut map = BTreeMap::new();
    map.insert("event", "READY");
    let bytes = rmp_serde::to_vec_named(&map).expect("encodes");
    assert!(matches!(
        GatewayEvent::decode(&bytes),
        Err(DecodeError::MissingVersion { .. })
    ));
}

/// A future writer: the same fields plus one this build has never heard of.
#[derive(Serialize)]
struct FutureEvent {
    #[serde(flatten)]
    known: GatewayEvent,
    trace_parent: &'static str,
}

#[test]
fn unknown_fields_are_tolerated() {
    let future = FutureEvent {
        known: event(),
        trace_parent: "00-abc-01",
    };
    let bytes = rmp_serde::to_vec_named(&future).expect("encodes");
    assert_eq!(GatewayEvent::decode(&bytes).expect("decodes"), event());
}

#[test]
fn a_newer_version_is_refused_not_misread() {
    let newer = GatewayEvent {
        v: PROTOCOL_VERSION + 1,
        ..event()
    };
    let bytes = rmp_serde::to_vec_named(&newer).expect("encodes");
    match GatewayEvent::decode(&bytes) {
        Err(DecodeError::UnsupportedVersion {
            found, supported, ..
        }) => {
            assert_eq!((found, supported), (PROTOCOL_VERSION + 1, PROTOCOL_VERSION));
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
}

#[test]
fn a_missing_optional_field_reads_as_none() {
    #[derive(Serialize)]
    struct OldEvent {
        v: u16,
        event: &'static str,
        shard: u32,
        session_id: &'static str,
        seq: u64,
        received_at_ms: i64,
        #[serde(with = "serde_bytes_compat")]
        payload: Vec<u8>,
    }
    mod serde_bytes_compat {
        pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }
    let old = OldEvent {
        v: 1,
        event: "MESSAGE_CREATE",
        shard: 0,
        session_id: "s",
        seq: 1,
        received_at_ms: 0,
        payload: b"{}".to_vec(),
    };
    let bytes = rmp_serde::to_vec_named(&old).expect("encodes");
    let decoded = GatewayEvent::decode(&bytes).expect("decodes");
    assert_eq!(decoded.guild_id, None);
    assert_eq!(&decoded.payload[..], b"{}");
}

#[test]
fn errors_say_what_failed() {
    let err = Job::decode(b"\xc1").expect_err("corrupt");
    assert!(
        err.to_string().starts_with("malformed Job message"),
        "{err}"
    );
}
