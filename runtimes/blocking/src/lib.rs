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
//! `unicat-core`: this crate only moves bytes, time and events. The application's calls go to
//! the driver as messages, and [`UnicatApi::store`] hands out snapshots the driver published,
//! so reading never waits for the driver, nor the driver for a reader.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// A function a reader cannot see in one screen is split (`clippy.toml` sets 80 lines); tests
// are exempt.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

mod driver;
mod http;
pub mod socketio;
mod ws;

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use unicat_core::client::Event;
use unicat_runtime_support::driver::Core;
use unicat_runtime_support::settings::Settings;
use unicat_runtime_support::shared::Shared;
use unicat_runtime_support::thread::Driver;
use unicat_runtime_support::unicat::{self, Published, UnicatMachine, UnicatSide};

pub use unicat_core;
pub use unicat_runtime_support::{dumps_traffic, Error, SetupError, TRAFFIC_DUMP_TARGETS};

/// What the threads share: the ureq agent, the TLS config for WebSockets, and sizes.
#[derive(Clone)]
pub(crate) struct Io {
    agent: ureq::Agent,
    tls: Arc<rustls::ClientConfig>,
    workers: usize,
    max_ws_message: usize,
}

/// Builds the ureq agent for HTTP, trusting the webpki roots, or exactly `roots` when given.
pub(crate) fn io(roots: &[Vec<u8>], workers: usize, max_ws_message: usize) -> Result<Io, Error> {
    let tls = unicat_runtime_support::tls::client_config(roots)?;
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
        tls,
        workers,
        max_ws_message,
    })
}

/// Builds a [`UnicatApi`].
#[derive(Debug)]
pub struct Builder {
    settings: Settings,
}

impl Builder {
    fn of(settings: Settings) -> Builder {
        Builder { settings }
    }

    unicat_runtime_support::builder_setters!();

    /// Starts the client's threads. Nothing is sent until [`UnicatApi::connect`] or a call.
    pub fn build(self) -> Result<UnicatApi, Error> {
        let p = self.settings.prepare()?;
        let io = io(&p.roots, p.connections, p.max_ws_message)?;
        let (events_tx, events) = mpsc::sync_channel(p.events);
        let (side, shared) = UnicatSide::new(&p.client, events_tx);
        let driver = driver::spawn(Core::new(p.client, side), io, p.record)?;
        Ok(UnicatApi {
            driver,
            shared,
            events: Mutex::new(Some(events)),
        })
    }
}

type Side = UnicatSide<SyncSender<Event>>;

/// A Unicat client that keeps a local copy of a project's data up to date by itself.
///
/// Calls block until their result arrives; the store can be read from any thread at any time
/// and never waits. Dropping the client closes it: requests under way are abandoned, not
/// awaited.
pub struct UnicatApi {
    driver: Driver<UnicatMachine, Side>,
    shared: Arc<Shared<Published>>,
    events: Mutex<Option<Receiver<Event>>>,
}

unicat_runtime_support::debug_published!(UnicatApi);

impl UnicatApi {
    unicat_runtime_support::unicat_methods!("unicat_blocking", {});

    /// Waits until the Sync API socket is connected and every change it reported up to then
    /// is in the store. Fails at once with [`Error::Stopped`] when live sync stops.
    pub fn wait_caught_up(&self, timeout: Duration) -> Result<(), Error> {
        // A timeout too long for `Instant` waits without end.
        let deadline = Instant::now().checked_add(timeout);
        self.shared
            .wait_blocking(deadline, Published::caught_up_or_never)
            .unwrap_or(Err(Error::Timeout))
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

    /// Closes the client: calls still running fail with [`Error::Closed`], the socket is
    /// closed, and the driver thread stops. Requests under way are abandoned: a worker thread
    /// still waiting on a silent server ends on its own within the request's timeout.
    pub fn close(&self) {
        let _ = self.driver.send(unicat::close());
        self.driver.stop();
    }
}

impl Drop for UnicatApi {
    fn drop(&mut self) {
        self.close();
    }
}

/// A walker (`unicat_core::walk`) as an iterator: each `next` makes the calls the walk needs
/// (pages, fetches) and hands out the next item, read from the store after its page landed.
/// An item the store does not hold is an `Err` the walk goes on after; any other error ends
/// it.
///
/// ```no_run
/// # fn main() -> Result<(), unicat_blocking::Error> {
/// # let api = unicat_blocking::UnicatApi::new("https://unicat.app", "<project>")?;
/// for record in api.walk_record_tree(None, None) {
///     let record = record?;
///     let record = record.get();
///     println!("{} {:?}", record.gid(), record.field("en", "artnr").map(|v| v.to_string()));
/// }
/// # Ok(()) }
/// ```
#[must_use = "a walker does nothing until iterated"]
pub struct Walker<'a, W> {
    api: &'a UnicatApi,
    walk: W,
    over: bool,
}

impl<W: std::fmt::Debug> std::fmt::Debug for Walker<'_, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Walker")
            .field("walk", &self.walk)
            .field("over", &self.over)
            .finish()
    }
}

impl<'a, W> Walker<'a, W> {
    fn new(api: &'a UnicatApi, walk: W) -> Self {
        Walker {
            api,
            walk,
            over: false,
        }
    }

    /// The walk, to read what it counted (a tree walk's repeats).
    pub fn walk(&self) -> &W {
        &self.walk
    }
}

impl<W: unicat_core::walk::Walk> Walker<'_, W> {
    /// The next item: [`Iterator::next`], named as the smol runtime's walker names it.
    pub fn next_item(&mut self) -> Option<Result<W::Item, Error>> {
        self.next()
    }
}

impl<W: unicat_core::walk::Walk> Iterator for Walker<'_, W> {
    type Item = Result<W::Item, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.over {
            return None;
        }
        let item = self.api.walk_next(&mut self.walk);
        self.over = unicat_runtime_support::reading::ends_walk(&item);
        item
    }
}
