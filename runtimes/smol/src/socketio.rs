//! A plain Socket.IO v5 client on the same driver: the [`Session`] machine of `unicat-core`
//! with async I/O around it. The Unicat client uses the session internally; this handle
//! exposes it for talking to any Socket.IO server, and for the interop tests against the
//! official Node and Python servers.

use std::collections::BTreeMap;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use serde_json::Value;
use unicat_core::config::SessionConfig;
use unicat_core::session::{AckError, AckId, Session, SessionEvent};

use crate::driver::{read, write, Driver, Waker};
use crate::net::Io;
use crate::{Error, Spawner};

/// Produces the auth payload of a namespace's CONNECT, at every connect and reconnect.
pub type AuthFn = dyn Fn(&str) -> Option<Value> + Send + Sync;

type AckResult = Result<Vec<Value>, AckError>;
type Acks = Arc<Mutex<AckMap>>;

#[derive(Default)]
struct AckMap {
    map: BTreeMap<AckId, async_channel::Sender<AckResult>>,
    /// The driver ended: a new waiter would never be answered.
    stopped: bool,
}

/// An async Socket.IO client.
pub struct SocketIo {
    machine: Arc<RwLock<Session>>,
    driver: Driver,
    acks: Acks,
    events: async_channel::Receiver<SessionEvent>,
}

impl fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketIo")
            .field("state", &read(&self.machine).state())
            .finish()
    }
}

/// The session's events, as a [`futures_core::Stream`] that ends when the client is closed.
/// Every clone takes events from one queue: each event goes to one of them.
#[derive(Debug)]
pub struct SessionEvents(Pin<Box<async_channel::Receiver<SessionEvent>>>);

impl Clone for SessionEvents {
    fn clone(&self) -> Self {
        SessionEvents(Box::pin((*self.0).clone()))
    }
}

impl futures_core::Stream for SessionEvents {
    type Item = SessionEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SessionEvent>> {
        self.0.as_mut().poll_next(cx)
    }
}

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
        let io = Io::new(&[], 4, cfg.limits.max_incoming_payload)?;
        let machine = Arc::new(RwLock::new(Session::new(cfg, Instant::now())));
        let acks: Acks = Arc::default();
        let (tx, events) = async_channel::unbounded();
        let sink_machine = Arc::clone(&machine);
        let sink_acks = AckGuard(Arc::clone(&acks));
        let driver = Driver::start(
            Arc::clone(&machine),
            io,
            None,
            spawner,
            move |e: SessionEvent, waker: &Waker| {
                match &e {
                    SessionEvent::AuthRequested { ns } => {
                        let payload = auth(ns);
                        let _ = write(&sink_machine).authenticate(Instant::now(), ns, payload);
                        waker.wake();
                    }
                    SessionEvent::AckReceived { id, args, .. } => {
                        if let Some(w) = sink_acks.take(*id) {
                            let _ = w.try_send(Ok(args.clone()));
                        }
                    }
                    SessionEvent::AckFailed { id, error } => {
                        if let Some(w) = sink_acks.take(*id) {
                            let _ = w.try_send(Err(error.clone()));
                        }
                    }
                    _ => {}
                }
                let _ = tx.try_send(e);
            },
        )?;
        write(&machine).connect(Instant::now())?;
        driver.waker().wake();
        Ok(SocketIo {
            machine,
            driver,
            acks,
            events,
        })
    }

    fn wake(&self) {
        self.driver.waker().wake();
    }

    /// Emits an event without asking for an ack.
    pub fn emit(&self, ns: &str, event: &str, args: Vec<Value>) -> Result<(), Error> {
        write(&self.machine).emit(Instant::now(), ns, event, args, Vec::new(), None)?;
        self.wake();
        Ok(())
    }

    /// Emits an event with binary attachments.
    pub fn emit_binary(
        &self,
        ns: &str,
        event: &str,
        args: Vec<Value>,
        attachments: Vec<Vec<u8>>,
    ) -> Result<(), Error> {
        write(&self.machine).emit(Instant::now(), ns, event, args, attachments, None)?;
        self.wake();
        Ok(())
    }

    /// Emits an event and waits for the server's ack, at most `timeout`.
    pub async fn emit_with_ack(
        &self,
        ns: &str,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Result<Vec<Value>, AckError>, Error> {
        let (tx, rx) = async_channel::bounded(1);
        {
            let mut s = write(&self.machine);
            let id = s.emit(Instant::now(), ns, event, args, Vec::new(), Some(timeout))?;
            if let Some(id) = id {
                // Under the machine's lock, so the driver cannot deliver the ack first.
                let mut acks = self.acks.lock().unwrap_or_else(|p| p.into_inner());
                if acks.stopped {
                    return Err(Error::Closed);
                }
                acks.map.insert(id, tx);
            }
        }
        self.wake();
        rx.recv().await.map_err(|_| Error::Closed)
    }

    /// Answers a server event that asked for an ack.
    pub fn ack(&self, ns: &str, id: u64, args: Vec<Value>) -> Result<(), Error> {
        write(&self.machine).ack(Instant::now(), ns, id, args, Vec::new())?;
        self.wake();
        Ok(())
    }

    /// The next event, waiting at most `timeout`.
    pub async fn next_event(&self, timeout: Duration) -> Option<SessionEvent> {
        crate::timeout(timeout, self.events.recv())
            .await
            .and_then(Result::ok)
    }

    /// The events as a stream.
    pub fn events(&self) -> SessionEvents {
        SessionEvents(Box::pin(self.events.clone()))
    }

    /// Whether the namespace is connected.
    pub fn is_connected(&self, ns: &str) -> bool {
        read(&self.machine).is_connected(ns)
    }

    /// Runs `f` on the session, for state the handle does not expose.
    pub fn with_session<T>(&self, f: impl FnOnce(&Session) -> T) -> T {
        f(&read(&self.machine))
    }

    /// Leaves every namespace and closes the transport, without reconnecting.
    pub fn disconnect(&self) -> Result<(), Error> {
        write(&self.machine).disconnect(Instant::now())?;
        self.wake();
        Ok(())
    }

    /// Connects again after a disconnect.
    pub fn reconnect(&self) -> Result<(), Error> {
        write(&self.machine).connect(Instant::now())?;
        self.wake();
        Ok(())
    }

    /// Closes the session and waits until its driver has stopped.
    pub async fn close(&self) {
        self.begin_close();
        self.driver.stopped().await;
    }

    fn begin_close(&self) {
        write(&self.machine).close(Instant::now());
        self.wake();
        self.driver.stop();
    }
}

impl Drop for SocketIo {
    /// Closes the session without waiting.
    fn drop(&mut self) {
        self.begin_close();
    }
}

/// Dropped with the driver's event sink: acks still awaited learn that the client is closed.
struct AckGuard(Acks);

impl AckGuard {
    fn take(&self, id: AckId) -> Option<async_channel::Sender<AckResult>> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .remove(&id)
    }
}

impl Drop for AckGuard {
    fn drop(&mut self) {
        let mut acks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        acks.stopped = true;
        acks.map.clear();
    }
}
