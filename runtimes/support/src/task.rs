//! The smol runtime's driver task, apart from its I/O: the handle the application holds, the
//! inbox the task waits on, a timeout, and the stream of events. The task itself, and what
//! it performs, live in `unicat-smol`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use futures_lite::future::{or, race};
use unicat_core::io::Input;

use crate::driver::{Answer, Command, Msg, Wakeup, INBOX};
use crate::spawn::{Runner, Spawner};
use crate::Error;

/// Races `fut` against a timer; `None` when `timeout` passed first.
pub async fn timeout<T>(timeout: Duration, fut: impl Future<Output = T>) -> Option<T> {
    or(async { Some(fut.await) }, async {
        async_io::Timer::after(timeout).await;
        None
    })
    .await
}

/// The application's side of a running driver task.
pub struct Driver<M, S> {
    commands: Sender<Msg<M, S>>,
    /// Carries the last command (the close) and, closed, stops the driver.
    stop: Sender<Command<M, S>>,
    done: Receiver<()>,
}

/// The driver task's mark of life: its handle sees the driver done once this is dropped,
/// which the task does last, after its side.
#[derive(Debug)]
pub struct Alive {
    _done: Sender<()>,
}

impl<M, S> Driver<M, S> {
    /// Starts a driver task on `spawner`: `task` makes the task's future from its inbox, the
    /// runner for the tasks it starts, and its [`Alive`] mark.
    pub fn start<F>(
        spawner: Spawner,
        task: impl FnOnce(Inbox<M, S>, Runner, Alive) -> F,
    ) -> Result<Self, Error>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (commands, inbox) = async_channel::bounded(INBOX);
        let (stop, stopped) = async_channel::bounded(1);
        // Nothing is ever sent: the receivers see the channel close when the driver ends.
        let (alive, done) = async_channel::bounded::<()>(1);
        let until_done = {
            let done = done.clone();
            async move {
                let _ = done.recv().await;
            }
        };
        let runner = spawner
            .start(until_done)
            .map_err(|e| Error::setup("the runtime thread", e))?;
        let inbox = Inbox { inbox, stopped };
        runner.spawn(task(inbox, runner.clone(), Alive { _done: alive }));
        Ok(Driver {
            commands,
            stop,
            done,
        })
    }

    /// Hands the driver a message, waiting while its inbox is full.
    pub async fn send(&self, msg: Msg<M, S>) -> Result<(), Error> {
        self.commands.send(msg).await.map_err(|_| Error::Closed)
    }

    /// Hands the driver a message and waits for its answer.
    pub async fn request<T>(
        &self,
        msg: Msg<M, S>,
        answer: Answer<Result<T, Error>>,
    ) -> Result<T, Error> {
        self.send(msg).await?;
        self.answer(answer).await?
    }

    /// Waits for an answer the driver gives; [`Error::Closed`] when it ended first.
    pub async fn answer<T>(&self, answer: Answer<T>) -> Result<T, Error> {
        answer.recv().await.map_err(|_| Error::Closed)
    }

    /// Asks the driver to run `last` and stop; does not wait. Later calls do nothing.
    pub fn stop(&self, last: Command<M, S>) {
        let _ = self.stop.try_send(last);
        self.stop.close();
    }

    /// Whether the driver task has ended.
    pub fn is_done(&self) -> bool {
        self.done.is_closed()
    }

    /// Waits until the driver task has ended: the sockets are told to close and requests
    /// under way are abandoned.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let done = self.done.clone();
        async move {
            let _ = done.recv().await;
        }
    }
}

/// The driver task's side of its channels.
///
/// However the task ends (stopped, dropped by its executor, or unwound by a panic), commands
/// still in the inbox fail as their answers go when this drops, rather than waiting in a
/// buffer the handles keep alive. A panic in a step used to leave a command that arrived
/// during that step waiting for ever.
pub struct Inbox<M, S> {
    inbox: Receiver<Msg<M, S>>,
    stopped: Receiver<Command<M, S>>,
}

impl<M, S> Inbox<M, S> {
    /// Waits for the next stop, transport fact, command or timer.
    pub async fn next(
        &self,
        transport: &Receiver<Input>,
        deadline: Option<Instant>,
    ) -> Wakeup<M, S> {
        let stop = async { Wakeup::Stop(self.stopped.recv().await.ok()) };
        let command = async {
            match self.inbox.recv().await {
                Ok(m) => Wakeup::Msg(m),
                // Every handle is gone, and nobody can close the client any more.
                Err(_) => Wakeup::Stop(None),
            }
        };
        // The driver holds a sender of its own, so this channel never closes.
        let fact = async {
            match transport.recv().await {
                Ok(input) => Wakeup::Msg(Msg::Input(input)),
                Err(_) => Wakeup::Stop(None),
            }
        };
        let timer = async {
            match deadline {
                Some(at) => async_io::Timer::at(at).await,
                None => std::future::pending().await,
            };
            Wakeup::Timer
        };
        // Biased to the stop; fair between transport facts and commands, so neither starves.
        or(stop, or(race(fact, command), timer)).await
    }
}

impl<M, S> Drop for Inbox<M, S> {
    fn drop(&mut self) {
        self.inbox.close();
        while self.inbox.try_recv().is_ok() {}
    }
}

/// A driver's events, as a [`futures_core::Stream`] that ends when the driver does.
///
/// Every clone of the stream takes events from one queue: each event goes to one of them.
pub struct EventStream<T>(Pin<Box<Receiver<T>>>);

impl<T> EventStream<T> {
    /// The stream of what `events` receives.
    pub fn new(events: Receiver<T>) -> Self {
        EventStream(Box::pin(events))
    }

    /// The next event, or `None` once the client is closed: the stream's `next` without a
    /// stream extension trait in scope.
    pub async fn recv(&self) -> Option<T> {
        self.0.recv().await.ok()
    }
}

impl<T> Clone for EventStream<T> {
    fn clone(&self) -> Self {
        EventStream(Box::pin((*self.0).clone()))
    }
}

impl<T> fmt::Debug for EventStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("queued", &self.0.len())
            .finish()
    }
}

impl<T> futures_core::Stream for EventStream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.0.as_mut().poll_next(cx)
    }
}
