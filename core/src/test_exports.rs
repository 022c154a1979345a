//! Fuzz bodies and codec entry points for the fuzz crate and the corpus tests (str0m's
//! `_internal_test_exports` pattern): they live inside the crate so that ordinary builds keep
//! them compiling, and the corpus runs through them on stable. Not semver-covered.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::too_many_lines
)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::{self, Secret};
use crate::client::{CallOptions, Client, ClientConfig};
use crate::engineio::{self, EnginePacket};
use crate::io::{Body, Input, Machine, Output, RequestId, WsFrame, WsId};
use crate::socketio::SioPacket;
use crate::store::Store;
use crate::sync::SyncState;

/// The fuzz targets, by name.
pub const TARGETS: [&str; 6] = [
    "engine_packet",
    "socket_packet",
    "envelope",
    "sync_items",
    "client_script",
    "reading",
];

/// Runs the named target's body on `data`.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "engine_packet" => engine_packet(data),
        "socket_packet" => socket_packet(data),
        "envelope" => envelope(data),
        "sync_items" => sync_items(data),
        "client_script" => client_script(data),
        "reading" => reading(data),
        other => panic!("no fuzz target {other}"),
    }
}

/// Engine.IO: any polling payload or WebSocket frame decodes or fails cleanly, and what
/// decodes encodes back to the same packets.
pub fn engine_packet(data: &[u8]) {
    if let Ok(packets) = engineio::decode_payload(data) {
        let again = engineio::decode_payload(engineio::encode_payload(&packets).as_bytes())
            .expect("re-decode");
        assert_eq!(packets, again);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = EnginePacket::decode_text(text) {
            assert_eq!(
                EnginePacket::decode_ws(p.encode_ws()).expect("re-decode"),
                p
            );
        }
        let _ = engineio::Handshake::parse(text);
    }
}

/// Socket.IO: any text decodes or fails cleanly, and what decodes round-trips.
pub fn socket_packet(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = SioPacket::decode(text, 10) {
        let again = SioPacket::decode(&p.encode(), 10).expect("re-decode");
        // Floats may print differently but stand for the same value.
        assert_eq!(again.kind, p.kind);
        assert_eq!(again.nsp, p.nsp);
        assert_eq!(again.id, p.id);
        assert_eq!(again.attachments, p.attachments);
    }
}

/// The response envelope: any body parses or becomes a typed error, and every object kept is
/// valid JSON.
pub fn envelope(data: &[u8]) {
    let status = data.first().map_or(200, |b| 200 + u16::from(*b % 4) * 100);
    if let Ok(r) = api::parse_response(status, data.get(1..).unwrap_or_default()) {
        for (_, entries) in r.data {
            for (_, obj) in entries {
                serde_json::from_str::<serde::de::IgnoredAny>(obj.json())
                    .expect("stored objects are JSON");
            }
        }
    }
}

/// Sync items: any list applied to a store holding a few records keeps the cursors from going
/// back and never panics.
pub fn sync_items(data: &[u8]) {
    let Some((items, _)) = crate::sync::parse_items(&String::from_utf8_lossy(data)) else {
        return;
    };
    let mut store = Store::default();
    for k in ["r1", "r2", "a1"] {
        let obj = crate::store::Object::new(
            &serde_json::value::RawValue::from_string(format!("{{\"gid\":\"{k}\"}}")).unwrap(),
        );
        store.insert(crate::store::DataType::Records, k.to_string(), obj);
    }
    let mut sync = SyncState::default();
    let mut effects = Vec::new();
    let mut last = sync.applied();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let chunk: Vec<_> = items.by_ref().take(7).collect();
        sync.apply(chunk, &mut store, "p1", &mut effects);
        while let Some(batch) = sync.take_batch(3, "p1") {
            if batch.keys.len() % 2 == 0 {
                sync.complete(batch, &store, &mut effects);
            } else {
                sync.requeue(batch);
                break;
            }
        }
        let now = sync.applied();
        assert!(
            now.0 >= last.0 && now.1 >= last.1,
            "cursors went back: {last:?} -> {now:?}"
        );
        last = now;
    }
}

/// Reads choices from the fuzz input, as str0m's fuzz `Rng` does.
struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*first)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from(self.u8()?) << 8 | u16::from(self.u8()?))
    }

    fn bytes(&mut self) -> Option<&[u8]> {
        let n = usize::from(self.u8()?).min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
}

fn items(c: &mut Choices<'_>) -> Value {
    let n = c.u8().unwrap_or(0) % 8;
    let list: Vec<Value> = (0..n)
        .map(|_| {
            let family = if c.u8().unwrap_or(0) % 3 == 0 { "cc" } else { "p1" };
            let cursor = i64::from(c.u8().unwrap_or(0));
            let action = ["INSERT", "UPDATE", "DELETE", "MERGE"][usize::from(c.u8().unwrap_or(0) % 4)];
            let data_type = ["records", "definitions", "cc.users", "cc.projects_members", "jobs", "cc.version", "assets", "x"]
                [usize::from(c.u8().unwrap_or(0) % 8)];
            let key = ["r1", "r2", "p1/u1", "2026.1", "a1"][usize::from(c.u8().unwrap_or(0) % 5)];
            let mut item = json!({"type": family, "cursor": cursor, "action": action, "data_type": data_type, "data_key": key});
            if data_type == "jobs" {
                let status = ["queued", "processing", "done", "rejected"][usize::from(c.u8().unwrap_or(0) % 4)];
                item["data"] = json!({"project_gid": "p1", "job": "restore_project", "status": status, "info": {}});
            }
            item
        })
        .collect();
    Value::Array(list)
}

fn response(c: &mut Choices<'_>, body: &[u8]) -> http::Response<Body> {
    let status = [200u16, 200, 200, 401, 500, 503, 422][usize::from(c.u8().unwrap_or(0) % 7)];
    let mut b = http::Response::builder().status(status);
    match c.u8().unwrap_or(0) % 4 {
        0 => b = b.header("Authorization", "jwt-x"),
        1 => b = b.header("WWW-Authenticate", "Bearer"),
        _ => {}
    }
    b.body(Body(body.to_vec())).expect("a response")
}

/// The whole client under an arbitrary sequence of inputs, time jumps and commands. After
/// every step: no panic, the cursors never go back, the outputs drain in a bounded number of
/// calls, and the session's queues stay within their bounds.
pub fn client_script(data: &[u8]) {
    // One real starting instant; from there time moves only as the script says.
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let mut now = t0;
    let cfg = ClientConfig::new("http://fuzz.test", "p1")
        .expect("config")
        .keep_api_key(true);
    let mut client = Client::new(cfg, now);
    let mut c = Choices(data);
    let mut http: Vec<RequestId> = Vec::new();
    let mut ws: Vec<WsId> = Vec::new();
    let mut files: Vec<RequestId> = Vec::new();
    let mut last = (0i64, 0i64);
    let mut ack = 0u64;
    while let Some(op) = c.u8() {
        match op % 17 {
            0 => drop(client.connect(now, Secret::new("k"))),
            16 => drop(client.init(now)),
            1 => drop(client.call(
                now,
                "/records/get",
                Some(json!({"records": ["r1", "r2"]})),
                CallOptions::default(),
            )),
            2 => drop(client.sync_now(now)),
            3 => drop(client.track_job(now, "t", Some(Duration::from_secs(5)))),
            4 => {
                if let Some(id) = http.pop() {
                    let body = envelope_body(&mut c);
                    let response = response(&mut c, body.as_bytes());
                    client.handle_input(now, Input::HttpResponse { id, response });
                }
            }
            5 => {
                if let Some(id) = http.first().copied() {
                    http.remove(0);
                    let raw = c.bytes().unwrap_or_default().to_vec();
                    let response = response(&mut c, &raw);
                    client.handle_input(now, Input::HttpResponse { id, response });
                }
            }
            6 => {
                if let Some(id) = http.pop() {
                    let error = crate::error::TransportError::new(
                        crate::error::TransportErrorKind::Io,
                        "x",
                    );
                    client.handle_input(now, Input::HttpFailed { id, error });
                }
            }
            7 => {
                if let Some(&id) = ws.last() {
                    client.handle_input(now, Input::WsOpened { id });
                    let open = r#"0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
                    client.handle_input(
                        now,
                        Input::WsMessage {
                            id,
                            frame: WsFrame::Text(open.into()),
                        },
                    );
                    client.handle_input(
                        now,
                        Input::WsMessage {
                            id,
                            frame: WsFrame::Text(r#"40{"sid":"x"}"#.into()),
                        },
                    );
                }
            }
            8 => {
                if let Some(&id) = ws.last() {
                    let frame = format!("43{ack}[{}]", items(&mut c));
                    ack += 1;
                    client.handle_input(
                        now,
                        Input::WsMessage {
                            id,
                            frame: WsFrame::Text(frame),
                        },
                    );
                }
            }
            9 => {
                if let Some(&id) = ws.last() {
                    let frame = format!("42[\"sync\",{}]", items(&mut c));
                    client.handle_input(
                        now,
                        Input::WsMessage {
                            id,
                            frame: WsFrame::Text(frame),
                        },
                    );
                }
            }
            10 => {
                if let Some(&id) = ws.last() {
                    let raw = String::from_utf8_lossy(c.bytes().unwrap_or_default()).into_owned();
                    client.handle_input(
                        now,
                        Input::WsMessage {
                            id,
                            frame: WsFrame::Text(raw),
                        },
                    );
                }
            }
            11 => {
                if let Some(id) = ws.pop() {
                    client.handle_input(now, Input::WsClosed { id, code: None });
                }
            }
            12 => {
                now += Duration::from_millis(u64::from(c.u16().unwrap_or(0)) * 10);
                client.handle_timeout(now);
            }
            13 => {
                if let Some(&id) = ws.last() {
                    client.handle_input(
                        now,
                        Input::WsMessage {
                            id,
                            frame: WsFrame::Text(r#"42["authorization",{"JWT":"jwt-y"}]"#.into()),
                        },
                    );
                }
            }
            14 => {
                if let Some(id) = files.pop() {
                    let size = u64::from(c.u16().unwrap_or(0)) * 1000;
                    client.handle_input(
                        now,
                        Input::Stat {
                            id,
                            info: Some(crate::io::FileInfo {
                                size,
                                modified: None,
                            }),
                        },
                    );
                }
            }
            _ => drop(client.upload(now, "/assets/upload", vec![], "/tmp/x".into())),
        }
        let mut n = 0;
        while let Some(out) = client.poll_output() {
            n += 1;
            assert!(n < 100_000, "poll_output does not drain");
            match out {
                Output::Http { id, .. } => http.push(id),
                Output::OpenWs { id, .. } => ws.push(id),
                Output::CloseWs { id } => ws.retain(|w| *w != id),
                Output::Stat { id, .. } | Output::ReadFile { id, .. } => files.push(id),
                _ => {}
            }
        }
        let store = client.store();
        let cursors = (store.cc_cursor(), store.cursor());
        assert!(
            cursors.0 >= last.0 && cursors.1 >= last.1,
            "cursors went back: {last:?} -> {cursors:?}"
        );
        last = cursors;
        let limits = &client.config().session.limits;
        assert!(client.session_for_tests().pending_acks() <= limits.max_pending_acks);
        assert!(client.session_for_tests().buffered_emits("/") <= limits.max_buffered_emits);
        // Never a quiet stop: a client that is not idle or stopped waits for a timer or for
        // an answer.
        let health = client.health();
        if !matches!(
            health,
            crate::client::Health::Idle | crate::client::Health::Stopped { .. }
        ) {
            assert!(
                client.poll_timeout().is_some() || client.stats().pending_calls > 0,
                "{health:?} with nothing under way"
            );
        }
    }
}

fn envelope_body(c: &mut Choices<'_>) -> String {
    let cc = c.u8().unwrap_or(0);
    let cursor = c.u8().unwrap_or(0);
    let price = f64::from(c.u16().unwrap_or(0)) / 7.0;
    match c.u8().unwrap_or(0) % 4 {
        0 => json!({"success": true, "result": {"cc.cursor": cc, "cursor": cursor, "cc.version": "v"}, "data": {}}).to_string(),
        1 => json!({"success": true, "result": {"sync": items(c), "warning": "more"}, "data": {}}).to_string(),
        2 => json!({"success": true, "result": {}, "data": {"records": {"r1": {"gid": "r1", "price": price}, "r2": {"gid": "r2"}}}}).to_string(),
        _ => json!({"success": false, "result": {"code": 422, "message": "x", "info": {}}, "data": {}}).to_string(),
    }
}

/// Typed reading: any mirror document (or, when the input is not one, any record text under a
/// schema of every field type) reads through every view without a panic, and walkers fed any
/// results (the input's lines) end.
pub fn reading(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let store = Store::from_json(&text).unwrap_or_else(|_| {
        let doc = format!(
            r#"{{"data": {{"records": {{"r": {text}}}, "definitions": {{"d": {{"name": "d", "fields": ["f1", "f2", "f3"], "classes": ["c"]}}}},
            "classes": {{"c": {{"name": "c", "fields": ["f3"]}}}},
            "fields": {{"f1": {{"name": "a", "type": "decimal"}}, "f2": {{"name": "b", "type": "classlist", "options": {{"class": "c"}}}}, "f3": {{"name": "c", "type": "recordlist"}}}}}}}}"#
        );
        Store::from_json(&doc).unwrap_or_default()
    });
    read_everything(&store);
    walk_on(&store, &text);
}

fn read_everything(store: &Store) {
    let v = store.view();
    for r in v.records() {
        let _ = (
            r.title("en"),
            r.path(),
            r.childcount(),
            r.orderings(),
            r.canonical(),
        );
        for lang in r.languages() {
            for f in r.fields(&lang) {
                let _ = (
                    f.to_string(),
                    f.label(),
                    f.title(),
                    f.unit(),
                    f.key(),
                    f.is_null(),
                );
                if let crate::view::Typed::ClassList(items) = f.typed() {
                    for c in items {
                        let _ = c.fields().iter().map(ToString::to_string).count();
                        let _ = c.to_value();
                    }
                }
            }
        }
        let _ = r.wanted(None);
    }
    for d in v.definitions() {
        let _ = (
            d.all_fields(),
            d.fieldlists(),
            d.field_by_name("a"),
            d.original(),
        );
    }
    for p in v.projects() {
        let _ = (
            p.channels(),
            p.orderings(),
            p.fieldlists(),
            p.default_channel(),
            p.members(),
        );
    }
    for a in v.assets() {
        let _ = (a.pathname(), a.default_transform(), a.updated_on());
    }
    let _ = (
        v.languages().count(),
        v.definition_by_name("d"),
        v.field_by_name("a"),
    );
    let back = Store::from_json(&store.to_json()).expect("a store reads back");
    assert_eq!(back.to_json(), store.to_json());
}

fn walk_on(store: &Store, text: &str) {
    use crate::walk::{Get, QueryWalk, SchemaItems, Step, TreeWalk, Walk};
    let results: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    fn drive<W: Walk>(mut walk: W, store: &Store, results: &[Value]) {
        let mut next = results.iter();
        for _ in 0..results.len() * 200 + 200 {
            match walk.poll(store) {
                Step::Item(_) => {}
                Step::Call(_) => match next.next() {
                    Some(r) => {
                        if walk.handle_result(r).is_err() {
                            return;
                        }
                    }
                    None => return,
                },
                Step::Done => return,
            }
        }
        panic!("a walk handed out more than 200 items per result");
    }
    drive(TreeWalk::records(None, None), store, &results);
    drive(
        QueryWalk::<SchemaItems>::search("en", None, Value::Null, Some(3)),
        store,
        &results,
    );
    drive(
        Get::<crate::view::Records>::new(["r", "x", "r"], true),
        store,
        &results,
    );
}
