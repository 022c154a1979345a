//! The Unicat rules of the core on retries (rule 8), one test per rule, each named after it; then
//! three tests that stood after them in the old `rules.rs`: loading every record, and no secret
//! in the client's `Debug` output or in a recording.

use std::time::Duration;

use serde_json::json;
use unicat_core::api::CallError;
use unicat_core::client::CallOptions;
use unicat_core::config::TransportMode;
use unicat_core::io::{Body, Input, Machine};
use unicat_tests::script::{envelope, failure, Script, OPEN};

#[test]
fn rule_8_reads_are_retried_with_backoff_mutations_never() {
    let mut s = Script::connected(1, 1, json!({}), |c| c);
    let read = s
        .client
        .call(s.now, "/records/get", None, CallOptions::default())
        .unwrap();
    let t0 = s.now;
    let mut waits = Vec::new();
    for _ in 0..7 {
        let r = s.take("/records/get");
        s.reply(r.id, 503, json!("busy"), None);
        let before = s.now;
        s.advance_until(5, |s| s.has("/records/get"));
        waits.push((s.now - before).as_millis());
    }
    assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 6400]);
    let r = s.take("/records/get");
    s.reply(r.id, 503, json!("busy"), None);
    assert!(matches!(
        s.result(read),
        Some(Err(CallError::InvalidResponse { status: 503, .. }))
    ));
    assert!(s.now - t0 >= Duration::from_millis(12_700));

    for status in [500, 502, 504] {
        let call = s.call("/records/update", json!({"record": "r1"}));
        let r = s.take("/records/update");
        s.reply(r.id, status, json!("err"), None);
        s.advance(Duration::from_secs(60));
        assert!(!s.has("/records/update"), "a mutation was retried");
        assert!(s.result(call).unwrap().is_err());
    }
    // A mutation the application marks safe is retried.
    let call = s
        .client
        .call(
            s.now,
            "/records/update",
            Some(json!({})),
            CallOptions { safe: true },
        )
        .unwrap();
    let r = s.take("/records/update");
    s.fail(r.id);
    s.advance_until(5, |s| s.has("/records/update"));
    let r = s.take("/records/update");
    s.reply(r.id, 200, envelope(json!({"ok": 1}), json!({})), None);
    assert_eq!(s.result(call), Some(&Ok(json!({"ok": 1}))));
}

#[test]
fn rule_8_failures_that_cannot_heal_are_not_retried() {
    use unicat_core::error::TransportErrorKind;
    let mut s = Script::connected(1, 1, json!({}), |c| c);
    for kind in [TransportErrorKind::Tls, TransportErrorKind::TooLarge] {
        let call = s
            .client
            .call(s.now, "/records/get", None, CallOptions::default())
            .unwrap();
        let r = s.take("/records/get");
        s.fail_with(r.id, kind);
        assert!(matches!(s.result(call), Some(Err(CallError::Transport(e))) if e.kind == kind));
        s.advance(Duration::from_secs(30));
        assert!(!s.has("/records/get"), "{kind:?} was retried");
    }
}

#[test]
fn rule_8_a_401_re_authenticates_once_and_retries_once() {
    let mut s = Script::connected(1, 1, json!({}), |c| c.keep_api_key(true));
    let call = s.call("/records/update", json!({"record": "r1"}));
    let r = s.take("/records/update");
    s.reply(r.id, 401, failure(401, "Permission denied"), None);
    let auth = s.take("/auth");
    assert_eq!(auth.body["api_key"], "key-1");
    s.reply(auth.id, 200, envelope(json!({}), json!({})), Some("jwt-2"));
    let again = s.take("/records/update");
    assert_eq!(again.auth.as_deref(), Some("Bearer jwt-2"));
    // Still refused: no second re-auth, the 401 is the result.
    s.reply(again.id, 401, failure(401, "Permission denied"), None);
    assert!(!s.has("/auth"));
    assert_eq!(
        s.result(call).unwrap().as_ref().unwrap_err().code(),
        Some(401)
    );
}

#[test]
fn rule_8_a_re_auth_without_a_jwt_fails_the_call_and_the_socket_goes_on() {
    let mut s = Script::connected(1, 1, json!({}), |c| c.keep_api_key(true));
    let call = s
        .client
        .call(s.now, "/records/get", None, CallOptions::default())
        .unwrap();
    let r = s.take("/records/get");
    s.reply(r.id, 401, failure(401, "Permission denied"), None);
    let auth = s.take("/auth");
    // Meanwhile the socket drops and reconnects; its CONNECT waits for the token.
    s.drop_socket();
    s.advance_until(10, |s| !s.ws_opening.is_empty());
    let id = s.ws_opening.pop_front().unwrap();
    s.client.handle_input(s.now, Input::WsOpened { id });
    s.ws = Some(id);
    let sent = s.sent.len();
    s.frame(OPEN);
    assert!(
        !s.sent[sent..].iter().any(|f| f.starts_with("40")),
        "{:?}",
        s.sent
    );
    // The server answers /auth without a token.
    s.reply(auth.id, 200, envelope(json!({}), json!({})), None);
    assert_eq!(
        s.result(call).unwrap().as_ref().unwrap_err().code(),
        Some(401)
    );
    assert!(
        s.sent[sent..].iter().any(|f| f == "40"),
        "the socket was left waiting: {:?}",
        &s.sent[sent..]
    );
}

#[test]
fn rule_8_without_a_kept_key_a_401_is_returned() {
    let mut s = Script::connected(1, 1, json!({}), |c| c);
    let call = s
        .client
        .call(s.now, "/records/get", None, CallOptions::default())
        .unwrap();
    let r = s.take("/records/get");
    s.reply(r.id, 401, failure(401, "Permission denied"), None);
    assert!(!s.has("/auth"));
    assert_eq!(
        s.result(call).unwrap().as_ref().unwrap_err().code(),
        Some(401)
    );
}

#[test]
fn load_all_records_walks_the_tree_page_by_page() {
    let mut s = Script::connected(1, 1, json!({}), |c| c);
    let call = s.client.load_all_records(s.now).unwrap();
    let root = s.take("/records/root");
    s.reply(
        root.id,
        200,
        envelope(
            json!({"root": "root"}),
            json!({"records": {"root": {"gid": "root", "childcount": 3}}}),
        ),
        None,
    );
    let page1 = s.take("/records/children");
    assert_eq!(
        page1.body,
        json!({"record": "root", "page.top": 0, "page.size": 100})
    );
    s.reply(
        page1.id,
        200,
        envelope(
            json!({"children": ["a", "b"], "children.size": 3}),
            json!({"records": {"a": {"childcount": 1}, "b": {"childcount": 0}}}),
        ),
        None,
    );
    // Depth first, as the SDK walks: a's subtree before the root's next page.
    let sub = s.take("/records/children");
    assert_eq!(sub.body["record"], "a");
    s.reply(
        sub.id,
        200,
        envelope(
            json!({"children": ["a1"], "children.size": 1}),
            json!({"records": {"a1": {"childcount": 0}}}),
        ),
        None,
    );
    let page2 = s.take("/records/children");
    assert_eq!(
        page2.body,
        json!({"record": "root", "page.top": 2, "page.size": 100})
    );
    s.reply(
        page2.id,
        200,
        envelope(
            json!({"children": ["c"], "children.size": 3}),
            json!({"records": {"c": {"childcount": 0}}}),
        ),
        None,
    );
    assert_eq!(
        s.result(call),
        Some(&Ok(json!({"records": 5, "repeats": 0})))
    );
    assert_eq!(s.client.store().records().len(), 5);
}

#[test]
fn the_client_debug_output_holds_no_secret() {
    let mut s = Script::new(|c| c.keep_api_key(true));
    let _ = s
        .client
        .connect(s.now, unicat_core::api::Secret::new("key-1-very-secret"))
        .unwrap();
    s.pump();
    let debug = format!("{:?}", s.client);
    // Neither as text nor as the decimal bytes a derived Debug of a Vec<u8> would print.
    let bytes: Vec<String> = b"key-1-very-secret".iter().map(u8::to_string).collect();
    assert!(!debug.contains("key-1-very-secret"), "{debug}");
    assert!(
        !debug.contains(&bytes.join(", ")),
        "the key's bytes are in Debug output"
    );
    let auth = s.take("/auth");
    s.reply(
        auth.id,
        200,
        envelope(json!({"cc.cursor": 1, "cursor": 1}), json!({})),
        Some("jwt-secret-token"),
    );
    let debug = format!("{:?}", s.client);
    assert!(
        !debug.contains("jwt-secret-token") && !debug.contains("key-1-very-secret"),
        "{debug}"
    );
}

#[test]
fn recording_started_mid_session_names_no_secret() {
    let mut s = Script::new(|c| c.transport(TransportMode::Polling));
    let _ = s
        .client
        .connect(s.now, unicat_core::api::Secret::new("key-1-very-secret"))
        .unwrap();
    let auth = s.take("/auth");
    s.reply(
        auth.id,
        200,
        envelope(json!({"cc.cursor": 1, "cursor": 1}), json!({})),
        Some("jwt-secret-token"),
    );
    let open = s.take("/sync/io/");
    let body = OPEN.replace("\"eio\"", "\"eio-session-id-42\"");
    let response = http::Response::builder()
        .status(200)
        .body(Body(body.into_bytes()))
        .unwrap();
    s.client.handle_input(
        s.now,
        Input::HttpResponse {
            id: open.id,
            response,
        },
    );
    // Recording starts once the token and the session id are known, before the requests
    // that carry them are taken.
    let mut s = s.recorded();
    let connect = s.take("/sync/io/");
    assert!(
        connect.uri.contains("sid=eio-session-id-42"),
        "{}",
        connect.uri
    );
    let mut log = String::new();
    while let Some(line) = s.client.poll_record() {
        log.push_str(&line);
    }
    assert!(log.contains("\"40{\\\"JWT\\\":\\\"REDACTED-JWT-"), "{log}");
    for secret in ["jwt-secret-token", "eio-session-id-42", "key-1-very-secret"] {
        assert!(!log.contains(secret), "{secret} is in the log: {log}");
    }
}
