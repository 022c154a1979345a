//! A scripted Unicat server for the [`Client`]: each test answers the client's requests and
//! pushes Socket.IO frames by hand, so it reads like the protocol's own examples.
//!
//! Frames are written as plain strings here, never with the client's codec.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use unicat_core::api::Secret;
use unicat_core::client::{CallId, Client, ClientConfig, Command, Event, Health};
use unicat_core::error::CommandError;
use unicat_core::io::{
    Body, FileInfo, HttpRequest, Input, Machine, Output, RequestId, WsFrame, WsId,
};
use unicat_core::record::Recording;
use unicat_core::store::DataType;
use unicat_core::sync::Action;

/// A machine a script drives: the client, or the client recorded.
pub trait Scripted: Machine<Event = Event> {
    /// The client, to read.
    fn client(&self) -> &Client;
    /// Carries out a command.
    fn execute(&mut self, now: Instant, command: Command) -> Result<Option<CallId>, CommandError>;
}

impl Scripted for Client {
    fn client(&self) -> &Client {
        self
    }
    fn execute(&mut self, now: Instant, command: Command) -> Result<Option<CallId>, CommandError> {
        Client::execute(self, now, command)
    }
}

impl Scripted for Recording {
    fn client(&self) -> &Client {
        self.machine()
    }
    fn execute(&mut self, now: Instant, command: Command) -> Result<Option<CallId>, CommandError> {
        Recording::execute(self, now, command)
    }
}

/// The project of every scripted test.
pub const PROJECT: &str = "p1";
/// The open packet of the scripted Sync API.
pub const OPEN: &str =
    r#"0{"sid":"eio","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

/// One request the client made.
#[derive(Debug)]
pub struct Req {
    /// Its id.
    pub id: RequestId,
    /// Method.
    pub method: String,
    /// Full URI.
    pub uri: String,
    /// The `Authorization` header, if any.
    pub auth: Option<String>,
    /// The JSON body (`Null` when empty or not JSON).
    pub body: Value,
    /// The request as sent.
    pub raw: HttpRequest,
}

/// A client and the scripted world around it.
pub struct Script<M = Client> {
    /// The client (or the client recorded).
    pub client: M,
    /// Virtual now.
    pub now: Instant,
    /// Events seen, in order.
    pub events: Vec<Event>,
    /// Requests not answered yet.
    pub requests: VecDeque<Req>,
    /// File stats asked for.
    pub stats: VecDeque<(RequestId, PathBuf)>,
    /// File reads asked for.
    pub reads: VecDeque<(RequestId, PathBuf, u64)>,
    /// The open sync socket, if any.
    pub ws: Option<WsId>,
    /// Sockets the client asked to open and not yet answered.
    pub ws_opening: VecDeque<WsId>,
    /// Text frames the client sent on the socket, in order.
    pub sent: Vec<String>,
}

/// A successful envelope.
pub fn envelope(result: Value, data: Value) -> Value {
    json!({"success": true, "result": result, "data": data})
}

/// A failed envelope.
pub fn failure(code: i64, message: &str) -> Value {
    json!({"success": false, "result": {"code": code, "message": message, "info": {}}, "data": {}})
}

/// A record object as the dev server shapes it.
pub fn record(gid: &str, price: f64) -> Value {
    json!({"gid": gid, "definition": "d1", "fields": {"en": {"artnr": gid, "price": price}}})
}

/// A sync item.
pub fn item(family: &str, cursor: i64, action: &str, data_type: &str, key: &str) -> Value {
    json!({"type": family, "cursor": cursor, "action": action, "data_type": data_type, "data_key": key})
}

/// The `data` of a load holding these records, each made by [`record`] with its price.
pub fn held(records: &[(&str, f64)]) -> Value {
    let map: serde_json::Map<String, Value> = records
        .iter()
        .map(|(g, p)| (g.to_string(), record(g, *p)))
        .collect();
    json!({ "records": map })
}

/// A field f1 with a label, as `/fields/get` and `/init` return it.
pub fn field(label: &str) -> Value {
    json!({"fields": {"f1": {"gid": "f1", "label": label}}})
}

/// The [`Event::Changed`] events `s` has seen, in order, as (data type, key, action).
pub fn changed(s: &Script) -> Vec<(DataType, String, Action)> {
    s.events
        .iter()
        .filter_map(|e| match e {
            Event::Changed {
                data_type,
                key,
                action,
            } => Some((*data_type, key.clone(), *action)),
            _ => None,
        })
        .collect()
}

/// A client connected (cursors 1, 1) with asset folder `/srv/assets`, holding one asset: a1,
/// version 7, the file `/img/photo.png`.
pub fn with_asset() -> Script {
    let asset = json!({"gid": "a1", "version": 7, "name": "photo.png", "pathname": "/img/photo.png", "is_file": true});
    Script::connected(1, 1, json!({"assets": {"a1": asset}}), |c| {
        c.asset_folder("/srv/assets")
    })
}

/// Client settings without read retries: a failed fetch or call fails at once, so a test sees
/// its own schedule (fetch retries, reconnects) rather than the retry policy's.
pub fn no_retries(c: ClientConfig) -> ClientConfig {
    c.retry(unicat_core::client::RetryPolicy {
        retries: 0,
        ..unicat_core::client::RetryPolicy::default()
    })
}

impl Script {
    /// Calls `endpoint` with `body` and default options; the call's id.
    pub fn call(&mut self, endpoint: &str, body: Value) -> CallId {
        self.client
            .call(self.now, endpoint, Some(body), Default::default())
            .expect("the call is accepted")
    }

    /// A client for [`PROJECT`] on a scripted server, configured by `f`.
    pub fn new(f: impl FnOnce(ClientConfig) -> ClientConfig) -> Self {
        let now = Instant::now();
        let cfg = f(ClientConfig::new("http://unicat.test", PROJECT)
            .unwrap()
            .rng_seed(7));
        Script {
            client: Client::new(cfg, now),
            now,
            events: Vec::new(),
            requests: VecDeque::new(),
            stats: VecDeque::new(),
            reads: VecDeque::new(),
            ws: None,
            ws_opening: VecDeque::new(),
            sent: Vec::new(),
        }
    }

    /// Connects fully: auth with these cursors and data, socket, and an empty initsync ack.
    pub fn connected(
        cc: i64,
        cursor: i64,
        data: Value,
        f: impl FnOnce(ClientConfig) -> ClientConfig,
    ) -> Self {
        let mut s = Script::new(f);
        let _ = s.authenticate(cc, cursor, data);
        let (ack, payload) = s.open_socket();
        assert_eq!(
            payload,
            json!({"cc.cursor": cc, "project": PROJECT, "cursor": cursor})
        );
        s.ack(ack, json!([]));
        s
    }

    /// The same script, its client recorded from now on (see [`Recording`]).
    pub fn recorded(self) -> Script<Recording> {
        Script {
            client: Recording::new(self.client),
            now: self.now,
            events: self.events,
            requests: self.requests,
            stats: self.stats,
            reads: self.reads,
            ws: self.ws,
            ws_opening: self.ws_opening,
            sent: self.sent,
        }
    }
}

impl<M: Scripted> Script<M> {
    /// Moves the client's outputs into the script's queues.
    pub fn pump(&mut self) {
        while let Some(out) = self.client.poll_output() {
            match out {
                Output::Http { id, request } => {
                    let r = &request.request;
                    self.requests.push_back(Req {
                        id,
                        method: r.method().to_string(),
                        uri: r.uri().to_string(),
                        auth: r
                            .headers()
                            .get("authorization")
                            .map(|v| v.to_str().unwrap().to_string()),
                        body: serde_json::from_slice(r.body().as_bytes()).unwrap_or(Value::Null),
                        raw: request,
                    });
                }
                Output::CancelHttp { id } => self.requests.retain(|r| r.id != id),
                Output::OpenWs { id, .. } => self.ws_opening.push_back(id),
                Output::WsSend { frame, .. } => match frame {
                    WsFrame::Text(t) => self.sent.push(t),
                    WsFrame::Binary(_) => panic!("binary frame"),
                },
                Output::CloseWs { id } => {
                    if self.ws == Some(id) {
                        self.ws = None;
                    }
                }
                Output::Stat { id, path } => self.stats.push_back((id, path)),
                Output::ReadFile { id, path, limit } => self.reads.push_back((id, path, limit)),
                Output::Event(e) => self.events.push(e),
            }
        }
    }

    /// Takes the oldest request whose path ends with `suffix`; panics if there is none.
    pub fn take(&mut self, suffix: &str) -> Req {
        self.pump();
        let pos = self
            .requests
            .iter()
            .position(|r| r.uri.split('?').next().unwrap().ends_with(suffix))
            .unwrap_or_else(|| {
                let pending: Vec<&str> = self.requests.iter().map(|r| r.uri.as_str()).collect();
                panic!("no request to …{suffix}; pending: {pending:?}")
            });
        self.requests.remove(pos).unwrap()
    }

    /// Whether a request whose path ends with `suffix` is pending.
    pub fn has(&mut self, suffix: &str) -> bool {
        self.pump();
        self.requests
            .iter()
            .any(|r| r.uri.split('?').next().unwrap().ends_with(suffix))
    }

    /// Answers a request with a JSON body, optionally renewing the JWT.
    pub fn reply(&mut self, id: RequestId, status: u16, body: Value, jwt: Option<&str>) {
        let mut b = http::Response::builder().status(status);
        if let Some(jwt) = jwt {
            b = b.header("Authorization", jwt);
        }
        if status == 401 {
            b = b.header("WWW-Authenticate", "Bearer realm=\"JWT access to Unicat.\"");
        }
        let response = b.body(Body(serde_json::to_vec(&body).unwrap())).unwrap();
        self.client
            .handle_input(self.now, Input::HttpResponse { id, response });
        self.pump();
    }

    /// Answers a load (`/auth`, `/init`) read by the server at cursors `(cc, project)`.
    pub fn land(&mut self, id: RequestId, (cc, cursor): (i64, i64), data: Value) {
        let body = envelope(json!({"cc.cursor": cc, "cursor": cursor}), data);
        self.reply(id, 200, body, None);
    }

    /// Answers a request with raw bytes.
    pub fn reply_bytes(&mut self, id: RequestId, status: u16, body: &[u8]) {
        let response = http::Response::builder()
            .status(status)
            .body(Body(body.to_vec()))
            .unwrap();
        self.client
            .handle_input(self.now, Input::HttpResponse { id, response });
        self.pump();
    }

    /// Fails a request at the transport level (a reset connection).
    pub fn fail(&mut self, id: RequestId) {
        self.fail_with(id, unicat_core::error::TransportErrorKind::Io);
    }

    /// Fails a request at the transport level, with this kind of error.
    pub fn fail_with(&mut self, id: RequestId, kind: unicat_core::error::TransportErrorKind) {
        let error = unicat_core::error::TransportError::new(kind, "transport failure");
        self.client
            .handle_input(self.now, Input::HttpFailed { id, error });
        self.pump();
    }

    /// Answers a file stat.
    pub fn stat(&mut self, id: RequestId, info: Option<FileInfo>) {
        self.client.handle_input(self.now, Input::Stat { id, info });
        self.pump();
    }

    /// Moves virtual time and runs the timers.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.client.handle_timeout(self.now);
        self.pump();
    }

    /// Runs timers until `pred` holds, moving to each deadline; at most `max` steps.
    pub fn advance_until(&mut self, max: usize, mut pred: impl FnMut(&mut Self) -> bool) {
        for _ in 0..max {
            self.pump();
            if pred(self) {
                return;
            }
            let Some(t) = self.client.poll_timeout() else {
                break;
            };
            self.now = self.now.max(t);
            self.client.handle_timeout(self.now);
        }
        self.pump();
        assert!(
            pred(self),
            "condition not reached; events: {:#?}",
            self.events
        );
    }

    /// Sends a text frame to the client on the open socket.
    pub fn frame(&mut self, text: &str) {
        let id = self.ws.expect("no socket open");
        self.client.handle_input(
            self.now,
            Input::WsMessage {
                id,
                frame: WsFrame::Text(text.to_string()),
            },
        );
        self.pump();
    }

    /// `connect(api_key)`, answered with an auth result holding these cursors and data, and a
    /// JWT. Returns the call id.
    pub fn authenticate(&mut self, cc: i64, cursor: i64, data: Value) -> CallId {
        let api_key = Secret::new("key-1");
        let call = self.client.execute(self.now, Command::Connect { api_key });
        let call = call.unwrap().expect("a connect has a call id");
        let auth = self.take("/api/p/p1/auth");
        assert_eq!(auth.body["api_key"], "key-1");
        let result = json!({"user": "u1", "project": PROJECT, "cc.version": "2026.11.001", "cc.cursor": cc, "cursor": cursor});
        self.reply(auth.id, 200, envelope(result, data), Some("jwt-1"));
        call
    }

    /// Opens the sync socket the client asked for, accepts its CONNECT, and returns the
    /// `initsync` ack id with its payload.
    pub fn open_socket(&mut self) -> (u64, Value) {
        self.pump();
        let id = self
            .ws_opening
            .pop_front()
            .expect("the client opened no socket");
        self.client.handle_input(self.now, Input::WsOpened { id });
        self.ws = Some(id);
        self.frame(OPEN);
        let connect = self.sent.last().cloned().expect("no CONNECT");
        assert!(connect.starts_with("40"), "{connect}");
        self.frame(r#"40{"sid":"s1"}"#);
        let init = self.sent.last().cloned().unwrap();
        let rest = init.strip_prefix("42").expect("no initsync emit");
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let args: Vec<Value> = serde_json::from_str(&rest[digits.len()..]).unwrap();
        assert_eq!(args[0], "initsync");
        (digits.parse().unwrap(), args[1].clone())
    }

    /// Acks `initsync` with a list of items.
    pub fn ack(&mut self, ack: u64, items: Value) {
        self.frame(&format!("43{ack}[{items}]"));
    }

    /// Pushes a `sync` event.
    pub fn push(&mut self, items: Value) {
        self.frame(&format!("42[\"sync\",{items}]"));
    }

    /// Drops the socket, as a network failure would.
    pub fn drop_socket(&mut self) {
        let id = self.ws.take().expect("no socket open");
        self.client
            .handle_input(self.now, Input::WsClosed { id, code: None });
        self.pump();
    }

    /// The results of finished calls.
    pub fn result(&self, id: CallId) -> Option<&Result<Value, unicat_core::api::CallError>> {
        self.events.iter().find_map(|e| match e {
            Event::CallFinished { id: got, result } if *got == id => Some(result),
            _ => None,
        })
    }

    /// Takes the events seen so far.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// The faults are over: from now on the server answers every `/auth` with a fresh JWT and
    /// every other request with an empty success, opens every socket the client asks for,
    /// accepts every CONNECT and answers every `initsync` with an empty list. The virtual
    /// clock moves to each deadline in turn until the client's health is
    /// [`Health::Connected`]. Panics if that takes more than `max` steps.
    pub fn heal(&mut self, max: usize) {
        let mut answered = self.sent.len();
        for _ in 0..max {
            self.pump();
            if self.client.client().health() == Health::Connected {
                return;
            }
            if let Some(r) = self.requests.pop_front() {
                let jwt = format!("jwt-healed-{}", r.id.0);
                let is_auth = r.uri.ends_with("/auth");
                self.reply(
                    r.id,
                    200,
                    envelope(json!({}), json!({})),
                    is_auth.then_some(jwt.as_str()),
                );
                continue;
            }
            if let Some(id) = self.ws_opening.pop_front() {
                self.client.handle_input(self.now, Input::WsOpened { id });
                self.ws = Some(id);
                answered = self.sent.len();
                self.frame(OPEN);
                continue;
            }
            if answered < self.sent.len() && self.ws.is_some() {
                let frame = self.sent[answered].clone();
                answered += 1;
                if frame.starts_with("40") {
                    self.frame(r#"40{"sid":"healed"}"#);
                } else if let Some(rest) = frame.strip_prefix("42") {
                    let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    if !id.is_empty() && rest.contains("\"initsync\"") {
                        self.frame(&format!("43{id}[[]]"));
                    }
                }
                continue;
            }
            let Some(t) = self.client.poll_timeout() else {
                panic!(
                    "the client waits for nothing and is not connected: {:?}; events {:#?}",
                    self.client.client().health(),
                    self.events
                );
            };
            self.now = self.now.max(t);
            self.client.handle_timeout(self.now);
        }
        panic!(
            "not healthy after {max} steps: {:?}; events {:#?}",
            self.client.client().health(),
            &self.events[self.events.len().saturating_sub(20)..]
        );
    }
}
