//! The official Python SDK and our typed reading, side by side on one dev-server project: the
//! same tree walks and query walks in the same order with the same totals, the same schema
//! (as sets: the SDK walks its dictionaries in insertion order), the same by-name answers,
//! and the same field values, keys, labels and units in both languages. (Transforms are
//! compared in `transform_sdk.rs`; cycles are left out, since the SDK recurses for ever on
//! them.)

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Map, Value};
use unicat_core::view::{FieldValue, Reference, Typed};
use unicat_devserver::{DevConfig, DevServer};
use unicat_tests::e2e::{Options, UnicatHandle};
use unicat_tests::peers::{repo_root, run_python};
use unicat_tests::reading::{Reader, Target};
use unicat_tests::runtimes::{Blocking, Smol};

const NAMES: &str = r#"{
    "definitions": ["article", "catalog", "everything", "no such definition"],
    "classes": ["dimensions", "extras", "nope"],
    "fields": ["artnr", "price", "stock", "t_decimal", "t_textline", "width", "depth", "nope"],
    "record_queries": ["In stock", "Cheap articles"],
    "asset_queries": ["Photos"],
    "schema_queries": ["Prices"]
}"#;

/// Numbers compare as the `f64` both sides read them as (our decimals keep more digits; the
/// SDK's are Python floats); everything else compares exactly.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn number(digits: &str) -> Value {
    serde_json::from_str(digits).unwrap_or_else(|_| json!(digits))
}

/// A value as the SDK's `.value` gives it: a single reference resolved to its gid, or
/// `None` when it cannot be; lists of references as their gids.
fn sdk_value(v: &FieldValue<'_>) -> Value {
    let gids = |refs: Vec<String>| Value::Array(refs.into_iter().map(Value::String).collect());
    match v.typed() {
        Typed::Null => Value::Null,
        Typed::Text(t) => json!(t),
        Typed::TextList(items) => json!(items),
        Typed::Number(n) | Typed::Decimal(n) => number(n.as_str()),
        Typed::Boolean(b) => json!(b),
        Typed::Class(c) => c.to_value(),
        Typed::ClassList(cs) => Value::Array(cs.iter().map(|c| c.to_value()).collect()),
        Typed::Record(Reference::Held(r)) => json!(r.gid()),
        Typed::Asset(Reference::Held(a)) => json!(a.gid()),
        Typed::Record(Reference::Missing(_)) | Typed::Asset(Reference::Missing(_)) => Value::Null,
        Typed::RecordList(rs) => gids(rs.iter().map(|r| r.gid().to_owned()).collect()),
        Typed::AssetList(rs) => gids(rs.iter().map(|r| r.gid().to_owned()).collect()),
        Typed::Field(f) => json!(f.gid()),
        Typed::Raw(raw) => serde_json::from_str(raw.get()).unwrap(),
        other => panic!("a value the SDK has no shape for: {other:?}"),
    }
}

fn localized(f: impl Fn(&str) -> Option<String>) -> Value {
    let mut m = Map::new();
    for lang in ["en", "nl"] {
        if let Some(text) = f(lang) {
            m.insert(lang.into(), json!(text));
        }
    }
    Value::Object(m)
}

/// What our views read from the record, in the script's shape.
fn our_values<H: UnicatHandle + Reader>(h: &H, gid: &str) -> Value {
    let store = h.store();
    let record = store.view().record(gid).expect("a fetched record");
    h.wanted(&record.wanted(None))
        .expect("the wanted references");
    let store = h.store();
    let record = store.view().record(gid).unwrap();
    let mut langs = Map::new();
    for lang in record.languages() {
        let mut fields = Map::new();
        for v in record.fields(&lang) {
            let field = v.field().expect("the field is known");
            let info = json!({
                "type": field.field_type().name(),
                "label": localized(|l| field.label(l).map(|s| s.into_owned())),
                "title": localized(|l| field.title(l).map(|s| s.into_owned())),
                "unit": field.unit(),
            });
            fields.insert(
                v.name().to_owned(),
                json!({"value": sdk_value(&v), "key": v.key(), "field": info}),
            );
        }
        langs.insert(lang.into_owned(), Value::Object(fields));
    }
    let definition = record
        .definition()
        .and_then(Reference::held)
        .and_then(|d| d.name())
        .unwrap();
    json!({"definition": definition, "fields": langs})
}

fn ours<H: UnicatHandle + Reader>(server: &DevServer, records: &[String]) -> Value {
    let h = H::build(server.url(), server.project(), Options::default());
    h.connect(server.api_key()).expect("connect");
    assert!(h.wait_caught_up(Duration::from_secs(20)));
    let keys = |items: Vec<Result<String, unicat_runtime_support::Error>>| -> Vec<String> {
        items.into_iter().map(|i| i.unwrap()).collect()
    };
    let refs: Vec<&str> = records.iter().map(String::as_str).collect();
    let [definitions, classes, fields, queries] = h.schema_walks();
    let mut out = json!({
        "tree": keys(h.tree(false).0),
        "asset_tree": keys(h.tree(true).0),
        "root_record": h.root(false).unwrap(),
        "root_asset": h.root(true).unwrap(),
        "asset_by_pathname": h.get_one("pathname", "/img/photo-1.jpg", false).unwrap(),
        "get_records": h.get_many("records", &refs, false).unwrap(),
        "definitions": definitions, "classes": classes, "fields": fields, "queries": queries,
        "modules": keys(h.modules()),
    });
    let names: Value = serde_json::from_str(NAMES).unwrap();
    let mut walks = Map::new();
    for (kind, target) in [
        ("record", Target::Records),
        ("asset", Target::Assets),
        ("schema", Target::Schema),
    ] {
        for name in names[format!("{kind}_queries")].as_array().unwrap() {
            let name = name.as_str().unwrap();
            for limit in [None, Some(3)] {
                let items: Vec<Value> = h
                    .query(target, "en", name, limit)
                    .into_iter()
                    .map(|i| {
                        let (total, key) = i.unwrap();
                        json!([total, key])
                    })
                    .collect();
                let limit = limit.map_or("None".to_string(), |l| l.to_string());
                walks.insert(format!("{kind}:{name}:{limit}"), Value::Array(items));
            }
        }
    }
    out["query_walks"] = Value::Object(walks);
    let store = h.store();
    let v = store.view();
    let by = |list: &str, f: &dyn Fn(&str) -> Option<String>| -> Value {
        Value::Object(
            names[list]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| {
                    let n = n.as_str().unwrap();
                    (n.to_owned(), json!(f(n)))
                })
                .collect(),
        )
    };
    out["by_name"] = json!({
        "definitions": by("definitions", &|n| v.definition_by_name(n).map(|d| d.gid().to_owned())),
        "classes": by("classes", &|n| v.class_by_name(n).map(|d| d.gid().to_owned())),
        "fields": by("fields", &|n| v.field_by_name(n).map(|d| d.gid().to_owned())),
        "record_queries": by("record_queries", &|n| v.record_query_by_name(n).map(|d| d.gid().to_owned())),
        "asset_queries": by("asset_queries", &|n| v.asset_query_by_name(n).map(|d| d.gid().to_owned())),
        "schema_queries": by("schema_queries", &|n| v.schema_query_by_name(n).map(|d| d.gid().to_owned())),
    });
    out["values"] = Value::Object(
        records
            .iter()
            .map(|g| (g.clone(), our_values(&h, g)))
            .collect(),
    );
    h.close();
    out
}

fn as_set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn compare(name: &str, sdk: &Value, ours: &Value) {
    for key in ["definitions", "classes", "fields", "queries"] {
        assert_eq!(
            as_set(&sdk[key]),
            as_set(&ours[key]),
            "{name}: {key} as sets"
        );
    }
    for key in [
        "tree",
        "asset_tree",
        "root_record",
        "root_asset",
        "asset_by_pathname",
        "get_records",
        "modules",
        "query_walks",
        "by_name",
    ] {
        assert!(
            same(&sdk[key], &ours[key]),
            "{name}: {key}\nSDK:  {}\nours: {}",
            sdk[key],
            ours[key]
        );
    }
    let (sdk_values, our_values) = (
        sdk["values"].as_object().unwrap(),
        ours["values"].as_object().unwrap(),
    );
    assert_eq!(sdk_values.len(), our_values.len());
    for (gid, theirs) in sdk_values {
        for (lang, fields) in theirs["fields"].as_object().unwrap() {
            for (field, value) in fields.as_object().unwrap() {
                let mine = &our_values[gid]["fields"][lang][field];
                assert!(
                    same(value, mine),
                    "{name}: {gid} {lang} {field}\nSDK:  {value}\nours: {mine}"
                );
            }
            assert_eq!(
                fields.as_object().unwrap().len(),
                our_values[gid]["fields"][lang].as_object().unwrap().len(),
                "{gid} {lang}"
            );
        }
        assert_eq!(theirs["definition"], our_values[gid]["definition"]);
    }
}

#[test]
fn our_reading_gives_what_the_sdk_gives() {
    let server = DevServer::start(DevConfig {
        records: 120,
        ..DevConfig::default()
    })
    .unwrap();
    let control = server.control();
    control.plant_children(100).unwrap();
    control.plant_children(101).unwrap();
    control.plant_empty_page().unwrap();
    control.plant_queries().unwrap();
    let planted = control.plant_field_types().unwrap();
    let mut records: Vec<String> = control.record_gids(3);
    records.push(planted["record"].as_str().unwrap().to_owned());

    let script = repo_root().join("tests/peers/sdk_reading.py");
    let records_json = serde_json::to_string(&records).unwrap();
    let stdout = run_python(
        &[
            script.to_str().unwrap(),
            server.url(),
            server.project(),
            server.api_key(),
            &records_json,
            NAMES,
        ],
        Duration::from_secs(120),
    );
    let sdk: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert!(sdk["tree"].as_array().unwrap().len() > 300);
    assert!(sdk["query_walks"]
        .as_object()
        .unwrap()
        .values()
        .all(|w| !w.as_array().unwrap().is_empty()));
    // The cases that matter are in what is compared: a class field overriding a definition
    // field by name, a decimal past f64, a reference the server does not know.
    let everything = &sdk["values"][records[3].as_str()]["fields"];
    assert_eq!(everything["en"]["t_textline"]["field"]["type"], "code");
    assert!(everything["en"]["t_decimal"]["value"].is_number());
    assert!(
        everything["en"]["t_recordlist"]["value"]
            .as_array()
            .unwrap()
            .len()
            == 2
    );
    assert!(everything["nl"].as_object().unwrap().len() > 10);
    for key in [
        "tree",
        "asset_tree",
        "get_records",
        "modules",
        "by_name",
        "values",
    ] {
        assert!(!sdk[key].is_null(), "{key}");
    }

    compare("blocking", &sdk, &ours::<Blocking>(&server, &records));
    compare("smol", &sdk, &ours::<Smol>(&server, &records));
}
