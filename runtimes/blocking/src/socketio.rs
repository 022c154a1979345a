//! A plain Socket.IO v5 client on the same driver: the [`Session`] machine of `unicat-core`
//! with threads around it. The Unicat client uses the session internally; this handle exposes
//! it for talking to any Socket.IO server, and for the interop tests against the official Node
//! and Python servers.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use unicat_core::config::SessionConfig;
use unicat_core::session::{AckError, AckId, Session, SessionEvent};

use crate::driver::{read, write, Driver, Waker};
use crate::{io, Error};

/// Produces the auth payload of a namespace's CONNECT, at every connect and reconnect.
pub type AuthFn = dyn Fn(&str) -> Option<Value> + Send + Sync;

type AckResult = Result<Vec<Value>, AckError>;

/// A blocking Socket.IO client.
pub struct SocketIo {
    machine: Arc<RwLock<Session>>,
    waker: Waker,
    driver: Option<Driver>,
    acks: Arc<Mutex<BTreeMap<AckId, mpsc::Sender<AckResult>>>>,
    events: Mutex<Receiver<SessionEvent>>,
}

impl SocketIo {
    /// Connects with `cfg`, asking `auth` for each namespace's auth payload at every connect.
    /// Returns at once; watch [`next_event`](SocketIo::next_event) for `Connected`.
    pub fn connect(cfg: SessionConfig, auth: Arc<AuthFn>) -> Result<SocketIo, Error> {
        let io = io(&[], 4, cfg.limits.max_incoming_payload)?;
        let machine = Arc::new(RwLock::new(Session::new(cfg, Instant::now())));
        let acks: Arc<Mutex<BTreeMap<AckId, mpsc::Sender<AckResult>>>> = Arc::default();
        let (tx, events) = mpsc::channel();
        let sink_machine = Arc::clone(&machine);
        let sink_acks = Arc::clone(&acks);
        let (driver, waker) = Driver::spawn(
            Arc::clone(&machine),
            io,
            None,
            move |e: SessionEvent, waker: &Waker| {
                match &e {
                    SessionEvent::AuthRequested { ns } => {
                        let payload = auth(ns);
                        let _ = write(&sink_machine).authenticate(Instant::now(), ns, payload);
                        waker.wake();
                    }
                    SessionEvent::AckReceived { id, args, .. } => {
                        if let Some(w) = sink_acks
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(id)
                        {
                            let _ = w.send(Ok(args.clone()));
                        }
                    }
                    SessionEvent::AckFailed { id, error } => {
                        if let Some(w) = sink_acks
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(id)
                        {
                            let _ = w.send(Err(error.clone()));
                        }
                    }
                    _ => {}
                }
                let _ = tx.send(e);
            },
        )
        .map_err(|e| Error::Setup(e.to_string()))?;
        write(&machine).connect(Instant::now())?;
        waker.wake();
        Ok(SocketIo {
            machine,
            waker,
            driver: Some(driver),
            acks,
            events: Mutex::new(events),
        })
    }

    /// Emits an event without asking for an ack.
    pub fn emit(&self, ns: &str, event: &str, args: Vec<Value>) -> Result<(), Error> {
        write(&self.machine).emit(Instant::now(), ns, event, args, Vec::new(), None)?;
        self.waker.wake();
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
        self.waker.wake();
        Ok(())
    }

    /// Emits an event and waits for the server's ack, at most `timeout`.
    pub fn emit_with_ack(
        &self,
        ns: &str,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Result<Vec<Value>, AckError>, Error> {
        let (tx, rx) = mpsc::channel();
        {
            let mut s = write(&self.machine);
            let id = s.emit(Instant::now(), ns, event, args, Vec::new(), Some(timeout))?;
            if let Some(id) = id {
                self.acks
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id, tx);
            }
        }
        self.waker.wake();
        rx.recv().map_err(|_| Error::Closed)
    }

    /// Answers a server event that asked for an ack.
    pub fn ack(&self, ns: &str, id: u64, args: Vec<Value>) -> Result<(), Error> {
        write(&self.machine).ack(Instant::now(), ns, id, args, Vec::new())?;
        self.waker.wake();
        Ok(())
    }

    /// The next event, waiting at most `timeout`.
    pub fn next_event(&self, timeout: Duration) -> Option<SessionEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recv_timeout(timeout)
            .ok()
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
        self.waker.wake();
        Ok(())
    }

    /// Connects again after a disconnect.
    pub fn reconnect(&self) -> Result<(), Error> {
        write(&self.machine).connect(Instant::now())?;
        self.waker.wake();
        Ok(())
    }

    /// Closes the session and stops every thread.
    pub fn close(&mut self) {
        write(&self.machine).close(Instant::now());
        self.waker.wake();
        if let Some(mut d) = self.driver.take() {
            d.stop();
        }
    }
}

impl Drop for SocketIo {
    fn drop(&mut self) {
        self.close();
    }
}
