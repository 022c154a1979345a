//! A plain Socket.IO v5 client on the same driver: the [`Session`] machine of `unicat-core`
//! with threads around it. The Unicat client uses the session internally; this handle exposes
//! it for talking to any Socket.IO server, and for the interop tests against the official Node
//! and Python servers.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use unicat_core::config::SessionConfig;
use unicat_core::session::{Session, SessionEvent};
use unicat_runtime_support::driver::Core;
use unicat_runtime_support::shared::Shared;
use unicat_runtime_support::sio::{self, SioPublished, SioSide};
use unicat_runtime_support::thread::Driver;

pub use unicat_runtime_support::sio::AuthFn;

use crate::{io, Error};

type Queue = SyncSender<SessionEvent>;

/// A blocking Socket.IO client.
pub struct SocketIo {
    driver: Driver<Session, SioSide<Queue>>,
    shared: Arc<Shared<SioPublished>>,
    events: Mutex<Receiver<SessionEvent>>,
}

unicat_runtime_support::debug_published!(SocketIo);

impl SocketIo {
    /// Connects with `cfg`, asking `auth` for each namespace's auth payload at every connect.
    /// Returns at once; watch [`next_event`](SocketIo::next_event) for `Connected`.
    pub fn connect(cfg: SessionConfig, auth: Arc<AuthFn>) -> Result<SocketIo, Error> {
        let max_ws_message = cfg.limits.max_incoming_payload;
        let io = io(&[], 4, max_ws_message)?;
        let mut session = Session::new(cfg, Instant::now());
        session.connect(Instant::now())?;
        let (tx, events) = mpsc::sync_channel(65_536);
        let (side, shared) = SioSide::new(&session, auth, tx);
        let driver = crate::driver::spawn(Core::new(session, side), io, None)?;
        Ok(SocketIo {
            driver,
            shared,
            events: Mutex::new(events),
        })
    }

    unicat_runtime_support::sio_methods!({});

    /// The next event, waiting at most `timeout`.
    pub fn next_event(&self, timeout: Duration) -> Option<SessionEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recv_timeout(timeout)
            .ok()
    }

    /// Closes the session and stops every thread.
    pub fn close(&self) {
        let (msg, _) = sio::command(|s, _, now| {
            s.close(now);
            Ok(())
        });
        let _ = self.driver.send(msg);
        self.driver.stop();
    }
}

impl Drop for SocketIo {
    fn drop(&mut self) {
        self.close();
    }
}
