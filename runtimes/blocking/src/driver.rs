//! The run loop: one thread owns the machine; ureq workers perform HTTP requests and file
//! reads; one thread per WebSocket reads and writes it. Every result comes back to the driver
//! as an [`Input`] on one bounded channel, where the application's commands come too. No
//! protocol rule lives here.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use unicat_core::io::{Input, Output, WsId};
use unicat_runtime_support::driver::{Core, Driven, Msg, RecordLog, Side, INBOX};
use unicat_runtime_support::files;

use crate::http::{HttpPool, Job};
use crate::ws::WsConn;
use crate::{Error, Io};

/// What the driver thread's inbox carries.
pub(crate) enum Item<M, S> {
    Msg(Msg<M, S>),
    /// Look at the stop flag.
    Stop,
}

/// How transport threads hand the driver a fact: `false` once the driver is gone.
pub(crate) type Reply = Arc<dyn Fn(Input) -> bool + Send + Sync>;

/// The application's side of a running driver thread.
pub(crate) struct Driver<M, S> {
    inbox: SyncSender<Item<M, S>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<M, S> Driver<M, S>
where
    M: Driven + Send + 'static,
    S: Side<M> + 'static,
{
    /// Starts the driver thread for `core`.
    pub(crate) fn spawn(
        core: Core<M, S>,
        io: Io,
        record: Option<RecordLog>,
    ) -> Result<Self, Error> {
        let (inbox, rx) = mpsc::sync_channel(INBOX);
        let stop = Arc::new(AtomicBool::new(false));
        let reply_to = inbox.clone();
        let reply: Reply =
            Arc::new(move |input| reply_to.send(Item::Msg(Msg::Input(input))).is_ok());
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("unicat-driver".into())
            .spawn(move || run(core, io, record, rx, &flag, reply))
            .map_err(|e| Error::setup("the driver thread", e))?;
        Ok(Driver {
            inbox,
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Hands the driver a message, waiting while its inbox is full.
    pub(crate) fn send(&self, msg: Msg<M, S>) -> Result<(), Error> {
        self.inbox.send(Item::Msg(msg)).map_err(|_| Error::Closed)
    }

    /// Stops the driver and waits for its thread: sockets close, requests under way are
    /// abandoned, not awaited.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        // A full inbox is fine: the driver looks at the flag after every message.
        let _ = self.inbox.try_send(Item::Stop);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        // Never joined from its own thread (a handle dropped by an event handler).
        if let Some(t) = thread.filter(|t| t.thread().id() != std::thread::current().id()) {
            let _ = t.join();
        }
    }
}

impl<M, S> Drop for Driver<M, S> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.inbox.try_send(Item::Stop);
    }
}

fn run<M: Driven, S: Side<M>>(
    mut core: Core<M, S>,
    io: Io,
    mut record: Option<RecordLog>,
    rx: Receiver<Item<M, S>>,
    stop: &AtomicBool,
    reply: Reply,
) {
    let mut work = Performer::new(&io, reply);
    // The first step only drains what the machine queued before the driver started.
    let mut started = false;
    while !stop.load(Ordering::Acquire) {
        let msg = match work.local.pop_front() {
            Some(input) => Some(Msg::Input(input)),
            None if !started => None,
            None => match next(&rx, core.poll_timeout()) {
                Ok(Item::Msg(m)) => Some(m),
                Ok(Item::Stop) => continue,
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            },
        };
        started = true;
        let step = core.step(Instant::now(), msg);
        if let Some(r) = record.as_mut() {
            r.write(&step.record);
        }
        for output in step.outputs {
            work.perform(output);
        }
    }
    // Commands sent before the stop (the close among them) still run, so their effects reach
    // the server and the log.
    while let Ok(item) = rx.try_recv() {
        if let Item::Msg(m @ Msg::Command(_)) = item {
            let step = core.step(Instant::now(), Some(m));
            if let Some(r) = record.as_mut() {
                r.write(&step.record);
            }
        }
    }
    work.shut_down(rx);
}

/// The next message, waiting at most until the machine's timer.
fn next<T>(rx: &Receiver<T>, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
    match deadline {
        Some(d) => match d.checked_duration_since(Instant::now()) {
            Some(wait) if !wait.is_zero() => rx.recv_timeout(wait),
            _ => Err(RecvTimeoutError::Timeout),
        },
        None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
    }
}

/// Performs the machine's transport outputs.
struct Performer {
    io: Io,
    http: HttpPool,
    sockets: BTreeMap<WsId, WsConn>,
    reply: Reply,
    /// Facts the driver found out itself (a stat, a socket it had to fail), fed in before the
    /// inbox: the driver never sends to its own bounded inbox.
    local: VecDeque<Input>,
    /// Threads of sockets told to close, joined at shut-down.
    closing: Vec<JoinHandle<()>>,
}

impl Performer {
    fn new(io: &Io, reply: Reply) -> Self {
        Performer {
            io: io.clone(),
            http: HttpPool::new(io, Arc::clone(&reply)),
            sockets: BTreeMap::new(),
            reply,
            local: VecDeque::new(),
            closing: Vec::new(),
        }
    }

    fn perform(&mut self, output: Output<Infallible>) {
        match output {
            Output::Http { id, request } => self.http.submit(id, Job::Http(Box::new(request))),
            Output::ReadFile { id, path, limit } => self.http.submit(id, Job::Read(path, limit)),
            Output::CancelHttp { id } => self.http.cancel(id),
            Output::Stat { id, path } => self.local.push_back(Input::Stat {
                id,
                info: files::stat(&path),
            }),
            Output::OpenWs { id, request } => {
                let conn = WsConn::open(id, request, &self.io, Arc::clone(&self.reply));
                self.sockets.insert(id, conn);
            }
            Output::WsSend { id, frame } => {
                let stalled = self.sockets.get(&id).is_some_and(|c| !c.send(frame));
                if stalled {
                    self.fail_stalled(id);
                }
            }
            Output::CloseWs { id } => self.close(id),
            Output::Event(never) => match never {},
        }
    }

    fn close(&mut self, id: WsId) {
        self.closing.retain(|t| !t.is_finished());
        if let Some(thread) = self.sockets.remove(&id).and_then(WsConn::close) {
            self.closing.push(thread);
        }
    }

    /// A socket whose server stopped reading is closed, and fails.
    fn fail_stalled(&mut self, id: WsId) {
        self.close(id);
        self.local
            .push_back(unicat_runtime_support::ws::stalled(id));
    }

    /// Abandons every request and closes every socket. The inbox goes first, so a socket
    /// thread blocked on handing over a frame wakes up to an error instead of holding the
    /// close up.
    fn shut_down<T>(mut self, rx: Receiver<T>) {
        self.http.stop();
        let ids: Vec<WsId> = self.sockets.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
        drop(rx);
        for thread in self.closing {
            let _ = thread.join();
        }
    }
}
