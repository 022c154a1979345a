//! The session walked through the protocol's own scenarios on a virtual clock.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use unicat_core::config::{Limits, SessionConfig, TransportMode};
use unicat_core::error::{DisconnectReason, UsageError};
use unicat_core::io::Machine;
use unicat_core::session::{AckError, Session, SessionEvent, SessionState, TransportKind};
use unicat_tests::sim::{FakeServer, Pair, ServerConfig};

fn config(mode: TransportMode) -> SessionConfig {
    SessionConfig::new("http://127.0.0.1:3000", "/sync/io")
        .unwrap()
        .transport(mode)
        .rng_seed(1)
}

fn pair(mode: TransportMode, server: ServerConfig) -> Pair {
    let t0 = Instant::now();
    Pair::new(Session::new(config(mode), t0), FakeServer::new(server), t0)
}

/// An auth callback that hands out a fresh token number at every CONNECT.
fn counting_auth(pair: &mut Pair) {
    let mut n = 0;
    pair.auth = Box::new(move || {
        n += 1;
        Some(json!({"token": "s3cret", "n": n}))
    });
}

fn has(events: &[SessionEvent], pred: impl Fn(&SessionEvent) -> bool) -> bool {
    events.iter().any(pred)
}

#[test]
fn handshake_auth_ack_ten_minutes_of_heartbeats_then_server_disconnect_without_reconnect() {
    let mut p = pair(
        TransportMode::WebSocket,
        ServerConfig {
            token: Some("s3cret".into()),
            ..ServerConfig::default()
        },
    );
    counting_auth(&mut p);
    p.client.connect(p.now).unwrap();
    p.settle();
    assert_eq!(
        p.transcript,
        [
            "OpenWs",
            "Event Opened",
            "Event AuthRequested",
            "WsSend 40",
            "Event Connected"
        ]
    );
    assert_eq!(
        p.server.seen.auths,
        [Some(json!({"token": "s3cret", "n": 1}))]
    );

    let id = p
        .client
        .emit(
            p.now,
            "/",
            "echo",
            vec![json!({"price": 12.5})],
            vec![],
            Some(Duration::from_secs(5)),
        )
        .unwrap()
        .unwrap();
    p.settle();
    assert!(has(&p.events, |e| matches!(e,
        SessionEvent::AckReceived { id: got, args, .. } if *got == id && args == &[json!({"price": 12.5})])));

    p.run_for(Duration::from_secs(600));
    assert_eq!(p.server.seen.pongs, 24, "one pong per 25 s ping");
    assert_eq!(p.server.seen.client_pings, 0, "a v4 client never pings");
    assert!(p.client.is_connected("/"));
    assert!(!has(&p.events, |e| matches!(
        e,
        SessionEvent::Disconnected { .. }
    )));

    p.take_events();
    p.server.kick();
    p.settle();
    assert_eq!(
        p.events,
        [
            SessionEvent::NamespaceDisconnected {
                ns: "/".into(),
                reason: DisconnectReason::ServerDisconnect
            },
            SessionEvent::Disconnected {
                reason: DisconnectReason::ServerDisconnect
            },
        ]
    );
    p.run_for(Duration::from_secs(60));
    assert_eq!(
        p.server.seen.handshakes, 1,
        "no reconnect after a server DISCONNECT"
    );
    assert_eq!(p.client.state(), SessionState::Idle);
    assert_eq!(p.client.poll_timeout(), None);
}

#[test]
fn transport_loss_backs_off_then_reconnects_with_fresh_auth() {
    let mut p = pair(TransportMode::WebSocket, ServerConfig::default());
    counting_auth(&mut p);
    p.client.connect(p.now).unwrap();
    p.settle();
    p.take_events();

    let lost_at = p.now;
    p.server.drop_transport();
    p.settle();
    let delay = match p.events.as_slice() {
        [SessionEvent::NamespaceDisconnected {
            reason: DisconnectReason::TransportClose,
            ..
        }, SessionEvent::Disconnected {
            reason: DisconnectReason::TransportClose,
        }, SessionEvent::Reconnecting { attempt: 1, delay }] => *delay,
        other => panic!("unexpected events {other:#?}"),
    };
    assert!((500..=1500).contains(&delay.as_millis()), "{delay:?}");

    p.drive_until(10, |p| p.client.is_connected("/"));
    assert_eq!(
        p.now - lost_at,
        delay,
        "the reconnect starts when the backoff says"
    );
    assert_eq!(p.server.seen.handshakes, 2);
    assert_eq!(
        p.server.seen.auths[1],
        Some(json!({"token": "s3cret", "n": 2})),
        "auth asked afresh"
    );
}

#[test]
fn reconnect_delays_grow_to_the_cap_while_the_server_stays_down() {
    let mut p = pair(TransportMode::WebSocket, ServerConfig::default());
    p.client.connect(p.now).unwrap();
    p.settle();
    p.server.cfg.down = true;
    p.server.drop_transport();
    p.run_for(Duration::from_secs(60));
    let delays: Vec<(u32, u128)> = p
        .events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Reconnecting { attempt, delay } => Some((*attempt, delay.as_millis())),
            _ => None,
        })
        .collect();
    assert!(delays.len() >= 10, "{delays:?}");
    for (i, (attempt, ms)) in delays.iter().enumerate() {
        assert_eq!(*attempt as usize, i + 1);
        let range = match attempt {
            1 => 500..=1500,
            2 => 1000..=3000,
            _ => 2000..=5000,
        };
        assert!(range.contains(ms), "attempt {attempt}: {ms} ms");
    }
    assert!(p.events.iter().any(|e| matches!(
        e,
        SessionEvent::Disconnected {
            reason: DisconnectReason::TransportError(_)
        }
    )));

    p.server.cfg.down = false;
    p.drive_until(10, |p| p.client.is_connected("/"));
    p.take_events();
    p.server.drop_transport();
    p.settle();
    assert!(
        p.events
            .iter()
            .any(|e| matches!(e, SessionEvent::Reconnecting { attempt: 1, .. })),
        "a successful open resets the backoff"
    );
}

#[test]
fn polling_then_upgrade_probes_pauses_and_switches() {
    let mut p = pair(TransportMode::PollingThenUpgrade, ServerConfig::default());
    p.client.connect(p.now).unwrap();
    p.settle();
    assert_eq!(
        p.transcript[..3],
        ["Http GET", "Event Opened", "Event AuthRequested"]
    );
    assert!(
        p.transcript.contains(&"WsSend 2p".to_string()),
        "{:?}",
        p.transcript
    );
    let probe = p.transcript.iter().position(|t| t == "WsSend 2p").unwrap();
    let upgrade = p.transcript.iter().position(|t| t == "WsSend 5").unwrap();
    let upgraded = p
        .transcript
        .iter()
        .position(|t| t == "Event Upgraded")
        .unwrap();
    assert!(probe < upgrade && upgrade < upgraded);
    assert!(has(&p.events, |e| matches!(
        e,
        SessionEvent::Opened {
            transport: TransportKind::Polling
        }
    )));
    assert_eq!(
        p.client.state(),
        SessionState::Open(TransportKind::WebSocket)
    );
    assert!(p.server.on_websocket());
    assert!(p.client.is_connected("/"));

    // The session works over the new transport, heartbeats included.
    let id = p
        .client
        .emit(
            p.now,
            "/",
            "echo",
            vec![json!("over ws")],
            vec![],
            Some(Duration::from_secs(5)),
        )
        .unwrap()
        .unwrap();
    p.run_for(Duration::from_secs(120));
    assert!(has(
        &p.events,
        |e| matches!(e, SessionEvent::AckReceived { id: got, .. } if *got == id)
    ));
    assert!(p.server.seen.pongs >= 4);
    assert!(p.client.is_connected("/"));
}

#[test]
fn polling_only_batches_posts_and_keeps_heartbeats() {
    let mut p = pair(TransportMode::Polling, ServerConfig::default());
    p.client.connect(p.now).unwrap();
    p.settle();
    assert!(p.client.is_connected("/"));
    for i in 0..40 {
        p.client
            .emit(p.now, "/", "bulk", vec![json!(i)], vec![], None)
            .unwrap();
    }
    p.settle();
    let bulk: Vec<i64> = p
        .server
        .seen
        .events
        .iter()
        .filter(|(n, _)| n == "bulk")
        .map(|(_, a)| a[0].as_i64().unwrap())
        .collect();
    assert_eq!(bulk, (0..40).collect::<Vec<_>>(), "every emit, in order");
    assert!(
        p.server
            .seen
            .posts
            .iter()
            .all(|b| b.split('\x1e').count() <= 16),
        "python-engineio drops packets past the 16th of a POST"
    );
    p.run_for(Duration::from_secs(300));
    assert!(p.client.is_connected("/"));
    assert_eq!(p.server.seen.pongs, 12);
}

#[test]
fn a_refused_websocket_falls_back_to_polling() {
    let mut p = pair(
        TransportMode::WebSocket,
        ServerConfig {
            websocket: false,
            ..ServerConfig::default()
        },
    );
    p.client.connect(p.now).unwrap();
    p.settle();
    assert_eq!(p.transcript[..2], ["OpenWs", "Http GET"]);
    assert_eq!(p.client.state(), SessionState::Open(TransportKind::Polling));
    assert!(p.client.is_connected("/"));
}

#[test]
fn missed_pings_mean_ping_timeout_then_reconnect() {
    let mut p = pair(TransportMode::WebSocket, ServerConfig::default());
    p.client.connect(p.now).unwrap();
    p.settle();
    let t0 = p.now;
    p.server.go_silent();
    p.drive_until(10, |p| {
        has(&p.events, |e| {
            matches!(e, SessionEvent::Disconnected { .. })
        })
    });
    assert_eq!(
        p.now - t0,
        Duration::from_secs(45),
        "pingInterval + pingTimeout"
    );
    assert!(has(&p.events, |e| matches!(
        e,
        SessionEvent::Disconnected {
            reason: DisconnectReason::PingTimeout
        }
    )));
    assert!(has(&p.events, |e| matches!(
        e,
        SessionEvent::Reconnecting { attempt: 1, .. }
    )));
    p.server.wake_up();
    p.drive_until(10, |p| p.client.is_connected("/"));
    assert_eq!(p.server.seen.handshakes, 2);
}

#[test]
fn an_emit_after_a_silent_death_is_buffered_and_sent_after_reconnect() {
    let mut p = pair(TransportMode::WebSocket, ServerConfig::default());
    p.client.connect(p.now).unwrap();
    p.settle();
    p.server.go_silent();
    // The process was suspended: no timer fired, and the application emits on waking.
    p.now += Duration::from_secs(60);
    p.client
        .emit(p.now, "/", "after-sleep", vec![], vec![], None)
        .unwrap();
    assert_eq!(p.client.buffered_emits("/"), 1);
    p.settle();
    assert!(has(&p.events, |e| matches!(
        e,
        SessionEvent::Disconnected {
            reason: DisconnectReason::PingTimeout
        }
    )));
    p.server.wake_up();
    p.drive_until(10, |p| p.client.is_connected("/"));
    assert_eq!(p.server.seen.events.last().unwrap().0, "after-sleep");
}

#[test]
fn connect_error_is_reported_and_not_retried_until_asked() {
    let mut p = pair(
        TransportMode::WebSocket,
        ServerConfig {
            token: Some("good".into()),
            ..ServerConfig::default()
        },
    );
    p.auth = Box::new(|| Some(json!({"token": "bad"})));
    p.client.connect(p.now).unwrap();
    p.settle();
    assert!(has(
        &p.events,
        |e| matches!(e, SessionEvent::ConnectError { ns, message, data }
        if ns == "/" && message == "unauthorized" && data == &Some(json!({"why": "bad token"})))
    ));
    assert!(has(&p.events, |e| matches!(
        e,
        SessionEvent::Disconnected {
            reason: DisconnectReason::Refused { message }
        } if message == "unauthorized"
    )));
    p.run_for(Duration::from_secs(60));
    assert_eq!(
        p.server.seen.handshakes, 1,
        "a refusal is not retried blindly"
    );
    assert_eq!(p.client.state(), SessionState::Idle);

    p.auth = Box::new(|| Some(json!({"token": "good"})));
    p.client.connect(p.now).unwrap();
    p.settle();
    assert!(p.client.is_connected("/"));
}

#[test]
fn connect_error_as_a_bare_string() {
    let mut p = pair(TransportMode::WebSocket, ServerConfig::default());
    p.auto_auth = false;
    p.client.connect(p.now).unwrap();
    p.settle();
    p.client.authenticate(p.now, "/", None).unwrap();
    // Swallow the server's own reply by answering before it is delivered.
    p.server.send_raw_socketio("4\"Unable to connect\"");
    while let Some(input) = p.server.poll_input() {
        let is_connect = matches!(&input, unicat_core::io::Input::WsMessage { frame: unicat_core::io::WsFrame::Text(t), .. } if t.starts_with("40"));
        if !is_connect {
            p.client.handle_input(p.now, input);
        }
    }
    p.settle();
    assert!(has(
        &p.events,
        |e| matches!(e, SessionEvent::ConnectError { message, data: None, .. } if message == "Unable to connect")
    ));
}

#[test]
fn a_full_emit_buffer_is_a_typed_error() {
    let t0 = Instant::now();
    let cfg = config(TransportMode::WebSocket).limits(Limits {
        max_buffered_emits: 3,
        ..Limits::default()
    });
    let mut p = Pair::new(
        Session::new(cfg, t0),
        FakeServer::new(ServerConfig::default()),
        t0,
    );
    for i in 0..3 {
        assert_eq!(
            p.client
                .emit(t0, "/", "queued", vec![json!(i)], vec![], None),
            Ok(None)
        );
    }
    assert_eq!(
        p.client
            .emit(t0, "/", "queued", vec![json!(3)], vec![], None),
        Err(UsageError::BufferFull { capacity: 3 })
    );
    p.client.connect(t0).unwrap();
    p.settle();
    let sent: Vec<Value> = p
        .server
        .seen
        .events
        .iter()
        .map(|(_, a)| a[0].clone())
        .collect();
    assert_eq!(
        sent,
        [json!(0), json!(1), json!(2)],
        "flushed in order after the CONNECT reply"
    );
}

#[test]
fn events_before_the_connect_reply_are_held_and_released_in_order() {
    let mut p = pair(
        TransportMode::WebSocket,
        ServerConfig {
            greet_before_connect: true,
            ..ServerConfig::default()
        },
    );
    p.client.connect(p.now).unwrap();
    p.settle();
    let names: Vec<String> = p
        .events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Connected { .. } => Some("connected".to_string()),
            SessionEvent::Message { event, args, .. } => Some(format!("{event}{}", args[0])),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["connected", "greeting1", "greeting2"]);
}

#[test]
fn an_ack_timeout_is_reported_and_a_late_ack_ignored() {
    let mut p = pair(TransportMode::WebSocket, ServerConfig::default());
    p.client.connect(p.now).unwrap();
    p.settle();
    let t = p.now;
    let id = p
        .client
        .emit(
            p.now,
            "/",
            "silence",
            vec![],
            vec![],
            Some(Duration::from_secs(5)),
        )
        .unwrap()
        .unwrap();
    p.drive_until(10, |p| {
        has(&p.events, |e| matches!(e, SessionEvent::AckFailed { .. }))
    });
    assert_eq!(p.now - t, Duration::from_secs(5));
    assert!(has(&p.events, |e| *e
        == SessionEvent::AckFailed {
            id,
            error: AckError::TimedOut
        }));
    p.take_events();
    p.server.send_raw_socketio(&format!("3{}[\"late\"]", id.0));
    p.settle();
    assert!(p.events.is_empty(), "{:?}", p.events);
    assert!(p.client.is_connected("/"));
}

#[test]
fn ack_ids_are_sequential_and_never_collide() {
    let mut p = pair(TransportMode::WebSocket, ServerConfig::default());
    p.client.connect(p.now).unwrap();
    p.settle();
    let ids: Vec<u64> = (0..100)
        .map(|_| {
            p.client
                .emit(
                    p.now,
                    "/",
                    "echo",
                    vec![],
                    vec![],
                    Some(Duration::from_secs(1)),
                )
                .unwrap()
                .unwrap()
                .0
        })
        .collect();
    assert_eq!(ids, (0..100).collect::<Vec<_>>());
}

#[test]
fn a_server_event_asking_for_an_ack_is_answered_once() {
    let mut p = pair(TransportMode::WebSocket, ServerConfig::default());
    p.client.connect(p.now).unwrap();
    p.settle();
    p.server.emit_with_ack(7, "question", vec![json!("life?")]);
    p.settle();
    assert!(has(
        &p.events,
        |e| matches!(e, SessionEvent::Message { event, ack: Some(7), .. } if event == "question")
    ));
    p.client
        .ack(p.now, "/", 7, vec![json!(42)], vec![])
        .unwrap();
    p.settle();
    assert_eq!(p.server.seen.acks, [(7, vec![json!(42)])]);
    assert_eq!(
        p.client.ack(p.now, "/", 7, vec![], vec![]),
        Err(UsageError::UnknownAck(7))
    );
}

#[test]
fn misuse_is_an_error_and_changes_nothing() {
    let mut p = pair(TransportMode::WebSocket, ServerConfig::default());
    let now = p.now;
    assert_eq!(
        p.client.emit(now, "/nope", "x", vec![], vec![], None),
        Err(UsageError::UnknownNamespace("/nope".into()))
    );
    assert_eq!(
        p.client.emit(now, "/", "connect", vec![], vec![], None),
        Err(UsageError::ReservedEvent("connect".into()))
    );
    assert_eq!(
        p.client.emit(
            now,
            "/",
            "x",
            vec![json!({"_placeholder": true, "num": 0})],
            vec![],
            None
        ),
        Err(UsageError::InvalidAttachments)
    );
    assert_eq!(
        p.client.authenticate(now, "/", None),
        Err(UsageError::NotAwaitingAuth("/".into()))
    );
    assert_eq!(p.client.buffered_emits("/"), 0);
    assert_eq!(p.client.poll_output().map(|_| ()), None);
    p.client.connect(now).unwrap();
    assert_eq!(p.client.connect(now), Err(UsageError::AlreadyConnected));
}

#[test]
fn close_makes_the_session_inert() {
    let mut p = pair(TransportMode::WebSocket, ServerConfig::default());
    p.client.connect(p.now).unwrap();
    p.settle();
    let id = p
        .client
        .emit(
            p.now,
            "/",
            "silence",
            vec![],
            vec![],
            Some(Duration::from_secs(5)),
        )
        .unwrap()
        .unwrap();
    p.take_events();
    p.client.close(p.now);
    p.settle();
    assert!(has(&p.events, |e| *e
        == SessionEvent::AckFailed {
            id,
            error: AckError::Closed
        }));
    assert!(has(&p.events, |e| matches!(
        e,
        SessionEvent::Disconnected {
            reason: DisconnectReason::ClientClose
        }
    )));
    assert!(p.client.is_closed());
    assert_eq!(p.client.poll_timeout(), None);
    assert_eq!(p.client.connect(p.now), Err(UsageError::Closed));
    assert_eq!(
        p.client.emit(p.now, "/", "x", vec![], vec![], None),
        Err(UsageError::Closed)
    );
    p.server.emit("ignored", vec![]);
    p.settle();
    assert!(!has(&p.events, |e| matches!(
        e,
        SessionEvent::Message { .. }
    )));
}

#[test]
fn the_same_seed_and_inputs_give_the_same_transcript() {
    let run = || {
        let mut p = pair(TransportMode::PollingThenUpgrade, ServerConfig::default());
        p.client.connect(p.now).unwrap();
        p.settle();
        for _ in 0..5 {
            p.server.drop_transport();
            p.drive_until(20, |p| p.client.is_connected("/"));
        }
        let delays: Vec<Duration> = p
            .events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Reconnecting { delay, .. } => Some(*delay),
                _ => None,
            })
            .collect();
        (p.transcript, delays)
    };
    assert_eq!(run(), run());
}

#[test]
fn a_binary_emit_sends_its_attachments_after_the_header_and_a_binary_ack_comes_back() {
    use unicat_core::io::{Input, Output, WsFrame};
    use unicat_tests::drive::{connected_ws, drain};
    let now = Instant::now();
    let (mut s, ws) = connected_ws(now);
    let args = vec![json!({"_placeholder": true, "num": 0}), json!("logo.png")];
    let id = s
        .emit(
            now,
            "/",
            "upload",
            args,
            vec![vec![1, 2, 3]],
            Some(Duration::from_secs(5)),
        )
        .unwrap()
        .unwrap();
    let frames: Vec<WsFrame> = drain(&mut s)
        .into_iter()
        .filter_map(|o| match o {
            Output::WsSend { frame, .. } => Some(frame),
            _ => None,
        })
        .collect();
    assert_eq!(
        frames,
        [
            WsFrame::Text(format!(
                "451-{}[\"upload\",{{\"_placeholder\":true,\"num\":0}},\"logo.png\"]",
                id.0
            )),
            WsFrame::Binary(vec![1, 2, 3]),
        ]
    );
    let header = format!("461-{}[{{\"_placeholder\":true,\"num\":0}}]", id.0);
    s.handle_input(
        now,
        Input::WsMessage {
            id: ws,
            frame: WsFrame::Text(header),
        },
    );
    assert!(drain(&mut s).is_empty(), "the ack waits for its attachment");
    s.handle_input(
        now,
        Input::WsMessage {
            id: ws,
            frame: WsFrame::Binary(vec![9]),
        },
    );
    let events: Vec<SessionEvent> = unicat_tests::drive::events(&drain(&mut s));
    assert_eq!(
        events,
        [SessionEvent::AckReceived {
            id,
            args: vec![json!({"_placeholder": true, "num": 0})],
            raw: None,
            attachments: vec![vec![9]]
        }]
    );
}
