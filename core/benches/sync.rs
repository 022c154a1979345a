//! The core's two hot paths, each beside a bare `serde_json::from_slice::<Value>` of the same
//! bytes: applying one `sync` frame of 10,000 items, and merging one `/records/get` response of
//! 1,000 records (about 5 MB). Target: at most 1.5× the bare parse. And the cost of a frame
//! deleting every key of a long fetch queue, at three lengths: it must grow linearly. And
//! typed reading: three fields of each of 1,000 stored records through the views, beside the
//! `pointer()` digging they replace.
//!
//! Run: `cargo bench -p unicat-core --bench sync`.

#![allow(clippy::disallowed_methods)] // a bench needs one real starting instant; the core never reads the clock

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::{json, Value};
use unicat_core::api::Secret;
use unicat_core::client::{CallOptions, Client, ClientConfig};
use unicat_core::io::{Body, Input, Machine, Output, RequestId, WsFrame, WsId};

const OPEN: &str =
    r#"0{"sid":"eio","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

/// A record of about 5 KB: two languages, a few dozen fields, prices with long decimals.
fn record(i: usize) -> Value {
    let mut fields = serde_json::Map::new();
    for lang in ["en", "nl"] {
        let mut f = serde_json::Map::new();
        f.insert("artnr".into(), json!(format!("A-{i:06}")));
        f.insert("price".into(), json!(12.5 + i as f64 * 0.01));
        f.insert("stock".into(), json!(i % 97));
        for n in 0..24 {
            f.insert(
                format!("spec_{n}"),
                json!(format!(
                    "{lang} specification value {n} for article {i}, with some prose to fill it"
                )),
            );
        }
        fields.insert(lang.into(), Value::Object(f));
    }
    json!({
        "gid": format!("{i:08}-0000-4000-8000-000000000000"),
        "parent": "root", "canonical": format!("{i:08}-0000-4000-8000-000000000000"), "backlinks": [],
        "treelevel": 2, "path": ["root"], "childcount": 0, "definition": "def-article",
        "title": {"en": format!("Article {i}"), "nl": format!("Artikel {i}")},
        "status": "published", "channels": ["__all__"], "orderings": {}, "is_link": false,
        "fields": fields, "created_on": 1_700_000_000.123 + i as f64, "updated_on": 1_700_000_100.456 + i as f64,
    })
}

fn gid(i: usize) -> String {
    format!("{i:08}-0000-4000-8000-000000000000")
}

fn drain(c: &mut Client) -> Vec<Output<unicat_core::client::Event>> {
    std::iter::from_fn(|| c.poll_output()).collect()
}

/// A client holding `held` records, connected, its initsync answered.
fn connected(held: usize) -> (Client, WsId, Instant) {
    let now = Instant::now();
    let cfg = ClientConfig::new("http://bench.test", "p1").unwrap();
    let mut c = Client::new(cfg, now);
    let _ = c.connect(now, Secret::new("k")).unwrap();
    let auth = drain(&mut c)
        .into_iter()
        .find_map(|o| match o {
            Output::Http { id, .. } => Some(id),
            _ => None,
        })
        .unwrap();
    let records: serde_json::Map<String, Value> = (0..held).map(|i| (gid(i), record(i))).collect();
    let body = json!({"success": true, "result": {"cc.cursor": 1, "cursor": 1}, "data": {"records": records}});
    let response = http::Response::builder()
        .status(200)
        .header("Authorization", "jwt")
        .body(Body(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    c.handle_input(now, Input::HttpResponse { id: auth, response });
    let ws = drain(&mut c)
        .into_iter()
        .find_map(|o| match o {
            Output::OpenWs { id, .. } => Some(id),
            _ => None,
        })
        .unwrap();
    c.handle_input(now, Input::WsOpened { id: ws });
    c.handle_input(
        now,
        Input::WsMessage {
            id: ws,
            frame: WsFrame::Text(OPEN.into()),
        },
    );
    c.handle_input(
        now,
        Input::WsMessage {
            id: ws,
            frame: WsFrame::Text(r#"40{"sid":"s"}"#.into()),
        },
    );
    c.handle_input(
        now,
        Input::WsMessage {
            id: ws,
            frame: WsFrame::Text("430[[]]".into()),
        },
    );
    drain(&mut c);
    (c, ws, now)
}

/// 10,000 items: held UPDATEs, lagging skips, DELETEs and unknown types, in that mix.
fn sync_frame() -> String {
    let items: Vec<Value> = (0..10_000usize)
        .map(|i| {
            let cursor = if i % 10 == 1 { 0 } else { 2 + i as i64 };
            let (action, data_type) = match i % 10 {
                0..=5 => ("UPDATE", "records"),
                7 => ("DELETE", "records"),
                8 => ("UPDATE", "widgets"),
                _ => ("INSERT", "records"),
            };
            json!({"type": "p1", "cursor": cursor, "action": action, "data_type": data_type, "data_key": gid(i % 2000)})
        })
        .collect();
    format!("42[\"sync\",{}]", Value::Array(items))
}

fn bench_sync_frame(c: &mut Criterion) {
    let frame = sync_frame();
    let json_part = frame.strip_prefix("42").unwrap().as_bytes().to_vec();
    let mut g = c.benchmark_group("sync frame of 10,000 items");
    g.throughput(Throughput::Bytes(frame.len() as u64));
    g.bench_function("bare serde_json::from_slice::<Value>", |b| {
        b.iter(|| black_box(serde_json::from_slice::<Value>(black_box(&json_part)).unwrap()))
    });
    g.bench_function("Client::handle_input + drain", |b| {
        b.iter_batched(
            || (connected(2000), frame.clone()),
            |((mut client, ws, now), frame)| {
                client.handle_input(
                    now,
                    Input::WsMessage {
                        id: ws,
                        frame: WsFrame::Text(frame),
                    },
                );
                black_box(drain(&mut client));
                client
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn bench_records_response(c: &mut Criterion) {
    let records: serde_json::Map<String, Value> = (0..1000).map(|i| (gid(i), record(i))).collect();
    let body = serde_json::to_vec(&json!({"success": true, "result": {"records": (0..1000).map(gid).collect::<Vec<_>>()}, "data": {"records": records}})).unwrap();
    let mut g = c.benchmark_group(format!(
        "records/get response of 1,000 records ({} bytes)",
        body.len()
    ));
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("bare serde_json::from_slice::<Value>", |b| {
        b.iter(|| black_box(serde_json::from_slice::<Value>(black_box(&body)).unwrap()))
    });
    g.bench_function("Client::handle_input + drain", |b| {
        b.iter_batched(
            || {
                let (mut client, _, now) = connected(0);
                let id = records_get(&mut client, now);
                let response = http::Response::builder()
                    .status(200)
                    .body(Body(body.clone()))
                    .unwrap();
                (client, id, response, now)
            },
            |(mut client, id, response, now)| {
                client.handle_input(now, Input::HttpResponse { id, response });
                black_box(drain(&mut client));
                client
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// A frame of `n` UPDATEs of held records (the fetches beyond the first few wait in the
/// queue), then a frame deleting all of them.
fn bench_deletes_of_queued_keys(c: &mut Criterion) {
    let mut g = c.benchmark_group("a frame deleting every key of a fetch queue");
    g.sample_size(10);
    for n in [10_000usize, 20_000, 40_000] {
        let frame = |action: &str, first: i64| {
            let items: Vec<Value> = (0..n)
                .map(|i| json!({"type": "p1", "cursor": first + i as i64, "action": action, "data_type": "records", "data_key": gid(i)}))
                .collect();
            format!("42[\"sync\",{}]", Value::Array(items))
        };
        let (updates, deletes) = (frame("UPDATE", 2), frame("DELETE", 2 + n as i64));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("{n} keys"), |b| {
            b.iter_batched(
                || {
                    let (mut client, ws, now) = connected_small(n);
                    client.handle_input(
                        now,
                        Input::WsMessage {
                            id: ws,
                            frame: WsFrame::Text(updates.clone()),
                        },
                    );
                    drain(&mut client);
                    (client, ws, now, deletes.clone())
                },
                |(mut client, ws, now, deletes)| {
                    client.handle_input(
                        now,
                        Input::WsMessage {
                            id: ws,
                            frame: WsFrame::Text(deletes),
                        },
                    );
                    black_box(drain(&mut client));
                    client
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// Sends a `/records/get` call and returns the id of its request, for a response to answer.
fn records_get(c: &mut Client, now: Instant) -> RequestId {
    let _ = c
        .call(
            now,
            "/records/get",
            Some(json!({"records": []})),
            CallOptions::default(),
        )
        .unwrap();
    drain(c)
        .into_iter()
        .find_map(|o| match o {
            Output::Http { id, .. } => Some(id),
            _ => None,
        })
        .unwrap()
}

/// [`connected`] with `held` small records.
fn connected_small(held: usize) -> (Client, WsId, Instant) {
    let (mut c, ws, now) = connected(0);
    let id = records_get(&mut c, now);
    let records: serde_json::Map<String, Value> = (0..held)
        .map(|i| (gid(i), json!({"gid": gid(i)})))
        .collect();
    let body = json!({"success": true, "result": {}, "data": {"records": records}});
    let response = http::Response::builder()
        .status(200)
        .body(Body(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    c.handle_input(now, Input::HttpResponse { id, response });
    drain(&mut c);
    (c, ws, now)
}

/// A store of 1,000 records of [`record`]'s shape, with the article definition and its fields.
fn reading_store() -> unicat_core::store::Store {
    let mut fields = serde_json::Map::new();
    let mut gids = Vec::new();
    let specs: Vec<String> = (0..24).map(|n| format!("spec_{n}")).collect();
    let named = [
        ("artnr", "textline"),
        ("price", "decimal"),
        ("stock", "number"),
    ]
    .into_iter()
    .chain(specs.iter().map(|s| (s.as_str(), "text")));
    for (name, type_) in named {
        let gid = format!("f-{name}");
        fields.insert(
            gid.clone(),
            json!({"gid": gid, "name": name, "type": type_, "label": {"en": name},
                "is_new": false, "is_working_copy": false}),
        );
        gids.push(gid);
    }
    let stored: serde_json::Map<String, Value> = (0..1000).map(|i| (gid(i), record(i))).collect();
    let doc = json!({"data": {
        "definitions": {"def-article": {"gid": "def-article", "name": "article", "fields": gids,
            "classes": [], "is_new": false, "is_working_copy": false, "is_extended": false}},
        "fields": fields,
        "records": stored,
    }});
    unicat_core::store::Store::from_json(&doc.to_string()).expect("a mirror document")
}

fn bench_typed_reading(c: &mut Criterion) {
    let store = reading_store();
    let mut g = c.benchmark_group("read artnr, price and stock of 1,000 records");
    g.throughput(Throughput::Elements(3000));
    g.bench_function("Object::pointer (parses the record each time)", |b| {
        b.iter(|| {
            for r in store.records().values() {
                for name in ["artnr", "price", "stock"] {
                    black_box(r.pointer(&format!("/fields/en/{name}")));
                }
            }
        })
    });
    g.bench_function("view: record.field(lang, name), typed, to_string", |b| {
        b.iter(|| {
            for r in store.view().records() {
                for name in ["artnr", "price", "stock"] {
                    black_box(r.field("en", name).map(|v| v.to_string()));
                }
            }
        })
    });
    g.bench_function(
        "view: record.values(lang), then .field(name) for each",
        |b| {
            b.iter(|| {
                for r in store.view().records() {
                    let Some(en) = r.values("en") else { continue };
                    for name in ["artnr", "price", "stock"] {
                        black_box(en.field(name).map(|v| v.to_string()));
                    }
                }
            })
        },
    );
    g.finish();
}

criterion_group!(
    benches,
    bench_sync_frame,
    bench_records_response,
    bench_deletes_of_queued_keys,
    bench_typed_reading
);
criterion_main!(benches);
