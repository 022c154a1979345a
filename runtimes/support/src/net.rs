//! Where a connection goes, read from a request's URI the same way by every transport.

use unicat_core::error::{TransportError, TransportErrorKind};
use unicat_core::http::Uri;

/// Scheme, host and port of an `http(s)://` or `ws(s)://` URI: what a connection is opened
/// to, and what pools key on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    /// `https` or `wss`.
    pub tls: bool,
    /// The host, without the brackets an IPv6 literal has in a URI: resolvers and TLS
    /// server names want it bare.
    pub host: String,
    /// The port, or the scheme's default.
    pub port: u16,
}

impl Origin {
    /// The origin of `uri`.
    pub fn of(uri: &Uri) -> Result<Origin, TransportError> {
        let tls = match uri.scheme_str() {
            Some("https" | "wss") => true,
            Some("http" | "ws") => false,
            other => {
                return Err(TransportError::new(
                    TransportErrorKind::Other,
                    format!("unsupported scheme {other:?}"),
                ))
            }
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| TransportError::new(TransportErrorKind::Other, "no host in the URI"))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Origin { tls, host, port })
    }

    /// The addresses to try, resolving a name (this blocks); an IP literal is used as is.
    pub fn resolve(&self) -> Result<Vec<std::net::SocketAddr>, TransportError> {
        use std::net::ToSocketAddrs;
        if let Ok(ip) = self.host.parse::<std::net::IpAddr>() {
            return Ok(vec![std::net::SocketAddr::new(ip, self.port)]);
        }
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map(Iterator::collect)
            .map_err(|e| {
                TransportError::new(TransportErrorKind::Connect, format!("{}: {e}", self.host))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(uri: &str) -> Result<Origin, TransportError> {
        Origin::of(&uri.parse().unwrap())
    }

    #[test]
    fn ipv6_literals_lose_their_brackets() {
        let o = origin("ws://[::1]:8080/sync/io/").unwrap();
        assert_eq!((o.tls, o.host.as_str(), o.port), (false, "::1", 8080));
        assert_eq!(
            o.resolve().unwrap(),
            ["[::1]:8080".parse::<std::net::SocketAddr>().unwrap()]
        );
        assert_eq!(origin("https://[2001:db8::1]/").unwrap().port, 443);
    }

    #[test]
    fn names_and_defaults() {
        let o = origin("wss://unicat.app/sync/io/").unwrap();
        assert_eq!((o.tls, o.host.as_str(), o.port), (true, "unicat.app", 443));
        assert_eq!(origin("http://localhost/").unwrap().port, 80);
        assert!(origin("ftp://x/").is_err());
    }
}
