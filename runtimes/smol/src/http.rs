//! HTTP/1.1 over async sockets: `ureq-proto`'s sans-IO state machine writes and parses the
//! bytes, this module moves them. Connections are kept alive and reused per origin, at most
//! [`Io::max_connections`] at once; a request waits for a free one. No redirects are
//! followed and nothing is retried: the core decides about both.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use unicat_core::error::{TransportError, TransportErrorKind};
use unicat_core::http::{self, header, HeaderValue, Method};
use unicat_core::io::{Body, BodyTarget, HttpRequest, FILE_ERROR_BODY_LIMIT, USER_AGENT};
use ureq_proto::client::state::RecvResponse;
use ureq_proto::client::{
    Await100Result, Call, RecvBodyResult, RecvResponseResult, SendRequestResult,
};
use ureq_proto::BodyMode;

use crate::fs::PartFile;
use crate::net::{Io, Origin, Stream};

/// The most bytes of status line and headers accepted.
const MAX_HEAD: usize = 64 * 1024;
/// The largest request head written (headers the core built; a JWT is a few hundred bytes).
const MAX_REQUEST_HEAD: usize = 1024 * 1024;
/// An idle connection older than this is closed rather than reused: servers and proxies drop
/// idle keep-alive connections after a while, and a request written into one that is being
/// closed would fail for nothing.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Read size.
const CHUNK: usize = 32 * 1024;

/// The connection pool: one [`Host`] per origin.
pub(crate) struct HttpPool {
    io: Io,
    hosts: Mutex<HashMap<Origin, Arc<Host>>>,
}

/// The connections to one origin: a semaphore of `max_connections` slots, and the idle ones.
struct Host {
    slots: (async_channel::Sender<()>, async_channel::Receiver<()>),
    idle: Mutex<Vec<(Stream, Instant)>>,
}

/// A slot in use; given back when dropped, whatever happened to the request.
struct Slot<'a>(&'a async_channel::Sender<()>);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let _ = self.0.try_send(());
    }
}

impl Host {
    fn new(slots: usize) -> Host {
        let (tx, rx) = async_channel::bounded(slots);
        for _ in 0..slots {
            let _ = tx.try_send(());
        }
        Host {
            slots: (tx, rx),
            idle: Mutex::new(Vec::new()),
        }
    }

    async fn acquire(&self) -> Slot<'_> {
        // The host holds the sender, so the channel never closes while it is awaited.
        let _ = self.slots.1.recv().await;
        Slot(&self.slots.0)
    }

    /// The most recently used idle connection that is still open, if any.
    async fn take_idle(&self) -> Option<Stream> {
        loop {
            let (mut stream, since) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()?;
            if since.elapsed() < IDLE_TIMEOUT && stream.is_reusable().await {
                return Some(stream);
            }
        }
    }

    /// Whether an idle connection is young enough to be reused.
    fn has_live_idle(&self) -> bool {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.iter().any(|(_, since)| since.elapsed() < IDLE_TIMEOUT)
    }

    /// Keeps a connection for reuse, and closes those idle too long: `take_idle` takes the
    /// newest first, so the oldest would otherwise hold their sockets open indefinitely.
    fn put_idle(&self, stream: Stream) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|(_, since)| since.elapsed() < IDLE_TIMEOUT);
        idle.push((stream, Instant::now()));
    }
}

impl HttpPool {
    pub(crate) fn new(io: Io) -> HttpPool {
        HttpPool {
            io,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    fn host(&self, origin: &Origin) -> Arc<Host> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        // Origins nobody is using and with no connection worth keeping go, so a client that
        // fetched media from many hosts does not keep an entry for each forever.
        hosts.retain(|o, h| o == origin || Arc::strong_count(h) > 1 || h.has_live_idle());
        Arc::clone(
            hosts
                .entry(origin.clone())
                .or_insert_with(|| Arc::new(Host::new(self.io.max_connections))),
        )
    }

    /// Performs one request within its timeout, which counts from now and covers the wait
    /// for a connection, the connection itself and the whole response.
    pub(crate) async fn perform(
        &self,
        request: HttpRequest,
    ) -> Result<http::Response<Body>, TransportError> {
        let timeout = request.timeout;
        futures_lite::future::or(self.exchange(request), async move {
            async_io::Timer::after(timeout).await;
            Err(TransportError::new(
                TransportErrorKind::Timeout,
                format!("no complete response within {timeout:?}"),
            ))
        })
        .await
    }

    async fn exchange(&self, request: HttpRequest) -> Result<http::Response<Body>, TransportError> {
        let HttpRequest {
            request, target, ..
        } = request;
        let origin = Origin::of(request.uri())?;
        let host = self.host(&origin);
        let _slot = host.acquire().await;
        let mut stream = match host.take_idle().await {
            Some(s) => s,
            None => Stream::connect(&origin, &self.io).await?,
        };
        let (parts, body) = request.into_parts();
        let (response, reusable) = roundtrip(
            &mut stream,
            http::Request::from_parts(parts, ()),
            &body.0,
            target,
        )
        .await?;
        if reusable {
            host.put_idle(stream);
        }
        Ok(response)
    }
}

fn proto(e: ureq_proto::Error) -> TransportError {
    TransportError::new(TransportErrorKind::Io, format!("HTTP: {e}"))
}

fn io_error(e: std::io::Error) -> TransportError {
    let kind = match e.kind() {
        std::io::ErrorKind::TimedOut => TransportErrorKind::Timeout,
        _ => TransportErrorKind::Io,
    };
    TransportError::new(kind, e.to_string())
}

/// Where the body of the response goes.
enum Sink {
    /// Into memory, failing past `limit`.
    Memory { bytes: Vec<u8>, limit: usize },
    /// Into a file, failing past `limit`.
    File {
        file: PartFile,
        written: u64,
        limit: u64,
    },
    /// Into memory, keeping the first `limit` bytes and dropping the rest (an error body).
    Capped { bytes: Vec<u8>, limit: usize },
}

impl Sink {
    /// Takes decoded body bytes. `Ok(false)` means the rest is not wanted.
    async fn take(&mut self, chunk: &[u8]) -> Result<bool, TransportError> {
        match self {
            Sink::Memory { bytes, limit } => {
                if bytes.len().saturating_add(chunk.len()) > *limit {
                    return Err(too_large(*limit as u64));
                }
                bytes.extend_from_slice(chunk);
                Ok(true)
            }
            Sink::File {
                file,
                written,
                limit,
            } => {
                *written = written.saturating_add(chunk.len() as u64);
                if *written > *limit {
                    return Err(too_large(*limit));
                }
                file.write(chunk).await?;
                Ok(true)
            }
            Sink::Capped { bytes, limit } => {
                let room = limit.saturating_sub(bytes.len());
                bytes.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
                Ok(bytes.len() < *limit)
            }
        }
    }

    async fn finish(self) -> Result<Vec<u8>, TransportError> {
        match self {
            Sink::Memory { bytes, .. } | Sink::Capped { bytes, .. } => Ok(bytes),
            Sink::File { file, .. } => {
                file.finish().await?;
                Ok(Vec::new())
            }
        }
    }
}

fn too_large(limit: u64) -> TransportError {
    TransportError::new(
        TransportErrorKind::TooLarge,
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
    async fn fill<S: futures_lite::AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
    ) -> Result<bool, TransportError> {
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
                    return Err(io_error(e));
                }
            }
        };
        self.buf.truncate(at.saturating_add(n));
        Ok(n > 0)
    }
}

/// Writes the request and reads the response on one connection. Returns the response and
/// whether the connection can carry another request.
pub(crate) async fn roundtrip<S>(
    stream: &mut S,
    request: http::Request<()>,
    body: &[u8],
    target: BodyTarget,
) -> Result<(http::Response<Body>, bool), TransportError>
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin,
{
    let call = send_request(stream, request, body).await?;
    let mut input = Input {
        buf: Vec::with_capacity(CHUNK),
        start: 0,
    };
    let (parts, call) = recv_head(stream, call, &mut input).await?;
    let mut sink = match target {
        BodyTarget::Memory { limit } => Sink::Memory {
            bytes: Vec::new(),
            limit,
        },
        BodyTarget::File { path, limit } if parts.status == http::StatusCode::OK => Sink::File {
            file: PartFile::create(&path).await?,
            written: 0,
            limit,
        },
        BodyTarget::File { .. } => Sink::Capped {
            bytes: Vec::new(),
            limit: FILE_ERROR_BODY_LIMIT,
        },
    };
    let reusable = recv_body(stream, call, &mut input, &mut sink).await?;
    let bytes = sink.finish().await?;
    Ok((response(parts, bytes), reusable))
}

/// Writes the request's head and body.
async fn send_request<S>(
    stream: &mut S,
    mut request: http::Request<()>,
    body: &[u8],
) -> Result<Call<RecvResponse>, TransportError>
where
    S: futures_lite::AsyncWrite + Unpin,
{
    let headers = request.headers_mut();
    if !headers.contains_key(header::USER_AGENT) {
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    }
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
    let mut call = Call::new(request).map_err(proto)?;
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
            Err(e) => return Err(proto(e)),
        }
    }
    let call = match call.proceed().map_err(proto)? {
        Some(SendRequestResult::RecvResponse(c)) => c,
        Some(SendRequestResult::SendBody(c)) => send_body(stream, c, body, &mut out).await?,
        Some(SendRequestResult::Await100(c)) => match c.proceed().map_err(proto)? {
            Await100Result::SendBody(c) => send_body(stream, c, body, &mut out).await?,
            Await100Result::RecvResponse(c) => c,
        },
        None => return Err(proto(ureq_proto::Error::OutputOverflow)),
    };
    stream.flush().await.map_err(io_error)?;
    Ok(call)
}

/// Reads the response head, past any interim (100 Continue) response.
async fn recv_head<S>(
    stream: &mut S,
    mut call: Call<RecvResponse>,
    input: &mut Input,
) -> Result<(http::response::Parts, Call<RecvResponse>), TransportError>
where
    S: futures_lite::AsyncRead + Unpin,
{
    loop {
        if !input.pending().is_empty() {
            let (used, response) = call.try_response(input.pending(), false).map_err(proto)?;
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
            return Err(TransportError::new(
                TransportErrorKind::Io,
                format!("response headers longer than {MAX_HEAD} bytes"),
            ));
        }
        if !input.fill(stream).await? {
            return Err(TransportError::new(
                TransportErrorKind::Io,
                "the connection closed before the response",
            ));
        }
    }
}

/// Reads the response body into `sink`. Returns whether the connection can carry another
/// request: the body was read to its end, nothing follows it, and the server keeps it open.
async fn recv_body<S>(
    stream: &mut S,
    call: Call<RecvResponse>,
    input: &mut Input,
    sink: &mut Sink,
) -> Result<bool, TransportError>
where
    S: futures_lite::AsyncRead + Unpin,
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
                let (used, produced) = c.read(input.pending(), &mut decoded).map_err(proto)?;
                input.consume(used);
                if produced > 0 {
                    wanted = sink
                        .take(decoded.get(..produced).unwrap_or_default())
                        .await?;
                    if !wanted {
                        break;
                    }
                }
                if used == 0 && produced == 0 && !input.fill(stream).await? {
                    if close_delimited {
                        break;
                    }
                    return Err(TransportError::new(
                        TransportErrorKind::Io,
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
            return Err(TransportError::new(
                TransportErrorKind::Io,
                "no response to proceed with",
            ))
        }
    };
    Ok(complete && !cleanup.must_close_connection() && input.pending().is_empty())
}

fn response(parts: http::response::Parts, bytes: Vec<u8>) -> http::Response<Body> {
    http::Response::from_parts(parts, Body(bytes))
}

async fn write_all<S: futures_lite::AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
) -> Result<(), TransportError> {
    stream.write_all(bytes).await.map_err(io_error)
}

async fn send_body<S: futures_lite::AsyncWrite + Unpin>(
    stream: &mut S,
    mut call: Call<ureq_proto::client::state::SendBody>,
    body: &[u8],
    out: &mut [u8],
) -> Result<Call<RecvResponse>, TransportError> {
    if call.is_chunked() {
        let mut rest = body;
        loop {
            let (used, n) = call.write(rest, out).map_err(proto)?;
            write_all(stream, out.get(..n).unwrap_or_default()).await?;
            rest = rest.get(used..).unwrap_or_default();
            if rest.is_empty() && call.can_proceed() {
                break;
            }
        }
    } else {
        // The length is in the head: the body goes out as it is, without a copy.
        write_all(stream, body).await?;
        call.consume_direct_write(body.len()).map_err(proto)?;
    }
    call.proceed()
        .ok_or_else(|| TransportError::new(TransportErrorKind::Io, "request body incomplete"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A one-connection server: reads requests (head plus `content-length` body) and answers
    /// each with the next canned response. Returns the requests it read.
    fn serve(
        answers: Vec<Vec<u8>>,
    ) -> (std::net::SocketAddr, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut seen = Vec::new();
            let mut buf = Vec::new();
            for answer in answers {
                loop {
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                        if buf.len() >= end + 4 + len {
                            let body =
                                String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                            seen.push(format!("{head}\n\n{body}"));
                            buf.drain(..end + 4 + len);
                            break;
                        }
                    }
                    let mut chunk = [0u8; 4096];
                    let n = s.read(&mut chunk).unwrap();
                    if n == 0 {
                        return seen;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                s.write_all(&answer).unwrap();
            }
            seen
        });
        (addr, t)
    }

    fn request(addr: std::net::SocketAddr, method: &str) -> http::Request<()> {
        http::Request::builder()
            .method(method)
            .uri(format!("http://{addr}/api/x?y=1"))
            .header("content-type", "application/json")
            .body(())
            .unwrap()
    }

    /// How a GET answered with `answer`, read into memory up to `limit` bytes, fails.
    fn memory_failure(answer: Vec<u8>, limit: usize) -> TransportErrorKind {
        let (addr, _server) = serve(vec![answer]);
        futures_lite::future::block_on(async {
            let mut s = connect(addr).await;
            let target = BodyTarget::Memory { limit };
            let result = roundtrip(&mut s, request(addr, "GET"), b"", target).await;
            result.map(|_| ()).unwrap_err().kind
        })
    }

    async fn connect(addr: std::net::SocketAddr) -> async_io::Async<std::net::TcpStream> {
        async_io::Async::<std::net::TcpStream>::connect(addr)
            .await
            .unwrap()
    }

    #[test]
    fn two_requests_share_one_kept_alive_connection() {
        let (addr, server) = serve(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\n\r\nhello".to_vec(),
            b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                .to_vec(),
        ]);
        futures_lite::future::block_on(async {
            let mut s = connect(addr).await;
            let (r, reusable) = roundtrip(
                &mut s,
                request(addr, "POST"),
                br#"{"a":1}"#,
                BodyTarget::Memory { limit: 100 },
            )
            .await
            .unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["x-a"], "1");
            assert_eq!(r.body().as_bytes(), b"hello");
            assert!(reusable);
            let (r, reusable) = roundtrip(
                &mut s,
                request(addr, "GET"),
                b"",
                BodyTarget::Memory { limit: 100 },
            )
            .await
            .unwrap();
            assert_eq!(r.status(), 201);
            assert_eq!(r.body().as_bytes(), b"abcde");
            assert!(reusable);
        });
        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(
            seen[0].starts_with("POST /api/x?y=1 HTTP/1.1\r\n"),
            "{}",
            seen[0]
        );
        assert!(seen[0].contains("content-length: 7"), "{}", seen[0]);
        assert!(seen[0].ends_with(r#"{"a":1}"#), "{}", seen[0]);
        assert!(
            seen[1].starts_with("GET /api/x?y=1 HTTP/1.1\r\n"),
            "{}",
            seen[1]
        );
        assert!(!seen[1].contains("content-length"), "{}", seen[1]);
    }

    #[test]
    fn a_body_over_its_memory_limit_is_too_large() {
        assert_eq!(
            memory_failure(
                b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello world".to_vec(),
                10
            ),
            TransportErrorKind::TooLarge
        );
    }

    #[test]
    fn a_close_delimited_body_ends_at_the_close_and_is_not_reused() {
        let (addr, _server) = serve(vec![b"HTTP/1.1 200 OK\r\n\r\nuntil the end".to_vec()]);
        futures_lite::future::block_on(async {
            let mut s = connect(addr).await;
            let (r, reusable) = roundtrip(
                &mut s,
                request(addr, "GET"),
                b"",
                BodyTarget::Memory { limit: 100 },
            )
            .await
            .unwrap();
            assert_eq!(r.body().as_bytes(), b"until the end");
            assert!(!reusable);
        });
    }

    #[test]
    fn a_cut_body_is_an_io_failure() {
        assert_eq!(
            memory_failure(
                b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\nshort".to_vec(),
                100
            ),
            TransportErrorKind::Io
        );
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("unicat-smol-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_200_file_download_lands_by_rename_and_answers_with_an_empty_body() {
        let dir = temp_dir("download");
        let path = dir.join("sub/photo.jpg");
        let (addr, _server) = serve(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nJPEG!!".to_vec()
        ]);
        futures_lite::future::block_on(async {
            let mut s = connect(addr).await;
            let (r, _) = roundtrip(
                &mut s,
                request(addr, "GET"),
                b"",
                BodyTarget::File {
                    path: path.clone(),
                    limit: 100,
                },
            )
            .await
            .unwrap();
            assert_eq!(r.status(), 200);
            assert!(r.body().is_empty());
        });
        assert_eq!(std::fs::read(&path).unwrap(), b"JPEG!!");
        let names: Vec<_> = std::fs::read_dir(dir.join("sub")).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_download_over_its_limit_leaves_nothing() {
        let dir = temp_dir("toolarge");
        let path = dir.join("big.bin");
        let (addr, _server) = serve(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n01234567890123456789".to_vec(),
        ]);
        futures_lite::future::block_on(async {
            let mut s = connect(addr).await;
            let e = roundtrip(
                &mut s,
                request(addr, "GET"),
                b"",
                BodyTarget::File {
                    path: path.clone(),
                    limit: 10,
                },
            )
            .await
            .unwrap_err();
            assert_eq!(e.kind, TransportErrorKind::TooLarge);
            // The temporary file is removed in the background.
            for _ in 0..100 {
                if std::fs::read_dir(&dir).map_or(0, |d| d.count()) == 0 {
                    break;
                }
                async_io::Timer::after(Duration::from_millis(10)).await;
            }
        });
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_non_200_file_download_comes_back_in_memory() {
        let dir = temp_dir("notfound");
        let path = dir.join("x.jpg");
        let (addr, _server) = serve(vec![
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\nnot found".to_vec(),
        ]);
        futures_lite::future::block_on(async {
            let mut s = connect(addr).await;
            let (r, reusable) = roundtrip(
                &mut s,
                request(addr, "GET"),
                b"",
                BodyTarget::File {
                    path: path.clone(),
                    limit: 100,
                },
            )
            .await
            .unwrap();
            assert_eq!(r.status(), 404);
            assert_eq!(r.body().as_bytes(), b"not found");
            assert!(reusable);
        });
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn garbage_from_the_server_is_an_error_not_a_panic() {
        assert_eq!(
            memory_failure(b"SMTP ready\r\n\r\n\r\n".to_vec(), 100),
            TransportErrorKind::Io
        );
    }

    #[test]
    fn the_pool_times_out_a_silent_server() {
        // A server that accepts and never answers.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _keep = std::thread::spawn(move || {
            let conns: Vec<_> = listener.incoming().take(1).collect();
            std::thread::sleep(Duration::from_secs(2));
            drop(conns);
        });
        let pool = HttpPool::new(Io::with_roots(&[]));
        futures_lite::future::block_on(async {
            let started = Instant::now();
            let e = pool
                .perform(HttpRequest {
                    request: http::Request::get(format!("http://{addr}/"))
                        .body(Body::default())
                        .unwrap(),
                    timeout: Duration::from_millis(200),
                    target: BodyTarget::Memory { limit: 10 },
                })
                .await
                .unwrap_err();
            assert_eq!(e.kind, TransportErrorKind::Timeout);
            assert!(started.elapsed() < Duration::from_secs(1));
        });
    }

    #[test]
    fn origins_left_with_nothing_to_reuse_are_forgotten() {
        let pool = HttpPool::new(Io::with_roots(&[]));
        let get = |port: u16| HttpRequest {
            request: http::Request::get(format!("http://127.0.0.1:{port}/"))
                .body(Body::default())
                .unwrap(),
            timeout: Duration::from_secs(5),
            target: BodyTarget::Memory { limit: 10 },
        };
        // Ports that were free a moment ago: every request is refused.
        let ports: Vec<u16> = (0..50)
            .map(|_| {
                TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            })
            .collect();
        futures_lite::future::block_on(async {
            for port in ports {
                assert!(pool.perform(get(port)).await.is_err());
            }
        });
        assert!(pool.hosts.lock().unwrap().len() <= 1);
    }

    #[test]
    fn the_pool_reuses_its_kept_alive_connection() {
        // The server accepts one connection only: the second request needs the first's.
        let (addr, server) = serve(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\none".to_vec(),
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\ntwo".to_vec(),
        ]);
        let pool = HttpPool::new(Io::with_roots(&[]));
        let get = || HttpRequest {
            request: http::Request::get(format!("http://{addr}/"))
                .body(Body::default())
                .unwrap(),
            timeout: Duration::from_secs(5),
            target: BodyTarget::Memory { limit: 10 },
        };
        futures_lite::future::block_on(async {
            assert_eq!(pool.perform(get()).await.unwrap().body().as_bytes(), b"one");
            assert_eq!(pool.perform(get()).await.unwrap().body().as_bytes(), b"two");
        });
        assert_eq!(server.join().unwrap().len(), 2);
    }

    /// A TLS server on 127.0.0.1 for `localhost`, with a fresh self-signed certificate:
    /// answers `answers` requests on one connection. Returns its address and the
    /// certificate (DER) to trust.
    fn serve_tls(answers: usize) -> (std::net::SocketAddr, Vec<u8>, std::thread::JoinHandle<()>) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let der = cert.cert.der().to_vec();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone().into()], key)
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut buf = Vec::new();
            for n in 0..answers {
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    let mut chunk = [0u8; 1024];
                    match tls.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
                buf.clear();
                let body = format!("secure {n}");
                let _ = write!(
                    tls,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.flush();
            }
        });
        (addr, der, t)
    }

    fn https_get(port: u16) -> HttpRequest {
        HttpRequest {
            request: http::Request::get(format!("https://localhost:{port}/x"))
                .body(Body::default())
                .unwrap(),
            timeout: Duration::from_secs(5),
            target: BodyTarget::Memory { limit: 100 },
        }
    }

    #[test]
    fn https_with_the_given_root_on_one_kept_alive_connection() {
        let (addr, der, server) = serve_tls(2);
        let pool = HttpPool::new(Io::with_roots(&[der]));
        futures_lite::future::block_on(async {
            let r = pool.perform(https_get(addr.port())).await.unwrap();
            assert_eq!(r.body().as_bytes(), b"secure 0");
            // The server takes one connection only.
            let r = pool.perform(https_get(addr.port())).await.unwrap();
            assert_eq!(r.body().as_bytes(), b"secure 1");
        });
        server.join().unwrap();
    }

    #[test]
    fn a_certificate_outside_the_webpki_roots_is_refused() {
        let (addr, _, _server) = serve_tls(1);
        let pool = HttpPool::new(Io::with_roots(&[]));
        futures_lite::future::block_on(async {
            let e = pool.perform(https_get(addr.port())).await.unwrap_err();
            assert_eq!(e.kind, TransportErrorKind::Tls, "{e}");
        });
    }
}
