//! The Unicat rules of the core, one test (or table) per rule, each named after it.

use std::time::Duration;

use serde_json::{json, Value};
use unicat_core::api::{ApiError, CallError};
use unicat_core::client::{CallOptions, Event};
use unicat_core::config::TransportMode;
use unicat_core::io::{Body, FileInfo, Input, Machine};
use unicat_core::store::DataType;
use unicat_core::sync::Action;
use unicat_tests::script::{envelope, failure, item, record, Script, OPEN};

fn held(records: &[(&str, f64)]) -> Value {
    let map: serde_json::Map<String, Value> = records
        .iter()
        .map(|(g, p)| (g.to_string(), record(g, *p)))
        .collect();
    json!({ "records": map })
}

fn changed(s: &Script) -> Vec<(DataType, String, Action)> {
    s.events
        .iter()
        .filter_map(|e| match e {
            Event::Changed {
                data_type,
                key,
                action,
            } => Some((*data_type, key.clone(), *action)),
            _ => None,
        })
        .collect()
}

// ---- 1. Requests ---------------------------------------------------------------------------

#[test]
fn rule_1_urls_global_and_project_endpoints_json_bodies_and_bearer() {
    let mut s = Script::connected(1, 1, json!({}), |c| c);
    let cases = [
        (
            "//users/get",
            Some(json!({"user": "u1"})),
            "http://unicat.test/api/users/get",
            json!({"user": "u1"}),
        ),
        (
            "/records/get",
            Some(json!({"record": "r1"})),
            "http://unicat.test/api/p/p1/records/get",
            json!({"record": "r1"}),
        ),
        (
            "/records/root",
            None,
            "http://unicat.test/api/p/p1/records/root",
            json!({}),
        ),
    ];
    for (endpoint, body, url, sent) in cases {
        s.client
            .call(s.now, endpoint, body, CallOptions::default())
            .unwrap();
        let r = s.take(url.rsplit_once("test").unwrap().1);
        assert_eq!(r.uri, url);
        assert_eq!(r.method, "POST");
        assert_eq!(r.body, sent);
        assert_eq!(r.auth.as_deref(), Some("Bearer jwt-1"));
        assert_eq!(r.raw.request.headers()["content-type"], "application/json");
        assert!(r.raw.request.headers()["authorization"].is_sensitive());
        assert!(
            !format!("{:?}", r.raw).contains("jwt-1"),
            "the JWT shows in Debug"
        );
    }
    assert!(s
        .client
        .call(s.now, "records/get", None, CallOptions::default())
        .is_err());
    assert!(s
        .client
        .call(s.now, "/records/../../x", None, CallOptions::default())
        .is_err());
    assert!(s
        .client
        .call(s.now, "/x", Some(json!([1])), CallOptions::default())
        .is_err());
}

fn with_asset() -> Script {
    let asset = json!({"gid": "a1", "version": 7, "name": "photo.png", "pathname": "/img/photo.png", "is_file": true});
    Script::connected(1, 1, json!({"assets": {"a1": asset}}), |c| {
        c.asset_folder("/srv/assets")
    })
}

#[test]
fn rule_1_dam_urls_and_the_sdk_transform_key() {
    let mut s = with_asset();
    s.client.publish(s.now, "a1").unwrap();
    let r = s.take("/publish/a1~7.png");
    assert_eq!(r.method, "GET");
    assert_eq!(r.uri, "http://unicat.test/dam/p/p1/publish/a1~7.png");
    assert_eq!(r.auth.as_deref(), Some("Bearer jwt-1"));

    s.client
        .transform(
            s.now,
            "a1",
            vec![
                ("fill".into(), json!("400,300")),
                ("type".into(), json!("jpg")),
            ],
        )
        .unwrap();
    s.pump();
    let r = s.requests.pop_back().unwrap();
    let (head, key) = r.uri.rsplit_once("/key=").unwrap();
    assert_eq!(
        head,
        "http://unicat.test/dam/p/p1/transform/a1~7.png/fill=400,300/type=jpg"
    );
    assert_eq!(key.len(), 8, "the SDK's 8-character key");

    // The same options, in another order, name the same file.
    s.client
        .transform(
            s.now,
            "a1",
            vec![
                ("type".into(), json!("jpg")),
                ("fill".into(), json!("400,300")),
            ],
        )
        .unwrap();
    s.pump();
    assert!(s
        .requests
        .pop_back()
        .unwrap()
        .uri
        .ends_with(&format!("/key={key}")));

    assert!(s
        .client
        .transform(s.now, "a1", vec![("name".into(), json!("../x"))])
        .is_err());
    assert!(s.client.publish(s.now, "not-held").is_err());
}

#[test]
fn rule_1_upload_size_is_checked_before_a_byte_is_read() {
    let mut s = Script::connected(1, 1, json!({}), |c| c);
    let call = s
        .client
        .upload(
            s.now,
            "/assets/upload",
            vec![("parent".into(), "a0".into())],
            "/tmp/big.bin".into(),
        )
        .unwrap();
    s.pump();
    let (id, path) = s.stats.pop_front().unwrap();
    assert_eq!(path.to_str(), Some("/tmp/big.bin"));
    s.stat(
        id,
        Some(FileInfo {
            size: 10_000_001,
            modified: None,
        }),
    );
    assert!(s.reads.is_empty(), "the file was read");
    assert!(matches!(
        s.result(call),
        Some(Err(CallError::Api(ApiError { code: 413, .. })))
    ));
}

#[test]
fn rule_1_multipart_upload_carries_fields_and_upload_file() {
    let mut s = Script::connected(1, 1, json!({}), |c| c);
    let call = s
        .client
        .upload(
            s.now,
            "/assets/upload",
            vec![("parent".into(), "a0".into())],
            "/tmp/logo.svg".into(),
        )
        .unwrap();
    s.pump();
    let (id, _) = s.stats.pop_front().unwrap();
    s.stat(
        id,
        Some(FileInfo {
            size: 5,
            modified: None,
        }),
    );
    let (rid, _, limit) = s.reads.pop_front().unwrap();
    assert_eq!(limit, 10_000_000);
    s.client.handle_input(
        s.now,
        unicat_core::io::Input::FileRead {
            id: rid,
            result: Ok(b"<svg>".to_vec().into()),
        },
    );
    let r = s.take("/api/p/p1/assets/upload");
    let ct = r.raw.request.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
    let body = String::from_utf8(r.raw.request.body().as_bytes().to_vec()).unwrap();
    assert!(body.contains("name=\"parent\"\r\n\r\na0\r\n"), "{body}");
    assert!(
        body.contains("name=\"upload_file\"; filename=\"logo.svg\""),
        "{body}"
    );
    assert!(body.contains("<svg>"));
    s.reply(
        r.id,
        200,
        envelope(
            json!({"asset": "a9"}),
            json!({"assets": {"a9": {"gid": "a9", "pathname": "/logo.svg"}}}),
        ),
        None,
    );
    assert_eq!(s.result(call), Some(&Ok(json!({"asset": "a9"}))));
    assert!(s.client.store().asset_by_pathname("/logo.svg").is_some());
}

// ---- 2. Responses --------------------------------------------------------------------------

#[test]
fn rule_2_envelope_result_data_and_files() {
    let mut s = Script::connected(1, 1, json!({}), |c| c);
    let call = s
        .client
        .call(
            s.now,
            "/records/excel/children",
            Some(json!({"record": "r1"})),
            CallOptions::default(),
        )
        .unwrap();
    let r = s.take("/records/excel/children");
    s.reply(
        r.id,
        200,
        envelope(
            json!({"children.excel": "x.xlsx"}),
            json!({"files": {"x.xlsx": "UEsDBA=="}, "records": {"r1": record("r1", 1.0)}}),
        ),
        None,
    );
    assert_eq!(
        s.result(call),
        Some(&Ok(
            json!({"children.excel": "x.xlsx", "data/files": {"x.xlsx": "UEsDBA=="}})
        ))
    );
    assert!(s.client.store().record("r1").is_some());
}

#[test]
fn rule_2_bodies_that_are_not_json_or_cut_short_are_typed_errors() {
    let mut s = Script::connected(1, 1, json!({}), |c| c);
    let cases: [(&[u8], &str); 3] = [
        (b"<html>Bad Gateway</html>", "not the API's JSON envelope"),
        (
            br#"{"success":true,"result":{"record":"r1"},"data":{"records":{"r1":"#,
            "cut short",
        ),
        (b"", "cut short"),
    ];
    for (body, detail) in cases {
        let call = s
            .client
            .call(
                s.now,
                "/records/update",
                Some(json!({"record": "r1"})),
                CallOptions::default(),
            )
            .unwrap();
        let r = s.take("/records/update");
        s.reply_bytes(r.id, 200, body);
        match s.result(call) {
            Some(Err(CallError::InvalidResponse {
                status: 200,
                detail: d,
                excerpt,
            })) => {
                assert!(d.contains(detail), "{d}");
                assert!(excerpt.len() <= 256);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn rule_2_success_false_keeps_code_message_and_info() {
    let mut s = Script::connected(1, 1, json!({}), |c| c);
    let call = s
        .client
        .call(
            s.now,
            "/backups/restore",
            Some(json!({"version": 3})),
            CallOptions::default(),
        )
        .unwrap();
    let r = s.take("/backups/restore");
    let body = json!({"success": false, "result": {"code": 1003, "message": "Process error", "info": {"process": "restore"}}, "data": {}});
    s.reply(r.id, 422, body, None);
    assert_eq!(
        s.result(call),
        Some(&Err(CallError::Api(ApiError {
            status: 422,
            code: 1003,
            message: "Process error".into(),
            info: json!({"process": "restore"})
        })))
    );
}

#[test]
fn rule_2_jwt_from_the_authorization_header_and_dropped_on_www_authenticate() {
    let mut s = Script::connected(1, 1, json!({}), |c| c);
    s.client
        .call(
            s.now,
            "/records/get",
            Some(json!({"record": "r1"})),
            CallOptions::default(),
        )
        .unwrap();
    let r = s.take("/records/get");
    s.reply(r.id, 200, envelope(json!({}), json!({})), Some("jwt-2"));
    assert!(s.events.contains(&Event::TokenRefreshed));
    s.client
        .call(s.now, "/records/get", None, CallOptions::default())
        .unwrap();
    assert_eq!(s.take("/records/get").auth.as_deref(), Some("Bearer jwt-2"));

    // A challenge drops the token; without a kept API key the 401 is the call's result.
    let call = s
        .client
        .call(s.now, "/records/get", None, CallOptions::default())
        .unwrap();
    let r = s.take("/records/get");
    s.reply(r.id, 401, failure(401, "Permission denied"), None);
    assert_eq!(
        s.result(call).unwrap().as_ref().unwrap_err().code(),
        Some(401)
    );
    assert!(!s.client.is_authenticated());
}

#[test]
fn rule_2_dam_responses_never_renew_the_jwt() {
    let mut s = with_asset();
    s.client.publish(s.now, "a1").unwrap();
    let r = s.take("/publish/a1~7.png");
    let body = envelope(
        json!({"public_url": "http://unicat.test/media/x.png"}),
        json!({}),
    );
    s.reply(r.id, 200, body, Some("jwt-from-the-dam"));
    assert!(!s.events.contains(&Event::TokenRefreshed));
    s.client
        .call(s.now, "/records/get", None, CallOptions::default())
        .unwrap();
    assert_eq!(s.take("/records/get").auth.as_deref(), Some("Bearer jwt-1"));
}

#[test]
fn rule_2_version_from_results_and_cursors_only_on_loads() {
    let mut s = Script::connected(10, 20, json!({}), |c| c.keep_api_key(true));
    assert_eq!(
        (s.client.store().cc_cursor(), s.client.store().cursor()),
        (10, 20)
    );
    assert_eq!(s.client.store().version(), "2026.11.001");
    // An ordinary call's result never moves the cursors; its version is noted.
    s.client
        .call(s.now, "/records/get", None, CallOptions::default())
        .unwrap();
    let r = s.take("/records/get");
    s.reply(
        r.id,
        200,
        envelope(
            json!({"cc.version": "2026.12.001", "cc.cursor": 99, "cursor": 99}),
            json!({}),
        ),
        None,
    );
    assert_eq!(
        (s.client.store().cc_cursor(), s.client.store().cursor()),
        (10, 20)
    );
    assert!(s.events.contains(&Event::VersionChanged {
        old: "2026.11.001".into(),
        new: "2026.12.001".into()
    }));

    // A re-authentication never moves the cursors, or the items between would be skipped.
    s.client
        .call(s.now, "/records/get", None, CallOptions::default())
        .unwrap();
    let r = s.take("/records/get");
    s.reply(r.id, 401, failure(401, "Permission denied"), None);
    let auth = s.take("/auth");
    s.reply(
        auth.id,
        200,
        envelope(json!({"cc.cursor": 500, "cursor": 600}), json!({})),
        Some("jwt-3"),
    );
    let retried = s.take("/records/get");
    assert_eq!(retried.auth.as_deref(), Some("Bearer jwt-3"));
    assert_eq!(
        (s.client.store().cc_cursor(), s.client.store().cursor()),
        (10, 20)
    );
}

// ---- 3. The store --------------------------------------------------------------------------

#[test]
fn rule_3_thirteen_maps_members_keyed_project_slash_user_numbers_bit_for_bit() {
    let data = json!({
        "cc.users": {"u1": {"gid": "u1", "username": null}},
        "cc.projects": {"p1": {"gid": "p1"}},
        "cc.projects_members": [{"project_gid": "p1", "user_gid": "u1", "roles": ["api"]}],
        "cc.languages": {"en": "English", "nl": "Dutch"},
        "definitions": {"d1": {"gid": "d1"}},
        "classes": {"c1": {}}, "fields": {"f1": {}}, "layouts": {"l1": {}}, "queries": {"q1": {}},
        "assets": {"a1": {"gid": "a1", "pathname": "/a.png"}},
        "modules": {"erp": {"name": "erp"}},
    });
    let mut s = Script::new(|c| c.live_sync(false));
    s.authenticate(1, 1, data);
    let store = s.client.store();
    assert!(store.get(DataType::ProjectsMembers, "p1/u1").is_some());
    assert!(store.get(DataType::Modules, "erp").is_some());
    assert!(store.asset_by_pathname("/a.png").is_some());
    assert_eq!(
        store.get(DataType::Languages, "nl").unwrap().json(),
        "\"Dutch\""
    );
    let doc: Value = serde_json::from_str(&store.to_json()).unwrap();
    assert_eq!(doc["data"].as_object().unwrap().len(), 13);

    // A price that serde_json's default float parsing would change.
    let text = r#"{"success":true,"result":{},"data":{"records":{"r1":{"gid":"r1","fields":{"en":{"price":2.2250738585072011e-308,"p2":0.1000000000000000055511151231257827}}}}}}"#;
    s.client
        .call(s.now, "/records/get", None, CallOptions::default())
        .unwrap();
    let r = s.take("/records/get");
    s.reply_bytes(r.id, 200, text.as_bytes());
    let obj = s.client.store().record("r1").unwrap();
    assert!(
        obj.json().contains("2.2250738585072011e-308"),
        "held exactly as sent"
    );
    let price = obj.pointer("/fields/en/price").unwrap().as_f64().unwrap();
    assert_eq!(
        price.to_bits(),
        "2.2250738585072011e-308".parse::<f64>().unwrap().to_bits()
    );
}

// ---- 4. Sync rules -------------------------------------------------------------------------

#[test]
fn rule_4_initsync_payload_and_sync_event_items() {
    let mut s = Script::new(|c| c);
    s.authenticate(4132, 7864, held(&[("r1", 1.0)]));
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
    s.client.init(s.now).unwrap();
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

/// A field f1 with a label, as `/fields/get` and `/init` return it.
fn field(label: &str) -> Value {
    json!({"fields": {"f1": {"gid": "f1", "label": label}}})
}

fn label(s: &Script) -> Option<Value> {
    s.client
        .store()
        .get(DataType::Fields, "f1")
        .and_then(|f| f.pointer("/label"))
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
    s.authenticate(1, 1, json!({}));
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
    s.client
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
    s.authenticate(10, 10, held(&[("r1", 1.0)]));
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

// ---- 5. No lost update ---------------------------------------------------------------------

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
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0)]), |mut c| {
        c.retry.retries = 0;
        c
    });
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
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0), ("r2", 2.0)]), |mut c| {
        c.retry.retries = 0;
        c.batch_size(1).keep_api_key(true)
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
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0)]), |mut c| {
        c.retry.retries = 0;
        c
    });
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
    let mut s = Script::connected(10, 10, held(&[("r1", 1.0)]), |mut c| {
        c.retry.retries = 0;
        c
    });
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
    s.client.init(s.now).unwrap();
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
        s.client.init(s.now).unwrap();
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
    s.client.init(s.now).unwrap();
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
    s.client.init(s.now).unwrap();
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
    s.client.init(s.now).unwrap();
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
    s.client.init(s.now).unwrap();
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
    s.client.init(s.now).unwrap();
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
    s.client.init(s.now).unwrap();
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
    s.client.init(s.now).unwrap();
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
    s.client.init(s.now).unwrap();
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
    s.client.init(s.now).unwrap();
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
    s.authenticate(10, 10, held(&[("r1", 1.0)]));
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

// ---- 6. Batching ---------------------------------------------------------------------------

#[test]
fn rule_6_fetches_are_batched_deduplicated_and_dropped_for_later_deletes() {
    let gids: Vec<String> = (0..250).map(|i| format!("r{i:03}")).collect();
    let holding: Vec<(&str, f64)> = gids.iter().map(|g| (g.as_str(), 1.0)).collect();
    let mut s = Script::connected(10, 10, held(&holding), |c| c);
    let mut items: Vec<Value> = gids
        .iter()
        .enumerate()
        .map(|(i, g)| item("p1", 11 + i as i64, "UPDATE", "records", g))
        .collect();
    items.push(item("p1", 300, "UPDATE", "records", "r000")); // a duplicate
    items.push(item("p1", 301, "DELETE", "records", "r249")); // deleted later in the same list
    items.push(item("cc", 11, "UPDATE", "cc.users", "u1"));
    s.client
        .call(
            s.now,
            "//users/get",
            Some(json!({"user": "u1"})),
            CallOptions::default(),
        )
        .unwrap();
    let r = s.take("/api/users/get");
    s.reply(
        r.id,
        200,
        envelope(json!({}), json!({"cc.users": {"u1": {"gid": "u1"}}})),
        None,
    );
    s.push(Value::Array(items));
    let mut sizes = Vec::new();
    while s.has("/records/get") {
        let r = s.take("/records/get");
        let keys: Vec<String> = serde_json::from_value(r.body["records"].clone()).unwrap();
        assert!(
            !keys.contains(&"r249".to_string()),
            "a deleted key was fetched"
        );
        sizes.push(keys.len());
        let data: serde_json::Map<String, Value> =
            keys.iter().map(|k| (k.clone(), record(k, 2.0))).collect();
        s.reply(
            r.id,
            200,
            envelope(json!({}), json!({"records": data})),
            None,
        );
    }
    assert_eq!(
        sizes,
        [100, 100, 49],
        "249 distinct keys in plural requests of at most 100"
    );
    // Users have no plural form: one call per key.
    let u = s.take("/api/users/get");
    assert_eq!(u.body, json!({"user": "u1"}));
    s.reply(
        u.id,
        200,
        envelope(
            json!({}),
            json!({"cc.users": {"u1": {"gid": "u1", "name": "x"}}}),
        ),
        None,
    );
    assert_eq!(
        (s.client.store().cc_cursor(), s.client.store().cursor()),
        (11, 301)
    );
}

// ---- 7. HTTP polling sync and jobs ---------------------------------------------------------

#[test]
fn rule_7_sync_now_pages_while_the_server_warns() {
    let mut s = Script::new(|c| c.live_sync(false));
    s.authenticate(10, 10, held(&[("r1", 1.0)]));
    let call = s.client.sync_now(s.now).unwrap();
    let p1 = s.take("/sync/get");
    assert_eq!(p1.uri, "http://unicat.test/sync/get");
    assert_eq!(
        p1.body,
        json!({"cc_cursor": 10, "project": "p1", "cursor": 10})
    );
    s.reply(
        p1.id,
        200,
        envelope(
            json!({"sync": [item("p1", 11, "UPDATE", "records", "r1")], "warning": "more"}),
            json!({}),
        ),
        None,
    );
    assert!(
        !s.has("/sync/get"),
        "the next page waits until page 1 is applied"
    );
    let f = s.take("/records/get");
    s.reply(f.id, 200, envelope(json!({}), held(&[("r1", 5.0)])), None);
    let p2 = s.take("/sync/get");
    assert_eq!(p2.body["cursor"], 11);
    s.reply(
        p2.id,
        200,
        envelope(
            json!({"sync": [item("p1", 12, "DELETE", "records", "r1")]}),
            json!({}),
        ),
        None,
    );
    assert_eq!(
        s.result(call),
        Some(&Ok(json!({"cc.cursor": 10, "cursor": 12})))
    );
}

#[test]
fn rule_7_sync_cursors_reports_the_servers_without_moving_ours() {
    let mut s = Script::connected(10, 20, json!({}), |c| c);
    let call = s.client.sync_cursors(s.now).unwrap();
    let r = s.take("/sync/cursors");
    assert_eq!(r.uri, "http://unicat.test/sync/cursors");
    assert_eq!(r.body, json!({}));
    s.land(r.id, (50, 60), json!({}));
    assert_eq!(
        s.result(call),
        Some(&Ok(json!({"cc.cursor": 50, "cursor": 60})))
    );
    assert_eq!(
        (s.client.store().cc_cursor(), s.client.store().cursor()),
        (10, 20)
    );
}

#[test]
fn rule_7_track_job_until_done_rejected_or_timeout() {
    let mut s = Script::connected(10, 10, json!({}), |c| c);
    let done = s
        .client
        .track_job(s.now, "t1", Some(Duration::from_secs(60)))
        .unwrap();
    let rejected = s.client.track_job(s.now, "t2", None).unwrap();
    let slow = s
        .client
        .track_job(s.now, "t3", Some(Duration::from_secs(5)))
        .unwrap();
    let job = |cursor: i64, token: &str, status: &str| json!({"type": "cc", "cursor": cursor, "action": "UPDATE", "data_type": "jobs", "data_key": token, "data": {"project_gid": "p1", "job": "copy_record_channels_down", "status": status, "info": {}}});
    s.push(json!([
        job(11, "t1", "processing"),
        job(12, "t1", "done"),
        job(13, "t2", "rejected")
    ]));
    assert!(matches!(s.result(done), Some(Ok(v)) if v["status"] == "done"));
    assert!(
        matches!(s.result(rejected), Some(Err(CallError::JobFailed { status, .. })) if status == "rejected")
    );
    s.advance_until(10, |s| s.result(slow).is_some());
    assert_eq!(s.result(slow), Some(&Err(CallError::Timeout)));
}

#[test]
fn rule_7_track_job_polls_sync_get_while_the_socket_is_down() {
    let mut s = Script::new(|c| c.live_sync(false));
    s.authenticate(10, 10, json!({}));
    let call = s.client.track_job(s.now, "t1", None).unwrap();
    s.advance_until(5, |s| s.has("/sync/get"));
    let p = s.take("/sync/get");
    let item = json!({"type": "cc", "cursor": 11, "action": "UPDATE", "data_type": "jobs", "data_key": "t1", "data": {"project_gid": "p1", "job": "backup_project", "status": "done", "info": {}}});
    s.reply(
        p.id,
        200,
        envelope(json!({"sync": [item]}), json!({})),
        None,
    );
    assert!(matches!(s.result(call), Some(Ok(_))));
}

// ---- 8. Retries ----------------------------------------------------------------------------

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
        let call = s
            .client
            .call(
                s.now,
                "/records/update",
                Some(json!({"record": "r1"})),
                CallOptions::default(),
            )
            .unwrap();
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
    let call = s
        .client
        .call(
            s.now,
            "/records/update",
            Some(json!({"record": "r1"})),
            CallOptions::default(),
        )
        .unwrap();
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
    assert_eq!(
        s.result(call),
        Some(&Ok(json!({"records": 5, "repeats": 0})))
    );
    assert_eq!(s.client.store().records().len(), 5);
}

#[test]
fn the_client_debug_output_holds_no_secret() {
    let mut s = Script::new(|c| c.keep_api_key(true));
    s.client
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
    s.client
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
