//! The Socket.IO client session: one Engine.IO connection and its namespaces, as a pure state
//! machine.
//!
//! ```text
//!            connect()                                    transport lost, timeout,
//!   Idle ───────────────▶ Opening ──open packet──▶ Open ──refused (retry_refused)──▶ Reconnecting
//!    ▲                       │  ▲                   │  ▲                                  │
//!    │ 41 / refused /        │  └── WS refused:     │  └── probe, pause, 5 ───────────────┤ timer
//!    │ disconnect() /        │      polling         │      (upgrade)                      │
//!    │ attempts used up      │                      │                                     │
//!    └───────────────────────┴──────────────────────┘◀───────────────────────────────────┘
//!                                close() from anywhere: Closed (inert)
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::backoff;
use crate::config::{SessionConfig, TransportMode};
use crate::engineio::{self, EnginePacket, Handshake, MAX_PACKETS_PER_POST};
use crate::error::{DecodeError, DisconnectReason, ProtocolViolation, TransportError, UsageError};
use crate::io::{
    Body, BodyTarget, HttpRequest, Input, Machine, Output, RequestId, WsFrame, WsId, WsRequest,
};
use crate::rng::Rng;
use crate::socketio::{
    check_placeholders, Assembled, Assembler, PacketType, SioPacket, RESERVED_EVENTS,
};
use crate::timer::{after, earliest, TimerTable};

/// Identifies an emit that waits for an ack. Ids are sequential for the life of the session
/// and never reused, so a late ack can never be mistaken for another.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct AckId(pub u64);

/// Why an ack will never come.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AckError {
    /// The ack timeout passed.
    TimedOut,
    /// The packet was sent, then the transport was lost before the ack came.
    Disconnected,
    /// The session was closed.
    Closed,
}

/// JSON text as received from the peer, validated but not parsed into a tree: parse it
/// straight into your own types. Its `Debug` output shows its length only.
#[derive(Clone)]
pub struct RawJson(pub(crate) Box<serde_json::value::RawValue>);

impl RawJson {
    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The raw value itself.
    pub fn into_inner(self) -> Box<serde_json::value::RawValue> {
        self.0
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl std::fmt::Debug for RawJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawJson({} bytes)", self.get().len())
    }
}

/// Which transport carries the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

/// The lifecycle state of a [`Session`], for display and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Not connected and not trying to.
    Idle,
    /// Opening a transport.
    Opening,
    /// The Engine.IO session is open on this transport.
    Open(TransportKind),
    /// Waiting to try again.
    Reconnecting,
    /// Closed for good.
    Closed,
}

/// Events of a [`Session`], for the application.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The Engine.IO session opened.
    Opened {
        /// The transport it opened on.
        transport: TransportKind,
    },
    /// The session moved from polling to a WebSocket.
    Upgraded,
    /// A namespace needs its auth payload for CONNECT: answer with
    /// [`Session::authenticate`]. Asked at every connect and reconnect, so a token can be
    /// fresh each time.
    AuthRequested {
        /// The namespace.
        ns: String,
    },
    /// A namespace is connected.
    Connected {
        /// The namespace.
        ns: String,
        /// The Socket.IO socket id (public, unlike the Engine.IO sid).
        sid: String,
    },
    /// The server refused a namespace (CONNECT_ERROR). It is not retried until
    /// [`Session::connect`] is called again, unless
    /// [`SessionConfig::retry_refused`] is set: then the refusal counts as a failed attempt
    /// and the session reconnects through the backoff.
    ConnectError {
        /// The namespace.
        ns: String,
        /// The message, from an object's `message` or a bare string.
        message: String,
        /// The object's `data`, if any.
        data: Option<Value>,
    },
    /// An event from the server.
    Message {
        /// The namespace.
        ns: String,
        /// The event name.
        event: String,
        /// The arguments. Binary arguments are `{"_placeholder": true, "num": k}` objects.
        /// Empty when [`SessionConfig::raw_args`] is set: then `raw` holds them.
        args: Vec<Value>,
        /// With [`SessionConfig::raw_args`] (and no binary attachments), the packet's JSON as
        /// received: the array of the event name and its arguments.
        raw: Option<RawJson>,
        /// The binary attachments the placeholders refer to.
        attachments: Vec<Vec<u8>>,
        /// If set, the server waits for an ack: answer with [`Session::ack`].
        ack: Option<u64>,
    },
    /// The server acknowledged an emit.
    AckReceived {
        /// The emit.
        id: AckId,
        /// The ack's arguments; empty when [`SessionConfig::raw_args`] is set.
        args: Vec<Value>,
        /// With [`SessionConfig::raw_args`] (and no binary attachments), the JSON array of the
        /// ack's arguments as received.
        raw: Option<RawJson>,
        /// Their binary attachments.
        attachments: Vec<Vec<u8>>,
    },
    /// An ack will never come.
    AckFailed {
        /// The emit.
        id: AckId,
        /// Why.
        error: AckError,
    },
    /// A namespace that was connected went down.
    NamespaceDisconnected {
        /// The namespace.
        ns: String,
        /// Why.
        reason: DisconnectReason,
    },
    /// The transport went down, or never came up.
    Disconnected {
        /// Why. [`DisconnectReason::reconnects`] says whether a reconnect follows.
        reason: DisconnectReason,
    },
    /// A reconnect is scheduled.
    Reconnecting {
        /// 1 for the first attempt after a loss.
        attempt: u32,
        /// How long until it starts.
        delay: Duration,
    },
    /// The reconnect policy's attempts are used up (or reconnecting is disabled); the session
    /// is idle.
    ReconnectFailed {
        /// The attempts made.
        attempts: u32,
    },
}

#[derive(Clone, Copy, Debug)]
enum Timer {
    Open,
    Heartbeat,
    Upgrade,
    Reconnect,
    NsConnect,
}

impl From<Timer> for usize {
    fn from(t: Timer) -> usize {
        t as usize
    }
}

#[derive(Debug)]
enum State {
    Idle,
    Opening(Opening),
    Open(Box<Open>),
    Reconnecting,
    Closed,
}

#[derive(Debug, Clone, Copy)]
enum Opening {
    Ws(WsId),
    Polling(RequestId),
}

#[derive(Debug)]
struct Open {
    hs: Handshake,
    link: Link,
    upgrade: Option<Upgrade>,
}

#[derive(Debug)]
enum Link {
    Ws(WsId),
    Polling(Polling),
}

#[derive(Debug, Default)]
struct Polling {
    get: Option<RequestId>,
    post: Option<RequestId>,
    queue: VecDeque<EnginePacket>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upgrade {
    Opening(WsId),
    Probing(WsId),
    Pausing(WsId),
}

impl Upgrade {
    fn ws(self) -> WsId {
        match self {
            Upgrade::Opening(id) | Upgrade::Probing(id) | Upgrade::Pausing(id) => id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum NsState {
    Down,
    AwaitingAuth,
    Connecting,
    Connected,
    Refused,
}

struct Buffered {
    packet: SioPacket,
    attachments: Vec<Vec<u8>>,
}

struct Namespace {
    name: String,
    state: NsState,
    held: VecDeque<SessionEvent>,
    buffer: VecDeque<Buffered>,
}

/// Held events and buffered emits are the server's and the application's data (an
/// `authorization` event carries a JWT): counted, never shown.
impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .field("state", &self.state)
            .field("held", &self.held.len())
            .field("buffered", &self.buffer.len())
            .finish()
    }
}

impl Namespace {
    fn is_pending(&self) -> bool {
        matches!(self.state, NsState::AwaitingAuth | NsState::Connecting)
    }
}

#[derive(Debug)]
struct PendingAck {
    ns: usize,
    deadline: Option<Instant>,
    sent: bool,
}

/// A Socket.IO v5 client session over Engine.IO v4, with no I/O of its own.
///
/// # The contract
///
/// * **Inputs**: [`handle_input`](Machine::handle_input) takes transport facts (HTTP responses,
///   WebSocket messages, failures) and [`handle_timeout`](Machine::handle_timeout) takes the
///   passing of time. Neither returns an error: a peer's fault becomes an event.
/// * **Commands**: [`connect`](Session::connect), [`authenticate`](Session::authenticate),
///   [`emit`](Session::emit), [`ack`](Session::ack), [`disconnect`](Session::disconnect),
///   [`close`](Session::close). Each takes `now` and returns a [`UsageError`] on misuse, with
///   nothing changed.
/// * **Outputs**: after any `&mut` call, drain [`poll_output`](Machine::poll_output) to `None`
///   and perform each output in order; then arm one timer for
///   [`poll_timeout`](Machine::poll_timeout).
/// * **Time** is the caller's `Instant`. A `now` earlier than one already seen counts as the
///   later one.
///
/// # Behaviour
///
/// * The server pings and the session answers every ping at once; it never pings. When no ping
///   arrives within `pingInterval + pingTimeout` the transport is dead (checked by timer and on
///   every emit) and the session reconnects.
/// * Every namespace sends CONNECT with an auth payload asked for afresh
///   ([`SessionEvent::AuthRequested`]) at each connect and reconnect. Events that arrive before
///   the CONNECT reply are held and released in order after it; emits wait in a bounded
///   per-namespace buffer until then.
/// * A Socket.IO DISCONNECT from the server ends the session without reconnecting, and so
///   does a CONNECT_ERROR on every namespace unless [`SessionConfig::retry_refused`] is set. A
///   lost transport, a ping timeout, a parse error or a connect timeout reconnect with
///   exponential backoff and seeded jitter. The backoff starts again from its first delay only
///   once a namespace's CONNECT is accepted, never on a mere Engine.IO open: a server that
///   opens and then refuses is retried ever more slowly.
pub struct Session {
    cfg: SessionConfig,
    now: Instant,
    state: State,
    namespaces: Vec<Namespace>,
    acks: BTreeMap<AckId, PendingAck>,
    ack_deadlines: BTreeSet<(Instant, AckId)>,
    server_acks: VecDeque<(usize, u64)>,
    assembler: Assembler,
    timers: TimerTable<Timer, 5>,
    rng: Rng,
    /// Failed attempts since the connection was last healthy: the backoff's exponent.
    attempts: u32,
    /// Whether the machine built on the session says when a connection is healthy (see
    /// [`Session::mark_healthy`]); otherwise an accepted CONNECT is.
    owner_judges_health: bool,
    next_id: u64,
    next_ack: u64,
    cache_buster: u64,
    force_polling: bool,
    epoch: u64,
    out: VecDeque<Output<SessionEvent>>,
}

/// The shape of the session only: packets, events and the Engine.IO `sid` may carry secrets.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.state)
            .field("namespaces", &self.namespaces)
            .field("pending_acks", &self.acks.len())
            .field("attempts", &self.attempts)
            .field("outputs", &self.out.len())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A new, idle session. Call [`connect`](Session::connect) to start.
    pub fn new(cfg: SessionConfig, now: Instant) -> Self {
        let namespaces = cfg
            .namespaces
            .iter()
            .map(|name| Namespace {
                name: name.clone(),
                state: NsState::Down,
                held: VecDeque::new(),
                buffer: VecDeque::new(),
            })
            .collect();
        Session {
            rng: Rng::new(cfg.rng_seed),
            cfg,
            now,
            state: State::Idle,
            namespaces,
            acks: BTreeMap::new(),
            ack_deadlines: BTreeSet::new(),
            server_acks: VecDeque::new(),
            assembler: Assembler::default(),
            timers: TimerTable::default(),
            attempts: 0,
            owner_judges_health: false,
            next_id: 0,
            next_ack: 0,
            cache_buster: 0,
            force_polling: false,
            epoch: 0,
            out: VecDeque::new(),
        }
    }

    // ---- getters ---------------------------------------------------------------------------

    /// The lifecycle state.
    pub fn state(&self) -> SessionState {
        match &self.state {
            State::Idle => SessionState::Idle,
            State::Opening(_) => SessionState::Opening,
            State::Open(open) => SessionState::Open(match open.link {
                Link::Ws(_) => TransportKind::WebSocket,
                Link::Polling(_) => TransportKind::Polling,
            }),
            State::Reconnecting => SessionState::Reconnecting,
            State::Closed => SessionState::Closed,
        }
    }

    /// Whether [`close`](Session::close) was called. A closed session ignores everything.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Whether the namespace is connected.
    pub fn is_connected(&self, ns: &str) -> bool {
        matches!(self.state, State::Open(_))
            && self
                .namespaces
                .iter()
                .any(|n| n.name == ns && n.state == NsState::Connected)
    }

    /// The namespaces connected, in the order they were added.
    pub fn connected_namespaces(&self) -> impl Iterator<Item = &str> {
        let open = matches!(self.state, State::Open(_));
        self.namespaces
            .iter()
            .filter(move |n| open && n.state == NsState::Connected)
            .map(|n| n.name.as_str())
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// Failed connection attempts since the connection was last healthy (a namespace's
    /// CONNECT accepted). Reconnect delays grow with it.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// How many emits wait for an ack.
    pub fn pending_acks(&self) -> usize {
        self.acks.len()
    }

    /// How many emits wait in the namespace's buffer for a connection.
    pub fn buffered_emits(&self, ns: &str) -> usize {
        self.namespaces
            .iter()
            .find(|n| n.name == ns)
            .map_or(0, |n| n.buffer.len())
    }

    // ---- commands --------------------------------------------------------------------------

    /// Starts connecting (or, while a reconnect is pending, starts it now). Namespaces refused
    /// earlier are tried again.
    pub fn connect(&mut self, now: Instant) -> Result<(), UsageError> {
        self.advance(now);
        match self.state {
            State::Closed => return Err(UsageError::Closed),
            State::Opening(_) | State::Open(_) => return Err(UsageError::AlreadyConnected),
            State::Idle | State::Reconnecting => {}
        }
        for ns in &mut self.namespaces {
            if ns.state == NsState::Refused {
                ns.state = NsState::Down;
            }
        }
        self.timers.stop(Timer::Reconnect);
        self.attempts = 0;
        self.start_open();
        Ok(())
    }

    /// Gives a namespace its auth payload, after [`SessionEvent::AuthRequested`], and sends
    /// its CONNECT.
    pub fn authenticate(
        &mut self,
        now: Instant,
        ns: &str,
        auth: Option<Value>,
    ) -> Result<(), UsageError> {
        self.advance(now);
        if self.is_closed() {
            return Err(UsageError::Closed);
        }
        let idx = self.ns_index(ns)?;
        let awaiting = self
            .namespaces
            .get(idx)
            .is_some_and(|n| n.state == NsState::AwaitingAuth);
        if !awaiting || !matches!(self.state, State::Open(_)) {
            return Err(UsageError::NotAwaitingAuth(ns.to_string()));
        }
        let data = match auth {
            Some(Value::Null) | None => None,
            Some(v) => Some(v),
        };
        if data.as_ref().is_some_and(|d| !d.is_object()) {
            return Err(UsageError::InvalidArgument(
                "the auth payload must be a JSON object".into(),
            ));
        }
        if let Some(n) = self.namespaces.get_mut(idx) {
            n.state = NsState::Connecting;
        }
        self.send_packet(SioPacket::new(PacketType::Connect, ns, data), Vec::new());
        Ok(())
    }

    /// Emits an event. With `ack_timeout`, the server is asked to acknowledge it and the id to
    /// wait on is returned; the ack arrives as [`SessionEvent::AckReceived`] or fails as
    /// [`SessionEvent::AckFailed`].
    ///
    /// While the namespace is not connected, the emit waits in a bounded buffer and is sent in
    /// order after the next CONNECT reply. Binary arguments go in `attachments`, referred to
    /// from `args` by `{"_placeholder": true, "num": k}` objects.
    pub fn emit(
        &mut self,
        now: Instant,
        ns: &str,
        event: &str,
        args: Vec<Value>,
        attachments: Vec<Vec<u8>>,
        ack_timeout: Option<Duration>,
    ) -> Result<Option<AckId>, UsageError> {
        self.advance(now);
        if self.is_closed() {
            return Err(UsageError::Closed);
        }
        let idx = self.ns_index(ns)?;
        if RESERVED_EVENTS.contains(&event) {
            return Err(UsageError::ReservedEvent(event.to_string()));
        }
        let mut items = Vec::with_capacity(args.len().saturating_add(1));
        items.push(Value::String(event.to_string()));
        items.extend(args);
        let data = Value::Array(items);
        check_placeholders(Some(&data), attachments.len())
            .map_err(|_| UsageError::InvalidAttachments)?;
        // The transport may have died while nobody looked (a suspended laptop): find out now,
        // so the emit is buffered for the reconnect instead of written into a dead socket.
        self.check_heartbeat();

        let kind = if attachments.is_empty() {
            PacketType::Event
        } else {
            PacketType::BinaryEvent
        };
        let mut packet = SioPacket::new(kind, ns, Some(data));
        packet.attachments = attachments.len();
        packet.id = ack_timeout.map(|_| self.next_ack);
        let size = packet
            .encode()
            .len()
            .saturating_add(1)
            .saturating_add(attachments.iter().map(Vec::len).sum());
        let limit = match &self.state {
            State::Open(open) => open.hs.max_payload,
            _ => self.cfg.limits.max_outgoing_payload,
        };
        if size > limit {
            return Err(UsageError::PayloadTooLarge { size, limit });
        }
        if ack_timeout.is_some() && self.acks.len() >= self.cfg.limits.max_pending_acks {
            return Err(UsageError::TooManyPendingAcks {
                limit: self.cfg.limits.max_pending_acks,
            });
        }
        let connected = self.is_connected(ns);
        let buffered = self.namespaces.get(idx).map_or(0, |n| n.buffer.len());
        if !connected && buffered >= self.cfg.limits.max_buffered_emits {
            return Err(UsageError::BufferFull {
                capacity: self.cfg.limits.max_buffered_emits,
            });
        }

        let ack = ack_timeout.map(|timeout| {
            let id = AckId(self.next_ack);
            self.next_ack = self.next_ack.saturating_add(1);
            let deadline = after(self.now, timeout);
            if let Some(d) = deadline {
                self.ack_deadlines.insert((d, id));
            }
            self.acks.insert(
                id,
                PendingAck {
                    ns: idx,
                    deadline,
                    sent: connected,
                },
            );
            id
        });
        if connected {
            self.send_packet(packet, attachments);
        } else if let Some(n) = self.namespaces.get_mut(idx) {
            n.buffer.push_back(Buffered {
                packet,
                attachments,
            });
        }
        Ok(ack)
    }

    /// Acknowledges a server event that asked for it ([`SessionEvent::Message`] with `ack`).
    pub fn ack(
        &mut self,
        now: Instant,
        ns: &str,
        id: u64,
        args: Vec<Value>,
        attachments: Vec<Vec<u8>>,
    ) -> Result<(), UsageError> {
        self.advance(now);
        if self.is_closed() {
            return Err(UsageError::Closed);
        }
        let idx = self.ns_index(ns)?;
        let pos = self
            .server_acks
            .iter()
            .position(|&(n, i)| n == idx && i == id)
            .ok_or(UsageError::UnknownAck(id))?;
        let data = Value::Array(args);
        check_placeholders(Some(&data), attachments.len())
            .map_err(|_| UsageError::InvalidAttachments)?;
        self.server_acks.remove(pos);
        let kind = if attachments.is_empty() {
            PacketType::Ack
        } else {
            PacketType::BinaryAck
        };
        let mut packet = SioPacket::new(kind, ns, Some(data));
        packet.id = Some(id);
        packet.attachments = attachments.len();
        self.send_packet(packet, attachments);
        Ok(())
    }

    /// Leaves every namespace and closes the transport, without reconnecting. Emits still
    /// buffered stay buffered for the next [`connect`](Session::connect).
    pub fn disconnect(&mut self, now: Instant) -> Result<(), UsageError> {
        self.advance(now);
        if self.is_closed() {
            return Err(UsageError::Closed);
        }
        self.shut_down(DisconnectReason::ClientClose);
        Ok(())
    }

    /// Disconnects and makes the session inert: later commands return
    /// [`UsageError::Closed`] and inputs are ignored. Every pending ack fails.
    pub fn close(&mut self, now: Instant) {
        self.advance(now);
        if self.is_closed() {
            return;
        }
        let ids: Vec<AckId> = self.acks.keys().copied().collect();
        for id in ids {
            self.fail_ack(id, AckError::Closed);
        }
        for ns in &mut self.namespaces {
            ns.buffer.clear();
        }
        self.shut_down(DisconnectReason::ClientClose);
        self.timers.clear();
        self.state = State::Closed;
    }

    // ---- crate-internal helpers for machines built on top -------------------------------------

    /// A fresh request id, unique across the session and whatever is built on it.
    pub(crate) fn alloc_request_id(&mut self) -> RequestId {
        RequestId(self.alloc())
    }

    /// From now on an accepted CONNECT no longer resets the backoff: the owner decides when
    /// a connection is healthy and says so with [`mark_healthy`](Session::mark_healthy).
    pub(crate) fn owner_judges_health(&mut self) {
        self.owner_judges_health = true;
    }

    /// The connection is healthy: the next loss starts the backoff from its first delay.
    pub(crate) fn mark_healthy(&mut self) {
        self.attempts = 0;
    }

    /// Gives up on the current connection (or attempt) for `reason` and reconnects through
    /// the backoff, without resetting it: how the owner reports a failure the session cannot
    /// see, such as an `initsync` that was never answered. Connected namespaces are left
    /// politely first. While a reconnect is already scheduled, nothing changes.
    pub(crate) fn restart(&mut self, now: Instant, reason: DisconnectReason) {
        self.advance(now);
        match self.state {
            State::Closed | State::Reconnecting => return,
            State::Opening(_) | State::Open(_) => {
                self.leave_politely();
                self.teardown(&reason);
                self.event(SessionEvent::Disconnected { reason });
            }
            State::Idle => {}
        }
        self.schedule_reconnect();
    }

    /// One backoff step taken while the session is idle, for an owner that retries something
    /// of its own before the session opens (the Unicat client's first `/auth`): the delay to
    /// wait, or `None` once the policy's attempts are used up.
    pub(crate) fn backoff_step(&mut self) -> Option<Duration> {
        if !self.may_retry() {
            return None;
        }
        let delay = self.next_delay();
        self.attempts = self.attempts.saturating_add(1);
        Some(delay)
    }

    // ---- state changes ---------------------------------------------------------------------

    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    fn alloc(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        id
    }

    fn ns_index(&self, ns: &str) -> Result<usize, UsageError> {
        self.namespaces
            .iter()
            .position(|n| n.name == ns)
            .ok_or_else(|| UsageError::UnknownNamespace(ns.to_string()))
    }

    fn event(&mut self, e: SessionEvent) {
        self.out.push_back(Output::Event(e));
    }

    fn use_polling(&self) -> bool {
        self.force_polling || self.cfg.transport != TransportMode::WebSocket
    }

    fn start_open(&mut self) {
        self.timers
            .set(Timer::Open, after(self.now, self.cfg.open_timeout));
        if self.use_polling() {
            let id = self.alloc_request_id();
            let request = self.polling_request(http::Method::GET, None, Vec::new());
            self.out.push_back(Output::Http { id, request });
            self.state = State::Opening(Opening::Polling(id));
        } else {
            let id = WsId(self.alloc());
            let request = self.ws_request(None);
            self.out.push_back(Output::OpenWs { id, request });
            self.state = State::Opening(Opening::Ws(id));
        }
    }

    fn on_open(&mut self, hs: Handshake, link: Link) {
        let transport = match link {
            Link::Ws(_) => TransportKind::WebSocket,
            Link::Polling(_) => TransportKind::Polling,
        };
        let upgrade_to = matches!(link, Link::Polling(_))
            && self.cfg.transport == TransportMode::PollingThenUpgrade
            && !self.force_polling
            && hs.offers_websocket();
        let sid = hs.sid.clone();
        self.timers.stop(Timer::Open);
        self.timers
            .set(Timer::Heartbeat, after(self.now, hs.heartbeat()));
        self.timers
            .set(Timer::NsConnect, after(self.now, self.cfg.connect_timeout));
        // The backoff is not reset here: a server that opens and then refuses or fails every
        // namespace must still be retried ever more slowly.
        self.state = State::Open(Box::new(Open {
            hs,
            link,
            upgrade: None,
        }));
        crate::log!(debug, "engine.io open on {transport:?}");
        self.event(SessionEvent::Opened { transport });
        let mut asks = Vec::new();
        for ns in &mut self.namespaces {
            if ns.state != NsState::Refused {
                ns.state = NsState::AwaitingAuth;
                asks.push(ns.name.clone());
            }
        }
        for ns in asks {
            self.event(SessionEvent::AuthRequested { ns });
        }
        if transport == TransportKind::Polling {
            self.issue_get();
        }
        if upgrade_to {
            let id = WsId(self.alloc());
            let request = self.ws_request(Some(&sid));
            self.out.push_back(Output::OpenWs { id, request });
            if let State::Open(open) = &mut self.state {
                open.upgrade = Some(Upgrade::Opening(id));
            }
            self.timers
                .set(Timer::Upgrade, after(self.now, self.cfg.upgrade_timeout));
        }
    }

    /// Releases every transport resource and resets per-connection state. Namespaces that were
    /// connected are reported down.
    fn teardown(&mut self, reason: &DisconnectReason) {
        self.epoch = self.epoch.saturating_add(1);
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Opening(Opening::Ws(id)) => self.out.push_back(Output::CloseWs { id }),
            State::Opening(Opening::Polling(id)) => self.out.push_back(Output::CancelHttp { id }),
            State::Open(open) => {
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
            other => self.state = other,
        }
        let mut down = Vec::new();
        for ns in &mut self.namespaces {
            if ns.state == NsState::Connected {
                down.push(ns.name.clone());
            }
            if ns.state != NsState::Refused {
                ns.state = NsState::Down;
            }
            ns.held.clear();
        }
        for ns in down {
            self.event(SessionEvent::NamespaceDisconnected {
                ns,
                reason: reason.clone(),
            });
        }
        let sent: Vec<AckId> = self
            .acks
            .iter()
            .filter(|(_, a)| a.sent)
            .map(|(id, _)| *id)
            .collect();
        for id in sent {
            self.fail_ack(id, AckError::Disconnected);
        }
        self.server_acks.clear();
        self.assembler.reset();
        for t in [
            Timer::Open,
            Timer::Heartbeat,
            Timer::Upgrade,
            Timer::NsConnect,
        ] {
            self.timers.stop(t);
        }
    }

    /// The transport is gone: report it, then reconnect or go idle as the reason says.
    fn lose_transport(&mut self, reason: DisconnectReason) {
        if matches!(self.state, State::Closed) {
            return;
        }
        crate::log!(info, "socket.io transport lost: {reason}");
        self.teardown(&reason);
        let reconnect = reason.reconnects();
        self.event(SessionEvent::Disconnected { reason });
        if reconnect {
            self.schedule_reconnect();
        }
    }

    /// DISCONNECT for each connected namespace, then the Engine.IO close.
    fn leave_politely(&mut self) {
        if let State::Open(_) = self.state {
            let connected: Vec<String> = self
                .namespaces
                .iter()
                .filter(|n| n.state == NsState::Connected)
                .map(|n| n.name.clone())
                .collect();
            for ns in connected {
                self.send_packet(
                    SioPacket::new(PacketType::Disconnect, &ns, None),
                    Vec::new(),
                );
            }
            self.send_engine(EnginePacket::Close);
            self.flush_post_now();
        }
    }

    /// Leaves politely and goes idle, without reconnecting.
    fn shut_down(&mut self, reason: DisconnectReason) {
        self.leave_politely();
        let was_active = matches!(self.state, State::Opening(_) | State::Open(_));
        self.timers.stop(Timer::Reconnect);
        self.teardown(&reason);
        self.state = State::Idle;
        if was_active {
            self.event(SessionEvent::Disconnected { reason });
        }
    }

    fn may_retry(&self) -> bool {
        let p = &self.cfg.reconnect;
        p.enabled && p.max_attempts.is_none_or(|max| self.attempts < max)
    }

    fn next_delay(&mut self) -> Duration {
        let p = &self.cfg.reconnect;
        backoff::delay(
            p.initial,
            p.max,
            p.factor,
            p.randomization,
            self.attempts,
            &mut self.rng,
        )
    }

    fn schedule_reconnect(&mut self) {
        if !self.may_retry() {
            self.state = State::Idle;
            self.event(SessionEvent::ReconnectFailed {
                attempts: self.attempts,
            });
            return;
        }
        let delay = self.next_delay();
        self.attempts = self.attempts.saturating_add(1);
        self.state = State::Reconnecting;
        self.timers.set(Timer::Reconnect, after(self.now, delay));
        self.event(SessionEvent::Reconnecting {
            attempt: self.attempts,
            delay,
        });
    }

    fn fail_ack(&mut self, id: AckId, error: AckError) {
        let Some(ack) = self.acks.remove(&id) else {
            return;
        };
        if let Some(d) = ack.deadline {
            self.ack_deadlines.remove(&(d, id));
        }
        if !ack.sent {
            if let Some(ns) = self.namespaces.get_mut(ack.ns) {
                ns.buffer.retain(|b| b.packet.id != Some(id.0));
            }
        }
        self.event(SessionEvent::AckFailed { id, error });
    }

    fn check_heartbeat(&mut self) {
        if matches!(self.state, State::Open(_)) && self.timers.expired(Timer::Heartbeat, self.now) {
            self.lose_transport(DisconnectReason::PingTimeout);
        }
    }

    fn violation(&mut self, v: ProtocolViolation) {
        crate::log!(warn, "socket.io protocol violation: {v}");
        self.lose_transport(DisconnectReason::Protocol(v));
    }

    // ---- requests --------------------------------------------------------------------------

    fn url(&mut self, ws: bool, sid: Option<&str>) -> String {
        let scheme = match (ws, self.cfg.secure) {
            (false, false) => "http",
            (false, true) => "https",
            (true, false) => "ws",
            (true, true) => "wss",
        };
        let transport = if ws { "websocket" } else { "polling" };
        let mut url = format!(
            "{scheme}://{}{}?EIO=4&transport={transport}",
            self.cfg.authority, self.cfg.path
        );
        if let Some(sid) = sid {
            url.push_str("&sid=");
            percent_encode(sid, &mut url);
        }
        if !ws {
            // A cache buster from a counter, never from the clock, so replays stay exact.
            self.cache_buster = self.cache_buster.saturating_add(1);
            url.push_str(&format!("&t={}", self.cache_buster));
        }
        for (k, v) in &self.cfg.query {
            url.push('&');
            percent_encode(k, &mut url);
            url.push('=');
            percent_encode(v, &mut url);
        }
        url
    }

    fn polling_request(
        &mut self,
        method: http::Method,
        sid: Option<&str>,
        body: Vec<u8>,
    ) -> HttpRequest {
        let url = self.url(false, sid);
        let heartbeat = match &self.state {
            State::Open(open) => open.hs.heartbeat(),
            _ => self.cfg.open_timeout,
        };
        let mut builder = http::Request::builder().method(method.clone()).uri(url);
        if method == http::Method::POST {
            builder = builder.header(http::header::CONTENT_TYPE, "text/plain;charset=UTF-8");
        }
        // The URI is built from validated parts; a builder error would be a bug here, and the
        // fallback keeps the core panic-free anyway.
        let request = builder.body(Body(body)).unwrap_or_default();
        HttpRequest {
            request,
            timeout: heartbeat.saturating_add(Duration::from_secs(5)),
            target: BodyTarget::Memory {
                limit: self.cfg.limits.max_incoming_payload,
            },
        }
    }

    fn ws_request(&mut self, sid: Option<&str>) -> WsRequest {
        let url = self.url(true, sid);
        WsRequest {
            request: http::Request::builder()
                .uri(url)
                .body(())
                .unwrap_or_default(),
            timeout: self.cfg.open_timeout,
        }
    }

    fn issue_get(&mut self) {
        let (sid, needs) = match &self.state {
            State::Open(open) => match &open.link {
                Link::Polling(p) => (
                    open.hs.sid.clone(),
                    p.get.is_none() && !matches!(open.upgrade, Some(Upgrade::Pausing(_))),
                ),
                Link::Ws(_) => return,
            },
            _ => return,
        };
        if !needs {
            return;
        }
        let id = self.alloc_request_id();
        let request = self.polling_request(http::Method::GET, Some(&sid), Vec::new());
        if let State::Open(open) = &mut self.state {
            if let Link::Polling(p) = &mut open.link {
                p.get = Some(id);
            }
        }
        self.out.push_back(Output::Http { id, request });
    }

    /// Sends the next POST batch if none is in flight: at most 16 packets and at most the
    /// server's `maxPayload` bytes, and always at least one packet.
    fn flush_post(&mut self) {
        let State::Open(open) = &mut self.state else {
            return;
        };
        if matches!(open.upgrade, Some(Upgrade::Pausing(_))) {
            return;
        }
        self.flush_post_now();
    }

    fn flush_post_now(&mut self) {
        let State::Open(open) = &mut self.state else {
            return;
        };
        let max_payload = open.hs.max_payload;
        let sid = open.hs.sid.clone();
        let Link::Polling(p) = &mut open.link else {
            return;
        };
        if p.post.is_some() || p.queue.is_empty() {
            return;
        }
        let mut batch = Vec::new();
        let mut size = 0usize;
        while let Some(next) = p.queue.front() {
            let len = next.polling_len().saturating_add(1);
            if !batch.is_empty()
                && (size.saturating_add(len) > max_payload || batch.len() >= MAX_PACKETS_PER_POST)
            {
                break;
            }
            size = size.saturating_add(len);
            if let Some(packet) = p.queue.pop_front() {
                batch.push(packet);
            }
        }
        let body = engineio::encode_payload(&batch).into_bytes();
        let id = self.alloc_request_id();
        let request = self.polling_request(http::Method::POST, Some(&sid), body);
        if let State::Open(open) = &mut self.state {
            if let Link::Polling(p) = &mut open.link {
                p.post = Some(id);
            }
        }
        self.out.push_back(Output::Http { id, request });
    }

    fn send_engine(&mut self, packet: EnginePacket) {
        let State::Open(open) = &mut self.state else {
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
            Link::Polling(p) => {
                p.queue.push_back(packet);
                self.flush_post();
            }
        }
    }

    fn send_packet(&mut self, packet: SioPacket, attachments: Vec<Vec<u8>>) {
        self.send_engine(EnginePacket::Text(packet.encode()));
        for bytes in attachments {
            self.send_engine(EnginePacket::Binary(bytes));
        }
    }

    // ---- upgrade ---------------------------------------------------------------------------

    fn finish_upgrade_if_drained(&mut self) {
        let State::Open(open) = &mut self.state else {
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
        self.out.push_back(Output::WsSend {
            id: ws,
            frame: EnginePacket::Upgrade.encode_ws(),
        });
        for packet in queue {
            self.out.push_back(Output::WsSend {
                id: ws,
                frame: packet.encode_ws(),
            });
        }
        crate::log!(debug, "engine.io upgraded to websocket");
        self.event(SessionEvent::Upgraded);
    }

    fn abandon_upgrade(&mut self) {
        let State::Open(open) = &mut self.state else {
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

    fn on_http(&mut self, id: RequestId, response: Result<http::Response<Body>, TransportError>) {
        enum Role {
            Handshake,
            Get,
            Post,
        }
        let role = match &self.state {
            State::Opening(Opening::Polling(r)) if *r == id => Role::Handshake,
            State::Open(open) => match &open.link {
                Link::Polling(p) if p.get == Some(id) => Role::Get,
                Link::Polling(p) if p.post == Some(id) => Role::Post,
                _ => return,
            },
            _ => return,
        };
        let response = match response {
            Ok(r) => r,
            Err(e) => return self.lose_transport(DisconnectReason::TransportError(e)),
        };
        let status = response.status().as_u16();
        if let State::Open(open) = &mut self.state {
            if let Link::Polling(p) = &mut open.link {
                match role {
                    Role::Get => p.get = None,
                    Role::Post => p.post = None,
                    Role::Handshake => {}
                }
            }
        }
        if status != 200 {
            return self.violation(ProtocolViolation::HttpStatus(status));
        }
        match role {
            Role::Post => {
                // Node answers `ok`, Python `OK`; the body carries nothing else.
                self.flush_post();
                self.finish_upgrade_if_drained();
            }
            Role::Get | Role::Handshake => {
                let body = response.into_body();
                let limit = self.cfg.limits.max_incoming_payload;
                if body.len() > limit {
                    return self.violation(ProtocolViolation::Decode(DecodeError::TooLarge {
                        size: body.len(),
                        limit,
                    }));
                }
                let mut packets = match engineio::payload_entries(body.as_bytes()) {
                    Ok(p) => p,
                    Err(e) => return self.violation(ProtocolViolation::Decode(e)),
                };
                if matches!(role, Role::Handshake) {
                    let hs = match packets.next() {
                        Some(Ok(EnginePacket::Open(json))) => match Handshake::parse(&json) {
                            Ok(hs) => hs,
                            Err(e) => return self.violation(ProtocolViolation::Decode(e)),
                        },
                        _ => return self.violation(ProtocolViolation::ExpectedOpen),
                    };
                    self.on_open(hs, Link::Polling(Polling::default()));
                }
                let epoch = self.epoch;
                for packet in packets {
                    match packet {
                        Ok(packet) => self.on_engine_packet(packet),
                        Err(e) => return self.violation(ProtocolViolation::Decode(e)),
                    }
                    if self.epoch != epoch {
                        return;
                    }
                }
                self.issue_get();
                self.finish_upgrade_if_drained();
            }
        }
    }

    fn on_ws_open(&mut self, id: WsId) {
        if let State::Open(open) = &mut self.state {
            if open.upgrade == Some(Upgrade::Opening(id)) {
                open.upgrade = Some(Upgrade::Probing(id));
                self.out.push_back(Output::WsSend {
                    id,
                    frame: EnginePacket::Ping("probe".into()).encode_ws(),
                });
            }
        }
    }

    fn on_ws_message(&mut self, id: WsId, frame: WsFrame) {
        let limit = self.cfg.limits.max_incoming_payload;
        let too_large = frame.len() > limit;
        match &self.state {
            State::Opening(Opening::Ws(w)) if *w == id => {
                if too_large {
                    return self.violation(ProtocolViolation::Decode(DecodeError::TooLarge {
                        size: frame.len(),
                        limit,
                    }));
                }
                match EnginePacket::decode_ws(frame) {
                    Ok(EnginePacket::Open(json)) => match Handshake::parse(&json) {
                        Ok(hs) => self.on_open(hs, Link::Ws(id)),
                        Err(e) => self.violation(ProtocolViolation::Decode(e)),
                    },
                    Ok(_) => self.violation(ProtocolViolation::ExpectedOpen),
                    Err(e) => self.violation(ProtocolViolation::Decode(e)),
                }
            }
            State::Open(open) => {
                if matches!(open.link, Link::Ws(w) if w == id) {
                    if too_large {
                        return self.violation(ProtocolViolation::Decode(DecodeError::TooLarge {
                            size: frame.len(),
                            limit,
                        }));
                    }
                    match EnginePacket::decode_ws(frame) {
                        Ok(packet) => self.on_engine_packet(packet),
                        Err(e) => self.violation(ProtocolViolation::Decode(e)),
                    }
                } else if open.upgrade == Some(Upgrade::Probing(id)) {
                    let answered = matches!(
                        EnginePacket::decode_ws(frame),
                        Ok(EnginePacket::Pong(ref d)) if d == "probe"
                    );
                    if answered {
                        if let State::Open(open) = &mut self.state {
                            open.upgrade = Some(Upgrade::Pausing(id));
                        }
                        self.finish_upgrade_if_drained();
                    } else {
                        self.abandon_upgrade();
                    }
                }
            }
            _ => {}
        }
    }

    fn on_ws_gone(&mut self, id: WsId, error: Option<TransportError>) {
        match &self.state {
            State::Opening(Opening::Ws(w)) if *w == id => {
                // A 4xx says this endpoint will not speak WebSocket (a proxy without support);
                // a 5xx or 429 says the server is busy or restarting, which the backoff handles.
                let refused = matches!(
                    error,
                    Some(TransportError {
                        kind: crate::error::TransportErrorKind::HandshakeRejected { status },
                        ..
                    }) if (400..500).contains(&status) && status != 429
                );
                if refused && self.cfg.fallback_to_polling {
                    crate::log!(info, "websocket handshake refused, falling back to polling");
                    self.force_polling = true;
                    self.start_open();
                } else {
                    self.lose_transport(match error {
                        Some(e) => DisconnectReason::TransportError(e),
                        None => DisconnectReason::TransportClose,
                    });
                }
            }
            State::Open(open) => {
                if matches!(open.link, Link::Ws(w) if w == id) {
                    self.lose_transport(match error {
                        Some(e) => DisconnectReason::TransportError(e),
                        None => DisconnectReason::TransportClose,
                    });
                } else if open.upgrade.is_some_and(|u| u.ws() == id) {
                    self.abandon_upgrade();
                }
            }
            _ => {}
        }
    }

    fn on_engine_packet(&mut self, packet: EnginePacket) {
        match packet {
            EnginePacket::Ping(_) => {
                let heartbeat = match &self.state {
                    State::Open(open) => open.hs.heartbeat(),
                    _ => return,
                };
                self.timers
                    .set(Timer::Heartbeat, after(self.now, heartbeat));
                // The pong carries no data: echoing it would let a server make the client
                // send back whatever it sends. (Only the client's own upgrade probe expects
                // `probe` back, and that is the server's pong.) Over polling, one pong waiting
                // for its POST answers every ping before it.
                let waiting = matches!(&self.state, State::Open(open)
                    if matches!(&open.link, Link::Polling(p)
                        if p.queue.iter().any(|q| matches!(q, EnginePacket::Pong(_)))));
                if !waiting {
                    self.send_engine(EnginePacket::Pong(String::new()));
                }
            }
            EnginePacket::Close => self.lose_transport(DisconnectReason::TransportClose),
            EnginePacket::Text(text) => self.on_sio_text(&text),
            EnginePacket::Binary(bytes) => {
                let max = self.cfg.limits.max_attachment_bytes;
                match self.assembler.push(bytes, max) {
                    Ok(Some(done)) => self.on_sio_packet(done),
                    Ok(None) => {}
                    Err(v) => self.violation(v),
                }
            }
            EnginePacket::Pong(_) | EnginePacket::Noop => {}
            EnginePacket::Open(_) => {
                self.violation(ProtocolViolation::Unexpected("second open packet"))
            }
            EnginePacket::Upgrade => self.violation(ProtocolViolation::Unexpected(
                "upgrade packet from the server",
            )),
        }
    }

    fn on_sio_text(&mut self, text: &str) {
        let packet = match SioPacket::decode(text, self.cfg.limits.max_attachments) {
            Ok(p) => p,
            Err(e) => return self.violation(ProtocolViolation::Decode(e)),
        };
        if packet.kind.is_binary() {
            match self.assembler.start(packet) {
                Ok(Some(done)) => self.on_sio_packet(done),
                Ok(None) => {}
                Err(v) => self.violation(v),
            }
        } else if self.assembler.is_waiting() {
            self.violation(ProtocolViolation::Attachments(
                "a text packet arrived while attachments were due",
            ));
        } else {
            self.on_sio_packet((packet, Vec::new()));
        }
    }

    /// One whole Socket.IO packet (its attachments collected), to the handler of its kind.
    fn on_sio_packet(&mut self, (packet, attachments): Assembled) {
        let Some(idx) = self.namespaces.iter().position(|n| n.name == packet.nsp) else {
            crate::log!(
                debug,
                "packet for unknown namespace {:?} ignored",
                packet.nsp
            );
            return;
        };
        match packet.kind {
            PacketType::Connect => self.on_connect_reply(idx, packet),
            PacketType::ConnectError => self.on_connect_error(idx, packet),
            PacketType::Disconnect => self.on_server_disconnect(idx, packet.nsp),
            PacketType::Event | PacketType::BinaryEvent => self.on_event(idx, packet, attachments),
            PacketType::Ack | PacketType::BinaryAck => self.on_ack(idx, packet, attachments),
        }
    }

    /// `0/ns,{"sid":…}`: the namespace's CONNECT was accepted.
    fn on_connect_reply(&mut self, idx: usize, packet: SioPacket) {
        if self.namespaces.get(idx).map(|n| &n.state) != Some(&NsState::Connecting) {
            crate::log!(
                debug,
                "unexpected CONNECT reply for {:?} ignored",
                packet.nsp
            );
            return;
        }
        let sid = match packet.value() {
            Some(Ok(v)) => v.get("sid").and_then(Value::as_str).map(str::to_string),
            Some(Err(e)) => return self.violation(ProtocolViolation::Decode(e)),
            None => None,
        };
        match sid {
            Some(sid) => self.on_ns_connected(idx, sid),
            None => self.violation(ProtocolViolation::IncompatibleServer),
        }
    }

    /// `4/ns,{"message":…,"data":…}` (or a bare string, from v4 servers): CONNECT refused.
    fn on_connect_error(&mut self, idx: usize, packet: SioPacket) {
        if !self.namespaces.get(idx).is_some_and(Namespace::is_pending) {
            return;
        }
        let value = match packet.value() {
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => return self.violation(ProtocolViolation::Decode(e)),
            None => None,
        };
        let (message, data) = match value {
            Some(Value::String(s)) => (s, None),
            Some(Value::Object(mut o)) => (
                match o.remove("message") {
                    Some(Value::String(s)) => s,
                    Some(other) => other.to_string(),
                    None => String::new(),
                },
                o.remove("data"),
            ),
            _ => (String::new(), None),
        };
        let retry = self.cfg.retry_refused;
        if let Some(n) = self.namespaces.get_mut(idx) {
            // A refusal to be retried leaves the namespace to the next attempt.
            n.state = if retry {
                NsState::Down
            } else {
                NsState::Refused
            };
            n.held.clear();
        }
        self.event(SessionEvent::ConnectError {
            ns: packet.nsp,
            message: message.clone(),
            data,
        });
        self.close_if_no_namespace(DisconnectReason::Refused { message });
    }

    /// `1/ns,`: the server left the namespace, and by the protocol's rule it stays down.
    fn on_server_disconnect(&mut self, idx: usize, ns: String) {
        let was = self.namespaces.get(idx).map(|n| n.state.clone());
        if !matches!(
            was,
            Some(NsState::Connected | NsState::Connecting | NsState::AwaitingAuth)
        ) {
            return;
        }
        if let Some(n) = self.namespaces.get_mut(idx) {
            n.state = NsState::Down;
            n.held.clear();
        }
        self.server_acks.retain(|&(n, _)| n != idx);
        if was == Some(NsState::Connected) {
            self.event(SessionEvent::NamespaceDisconnected {
                ns,
                reason: DisconnectReason::ServerDisconnect,
            });
        }
        self.close_if_no_namespace(DisconnectReason::ServerDisconnect);
    }

    /// `2/ns,id["event",…]`: delivered on a connected namespace, held until the CONNECT reply
    /// on a connecting one (servers may emit before their reply arrives).
    fn on_event(&mut self, idx: usize, packet: SioPacket, attachments: Vec<Vec<u8>>) {
        let id = packet.id;
        let ns = packet.nsp.clone();
        let raw = self.cfg.raw_args && attachments.is_empty();
        let (event, args, raw) = if raw {
            let Some(event) = packet.event_name() else {
                return;
            };
            (event, Vec::new(), packet.data.map(RawJson))
        } else {
            match packet.into_event() {
                Ok((event, args)) => (event, args, None),
                Err(e) => return self.violation(ProtocolViolation::Decode(e)),
            }
        };
        let message = SessionEvent::Message {
            ns,
            event,
            args,
            raw,
            attachments,
            ack: id,
        };
        match self.namespaces.get(idx).map(|n| &n.state) {
            Some(NsState::Connected) => {
                self.remember_server_ack(idx, id);
                self.event(message);
            }
            Some(NsState::AwaitingAuth | NsState::Connecting) => {
                let held = self.namespaces.get(idx).map_or(0, |n| n.held.len());
                if held >= self.cfg.limits.max_held_events {
                    return self.violation(ProtocolViolation::HeldEventsOverflow);
                }
                self.remember_server_ack(idx, id);
                if let Some(n) = self.namespaces.get_mut(idx) {
                    n.held.push_back(message);
                }
            }
            _ => crate::log!(debug, "event for a namespace that is down ignored"),
        }
    }

    /// `3/ns,id[…]`: the server's answer to one of our emits, if we sent it on this namespace.
    fn on_ack(&mut self, idx: usize, packet: SioPacket, attachments: Vec<Vec<u8>>) {
        let Some(id) = packet.id.map(AckId) else {
            return;
        };
        let matches_ns = self.acks.get(&id).is_some_and(|a| a.ns == idx && a.sent);
        if !matches_ns {
            crate::log!(debug, "late or unknown ack {} ignored", id.0);
            return;
        }
        if let Some(ack) = self.acks.remove(&id) {
            if let Some(d) = ack.deadline {
                self.ack_deadlines.remove(&(d, id));
            }
        }
        let (args, raw) = if self.cfg.raw_args && attachments.is_empty() {
            (Vec::new(), packet.data.map(RawJson))
        } else {
            match packet.value() {
                Some(Ok(Value::Array(a))) => (a, None),
                Some(Err(e)) => return self.violation(ProtocolViolation::Decode(e)),
                _ => (Vec::new(), None),
            }
        };
        self.event(SessionEvent::AckReceived {
            id,
            args,
            raw,
            attachments,
        });
    }

    fn remember_server_ack(&mut self, idx: usize, id: Option<u64>) {
        let Some(id) = id else {
            return;
        };
        if self.server_acks.len() >= self.cfg.limits.max_server_acks {
            self.server_acks.pop_front();
        }
        self.server_acks.push_back((idx, id));
    }

    fn on_ns_connected(&mut self, idx: usize, sid: String) {
        let Some(ns) = self.namespaces.get_mut(idx) else {
            return;
        };
        ns.state = NsState::Connected;
        let name = ns.name.clone();
        if !self.owner_judges_health {
            self.attempts = 0;
        }
        let held: Vec<SessionEvent> = ns.held.drain(..).collect();
        let buffered: Vec<Buffered> = ns.buffer.drain(..).collect();
        crate::log!(debug, "namespace {name:?} connected");
        self.event(SessionEvent::Connected { ns: name, sid });
        for e in held {
            self.event(e);
        }
        for b in buffered {
            if let Some(id) = b.packet.id {
                if let Some(a) = self.acks.get_mut(&AckId(id)) {
                    a.sent = true;
                }
            }
            self.send_packet(b.packet, b.attachments);
        }
        if !self.namespaces.iter().any(Namespace::is_pending) {
            self.timers.stop(Timer::NsConnect);
        }
    }

    /// socket.io-client closes the Engine.IO session when its last socket is gone; the Python
    /// server leaves it open after a DISCONNECT, so the client must close it itself.
    fn close_if_no_namespace(&mut self, reason: DisconnectReason) {
        let any = self
            .namespaces
            .iter()
            .any(|n| n.is_pending() || n.state == NsState::Connected);
        if any {
            return;
        }
        self.send_engine(EnginePacket::Close);
        self.flush_post_now();
        self.teardown(&reason);
        let retry = matches!(reason, DisconnectReason::Refused { .. }) && self.cfg.retry_refused;
        self.event(SessionEvent::Disconnected { reason });
        if retry {
            self.schedule_reconnect();
        }
    }
}

impl Machine for Session {
    type Event = SessionEvent;

    fn handle_input(&mut self, now: Instant, input: Input) {
        self.advance(now);
        if self.is_closed() {
            return;
        }
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
        if self.is_closed() {
            return;
        }
        let now = self.now;
        if self.timers.expired(Timer::Open, now) && matches!(self.state, State::Opening(_)) {
            self.lose_transport(DisconnectReason::ConnectTimeout);
        }
        self.check_heartbeat();
        if self.timers.expired(Timer::Upgrade, now) {
            self.abandon_upgrade();
        }
        if self.timers.expired(Timer::NsConnect, now)
            && matches!(self.state, State::Open(_))
            && self.namespaces.iter().any(Namespace::is_pending)
        {
            self.lose_transport(DisconnectReason::ConnectTimeout);
        }
        if self.timers.expired(Timer::Reconnect, now) && matches!(self.state, State::Reconnecting) {
            self.start_open();
        }
        while let Some(&(at, id)) = self.ack_deadlines.first() {
            if at > now {
                break;
            }
            self.fail_ack(id, AckError::TimedOut);
        }
    }

    fn poll_output(&mut self) -> Option<Output<SessionEvent>> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        earliest(
            self.timers.next(),
            self.ack_deadlines.first().map(|&(at, _)| at),
        )
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
