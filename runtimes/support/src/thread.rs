//! The blocking runtime's threads, apart from their I/O: the driver thread's handle and
//! inbox, how transport threads hand the driver a fact ([`Reply`]), and a pool of worker
//! threads whose jobs can be cancelled. The loop itself, and what ureq and tungstenite do,
//! live in `unicat-blocking`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use unicat_core::io::{Input, RequestId};

use crate::driver::{Answer, Msg, Wakeup, INBOX};
use crate::Error;

/// What the driver thread's inbox carries.
enum Item<M, S> {
    Msg(Msg<M, S>),
    /// Look at the stop flag.
    Stop,
}

/// How transport threads hand the driver a fact: `false` once the driver is gone.
pub type Reply = Arc<dyn Fn(Input) -> bool + Send + Sync>;

/// The application's side of a running driver thread.
pub struct Driver<M, S> {
    inbox: SyncSender<Item<M, S>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<M: 'static, S: 'static> Driver<M, S> {
    /// Starts the driver thread: it runs `run` with its inbox and the [`Reply`] that feeds
    /// transport facts into that inbox.
    pub fn spawn(run: impl FnOnce(Inbox<M, S>, Reply) + Send + 'static) -> Result<Self, Error> {
        let (inbox, rx) = mpsc::sync_channel(INBOX);
        let stop = Arc::new(AtomicBool::new(false));
        let reply_to = inbox.clone();
        let reply: Reply =
            Arc::new(move |input| reply_to.send(Item::Msg(Msg::Input(input))).is_ok());
        let own = Inbox {
            rx,
            stop: Arc::clone(&stop),
        };
        let thread = std::thread::Builder::new()
            .name("unicat-driver".into())
            .spawn(move || run(own, reply))
            .map_err(|e| Error::setup("the driver thread", e))?;
        Ok(Driver {
            inbox,
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }
}

impl<M, S> Driver<M, S> {
    /// Hands the driver a message, waiting while its inbox is full.
    pub fn send(&self, msg: Msg<M, S>) -> Result<(), Error> {
        self.inbox.send(Item::Msg(msg)).map_err(|_| Error::Closed)
    }

    /// Hands the driver a message, then blocks until its answer comes.
    pub fn request<T>(&self, msg: Msg<M, S>, answer: Answer<Result<T, Error>>) -> Result<T, Error> {
        self.send(msg).and_then(|()| self.answer(answer)?)
    }

    /// Blocks until the driver answers; [`Error::Closed`] when it ended first.
    pub fn answer<T>(&self, answer: Answer<T>) -> Result<T, Error> {
        answer.recv_blocking().map_err(|_| Error::Closed)
    }

    /// Stops the driver and waits for its thread: sockets close, requests under way are
    /// abandoned, not awaited.
    pub fn stop(&self) {
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

/// The driver thread's side of its inbox.
pub struct Inbox<M, S> {
    rx: Receiver<Item<M, S>>,
    stop: Arc<AtomicBool>,
}

impl<M, S> Inbox<M, S> {
    /// Whether the driver was told to stop.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// The next message, waiting at most until the machine's timer is due; a stop, or every
    /// handle gone, is [`Wakeup::Stop`].
    pub fn next(&self, deadline: Option<Instant>) -> Wakeup<M, S> {
        let item = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(wait) if !wait.is_zero() => self.rx.recv_timeout(wait),
                _ => Err(RecvTimeoutError::Timeout),
            },
            None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match item {
            Ok(Item::Msg(m)) => Wakeup::Msg(m),
            Err(RecvTimeoutError::Timeout) => Wakeup::Timer,
            Ok(Item::Stop) | Err(RecvTimeoutError::Disconnected) => Wakeup::Stop(None),
        }
    }

    /// The commands still queued at the stop, which run so that their effects (the close
    /// among them) reach the server and the log. Transport facts are dropped.
    pub fn commands_left(&self) -> impl Iterator<Item = Msg<M, S>> + '_ {
        std::iter::from_fn(|| self.rx.try_recv().ok()).filter_map(|item| match item {
            Item::Msg(m @ Msg::Command(_)) => Some(m),
            Item::Msg(Msg::Input(_)) | Item::Stop => None,
        })
    }
}

/// A job for a worker, with its request's id and its cancel mark.
type Marked<J> = (RequestId, J, Arc<AtomicBool>);

/// What a worker does with a job: the fact for the driver. The job may look at its cancel
/// mark as it goes, and give up once it is set.
pub type Perform<J> = dyn Fn(RequestId, J, &AtomicBool) -> Input + Send + Sync;

/// A few worker threads that perform jobs and hand the results to the driver.
///
/// A blocking call often cannot be aborted, so cancelling a job marks it: a worker skips a
/// marked job it has not started, the job may look at its mark, and no one waits for a
/// worker still stuck in a call. It ends on its own, within the call's timeout.
pub struct Workers<J> {
    jobs: Option<Sender<Marked<J>>>,
    /// The cancel mark of every job not answered yet.
    marks: BTreeMap<RequestId, Arc<AtomicBool>>,
}

impl<J: Send + 'static> Workers<J> {
    /// Starts `n` threads (at least one), named `name-0`, `name-1`…, that perform jobs with
    /// `perform` and hand what comes of them to `reply`.
    pub fn new(name: &str, n: usize, reply: &Reply, perform: Arc<Perform<J>>) -> Self {
        let (jobs, rx) = mpsc::channel::<Marked<J>>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..n.max(1) {
            let (rx, reply, perform) = (Arc::clone(&rx), Arc::clone(reply), Arc::clone(&perform));
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || work(&rx, &reply, &*perform));
            if let Err(e) = spawned {
                log::warn!("the worker thread {name}-{i} could not start: {e}");
            }
        }
        Workers {
            jobs: Some(jobs),
            marks: BTreeMap::new(),
        }
    }

    /// Queues a job for the next free worker.
    pub fn submit(&mut self, id: RequestId, job: J) {
        // Answered jobs leave their marks behind; they go here rather than on every answer.
        self.marks.retain(|_, m| Arc::strong_count(m) > 1);
        let mark = Arc::new(AtomicBool::new(false));
        self.marks.insert(id, Arc::clone(&mark));
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send((id, job, mark));
        }
    }

    /// The driver no longer wants this job's answer.
    pub fn cancel(&mut self, id: RequestId) {
        if let Some(m) = self.marks.remove(&id) {
            m.store(true, Ordering::Release);
        }
    }

    /// Marks every job cancelled and lets the workers go, without waiting for them.
    pub fn stop(&mut self) {
        self.jobs = None;
        for m in std::mem::take(&mut self.marks).into_values() {
            m.store(true, Ordering::Release);
        }
    }
}

fn work<J>(jobs: &Mutex<Receiver<Marked<J>>>, reply: &Reply, perform: &Perform<J>) {
    loop {
        let (id, job, mark) = {
            let rx = jobs.lock().unwrap_or_else(|p| p.into_inner());
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        if mark.load(Ordering::Acquire) {
            continue;
        }
        let input = perform(id, job, &mark);
        drop(mark);
        if !reply(input) {
            return;
        }
    }
}
