//! The roundtrip and the pool against canned one-connection servers, in the clear and in TLS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_io::Async;

use crate::*;

/// A one-connection server: reads requests (head plus `content-length` body) and answers
/// each with the next canned response. Returns the requests it read.
fn serve(answers: Vec<Vec<u8>>) -> (SocketAddr, std::thread::JoinHandle<Vec<String>>) {
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

fn request(addr: SocketAddr, method: &str) -> http::Request<()> {
    http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}/api/x?y=1"))
        .header("content-type", "application/json")
        .body(())
        .unwrap()
}

fn memory(limit: usize) -> Destination {
    Destination::Memory { limit }
}

/// How a GET answered with `answer`, read into memory up to `limit` bytes, fails.
fn memory_failure(answer: Vec<u8>, limit: usize) -> ErrorKind {
    let (addr, _server) = serve(vec![answer]);
    futures_lite::future::block_on(async {
        let mut s = connect(addr).await;
        let result = roundtrip(&mut s, request(addr, "GET"), b"", memory(limit)).await;
        result.map(|_| ()).unwrap_err().kind()
    })
}

async fn connect(addr: SocketAddr) -> Async<TcpStream> {
    Async::<TcpStream>::connect(addr).await.unwrap()
}

#[test]
fn a_chunk_size_line_that_never_ends_is_refused_not_buffered() {
    let mut answer = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    answer.extend(std::iter::repeat_n(b'1', 200 * 1024));
    assert_eq!(memory_failure(answer, 1024), ErrorKind::Protocol);
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
        let (r, reusable) = roundtrip(&mut s, request(addr, "POST"), br#"{"a":1}"#, memory(100))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-a"], "1");
        assert_eq!(r.body(), b"hello");
        assert!(reusable);
        let (r, reusable) = roundtrip(&mut s, request(addr, "GET"), b"", memory(100))
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.body(), b"abcde");
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
    // A roundtrip sends the request's own headers only.
    assert!(!seen[0].contains("user-agent"), "{}", seen[0]);
}

#[test]
fn a_body_over_its_memory_limit_is_too_large() {
    assert_eq!(
        memory_failure(
            b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello world".to_vec(),
            10
        ),
        ErrorKind::TooLarge
    );
}

#[test]
fn a_close_delimited_body_ends_at_the_close_and_is_not_reused() {
    let (addr, _server) = serve(vec![b"HTTP/1.1 200 OK\r\n\r\nuntil the end".to_vec()]);
    futures_lite::future::block_on(async {
        let mut s = connect(addr).await;
        let (r, reusable) = roundtrip(&mut s, request(addr, "GET"), b"", memory(100))
            .await
            .unwrap();
        assert_eq!(r.body(), b"until the end");
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
        ErrorKind::Io
    );
}

#[test]
fn garbage_from_the_server_is_an_error_not_a_panic() {
    assert_eq!(
        memory_failure(b"SMTP ready\r\n\r\n\r\n".to_vec(), 100),
        ErrorKind::Protocol
    );
}

/// What a [`Recorder`] was asked to do.
#[derive(Debug, Default, PartialEq)]
struct Record {
    opened: bool,
    bytes: Vec<u8>,
    finished: bool,
    dropped: bool,
}

/// A sink that records what it was asked, and fails its writes when told to.
struct Recorder {
    record: Arc<Mutex<Record>>,
    fail_writes: bool,
}

impl BodySink for Recorder {
    fn open(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        self.record.lock().unwrap().opened = true;
        Box::pin(async { Ok(()) })
    }

    fn write<'a>(&'a mut self, bytes: &'a [u8]) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            if self.fail_writes {
                return Err(std::io::Error::other("disk full").into());
            }
            self.record.lock().unwrap().bytes.extend_from_slice(bytes);
            Ok(())
        })
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<(), SinkError>> {
        self.record.lock().unwrap().finished = true;
        Box::pin(async { Ok(()) })
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.record.lock().unwrap().dropped = true;
    }
}

/// A response, and whether its connection can be reused.
type Exchanged = (http::Response<Vec<u8>>, bool);

/// A GET answered with `answer`, its body to a [`Recorder`] with `limit`: the result, and
/// what the sink was asked.
fn into_sink(answer: &[u8], limit: u64, fail_writes: bool) -> (Result<Exchanged, Error>, Record) {
    let (addr, _server) = serve(vec![answer.to_vec()]);
    let record = Arc::new(Mutex::new(Record::default()));
    let sink = Box::new(Recorder {
        record: Arc::clone(&record),
        fail_writes,
    });
    let destination = Destination::Sink {
        sink,
        limit,
        error_body_limit: 16,
    };
    let result = futures_lite::future::block_on(async {
        let mut s = connect(addr).await;
        roundtrip(&mut s, request(addr, "GET"), b"", destination).await
    });
    let record = std::mem::take(&mut *record.lock().unwrap());
    (result, record)
}

#[test]
fn a_200_into_a_sink_is_written_and_finished_and_answers_with_an_empty_body() {
    let (result, record) = into_sink(
        b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nJPEG!!",
        100,
        false,
    );
    let (r, reusable) = result.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.body().is_empty());
    assert!(reusable);
    let expected = Record {
        opened: true,
        bytes: b"JPEG!!".to_vec(),
        finished: true,
        dropped: true,
    };
    assert_eq!(record, expected);
}

#[test]
fn a_body_over_the_sinks_limit_is_too_large_and_the_sink_dropped_unfinished() {
    let (result, record) = into_sink(
        b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n01234567890123456789",
        10,
        false,
    );
    assert_eq!(result.unwrap_err().kind(), ErrorKind::TooLarge);
    assert!(
        record.opened && record.dropped && !record.finished,
        "{record:?}"
    );
}

#[test]
fn a_non_200_comes_back_in_memory_and_the_sink_is_never_opened() {
    let (result, record) = into_sink(
        b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\nnot found",
        100,
        false,
    );
    let (r, reusable) = result.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.body(), b"not found");
    assert!(reusable);
    assert!(!record.opened && record.dropped && record.bytes.is_empty());
}

#[test]
fn a_non_200_body_is_cut_at_the_error_body_limit_and_its_connection_not_reused() {
    let (result, _) = into_sink(
        b"HTTP/1.1 500 Oops\r\ncontent-length: 40\r\n\r\n0123456789012345678901234567890123456789",
        100,
        false,
    );
    let (r, reusable) = result.unwrap();
    assert_eq!(r.body(), b"0123456789012345");
    assert!(!reusable);
}

#[test]
fn a_failing_sink_is_a_sink_error_with_its_own_error_as_the_source() {
    let (result, record) = into_sink(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", 100, true);
    let e = result.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Sink);
    assert_eq!(e.to_string(), "disk full");
    let source = std::error::Error::source(&e).unwrap();
    assert!(source.downcast_ref::<std::io::Error>().is_some());
    assert!(!record.finished);
}

fn get(uri: String) -> http::Request<Vec<u8>> {
    http::Request::get(uri).body(Vec::new()).unwrap()
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
    let pool = Pool::new(Connector::plain()).max_connections(2);
    futures_lite::future::block_on(async {
        let started = Instant::now();
        let e = pool
            .perform(
                get(format!("http://{addr}/")),
                memory(10),
                Duration::from_millis(200),
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(started.elapsed() < Duration::from_secs(1));
    });
}

#[test]
fn origins_left_with_nothing_to_reuse_are_forgotten() {
    let pool = Pool::new(Connector::plain()).max_connections(2);
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
            let request = get(format!("http://127.0.0.1:{port}/"));
            let e = pool
                .perform(request, memory(10), Duration::from_secs(5))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
        }
    });
    assert!(pool.hosts.lock().unwrap().len() <= 1);
}

/// Whether a request `serve` read has the header line `line`.
fn has_line(request: &str, line: &str) -> bool {
    request.lines().any(|l| l.trim_end() == line)
}

#[test]
fn the_pool_reuses_its_kept_alive_connection_and_names_itself() {
    // The server accepts one connection only: the second request needs the first's.
    let (addr, server) = serve(vec![
        b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\none".to_vec(),
        b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\ntwo".to_vec(),
    ]);
    let pool = Pool::new(Connector::plain()).user_agent(http::HeaderValue::from_static("me/1"));
    let mut own = get(format!("http://{addr}/"));
    own.headers_mut()
        .insert("user-agent", http::HeaderValue::from_static("mine/2"));
    futures_lite::future::block_on(async {
        let in_time = Duration::from_secs(5);
        let r = pool.perform(get(format!("http://{addr}/")), memory(10), in_time);
        assert_eq!(r.await.unwrap().body(), b"one");
        let r = pool.perform(own, memory(10), in_time);
        assert_eq!(r.await.unwrap().body(), b"two");
    });
    let seen = server.join().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(has_line(&seen[0], "user-agent: me/1"), "{}", seen[0]);
    assert!(has_line(&seen[1], "user-agent: mine/2"), "{}", seen[1]);
}

#[test]
fn the_default_user_agent_names_the_crate() {
    let (addr, server) = serve(vec![b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()]);
    let pool = Pool::new(Connector::plain());
    let r = pool.perform(
        get(format!("http://{addr}/")),
        memory(0),
        Duration::from_secs(5),
    );
    assert_eq!(futures_lite::future::block_on(r).unwrap().status(), 204);
    let seen = server.join().unwrap();
    let line = format!("user-agent: {DEFAULT_USER_AGENT}");
    assert!(has_line(&seen[0], &line), "{}", seen[0]);
}

/// A TLS server on 127.0.0.1 for `localhost`, with a fresh self-signed certificate: answers
/// `answers` requests on one connection. Returns its address and the certificate (DER) to
/// trust.
fn serve_tls(answers: usize) -> (SocketAddr, Vec<u8>, std::thread::JoinHandle<()>) {
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

/// A pool trusting `root` only, or the webpki roots.
fn tls_pool(root: Option<Vec<u8>>) -> Pool {
    let mut trusted = rustls::RootCertStore::empty();
    match root {
        Some(der) => trusted.add(der.into()).unwrap(),
        None => trusted.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let ring = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(ring)
        .with_safe_default_protocol_versions()
        .unwrap();
    let client = client.with_root_certificates(trusted).with_no_client_auth();
    Pool::new(Connector::new(Arc::new(client))).max_connections(2)
}

async fn https_get(pool: &Pool, port: u16) -> Result<http::Response<Vec<u8>>, Error> {
    let request = get(format!("https://localhost:{port}/x"));
    pool.perform(request, memory(100), Duration::from_secs(5))
        .await
}

#[test]
fn https_with_the_given_root_on_one_kept_alive_connection() {
    let (addr, der, server) = serve_tls(2);
    let pool = tls_pool(Some(der));
    futures_lite::future::block_on(async {
        let r = https_get(&pool, addr.port()).await.unwrap();
        assert_eq!(r.body(), b"secure 0");
        // The server takes one connection only.
        let r = https_get(&pool, addr.port()).await.unwrap();
        assert_eq!(r.body(), b"secure 1");
    });
    server.join().unwrap();
}

#[test]
fn a_certificate_outside_the_webpki_roots_is_refused() {
    let (addr, _, _server) = serve_tls(1);
    let pool = tls_pool(None);
    futures_lite::future::block_on(async {
        let e = https_get(&pool, addr.port()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
        let source = std::error::Error::source(&e).unwrap();
        assert!(
            source.downcast_ref::<std::io::Error>().is_some(),
            "{source}"
        );
    });
}
