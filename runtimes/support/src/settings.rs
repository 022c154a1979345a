//! The settings both runtimes' builders take, and what `build` makes of them. The builders'
//! setters are written once, by [`builder_setters!`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use unicat_core::client::{Client, ClientConfig};
use unicat_core::error::CommandError;

use crate::driver::RecordLog;
use crate::unicat::UnicatMachine;
use crate::Error;

/// What a runtime's builder collects.
#[derive(Debug)]
pub struct Settings {
    /// The core's configuration, or why the URL or project were refused (reported by
    /// [`Settings::prepare`]).
    cfg: Result<ClientConfig, CommandError>,
    seeded: bool,
    roots: Vec<Vec<u8>>,
    connections: usize,
    events: usize,
    record: Option<PathBuf>,
}

/// What a runtime starts its driver with.
pub struct Prepared {
    /// The client, recording when asked to.
    pub client: UnicatMachine,
    /// Where its replay log goes.
    pub record: Option<RecordLog>,
    /// Root certificates to trust instead of the webpki roots (DER), if any.
    pub roots: Vec<Vec<u8>>,
    /// The TLS configuration for WebSockets (and the smol runtime's HTTP).
    pub tls: Arc<rustls::ClientConfig>,
    /// The most HTTP connections (blocking: worker threads) at once.
    pub connections: usize,
    /// The event queue's capacity.
    pub events: usize,
    /// The largest WebSocket message accepted.
    pub max_ws_message: usize,
}

impl Settings {
    /// Settings for `project` on the server at `base_url`.
    pub fn new(base_url: &str, project: &str) -> Settings {
        Settings {
            cfg: ClientConfig::new(base_url, project),
            seeded: false,
            roots: Vec::new(),
            connections: 8,
            events: 65_536,
            record: None,
        }
    }

    /// Adjusts the core's configuration.
    pub fn configure(&mut self, f: impl FnOnce(ClientConfig) -> ClientConfig) {
        let cfg = std::mem::replace(&mut self.cfg, Err(CommandError::Closed));
        self.cfg = cfg.map(f);
    }

    /// Trusts exactly these root certificates.
    pub fn tls_roots(&mut self, roots: Vec<Vec<u8>>) {
        self.roots = roots;
    }

    /// The most HTTP connections at once.
    pub fn max_connections(&mut self, n: usize) {
        self.connections = n.max(1);
    }

    /// The reconnection jitter seed.
    pub fn seed(&mut self, seed: u64) {
        self.seeded = true;
        self.configure(|c| c.rng_seed(seed));
    }

    /// The event queue's capacity.
    pub fn event_capacity(&mut self, n: usize) {
        self.events = n.max(1);
    }

    /// Records a replay log at `path`.
    pub fn record(&mut self, path: PathBuf) {
        self.record = Some(path);
    }

    /// Checks the settings, creates the asset folder and the replay log, and makes the
    /// client and the TLS configuration.
    pub fn prepare(self) -> Result<Prepared, Error> {
        let mut cfg = self.cfg?;
        if !self.seeded {
            cfg = cfg.rng_seed(crate::random_u64());
        }
        if let Some(folder) = cfg.asset_folder_path() {
            std::fs::create_dir_all(folder)
                .map_err(|e| Error::setup(format!("asset folder {}", folder.display()), e))?;
        }
        let tls = crate::tls::client_config(&self.roots)?;
        let max_ws_message = cfg.session_config().limits.max_incoming_payload;
        #[cfg(feature = "record")]
        #[allow(unused_mut)]
        let mut client = unicat_core::record::Recording::paused(Client::new(cfg, Instant::now()));
        #[cfg(not(feature = "record"))]
        let mut client = Client::new(cfg, Instant::now());
        let record = match &self.record {
            Some(path) => Some(Self::start_recording(&mut client, path)?),
            None => None,
        };
        Ok(Prepared {
            client,
            record,
            roots: self.roots,
            tls,
            connections: self.connections,
            events: self.events,
            max_ws_message,
        })
    }

    #[cfg(feature = "record")]
    fn start_recording(
        client: &mut UnicatMachine,
        path: &std::path::Path,
    ) -> Result<RecordLog, Error> {
        let file = std::fs::File::create(path)
            .map_err(|e| Error::setup(format!("replay log {}", path.display()), e))?;
        client.start();
        Ok(RecordLog::new(Box::new(std::io::BufWriter::new(file))))
    }

    #[cfg(not(feature = "record"))]
    fn start_recording(_: &mut UnicatMachine, _: &std::path::Path) -> Result<RecordLog, Error> {
        Err(Error::setup(
            "a replay log",
            "this build has no `record` feature",
        ))
    }
}

/// Expands the setters of a runtime's `Builder`, which keeps its [`Settings`] in a field
/// named `settings`.
#[macro_export]
macro_rules! builder_setters {
    () => {
        /// Records the session as a replay log at `path` (JSON Lines, secrets redacted; see
        /// `unicat_core::record`), for `unicat-replay` to play back.
        #[cfg(feature = "record")]
        pub fn record(mut self, path: impl Into<std::path::PathBuf>) -> Self {
            self.settings.record(path.into());
            self
        }

        /// Which hosts downloads may fetch media from, beside the API's own domain over
        /// https. Default: none; a dev server on loopback needs
        /// [`MediaHosts::local_dev`]($crate::reexport::MediaHosts::local_dev).
        pub fn media_hosts(self, policy: $crate::reexport::MediaHosts) -> Self {
            self.configure(|c| c.media_hosts(policy))
        }

        /// Where downloads go. Created if missing.
        pub fn asset_folder(self, folder: impl Into<std::path::PathBuf>) -> Self {
            let folder = folder.into();
            self.configure(|c| c.asset_folder(folder))
        }

        /// How long any API request may take. Default: 60 s.
        pub fn http_timeout(self, timeout: std::time::Duration) -> Self {
            self.configure(|c| c.http_timeout(timeout))
        }

        /// How the Sync API socket reconnects. Default: 1 s doubling to 5 s, ±50%, forever.
        pub fn reconnect(self, policy: $crate::reexport::ReconnectPolicy) -> Self {
            self.configure(|c| c.reconnect(policy))
        }

        /// The most keys in one plural sync fetch. Default: 100.
        pub fn batch_size(self, n: usize) -> Self {
            self.configure(|c| c.batch_size(n))
        }

        /// Trust exactly these root certificates (DER) instead of the webpki root store.
        pub fn tls_roots(mut self, roots: Vec<Vec<u8>>) -> Self {
            self.settings.tls_roots(roots);
            self
        }

        /// Keep the API key to re-authenticate by itself when the JWT expires. Default:
        /// false.
        pub fn keep_api_key(self, keep: bool) -> Self {
            self.configure(|c| c.keep_api_key(keep))
        }

        /// What `connect` does when the server cannot be reached: fail at once with the
        /// error (the default), or, for daemons, keep trying through the reconnect backoff
        /// until it answers.
        pub fn first_connect(self, mode: $crate::reexport::FirstConnect) -> Self {
            self.configure(|c| c.first_connect(mode))
        }

        /// Keep the store fresh through the Sync API socket. Default: true.
        pub fn live_sync(self, on: bool) -> Self {
            self.configure(|c| c.live_sync(on))
        }

        /// The Sync API transport. Default: WebSocket, falling back to long-polling.
        pub fn transport(self, mode: $crate::reexport::TransportMode) -> Self {
            self.configure(|c| c.transport(mode))
        }

        /// The most HTTP requests under way at once; further ones wait for one to finish.
        /// Idle connections are kept alive and reused. Default: 8.
        pub fn max_connections(mut self, n: usize) -> Self {
            self.settings.max_connections(n);
            self
        }

        /// The reconnection jitter seed. Default: random.
        pub fn seed(mut self, seed: u64) -> Self {
            self.settings.seed(seed);
            self
        }

        /// How many events wait for the application before new ones are dropped (with a log
        /// line). Default: 65,536.
        pub fn event_capacity(mut self, n: usize) -> Self {
            self.settings.event_capacity(n);
            self
        }

        /// Adjusts the core's configuration directly, for settings the builder does not
        /// name.
        pub fn configure(
            mut self,
            f: impl FnOnce($crate::reexport::ClientConfig) -> $crate::reexport::ClientConfig,
        ) -> Self {
            self.settings.configure(f);
            self
        }
    };
}
