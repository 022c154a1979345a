//! Configuration of the Socket.IO session. Every default is explained where it is set.

use std::time::Duration;

use crate::error::UsageError;

/// Which transport the session opens first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportMode {
    /// Open a WebSocket straight away (`transport=websocket`). This is what Unicat's own
    /// clients do, and the default. If the WebSocket handshake is refused and
    /// [`SessionConfig::fallback_to_polling`] is set, fall back to long-polling.
    WebSocket,
    /// Open with HTTP long-polling, then upgrade to a WebSocket when the server offers it
    /// (probe, pause, upgrade), as socket.io-client does by default.
    PollingThenUpgrade,
    /// HTTP long-polling only, for networks that break WebSockets.
    Polling,
}

/// When and how often to reconnect after the transport is lost.
///
/// The delay before attempt `n` (0-based) is `initial * factor^n`, moved by up to
/// `randomization` of itself in either direction, capped at `max`: socket.io-client's formula
/// and defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct ReconnectPolicy {
    /// Whether to reconnect at all. Default: true.
    pub enabled: bool,
    /// The first delay. Default: 1 s.
    pub initial: Duration,
    /// The largest delay. Default: 5 s.
    pub max: Duration,
    /// How much each delay grows. Default: 2.
    pub factor: f64,
    /// The jitter, between 0 and 1. Default: 0.5. The random draws come from
    /// [`SessionConfig::rng_seed`], so a session is reproducible.
    pub randomization: f64,
    /// Give up after this many failed attempts in a row. Default: `None`, never give up: a
    /// client that keeps a store fresh must come back whenever the server does. The count
    /// starts again once a connection is healthy: for a `Session`
    /// when a namespace's CONNECT is accepted, for the Unicat client when `initsync` is
    /// answered as well. With `enabled: false`, the first loss gives up at once.
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            enabled: true,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(5),
            factor: 2.0,
            randomization: 0.5,
            max_attempts: None,
        }
    }
}

/// Bounds on everything that a peer or the application can make grow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest polling body or WebSocket message accepted from the server. Default: 64 MiB,
    /// room for a Unicat sync list of tens of thousands of items.
    pub max_incoming_payload: usize,
    /// The largest packet the application may emit before the server's own `maxPayload` is
    /// known. Default: 1,000,000 bytes, the Node and Python servers' default.
    pub max_outgoing_payload: usize,
    /// Attachments one binary packet may declare. Default: 10, socket.io-parser's default.
    pub max_attachments: usize,
    /// Total bytes of the attachments of one binary packet. Default: 16 MiB.
    pub max_attachment_bytes: usize,
    /// Acks the application may wait for at once. Default: 1024.
    pub max_pending_acks: usize,
    /// Emits held per namespace while it is not connected. Default: 1024.
    pub max_buffered_emits: usize,
    /// Events held per namespace between the CONNECT and its reply. Default: 1024.
    pub max_held_events: usize,
    /// Server events whose ack the application has not sent yet. Default: 1024; past that the
    /// oldest is forgotten.
    pub max_server_acks: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_incoming_payload: 64 * 1024 * 1024,
            max_outgoing_payload: 1_000_000,
            max_attachments: 10,
            max_attachment_bytes: 16 * 1024 * 1024,
            max_pending_acks: 1024,
            max_buffered_emits: 1024,
            max_held_events: 1024,
            max_server_acks: 1024,
        }
    }
}

/// Where and how a `Session` connects.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SessionConfig {
    /// `http` or `https`; WebSockets use `ws` or `wss` to match.
    pub(crate) secure: bool,
    /// Host and port.
    pub(crate) authority: http::uri::Authority,
    /// The Engine.IO path, always with a leading and a trailing slash.
    pub(crate) path: String,
    /// Which transport to open first. Default: [`TransportMode::WebSocket`].
    pub transport: TransportMode,
    /// After a WebSocket handshake refused with a 4xx status other than 429 (a proxy without
    /// WebSocket support), try long-polling. A 5xx or 429 answer is a passing fault and is
    /// retried through the backoff instead. Default: true.
    pub fallback_to_polling: bool,
    /// Treat a refused namespace CONNECT (CONNECT_ERROR) as one failed attempt and reconnect
    /// through the backoff, as python-socketio does. Default: false, socket.io-client's rule: a
    /// refusal ends the session until `connect` is called
    /// again. The Unicat client always sets it: a connector whose one job is to stay in sync
    /// must come back when a server that refused it for a while accepts it again.
    pub retry_refused: bool,
    /// Deliver event and ack arguments as the JSON text they came as
    /// (`SessionEvent::Message::raw`, `args` left
    /// empty) rather than as trees, for an application that parses them straight into its
    /// own types. Otherwise arguments are parsed into `Value`s, and a frame whose tree would
    /// take more than four times its size (plus 64 KiB) is a protocol violation. Binary
    /// events are always parsed. Default: false; the Unicat client sets it.
    pub raw_args: bool,
    /// The namespaces to connect, in order. Default: `["/"]`.
    pub namespaces: Vec<String>,
    /// Extra query parameters for every Engine.IO request.
    pub query: Vec<(String, String)>,
    /// Reconnection after the transport is lost.
    pub reconnect: ReconnectPolicy,
    /// Size and count bounds.
    pub limits: Limits,
    /// How long the Engine.IO open may take. Default: 20 s, socket.io-client's `timeout`.
    pub open_timeout: Duration,
    /// How long a namespace may take from the Engine.IO open to its CONNECT reply, auth
    /// included. Default: 20 s.
    pub connect_timeout: Duration,
    /// How long a polling-to-WebSocket upgrade may take before it is abandoned. Default: 10 s,
    /// the Node server's `upgradeTimeout`.
    pub upgrade_timeout: Duration,
    /// The seed of the reconnection jitter. The same seed and the same inputs give the same
    /// outputs. Default: 0; runtimes pass a random seed unless told otherwise.
    pub rng_seed: u64,
}

impl SessionConfig {
    /// A configuration for the server at `base_url` (`http://host:port` or `https://host`),
    /// with the Engine.IO endpoint at `path` (Unicat uses `/sync/io`).
    pub fn new(base_url: &str, path: &str) -> Result<Self, UsageError> {
        let uri: http::Uri = base_url
            .parse()
            .map_err(|_| UsageError::InvalidArgument(format!("not a URL: {base_url:?}")))?;
        let secure = match uri.scheme_str() {
            Some("http") | Some("ws") => false,
            Some("https") | Some("wss") => true,
            _ => {
                return Err(UsageError::InvalidArgument(format!(
                    "the URL must start with http:// or https://: {base_url:?}"
                )))
            }
        };
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| UsageError::InvalidArgument(format!("no host in {base_url:?}")))?;
        let trimmed = path.trim_matches('/');
        if trimmed.contains(['?', '#']) {
            return Err(UsageError::InvalidArgument(format!("bad path {path:?}")));
        }
        let path = if trimmed.is_empty() {
            "/".to_string()
        } else {
            format!("/{trimmed}/")
        };
        Ok(SessionConfig {
            secure,
            authority,
            path,
            transport: TransportMode::WebSocket,
            fallback_to_polling: true,
            retry_refused: false,
            raw_args: false,
            namespaces: vec!["/".to_string()],
            query: Vec::new(),
            reconnect: ReconnectPolicy::default(),
            limits: Limits::default(),
            open_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(20),
            upgrade_timeout: Duration::from_secs(10),
            rng_seed: 0,
        })
    }

    /// Sets the first transport.
    pub fn transport(mut self, mode: TransportMode) -> Self {
        self.transport = mode;
        self
    }

    /// Sets the namespaces to connect.
    pub fn namespaces<I, S>(mut self, namespaces: I) -> Result<Self, UsageError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut list = Vec::new();
        for ns in namespaces {
            let ns = ns.into();
            let valid = ns.starts_with('/')
                && !ns.contains(',')
                && !ns.chars().any(char::is_control)
                && !list.contains(&ns);
            if !valid {
                return Err(UsageError::InvalidArgument(format!(
                    "namespace {ns:?} must start with '/', hold no ',' or control characters, and appear once"
                )));
            }
            list.push(ns);
        }
        if list.is_empty() {
            return Err(UsageError::InvalidArgument("no namespace".into()));
        }
        self.namespaces = list;
        Ok(self)
    }

    /// Sets whether a refused CONNECT is retried through the backoff.
    pub fn retry_refused(mut self, retry: bool) -> Self {
        self.retry_refused = retry;
        self
    }

    /// Sets the reconnection policy.
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = policy;
        self
    }

    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the jitter seed.
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = seed;
        self
    }

    /// The Engine.IO path, with leading and trailing slash.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `host:port` of the server.
    pub fn authority(&self) -> &str {
        self.authority.as_str()
    }

    /// Whether the session uses TLS.
    pub fn is_secure(&self) -> bool {
        self.secure
    }
}
