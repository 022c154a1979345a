//! The plant operations ([`Control::plant_children`] and friends) over the API a client reads
//! and the sync notices a live socket gets, plus their `/_dev/` twins.
//!
//! [`Control::plant_children`]: unicat_devserver::Control::plant_children

mod common;

use common::*;
use serde_json::{json, Value};
use unicat_devserver::DevServer;

/// `(action, data_type, data_key)` of each item of a sync list.
fn actions(list: &Value) -> Vec<(String, String, String)> {
    list.as_array()
        .expect("a list of items")
        .iter()
        .map(|i| {
            (
                i["action"].as_str().unwrap().to_owned(),
                i["data_type"].as_str().unwrap().to_owned(),
                i["data_key"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn item(action: &str, data_type: &str, key: &str) -> (String, String, String) {
    (action.to_owned(), data_type.to_owned(), key.to_owned())
}

/// A socket that did its `initsync` at the current cursors.
fn live_socket(server: &DevServer, token: &str) -> Eio {
    let (cc, cursor) = server.control().cursors();
    let mut eio = Eio::open(server.local_addr());
    assert_eq!(
        eio.connect_and_sync(token, server.project(), cc, cursor),
        json!([[]])
    );
    eio
}

/// The next `n` items the socket gets, across `sync` events.
fn next_items(eio: &mut Eio, n: usize) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    while out.len() < n {
        let (name, args) = eio.next_event();
        assert_eq!(name, "sync");
        out.extend(actions(&args[0]));
    }
    assert_eq!(out.len(), n, "{out:?}");
    out
}

/// Every child gid of `record`, page by page as the SDK asks (page.top += 100).
fn children_pages(server: &DevServer, token: &str, record: &str) -> (Vec<usize>, Vec<String>) {
    let (mut sizes, mut all, mut top) = (Vec::new(), Vec::new(), 0);
    loop {
        let v = api(
            server,
            "/records/children",
            token,
            json!({"record": record, "page.top": top, "page.size": 100, "channel": "__all__", "ordering": "x"}),
        )
        .json();
        let page = v["result"]["children"].as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        for g in &page {
            let g = g.as_str().unwrap();
            assert!(
                v["data"]["records"][g]["childcount"].is_u64(),
                "{g} in data"
            );
            all.push(g.to_owned());
        }
        sizes.push(page.len());
        top += 100;
        if top >= v["result"]["children.size"].as_u64().unwrap() as usize {
            break;
        }
    }
    (sizes, all)
}

#[test]
fn planted_children_page_by_the_hundred_and_reach_live_sockets() {
    let server = server(3);
    let control = server.control();
    let (token, _) = auth(&server);
    let root = control.root_record();
    let mut eio = live_socket(&server, &token);
    for (count, sizes) in [(100, vec![100]), (101, vec![100, 1]), (0, vec![])] {
        let (parent, kids) = control.plant_children(count).unwrap();
        assert_eq!(kids.len(), count);
        let items = next_items(&mut eio, 2 + count);
        assert_eq!(items[0], item("INSERT", "records", &parent));
        assert_eq!(items[1], item("UPDATE", "records", &root));
        let inserted: Vec<String> = items[2..].iter().map(|i| i.2.clone()).collect();
        assert_eq!(inserted, kids);
        assert!(items[2..].iter().all(|i| i.0 == "INSERT"));
        assert_eq!(
            children_pages(&server, &token, &parent),
            (sizes, kids.clone())
        );
        let v = api(&server, "/records/get", &token, json!({"record": parent})).json();
        let p = &v["data"]["records"][&parent];
        assert_eq!(p["childcount"], count);
        assert_eq!(p["parent"], root);
        assert_eq!(p["treelevel"], 1);
        if let Some(first) = kids.first() {
            let v = api(&server, "/records/get", &token, json!({"record": first})).json();
            let r = &v["data"]["records"][first];
            assert_eq!(r["path"], json!([root, parent, first]));
            assert_eq!(r["fields"]["en"]["artnr"], "P-00001");
            assert_eq!(r["fields"]["nl"]["stock"], 3);
            assert_eq!(r["fields"]["en"]["price"], 12.5);
        }
    }
    let v = api(&server, "/records/get", &token, json!({"record": root})).json();
    assert_eq!(v["data"]["records"][&root]["childcount"], 6);

    // Over HTTP.
    let r = post(&server, "/_dev/plant_children", None, &json!({"count": 3}));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["children"].as_array().unwrap().len(), 3);
    assert_eq!(next_items(&mut eio, 5)[0].2, v["parent"].as_str().unwrap());
    let r = post(&server, "/_dev/plant_children", None, &json!({}));
    assert_eq!(r.status, 400);
}

#[test]
fn an_empty_page_and_a_cycle() {
    let server = server(3);
    let control = server.control();
    let (token, _) = auth(&server);
    let root = control.root_record();
    let mut eio = live_socket(&server, &token);

    let liar = control.plant_empty_page().unwrap();
    assert_eq!(
        next_items(&mut eio, 2),
        [
            item("INSERT", "records", &liar),
            item("UPDATE", "records", &root)
        ]
    );
    for top in [0, 1, 5, 100] {
        let v = api(
            &server,
            "/records/children",
            &token,
            json!({"record": liar, "page.top": top, "page.size": 100}),
        )
        .json();
        assert_eq!(v["result"], json!({"children": [], "children.size": 5}));
    }
    let v = api(&server, "/records/get", &token, json!({"record": liar})).json();
    assert_eq!(v["data"]["records"][&liar]["childcount"], 5);

    let (p, c) = control.plant_cycle().unwrap();
    assert_eq!(
        next_items(&mut eio, 3),
        [
            item("INSERT", "records", &p),
            item("INSERT", "records", &c),
            item("UPDATE", "records", &root)
        ]
    );
    let (_, kids) = children_pages(&server, &token, &p);
    assert_eq!(kids, std::slice::from_ref(&c));
    let v = api(&server, "/records/children", &token, json!({"record": c})).json();
    assert_eq!(v["result"]["children"], json!([p]));
    assert_eq!(v["data"]["records"][&p]["childcount"], 1);
    let v = api(&server, "/records/get", &token, json!({"records": [p, c]})).json();
    assert_eq!(v["data"]["records"][&c]["childcount"], 1);
    assert_eq!(v["data"]["records"][&c]["parent"], p.as_str());

    // The bulk query walks the tree once, cycle or not.
    let v = api(
        &server,
        "/records/bulk/get",
        &token,
        json!({"selection": [{"search": {"language": "en", "q": "cycle", "filter": null}}], "page.size": 10}),
    )
    .json();
    assert_eq!(v["result"]["records"], json!([p, c]));
    assert_eq!(v["result"]["page.cursor"], Value::Null);

    // Over HTTP.
    let v = post(&server, "/_dev/plant_empty_page", None, &json!({})).json();
    assert!(v["record"].is_string(), "{v}");
    let v = post(&server, "/_dev/plant_cycle", None, &json!({})).json();
    assert!(v["parent"].is_string() && v["child"].is_string(), "{v}");
}

#[test]
fn every_field_type_with_exact_values() {
    let server = server(3);
    let control = server.control();
    let (token, _) = auth(&server);
    let root = control.root_record();
    let mut eio = live_socket(&server, &token);
    let planted = control.plant_field_types().unwrap();
    let fields = planted["fields"].as_object().unwrap();
    assert_eq!(fields.len(), 18);
    let def = planted["definition"].as_str().unwrap();
    let record = planted["record"].as_str().unwrap();
    let dimensions = planted["classes"]["dimensions"].as_str().unwrap();
    let extras = planted["classes"]["extras"].as_str().unwrap();

    // 21 fields, 2 classes, the definition, the record, then the root.
    let items = next_items(&mut eio, 26);
    let inserts = |t: &str| items.iter().filter(|i| i.0 == "INSERT" && i.1 == t).count();
    assert_eq!(
        (
            inserts("fields"),
            inserts("classes"),
            inserts("definitions")
        ),
        (21, 2, 1)
    );
    assert_eq!(items[24], item("INSERT", "records", record));
    assert_eq!(items[25], item("UPDATE", "records", &root));

    // The schema, as a client loads it.
    let v = api(&server, "/init", &token, json!({})).json();
    let data = &v["data"];
    for (name, gid) in fields {
        let f = &data["fields"][gid.as_str().unwrap()];
        assert_eq!(f["name"], name.as_str());
        assert_eq!(f["type"], &name[2..], "{f}");
        assert_eq!(f["is_localized"], true);
        assert!(f["label"]["en"].is_string() && f["label"]["nl"].is_string());
    }
    let field = |name: &str| &data["fields"][fields[name].as_str().unwrap()];
    assert_eq!(field("t_number")["unit"], "mm");
    assert_eq!(field("t_decimal")["unit"], "EUR");
    assert_eq!(field("t_class")["options"]["class"], dimensions);
    assert_eq!(field("t_classlist")["options"]["class"], dimensions);
    let d = &data["definitions"][def];
    assert_eq!(d["name"], "everything");
    assert_eq!(d["classes"], json!([dimensions, extras]));
    let listed: Vec<&Value> = d["fields"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 18);
    let class = &data["classes"][dimensions];
    for key in [
        "gid",
        "original",
        "name",
        "label",
        "fields",
        "layout",
        "metadata",
        "is_new",
        "is_working_copy",
    ] {
        assert!(class.get(key).is_some(), "class lacks {key}");
    }
    let width = &data["fields"][class["fields"][0].as_str().unwrap()];
    assert_eq!(
        (&width["name"], &width["unit"]),
        (&json!("width"), &json!("mm"))
    );
    let depth = &data["fields"][class["fields"][1].as_str().unwrap()];
    assert_eq!(
        (&depth["name"], &depth["type"]),
        (&json!("depth"), &json!("decimal"))
    );
    let other = &data["fields"][data["classes"][extras]["fields"][0].as_str().unwrap()];
    assert_eq!(other["name"], "t_textline");
    assert_eq!(other["type"], "code");
    assert_ne!(other["gid"], fields["t_textline"]);

    // The record: the JSON text keeps every digit.
    let r = api(&server, "/records/get", &token, json!({"record": record}));
    let text = r.text();
    for exact in [
        r#""t_decimal":12345678901234567.891"#,
        r#""t_decimal":0.30000000000000004"#,
        r#""depth": 2.50"#,
    ] {
        assert!(text.contains(exact), "{exact} not in {text}");
    }
    let v = r.json();
    let rec = &v["data"]["records"][record];
    assert_eq!(rec["definition"], def);
    assert_eq!(rec["parent"], root);
    let (en, nl) = (&rec["fields"]["en"], &rec["fields"]["nl"]);
    assert_ne!(en, nl);
    let code = en["t_code"].as_str().unwrap();
    assert!(code.contains(',') && code.contains('"') && code.contains('\n'));
    assert_eq!(en["t_textlist"], json!(["Red", "Blue"]));
    assert_eq!(en["t_textlist/key"], json!(["r", "b"]));
    assert_eq!(en["t_number"], 42);
    assert_eq!(en["t_boolean"], true);
    assert_eq!(nl["t_boolean"], Value::Null);
    assert!(nl.as_object().unwrap().contains_key("t_boolean"));
    assert!(en.get("t_barcode").is_some() && nl.get("t_barcode").is_none());
    assert_eq!(en["t_class"]["width"], 10);
    assert_eq!(en["t_classlist"].as_array().unwrap().len(), 2);
    assert_eq!(en["t_geo"], json!({"lat": 52.1, "lon": 5.1}));
    assert_eq!(en["t_filelist"], json!([]));
    let state = control.state();
    let articles = &state["data"]["records"];
    let article = en["t_record"].as_str().unwrap();
    assert!(articles[article].is_object());
    assert_eq!(en["t_recordlist"][0], article);
    let missing = planted["missing_record"].as_str().unwrap();
    assert_eq!(en["t_recordlist"][1], missing);
    assert!(articles.get(missing).is_none());
    let assets = &state["data"]["assets"];
    assert_eq!(
        assets[en["t_image"].as_str().unwrap()]["pathname"],
        "/img/photo-1.jpg"
    );
    assert!(assets[en["t_file"].as_str().unwrap()]["is_file"] == true);
    let missing_asset = planted["missing_asset"].as_str().unwrap();
    assert_eq!(en["t_imagelist"][1], missing_asset);
    assert!(assets.get(missing_asset).is_none());
    assert_eq!(
        state["data"]["fields"][en["t_fieldpicker"].as_str().unwrap()]["name"],
        "artnr"
    );
    // A missing reference is a 422 on its own, and left out of a plural get.
    let r = api(&server, "/records/get", &token, json!({"record": missing}));
    assert_eq!(r.status, 422);
    let v = api(
        &server,
        "/assets/get",
        &token,
        json!({"assets": [missing_asset, en["t_image"]]}),
    )
    .json();
    assert_eq!(v["result"]["assets"], json!([en["t_image"]]));

    // Over HTTP.
    let v = post(&server, "/_dev/plant_field_types", None, &json!({})).json();
    assert!(
        v["record"].is_string() && v["fields"]["t_geo"].is_string(),
        "{v}"
    );
}

#[test]
fn saved_queries_and_a_rename() {
    let server = server(10);
    let control = server.control();
    let (token, _) = auth(&server);
    let mut eio = live_socket(&server, &token);
    let queries = control.plant_queries().unwrap();
    let gids: Vec<String> = ["In stock", "Photos", "Prices"]
        .iter()
        .map(|n| queries[n].as_str().unwrap().to_owned())
        .collect();
    let items = next_items(&mut eio, 3);
    assert_eq!(
        items,
        gids.iter()
            .map(|g| item("INSERT", "queries", g))
            .collect::<Vec<_>>()
    );
    assert!(queries["Cheap articles"].is_string());
    assert_eq!(
        control.plant_queries().unwrap(),
        queries,
        "kept, not planted again"
    );

    let v = api(&server, "/queries/get", &token, json!({"queries": gids})).json();
    let q = &v["data"]["queries"];
    let in_stock = &q[&gids[0]];
    assert_eq!(
        (&in_stock["type"], &in_stock["q"], &in_stock["filter"][0]),
        (&json!("record"), &json!(""), &json!("value"))
    );
    assert_eq!(q[&gids[1]]["type"], "asset");
    assert_eq!(q[&gids[1]]["filter"], Value::Null);
    assert_eq!(
        (&q[&gids[2]]["type"], &q[&gids[2]]["q"]),
        (&json!("schema"), &json!("price"))
    );

    // The saved query runs as saved: stock is (3 i) % 50, never 0 for i in 1..=10.
    let v = api(
        &server,
        "/records/bulk/get",
        &token,
        json!({"selection": [{"search": {"language": "en", "q": in_stock["q"], "filter": in_stock["filter"]}}], "page.size": 100}),
    )
    .json();
    assert_eq!(v["result"]["records.size"], 10);

    // Renaming a definition is a patch: one UPDATE.
    let state = control.state();
    let (article, _) = state["data"]["definitions"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, d)| d["name"] == "article")
        .unwrap();
    control
        .patch("definitions", article, json!({"name": "product"}))
        .unwrap();
    assert_eq!(
        next_items(&mut eio, 1),
        [item("UPDATE", "definitions", article)]
    );

    let v = post(&server, "/_dev/plant_queries", None, &json!({})).json();
    assert_eq!(v, queries);
}

#[test]
fn changing_one_field_keeps_every_other_numbers_digits() {
    let server = DevServer::start(unicat_devserver::DevConfig {
        records: 3,
        ..Default::default()
    })
    .unwrap();
    let control = server.control();
    let planted = control.plant_field_types().unwrap();
    let record = planted["record"].as_str().unwrap();
    control
        .set_field(record, Some("nl"), "t_boolean", json!(true))
        .unwrap();
    let text = control.state_json();
    assert!(
        text.contains("12345678901234567.891"),
        "the en decimal kept its digits"
    );
    assert!(text.contains("0.30000000000000004"));
    assert_eq!(
        control.state()["data"]["records"][record]["fields"]["nl"]["t_boolean"],
        true
    );
}
