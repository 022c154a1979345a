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
//!
//! It is built in layers, after quinn-proto's connection:
//!
//! * the Engine.IO `Socket` (in `engineio`, crate-private) opens the connection, keeps its link
//!   (WebSocket or polling), upgrades it and watches the heartbeat; it reports what happened as
//!   events and takes the packets to send;
//! * `namespaces` keeps each namespace's state, the events held before its CONNECT reply and
//!   the emits buffered until then, and makes the CONNECT and DISCONNECT packets;
//! * `acks` keeps the ids and deadlines of the emits that wait for an ack, and the acks the
//!   server asked for;
//! * this module decodes Socket.IO packets between them, and reconnects with backoff;
//! * `ids` lends the session the request ids of a machine built on it, so that the two number
//!   from one sequence (a session used alone numbers from its own).

mod acks;
mod ids;
mod namespaces;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use self::acks::{AckError, AckId};
pub use crate::engineio::TransportKind;

use self::acks::{Acks, Removed};
use self::namespaces::{Accepted, Arrival, Buffered, Namespaces};
use crate::backoff;
use crate::config::SessionConfig;
use crate::engineio::{EngineEvent, EnginePacket, Socket, SocketConfig, SocketState};
use crate::error::{DisconnectReason, ProtocolViolation, UsageError};
use crate::io::{Input, Machine, Output};
use crate::rng::Rng;
use crate::socketio::{
    check_placeholders, Assembled, Assembler, PacketType, SioPacket, RESERVED_EVENTS,
};
use crate::timer::{after, earliest, TimerTable};

/// JSON text as received from the peer, validated but not parsed into a tree: parse it
/// straight into your own types. Its `Debug` output shows its length only.
#[derive(Clone)]
pub struct RawJson(
    /// The text, checked to be JSON and kept as the peer sent it.
    pub(crate) Box<serde_json::value::RawValue>,
);

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

/// The session's own deadlines; the socket keeps the link's.
#[derive(Clone, Copy, Debug)]
enum Timer {
    /// Every namespace's CONNECT must be answered by then, counted from the Engine.IO open.
    NsConnect,
    /// The next attempt starts then.
    Reconnect,
}

impl From<Timer> for usize {
    fn from(t: Timer) -> usize {
        t as usize
    }
}

/// Where the session stands beyond what its socket says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The socket's phase is the session's: idle, opening or open.
    Engine,
    /// The socket is idle and the reconnect timer runs.
    Reconnecting,
    /// Closed for good.
    Closed,
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
    /// The configuration as given: handed out by [`config`](Session::config), and the rules of
    /// this layer (limits, reconnect policy, `raw_args`, `retry_refused`).
    cfg: SessionConfig,
    /// The latest `now` seen; an earlier one counts as this.
    now: Instant,
    /// Whether the socket says where the session stands, or a reconnect waits, or it is closed.
    phase: Phase,
    /// The Engine.IO connection: handshake, link, upgrade, heartbeat.
    socket: Socket,
    /// Every configured namespace: its state, held events and buffered emits.
    namespaces: Namespaces,
    /// The emits that wait for the server's ack, and the server's events that wait for ours.
    acks: Acks,
    /// A binary packet whose attachments are still arriving.
    assembler: Assembler,
    /// The namespaces' CONNECT deadline and the reconnect timer.
    timers: TimerTable<Timer, 2>,
    /// The backoff's jitter, seeded from the configuration so a session is reproducible.
    rng: Rng,
    /// Failed attempts since the connection was last healthy: the backoff's exponent.
    attempts: u32,
    /// Whether the machine built on the session says when a connection is healthy (see
    /// [`Session::mark_healthy`]); otherwise an accepted CONNECT is.
    owner_judges_health: bool,
    /// Outputs for the runtime and events for the application, in order.
    out: VecDeque<Output<SessionEvent>>,
}

/// The shape of the session only: packets, events and the Engine.IO `sid` may carry secrets.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("phase", &self.phase)
            .field("socket", &self.socket)
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
        Session {
            rng: Rng::new(cfg.rng_seed),
            socket: Socket::new(SocketConfig::from(&cfg), now),
            namespaces: Namespaces::new(&cfg.namespaces),
            cfg,
            now,
            phase: Phase::Engine,
            acks: Acks::default(),
            assembler: Assembler::default(),
            timers: TimerTable::default(),
            attempts: 0,
            owner_judges_health: false,
            out: VecDeque::new(),
        }
    }

    // ---- getters ---------------------------------------------------------------------------

    /// The lifecycle state.
    pub fn state(&self) -> SessionState {
        match self.phase {
            Phase::Closed => SessionState::Closed,
            Phase::Reconnecting => SessionState::Reconnecting,
            Phase::Engine => match self.socket.state() {
                SocketState::Idle => SessionState::Idle,
                SocketState::Opening => SessionState::Opening,
                SocketState::Open(transport) => SessionState::Open(transport),
            },
        }
    }

    /// Whether [`close`](Session::close) was called. A closed session ignores everything.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Whether the namespace is connected.
    pub fn is_connected(&self, ns: &str) -> bool {
        self.socket.is_open()
            && self
                .namespaces
                .find(ns)
                .is_some_and(|idx| self.namespaces.is_connected(idx))
    }

    /// The namespaces connected, in the order they were added.
    pub fn connected_namespaces(&self) -> impl Iterator<Item = &str> {
        let open = self.socket.is_open();
        self.namespaces.connected().filter(move |_| open)
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
            .find(ns)
            .map_or(0, |idx| self.namespaces.buffered(idx))
    }

    /// A handle on one namespace, to emit and ack without naming it each time. Its methods
    /// are [`emit`](Session::emit) and [`ack`](Session::ack) with `ns` filled in, and fail
    /// the same way (an unknown namespace is [`UsageError::UnknownNamespace`]).
    pub fn namespace<'a>(&'a mut self, ns: &'a str) -> Namespace<'a> {
        Namespace { session: self, ns }
    }

    // ---- commands --------------------------------------------------------------------------

    /// Starts connecting (or, while a reconnect is pending, starts it now). Namespaces refused
    /// earlier are tried again.
    pub fn connect(&mut self, now: Instant) -> Result<(), UsageError> {
        self.advance(now);
        if self.is_closed() {
            return Err(UsageError::Closed);
        }
        if self.socket.is_active() {
            return Err(UsageError::AlreadyConnected);
        }
        self.namespaces.retry_refused();
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
        let idx = self.namespaces.index(ns)?;
        if !self.namespaces.awaits_auth(idx) || !self.socket.is_open() {
            return Err(UsageError::NotAwaitingAuth(ns.to_string()));
        }
        let connect = self.namespaces.connect(idx, auth)?;
        self.send_packet(connect, Vec::new());
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
        let idx = self.namespaces.index(ns)?;
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
        self.socket.check_heartbeat(self.now);
        self.pump();

        let kind = if attachments.is_empty() {
            PacketType::Event
        } else {
            PacketType::BinaryEvent
        };
        let mut packet = SioPacket::new(kind, ns, Some(data));
        packet.attachments = attachments.len();
        packet.id = ack_timeout.map(|_| self.acks.upcoming());
        let connected = self.is_connected(ns);
        self.check_room(idx, &packet, &attachments, ack_timeout.is_some(), connected)?;

        let ack =
            ack_timeout.map(|timeout| self.acks.register(idx, after(self.now, timeout), connected));
        if connected {
            self.send_packet(packet, attachments);
        } else {
            self.namespaces
                .buffer(idx, Buffered::new(packet, attachments));
        }
        Ok(ack)
    }

    /// Whether an emit fits: its size within the server's `maxPayload` (or the configured
    /// limit before it is known), its ack within the pending acks' limit, and, while the
    /// namespace is not connected, itself within the buffer's.
    fn check_room(
        &self,
        idx: usize,
        packet: &SioPacket,
        attachments: &[Vec<u8>],
        wants_ack: bool,
        connected: bool,
    ) -> Result<(), UsageError> {
        let size = packet
            .encode()
            .len()
            .saturating_add(1)
            .saturating_add(attachments.iter().map(Vec::len).sum());
        let limit = self
            .socket
            .max_payload()
            .unwrap_or(self.cfg.limits.max_outgoing_payload);
        if size > limit {
            return Err(UsageError::PayloadTooLarge { size, limit });
        }
        let limits = &self.cfg.limits;
        if wants_ack && self.acks.len() >= limits.max_pending_acks {
            return Err(UsageError::TooManyPendingAcks {
                limit: limits.max_pending_acks,
            });
        }
        if !connected && self.namespaces.buffered(idx) >= limits.max_buffered_emits {
            return Err(UsageError::BufferFull {
                capacity: limits.max_buffered_emits,
            });
        }
        Ok(())
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
        let idx = self.namespaces.index(ns)?;
        if !self.acks.was_asked(idx, id) {
            return Err(UsageError::UnknownAck(id));
        }
        let data = Value::Array(args);
        check_placeholders(Some(&data), attachments.len())
            .map_err(|_| UsageError::InvalidAttachments)?;
        self.acks.answered(idx, id);
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
        for id in self.acks.ids() {
            self.fail_ack(id, AckError::Closed);
        }
        self.namespaces.clear_buffers();
        self.shut_down(DisconnectReason::ClientClose);
        self.timers.clear();
        self.phase = Phase::Closed;
    }

    // ---- crate-internal helpers for machines built on top -------------------------------------

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
        if self.phase != Phase::Engine {
            return;
        }
        if self.socket.is_active() {
            self.leave_politely();
            self.teardown(&reason);
            self.event(SessionEvent::Disconnected { reason });
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

    // ---- the socket ------------------------------------------------------------------------

    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    /// Takes everything the socket has to say, in order: its transport work goes out as it
    /// is, and each of its events is answered as it comes, before the socket reads on.
    fn pump(&mut self) {
        while let Some(output) = self.socket.poll_output() {
            match output.split_event() {
                Ok(work) => self.out.push_back(work),
                Err(event) => self.on_engine_event(event),
            }
        }
    }

    /// Takes the transport work the socket has queued since the last look (a send, a close),
    /// so it goes out before whatever the session queues next.
    fn flush(&mut self) {
        while let Some(work) = self.socket.poll_transmit() {
            self.out.push_back(work);
        }
    }

    fn event(&mut self, e: SessionEvent) {
        self.flush();
        self.out.push_back(Output::Event(e));
    }

    fn send_packet(&mut self, packet: SioPacket, attachments: Vec<Vec<u8>>) {
        self.socket.send(EnginePacket::Text(packet.encode()));
        for bytes in attachments {
            self.socket.send(EnginePacket::Binary(bytes));
        }
        self.flush();
    }

    fn start_open(&mut self) {
        self.phase = Phase::Engine;
        self.socket.open(self.now);
        self.flush();
    }

    // ---- state changes ---------------------------------------------------------------------

    /// Releases the link and resets per-connection state. Namespaces that were connected are
    /// reported down, and emits that went out lose their acks.
    fn teardown(&mut self, reason: &DisconnectReason) {
        self.socket.close();
        self.flush();
        for ns in self.namespaces.on_close() {
            self.event(SessionEvent::NamespaceDisconnected {
                ns,
                reason: reason.clone(),
            });
        }
        for id in self.acks.sent() {
            self.fail_ack(id, AckError::Disconnected);
        }
        self.acks.forget_asked();
        self.assembler.reset();
        self.timers.stop(Timer::NsConnect);
    }

    /// The transport is gone: report it, then reconnect or go idle as the reason says.
    fn lose_transport(&mut self, reason: DisconnectReason) {
        if self.is_closed() {
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
        if !self.socket.is_open() {
            return;
        }
        for packet in self.namespaces.disconnects() {
            self.send_packet(packet, Vec::new());
        }
        self.socket.say_goodbye();
        self.flush();
    }

    /// Leaves politely and goes idle, without reconnecting.
    fn shut_down(&mut self, reason: DisconnectReason) {
        self.leave_politely();
        let was_active = self.socket.is_active();
        self.timers.stop(Timer::Reconnect);
        self.teardown(&reason);
        self.phase = Phase::Engine;
        if was_active {
            self.event(SessionEvent::Disconnected { reason });
        }
    }

    /// socket.io-client closes the Engine.IO session when its last socket is gone; the Python
    /// server leaves it open after a DISCONNECT, so the client must close it itself.
    fn close_if_no_namespace(&mut self, reason: DisconnectReason) {
        if self.namespaces.any_live() {
            return;
        }
        self.socket.say_goodbye();
        self.teardown(&reason);
        let retry = matches!(reason, DisconnectReason::Refused { .. }) && self.cfg.retry_refused;
        self.event(SessionEvent::Disconnected { reason });
        if retry {
            self.schedule_reconnect();
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
            self.phase = Phase::Engine;
            self.event(SessionEvent::ReconnectFailed {
                attempts: self.attempts,
            });
            return;
        }
        let delay = self.next_delay();
        self.attempts = self.attempts.saturating_add(1);
        self.phase = Phase::Reconnecting;
        self.timers.set(Timer::Reconnect, after(self.now, delay));
        self.event(SessionEvent::Reconnecting {
            attempt: self.attempts,
            delay,
        });
    }

    fn fail_ack(&mut self, id: AckId, error: AckError) {
        match self.acks.remove(id) {
            None => return,
            Some(Removed::Buffered { ns }) => self.namespaces.unbuffer(ns, id),
            Some(Removed::Sent) => {}
        }
        self.event(SessionEvent::AckFailed { id, error });
    }

    fn violation(&mut self, v: ProtocolViolation) {
        crate::log!(warn, "socket.io protocol violation: {v}");
        self.lose_transport(DisconnectReason::Protocol(v));
    }

    // ---- inputs ----------------------------------------------------------------------------

    fn on_engine_event(&mut self, event: EngineEvent) {
        match event {
            EngineEvent::Opened { transport } => self.on_opened(transport),
            EngineEvent::Upgraded => self.event(SessionEvent::Upgraded),
            EngineEvent::Text(text) => self.on_sio_text(&text),
            EngineEvent::Binary(bytes) => {
                let max = self.cfg.limits.max_attachment_bytes;
                match self.assembler.push(bytes, max) {
                    Ok(Some(done)) => self.on_sio_packet(done),
                    Ok(None) => {}
                    Err(v) => self.violation(v),
                }
            }
            EngineEvent::Closed { reason } => self.lose_transport(reason),
        }
    }

    fn on_opened(&mut self, transport: TransportKind) {
        self.timers
            .set(Timer::NsConnect, after(self.now, self.cfg.connect_timeout));
        // The backoff is not reset here: a server that opens and then refuses or fails every
        // namespace must still be retried ever more slowly.
        self.event(SessionEvent::Opened { transport });
        for ns in self.namespaces.on_open() {
            self.event(SessionEvent::AuthRequested { ns });
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
        let Some(idx) = self.namespaces.find(&packet.nsp) else {
            crate::log!(
                debug,
                "packet for unknown namespace {:?} ignored",
                packet.nsp
            );
            return;
        };
        match packet.kind {
            PacketType::Connect => match self.namespaces.on_connect_reply(idx, &packet) {
                Ok(Some(accepted)) => self.on_ns_connected(accepted),
                Ok(None) => {}
                Err(v) => self.violation(v),
            },
            PacketType::ConnectError => self.on_connect_error(idx, packet),
            PacketType::Disconnect => self.on_server_disconnect(idx, packet.nsp),
            PacketType::Event | PacketType::BinaryEvent => self.on_event(idx, packet, attachments),
            PacketType::Ack | PacketType::BinaryAck => self.on_ack(idx, packet, attachments),
        }
    }

    /// The namespace's CONNECT was accepted: the events held until then are delivered and the
    /// emits buffered until then sent, in order.
    fn on_ns_connected(&mut self, accepted: Accepted) {
        if !self.owner_judges_health {
            self.attempts = 0;
        }
        let Accepted {
            ns,
            sid,
            held,
            emits,
        } = accepted;
        self.event(SessionEvent::Connected { ns, sid });
        for e in held {
            self.event(e);
        }
        for emit in emits {
            if let Some(id) = emit.ack() {
                self.acks.mark_sent(id);
            }
            let (packet, attachments) = emit.into_parts();
            self.send_packet(packet, attachments);
        }
        if !self.namespaces.any_pending() {
            self.timers.stop(Timer::NsConnect);
        }
    }

    fn on_connect_error(&mut self, idx: usize, packet: SioPacket) {
        let retry = self.cfg.retry_refused;
        let refusal = match self.namespaces.on_connect_error(idx, &packet, retry) {
            Ok(Some(refusal)) => refusal,
            Ok(None) => return,
            Err(v) => return self.violation(v),
        };
        self.event(SessionEvent::ConnectError {
            ns: packet.nsp,
            message: refusal.message.clone(),
            data: refusal.data,
        });
        self.close_if_no_namespace(DisconnectReason::Refused {
            message: refusal.message,
        });
    }

    fn on_server_disconnect(&mut self, idx: usize, ns: String) {
        let Some(was_connected) = self.namespaces.on_server_disconnect(idx) else {
            return;
        };
        self.acks.forget_asked_on(idx);
        if was_connected {
            self.event(SessionEvent::NamespaceDisconnected {
                ns,
                reason: DisconnectReason::ServerDisconnect,
            });
        }
        self.close_if_no_namespace(DisconnectReason::ServerDisconnect);
    }

    /// `2/ns,id["event",…]`: delivered on a connected namespace, held until the CONNECT reply
    /// on a connecting one.
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
        let limits = &self.cfg.limits;
        let (max_held, max_asked) = (limits.max_held_events, limits.max_server_acks);
        let deliver = match self.namespaces.on_event(idx, message, max_held) {
            Ok(Arrival::Deliver(message)) => Some(message),
            Ok(Arrival::Held) => None,
            Ok(Arrival::Ignored) => {
                crate::log!(debug, "event for a namespace that is down ignored");
                return;
            }
            Err(v) => return self.violation(v),
        };
        if let Some(id) = id {
            self.acks.remember_asked(idx, id, max_asked);
        }
        if let Some(message) = deliver {
            self.event(message);
        }
    }

    /// `3/ns,id[…]`: the server's answer to one of our emits, if we sent it on this namespace.
    fn on_ack(&mut self, idx: usize, packet: SioPacket, attachments: Vec<Vec<u8>>) {
        let Some(id) = packet.id.map(AckId) else {
            return;
        };
        if !self.acks.answer(id, idx) {
            crate::log!(debug, "late or unknown ack {} ignored", id.0);
            return;
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
}

impl Machine for Session {
    type Event = SessionEvent;

    fn handle_input(&mut self, now: Instant, input: Input) {
        self.advance(now);
        if self.is_closed() {
            return;
        }
        self.socket.handle_input(self.now, input);
        self.pump();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        if self.is_closed() {
            return;
        }
        let now = self.now;
        self.socket.handle_timeout(now);
        self.pump();
        if self.timers.expired(Timer::NsConnect, now)
            && self.socket.is_open()
            && self.namespaces.any_pending()
        {
            self.lose_transport(DisconnectReason::ConnectTimeout);
        }
        if self.timers.expired(Timer::Reconnect, now) && self.phase == Phase::Reconnecting {
            self.start_open();
        }
        while let Some(id) = self.acks.pop_expired(now) {
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
        let link = earliest(self.socket.poll_timeout(), self.timers.next());
        earliest(link, self.acks.next_deadline())
    }
}

/// One namespace of a [`Session`], from [`Session::namespace`]: emits and acks there without
/// naming it each time.
///
/// ```
/// # use std::time::Instant;
/// # use unicat_core::config::SessionConfig;
/// # use unicat_core::session::Session;
/// let now = Instant::now();
/// let cfg = SessionConfig::new("https://unicat.app", "/sync/io").unwrap();
/// let mut session = Session::new(cfg, now);
/// // Not connected yet: the emit waits in the namespace's buffer.
/// session.namespace("/").emit(now, "hello", vec![], vec![]).unwrap();
/// assert_eq!(session.buffered_emits("/"), 1);
/// ```
#[derive(Debug)]
pub struct Namespace<'a> {
    /// The session that does the work.
    session: &'a mut Session,
    /// The namespace's name, passed on to every call.
    ns: &'a str,
}

impl Namespace<'_> {
    /// The namespace's name.
    pub fn name(&self) -> &str {
        self.ns
    }

    /// Whether it is connected: [`Session::is_connected`].
    pub fn is_connected(&self) -> bool {
        self.session.is_connected(self.ns)
    }

    /// Emits an event without asking for an ack: [`Session::emit`].
    pub fn emit(
        &mut self,
        now: Instant,
        event: &str,
        args: Vec<Value>,
        attachments: Vec<Vec<u8>>,
    ) -> Result<(), UsageError> {
        self.session
            .emit(now, self.ns, event, args, attachments, None)
            .map(drop)
    }

    /// Emits an event and asks for an ack within `timeout`: [`Session::emit`]. The id to wait
    /// on comes back.
    pub fn emit_with_ack(
        &mut self,
        now: Instant,
        event: &str,
        args: Vec<Value>,
        attachments: Vec<Vec<u8>>,
        timeout: Duration,
    ) -> Result<AckId, UsageError> {
        // The id the emit gets, should it not say (it always does when asked for an ack).
        let upcoming = AckId(self.session.acks.upcoming());
        self.session
            .emit(now, self.ns, event, args, attachments, Some(timeout))
            .map(|id| id.unwrap_or(upcoming))
    }

    /// Acknowledges a server event on this namespace: [`Session::ack`].
    pub fn ack(
        &mut self,
        now: Instant,
        id: u64,
        args: Vec<Value>,
        attachments: Vec<Vec<u8>>,
    ) -> Result<(), UsageError> {
        self.session.ack(now, self.ns, id, args, attachments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TransportMode;
    use crate::io::{Body, WsFrame, WsId};
    use serde_json::json;

    const OPEN: &str =
        r#"0{"sid":"lv_VI97","upgrades":[],"pingInterval":25000,"pingTimeout":20000}"#;

    /// A session that has just asked for its transport.
    #[allow(clippy::disallowed_methods)] // a test's clock has to start somewhere
    fn connecting(mode: TransportMode) -> (Session, Instant) {
        let cfg = SessionConfig::new("https://unicat.app", "/sync/io")
            .unwrap()
            .transport(mode);
        let now = Instant::now();
        let mut session = Session::new(cfg, now);
        session.connect(now).unwrap();
        (session, now)
    }

    /// Frames sent and events, in order: `ws 40`, `POST 40`, `Connected`, `Message done`.
    fn drain(s: &mut Session) -> Vec<String> {
        std::iter::from_fn(|| s.poll_output())
            .filter_map(|o| match o {
                Output::WsSend {
                    frame: WsFrame::Text(t),
                    ..
                } => Some(format!("ws {t}")),
                Output::Http { request, .. } if request.request.method() == http::Method::POST => {
                    let body = request.request.body().as_bytes();
                    Some(format!("POST {}", String::from_utf8_lossy(body)))
                }
                Output::Event(SessionEvent::Message { event, .. }) => {
                    Some(format!("Message {event}"))
                }
                Output::Event(e) => Some(format!("{e:?}").split([' ', '(', '{']).next()?.into()),
                _ => None,
            })
            .collect()
    }

    fn ws(s: &mut Session, now: Instant, text: &str) {
        let frame = WsFrame::Text(text.into());
        s.handle_input(now, Input::WsMessage { id: WsId(0), frame });
    }

    #[test]
    fn a_namespace_handle_emits_and_acks_as_the_session_does() {
        let (mut s, t0) = connecting(TransportMode::WebSocket);
        ws(&mut s, t0, OPEN);
        let _ = drain(&mut s);
        s.authenticate(t0, "/", None).unwrap();
        ws(&mut s, t0, r#"40{"sid":"x"}"#);
        assert_eq!(drain(&mut s), ["ws 40", "Connected"]);

        let mut root = s.namespace("/");
        assert_eq!(root.name(), "/");
        assert!(root.is_connected());
        let id = root
            .emit_with_ack(
                t0,
                "initsync",
                vec![json!(0)],
                vec![],
                Duration::from_secs(5),
            )
            .unwrap();
        assert_eq!(id, AckId(0));
        root.emit(t0, "plain", vec![], vec![]).unwrap();
        assert_eq!(
            root.ack(t0, 9, vec![], vec![]),
            Err(UsageError::UnknownAck(9))
        );
        assert_eq!(
            drain(&mut s),
            [r#"ws 420["initsync",0]"#, r#"ws 42["plain"]"#]
        );

        // `430[]` answers the emit; `427["ask"]` asks for ours, `437[]`.
        ws(&mut s, t0, "430[]");
        ws(&mut s, t0, r#"427["ask"]"#);
        s.namespace("/").ack(t0, 7, vec![], vec![]).unwrap();
        assert_eq!(drain(&mut s), ["AckReceived", "Message ask", "ws 437[]"]);
        assert_eq!(
            s.namespace("/nope").emit(t0, "x", vec![], vec![]),
            Err(UsageError::UnknownNamespace("/nope".into()))
        );
    }

    #[test]
    fn a_refusal_in_the_middle_of_a_payload_drops_the_rest_of_it() {
        let (mut s, t0) = connecting(TransportMode::Polling);
        let Some(Output::Http { id, .. }) = s.poll_output() else {
            panic!("no handshake GET")
        };
        let response = http::Response::new(Body::from(OPEN));
        s.handle_input(t0, Input::HttpResponse { id, response });
        let get = std::iter::from_fn(|| s.poll_output())
            .find_map(|o| match o {
                Output::Http { id, .. } => Some(id),
                _ => None,
            })
            .unwrap();
        s.authenticate(t0, "/", None).unwrap();
        assert_eq!(drain(&mut s), ["POST 40"]);
        // The CONNECT is refused: the Engine.IO session closes at once (its `1` waits behind
        // the CONNECT's POST and goes with the link), and the event after the refusal in the
        // same payload is never read.
        let response = http::Response::new(Body::from("44\"no\"\x1e42[\"after\"]"));
        s.handle_input(t0, Input::HttpResponse { id: get, response });
        assert_eq!(drain(&mut s), ["ConnectError", "Disconnected"]);
        assert_eq!(s.state(), SessionState::Idle);
    }
}
