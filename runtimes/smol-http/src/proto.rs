//! One request and its response on one connection: `ureq-proto`'s sans-IO state machine
//! writes and parses the bytes, this module moves them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use http::{header, HeaderValue, Method, StatusCode};
use ureq_proto::client::state::{RecvResponse, SendBody};
use ureq_proto::client::{
    Await100Result, Call, RecvBodyResult, RecvResponseResult, SendRequestResult,
};
use ureq_proto::BodyMode;

use crate::{Error, ErrorKind, SinkError};

/// The most bytes of status line and headers accepted.
const MAX_HEAD: usize = 64 * 1024;
/// The largest request head written.
const MAX_REQUEST_HEAD: usize = 1024 * 1024;
/// Read size.
const CHUNK: usize = 32 * 1024;

/// A boxed future that can move between threads, as [`BodySink`]'s methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the body of a 200 response goes instead of memory: a file, usually.
///
/// The sink is opened only once the status is 200, written to as the body arrives, and
/// finished once all of it did. A sink dropped unfinished (the body was cut, too long or
/// late) must leave nothing behind: a download into a temporary file removes it.
pub trait BodySink: Send {
    /// Gets ready for the body (creates the file). Called once, before any write.
    fn open(&mut self) -> BoxFuture<'_, Result<(), SinkError>>;

    /// Takes the next decoded bytes of the body.
    fn write<'a>(&'a mut self, bytes: &'a [u8]) -> BoxFuture<'a, Result<(), SinkError>>;

    /// The whole body arrived: keeps it (syncs the file and renames it into place).
    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<(), SinkError>>;
}

/// Where the body of a response goes.
pub enum Destination {
    /// Into the response, failing with [`ErrorKind::TooLarge`] past `limit` bytes.
    Memory {
        /// The most bytes accepted.
        limit: usize,
    },
    /// A 200's body into `sink`, failing with [`ErrorKind::TooLarge`] past `limit` bytes;
    /// the response then has an empty body. Any other status's body (an error page) comes
    /// back in the response instead, cut at `error_body_limit` bytes, and the sink is
    /// dropped unopened.
    Sink {
        /// Where a 200's body goes.
        sink: Box<dyn BodySink>,
        /// The most bytes accepted.
        limit: u64,
        /// How much of another status's body is kept.
        error_body_limit: usize,
    },
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Memory { limit } => write!(f, "Memory {{ limit: {limit} }}"),
            Destination::Sink {
                limit,
                error_body_limit,
                ..
            } => write!(
                f,
                "Sink {{ limit: {limit}, error_body_limit: {error_body_limit} }}"
            ),
        }
    }
}

/// What the body is being read into.
enum Out {
    /// Into memory, failing past `limit`.
    Memory { bytes: Vec<u8>, limit: usize },
    /// Into the caller's sink, failing past `limit`.
    Sink {
        sink: Box<dyn BodySink>,
        written: u64,
        limit: u64,
    },
    /// Into memory, keeping the first `limit` bytes and dropping the rest (an error body).
    Capped { bytes: Vec<u8>, limit: usize },
}

impl Out {
    /// Where the body of a response with `status` goes.
    async fn open(destination: Destination, status: StatusCode) -> Result<Out, Error> {
        Ok(match destination {
            Destination::Memory { limit } => Out::Memory {
                bytes: Vec::new(),
                limit,
            },
            Destination::Sink {
                mut sink, limit, ..
            } if status == StatusCode::OK => {
                sink.open().await.map_err(Error::sink)?;
                Out::Sink {
                    sink,
                    written: 0,
                    limit,
                }
            }
            Destination::Sink {
                error_body_limit, ..
            } => Out::Capped {
                bytes: Vec::new(),
                limit: error_body_limit,
            },
        })
    }

    /// Takes decoded body bytes. `Ok(false)` means the rest is not wanted.
    async fn take(&mut self, chunk: &[u8]) -> Result<bool, Error> {
        match self {
            Out::Memory { bytes, limit } => {
                if bytes.len().saturating_add(chunk.len()) > *limit {
                    return Err(too_large(*limit as u64));
                }
                bytes.extend_from_slice(chunk);
                Ok(true)
            }
            Out::Sink {
                sink,
                written,
                limit,
            } => {
                *written = written.saturating_add(chunk.len() as u64);
                if *written > *limit {
                    return Err(too_large(*limit));
                }
                sink.write(chunk).await.map_err(Error::sink)?;
                Ok(true)
            }
            Out::Capped { bytes, limit } => {
                let room = limit.saturating_sub(bytes.len());
                bytes.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
                Ok(bytes.len() < *limit)
            }
        }
    }

    async fn finish(self) -> Result<Vec<u8>, Error> {
        match self {
            Out::Memory { bytes, .. } | Out::Capped { bytes, .. } => Ok(bytes),
            Out::Sink { sink, .. } => {
                sink.finish().await.map_err(Error::sink)?;
                Ok(Vec::new())
            }
        }
    }
}

fn too_large(limit: u64) -> Error {
    Error::new(
        ErrorKind::TooLarge,
        format!("the response body is larger than {limit} bytes"),
    )
}

/// Bytes read from the connection and not used yet.
struct Input {
    buf: Vec<u8>,
    start: usize,
}

impl Input {
    fn pending(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.buf.len());
    }

    /// Reads more; `Ok(false)` at the end of the stream.
    async fn fill<S: AsyncRead + Unpin>(&mut self, stream: &mut S) -> Result<bool, Error> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let at = self.buf.len();
        self.buf.resize(at.saturating_add(CHUNK), 0);
        let n = loop {
            match stream
                .read(self.buf.get_mut(at..).unwrap_or_default())
                .await
            {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(at);
                    return Err(Error::io(e));
                }
            }
        };
        self.buf.truncate(at.saturating_add(n));
        Ok(n > 0)
    }
}

/// Writes `request` with `body` on `stream` and reads the response, its body to
/// `destination`. Returns the response and whether the connection can carry another
/// request: the body was read to its end, nothing follows it, and the server keeps the
/// connection open.
///
/// The request goes as it is, with a `content-length` added where the method may carry a
/// body (or a body is given); no `user-agent` is added (the [`Pool`](crate::Pool) adds its
/// own), no redirect is followed and nothing is retried. There is no timeout: race the future
/// against a timer for one.
pub async fn roundtrip<S>(
    stream: &mut S,
    request: http::Request<()>,
    body: &[u8],
    destination: Destination,
) -> Result<(http::Response<Vec<u8>>, bool), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let call = send_request(stream, request, body).await?;
    let mut input = Input {
        buf: Vec::with_capacity(CHUNK),
        start: 0,
    };
    let (parts, call) = recv_head(stream, call, &mut input).await?;
    let mut out = Out::open(destination, parts.status).await?;
    let reusable = recv_body(stream, call, &mut input, &mut out).await?;
    let bytes = out.finish().await?;
    Ok((http::Response::from_parts(parts, bytes), reusable))
}

/// Writes the request's head and body.
async fn send_request<S>(
    stream: &mut S,
    mut request: http::Request<()>,
    body: &[u8],
) -> Result<Call<RecvResponse>, Error>
where
    S: AsyncWrite + Unpin,
{
    let may_have_body = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::DELETE | Method::TRACE
    );
    if (may_have_body || !body.is_empty())
        && !request.headers().contains_key(header::CONTENT_LENGTH)
    {
        request
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let mut call = Call::new(request).map_err(Error::protocol)?;
    if !may_have_body && !body.is_empty() {
        call.force_send_body();
    }
    let mut call = call.proceed();
    let mut out = vec![0u8; 16 * 1024];
    while !call.can_proceed() {
        match call.write(&mut out) {
            Ok(n) => write_all(stream, out.get(..n).unwrap_or_default()).await?,
            Err(ureq_proto::Error::OutputOverflow) if out.len() < MAX_REQUEST_HEAD => {
                out.resize(out.len().saturating_mul(2), 0)
            }
            Err(e) => return Err(Error::protocol(e)),
        }
    }
    let call = match call.proceed().map_err(Error::protocol)? {
        Some(SendRequestResult::RecvResponse(c)) => c,
        Some(SendRequestResult::SendBody(c)) => send_body(stream, c, body, &mut out).await?,
        Some(SendRequestResult::Await100(c)) => match c.proceed().map_err(Error::protocol)? {
            Await100Result::SendBody(c) => send_body(stream, c, body, &mut out).await?,
            Await100Result::RecvResponse(c) => c,
        },
        None => return Err(Error::protocol(ureq_proto::Error::OutputOverflow)),
    };
    stream.flush().await.map_err(Error::io)?;
    Ok(call)
}

/// Reads the response head, past any interim (100 Continue) response.
async fn recv_head<S>(
    stream: &mut S,
    mut call: Call<RecvResponse>,
    input: &mut Input,
) -> Result<(http::response::Parts, Call<RecvResponse>), Error>
where
    S: AsyncRead + Unpin,
{
    loop {
        if !input.pending().is_empty() {
            let (used, response) = call
                .try_response(input.pending(), false)
                .map_err(Error::protocol)?;
            input.consume(used);
            if let Some(r) = response {
                return Ok((r.into_parts().0, call));
            }
            if used > 0 {
                // An interim response (100 Continue): the real one follows.
                continue;
            }
        }
        if input.pending().len() > MAX_HEAD {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("response headers longer than {MAX_HEAD} bytes"),
            ));
        }
        if !input.fill(stream).await? {
            return Err(Error::new(
                ErrorKind::Io,
                "the connection closed before the response",
            ));
        }
    }
}

/// Reads the response body into `out`. Returns whether the connection can carry another
/// request.
async fn recv_body<S>(
    stream: &mut S,
    call: Call<RecvResponse>,
    input: &mut Input,
    out: &mut Out,
) -> Result<bool, Error>
where
    S: AsyncRead + Unpin,
{
    let (cleanup, complete) = match call.proceed() {
        Some(RecvResponseResult::Cleanup(c)) => (c, true),
        Some(RecvResponseResult::Redirect(c)) => (c.proceed(), true),
        Some(RecvResponseResult::RecvBody(mut c)) => {
            let close_delimited = matches!(c.body_mode(), BodyMode::CloseDelimited);
            let mut decoded = vec![0u8; CHUNK];
            let mut wanted = true;
            loop {
                if !close_delimited && c.can_proceed() {
                    break;
                }
                let (used, produced) = c
                    .read(input.pending(), &mut decoded)
                    .map_err(Error::protocol)?;
                input.consume(used);
                if produced > 0 {
                    wanted = out
                        .take(decoded.get(..produced).unwrap_or_default())
                        .await?;
                    if !wanted {
                        break;
                    }
                }
                if used == 0 && produced == 0 && input.pending().len() > MAX_HEAD {
                    // A chunk size line (or trailer) that never ends: the decoder waits for
                    // its CRLF while the buffer would grow with every read.
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        format!("a chunk header longer than {MAX_HEAD} bytes"),
                    ));
                }
                if used == 0 && produced == 0 && !input.fill(stream).await? {
                    if close_delimited {
                        break;
                    }
                    return Err(Error::new(
                        ErrorKind::Io,
                        "the connection closed before the end of the body",
                    ));
                }
            }
            let complete = wanted && !close_delimited;
            match c.proceed() {
                Some(RecvBodyResult::Cleanup(c)) => (c, complete),
                Some(RecvBodyResult::Redirect(c)) => (c.proceed(), complete),
                // Stopped early (an error body over its cap): the rest is left unread.
                None => return Ok(false),
            }
        }
        None => {
            return Err(Error::new(
                ErrorKind::Protocol,
                "no response to proceed with",
            ))
        }
    };
    Ok(complete && !cleanup.must_close_connection() && input.pending().is_empty())
}

async fn write_all<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> Result<(), Error> {
    stream.write_all(bytes).await.map_err(Error::io)
}

async fn send_body<S: AsyncWrite + Unpin>(
    stream: &mut S,
    mut call: Call<SendBody>,
    body: &[u8],
    out: &mut [u8],
) -> Result<Call<RecvResponse>, Error> {
    if call.is_chunked() {
        let mut rest = body;
        loop {
            let (used, n) = call.write(rest, out).map_err(Error::protocol)?;
            write_all(stream, out.get(..n).unwrap_or_default()).await?;
            rest = rest.get(used..).unwrap_or_default();
            if rest.is_empty() && call.can_proceed() {
                break;
            }
        }
    } else {
        // The length is in the head: the body goes out as it is, without a copy.
        write_all(stream, body).await?;
        call.consume_direct_write(body.len())
            .map_err(Error::protocol)?;
    }
    call.proceed()
        .ok_or_else(|| Error::new(ErrorKind::Protocol, "request body incomplete"))
}
