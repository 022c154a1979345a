//! The Unicat rules of the core on requests (rule 1), one test per rule, each named after it.

use serde_json::json;
use unicat_core::api::{ApiError, CallError};
use unicat_core::client::CallOptions;
use unicat_core::io::{FileInfo, Machine};
use unicat_tests::script::{envelope, with_asset, Script};

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
        let _ = s
            .client
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

#[test]
fn rule_1_dam_urls_and_the_sdk_transform_key() {
    let mut s = with_asset();
    let _ = s.client.publish(s.now, "a1").unwrap();
    let r = s.take("/publish/a1~7.png");
    assert_eq!(r.method, "GET");
    assert_eq!(r.uri, "http://unicat.test/dam/p/p1/publish/a1~7.png");
    assert_eq!(r.auth.as_deref(), Some("Bearer jwt-1"));

    let _ = s
        .client
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
    let _ = s
        .client
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
