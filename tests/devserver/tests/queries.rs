//! The bulk query endpoints over real sockets: `/records/bulk/get`, `/assets/bulk/get` and
//! `/schema/bulk/get` with the body the SDK's `walk_*_query` helpers send, paged with
//! `page.cursor`; `q` and `filter` matching; and the 400s for what they don't understand.

mod common;

use common::*;
use serde_json::{json, Value};
use unicat_devserver::DevServer;

fn search(language: &str, q: &str, filter: Value) -> Value {
    json!([{"search": {"language": language, "q": q, "filter": filter}}])
}

/// One bulk call; panics unless it succeeded.
fn bulk(server: &DevServer, token: &str, endpoint: &str, body: Value) -> Value {
    let r = api(server, endpoint, token, body);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// Follows `page.cursor` to the end: `(pages of gids, the size every answer reported)`.
fn walk(
    server: &DevServer,
    token: &str,
    endpoint: &str,
    list: &str,
    selection: Value,
    size: u64,
) -> (Vec<Vec<String>>, u64) {
    let mut body = json!({"selection": selection, "page.size": size});
    let mut pages = Vec::new();
    let mut total = None;
    loop {
        let v = bulk(server, token, endpoint, body.clone());
        let result = &v["result"];
        let page: Vec<String> = result[list]
            .as_array()
            .unwrap_or_else(|| panic!("no {list}: {v}"))
            .iter()
            .map(|g| {
                if list == "schema_items" {
                    g["item"].as_str().unwrap().to_owned()
                } else {
                    g.as_str().unwrap().to_owned()
                }
            })
            .collect();
        let size = result[format!("{list}.size")].as_u64().expect("a size");
        assert_eq!(*total.get_or_insert(size), size, "the total stays put");
        if list == "records" || list == "assets" {
            for gid in &page {
                assert!(v["data"][list][gid].is_object(), "{gid} not in data");
            }
        }
        pages.push(page);
        assert!(pages.len() < 100, "the cursor never ends");
        match &result["page.cursor"] {
            Value::Null => break,
            Value::String(c) => body["page.cursor"] = json!(c),
            other => panic!("page.cursor is {other}"),
        }
    }
    (pages, total.unwrap_or(0))
}

fn gid_of(server: &DevServer, kind: &str, name: &str) -> String {
    let state = server.control().state();
    state["data"][kind]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, o)| o["name"] == name)
        .map(|(g, _)| g.clone())
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn records_page_with_a_cursor_in_tree_order() {
    // 249 articles plus the root: 250 records.
    let server = server(249);
    let (token, _) = auth(&server);
    let (pages, total) = walk(
        &server,
        &token,
        "/records/bulk/get",
        "records",
        search("en", "", Value::Null),
        100,
    );
    assert_eq!(total, 250);
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [100, 100, 50]);
    let mut expected = vec![server.control().root_record()];
    expected.extend(server.control().record_gids(249));
    assert_eq!(pages.concat(), expected, "depth-first from the root");

    // One page of everything, and the last page's cursor is null.
    let v = bulk(
        &server,
        &token,
        "/records/bulk/get",
        json!({"selection": search("en", "", json!([])), "page.size": 1000}),
    );
    assert_eq!(v["result"]["records"].as_array().unwrap().len(), 250);
    assert_eq!(v["result"]["page.cursor"], Value::Null);
    // No selection at all: everything too; page.size defaults to 100.
    let v = bulk(&server, &token, "/records/bulk/get", json!({}));
    assert_eq!(v["result"]["records"].as_array().unwrap().len(), 100);
    assert_eq!(v["result"]["records.size"], 250);

    // Planted subtrees come depth first, a deleted record drops out.
    let (parent, kids) = server.control().plant_children(2).unwrap();
    let victim = expected[1].clone();
    let r = api(
        &server,
        "/records/delete",
        &token,
        json!({"record": victim}),
    );
    assert_eq!(r.status, 200);
    let (pages, total) = walk(
        &server,
        &token,
        "/records/bulk/get",
        "records",
        search("nl", "", Value::Null),
        7,
    );
    assert_eq!(total, 250 - 1 + 3);
    let all = pages.concat();
    assert!(!all.contains(&victim));
    assert_eq!(
        all[all.len() - 3..],
        [parent, kids[0].clone(), kids[1].clone()]
    );
}

#[test]
fn q_and_filter_select_records() {
    let server = server(60);
    let (token, _) = auth(&server);
    let stock = gid_of(&server, "fields", "stock");
    let artnr = gid_of(&server, "fields", "artnr");
    let price = gid_of(&server, "fields", "price");
    let count = |selection: Value| -> u64 {
        walk(
            &server,
            &token,
            "/records/bulk/get",
            "records",
            selection,
            25,
        )
        .1
    };
    // Seeded stock of article i is (3 i) % 50: zero for i = 50 only among 1..=60.
    assert_eq!(
        count(search("en", "", json!(["value", "gt", [stock, 0]]))),
        59
    );
    assert_eq!(
        count(search("en", "", json!(["value", "eq", [stock, 0]]))),
        1
    );
    // Stock 3 on articles 1 and 51; the root has no stock: a missing value never matches,
    // not even `ne`.
    assert_eq!(
        count(search("en", "", json!(["value", "ne", [stock, 3]]))),
        58
    );
    assert_eq!(
        count(search("en", "", json!(["value", "le", [artnr, "A-00010"]]))),
        10
    );
    assert_eq!(
        count(search(
            "en",
            "",
            json!([
                "and",
                ["value", "ge", [artnr, "A-00010"]],
                ["value", "lt", [artnr, "A-00020"]]
            ])
        )),
        10
    );
    assert_eq!(
        count(search(
            "en",
            "",
            json!([
                "or",
                ["value", "eq", [artnr, "A-00001"]],
                ["value", "eq", [artnr, "A-00002"]]
            ])
        )),
        2
    );
    // 12.5 on articles 1 and 33, and decimals compare numerically.
    assert!(count(search("en", "", json!(["value", "lt", [price, 1.0]]))) > 0);
    assert_eq!(
        count(search("en", "", json!(["value", "eq", [price, 12.5]]))),
        2
    );

    // q: case-insensitive, in the title of the language or in any string value.
    assert_eq!(count(search("en", "ARTICLE A-0000", Value::Null)), 9);
    assert_eq!(count(search("nl", "article", Value::Null)), 0);
    assert_eq!(count(search("nl", "artikel", Value::Null)), 60);
    assert_eq!(
        count(search("en", "catalog", Value::Null)),
        1,
        "the root's title"
    );
    assert_eq!(count(search("en", "a-0005", Value::Null)), 10);
    // q and filter together; two selection entries match what either matches.
    assert_eq!(
        count(search("en", "a-0005", json!(["value", "gt", [stock, 0]]))),
        9
    );
    let mut two = search("en", "a-00001", Value::Null);
    two.as_array_mut().unwrap().extend(
        search("nl", "a-00002", Value::Null)
            .as_array()
            .unwrap()
            .clone(),
    );
    assert_eq!(count(two), 2);
}

#[test]
fn assets_and_schema_items_page_in_their_order() {
    let server = server(3);
    let (token, _) = auth(&server);
    let state = server.control().state();
    let by_path = |p: &str| {
        state["data"]["assets_by_pathname"][p]["gid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (pages, total) = walk(
        &server,
        &token,
        "/assets/bulk/get",
        "assets",
        search("en", "", Value::Null),
        3,
    );
    assert_eq!(total, 4);
    assert_eq!(
        pages,
        [
            vec![by_path("/"), by_path("/img"), by_path("/img/photo-1.jpg")],
            vec![by_path("/img/photo-2.png")]
        ]
    );
    let (pages, total) = walk(
        &server,
        &token,
        "/assets/bulk/get",
        "assets",
        search("nl", "PHOTO", Value::Null),
        100,
    );
    assert_eq!(total, 2);
    assert_eq!(
        pages.concat(),
        [by_path("/img/photo-1.jpg"), by_path("/img/photo-2.png")]
    );
    assert_eq!(
        walk(
            &server,
            &token,
            "/assets/bulk/get",
            "assets",
            search("en", "/img", Value::Null),
            100
        )
        .1,
        3,
        "pathnames match"
    );

    // Schema: definitions, then classes, then fields, each by name.
    let v = bulk(
        &server,
        &token,
        "/schema/bulk/get",
        json!({"selection": search("en", "", Value::Null), "page.size": 100}),
    );
    let items: Vec<(String, String)> = v["result"]["schema_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let t = i["type"].as_str().unwrap().to_owned();
            let kind = match t.as_str() {
                "definition" => "definitions",
                "class" => "classes",
                _ => "fields",
            };
            let name = v["data"][kind][i["item"].as_str().unwrap()]["name"]
                .as_str()
                .unwrap()
                .to_owned();
            (t, name)
        })
        .collect();
    let pairs: Vec<(&str, &str)> = items
        .iter()
        .map(|(t, n)| (t.as_str(), n.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("definition", "article"),
            ("definition", "catalog"),
            ("field", "artnr"),
            ("field", "price"),
            ("field", "stock")
        ]
    );
    assert_eq!(v["result"]["schema_items.size"], 5);
    // By label in the language: "Prijs" is the Dutch label of price.
    let (pages, total) = walk(
        &server,
        &token,
        "/schema/bulk/get",
        "schema_items",
        search("nl", "prijs", Value::Null),
        1,
    );
    assert_eq!(total, 1);
    assert_eq!(pages.concat(), [gid_of(&server, "fields", "price")]);
    // Planted classes come between definitions and fields.
    server.control().plant_field_types().unwrap();
    let v = bulk(
        &server,
        &token,
        "/schema/bulk/get",
        json!({"selection": search("en", "dimension", Value::Null), "page.size": 10}),
    );
    let types: Vec<&str> = v["result"]["schema_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["class", "field", "field"], "{v}");
    assert!(v["data"]["classes"].as_object().unwrap().len() == 1);
}

#[test]
fn what_the_server_does_not_understand_is_a_400() {
    let server = server(5);
    let (token, _) = auth(&server);
    let stock = gid_of(&server, "fields", "stock");
    let bad = |endpoint: &str, body: Value, param: &str| {
        let r = api(&server, endpoint, &token, body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        let v = r.json();
        assert_eq!(v["success"], false);
        assert_eq!(v["result"]["info"]["param"], param, "{v}");
        v
    };
    for size in [json!(0), json!(1001), json!(-1), json!("10")] {
        bad(
            "/records/bulk/get",
            json!({"selection": search("en", "", Value::Null), "page.size": size}),
            "page.size",
        );
    }
    for filter in [
        json!(["nope"]),
        json!(["value", "like", [stock, 1]]),
        json!(["value", "eq", ["no-such-field", 1]]),
        json!(["and", ["value", "gt"]]),
        json!("stock > 0"),
    ] {
        let v = bad(
            "/records/bulk/get",
            json!({"selection": search("en", "", filter.clone()), "page.size": 10}),
            "filter",
        );
        assert!(v["result"]["info"]["filter"] != Value::Null, "{v}");
    }
    bad(
        "/assets/bulk/get",
        json!({"selection": search("en", "", json!(["value", "gt", [stock, 0]]))}),
        "filter",
    );
    bad(
        "/records/bulk/get",
        json!({"selection": search("en", "", Value::Null), "page.cursor": "nope"}),
        "page.cursor",
    );
    bad(
        "/records/bulk/get",
        json!({"selection": search("xx", "", Value::Null)}),
        "language",
    );
    bad(
        "/records/bulk/get",
        json!({"selection": [{"records": []}]}),
        "selection",
    );
    // A records cursor is no assets cursor.
    let v = bulk(
        &server,
        &token,
        "/records/bulk/get",
        json!({"selection": search("en", "", Value::Null), "page.size": 2}),
    );
    let cursor = v["result"]["page.cursor"].as_str().unwrap().to_owned();
    bad(
        "/assets/bulk/get",
        json!({"selection": search("en", "", Value::Null), "page.cursor": cursor}),
        "page.cursor",
    );
    let v = bulk(
        &server,
        &token,
        "/records/bulk/get",
        json!({"selection": search("en", "", Value::Null), "page.size": 2, "page.cursor": cursor}),
    );
    assert_eq!(v["result"]["records"].as_array().unwrap().len(), 2);
}
