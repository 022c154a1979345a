//! The Unicat rules of the core on batching (rule 6), one test per rule, each named after it.

use serde_json::{json, Value};
use unicat_tests::script::{envelope, held, item, record, Script};

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
    let _ = s.call("//users/get", json!({"user": "u1"}));
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
