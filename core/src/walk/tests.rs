//! Walkers driven against a scripted server: each call is answered the way the API answers it,
//! the answer's objects merged into the store before the result goes to the walker.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::*;
use crate::store::{DataType, Object};
use crate::view::{Held, Kind, Modules, Records};

fn obj(v: &Value) -> Object {
    Object::new(&RawValue::from_string(v.to_string()).unwrap())
}

/// A record tree the server holds: parent → children, and each record's `childcount` as the
/// server reports it.
struct TreeServer {
    children: BTreeMap<String, Vec<String>>,
    claimed: BTreeMap<String, u64>,
    calls: Vec<ApiCall>,
}

impl TreeServer {
    fn new(edges: &[(&str, &[&str])]) -> Self {
        let children: BTreeMap<String, Vec<String>> = edges
            .iter()
            .map(|(p, cs)| (p.to_string(), cs.iter().map(|c| c.to_string()).collect()))
            .collect();
        let claimed = children
            .iter()
            .map(|(p, cs)| (p.clone(), cs.len() as u64))
            .collect();
        TreeServer {
            children,
            claimed,
            calls: Vec::new(),
        }
    }

    fn record(&self, gid: &str) -> Object {
        obj(&json!({"gid": gid, "childcount": self.claimed.get(gid).copied().unwrap_or(0)}))
    }

    fn answer(&mut self, call: &ApiCall, store: &mut Store) -> Value {
        self.calls.push(call.clone());
        match call.endpoint.as_str() {
            "/records/root" => {
                store.insert(DataType::Records, "root".into(), self.record("root"));
                json!({"root": "root"})
            }
            "/records/children" => {
                let parent = call.body["record"].as_str().unwrap();
                let top = call.body["page.top"].as_u64().unwrap() as usize;
                let size = call.body["page.size"].as_u64().unwrap() as usize;
                let all = self.children.get(parent).cloned().unwrap_or_default();
                let page: Vec<String> = all.iter().skip(top).take(size).cloned().collect();
                for c in &page {
                    store.insert(DataType::Records, c.clone(), self.record(c));
                }
                let claimed = self.claimed.get(parent).copied().unwrap_or(0);
                json!({"children": page, "children.size": claimed})
            }
            other => panic!("unexpected call to {other}"),
        }
    }
}

/// Drives `walk` to its end; returns the keys it handed out and the errors.
fn drive<W: Walk>(
    walk: &mut W,
    store: &mut Store,
    mut server: impl FnMut(&ApiCall, &mut Store) -> Value,
    mut key: impl FnMut(&W::Item) -> String,
) -> (Vec<String>, Vec<WalkError>) {
    let (mut items, mut errors) = (Vec::new(), Vec::new());
    for _ in 0..100_000 {
        match walk.poll(store) {
            Step::Item(Ok(item)) => items.push(key(&item)),
            Step::Item(Err(e)) => errors.push(e),
            Step::Call(call) => {
                let result = server(&call, store);
                if let Err(e) = walk.handle_result(&result) {
                    errors.push(e);
                    return (items, errors);
                }
            }
            Step::Done => return (items, errors),
        }
    }
    panic!("the walk did not end");
}

fn walk_tree(server: &mut TreeServer) -> (Vec<String>, u64) {
    let mut store = Store::default();
    let mut walk = TreeWalk::records(None, None);
    let (items, errors) = drive(
        &mut walk,
        &mut store,
        |c, s| server.answer(c, s),
        |h: &Held<Records>| h.key().to_owned(),
    );
    assert!(errors.is_empty(), "{errors:?}");
    (items, walk.repeats())
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:03}")).collect()
}

#[test]
fn the_tree_is_walked_depth_first_in_the_sdks_order() {
    let mut server =
        TreeServer::new(&[("root", &["a", "b"]), ("a", &["a1", "a2"]), ("b", &["b1"])]);
    let (items, _) = walk_tree(&mut server);
    assert_eq!(items, ["root", "a", "a1", "a2", "b", "b1"]);
    let parents: Vec<&str> = server
        .calls
        .iter()
        .skip(1)
        .map(|c| c.body["record"].as_str().unwrap())
        .collect();
    assert_eq!(
        parents,
        ["root", "a", "b"],
        "a leaf (childcount 0) is not asked for children"
    );
}

#[test]
fn exactly_one_hundred_children_take_one_page_and_one_hundred_and_one_take_two() {
    for (n, pages) in [(100, 1), (101, 2), (0, 1)] {
        let kids = names("c", n);
        let refs: Vec<&str> = kids.iter().map(String::as_str).collect();
        let mut server = TreeServer::new(&[("root", &refs)]);
        let (items, _) = walk_tree(&mut server);
        assert_eq!(items.len(), n + 1, "{n} children and the root");
        let tops: Vec<u64> = server
            .calls
            .iter()
            .skip(1)
            .map(|c| c.body["page.top"].as_u64().unwrap())
            .collect();
        assert_eq!(tops.len(), pages, "{n} children: pages at {tops:?}");
        if pages == 2 {
            assert_eq!(tops, [0, 100]);
        }
    }
}

#[test]
fn an_empty_page_ends_its_parent_whatever_the_size_claims() {
    let mut server = TreeServer::new(&[("root", &["liar", "next"])]);
    server.claimed.insert("liar".into(), 5);
    let (items, _) = walk_tree(&mut server);
    assert_eq!(items, ["root", "liar", "next"]);
    let liar_pages = server
        .calls
        .iter()
        .filter(|c| c.body["record"] == "liar")
        .count();
    assert_eq!(liar_pages, 1);
}

#[test]
fn a_cycle_is_visited_once_and_reported() {
    // P's child C lists P as its child: the SDK recurses for ever.
    let mut server = TreeServer::new(&[("root", &["p"]), ("p", &["c"]), ("c", &["p"])]);
    let (items, repeats) = walk_tree(&mut server);
    assert_eq!(items, ["root", "p", "c"]);
    assert_eq!(repeats, 1);
}

#[test]
fn a_server_that_repeats_one_page_for_ever_cannot_keep_the_walk_going() {
    let mut store = Store::default();
    let mut walk = TreeWalk::records(None, None);
    let mut calls = 0;
    let (items, errors) = drive(
        &mut walk,
        &mut store,
        |call, s| {
            calls += 1;
            match call.endpoint.as_str() {
                "/records/root" => json!({"root": "root"}),
                _ => {
                    s.insert(
                        DataType::Records,
                        "x".into(),
                        obj(&json!({"childcount": 0})),
                    );
                    json!({"children": ["x"], "children.size": 1_000_000_000u64})
                }
            }
        },
        |h: &Held<Records>| h.key().to_owned(),
    );
    assert_eq!(
        items,
        ["x"],
        "the root is not held: an error item, not a record"
    );
    assert_eq!(errors.len(), 1);
    assert!(calls <= 3, "{calls} calls");
}

#[test]
fn a_malformed_page_ends_the_walk_with_an_error() {
    let mut store = Store::default();
    let mut walk = TreeWalk::records(Some("web"), Some("o1"));
    let (_, errors) = drive(
        &mut walk,
        &mut store,
        |call, _| match call.endpoint.as_str() {
            "/records/root" => json!({"root": "root"}),
            _ => {
                assert_eq!(call.body["channel"], "web");
                assert_eq!(call.body["ordering"], "o1");
                json!({"children": [1, 2], "children.size": 2})
            }
        },
        |h: &Held<Records>| h.key().to_owned(),
    );
    assert!(
        matches!(errors.last(), Some(WalkError::Malformed { .. })),
        "{errors:?}"
    );
}

/// A query's results in pages behind cursors.
fn query_server(total: usize, page: usize) -> impl FnMut(&ApiCall, &mut Store) -> Value {
    move |call, store| {
        assert_eq!(call.endpoint, "/records/bulk/get");
        assert_eq!(call.body["page.size"].as_u64().unwrap() as usize, page);
        let from = call.body["page.cursor"]
            .as_str()
            .map_or(0, |c| c.parse().unwrap());
        let gids: Vec<String> = (from..total.min(from + page))
            .map(|i| format!("r{i}"))
            .collect();
        for g in &gids {
            store.insert(DataType::Records, g.clone(), obj(&json!({"gid": g})));
        }
        let next = from + page;
        let cursor = if next < total {
            json!(next.to_string())
        } else {
            Value::Null
        };
        json!({"records": gids, "records.size": total, "page.cursor": cursor})
    }
}

#[test]
fn a_query_pages_by_cursor_and_hands_out_the_total_with_each_item() {
    let mut store = Store::default();
    let mut walk = QueryWalk::<Records>::search("en", Some(""), Value::Null, None);
    let mut totals = Vec::new();
    let (items, errors) = drive(
        &mut walk,
        &mut store,
        query_server(250, 100),
        |(total, h)| {
            totals.push(*total);
            h.key().to_owned()
        },
    );
    assert!(errors.is_empty());
    assert_eq!(items.len(), 250);
    assert_eq!(items[249], "r249");
    assert!(totals.iter().all(|t| *t == 250));
}

#[test]
fn a_query_limit_sizes_the_pages_and_stops_the_walk() {
    let mut store = Store::default();
    let mut walk = QueryWalk::<Records>::search("en", None, Value::Null, Some(7));
    let (items, _) = drive(&mut walk, &mut store, query_server(250, 7), |(_, h)| {
        h.key().to_owned()
    });
    assert_eq!(items.len(), 7);
    let mut walk = QueryWalk::<Records>::search("en", None, Value::Null, Some(5000));
    let (items, _) = drive(&mut walk, &mut store, query_server(2500, 1000), |(_, h)| {
        h.key().to_owned()
    });
    assert_eq!(items.len(), 2500, "pages are at most 1,000");
    let mut walk = QueryWalk::<Records>::search("en", None, Value::Null, Some(0));
    let (items, _) = drive(&mut walk, &mut store, query_server(150, 100), |(_, h)| {
        h.key().to_owned()
    });
    assert_eq!(items.len(), 150, "limit 0 means all, as in the SDK");
}

#[test]
fn a_cursor_given_twice_ends_the_query() {
    let mut store = Store::default();
    let mut walk = QueryWalk::<Records>::search("en", None, Value::Null, None);
    let mut calls = 0;
    let (items, _) = drive(
        &mut walk,
        &mut store,
        |_, s| {
            calls += 1;
            s.insert(DataType::Records, "r".into(), obj(&json!({})));
            json!({"records": ["r"], "records.size": 1, "page.cursor": "same"})
        },
        |(_, h)| h.key().to_owned(),
    );
    assert_eq!(calls, 2);
    assert_eq!(items, ["r", "r"]);
}

#[test]
fn a_schema_query_hands_out_definitions_classes_and_fields() {
    let mut store = Store::default();
    let mut walk = QueryWalk::<SchemaItems>::search("en", Some("price"), Value::Null, None);
    let (items, errors) = drive(
        &mut walk,
        &mut store,
        |_, s| {
            s.insert(
                DataType::Definitions,
                "d".into(),
                obj(&json!({"name": "article"})),
            );
            s.insert(DataType::Fields, "f".into(), obj(&json!({"name": "price"})));
            json!({"schema_items": [{"type": "definition", "item": "d"}, {"type": "field", "item": "f"},
            {"type": "class", "item": "gone"}], "schema_items.size": 3, "page.cursor": null})
        },
        |(_, item)| match item {
            SchemaItem::Definition(_) => format!("definition {}", item.gid()),
            SchemaItem::Class(_) => format!("class {}", item.gid()),
            SchemaItem::Field(_) => format!("field {}", item.gid()),
        },
    );
    assert_eq!(items, ["definition d", "field f"]);
    assert_eq!(
        errors,
        [WalkError::NotHeld {
            data_type: DataType::Classes,
            key: "gone".into()
        }]
    );
}

fn records_store(gids: &[&str]) -> Store {
    let mut store = Store::default();
    for g in gids {
        store.insert(DataType::Records, g.to_string(), obj(&json!({"gid": g})));
    }
    store
}

#[test]
fn get_fetches_only_what_is_not_held_in_batches_and_hands_out_in_order() {
    let mut store = records_store(&["held"]);
    let wanted: Vec<String> = std::iter::once("held".to_string())
        .chain(names("n", 150))
        .collect();
    let mut get = Get::<Records>::new(wanted.iter().cloned(), false);
    let mut bodies = Vec::new();
    let (items, errors) = drive(
        &mut get,
        &mut store,
        |call, s| {
            bodies.push(call.body.clone());
            for g in call.body["records"].as_array().unwrap() {
                let g = g.as_str().unwrap();
                s.insert(DataType::Records, g.into(), obj(&json!({"gid": g})));
            }
            json!({"records": call.body["records"]})
        },
        |h: &Held<Records>| h.key().to_owned(),
    );
    assert!(errors.is_empty());
    assert_eq!(items, wanted);
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0]["records"].as_array().unwrap().len(), 100);
    assert_eq!(bodies[1]["records"].as_array().unwrap().len(), 50);
}

#[test]
fn get_of_one_key_sends_the_singular_form_and_force_fetches_what_is_held() {
    let store = records_store(&["r1"]);
    let mut get = Get::<Records>::one("r1", true);
    let Step::Call(call) = get.poll(&store) else {
        panic!()
    };
    assert_eq!(
        (call.endpoint.as_str(), call.body.clone()),
        ("/records/get", json!({"record": "r1"}))
    );
    get.handle_result(&json!({"record": "r1"})).unwrap();
    assert!(matches!(get.poll(&store), Step::Item(Ok(_))));
    assert!(matches!(get.poll(&store), Step::Done));
    let mut none = Get::<Records>::new([""], false);
    assert!(
        matches!(none.poll(&store), Step::Done),
        "an empty gid is nothing to get"
    );
    let mut store = records_store(&[]);
    let mut missing = Get::<Records>::new(["gone"], false);
    assert!(
        matches!(missing.poll(&store), Step::Call(c) if c.body == json!({"records": ["gone"]}))
    );
    let (_, errors) = drive(
        &mut missing,
        &mut store,
        |_, _| json!({}),
        |h: &Held<Records>| h.key().to_owned(),
    );
    assert_eq!(
        errors,
        [WalkError::NotHeld {
            data_type: DataType::Records,
            key: "gone".into()
        }]
    );
}

#[test]
fn assets_by_pathname_are_fetched_by_pathname() {
    let mut store = Store::default();
    let mut get = GetByPathname::new(["/img/a.jpg", "/img/b.jpg"], false);
    let (items, errors) = drive(
        &mut get,
        &mut store,
        |call, s| {
            assert_eq!(
                call.body,
                json!({"pathnames": ["/img/a.jpg", "/img/b.jpg"]})
            );
            s.insert(
                DataType::Assets,
                "a".into(),
                obj(&json!({"gid": "a", "pathname": "/img/a.jpg"})),
            );
            json!({"assets": ["a"]})
        },
        |h: &Held<crate::view::Assets>| h.key().to_owned(),
    );
    assert_eq!(items, ["a"]);
    assert_eq!(
        errors,
        [WalkError::NotHeld {
            data_type: DataType::Assets,
            key: "/img/b.jpg".into()
        }]
    );
}

#[test]
fn the_root_and_the_modules_come_from_the_server() {
    let mut store = Store::default();
    let mut root = Root::<Records>::new();
    let (items, _) = drive(
        &mut root,
        &mut store,
        |call, s| {
            assert_eq!(call.endpoint, "/records/root");
            s.insert(DataType::Records, "r0".into(), obj(&json!({})));
            json!({"root": "r0"})
        },
        |h: &Held<Records>| h.key().to_owned(),
    );
    assert_eq!(items, ["r0"]);

    let mut store = Store::default();
    store.insert(
        DataType::Modules,
        "held".into(),
        obj(&json!({"name": "held"})),
    );
    let mut modules = ModulesWalk::new();
    let mut endpoints = Vec::new();
    let (items, _) = drive(
        &mut modules,
        &mut store,
        |call, s| {
            endpoints.push((call.endpoint.clone(), call.body.clone()));
            match call.endpoint.as_str() {
                "/modules/all" => json!({"module_names": ["held", "erp"]}),
                _ => {
                    s.insert(
                        DataType::Modules,
                        "erp".into(),
                        obj(&json!({"name": "erp"})),
                    );
                    json!({"modules": ["erp"]})
                }
            }
        },
        |h: &Held<Modules>| h.key().to_owned(),
    );
    assert_eq!(items, ["held", "erp"]);
    assert_eq!(
        endpoints[1],
        ("/modules/get".to_string(), json!({"modules": ["erp"]}))
    );
    assert_eq!(Modules::DATA_TYPE, DataType::Modules);
}

#[test]
fn a_tree_ten_thousand_levels_deep_is_walked_without_recursion() {
    // The SDK recurses once per level; a walker keeps its parents in a list.
    let names = names("d", 10_000);
    let edges: Vec<(String, Vec<String>)> =
        std::iter::once(("root".to_string(), vec![names[0].clone()]))
            .chain(names.windows(2).map(|w| (w[0].clone(), vec![w[1].clone()])))
            .collect();
    let edges: Vec<(&str, Vec<&str>)> = edges
        .iter()
        .map(|(p, c)| (p.as_str(), c.iter().map(String::as_str).collect()))
        .collect();
    let edges: Vec<(&str, &[&str])> = edges.iter().map(|(p, c)| (*p, c.as_slice())).collect();
    let mut server = TreeServer::new(&edges);
    let (items, repeats) = walk_tree(&mut server);
    assert_eq!(items.len(), 10_001);
    assert_eq!(items.last().unwrap(), "d9999");
    assert_eq!(repeats, 0);
}

#[test]
fn polling_after_a_malformed_answer_asks_nothing_more() {
    let store = Store::default();
    let mut tree = TreeWalk::records(None, None);
    let _ = tree.poll(&store);
    tree.handle_result(&json!({"root": "root"})).unwrap();
    let _ = tree.poll(&store); // the root, not held
    assert!(matches!(tree.poll(&store), Step::Call(_)));
    assert!(tree.handle_result(&json!({"children": "nope"})).is_err());
    assert!(matches!(tree.poll(&store), Step::Done));

    let mut modules = ModulesWalk::new();
    assert!(matches!(modules.poll(&store), Step::Call(_)));
    assert!(modules.handle_result(&json!({"module_names": 5})).is_err());
    assert!(matches!(modules.poll(&store), Step::Done));

    let mut query = QueryWalk::<Records>::search("en", None, Value::Null, None);
    assert!(matches!(query.poll(&store), Step::Call(_)));
    assert!(query.handle_result(&json!({"records": {}})).is_err());
    assert!(matches!(query.poll(&store), Step::Done));
}

#[test]
fn the_same_page_behind_ever_new_cursors_ends_the_query() {
    let mut store = Store::default();
    let mut walk = QueryWalk::<Records>::search("en", None, Value::Null, None);
    let mut calls = 0u64;
    let (items, _) = drive(
        &mut walk,
        &mut store,
        |_, s| {
            calls += 1;
            s.insert(DataType::Records, "r".into(), obj(&json!({})));
            json!({"records": ["r"], "records.size": 1, "page.cursor": calls.to_string()})
        },
        |(_, h)| h.key().to_owned(),
    );
    assert_eq!(calls, 2);
    assert_eq!(items.len(), 2);
}

#[test]
fn any_true_cursor_pages_on_as_in_python() {
    for cursor in [json!(true), json!([1]), json!({"at": 2}), json!(7)] {
        let store = Store::default();
        let mut walk = QueryWalk::<Records>::search("en", None, Value::Null, None);
        let _ = walk.poll(&store);
        walk.handle_result(&json!({"records": ["a"], "page.cursor": cursor.clone()}))
            .unwrap();
        let _ = walk.poll(&store);
        let Step::Call(call) = walk.poll(&store) else {
            panic!("{cursor} is true in Python")
        };
        assert_eq!(call.body["page.cursor"], cursor);
    }
}
