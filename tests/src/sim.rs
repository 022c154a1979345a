//! A simulated network for the sans-IO session: a fake Engine.IO / Socket.IO server that is
//! itself a pure state machine, and a [`Pair`] that moves outputs between the two on a virtual
//! clock (quinn's `Pair`, str0m's `progress()`). Ten minutes of heartbeats take milliseconds.
//!
//! The fake server frames packets with its own few lines of string handling, not with the
//! client's codec, so a framing bug cannot hide itself on both ends.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use unicat_core::error::{TransportError, TransportErrorKind};
use unicat_core::io::{Body, Input, Machine, Output, RequestId, WsFrame, WsId};
use unicat_core::session::{Session, SessionEvent};

/// How the fake server behaves.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The ping interval it advertises and keeps.
    pub ping_interval: Duration,
    /// The ping timeout it advertises and keeps.
    pub ping_timeout: Duration,
    /// Whether it accepts WebSocket handshakes at all.
    pub websocket: bool,
    /// Whether a polling session is offered the upgrade.
    pub offer_upgrade: bool,
    /// The only auth token it accepts (`{"token": ...}`); `None` accepts any auth.
    pub token: Option<String>,
    /// Its `maxPayload`.
    pub max_payload: usize,
    /// Refuses every connection, as a server that is down would.
    pub down: bool,
    /// Emits `greeting` from its connect handler before the CONNECT reply, as the Python
    /// server can.
    pub greet_before_connect: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            websocket: true,
            offer_upgrade: true,
            token: None,
            max_payload: 1_000_000,
            greet_before_connect: false,
            down: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Ws(WsId),
    Polling,
}

#[derive(Debug)]
struct Sess {
    sid: String,
    link: Link,
    probe: Option<WsId>,
    pending_get: Option<RequestId>,
    queue: VecDeque<String>,
    next_ping: Option<Instant>,
    pong_due: Option<Instant>,
    connected: bool,
}

/// What the fake server saw, for assertions.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Auth payloads of every CONNECT, in order.
    pub auths: Vec<Option<Value>>,
    /// Events received: name and arguments.
    pub events: Vec<(String, Vec<Value>)>,
    /// Acks received for server events: id and arguments.
    pub acks: Vec<(u64, Vec<Value>)>,
    /// Pongs received.
    pub pongs: usize,
    /// Engine.IO sessions opened.
    pub handshakes: usize,
    /// Polling POST bodies received.
    pub posts: Vec<String>,
    /// Plain pings the client sent (a v4 client must send none).
    pub client_pings: usize,
}

/// A sans-IO fake Socket.IO server.
#[derive(Debug)]
pub struct FakeServer {
    /// Behaviour.
    pub cfg: ServerConfig,
    sess: Option<Sess>,
    next_sid: u64,
    silent: bool,
    out: VecDeque<Input>,
    /// What it saw.
    pub seen: Seen,
}

fn query(uri: &str, key: &str) -> Option<String> {
    let q = uri.split_once('?')?.1;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.to_string())
    })
}

fn ok(body: impl Into<Vec<u8>>) -> http::Response<Body> {
    http::Response::builder()
        .status(200)
        .body(Body(body.into()))
        .unwrap()
}

impl FakeServer {
    /// A server with this behaviour.
    pub fn new(cfg: ServerConfig) -> Self {
        FakeServer {
            cfg,
            sess: None,
            next_sid: 0,
            silent: false,
            out: VecDeque::new(),
            seen: Seen::default(),
        }
    }

    fn open_json(&self, sid: &str, polling: bool) -> String {
        let upgrades = if polling && self.cfg.offer_upgrade && self.cfg.websocket {
            json!(["websocket"])
        } else {
            json!([])
        };
        json!({
            "sid": sid,
            "upgrades": upgrades,
            "pingInterval": self.cfg.ping_interval.as_millis() as u64,
            "pingTimeout": self.cfg.ping_timeout.as_millis() as u64,
            "maxPayload": self.cfg.max_payload,
        })
        .to_string()
    }

    fn new_session(&mut self, now: Instant, link: Link) -> String {
        self.next_sid += 1;
        let sid = format!("sid{}", self.next_sid);
        self.seen.handshakes += 1;
        self.sess = Some(Sess {
            sid: sid.clone(),
            link,
            probe: None,
            pending_get: None,
            queue: VecDeque::new(),
            next_ping: Some(now + self.cfg.ping_interval),
            pong_due: None,
            connected: false,
        });
        sid
    }

    /// Sends an Engine.IO packet (type digit + data) to the client.
    fn send(&mut self, packet: String) {
        let Some(s) = self.sess.as_mut() else { return };
        match s.link {
            Link::Ws(id) => self.out.push_back(Input::WsMessage {
                id,
                frame: WsFrame::Text(packet),
            }),
            Link::Polling => {
                s.queue.push_back(packet);
                self.flush_get();
            }
        }
    }

    fn flush_get(&mut self) {
        let Some(s) = self.sess.as_mut() else { return };
        if s.queue.is_empty() {
            return;
        }
        if let Some(id) = s.pending_get.take() {
            let body: Vec<String> = s.queue.drain(..).collect();
            self.out.push_back(Input::HttpResponse {
                id,
                response: ok(body.join("\x1e")),
            });
        }
    }

    /// Emits an event to the client on the default namespace.
    pub fn emit(&mut self, event: &str, args: Vec<Value>) {
        let mut items = vec![Value::String(event.into())];
        items.extend(args);
        self.send(format!("42{}", Value::Array(items)));
    }

    /// Emits an event that asks the client for an ack with this id.
    pub fn emit_with_ack(&mut self, id: u64, event: &str, args: Vec<Value>) {
        let mut items = vec![Value::String(event.into())];
        items.extend(args);
        self.send(format!("42{id}{}", Value::Array(items)));
    }

    /// Sends a raw Socket.IO packet text (after the Engine.IO `4`).
    pub fn send_raw_socketio(&mut self, text: &str) {
        self.send(format!("4{text}"));
    }

    /// The server-side Socket.IO DISCONNECT of the default namespace.
    pub fn kick(&mut self) {
        self.send("41".into());
    }

    /// Stops pinging and stops answering: the client must detect the silence itself.
    pub fn go_silent(&mut self) {
        self.silent = true;
    }

    /// Pings again.
    pub fn wake_up(&mut self) {
        self.silent = false;
    }

    /// Drops the transport abruptly, as a network failure would.
    pub fn drop_transport(&mut self) {
        let Some(s) = self.sess.take() else { return };
        match s.link {
            Link::Ws(id) => self.out.push_back(Input::WsClosed { id, code: None }),
            Link::Polling => {
                if let Some(id) = s.pending_get {
                    self.out.push_back(Input::HttpFailed {
                        id,
                        error: TransportError::new(TransportErrorKind::Io, "connection reset"),
                    });
                }
            }
        }
    }

    /// Whether a Socket.IO client is connected to the default namespace.
    pub fn client_connected(&self) -> bool {
        self.sess.as_ref().is_some_and(|s| s.connected)
    }

    /// Whether the current session runs over a WebSocket.
    pub fn on_websocket(&self) -> bool {
        self.sess
            .as_ref()
            .is_some_and(|s| matches!(s.link, Link::Ws(_)))
    }

    fn on_socketio(&mut self, text: &str) {
        let (kind, rest) = text.split_at(1);
        match kind {
            "0" => {
                let auth: Option<Value> = if rest.is_empty() {
                    None
                } else {
                    serde_json::from_str(rest).ok()
                };
                self.seen.auths.push(auth.clone());
                let token = auth
                    .as_ref()
                    .and_then(|a| a.get("token"))
                    .and_then(Value::as_str);
                match &self.cfg.token {
                    Some(t) if token != Some(t.as_str()) => self
                        .send(r#"44{"message":"unauthorized","data":{"why":"bad token"}}"#.into()),
                    _ => {
                        if let Some(s) = self.sess.as_mut() {
                            s.connected = true;
                        }
                        if self.cfg.greet_before_connect {
                            self.send(r#"42["greeting",1]"#.into());
                            self.send(r#"42["greeting",2]"#.into());
                        }
                        self.send(r#"40{"sid":"public-socket-id"}"#.into());
                    }
                }
            }
            "1" => {
                if let Some(s) = self.sess.as_mut() {
                    s.connected = false;
                }
            }
            "2" => {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let json: Vec<Value> = serde_json::from_str(&rest[digits.len()..]).unwrap();
                let name = json[0].as_str().unwrap().to_string();
                let args = json[1..].to_vec();
                self.seen.events.push((name.clone(), args.clone()));
                if !digits.is_empty() && name == "echo" {
                    self.send(format!("43{digits}{}", Value::Array(args)));
                }
            }
            "3" => {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let json: Vec<Value> = serde_json::from_str(&rest[digits.len()..]).unwrap();
                self.seen.acks.push((digits.parse().unwrap(), json));
            }
            other => panic!("fake server got unexpected socket.io packet type {other}"),
        }
    }

    fn on_engine(&mut self, now: Instant, packet: &str) {
        let (kind, data) = packet.split_at(1);
        match kind {
            "1" => self.sess = None,
            "2" => self.seen.client_pings += 1,
            "3" => {
                self.seen.pongs += 1;
                if let Some(s) = self.sess.as_mut() {
                    s.pong_due = None;
                    s.next_ping = Some(now + self.cfg.ping_interval);
                }
            }
            "4" => self.on_socketio(data),
            other => panic!("fake server got unexpected engine.io packet {other}"),
        }
    }

    /// Takes one client output.
    pub fn handle_output<E>(&mut self, now: Instant, output: &Output<E>) {
        if self.cfg.down {
            let refused = TransportError::new(TransportErrorKind::Connect, "connection refused");
            match output {
                Output::OpenWs { id, .. } => self.out.push_back(Input::WsFailed {
                    id: *id,
                    error: refused,
                }),
                Output::Http { id, .. } => self.out.push_back(Input::HttpFailed {
                    id: *id,
                    error: refused,
                }),
                _ => {}
            }
            return;
        }
        match output {
            Output::OpenWs { id, request } => {
                let uri = request.request.uri().to_string();
                assert_eq!(query(&uri, "EIO").as_deref(), Some("4"));
                assert_eq!(query(&uri, "transport").as_deref(), Some("websocket"));
                if !self.cfg.websocket {
                    self.out.push_back(Input::WsFailed {
                        id: *id,
                        error: TransportError::new(
                            TransportErrorKind::HandshakeRejected { status: 400 },
                            "Bad Request",
                        ),
                    });
                    return;
                }
                self.out.push_back(Input::WsOpened { id: *id });
                match query(&uri, "sid") {
                    None => {
                        let sid = self.new_session(now, Link::Ws(*id));
                        let open = self.open_json(&sid, false);
                        self.send(format!("0{open}"));
                    }
                    Some(sid) => {
                        let s = self.sess.as_mut().expect("upgrade without a session");
                        assert_eq!(s.sid, sid);
                        s.probe = Some(*id);
                    }
                }
            }
            Output::WsSend { id, frame } => {
                let WsFrame::Text(text) = frame else {
                    panic!("binary frame")
                };
                let Some(s) = self.sess.as_mut() else { return };
                if s.probe == Some(*id) {
                    match text.as_str() {
                        "2probe" => {
                            self.out.push_back(Input::WsMessage {
                                id: *id,
                                frame: WsFrame::Text("3probe".into()),
                            });
                            // Release the pending long-poll so the client can pause.
                            if let Some(get) = s.pending_get.take() {
                                self.out.push_back(Input::HttpResponse {
                                    id: get,
                                    response: ok("6"),
                                });
                            }
                        }
                        "5" => {
                            s.link = Link::Ws(*id);
                            s.probe = None;
                            let queued: Vec<String> = s.queue.drain(..).collect();
                            for p in queued {
                                self.send(p);
                            }
                        }
                        other => panic!("unexpected frame on the probe socket: {other}"),
                    }
                    return;
                }
                if s.link == Link::Ws(*id) {
                    self.on_engine(now, &text.clone());
                }
            }
            Output::CloseWs { id } => {
                if self.sess.as_ref().is_some_and(|s| s.link == Link::Ws(*id)) {
                    self.sess = None;
                }
            }
            Output::Http { id, request } => {
                let uri = request.request.uri().to_string();
                assert_eq!(query(&uri, "transport").as_deref(), Some("polling"));
                let sid = query(&uri, "sid");
                match (request.request.method().as_str(), sid) {
                    ("GET", None) => {
                        let sid = self.new_session(now, Link::Polling);
                        let open = self.open_json(&sid, true);
                        self.out.push_back(Input::HttpResponse {
                            id: *id,
                            response: ok(format!("0{open}")),
                        });
                    }
                    ("GET", Some(sid)) => {
                        let Some(s) = self.sess.as_mut().filter(|s| s.sid == sid) else {
                            self.out.push_back(Input::HttpResponse {
                                id: *id,
                                response: http::Response::builder()
                                    .status(400)
                                    .body(Body::from(
                                        r#"{"code":1,"message":"Session ID unknown"}"#,
                                    ))
                                    .unwrap(),
                            });
                            return;
                        };
                        assert!(s.pending_get.is_none(), "two GETs in flight");
                        if s.probe.is_some() {
                            // Node answers polls with noops while an upgrade is under way.
                            self.out.push_back(Input::HttpResponse {
                                id: *id,
                                response: ok("6"),
                            });
                            return;
                        }
                        s.pending_get = Some(*id);
                        self.flush_get();
                    }
                    ("POST", Some(_)) => {
                        let body =
                            String::from_utf8(request.request.body().as_bytes().to_vec()).unwrap();
                        self.seen.posts.push(body.clone());
                        self.out.push_back(Input::HttpResponse {
                            id: *id,
                            response: ok("ok"),
                        });
                        for packet in body.split('\x1e') {
                            self.on_engine(now, packet);
                        }
                    }
                    other => panic!("unexpected request {other:?}"),
                }
            }
            Output::CancelHttp { id } => {
                if let Some(s) = self.sess.as_mut() {
                    if s.pending_get == Some(*id) {
                        s.pending_get = None;
                    }
                }
            }
            Output::Event(_) | Output::Stat { .. } | Output::ReadFile { .. } => {}
        }
    }

    /// The next input for the client.
    pub fn poll_input(&mut self) -> Option<Input> {
        self.out.pop_front()
    }

    /// When the server next needs time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let s = self.sess.as_ref()?;
        if self.silent {
            return None;
        }
        match (s.next_ping, s.pong_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the server's timers: pings, and closing sessions that did not pong.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.silent {
            return;
        }
        let Some(s) = self.sess.as_mut() else { return };
        if s.pong_due.is_some_and(|t| t <= now) {
            self.drop_transport();
            return;
        }
        if s.next_ping.is_some_and(|t| t <= now) {
            s.next_ping = None;
            s.pong_due = Some(now + self.cfg.ping_timeout);
            self.send("2".into());
        }
    }
}

/// A client session and a fake server joined on a virtual clock.
pub struct Pair {
    /// The client.
    pub client: Session,
    /// The server.
    pub server: FakeServer,
    /// Virtual now.
    pub now: Instant,
    /// Every event the client emitted, in order.
    pub events: Vec<SessionEvent>,
    /// The names of the client's outputs, in order: a transcript.
    pub transcript: Vec<String>,
    /// Produces the auth payload at each CONNECT.
    pub auth: Box<dyn FnMut() -> Option<Value>>,
    /// Whether the client answers `AuthRequested` by itself.
    pub auto_auth: bool,
}

/// The name of an output, for transcripts.
pub fn output_name<E: std::fmt::Debug>(o: &Output<E>) -> String {
    match o {
        Output::Http { request, .. } => format!("Http {}", request.request.method()),
        Output::CancelHttp { .. } => "CancelHttp".into(),
        Output::OpenWs { .. } => "OpenWs".into(),
        Output::WsSend { frame, .. } => match frame {
            WsFrame::Text(t) => format!("WsSend {}", t.chars().take(2).collect::<String>()),
            WsFrame::Binary(_) => "WsSend binary".into(),
        },
        Output::CloseWs { .. } => "CloseWs".into(),
        Output::Stat { .. } => "Stat".into(),
        Output::ReadFile { .. } => "ReadFile".into(),
        Output::Event(e) => {
            let dbg = format!("{e:?}");
            let name: String = dbg.chars().take_while(|c| c.is_alphanumeric()).collect();
            format!("Event {name}")
        }
    }
}

impl Pair {
    /// A pair with this client and server; the client is not connected yet.
    pub fn new(client: Session, server: FakeServer, now: Instant) -> Self {
        Pair {
            client,
            server,
            now,
            events: Vec::new(),
            transcript: Vec::new(),
            auth: Box::new(|| None),
            auto_auth: true,
        }
    }

    /// Moves every pending output and input until both sides are quiet, without moving time.
    /// Panics if they never go quiet (a livelock).
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(out) = self.client.poll_output() {
                moved = true;
                self.transcript.push(output_name(&out));
                self.server.handle_output(self.now, &out);
                if let Output::Event(e) = out {
                    if let SessionEvent::AuthRequested { ns } = &e {
                        if self.auto_auth {
                            let auth = (self.auth)();
                            self.client.authenticate(self.now, ns, auth).unwrap();
                        }
                    }
                    self.events.push(e);
                }
            }
            while let Some(input) = self.server.poll_input() {
                moved = true;
                self.client.handle_input(self.now, input);
            }
            if !moved {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    /// Settles, then moves time to the earliest deadline of either side and runs it. Returns
    /// false when neither side has a deadline.
    pub fn step(&mut self) -> bool {
        self.settle();
        let next = match (self.client.poll_timeout(), self.server.poll_timeout()) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => return false,
        };
        if next > self.now {
            self.now = next;
        }
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.settle();
        true
    }

    /// Runs until virtual time has moved by `d` (or nothing is left to do).
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..1_000_000 {
            self.settle();
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                }
                _ => {
                    self.now = end;
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                    self.settle();
                    return;
                }
            }
        }
        panic!("run_for never reached its end");
    }

    /// Steps until `pred` holds on the events seen so far, at most `max_steps` steps.
    pub fn drive_until(&mut self, max_steps: usize, mut pred: impl FnMut(&Pair) -> bool) {
        self.settle();
        for _ in 0..max_steps {
            if pred(self) {
                return;
            }
            if !self.step() {
                break;
            }
        }
        assert!(
            pred(self),
            "condition not reached in {max_steps} steps; events: {:#?}",
            self.events
        );
    }

    /// Takes the events seen so far.
    pub fn take_events(&mut self) -> Vec<SessionEvent> {
        std::mem::take(&mut self.events)
    }
}
