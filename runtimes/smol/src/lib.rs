//! The async runtime of the Unicat client, on `async-io` and the smol family of crates, with
//! no tokio anywhere: asynchronous sockets, HTTP/1.1 through the sans-IO `ureq-proto`, rustls,
//! and `async-tungstenite` for the Sync API's WebSocket.
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
//! The store is read through a lock the driver holds only while the core computes, never
//! during network I/O, so [`UnicatApi::store`] never waits on the network. Its guard is not
//! `Send`: read what you need and let go of it before the next `.await`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod driver;
mod fs;
mod http;
mod net;
pub mod socketio;
mod spawn;
mod ws;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use serde_json::Value;
use unicat_core::api::{CallError, Secret};
use unicat_core::client::{
    CallId, CallOptions, Client, ClientConfig, Event, FirstConnect, Health, Stats, StopReason,
    TransformOptions,
};
use unicat_core::config::{ReconnectPolicy, TransportMode};
use unicat_core::error::UsageError;
use unicat_core::store::Store;

/// The executor [`Spawner::executor`] takes (`smol::Executor` is the same type).
pub use async_executor::Executor;
pub use spawn::{BoxedTask, Spawner};
pub use unicat_core;

/// Runs a future to completion on the current thread, driving the `async-io` reactor while
/// it waits: for a synchronous `main` or a test that uses the client without an executor of
/// its own. (Any other executor works too; this one comes with the crate.)
pub use async_io::block_on;

use driver::{read, write, Driver, RecordSink, Waker};

/// Why a call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The arguments or the moment were wrong; nothing was sent.
    Usage(UsageError),
    /// The call was made and failed: the API refused, the response was invalid, the transport
    /// failed after its retries.
    Call(CallError),
    /// The client was closed.
    Closed,
    /// Live sync stopped, for this reason (see [`Health::Stopped`]).
    Stopped(StopReason),
    /// The runtime could not start (its thread, the TLS setup, a folder).
    Setup(String),
    /// A wait ran out of time.
    Timeout,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(e) => write!(f, "usage error: {e}"),
            Error::Call(e) => write!(f, "call failed: {e}"),
            Error::Closed => f.write_str("the client is closed"),
            Error::Stopped(reason) => write!(f, "live sync stopped: {reason}"),
            Error::Setup(e) => write!(f, "could not start the client: {e}"),
            Error::Timeout => f.write_str("timed out"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Usage(e) => Some(e),
            Error::Call(e) => Some(e),
            _ => None,
        }
    }
}

impl From<UsageError> for Error {
    fn from(e: UsageError) -> Self {
        Error::Usage(e)
    }
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        Error::Call(e)
    }
}

/// A random seed for reconnection jitter, without a random-number crate: std's hasher keys
/// are random per process.
pub(crate) fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(Instant::now())
}

/// Races `fut` against a timer; `None` when `timeout` passed first.
pub(crate) async fn timeout<T>(
    timeout: Duration,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        async_io::Timer::after(timeout).await;
        None
    })
    .await
}

/// Builds a [`UnicatApi`].
pub struct Builder {
    /// The core's configuration, or why the URL or project were refused (reported by
    /// `build`).
    cfg: Result<ClientConfig, UsageError>,
    seeded: bool,
    roots: Vec<Vec<u8>>,
    connections: usize,
    events: usize,
    spawner: Spawner,
    #[cfg(feature = "record")]
    record: Option<PathBuf>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("cfg", &self.cfg)
            .field("connections", &self.connections)
            .field("spawner", &self.spawner)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Records the session as a replay log at `path` (JSON Lines, secrets redacted; see
    /// `unicat_core::record`), for `unicat-replay` to play back.
    #[cfg(feature = "record")]
    pub fn record(mut self, path: impl Into<PathBuf>) -> Self {
        self.record = Some(path.into());
        self
    }

    /// Which hosts downloads may fetch media from, beside the API's own domain over https.
    /// Default: none; a dev server on loopback needs
    /// [`MediaHosts::local_dev`](unicat_core::api::MediaHosts::local_dev).
    pub fn media_hosts(self, policy: unicat_core::api::MediaHosts) -> Self {
        self.with(|c| c.media_hosts(policy))
    }

    /// Where downloads go. Created if missing.
    pub fn asset_folder(self, folder: impl Into<PathBuf>) -> Self {
        let folder = folder.into();
        self.with(|c| c.asset_folder(folder))
    }

    /// How long any API request may take. Default: 60 s.
    pub fn http_timeout(self, timeout: Duration) -> Self {
        self.with(|c| c.http_timeout(timeout))
    }

    /// How the Sync API socket reconnects. Default: 1 s doubling to 5 s, ±50%, forever.
    pub fn reconnect(self, policy: ReconnectPolicy) -> Self {
        self.with(|c| c.reconnect(policy))
    }

    /// The most keys in one plural sync fetch. Default: 100.
    pub fn batch_size(self, n: usize) -> Self {
        self.with(|c| c.batch_size(n))
    }

    /// Trust exactly these root certificates (DER) instead of the webpki root store.
    pub fn tls_roots(mut self, roots: Vec<Vec<u8>>) -> Self {
        self.roots = roots;
        self
    }

    /// Keep the API key to re-authenticate by itself when the JWT expires. Default: false.
    pub fn keep_api_key(self, keep: bool) -> Self {
        self.with(|c| c.keep_api_key(keep))
    }

    /// What [`connect`](UnicatApi::connect) does when the server cannot be reached: fail
    /// at once with the error (the default), or, for daemons, keep trying through the
    /// reconnect backoff until it answers.
    pub fn first_connect(self, mode: FirstConnect) -> Self {
        self.with(|c| c.first_connect(mode))
    }

    /// Keep the store fresh through the Sync API socket. Default: true.
    pub fn live_sync(self, on: bool) -> Self {
        self.with(|c| c.live_sync(on))
    }

    /// The Sync API transport. Default: WebSocket, falling back to long-polling.
    pub fn transport(self, mode: TransportMode) -> Self {
        self.with(|c| c.transport(mode))
    }

    /// The most HTTP connections open at once to one server; further requests wait for one
    /// to be free. Idle connections are kept alive and reused. Default: 8.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.connections = n.max(1);
        self
    }

    /// The reconnection jitter seed. Default: random.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seeded = true;
        self.with(|c| c.rng_seed(seed))
    }

    /// How many events wait for the application before new ones are dropped (with a log
    /// line). Default: 65,536.
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.events = n;
        self
    }

    /// Adjusts the core's configuration directly, for settings the builder does not name.
    pub fn configure(self, f: impl FnOnce(ClientConfig) -> ClientConfig) -> Self {
        self.with(f)
    }

    fn with(mut self, f: impl FnOnce(ClientConfig) -> ClientConfig) -> Self {
        self.cfg = self.cfg.map(f);
        self
    }

    /// Where the client's tasks run. Default: [`Spawner::thread`], one background thread of
    /// the client's own.
    pub fn spawner(mut self, spawner: Spawner) -> Self {
        self.spawner = spawner;
        self
    }

    /// Starts the client's driver task. Nothing is sent until [`UnicatApi::connect`] or a
    /// call.
    pub fn build(self) -> Result<UnicatApi, Error> {
        let mut cfg = self.cfg?;
        if !self.seeded {
            cfg = cfg.rng_seed(random_seed());
        }
        if let Some(folder) = &cfg.asset_folder {
            std::fs::create_dir_all(folder)
                .map_err(|e| Error::Setup(format!("asset folder {}: {e}", folder.display())))?;
        }
        let io = net::Io::new(
            &self.roots,
            self.connections,
            cfg.session.limits.max_incoming_payload,
        )?;
        #[allow(unused_mut)]
        let mut client = Client::new(cfg, Instant::now());
        #[allow(unused_mut)]
        let mut record: Option<RecordSink> = None;
        #[cfg(feature = "record")]
        if let Some(path) = &self.record {
            let file = std::fs::File::create(path)
                .map_err(|e| Error::Setup(format!("replay log {}: {e}", path.display())))?;
            let w: Box<dyn std::io::Write + Send> = Box::new(std::io::BufWriter::new(file));
            record = Some(blocking::Unblock::new(w));
            client.record();
        }
        let machine = Arc::new(RwLock::new(client));
        let hub = Arc::new(Hub::default());
        let (events_tx, events) = async_channel::bounded(self.events.max(1));
        let guard = HubGuard(Arc::clone(&hub));
        let mut dropped = false;
        let driver = Driver::start(
            Arc::clone(&machine),
            io,
            record,
            self.spawner,
            move |e: Event, _: &Waker| {
                if let Some(e) = guard.0.deliver(e) {
                    match events_tx.try_send(e) {
                        Ok(()) => dropped = false,
                        Err(async_channel::TrySendError::Full(_)) if !dropped => {
                            dropped = true;
                            log::warn!("the application is not reading events; dropping them");
                        }
                        Err(_) => {}
                    }
                }
            },
        )?;
        Ok(UnicatApi {
            machine,
            hub,
            driver,
            events,
        })
    }
}

/// Whether the driver ended: nothing will change any more.
#[derive(Default)]
struct Status {
    stopped: bool,
}

type Waiter = async_channel::Sender<Result<Value, CallError>>;

/// What the driver's event sink shares with the application's handle.
#[derive(Default)]
struct Hub {
    waiters: Mutex<Waiters>,
    status: Mutex<Status>,
    changed: event_listener::Event,
}

#[derive(Default)]
struct Waiters {
    map: BTreeMap<CallId, Waiter>,
    /// The driver ended: a new waiter would never be answered.
    stopped: bool,
}

impl Hub {
    /// Hands call results to their waiters and wakes state waits; returns the events the
    /// application should see.
    fn deliver(&self, e: Event) -> Option<Event> {
        if let Event::CallFinished { id, result } = e {
            let waiter = self
                .waiters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .map
                .remove(&id);
            if let Some(w) = waiter {
                let _ = w.try_send(result);
            }
            return None;
        }
        self.changed.notify(usize::MAX);
        Some(e)
    }
}

/// Dropped with the driver's event sink, however the driver ends (stopped, or dropped by an
/// executor shutting down): calls still waiting learn that the client is closed.
struct HubGuard(Arc<Hub>);

impl Drop for HubGuard {
    fn drop(&mut self) {
        {
            let mut w = self.0.waiters.lock().unwrap_or_else(|p| p.into_inner());
            w.stopped = true;
            w.map.clear();
        }
        self.0
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stopped = true;
        self.0.changed.notify(usize::MAX);
    }
}

/// A read view of the store. Hold it briefly, and never across an `.await`: the client
/// cannot apply changes while it is held.
pub struct StoreRef<'a>(RwLockReadGuard<'a, Client>);

impl Deref for StoreRef<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0.store()
    }
}

/// The client's events, as a [`futures_core::Stream`]. Call results are not events: they
/// return from their calls. The stream ends when the client is closed.
///
/// Every clone of the stream (and [`UnicatApi::next_event`]) takes events from one queue:
/// each event goes to one of them.
pub struct Events(Pin<Box<async_channel::Receiver<Event>>>);

impl Events {
    /// The next event, or `None` once the client is closed: the stream's `next` without a
    /// stream extension trait in scope.
    pub async fn recv(&self) -> Option<Event> {
        self.0.recv().await.ok()
    }
}

impl Clone for Events {
    fn clone(&self) -> Self {
        Events(Box::pin((*self.0).clone()))
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("queued", &self.0.len())
            .finish()
    }
}

impl futures_core::Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.0.as_mut().poll_next(cx)
    }
}

/// A Unicat client that keeps a local copy of a project's data up to date by itself.
///
/// Calls are `async` and complete when their result arrives; the store can be read from any
/// task or thread at any time and never waits on the network. Dropping a call's future does
/// not cancel the call; only its result is lost. Dropping the client closes it.
pub struct UnicatApi {
    machine: Arc<RwLock<Client>>,
    hub: Arc<Hub>,
    driver: Driver,
    events: async_channel::Receiver<Event>,
}

impl fmt::Debug for UnicatApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = read(&self.machine);
        f.debug_struct("UnicatApi")
            .field("base_url", &c.config().base_url())
            .field("project", &c.config().project())
            .field("sync", &c.sync_state())
            .field("authenticated", &c.is_authenticated())
            .field("objects", &c.store().len())
            .finish()
    }
}

impl UnicatApi {
    /// A client with default settings; see [`UnicatApi::builder`] for the others.
    pub fn new(base_url: &str, project: &str) -> Result<UnicatApi, Error> {
        Self::builder(base_url, project).build()
    }

    /// A builder for a client of `project` on the server at `base_url`.
    pub fn builder(base_url: &str, project: &str) -> Builder {
        Builder {
            cfg: ClientConfig::new(base_url, project),
            seeded: false,
            roots: Vec::new(),
            connections: 8,
            events: 65_536,
            spawner: Spawner::default(),
            #[cfg(feature = "record")]
            record: None,
        }
    }

    /// Runs one command and waits for its result.
    async fn run(
        &self,
        command: impl FnOnce(&mut Client, Instant) -> Result<CallId, UsageError>,
    ) -> Result<Value, Error> {
        let (tx, rx) = async_channel::bounded(1);
        {
            let mut client = write(&self.machine);
            if client.is_closed() {
                return Err(Error::Closed);
            }
            let id = command(&mut client, Instant::now())?;
            // Registered under the machine's lock, so the driver cannot deliver the result
            // first.
            let mut waiters = self.hub.waiters.lock().unwrap_or_else(|p| p.into_inner());
            if waiters.stopped {
                return Err(Error::Closed);
            }
            waiters.map.insert(id, tx);
        }
        self.driver.waker().wake();
        rx.recv()
            .await
            .map_err(|_| Error::Closed)?
            .map_err(Error::Call)
    }

    /// Authenticates with the API key, loads the store from scratch and starts live sync.
    /// Returns the `/auth` result once authenticated; the socket connects in the background
    /// (see [`wait_caught_up`](UnicatApi::wait_caught_up)).
    pub async fn connect(&self, api_key: &str) -> Result<Value, Error> {
        let key = Secret::new(api_key);
        self.run(move |c, now| c.connect(now, key)).await
    }

    /// Reloads the store from scratch with `/init`.
    pub async fn init(&self) -> Result<Value, Error> {
        self.run(|c, now| c.init(now)).await
    }

    /// Calls an endpoint (`//…` global, `/…` project) with a JSON object body; returns the
    /// `result`, after the response's `data` went into the store.
    pub async fn call(&self, endpoint: &str, body: Value) -> Result<Value, Error> {
        self.call_with(endpoint, body, CallOptions::default()).await
    }

    /// [`call`](UnicatApi::call) with options, such as marking a mutation safe to retry.
    pub async fn call_with(
        &self,
        endpoint: &str,
        body: Value,
        options: CallOptions,
    ) -> Result<Value, Error> {
        self.run(|c, now| c.call(now, endpoint, Some(body), options))
            .await
    }

    /// Uploads a local file (multipart, `upload_file`) with form `fields`, to an endpoint
    /// such as `/assets/upload`. Files over 10,000,000 bytes are refused before being read.
    pub async fn upload(
        &self,
        endpoint: &str,
        fields: &[(&str, &str)],
        path: impl Into<PathBuf>,
    ) -> Result<Value, Error> {
        let fields = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let path = path.into();
        self.run(move |c, now| c.upload(now, endpoint, fields, path))
            .await
    }

    /// Publishes an asset the store holds; the result holds `public_url`.
    pub async fn publish(&self, asset: &str) -> Result<Value, Error> {
        self.run(|c, now| c.publish(now, asset)).await
    }

    /// Transforms an asset the store holds; the result holds `public_url`.
    pub async fn transform(&self, asset: &str, options: TransformOptions) -> Result<Value, Error> {
        self.run(move |c, now| c.transform(now, asset, options))
            .await
    }

    /// Downloads an asset into the asset folder; returns the path relative to it. See
    /// [`Client::download`] for where the file lands and when an existing one is kept.
    pub async fn download(
        &self,
        asset: &str,
        pathname: Option<&str>,
        updated_on: Option<f64>,
    ) -> Result<String, Error> {
        let v = self
            .run(|c, now| c.download(now, asset, None, pathname, updated_on))
            .await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Downloads a transformed asset into the asset folder; returns the path relative to it.
    pub async fn download_transformed(
        &self,
        asset: &str,
        options: TransformOptions,
        pathname: Option<&str>,
        updated_on: Option<f64>,
    ) -> Result<String, Error> {
        let v = self
            .run(move |c, now| c.download(now, asset, Some(options), pathname, updated_on))
            .await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Loads every record of the project, walking the tree from the root page by page;
    /// returns `{"records": <number loaded>}`.
    pub async fn load_all_records(&self) -> Result<Value, Error> {
        self.run(|c, now| c.load_all_records(now)).await
    }

    /// Fetches and applies changes over HTTP (`/sync/get`), page after page.
    pub async fn sync_now(&self) -> Result<Value, Error> {
        self.run(|c, now| c.sync_now(now)).await
    }

    /// The server's latest cursors (`/sync/cursors`); the client's own do not move.
    pub async fn sync_cursors(&self) -> Result<Value, Error> {
        self.run(|c, now| c.sync_cursors(now)).await
    }

    /// Waits for a job (by its `job.token`) to finish; returns the job when `done`.
    pub async fn track_job(&self, token: &str, timeout: Option<Duration>) -> Result<Value, Error> {
        self.run(|c, now| c.track_job(now, token, timeout)).await
    }

    /// How live sync is doing: connected, catching up, reconnecting since when and why, or
    /// stopped and why. Never waits on the network.
    pub fn health(&self) -> Health {
        read(&self.machine).health()
    }

    /// Queue lengths (held sync items, queued fetches, pending calls, buffered emits), to
    /// watch for growth. Never waits on the network.
    pub fn stats(&self) -> Stats {
        read(&self.machine).stats()
    }

    /// The local store, for reading. Never waits on the network. Let go of it before the next
    /// `.await`.
    pub fn store(&self) -> StoreRef<'_> {
        StoreRef(read(&self.machine))
    }

    /// Waits until the Sync API socket is connected and every change it reported up to then
    /// is in the store. Fails at once with [`Error::Stopped`] when live sync stops.
    pub async fn wait_caught_up(&self, timeout: Duration) -> Result<(), Error> {
        let wait = async {
            loop {
                let listener = self.hub.changed.listen();
                if self
                    .hub
                    .status
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .stopped
                {
                    return Err(Error::Closed);
                }
                {
                    let client = read(&self.machine);
                    if client.is_caught_up() {
                        return Ok(());
                    }
                    match client.health() {
                        Health::Stopped {
                            reason: StopReason::Closed,
                        } => return Err(Error::Closed),
                        Health::Stopped { reason } => return Err(Error::Stopped(reason)),
                        _ => {}
                    }
                }
                listener.await;
            }
        };
        crate::timeout(timeout, wait)
            .await
            .unwrap_or(Err(Error::Timeout))
    }

    /// The next event, waiting at most `timeout`. Call results are not events: they return
    /// from their calls. `None` after the timeout, or once the client is closed and every
    /// event was taken.
    pub async fn next_event(&self, timeout: Duration) -> Option<Event> {
        crate::timeout(timeout, self.events.recv())
            .await
            .and_then(Result::ok)
    }

    /// The events as a stream, for `while let Some(e) = events.next().await` or a stream
    /// combinator. See [`Events`] for how several readers share them.
    pub fn events(&self) -> Events {
        Events(Box::pin(self.events.clone()))
    }

    /// Closes the client and waits until its driver has stopped: calls still running fail
    /// with [`CallError::Closed`], the socket is closed and requests under way are abandoned.
    /// The runtime's own thread, if it has one, ends shortly after. Closing again does
    /// nothing.
    pub async fn close(&self) {
        self.begin_close();
        self.driver.stopped().await;
    }

    /// Whether the client was closed, or its driver stopped (its executor shut down).
    pub fn is_closed(&self) -> bool {
        self.driver.is_done() || read(&self.machine).is_closed()
    }

    fn begin_close(&self) {
        write(&self.machine).close(Instant::now());
        self.driver.waker().wake();
        self.driver.stop();
    }
}

impl Drop for UnicatApi {
    /// Closes the client without waiting: the driver stops in the background.
    fn drop(&mut self) {
        self.begin_close();
    }
}
