//! The Engine.IO socket: one connection to the server, as a sans-IO machine of its own.
//!
//! It opens the connection (the handshake), keeps the link (a WebSocket, or long-polling with
//! one GET and one POST in flight and a queue of packets for the next POST), moves a polling
//! link to a WebSocket (probe, pause, upgrade), and watches the heartbeat. Its owner hands it
//! packets to [`send`](Socket::send) and hears what happened as [`EngineEvent`]s among its
//! outputs.
//!
//! ```text
//!          open()            `0{…}`              `1`, a lost link, a violation,
//!   Idle ─────────▶ Opening ─────────▶ Open ───── no ping in time (Closed) ─────▶ Idle
//!                    │  ▲               │  ▲
//!                    └──┘ WS refused:   └──┘ upgrade: a WebSocket, `2probe`, `3probe`,
//!                         polling            polling paused and drained, `5`
//! ```
//!
//! An event interrupts the socket: nothing is queued after it, and the socket goes on (the
//! first requests of a fresh link, the rest of a polling payload) only once its outputs have
//! been taken to the end. An owner that answers each event as it takes it — sending packets,
//! or closing the socket, while it does — therefore sees its own work and the socket's in the
//! order the protocol has them, and a close in the middle of a payload drops the rest of it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::{SessionConfig, TransportMode};
use crate::error::{
    DecodeError, DisconnectReason, ProtocolViolation, TransportError, TransportErrorKind,
};
use crate::io::{
    Body, BodyTarget, HttpRequest, Input, Machine, Output, RequestId, RequestIds, WsFrame, WsId,
    WsRequest,
};
use crate::timer::{after, TimerTable};

use super::{encode_payload, EnginePacket, Handshake, Payload, MAX_PACKETS_PER_POST};

/// Which transport carries the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

/// Where a [`Socket`] stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SocketState {
    /// No link, none asked for.
    Idle,
    /// The first request is out; no handshake yet.
    Opening,
    /// The handshake arrived; packets go over this transport.
    Open(TransportKind),
}

/// What the socket tells its owner, among its outputs.
#[derive(Clone, PartialEq)]
pub(crate) enum EngineEvent {
    /// The handshake `0{…}` arrived: the link is open.
    Opened {
        /// The transport it opened on.
        transport: TransportKind,
    },
    /// The link moved from polling to its WebSocket.
    Upgraded,
    /// A message packet `4…`: one Socket.IO packet, as text.
    Text(String),
    /// A binary message: an attachment of a binary Socket.IO packet.
    Binary(Vec<u8>),
    /// The link is gone and the socket is idle. Not reported for a [`Socket::close`] the owner
    /// asked for.
    Closed {
        /// Why.
        reason: DisconnectReason,
    },
}

/// Text and attachments are the server's data (an `authorization` event carries a JWT):
/// measured, never shown.
impl std::fmt::Debug for EngineEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineEvent::Opened { transport } => write!(f, "Opened({transport:?})"),
            EngineEvent::Upgraded => f.write_str("Upgraded"),
            EngineEvent::Text(t) => write!(f, "Text({} bytes)", t.len()),
            EngineEvent::Binary(b) => write!(f, "Binary({} bytes)", b.len()),
            EngineEvent::Closed { reason } => write!(f, "Closed({reason:?})"),
        }
    }
}

/// The parts of the session's configuration that are the link's.
#[derive(Clone, Debug)]
pub(crate) struct SocketConfig {
    /// `https` and `wss` rather than `http` and `ws`.
    secure: bool,
    /// Host and port of every request.
    authority: http::uri::Authority,
    /// The Engine.IO path, with its leading and trailing slash.
    path: String,
    /// Extra query parameters of every request.
    query: Vec<(String, String)>,
    /// Which transport opens first, and whether polling upgrades.
    transport: TransportMode,
    /// Whether a WebSocket handshake refused with a 4xx falls back to polling.
    fallback_to_polling: bool,
    /// How long the handshake may take; also what a WebSocket open may take, and the wait
    /// for the handshake GET before the heartbeat is known.
    open_timeout: Duration,
    /// How long the upgrade's WebSocket may take to open and answer its probe.
    upgrade_timeout: Duration,
    /// The largest polling body or WebSocket message taken from the server.
    max_incoming_payload: usize,
}

impl From<&SessionConfig> for SocketConfig {
    fn from(cfg: &SessionConfig) -> Self {
        SocketConfig {
            secure: cfg.secure,
            authority: cfg.authority.clone(),
            path: cfg.path.clone(),
            query: cfg.query.clone(),
            transport: cfg.transport,
            fallback_to_polling: cfg.fallback_to_polling,
            open_timeout: cfg.open_timeout,
            upgrade_timeout: cfg.upgrade_timeout,
            max_incoming_payload: cfg.limits.max_incoming_payload,
        }
    }
}

impl SocketConfig {
    fn url(&self, ws: bool, sid: Option<&str>, cache_buster: Option<u64>) -> String {
        let scheme = match (ws, self.secure) {
            (false, false) => "http",
            (false, true) => "https",
            (true, false) => "ws",
            (true, true) => "wss",
        };
        let transport = if ws { "websocket" } else { "polling" };
        let mut url = format!(
            "{scheme}://{}{}?EIO=4&transport={transport}",
            self.authority, self.path
        );
        if let Some(sid) = sid {
            url.push_str("&sid=");
            percent_encode(sid, &mut url);
        }
        if let Some(t) = cache_buster {
            url.push_str(&format!("&t={t}"));
        }
        for (k, v) in &self.query {
            url.push('&');
            percent_encode(k, &mut url);
            url.push('=');
            percent_encode(v, &mut url);
        }
        url
    }

    /// A polling GET or POST, numbered from `ids`; `hs` is `None` for the handshake GET.
    fn polling(
        &self,
        ids: &mut Counters,
        method: http::Method,
        hs: Option<&Handshake>,
        body: Vec<u8>,
    ) -> (RequestId, HttpRequest) {
        let id = ids.ids.request();
        let url = self.url(false, hs.map(|h| h.sid.as_str()), Some(ids.cache_buster()));
        let heartbeat = hs.map_or(self.open_timeout, Handshake::heartbeat);
        let mut builder = http::Request::builder().method(method.clone()).uri(url);
        if method == http::Method::POST {
            builder = builder.header(http::header::CONTENT_TYPE, "text/plain;charset=UTF-8");
        }
        // The URI is built from validated parts; a builder error would be a bug here, and the
        // fallback keeps the core panic-free anyway.
        let request = builder.body(Body(body)).unwrap_or_default();
        let request = HttpRequest {
            request,
            timeout: heartbeat.saturating_add(Duration::from_secs(5)),
            target: BodyTarget::Memory {
                limit: self.max_incoming_payload,
            },
        };
        (id, request)
    }

    /// A WebSocket, numbered from `ids`; `sid` is that of the session it upgrades, if any.
    fn websocket(&self, ids: &mut Counters, sid: Option<&str>) -> (WsId, WsRequest) {
        let id = ids.ids.websocket();
        let request = WsRequest {
            request: http::Request::builder()
                .uri(self.url(true, sid, None))
                .body(())
                .unwrap_or_default(),
            timeout: self.open_timeout,
        };
        (id, request)
    }
}

/// The numbers the socket hands out.
#[derive(Debug, Default)]
struct Counters {
    /// The request and WebSocket ids, unless the owner lent the socket its own for the call
    /// under way ([`Socket::swap_ids`]).
    ids: RequestIds,
    /// The last polling cache buster `t=`: a counter, never the clock, so replays stay exact.
    cache_buster: u64,
}

impl Counters {
    fn cache_buster(&mut self) -> u64 {
        self.cache_buster = self.cache_buster.saturating_add(1);
        self.cache_buster
    }
}

/// The socket's deadlines.
#[derive(Clone, Copy, Debug)]
enum Timer {
    /// The handshake must arrive by then.
    Open,
    /// A ping must arrive by then, or the link is dead.
    Heartbeat,
    /// The upgrade must be done by then, or it is given up.
    Upgrade,
}

impl From<Timer> for usize {
    fn from(t: Timer) -> usize {
        t as usize
    }
}

/// Where the socket stands, with what it holds there.
#[derive(Debug)]
enum Phase {
    /// No link.
    Idle,
    /// Waiting for the handshake on this request.
    Opening(Opening),
    /// The handshake arrived.
    Open(Open),
}

/// The request that carries the handshake.
#[derive(Debug, Clone, Copy)]
enum Opening {
    /// A WebSocket, whose first message is the handshake.
    Ws(WsId),
    /// The first GET, whose body starts with it.
    Polling(RequestId),
}

/// An open Engine.IO session.
#[derive(Debug)]
struct Open {
    /// The server's terms: the sid for every request, the heartbeat, `maxPayload`, upgrades.
    hs: Handshake,
    /// What carries packets now.
    link: Link,
    /// The WebSocket on its way to replace polling, if any.
    upgrade: Option<Upgrade>,
}

impl Open {
    /// Whether the upgrade has paused polling: no GET, no POST until it finishes or fails.
    fn paused(&self) -> bool {
        matches!(self.upgrade, Some(Upgrade::Pausing(_)))
    }
}

/// What carries an open session's packets.
#[derive(Debug)]
enum Link {
    /// One WebSocket: a message a packet.
    Ws(WsId),
    /// Long-polling: GETs bring packets, POSTs take them.
    Polling(Polling),
}

impl Link {
    fn kind(&self) -> TransportKind {
        match self {
            Link::Ws(_) => TransportKind::WebSocket,
            Link::Polling(_) => TransportKind::Polling,
        }
    }
}

/// A long-polling link.
#[derive(Debug, Default)]
struct Polling {
    /// The long-poll in flight: at most one, as the servers require.
    get: Option<RequestId>,
    /// The POST in flight: at most one, so packets arrive in order.
    post: Option<RequestId>,
    /// Packets for the next POST.
    queue: VecDeque<EnginePacket>,
}

impl Polling {
    /// The packets of the next POST, unless one is in flight or nothing waits: at most 16
    /// packets and at most `max_payload` bytes, and always at least one packet.
    fn next_batch(&mut self, max_payload: usize) -> Option<Vec<EnginePacket>> {
        if self.post.is_some() || self.queue.is_empty() {
            return None;
        }
        let mut batch = Vec::new();
        let mut size = 0usize;
        while let Some(next) = self.queue.front() {
            let len = next.polling_len().saturating_add(1);
            if !batch.is_empty()
                && (size.saturating_add(len) > max_payload || batch.len() >= MAX_PACKETS_PER_POST)
            {
                break;
            }
            size = size.saturating_add(len);
            if let Some(packet) = self.queue.pop_front() {
                batch.push(packet);
            }
        }
        Some(batch)
    }
}

/// The steps of moving a polling link to a WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upgrade {
    /// The WebSocket is asked for.
    Opening(WsId),
    /// `2probe` went out on it.
    Probing(WsId),
    /// `3probe` came back: polling waits for its GET and POST to come home.
    Pausing(WsId),
}

impl Upgrade {
    fn ws(self) -> WsId {
        match self {
            Upgrade::Opening(id) | Upgrade::Probing(id) | Upgrade::Pausing(id) => id,
        }
    }
}

/// Which request of the socket an HTTP answer belongs to.
enum Role {
    /// The handshake GET of an opening socket.
    Handshake,
    /// The long-poll of an open one.
    Get,
    /// Its POST.
    Post,
}

/// An Engine.IO v4 client socket, with no I/O of its own (see the [module docs](self)). Its
/// `Debug` output hides the sid (in the handshake) and shows packets and payloads by length.
#[derive(Debug)]
pub(crate) struct Socket {
    /// Where to connect and how.
    cfg: SocketConfig,
    /// The latest `now` seen: deadlines count from it.
    now: Instant,
    /// Idle, opening, or open with its link.
    phase: Phase,
    /// Ids and cache busters.
    ids: Counters,
    /// A WebSocket handshake was refused: from then on the socket polls.
    force_polling: bool,
    /// The link has just opened and its owner has been told: its first GET and the upgrade's
    /// WebSocket are still to be asked for.
    fresh: bool,
    /// The rest of a polling body, read a packet at a time so the owner answers each before the
    /// next; dropped with the link.
    inbound: Option<Payload>,
    /// The open, heartbeat and upgrade deadlines.
    timers: TimerTable<Timer, 3>,
    /// Outputs and events, in order.
    out: VecDeque<Output<EngineEvent>>,
}

impl Socket {
    /// An idle socket. [`open`](Socket::open) starts it.
    pub(crate) fn new(cfg: SocketConfig, now: Instant) -> Self {
        Socket {
            cfg,
            now,
            phase: Phase::Idle,
            ids: Counters::default(),
            force_polling: false,
            fresh: false,
            inbound: None,
            timers: TimerTable::default(),
            out: VecDeque::new(),
        }
    }

    pub(crate) fn state(&self) -> SocketState {
        match &self.phase {
            Phase::Idle => SocketState::Idle,
            Phase::Opening(_) => SocketState::Opening,
            Phase::Open(open) => SocketState::Open(open.link.kind()),
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open(_))
    }

    /// Opening or open.
    pub(crate) fn is_active(&self) -> bool {
        !matches!(self.phase, Phase::Idle)
    }

    /// The server's `maxPayload`, once the handshake told it.
    pub(crate) fn max_payload(&self) -> Option<usize> {
        match &self.phase {
            Phase::Open(open) => Some(open.hs.max_payload),
            _ => None,
        }
    }

    /// Exchanges the socket's request ids for `ids`: how an owner lends the socket its own,
    /// so that the socket and the machines built on it number from one sequence. Swapping
    /// again gives them back.
    pub(crate) fn swap_ids(&mut self, ids: &mut RequestIds) {
        std::mem::swap(&mut self.ids.ids, ids);
    }

    /// Asks for a new link: a WebSocket, or the handshake GET of long-polling.
    pub(crate) fn open(&mut self, now: Instant) {
        self.advance(now);
        self.timers
            .set(Timer::Open, after(self.now, self.cfg.open_timeout));
        if self.force_polling || self.cfg.transport != TransportMode::WebSocket {
            let (id, request) =
                self.cfg
                    .polling(&mut self.ids, http::Method::GET, None, Vec::new());
            self.out.push_back(Output::Http { id, request });
            self.phase = Phase::Opening(Opening::Polling(id));
        } else {
            let (id, request) = self.cfg.websocket(&mut self.ids, None);
            self.out.push_back(Output::OpenWs { id, request });
            self.phase = Phase::Opening(Opening::Ws(id));
        }
    }

    /// Sends a packet: at once over a WebSocket; over polling in the next POST. Dropped
    /// unless the link is open.
    pub(crate) fn send(&mut self, packet: EnginePacket) {
        let Phase::Open(open) = &mut self.phase else {
            return;
        };
        match &mut open.link {
            Link::Ws(id) => {
                let id = *id;
                self.out.push_back(Output::WsSend {
                    id,
                    frame: packet.encode_ws(),
                });
            }
            Link::Polling(polling) if polling.queue.len() >= MAX_QUEUED_POST_PACKETS => {
                // A server that reads no POST while it keeps sending (events to ack, pings)
                // would have the queue grow for ever.
                self.violation(ProtocolViolation::Unexpected(
                    "server that lets the POST queue overflow",
                ));
            }
            Link::Polling(polling) => {
                polling.queue.push_back(packet);
                self.flush_post();
            }
        }
    }

    /// The Engine.IO close `1`, sent at once: over polling in a POST even while an upgrade
    /// has paused polling. Nothing unless the link is open.
    pub(crate) fn say_goodbye(&mut self) {
        self.send(EnginePacket::Close);
        self.flush_post_now();
    }

    /// Drops the link, if any: its WebSockets are closed and its requests cancelled. No
    /// event follows: the owner asked.
    pub(crate) fn close(&mut self) {
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Idle => {}
            Phase::Opening(Opening::Ws(id)) => self.out.push_back(Output::CloseWs { id }),
            Phase::Opening(Opening::Polling(id)) => self.out.push_back(Output::CancelHttp { id }),
            Phase::Open(open) => {
                match open.link {
                    Link::Ws(id) => self.out.push_back(Output::CloseWs { id }),
                    Link::Polling(p) => {
                        for id in [p.get, p.post].into_iter().flatten() {
                            self.out.push_back(Output::CancelHttp { id });
                        }
                    }
                }
                if let Some(up) = open.upgrade {
                    self.out.push_back(Output::CloseWs { id: up.ws() });
                }
            }
        }
        self.fresh = false;
        self.inbound = None;
        self.timers.clear();
    }

    /// Closes the link as dead when no ping came within `pingInterval + pingTimeout`: the
    /// timer's own check, and the owner's before it writes (a suspended laptop's link may have
    /// died while nobody looked).
    pub(crate) fn check_heartbeat(&mut self, now: Instant) {
        self.advance(now);
        if self.is_open() && self.timers.expired(Timer::Heartbeat, self.now) {
            self.fail(DisconnectReason::PingTimeout);
        }
    }

    /// The next output already queued, unless it is an event, and without reading on into a
    /// payload: what an owner takes while it answers an event, so that the work its answer
    /// made comes before its own next event.
    pub(crate) fn poll_transmit<E>(&mut self) -> Option<Output<E>> {
        match self.out.front() {
            None | Some(Output::Event(_)) => None,
            Some(_) => self.out.pop_front()?.split_event().ok(),
        }
    }

    // ---- the link --------------------------------------------------------------------------

    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    fn event(&mut self, event: EngineEvent) {
        self.out.push_back(Output::Event(event));
    }

    /// The link is lost: release it and tell the owner.
    fn fail(&mut self, reason: DisconnectReason) {
        crate::log!(debug, "engine.io link lost: {reason}");
        self.close();
        self.event(EngineEvent::Closed { reason });
    }

    fn violation(&mut self, v: ProtocolViolation) {
        crate::log!(warn, "engine.io protocol violation: {v}");
        self.fail(DisconnectReason::Protocol(v));
    }

    fn on_handshake(&mut self, hs: Handshake, link: Link) {
        let transport = link.kind();
        self.timers.stop(Timer::Open);
        self.timers
            .set(Timer::Heartbeat, after(self.now, hs.heartbeat()));
        self.phase = Phase::Open(Open {
            hs,
            link,
            upgrade: None,
        });
        self.fresh = true;
        crate::log!(debug, "engine.io open on {transport:?}");
        self.event(EngineEvent::Opened { transport });
    }

    /// Goes on with the work an event interrupted: the first requests of a fresh link, then
    /// the rest of a polling payload, a packet at a time. False when there is none.
    fn resume(&mut self) -> bool {
        if std::mem::take(&mut self.fresh) {
            self.start_link();
            return true;
        }
        let Some(payload) = self.inbound.as_mut() else {
            return false;
        };
        match payload.next() {
            Some(Ok(packet)) => self.on_packet(packet),
            Some(Err(e)) => self.violation(ProtocolViolation::Decode(e)),
            None => {
                self.inbound = None;
                self.issue_get();
                self.finish_upgrade_if_drained();
            }
        }
        true
    }

    /// A fresh polling link's first long-poll, and the WebSocket to upgrade to when the server
    /// offers one and the configuration asks for it.
    fn start_link(&mut self) {
        let Phase::Open(open) = &mut self.phase else {
            return;
        };
        if !matches!(open.link, Link::Polling(_)) {
            return;
        }
        let upgrade = self.cfg.transport == TransportMode::PollingThenUpgrade
            && !self.force_polling
            && open.hs.offers_websocket();
        self.issue_get();
        if !upgrade {
            return;
        }
        let Phase::Open(open) = &mut self.phase else {
            return;
        };
        let (id, request) = self.cfg.websocket(&mut self.ids, Some(&open.hs.sid));
        open.upgrade = Some(Upgrade::Opening(id));
        self.out.push_back(Output::OpenWs { id, request });
        self.timers
            .set(Timer::Upgrade, after(self.now, self.cfg.upgrade_timeout));
    }

    /// Asks for the next long-poll, unless one is in flight or the upgrade paused polling.
    fn issue_get(&mut self) {
        let Phase::Open(open) = &mut self.phase else {
            return;
        };
        let paused = open.paused();
        let Link::Polling(polling) = &mut open.link else {
            return;
        };
        if polling.get.is_some() || paused {
            return;
        }
        let (id, request) =
            self.cfg
                .polling(&mut self.ids, http::Method::GET, Some(&open.hs), Vec::new());
        polling.get = Some(id);
        self.out.push_back(Output::Http { id, request });
    }

    /// Sends the next POST batch if none is in flight, unless the upgrade paused polling.
    fn flush_post(&mut self) {
        if matches!(&self.phase, Phase::Open(open) if open.paused()) {
            return;
        }
        self.flush_post_now();
    }

    fn flush_post_now(&mut self) {
        let Phase::Open(open) = &mut self.phase else {
            return;
        };
        let Link::Polling(polling) = &mut open.link else {
            return;
        };
        let Some(batch) = polling.next_batch(open.hs.max_payload) else {
            return;
        };
        let body = encode_payload(&batch).into_bytes();
        let (id, request) =
            self.cfg
                .polling(&mut self.ids, http::Method::POST, Some(&open.hs), body);
        polling.post = Some(id);
        self.out.push_back(Output::Http { id, request });
    }

    // ---- upgrade ---------------------------------------------------------------------------

    /// Once polling has paused and its GET and POST are home: `5` on the WebSocket, then what
    /// was still queued for a POST, and the WebSocket is the link.
    fn finish_upgrade_if_drained(&mut self) {
        let Phase::Open(open) = &mut self.phase else {
            return;
        };
        let Some(Upgrade::Pausing(ws)) = open.upgrade else {
            return;
        };
        let queue = match &mut open.link {
            Link::Polling(p) if p.get.is_none() && p.post.is_none() => std::mem::take(&mut p.queue),
            _ => return,
        };
        open.link = Link::Ws(ws);
        open.upgrade = None;
        self.timers.stop(Timer::Upgrade);
        for packet in std::iter::once(EnginePacket::Upgrade).chain(queue) {
            self.out.push_back(Output::WsSend {
                id: ws,
                frame: packet.encode_ws(),
            });
        }
        crate::log!(debug, "engine.io upgraded to websocket");
        self.event(EngineEvent::Upgraded);
    }

    /// The upgrade failed or took too long: its WebSocket is closed and polling goes on.
    fn abandon_upgrade(&mut self) {
        let Phase::Open(open) = &mut self.phase else {
            return;
        };
        let Some(up) = open.upgrade.take() else {
            return;
        };
        crate::log!(debug, "engine.io upgrade abandoned, staying on polling");
        self.timers.stop(Timer::Upgrade);
        self.out.push_back(Output::CloseWs { id: up.ws() });
        self.issue_get();
        self.flush_post();
    }

    // ---- inputs ----------------------------------------------------------------------------

    fn role_of(&self, id: RequestId) -> Option<Role> {
        match &self.phase {
            Phase::Opening(Opening::Polling(r)) if *r == id => Some(Role::Handshake),
            Phase::Open(Open {
                link: Link::Polling(p),
                ..
            }) => {
                if p.get == Some(id) {
                    Some(Role::Get)
                } else if p.post == Some(id) {
                    Some(Role::Post)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    fn on_http(&mut self, id: RequestId, response: Result<http::Response<Body>, TransportError>) {
        let Some(role) = self.role_of(id) else {
            return;
        };
        // A failed request is still in flight for `close`, which cancels it.
        let response = match response {
            Ok(r) => r,
            Err(e) => return self.fail(DisconnectReason::TransportError(e)),
        };
        if let Phase::Open(Open {
            link: Link::Polling(p),
            ..
        }) = &mut self.phase
        {
            match role {
                Role::Get => p.get = None,
                Role::Post => p.post = None,
                Role::Handshake => {}
            }
        }
        let status = response.status().as_u16();
        if status != 200 {
            return self.violation(ProtocolViolation::HttpStatus(status));
        }
        match role {
            Role::Post => {
                // Node answers `ok`, Python `OK`; the body carries nothing else.
                self.flush_post();
                self.finish_upgrade_if_drained();
            }
            Role::Get => self.on_payload(response.into_body(), false),
            Role::Handshake => self.on_payload(response.into_body(), true),
        }
    }

    /// A polling body: the handshake first if it is the handshake's, then its packets, read as
    /// the owner takes the outputs.
    fn on_payload(&mut self, body: Body, handshake: bool) {
        let limit = self.cfg.max_incoming_payload;
        if body.len() > limit {
            return self.violation(ProtocolViolation::Decode(DecodeError::TooLarge {
                size: body.len(),
                limit,
            }));
        }
        let mut payload = match Payload::new(body.into_bytes()) {
            Ok(p) => p,
            Err(e) => return self.violation(ProtocolViolation::Decode(e)),
        };
        if handshake {
            let hs = match payload.next() {
                Some(Ok(EnginePacket::Open(json))) => match Handshake::parse(&json) {
                    Ok(hs) => hs,
                    Err(e) => return self.violation(ProtocolViolation::Decode(e)),
                },
                _ => return self.violation(ProtocolViolation::ExpectedOpen),
            };
            self.on_handshake(hs, Link::Polling(Polling::default()));
        }
        self.inbound = Some(payload);
    }

    fn on_ws_open(&mut self, id: WsId) {
        let Phase::Open(open) = &mut self.phase else {
            return;
        };
        if open.upgrade == Some(Upgrade::Opening(id)) {
            open.upgrade = Some(Upgrade::Probing(id));
            self.out.push_back(Output::WsSend {
                id,
                frame: EnginePacket::Ping("probe".into()).encode_ws(),
            });
        }
    }

    fn on_ws_message(&mut self, id: WsId, frame: WsFrame) {
        match &mut self.phase {
            Phase::Opening(Opening::Ws(w)) if *w == id => match self.decode_frame(frame) {
                Ok(EnginePacket::Open(json)) => match Handshake::parse(&json) {
                    Ok(hs) => self.on_handshake(hs, Link::Ws(id)),
                    Err(e) => self.violation(ProtocolViolation::Decode(e)),
                },
                Ok(_) => self.violation(ProtocolViolation::ExpectedOpen),
                Err(v) => self.violation(v),
            },
            Phase::Open(Open {
                link: Link::Ws(w), ..
            }) if *w == id => match self.decode_frame(frame) {
                Ok(packet) => self.on_packet(packet),
                Err(v) => self.violation(v),
            },
            Phase::Open(open) if open.upgrade == Some(Upgrade::Probing(id)) => {
                let answered = matches!(
                    EnginePacket::decode_ws(frame),
                    Ok(EnginePacket::Pong(ref d)) if d == "probe"
                );
                if answered {
                    open.upgrade = Some(Upgrade::Pausing(id));
                    self.finish_upgrade_if_drained();
                } else {
                    self.abandon_upgrade();
                }
            }
            _ => {}
        }
    }

    /// A message of the link's own WebSocket as a packet, unless it is over the size limit or
    /// does not decode.
    fn decode_frame(&self, frame: WsFrame) -> Result<EnginePacket, ProtocolViolation> {
        let limit = self.cfg.max_incoming_payload;
        if frame.len() > limit {
            return Err(ProtocolViolation::Decode(DecodeError::TooLarge {
                size: frame.len(),
                limit,
            }));
        }
        EnginePacket::decode_ws(frame).map_err(ProtocolViolation::Decode)
    }

    fn on_ws_gone(&mut self, id: WsId, error: Option<TransportError>) {
        // A 4xx says this endpoint will not speak WebSocket (a proxy without support); a 5xx
        // or 429 says the server is busy or restarting, which the owner's backoff handles.
        let refused = matches!(
            &error,
            Some(TransportError {
                kind: TransportErrorKind::HandshakeRejected { status },
                ..
            }) if (400..500).contains(status) && *status != 429
        );
        let reason = match error {
            Some(e) => DisconnectReason::TransportError(e),
            None => DisconnectReason::TransportClose,
        };
        match &self.phase {
            Phase::Opening(Opening::Ws(w)) if *w == id => {
                if refused && self.cfg.fallback_to_polling {
                    crate::log!(info, "websocket handshake refused, falling back to polling");
                    self.force_polling = true;
                    self.open(self.now);
                } else {
                    self.fail(reason);
                }
            }
            Phase::Open(Open {
                link: Link::Ws(w), ..
            }) if *w == id => self.fail(reason),
            Phase::Open(Open {
                upgrade: Some(up), ..
            }) if up.ws() == id => self.abandon_upgrade(),
            _ => {}
        }
    }

    fn on_packet(&mut self, packet: EnginePacket) {
        match packet {
            EnginePacket::Ping(_) => self.on_ping(),
            EnginePacket::Close => self.fail(DisconnectReason::TransportClose),
            EnginePacket::Text(text) => self.event(EngineEvent::Text(text)),
            EnginePacket::Binary(bytes) => self.event(EngineEvent::Binary(bytes)),
            EnginePacket::Pong(_) | EnginePacket::Noop => {}
            EnginePacket::Open(_) => {
                self.violation(ProtocolViolation::Unexpected("second open packet"))
            }
            EnginePacket::Upgrade => self.violation(ProtocolViolation::Unexpected(
                "upgrade packet from the server",
            )),
        }
    }

    /// `2` is answered with `3`, and the heartbeat starts again.
    fn on_ping(&mut self) {
        let Phase::Open(open) = &self.phase else {
            return;
        };
        self.timers
            .set(Timer::Heartbeat, after(self.now, open.hs.heartbeat()));
        // The pong carries no data: echoing it would let a server make the client send back
        // whatever it sends. (Only the client's own upgrade probe expects `probe` back, and
        // that is the server's pong.) Over polling, one pong waiting for its POST answers
        // every ping before it.
        let waiting = matches!(&open.link, Link::Polling(p)
            if p.queue.iter().any(|q| matches!(q, EnginePacket::Pong(_))));
        if !waiting {
            self.send(EnginePacket::Pong(String::new()));
        }
    }
}

impl Machine for Socket {
    type Event = EngineEvent;

    fn handle_input(&mut self, now: Instant, input: Input) {
        self.advance(now);
        match input {
            Input::HttpResponse { id, response } => self.on_http(id, Ok(response)),
            Input::HttpFailed { id, error } => self.on_http(id, Err(error)),
            Input::WsOpened { id } => self.on_ws_open(id),
            Input::WsMessage { id, frame } => self.on_ws_message(id, frame),
            Input::WsClosed { id, .. } => self.on_ws_gone(id, None),
            Input::WsFailed { id, error } => self.on_ws_gone(id, Some(error)),
            Input::Stat { .. } | Input::FileRead { .. } => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        let now = self.now;
        if self.timers.expired(Timer::Open, now) && matches!(self.phase, Phase::Opening(_)) {
            self.fail(DisconnectReason::ConnectTimeout);
        }
        self.check_heartbeat(now);
        if self.timers.expired(Timer::Upgrade, now) {
            self.abandon_upgrade();
        }
    }

    /// The next output, reading on into a payload once the queue is empty.
    fn poll_output(&mut self) -> Option<Output<EngineEvent>> {
        loop {
            if let Some(output) = self.out.pop_front() {
                return Some(output);
            }
            if !self.resume() {
                return None;
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str, out: &mut String) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Packets waiting for the next POST at most; past that the server is not reading them.
pub(crate) const MAX_QUEUED_POST_PACKETS: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: &str = r#"0{"sid":"lv_VI97","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

    #[allow(clippy::disallowed_methods)] // a test's clock has to start somewhere
    fn socket(mode: TransportMode) -> (Socket, Instant) {
        let now = Instant::now();
        let cfg = SessionConfig::new("https://unicat.app", "/sync/io")
            .unwrap()
            .transport(mode);
        (Socket::new(SocketConfig::from(&cfg), now), now)
    }

    /// An output in the protocol's shorthand: `GET`, `POST 42[…]`, `ws 3`, `text 2[…]`.
    fn show(output: Output<EngineEvent>) -> String {
        match output {
            Output::Http { request, .. } => {
                let body = String::from_utf8_lossy(request.request.body().as_bytes());
                format!("{} {body}", request.request.method())
                    .trim_end()
                    .to_string()
            }
            Output::OpenWs { .. } => "OpenWs".into(),
            Output::WsSend {
                frame: WsFrame::Text(t),
                ..
            } => format!("ws {t}"),
            Output::CloseWs { .. } => "CloseWs".into(),
            Output::CancelHttp { .. } => "CancelHttp".into(),
            Output::Event(EngineEvent::Text(t)) => format!("text {t}"),
            Output::Event(EngineEvent::Closed { reason }) => format!("closed: {reason}"),
            Output::Event(e) => format!("{e:?}"),
            other => format!("{other:?}"),
        }
    }

    /// Everything the socket has to say, in order.
    fn drain(socket: &mut Socket) -> Vec<String> {
        std::iter::from_fn(|| socket.poll_output())
            .map(show)
            .collect()
    }

    fn ws_text(socket: &mut Socket, now: Instant, id: WsId, text: &str) {
        let frame = WsFrame::Text(text.into());
        socket.handle_input(now, Input::WsMessage { id, frame });
    }

    /// Answers the request in flight: the handshake or the GET, or the POST.
    fn answer(socket: &mut Socket, now: Instant, post: bool, body: &str) {
        let id = in_flight(socket, post);
        let response = http::Response::new(Body::from(body));
        socket.handle_input(now, Input::HttpResponse { id, response });
    }

    /// A polling socket whose handshake GET was answered with `body`, its outputs not taken.
    fn polling(mode: TransportMode, body: &str) -> (Socket, Instant) {
        let (mut s, t0) = socket(mode);
        s.open(t0);
        let _ = drain(&mut s);
        answer(&mut s, t0, GET, body);
        (s, t0)
    }

    const GET: bool = false;
    const POST: bool = true;

    /// The id of the request in flight: the handshake's, or the link's GET or POST.
    fn in_flight(socket: &Socket, post: bool) -> RequestId {
        match &socket.phase {
            Phase::Opening(Opening::Polling(id)) => *id,
            Phase::Open(Open {
                link: Link::Polling(p),
                ..
            }) => if post { p.post } else { p.get }.unwrap(),
            other => panic!("no request in flight: {other:?}"),
        }
    }

    #[test]
    fn a_post_queue_a_server_will_not_drain_is_a_protocol_violation() {
        let (mut s, _) = polling(TransportMode::Polling, OPEN);
        let _ = drain(&mut s);
        // The first packet goes out in a POST the server never answers; what follows waits.
        for n in 0..MAX_QUEUED_POST_PACKETS + 2 {
            s.send(EnginePacket::Text(format!("42[\"e\",{n}]")));
        }
        let seen = drain(&mut s);
        assert!(
            seen.iter()
                .any(|o| o.starts_with("closed: ") && o.contains("queue")),
            "{seen:?}"
        );
        assert_eq!(s.state(), SocketState::Idle);
    }

    #[test]
    fn a_websocket_opens_with_0_and_2_is_answered_with_3() {
        let (mut s, t0) = socket(TransportMode::WebSocket);
        s.open(t0);
        let Some(Output::OpenWs { id, request }) = s.poll_output() else {
            panic!("no WebSocket asked for")
        };
        assert_eq!(
            request.request.uri(),
            "wss://unicat.app/sync/io/?EIO=4&transport=websocket"
        );
        assert_eq!(s.state(), SocketState::Opening);
        s.handle_input(t0, Input::WsOpened { id });
        ws_text(&mut s, t0, id, OPEN);
        assert_eq!(drain(&mut s), ["Opened(WebSocket)"]);
        assert_eq!(s.state(), SocketState::Open(TransportKind::WebSocket));
        assert_eq!(s.max_payload(), Some(1_000_000));
        // pingInterval + pingTimeout: 45 s without a ping and the link is dead.
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(45)));

        let t1 = t0 + Duration::from_secs(25);
        ws_text(&mut s, t1, id, "2");
        assert_eq!(drain(&mut s), ["ws 3"]);
        assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_secs(45)));

        ws_text(&mut s, t1, id, r#"42["hello"]"#);
        s.send(EnginePacket::Text(r#"2["back"]"#.into()));
        assert_eq!(drain(&mut s), [r#"text 2["hello"]"#, r#"ws 42["back"]"#]);

        ws_text(&mut s, t1, id, "1");
        assert_eq!(drain(&mut s), ["CloseWs", "closed: transport close"]);
        assert_eq!(s.state(), SocketState::Idle);
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn no_open_or_no_ping_in_time_closes_the_link() {
        let (mut s, t0) = socket(TransportMode::WebSocket);
        s.open(t0);
        let _ = drain(&mut s);
        s.handle_timeout(t0 + Duration::from_secs(20));
        assert_eq!(drain(&mut s), ["CloseWs", "closed: connect timeout"]);

        let (mut s, t0) = socket(TransportMode::WebSocket);
        s.open(t0);
        let Some(Output::OpenWs { id, .. }) = s.poll_output() else {
            panic!("no WebSocket asked for")
        };
        ws_text(&mut s, t0, id, OPEN);
        let _ = drain(&mut s);
        s.check_heartbeat(t0 + Duration::from_secs(44));
        assert_eq!(drain(&mut s), Vec::<String>::new());
        s.handle_timeout(t0 + Duration::from_secs(45));
        assert_eq!(drain(&mut s), ["CloseWs", "closed: ping timeout"]);
    }

    #[test]
    fn a_websocket_refused_with_404_falls_back_to_polling() {
        let (mut s, t0) = socket(TransportMode::WebSocket);
        s.open(t0);
        let Some(Output::OpenWs { id, .. }) = s.poll_output() else {
            panic!("no WebSocket asked for")
        };
        let error = TransportError::new(TransportErrorKind::HandshakeRejected { status: 404 }, "");
        s.handle_input(t0, Input::WsFailed { id, error });
        let Some(Output::Http { request, .. }) = s.poll_output() else {
            panic!("no handshake GET")
        };
        assert_eq!(
            request.request.uri(),
            "https://unicat.app/sync/io/?EIO=4&transport=polling&t=1"
        );
        assert_eq!(s.state(), SocketState::Opening);
    }

    #[test]
    fn a_polling_payload_is_read_a_packet_at_a_time_and_a_close_drops_the_rest() {
        let (mut s, _) = polling(
            TransportMode::Polling,
            &format!("{OPEN}\x1e42[\"a\"]\x1e42[\"b\"]"),
        );
        let mut next = || s.poll_output().map(show);
        assert_eq!(next().unwrap(), "Opened(Polling)");
        // The owner has been told before the link's first long-poll goes out.
        assert_eq!(next().unwrap(), "GET");
        assert_eq!(next().unwrap(), r#"text 2["a"]"#);
        // The owner answers `2["a"]` by closing: `2["b"]` is never read.
        s.close();
        assert_eq!(drain(&mut s), ["CancelHttp"]);
        assert_eq!(s.state(), SocketState::Idle);
    }

    #[test]
    fn pings_over_polling_are_answered_by_one_pong_and_posts_carry_16_packets_at_most() {
        let (mut s, t0) = polling(TransportMode::Polling, OPEN);
        assert_eq!(drain(&mut s), ["Opened(Polling)", "GET"]);
        for n in 0..18 {
            s.send(EnginePacket::Text(format!("2[{n}]")));
        }
        assert_eq!(drain(&mut s), ["POST 42[0]"]);
        // Two pings while the POST is out: one pong waits for the next POST.
        answer(&mut s, t0, GET, "2\x1e2");
        assert_eq!(drain(&mut s), ["GET"]);
        answer(&mut s, t0, POST, "ok");
        let second = drain(&mut s);
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].matches('\x1e').count(), 15, "16 packets");
        answer(&mut s, t0, POST, "ok");
        assert_eq!(drain(&mut s), ["POST 42[17]\x1e3"]);
    }

    #[test]
    fn the_upgrade_2probe_answered_with_3probe_pauses_polling_then_5() {
        let (mut s, t0) = polling(TransportMode::PollingThenUpgrade, OPEN);
        let mut outputs = std::iter::from_fn(|| s.poll_output()).collect::<Vec<_>>();
        let Some(Output::OpenWs { id: ws, request }) = outputs.pop() else {
            panic!("no upgrade")
        };
        assert_eq!(
            request.request.uri(),
            "wss://unicat.app/sync/io/?EIO=4&transport=websocket&sid=lv_VI97"
        );
        assert_eq!(outputs.len(), 2, "Opened, then the first GET");
        s.handle_input(t0, Input::WsOpened { id: ws });
        assert_eq!(drain(&mut s), ["ws 2probe"]);
        s.send(EnginePacket::Text(r#"2["x"]"#.into()));
        assert_eq!(drain(&mut s), [r#"POST 42["x"]"#]);
        ws_text(&mut s, t0, ws, "3probe");
        // Paused: nothing goes out until the GET and the POST are home.
        s.send(EnginePacket::Text(r#"2["y"]"#.into()));
        assert_eq!(drain(&mut s), Vec::<String>::new());
        answer(&mut s, t0, POST, "ok");
        assert_eq!(drain(&mut s), Vec::<String>::new());
        answer(&mut s, t0, GET, "6");
        assert_eq!(drain(&mut s), ["ws 5", r#"ws 42["y"]"#, "Upgraded"]);
        assert_eq!(s.state(), SocketState::Open(TransportKind::WebSocket));
    }

    #[test]
    fn a_probe_answered_otherwise_is_abandoned_and_polling_goes_on() {
        let (mut s, t0) = polling(TransportMode::PollingThenUpgrade, OPEN);
        let Some(Output::OpenWs { id: ws, .. }) = std::iter::from_fn(|| s.poll_output()).last()
        else {
            panic!("no upgrade")
        };
        s.handle_input(t0, Input::WsOpened { id: ws });
        let _ = drain(&mut s);
        ws_text(&mut s, t0, ws, "3nope");
        assert_eq!(drain(&mut s), ["CloseWs"]);
        assert_eq!(s.state(), SocketState::Open(TransportKind::Polling));
        // A second open packet is a violation.
        answer(&mut s, t0, GET, OPEN);
        assert_eq!(
            drain(&mut s),
            ["closed: parse error: unexpected second open packet"]
        );
    }
}
