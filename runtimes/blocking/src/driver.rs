//! The run loop: one thread owns the machine; ureq workers perform HTTP requests and file
//! reads; one thread per WebSocket reads and writes it. Every result comes back to the driver
//! as an [`Input`] on one bounded channel, where the application's commands come too. No
//! protocol rule lives here.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use unicat_core::io::{Input, Output, WsId};
use unicat_runtime_support::driver::{Core, Driven, Msg, RecordLog, Side, Wakeup};
use unicat_runtime_support::files;
use unicat_runtime_support::thread::{Driver, Inbox, Reply, Workers};

use crate::http::Job;
use crate::ws::WsConn;
use crate::{Error, Io};

/// Starts the driver thread for `core`.
pub(crate) fn spawn<M, S>(
    core: Core<M, S>,
    io: Io,
    record: Option<RecordLog>,
) -> Result<Driver<M, S>, Error>
where
    M: Driven + Send + 'static,
    S: Side<M> + 'static,
{
    Driver::spawn(move |inbox, reply| run(core, &io, record, inbox, reply))
}

fn run<M: Driven, S: Side<M>>(
    mut core: Core<M, S>,
    io: &Io,
    mut record: Option<RecordLog>,
    inbox: Inbox<M, S>,
    reply: Reply,
) {
    let mut work = Performer::new(io, reply);
    // The first step only drains what the machine queued before the driver started.
    let mut started = false;
    while !inbox.stopping() {
        let msg = match work.local.pop_front() {
            Some(input) => Some(Msg::Input(input)),
            None if !started => None,
            None => match inbox.next(core.poll_timeout()) {
                Wakeup::Msg(m) => Some(m),
                Wakeup::Timer => None,
                Wakeup::Stop(_) => break,
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
    for m in inbox.commands_left() {
        let step = core.step(Instant::now(), Some(m));
        if let Some(r) = record.as_mut() {
            r.write(&step.record);
        }
        // The close's own outputs (the Socket.IO DISCONNECT, the WebSocket close) go out
        // before the sockets are shut down, as the smol driver's do.
        for output in step.outputs {
            work.perform(output);
        }
    }
    work.shut_down(inbox);
}

/// Performs the machine's transport outputs.
struct Performer {
    io: Io,
    http: Workers<Job>,
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
            http: crate::http::workers(io, &reply),
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
    fn shut_down<M, S>(mut self, inbox: Inbox<M, S>) {
        self.http.stop();
        let ids: Vec<WsId> = self.sockets.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
        drop(inbox);
        for thread in self.closing {
            let _ = thread.join();
        }
    }
}
