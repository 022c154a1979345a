//! The rule that live sync never stops on its own, one table row per way a connection can
//! fail, on the virtual clock: each failure ends in a reconnect through the session's backoff
//! with its cause reported, and once the faults stop the client is healthy again. Only the
//! stop reasons stop it, each with an event and a stopped health.

use std::time::Duration;

use serde_json::json;
use unicat_core::api::CallError;
use unicat_core::client::{
    Cause, ClientConfig, Event, FirstConnect, Health, InitsyncFailure, StopReason,
};
use unicat_core::config::{ReconnectPolicy, TransportMode};
use unicat_core::error::{DisconnectReason, TransportErrorKind};
use unicat_core::io::{Input, Machine};
use unicat_tests::script::{envelope, failure, item, no_retries, record, Script, OPEN};

/// A client connected, caught up, and holding `r1`.
fn live(f: impl FnOnce(ClientConfig) -> ClientConfig) -> Script {
    let data = json!({"records": {"r1": record("r1", 1.0)}});
    let s = Script::connected(1, 10, data, f);
    assert_eq!(s.client.health(), Health::Connected);
    s
}

fn keep_key(c: ClientConfig) -> ClientConfig {
    c.keep_api_key(true)
}

/// The causes of the `Reconnecting` events seen so far.
fn causes(s: &Script) -> Vec<Cause> {
    s.events
        .iter()
        .filter_map(|e| match e {
            Event::Reconnecting { cause, .. } => Some(cause.clone()),
            _ => None,
        })
        .collect()
}

/// The delays of the `Reconnecting` events seen so far.
fn delays(s: &Script) -> Vec<Duration> {
    s.events
        .iter()
        .filter_map(|e| match e {
            Event::Reconnecting { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect()
}

fn stopped(s: &Script) -> Vec<StopReason> {
    s.events
        .iter()
        .filter_map(|e| match e {
            Event::Stopped { reason } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

/// Opens the socket the client asked for and gives it the Engine.IO open packet; returns the
/// frame the client sent in answer (its CONNECT), if any.
fn open(s: &mut Script) -> Option<String> {
    s.pump();
    let id = s
        .ws_opening
        .pop_front()
        .expect("the client opened no socket");
    s.client.handle_input(s.now, Input::WsOpened { id });
    s.ws = Some(id);
    let before = s.sent.len();
    s.frame(OPEN);
    s.sent.get(before).cloned()
}

/// Waits for the next reconnect attempt: the clock runs until a socket is asked for.
fn next_attempt(s: &mut Script) {
    s.advance_until(50, |s| !s.ws_opening.is_empty());
}

type Inject = fn(&mut Script);

/// One way a working connection fails, and the cause the client must report.
struct Fault {
    name: &'static str,
    inject: Inject,
    cause: fn(&Cause) -> bool,
}

fn faults() -> Vec<Fault> {
    vec![
        Fault {
            name: "the server closes the WebSocket",
            inject: |s| s.drop_socket(),
            cause: |c| matches!(c, Cause::Socket(DisconnectReason::TransportClose)),
        },
        Fault {
            name: "the connection is reset",
            inject: |s| {
                let id = s.ws.take().unwrap();
                let error = unicat_core::error::TransportError::new(
                    TransportErrorKind::Io,
                    "connection reset by peer",
                );
                s.client.handle_input(s.now, Input::WsFailed { id, error });
            },
            cause: |c| matches!(c, Cause::Socket(DisconnectReason::TransportError(_))),
        },
        Fault {
            name: "the server closes the Engine.IO session",
            inject: |s| s.frame("1"),
            cause: |c| matches!(c, Cause::Socket(DisconnectReason::TransportClose)),
        },
        Fault {
            name: "the server goes silent: no ping for pingInterval + pingTimeout",
            inject: |s| s.advance(Duration::from_secs(46)),
            cause: |c| matches!(c, Cause::Socket(DisconnectReason::PingTimeout)),
        },
        Fault {
            name: "the server sends garbage",
            inject: |s| s.frame("9garbage"),
            cause: |c| matches!(c, Cause::Socket(DisconnectReason::Protocol(_))),
        },
    ]
}

#[test]
fn every_loss_of_a_working_connection_reconnects_through_the_backoff() {
    for fault in faults() {
        let mut s = live(|c| c);
        s.take_events();
        (fault.inject)(&mut s);
        s.pump();
        let seen = causes(&s);
        assert_eq!(seen.len(), 1, "{}: {:#?}", fault.name, s.events);
        assert!((fault.cause)(&seen[0]), "{}: {:?}", fault.name, seen[0]);
        match s.client.health() {
            Health::Reconnecting {
                attempts: 1, cause, ..
            } => assert_eq!(cause, seen[0], "{}", fault.name),
            other => panic!("{}: {other:?}", fault.name),
        }
        // The first delay of the default policy: 1 s, ±50 %.
        let d = delays(&s)[0];
        assert!(
            d >= Duration::from_millis(500) && d <= Duration::from_millis(1500),
            "{}: {d:?}",
            fault.name
        );
        s.heal(100);
        assert_eq!(s.client.health(), Health::Connected, "{}", fault.name);
        assert!(stopped(&s).is_empty(), "{}", fault.name);
    }
}

/// One way a connection attempt fails before it is healthy.
struct AttemptFault {
    name: &'static str,
    /// Runs on a client whose socket just lost its connection: makes the next attempt fail.
    fail_attempt: Inject,
    cause: fn(&Cause) -> bool,
}

fn refuse(s: &mut Script, message: &str) {
    let connect = open(s).expect("a CONNECT");
    assert!(connect.starts_with("40"), "{connect}");
    s.frame(&format!("44{}", json!({ "message": message })));
}

fn attempt_faults() -> Vec<AttemptFault> {
    vec![
        AttemptFault {
            name: "the handshake is refused: no connection",
            fail_attempt: |s| {
                let id = s.ws_opening.pop_front().unwrap();
                let error = unicat_core::error::TransportError::new(
                    TransportErrorKind::Connect,
                    "connection refused",
                );
                s.client.handle_input(s.now, Input::WsFailed { id, error });
            },
            cause: |c| matches!(c, Cause::Socket(DisconnectReason::TransportError(_))),
        },
        AttemptFault {
            name: "the WebSocket handshake is answered 503 while the server restarts",
            fail_attempt: |s| {
                let id = s.ws_opening.pop_front().unwrap();
                let error = unicat_core::error::TransportError::new(
                    TransportErrorKind::HandshakeRejected { status: 503 },
                    "Service Unavailable",
                );
                s.client.handle_input(s.now, Input::WsFailed { id, error });
            },
            cause: |c| matches!(c, Cause::Socket(DisconnectReason::TransportError(_))),
        },
        AttemptFault {
            name: "the CONNECT is refused: Service unavailable",
            fail_attempt: |s| refuse(s, "Service unavailable"),
            cause: |c| matches!(c, Cause::Refused { message } if message == "Service unavailable"),
        },
        AttemptFault {
            name: "the CONNECT is refused with an empty message",
            fail_attempt: |s| {
                open(s);
                s.frame("44{}");
            },
            cause: |c| matches!(c, Cause::Refused { message } if message.is_empty()),
        },
        AttemptFault {
            name: "the CONNECT is never answered",
            fail_attempt: |s| {
                open(s);
                s.advance(Duration::from_secs(21));
            },
            cause: |c| matches!(c, Cause::Socket(DisconnectReason::ConnectTimeout)),
        },
        AttemptFault {
            name: "initsync is answered without a list",
            fail_attempt: |s| {
                open(s);
                s.frame(r#"40{"sid":"s2"}"#);
                let init = s.sent.last().unwrap().clone();
                let id: String = init[2..].chars().take_while(char::is_ascii_digit).collect();
                s.frame(&format!("43{id}[null]"));
            },
            cause: |c| matches!(c, Cause::Initsync(InitsyncFailure::NoList)),
        },
        AttemptFault {
            name: "initsync is never answered",
            fail_attempt: |s| {
                open(s);
                s.frame(r#"40{"sid":"s2"}"#);
                // Pings keep the transport alive; only the ack is missing.
                for _ in 0..2 {
                    s.advance(Duration::from_secs(20));
                    s.frame("2");
                }
                s.advance(Duration::from_secs(21));
            },
            cause: |c| matches!(c, Cause::Initsync(InitsyncFailure::TimedOut)),
        },
        AttemptFault {
            name: "the server's maxPayload is too small for initsync",
            fail_attempt: |s| {
                s.pump();
                let id = s.ws_opening.pop_front().unwrap();
                s.client.handle_input(s.now, Input::WsOpened { id });
                s.ws = Some(id);
                s.frame(r#"0{"sid":"tiny","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":40}"#);
                s.frame(r#"40{"sid":"s2"}"#);
            },
            cause: |c| {
                matches!(
                    c,
                    Cause::Initsync(InitsyncFailure::TooLarge { limit: 40, .. })
                )
            },
        },
        AttemptFault {
            name: "more sync items come while initsync is awaited than may be held",
            fail_attempt: |s| {
                open(s);
                s.frame(r#"40{"sid":"s2"}"#);
                let items: Vec<_> = (11..15)
                    .map(|c| item("p1", c, "UPDATE", "records", "r1"))
                    .collect();
                s.push(json!(items));
            },
            cause: |c| matches!(c, Cause::Overflow { limit: 3 }),
        },
    ]
}

#[test]
fn every_failed_attempt_backs_off_further_and_the_client_comes_back() {
    for fault in attempt_faults() {
        let mut s = live(|c| c.max_held_sync_items(3));
        s.take_events();
        s.drop_socket();
        // Two failed attempts in a row after the loss: each is reported, and each waits
        // longer.
        for n in 1..=2u32 {
            next_attempt(&mut s);
            (fault.fail_attempt)(&mut s);
            s.pump();
            let seen = causes(&s);
            assert_eq!(seen.len() as u32, n + 1, "{}: {:#?}", fault.name, s.events);
            assert!(
                (fault.cause)(seen.last().unwrap()),
                "{}: {:?}",
                fault.name,
                seen.last()
            );
            match s.client.health() {
                Health::Reconnecting { attempts, .. } => {
                    assert_eq!(attempts, n + 1, "{}: the counter is not reset", fault.name)
                }
                other => panic!("{}: {other:?}", fault.name),
            }
        }
        // 2 s and 4 s (±50 %) after the first 1 s: an open that is then refused or fails
        // does not reset the backoff.
        let d = delays(&s);
        assert!(d[1] >= Duration::from_millis(1000), "{}: {d:?}", fault.name);
        assert!(d[2] >= Duration::from_millis(2000), "{}: {d:?}", fault.name);
        s.heal(200);
        assert!(stopped(&s).is_empty(), "{}", fault.name);
        // Healthy again: the next loss starts from the first delay.
        s.drop_socket();
        match s.client.health() {
            Health::Reconnecting { attempts: 1, .. } => {}
            other => panic!("{}: {other:?}", fault.name),
        }
    }
}

#[test]
fn a_ten_second_refusal_streak_backs_off_and_renews_the_jwt_once() {
    let mut s = live(keep_key);
    let t0 = s.now;
    s.drop_socket();
    let mut auths = 0;
    let mut attempts = 0;
    while s.now.duration_since(t0) < Duration::from_secs(10) {
        next_attempt(&mut s);
        if s.has("/auth") {
            let r = s.take("/auth");
            auths += 1;
            s.reply(r.id, 200, envelope(json!({}), json!({})), Some("jwt-2"));
        }
        let connect = open(&mut s);
        let connect = connect.or_else(|| {
            let r = s.take("/auth");
            auths += 1;
            s.reply(r.id, 200, envelope(json!({}), json!({})), Some("jwt-2"));
            s.sent.last().cloned()
        });
        assert!(connect.unwrap().starts_with("40"));
        s.frame(r#"44{"message":"Service unavailable"}"#);
        attempts += 1;
    }
    assert_eq!(auths, 1, "one /auth per streak when no refusal names auth");
    // 1 + 2 + 4 + 5 + 5 … s, ±50 %: at most a handful of attempts in 10 s, not hundreds.
    assert!((3..=10).contains(&attempts), "{attempts} attempts");
    assert!(delays(&s).iter().all(|d| *d <= Duration::from_secs(5)));
    s.heal(100);
    assert_eq!(s.client.health(), Health::Connected);
}

#[test]
fn a_refusal_that_names_auth_renews_the_jwt_before_each_next_attempt() {
    let mut s = live(keep_key);
    s.drop_socket();
    for n in 0..3 {
        next_attempt(&mut s);
        let connect = open(&mut s);
        if n == 0 {
            assert_eq!(connect.as_deref(), Some(r#"40{"JWT":"jwt-1"}"#));
        } else {
            // The CONNECT waits for the new JWT.
            assert_eq!(connect, None);
            let r = s.take("/auth");
            let jwt = format!("jwt-{}", n + 1);
            s.reply(r.id, 200, envelope(json!({}), json!({})), Some(&jwt));
            assert_eq!(s.sent.last().unwrap(), &format!("40{{\"JWT\":\"{jwt}\"}}"));
        }
        s.frame(r#"44{"message":"Permission denied: JWT unknown or expired"}"#);
    }
    s.heal(100);
    assert_eq!(s.client.health(), Health::Connected);
}

#[test]
fn a_refusal_that_names_auth_stops_a_client_without_a_key() {
    let mut s = live(|c| c);
    s.drop_socket();
    next_attempt(&mut s);
    refuse(&mut s, "Unauthorized");
    s.pump();
    let reason = StopReason::JwtRejected {
        message: "Unauthorized".into(),
    };
    assert_eq!(stopped(&s), std::slice::from_ref(&reason));
    assert_eq!(s.client.health(), Health::Stopped { reason });
    assert_eq!(s.client.poll_timeout(), None, "nothing is scheduled");
    // Calls still work.
    let _ = s
        .client
        .call(s.now, "/records/get", None, Default::default())
        .unwrap();
    assert!(s.has("/records/get"));
}

#[test]
fn auth_failures_before_an_attempt_back_off_like_any_other() {
    type Fail = fn(&mut Script, unicat_core::io::RequestId);
    let cases: [(&str, Fail); 5] = [
        ("503", |s, id| {
            s.reply(id, 503, failure(503, "Service unavailable"), None)
        }),
        ("429", |s, id| {
            s.reply(id, 429, failure(429, "Too many"), None)
        }),
        ("a proxy's HTML 403", |s, id| {
            s.reply_bytes(id, 403, b"<html><body>Forbidden</body></html>")
        }),
        ("a timeout", |s, id| {
            s.fail_with(id, TransportErrorKind::Timeout)
        }),
        ("no connection", |s, id| {
            s.fail_with(id, TransportErrorKind::Connect)
        }),
    ];
    for (name, fail) in cases {
        let mut s = live(keep_key);
        s.frame(r#"42["sync",[]]"#);
        // The JWT expires while the socket is down: the next attempt needs a new one.
        s.drop_socket();
        next_attempt(&mut s);
        refuse(&mut s, "Permission denied");
        for _ in 0..2 {
            next_attempt(&mut s);
            assert_eq!(open(&mut s), None, "{name}: the CONNECT waits for /auth");
            let r = s.take("/auth");
            fail(&mut s, r.id);
            s.pump();
            assert!(
                matches!(causes(&s).last(), Some(Cause::Auth(_))),
                "{name}: {:?}",
                causes(&s)
            );
            assert!(!s.client.health().is_stopped(), "{name}");
        }
        s.heal(100);
        assert_eq!(s.client.health(), Health::Connected, "{name}");
    }
}

#[test]
fn a_rejected_key_stops_live_sync() {
    let mut s = live(keep_key);
    s.drop_socket();
    next_attempt(&mut s);
    refuse(&mut s, "Permission denied");
    next_attempt(&mut s);
    open(&mut s);
    let r = s.take("/auth");
    s.reply(r.id, 403, failure(403, "Unknown user"), None);
    match s.client.health() {
        Health::Stopped {
            reason: StopReason::KeyRejected(e),
        } => assert_eq!(e.code, 403),
        other => panic!("{other:?}"),
    }
    assert_eq!(stopped(&s).len(), 1);
    assert_eq!(s.client.poll_timeout(), None);
    assert!(s.ws_opening.is_empty());
}

#[test]
fn a_server_disconnect_stops_live_sync() {
    let mut s = live(|c| c);
    s.frame("41");
    assert_eq!(stopped(&s), [StopReason::ServerDisconnect]);
    assert_eq!(
        s.client.health(),
        Health::Stopped {
            reason: StopReason::ServerDisconnect
        }
    );
    s.advance(Duration::from_secs(60));
    assert!(
        s.ws_opening.is_empty(),
        "the protocol says not to reconnect"
    );
    // The application may start again.
    let _ = s
        .client
        .connect(s.now, unicat_core::api::Secret::new("key-1"))
        .unwrap();
    s.heal(100);
    assert_eq!(s.client.health(), Health::Connected);
}

#[test]
fn the_applications_attempt_limit_stops_live_sync() {
    let mut s = live(|c| {
        c.reconnect(ReconnectPolicy {
            max_attempts: Some(2),
            ..ReconnectPolicy::default()
        })
    });
    s.drop_socket();
    for _ in 0..2 {
        next_attempt(&mut s);
        refuse(&mut s, "Service unavailable");
    }
    assert_eq!(stopped(&s), [StopReason::ReconnectFailed { attempts: 2 }]);
    assert!(s.client.health().is_stopped());
    assert_eq!(s.client.poll_timeout(), None);
}

#[test]
fn a_payload_limit_that_persists_stops_live_sync() {
    let mut s = live(|c| c);
    s.drop_socket();
    for _ in 0..3 {
        next_attempt(&mut s);
        let id = s.ws_opening.pop_front().unwrap();
        s.client.handle_input(s.now, Input::WsOpened { id });
        s.ws = Some(id);
        s.frame(r#"0{"sid":"tiny","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":40}"#);
        s.frame(r#"40{"sid":"s2"}"#);
    }
    match stopped(&s).as_slice() {
        [StopReason::PayloadLimit { limit: 40, size }] => assert!(*size > 40),
        other => panic!("{other:?}"),
    }
    assert!(!s.client.is_caught_up());
}

#[test]
fn close_stops_live_sync() {
    let mut s = live(|c| c);
    s.client.close(s.now);
    s.pump();
    assert_eq!(stopped(&s), [StopReason::Closed]);
    assert_eq!(
        s.client.health(),
        Health::Stopped {
            reason: StopReason::Closed
        }
    );
}

#[test]
fn a_failed_fetch_is_retried_on_its_own_schedule_without_reconnecting() {
    let mut s = live(no_retries);
    s.push(json!([item("p1", 11, "UPDATE", "records", "r1")]));
    let ws = s.ws;
    let mut sent_at = Vec::new();
    type Fail = fn(&mut Script, unicat_core::io::RequestId);
    let failures: [Fail; 5] = [
        |s, id| s.reply(id, 503, failure(503, "Service unavailable"), None),
        |s, id| s.reply(id, 429, failure(429, "Too many requests"), None),
        |s, id| s.fail_with(id, TransportErrorKind::Timeout),
        |s, id| s.reply(id, 500, failure(500, "Internal error"), None),
        |s, id| s.reply_bytes(id, 502, b"<html>Bad gateway</html>"),
    ];
    for fail in failures {
        s.advance_until(100, |s| {
            s.frame("2");
            s.has("/records/get")
        });
        sent_at.push(s.now);
        let r = s.take("/records/get");
        fail(&mut s, r.id);
        assert_eq!(
            s.client.store().cursor(),
            10,
            "the cursor waits for the change"
        );
        assert_eq!(s.ws, ws, "the socket stays");
        assert_eq!(s.client.health(), Health::CatchingUp);
    }
    // 5, 10, 20, 40 s: each failure in a row waits twice as long.
    let gaps: Vec<u64> = sent_at
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).as_secs())
        .collect();
    assert_eq!(gaps, [5, 10, 20, 40]);
    // And no more than the cap: 60 s, not 80. The server's pings keep the socket up.
    for _ in 0..3 {
        s.advance(Duration::from_secs(19));
        s.frame("2");
    }
    s.advance(Duration::from_secs(2));
    assert!(!s.has("/records/get"));
    s.advance(Duration::from_secs(1));
    let r = s.take("/records/get");
    s.reply(
        r.id,
        200,
        envelope(json!({}), json!({"records": {"r1": record("r1", 2.0)}})),
        None,
    );
    assert_eq!(s.client.store().cursor(), 11);
    assert_eq!(s.client.health(), Health::Connected);
    assert!(causes(&s).is_empty(), "no reconnect");
}

#[test]
fn a_failed_reload_after_a_restore_is_retried_and_the_cursor_waits() {
    let mut s = live(no_retries);
    let done = json!({"type": "cc", "cursor": 2, "action": "UPDATE", "data_type": "jobs", "data_key": "t1",
        "data": {"project_gid": "p1", "job": "restore_project", "status": "done", "info": {}}});
    s.push(json!([done]));
    let r = s.take("/init");
    s.reply(r.id, 503, failure(503, "Service unavailable"), None);
    assert_eq!(
        s.client.store().cc_cursor(),
        1,
        "the restore is not applied yet"
    );
    s.advance(Duration::from_secs(4));
    assert!(!s.has("/init"));
    s.advance(Duration::from_secs(1));
    let r = s.take("/init");
    s.land(r.id, (2, 10), json!({}));
    s.advance_until(10, |s| s.has("/records/get"));
    let r = s.take("/records/get");
    s.reply(
        r.id,
        200,
        envelope(json!({}), json!({"records": {"r1": record("r1", 3.0)}})),
        None,
    );
    assert_eq!(s.client.store().cc_cursor(), 2);
    assert!(s.events.contains(&Event::StoreReset));
    assert!(!s
        .events
        .iter()
        .any(|e| matches!(e, Event::SyncError { .. })));
}

#[test]
fn the_first_connect_fails_fast_with_a_typed_error() {
    let mut s = Script::new(|c| c);
    let call = s
        .client
        .connect(s.now, unicat_core::api::Secret::new("key-1"))
        .unwrap();
    assert_eq!(s.client.health(), Health::Connecting);
    let r = s.take("/auth");
    s.fail_with(r.id, TransportErrorKind::Connect);
    // One retry, 100 ms later.
    s.advance(Duration::from_millis(100));
    let r = s.take("/auth");
    s.fail_with(r.id, TransportErrorKind::Connect);
    match s.result(call) {
        Some(Err(CallError::Transport(e))) => assert_eq!(e.kind, TransportErrorKind::Connect),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.client.health(),
        Health::Stopped {
            reason: StopReason::ConnectFailed(_)
        }
    ));
    assert_eq!(s.client.poll_timeout(), None);
}

#[test]
fn a_rejected_key_fails_the_first_connect_at_once() {
    for mode in [FirstConnect::FailFast, FirstConnect::KeepTrying] {
        let mut s = Script::new(|c| c.first_connect(mode));
        let call = s
            .client
            .connect(s.now, unicat_core::api::Secret::new("typo"))
            .unwrap();
        let r = s.take("/auth");
        s.reply(r.id, 403, failure(403, "Unknown user"), None);
        assert!(
            matches!(s.result(call), Some(Err(CallError::Api(e))) if e.code == 403),
            "{mode:?}"
        );
        assert!(
            matches!(
                s.client.health(),
                Health::Stopped {
                    reason: StopReason::KeyRejected(_)
                }
            ),
            "{mode:?}"
        );
        assert_eq!(s.client.poll_timeout(), None, "{mode:?}");
    }
}

#[test]
fn a_daemon_keeps_trying_its_first_connect_through_the_backoff() {
    let mut s = Script::new(|c| c.first_connect(FirstConnect::KeepTrying));
    let call = s
        .client
        .connect(s.now, unicat_core::api::Secret::new("key-1"))
        .unwrap();
    for _ in 0..4 {
        // Each attempt: the request and its one quick retry.
        for _ in 0..2 {
            s.advance_until(20, |s| s.has("/auth"));
            let r = s.take("/auth");
            s.fail_with(r.id, TransportErrorKind::Connect);
        }
        assert!(matches!(
            s.client.health(),
            Health::Reconnecting {
                cause: Cause::Auth(_),
                ..
            }
        ));
    }
    assert_eq!(s.result(call), None, "the call waits");
    let d = delays(&s);
    assert_eq!(d.len(), 4);
    assert!(d[3] >= Duration::from_millis(2500), "{d:?}");
    s.heal(100);
    assert!(matches!(s.result(call), Some(Ok(_))));
    assert_eq!(s.client.health(), Health::Connected);
}

#[test]
fn health_before_connect_is_idle_and_stats_count_the_queues() {
    let s = Script::new(|c| c);
    assert_eq!(s.client.health(), Health::Idle);
    let mut s = live(no_retries);
    s.push(json!([
        item("p1", 11, "UPDATE", "records", "r1"),
        item("p1", 12, "INSERT", "definitions", "d1"),
    ]));
    let stats = s.client.stats();
    assert_eq!(stats.fetches_in_flight, 2);
    assert_eq!(stats.queued_fetches, 0);
    assert_eq!(stats.pending_calls, 2);
    assert_eq!(stats.store_objects, 1);
    s.drop_socket();
    // While disconnected, an initsync's worth of items waits in no queue: the server sends
    // them again.
    assert_eq!(s.client.stats().held_sync_items, 0);
}

#[test]
fn a_connect_reply_and_a_close_in_one_poll_leave_no_stray_initsync() {
    let mut s = Script::new(|c| c.transport(TransportMode::Polling));
    let _ = s.authenticate(1, 10, json!({}));
    let handshake = s.take("/sync/io/");
    s.reply_bytes(handshake.id, 200, OPEN.as_bytes());
    s.pump();
    let post = s.requests.iter().position(|r| r.method == "POST").unwrap();
    let post = s.requests.remove(post).unwrap();
    assert!(post.raw.request.body().as_bytes().starts_with(b"40"));
    s.reply_bytes(post.id, 200, b"ok");
    let get = s.take("/sync/io/");
    // The CONNECT reply and the Engine.IO close in one long-poll answer: by the time the
    // client hears of the CONNECT, the connection is gone.
    s.reply_bytes(get.id, 200, b"40{\"sid\":\"s1\"}\x1e1");
    assert_eq!(
        s.client.stats().buffered_emits,
        0,
        "an initsync would wait for the next CONNECT beside that one's own"
    );
    assert!(matches!(s.client.health(), Health::Reconnecting { .. }));
}
