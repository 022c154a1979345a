//! The run loop: one task owns the machine's clock and outputs. It races the machine's one
//! timer, transport completions and the application's wake-ups; after each, it feeds the
//! machine under its lock, drains the outputs, lets go of the lock, and performs them by
//! spawning tasks (an HTTP request, a WebSocket, a file system call) that report back as
//! [`Input`]s on the same channel. No protocol rule lives here.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use unicat_core::io::{Input, Machine, Output, RequestId, WsId};

use crate::http::HttpPool;
use crate::net::Io;
use crate::spawn::{Runner, Spawner};
use crate::ws::{self, Cmd};
use crate::Error;

/// What the driver task waits for.
pub(crate) enum Msg {
    /// A transport fact for the machine.
    Input(Input),
    /// The application changed the machine: drain its outputs.
    Wake,
    /// Drain once more, then shut down.
    Stop,
}

/// Wakes the driver after the application changed the machine.
#[derive(Clone)]
pub(crate) struct Waker(async_channel::Sender<Msg>);

impl Waker {
    pub(crate) fn wake(&self) {
        // Unbounded: fails only once the driver is gone, and then there is nothing to wake.
        let _ = self.0.try_send(Msg::Wake);
    }

    fn stop(&self) {
        let _ = self.0.try_send(Msg::Stop);
    }
}

/// Locks for writing, recovering from a poisoned lock: the machine never panics on input, and
/// a panic in an application callback must not take the client down with it.
pub(crate) fn write<M>(lock: &RwLock<M>) -> std::sync::RwLockWriteGuard<'_, M> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

/// Locks for reading, recovering from a poisoned lock.
pub(crate) fn read<M>(lock: &RwLock<M>) -> std::sync::RwLockReadGuard<'_, M> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

/// Where the replay log goes, written off the executor.
pub(crate) type RecordSink = blocking::Unblock<Box<dyn std::io::Write + Send>>;

/// The application's side of a running driver.
pub(crate) struct Driver {
    waker: Waker,
    done: async_channel::Receiver<()>,
}

impl Driver {
    /// Starts the driver task for `machine` on `spawner`. `sink` receives the machine's
    /// events on the driver task, outside the machine's lock; it is dropped when the driver
    /// ends, however it ends.
    pub(crate) fn start<M, S>(
        machine: Arc<RwLock<M>>,
        io: Io,
        record: Option<RecordSink>,
        spawner: Spawner,
        sink: S,
    ) -> Result<Driver, Error>
    where
        M: Machine + Send + Sync + 'static,
        M::Event: Send,
        S: FnMut(M::Event, &Waker) + Send + 'static,
    {
        let (tx, rx) = async_channel::unbounded();
        let waker = Waker(tx);
        // Nothing is ever sent: the receivers see the channel close when the driver ends.
        let (done_tx, done) = async_channel::bounded::<()>(1);
        let until_done = {
            let done = done.clone();
            async move {
                let _ = done.recv().await;
            }
        };
        let runner = spawner
            .start(until_done)
            .map_err(|e| Error::Setup(format!("the runtime thread: {e}")))?;
        let task = run(
            machine,
            io,
            record,
            rx,
            waker.clone(),
            runner.clone(),
            sink,
            done_tx,
        );
        runner.spawn(task);
        Ok(Driver { waker, done })
    }

    pub(crate) fn waker(&self) -> &Waker {
        &self.waker
    }

    /// Asks the driver to stop after draining what the machine has queued; does not wait.
    pub(crate) fn stop(&self) {
        self.waker.stop();
    }

    /// Whether the driver task has ended.
    pub(crate) fn is_done(&self) -> bool {
        self.done.is_closed()
    }

    /// Waits until the driver task has ended: the sockets are told to close and requests
    /// under way are abandoned.
    pub(crate) fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let done = self.done.clone();
        async move {
            let _ = done.recv().await;
        }
    }
}

enum Wakeup {
    Msg(Msg),
    Timer,
}

#[allow(clippy::too_many_arguments)]
async fn run<M, S>(
    machine: Arc<RwLock<M>>,
    io: Io,
    mut record: Option<RecordSink>,
    rx: async_channel::Receiver<Msg>,
    waker: Waker,
    runner: Runner,
    mut sink: S,
    _done: async_channel::Sender<()>,
) where
    M: Machine,
    S: FnMut(M::Event, &Waker),
{
    let mut io = Performer {
        http: Arc::new(HttpPool::new(io.clone())),
        io,
        inbox: waker.0.clone(),
        runner,
        requests: BTreeMap::new(),
        sockets: BTreeMap::new(),
    };
    loop {
        let deadline = read(&machine).poll_timeout();
        let next = async {
            match rx.recv().await {
                Ok(m) => Wakeup::Msg(m),
                // The driver holds a sender itself, so this does not happen; stop if it does.
                Err(_) => Wakeup::Msg(Msg::Stop),
            }
        };
        let wakeup = match deadline {
            Some(at) => {
                futures_lite::future::or(next, async {
                    async_io::Timer::at(at).await;
                    Wakeup::Timer
                })
                .await
            }
            None => next.await,
        };
        let mut stop = false;
        let (outputs, lines) = {
            let mut m = write(&machine);
            let now = Instant::now();
            match wakeup {
                Wakeup::Msg(Msg::Input(input)) => {
                    io.settled(&input);
                    m.handle_input(now, input);
                }
                Wakeup::Msg(Msg::Wake) | Wakeup::Timer => {}
                Wakeup::Msg(Msg::Stop) => stop = true,
            }
            // The clock is read first and every due timer runs, as quinn's drive_timer does.
            if m.poll_timeout().is_some_and(|d| d <= now) {
                m.handle_timeout(now);
            }
            let outputs: Vec<Output<M::Event>> = std::iter::from_fn(|| m.poll_output()).collect();
            let lines: Vec<String> = if record.is_some() {
                std::iter::from_fn(|| m.poll_record()).collect()
            } else {
                Vec::new()
            };
            (outputs, lines)
        };
        if let Some(w) = record.as_mut() {
            if !write_record(w, lines).await {
                log::warn!("the replay log could not be written; recording stops");
                record = None;
            }
        }
        for output in outputs {
            match output {
                Output::Event(e) => sink(e, &waker),
                other => io.perform(other),
            }
        }
        if stop {
            break;
        }
    }
    io.shut_down();
}

/// Writes replay log lines; `false` if the log file failed.
async fn write_record(w: &mut RecordSink, lines: Vec<String>) -> bool {
    use futures_lite::AsyncWriteExt;
    if lines.is_empty() {
        return true;
    }
    let mut text = lines.join("\n");
    text.push('\n');
    w.write_all(text.as_bytes()).await.is_ok() && w.flush().await.is_ok()
}

/// Performs the machine's transport outputs.
struct Performer {
    io: Io,
    http: Arc<HttpPool>,
    inbox: async_channel::Sender<Msg>,
    runner: Runner,
    /// Requests under way; dropping the sender abandons the request.
    requests: BTreeMap<RequestId, async_channel::Sender<()>>,
    /// Open sockets' command queues; dropping the sender closes the socket.
    sockets: BTreeMap<WsId, async_channel::Sender<Cmd>>,
}

impl Performer {
    /// Forgets the request or socket an input says has ended.
    fn settled(&mut self, input: &Input) {
        match input {
            Input::HttpResponse { id, .. } | Input::HttpFailed { id, .. } => {
                self.requests.remove(id);
            }
            Input::WsClosed { id, .. } | Input::WsFailed { id, .. } => {
                self.sockets.remove(id);
            }
            _ => {}
        }
    }

    fn perform<E>(&mut self, output: Output<E>) {
        match output {
            Output::Http { id, request } => {
                log::debug!("{id}: {request:?}");
                let (cancel, cancelled) = async_channel::bounded::<()>(1);
                self.requests.insert(id, cancel);
                let (http, inbox) = (Arc::clone(&self.http), self.inbox.clone());
                self.runner.spawn(async move {
                    let done = futures_lite::future::or(
                        async { Some(http.perform(request).await) },
                        async {
                            // Closed, never sent to: the core no longer wants the answer.
                            let _ = cancelled.recv().await;
                            None
                        },
                    )
                    .await;
                    let input = match done {
                        Some(Ok(response)) => {
                            log::debug!("{id}: HTTP {}", response.status().as_u16());
                            Input::HttpResponse { id, response }
                        }
                        Some(Err(error)) => {
                            log::debug!("{id}: {error}");
                            Input::HttpFailed { id, error }
                        }
                        None => {
                            log::debug!("{id}: abandoned");
                            return;
                        }
                    };
                    let _ = inbox.send(Msg::Input(input)).await;
                });
            }
            Output::CancelHttp { id } => {
                self.requests.remove(&id);
            }
            Output::OpenWs { id, request } => {
                log::debug!("{id}: open {request:?}");
                let (cmds, queue) = async_channel::unbounded();
                self.sockets.insert(id, cmds);
                self.runner.spawn(ws::run(
                    id,
                    request,
                    self.io.clone(),
                    queue,
                    self.inbox.clone(),
                ));
            }
            Output::WsSend { id, frame } => {
                if let Some(s) = self.sockets.get(&id) {
                    let _ = s.try_send(Cmd::Send(frame));
                }
            }
            Output::CloseWs { id } => {
                if let Some(s) = self.sockets.remove(&id) {
                    let _ = s.try_send(Cmd::Close);
                }
            }
            Output::Stat { id, path } => {
                let inbox = self.inbox.clone();
                self.runner.spawn(async move {
                    let info = crate::fs::stat(path).await;
                    let _ = inbox.send(Msg::Input(Input::Stat { id, info })).await;
                });
            }
            Output::ReadFile { id, path, limit } => {
                let inbox = self.inbox.clone();
                self.runner.spawn(async move {
                    let result = crate::fs::read(path, limit).await;
                    let _ = inbox.send(Msg::Input(Input::FileRead { id, result })).await;
                });
            }
            Output::Event(_) => {}
        }
    }

    /// Abandons every request and closes every socket.
    fn shut_down(&mut self) {
        self.requests.clear();
        for s in std::mem::take(&mut self.sockets).into_values() {
            let _ = s.try_send(Cmd::Close);
        }
    }
}
