//! The TCP side: a listener whose accepted connections can all be cut at once, at the transport
//! level (no HTTP or Socket.IO goodbye), and the peer address handed to the request handlers.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::lock;

/// Every open connection of the server, as a duplicated socket handle that can be shut down
/// from any thread while the connection task keeps owning the stream.
#[derive(Debug, Default)]
pub(crate) struct ConnRegistry {
    next: AtomicU64,
    open: Mutex<HashMap<u64, (socket2::Socket, SocketAddr)>>,
}

impl ConnRegistry {
    fn register(&self, stream: &TcpStream, peer: SocketAddr) -> io::Result<u64> {
        let dup = socket2::SockRef::from(stream).try_clone()?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        lock(&self.open).insert(id, (dup, peer));
        Ok(id)
    }

    fn remove(&self, id: u64) {
        lock(&self.open).remove(&id);
    }

    /// Shuts down (both directions) every connection open right now; returns how many.
    ///
    /// `shutdown(2)` acts on the socket, not on the duplicated descriptor, so the peer sees the
    /// connection end at once and the server's own reads and writes on it fail.
    pub(crate) fn kill_all(&self) -> usize {
        self.kill_all_except(None)
    }

    /// [`kill_all`](Self::kill_all), sparing the connection from `spare` (the peer address of
    /// the control request asking for it, so that request still gets its answer).
    pub(crate) fn kill_all_except(&self, spare: Option<SocketAddr>) -> usize {
        let open = lock(&self.open);
        let mut killed = 0;
        for (sock, peer) in open.values() {
            if Some(*peer) == spare {
                continue;
            }
            // A socket the peer already closed may answer ENOTCONN: it is gone either way.
            let _ = sock.shutdown(Shutdown::Both);
            killed += 1;
        }
        killed
    }

    /// Number of connections currently open.
    pub(crate) fn open_count(&self) -> usize {
        lock(&self.open).len()
    }
}

/// An axum [`Listener`] over a tokio [`TcpListener`] that registers every accepted stream in a
/// [`ConnRegistry`], turns Nagle off (latency matters more than packet count here), and in TLS
/// mode runs the handshake before handing the stream over.
pub(crate) struct KillListener {
    inner: TcpListener,
    registry: Arc<ConnRegistry>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for KillListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KillListener")
            .field("inner", &self.inner)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl KillListener {
    pub(crate) fn new(
        inner: TcpListener,
        registry: Arc<ConnRegistry>,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        Self {
            inner,
            registry,
            tls,
        }
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
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    match self.registry.register(&stream, addr) {
                        Ok(id) => {
                            let inner = match &self.tls {
                                None => Conn::Plain(stream),
                                Some(acceptor) => {
                                    let handshake = acceptor.accept(stream);
                                    match tokio::time::timeout(Duration::from_secs(5), handshake)
                                        .await
                                    {
                                        Ok(Ok(tls)) => Conn::Tls(Box::new(tls)),
                                        Ok(Err(e)) => {
                                            log::debug!("TLS handshake failed: {e}");
                                            self.registry.remove(id);
                                            continue;
                                        }
                                        Err(_) => {
                                            log::debug!("TLS handshake timed out");
                                            self.registry.remove(id);
                                            continue;
                                        }
                                    }
                                }
                            };
                            let io = KillableStream {
                                inner,
                                id,
                                registry: Arc::clone(&self.registry),
                            };
                            return (io, addr);
                        }
                        Err(e) => log::warn!("dropping a connection that can't be registered: {e}"),
                    }
                }
                Err(e) => {
                    // EMFILE and friends: back off a little instead of spinning.
                    log::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection: plain TCP, or TLS over it.
#[derive(Debug)]
enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// A connection that leaves the [`ConnRegistry`] when dropped.
#[derive(Debug)]
pub(crate) struct KillableStream {
    inner: Conn,
    id: u64,
    registry: Arc<ConnRegistry>,
}

macro_rules! each {
    ($conn:expr, $s:ident => $e:expr) => {
        match $conn {
            Conn::Plain($s) => $e,
            Conn::Tls($s) => $e,
        }
    };
}

impl Drop for KillableStream {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(&mut self.inner, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(&mut self.inner, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(&mut self.inner, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        each!(&self.inner, s => s.is_write_vectored())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(&mut self.inner, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(&mut self.inner, s => Pin::new(s).poll_shutdown(cx))
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
