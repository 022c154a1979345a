//! The Unicat client's methods, written once for both runtimes: the blocking runtime expands
//! them as plain functions, the smol runtime as `async` ones. A runtime's client keeps its
//! driver's handle in a field named `driver` (whose `request` sends a message and waits for
//! the answer, blocking or async) and the state its driver publishes in one named `shared`;
//! its `Builder` has a private `Builder::of(Settings)`.

/// Expands the `Debug` impl of a runtime's client type, which keeps the state its driver
/// publishes in a field named `shared`: the published state's `debug`, under the type's name.
#[macro_export]
macro_rules! debug_published {
    ($name:ident) => {
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.shared.get().debug(stringify!($name), f)
            }
        }
    };
}

/// Expands the constructors, command and reader methods of a runtime's `UnicatApi`:
/// `unicat_methods!("crate_name", {})` for blocking ones,
/// `unicat_methods!("crate_name", async { .await })` for async ones (the crate's name is
/// for the doc examples).
#[macro_export]
macro_rules! unicat_methods {
    ($krate:literal, $($async:ident)? { $($await:tt)* }) => {
        /// A client with default settings; see [`UnicatApi::builder`] for the others.
        pub fn new(base_url: &str, project: &str) -> Result<Self, $crate::Error> {
            Self::builder(base_url, project).build()
        }

        /// A builder for a client of `project` on the server at `base_url`.
        pub fn builder(base_url: &str, project: &str) -> Builder {
            Builder::of($crate::settings::Settings::new(base_url, project))
        }

        /// Runs one command on the driver and waits for its result.
        $($async)? fn run(
            &self,
            command: $crate::reexport::Command,
        ) -> Result<$crate::reexport::Value, $crate::Error> {
            let (msg, rx) = $crate::unicat::command(command);
            self.driver.request(msg, rx) $($await)*
        }

        /// Authenticates with the API key, loads the store from scratch and starts live sync.
        /// Returns the `/auth` result once authenticated; the socket connects in the
        /// background (see `wait_caught_up`).
        pub $($async)? fn connect(&self, api_key: &str) -> Result<$crate::reexport::Value, $crate::Error> {
            let api_key = $crate::reexport::Secret::new(api_key);
            self.run($crate::reexport::Command::Connect { api_key }) $($await)*
        }

        /// Reloads the store from scratch with `/init`.
        pub $($async)? fn init(&self) -> Result<$crate::reexport::Value, $crate::Error> {
            self.run($crate::reexport::Command::Init) $($await)*
        }

        /// Calls an endpoint (`//…` global, `/…` project) with a JSON object body; returns
        /// the `result`, after the response's `data` went into the store.
        pub $($async)? fn call(
            &self,
            endpoint: &str,
            body: $crate::reexport::Value,
        ) -> Result<$crate::reexport::Value, $crate::Error> {
            self.call_with(endpoint, body, Default::default()) $($await)*
        }

        /// `call` with options, such as marking a mutation safe to retry.
        pub $($async)? fn call_with(
            &self,
            endpoint: &str,
            body: $crate::reexport::Value,
            options: $crate::reexport::CallOptions,
        ) -> Result<$crate::reexport::Value, $crate::Error> {
            self.run($crate::reexport::Command::Call {
                endpoint: endpoint.to_string(),
                body: Some(body),
                safe: options.safe,
            }) $($await)*
        }

        /// Uploads a local file (multipart, `upload_file`) with form `fields`, to an endpoint
        /// such as `/assets/upload`. Files over 10,000,000 bytes are refused before being
        /// read.
        pub $($async)? fn upload(
            &self,
            endpoint: &str,
            fields: &[(&str, &str)],
            path: impl Into<std::path::PathBuf>,
        ) -> Result<$crate::reexport::Value, $crate::Error> {
            self.run($crate::reexport::Command::Upload {
                endpoint: endpoint.to_string(),
                fields: fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                path: path.into(),
            }) $($await)*
        }

        /// Publishes an asset the store holds; the result holds `public_url`.
        pub $($async)? fn publish(&self, asset: &str) -> Result<$crate::reexport::Value, $crate::Error> {
            self.run($crate::reexport::Command::Publish { asset: asset.to_string() }) $($await)*
        }

        /// Transforms an asset the store holds; the result holds `public_url`.
        pub $($async)? fn transform(
            &self,
            asset: &str,
            options: $crate::reexport::TransformOptions,
        ) -> Result<$crate::reexport::Value, $crate::Error> {
            self.run($crate::reexport::Command::Transform { asset: asset.to_string(), options })
                $($await)*
        }

        /// Downloads an asset into the asset folder; returns the path relative to it. See
        /// `Client::download` for where the file lands and when an existing one is kept.
        pub $($async)? fn download(
            &self,
            asset: &str,
            pathname: Option<&str>,
            updated_on: Option<f64>,
        ) -> Result<String, $crate::Error> {
            self.download_as(asset, None, pathname, updated_on) $($await)*
        }

        /// Downloads a transformed asset into the asset folder; returns the path relative to
        /// it.
        pub $($async)? fn download_transformed(
            &self,
            asset: &str,
            options: $crate::reexport::TransformOptions,
            pathname: Option<&str>,
            updated_on: Option<f64>,
        ) -> Result<String, $crate::Error> {
            self.download_as(asset, Some(options), pathname, updated_on) $($await)*
        }

        $($async)? fn download_as(
            &self,
            asset: &str,
            options: Option<$crate::reexport::TransformOptions>,
            pathname: Option<&str>,
            updated_on: Option<f64>,
        ) -> Result<String, $crate::Error> {
            let v = self.run($crate::reexport::Command::Download {
                asset: asset.to_string(),
                options,
                pathname: pathname.map(str::to_string),
                updated_on,
            }) $($await)* ?;
            Ok(v.as_str().unwrap_or_default().to_string())
        }

        /// Loads every record of the project, walking the tree from the root page by page;
        /// returns `{"records": <number loaded>}`.
        pub $($async)? fn load_all_records(&self) -> Result<$crate::reexport::Value, $crate::Error> {
            self.run($crate::reexport::Command::LoadAllRecords) $($await)*
        }

        /// Fetches and applies changes over HTTP (`/sync/get`), page after page.
        pub $($async)? fn sync_now(&self) -> Result<$crate::reexport::Value, $crate::Error> {
            self.run($crate::reexport::Command::SyncNow) $($await)*
        }

        /// The server's latest cursors (`/sync/cursors`); the client's own do not move.
        pub $($async)? fn sync_cursors(&self) -> Result<$crate::reexport::Value, $crate::Error> {
            self.run($crate::reexport::Command::SyncCursors) $($await)*
        }

        /// Waits for a job (by its `job.token`) to finish; returns the job when `done`.
        pub $($async)? fn track_job(
            &self,
            token: &str,
            timeout: Option<std::time::Duration>,
        ) -> Result<$crate::reexport::Value, $crate::Error> {
            self.run($crate::reexport::Command::TrackJob { token: token.to_string(), timeout })
                $($await)*
        }

        /// How live sync is doing: connected, catching up, reconnecting since when and why,
        /// or stopped and why. Never waits.
        pub fn health(&self) -> $crate::reexport::Health {
            self.shared.get().health.clone()
        }

        /// Queue lengths (held sync items, queued fetches, pending calls, buffered emits), to
        /// watch for growth. Never waits.
        pub fn stats(&self) -> $crate::reexport::Stats {
            self.shared.get().stats.clone()
        }

        /// A snapshot of the local store, as of the driver's last step. Never waits, costs a
        /// few reference counts whatever the store's size, and may be kept as long as you
        /// like, across calls: it does not change, and it never holds the client up. Call
        /// again for a newer one.
        pub fn store(&self) -> $crate::reexport::Store {
            self.shared.get().store.clone()
        }

        $crate::reading_methods!($krate, $($async)? { $($await)* });
    };
}
