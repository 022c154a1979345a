//! The run loop: one task owns the machine. It races the machine's one timer, transport
//! facts, the application's commands and the stop; after each it takes one step of the
//! shared [`Core`] and performs the transport work by spawning tasks (an HTTP request, a
//! WebSocket, a file system call) that report back as [`Input`]s. No protocol rule lives
//! here.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use async_channel::Sender;
use unicat_core::io::{Input, Output, RequestId, WsId};
use unicat_runtime_support::driver::{Core, Driven, Msg, RecordLog, Side, Wakeup, INBOX};
use unicat_runtime_support::spawn::{Runner, Spawner};
use unicat_runtime_support::task::{Alive, Driver, Inbox};
use unicat_runtime_support::ws::{self as shared_ws, MAX_QUEUED_FRAMES};

use crate::http::Io;
use crate::ws::{self, Cmd};
use crate::Error;

/// Starts the driver task for `core` on `spawner`.
pub(crate) fn start<M, S>(
    core: Core<M, S>,
    io: Io,
    record: Option<RecordLog>,
    spawner: Spawner,
) -> Result<Driver<M, S>, Error>
where
    M: Driven + Send + 'static,
    S: Side<M> + 'static,
{
    Driver::start(spawner, move |inbox, runner, alive| {
        let loop_ = Loop {
            inbox,
            core,
            record,
        };
        loop_.run(io, runner, alive)
    })
}

/// The driver task's state. However it ends (stopped, dropped by its executor, or unwound by
/// a panic), the inbox goes first, failing the commands still in it (see [`Inbox`]), and
/// then the side, failing every waiter: fields drop in this order.
struct Loop<M: Driven, S: Side<M>> {
    inbox: Inbox<M, S>,
    core: Core<M, S>,
    record: Option<RecordLog>,
}

impl<M: Driven + Send + 'static, S: Side<M> + 'static> Loop<M, S> {
    async fn run(mut self, io: Io, runner: Runner, alive: Alive) {
        let (facts, transport) = async_channel::bounded(INBOX);
        let mut work = Performer::new(io, facts, runner);
        // The first step only drains what the machine queued before the driver started.
        let mut started = false;
        loop {
            let wakeup = match work.local.pop_front() {
                Some(input) => Wakeup::Msg(Msg::Input(input)),
                None if !started => Wakeup::Timer,
                None => {
                    let deadline = self.core.poll_timeout();
                    self.inbox.next(&transport, deadline).await
                }
            };
            started = true;
            let (msg, last) = match wakeup {
                Wakeup::Msg(m) => (Some(m), false),
                Wakeup::Timer => (None, false),
                Wakeup::Stop(last) => (last.map(Msg::Command), true),
            };
            if let Some(Msg::Input(input)) = &msg {
                work.settled(input);
            }
            let step = self.core.step(Instant::now(), msg);
            self.write_record(step.record).await;
            for output in step.outputs {
                work.perform(output);
            }
            if last {
                break;
            }
        }
        work.shut_down();
        // The side goes (see `Loop`), and only then is the driver seen as done.
        drop(self);
        drop(alive);
    }

    async fn write_record(&mut self, lines: Vec<String>) {
        if lines.is_empty() {
            return;
        }
        if let Some(mut log) = self.record.take() {
            self.record = Some(
                blocking::unblock(move || {
                    log.write(&lines);
                    log
                })
                .await,
            );
        }
    }
}

/// Performs the machine's transport outputs.
struct Performer {
    io: Io,
    http: Arc<unicat_smol_http::Pool>,
    facts: Sender<Input>,
    runner: Runner,
    /// Requests under way; dropping the sender abandons the request.
    requests: BTreeMap<RequestId, Sender<()>>,
    /// Open sockets' command queues; dropping the sender closes the socket.
    sockets: BTreeMap<WsId, Sender<Cmd>>,
    /// Facts the driver found out itself (a socket it had to fail), fed in first.
    local: VecDeque<Input>,
}

impl Performer {
    fn new(io: Io, facts: Sender<Input>, runner: Runner) -> Self {
        Performer {
            http: Arc::new(io.pool()),
            io,
            facts,
            runner,
            requests: BTreeMap::new(),
            sockets: BTreeMap::new(),
            local: VecDeque::new(),
        }
    }

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

    fn perform(&mut self, output: Output<Infallible>) {
        match output {
            Output::Http { id, request } => {
                log::debug!("{id}: {request:?}");
                let (cancel, cancelled) = async_channel::bounded::<()>(1);
                self.requests.insert(id, cancel);
                let (http, facts) = (Arc::clone(&self.http), self.facts.clone());
                self.runner.spawn(async move {
                    let abandoned = async {
                        // Closed, never sent to: the core no longer wants the answer.
                        let _ = cancelled.recv().await;
                        None
                    };
                    let answer = async { Some(crate::http::perform(&http, request).await) };
                    let input = match futures_lite::future::or(answer, abandoned).await {
                        Some(Ok(response)) => Input::HttpResponse { id, response },
                        Some(Err(error)) => Input::HttpFailed { id, error },
                        None => return log::debug!("{id}: abandoned"),
                    };
                    log::debug!("{id}: {input:?}");
                    let _ = facts.send(input).await;
                });
            }
            Output::CancelHttp { id } => {
                self.requests.remove(&id);
            }
            Output::OpenWs { id, request } => {
                log::debug!("{id}: open {request:?}");
                let (cmds, queue) = async_channel::bounded(MAX_QUEUED_FRAMES);
                self.sockets.insert(id, cmds);
                let task = ws::run(id, request, self.io.clone(), queue, self.facts.clone());
                self.runner.spawn(task);
            }
            Output::WsSend { id, frame } => {
                let full = self.sockets.get(&id).map(|s| s.try_send(Cmd::Send(frame)));
                if matches!(full, Some(Err(async_channel::TrySendError::Full(_)))) {
                    // The server stopped reading; dropping the queue closes the socket.
                    self.sockets.remove(&id);
                    self.local.push_back(shared_ws::stalled(id));
                }
            }
            Output::CloseWs { id } => {
                if let Some(s) = self.sockets.remove(&id) {
                    let _ = s.try_send(Cmd::Close);
                }
            }
            Output::Stat { id, path } => {
                let facts = self.facts.clone();
                self.runner.spawn(async move {
                    let info = crate::fs::stat(path).await;
                    let _ = facts.send(Input::Stat { id, info }).await;
                });
            }
            Output::ReadFile { id, path, limit } => {
                let facts = self.facts.clone();
                self.runner.spawn(async move {
                    let result = crate::fs::read(path, limit).await;
                    let _ = facts.send(Input::FileRead { id, result }).await;
                });
            }
            Output::Event(never) => match never {},
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
