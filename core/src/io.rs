//! The data that crosses the boundary between a machine and its runtime: [`Input`]s the
//! runtime feeds in, [`Output`]s it performs, and the identifiers that tie them together.
//!
//! Everything here is plain data. Bodies and frames never print their contents in `Debug`
//! output, because they may carry an API key, a JWT or an auth payload.

use std::fmt;
use std::time::{Duration, Instant};

use crate::error::TransportError;

/// Identifies one HTTP request the core asked the runtime to perform.
///
/// Every [`Output::Http`] is answered by at most one [`Input::HttpResponse`] or
/// [`Input::HttpFailed`] carrying the same id. An answer to an id the core no longer waits for
/// (a long-poll that returns after a reconnect, say) is ignored.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct RequestId(pub u64);

/// Identifies one WebSocket the core asked the runtime to open.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct WsId(pub u64);

/// Hands out request ids, WebSocket ids and a client's file-operation ids from one sequence, so
/// no two of them are ever equal and an answer can never be taken for another's. The machine
/// at the top owns it: a `Session` used alone numbers from its own, and a `Client` lends its
/// own to its session for each call into it.
#[derive(Debug, Default)]
pub(crate) struct RequestIds {
    /// The next number.
    next: u64,
}

impl RequestIds {
    /// The next id, for an HTTP request or a file operation.
    pub(crate) fn request(&mut self) -> RequestId {
        RequestId(self.next())
    }

    /// The next id, for a WebSocket.
    pub(crate) fn websocket(&mut self) -> WsId {
        WsId(self.next())
    }

    fn next(&mut self) -> u64 {
        let id = self.next;
        self.next = self.next.saturating_add(1);
        id
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "req#{}", self.0)
    }
}

impl fmt::Display for WsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ws#{}", self.0)
    }
}

/// An HTTP body. Its `Debug` output shows only its length, never its bytes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Body(pub Vec<u8>);

impl Body {
    /// The bytes of the body.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Takes the bytes out of the body.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The length of the body in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body(bytes)
    }
}

impl From<&[u8]> for Body {
    fn from(bytes: &[u8]) -> Self {
        Body(bytes.to_vec())
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Body(text.into_bytes())
    }
}

impl From<&str> for Body {
    fn from(text: &str) -> Self {
        Body(text.as_bytes().to_vec())
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Body({} bytes)", self.0.len())
    }
}

/// One WebSocket message, already de-framed by the runtime's WebSocket library.
///
/// Its `Debug` output shows only the kind and length, never the content.
#[derive(Clone, PartialEq, Eq)]
pub enum WsFrame {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl WsFrame {
    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        match self {
            WsFrame::Text(t) => t.len(),
            WsFrame::Binary(b) => b.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for WsFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsFrame::Text(t) => write!(f, "Text({} bytes)", t.len()),
            WsFrame::Binary(b) => write!(f, "Binary({} bytes)", b.len()),
        }
    }
}

/// The `User-Agent` runtimes send. It is not part of the requests the core builds, so a log
/// recorded by one release still replays strictly on the next.
pub const USER_AGENT: &str = concat!("unicat-rs/", env!("CARGO_PKG_VERSION"));

/// How much of a non-200 answer to a [`BodyTarget::File`] download the runtime keeps for the
/// core's report: enough for any error envelope, little enough that a misrouted file does not
/// land in memory.
pub const FILE_ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Where the runtime should put the body of a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyTarget {
    /// Read the whole body into memory, up to `limit` bytes. A longer body is a failure
    /// ([`TransportError::too_large`](crate::error::TransportError)), reported through
    /// [`Input::HttpFailed`].
    Memory {
        /// The most bytes the core accepts for this response.
        limit: usize,
    },
    /// Stream the body into a file, creating its parent folders. The core built the path from
    /// the configured asset folder and a relative path it checked, so it cannot leave that
    /// folder. The runtime writes to a temporary file beside it, created exclusively under a
    /// random name so nothing planted there is followed, and renames it into place only
    /// when the status is 200 and the whole body arrived; the [`Input::HttpResponse`] then
    /// carries an empty body. For any other status the body is read into memory, up to
    /// [`FILE_ERROR_BODY_LIMIT`], so the core can report it.
    File {
        /// The destination.
        path: std::path::PathBuf,
        /// The most bytes to accept.
        limit: u64,
    },
}

/// An HTTP request for the runtime to perform.
#[derive(Clone)]
pub struct HttpRequest {
    /// Method, URI, headers and body. Secret header values are marked sensitive.
    pub request: http::Request<Body>,
    /// How long the runtime may wait for the whole response before it reports a timeout.
    pub timeout: Duration,
    /// Where the response body goes.
    pub target: BodyTarget,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // http's own Debug prints header values; only their names are shown here.
        let names: Vec<&str> = self.request.headers().keys().map(|k| k.as_str()).collect();
        f.debug_struct("HttpRequest")
            .field("method", self.request.method())
            .field("uri", &redact_uri(self.request.uri()))
            .field("headers", &names)
            .field("body", self.request.body())
            .field("timeout", &self.timeout)
            .field("target", &self.target)
            .finish()
    }
}

/// A request to open a WebSocket.
#[derive(Clone)]
pub struct WsRequest {
    /// The handshake request: a `ws://` or `wss://` URI and any extra headers.
    pub request: http::Request<()>,
    /// How long the runtime may take to connect and finish the handshake.
    pub timeout: Duration,
}

impl fmt::Debug for WsRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.request.headers().keys().map(|k| k.as_str()).collect();
        f.debug_struct("WsRequest")
            .field("uri", &redact_uri(self.request.uri()))
            .field("headers", &names)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The Engine.IO `sid` rides in the query string and lets anyone who has it inject packets
/// into the session, so logs show the path only.
pub(crate) fn redact_uri(uri: &http::Uri) -> String {
    match (uri.scheme_str(), uri.authority()) {
        (Some(s), Some(a)) => format!("{s}://{a}{}", uri.path()),
        _ => uri.path().to_string(),
    }
}

/// What the runtime found out about a local file, for [`Output::Stat`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FileInfo {
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time in seconds since the Unix epoch, if the platform has one.
    pub modified: Option<f64>,
}

/// A fact from the transport, fed to a machine with `handle_input`.
#[derive(Clone)]
pub enum Input {
    /// The response to [`Output::Http`] with the same id, whatever its status.
    HttpResponse {
        /// The request this answers.
        id: RequestId,
        /// Status, headers and body.
        response: http::Response<Body>,
    },
    /// The request could not be completed: no connection, a timeout, a TLS failure, a body
    /// over its limit.
    HttpFailed {
        /// The request this answers.
        id: RequestId,
        /// What went wrong.
        error: TransportError,
    },
    /// The WebSocket handshake finished (101).
    WsOpened {
        /// The socket.
        id: WsId,
    },
    /// A message arrived on the WebSocket.
    WsMessage {
        /// The socket.
        id: WsId,
        /// The message.
        frame: WsFrame,
    },
    /// The WebSocket closed, cleanly or not. Close codes carry little meaning in Socket.IO, so
    /// the core classifies the loss from what it saw before, not from the code.
    WsClosed {
        /// The socket.
        id: WsId,
        /// The close code, if the peer sent one.
        code: Option<u16>,
    },
    /// The WebSocket could not be opened (refused handshake, no connection) or failed.
    WsFailed {
        /// The socket.
        id: WsId,
        /// What went wrong.
        error: TransportError,
    },
    /// The answer to [`Output::Stat`]: `None` when there is no regular file at that path.
    Stat {
        /// The request this answers.
        id: RequestId,
        /// Size and modification time.
        info: Option<FileInfo>,
    },
    /// The answer to [`Output::ReadFile`].
    FileRead {
        /// The request this answers.
        id: RequestId,
        /// The bytes, or why they could not be read.
        result: Result<Body, TransportError>,
    },
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::HttpResponse { id, response } => {
                let names: Vec<&str> = response.headers().keys().map(|k| k.as_str()).collect();
                f.debug_struct("HttpResponse")
                    .field("id", id)
                    .field("status", &response.status().as_u16())
                    .field("headers", &names)
                    .field("body", response.body())
                    .finish()
            }
            Input::HttpFailed { id, error } => f
                .debug_struct("HttpFailed")
                .field("id", id)
                .field("error", error)
                .finish(),
            Input::WsOpened { id } => f.debug_struct("WsOpened").field("id", id).finish(),
            Input::WsMessage { id, frame } => f
                .debug_struct("WsMessage")
                .field("id", id)
                .field("frame", frame)
                .finish(),
            Input::WsClosed { id, code } => f
                .debug_struct("WsClosed")
                .field("id", id)
                .field("code", code)
                .finish(),
            Input::WsFailed { id, error } => f
                .debug_struct("WsFailed")
                .field("id", id)
                .field("error", error)
                .finish(),
            Input::Stat { id, info } => f
                .debug_struct("Stat")
                .field("id", id)
                .field("info", info)
                .finish(),
            Input::FileRead { id, result } => f
                .debug_struct("FileRead")
                .field("id", id)
                .field("result", result)
                .finish(),
        }
    }
}

/// Something the runtime must do, or an event for the application, taken from a machine with
/// `poll_output`. Outputs must be performed in the order they come out.
#[derive(Clone, Debug)]
pub enum Output<E> {
    /// Perform an HTTP request and answer with [`Input::HttpResponse`] or [`Input::HttpFailed`].
    Http {
        /// The id to answer with.
        id: RequestId,
        /// What to send.
        request: HttpRequest,
    },
    /// The core no longer needs the answer to this request; the runtime may abort it. An
    /// answer that still arrives is ignored.
    CancelHttp {
        /// The request to abort.
        id: RequestId,
    },
    /// Open a WebSocket and answer with [`Input::WsOpened`] or [`Input::WsFailed`], then
    /// [`Input::WsMessage`]s and finally [`Input::WsClosed`].
    OpenWs {
        /// The id of the new socket.
        id: WsId,
        /// The handshake request.
        request: WsRequest,
    },
    /// Send a message on an open WebSocket.
    WsSend {
        /// The socket.
        id: WsId,
        /// The message.
        frame: WsFrame,
    },
    /// Close a WebSocket. No further input for it is expected; any that arrives is ignored.
    CloseWs {
        /// The socket.
        id: WsId,
    },
    /// Look at a local file (downloads check whether a fresh copy exists; uploads check the
    /// size before reading a byte) and answer with [`Input::Stat`].
    Stat {
        /// The id to answer with.
        id: RequestId,
        /// The file.
        path: std::path::PathBuf,
    },
    /// Read a local file, at most `limit` bytes, and answer with [`Input::FileRead`]; a longer
    /// file is an error of kind [`TooLarge`](crate::error::TransportErrorKind::TooLarge).
    ReadFile {
        /// The id to answer with.
        id: RequestId,
        /// The file.
        path: std::path::PathBuf,
        /// The most bytes to read.
        limit: u64,
    },
    /// Something the application may want to know.
    Event(E),
}

impl<E> Output<E> {
    /// The event, as `Err`, or the output for the runtime, as an output of any event type: how
    /// a machine built on another passes the inner one's transport work on.
    pub fn split_event<F>(self) -> Result<Output<F>, E> {
        Ok(match self {
            Output::Event(e) => return Err(e),
            Output::Http { id, request } => Output::Http { id, request },
            Output::CancelHttp { id } => Output::CancelHttp { id },
            Output::OpenWs { id, request } => Output::OpenWs { id, request },
            Output::WsSend { id, frame } => Output::WsSend { id, frame },
            Output::CloseWs { id } => Output::CloseWs { id },
            Output::Stat { id, path } => Output::Stat { id, path },
            Output::ReadFile { id, path, limit } => Output::ReadFile { id, path, limit },
        })
    }
}

/// The run-loop contract shared by every machine in this crate, so one runtime driver serves
/// them all.
///
/// After any `&mut` call, drain [`poll_output`](Machine::poll_output) until it returns `None`,
/// performing each output in order, then read [`poll_timeout`](Machine::poll_timeout) and arm
/// one timer for it. `now` must come from a monotonic clock; a `now` earlier than one seen
/// before is treated as the later one.
pub trait Machine {
    /// The application events this machine emits.
    type Event;

    /// Feeds one transport fact in.
    fn handle_input(&mut self, now: Instant, input: Input);

    /// Runs every timer due at or before `now`. Extra calls do nothing.
    fn handle_timeout(&mut self, now: Instant);

    /// The next thing to do, in order.
    #[must_use = "every output must be performed, in order"]
    fn poll_output(&mut self) -> Option<Output<Self::Event>>;

    /// When [`handle_timeout`](Machine::handle_timeout) must next be called, if ever.
    #[must_use = "the timer must be armed, or the machine stalls"]
    fn poll_timeout(&self) -> Option<Instant>;
}

#[cfg(test)]
mod tests {
    use super::{RequestId, RequestIds, WsId};

    #[test]
    fn requests_and_websockets_are_numbered_from_one_sequence() {
        let mut ids = RequestIds::default();
        assert_eq!(ids.request(), RequestId(0));
        assert_eq!(ids.websocket(), WsId(1));
        assert_eq!(ids.request(), RequestId(2));
    }
}
