//! The Unicat rules of the core on the store (rule 3), one test per rule, each named after it.

use serde_json::{json, Value};
use unicat_core::client::CallOptions;
use unicat_core::store::DataType;
use unicat_tests::script::Script;

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
    let _ = s.authenticate(1, 1, data);
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
    let _ = s
        .client
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
