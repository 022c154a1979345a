//! The plain Socket.IO client's side of a driver: auth payloads asked for at every connect,
//! acks to their waiters, events to the application's queue, and the session's state for
//! readers. Its methods are written once for both runtimes by [`sio_methods!`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use unicat_core::session::{AckError, AckId, Session, SessionEvent, SessionState};

use crate::driver::{Answer, Msg, Side};
use crate::shared::{EventQueue, Lossy, Shared};
use crate::Error;

/// Produces the auth payload of a namespace's CONNECT, at every connect and reconnect.
pub type AuthFn = dyn Fn(&str) -> Option<Value> + Send + Sync;

/// What an emit with an ack gets back.
pub type AckResult = Result<Vec<Value>, AckError>;

/// The session as readers see it after the driver's last step.
#[derive(Clone, Debug)]
pub struct SioPublished {
    /// The lifecycle state.
    pub state: SessionState,
    /// The namespaces connected.
    pub connected: Vec<String>,
}

impl SioPublished {
    fn of(s: &Session) -> Self {
        SioPublished {
            state: s.state(),
            connected: s.connected_namespaces().map(str::to_string).collect(),
        }
    }

    /// The `Debug` output of a runtime's Socket.IO client: its state.
    pub fn debug(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(name).field("state", &self.state).finish()
    }
}

/// The Socket.IO client's side of its driver. `Q` is the application's event queue.
pub struct SioSide<Q> {
    shared: Arc<Shared<SioPublished>>,
    acks: BTreeMap<AckId, async_channel::Sender<AckResult>>,
    auth: Arc<AuthFn>,
    events: Lossy<Q>,
}

impl<Q: EventQueue<SessionEvent>> SioSide<Q> {
    /// The side for `session`, asking `auth` for auth payloads.
    pub fn new(
        session: &Session,
        auth: Arc<AuthFn>,
        events: Q,
    ) -> (Self, Arc<Shared<SioPublished>>) {
        let shared = Arc::new(Shared::new(SioPublished::of(session)));
        let side = SioSide {
            shared: Arc::clone(&shared),
            acks: BTreeMap::new(),
            auth,
            events: Lossy::new(events),
        };
        (side, shared)
    }
}

impl<Q: EventQueue<SessionEvent>> Side<Session> for SioSide<Q> {
    fn event(&mut self, session: &mut Session, now: Instant, event: SessionEvent) {
        match &event {
            SessionEvent::AuthRequested { ns } => {
                let payload = (self.auth)(ns);
                // Refused only once closed, and then there is nothing to connect.
                let _ = session.authenticate(now, ns, payload);
            }
            SessionEvent::AckReceived { id, args, .. } => {
                if let Some(w) = self.acks.remove(id) {
                    let _ = w.try_send(Ok(args.clone()));
                }
            }
            SessionEvent::AckFailed { id, error } => {
                if let Some(w) = self.acks.remove(id) {
                    let _ = w.try_send(Err(error.clone()));
                }
            }
            _ => {}
        }
        self.events.push(event);
    }

    fn publish(&mut self, session: &Session) {
        self.shared.set(SioPublished::of(session));
    }
}

impl<Q> Drop for SioSide<Q> {
    /// The driver ended: acks still awaited fail as their senders go.
    fn drop(&mut self) {
        self.acks.clear();
        self.shared.end();
    }
}

/// A message for the driver of a Socket.IO client.
pub type SioMsg<Q> = Msg<Session, SioSide<Q>>;

/// Runs `f` on the driver's session; its answer comes on the receiver.
pub fn command<Q, T>(
    f: impl FnOnce(&mut Session, &mut SioSide<Q>, Instant) -> Result<T, Error> + Send + 'static,
) -> (SioMsg<Q>, Answer<Result<T, Error>>)
where
    Q: EventQueue<SessionEvent> + 'static,
    T: Send + 'static,
{
    let (tx, rx) = async_channel::bounded(1);
    let run = move |s: &mut Session, side: &mut SioSide<Q>, now: Instant| {
        let _ = tx.try_send(f(s, side, now));
    };
    (Msg::Command(Box::new(run)), rx)
}

/// The answer to an emit: where its ack will come, when one was asked for.
pub type Emitted = Answer<Result<Option<Answer<AckResult>>, Error>>;

/// Emits and, with a timeout, registers the waiter of the ack; the answer is the ack's
/// receiver, or `None` when no ack was asked for.
pub fn emit<Q: EventQueue<SessionEvent> + 'static>(
    ns: String,
    event: String,
    args: Vec<Value>,
    attachments: Vec<Vec<u8>>,
    ack_timeout: Option<std::time::Duration>,
) -> (SioMsg<Q>, Emitted) {
    command(move |s: &mut Session, side: &mut SioSide<Q>, now| {
        let id = s.emit(now, &ns, &event, args, attachments, ack_timeout)?;
        Ok(id.map(|id| {
            let (tx, rx) = async_channel::bounded(1);
            side.acks.insert(id, tx);
            rx
        }))
    })
}

/// Expands the methods of a runtime's `SocketIo`: `sio_methods!({})` for blocking ones,
/// `sio_methods!(async { .await })` for async ones. The `SocketIo` keeps its driver's handle
/// in a field named `driver` (whose `request` sends a message and waits for the answer, and
/// `answer` waits for an ack) and the state its driver publishes in one named `shared`.
#[macro_export]
macro_rules! sio_methods {
    ($($async:ident)? { $($await:tt)* }) => {
        /// Emits an event without asking for an ack.
        pub $($async)? fn emit(
            &self,
            ns: &str,
            event: &str,
            args: Vec<$crate::reexport::Value>,
        ) -> Result<(), $crate::Error> {
            self.emit_binary(ns, event, args, Vec::new()) $($await)*
        }

        /// Emits an event with binary attachments.
        pub $($async)? fn emit_binary(
            &self,
            ns: &str,
            event: &str,
            args: Vec<$crate::reexport::Value>,
            attachments: Vec<Vec<u8>>,
        ) -> Result<(), $crate::Error> {
            let (msg, rx) = $crate::sio::emit(ns.into(), event.into(), args, attachments, None);
            self.driver.request(msg, rx) $($await)* .map(drop)
        }

        /// Emits an event and waits for the server's ack, at most `timeout`.
        pub $($async)? fn emit_with_ack(
            &self,
            ns: &str,
            event: &str,
            args: Vec<$crate::reexport::Value>,
            timeout: std::time::Duration,
        ) -> Result<$crate::sio::AckResult, $crate::Error> {
            let (msg, rx) =
                $crate::sio::emit(ns.into(), event.into(), args, Vec::new(), Some(timeout));
            match self.driver.request(msg, rx) $($await)* ? {
                Some(ack) => self.driver.answer(ack) $($await)*,
                None => Err($crate::Error::Closed),
            }
        }

        /// Answers a server event that asked for an ack.
        pub $($async)? fn ack(
            &self,
            ns: &str,
            id: u64,
            args: Vec<$crate::reexport::Value>,
        ) -> Result<(), $crate::Error> {
            let ns = ns.to_string();
            let (msg, rx) = $crate::sio::command(move |s, _, now| {
                Ok(s.ack(now, &ns, id, args, Vec::new())?)
            });
            self.driver.request(msg, rx) $($await)*
        }

        /// Leaves every namespace and closes the transport, without reconnecting.
        pub $($async)? fn disconnect(&self) -> Result<(), $crate::Error> {
            let (msg, rx) = $crate::sio::command(|s, _, now| Ok(s.disconnect(now)?));
            self.driver.request(msg, rx) $($await)*
        }

        /// Connects again after a disconnect.
        pub $($async)? fn reconnect(&self) -> Result<(), $crate::Error> {
            let (msg, rx) = $crate::sio::command(|s, _, now| Ok(s.connect(now)?));
            self.driver.request(msg, rx) $($await)*
        }

        /// Whether the namespace is connected, as of the driver's last step.
        pub fn is_connected(&self, ns: &str) -> bool {
            self.shared.get().connected.iter().any(|n| n == ns)
        }

        /// The session's lifecycle state, as of the driver's last step.
        pub fn state(&self) -> $crate::reexport::SessionState {
            self.shared.get().state
        }
    };
}
