//! Sockets: TCP through `async-io`, TLS through `futures-rustls` (rustls with the ring
//! provider), name resolution on the `blocking` pool. Shared by HTTP and the WebSocket.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_io::Async;
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_rustls::client::TlsStream;
use futures_rustls::TlsConnector;
use rustls::pki_types::ServerName;
use unicat_core::error::{TransportError, TransportErrorKind};

pub(crate) use unicat_runtime_support::net::Origin;

/// What every connection shares: the TLS configuration and the sizes the core set.
#[derive(Clone)]
pub(crate) struct Io {
    pub(crate) tls: TlsConnector,
    /// The most connections open at once to one origin.
    pub(crate) max_connections: usize,
    /// The largest WebSocket message accepted.
    pub(crate) max_ws_message: usize,
}

impl Io {
    /// Connections with this TLS configuration.
    pub(crate) fn new(
        tls: Arc<rustls::ClientConfig>,
        max_connections: usize,
        max_ws_message: usize,
    ) -> Io {
        Io {
            tls: TlsConnector::from(tls),
            max_connections: max_connections.max(1),
            max_ws_message,
        }
    }

    /// Connections trusting the webpki roots, or exactly `roots` when given.
    #[cfg(test)]
    pub(crate) fn with_roots(roots: &[Vec<u8>]) -> Io {
        Io::new(
            unicat_runtime_support::tls::client_config(roots).unwrap(),
            2,
            1 << 20,
        )
    }
}

/// A TCP stream, in TLS or not.
pub(crate) enum Stream {
    Plain(Async<TcpStream>),
    Tls(Box<TlsStream<Async<TcpStream>>>),
}

impl Stream {
    /// Opens a connection to `origin`: resolves the name (off the executor, on the blocking
    /// pool, unless it is an IP address), connects to each address in turn, and does the TLS
    /// handshake for `https` and `wss`.
    pub(crate) async fn connect(origin: &Origin, io: &Io) -> Result<Stream, TransportError> {
        let addrs = match origin.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, origin.port)],
            Err(_) => {
                let target = origin.clone();
                blocking::unblock(move || target.resolve()).await?
            }
        };
        let mut last = TransportError::new(
            TransportErrorKind::Connect,
            format!("{}: no address", origin.host),
        );
        let mut tcp = None;
        for addr in addrs {
            match Async::<TcpStream>::connect(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => {
                    last = TransportError::new(TransportErrorKind::Connect, format!("{addr}: {e}"))
                }
            }
        }
        let tcp = tcp.ok_or(last)?;
        let _ = tcp.get_ref().set_nodelay(true);
        if !origin.tls {
            return Ok(Stream::Plain(tcp));
        }
        let name = ServerName::try_from(origin.host.clone()).map_err(|e| {
            TransportError::new(TransportErrorKind::Tls, format!("{}: {e}", origin.host))
        })?;
        let tls = io.tls.connect(name, tcp).await.map_err(|e| {
            // A refused certificate or a protocol error is TLS's; a reset or a timeout
            // during the handshake is the network's, and is retried like one.
            let kind = if e
                .get_ref()
                .is_some_and(|inner| inner.is::<futures_rustls::rustls::Error>())
            {
                TransportErrorKind::Tls
            } else {
                TransportErrorKind::Io
            };
            TransportError::new(kind, e.to_string())
        })?;
        Ok(Stream::Tls(Box::new(tls)))
    }

    /// Whether a pooled connection is still worth using: the server has not closed it and
    /// sent nothing unasked. Tries one read that must not be ready: `Ok(0)` is the peer's
    /// close, and any byte (a TLS alert, a stray response) makes the stream unusable.
    pub(crate) async fn is_reusable(&mut self) -> bool {
        use futures_lite::AsyncReadExt;
        let mut byte = [0u8; 1];
        futures_lite::future::poll_once(self.read(&mut byte))
            .await
            .is_none()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_close(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}
