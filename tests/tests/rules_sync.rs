//! The Unicat rules of the core on sync (rule 4), one test (or table) per rule, each named after
//! it.

use serde_json::{json, Value};
use unicat_core::client::{CallOptions, Event};
use unicat_core::io::{Input, Machine};
use unicat_core::store::DataType;
use unicat_core::sync::Action;
use unicat_tests::script::{changed, envelope, failure, field, held, item, record, Script, OPEN};

#[test]
fn rule_4_initsync_payload_and_sync_event_items() {
    let mut s = Script::new(|c| c);
    let _ = s.authenticate(4132, 7864, held(&[("r1", 1.0)]));
    let (ack, payload) = s.open_socket();
    assert_eq!(
        payload,
        json!({"cc.cursor": 4132, "project": "p1", "cursor": 7864})
    );
    assert!(
        s.sent.iter().any(|f| f == "40{\"JWT\":\"jwt-1\"}"),
        "{:?}",
        s.sent
    );
    s.ack(ack, json!([item("p1", 7865, "UPDATE", "records", "r1")]));
    let r = s.take("/records/get");
    assert_eq!(r.body, json!({"records": ["r1"]}));
    s.reply(r.id, 200, envelope(json!({}), held(&[("r1", 2.0)])), None);
    assert!(s.events.contains(&Event::CaughtUp {
        cc_cursor: 4132,
        cursor: 7865
    }));
    assert_eq!(
        changed(&s),
        [(DataType::Records, "r1".into(), Action::Update)]
    );
}

/// Each row: items pushed to a client holding r1 and r2 at cursors cc=10, project=10; the
/// fetches expected (endpoint, body); the changes expected; the final cursors.
#[test]
fn rule_4_per_item_table() {
    struct Row {
        name: &'static str,
        items: Value,
        fetches: Vec<(&'static str, Value)>,
        changes: Vec<(DataType, &'static str, Action)>,
        cursors: (i64, i64),
    }
    let rows = vec![
        Row {
            name: "lagging items at or below the cursor are skipped",
            items: json!([
                item("p1", 9, "UPDATE", "records", "r1"),
                item("p1", 10, "DELETE", "records", "r1"),
                item("cc", 10, "UPDATE", "cc.users", "u1")
            ]),
            fetches: vec![],
            changes: vec![],
            cursors: (10, 10),
        },
        Row {
            name: "UPDATE re-fetches only keys the store holds",
            items: json!([
                item("p1", 11, "UPDATE", "records", "r1"),
                item("p1", 12, "UPDATE", "records", "zz")
            ]),
            fetches: vec![("/records/get", json!({"records": ["r1"]}))],
            changes: vec![(DataType::Records, "r1", Action::Update)],
            cursors: (10, 12),
        },
        Row {
            name: "DELETE removes, and a missing key is fine",
            items: json!([
                item("p1", 11, "DELETE", "records", "r2"),
                item("p1", 12, "DELETE", "records", "nope")
            ]),
            fetches: vec![],
            changes: vec![(DataType::Records, "r2", Action::Delete)],
            cursors: (10, 12),
        },
        Row {
            name: "INSERT fetches schema types, not records",
            items: json!([
                item("p1", 11, "INSERT", "records", "r9"),
                item("p1", 12, "INSERT", "definitions", "d9"),
                item("p1", 13, "INSERT", "fields", "f9")
            ]),
            fetches: vec![
                ("/definitions/get", json!({"definitions": ["d9"]})),
                ("/fields/get", json!({"fields": ["f9"]})),
            ],
            changes: vec![
                (DataType::Definitions, "d9", Action::Insert),
                (DataType::Fields, "f9", Action::Insert),
            ],
            cursors: (10, 13),
        },
        Row {
            name: "INSERT of a membership fetches only our project's",
            items: json!([
                item("cc", 11, "INSERT", "cc.projects_members", "p1/u7"),
                item("cc", 12, "INSERT", "cc.projects_members", "p2/u8")
            ]),
            fetches: vec![("/members/get", json!({"members": ["u7"]}))],
            changes: vec![(DataType::ProjectsMembers, "p1/u7", Action::Insert)],
            cursors: (12, 10),
        },
        Row {
            name: "unknown data types and actions are ignored",
            items: json!([item("p1", 11, "UPDATE", "widgets", "w1"), item("p1", 12, "MERGE", "records", "r1"), {"type": "p1", "cursor": "x"}]),
            fetches: vec![],
            changes: vec![],
            cursors: (10, 12),
        },
        Row {
            name: "jobs are exempt from the lag check and advance the cc cursor",
            items: json!([{"type": "cc", "cursor": 5, "action": "UPDATE", "data_type": "jobs", "data_key": "t1", "data": {"project_gid": "p1", "job": "backup_project", "status": "done", "info": {}}}]),
            fetches: vec![],
            changes: vec![],
            cursors: (10, 10),
        },
    ];
    for row in rows {
        let mut s = Script::connected(10, 10, held(&[("r1", 1.0), ("r2", 2.0)]), |c| c);
        s.take_events();
        s.push(row.items.clone());
        for (endpoint, body) in &row.fetches {
            let r = s.take(endpoint);
            assert_eq!(&r.body, body, "{}", row.name);
            let (t, key) = match endpoint.trim_start_matches('/') {
                "records/get" => ("records", "r1"),
                "definitions/get" => ("definitions", "d9"),
                "fields/get" => ("fields", "f9"),
                _ => ("cc.projects_members", ""),
            };
            let data = if t == "cc.projects_members" {
                json!({"cc.projects_members": [{"project_gid": "p1", "user_gid": "u7"}]})
            } else {
                json!({ t: { key: {"gid": key} } })
            };
            s.reply(r.id, 200, envelope(json!({}), data), None);
        }
        assert!(
            s.requests.is_empty(),
            "{}: unexpected {:?}",
            row.name,
            s.requests
        );
        let want: Vec<(DataType, String, Action)> = row
            .changes
            .iter()
            .map(|(t, k, a)| (*t, k.to_string(), *a))
            .collect();
        assert_eq!(changed(&s), want, "{}", row.name);
        let store = s.client.store();
        assert_eq!(
            (store.cc_cursor(), store.cursor()),
            row.cursors,
            "{}",
            row.name
        );
    }
}

#[test]
fn rule_4_a_record_deleted_during_a_reload_does_not_hold_it_for_ever() {
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0)]), |c| c);
    s.push(json!([item("p1", 11, "UPDATE", "records", "r1")]));
    let before = s.take("/records/get");
    s.push(restore_done());
    let init = s.take("/init");
    s.land(init.id, (30, 40), json!({}));
    // r1's reload waits behind the fetch already out, and r1 is deleted meanwhile.
    s.push(json!([item("p1", 41, "DELETE", "records", "r1")]));
    s.reply(
        before.id,
        200,
        envelope(json!({}), held(&[("r1", 1.5)])),
        None,
    );
    assert!(s.client.store().record("r1").is_none());
    assert_eq!(
        (s.client.store().cc_cursor(), s.client.store().cursor()),
        (30, 41)
    );
}

#[test]
fn rule_4_a_refused_reload_fetch_does_not_hold_the_cursor_for_ever() {
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0)]), |c| c);
    s.push(restore_done());
    let init = s.take("/init");
    s.land(init.id, (30, 40), json!({}));
    let r = s.take("/records/get");
    s.reply(r.id, 403, failure(403, "Permission denied"), None);
    assert_eq!(
        (s.client.store().cc_cursor(), s.client.store().cursor()),
        (30, 40)
    );
}

#[test]
fn rule_4_a_fetch_from_before_a_restore_refused_after_it_does_not_end_the_reload() {
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0)]), |c| c);
    s.push(json!([item("p1", 11, "UPDATE", "records", "r1")]));
    let before = s.take("/records/get");
    s.push(restore_done());
    let init = s.take("/init");
    s.land(init.id, (30, 40), json!({}));
    s.reply(before.id, 403, failure(403, "Permission denied"), None);
    assert_eq!(
        s.client.store().cc_cursor(),
        10,
        "r1 is still to be reloaded"
    );
    let after = s.take("/records/get");
    // r1 does not exist in the restored project.
    s.reply(after.id, 200, envelope(json!({}), json!({})), None);
    assert!(s.client.store().record("r1").is_none());
    assert_eq!(s.client.store().cc_cursor(), 30);
}

#[test]
fn rule_4_a_restore_noticed_while_an_init_is_out_reloads_after_it() {
    let defs = |d: &str| json!({"definitions": {d: {"gid": d}}});
    let mut s = Script::connected(10, 10, defs("d1"), |c| c);
    let _ = s.client.init(s.now).unwrap();
    let old = s.take("/init");
    s.push(restore_done());
    assert!(
        !s.has("/init"),
        "the restore waits for the /init already out"
    );
    // That /init was read before the restore.
    s.land(old.id, (10, 10), defs("d1"));
    assert_eq!(s.client.store().cc_cursor(), 10, "the restore holds cc");
    let restore = s.take("/init");
    s.land(restore.id, (30, 40), defs("d2"));
    assert!(s.client.store().get(DataType::Definitions, "d2").is_some());
    assert!(s.client.store().get(DataType::Definitions, "d1").is_none());
    assert_eq!(s.client.store().cc_cursor(), 30);
}

#[test]
fn rule_4_a_change_to_a_key_a_restore_brings_back_is_fetched() {
    let mut s = Script::connected(10, 10, field("a"), |c| c);
    s.push(restore_done());
    let init = s.take("/init");
    // f2 is back with the restore, and changed after the server read the project (40).
    s.push(json!([item("p1", 41, "UPDATE", "fields", "f2")]));
    let restored =
        json!({"fields": {"f1": {"gid": "f1", "label": "a"}, "f2": {"gid": "f2", "label": "old"}}});
    s.land(init.id, (30, 40), restored);
    let f = s.take("/fields/get");
    assert_eq!(f.body, json!({"fields": ["f2"]}));
}

#[test]
fn rule_4_version_change_and_jobs_are_reported() {
    let mut s = Script::connected(10, 10, json!({}), |c| c);
    s.push(json!([item(
        "cc",
        11,
        "UPDATE",
        "cc.version",
        "2026.12.001"
    )]));
    assert!(s.events.contains(&Event::VersionChanged {
        old: "2026.11.001".into(),
        new: "2026.12.001".into()
    }));
    assert_eq!(s.client.store().version(), "2026.12.001");
    s.push(json!([{"type": "cc", "cursor": 12, "action": "UPDATE", "data_type": "jobs", "data_key": "tok", "data": {"project_gid": "p1", "job": "backup_project", "status": "processing", "info": {"total": 120, "remaining": 26}}}]));
    assert!(s.events.iter().any(|e| matches!(e, Event::Job { token, job } if token == "tok" && job.status == "processing" && job.info["remaining"] == 26)));
}

/// The `jobs` item that says a restore of project p1 finished, at cc cursor 11.
fn restore_done() -> Value {
    json!([{"type": "cc", "cursor": 11, "action": "UPDATE", "data_type": "jobs", "data_key": "t9",
            "data": {"project_gid": "p1", "job": "restore_project", "status": "done", "info": {}}}])
}

#[test]
fn rule_4_restore_resets_reloads_and_fetches_held_records_again() {
    let mut s = Script::connected(
        10,
        10,
        json!({"records": {"r1": record("r1", 1.0), "r2": record("r2", 2.0)}, "definitions": {"d1": {"gid": "d1"}}}),
        |c| c,
    );
    s.take_events();
    let done = restore_done();
    s.push(done);
    let init = s.take("/init");
    // Until the reload is complete the records stay visible, and the cc cursor holds.
    assert!(s.client.store().record("r1").is_some());
    assert_eq!(s.client.store().cc_cursor(), 10);
    s.reply(
        init.id,
        200,
        envelope(
            json!({"cc.cursor": 30, "cursor": 40}),
            json!({"definitions": {"d2": {"gid": "d2"}}}),
        ),
        None,
    );
    assert!(s.events.contains(&Event::StoreReset));
    assert!(
        s.client.store().get(DataType::Definitions, "d1").is_none(),
        "schema replaced"
    );
    let r = s.take("/records/get");
    assert_eq!(r.body, json!({"records": ["r1", "r2"]}));
    // r2 no longer exists after the restore; r1 has its restored price.
    s.reply(r.id, 200, envelope(json!({}), held(&[("r1", 0.5)])), None);
    assert_eq!(
        s.client
            .store()
            .record("r1")
            .unwrap()
            .pointer("/fields/en/price"),
        Some(json!(0.5))
    );
    assert!(s.client.store().record("r2").is_none());
    assert_eq!(
        changed(&s),
        [
            (DataType::Records, "r1".into(), Action::Update),
            (DataType::Records, "r2".into(), Action::Delete)
        ]
    );
    assert_eq!(
        (s.client.store().cc_cursor(), s.client.store().cursor()),
        (30, 40)
    );
}

#[test]
fn rule_4_a_restore_waits_for_the_fetch_that_brings_restored_data() {
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0)]), |c| c);
    s.push(json!([item("p1", 11, "UPDATE", "records", "r1")]));
    let before = s.take("/records/get");
    let done = restore_done();
    s.push(done);
    let init = s.take("/init");
    s.land(init.id, (30, 40), json!({}));
    // The fetch sent before the restore lands with pre-restore data: the reload goes on.
    s.reply(
        before.id,
        200,
        envelope(json!({}), held(&[("r1", 1.5)])),
        None,
    );
    assert_eq!(s.client.store().cc_cursor(), 10, "the restore is not done");
    s.take_events();
    let after = s.take("/records/get");
    s.reply(
        after.id,
        200,
        envelope(json!({}), held(&[("r1", 0.5)])),
        None,
    );
    assert_eq!(
        changed(&s),
        [(DataType::Records, "r1".into(), Action::Update)]
    );
    assert_eq!(
        (s.client.store().cc_cursor(), s.client.store().cursor()),
        (30, 40)
    );
}

#[test]
fn rule_4_a_null_initsync_ack_is_reported_and_re_authenticates() {
    let mut s = Script::new(|c| c.keep_api_key(true));
    let _ = s.authenticate(1, 1, json!({}));
    let (ack, _) = s.open_socket();
    s.frame(&format!("43{ack}[null]"));
    // A failed attempt: reported with its cause, and retried through the backoff.
    assert!(s.events.iter().any(|e| matches!(
        e,
        Event::Reconnecting {
            cause: unicat_core::client::Cause::Initsync(
                unicat_core::client::InitsyncFailure::NoList
            ),
            ..
        }
    )));
    assert!(!s.has("/auth"), "nothing before the backoff's delay");
    s.advance_until(10, |s| !s.ws_opening.is_empty());
    let id = s.ws_opening.pop_front().unwrap();
    s.client.handle_input(s.now, Input::WsOpened { id });
    s.ws = Some(id);
    s.frame(OPEN);
    // The next attempt's CONNECT waits for a fresh token.
    let auth = s.take("/auth");
    s.reply(auth.id, 200, envelope(json!({}), json!({})), Some("jwt-2"));
    assert_eq!(s.sent.last().unwrap(), "40{\"JWT\":\"jwt-2\"}");
    s.frame(r#"40{"sid":"s2"}"#);
    let init = s.sent.last().unwrap().clone();
    assert!(init.contains(r#""cursor":1"#), "{init}");
}

#[test]
fn rule_4_authorization_events_replace_the_jwt() {
    let mut s = Script::connected(1, 1, json!({}), |c| c);
    s.frame(r#"42["authorization",{"JWT":"jwt-9"}]"#);
    assert!(s.events.contains(&Event::TokenRefreshed));
    let _ = s
        .client
        .call(s.now, "/records/get", None, CallOptions::default())
        .unwrap();
    assert_eq!(s.take("/records/get").auth.as_deref(), Some("Bearer jwt-9"));
    // And the next reconnect authenticates with it.
    s.drop_socket();
    s.advance_until(10, |s| !s.ws_opening.is_empty());
    let _ = s.open_socket();
    assert!(s.sent.iter().any(|f| f == "40{\"JWT\":\"jwt-9\"}"));
}

#[test]
fn rule_4_sync_events_during_initsync_wait_for_its_ack() {
    let mut s = Script::new(|c| c);
    let _ = s.authenticate(10, 10, held(&[("r1", 1.0)]));
    let (ack, _) = s.open_socket();
    // A newer item arrives before the ack with the older ones: it must not make them lag.
    s.push(json!([item("p1", 13, "UPDATE", "records", "r1")]));
    s.ack(
        ack,
        json!([
            item("p1", 11, "DELETE", "records", "r1"),
            item("p1", 12, "INSERT", "records", "r1")
        ]),
    );
    assert!(
        s.client.store().record("r1").is_none(),
        "the DELETE at 11 was applied"
    );
    assert!(
        !s.has("/records/get"),
        "r1 is not held after its delete; the UPDATE at 13 is moot"
    );
    assert_eq!(s.client.store().cursor(), 13);
}
