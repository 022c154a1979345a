//! The TCP side: a listener whose accepted connections can be cut at the transport level (no
//! HTTP or Socket.IO goodbye) in every way a network or a server can cut them, a listener that
//! can stop listening for a while as a restarting server does, and the peer address handed to
//! the request handlers.
//!
//! Every fault here is real: the client sees a FIN, an RST, a WebSocket close frame, or
//! nothing at all on its own socket, never a message from the server saying so.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::lock;

/// How to cut a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Both directions shut down at once: the peer reads a FIN.
    Fin,
    /// The connection is reset: the peer reads an RST.
    Reset,
    /// The server stops reading and writing and sends nothing, no FIN either, as a network
    /// that drops every packet would: only the peer's heartbeat or timeouts notice.
    Silence,
    /// A WebSocket gets a close frame (code 1000) at its next frame boundary; other
    /// connections are left alone.
    CloseFrame,
}

// A connection's fault: 0 while none is ordered.
const FAULT_RESET: u8 = 1;
const FAULT_SILENCE: u8 = 2;
const FAULT_CLOSE_FRAME: u8 = 3;

/// What the registry and a connection's stream share: the fault ordered on it, and the waker
/// of its reader, so an idle connection notices the order at once.
#[derive(Debug, Default)]
struct Shared {
    fault: AtomicU8,
    reader: Mutex<Option<Waker>>,
}

impl Shared {
    fn order(&self, fault: u8) {
        self.fault.store(fault, Ordering::SeqCst);
        if let Some(w) = lock(&self.reader).take() {
            w.wake();
        }
    }
}

#[derive(Debug)]
struct Entry {
    /// A duplicated handle: socket options and `shutdown(2)` act on the socket itself.
    sock: socket2::Socket,
    peer: SocketAddr,
    shared: Arc<Shared>,
}

/// Every open connection of the server, so that they can be cut from any thread while their
/// tasks keep owning the streams.
#[derive(Debug, Default)]
pub(crate) struct ConnRegistry {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Entry>>,
    /// Streams of silenced connections whose tasks ended: kept open, so that no FIN ever
    /// leaves them, until the server shuts down.
    graveyard: Mutex<Vec<Conn>>,
}

impl ConnRegistry {
    fn register(&self, stream: &TcpStream, peer: SocketAddr) -> io::Result<(u64, Arc<Shared>)> {
        let sock = socket2::SockRef::from(stream).try_clone()?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(Shared::default());
        lock(&self.open).insert(
            id,
            Entry {
                sock,
                peer,
                shared: Arc::clone(&shared),
            },
        );
        Ok((id, shared))
    }

    fn remove(&self, id: u64) {
        lock(&self.open).remove(&id);
    }

    /// Cuts every connection open right now (but the one from `spare`, the peer of a control
    /// request that asked for it, so that request gets its answer); returns how many.
    pub(crate) fn cut_all(&self, how: Cut, spare: Option<SocketAddr>) -> usize {
        let open = lock(&self.open);
        let mut cut = 0;
        for entry in open.values() {
            if Some(entry.peer) == spare {
                continue;
            }
            match how {
                // A socket the peer already closed may answer ENOTCONN: it is gone either way.
                Cut::Fin => {
                    let _ = entry.sock.shutdown(Shutdown::Both);
                }
                Cut::Reset => {
                    // With a zero linger, the close that follows the stream's error resets.
                    let _ = entry.sock.set_linger(Some(Duration::ZERO));
                    entry.shared.order(FAULT_RESET);
                }
                Cut::Silence => entry.shared.order(FAULT_SILENCE),
                Cut::CloseFrame => entry.shared.order(FAULT_CLOSE_FRAME),
            }
            cut += 1;
        }
        cut
    }

    /// Shuts every connection down with a FIN, and lets the silenced ones go.
    pub(crate) fn kill_all(&self) -> usize {
        lock(&self.graveyard).clear();
        self.cut_all(Cut::Fin, None)
    }

    /// Number of connections currently open.
    pub(crate) fn open_count(&self) -> usize {
        lock(&self.open).len()
    }
}

/// An axum [`Listener`] over a tokio [`TcpListener`] that registers every accepted stream in a
/// [`ConnRegistry`], turns Nagle off (latency matters more than packet count here), in TLS
/// mode runs the handshake before handing the stream over, and on a restart order stops
/// listening for a while: connections are refused until it listens again on the same port.
pub(crate) struct KillListener {
    inner: Option<TcpListener>,
    addr: SocketAddr,
    registry: Arc<ConnRegistry>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    restarts: tokio::sync::mpsc::UnboundedReceiver<Restart>,
}

/// A restart order: cut everything, refuse connections for `down`, then listen again.
pub(crate) struct Restart {
    pub(crate) down: Duration,
    /// Runs once nothing listens any more, before the wait: what the restart forgets.
    pub(crate) forget: Box<dyn FnOnce() + Send>,
}

impl std::fmt::Debug for KillListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KillListener")
            .field("addr", &self.addr)
            .field("listening", &self.inner.is_some())
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Restart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Restart")
            .field("down", &self.down)
            .finish_non_exhaustive()
    }
}

impl KillListener {
    pub(crate) fn new(
        inner: TcpListener,
        registry: Arc<ConnRegistry>,
        tls: Option<tokio_rustls::TlsAcceptor>,
        restarts: tokio::sync::mpsc::UnboundedReceiver<Restart>,
    ) -> io::Result<Self> {
        Ok(Self {
            addr: inner.local_addr()?,
            inner: Some(inner),
            registry,
            tls,
            restarts,
        })
    }

    /// Stops listening (new connections are refused), cuts every connection, waits, and
    /// listens again on the same address.
    async fn restart(&mut self, order: Restart) {
        self.inner = None;
        self.registry.kill_all();
        (order.forget)();
        tokio::time::sleep(order.down).await;
        self.listen_again().await;
    }

    async fn listen_again(&mut self) {
        loop {
            // std sets SO_REUSEADDR on Unix, so the port is free again although connections
            // of the previous life linger in TIME_WAIT.
            let bound = std::net::TcpListener::bind(self.addr).and_then(|l| {
                l.set_nonblocking(true)?;
                TcpListener::from_std(l)
            });
            match bound {
                Ok(l) => {
                    self.inner = Some(l);
                    log::info!("dev server listening again on {}", self.addr);
                    return;
                }
                Err(e) => {
                    log::warn!("cannot listen again on {} yet: {e}", self.addr);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    async fn wrap(&self, stream: TcpStream, addr: SocketAddr) -> Option<KillableStream> {
        let _ = stream.set_nodelay(true);
        let (id, shared) = match self.registry.register(&stream, addr) {
            Ok(r) => r,
            Err(e) => {
                log::warn!("dropping a connection that can't be registered: {e}");
                return None;
            }
        };
        let inner = match &self.tls {
            None => Conn::Plain(stream),
            Some(acceptor) => {
                let handshake = acceptor.accept(stream);
                match tokio::time::timeout(Duration::from_secs(5), handshake).await {
                    Ok(Ok(tls)) => Conn::Tls(Box::new(tls)),
                    Ok(Err(e)) => {
                        log::debug!("TLS handshake failed: {e}");
                        self.registry.remove(id);
                        return None;
                    }
                    Err(_) => {
                        log::debug!("TLS handshake timed out");
                        self.registry.remove(id);
                        return None;
                    }
                }
            }
        };
        Some(KillableStream {
            inner: Some(inner),
            id,
            registry: Arc::clone(&self.registry),
            shared,
            frames: Frames::default(),
            close_frame: Vec::new(),
            closed: false,
        })
    }
}

/// A self-signed certificate for `127.0.0.1` and `localhost`, and the acceptor serving it.
pub(crate) fn self_signed() -> io::Result<(tokio_rustls::TlsAcceptor, Vec<u8>, String)> {
    let err = |e: &dyn std::fmt::Display| io::Error::other(e.to_string());
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .map_err(|e| err(&e))?;
    let der = cert.cert.der().to_vec();
    let pem = cert.cert.pem();
    let key = rustls_key(cert.key_pair.serialize_der());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| err(&e))?
    .with_no_client_auth()
    .with_single_cert(vec![der.clone().into()], key)
    .map_err(|e| err(&e))?;
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), der, pem))
}

fn rustls_key(der: Vec<u8>) -> tokio_rustls::rustls::pki_types::PrivateKeyDer<'static> {
    tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(der.into())
}

impl Listener for KillListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let accepted = match &self.inner {
                Some(listener) => tokio::select! {
                    r = listener.accept() => Ok(r),
                    Some(order) = self.restarts.recv() => Err(order),
                },
                None => {
                    // A restart cut short (its future dropped) left nothing listening.
                    self.listen_again().await;
                    continue;
                }
            };
            match accepted {
                Err(order) => self.restart(order).await,
                Ok(Ok((stream, addr))) => {
                    if let Some(io) = self.wrap(stream, addr).await {
                        return (io, addr);
                    }
                }
                Ok(Err(e)) => {
                    // EMFILE and friends: back off a little instead of spinning.
                    log::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

/// A connection: plain TCP, or TLS over it.
#[derive(Debug)]
enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

macro_rules! each {
    ($conn:expr, $s:ident => $e:expr) => {
        match $conn {
            Conn::Plain($s) => $e,
            Conn::Tls($s) => $e,
        }
    };
}

/// Where the server's writes stand in the WebSocket frame stream, so that a close frame can go
/// between two frames and never into one. Before the `101` answer the connection speaks
/// HTTP and is no WebSocket at all.
#[derive(Debug, Default)]
struct Frames {
    /// The last bytes of HTTP written, to find `HTTP/1.1 101 ` and the end of its head across
    /// writes.
    http_tail: Vec<u8>,
    upgrading: bool,
    websocket: bool,
    /// The header of the frame being written, while incomplete.
    header: Vec<u8>,
    /// Payload bytes of the current frame still to come.
    remaining: u64,
}

impl Frames {
    fn at_boundary(&self) -> bool {
        self.websocket && self.header.is_empty() && self.remaining == 0
    }

    fn wrote(&mut self, mut bytes: &[u8]) {
        if !self.websocket {
            self.http_tail.extend_from_slice(bytes);
            let find =
                |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
            if !self.upgrading {
                match find(&self.http_tail, b"HTTP/1.1 101 ") {
                    Some(at) => {
                        self.upgrading = true;
                        self.http_tail.drain(..at);
                    }
                    None => {
                        let keep = self.http_tail.len().saturating_sub(16);
                        self.http_tail.drain(..keep);
                        return;
                    }
                }
            }
            let Some(end) = find(&self.http_tail, b"\r\n\r\n") else {
                return;
            };
            let rest = self.http_tail.split_off(end + 4);
            self.http_tail.clear();
            self.websocket = true;
            return self.frames(&rest);
        }
        self.frames(std::mem::take(&mut bytes));
    }

    fn frames(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.remaining > 0 {
                let n = bytes
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                self.remaining -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            self.header.push(bytes[0]);
            bytes = &bytes[1..];
            if let Some(len) = self.header_done() {
                self.header.clear();
                self.remaining = len;
            }
        }
    }

    /// The payload length once the header is complete.
    fn header_done(&self) -> Option<u64> {
        let h = &self.header;
        if h.len() < 2 {
            return None;
        }
        let masked = h[1] & 0x80 != 0;
        let (ext, len7) = match h[1] & 0x7f {
            126 => (2, None),
            127 => (8, None),
            n => (0, Some(u64::from(n))),
        };
        let need = 2 + ext + if masked { 4 } else { 0 };
        if h.len() < need {
            return None;
        }
        Some(len7.unwrap_or_else(|| {
            h[2..2 + ext]
                .iter()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
        }))
    }
}

/// A server frame: close, code 1000.
const CLOSE_FRAME: [u8; 4] = [0x88, 0x02, 0x03, 0xe8];

/// A connection that can be cut in any of the [`Cut`] ways, and leaves the [`ConnRegistry`]
/// when dropped.
#[derive(Debug)]
pub(crate) struct KillableStream {
    /// `None` only once handed to the graveyard.
    inner: Option<Conn>,
    id: u64,
    registry: Arc<ConnRegistry>,
    shared: Arc<Shared>,
    frames: Frames,
    /// Bytes of the close frame still to write.
    close_frame: Vec<u8>,
    /// The close frame went out: the server's later writes go nowhere.
    closed: bool,
}

impl KillableStream {
    fn fault(&self) -> u8 {
        self.shared.fault.load(Ordering::SeqCst)
    }

    fn conn(&mut self) -> io::Result<&mut Conn> {
        self.inner
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    /// Writes the close frame if one is ordered and the stream stands between frames.
    fn poll_close_frame(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.closed || self.fault() != FAULT_CLOSE_FRAME || !self.frames.at_boundary() {
            return Poll::Ready(Ok(()));
        }
        if self.close_frame.is_empty() {
            self.close_frame = CLOSE_FRAME.to_vec();
        }
        while !self.close_frame.is_empty() {
            let buf = std::mem::take(&mut self.close_frame);
            let conn = self.conn()?;
            match each!(conn, s => Pin::new(s).poll_write(cx, &buf)) {
                Poll::Ready(Ok(n)) => self.close_frame = buf[n..].to_vec(),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    self.close_frame = buf;
                    return Poll::Pending;
                }
            }
        }
        self.closed = true;
        let conn = self.conn()?;
        each!(conn, s => Pin::new(s).poll_flush(cx))
    }
}

fn reset() -> io::Error {
    io::Error::from(io::ErrorKind::ConnectionReset)
}

impl Drop for KillableStream {
    fn drop(&mut self) {
        self.registry.remove(self.id);
        if self.fault() == FAULT_SILENCE {
            if let Some(conn) = self.inner.take() {
                lock(&self.registry.graveyard).push(conn);
            }
        }
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        *lock(&self.shared.reader) = Some(cx.waker().clone());
        match self.fault() {
            FAULT_RESET => return Poll::Ready(Err(reset())),
            FAULT_SILENCE => return Poll::Pending,
            FAULT_CLOSE_FRAME => {
                if let Poll::Ready(Err(e)) = self.poll_close_frame(cx) {
                    return Poll::Ready(Err(e));
                }
            }
            _ => {}
        }
        let conn = self.conn()?;
        each!(conn, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.fault() {
            FAULT_RESET => return Poll::Ready(Err(reset())),
            FAULT_SILENCE => return Poll::Pending,
            FAULT_CLOSE_FRAME => match self.poll_close_frame(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            },
            _ => {}
        }
        if self.closed {
            // After its close frame a WebSocket server sends nothing more.
            return Poll::Ready(Ok(buf.len()));
        }
        let conn = self.conn()?;
        let written = each!(conn, s => Pin::new(s).poll_write(cx, buf));
        if let Poll::Ready(Ok(n)) = written {
            self.frames.wrote(&buf[..n]);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.fault() {
            FAULT_RESET => Poll::Ready(Err(reset())),
            FAULT_SILENCE => Poll::Pending,
            _ => {
                let conn = self.conn()?;
                each!(conn, s => Pin::new(s).poll_flush(cx))
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.fault() {
            FAULT_RESET => Poll::Ready(Err(reset())),
            FAULT_SILENCE => Poll::Pending,
            _ => {
                let conn = self.conn()?;
                each!(conn, s => Pin::new(s).poll_shutdown(cx))
            }
        }
    }
}

/// The remote address of the connection a request came in on (for the `/_dev/` loopback check).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

impl Connected<IncomingStream<'_, KillListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, KillListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_boundaries_are_found_across_writes() {
        let mut f = Frames::default();
        f.wrote(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        assert!(!f.at_boundary(), "plain HTTP is no WebSocket");
        f.wrote(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r");
        f.wrote(b"\n\r\n\x81\x05hel");
        assert!(!f.at_boundary(), "in the middle of a text frame");
        f.wrote(b"lo");
        assert!(f.at_boundary());
        // A 300-byte frame with a 16-bit length, split inside its header.
        f.wrote(&[0x81, 126]);
        assert!(!f.at_boundary());
        f.wrote(&[0x01, 0x2c]);
        f.wrote(&[b'x'; 299]);
        assert!(!f.at_boundary());
        f.wrote(b"x\x89\x00");
        assert!(f.at_boundary(), "a ping with no payload ends at once");
    }
}
