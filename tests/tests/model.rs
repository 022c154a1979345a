//! The acceptance property of the sync rules: for any sequence of server changes (single
//! items, lists of several with keys repeated, `cc` version items, a finished restore), fetch
//! results in any order, fetch failures (transport errors and 401s), refused CONNECTs and
//! reconnects, once the faults stop the client's store equals a small reference model of the
//! server, and the cursors never went backwards. And at every step: a client with no socket up
//! or coming, nothing scheduled and no `/auth` out is a stopped client, never a quiet one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{json, Value};
use unicat_core::io::{Input, Machine};
use unicat_core::session::SessionState;
use unicat_tests::script::{envelope, failure, item, Req, Script};

const KEYS: usize = 6;

fn key(i: usize) -> String {
    format!("r{i}")
}

fn object(k: &str, version: u64) -> Value {
    json!({"gid": k, "version": version})
}

/// The server: records with a version each (every version ever written is distinct), its
/// cursors and version, and the sync log of both families.
struct Server {
    records: BTreeMap<String, u64>,
    log: Vec<Value>,
    cc: i64,
    cursor: i64,
    version: String,
    next_version: u64,
}

impl Server {
    fn new() -> Self {
        Server {
            records: (0..KEYS).map(|i| (key(i), 0)).collect(),
            log: Vec::new(),
            cc: 1,
            cursor: 0,
            version: "2026.11.001".into(),
            next_version: 1,
        }
    }

    fn bump(&mut self) -> u64 {
        self.next_version += 1;
        self.next_version
    }

    fn change(&mut self, action: &str, k: &str) -> Value {
        self.cursor += 1;
        let it = item("p1", self.cursor, action, "records", k);
        self.log.push(it.clone());
        it
    }

    fn cc_item(&mut self, data_type: &str, k: &str, data: Option<Value>) -> Value {
        self.cc += 1;
        let mut it = item("cc", self.cc, "UPDATE", data_type, k);
        if let Some(d) = data {
            it["data"] = d;
        }
        self.log.push(it.clone());
        it
    }

    /// One change of a record, as the server makes it: `None` when it changes nothing.
    fn apply(&mut self, kind: Change, i: usize) -> Option<Value> {
        let k = key(i);
        match kind {
            Change::Update if self.records.contains_key(&k) => {
                let v = self.bump();
                self.records.insert(k.clone(), v);
                Some(self.change("UPDATE", &k))
            }
            Change::Delete if self.records.remove(&k).is_some() => Some(self.change("DELETE", &k)),
            Change::Insert if !self.records.contains_key(&k) => {
                let v = self.bump();
                self.records.insert(k.clone(), v);
                Some(self.change("INSERT", &k))
            }
            _ => None,
        }
    }

    fn after(&self, cc: i64, cursor: i64) -> Value {
        Value::Array(
            self.log
                .iter()
                .filter(|i| {
                    let c = i["cursor"].as_i64().unwrap();
                    if i["type"] == "cc" {
                        c > cc
                    } else {
                        c > cursor
                    }
                })
                .cloned()
                .collect(),
        )
    }
}

/// What the server was when a request arrived: answers delivered late or out of order carry
/// stale data, as a real server's would.
#[derive(Clone)]
struct Seen {
    records: BTreeMap<String, u64>,
    cc: i64,
    cursor: i64,
    version: String,
}

#[derive(Clone, Copy, Debug)]
enum Change {
    Update,
    Delete,
    Insert,
}

#[derive(Clone, Debug)]
enum Op {
    One(Change, usize),
    /// Several changes pushed as one list, keys possibly repeated.
    Burst(Vec<(Change, usize)>),
    /// A new server version: a `cc` item.
    Version,
    /// A restore of the project finished: every record back, each with new data.
    Restore,
    Deliver,
    DeliverLast,
    FailFetch,
    /// A request answered 401 with `WWW-Authenticate`.
    Expired,
    Drop,
    /// The next CONNECT is refused.
    Refuse,
    Advance(u64),
}

fn change() -> impl Strategy<Value = (Change, usize)> {
    (
        prop_oneof![4 => Just(Change::Update), 1 => Just(Change::Delete), 1 => Just(Change::Insert)],
        0..KEYS,
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => change().prop_map(|(c, i)| Op::One(c, i)),
        2 => proptest::collection::vec(change(), 2..6).prop_map(Op::Burst),
        1 => Just(Op::Version),
        1 => Just(Op::Restore),
        4 => Just(Op::Deliver),
        1 => Just(Op::DeliverLast),
        1 => Just(Op::FailFetch),
        1 => Just(Op::Expired),
        1 => Just(Op::Drop),
        1 => Just(Op::Refuse),
        2 => (1u64..8000).prop_map(Op::Advance),
    ]
}

struct World {
    s: Script,
    server: Server,
    seen: BTreeMap<u64, Seen>,
    /// Whether the socket is up and its initsync answered.
    live: bool,
    last_cursors: (i64, i64),
    /// Refuse the next CONNECT.
    refuse: bool,
    jwts: u64,
}

impl World {
    fn new(held: &BTreeSet<usize>) -> World {
        let server = Server::new();
        let data: serde_json::Map<String, Value> = held
            .iter()
            .map(|i| (key(*i), object(&key(*i), 0)))
            .collect();
        let mut s = Script::new(|c| c.batch_size(2).keep_api_key(true));
        let _ = s.authenticate(1, 0, json!({"records": data}));
        let mut w = World {
            s,
            server,
            seen: BTreeMap::new(),
            live: false,
            last_cursors: (1, 0),
            refuse: false,
            jwts: 1,
        };
        w.open_if_asked();
        w
    }

    fn now_seen(&self) -> Seen {
        Seen {
            records: self.server.records.clone(),
            cc: self.server.cc,
            cursor: self.server.cursor,
            version: self.server.version.clone(),
        }
    }

    /// Notes the server's state for every request that just arrived.
    fn arrive(&mut self) {
        self.s.pump();
        let now = self.now_seen();
        for r in &self.s.requests {
            self.seen.entry(r.id.0).or_insert_with(|| now.clone());
        }
    }

    /// Answers a request from the server's state when it arrived.
    fn reply(&mut self, r: Req) {
        let seen = self.seen.remove(&r.id.0).unwrap_or_else(|| self.now_seen());
        let path = r.uri.split('?').next().unwrap_or_default().to_string();
        if path.ends_with("/auth") {
            self.jwts += 1;
            let jwt = format!("jwt-{}", self.jwts);
            self.s
                .reply(r.id, 200, envelope(json!({}), json!({})), Some(&jwt));
        } else if path.ends_with("/init") {
            // As Unicat's: the cursors and the version the server read at.
            let result =
                json!({"cc.cursor": seen.cc, "cursor": seen.cursor, "cc.version": seen.version});
            self.s.reply(r.id, 200, envelope(result, json!({})), None);
        } else {
            let keys: Vec<String> =
                serde_json::from_value(r.body["records"].clone()).unwrap_or_default();
            let data: serde_json::Map<String, Value> = keys
                .iter()
                .filter_map(|k| Some((k.clone(), object(k, *seen.records.get(k)?))))
                .collect();
            let body = envelope(json!({}), json!({ "records": data }));
            self.s.reply(r.id, 200, body, None);
        }
    }

    fn check_cursors(&mut self) {
        let store = self.s.client.store();
        let now = (store.cc_cursor(), store.cursor());
        assert!(
            now.0 >= self.last_cursors.0 && now.1 >= self.last_cursors.1,
            "the cursors went back from {:?} to {now:?}",
            self.last_cursors
        );
        self.last_cursors = now;
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
    /// its CONNECT, when told to. A CONNECT that waits for `/auth` gets it first.
    fn open_if_asked(&mut self) {
        self.s.pump();
        let Some(id) = self.s.ws_opening.pop_front() else {
            return;
        };
        self.s
            .client
            .handle_input(self.s.now, Input::WsOpened { id });
        self.s.ws = Some(id);
        let before = self.s.sent.len();
        self.s.frame(unicat_tests::script::OPEN);
        if self.s.sent.len() == before {
            // The CONNECT waits for a new JWT: the /auth under way, or waiting for its retry.
            self.s.advance_until(20, |s| s.has("/auth"));
            let auth = self.s.take("/auth");
            self.reply(auth);
        }
        if std::mem::take(&mut self.refuse) {
            self.s.frame(r#"44{"message":"Service unavailable"}"#);
            self.live = false;
            return;
        }
        self.s.frame(r#"40{"sid":"s"}"#);
        let init = self.s.sent.last().cloned().unwrap();
        let rest = init.strip_prefix("42").expect("no initsync emit");
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let args: Vec<Value> = serde_json::from_str(&rest[digits.len()..]).unwrap();
        let payload = &args[1];
        let items = self.server.after(
            payload["cc.cursor"].as_i64().unwrap(),
            payload["cursor"].as_i64().unwrap(),
        );
        self.s.ack(digits.parse().unwrap(), items);
        self.live = true;
    }

    fn push(&mut self, items: Vec<Value>) {
        // Without pings from this server the client also drops the socket after
        // pingInterval + pingTimeout of silence: one more fault for free.
        self.live &= self.s.ws.is_some();
        if self.live && !items.is_empty() {
            self.s.push(Value::Array(items));
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::One(c, i) => {
                let items = self.server.apply(*c, *i).into_iter().collect();
                self.push(items);
            }
            Op::Burst(changes) => {
                let items = changes
                    .iter()
                    .filter_map(|(c, i)| self.server.apply(*c, *i))
                    .collect();
                self.push(items);
            }
            Op::Version => {
                self.server.version = format!("v{}", self.server.cc + 1);
                let v = self.server.version.clone();
                let it = self.server.cc_item("cc.version", &v, None);
                self.push(vec![it]);
            }
            Op::Restore => {
                for i in 0..KEYS {
                    let v = self.server.bump();
                    self.server.records.insert(key(i), v);
                }
                let job = json!({"project_gid": "p1", "job": "restore_project", "status": "done", "info": {}});
                let it = self.server.cc_item("jobs", "restore-1", Some(job));
                self.push(vec![it]);
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
            Op::Expired => {
                self.arrive();
                if let Some(r) = self.s.requests.pop_front() {
                    self.s
                        .reply(r.id, 401, failure(401, "Permission denied"), None);
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
        self.check_cursors();
        self.check_health();
    }

    fn settled(&mut self) -> bool {
        let store = self.s.client.store();
        self.live
            && (store.cc_cursor(), store.cursor()) == (self.server.cc, self.server.cursor)
            && self.s.client.is_caught_up()
    }

    /// No more faults: answer everything until the client is connected and settled.
    fn heal(&mut self) {
        for _ in 0..10_000 {
            self.arrive();
            if let Some(r) = self.s.requests.pop_front() {
                self.reply(r);
                self.check_cursors();
                continue;
            }
            self.open_if_asked();
            self.s.pump();
            if !self.s.requests.is_empty() {
                continue;
            }
            self.live &= self.s.ws.is_some();
            if self.settled() {
                return;
            }
            match self.s.client.poll_timeout() {
                Some(t) => {
                    self.s.now = self.s.now.max(t);
                    self.s.client.handle_timeout(self.s.now);
                }
                None => panic!(
                    "stuck: no request, no timer, {:?}, cursors {:?} of {:?}",
                    self.s.client.health(),
                    self.last_cursors,
                    (self.server.cc, self.server.cursor)
                ),
            }
        }
        panic!(
            "never settled: live {} cursors {:?} of {:?}, requests {:?}, events {:#?}",
            self.live,
            self.last_cursors,
            (self.server.cc, self.server.cursor),
            self.s.requests,
            &self.s.events[self.s.events.len().saturating_sub(12)..]
        );
    }
}

fn check(held: BTreeSet<usize>, ops: Vec<Op>) {
    let mut w = World::new(&held);
    let mut deleted = BTreeSet::new();
    for op in &ops {
        let changes: Vec<(Change, usize)> = match op {
            Op::One(c, i) => vec![(*c, *i)],
            Op::Burst(cs) => cs.clone(),
            _ => Vec::new(),
        };
        // A key the server deletes leaves the store for good: a later insert or restore
        // brings it back on the server only.
        let mut present: BTreeSet<usize> = (0..KEYS)
            .filter(|i| w.server.records.contains_key(&key(*i)))
            .collect();
        for (c, i) in changes {
            match c {
                Change::Delete if present.remove(&i) => {
                    deleted.insert(i);
                }
                Change::Insert => {
                    present.insert(i);
                }
                _ => {}
            }
        }
        w.apply(op);
    }
    w.heal();

    // The model: the store holds every key it held at the start that the server never
    // deleted, and nothing the server does not have, each at the server's current version. A
    // key deleted and created again may be held or not: a load from scratch (the reload after
    // a restore) can read the server past the delete, and then the client never hears of it.
    let store = w.s.client.store().clone();
    let records = store.records();
    for (k, o) in records {
        let want = w.server.records.get(k).map(|v| object(k, *v));
        assert_eq!(
            Some(o.to_value()),
            want,
            "{k} is held as the server does not have it"
        );
    }
    for i in held.iter().filter(|i| !deleted.contains(i)) {
        assert!(records.contains_key(&key(*i)), "{} is not held", key(*i));
    }
    for i in &deleted {
        if !w.server.records.contains_key(&key(*i)) {
            assert!(!records.contains_key(&key(*i)), "{} is deleted", key(*i));
        }
    }
    let store = w.s.client.store();
    assert_eq!(
        (store.cc_cursor(), store.cursor(), store.version()),
        (w.server.cc, w.server.cursor, w.server.version.as_str())
    );
}

#[test]
fn an_update_then_a_drop() {
    check([3].into(), vec![Op::One(Change::Update, 3), Op::Drop]);
}

#[test]
fn a_restore_while_a_fetch_is_out() {
    check(
        [1, 2].into(),
        vec![
            Op::Burst(vec![
                (Change::Update, 1),
                (Change::Update, 1),
                (Change::Update, 2),
            ]),
            Op::Restore,
            Op::DeliverLast,
            Op::Expired,
            Op::Version,
        ],
    );
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

#[test]
fn a_delete_jumped_over_by_a_restores_load() {
    // The reload's /init reads the server after the record was deleted and created again: the
    // client never hears of the delete, and rightly holds the record as it is now.
    check(
        [0].into(),
        vec![
            Op::Restore,
            Op::Drop,
            Op::Burst(vec![(Change::Delete, 0), (Change::Update, 0)]),
            Op::FailFetch,
            Op::One(Change::Insert, 0),
            Op::One(Change::Update, 0),
            Op::Burst(vec![(Change::Update, 0), (Change::Update, 0)]),
        ],
    );
}

/// Found by this model: a drop during a reload forgot the reload's hold on the cursor, and the
/// client reported itself caught up with held records not yet fetched again.
#[test]
fn a_drop_during_a_reload_does_not_end_it_early() {
    use Change::*;
    check(
        [2, 3, 5].into(),
        vec![
            Op::Restore,
            Op::Drop,
            Op::Advance(1194),
            Op::Restore,
            Op::Restore,
            Op::Deliver,
            Op::Expired,
            Op::Deliver,
            Op::DeliverLast,
            Op::Deliver,
            Op::One(Update, 0),
            Op::FailFetch,
            Op::FailFetch,
            Op::Expired,
            Op::Drop,
        ],
    );
}

/// Found by this model: an /init that read the server before the load in the store landed
/// after it and set the version back.
#[test]
fn an_init_that_read_the_server_earlier_does_not_set_the_version_back() {
    use Change::*;
    check(
        [0].into(),
        vec![
            Op::Drop,
            Op::Restore,
            Op::One(Update, 0),
            Op::Restore,
            Op::Advance(1194),
            Op::Expired,
            Op::DeliverLast,
            Op::Expired,
            Op::Version,
            Op::DeliverLast,
            Op::DeliverLast,
        ],
    );
}

/// Found by this model: a retried /init reads the server later than one first sent after it;
/// which load is newer is for their cursors to say, not for the order they were sent in.
#[test]
fn a_retried_init_reads_later_than_one_sent_after_it() {
    check(
        [].into(),
        vec![
            Op::Refuse,
            Op::Drop,
            Op::Advance(1194),
            Op::Restore,
            Op::Restore,
            Op::Advance(1984),
            Op::Version,
            Op::FailFetch,
            Op::Advance(100),
            Op::DeliverLast,
        ],
    );
}

/// Found by this model: a restore item applied again after a load carried the cursor past it
/// started a reload that nothing held; the client said it was caught up before the held
/// records were fetched again.
#[test]
fn a_reload_whose_item_the_cursor_passed_still_ends_before_caught_up() {
    use Change::*;
    check(
        [0].into(),
        vec![
            Op::Drop,
            Op::Restore,
            Op::Restore,
            Op::Advance(1194),
            Op::Drop,
            Op::Deliver,
            Op::One(Update, 0),
            Op::Expired,
            Op::Advance(992),
            Op::Deliver,
            Op::Expired,
            Op::Expired,
            Op::Advance(3550),
            Op::Drop,
        ],
    );
}
