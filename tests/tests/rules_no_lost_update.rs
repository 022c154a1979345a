//! The Unicat rules of the core that no update is lost (rule 5), one test per rule, each named
//! after it.

use std::time::Duration;

use serde_json::{json, Value};
use unicat_core::client::Event;
use unicat_core::store::DataType;
use unicat_core::sync::Action;
use unicat_tests::script::{changed, envelope, failure, field, held, item, no_retries, Script};

fn label(s: &Script) -> Option<Value> {
    s.client
        .store()
        .get(DataType::Fields, "f1")
        .and_then(|f| f.pointer("/label"))
}

#[test]
fn rule_5_a_fetch_in_flight_holds_the_cursor_across_a_disconnect() {
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0), ("r2", 2.0)]), |c| c);
    s.push(json!([
        item("p1", 11, "UPDATE", "records", "r1"),
        item("p1", 12, "DELETE", "records", "r2")
    ]));
    let fetch = s.take("/records/get");
    assert_eq!(s.client.store().cursor(), 10, "11 waits for its fetch");
    s.drop_socket();
    s.advance_until(10, |s| !s.ws_opening.is_empty());
    let (ack, payload) = s.open_socket();
    assert_eq!(
        payload["cursor"], 10,
        "the next initsync starts before the unapplied item"
    );
    // The old fetch lands late; the redelivered items are handled again.
    s.reply(
        fetch.id,
        200,
        envelope(json!({}), held(&[("r1", 1.5)])),
        None,
    );
    s.ack(
        ack,
        json!([
            item("p1", 11, "UPDATE", "records", "r1"),
            item("p1", 12, "DELETE", "records", "r2")
        ]),
    );
    let again = s.take("/records/get");
    s.reply(
        again.id,
        200,
        envelope(json!({}), held(&[("r1", 1.5)])),
        None,
    );
    assert_eq!(s.client.store().cursor(), 12);
    assert!(s.client.store().record("r2").is_none());
}

#[test]
fn rule_5_a_failed_fetch_is_retried_and_the_cursor_waits() {
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0)]), |c| c);
    s.push(json!([item("p1", 11, "UPDATE", "records", "r1")]));
    // Every retry of the read fails at the transport.
    for _ in 0..8 {
        s.advance_until(20, |s| s.has("/records/get"));
        let r = s.take("/records/get");
        s.fail(r.id);
    }
    assert_eq!(s.client.store().cursor(), 10);
    // After the pause, the keys are fetched again and the cursor moves.
    s.advance_until(20, |s| s.has("/records/get"));
    let r = s.take("/records/get");
    s.reply(r.id, 200, envelope(json!({}), held(&[("r1", 3.0)])), None);
    assert_eq!(s.client.store().cursor(), 11);
}

#[test]
fn rule_5_data_older_than_a_later_delete_is_not_resurrected() {
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0)]), |c| c);
    s.push(json!([item("p1", 11, "UPDATE", "records", "r1")]));
    let fetch = s.take("/records/get");
    s.push(json!([item("p1", 12, "DELETE", "records", "r1")]));
    s.reply(
        fetch.id,
        200,
        envelope(json!({}), held(&[("r1", 2.0)])),
        None,
    );
    assert!(s.client.store().record("r1").is_none());
    assert_eq!(s.client.store().cursor(), 12);
}

#[test]
fn rule_5_a_change_noticed_while_its_fetch_is_out_is_fetched_again() {
    let mut s = Script::connected(10, 10, json!({}), |c| c);
    s.push(json!([item("p1", 11, "INSERT", "fields", "f1")]));
    let first = s.take("/fields/get");
    // Not yet in the store, but its fetch is out: that answer may predate this change.
    s.push(json!([item("p1", 12, "UPDATE", "fields", "f1")]));
    assert!(!s.has("/fields/get"), "one fetch of a key at a time");
    let field = |label: &str| json!({"fields": {"f1": {"gid": "f1", "label": label}}});
    s.reply(first.id, 200, envelope(json!({}), field("old")), None);
    assert_eq!(s.client.store().cursor(), 11, "12 waits for its own fetch");
    let second = s.take("/fields/get");
    s.reply(second.id, 200, envelope(json!({}), field("new")), None);
    assert_eq!(
        s.client
            .store()
            .get(DataType::Fields, "f1")
            .and_then(|f| f.pointer("/label")),
        Some(json!("new"))
    );
    assert_eq!(s.client.store().cursor(), 12);
}

#[test]
fn rule_5_a_key_deleted_while_its_failed_fetch_was_out_is_not_fetched_again() {
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0)]), no_retries);
    s.push(json!([item("p1", 11, "UPDATE", "records", "r1")]));
    let fetch = s.take("/records/get");
    s.push(json!([item("p1", 12, "DELETE", "records", "r1")]));
    s.fail(fetch.id);
    assert_eq!(s.client.store().cursor(), 12, "the delete settled item 11");
    s.advance(Duration::from_secs(6));
    assert!(!s.has("/records/get"), "r1 would come back from the server");
    assert!(s.client.store().record("r1").is_none());
}

#[test]
fn rule_5_a_change_after_a_delete_does_not_count_the_old_fetch_as_held() {
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0)]), |c| c);
    s.push(json!([item("p1", 11, "UPDATE", "records", "r1")]));
    let fetch = s.take("/records/get");
    // Deleted, then created again under the same key: a record we do not hold.
    s.push(json!([
        item("p1", 12, "DELETE", "records", "r1"),
        item("p1", 13, "INSERT", "records", "r1"),
        item("p1", 14, "UPDATE", "records", "r1")
    ]));
    s.reply(
        fetch.id,
        200,
        envelope(json!({}), held(&[("r1", 2.0)])),
        None,
    );
    assert!(
        !s.has("/records/get"),
        "14 is about a record we do not hold"
    );
    assert!(s.client.store().record("r1").is_none());
    assert_eq!(s.client.store().cursor(), 14);
}

#[test]
fn rule_5_a_delete_is_kept_for_every_fetch_waiting_for_a_jwt() {
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0), ("r2", 2.0)]), |c| {
        no_retries(c).batch_size(1).keep_api_key(true)
    });
    s.push(json!([
        item("p1", 11, "UPDATE", "records", "r2"),
        item("p1", 12, "UPDATE", "records", "r1")
    ]));
    let a = s.take("/records/get");
    let b = s.take("/records/get");
    // Both fetches meet an expired token and wait for a new one.
    s.reply(a.id, 401, failure(401, "expired"), None);
    s.reply(b.id, 401, failure(401, "expired"), None);
    s.push(json!([
        item("p1", 13, "DELETE", "records", "r1"),
        item("p1", 14, "INSERT", "records", "r1")
    ]));
    // The re-authentication fails: both fetches go back to the queue, one after the other.
    let auth = s.take("/auth");
    s.fail(auth.id);
    s.advance_until(20, |s| s.has("/auth"));
    let auth = s.take("/auth");
    s.reply(auth.id, 200, envelope(json!({}), json!({})), Some("jwt-2"));
    s.advance_until(20, |s| s.has("/records/get"));
    let asked: Vec<Value> = s
        .requests
        .iter()
        .filter(|r| r.uri.ends_with("/records/get"))
        .map(|r| r.body.clone())
        .collect();
    assert_eq!(asked, [json!({"records": ["r2"]})], "r1 was deleted");
}

#[test]
fn rule_5_a_fetch_failing_with_a_server_error_is_tried_again() {
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0)]), no_retries);
    s.push(json!([item("p1", 11, "UPDATE", "records", "r1")]));
    let r = s.take("/records/get");
    s.reply(r.id, 503, failure(503, "Service unavailable"), None);
    assert_eq!(s.client.store().cursor(), 10, "11 is not skipped");
    s.advance_until(20, |s| s.has("/records/get"));
    let r = s.take("/records/get");
    s.reply(r.id, 200, envelope(json!({}), held(&[("r1", 2.0)])), None);
    assert_eq!(s.client.store().cursor(), 11);
}

#[test]
fn rule_5_a_fetch_the_server_can_never_answer_is_skipped() {
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0)]), no_retries);
    s.push(json!([item("p1", 11, "UPDATE", "records", "r1")]));
    let r = s.take("/records/get");
    s.reply(r.id, 501, failure(501, "Not Implemented"), None);
    assert_eq!(s.client.store().cursor(), 11, "sync goes on without it");
    s.advance(Duration::from_secs(6));
    assert!(!s.has("/records/get"));
}

#[test]
fn rule_5_items_arriving_while_an_init_is_out_go_on_top_of_it() {
    let mut s = Script::connected(10, 10, field("a"), |c| c);
    let _ = s.client.init(s.now).unwrap();
    let init = s.take("/init");
    s.push(json!([item("p1", 11, "UPDATE", "fields", "f1")]));
    assert!(!s.has("/fields/get"), "held back until the load is in");
    assert!(!s.client.is_caught_up());
    // The server read the project before change 11.
    s.land(init.id, (10, 10), field("a"));
    assert_eq!(s.client.store().cursor(), 10);
    let f = s.take("/fields/get");
    s.reply(f.id, 200, envelope(json!({}), field("b")), None);
    assert_eq!(label(&s), Some(json!("b")));
    assert_eq!(s.client.store().cursor(), 11);
}

#[test]
fn rule_5_overlapping_inits_apply_a_newer_change_once() {
    let mut s = Script::connected(10, 10, field("a"), |c| c);
    let mut inits = Vec::new();
    for _ in 0..3 {
        let _ = s.client.init(s.now).unwrap();
        inits.push(s.take("/init"));
    }
    s.push(json!([item("p1", 11, "UPDATE", "fields", "f1")]));
    for init in inits {
        s.land(init.id, (10, 10), field("a"));
    }
    s.take_events();
    let f = s.take("/fields/get");
    s.reply(f.id, 200, envelope(json!({}), field("c")), None);
    assert!(!s.has("/fields/get"));
    assert_eq!(
        changed(&s),
        [(DataType::Fields, "f1".into(), Action::Update)],
        "one item, one change"
    );
    assert_eq!(label(&s), Some(json!("c")));
    assert_eq!(s.client.store().cursor(), 11);
}

#[test]
fn rule_5_a_key_deleted_and_created_again_while_an_init_is_out_stays() {
    let mut s = Script::connected(10, 10, field("a"), |c| c);
    let _ = s.client.init(s.now).unwrap();
    let init = s.take("/init");
    s.push(json!([
        item("p1", 11, "DELETE", "fields", "f1"),
        item("p1", 12, "INSERT", "fields", "f1")
    ]));
    s.land(init.id, (10, 10), field("a"));
    let f = s.take("/fields/get");
    s.reply(f.id, 200, envelope(json!({}), field("b")), None);
    assert_eq!(label(&s), Some(json!("b")));
    assert_eq!(s.client.store().cursor(), 12);
}

#[test]
fn rule_5_a_language_deleted_while_an_init_is_out_stays_deleted() {
    let langs = json!({"cc.languages": {"en": "English", "nl": "Dutch"}});
    let mut s = Script::connected(10, 10, langs.clone(), |c| c);
    let _ = s.client.init(s.now).unwrap();
    let init = s.take("/init");
    s.push(json!([item("cc", 31, "DELETE", "cc.languages", "nl")]));
    s.land(init.id, (30, 10), langs);
    assert!(s.client.store().get(DataType::Languages, "nl").is_none());
}

#[test]
fn rule_5_a_connect_landing_after_a_newer_init_still_opens_the_socket() {
    let mut s = Script::new(|c| c.keep_api_key(true));
    let call = s
        .client
        .connect(s.now, unicat_core::api::Secret::new("key-1"))
        .unwrap();
    let auth = s.take("/auth");
    // Without a JWT yet, the /init asks for its own /auth, which wins the race.
    let _ = s.client.init(s.now).unwrap();
    let reauth = s.take("/auth");
    s.reply(
        reauth.id,
        200,
        envelope(json!({}), json!({})),
        Some("jwt-1"),
    );
    let init = s.take("/init");
    s.land(init.id, (10, 10), field("a"));
    s.reply(
        auth.id,
        200,
        envelope(json!({"cc.cursor": 10, "cursor": 10}), json!({})),
        Some("jwt-1"),
    );
    assert!(s.result(call).is_some_and(|r| r.is_ok()));
    assert_eq!(label(&s), Some(json!("a")), "the newer load stays");
    s.open_socket();
}

#[test]
fn rule_5_an_older_init_landing_after_a_newer_one_is_dropped() {
    let mut s = Script::connected(10, 10, field("a"), |c| c);
    let older_call = s.client.init(s.now).unwrap();
    let older = s.take("/init");
    let _ = s.client.init(s.now).unwrap();
    let newer = s.take("/init");
    s.land(newer.id, (10, 11), field("b"));
    s.push(json!([item("p1", 11, "UPDATE", "fields", "f1")]));
    s.land(older.id, (10, 10), field("a"));
    assert_eq!(label(&s), Some(json!("b")));
    assert!(s.result(older_call).is_some_and(|r| r.is_ok()));
}

#[test]
fn rule_5_languages_handled_while_an_init_is_out_come_from_the_init() {
    let langs = |nl: &str| json!({"cc.languages": {"en": "English", "nl": nl}});
    let mut s = Script::connected(10, 10, langs("Dutch"), |c| c);
    let _ = s.client.init(s.now).unwrap();
    let init = s.take("/init");
    s.push(json!([item("cc", 31, "UPDATE", "cc.languages", "nl")]));
    s.land(init.id, (30, 10), langs("Nederlands"));
    assert_eq!(
        s.client
            .store()
            .get(DataType::Languages, "nl")
            .map(|o| o.to_value()),
        Some(json!("Nederlands"))
    );
}

#[test]
fn rule_5_a_change_newer_than_an_init_is_still_fetched() {
    let mut s = Script::connected(10, 10, field("a"), |c| c);
    s.push(json!([item("p1", 11, "UPDATE", "fields", "f1")]));
    let first = s.take("/fields/get");
    let _ = s.client.init(s.now).unwrap();
    let init = s.take("/init");
    // Handled while /init is out, and queued behind the fetch of f1 already out.
    s.push(json!([item("p1", 12, "UPDATE", "fields", "f1")]));
    s.land(init.id, (10, 11), field("b"));
    assert_eq!(s.client.store().cursor(), 11, "12 is not in the store yet");
    s.reply(first.id, 200, envelope(json!({}), field("b")), None);
    let again = s.take("/fields/get");
    s.reply(again.id, 200, envelope(json!({}), field("c")), None);
    assert_eq!(label(&s), Some(json!("c")));
    assert_eq!(s.client.store().cursor(), 12);
}

#[test]
fn rule_5_a_fetch_sent_before_an_init_does_not_overwrite_it() {
    let mut s = Script::connected(10, 10, field("a"), |c| c);
    s.push(json!([item("p1", 11, "UPDATE", "fields", "f1")]));
    let old = s.take("/fields/get");
    let _ = s.client.init(s.now).unwrap();
    let init = s.take("/init");
    s.land(init.id, (10, 12), field("c"));
    // The server read f1 for the older fetch before change 12; its answer arrives last.
    s.reply(old.id, 200, envelope(json!({}), field("b")), None);
    s.push(json!([item("p1", 12, "UPDATE", "fields", "f1")]));
    assert_eq!(label(&s), Some(json!("c")));
    assert_eq!(s.client.store().cursor(), 12);
}

#[test]
fn rule_5_a_delete_newer_than_an_init_outlives_it() {
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0)]), |c| c);
    let _ = s.client.init(s.now).unwrap();
    let init = s.take("/init");
    s.push(json!([item("p1", 11, "DELETE", "records", "r1")]));
    // The server read the project before the delete.
    s.land(init.id, (10, 10), held(&[("r1", 1.0)]));
    assert!(s.client.store().record("r1").is_none(), "r1 came back");
    assert_eq!(s.client.store().cursor(), 11);
}

#[test]
fn rule_5_a_delete_outlives_a_reload_while_an_older_fetch_is_out() {
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0)]), |c| c);
    s.push(json!([item("p1", 11, "UPDATE", "records", "r1")]));
    let fetch = s.take("/records/get");
    s.push(json!([item("p1", 12, "DELETE", "records", "r1")]));
    let _ = s.client.init(s.now).unwrap();
    let init = s.take("/init");
    s.land(init.id, (10, 12), json!({}));
    // The fetch sent before the delete lands after the reload.
    s.reply(
        fetch.id,
        200,
        envelope(json!({}), held(&[("r1", 2.0)])),
        None,
    );
    assert!(s.client.store().record("r1").is_none(), "r1 came back");
}

#[test]
fn rule_5_a_refused_fetch_still_lets_the_client_catch_up() {
    let mut s = Script::new(|c| c);
    let _ = s.authenticate(10, 10, held(&[("r1", 1.0)]));
    let (ack, _) = s.open_socket();
    s.ack(ack, json!([item("p1", 11, "UPDATE", "records", "r1")]));
    assert!(!s.client.is_caught_up());
    let f = s.take("/records/get");
    s.reply(f.id, 403, failure(403, "Permission denied"), None);
    assert!(s.client.is_caught_up());
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, Event::CaughtUp { cursor: 11, .. })));
}
