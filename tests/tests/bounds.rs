//! Everything a hostile or broken server can make grow has a bound, and work that was
//! quadratic in a queue's length is not: one test per way a peer could make the client spend
//! memory or time without end, with small limits.

use std::time::Instant;

use serde_json::{json, Value};
use unicat_core::client::{Cause, Event};
use unicat_core::error::{DecodeError, DisconnectReason, ProtocolViolation};
use unicat_core::io::{Input, Machine, Output, WsFrame};
use unicat_core::session::SessionEvent;
use unicat_core::store::DataType;
use unicat_tests::drive::{connected_polling, connected_ws, drain, ok};
use unicat_tests::script::{envelope, item, record, Script};

fn posts(out: &[Output<SessionEvent>]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Http { request, .. } if request.request.method() == http::Method::POST => {
                Some(String::from_utf8_lossy(request.request.body().as_bytes()).into_owned())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_polling_body_of_a_hundred_thousand_pings_is_answered_by_one_pong() {
    let now = Instant::now();
    let (mut s, get) = connected_polling(now);
    let body = vec!["2"; 100_000].join("\x1e");
    s.handle_input(
        now,
        Input::HttpResponse {
            id: get,
            response: ok(body),
        },
    );
    let out = drain(&mut s);
    assert_eq!(posts(&out), ["3"], "one pong, without data");
}

#[test]
fn a_ping_with_a_megabyte_of_data_gets_an_empty_pong() {
    let now = Instant::now();
    let (mut s, ws) = connected_ws(now);
    let ping = format!("2{}", "x".repeat(1 << 20));
    s.handle_input(
        now,
        Input::WsMessage {
            id: ws,
            frame: WsFrame::Text(ping),
        },
    );
    let sent: Vec<WsFrame> = drain(&mut s)
        .into_iter()
        .filter_map(|o| match o {
            Output::WsSend { frame, .. } => Some(frame),
            _ => None,
        })
        .collect();
    assert_eq!(sent, [WsFrame::Text("3".into())]);
}

#[test]
fn a_frame_whose_tree_would_outgrow_its_text_is_refused() {
    let now = Instant::now();
    let (mut s, ws) = connected_ws(now);
    // 200,000 zeros: 400 KB of text, 16 times that as a tree.
    let frame = format!("42[\"e\",[{}0]]", "0,".repeat(200_000));
    s.handle_input(
        now,
        Input::WsMessage {
            id: ws,
            frame: WsFrame::Text(frame),
        },
    );
    let events = unicat_tests::drive::events(&drain(&mut s));
    assert!(
        events.iter().any(|e| matches!(
            e,
            SessionEvent::Disconnected {
                reason: DisconnectReason::Protocol(ProtocolViolation::Decode(
                    DecodeError::TooComplex { .. }
                ))
            }
        )),
        "{events:?}"
    );
    // An ordinary event of the same size parses.
    let (mut s, ws) = connected_ws(now);
    let long =
        serde_json::to_string(&vec!["a string of some forty characters or so…"; 10_000]).unwrap();
    s.handle_input(
        now,
        Input::WsMessage {
            id: ws,
            frame: WsFrame::Text(format!("42[\"e\",{long}]")),
        },
    );
    let events = unicat_tests::drive::events(&drain(&mut s));
    assert!(events
        .iter()
        .any(|e| matches!(e, SessionEvent::Message { event, .. } if event == "e")));
}

#[test]
fn the_client_reads_a_large_sync_list_as_items_not_as_a_tree() {
    // A list of 200,000 tiny entries that are not sync items would be refused as a tree;
    // the client reads items straight from the text and skips what is not one.
    let mut s = Script::connected(1, 10, json!({"records": {"r1": record("r1", 1.0)}}), |c| c);
    let mut list: Vec<Value> = vec![json!(0); 200_000];
    list.push(item("p1", 11, "UPDATE", "records", "r1"));
    s.push(Value::Array(list));
    assert!(
        s.has("/records/get"),
        "the one sync item among them was read"
    );
    assert!(s
        .events
        .iter()
        .all(|e| !matches!(e, Event::Disconnected { .. })));
}

#[test]
fn sync_items_held_back_for_a_load_are_capped() {
    let mut s = Script::connected(1, 10, json!({}), |c| c.max_held_sync_items(3));
    // A load from scratch is out; the items that come meanwhile wait for it.
    let _ = s.client.init(s.now).unwrap();
    s.pump();
    s.push(json!([
        item("p1", 11, "UPDATE", "records", "r1"),
        item("p1", 12, "UPDATE", "records", "r1")
    ]));
    assert_eq!(s.client.stats().held_sync_items, 2);
    s.push(json!([
        item("p1", 13, "UPDATE", "records", "r1"),
        item("p1", 14, "UPDATE", "records", "r1")
    ]));
    assert_eq!(s.client.stats().held_sync_items, 0, "dropped, not grown");
    assert!(s.events.iter().any(|e| matches!(
        e,
        Event::Reconnecting {
            cause: Cause::Overflow { limit: 3 },
            ..
        }
    )));
    // The reconnect starts from the applied cursor: the server sends them again.
    let init = s.take("/init");
    s.land(init.id, (1, 10), json!({}));
    let (_, payload) = {
        s.advance_until(10, |s| !s.ws_opening.is_empty());
        s.open_socket()
    };
    assert_eq!(payload["cursor"], 10);
}

#[test]
fn repeated_updates_of_one_key_while_its_fetch_is_out_wait_as_one() {
    let mut s = Script::connected(1, 10, json!({"records": {"r1": record("r1", 1.0)}}), |c| c);
    s.push(json!([item("p1", 11, "UPDATE", "records", "r1")]));
    let first = s.take("/records/get");
    let updates: Vec<Value> = (12..10_012)
        .map(|c| item("p1", c, "UPDATE", "records", "r1"))
        .collect();
    s.push(Value::Array(updates));
    s.reply(
        first.id,
        200,
        envelope(json!({}), json!({"records": {"r1": record("r1", 2.0)}})),
        None,
    );
    let second = s.take("/records/get");
    s.reply(
        second.id,
        200,
        envelope(json!({}), json!({"records": {"r1": record("r1", 3.0)}})),
        None,
    );
    assert_eq!(s.client.store().cursor(), 10_011);
    let changed = s
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Changed {
                    data_type: DataType::Records,
                    ..
                }
            )
        })
        .count();
    assert_eq!(changed, 2, "one per fetch, not one per item");
}

#[test]
fn malformed_sync_items_are_logged_once_per_list() {
    unicat_tests::logs::capture();
    let mut s = Script::connected(1, 10, json!({}), |c| c);
    let mut list: Vec<Value> = (0..1000).map(|i| json!({"nonsense": i})).collect();
    list.push(item("p1", 11, "UPDATE", "records", "r9"));
    s.push(Value::Array(list));
    let logs = unicat_tests::logs::captured();
    // The capture is the process's: another test's list may log its own line meanwhile.
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("malformed") && l.contains("of a list of 1001"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains("1000 malformed sync items"),
        "{}",
        lines[0]
    );
    assert_eq!(s.client.store().cursor(), 11, "the good item was handled");
}

#[test]
fn load_all_records_walks_a_cyclic_tree_once() {
    let mut s = Script::connected(1, 1, json!({}), |c| c);
    let call = s.client.load_all_records(s.now).unwrap();
    let root = s.take("/records/root");
    s.reply(
        root.id,
        200,
        envelope(
            json!({"root": "root"}),
            json!({"records": {"root": {"gid": "root", "childcount": 1}}}),
        ),
        None,
    );
    // root → a → root: a cycle.
    for (parent, child) in [("root", "a"), ("a", "root")] {
        let page = s.take("/records/children");
        assert_eq!(page.body["record"], parent);
        s.reply(
            page.id,
            200,
            envelope(
                json!({"children": [child], "children.size": 1}),
                json!({"records": {child: {"gid": child, "childcount": 1}}}),
            ),
            None,
        );
    }
    assert!(!s.has("/records/children"), "the cycle is not followed");
    assert_eq!(
        s.result(call),
        Some(&Ok(json!({"records": 2, "repeats": 1})))
    );
}
