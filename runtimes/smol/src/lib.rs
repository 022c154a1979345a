//! The async runtime of the Unicat client, on `async-io` and the smol family of crates, with
//! no tokio anywhere: asynchronous sockets and HTTP/1.1 through `unicat-smol-http` (the
//! sans-IO `ureq-proto` and rustls), and `async-tungstenite` for the Sync API's WebSocket.
//!
//! ```no_run
//! use unicat_smol::UnicatApi;
//!
//! # fn main() -> Result<(), unicat_smol::Error> {
//! futures_lite::future::block_on(async {
//!     let api = UnicatApi::builder("https://unicat.app", "<project gid>")
//!         .keep_api_key(true)
//!         .build()?;
//!     api.connect("<secret api key>").await?;
//!     let result = api
//!         .call("/records/get", serde_json::json!({"record": "<record gid>"}))
//!         .await?;
//!     let gid = result["record"].as_str().unwrap_or_default().to_string();
//!     // The store stays fresh by itself: an ERP's change shows up here without another call.
//!     if let Some(record) = api.store().record(&gid) {
//!         log::info!("{}", record.json());
//!     }
//!     Ok(())
//! })
//! # }
//! ```
//!
//! One driver task owns the [`unicat_core::client::Client`]: it races the client's timer,
//! transport completions and the application's commands, and performs what the client asks
//! by spawning tasks, never threads: an HTTP request on a small per-origin pool of kept-alive
//! connections, a WebSocket's reader and writer, a file system call on the `blocking` pool.
//! Every protocol rule lives in `unicat-core`: this crate only moves bytes, time and events.
//!
//! Where those tasks run is the application's choice (see [`Spawner`]): by default one
//! background thread of the client's own, or an executor the application runs. The client's
//! futures themselves only wait on channels, so any executor can poll them.
//!
//! The application's calls go to the driver as messages, and [`UnicatApi::store`] hands out
//! snapshots the driver published: reading never waits for the driver, never blocks an
//! executor thread, and a snapshot may be held across `.await`s and calls.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// A function a reader cannot see in one screen is split (`clippy.toml` sets 80 lines); tests
// are exempt.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

mod driver;
mod fs;
mod http;
pub mod socketio;
mod ws;

use std::sync::Arc;
use std::time::Duration;

use unicat_core::client::Event;
use unicat_runtime_support::driver::Core;
use unicat_runtime_support::reading::StepStream;
use unicat_runtime_support::settings::Settings;
use unicat_runtime_support::shared::Shared;
use unicat_runtime_support::task::{self, Driver, EventStream};
use unicat_runtime_support::unicat::{Published, UnicatMachine, UnicatSide};

pub use unicat_core;
pub use unicat_runtime_support::spawn::{BoxedTask, Executor, Spawner};
pub use unicat_runtime_support::{dumps_traffic, Error, SetupError, TRAFFIC_DUMP_TARGETS};

/// Runs a future to completion on the current thread, driving the `async-io` reactor while
/// it waits: for a synchronous `main` or a test that uses the client without an executor of
/// its own. (Any other executor works too; this one comes with the crate.)
pub use async_io::block_on;

/// Builds a [`UnicatApi`].
#[derive(Debug)]
pub struct Builder {
    settings: Settings,
    spawner: Spawner,
}

impl Builder {
    fn of(settings: Settings) -> Builder {
        Builder {
            settings,
            spawner: Spawner::default(),
        }
    }

    unicat_runtime_support::builder_setters!();

    /// Where the client's tasks run. Default: [`Spawner::thread`], one background thread of
    /// the client's own.
    pub fn spawner(mut self, spawner: Spawner) -> Self {
        self.spawner = spawner;
        self
    }

    /// Starts the client's driver task. Nothing is sent until [`UnicatApi::connect`] or a
    /// call.
    pub fn build(self) -> Result<UnicatApi, Error> {
        let p = self.settings.prepare()?;
        let io = http::Io::new(p.tls, p.connections, p.max_ws_message);
        let (events_tx, events) = async_channel::bounded(p.events);
        let (side, shared) = UnicatSide::new(&p.client, events_tx);
        let driver = driver::start(Core::new(p.client, side), io, p.record, self.spawner)?;
        Ok(UnicatApi {
            driver,
            shared,
            events,
        })
    }
}

type Side = UnicatSide<async_channel::Sender<Event>>;

/// The client's events, as a [`Stream`](futures_lite::Stream). Call results are not events:
/// they return from their calls. The stream ends when the client is closed.
///
/// Every clone of the stream (and [`UnicatApi::next_event`]) takes events from one queue:
/// each event goes to one of them.
pub type Events = EventStream<Event>;

/// A Unicat client that keeps a local copy of a project's data up to date by itself.
///
/// Calls are `async` and complete when their result arrives; the store can be read from any
/// task or thread at any time and never waits. Dropping a call's future does not cancel the
/// call; only its result is lost. Dropping the client closes it.
pub struct UnicatApi {
    driver: Driver<UnicatMachine, Side>,
    shared: Arc<Shared<Published>>,
    events: async_channel::Receiver<Event>,
}

unicat_runtime_support::debug_published!(UnicatApi);

impl UnicatApi {
    unicat_runtime_support::unicat_methods!("unicat_smol", async { .await });

    /// Waits until the Sync API socket is connected and every change it reported up to then
    /// is in the store. Fails at once with [`Error::Stopped`] when live sync stops.
    pub async fn wait_caught_up(&self, timeout: Duration) -> Result<(), Error> {
        let wait = self.shared.wait(Published::caught_up_or_never);
        task::timeout(timeout, wait)
            .await
            .unwrap_or(Err(Error::Timeout))
    }

    /// The next event, waiting at most `timeout`. Call results are not events: they return
    /// from their calls. `None` after the timeout, or once the client is closed and every
    /// event was taken.
    pub async fn next_event(&self, timeout: Duration) -> Option<Event> {
        task::timeout(timeout, self.events.recv())
            .await
            .and_then(Result::ok)
    }

    /// The events as a stream, for `while let Some(e) = events.next().await` or a stream
    /// combinator. See [`Events`] for how several readers share them.
    pub fn events(&self) -> Events {
        EventStream::new(self.events.clone())
    }

    /// Closes the client and waits until its driver has stopped: calls still running fail
    /// with [`Error::Closed`], the socket is closed and requests under way are abandoned.
    /// The runtime's own thread, if it has one, ends shortly after. Closing again does
    /// nothing.
    pub async fn close(&self) {
        self.begin_close();
        self.driver.stopped().await;
    }

    /// Whether the client was closed, or its driver stopped (its executor shut down).
    pub fn is_closed(&self) -> bool {
        self.driver.is_done() || self.shared.get().closed
    }

    fn begin_close(&self) {
        self.driver
            .stop(Box::new(|c: &mut UnicatMachine, _: &mut Side, now| {
                c.close(now)
            }));
    }
}

impl Drop for UnicatApi {
    /// Closes the client without waiting: the driver stops in the background.
    fn drop(&mut self) {
        self.begin_close();
    }
}

/// A walker (`unicat_core::walk`) as a [`Stream`](futures_lite::Stream): each item makes the
/// calls the walk needs (pages, fetches), then is read from the store after its page landed.
/// An item the store does not hold is an `Err` the walk goes on after; any other error ends
/// it.
///
/// ```no_run
/// # smol::block_on(async {
/// use futures_lite::StreamExt;
/// # let api = unicat_smol::UnicatApi::new("https://unicat.app", "<project>")?;
/// let mut records = api.walk_record_tree(None, None);
/// while let Some(record) = records.next().await {
///     let record = record?;
///     println!("{}", record.get().gid());
/// }
/// # Ok::<(), unicat_smol::Error>(()) });
/// ```
#[must_use = "a walker does nothing until polled"]
pub struct Walker<'a, W: unicat_core::walk::Walk>(StepStream<'a, W>);

impl<W: unicat_core::walk::Walk + std::fmt::Debug> std::fmt::Debug for Walker<'_, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Walker")
            .field("walk", &self.0.walk())
            .finish()
    }
}

impl<'a, W> Walker<'a, W>
where
    W: unicat_core::walk::Walk + Unpin + 'a,
    W::Item: 'a,
{
    fn new(api: &'a UnicatApi, walk: W) -> Self {
        Walker(StepStream::new(walk, move |mut walk: W| {
            Box::pin(async move {
                let item = api.walk_next(&mut walk).await;
                (walk, item)
            })
        }))
    }

    /// The walk, to read what it counted (a tree walk's repeats); `None` while a step is
    /// under way.
    pub fn walk(&self) -> Option<&W> {
        self.0.walk()
    }

    /// The next item ([`StreamExt::next`](futures_lite::StreamExt::next), without the import).
    pub async fn next_item(&mut self) -> Option<Result<W::Item, Error>> {
        futures_lite::StreamExt::next(self).await
    }
}

impl<'a, W> futures_lite::Stream for Walker<'a, W>
where
    W: unicat_core::walk::Walk + Unpin + 'a,
    W::Item: 'a,
{
    type Item = Result<W::Item, Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.0).poll_next(cx)
    }
}
