//! The Sync API over Socket.IO (socketioxide): auth on connect, `initsync`, `sync` broadcasts
//! (sent by [`Inner::flush`](crate::store::Inner::flush)) and `authorization` pushes.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::middleware::Next;

use serde_json::{json, Value};
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::SocketIo;

use crate::config::DevConfig;
use crate::lock;
use crate::net::Cut;
use crate::server::{Shared, TokenInfo, MAX_BODY};
use crate::store::SockEntry;

/// Outbound packets a socket may have queued before emits to it fail (a slow reader of a
/// 10,000-item catch-up needs 100; a stale long-poll session keeps buffering until its ping
/// timeout).
const SOCKET_BUFFER_PACKETS: usize = 1 << 16;

/// Engine.IO session ids seen on `/sync/io`, and those cut by a transport drop.
///
/// Cutting a polling client's TCP connection alone is invisible to it: its HTTP library retries
/// the idempotent long-poll GET on a fresh connection and the session goes on. A dropped
/// transport must look like one, so the sessions that existed at the drop become unknown
/// (`400 Session ID unknown`, exactly as Engine.IO answers for an expired session), and the
/// client reconnects with a new session. No Socket.IO packet is sent.
#[derive(Debug, Default)]
pub(crate) struct EioSessions {
    known: HashSet<String>,
    dead: HashSet<String>,
}

impl EioSessions {
    /// Marks every session seen so far as dropped.
    pub(crate) fn drop_all(&mut self) {
        let known = std::mem::take(&mut self.known);
        self.dead.extend(known);
    }
}

fn query_sid(req: &Request) -> Option<&str> {
    req.uri()
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("sid="))
}

/// Middleware in front of the Socket.IO layer: refuses sessions cut by a transport drop.
pub(crate) async fn session_gate(shared: Weak<Shared>, req: Request, next: Next) -> Response<Body> {
    if req.uri().path().starts_with("/sync/io") {
        if let (Some(shared), Some(sid)) = (shared.upgrade(), query_sid(&req)) {
            let mut sessions = lock(&shared.eio_sessions);
            if sessions.dead.contains(sid) {
                let mut resp =
                    Response::new(Body::from(r#"{"code":"1","message":"Session ID unknown"}"#));
                *resp.status_mut() = StatusCode::BAD_REQUEST;
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                return resp;
            }
            if !sessions.known.contains(sid) {
                sessions.known.insert(sid.to_owned());
            }
        }
    }
    next.run(req).await
}

/// Cuts every TCP connection (but `spare`) and makes the Engine.IO sessions seen so far unknown.
pub(crate) fn drop_transports(
    shared: &Shared,
    how: Cut,
    spare: Option<std::net::SocketAddr>,
) -> usize {
    lock(&shared.eio_sessions).drop_all();
    shared.conns.cut_all(how, spare)
}

/// The Socket.IO layer at `/sync/io`.
pub(crate) fn build(cfg: &DevConfig) -> (SocketIoLayer, SocketIo) {
    SocketIo::builder()
        .req_path("/sync/io")
        .ping_interval(cfg.ping_interval)
        .ping_timeout(cfg.ping_timeout)
        .max_payload(MAX_BODY as u64)
        .max_buffer_size(SOCKET_BUFFER_PACKETS)
        .ws_max_message_size(MAX_BODY)
        .ws_max_frame_size(MAX_BODY)
        .build_layer()
}

fn token_of(auth: &Result<Value, socketioxide::ParserError>) -> Option<String> {
    auth.as_ref().ok()?.get("JWT")?.as_str().map(str::to_owned)
}

fn check_auth(
    shared: &Shared,
    auth: &Result<Value, socketioxide::ParserError>,
) -> Result<TokenInfo, String> {
    let token =
        token_of(auth).ok_or_else(|| "Permission denied: no JWT in the auth payload".to_owned())?;
    lock(&shared.tokens)
        .check(&token)
        .ok_or_else(|| "Permission denied: JWT unknown or expired".to_owned())
}

/// Registers the `/` namespace: a middleware that refuses connections without a valid JWT
/// (CONNECT_ERROR with a message), then the connect handler.
pub(crate) fn register(io: &SocketIo, shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    let middleware = move |s: SocketRef, TryData(auth): TryData<Value>| {
        let weak = weak.clone();
        async move {
            let shared = weak
                .upgrade()
                .ok_or_else(|| "server shutting down".to_owned())?;
            let refusal = lock(&shared.faults).refusal();
            if let Some(message) = refusal {
                shared.count("socket.io connect_error");
                return Err(message);
            }
            match check_auth(&shared, &auth) {
                Ok(info) => {
                    shared.count("socket.io connect");
                    // Handlers go on here, not in the connect handler: socketioxide sends the
                    // CONNECT packet and only then spawns the connect handler, so a fast
                    // client's `initsync` could otherwise arrive before anyone listens.
                    register_events(&shared, &s, info);
                    Ok(())
                }
                Err(e) => {
                    shared.count("socket.io connect_error");
                    Err(e)
                }
            }
        }
    };
    let weak = Arc::downgrade(shared);
    let handler = move |s: SocketRef, TryData(auth): TryData<Value>| {
        let weak = weak.clone();
        async move {
            if let Some(shared) = weak.upgrade() {
                if let Ok(info) = check_auth(&shared, &auth) {
                    track(&shared, &s, &info);
                }
            }
        }
    };
    io.ns("/", handler.with(middleware));
}

/// Adds a connected socket to the registry (once; `initsync` may have done it already).
fn track(shared: &Shared, s: &SocketRef, info: &TokenInfo) {
    if !s.connected() {
        return;
    }
    lock(&shared.inner)
        .sockets
        .entry(s.id)
        .or_insert_with(|| SockEntry {
            sock: s.clone(),
            user: info.user.clone(),
            project: info.project.clone(),
            synced_upto: None,
        });
}

fn register_events(shared: &Arc<Shared>, s: &SocketRef, info: TokenInfo) {
    let weak = Arc::downgrade(shared);
    s.on(
        "initsync",
        move |s: SocketRef, TryData(payload): TryData<Value>, ack: AckSender| {
            let weak = weak.clone();
            let info = info.clone();
            async move {
                if let Some(shared) = weak.upgrade() {
                    track(&shared, &s, &info);
                    initsync(&shared, &s, payload.ok(), ack);
                }
            }
        },
    );
    let weak: Weak<Shared> = Arc::downgrade(shared);
    s.on_disconnect(move |s: SocketRef| {
        let weak = weak.clone();
        async move {
            if let Some(shared) = weak.upgrade() {
                lock(&shared.inner).sockets.remove(&s.id);
            }
        }
    });
}

fn cursor_of(payload: &Value, keys: &[&str]) -> u64 {
    keys.iter()
        .find_map(|k| payload.get(*k)?.as_u64())
        .unwrap_or(0)
}

/// `initsync {"cc.cursor", "project", "cursor"}` → ack with one argument: the list of items
/// after those cursors (`null` when `project` isn't the socket's project). The ack is queued
/// under the state lock, so no later `sync` event can overtake it.
fn initsync(shared: &Shared, s: &SocketRef, payload: Option<Value>, ack: AckSender) {
    shared.count("initsync");
    let mut inner = lock(&shared.inner);
    let socket_project = inner.sockets.get(&s.id).map(|e| e.project.clone());
    let payload = payload.unwrap_or(Value::Null);
    let asked = payload.get("project").and_then(Value::as_str);
    match (socket_project, asked) {
        (Some(mine), Some(asked)) if mine == asked => {
            let cc = cursor_of(&payload, &["cc.cursor", "cc_cursor"]);
            let cursor = cursor_of(&payload, &["cursor"]);
            let list = inner.initsync(s.id, cc, cursor);
            if let Err(e) = ack.send(&*list) {
                log::warn!("initsync ack to {} not sent: {e}", s.id);
            }
        }
        _ => {
            if let Err(e) = ack.send(&Value::Null) {
                log::warn!("initsync ack to {} not sent: {e}", s.id);
            }
        }
    }
}

/// Sends `authorization {"JWT": <fresh token>}` to every authorised socket.
pub(crate) fn push_authorization(shared: &Shared) -> usize {
    let inner = lock(&shared.inner);
    let mut sent = 0;
    for entry in inner.sockets.values() {
        let token = lock(&shared.tokens).mint(&entry.user, &entry.project);
        match entry.sock.emit("authorization", &json!({"JWT": token})) {
            Ok(()) => sent += 1,
            Err(e) => log::debug!("authorization event to {} not sent: {e}", entry.sock.id),
        }
    }
    sent
}

/// Pushes `authorization` events every `period` for as long as the server lives.
pub(crate) fn spawn_authorization_pushes(shared: &Arc<Shared>, period: Duration) {
    let weak = Arc::downgrade(shared);
    shared.rt.spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            interval.tick().await;
            let Some(shared) = weak.upgrade() else { break };
            push_authorization(&shared);
        }
    });
}

/// Server-side Socket.IO disconnect (`41`) of every socket; returns how many.
pub(crate) fn disconnect_all(shared: &Shared) -> usize {
    let _rt = shared.rt.enter();
    let sockets = shared.io.sockets();
    lock(&shared.inner).sockets.clear();
    let n = sockets.len();
    for s in sockets {
        if let Err(e) = s.disconnect() {
            log::debug!("disconnect failed: {e}");
        }
    }
    n
}
