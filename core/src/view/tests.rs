//! Views over hand-made stores: every field type, the SDK's by-name rules, and hostile shapes.

use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::*;
use crate::store::{DataType, Object, Store};

fn obj(text: &str) -> Object {
    Object::new(&RawValue::from_string(text.to_owned()).unwrap())
}

fn field(gid: &str, name: &str, type_: &str, extra: Value) -> (String, String) {
    let mut f = json!({"gid": gid, "name": name, "type": type_, "label": {"en": name.to_uppercase(), "nl": name},
        "unit": null, "options": {}, "is_new": false, "is_working_copy": false});
    if let (Some(f), Some(extra)) = (f.as_object_mut(), extra.as_object()) {
        f.extend(extra.clone());
    }
    (gid.to_owned(), f.to_string())
}

/// A definition with one field of every type, a class `dim`, and one record `r` whose values
/// are written as JSON text (so the decimal keeps its digits).
fn every_type_store() -> Store {
    let mut s = Store::default();
    let types = [
        "text",
        "textline",
        "textlist",
        "code",
        "barcode",
        "number",
        "decimal",
        "boolean",
        "class",
        "classlist",
        "record",
        "recordlist",
        "image",
        "imagelist",
        "file",
        "filelist",
        "fieldpicker",
        "geo",
    ];
    let mut gids = Vec::new();
    for t in types {
        let extra = match t {
            "class" | "classlist" => json!({"options": {"class": "c-dim"}}),
            "number" => json!({"unit": "mm"}),
            _ => json!({}),
        };
        let (gid, text) = field(&format!("f-{t}"), &format!("t_{t}"), t, extra);
        s.insert(DataType::Fields, gid.clone(), obj(&text));
        gids.push(gid);
    }
    let (gid, text) = field("f-width", "width", "number", json!({"unit": "mm"}));
    s.insert(DataType::Fields, gid, obj(&text));
    s.insert(DataType::Classes, "c-dim".into(), obj(r#"{"gid":"c-dim","name":"dim","fields":["f-width"],"is_new":false,"is_working_copy":false}"#));
    let def = json!({"gid": "d", "name": "everything", "fields": gids, "classes": [],
        "is_new": false, "is_working_copy": false, "is_extended": false});
    s.insert(DataType::Definitions, "d".into(), obj(&def.to_string()));
    s.insert(DataType::Records, "other".into(), obj(r#"{"gid":"other"}"#));
    s.insert(
        DataType::Assets,
        "a1".into(),
        obj(r#"{"gid":"a1","pathname":"/a.jpg","is_file":true}"#),
    );
    let record = r#"{"gid":"r","definition":"d","fields":{"en":{
        "t_text":"a, \"quoted\"\nline","t_textline":"one","t_textlist":["Red","Blue"],"t_textlist/key":["r","b"],
        "t_code":"x=1","t_barcode":"871","t_number":42,"t_decimal":12345678901234567.891,"t_boolean":true,
        "t_class":{"width":10},"t_classlist":[{"width":1},{"width":2}],
        "t_record":"other","t_recordlist":["other","gone"],"t_image":"a1","t_imagelist":["a1","a-gone"],
        "t_file":"a-gone","t_filelist":[],"t_fieldpicker":"f-width","t_geo":{"lat":52.1}},
      "nl":{"t_decimal":"0.30000000000000004","t_boolean":null,"t_number":"not a number"}}}"#;
    s.insert(DataType::Records, "r".into(), obj(record));
    s
}

#[test]
fn every_field_type_reads_as_its_type() {
    let store = every_type_store();
    let r = store.view().record("r").unwrap();
    let typed = |name: &str| r.field("en", name).unwrap().typed();
    assert!(matches!(typed("t_text"), Typed::Text(t) if t == "a, \"quoted\"\nline"));
    assert!(matches!(typed("t_textline"), Typed::Text(t) if t == "one"));
    assert!(matches!(typed("t_textlist"), Typed::TextList(l) if l == ["Red", "Blue"]));
    assert_eq!(
        r.field("en", "t_textlist").unwrap().key(),
        Some(json!(["r", "b"]))
    );
    assert!(matches!(typed("t_code"), Typed::Text(_)));
    assert!(matches!(typed("t_barcode"), Typed::Text(t) if t == "871"));
    assert!(matches!(typed("t_number"), Typed::Number(n) if n.to_i64() == Some(42)));
    assert!(
        matches!(typed("t_decimal"), Typed::Decimal(n) if n.as_str() == "12345678901234567.891")
    );
    assert!(matches!(typed("t_boolean"), Typed::Boolean(true)));
    let Typed::Class(c) = typed("t_class") else {
        panic!()
    };
    assert_eq!(c.field("width").unwrap().to_string(), "10");
    assert_eq!(
        c.field("width").unwrap().title().as_deref(),
        Some("WIDTH [mm]")
    );
    let Typed::ClassList(items) = typed("t_classlist") else {
        panic!()
    };
    assert_eq!(items.len(), 2);
    assert!(
        matches!(typed("t_record"), Typed::Record(Reference::Held(rec)) if rec.gid() == "other")
    );
    let Typed::RecordList(list) = typed("t_recordlist") else {
        panic!()
    };
    assert_eq!(
        list.iter().map(|r| r.missing()).collect::<Vec<_>>(),
        [None, Some("gone")]
    );
    assert!(
        matches!(typed("t_image"), Typed::Asset(Reference::Held(a)) if a.pathname().as_deref() == Some("/a.jpg"))
    );
    assert!(matches!(typed("t_file"), Typed::Asset(Reference::Missing(g)) if g == "a-gone"));
    assert!(matches!(typed("t_filelist"), Typed::AssetList(l) if l.is_empty()));
    assert!(
        matches!(typed("t_fieldpicker"), Typed::Field(Reference::Held(f)) if f.name().as_deref() == Some("width"))
    );
    assert!(
        matches!(typed("t_geo"), Typed::Raw(raw) if raw.get() == r#"{"lat":52.1}"#),
        "unknown types stay raw"
    );
}

#[test]
fn values_print_as_the_feed_writes_them() {
    let store = every_type_store();
    let r = store.view().record("r").unwrap();
    let text = |lang: &str, name: &str| r.field(lang, name).map(|v| v.to_string());
    assert_eq!(text("en", "t_textlist").as_deref(), Some("Red|Blue"));
    assert_eq!(
        text("en", "t_decimal").as_deref(),
        Some("12345678901234567.891")
    );
    assert_eq!(
        text("nl", "t_decimal").as_deref(),
        Some("0.30000000000000004"),
        "a decimal sent as a string"
    );
    assert_eq!(text("en", "t_boolean").as_deref(), Some("true"));
    assert_eq!(
        text("nl", "t_boolean").as_deref(),
        Some(""),
        "null is empty"
    );
    assert_eq!(text("en", "t_recordlist").as_deref(), Some("other|gone"));
    assert_eq!(
        text("nl", "t_number").as_deref(),
        Some("not a number"),
        "a string of the wrong type is its text"
    );
    assert_eq!(
        text("en", "t_geo").as_deref(),
        Some(r#"{"lat":52.1}"#),
        "an object is its JSON"
    );
    assert_eq!(text("nl", "t_text"), None, "no value in that language");
    assert_eq!(text("de", "t_text"), None, "no such language");
}

#[test]
fn a_decimal_keeps_its_exact_digits_and_scale() {
    let store = every_type_store();
    let r = store.view().record("r").unwrap();
    let Typed::Decimal(n) = r.field("en", "t_decimal").unwrap().typed() else {
        panic!()
    };
    assert_eq!(n.to_scaled(), Some((12345678901234567891, 3)));
    assert_ne!(
        format!("{}", n.to_f64().unwrap()),
        n.as_str(),
        "f64 would lose digits"
    );
}

#[test]
fn missing_references_say_what_to_fetch() {
    let store = every_type_store();
    let r = store.view().record("r").unwrap();
    let wanted = r.wanted(Some("en"));
    assert_eq!(wanted.records.iter().collect::<Vec<_>>(), ["gone"]);
    assert_eq!(wanted.assets.iter().collect::<Vec<_>>(), ["a-gone"]);
    assert!(r.wanted(Some("nl")).is_empty());
}

#[test]
fn a_class_field_overrides_a_definition_field_of_the_same_name() {
    // The SDK builds fields_by_name from all_fields: the definition's own, then each class's.
    let mut s = Store::default();
    for (gid, text) in [
        field("f-own", "code", "textline", json!({})),
        field("f-c1", "code", "code", json!({})),
        field("f-c2", "other", "number", json!({})),
    ] {
        s.insert(DataType::Fields, gid, obj(&text));
    }
    s.insert(
        DataType::Classes,
        "c1".into(),
        obj(r#"{"name":"c1","fields":["f-c1","f-c2"]}"#),
    );
    s.insert(
        DataType::Definitions,
        "d".into(),
        obj(r#"{"name":"d","fields":["f-own"],"classes":["c1"]}"#),
    );
    let d = s.view().definition("d").unwrap();
    assert_eq!(d.field_by_name("code").unwrap().gid(), "f-c1");
    assert_eq!(d.all_fields().len(), 3);
}

#[test]
fn by_name_lookups_follow_renames_and_the_sdks_skip_rules() {
    let mut s = Store::default();
    let def = |name: &str, flags: &str| obj(&format!(r#"{{"name":"{name}",{flags}}}"#));
    let committed = r#""is_new":false,"is_working_copy":false,"is_extended":false"#;
    s.insert(
        DataType::Definitions,
        "d1".into(),
        def("article", committed),
    );
    s.insert(
        DataType::Definitions,
        "wc".into(),
        def("draft", r#""is_new":false,"is_working_copy":true"#),
    );
    s.insert(
        DataType::Definitions,
        "new".into(),
        def("fresh", r#""is_new":true"#),
    );
    s.insert(
        DataType::Definitions,
        "ext".into(),
        def("extended", r#""is_extended":true"#),
    );
    s.insert(
        DataType::Fields,
        "f-ext".into(),
        def("extended", r#""is_extended":true"#),
    );
    let v = s.view();
    assert_eq!(v.definition_by_name("article").unwrap().gid(), "d1");
    for skipped in ["draft", "fresh", "extended"] {
        assert!(v.definition_by_name(skipped).is_none(), "{skipped}");
    }
    assert!(
        v.field_by_name("extended").is_some(),
        "extended is skipped for definitions only"
    );

    // Renamed through sync: found by its new name at once, no longer by its old one.
    s.insert(
        DataType::Definitions,
        "d1".into(),
        def("product", committed),
    );
    assert!(s.view().definition_by_name("article").is_none());
    assert_eq!(s.view().definition_by_name("product").unwrap().gid(), "d1");

    // Two claim one name: the later arrival answers; when it goes, the earlier again.
    s.insert(
        DataType::Definitions,
        "d2".into(),
        def("product", committed),
    );
    assert_eq!(s.view().definition_by_name("product").unwrap().gid(), "d2");
    s.remove(DataType::Definitions, "d2");
    assert_eq!(s.view().definition_by_name("product").unwrap().gid(), "d1");

    // Becoming a working copy takes it out of the index.
    s.insert(
        DataType::Definitions,
        "d1".into(),
        def("product", r#""is_working_copy":true"#),
    );
    assert!(s.view().definition_by_name("product").is_none());

    s.insert(
        DataType::Queries,
        "q".into(),
        obj(r#"{"type":"record","name":"In stock"}"#),
    );
    assert_eq!(
        s.view().record_query_by_name("In stock").unwrap().gid(),
        "q"
    );
    assert!(s.view().asset_query_by_name("In stock").is_none());
    assert_eq!(
        s.names(DataType::Queries)
            .map(|(n, _)| n)
            .collect::<Vec<_>>(),
        ["record:In stock"]
    );
}

#[test]
fn hostile_shapes_read_as_nothing_never_a_panic() {
    let mut s = Store::default();
    for (gid, text) in [
        ("a", r#"[1,2,3]"#),
        (
            "b",
            r#"{"fields":"not an object","definition":7,"childcount":-1,"path":{"x":1}}"#,
        ),
        ("c", r#"{"fields":{"en":[1]},"title":{"en":5}}"#),
        (
            "d",
            r#"{"definition":"d","fields":{"en":{"x":{"deep":[1,{"a":null}]}}}}"#,
        ),
        ("e", r#""a string""#),
    ] {
        s.insert(DataType::Records, gid.into(), obj(text));
    }
    s.insert(
        DataType::Definitions,
        "d".into(),
        obj(r#"{"fields":"nope","classes":[1,null]}"#),
    );
    let v = s.view();
    for r in v.records() {
        let _ = (
            r.title("en"),
            r.childcount(),
            r.path(),
            r.definition(),
            r.languages(),
        );
        for l in ["en", "nl"] {
            for f in r.fields(l) {
                let _ = (f.to_string(), f.typed(), f.label(), f.field_type());
            }
        }
        let _ = r.wanted(None);
    }
    assert!(matches!(
        v.record("d").unwrap().field("en", "x").unwrap().typed(),
        Typed::Raw(_)
    ));
    assert_eq!(v.record("b").unwrap().childcount(), 0);
}

#[test]
fn a_mirror_document_reads_back_with_its_indexes() {
    let store = every_type_store();
    let back = Store::from_json(&store.to_json()).unwrap();
    assert_eq!(back.to_json(), store.to_json());
    assert_eq!(back.view().asset_by_pathname("/a.jpg").unwrap().gid(), "a1");
    assert_eq!(
        back.view().field_by_name("t_decimal").unwrap().gid(),
        "f-decimal"
    );
    assert!(matches!(
        Store::from_json(r#"{"data":{"jobs":{}}}"#),
        Err(crate::store::LoadError::UnknownDataType(t)) if t == "jobs"
    ));
    assert!(Store::from_json("{").is_err());
}

#[test]
fn a_class_nested_in_itself_as_deep_as_the_server_likes_is_followed_a_bounded_depth() {
    // A class whose field is a class field of the same class: the value may nest for ever.
    let mut s = Store::default();
    let (gid, text) = field(
        "f-self",
        "inner",
        "class",
        json!({"options": {"class": "c"}}),
    );
    s.insert(DataType::Fields, gid, obj(&text));
    let (gid, text) = field("f-ref", "ref", "record", json!({}));
    s.insert(DataType::Fields, gid, obj(&text));
    s.insert(
        DataType::Classes,
        "c".into(),
        obj(r#"{"name":"c","fields":["f-self","f-ref"]}"#),
    );
    s.insert(
        DataType::Definitions,
        "d".into(),
        obj(r#"{"name":"d","fields":["f-self"]}"#),
    );
    let depth = 5_000;
    let value = format!(
        "{}{}",
        r#"{"ref":"deep","inner":"#.repeat(depth),
        "null".to_owned() + &"}".repeat(depth)
    );
    s.insert(
        DataType::Records,
        "r".into(),
        obj(&format!(
            r#"{{"definition":"d","fields":{{"en":{{"inner":{value}}}}}}}"#
        )),
    );
    let r = s.view().record("r").unwrap();
    let wanted = r.wanted(Some("en"));
    assert_eq!(wanted.records.iter().collect::<Vec<_>>(), ["deep"]);
    assert!(!r.field("en", "inner").unwrap().to_string().is_empty());
}

#[test]
fn exact_numbers_scale_without_loops_or_overflow() {
    let n = |t: &str| Number(std::borrow::Cow::Borrowed(t)).to_scaled();
    assert_eq!(n("12.50"), Some((1250, 2)));
    assert_eq!(n("1.5e-3"), Some((15, 4)));
    assert_eq!(n("1e3"), Some((1000, 0)));
    assert_eq!(n("0e2000000000"), Some((0, 0)));
    assert_eq!(n("1e2000000000"), None);
    assert_eq!(n("-7"), Some((-7, 0)));
}

#[test]
fn thousands_claiming_one_name_cost_little_and_the_last_answers() {
    let mut s = Store::default();
    let def = |n: usize| obj(&format!(r#"{{"name":"same","n":{n}}}"#));
    for i in 0..20_000 {
        s.insert(DataType::Definitions, format!("d{i}"), def(i));
    }
    let snapshot = s.clone();
    for i in (1..20_000).rev() {
        s.remove(DataType::Definitions, &format!("d{i}"));
    }
    assert_eq!(s.view().definition_by_name("same").unwrap().gid(), "d0");
    assert_eq!(
        snapshot.view().definition_by_name("same").unwrap().gid(),
        "d19999",
        "the snapshot is untouched"
    );
}

#[test]
fn a_name_two_channels_share_finds_the_last_as_the_sdks_dictionary_does() {
    let store = Store::from_json(
        r#"{"data":{"cc.projects":{"p":{"options":{
        "channels":{"a":"Web","b":"Web"},"orderedchannels":["a","b"],
        "orderings":{},"orderedorderings":[],"fieldlists":{},"orderedfieldlists":[]}}}}}"#,
    )
    .unwrap();
    assert_eq!(
        store
            .view()
            .project("p")
            .unwrap()
            .channel_key("Web")
            .as_deref(),
        Some("b")
    );
}
