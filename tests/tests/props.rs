//! Properties of the session over any input.

use std::time::Instant;

use base64::Engine as _;
use proptest::prelude::*;
use unicat_core::io::{Input, Machine, Output, WsFrame};
use unicat_core::session::{SessionEvent, SessionState};
use unicat_tests::drive::{connected_polling, connected_ws, drain, last_get, ok};

/// One packet a server may send, as a polling entry and as WebSocket frames.
#[derive(Clone, Debug)]
enum ServerPacket {
    Event(String, i64),
    EventWithAck(u64, String),
    Binary(Vec<u8>),
    Ping,
    Noop,
}

impl ServerPacket {
    fn polling_entries(&self) -> Vec<String> {
        match self {
            ServerPacket::Event(name, n) => vec![format!("42[\"{name}\",{n}]")],
            ServerPacket::EventWithAck(id, name) => vec![format!("42{id}[\"{name}\"]")],
            ServerPacket::Binary(bytes) => vec![
                r#"451-["blob",{"_placeholder":true,"num":0}]"#.to_string(),
                format!(
                    "b{}",
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                ),
            ],
            ServerPacket::Ping => vec!["2".into()],
            ServerPacket::Noop => vec!["6".into()],
        }
    }

    fn ws_frames(&self) -> Vec<WsFrame> {
        match self {
            ServerPacket::Binary(bytes) => vec![
                WsFrame::Text(r#"451-["blob",{"_placeholder":true,"num":0}]"#.into()),
                WsFrame::Binary(bytes.clone()),
            ],
            ServerPacket::Noop => vec![],
            other => other
                .polling_entries()
                .into_iter()
                .map(WsFrame::Text)
                .collect(),
        }
    }
}

fn server_packet() -> impl Strategy<Value = ServerPacket> {
    prop_oneof![
        ("[a-z]{1,8}", any::<i64>()).prop_map(|(n, i)| ServerPacket::Event(n, i)),
        (0u64..1000, "[a-z]{1,8}").prop_map(|(id, n)| ServerPacket::EventWithAck(id, n)),
        proptest::collection::vec(any::<u8>(), 0..32).prop_map(ServerPacket::Binary),
        Just(ServerPacket::Ping),
        Just(ServerPacket::Noop),
    ]
}

/// What the application and the server observe: events, plus the pongs the client sends.
fn observed(outputs: &[Output<SessionEvent>]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(format!("{e:?}")),
            Output::Http { request, .. } if request.request.method() == http::Method::POST => {
                Some(format!(
                    "POST {:?}",
                    String::from_utf8_lossy(request.request.body().as_bytes())
                ))
            }
            Output::WsSend {
                frame: WsFrame::Text(t),
                ..
            } => Some(format!("POST {t:?}")),
            _ => None,
        })
        .collect()
}

/// Feeds polling entries as GET bodies, one body per group, and answers every POST.
fn feed_polling(groups: &[Vec<String>]) -> Vec<String> {
    let now = Instant::now();
    let (mut s, mut get) = connected_polling(now);
    let mut seen = Vec::new();
    for group in groups {
        s.handle_input(
            now,
            Input::HttpResponse {
                id: get,
                response: ok(group.join("\x1e")),
            },
        );
        loop {
            let out = drain(&mut s);
            if out.is_empty() {
                break;
            }
            seen.extend(observed(&out));
            if let Some(g) = last_get(&out) {
                get = g;
            }
            for o in &out {
                if let Output::Http { id, request } = o {
                    if request.request.method() == http::Method::POST {
                        s.handle_input(
                            now,
                            Input::HttpResponse {
                                id: *id,
                                response: ok("ok"),
                            },
                        );
                    }
                }
            }
        }
    }
    // Pongs may be batched differently, and one pong waiting for its POST answers every ping
    // before it, so how many go out depends on the batching; that pings are answered, and what
    // else the server receives, in order, must not.
    let pongs: usize = seen
        .iter()
        .filter(|o| o.starts_with("POST"))
        .map(|o| o.matches('3').count())
        .sum();
    seen.retain(|o| !o.starts_with("POST"));
    seen.push(format!("answered pings: {}", pongs > 0));
    seen
}

proptest! {
    /// The same packets in one polling body, or spread over several, give the same events.
    #[test]
    fn polling_split_invariance(
        packets in proptest::collection::vec(server_packet(), 1..20),
        cuts in proptest::collection::vec(any::<bool>(), 40),
    ) {
        let entries: Vec<String> = packets.iter().flat_map(ServerPacket::polling_entries).collect();
        let whole = feed_polling(std::slice::from_ref(&entries));
        let mut groups: Vec<Vec<String>> = vec![Vec::new()];
        for (i, e) in entries.into_iter().enumerate() {
            if cuts.get(i).copied().unwrap_or(false) && !groups.last().unwrap().is_empty() {
                groups.push(Vec::new());
            }
            groups.last_mut().unwrap().push(e);
        }
        let split = feed_polling(&groups);
        prop_assert_eq!(&whole, &split);
        let one_each: Vec<Vec<String>> = groups.concat().into_iter().map(|e| vec![e]).collect();
        prop_assert_eq!(whole, feed_polling(&one_each));
    }

    /// Polling and WebSocket deliver the same events for the same packets.
    #[test]
    fn transport_invariance(packets in proptest::collection::vec(server_packet(), 1..20)) {
        let now = Instant::now();
        let (mut s, ws) = connected_ws(now);
        let mut seen = Vec::new();
        for p in &packets {
            for frame in p.ws_frames() {
                s.handle_input(now, Input::WsMessage { id: ws, frame });
                seen.extend(observed(&drain(&mut s)).into_iter().filter(|o| !o.starts_with("POST")));
            }
        }
        let entries: Vec<String> = packets.iter().flat_map(ServerPacket::polling_entries).collect();
        let mut polled = feed_polling(&[entries]);
        polled.pop();
        prop_assert_eq!(seen, polled);
    }

    /// Any sequence of frames keeps the session's invariants: no panic, outputs drain, a timer
    /// is armed unless the session is idle or closed.
    #[test]
    fn arbitrary_frames_keep_invariants(frames in proptest::collection::vec(
        prop_oneof![
            ".{0,40}".prop_map(WsFrame::Text),
            "[0-6][0-6]?[-0-9/,\\[\\]\"a-z{}:]{0,30}".prop_map(WsFrame::Text),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(WsFrame::Binary),
        ], 0..30)) {
        let now = Instant::now();
        let (mut s, ws) = connected_ws(now);
        for frame in frames {
            s.handle_input(now, Input::WsMessage { id: ws, frame });
            let mut n = 0;
            while s.poll_output().is_some() {
                n += 1;
                prop_assert!(n < 10_000);
            }
            // A server DISCONNECT of the main namespace ends the session on purpose: no timer.
            let at_rest = matches!(s.state(), SessionState::Idle | SessionState::Closed);
            prop_assert!(at_rest || s.poll_timeout().is_some(), "no timer in {:?}", s.state());
        }
    }
}
