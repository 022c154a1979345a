//! The Unicat client's side of a driver: call results to their waiters, events to the
//! application's queue, and after every step a snapshot of the store and the client's
//! health for readers.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use unicat_core::client::{CallId, Client, Command, Event, Health, Stats, StopReason};
use unicat_core::session::SessionState;
use unicat_core::store::Store;

use crate::driver::{Answer, Msg, Side};

/// The machine a Unicat driver owns: the client, wrapped in a recording that a replay log
/// can be started on (`Settings::record`) when the build has the `record` feature.
#[cfg(feature = "record")]
pub type UnicatMachine = unicat_core::record::Recording<Client>;

/// The machine a Unicat driver owns: the client.
#[cfg(not(feature = "record"))]
pub type UnicatMachine = Client;
use crate::shared::{EventQueue, Lossy, Shared};
use crate::Error;

/// What a call returns.
pub type CallResult = Result<Value, Error>;

/// The client as readers see it after the driver's last step.
///
/// The store is a snapshot: its maps are persistent (see
/// [`Store`](unicat_core::store::Store)), so taking one costs a few reference counts whatever
/// the store's size, and holding one never blocks the driver. A snapshot stays as it was
/// taken; call the client's `store()` again for a newer one.
#[derive(Clone, Debug)]
pub struct Published {
    /// The store.
    pub store: Store,
    /// How live sync is doing.
    pub health: Health,
    /// Queue lengths.
    pub stats: Stats,
    /// Connected, with every change reported so far in the store.
    pub caught_up: bool,
    /// The client was closed.
    pub closed: bool,
    /// The Sync API session's state.
    pub sync: SessionState,
    /// A JWT is held.
    pub authenticated: bool,
    /// The server.
    pub base_url: Arc<str>,
    /// The project.
    pub project: Arc<str>,
}

impl Published {
    fn of(c: &Client, base_url: &Arc<str>, project: &Arc<str>) -> Self {
        Published {
            store: c.store().clone(),
            health: c.health(),
            stats: c.stats(),
            caught_up: c.is_caught_up(),
            closed: c.is_closed(),
            sync: c.sync_state(),
            authenticated: c.is_authenticated(),
            base_url: Arc::clone(base_url),
            project: Arc::clone(project),
        }
    }

    /// Whether a wait for the client to catch up is over, and how: caught up, or it never
    /// will be (closed, stopped, or the driver ended).
    pub fn caught_up_or_never(&self, ended: bool) -> Option<Result<(), Error>> {
        match &self.health {
            _ if self.closed || ended => Some(Err(Error::Closed)),
            Health::Stopped { reason } => Some(Err(match reason {
                StopReason::Closed => Error::Closed,
                reason => Error::Stopped(reason.clone()),
            })),
            _ => self.caught_up.then_some(Ok(())),
        }
    }

    /// The `Debug` output of a runtime's client: what it talks to and how it is doing, never
    /// a secret.
    pub fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("base_url", &self.base_url)
            .field("project", &self.project)
            .field("sync", &self.sync)
            .field("authenticated", &self.authenticated)
            .field("objects", &self.store.len())
            .finish()
    }
}

/// The Unicat client's side of its driver. `Q` is the application's event queue.
pub struct UnicatSide<Q> {
    shared: Arc<Shared<Published>>,
    waiters: BTreeMap<CallId, async_channel::Sender<CallResult>>,
    events: Lossy<Q>,
    base_url: Arc<str>,
    project: Arc<str>,
}

impl<Q: EventQueue<Event>> UnicatSide<Q> {
    /// The side for `client`, with the shared state readers use and the event queue.
    pub fn new(client: &Client, events: Q) -> (Self, Arc<Shared<Published>>) {
        let base_url: Arc<str> = client.config().base_url().into();
        let project: Arc<str> = client.config().project().into();
        let shared = Arc::new(Shared::new(Published::of(client, &base_url, &project)));
        let side = UnicatSide {
            shared: Arc::clone(&shared),
            waiters: BTreeMap::new(),
            events: Lossy::new(events),
            base_url,
            project,
        };
        (side, shared)
    }
}

impl<Q: EventQueue<Event>> Side<UnicatMachine> for UnicatSide<Q> {
    fn event(&mut self, _: &mut UnicatMachine, _: Instant, event: Event) {
        match event {
            Event::CallFinished { id, result } => {
                if let Some(w) = self.waiters.remove(&id) {
                    let _ = w.try_send(result.map_err(Error::Call));
                }
            }
            other => self.events.push(other),
        }
    }

    fn publish(&mut self, client: &UnicatMachine) {
        self.shared
            .set(Published::of(client, &self.base_url, &self.project));
    }
}

impl<Q> Drop for UnicatSide<Q> {
    /// The driver ended: every call still waiting fails with [`Error::Closed`] as its sender
    /// goes, and every wait on the state wakes to find it ended.
    fn drop(&mut self) {
        self.waiters.clear();
        self.shared.end();
    }
}

/// A message for the driver of a Unicat client.
pub type UnicatMsg<Q> = Msg<UnicatMachine, UnicatSide<Q>>;

/// A command as a driver message, and where its result will come.
pub fn command<Q: EventQueue<Event> + 'static>(
    command: Command,
) -> (UnicatMsg<Q>, Answer<CallResult>) {
    let (tx, rx) = async_channel::bounded(1);
    let run = move |c: &mut UnicatMachine, side: &mut UnicatSide<Q>, now: Instant| {
        if c.is_closed() {
            let _ = tx.try_send(Err(Error::Closed));
            return;
        }
        match c.execute(now, command) {
            // Registered before the step drains the outputs, so the result cannot come first.
            Ok(Some(id)) => {
                side.waiters.insert(id, tx);
            }
            Ok(None) => {
                let _ = tx.try_send(Ok(Value::Null));
            }
            Err(e) => {
                let _ = tx.try_send(Err(Error::Command(e)));
            }
        }
    };
    (Msg::Command(Box::new(run)), rx)
}

/// The message that closes a client.
pub fn close<Q: EventQueue<Event> + 'static>() -> UnicatMsg<Q> {
    Msg::Command(Box::new(
        |c: &mut UnicatMachine, _: &mut UnicatSide<Q>, now| c.close(now),
    ))
}
