//! The Unicat rules of the core on responses (rule 2), one test per rule, each named after it.

use serde_json::json;
use unicat_core::api::{ApiError, CallError};
use unicat_core::client::{CallOptions, Event};
use unicat_tests::script::{envelope, failure, record, with_asset, Script};

#[test]
fn rule_2_envelope_result_data_and_files() {
    let mut s = Script::connected(1, 1, json!({}), |c| c);
    let call = s.call("/records/excel/children", json!({"record": "r1"}));
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
        let call = s.call("/records/update", json!({"record": "r1"}));
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
    let call = s.call("/backups/restore", json!({"version": 3}));
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
    let _ = s.call("/records/get", json!({"record": "r1"}));
    let r = s.take("/records/get");
    s.reply(r.id, 200, envelope(json!({}), json!({})), Some("jwt-2"));
    assert!(s.events.contains(&Event::TokenRefreshed));
    let _ = s
        .client
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
    let _ = s.client.publish(s.now, "a1").unwrap();
    let r = s.take("/publish/a1~7.png");
    let body = envelope(
        json!({"public_url": "http://unicat.test/media/x.png"}),
        json!({}),
    );
    s.reply(r.id, 200, body, Some("jwt-from-the-dam"));
    assert!(!s.events.contains(&Event::TokenRefreshed));
    let _ = s
        .client
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
    let _ = s
        .client
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
    let _ = s
        .client
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
