//! The one error of the crate, with a kind that says what failed.

use std::fmt;

/// The error a [`BodySink`](crate::BodySink) returns: anything, kept as the source of the
/// [`Error`] of kind [`ErrorKind::Sink`] it becomes.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Why a request or a connection failed.
///
/// Its text (`Display`) is a detail for people, without the kind: a caller that wraps it in
/// an error of its own names the kind itself. The error underneath (an I/O error, a TLS
/// alert, a sink's error) is kept as its [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<SinkError>,
}

/// The kinds of [`Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URI names no host, or a scheme other than `http`, `https`, `ws` and `wss`.
    InvalidUri,
    /// No connection could be made: the name did not resolve, or every address refused.
    Connect,
    /// TLS failed: the certificate was refused, the server name is not one, the peer broke
    /// the TLS protocol, or the connector has no TLS configuration.
    Tls,
    /// The connection broke while the request or the response was under way, or closed
    /// before the response was complete.
    Io,
    /// The request's timeout passed first, or the socket timed out.
    Timeout,
    /// The response body was longer than its destination's limit.
    TooLarge,
    /// The server's bytes are not HTTP/1.1 (a malformed head, head over 64 KiB), or the
    /// request could not be written as HTTP/1.1.
    Protocol,
    /// The caller's [`BodySink`](crate::BodySink) failed; its error is the source.
    Sink,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error whose text is `source`'s.
    pub(crate) fn caused(
        kind: ErrorKind,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error {
            kind,
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// A failure of the caller's sink.
    pub(crate) fn sink(source: SinkError) -> Error {
        Error {
            kind: ErrorKind::Sink,
            message: source.to_string(),
            source: Some(source),
        }
    }

    /// An I/O error: a timeout or a broken connection.
    pub(crate) fn io(e: std::io::Error) -> Error {
        let kind = match e.kind() {
            std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
            _ => ErrorKind::Io,
        };
        Error::caused(kind, e)
    }

    /// What `ureq-proto` refused.
    pub(crate) fn protocol(e: ureq_proto::Error) -> Error {
        Error::new(ErrorKind::Protocol, format!("HTTP: {e}"))
    }

    /// What failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The error underneath, taken out: a sink's own error comes back as it was returned.
    pub fn into_source(self) -> Option<SinkError> {
        self.source
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
