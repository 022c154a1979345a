//! Vectors from the Engine.IO v4 protocol document (socketio/engine.io-protocol README and its
//! test suite), then properties.

use super::*;
use crate::error::DecodeError;
use crate::io::WsFrame;
use proptest::prelude::*;
use std::time::Duration;

fn text(s: &str) -> EnginePacket {
    EnginePacket::decode_text(s).unwrap()
}

#[test]
fn every_packet_type_from_the_spec() {
    assert_eq!(text("1"), EnginePacket::Close);
    assert_eq!(text("2"), EnginePacket::Ping(String::new()));
    assert_eq!(text("3"), EnginePacket::Pong(String::new()));
    assert_eq!(text("2probe"), EnginePacket::Ping("probe".into()));
    assert_eq!(text("3probe"), EnginePacket::Pong("probe".into()));
    assert_eq!(text("4hello"), EnginePacket::Text("hello".into()));
    assert_eq!(text("5"), EnginePacket::Upgrade);
    assert_eq!(text("6"), EnginePacket::Noop);
}

#[test]
fn the_open_packet_of_the_spec() {
    let open = text(
        r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
    );
    let EnginePacket::Open(json) = open else {
        panic!("not an open packet")
    };
    let hs = Handshake::parse(&json).unwrap();
    assert_eq!(hs.sid, "lv_VI97HAXpY6yYWAAAC");
    assert!(hs.offers_websocket());
    assert_eq!(hs.ping_interval, Duration::from_millis(25000));
    assert_eq!(hs.ping_timeout, Duration::from_millis(20000));
    assert_eq!(hs.max_payload, 1_000_000);
    assert_eq!(hs.heartbeat(), Duration::from_secs(45));
}

#[test]
fn open_packets_missing_fields_are_rejected() {
    for json in [
        r#"{"upgrades":[],"pingInterval":1,"pingTimeout":1}"#,
        r#"{"sid":"a","upgrades":[],"pingTimeout":1}"#,
        r#"{"sid":"a","upgrades":[],"pingInterval":1}"#,
        r#"{"sid":"","pingInterval":1,"pingTimeout":1}"#,
        r#"{"sid":5,"pingInterval":1,"pingTimeout":1}"#,
        r#"{"sid":"a","pingInterval":-1,"pingTimeout":1}"#,
        r#"[]"#,
        "",
    ] {
        assert!(
            matches!(
                Handshake::parse(json),
                Err(DecodeError::InvalidHandshake(_))
            ),
            "{json}"
        );
    }
}

#[test]
fn network_intervals_are_clamped_and_sub_second_ones_floored() {
    let hs = Handshake::parse(r#"{"sid":"a","pingInterval":18446744073709551615,"pingTimeout":0}"#)
        .unwrap();
    assert_eq!(hs.ping_interval, Duration::from_secs(3600));
    // However long the server says, a silent link is called dead within five minutes.
    assert_eq!(hs.heartbeat(), Duration::from_secs(300));
    let hs = Handshake::parse(r#"{"sid":"a","pingInterval":200000,"pingTimeout":200000}"#).unwrap();
    assert_eq!(hs.heartbeat(), Duration::from_secs(300));
    // python-engineio advertises a 0.3 s interval as 0.
    let hs = Handshake::parse(r#"{"sid":"a","pingInterval":0,"pingTimeout":0}"#).unwrap();
    assert_eq!(hs.heartbeat(), Duration::from_secs(1));
}

#[test]
fn a_polling_payload_of_the_spec() {
    let packets = decode_payload(b"4hello\x1e2\x1e4world").unwrap();
    assert_eq!(
        packets,
        vec![
            EnginePacket::Text("hello".into()),
            EnginePacket::Ping(String::new()),
            EnginePacket::Text("world".into()),
        ]
    );
    assert_eq!(encode_payload(&packets), "4hello\x1e2\x1e4world");
}

#[test]
fn binary_in_polling_is_b_and_base64() {
    let packets = decode_payload(b"4hello\x1ebAQIDBA==").unwrap();
    assert_eq!(packets[1], EnginePacket::Binary(vec![1, 2, 3, 4]));
    assert_eq!(encode_payload(&packets), "4hello\x1ebAQIDBA==");
    assert_eq!(packets[1].polling_len(), "bAQIDBA==".len());
}

#[test]
fn binary_over_websocket_has_no_type_byte() {
    let p = EnginePacket::decode_ws(WsFrame::Binary(vec![1, 2, 3])).unwrap();
    assert_eq!(p, EnginePacket::Binary(vec![1, 2, 3]));
    assert_eq!(p.encode_ws(), WsFrame::Binary(vec![1, 2, 3]));
    assert_eq!(text("4x").encode_ws(), WsFrame::Text("4x".into()));
}

#[test]
fn invalid_inputs_of_the_test_suite() {
    // `abc` is a parser error: the server closes the session.
    assert_eq!(
        decode_payload(b"abc"),
        Err(DecodeError::UnknownPacketType('a'))
    );
    assert_eq!(decode_payload(b""), Err(DecodeError::Empty));
    assert_eq!(decode_payload(b"4a\x1e"), Err(DecodeError::Empty));
    assert_eq!(decode_payload(b"b!!!"), Err(DecodeError::InvalidBase64));
    assert_eq!(decode_payload(b"\xff"), Err(DecodeError::NotUtf8));
    assert_eq!(
        EnginePacket::decode_text("7"),
        Err(DecodeError::UnknownPacketType('7'))
    );
    assert_eq!(EnginePacket::decode_text(""), Err(DecodeError::Empty));
}

fn packet() -> impl Strategy<Value = EnginePacket> {
    // Text never holds the record separator: JSON escapes it, and the spec assumes it.
    let data = "[^\u{1e}]{0,40}";
    prop_oneof![
        data.prop_map(EnginePacket::Open),
        Just(EnginePacket::Close),
        data.prop_map(EnginePacket::Ping),
        data.prop_map(EnginePacket::Pong),
        data.prop_map(EnginePacket::Text),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(EnginePacket::Binary),
        Just(EnginePacket::Upgrade),
        Just(EnginePacket::Noop),
    ]
}

proptest! {
    #[test]
    fn websocket_round_trip(p in packet()) {
        prop_assert_eq!(EnginePacket::decode_ws(p.encode_ws()).unwrap(), p);
    }

    #[test]
    fn polling_round_trip(packets in proptest::collection::vec(packet(), 1..20)) {
        let body = encode_payload(&packets);
        prop_assert_eq!(decode_payload(body.as_bytes()).unwrap(), packets.clone());
        let predicted: usize = packets.iter().map(EnginePacket::polling_len).sum::<usize>() + packets.len() - 1;
        prop_assert_eq!(body.len(), predicted);
    }

    #[test]
    fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_payload(&bytes);
        let _ = EnginePacket::decode_ws(WsFrame::Binary(bytes.clone()));
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = EnginePacket::decode_text(s);
            let _ = Handshake::parse(s);
        }
    }
}
