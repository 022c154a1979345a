//! An HTTP/1.1 client on smol's reactor, with no tokio anywhere: `ureq-proto`'s sans-IO
//! state machine writes and parses the bytes, `async-io` sockets carry them, `futures-rustls`
//! encrypts them with the caller's rustls configuration, and a [`Pool`] keeps connections
//! alive per origin, at most a few at once.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use unicat_smol_http::{Connector, Destination, Pool};
//!
//! # fn tls_config() -> Arc<rustls::ClientConfig> { unimplemented!() }
//! # fn main() -> Result<(), unicat_smol_http::Error> {
//! // Any rustls configuration: its roots are what the connections trust.
//! let pool = Pool::new(Connector::new(tls_config())).max_connections(4);
//! async_io::block_on(async {
//!     let request = http::Request::get("https://example.com/").body(Vec::new()).unwrap();
//!     let limit = Destination::Memory { limit: 1 << 20 };
//!     let response = pool.perform(request, limit, Duration::from_secs(10)).await?;
//!     println!("{} {}", response.status(), String::from_utf8_lossy(response.body()));
//!     // The next request to the origin reuses the kept-alive connection.
//!     Ok(())
//! })
//! # }
//! ```
//!
//! The futures wait only on the `async-io` reactor and its timers, so any executor can poll
//! them (`smol`, `async-executor`, `futures_lite::future::block_on`); name resolution runs on
//! the `blocking` pool. A body can stream into the caller's [`BodySink`] (a file) instead of
//! memory. [`Connector`] and [`Stream`] serve any protocol that starts with a TCP or TLS
//! connection, a WebSocket for one; [`roundtrip`] does one exchange on a stream of the
//! caller's.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// A function a reader cannot see in one screen is split (`clippy.toml` sets 80 lines); tests
// are exempt.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

mod error;
mod net;
mod pool;
mod proto;
#[cfg(test)]
mod tests;

pub use error::{Error, ErrorKind, SinkError};
pub use net::{Connector, Origin, Stream};
pub use pool::{Pool, DEFAULT_USER_AGENT};
pub use proto::{roundtrip, BodySink, BoxFuture, Destination};

/// The `http` crate, whose types requests and responses are.
pub use http;
/// The `rustls` crate, whose [`ClientConfig`](rustls::ClientConfig) a [`Connector`] takes.
pub use rustls;
