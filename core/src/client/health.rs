//! What the application can check at any moment: the client's [`Health`], why it last
//! reconnected ([`Cause`]), why it stopped ([`StopReason`]), and its queue lengths ([`Stats`]).
//!
//! # The rule
//!
//! Live sync never stops on its own. Every failure of the connection (a lost or silent
//! transport, a refused CONNECT whatever its message, a timeout, an `/auth` that failed, an
//! `initsync` that failed) ends in a reconnect scheduled through the session's backoff, and
//! the health says so. Only the causes in [`StopReason`] stop it, and each comes with an
//! [`Event::Stopped`](super::Event::Stopped).

use std::fmt;
use std::time::Instant;

use crate::api::{ApiError, CallError};
use crate::error::DisconnectReason;

/// How live sync is doing, from [`Client::health`](super::Client::health).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Health {
    /// [`connect`](super::Client::connect) was not called yet, or live sync is off: the store
    /// changes only through calls.
    Idle,
    /// The first connection is under way: `/auth` and the load, then the socket.
    Connecting,
    /// The socket is connected; `initsync` or fetches of changes it reported are still out.
    CatchingUp,
    /// The socket is connected and every change it reported is in the store.
    Connected,
    /// The connection failed and the client is trying again, through the backoff.
    Reconnecting {
        /// When the first failure of this streak happened.
        since: Instant,
        /// Failed attempts since the connection was last healthy.
        attempts: u32,
        /// Why the last attempt failed.
        cause: Cause,
    },
    /// Live sync stopped and will not come back by itself. Calls still work, and
    /// [`connect`](super::Client::connect) starts again (unless the client was closed).
    Stopped {
        /// Why.
        reason: StopReason,
    },
}

impl Health {
    /// Whether the socket is connected and caught up.
    pub fn is_connected(&self) -> bool {
        matches!(self, Health::Connected)
    }

    /// Whether live sync stopped for good.
    pub fn is_stopped(&self) -> bool {
        matches!(self, Health::Stopped { .. })
    }
}

/// Why a connection attempt failed, or why a working connection was dropped.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Cause {
    /// The socket went down or never came up: a lost transport, a ping timeout, a timeout, a
    /// protocol violation.
    Socket(DisconnectReason),
    /// The sync server refused the CONNECT with this message.
    Refused {
        /// The refusal's message.
        message: String,
    },
    /// `/auth` failed with an error that may heal (5xx, 429, a timeout, no connection).
    Auth(CallError),
    /// `initsync` failed.
    Initsync(InitsyncFailure),
    /// More sync items waited (for the `initsync` answer, or for a load from scratch) than
    /// [`max_held_sync_items`](super::ClientConfig::max_held_sync_items): they were dropped, and
    /// the client starts again from the cursors it has applied.
    Overflow {
        /// The limit.
        limit: usize,
    },
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Socket(reason) => write!(f, "socket: {reason}"),
            Cause::Refused { message } => write!(f, "the sync server refused: {message:?}"),
            Cause::Auth(e) => write!(f, "/auth failed: {e}"),
            Cause::Initsync(e) => write!(f, "initsync: {e}"),
            Cause::Overflow { limit } => write!(f, "more than {limit} sync items held"),
        }
    }
}

/// How an `initsync` failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitsyncFailure {
    /// No ack within [`initsync_timeout`](super::ClientConfig::initsync_timeout).
    TimedOut,
    /// The ack carried no list (the Python clients read this as an auth problem).
    NoList,
    /// The server's `maxPayload` is too small for the `initsync` packet.
    TooLarge {
        /// The packet's size.
        size: usize,
        /// The server's limit.
        limit: usize,
    },
    /// The emit was refused for another reason; the text says which.
    NotSent(String),
}

impl fmt::Display for InitsyncFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitsyncFailure::TimedOut => f.write_str("no answer in time"),
            InitsyncFailure::NoList => f.write_str("answered without a list"),
            InitsyncFailure::TooLarge { size, limit } => write!(
                f,
                "the packet of {size} bytes is over the server's maxPayload of {limit}"
            ),
            InitsyncFailure::NotSent(why) => write!(f, "not sent: {why}"),
        }
    }
}

/// Why live sync stopped. These are the only ways it stops.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum StopReason {
    /// [`close`](super::Client::close) was called.
    Closed,
    /// The server sent a Socket.IO DISCONNECT: the protocol says not to reconnect.
    ServerDisconnect,
    /// `/auth` refused the API key (HTTP 403 in Unicat's JSON envelope).
    KeyRejected(ApiError),
    /// The sync server refused the JWT and no API key is kept to get a new one (see
    /// [`keep_api_key`](super::ClientConfig::keep_api_key)).
    JwtRejected {
        /// The refusal's message.
        message: String,
    },
    /// The reconnect policy's attempt limit (set by the application) was reached, or
    /// reconnecting is disabled.
    ReconnectFailed {
        /// The attempts made.
        attempts: u32,
    },
    /// [`connect`](super::Client::connect) failed (the server could not be reached, or
    /// answered with an error) and [`ClientConfig::first_connect`](super::ClientConfig) says
    /// to fail fast.
    ConnectFailed(CallError),
    /// The server's `maxPayload` stayed too small for `initsync` attempt after attempt.
    PayloadLimit {
        /// The `initsync` packet's size.
        size: usize,
        /// The server's limit.
        limit: usize,
    },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Closed => f.write_str("closed"),
            StopReason::ServerDisconnect => f.write_str("the server disconnected the client"),
            StopReason::KeyRejected(e) => write!(f, "the API key was rejected: {e}"),
            StopReason::JwtRejected { message } => write!(
                f,
                "the sync server refused the JWT ({message:?}) and no API key is kept"
            ),
            StopReason::ReconnectFailed { attempts } => {
                write!(f, "gave up reconnecting after {attempts} attempts")
            }
            StopReason::ConnectFailed(e) => write!(f, "connect failed: {e}"),
            StopReason::PayloadLimit { size, limit } => write!(
                f,
                "initsync ({size} bytes) never fitted the server's maxPayload of {limit}"
            ),
        }
    }
}

/// Queue lengths, for operators and tests watching for growth, from
/// [`Client::stats`](super::Client::stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Sync items held back: those that came while `initsync` was answered, and those waiting
    /// for a load from scratch to land.
    pub held_sync_items: usize,
    /// Keys waiting to be fetched.
    pub queued_fetches: usize,
    /// Fetch requests out (sent, waiting for a retry, or waiting for a JWT).
    pub fetches_in_flight: usize,
    /// Every request the client is making: sent, waiting for a retry, or for a JWT.
    pub pending_calls: usize,
    /// Emits waiting for the socket to connect.
    pub buffered_emits: usize,
    /// Emits waiting for their ack.
    pub pending_acks: usize,
    /// Objects in the store.
    pub store_objects: usize,
}

/// The words that make a refusal an auth problem, lowercase.
const AUTH_WORDS: [&str; 6] = [
    "auth",
    "jwt",
    "token",
    "unauthori",
    "permission",
    "forbidden",
];

/// Whether a refusal says the JWT is bad: its message or data names auth, case-insensitively.
pub(crate) fn names_auth(message: &str, data: Option<&serde_json::Value>) -> bool {
    let data = data.map(|d| d.to_string()).unwrap_or_default();
    [message, data.as_str()].iter().any(|text| {
        let text = text.to_lowercase();
        AUTH_WORDS.iter().any(|w| text.contains(w))
    })
}

/// Whether an `/auth` failure is the API refusing the key (403 in its JSON envelope), which
/// no retry heals. A 403 page from a proxy is not: it comes without the envelope.
pub(crate) fn key_rejected(error: &CallError) -> Option<&ApiError> {
    match error {
        CallError::Api(e) if e.code == 403 => Some(e),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{key_rejected, names_auth, ApiError, CallError};

    #[test]
    fn refusals_that_name_auth() {
        for (message, data, auth) in [
            ("Permission denied: JWT unknown or expired", None, true),
            ("Unauthorized", None, true),
            ("invalid TOKEN", None, true),
            ("Forbidden", None, true),
            ("", Some(json!({"why": "auth failed"})), true),
            ("Service unavailable", None, false),
            ("", None, false),
            ("", Some(json!({"retry_in": 5})), false),
        ] {
            assert_eq!(
                names_auth(message, data.as_ref()),
                auth,
                "{message} {data:?}"
            );
        }
    }

    #[test]
    fn only_the_envelope_403_rejects_the_key() {
        let api = |status, code| {
            CallError::Api(ApiError {
                status,
                code,
                message: "Unknown user".into(),
                info: serde_json::Value::Null,
            })
        };
        assert!(key_rejected(&api(403, 403)).is_some());
        assert!(key_rejected(&api(503, 503)).is_none());
        let proxy = CallError::InvalidResponse {
            status: 403,
            detail: "not the API's JSON envelope".into(),
            excerpt: "<html>Forbidden</html>".into(),
        };
        assert!(key_rejected(&proxy).is_none());
    }
}
