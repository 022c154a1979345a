//! The interop suite against real Socket.IO servers, written once and run for every runtime:
//! each runtime implements [`SioHandle`] over its own Socket.IO client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use unicat_core::config::{SessionConfig, TransportMode};
use unicat_core::error::DisconnectReason;
use unicat_core::session::{AckError, SessionEvent};

use crate::peers::Peer;

/// Produces a namespace's CONNECT auth, at every connect.
pub type Auth = Arc<dyn Fn(&str) -> Option<Value> + Send + Sync>;

/// A runtime's Socket.IO client, as the suite drives it.
pub trait SioHandle: Sized {
    /// Connects with this configuration and auth.
    fn connect(cfg: SessionConfig, auth: Auth) -> Self;
    /// Emits without an ack.
    fn emit(&self, ns: &str, event: &str, args: Vec<Value>);
    /// Emits and waits for the ack.
    fn emit_with_ack(
        &self,
        ns: &str,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AckError>;
    /// Acks a server event.
    fn ack(&self, ns: &str, id: u64, args: Vec<Value>);
    /// The next event, waiting at most `timeout`.
    fn next_event(&self, timeout: Duration) -> Option<SessionEvent>;
}

/// Which server.
#[derive(Clone, Copy, Debug)]
pub enum Server {
    /// npm socket.io 4.
    Node,
    /// python-socketio 5.
    Python,
}

impl Server {
    /// Starts it, offering both transports.
    pub fn start(self) -> Peer {
        match self {
            Server::Node => Peer::node("polling,websocket"),
            Server::Python => Peer::python("polling,websocket"),
        }
    }

    /// A comfortable wait for a few heartbeats: Node pings every 300 ms, Python every 1 s.
    fn heartbeats(self) -> Duration {
        match self {
            Server::Node => Duration::from_millis(1500),
            Server::Python => Duration::from_millis(3500),
        }
    }
}

const WAIT: Duration = Duration::from_secs(15);

/// Waits for the first event that `pred` accepts; panics after [`WAIT`].
pub fn wait_for<H: SioHandle>(
    h: &H,
    what: &str,
    mut pred: impl FnMut(&SessionEvent) -> bool,
) -> SessionEvent {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Some(e) = h.next_event(left) {
            if pred(&e) {
                return e;
            }
            seen.push(e);
        }
    }
    panic!("no {what} within {WAIT:?}; saw {seen:#?}");
}

/// Collects events for `d`.
pub fn collect<H: SioHandle>(h: &H, d: Duration) -> Vec<SessionEvent> {
    let deadline = Instant::now() + d;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Some(e) = h.next_event(left) {
            seen.push(e);
        }
    }
    seen
}

fn config(peer: &Peer, mode: TransportMode) -> SessionConfig {
    let mut cfg = SessionConfig::new(&peer.url(), "/sync/io")
        .unwrap()
        .transport(mode)
        .namespaces(["/", "/admin"])
        .unwrap();
    // Quick reconnects keep the suite short.
    cfg.reconnect.initial = Duration::from_millis(100);
    cfg.reconnect.max = Duration::from_millis(500);
    cfg
}

/// An auth that counts connects: `{"token": "good", "n": <connect number>}`.
fn counting_auth() -> (Auth, Arc<AtomicU64>) {
    let n = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&n);
    let auth: Auth = Arc::new(move |ns| {
        let k = if ns == "/" {
            counter.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            counter.load(Ordering::SeqCst)
        };
        Some(json!({"token": "good", "n": k}))
    });
    (auth, n)
}

fn connected<H: SioHandle>(peer: &Peer, mode: TransportMode) -> H {
    let (auth, _) = counting_auth();
    let h = H::connect(config(peer, mode), auth);
    for ns in ["/", "/admin"] {
        wait_for(
            &h,
            "Connected",
            |e| matches!(e, SessionEvent::Connected { ns: got, .. } if got == ns),
        );
    }
    h
}

/// CONNECT with auth on two namespaces (the server sees the payload), and a refused CONNECT
/// reported with its message and data.
pub fn connect_with_auth_and_a_refusal<H: SioHandle>(server: Server, mode: TransportMode) {
    let peer = server.start();
    let (auth, _) = counting_auth();
    let h = H::connect(config(&peer, mode), auth);
    let e = wait_for(
        &h,
        "the server's auth echo",
        |e| matches!(e, SessionEvent::Message { event, ns, .. } if event == "auth" && ns == "/"),
    );
    let SessionEvent::Message { args, .. } = e else {
        unreachable!()
    };
    assert_eq!(args, [json!({"token": "good", "n": 1})]);
    wait_for(
        &h,
        "Connected /admin",
        |e| matches!(e, SessionEvent::Connected { ns, .. } if ns == "/admin"),
    );

    let refused = H::connect(
        config(&peer, mode),
        Arc::new(|_| Some(json!({"token": "bad"}))),
    );
    let e = wait_for(
        &refused,
        "ConnectError",
        |e| matches!(e, SessionEvent::ConnectError { ns, .. } if ns == "/"),
    );
    let SessionEvent::ConnectError { message, data, .. } = e else {
        unreachable!()
    };
    assert_eq!(message, "unauthorized");
    assert_eq!(data, Some(json!({"why": "bad token"})));
}

/// An event with ack from the client, and one from the server that the client acks.
pub fn acks_in_both_directions<H: SioHandle>(server: Server, mode: TransportMode) {
    let peer = server.start();
    let h: H = connected(&peer, mode);
    for ns in ["/", "/admin"] {
        let args = vec![
            json!(1),
            json!("two"),
            json!({"three": [3.25, null, "\u{1F600}"]}),
        ];
        assert_eq!(h.emit_with_ack(ns, "echo", args.clone(), WAIT), Ok(args));
    }
    h.emit("/", "ask", vec![]);
    let e = wait_for(
        &h,
        "question",
        |e| matches!(e, SessionEvent::Message { event, .. } if event == "question"),
    );
    let SessionEvent::Message {
        ack: Some(id),
        args,
        ..
    } = e
    else {
        panic!("the question asks for no ack: {e:?}")
    };
    assert_eq!(args, [json!("meaning?")]);
    h.ack("/", id, vec![json!(42)]);
    let e = wait_for(
        &h,
        "answer-received",
        |e| matches!(e, SessionEvent::Message { event, .. } if event == "answer-received"),
    );
    let SessionEvent::Message { args, .. } = e else {
        unreachable!()
    };
    let flat: Vec<Value> = match args.as_slice() {
        [Value::Array(inner)] => inner.clone(),
        other => other.to_vec(),
    };
    assert_eq!(flat, [json!(42)]);
}

/// A binary event from the server, with one attachment nested in an object.
pub fn binary_events_are_reassembled<H: SioHandle>(server: Server, mode: TransportMode) {
    let peer = server.start();
    let h: H = connected(&peer, mode);
    h.emit("/", "blob", vec![json!(9)]);
    let e = wait_for(
        &h,
        "blob-back",
        |e| matches!(e, SessionEvent::Message { event, .. } if event == "blob-back"),
    );
    let SessionEvent::Message {
        args, attachments, ..
    } = e
    else {
        unreachable!()
    };
    assert_eq!(attachments.len(), 2);
    let first = args[0]["num"].as_u64().unwrap() as usize;
    let nested = args[1]["nested"]["num"].as_u64().unwrap() as usize;
    assert_eq!(attachments[first], [1, 2, 3, 9]);
    assert_eq!(attachments[nested], b"hi");
}

/// Heartbeats held over several ping intervals: still connected, no loss, still working.
pub fn heartbeats_hold<H: SioHandle>(server: Server, mode: TransportMode) {
    let peer = server.start();
    let h: H = connected(&peer, mode);
    let events = collect(&h, server.heartbeats());
    assert!(
        !events.iter().any(|e| matches!(
            e,
            SessionEvent::Disconnected { .. } | SessionEvent::NamespaceDisconnected { .. }
        )),
        "{events:#?}"
    );
    assert_eq!(
        h.emit_with_ack("/", "echo", vec![json!("still here")], WAIT),
        Ok(vec![json!("still here")])
    );
}

/// A server DISCONNECT ends the namespace and is not followed by a reconnect.
pub fn server_disconnect_does_not_reconnect<H: SioHandle>(server: Server, mode: TransportMode) {
    let peer = server.start();
    let h: H = connected(&peer, mode);
    h.emit("/", "kick", vec![]);
    wait_for(
        &h,
        "NamespaceDisconnected",
        |e| matches!(e, SessionEvent::NamespaceDisconnected { ns, reason: DisconnectReason::ServerDisconnect } if ns == "/"),
    );
    let later = collect(&h, Duration::from_secs(2));
    let reconnected = later.iter().any(|e| match e {
        SessionEvent::Reconnecting { .. } => true,
        SessionEvent::Connected { ns, .. } => ns == "/",
        _ => false,
    });
    assert!(!reconnected, "{later:#?}");
}

/// The server closes the Engine.IO session cleanly (no Socket.IO DISCONNECT): the client
/// reconnects, asking for a fresh auth.
pub fn an_engine_io_close_reconnects_with_fresh_auth<H: SioHandle>(
    server: Server,
    mode: TransportMode,
) {
    reconnects_with_fresh_auth_after::<H>(server, mode, "close_engine");
}

/// The server resets every TCP connection under a WebSocket session (the Node peer only: an
/// ASGI app cannot): the client reconnects, asking for a fresh auth. Over polling a reset of
/// the HTTP connections does not end the Engine.IO session, which the server keeps, so the
/// client rightly carries on there; the dev server's drops also forget the session.
pub fn a_reset_tcp_connection_reconnects_with_fresh_auth<H: SioHandle>() {
    reconnects_with_fresh_auth_after::<H>(Server::Node, TransportMode::WebSocket, "cut");
}

fn reconnects_with_fresh_auth_after<H: SioHandle>(
    server: Server,
    mode: TransportMode,
    fault: &str,
) {
    let peer = server.start();
    let (auth, connects) = counting_auth();
    let h = H::connect(config(&peer, mode), auth);
    wait_for(
        &h,
        "Connected",
        |e| matches!(e, SessionEvent::Connected { ns, .. } if ns == "/"),
    );
    h.emit("/", fault, vec![]);
    wait_for(
        &h,
        "Disconnected",
        |e| matches!(e, SessionEvent::Disconnected { reason } if reason.reconnects()),
    );
    wait_for(&h, "Reconnecting", |e| {
        matches!(e, SessionEvent::Reconnecting { .. })
    });
    let e = wait_for(
        &h,
        "the second auth echo",
        |e| matches!(e, SessionEvent::Message { event, ns, .. } if event == "auth" && ns == "/"),
    );
    let SessionEvent::Message { args, .. } = e else {
        unreachable!()
    };
    assert_eq!(args, [json!({"token": "good", "n": 2})]);
    assert_eq!(connects.load(Ordering::SeqCst), 2);
    assert_eq!(
        h.emit_with_ack("/", "echo", vec![json!(1)], WAIT),
        Ok(vec![json!(1)])
    );
}

/// Polling first, then the upgrade to a WebSocket.
pub fn polling_then_upgrade<H: SioHandle>(server: Server) {
    let peer = server.start();
    let h = H::connect(
        config(&peer, TransportMode::PollingThenUpgrade),
        counting_auth().0,
    );
    wait_for(&h, "Upgraded", |e| matches!(e, SessionEvent::Upgraded));
    assert_eq!(
        h.emit_with_ack("/", "echo", vec![json!("after upgrade")], WAIT),
        Ok(vec![json!("after upgrade")])
    );
}
