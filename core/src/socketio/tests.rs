//! Vectors from the Socket.IO v5 protocol document (socketio/socket.io-protocol README) and the
//! invalid inputs of socket.io-parser's test suite, then properties.

use super::*;
use crate::error::{DecodeError, ProtocolViolation};
use proptest::prelude::*;
use serde_json::{json, Value};

fn decode(s: &str) -> SioPacket {
    SioPacket::decode(s, 10).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn packet(
    kind: PacketType,
    nsp: &str,
    id: Option<u64>,
    data: Option<Value>,
    n: usize,
) -> SioPacket {
    let mut p = SioPacket::new(kind, nsp, data);
    p.id = id;
    p.attachments = n;
    p
}

/// Each wire string of the spec, with the packet it stands for; encoding gives the string back.
#[test]
fn wire_examples_of_the_spec() {
    let cases = [
        ("0", packet(PacketType::Connect, "/", None, None, 0)),
        (
            "0/admin,{\"token\":\"123\"}",
            packet(
                PacketType::Connect,
                "/admin",
                None,
                Some(json!({"token": "123"})),
                0,
            ),
        ),
        (
            "0{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}",
            packet(
                PacketType::Connect,
                "/",
                None,
                Some(json!({"sid": "wZX3oN0bSVIhsaknAAAI"})),
                0,
            ),
        ),
        (
            "4{\"message\":\"Not authorized\"}",
            packet(
                PacketType::ConnectError,
                "/",
                None,
                Some(json!({"message": "Not authorized"})),
                0,
            ),
        ),
        (
            "4/random,{\"message\":\"Invalid namespace\"}",
            packet(
                PacketType::ConnectError,
                "/random",
                None,
                Some(json!({"message": "Invalid namespace"})),
                0,
            ),
        ),
        (
            "4/nope,\"Unable to connect\"",
            packet(
                PacketType::ConnectError,
                "/nope",
                None,
                Some(json!("Unable to connect")),
                0,
            ),
        ),
        (
            "2[\"foo\"]",
            packet(PacketType::Event, "/", None, Some(json!(["foo"])), 0),
        ),
        (
            "2/admin,[\"bar\"]",
            packet(PacketType::Event, "/admin", None, Some(json!(["bar"])), 0),
        ),
        (
            "212[\"foo\"]",
            packet(PacketType::Event, "/", Some(12), Some(json!(["foo"])), 0),
        ),
        (
            "312[]",
            packet(PacketType::Ack, "/", Some(12), Some(json!([])), 0),
        ),
        (
            "3/admin,13[\"bar\"]",
            packet(PacketType::Ack, "/admin", Some(13), Some(json!(["bar"])), 0),
        ),
        (
            "51-[\"baz\",{\"_placeholder\":true,\"num\":0}]",
            packet(
                PacketType::BinaryEvent,
                "/",
                None,
                Some(json!(["baz", {"_placeholder": true, "num": 0}])),
                1,
            ),
        ),
        (
            "61-15[\"bar\",{\"_placeholder\":true,\"num\":0}]",
            packet(
                PacketType::BinaryAck,
                "/",
                Some(15),
                Some(json!(["bar", {"_placeholder": true, "num": 0}])),
                1,
            ),
        ),
        ("1", packet(PacketType::Disconnect, "/", None, None, 0)),
        (
            "1/admin,",
            packet(PacketType::Disconnect, "/admin", None, None, 0),
        ),
    ];
    for (wire, expected) in cases {
        assert_eq!(decode(wire), expected, "{wire}");
        assert_eq!(expected.encode(), wire);
    }
}

#[test]
fn a_namespace_without_a_trailing_comma_still_parses() {
    assert_eq!(
        decode("1/admin"),
        packet(PacketType::Disconnect, "/admin", None, None, 0)
    );
}

#[test]
fn numeric_event_names_are_allowed() {
    let (name, args) = decode("2[42,\"x\"]").into_event().unwrap();
    assert_eq!((name.as_str(), args), ("42", vec![json!("x")]));
}

#[test]
fn python_disconnect_with_a_payload_is_accepted() {
    assert_eq!(
        decode("1\"Unable to connect\"").kind,
        PacketType::Disconnect
    );
}

/// socket.io-parser's `test/parser.js` invalid inputs, each a decode error.
#[test]
fn invalid_inputs_of_socket_io_parser() {
    let cases = [
        ("442[\"some\",\"data\"", "unclosed JSON"),
        ("0\"invalid\"", "CONNECT with a string"),
        ("0[]", "CONNECT with an array"),
        ("2{}", "EVENT with an object"),
        ("2\"invalid\"", "EVENT with a string"),
        ("2[true,\"foo\"]", "EVENT named by a bool"),
        ("2[null,\"foo\"]", "EVENT named by null"),
        ("2[\"connect\"]", "reserved name"),
        ("2[\"disconnecting\",\"foo\"]", "reserved name"),
        ("2[]", "EVENT without a name"),
        ("3{}", "ACK with an object"),
        ("5", "attachments header without dash"),
        ("51", "attachments header without dash"),
        ("5a-[\"a\"]", "non-numeric attachment count"),
        ("51.23-[\"a\"]", "fractional attachment count"),
        ("511-[\"a\"]", "attachment count above the limit"),
        ("999", "unknown type"),
        ("42abc[\"a\"]", "non-numeric ack id"),
        ("2123456789012345678901[\"a\"]", "ack id longer than a u64"),
        ("4", "CONNECT_ERROR without payload"),
        ("", "empty"),
        ("2/ad\u{1}min,[\"a\"]", "control character in a namespace"),
        ("1\r18", "whitespace before the payload"),
        ("2 [\"a\"]", "whitespace before the payload"),
    ];
    for (wire, why) in cases {
        assert!(
            SioPacket::decode(wire, 10).is_err(),
            "{wire:?} ({why}) decoded"
        );
    }
    assert_eq!(
        SioPacket::decode("9", 10),
        Err(DecodeError::UnknownPacketType('9'))
    );
}

#[test]
fn lone_surrogates_from_node_and_python_servers_decode() {
    let (name, args) = decode(r#"2["msg","\ud800"]"#).into_event().unwrap();
    assert_eq!(name, "msg");
    assert_eq!(args, vec![json!("\u{fffd}")]);
}

#[test]
fn attachments_are_reassembled_in_order_and_checked() {
    let mut asm = Assembler::default();
    let header =
        decode(r#"52-["baz",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]"#);
    assert_eq!(asm.start(header.clone()).unwrap(), None);
    assert!(asm.is_waiting());
    assert_eq!(asm.push(vec![1], 100).unwrap(), None);
    let (done, parts) = asm.push(vec![2, 3], 100).unwrap().unwrap();
    assert_eq!(done, header);
    assert_eq!(parts, vec![vec![1], vec![2, 3]]);
    assert!(!asm.is_waiting());
}

#[test]
fn attachment_faults_are_violations() {
    let mut asm = Assembler::default();
    assert!(matches!(
        asm.push(vec![1], 10),
        Err(ProtocolViolation::Attachments(_))
    ));
    // Placeholder out of range.
    let mut asm = Assembler::default();
    asm.start(decode(r#"51-["a",{"_placeholder":true,"num":3}]"#))
        .unwrap();
    assert!(asm.push(vec![1], 10).is_err());
    // Over the byte limit.
    let mut asm = Assembler::default();
    asm.start(decode(r#"51-["a",{"_placeholder":true,"num":0}]"#))
        .unwrap();
    assert_eq!(
        asm.push(vec![0; 11], 10),
        Err(ProtocolViolation::AttachmentsTooLarge)
    );
    assert!(!asm.is_waiting());
    // A second header while the first waits.
    let mut asm = Assembler::default();
    asm.start(decode(r#"51-["a",{"_placeholder":true,"num":0}]"#))
        .unwrap();
    assert!(asm
        .start(decode(r#"51-["a",{"_placeholder":true,"num":0}]"#))
        .is_err());
    // A declared count of zero is complete at once.
    let mut asm = Assembler::default();
    assert!(asm.start(decode(r#"50-["a"]"#)).unwrap().is_some());
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn sio_packet() -> impl Strategy<Value = SioPacket> {
    let nsp = prop_oneof![Just("/".to_string()), "/[a-z]{1,8}"];
    let id = proptest::option::of(0u64..u64::MAX);
    let object = proptest::collection::btree_map("[a-z]{1,6}", json_value(), 0..3)
        .prop_map(|m| Value::Object(m.into_iter().collect()));
    let args = proptest::collection::vec(json_value(), 0..4);
    let name = "[a-z]{1,10}".prop_filter("reserved", |n| !RESERVED_EVENTS.contains(&n.as_str()));
    (0u8..7, nsp, id, object, args, name, 0usize..4).prop_map(
        |(kind, nsp, id, object, args, name, n)| {
            let mut event = vec![Value::String(name)];
            event.extend(args.clone());
            match kind {
                0 => packet(PacketType::Connect, &nsp, None, Some(object), 0),
                1 => packet(PacketType::Disconnect, &nsp, None, None, 0),
                2 => packet(PacketType::Event, &nsp, id, Some(Value::Array(event)), 0),
                3 => packet(
                    PacketType::Ack,
                    &nsp,
                    id.or(Some(0)),
                    Some(Value::Array(args)),
                    0,
                ),
                4 => packet(PacketType::ConnectError, &nsp, None, Some(object), 0),
                5 => packet(
                    PacketType::BinaryEvent,
                    &nsp,
                    id,
                    Some(Value::Array(event)),
                    n,
                ),
                _ => packet(
                    PacketType::BinaryAck,
                    &nsp,
                    id.or(Some(0)),
                    Some(Value::Array(args)),
                    n,
                ),
            }
        },
    )
}

proptest! {
    #[test]
    fn encode_decode_round_trip(p in sio_packet()) {
        prop_assert_eq!(SioPacket::decode(&p.encode(), 10).unwrap(), p);
    }

    #[test]
    fn decoding_never_panics(s in ".{0,120}") {
        let _ = SioPacket::decode(&s, 10);
    }

    #[test]
    fn decoding_prefixed_garbage_never_panics(kind in "[0-6]", head in "[0-9-/,]{0,8}", tail in ".{0,60}") {
        let _ = SioPacket::decode(&format!("{kind}{head}{tail}"), 10);
    }
}
