//! A plain Socket.IO v5 client on the same driver: the [`Session`] machine of `unicat-core`
//! with async I/O around it. The Unicat client uses the session internally; this handle
//! exposes it for talking to any Socket.IO server, and for the interop tests against the
//! official Node and Python servers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use unicat_core::config::SessionConfig;
use unicat_core::session::{Session, SessionEvent};
use unicat_runtime_support::driver::Core;
use unicat_runtime_support::shared::Shared;
use unicat_runtime_support::sio::{SioPublished, SioSide};
use unicat_runtime_support::task::{self, Driver, EventStream};

pub use unicat_runtime_support::sio::AuthFn;

use crate::http::Io;
use crate::{Error, Spawner};

type Queue = async_channel::Sender<SessionEvent>;

/// An async Socket.IO client.
pub struct SocketIo {
    driver: Driver<Session, SioSide<Queue>>,
    shared: Arc<Shared<SioPublished>>,
    events: async_channel::Receiver<SessionEvent>,
}

unicat_runtime_support::debug_published!(SocketIo);

/// The session's events, as a [`Stream`](futures_lite::Stream) that ends when the client is
/// closed. Every clone takes events from one queue: each event goes to one of them.
pub type SessionEvents = EventStream<SessionEvent>;

impl SocketIo {
    /// Connects with `cfg`, asking `auth` for each namespace's auth payload at every connect,
    /// with tasks on the client's own thread (see [`Spawner`]). Returns at once; watch
    /// [`next_event`](SocketIo::next_event) for `Connected`.
    pub fn connect(cfg: SessionConfig, auth: Arc<AuthFn>) -> Result<SocketIo, Error> {
        Self::connect_with(cfg, auth, Spawner::default())
    }

    /// [`connect`](SocketIo::connect), with the client's tasks on `spawner`.
    pub fn connect_with(
        cfg: SessionConfig,
        auth: Arc<AuthFn>,
        spawner: Spawner,
    ) -> Result<SocketIo, Error> {
        let tls = unicat_runtime_support::tls::client_config(&[])?;
        let io = Io::new(tls, 4, cfg.limits.max_incoming_payload);
        let mut session = Session::new(cfg, Instant::now());
        session.connect(Instant::now())?;
        let (tx, events) = async_channel::bounded(65_536);
        let (side, shared) = SioSide::new(&session, auth, tx);
        let driver = crate::driver::start(Core::new(session, side), io, None, spawner)?;
        Ok(SocketIo {
            driver,
            shared,
            events,
        })
    }

    unicat_runtime_support::sio_methods!(async { .await });

    /// The next event, waiting at most `timeout`.
    pub async fn next_event(&self, timeout: Duration) -> Option<SessionEvent> {
        task::timeout(timeout, self.events.recv())
            .await
            .and_then(Result::ok)
    }

    /// The events as a stream.
    pub fn events(&self) -> SessionEvents {
        EventStream::new(self.events.clone())
    }

    /// Closes the session and waits until its driver has stopped.
    pub async fn close(&self) {
        self.begin_close();
        self.driver.stopped().await;
    }

    fn begin_close(&self) {
        self.driver
            .stop(Box::new(|s: &mut Session, _: &mut SioSide<Queue>, now| {
                s.close(now)
            }));
    }
}

impl Drop for SocketIo {
    /// Closes the session without waiting.
    fn drop(&mut self) {
        self.begin_close();
    }
}
