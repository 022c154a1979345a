//! Connections: TCP through `async-io`, TLS through `futures-rustls`, name resolution on the
//! `blocking` pool.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_io::Async;
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_rustls::client::TlsStream;
use futures_rustls::TlsConnector;
use http::Uri;
use rustls::pki_types::ServerName;

use crate::{Error, ErrorKind};

/// Where a connection goes: TLS or not, host and port, as read from an `http(s)://` or
/// `ws(s)://` URI. The pool keeps its connections per origin.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    tls: bool,
    host: String,
    port: u16,
}

impl Origin {
    /// An origin; an IPv6 `host` may come with or without its brackets.
    pub fn new(tls: bool, host: &str, port: u16) -> Origin {
        let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
        Origin {
            tls,
            host: bare.unwrap_or(host).to_owned(),
            port,
        }
    }

    /// The origin of `uri`: `https` and `wss` are TLS, the port defaults to the scheme's.
    /// An [`ErrorKind::InvalidUri`] for another scheme or no host.
    pub fn of(uri: &Uri) -> Result<Origin, Error> {
        let invalid = |message: String| Error::new(ErrorKind::InvalidUri, message);
        let (tls, default_port) = match uri.scheme_str() {
            Some("https" | "wss") => (true, 443),
            Some("http" | "ws") => (false, 80),
            other => return Err(invalid(format!("unsupported scheme {other:?}"))),
        };
        match uri.host() {
            Some(host) if !host.is_empty() => Ok(Origin::new(
                tls,
                host,
                uri.port_u16().unwrap_or(default_port),
            )),
            _ => Err(invalid("no host in the URI".into())),
        }
    }

    /// Whether connections to the origin are in TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The host, an IPv6 address without brackets: as resolvers and TLS want it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Opens connections: TCP, and TLS with the caller's rustls configuration for `https` and
/// `wss` origins. Cheap to clone.
#[derive(Clone)]
pub struct Connector {
    tls: Option<TlsConnector>,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Connector {
    /// Connections trusting what `tls` trusts (its roots, its provider, its versions).
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Connector {
        Connector {
            tls: Some(TlsConnector::from(tls)),
        }
    }

    /// Plain TCP only: a TLS origin fails with [`ErrorKind::Tls`].
    pub fn plain() -> Connector {
        Connector { tls: None }
    }

    /// Opens a connection to `origin`: resolves the name (on the `blocking` pool, unless it
    /// is an IP address), connects to each address in turn, and for a TLS origin does the
    /// handshake. A refused certificate or a TLS protocol error is [`ErrorKind::Tls`]; a
    /// reset during the handshake is the network's, [`ErrorKind::Io`].
    pub async fn connect(&self, origin: &Origin) -> Result<Stream, Error> {
        let tcp = tcp(origin).await?;
        let _ = tcp.get_ref().set_nodelay(true);
        if !origin.tls {
            return Ok(Stream(Inner::Plain(tcp)));
        }
        let tls_error = |message: String| Error::new(ErrorKind::Tls, message);
        let connector = self
            .tls
            .as_ref()
            .ok_or_else(|| tls_error(format!("{}: no TLS configuration", origin.host)))?;
        let name = ServerName::try_from(origin.host.clone())
            .map_err(|e| tls_error(format!("{}: {e}", origin.host)))?;
        let tls = connector.connect(name, tcp).await.map_err(|e| {
            let refused = e.get_ref().is_some_and(|i| i.is::<rustls::Error>());
            match refused {
                true => Error::caused(ErrorKind::Tls, e),
                false => Error::caused(ErrorKind::Io, e),
            }
        })?;
        Ok(Stream(Inner::Tls(Box::new(tls))))
    }
}

/// The addresses of `origin`, tried in turn; the last failure when none connects.
async fn tcp(origin: &Origin) -> Result<Async<TcpStream>, Error> {
    let addrs = match origin.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, origin.port)],
        Err(_) => {
            let (host, port) = (origin.host.clone(), origin.port);
            blocking::unblock(move || match (host.as_str(), port).to_socket_addrs() {
                Ok(found) => Ok(found.collect()),
                Err(e) => Err(Error::new(ErrorKind::Connect, format!("{host}: {e}"))),
            })
            .await?
        }
    };
    let mut last = Error::new(ErrorKind::Connect, format!("{}: no address", origin.host));
    for addr in addrs {
        match Async::<TcpStream>::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Error::new(ErrorKind::Connect, format!("{addr}: {e}")),
        }
    }
    Err(last)
}

/// A connection, in TLS or not: what [`Connector::connect`] opens, for HTTP through the
/// [`Pool`](crate::Pool) or [`roundtrip`](crate::roundtrip), or for a WebSocket library over
/// `futures-io` streams (`async-tungstenite`).
pub struct Stream(Inner);

enum Inner {
    Plain(Async<TcpStream>),
    Tls(Box<TlsStream<Async<TcpStream>>>),
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Inner::Plain(_) => "Stream::Plain",
            Inner::Tls(_) => "Stream::Tls",
        })
    }
}

impl Stream {
    /// Whether the connection is in TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.0, Inner::Tls(_))
    }

    /// The TCP socket underneath.
    pub fn tcp(&self) -> &Async<TcpStream> {
        match &self.0 {
            Inner::Plain(s) => s,
            Inner::Tls(s) => s.get_ref().0,
        }
    }

    /// Whether an idle connection is still worth using: the server has not closed it and
    /// sent nothing unasked. Tries one read that must not be ready: `Ok(0)` is the peer's
    /// close, and any byte (a TLS alert, a stray response) makes the stream unusable.
    pub async fn is_reusable(&mut self) -> bool {
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
        match &mut self.get_mut().0 {
            Inner::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            Inner::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Inner::Plain(s) => Pin::new(s).poll_flush(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Inner::Plain(s) => Pin::new(s).poll_close(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_of_uris() {
        let table = [
            ("ws://[::1]:8080/sync/io/", Some((false, "::1", 8080))),
            ("wss://unicat.app/sync/io/", Some((true, "unicat.app", 443))),
            ("https://[2001:db8::1]/", Some((true, "2001:db8::1", 443))),
            ("http://localhost/", Some((false, "localhost", 80))),
            ("ftp://x/", None),
            ("/relative", None),
        ];
        for (uri, expected) in table {
            let found = match Origin::of(&uri.parse().unwrap()) {
                Ok(o) => Some((o.is_tls(), o.host().to_string(), o.port())),
                Err(e) if e.kind() == ErrorKind::InvalidUri => None,
                Err(e) => panic!("{uri}: {e}"),
            };
            let expected = expected.map(|(tls, host, port)| (tls, host.to_string(), port));
            assert_eq!(found, expected, "{uri}");
        }
    }

    #[test]
    fn a_tls_origin_without_a_tls_configuration_fails() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let tls = Origin::new(true, "127.0.0.1", port);
        let e = futures_lite::future::block_on(Connector::plain().connect(&tls)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    }

    #[test]
    fn a_refused_connection_is_a_connect_failure() {
        // A port that was free a moment ago.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let plain = Origin::new(false, "localhost", port);
        let e = futures_lite::future::block_on(Connector::plain().connect(&plain)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    }
}
