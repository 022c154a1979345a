//! The blocking runtime of the Unicat client: plain threads, ureq for HTTP, tungstenite for the
//! Sync API's WebSocket, and no async runtime at all.
//!
//! ```no_run
//! use unicat_blocking::UnicatApi;
//!
//! # fn main() -> Result<(), unicat_blocking::Error> {
//! let api = UnicatApi::builder("https://unicat.app", "<project gid>")
//!     .keep_api_key(true)
//!     .build()?;
//! api.connect("<secret api key>")?;
//! let result = api.call("/records/get", serde_json::json!({"record": "<record gid>"}))?;
//! let gid = result["record"].as_str().unwrap_or_default().to_string();
//! // The store stays fresh by itself: an ERP's change shows up here without another call.
//! if let Some(record) = api.store().record(&gid) {
//!     println!("{}", record.json());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! One driver thread owns the [`unicat_core::client::Client`]; HTTP requests run on a few
//! worker threads sharing one pooled ureq agent (keep-alive, rustls with the webpki root
//! store); each WebSocket has a thread of its own. Every protocol rule lives in
//! `unicat-core`: this crate only moves bytes, time and events. Reading the store takes a read
//! lock that the driver holds only while the core computes, never during network I/O.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod driver;
mod http;
pub mod socketio;
mod ws;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, TrySendError};
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockReadGuard};
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

pub use unicat_core;

use driver::{read, write, Driver, Waker};

/// What the threads share: the ureq agent, the TLS config for WebSockets, and sizes.
#[derive(Clone)]
pub(crate) struct Io {
    agent: ureq::Agent,
    tls: Arc<rustls::ClientConfig>,
    workers: usize,
    max_ws_message: usize,
}

/// Why a blocking call failed.
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
    /// The runtime could not start (a thread, the TLS setup).
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
    std::collections::hash_map::RandomState::new().hash_one(std::process::id())
}

/// Builds the rustls configuration for WebSockets and the ureq agent for HTTP, both trusting
/// the webpki roots, or exactly `roots` when given.
pub(crate) fn io(roots: &[Vec<u8>], workers: usize, max_ws_message: usize) -> Result<Io, Error> {
    let mut store = rustls::RootCertStore::empty();
    if roots.is_empty() {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    } else {
        for der in roots {
            store
                .add(rustls::pki_types::CertificateDer::from(der.clone()))
                .map_err(|e| Error::Setup(format!("bad root certificate: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Setup(e.to_string()))?
        .with_root_certificates(store)
        .with_no_client_auth();
    let root_certs = if roots.is_empty() {
        ureq::tls::RootCerts::WebPki
    } else {
        let certs: Vec<ureq::tls::Certificate<'static>> = roots
            .iter()
            .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
            .collect();
        ureq::tls::RootCerts::new_with_certs(&certs)
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(10)))
        .max_idle_connections_per_host(workers.max(4))
        .user_agent(unicat_core::io::USER_AGENT)
        // The core decides what a redirect means (none is expected from the API); ureq must
        // not follow one, and with it the `Authorization` header, to another host.
        .max_redirects(0)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(root_certs)
                .build(),
        )
        .build()
        .into();
    Ok(Io {
        agent,
        tls: Arc::new(tls),
        workers,
        max_ws_message,
    })
}

/// Builds a [`UnicatApi`].
#[derive(Debug)]
pub struct Builder {
    /// The core's configuration, or why the URL or project were refused (reported by
    /// `build`).
    cfg: Result<ClientConfig, UsageError>,
    seeded: bool,
    roots: Vec<Vec<u8>>,
    workers: usize,
    events: usize,
    #[cfg(feature = "record")]
    record: Option<PathBuf>,
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

    /// HTTP worker threads. Default: 8.
    pub fn http_workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
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

    /// Starts the client's threads. Nothing is sent until [`UnicatApi::connect`] or a call.
    pub fn build(self) -> Result<UnicatApi, Error> {
        let mut cfg = self.cfg?;
        if !self.seeded {
            cfg = cfg.rng_seed(random_seed());
        }
        if let Some(folder) = &cfg.asset_folder {
            std::fs::create_dir_all(folder)
                .map_err(|e| Error::Setup(format!("asset folder {}: {e}", folder.display())))?;
        }
        let io = io(
            &self.roots,
            self.workers,
            cfg.session.limits.max_incoming_payload,
        )?;
        #[allow(unused_mut)]
        let mut client = Client::new(cfg, Instant::now());
        #[allow(unused_mut)]
        let mut record: Option<Box<dyn std::io::Write + Send>> = None;
        #[cfg(feature = "record")]
        if let Some(path) = &self.record {
            let file = std::fs::File::create(path)
                .map_err(|e| Error::Setup(format!("replay log {}: {e}", path.display())))?;
            record = Some(Box::new(std::io::BufWriter::new(file)));
            client.record();
        }
        let machine = Arc::new(RwLock::new(client));
        let hub = Arc::new(Hub::default());
        let (events_tx, events) = mpsc::sync_channel(self.events.max(1));
        let sink_hub = Arc::clone(&hub);
        let mut dropped = false;
        let (driver, waker) = Driver::spawn(
            Arc::clone(&machine),
            io,
            record,
            move |e: Event, _: &Waker| {
                if let Some(e) = sink_hub.deliver(e) {
                    match events_tx.try_send(e) {
                        Ok(()) => dropped = false,
                        Err(TrySendError::Full(_)) if !dropped => {
                            dropped = true;
                            log::warn!("the application is not reading events; dropping them");
                        }
                        Err(_) => {}
                    }
                }
            },
        )
        .map_err(|e| Error::Setup(e.to_string()))?;
        Ok(UnicatApi {
            machine,
            hub,
            waker,
            driver: Some(driver),
            events: Mutex::new(Some(events)),
        })
    }
}

/// What the driver's event sink shares with the application's handle.
#[derive(Default)]
struct Hub {
    waiters: Mutex<BTreeMap<CallId, mpsc::Sender<Result<Value, CallError>>>>,
    /// Notified after every event, for waits on the client's state.
    changed: (Mutex<()>, Condvar),
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
                .remove(&id);
            if let Some(w) = waiter {
                let _ = w.send(result);
            }
            return None;
        }
        self.notify();
        Some(e)
    }

    /// Wakes state waits. The lock is taken so a waiter between its check and its wait cannot
    /// miss the wake-up.
    fn notify(&self) {
        let _guard = self.changed.0.lock().unwrap_or_else(|p| p.into_inner());
        self.changed.1.notify_all();
    }
}

/// A read view of the store. Hold it briefly: the client cannot apply changes while it is held.
pub struct StoreRef<'a>(RwLockReadGuard<'a, Client>);

impl Deref for StoreRef<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0.store()
    }
}

/// A Unicat client that keeps a local copy of a project's data up to date by itself.
///
/// Calls block until their result arrives; the store can be read from any thread at any time
/// and never waits on the network. Dropping the client closes it and stops every thread it
/// started.
pub struct UnicatApi {
    machine: Arc<RwLock<Client>>,
    hub: Arc<Hub>,
    waker: Waker,
    driver: Option<Driver>,
    events: Mutex<Option<Receiver<Event>>>,
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
            workers: 8,
            events: 65_536,
            #[cfg(feature = "record")]
            record: None,
        }
    }

    /// Runs one command and waits for its result.
    fn run(
        &self,
        command: impl FnOnce(&mut Client, Instant) -> Result<CallId, UsageError>,
    ) -> Result<Value, Error> {
        let (tx, rx) = mpsc::channel();
        {
            let mut client = write(&self.machine);
            if client.is_closed() {
                return Err(Error::Closed);
            }
            let id = command(&mut client, Instant::now())?;
            // Registered under the machine's lock, so the driver cannot drain the result first.
            self.hub
                .waiters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, tx);
        }
        self.waker.wake();
        rx.recv().map_err(|_| Error::Closed)?.map_err(Error::Call)
    }

    /// Authenticates with the API key, loads the store from scratch and starts live sync.
    /// Returns the `/auth` result once authenticated; the socket connects in the background
    /// (see [`wait_caught_up`](UnicatApi::wait_caught_up)).
    pub fn connect(&self, api_key: &str) -> Result<Value, Error> {
        let key = Secret::new(api_key);
        self.run(move |c, now| c.connect(now, key))
    }

    /// Reloads the store from scratch with `/init`.
    pub fn init(&self) -> Result<Value, Error> {
        self.run(|c, now| c.init(now))
    }

    /// Calls an endpoint (`//…` global, `/…` project) with a JSON object body; returns the
    /// `result`, after the response's `data` went into the store.
    pub fn call(&self, endpoint: &str, body: Value) -> Result<Value, Error> {
        self.call_with(endpoint, body, CallOptions::default())
    }

    /// [`call`](UnicatApi::call) with options, such as marking a mutation safe to retry.
    pub fn call_with(
        &self,
        endpoint: &str,
        body: Value,
        options: CallOptions,
    ) -> Result<Value, Error> {
        self.run(|c, now| c.call(now, endpoint, Some(body), options))
    }

    /// Uploads a local file (multipart, `upload_file`) with form `fields`, to an endpoint
    /// such as `/assets/upload`. Files over 10,000,000 bytes are refused before being read.
    pub fn upload(
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
    }

    /// Publishes an asset the store holds; the result holds `public_url`.
    pub fn publish(&self, asset: &str) -> Result<Value, Error> {
        self.run(|c, now| c.publish(now, asset))
    }

    /// Transforms an asset the store holds; the result holds `public_url`.
    pub fn transform(&self, asset: &str, options: TransformOptions) -> Result<Value, Error> {
        self.run(move |c, now| c.transform(now, asset, options))
    }

    /// Downloads an asset into the asset folder; returns the path relative to it. See
    /// [`Client::download`] for where the file lands and when an existing one is kept.
    pub fn download(
        &self,
        asset: &str,
        pathname: Option<&str>,
        updated_on: Option<f64>,
    ) -> Result<String, Error> {
        let v = self.run(|c, now| c.download(now, asset, None, pathname, updated_on))?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Downloads a transformed asset into the asset folder; returns the path relative to it.
    pub fn download_transformed(
        &self,
        asset: &str,
        options: TransformOptions,
        pathname: Option<&str>,
        updated_on: Option<f64>,
    ) -> Result<String, Error> {
        let v =
            self.run(move |c, now| c.download(now, asset, Some(options), pathname, updated_on))?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Loads every record of the project, walking the tree from the root page by page;
    /// returns `{"records": <number loaded>}`.
    pub fn load_all_records(&self) -> Result<Value, Error> {
        self.run(|c, now| c.load_all_records(now))
    }

    /// Fetches and applies changes over HTTP (`/sync/get`), page after page.
    pub fn sync_now(&self) -> Result<Value, Error> {
        self.run(|c, now| c.sync_now(now))
    }

    /// The server's latest cursors (`/sync/cursors`); the client's own do not move.
    pub fn sync_cursors(&self) -> Result<Value, Error> {
        self.run(|c, now| c.sync_cursors(now))
    }

    /// Waits for a job (by its `job.token`) to finish; returns the job when `done`.
    pub fn track_job(&self, token: &str, timeout: Option<Duration>) -> Result<Value, Error> {
        self.run(|c, now| c.track_job(now, token, timeout))
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

    /// The local store, for reading. Never waits on the network.
    pub fn store(&self) -> StoreRef<'_> {
        StoreRef(read(&self.machine))
    }

    /// Waits until the Sync API socket is connected and every change it reported up to then
    /// is in the store. Fails at once with [`Error::Stopped`] when live sync stops.
    pub fn wait_caught_up(&self, timeout: Duration) -> Result<(), Error> {
        // A timeout too long for `Instant` waits without end.
        let deadline = Instant::now().checked_add(timeout);
        let (lock, cond) = &self.hub.changed;
        let mut guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
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
            let left = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            // Woken after every event; the short bound covers a state change that comes with
            // none (a fetch that changed nothing still settles the sync).
            guard = cond
                .wait_timeout(guard, left.min(Duration::from_millis(20)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// The next event, waiting at most `timeout`. Call results are not events: they return
    /// from their calls.
    pub fn next_event(&self, timeout: Duration) -> Option<Event> {
        let guard = self.events.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref()?.recv_timeout(timeout).ok()
    }

    /// Takes the event receiver, to read events on a thread of your own. Later calls return
    /// `None`, and so does [`next_event`](UnicatApi::next_event).
    pub fn take_events(&self) -> Option<Receiver<Event>> {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Closes the client: calls still running fail with [`CallError::Closed`], the socket is
    /// closed, and every thread is stopped (a socket thread still in its handshake ends on its
    /// own once the handshake does, bounded by its timeout).
    pub fn close(&mut self) {
        write(&self.machine).close(Instant::now());
        self.waker.wake();
        if let Some(mut d) = self.driver.take() {
            d.stop();
        }
        self.hub.notify();
    }
}

impl Drop for UnicatApi {
    fn drop(&mut self) {
        self.close();
    }
}
