//! Errors, in three tiers.
//!
//! 1. A caller's misuse (emit on a namespace that was never configured, a reserved event name,
//!    a command after `close`) returns [`UsageError`] from the command and changes nothing.
//! 2. A peer's fault (a malformed frame, a dropped socket, an HTTP 5xx) is never an `Err` from
//!    `handle_input`: it becomes a state change and an event saying exactly what happened, with a
//!    [`DisconnectReason`] or a [`ProtocolViolation`].
//! 3. After `close`, everything is inert.

use std::fmt;

/// What went wrong below the protocol: the runtime reports these for HTTP requests and
/// WebSockets it could not complete.
///
/// Two errors are equal when their kind and message are: the source underneath is kept for
/// the application's error chain, and is neither compared nor recorded in replay logs.
#[derive(Clone, Debug)]
pub struct TransportError {
    /// The kind of failure, which decides what the core does about it.
    pub kind: TransportErrorKind,
    /// A human-readable detail from the runtime. Must not contain secrets.
    pub message: String,
    /// The runtime's own error, for [`std::error::Error::source`].
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl PartialEq for TransportError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for TransportError {}

/// The kinds of [`TransportError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No connection could be made (refused, unreachable, DNS).
    Connect,
    /// The peer took longer than the request's timeout.
    Timeout,
    /// TLS failed (certificate, handshake).
    Tls,
    /// The connection broke while the request or response was under way.
    Io,
    /// The response body was longer than the limit the core set.
    TooLarge,
    /// The WebSocket handshake was answered with an HTTP status other than 101.
    HandshakeRejected {
        /// The status the server answered with.
        status: u16,
    },
    /// A local file could not be written (downloads).
    File,
    /// Anything else.
    Other,
}

impl TransportError {
    /// A new error of this kind.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        TransportError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// A new error of this kind, caused by `source`, whose text becomes the message.
    pub fn with_source(
        kind: TransportErrorKind,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        TransportError {
            kind,
            message: source.to_string(),
            source: Some(std::sync::Arc::new(source)),
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            TransportErrorKind::Connect => "connection failed",
            TransportErrorKind::Timeout => "timed out",
            TransportErrorKind::Tls => "TLS failure",
            TransportErrorKind::Io => "connection broken",
            TransportErrorKind::TooLarge => "response too large",
            TransportErrorKind::HandshakeRejected { status } => {
                return write!(
                    f,
                    "WebSocket handshake rejected with HTTP {status}: {}",
                    self.message
                )
            }
            TransportErrorKind::File => "file error",
            TransportErrorKind::Other => "transport error",
        };
        if self.message.is_empty() {
            f.write_str(kind)
        } else {
            write!(f, "{kind}: {}", self.message)
        }
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Why a packet could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame or payload was empty where a packet was expected.
    Empty,
    /// The text was not valid UTF-8.
    NotUtf8,
    /// The packet type character is not one this protocol knows.
    UnknownPacketType(char),
    /// A `b`-prefixed polling entry held invalid base64.
    InvalidBase64,
    /// The Engine.IO open packet is missing a field or has one of the wrong type.
    InvalidHandshake(&'static str),
    /// The binary attachment count is malformed or above the limit.
    InvalidAttachments,
    /// The namespace is malformed.
    InvalidNamespace,
    /// The ack id is malformed or too long.
    InvalidAckId,
    /// The JSON payload does not parse.
    InvalidJson(String),
    /// The JSON parses, but its shape is not allowed for this packet type.
    InvalidPayload(&'static str),
    /// The JSON would take more memory as a tree than four times its size (plus 64 KiB):
    /// it is refused rather than parsed. The Unicat client reads sync lists straight into
    /// items and never meets this for them.
    TooComplex {
        /// The JSON's size in bytes.
        size: usize,
    },
    /// The packet is larger than the configured limit.
    TooLarge {
        /// The size seen.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => f.write_str("empty packet"),
            DecodeError::NotUtf8 => f.write_str("text is not valid UTF-8"),
            DecodeError::UnknownPacketType(c) => write!(f, "unknown packet type {c:?}"),
            DecodeError::InvalidBase64 => f.write_str("invalid base64 in binary packet"),
            DecodeError::InvalidHandshake(what) => write!(f, "invalid open packet: {what}"),
            DecodeError::InvalidAttachments => f.write_str("invalid attachment count"),
            DecodeError::InvalidNamespace => f.write_str("invalid namespace"),
            DecodeError::InvalidAckId => f.write_str("invalid ack id"),
            DecodeError::InvalidJson(e) => write!(f, "invalid JSON: {e}"),
            DecodeError::InvalidPayload(what) => write!(f, "invalid payload: {what}"),
            DecodeError::TooComplex { size } => write!(
                f,
                "JSON of {size} bytes would take more than four times its size as a tree"
            ),
            DecodeError::TooLarge { size, limit } => {
                write!(f, "packet of {size} bytes is over the limit of {limit}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// A peer broke the Engine.IO or Socket.IO protocol. The session drops the transport and
/// reconnects, and reports the violation in [`DisconnectReason::Protocol`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolViolation {
    /// A packet could not be decoded.
    Decode(DecodeError),
    /// The first packet of a new transport was not the Engine.IO open packet.
    ExpectedOpen,
    /// A packet arrived that the protocol does not allow in this state.
    Unexpected(&'static str),
    /// A binary attachment arrived with no binary packet waiting for it, or a text packet arrived
    /// while attachments were still due.
    Attachments(&'static str),
    /// A binary packet's attachments exceeded the configured count or byte limit.
    AttachmentsTooLarge,
    /// More events arrived before the namespace CONNECT reply than the limit allows.
    HeldEventsOverflow,
    /// An HTTP long-poll or POST was answered with an unexpected status.
    HttpStatus(u16),
    /// The CONNECT reply carried no `sid` (a Socket.IO v2 server).
    IncompatibleServer,
}

impl fmt::Display for ProtocolViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolViolation::Decode(e) => write!(f, "decode error: {e}"),
            ProtocolViolation::ExpectedOpen => f.write_str("expected the Engine.IO open packet"),
            ProtocolViolation::Unexpected(what) => write!(f, "unexpected {what}"),
            ProtocolViolation::Attachments(what) => write!(f, "binary attachments: {what}"),
            ProtocolViolation::AttachmentsTooLarge => {
                f.write_str("binary attachments over the configured limit")
            }
            ProtocolViolation::HeldEventsOverflow => {
                f.write_str("too many events before the namespace CONNECT reply")
            }
            ProtocolViolation::HttpStatus(s) => write!(f, "unexpected HTTP status {s}"),
            ProtocolViolation::IncompatibleServer => {
                f.write_str("CONNECT reply without sid: the server does not speak Socket.IO v5")
            }
        }
    }
}

impl std::error::Error for ProtocolViolation {}

/// Why a session or one of its namespaces went down.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The server sent a Socket.IO DISCONNECT. The session does not reconnect on its own.
    ServerDisconnect,
    /// The application closed the session.
    ClientClose,
    /// The server closed the Engine.IO session or the WebSocket. Reconnects.
    TransportClose,
    /// The transport failed. Reconnects.
    TransportError(TransportError),
    /// No ping arrived within `pingInterval + pingTimeout`. Reconnects.
    PingTimeout,
    /// The transport did not open, or a namespace did not answer its CONNECT, in time.
    /// Reconnects.
    ConnectTimeout,
    /// The peer broke the protocol. Reconnects.
    Protocol(ProtocolViolation),
    /// Every namespace refused its CONNECT (CONNECT_ERROR), so the Engine.IO session was
    /// closed. By default this does not reconnect, as socket.io-client does not: new credentials
    /// may be needed first. With `SessionConfig::retry_refused`
    /// (which the Unicat client always sets) it counts as one failed attempt and reconnects
    /// through the backoff, as python-socketio does.
    Refused {
        /// The server's message (the CONNECT_ERROR's `message`, or its bare string).
        message: String,
    },
    /// The machine built on the session dropped the connection to try again (the Unicat
    /// client does so when `initsync` fails or `/auth` fails before the CONNECT). Reconnects.
    Restart(String),
}

impl DisconnectReason {
    /// Whether the session reconnects by itself after this reason under the protocol's
    /// default rules. A [`Refused`](DisconnectReason::Refused) session also reconnects when
    /// `SessionConfig::retry_refused` is set.
    pub fn reconnects(&self) -> bool {
        !matches!(
            self,
            DisconnectReason::ServerDisconnect
                | DisconnectReason::ClientClose
                | DisconnectReason::Refused { .. }
        )
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::ServerDisconnect => f.write_str("io server disconnect"),
            DisconnectReason::ClientClose => f.write_str("io client disconnect"),
            DisconnectReason::TransportClose => f.write_str("transport close"),
            DisconnectReason::TransportError(e) => write!(f, "transport error: {e}"),
            DisconnectReason::PingTimeout => f.write_str("ping timeout"),
            DisconnectReason::ConnectTimeout => f.write_str("connect timeout"),
            DisconnectReason::Protocol(v) => write!(f, "parse error: {v}"),
            DisconnectReason::Refused { message } if message.is_empty() => {
                f.write_str("connection refused")
            }
            DisconnectReason::Refused { message } => write!(f, "connection refused: {message}"),
            DisconnectReason::Restart(why) => write!(f, "restarted: {why}"),
        }
    }
}

/// A call to a `Session` that its caller should not have made, or
/// that could not be carried out as asked. Nothing changed. The Unicat client's commands have
/// their own, [`CommandError`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsageError {
    /// The machine was closed.
    Closed,
    /// The namespace is not one of the session's configured namespaces.
    UnknownNamespace(String),
    /// The event name is reserved by Socket.IO (`connect`, `disconnect`, ...).
    ReservedEvent(String),
    /// The namespace is not waiting for an auth payload.
    NotAwaitingAuth(String),
    /// No server event with this ack id is waiting for an answer.
    UnknownAck(u64),
    /// The emit buffer for a disconnected namespace is full.
    BufferFull {
        /// The configured capacity.
        capacity: usize,
    },
    /// Too many acks are outstanding.
    TooManyPendingAcks {
        /// The configured limit.
        limit: usize,
    },
    /// The packet is larger than the server's `maxPayload` or the configured limit.
    PayloadTooLarge {
        /// The encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Placeholders in the arguments do not match the attachments given.
    InvalidAttachments,
    /// The session is already connecting or connected.
    AlreadyConnected,
    /// An argument was invalid; the text says which and why.
    InvalidArgument(String),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Closed => f.write_str("the client is closed"),
            UsageError::UnknownNamespace(ns) => write!(f, "namespace {ns:?} is not configured"),
            UsageError::ReservedEvent(e) => write!(f, "event name {e:?} is reserved"),
            UsageError::NotAwaitingAuth(ns) => {
                write!(f, "namespace {ns:?} is not waiting for an auth payload")
            }
            UsageError::UnknownAck(id) => write!(f, "no server event waits for ack {id}"),
            UsageError::BufferFull { capacity } => {
                write!(
                    f,
                    "emit buffer full ({capacity} packets) while disconnected"
                )
            }
            UsageError::TooManyPendingAcks { limit } => {
                write!(f, "too many pending acks (limit {limit})")
            }
            UsageError::PayloadTooLarge { size, limit } => {
                write!(f, "packet of {size} bytes is over the limit of {limit}")
            }
            UsageError::InvalidAttachments => {
                f.write_str("placeholders do not match the attachments")
            }
            UsageError::AlreadyConnected => f.write_str("already connecting or connected"),
            UsageError::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
        }
    }
}

impl std::error::Error for UsageError {}

/// A command to the Unicat `Client`, or a configuration of it, that
/// its caller should not have issued or that could not be carried out as asked. Nothing
/// changed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// The client was closed.
    Closed,
    /// The client is already connecting or connected.
    AlreadyConnected,
    /// An argument was invalid (a URL, an endpoint, a path, a body); the text says which and
    /// why.
    InvalidArgument(String),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Closed => f.write_str("the client is closed"),
            CommandError::AlreadyConnected => f.write_str("already connecting or connected"),
            CommandError::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
        }
    }
}

impl std::error::Error for CommandError {}

/// A session's configuration or state refused what a command asked of it, as the command's
/// error: a closed session is a closed client, a session already connecting is a client
/// already connecting, and anything else is an invalid argument, with the session's words.
impl From<UsageError> for CommandError {
    fn from(e: UsageError) -> Self {
        match e {
            UsageError::Closed => CommandError::Closed,
            UsageError::AlreadyConnected => CommandError::AlreadyConnected,
            UsageError::InvalidArgument(what) => CommandError::InvalidArgument(what),
            other => CommandError::InvalidArgument(other.to_string()),
        }
    }
}
