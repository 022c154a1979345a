//! The acceptance property of the sync rules: for any sequence of server changes, fetch
//! results, fetch failures, refused CONNECTs and reconnects, once the faults stop the client's
//! store equals a small reference model of the server, and the cursors never went backwards.
//! And at every step: a client with no socket up or coming, nothing scheduled and no `/auth`
//! out is a stopped client, never a quiet one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{json, Value};
use unicat_core::io::{Input, Machine};
use unicat_core::session::SessionState;
use unicat_tests::script::{envelope, item, Script};

const KEYS: usize = 6;

fn key(i: usize) -> String {
    format!("r{i}")
}

fn object(k: &str, version: u64) -> Value {
    json!({"gid": k, "version": version})
}

/// The server: records with a version each, and the project's sync log.
#[derive(Default)]
struct Server {
    records: BTreeMap<String, u64>,
    log: Vec<Value>,
    cursor: i64,
}

impl Server {
    fn change(&mut self, action: &str, k: &str) -> Value {
        self.cursor += 1;
        let it = item("p1", self.cursor, action, "records", k);
        self.log.push(it.clone());
        it
    }

    fn after(&self, cursor: i64) -> Value {
        Value::Array(
            self.log
                .iter()
                .filter(|i| i["cursor"].as_i64().unwrap() > cursor)
                .cloned()
                .collect(),
        )
    }
}

/// The answer to a fetch, from the server's records as they were when the request arrived:
/// answers delivered late or out of order carry stale data, as a real server's would.
fn answer(records: &BTreeMap<String, u64>, keys: &[String]) -> Value {
    let data: serde_json::Map<String, Value> = keys
        .iter()
        .filter_map(|k| Some((k.clone(), object(k, *records.get(k)?))))
        .collect();
    envelope(json!({}), json!({"records": data}))
}

#[derive(Clone, Debug)]
enum Op {
    Update(usize),
    Delete(usize),
    Insert(usize),
    Deliver,
    DeliverLast,
    FailFetch,
    Drop,
    /// The next CONNECT is refused.
    Refuse,
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..KEYS).prop_map(Op::Update),
        1 => (0..KEYS).prop_map(Op::Delete),
        1 => (0..KEYS).prop_map(Op::Insert),
        4 => Just(Op::Deliver),
        1 => Just(Op::DeliverLast),
        1 => Just(Op::FailFetch),
        1 => Just(Op::Drop),
        1 => Just(Op::Refuse),
        2 => (1u64..8000).prop_map(Op::Advance),
    ]
}

struct World {
    s: Script,
    server: Server,
    /// The server's records when each request arrived.
    seen: BTreeMap<u64, BTreeMap<String, u64>>,
    /// Whether the socket is up and its initsync answered.
    live: bool,
    last_cursor: i64,
    /// Refuse the next CONNECT.
    refuse: bool,
}

impl World {
    fn new(held: &BTreeSet<usize>) -> World {
        let mut server = Server::default();
        for i in 0..KEYS {
            server.records.insert(key(i), 0);
        }
        let data: serde_json::Map<String, Value> = held
            .iter()
            .map(|i| (key(*i), object(&key(*i), 0)))
            .collect();
        let mut s = Script::new(|c| c.batch_size(2));
        s.authenticate(1, 0, json!({"records": data}));
        let mut w = World {
            s,
            server,
            seen: BTreeMap::new(),
            live: false,
            last_cursor: 0,
            refuse: false,
        };
        w.open_if_asked();
        w
    }

    /// Notes the server's state for every request that just arrived.
    fn arrive(&mut self) {
        self.s.pump();
        for r in &self.s.requests {
            self.seen
                .entry(r.id.0)
                .or_insert_with(|| self.server.records.clone());
        }
    }

    /// Answers a request from the server's state when it arrived.
    fn reply(&mut self, r: unicat_tests::script::Req) {
        let keys: Vec<String> =
            serde_json::from_value(r.body["records"].clone()).unwrap_or_default();
        let records = self
            .seen
            .remove(&r.id.0)
            .unwrap_or_else(|| self.server.records.clone());
        let body = answer(&records, &keys);
        self.s.reply(r.id, 200, body, None);
    }

    fn check_cursor(&mut self) {
        let c = self.s.client.store().cursor();
        assert!(
            c >= self.last_cursor,
            "the cursor went back from {} to {c}",
            self.last_cursor
        );
        self.last_cursor = c;
    }

    /// The invariant of every step: no quiet stop.
    fn check_health(&mut self) {
        self.s.pump();
        let c = &self.s.client;
        let idle = c.sync_state() == SessionState::Idle;
        let auth_out = self.s.requests.iter().any(|r| r.uri.ends_with("/auth"));
        if idle && !auth_out {
            assert!(
                c.health().is_stopped(),
                "idle with nothing under way, yet {:?}",
                c.health()
            );
        }
    }

    /// Accepts a socket the client is opening, answering initsync from the log; or refuses
    /// its CONNECT, when told to.
    fn open_if_asked(&mut self) {
        self.s.pump();
        if self.s.ws_opening.is_empty() {
            return;
        }
        if std::mem::take(&mut self.refuse) {
            let id = self.s.ws_opening.pop_front().unwrap();
            self.s
                .client
                .handle_input(self.s.now, Input::WsOpened { id });
            self.s.ws = Some(id);
            self.s.frame(unicat_tests::script::OPEN);
            self.s.frame(r#"44{"message":"Service unavailable"}"#);
            self.live = false;
            return;
        }
        let (ack, payload) = self.s.open_socket();
        let from = payload["cursor"].as_i64().unwrap();
        let items = self.server.after(from);
        self.s.ack(ack, items);
        self.live = true;
    }

    fn push(&mut self, it: Value) {
        // Without pings from this server the client also drops the socket after
        // pingInterval + pingTimeout of silence: one more fault for free.
        self.live &= self.s.ws.is_some();
        if self.live {
            self.s.push(json!([it]));
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Update(i) => {
                let k = key(*i);
                if let Some(v) = self.server.records.get_mut(&k) {
                    *v += 1;
                    let it = self.server.change("UPDATE", &k);
                    self.push(it);
                }
            }
            Op::Delete(i) => {
                let k = key(*i);
                if self.server.records.remove(&k).is_some() {
                    let it = self.server.change("DELETE", &k);
                    self.push(it);
                }
            }
            Op::Insert(i) => {
                let k = key(*i);
                if !self.server.records.contains_key(&k) {
                    self.server.records.insert(k.clone(), 0);
                    let it = self.server.change("INSERT", &k);
                    self.push(it);
                }
            }
            Op::Deliver | Op::DeliverLast => {
                self.arrive();
                let r = if matches!(op, Op::Deliver) {
                    self.s.requests.pop_front()
                } else {
                    self.s.requests.pop_back()
                };
                if let Some(r) = r {
                    self.reply(r);
                }
            }
            Op::FailFetch => {
                self.s.pump();
                if let Some(r) = self.s.requests.pop_front() {
                    self.s.fail(r.id);
                }
            }
            Op::Drop => {
                if self.s.ws.is_some() {
                    self.s.drop_socket();
                    self.live = false;
                }
            }
            Op::Refuse => self.refuse = true,
            Op::Advance(ms) => {
                self.s.advance(Duration::from_millis(*ms));
                self.open_if_asked();
            }
        }
        self.arrive();
        self.check_cursor();
        self.check_health();
    }

    /// No more faults: answer everything until the client is connected and settled.
    fn heal(&mut self) {
        for _ in 0..10_000 {
            self.arrive();
            if let Some(r) = self.s.requests.pop_front() {
                self.reply(r);
                self.check_cursor();
                continue;
            }
            self.open_if_asked();
            self.s.pump();
            if !self.s.requests.is_empty() {
                continue;
            }
            self.live &= self.s.ws.is_some();
            if self.live && self.s.client.store().cursor() == self.server.cursor {
                return;
            }
            match self.s.client.poll_timeout() {
                Some(t) => {
                    self.s.now = self.s.now.max(t);
                    self.s.client.handle_timeout(self.s.now);
                }
                None => panic!(
                    "stuck: no request, no timer, cursor {} of {}",
                    self.s.client.store().cursor(),
                    self.server.cursor
                ),
            }
        }
        panic!(
            "never settled: live {} cursor {} of {}, requests {:?}, events {:#?}",
            self.live,
            self.s.client.store().cursor(),
            self.server.cursor,
            self.s.requests,
            &self.s.events[self.s.events.len().saturating_sub(12)..]
        );
    }
}

fn check(held: BTreeSet<usize>, ops: Vec<Op>) {
    let mut w = World::new(&held);
    let mut deleted = BTreeSet::new();
    for op in &ops {
        if let Op::Delete(i) = op {
            if w.server.records.contains_key(&key(*i)) {
                deleted.insert(*i);
            }
        }
        w.apply(op);
    }
    w.heal();

    // The model: the store holds what it held at the start, minus every key the server
    // deleted since, each at the server's current version.
    let expected: BTreeMap<String, Value> = held
        .iter()
        .filter(|i| !deleted.contains(i))
        .map(|i| (key(*i), object(&key(*i), w.server.records[&key(*i)])))
        .collect();
    let actual: BTreeMap<String, Value> =
        w.s.client
            .store()
            .records()
            .iter()
            .map(|(k, o)| (k.clone(), o.to_value()))
            .collect();
    assert_eq!(actual, expected);
    assert_eq!(w.s.client.store().cursor(), w.server.cursor);
}

#[test]
fn an_update_then_a_drop() {
    check([3].into(), vec![Op::Update(3), Op::Drop]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_store_converges_to_the_reference_model(
        held in proptest::collection::btree_set(0..KEYS, 0..=KEYS),
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        check(held, ops);
    }
}
