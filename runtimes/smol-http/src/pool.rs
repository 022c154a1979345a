//! The connection pool: per origin, at most `max_connections` requests at once, each on an
//! idle kept-alive connection or a new one.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{header, HeaderValue};

use crate::{roundtrip, Connector, Destination, Error, ErrorKind, Origin, Stream};

/// The `user-agent` a [`Pool`] sends unless told otherwise, or the request has its own.
pub const DEFAULT_USER_AGENT: &str = concat!("unicat-smol-http/", env!("CARGO_PKG_VERSION"));

/// An HTTP/1.1 client: a pool of kept-alive connections per origin.
///
/// A request waits for one of its origin's `max_connections` slots, then takes the most
/// recently used idle connection that is still open, or opens one. After a response read to
/// its end on a connection the server keeps open, the connection waits for the next request;
/// idle connections older than the idle timeout are closed rather than reused, since servers
/// and proxies drop them after a while. Origins with nothing in use and nothing worth
/// keeping are forgotten. No redirect is followed and nothing is retried.
///
/// Share it with an `Arc`: every method takes `&self`.
pub struct Pool {
    connector: Connector,
    max_connections: usize,
    idle_timeout: Duration,
    user_agent: HeaderValue,
    pub(crate) hosts: Mutex<HashMap<Origin, Arc<Host>>>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("max_connections", &self.max_connections)
            .field("idle_timeout", &self.idle_timeout)
            .field("user_agent", &self.user_agent)
            .finish_non_exhaustive()
    }
}

/// The connections to one origin: a semaphore of `max_connections` slots, and the idle ones.
pub(crate) struct Host {
    slots: (async_channel::Sender<()>, async_channel::Receiver<()>),
    idle: Mutex<Vec<(Stream, Instant)>>,
    idle_timeout: Duration,
}

/// A slot in use; given back when dropped, whatever happened to the request.
struct Slot<'a>(&'a async_channel::Sender<()>);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let _ = self.0.try_send(());
    }
}

impl Host {
    fn new(slots: usize, idle_timeout: Duration) -> Host {
        let (tx, rx) = async_channel::bounded(slots);
        for _ in 0..slots {
            let _ = tx.try_send(());
        }
        Host {
            slots: (tx, rx),
            idle: Mutex::new(Vec::new()),
            idle_timeout,
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
            if since.elapsed() < self.idle_timeout && stream.is_reusable().await {
                return Some(stream);
            }
        }
    }

    /// Whether an idle connection is young enough to be reused.
    fn has_live_idle(&self) -> bool {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.iter()
            .any(|(_, since)| since.elapsed() < self.idle_timeout)
    }

    /// Keeps a connection for reuse, and closes those idle too long: `take_idle` takes the
    /// newest first, so the oldest would otherwise hold their sockets open indefinitely.
    fn put_idle(&self, stream: Stream) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|(_, since)| since.elapsed() < self.idle_timeout);
        idle.push((stream, Instant::now()));
    }
}

impl Pool {
    /// A pool opening its connections with `connector`: 4 connections per origin, idle ones
    /// kept 30 s, the [`DEFAULT_USER_AGENT`].
    pub fn new(connector: Connector) -> Pool {
        Pool {
            connector,
            max_connections: 4,
            idle_timeout: Duration::from_secs(30),
            user_agent: HeaderValue::from_static(DEFAULT_USER_AGENT),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// At most `n` requests at once to one origin (at least 1); the others wait their turn.
    pub fn max_connections(mut self, n: usize) -> Pool {
        self.max_connections = n.max(1);
        self
    }

    /// How long an idle connection may wait for its next request before it is closed.
    pub fn idle_timeout(mut self, timeout: Duration) -> Pool {
        self.idle_timeout = timeout;
        self
    }

    /// The `user-agent` sent with every request that does not carry its own.
    pub fn user_agent(mut self, user_agent: HeaderValue) -> Pool {
        self.user_agent = user_agent;
        self
    }

    /// The connector the pool opens its connections with.
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    fn host(&self, origin: &Origin) -> Arc<Host> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        // Origins nobody is using and with no connection worth keeping go, so a client that
        // fetched from many hosts does not keep an entry for each forever.
        hosts.retain(|o, h| o == origin || Arc::strong_count(h) > 1 || h.has_live_idle());
        let new = || Arc::new(Host::new(self.max_connections, self.idle_timeout));
        Arc::clone(hosts.entry(origin.clone()).or_insert_with(new))
    }

    /// Performs one request within `timeout`, which counts from now and covers the wait for
    /// a connection, the connection itself and the whole response: past it, the request
    /// fails with [`ErrorKind::Timeout`] and its connection is closed. Dropping the future
    /// abandons the request the same way.
    pub async fn perform(
        &self,
        request: http::Request<Vec<u8>>,
        destination: Destination,
        timeout: Duration,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        futures_lite::future::or(self.exchange(request, destination), async move {
            async_io::Timer::after(timeout).await;
            Err(Error::new(
                ErrorKind::Timeout,
                format!("no complete response within {timeout:?}"),
            ))
        })
        .await
    }

    async fn exchange(
        &self,
        request: http::Request<Vec<u8>>,
        destination: Destination,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        let origin = Origin::of(request.uri())?;
        let host = self.host(&origin);
        let _slot = host.acquire().await;
        let mut stream = match host.take_idle().await {
            Some(s) => s,
            None => self.connector.connect(&origin).await?,
        };
        let (mut parts, body) = request.into_parts();
        let user_agent = parts.headers.entry(header::USER_AGENT);
        user_agent.or_insert_with(|| self.user_agent.clone());
        let head = http::Request::from_parts(parts, ());
        let (response, reusable) = roundtrip(&mut stream, head, &body, destination).await?;
        if reusable {
            host.put_idle(stream);
        }
        Ok(response)
    }
}
