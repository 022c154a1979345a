//! Recording a client's session as a replay log (feature `record`), and the log format.
//!
//! This is the one description of the format; `unicat-replay` reads it.
//!
//! # The format (version 4)
//!
//! A log is written by a [`Recording`] (in the runtimes: the `record` feature, then
//! `Builder::record(path)`; or `mirror --record FILE`). It is JSON Lines. The first line is
//! a [`Header`], every other one a [`Line`]:
//!
//! ```text
//! {"format":"unicat-replay","version":4,"library":"0.1.0","config":{…}}   header: no secrets
//! {"at_us":1200,"cmd":{"command":"connect","api_key":"REDACTED-API-KEY"}}  an application command
//! {"out":{"kind":"http","id":0,"method":"POST","uri":"…/auth",…}}         what the client did
//! {"at_us":5312,"in":{"kind":"http_response","id":0,"status":200,…}}     what the world answered
//! {"at_us":45000312,"timeout":true}                                       a timer that fired
//! {"state":"9ca066f1a4ab2eea"}                                            the state's digest after
//! ```
//!
//! * `config` is the client's configuration without secrets ([`ConfigRecord`]), its
//!   session limits by name ([`LimitsRecord`]).
//! * `{"at_us": N, "in": {…}}` — an input ([`InputRecord`]) fed `N` µs after the client was
//!   created: HTTP responses and failures, WebSocket opens, messages, closes and failures,
//!   answers to file checks and reads;
//! * `{"at_us": N, "timeout": true}` — a `handle_timeout` call;
//! * `{"at_us": N, "cmd": {…}}` — an application command ([`CommandRecord`]);
//! * `{"out": {…}}` — an output the client produced ([`OutputRecord`]), in the order it came
//!   out: requests, socket operations, and the events the application saw (with call
//!   results);
//! * `{"state": "<16 hex digits>"}` — after an input, timeout or command that changed the
//!   store or its cursors: the store's [digest](crate::store::Store::digest), so a replay
//!   finds the first step where its state parts from the recorded one, even when every
//!   output still matches.
//!
//! ## Versions
//!
//! * 4 names the session limits in the header (`{"max_incoming_payload": …}`); versions 1 to
//!   3 wrote them as a list of eight numbers in [`LimitsRecord`]'s field order, which is
//!   read into names as the header is parsed, so those logs replay as they did.
//! * 3 added the `state` lines; a version 2 log replays strictly, without state checks.
//! * 2 added the cause to `reconnecting` events, the `stopped` event (which replaced
//!   `reconnect_failed`), and two config fields (`fetch_retry_max_ms`, `first_connect`).
//! * A version 1 log still parses, its missing config fields taking their defaults, but its
//!   events differ from what this library emits: it replays leniently only
//!   ([`STRICT_SINCE`]).
//!
//! # Secrets
//!
//! The API key, every JWT and every Engine.IO session id are replaced when a line is written:
//! the key by `REDACTED-API-KEY`, each distinct JWT by `REDACTED-JWT-<n>` and each sid by
//! `REDACTED-SID-<n>` (numbered in the order they appeared, so one token keeps one name
//! through the log). They are found where the protocol puts them — the `connect` command,
//! `api_key` in request bodies, `Authorization` headers, the Socket.IO CONNECT auth and
//! `authorization` events (read with the client's own codec, in any namespace and with any ack
//! id) — and the key and JWT the client holds are learnt after every step. As a safety net,
//! any known secret of eight characters or more is replaced wherever else it appears. A
//! replay feeds the placeholders back in, so a redacted log still replays exactly.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::Secret;
use crate::client::{CallId, Client, ClientConfig, Command, Event, FirstConnect};
use crate::config::{Limits, ReconnectPolicy, TransportMode};
use crate::error::{CommandError, TransportError, TransportErrorKind};
use crate::io::{Body, BodyTarget, FileInfo, Input, Machine, Output, RequestId, WsFrame, WsId};
use crate::socketio::{PacketType, SioPacket};

/// The format name in the header.
pub const FORMAT: &str = "unicat-replay";
/// The format version this library writes, and the newest it reads.
pub const VERSION: u32 = 4;

/// The oldest format version that replays strictly: older logs carry events this library no
/// longer emits.
pub const STRICT_SINCE: u32 = 2;

/// The oldest format version this library reads (leniently only when older than
/// [`VERSION`]).
pub const OLDEST_VERSION: u32 = 1;

/// The placeholder of the API key.
pub const REDACTED_API_KEY: &str = "REDACTED-API-KEY";

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The header line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// The format version.
    pub version: u32,
    /// The version of the library that wrote the log.
    pub library: String,
    /// The client's configuration.
    pub config: ConfigRecord,
}

fn default_fetch_retry_max_ms() -> u64 {
    60_000
}

fn default_first_connect() -> String {
    "fail_fast".into()
}

/// A client configuration as data, without secrets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ConfigRecord {
    pub base_url: String,
    pub project: String,
    pub keep_api_key: bool,
    pub live_sync: bool,
    pub batch_size: usize,
    pub max_concurrent_fetches: usize,
    pub http_timeout_ms: u64,
    pub download_timeout_ms: u64,
    pub retries: u32,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    pub fetch_retry_delay_ms: u64,
    #[serde(default = "default_fetch_retry_max_ms")]
    pub fetch_retry_max_ms: u64,
    #[serde(default = "default_first_connect")]
    pub first_connect: String,
    pub max_response_bytes: usize,
    pub max_download_bytes: u64,
    pub max_upload_bytes: u64,
    pub asset_folder: Option<PathBuf>,
    #[serde(default)]
    pub media_allow_http: bool,
    #[serde(default)]
    pub media_allow_local: bool,
    #[serde(default)]
    pub media_hosts: Vec<String>,
    pub omit_extended_definitions: bool,
    pub initsync_timeout_ms: u64,
    pub job_poll_interval_ms: u64,
    pub max_held_sync_items: usize,
    pub transport: String,
    pub fallback_to_polling: bool,
    pub namespaces: Vec<String>,
    pub query: Vec<(String, String)>,
    pub reconnect_enabled: bool,
    pub reconnect_initial_ms: u64,
    pub reconnect_max_ms: u64,
    pub reconnect_factor: f64,
    pub reconnect_randomization: f64,
    pub reconnect_max_attempts: Option<u32>,
    #[serde(deserialize_with = "limits_named_or_listed")]
    pub limits: LimitsRecord,
    pub open_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub upgrade_timeout_ms: u64,
    pub rng_seed: u64,
}

impl ConfigRecord {
    /// The record of a configuration.
    pub fn new(c: &ClientConfig) -> Self {
        let s = &c.session;
        let l = &s.limits;
        ConfigRecord {
            base_url: c.base_url().to_string(),
            project: c.project().to_string(),
            keep_api_key: c.keep_api_key,
            live_sync: c.live_sync,
            batch_size: c.batch_size,
            max_concurrent_fetches: c.max_concurrent_fetches,
            http_timeout_ms: ms(c.http_timeout),
            download_timeout_ms: ms(c.download_timeout),
            retries: c.retry.retries,
            retry_initial_ms: ms(c.retry.initial),
            retry_max_ms: ms(c.retry.max),
            fetch_retry_delay_ms: ms(c.fetch_retry_delay),
            fetch_retry_max_ms: ms(c.fetch_retry_max),
            first_connect: match c.first_connect {
                FirstConnect::KeepTrying => "keep_trying",
                _ => "fail_fast",
            }
            .to_string(),
            max_response_bytes: c.max_response_bytes,
            max_download_bytes: c.max_download_bytes,
            max_upload_bytes: c.max_upload_bytes,
            asset_folder: c.asset_folder.clone(),
            media_allow_http: c.media_hosts.allow_http,
            media_allow_local: c.media_hosts.allow_local,
            media_hosts: c.media_hosts.hosts.clone(),
            omit_extended_definitions: c.omit_extended_definitions,
            initsync_timeout_ms: ms(c.initsync_timeout),
            job_poll_interval_ms: ms(c.job_poll_interval),
            max_held_sync_items: c.max_held_sync_items,
            transport: match s.transport {
                TransportMode::WebSocket => "websocket",
                TransportMode::PollingThenUpgrade => "polling_then_upgrade",
                TransportMode::Polling => "polling",
            }
            .to_string(),
            fallback_to_polling: s.fallback_to_polling,
            namespaces: s.namespaces.clone(),
            query: s.query.clone(),
            reconnect_enabled: s.reconnect.enabled,
            reconnect_initial_ms: ms(s.reconnect.initial),
            reconnect_max_ms: ms(s.reconnect.max),
            reconnect_factor: s.reconnect.factor,
            reconnect_randomization: s.reconnect.randomization,
            reconnect_max_attempts: s.reconnect.max_attempts,
            limits: LimitsRecord::new(l),
            open_timeout_ms: ms(s.open_timeout),
            connect_timeout_ms: ms(s.connect_timeout),
            upgrade_timeout_ms: ms(s.upgrade_timeout),
            rng_seed: s.rng_seed,
        }
    }

    /// The configuration this record describes.
    pub fn to_config(&self) -> Result<ClientConfig, CommandError> {
        let d = Duration::from_millis;
        let mut c = ClientConfig::new(&self.base_url, &self.project)?;
        c.keep_api_key = self.keep_api_key;
        c.live_sync = self.live_sync;
        c.batch_size = self.batch_size.max(1);
        c.max_concurrent_fetches = self.max_concurrent_fetches;
        c.http_timeout = d(self.http_timeout_ms);
        c.download_timeout = d(self.download_timeout_ms);
        c.retry.retries = self.retries;
        c.retry.initial = d(self.retry_initial_ms);
        c.retry.max = d(self.retry_max_ms);
        c.fetch_retry_delay = d(self.fetch_retry_delay_ms);
        c.fetch_retry_max = d(self.fetch_retry_max_ms);
        c.first_connect = match self.first_connect.as_str() {
            "fail_fast" => FirstConnect::FailFast,
            "keep_trying" => FirstConnect::KeepTrying,
            other => {
                return Err(CommandError::InvalidArgument(format!(
                    "unknown first_connect {other:?}"
                )))
            }
        };
        c.max_response_bytes = self.max_response_bytes;
        c.max_download_bytes = self.max_download_bytes;
        c.max_upload_bytes = self.max_upload_bytes;
        c.asset_folder = self.asset_folder.clone();
        let mut media = crate::api::MediaHosts {
            allow_http: self.media_allow_http,
            allow_local: self.media_allow_local,
            ..Default::default()
        };
        for h in &self.media_hosts {
            media = media.host(h.clone());
        }
        c.media_hosts = media;
        c.omit_extended_definitions = self.omit_extended_definitions;
        c.initsync_timeout = d(self.initsync_timeout_ms);
        c.job_poll_interval = d(self.job_poll_interval_ms);
        c.max_held_sync_items = self.max_held_sync_items;
        let s = &mut c.session;
        s.transport = match self.transport.as_str() {
            "websocket" => TransportMode::WebSocket,
            "polling_then_upgrade" => TransportMode::PollingThenUpgrade,
            "polling" => TransportMode::Polling,
            other => {
                return Err(CommandError::InvalidArgument(format!(
                    "unknown transport {other:?}"
                )))
            }
        };
        s.fallback_to_polling = self.fallback_to_polling;
        s.query = self.query.clone();
        s.reconnect = ReconnectPolicy {
            enabled: self.reconnect_enabled,
            initial: d(self.reconnect_initial_ms),
            max: d(self.reconnect_max_ms),
            factor: self.reconnect_factor,
            randomization: self.reconnect_randomization,
            max_attempts: self.reconnect_max_attempts,
        };
        s.limits = self.limits.limits();
        s.open_timeout = d(self.open_timeout_ms);
        s.connect_timeout = d(self.connect_timeout_ms);
        s.upgrade_timeout = d(self.upgrade_timeout_ms);
        s.rng_seed = self.rng_seed;
        let namespaces = self.namespaces.clone();
        Ok(ClientConfig {
            session: c.session.clone().namespaces(namespaces)?,
            ..c
        })
    }
}

/// The session's [`Limits`], by name: a log keeps its meaning whatever order the fields of
/// `Limits` come in. A limit the log does not name takes its default.
///
/// Logs before version 4 wrote the limits as a list of eight numbers, in the order of the
/// fields below; they are read into names as the header is parsed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct LimitsRecord {
    pub max_incoming_payload: usize,
    pub max_outgoing_payload: usize,
    pub max_attachments: usize,
    pub max_attachment_bytes: usize,
    pub max_pending_acks: usize,
    pub max_buffered_emits: usize,
    pub max_held_events: usize,
    pub max_server_acks: usize,
}

impl LimitsRecord {
    fn new(l: &Limits) -> Self {
        LimitsRecord {
            max_incoming_payload: l.max_incoming_payload,
            max_outgoing_payload: l.max_outgoing_payload,
            max_attachments: l.max_attachments,
            max_attachment_bytes: l.max_attachment_bytes,
            max_pending_acks: l.max_pending_acks,
            max_buffered_emits: l.max_buffered_emits,
            max_held_events: l.max_held_events,
            max_server_acks: l.max_server_acks,
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            max_incoming_payload: self.max_incoming_payload,
            max_outgoing_payload: self.max_outgoing_payload,
            max_attachments: self.max_attachments,
            max_attachment_bytes: self.max_attachment_bytes,
            max_pending_acks: self.max_pending_acks,
            max_buffered_emits: self.max_buffered_emits,
            max_held_events: self.max_held_events,
            max_server_acks: self.max_server_acks,
        }
    }
}

impl Default for LimitsRecord {
    fn default() -> Self {
        LimitsRecord::new(&Limits::default())
    }
}

/// Reads the limits by name (version 4 on), or as the eight numbers of versions 1 to 3.
fn limits_named_or_listed<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<LimitsRecord, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Named(LimitsRecord),
        Listed([usize; 8]),
    }
    Ok(match Written::deserialize(d)? {
        Written::Named(limits) => limits,
        Written::Listed([a, b, c, d, e, f, g, h]) => LimitsRecord {
            max_incoming_payload: a,
            max_outgoing_payload: b,
            max_attachments: c,
            max_attachment_bytes: d,
            max_pending_acks: e,
            max_buffered_emits: f,
            max_held_events: g,
            max_server_acks: h,
        },
    })
}

/// A body: text when it is UTF-8, base64 otherwise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BodyRecord {
    /// A UTF-8 body.
    Text(String),
    /// Any other body.
    Bytes {
        /// The bytes, standard base64.
        base64: String,
    },
}

impl BodyRecord {
    fn new(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(t) => BodyRecord::Text(t.to_string()),
            Err(_) => BodyRecord::Bytes {
                base64: BASE64.encode(bytes),
            },
        }
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        match self {
            BodyRecord::Text(t) => Ok(t.clone().into_bytes()),
            BodyRecord::Bytes { base64 } => BASE64.decode(base64).map_err(|e| e.to_string()),
        }
    }
}

/// A WebSocket message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameRecord {
    /// A text message.
    Text(String),
    /// A binary message, standard base64.
    Binary(String),
}

impl FrameRecord {
    fn new(f: &WsFrame) -> Self {
        match f {
            WsFrame::Text(t) => FrameRecord::Text(t.clone()),
            WsFrame::Binary(b) => FrameRecord::Binary(BASE64.encode(b)),
        }
    }

    fn frame(&self) -> Result<WsFrame, String> {
        match self {
            FrameRecord::Text(t) => Ok(WsFrame::Text(t.clone())),
            FrameRecord::Binary(b) => BASE64
                .decode(b)
                .map(WsFrame::Binary)
                .map_err(|e| e.to_string()),
        }
    }
}

/// A transport error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorRecord {
    /// `connect`, `timeout`, `tls`, `io`, `too_large`, `handshake_rejected:<status>`, `file`,
    /// `other`.
    pub kind: String,
    /// The runtime's message.
    pub message: String,
}

impl ErrorRecord {
    fn new(e: &TransportError) -> Self {
        let kind = match e.kind {
            TransportErrorKind::Connect => "connect".to_string(),
            TransportErrorKind::Timeout => "timeout".to_string(),
            TransportErrorKind::Tls => "tls".to_string(),
            TransportErrorKind::Io => "io".to_string(),
            TransportErrorKind::TooLarge => "too_large".to_string(),
            TransportErrorKind::HandshakeRejected { status } => {
                format!("handshake_rejected:{status}")
            }
            TransportErrorKind::File => "file".to_string(),
            _ => "other".to_string(),
        };
        ErrorRecord {
            kind,
            message: e.message.clone(),
        }
    }

    fn error(&self) -> TransportError {
        let kind = match self.kind.as_str() {
            "connect" => TransportErrorKind::Connect,
            "timeout" => TransportErrorKind::Timeout,
            "tls" => TransportErrorKind::Tls,
            "io" => TransportErrorKind::Io,
            "too_large" => TransportErrorKind::TooLarge,
            "file" => TransportErrorKind::File,
            other => match other
                .strip_prefix("handshake_rejected:")
                .and_then(|s| s.parse().ok())
            {
                Some(status) => TransportErrorKind::HandshakeRejected { status },
                None => TransportErrorKind::Other,
            },
        };
        TransportError::new(kind, self.message.clone())
    }
}

/// An [`Input`] as data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum InputRecord {
    HttpResponse {
        id: u64,
        status: u16,
        headers: Vec<(String, String)>,
        body: BodyRecord,
    },
    HttpFailed {
        id: u64,
        error: ErrorRecord,
    },
    WsOpened {
        id: u64,
    },
    WsMessage {
        id: u64,
        frame: FrameRecord,
    },
    WsClosed {
        id: u64,
        code: Option<u16>,
    },
    WsFailed {
        id: u64,
        error: ErrorRecord,
    },
    Stat {
        id: u64,
        size: Option<u64>,
        modified: Option<f64>,
    },
    FileRead {
        id: u64,
        body: Option<BodyRecord>,
        error: Option<ErrorRecord>,
    },
}

fn headers(h: &http::HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

impl InputRecord {
    /// The record of an input.
    pub fn new(input: &Input) -> Self {
        match input {
            Input::HttpResponse { id, response } => InputRecord::HttpResponse {
                id: id.0,
                status: response.status().as_u16(),
                headers: headers(response.headers()),
                body: BodyRecord::new(response.body().as_bytes()),
            },
            Input::HttpFailed { id, error } => InputRecord::HttpFailed {
                id: id.0,
                error: ErrorRecord::new(error),
            },
            Input::WsOpened { id } => InputRecord::WsOpened { id: id.0 },
            Input::WsMessage { id, frame } => InputRecord::WsMessage {
                id: id.0,
                frame: FrameRecord::new(frame),
            },
            Input::WsClosed { id, code } => InputRecord::WsClosed {
                id: id.0,
                code: *code,
            },
            Input::WsFailed { id, error } => InputRecord::WsFailed {
                id: id.0,
                error: ErrorRecord::new(error),
            },
            Input::Stat { id, info } => InputRecord::Stat {
                id: id.0,
                size: info.map(|i| i.size),
                modified: info.and_then(|i| i.modified),
            },
            Input::FileRead { id, result } => InputRecord::FileRead {
                id: id.0,
                body: result.as_ref().ok().map(|b| BodyRecord::new(b.as_bytes())),
                error: result.as_ref().err().map(ErrorRecord::new),
            },
        }
    }

    /// The input this record describes.
    pub fn input(&self) -> Result<Input, String> {
        Ok(match self {
            InputRecord::HttpResponse {
                id,
                status,
                headers,
                body,
            } => {
                let mut b = http::Response::builder().status(*status);
                for (k, v) in headers {
                    b = b.header(k.as_str(), v.as_str());
                }
                let response = b.body(Body(body.bytes()?)).map_err(|e| e.to_string())?;
                Input::HttpResponse {
                    id: RequestId(*id),
                    response,
                }
            }
            InputRecord::HttpFailed { id, error } => Input::HttpFailed {
                id: RequestId(*id),
                error: error.error(),
            },
            InputRecord::WsOpened { id } => Input::WsOpened { id: WsId(*id) },
            InputRecord::WsMessage { id, frame } => Input::WsMessage {
                id: WsId(*id),
                frame: frame.frame()?,
            },
            InputRecord::WsClosed { id, code } => Input::WsClosed {
                id: WsId(*id),
                code: *code,
            },
            InputRecord::WsFailed { id, error } => Input::WsFailed {
                id: WsId(*id),
                error: error.error(),
            },
            InputRecord::Stat { id, size, modified } => Input::Stat {
                id: RequestId(*id),
                info: size.map(|size| FileInfo {
                    size,
                    modified: *modified,
                }),
            },
            InputRecord::FileRead { id, body, error } => Input::FileRead {
                id: RequestId(*id),
                result: match (body, error) {
                    (Some(b), _) => Ok(Body(b.bytes()?)),
                    (None, Some(e)) => Err(e.error()),
                    (None, None) => return Err("file_read with neither body nor error".into()),
                },
            },
        })
    }
}

/// A [`Command`] as data. The API key of `connect` is always written as
/// [`REDACTED_API_KEY`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum CommandRecord {
    Connect {
        api_key: String,
    },
    Init,
    Call {
        endpoint: String,
        body: Option<Value>,
        safe: bool,
    },
    Upload {
        endpoint: String,
        fields: Vec<(String, String)>,
        path: PathBuf,
    },
    Publish {
        asset: String,
    },
    Transform {
        asset: String,
        options: Vec<(String, Value)>,
    },
    Download {
        asset: String,
        options: Option<Vec<(String, Value)>>,
        pathname: Option<String>,
        updated_on: Option<f64>,
    },
    LoadAllRecords,
    SyncNow,
    SyncCursors,
    TrackJob {
        token: String,
        timeout_ms: Option<u64>,
    },
    Close,
}

impl CommandRecord {
    /// The record of a command.
    pub fn new(c: &Command) -> Self {
        match c.clone() {
            Command::Connect { .. } => CommandRecord::Connect {
                api_key: REDACTED_API_KEY.to_string(),
            },
            Command::Init => CommandRecord::Init,
            Command::Call {
                endpoint,
                body,
                safe,
            } => CommandRecord::Call {
                endpoint,
                body,
                safe,
            },
            Command::Upload {
                endpoint,
                fields,
                path,
            } => CommandRecord::Upload {
                endpoint,
                fields,
                path,
            },
            Command::Publish { asset } => CommandRecord::Publish { asset },
            Command::Transform { asset, options } => CommandRecord::Transform { asset, options },
            Command::Download {
                asset,
                options,
                pathname,
                updated_on,
            } => CommandRecord::Download {
                asset,
                options,
                pathname,
                updated_on,
            },
            Command::LoadAllRecords => CommandRecord::LoadAllRecords,
            Command::SyncNow => CommandRecord::SyncNow,
            Command::SyncCursors => CommandRecord::SyncCursors,
            Command::TrackJob { token, timeout } => CommandRecord::TrackJob {
                token,
                timeout_ms: timeout.map(ms),
            },
            Command::Close => CommandRecord::Close,
        }
    }

    /// The command this record describes.
    pub fn command(&self) -> Command {
        match self.clone() {
            CommandRecord::Connect { api_key } => Command::Connect {
                api_key: Secret::new(api_key),
            },
            CommandRecord::Init => Command::Init,
            CommandRecord::Call {
                endpoint,
                body,
                safe,
            } => Command::Call {
                endpoint,
                body,
                safe,
            },
            CommandRecord::Upload {
                endpoint,
                fields,
                path,
            } => Command::Upload {
                endpoint,
                fields,
                path,
            },
            CommandRecord::Publish { asset } => Command::Publish { asset },
            CommandRecord::Transform { asset, options } => Command::Transform { asset, options },
            CommandRecord::Download {
                asset,
                options,
                pathname,
                updated_on,
            } => Command::Download {
                asset,
                options,
                pathname,
                updated_on,
            },
            CommandRecord::LoadAllRecords => Command::LoadAllRecords,
            CommandRecord::SyncNow => Command::SyncNow,
            CommandRecord::SyncCursors => Command::SyncCursors,
            CommandRecord::TrackJob { token, timeout_ms } => Command::TrackJob {
                token,
                timeout: timeout_ms.map(Duration::from_millis),
            },
            CommandRecord::Close => Command::Close,
        }
    }
}

/// An [`Output`] as data. Events are written as JSON with their variant in `event`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum OutputRecord {
    Http {
        id: u64,
        method: String,
        uri: String,
        headers: Vec<(String, String)>,
        body: BodyRecord,
        timeout_ms: u64,
        target: Value,
    },
    CancelHttp {
        id: u64,
    },
    OpenWs {
        id: u64,
        uri: String,
        headers: Vec<(String, String)>,
        timeout_ms: u64,
    },
    WsSend {
        id: u64,
        frame: FrameRecord,
    },
    CloseWs {
        id: u64,
    },
    Stat {
        id: u64,
        path: PathBuf,
    },
    ReadFile {
        id: u64,
        path: PathBuf,
        limit: u64,
    },
    Event {
        event: Value,
    },
}

impl OutputRecord {
    /// The record of an output.
    pub fn new(o: &Output<Event>) -> Self {
        match o {
            Output::Http { id, request } => OutputRecord::Http {
                id: id.0,
                method: request.request.method().to_string(),
                uri: request.request.uri().to_string(),
                headers: headers(request.request.headers()),
                body: BodyRecord::new(request.request.body().as_bytes()),
                timeout_ms: ms(request.timeout),
                target: match &request.target {
                    BodyTarget::Memory { limit } => json!({"memory": limit}),
                    BodyTarget::File { path, limit } => json!({"file": path, "limit": limit}),
                },
            },
            Output::CancelHttp { id } => OutputRecord::CancelHttp { id: id.0 },
            Output::OpenWs { id, request } => OutputRecord::OpenWs {
                id: id.0,
                uri: request.request.uri().to_string(),
                headers: headers(request.request.headers()),
                timeout_ms: ms(request.timeout),
            },
            Output::WsSend { id, frame } => OutputRecord::WsSend {
                id: id.0,
                frame: FrameRecord::new(frame),
            },
            Output::CloseWs { id } => OutputRecord::CloseWs { id: id.0 },
            Output::Stat { id, path } => OutputRecord::Stat {
                id: id.0,
                path: path.clone(),
            },
            Output::ReadFile { id, path, limit } => OutputRecord::ReadFile {
                id: id.0,
                path: path.clone(),
                limit: *limit,
            },
            Output::Event(e) => OutputRecord::Event {
                event: event_value(e),
            },
        }
    }
}

/// An event as JSON, for the log.
pub fn event_value(e: &Event) -> Value {
    match e {
        Event::Connected => json!({"event": "connected"}),
        Event::Disconnected { reason } => {
            json!({"event": "disconnected", "reason": reason.to_string()})
        }
        Event::Reconnecting {
            attempt,
            delay,
            cause,
        } => {
            json!({"event": "reconnecting", "attempt": attempt, "delay_ms": ms(*delay), "cause": cause.to_string()})
        }
        Event::Stopped { reason } => json!({"event": "stopped", "reason": reason.to_string()}),
        Event::CaughtUp { cc_cursor, cursor } => {
            json!({"event": "caught_up", "cc.cursor": cc_cursor, "cursor": cursor})
        }
        Event::Changed {
            data_type,
            key,
            action,
        } => {
            json!({"event": "changed", "data_type": data_type.name(), "key": key, "action": action.to_string()})
        }
        Event::VersionChanged { old, new } => {
            json!({"event": "version_changed", "old": old, "new": new})
        }
        Event::Job { token, job } => {
            json!({"event": "job", "token": token, "job": job.job, "status": job.status, "info": job.info})
        }
        Event::StoreReset => json!({"event": "store_reset"}),
        Event::TokenRefreshed => json!({"event": "token_refreshed"}),
        Event::SyncError { message } => json!({"event": "sync_error", "message": message}),
        Event::CallFinished { id, result } => match result {
            Ok(v) => json!({"event": "call_finished", "id": id.0, "ok": v}),
            Err(e) => json!({"event": "call_finished", "id": id.0, "err": e.to_string()}),
        },
    }
}

/// One line of a log after the header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Line {
    /// An input.
    In {
        /// µs after the client was created.
        at_us: u64,
        /// The input.
        #[serde(rename = "in")]
        input: InputRecord,
    },
    /// A command.
    Cmd {
        /// µs after the client was created.
        at_us: u64,
        /// The command.
        cmd: CommandRecord,
    },
    /// A `handle_timeout` call.
    Timeout {
        /// µs after the client was created.
        at_us: u64,
        /// Always true.
        timeout: bool,
    },
    /// An output.
    Out {
        /// The output.
        out: OutputRecord,
    },
    /// The store's digest after the step before it changed the state.
    State {
        /// The digest, 16 lowercase hex digits.
        state: String,
    },
}

/// How a digest is written in a `state` line.
pub fn digest_text(digest: u64) -> String {
    format!("{digest:016x}")
}

#[derive(Clone, Copy)]
enum Kind {
    ApiKey,
    Jwt,
    Sid,
}

/// The log being written: lines wait in a queue that the runtime drains with
/// [`Recording::poll_record`] and writes wherever it likes.
pub(crate) struct Recorder {
    t0: Instant,
    lines: VecDeque<String>,
    /// Secret value → placeholder.
    secrets: Vec<(String, String)>,
    jwts: usize,
    sids: usize,
    /// The digest the last `state` line gave.
    state: Option<u64>,
}

/// Counts only: the recorder knows every secret it redacts.
impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("lines", &self.lines.len())
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    pub(crate) fn new(t0: Instant, config: ConfigRecord) -> Self {
        let header = Header {
            format: FORMAT.to_string(),
            version: VERSION,
            library: env!("CARGO_PKG_VERSION").to_string(),
            config,
        };
        let mut lines = VecDeque::new();
        lines.push_back(serde_json::to_string(&header).unwrap_or_default());
        Recorder {
            t0,
            lines,
            secrets: Vec::new(),
            jwts: 0,
            sids: 0,
            state: None,
        }
    }

    /// Writes a `state` line when the digest differs from the last one written.
    pub(crate) fn state(&mut self, digest: Option<u64>) {
        if let Some(d) = digest.filter(|d| Some(*d) != self.state) {
            self.state = Some(d);
            self.push(&Line::State {
                state: digest_text(d),
            });
        }
    }

    pub(crate) fn poll(&mut self) -> Option<String> {
        self.lines.pop_front()
    }

    fn at(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.t0).as_micros()).unwrap_or(u64::MAX)
    }

    fn placeholder(&mut self, secret: &str, kind: Kind) -> String {
        if let Some((_, p)) = self.secrets.iter().find(|(s, _)| s == secret) {
            return p.clone();
        }
        let p = match kind {
            Kind::ApiKey => REDACTED_API_KEY.to_string(),
            Kind::Jwt => {
                self.jwts = self.jwts.saturating_add(1);
                format!("REDACTED-JWT-{}", self.jwts)
            }
            Kind::Sid => {
                self.sids = self.sids.saturating_add(1);
                format!("REDACTED-SID-{}", self.sids)
            }
        };
        if !secret.is_empty() && !secret.starts_with("REDACTED-") {
            self.secrets.push((secret.to_string(), p.clone()));
        }
        p
    }

    /// Learns the API key of a `connect` command.
    pub(crate) fn note_api_key(&mut self, key: &Secret) {
        self.placeholder(key.expose(), Kind::ApiKey);
    }

    /// Learns a JWT the client now holds.
    pub(crate) fn note_jwt(&mut self, jwt: &str) {
        self.placeholder(jwt, Kind::Jwt);
    }

    fn redact_headers(&mut self, headers: &mut [(String, String)]) {
        for (k, v) in headers.iter_mut() {
            if k.eq_ignore_ascii_case("authorization") {
                let bearer = v.starts_with("Bearer ");
                let token = v.trim_start_matches("Bearer ").trim().to_string();
                let p = self.placeholder(&token, Kind::Jwt);
                *v = if bearer { format!("Bearer {p}") } else { p };
            }
        }
    }

    /// Replaces the secrets in one Engine.IO text packet: the JWT of a Socket.IO CONNECT's
    /// auth and of an `authorization` event, in any namespace and with any ack id. The packet
    /// is read with the client's own codec, so what it would send or accept is what is
    /// redacted; anything else is left as it is.
    fn redact_engine_text(&mut self, text: &mut String) {
        let Some(sio) = text.strip_prefix('4') else {
            return;
        };
        let Ok(packet) = SioPacket::decode(sio, usize::MAX) else {
            return;
        };
        let at = match packet.kind {
            PacketType::Connect => None,
            PacketType::Event | PacketType::BinaryEvent
                if packet.event_name().as_deref() == Some("authorization") =>
            {
                Some(1)
            }
            _ => return,
        };
        let Some(Ok(mut value)) = packet.value() else {
            return;
        };
        let slot = match at {
            None => Some(&mut value),
            Some(i) => value.get_mut(i),
        };
        if let Some(Value::String(jwt)) = slot.and_then(|o| o.get_mut("JWT")) {
            *jwt = self.placeholder(jwt, Kind::Jwt);
            let mut redacted = SioPacket::new(packet.kind, &packet.nsp, Some(value));
            redacted.id = packet.id;
            redacted.attachments = packet.attachments;
            *text = format!("4{}", redacted.encode());
        }
    }

    fn redact_frame(&mut self, frame: &mut FrameRecord) {
        if let FrameRecord::Text(text) = frame {
            self.redact_engine_text(text);
        }
    }

    fn redact_body(&mut self, body: &mut BodyRecord) {
        let BodyRecord::Text(text) = body else { return };
        if text.contains("\"JWT\"") {
            // A polling body: Engine.IO packets joined by a record separator, the CONNECT
            // among them.
            let packets: Vec<String> = text
                .split('\x1e')
                .map(|p| {
                    let mut packet = p.to_string();
                    self.redact_engine_text(&mut packet);
                    packet
                })
                .collect();
            *text = packets.join("\x1e");
        }
        // An `/auth` body is small; a large body that merely mentions `api_key` (a response
        // a server filled) is not parsed into a tree: the known key is still replaced in the
        // whole line by the safety net.
        if !text.contains("\"api_key\"") || text.len() > 64 * 1024 {
            return;
        }
        if let Ok(mut v) = serde_json::from_str::<Value>(text) {
            if let Some(Value::String(key)) = v.get_mut("api_key") {
                let p = self.placeholder(key, Kind::ApiKey);
                *key = p;
                *text = v.to_string();
            }
        }
    }

    fn finish(&self, mut line: String) -> String {
        // The safety net: a known secret anywhere else in the line.
        for (secret, p) in &self.secrets {
            if secret.len() >= 8 && line.contains(secret.as_str()) {
                line = line.replace(secret.as_str(), p);
            }
        }
        line
    }

    fn push(&mut self, line: &Line) {
        let text = serde_json::to_string(line).unwrap_or_default();
        let text = self.finish(text);
        self.lines.push_back(text);
    }

    /// The Engine.IO `sid` lets whoever has it inject packets into a live session; the open
    /// packet (first of a polling handshake, or a WebSocket's first frame) names it.
    fn note_sid(&mut self, text: &str) {
        let Some(json) = text.split('\x1e').next().and_then(|p| p.strip_prefix('0')) else {
            return;
        };
        if let Some(sid) = serde_json::from_str::<Value>(json)
            .ok()
            .and_then(|v| v.get("sid")?.as_str().map(str::to_string))
        {
            self.placeholder(&sid, Kind::Sid);
        }
    }

    pub(crate) fn input(&mut self, now: Instant, mut input: InputRecord) {
        match &mut input {
            InputRecord::HttpResponse { headers, body, .. } => {
                self.redact_headers(headers);
                self.redact_body(body);
                if let BodyRecord::Text(text) = body {
                    self.note_sid(text);
                }
            }
            InputRecord::WsMessage { frame, .. } => {
                self.redact_frame(frame);
                if let FrameRecord::Text(text) = frame {
                    self.note_sid(text);
                }
            }
            _ => {}
        }
        let at_us = self.at(now);
        self.push(&Line::In { at_us, input });
    }

    pub(crate) fn timeout(&mut self, now: Instant) {
        let at_us = self.at(now);
        self.push(&Line::Timeout {
            at_us,
            timeout: true,
        });
    }

    pub(crate) fn command(&mut self, now: Instant, command: &Command) {
        if let Command::Connect { api_key } = command {
            self.note_api_key(api_key);
        }
        let mut cmd = CommandRecord::new(command);
        // An application may authenticate through `call("/auth", {"api_key": …})` itself:
        // the key is learnt before the line is written, as the request line's is.
        if let CommandRecord::Call {
            body: Some(body), ..
        } = &mut cmd
        {
            if let Some(Value::String(key)) = body.get_mut("api_key") {
                *key = self.placeholder(key, Kind::ApiKey);
            }
        }
        let at_us = self.at(now);
        self.push(&Line::Cmd { at_us, cmd });
    }

    /// A polling request or an upgrade names the session in its query; recording may have
    /// started after the open packet that introduced it.
    fn note_sid_in(&mut self, uri: &str) {
        let query = uri.split_once('?').map_or("", |(_, q)| q);
        if let Some(sid) = query.split('&').find_map(|kv| kv.strip_prefix("sid=")) {
            self.placeholder(sid, Kind::Sid);
        }
    }

    pub(crate) fn output(&mut self, output: &Output<Event>) {
        let mut out = OutputRecord::new(output);
        match &mut out {
            OutputRecord::Http {
                uri, headers, body, ..
            } => {
                self.note_sid_in(uri);
                self.redact_headers(headers);
                self.redact_body(body);
            }
            OutputRecord::OpenWs { uri, headers, .. } => {
                self.note_sid_in(uri);
                self.redact_headers(headers);
            }
            OutputRecord::WsSend { frame, .. } => self.redact_frame(frame),
            _ => {}
        }
        self.push(&Line::Out { out });
    }
}

/// A machine whose session can be recorded. Sealed: the log format describes a Unicat
/// [`Client`]'s session, and the recorder reads secrets no public method hands out.
pub trait Recordable: Machine<Event = Event> + sealed::Sealed {}

impl Recordable for Client {}

mod sealed {
    use super::*;

    /// What a [`Recording`](super::Recording) needs of its machine.
    pub trait Sealed {
        /// Carries out an application command.
        fn execute(
            &mut self,
            now: Instant,
            command: Command,
        ) -> Result<Option<CallId>, CommandError>;
        /// When the machine was created: log times count from it.
        fn created(&self) -> Instant;
        /// The configuration, for the header.
        fn config_record(&self) -> ConfigRecord;
        /// The API key and the JWT the machine holds now.
        fn secrets(&self) -> (Option<&Secret>, Option<&Secret>);
        /// Starts keeping the state digest.
        fn keep_digest(&mut self);
        /// The state digest, once kept.
        fn digest(&self) -> Option<u64>;
    }

    impl Sealed for Client {
        fn execute(
            &mut self,
            now: Instant,
            command: Command,
        ) -> Result<Option<CallId>, CommandError> {
            Client::execute(self, now, command)
        }
        fn created(&self) -> Instant {
            self.created()
        }
        fn config_record(&self) -> ConfigRecord {
            ConfigRecord::new(self.config())
        }
        fn secrets(&self) -> (Option<&Secret>, Option<&Secret>) {
            self.held_secrets()
        }
        fn keep_digest(&mut self) {
            Client::keep_digest(self);
        }
        fn digest(&self) -> Option<u64> {
            self.store().digest()
        }
    }
}

/// A machine with its session recorded as a replay log (see the [module docs](self) for the
/// format): every input, timeout, command and output passes through and is kept as a line,
/// with secrets redacted, for [`poll_record`](Recording::poll_record) to take.
///
/// It reads as the machine it wraps (`Deref`); what changes the machine goes through the
/// recording: the [`Machine`] methods and [`execute`](Recording::execute). A recording can
/// start [`paused`](Recording::paused), passing everything through, and
/// [`start`](Recording::start) mid-session.
#[derive(Debug)]
pub struct Recording<M: Recordable = Client> {
    machine: M,
    recorder: Option<Recorder>,
    /// The latest time seen: a command or a timeout is logged at it, as the machine reads a
    /// `now` older than one it has seen as that one.
    now: Instant,
}

impl<M: Recordable> Recording<M> {
    /// Records `machine` from now on. Times count from the machine's creation.
    pub fn new(machine: M) -> Self {
        let mut recording = Recording::paused(machine);
        recording.start();
        recording
    }

    /// Wraps `machine` without recording yet.
    pub fn paused(machine: M) -> Self {
        let now = machine.created();
        Recording {
            machine,
            recorder: None,
            now,
        }
    }

    /// Starts recording, if it has not started: the header, then every step from now on.
    pub fn start(&mut self) {
        if self.recorder.is_some() {
            return;
        }
        let recorder = Recorder::new(self.machine.created(), self.machine.config_record());
        self.recorder = Some(recorder);
        // Recording may start mid-session: the secrets already held must be known before
        // the first line names them.
        self.note_secrets();
        self.machine.keep_digest();
    }

    /// Whether lines are being recorded.
    pub fn is_recording(&self) -> bool {
        self.recorder.is_some()
    }

    /// The machine, to read.
    pub fn machine(&self) -> &M {
        &self.machine
    }

    /// Ends the recording and gives the machine back.
    pub fn into_inner(self) -> M {
        self.machine
    }

    /// Carries out an application command and logs it.
    pub fn execute(
        &mut self,
        now: Instant,
        command: Command,
    ) -> Result<Option<CallId>, CommandError> {
        self.now = self.now.max(now);
        if let Some(r) = self.recorder.as_mut() {
            r.command(self.now, &command);
        }
        let result = self.machine.execute(now, command);
        self.log_state();
        result
    }

    /// Closes the machine (a logged [`Command::Close`]).
    pub fn close(&mut self, now: Instant) {
        let _ = self.execute(now, Command::Close);
    }

    /// The next line of the log, if recording.
    #[must_use = "a line taken and not written is lost from the log"]
    pub fn poll_record(&mut self) -> Option<String> {
        self.recorder.as_mut()?.poll()
    }

    /// Learns the secrets the machine holds now, so no line names them.
    fn note_secrets(&mut self) {
        let Some(r) = self.recorder.as_mut() else {
            return;
        };
        let (key, jwt) = self.machine.secrets();
        if let Some(key) = key {
            r.note_api_key(key);
        }
        if let Some(jwt) = jwt {
            r.note_jwt(jwt.expose());
        }
    }

    /// Logs the digest when a step changed it.
    fn log_state(&mut self) {
        if let Some(r) = self.recorder.as_mut() {
            r.state(self.machine.digest());
        }
    }
}

impl<M: Recordable> std::ops::Deref for Recording<M> {
    type Target = M;

    fn deref(&self) -> &M {
        &self.machine
    }
}

impl<M: Recordable> Machine for Recording<M> {
    type Event = Event;

    fn handle_input(&mut self, now: Instant, input: Input) {
        self.now = self.now.max(now);
        let record = self.recorder.as_ref().map(|_| InputRecord::new(&input));
        self.machine.handle_input(now, input);
        // Written after the input is handled, so a JWT it brought is already known and
        // redacted.
        self.note_secrets();
        if let (Some(r), Some(record)) = (self.recorder.as_mut(), record) {
            r.input(self.now, record);
        }
        self.log_state();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if let Some(r) = self.recorder.as_mut() {
            r.timeout(self.now);
        }
        self.machine.handle_timeout(now);
        self.log_state();
    }

    fn poll_output(&mut self) -> Option<Output<Event>> {
        let out = self.machine.poll_output()?;
        if let Some(r) = self.recorder.as_mut() {
            r.output(&out);
        }
        Some(out)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.machine.poll_timeout()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A test's one clock reading: the recorder only subtracts it.
    #[allow(clippy::disallowed_methods)]
    fn recorder() -> Recorder {
        let cfg = ClientConfig::new("http://unicat.test", "p1").unwrap();
        Recorder::new(Instant::now(), ConfigRecord::new(&cfg))
    }

    #[test]
    fn jwts_are_found_with_namespaces_and_ack_ids_too() {
        let mut r = recorder();
        for (frame, kept) in [
            (
                r#"40{"JWT":"jwt-secret-one"}"#,
                r#"40{"JWT":"REDACTED-JWT-1"}"#,
            ),
            (
                r#"40/admin,{"JWT":"jwt-secret-two"}"#,
                r#"40/admin,{"JWT":"REDACTED-JWT-2"}"#,
            ),
            (
                r#"42/admin,17["authorization",{"JWT":"jwt-secret-three"}]"#,
                r#"42/admin,17["authorization",{"JWT":"REDACTED-JWT-3"}]"#,
            ),
            (
                r#"42["authorization",{"JWT":"jwt-secret-one"}]"#,
                r#"42["authorization",{"JWT":"REDACTED-JWT-1"}]"#,
            ),
            (r#"42["sync",[]]"#, r#"42["sync",[]]"#),
        ] {
            let mut f = FrameRecord::Text(frame.into());
            r.redact_frame(&mut f);
            assert_eq!(f, FrameRecord::Text(kept.into()), "{frame}");
        }
        let mut body = BodyRecord::Text("2\x1e40/admin,{\"JWT\":\"jwt-secret-four\"}".into());
        r.redact_body(&mut body);
        assert_eq!(
            body,
            BodyRecord::Text("2\x1e40/admin,{\"JWT\":\"REDACTED-JWT-4\"}".into())
        );
    }

    #[test]
    fn limits_are_named_and_older_lists_are_read_into_names() {
        let cfg = ClientConfig::new("http://unicat.test", "p1").unwrap();
        let mut header = serde_json::to_value(ConfigRecord::new(&cfg)).unwrap();
        assert_eq!(
            header["limits"]["max_incoming_payload"],
            64 * 1024 * 1024,
            "{header}"
        );
        // Versions 1 to 3: eight numbers in the order of the fields.
        header["limits"] = json!([1, 2, 3, 4, 5, 6, 7, 8]);
        let old: ConfigRecord = serde_json::from_value(header.clone()).unwrap();
        let l = old.to_config().unwrap().session.limits;
        assert_eq!(
            (l.max_incoming_payload, l.max_attachments, l.max_server_acks),
            (1, 3, 8)
        );
        // A limit a log does not name takes its default; a name it does not know is refused.
        header["limits"] = json!({"max_held_events": 5});
        let named: ConfigRecord = serde_json::from_value(header.clone()).unwrap();
        assert_eq!(named.limits.max_held_events, 5);
        assert_eq!(named.limits.max_pending_acks, 1024);
        header["limits"] = json!({"max_everything": 5});
        assert!(serde_json::from_value::<ConfigRecord>(header).is_err());
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn a_recording_logs_what_passes_through_once_started() {
        let cfg = ClientConfig::new("http://unicat.test", "p1").unwrap();
        let now = Instant::now();
        let mut rec = Recording::paused(Client::new(cfg, now));
        rec.execute(now, Command::Init).unwrap();
        assert!(rec.poll_record().is_none(), "paused: nothing is written");
        rec.start();
        let header: Header = serde_json::from_str(&rec.poll_record().unwrap()).unwrap();
        assert_eq!((header.format.as_str(), header.version), (FORMAT, VERSION));
        let later = now + Duration::from_millis(3);
        let api_key = Secret::new("key-that-must-not-show");
        rec.execute(later, Command::Connect { api_key }).unwrap();
        let cmd = rec.poll_record().unwrap();
        assert!(!cmd.contains("key-that-must-not-show"), "{cmd}");
        assert!(
            cmd.contains("\"at_us\":3000") && cmd.contains(REDACTED_API_KEY),
            "{cmd}"
        );
        while rec.poll_output().is_some() {}
        let lines: Vec<String> = std::iter::from_fn(|| rec.poll_record()).collect();
        assert!(lines.iter().any(|l| l.starts_with("{\"out\"")), "{lines:?}");
        assert!(lines.iter().all(|l| !l.contains("key-that-must-not-show")));
        assert_eq!(rec.machine().config().project(), "p1");
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn an_api_key_in_a_call_body_never_reaches_the_log() {
        let cfg = ClientConfig::new("http://unicat.test", "p1").unwrap();
        let now = Instant::now();
        let mut rec = Recording::paused(Client::new(cfg, now));
        rec.start();
        let body = serde_json::json!({"api_key": "key-sent-by-hand-123"});
        let _ = rec.execute(
            now,
            Command::Call {
                endpoint: "/auth".into(),
                body: Some(body),
                safe: false,
            },
        );
        while rec.poll_output().is_some() {}
        let lines: Vec<String> = std::iter::from_fn(|| rec.poll_record()).collect();
        assert!(lines.iter().any(|l| l.contains("\"cmd\"")), "{lines:?}");
        assert!(
            lines.iter().all(|l| !l.contains("key-sent-by-hand-123")),
            "{lines:?}"
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let mut r = recorder();
        r.note_api_key(&Secret::new("api-key-secret"));
        r.note_jwt("jwt-secret-five");
        let text = format!("{r:?}");
        assert!(
            !text.contains("api-key-secret") && !text.contains("jwt-secret-five"),
            "{text}"
        );
    }
}
