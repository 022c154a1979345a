//! Where the smol runtime's tasks run; see [`Spawner`] (`unicat_smol::Spawner`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// The executor [`Spawner::executor`] takes (`smol::Executor` is the same type).
pub use async_executor::Executor;

/// A future the client asks to run to completion in the background.
pub type BoxedTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// How long the client's own thread lets tasks that are still winding down (a WebSocket
/// sending its close frame) finish after the driver stopped.
const WIND_DOWN: Duration = Duration::from_secs(2);

/// Where a client runs its tasks: the driver task, one task per HTTP request under way, one
/// per WebSocket, and short ones for file system calls.
///
/// The application's executor is unknown to a library, and smol has no global executor to
/// count on, so the choice is the application's:
///
/// * [`Spawner::thread`] (the default): the client starts **one** background thread that runs
///   a private [`async_executor::Executor`] inside `async_io::block_on`, so the same thread
///   also drives the `async-io` reactor while it is idle. Whatever executor the application
///   uses — `smol`, `futures_lite::future::block_on`, or another one that polls futures —
///   the client's futures only wait on channels that this thread completes. The thread ends
///   soon after the client is closed or dropped.
/// * [`Spawner::executor`]: the client's tasks go on an [`async_executor::Executor`] the
///   application runs (a `smol::Executor` is one), and the client starts no thread at all.
/// * [`Spawner::from_fn`]: any executor, through a function that spawns a boxed future.
///
/// In every case there is no thread per request: sockets wait in the `async-io` reactor.
/// Blocking file system calls and name resolution run on the `blocking` crate's pool.
#[derive(Clone, Default)]
pub struct Spawner(Kind);

#[derive(Clone, Default)]
enum Kind {
    #[default]
    Thread,
    Executor(Arc<Executor<'static>>),
    Fn(Arc<dyn Fn(BoxedTask) + Send + Sync>),
}

impl fmt::Debug for Spawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Kind::Thread => "Spawner::thread",
            Kind::Executor(_) => "Spawner::executor",
            Kind::Fn(_) => "Spawner::from_fn",
        })
    }
}

impl Spawner {
    /// One background thread of the client's own, running its tasks and the `async-io`
    /// reactor. The default.
    pub fn thread() -> Spawner {
        Spawner(Kind::Thread)
    }

    /// The application's executor, which the application keeps running (for example with
    /// `smol::block_on(ex.run(..))` or `easy-parallel` threads). The client starts no thread.
    /// It holds the executor weakly: if the application drops it, the client's tasks go with
    /// it and the client reports itself closed.
    pub fn executor(executor: Arc<Executor<'static>>) -> Spawner {
        Spawner(Kind::Executor(executor))
    }

    /// Any executor: `spawn` is called with each task and must run it to completion (or drop
    /// it when the executor shuts down; the client then reports itself closed).
    pub fn from_fn(spawn: impl Fn(BoxedTask) + Send + Sync + 'static) -> Spawner {
        Spawner(Kind::Fn(Arc::new(spawn)))
    }

    /// Starts running tasks: for [`Spawner::thread`], starts the thread, which ends once
    /// `done` completes and the tasks left have wound down. Returns the spawner the client's
    /// tasks use.
    pub(crate) fn start(
        self,
        done: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<Runner> {
        match self.0 {
            Kind::Thread => {
                let ex = Arc::new(Executor::new());
                let own = Arc::clone(&ex);
                std::thread::Builder::new()
                    .name("unicat-smol".into())
                    .spawn(move || {
                        async_io::block_on(own.run(async {
                            done.await;
                            let until = Instant::now() + WIND_DOWN;
                            while !own.is_empty() && Instant::now() < until {
                                async_io::Timer::after(Duration::from_millis(10)).await;
                            }
                        }))
                    })?;
                Ok(Runner(RunnerKind::Executor(Arc::downgrade(&ex))))
            }
            Kind::Executor(ex) => Ok(Runner(RunnerKind::Executor(Arc::downgrade(&ex)))),
            Kind::Fn(f) => Ok(Runner(RunnerKind::Fn(f))),
        }
    }
}

/// Spawns the client's tasks. An executor is held weakly: its tasks hold the runner, and a
/// strong reference would keep an executor its owner dropped alive, with the tasks in it.
#[derive(Clone)]
pub struct Runner(RunnerKind);

#[derive(Clone)]
enum RunnerKind {
    Executor(Weak<Executor<'static>>),
    Fn(Arc<dyn Fn(BoxedTask) + Send + Sync>),
}

impl Runner {
    /// Runs `task` in the background; drops it when the executor is gone.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        match &self.0 {
            RunnerKind::Executor(ex) => match ex.upgrade() {
                Some(ex) => ex.spawn(task).detach(),
                // The executor is gone, and the client's driver with it.
                None => log::debug!("a task was not started: the executor is gone"),
            },
            RunnerKind::Fn(f) => f(Box::pin(task)),
        }
    }
}
