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
/// [`ConnRegistry`] and turns Nagle off (latency matters more than packet count here).
#[derive(Debug)]
pub(crate) struct KillListener {
    inner: TcpListener,
    registry: Arc<ConnRegistry>,
}

impl KillListener {
    pub(crate) fn new(inner: TcpListener, registry: Arc<ConnRegistry>) -> Self {
        Self { inner, registry }
    }
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
                            let io = KillableStream {
                                inner: stream,
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

/// A [`TcpStream`] that leaves the [`ConnRegistry`] when dropped.
#[derive(Debug)]
pub(crate) struct KillableStream {
    inner: TcpStream,
    id: u64,
    registry: Arc<ConnRegistry>,
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
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
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
