//! The control surface: [`Control`] (plain blocking Rust methods that go straight to the state)
//! and the same operations over HTTP under `/_dev/` (loopback peers only).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::faults::{ApiFailure, Fault};
use crate::net::{Cut, Restart};
use crate::server::Shared;
use crate::store::{ApiError, RestoreSource};
use crate::{lock, seed, sio};

mod http;
mod plant;

pub(crate) use http::handle_http;

/// Why a control operation was refused. Same codes as the API: 400 for a missing or wrong
/// parameter, 422 for an item that doesn't exist, 503 once the server has shut down.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlError {
    /// Numeric code (400, 422, 503).
    pub code: u16,
    /// Short message ("Bad request", "Unprocessable Entity", …).
    pub message: String,
    /// Details: which parameter or item.
    pub info: Value,
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.code, self.message, self.info)
    }
}

impl std::error::Error for ControlError {}

impl From<ApiError> for ControlError {
    fn from(e: ApiError) -> Self {
        ControlError {
            code: e.code,
            message: e.message.to_owned(),
            info: e.info,
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        let message = match e.code {
            400 => "Bad request",
            422 => "Unprocessable Entity",
            503 => "Service unavailable",
            _ => "Error",
        };
        ApiError::new(e.code, message, e.info)
    }
}

fn shut_down() -> ControlError {
    ControlError {
        code: 503,
        message: "Service unavailable".into(),
        info: json!({"error": "the dev server has shut down"}),
    }
}

/// Runs the `queued → processing → done` steps of a job on the server's runtime, one
/// [`job_step_delay`](crate::DevConfig::job_step_delay) apart.
pub(crate) fn spawn_job(shared: &Arc<Shared>, token: String) {
    let delay = shared.cfg.job_step_delay;
    // Only a weak handle: a job outliving the server just stops.
    let shared_weak = Arc::downgrade(shared);
    shared.rt.spawn(async move {
        tokio::time::sleep(delay).await;
        let Some(s) = shared_weak.upgrade() else {
            return;
        };
        lock(&s.inner).job_step(&token, "processing", None);
        drop(s);
        tokio::time::sleep(delay).await;
        let Some(s) = shared_weak.upgrade() else {
            return;
        };
        let source = lock(&s.inner).restore_source(&token);
        let seeded = match source {
            Some(RestoreSource::Seed { seed, records }) => {
                tokio::task::spawn_blocking(move || seed::seeded_project_data(seed, records))
                    .await
                    .ok()
            }
            _ => None,
        };
        lock(&s.inner).job_step(&token, "done", seeded);
    });
}

/// A handle on a running [`DevServer`](crate::DevServer)'s state, for tests, benchmarks and
/// the demo. Every method is a plain blocking call that works on the state directly (no
/// HTTP), from any thread; each has an HTTP twin under `/_dev/` (see the crate docs).
///
/// Changes append sync items and broadcast them at once to every socket that did its
/// `initsync` (unless [paused](Self::pause_sync)).
///
/// ```
/// use unicat_devserver::{DevConfig, DevServer};
/// let server = DevServer::start(DevConfig { records: 5, ..DevConfig::default() })?;
/// let control = server.control().clone();
/// let (cc, cursor) = control.cursors();
/// control.change_records(3, Some("price"))?;
/// assert_eq!(control.cursors(), (cc, cursor + 3));
/// control.bump_version(None);
/// assert_eq!(control.cursors().0, cc + 1);
/// assert_eq!(control.version(), "2026.01.002");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

impl Control {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    fn live(&self) -> Result<(), ControlError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            Err(shut_down())
        } else {
            Ok(())
        }
    }

    /// Sets one field of one record as an ERP would, in `language` or (with `None`) in every
    /// project language: one `records` UPDATE item, broadcast at once. Returns the new project
    /// cursor. 422 for an unknown record or a field its definition lacks, 400 for an unknown
    /// language.
    ///
    /// HTTP: `POST /_dev/set_field {"record", "language"?, "field", "value"}` → `{"cursor"}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let gid = control.record_gids(1)[0].clone();
    /// let cursor = control.set_field(&gid, Some("en"), "price", serde_json::json!(0.1))?;
    /// assert_eq!(control.cursors().1, cursor);
    /// assert_eq!(control.state()["data"]["records"][&gid]["fields"]["en"]["price"], 0.1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_field(
        &self,
        record: &str,
        language: Option<&str>,
        field: &str,
        value: Value,
    ) -> Result<u64, ControlError> {
        Ok(lock(&self.shared.inner).set_field(record, language, field, value)?)
    }

    /// Changes `field` (default `stock`) of the first `count` records under the root, in every
    /// language: integers +1, decimals +0.01, strings get `+` appended, booleans flip. One UPDATE
    /// per record, broadcast in lists of at most 100. Returns how many records changed (fewer
    /// than `count` when there are fewer records).
    ///
    /// HTTP: `POST /_dev/change_records {"count", "field"?}` → `{"changed"}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let (_, before) = control.cursors();
    /// assert_eq!(control.change_records(2, Some("price"))?, 2);
    /// assert_eq!(control.change_records(10, None)?, 3);
    /// assert_eq!(control.cursors().1, before + 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn change_records(&self, count: usize, field: Option<&str>) -> Result<usize, ControlError> {
        Ok(lock(&self.shared.inner).change_records(count, field)?)
    }

    /// Inserts a record under `parent` (default: the root), with optional field values
    /// `{lang: {name: value}}`: INSERT of the record and UPDATE of the parent, sent as one list.
    /// Returns its gid.
    ///
    /// HTTP: `POST /_dev/insert_record {"parent"?, "fields"?}` → `{"record"}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let fields = serde_json::json!({"en": {"artnr": "NEW-1", "price": 1.25}});
    /// let gid = control.insert_record(None, Some(fields))?;
    /// assert_eq!(control.record_gids(4)[3], gid);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert_record(
        &self,
        parent: Option<&str>,
        fields: Option<Value>,
    ) -> Result<String, ControlError> {
        Ok(lock(&self.shared.inner).insert_record(parent, fields.as_ref())?)
    }

    /// Deletes a record and its subtree for good: a DELETE item per record, then an UPDATE of
    /// the parent. The root can't be deleted (422).
    ///
    /// HTTP: `POST /_dev/delete_record {"record"}` → `{}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let gid = control.record_gids(1)[0].clone();
    /// control.delete_record(&gid)?;
    /// assert!(control.state()["data"]["records"].get(&gid).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete_record(&self, record: &str) -> Result<(), ControlError> {
        Ok(lock(&self.shared.inner).delete_record(record)?)
    }

    /// Adds a committed definition with the given field gids: one `definitions` INSERT.
    /// Returns its gid.
    ///
    /// HTTP: `POST /_dev/add_definition {"name", "fields"?: [gid]}` → `{"definition"}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let gid = control.add_definition("accessory", &[])?;
    /// assert_eq!(control.state()["data"]["definitions"][&gid]["name"], "accessory");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_definition(&self, name: &str, fields: &[&str]) -> Result<String, ControlError> {
        let fields: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        Ok(lock(&self.shared.inner).add_definition(name, &fields)?)
    }

    /// Adds a committed field of `type_` (`textline`, `decimal`, `number`, …): one `fields`
    /// INSERT; with `definition`, the field is also appended to it (a `definitions` UPDATE).
    /// Returns its gid.
    ///
    /// HTTP: `POST /_dev/add_field {"name", "type"? (default textline), "definition"?}` → `{"field"}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let gid = control.add_field("weight", "decimal", None)?;
    /// assert_eq!(control.state()["data"]["fields"][&gid]["type"], "decimal");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_field(
        &self,
        name: &str,
        type_: &str,
        definition: Option<&str>,
    ) -> Result<String, ControlError> {
        Ok(lock(&self.shared.inner).add_field(name, type_, definition)?)
    }

    /// Shallow-merges raw JSON into any stored object, then appends an UPDATE in the object's
    /// family. `data_type` is a store name (`records`, `assets`, `definitions`, `classes`,
    /// `fields`, `layouts`, `queries`, `modules` keyed by name, `cc.users`, `cc.projects`,
    /// `cc.projects_members` keyed `"pgid/ugid"`). Returns that family's new cursor. Nothing is
    /// validated: this is the way to plant hostile data, such as an asset pathname that climbs
    /// out of a download folder.
    ///
    /// HTTP: `POST /_dev/patch {"data_type", "key", "patch": {…}}` → `{"cursor"}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let state = control.state();
    /// let photo = state["data"]["assets_by_pathname"]["/img/photo-1.jpg"]["gid"].as_str().unwrap();
    /// control.patch("assets", photo, serde_json::json!({"pathname": "../../escape.txt"}))?;
    /// assert_eq!(control.state()["data"]["assets_by_pathname"]["../../escape.txt"]["gid"], photo);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Renaming a definition (or a class, a field, a query) is a patch too: one `definitions`
    /// UPDATE, which a client answers by fetching the definition again.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let state = control.state();
    /// let (gid, _) = state["data"]["definitions"].as_object().unwrap().iter()
    ///     .find(|(_, d)| d["name"] == "article").unwrap();
    /// let (_, before) = control.cursors();
    /// let cursor = control.patch("definitions", gid, serde_json::json!({"name": "product"}))?;
    /// assert_eq!(cursor, before + 1);
    /// assert_eq!(control.state()["data"]["definitions"][gid]["name"], "product");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn patch(&self, data_type: &str, key: &str, patch: Value) -> Result<u64, ControlError> {
        Ok(lock(&self.shared.inner).patch(data_type, key, &patch)?)
    }

    /// Sets a new `cc.version` (default: the last part plus one, `2026.01.001` →
    /// `2026.01.002`) and appends the cc item
    /// `{"action": "UPDATE", "data_type": "cc.version", "data_key": <version>}`. Returns it.
    ///
    /// HTTP: `POST /_dev/bump_version {"version"?}` → `{"version"}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// assert_eq!(control.bump_version(None), "2026.01.002");
    /// assert_eq!(control.bump_version(Some("2027.01.001")), "2027.01.001");
    /// assert_eq!(control.version(), "2027.01.001");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bump_version(&self, version: Option<&str>) -> String {
        lock(&self.shared.inner).bump_version(version)
    }

    /// Starts a `backup_project` job, as `/backups/create` does: the project data is
    /// snapshotted now, a backup version is added to the project (a `cc.projects` UPDATE), and
    /// `jobs` items go `queued → processing → done`, one
    /// [`job_step_delay`](crate::DevConfig::job_step_delay) apart. Returns the job token.
    ///
    /// HTTP: `POST /_dev/backup {"created_by"?, "name"?}` → `{"job.token", "version"}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let token = control.backup()?;
    /// let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    /// while control.job_status(&token).as_deref() != Some("done") {
    ///     assert!(std::time::Instant::now() < deadline, "the job never finished");
    ///     std::thread::sleep(std::time::Duration::from_millis(5));
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn backup(&self) -> Result<String, ControlError> {
        self.live()?;
        let (token, _, _) = lock(&self.shared.inner).start_backup(None, None);
        spawn_job(&self.shared, token.clone());
        Ok(token)
    }

    /// Starts a `restore_project` job: at `done` the project data is replaced by the latest
    /// backup (or, when there is none, by freshly seeded data), with no per-record sync items;
    /// clients reload through `/init`. Returns the job token. (`/backups/restore {"version"}` and
    /// the HTTP route can name a backup version.)
    ///
    /// HTTP: `POST /_dev/restore {"version"?}` → `{"job.token"}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let gid = control.record_gids(1)[0].clone();
    /// control.set_field(&gid, None, "stock", serde_json::json!(0))?;
    /// let token = control.restore()?;
    /// let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    /// while control.job_status(&token).as_deref() != Some("done") {
    ///     assert!(std::time::Instant::now() < deadline, "the job never finished");
    ///     std::thread::sleep(std::time::Duration::from_millis(5));
    /// }
    /// assert_eq!(control.state()["data"]["records"][&gid]["fields"]["en"]["stock"], 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn restore(&self) -> Result<String, ControlError> {
        self.live()?;
        let (token, _) = lock(&self.shared.inner).start_restore(None)?;
        spawn_job(&self.shared, token.clone());
        Ok(token)
    }

    /// Status of a job (`queued`, `processing`, `done`), `None` for an unknown token.
    ///
    /// HTTP: `POST /_dev/job {"token"}` → `{"status"}`.
    pub fn job_status(&self, token: &str) -> Option<String> {
        lock(&self.shared.inner)
            .jobs
            .get(token)
            .map(|j| j.status.to_owned())
    }

    /// Cuts every open TCP connection of the server (WebSocket, long-poll and keep-alive HTTP
    /// alike) at the transport level, without any Socket.IO DISCONNECT: clients see a dropped
    /// transport and reconnect. The Engine.IO sessions open at that moment become unknown
    /// (`400 Session ID unknown`), so a polling client whose HTTP library quietly retries its
    /// long-poll on a new connection still sees its transport gone. Returns how many connections
    /// were cut.
    ///
    /// HTTP: `POST /_dev/drop_transports` → `{"dropped"}` (every connection but the one carrying
    /// that request, so the caller gets its answer).
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// assert_eq!(control.drop_transports(), control.open_connections());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn drop_transports(&self) -> usize {
        sio::drop_transports(&self.shared, Cut::Fin, None)
    }

    /// Resets every open TCP connection: the client reads an RST, not a FIN. Like
    /// [`drop_transports`](Self::drop_transports) otherwise. Returns how many.
    ///
    /// HTTP: `POST /_dev/reset_transports` → `{"reset"}`.
    pub fn reset_transports(&self) -> usize {
        sio::drop_transports(&self.shared, Cut::Reset, None)
    }

    /// Silences every open TCP connection: the server stops reading and writing it and sends
    /// nothing, no FIN either, as a network that drops every packet would. Only the client's
    /// heartbeat (or its request timeouts) can notice. The connections stay open until the
    /// server shuts down. Returns how many.
    ///
    /// HTTP: `POST /_dev/silence_transports` → `{"silenced"}`.
    pub fn silence_transports(&self) -> usize {
        sio::drop_transports(&self.shared, Cut::Silence, None)
    }

    /// Sends every WebSocket a close frame (code 1000) between two of its frames, with no
    /// Engine.IO or Socket.IO goodbye; the server sends nothing after it. Returns how many
    /// connections were told (HTTP ones ignore it).
    ///
    /// HTTP: `POST /_dev/close_websockets` → `{"closed"}`.
    pub fn close_websockets(&self) -> usize {
        self.shared.conns.cut_all(Cut::CloseFrame, None)
    }

    /// Refuses every Socket.IO CONNECT for `duration` with a CONNECT_ERROR carrying
    /// `message` (`"Service unavailable"`, `"Permission denied"`, anything), whatever the
    /// JWT.
    ///
    /// HTTP: `POST /_dev/refuse_connects {"seconds", "message"}` → `{}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// server.control().refuse_connects(std::time::Duration::from_secs(2), "Service unavailable");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn refuse_connects(&self, duration: std::time::Duration, message: &str) {
        lock(&self.shared.faults).refuse(duration, message.to_owned());
    }

    /// Fails a share of API requests (`/api/…`, `/sync/get`, `/sync/cursors`, `/dam/…`) with
    /// the given statuses, as Unicat's JSON envelope or as a proxy's HTML page; `None` stops.
    /// Failures are counted as `"fault <status>"` in [`counters`](Self::counters).
    ///
    /// HTTP: `POST /_dev/fail_api {"statuses": [503, …], "fraction", "count"?, "html"?}` → `{}`.
    pub fn fail_api(&self, failure: Option<ApiFailure>) {
        lock(&self.shared.faults).fail_api(failure);
    }

    /// Delays every API answer by `delay` (zero stops).
    ///
    /// HTTP: `POST /_dev/delay_api {"ms"}` → `{}`.
    pub fn delay_api(&self, delay: std::time::Duration) {
        lock(&self.shared.faults).delay_api(delay);
    }

    /// Delays every `sync` broadcast by `delay`, keeping their order (zero stops; broadcasts
    /// already delayed still arrive first).
    ///
    /// HTTP: `POST /_dev/delay_sync {"ms"}` → `{}`.
    pub fn delay_sync(&self, delay: std::time::Duration) {
        if let Some(d) = lock(&self.shared.inner).delivery.as_mut() {
            d.set_delay(delay);
        }
    }

    /// The next `count` API answers send their headers and half their body, then stall
    /// (counted as `"fault stall"`).
    ///
    /// HTTP: `POST /_dev/stall_responses {"count"}` → `{}`.
    pub fn stall_responses(&self, count: u64) {
        lock(&self.shared.faults).stall(count);
    }

    /// Restarts the server: every connection is cut at once with no Socket.IO DISCONNECT,
    /// nothing listens for `down` (connections are refused), the Engine.IO sessions are
    /// forgotten, and then it listens again on the same port with its data kept. Returns at
    /// once; the restart happens on the server's thread.
    ///
    /// HTTP: `POST /_dev/restart {"ms"}` → `{}` (answered before the restart).
    pub fn restart(&self, down: std::time::Duration) {
        let shared = Arc::downgrade(&self.shared);
        let forget = Box::new(move || {
            if let Some(shared) = shared.upgrade() {
                lock(&shared.eio_sessions).drop_all();
            }
        });
        if self.shared.restarts.send(Restart { down, forget }).is_err() {
            log::warn!("restart asked of a server that has shut down");
        }
    }

    /// Ends every server-side fault: refusals, API failures, delays and stalls.
    ///
    /// HTTP: `POST /_dev/clear_faults` → `{}`.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
        self.delay_sync(std::time::Duration::ZERO);
    }

    /// Makes one [`Fault`] happen.
    ///
    /// ```
    /// use std::time::Duration;
    /// use unicat_devserver::{ApiFailure, Fault};
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// control.inject(&Fault::FailApi(ApiFailure { statuses: vec![503], fraction: 0.5, count: Some(10), html: false }));
    /// control.inject(&Fault::Restart { down: Duration::from_millis(200) });
    /// control.clear_faults();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn inject(&self, fault: &Fault) {
        match fault {
            Fault::Drop => {
                self.drop_transports();
            }
            Fault::Reset => {
                self.reset_transports();
            }
            Fault::Silence => {
                self.silence_transports();
            }
            Fault::CloseFrame => {
                self.close_websockets();
            }
            Fault::Refuse { duration, message } => self.refuse_connects(*duration, message),
            Fault::FailApi(f) => self.fail_api(Some(f.clone())),
            Fault::DelayApi(d) => self.delay_api(*d),
            Fault::DelaySync(d) => self.delay_sync(*d),
            Fault::ExpireJwts => {
                self.expire_jwts();
            }
            Fault::Restart { down } => self.restart(*down),
            Fault::Stall { count } => self.stall_responses(*count),
        }
    }

    /// Server-side Socket.IO disconnect (`41`) of every socket: clients must not reconnect.
    /// Returns how many.
    ///
    /// HTTP: `POST /_dev/disconnect_sockets` → `{"disconnected"}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// assert_eq!(control.disconnect_sockets(), 0);
    /// assert_eq!(control.socket_count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn disconnect_sockets(&self) -> usize {
        if self.live().is_err() {
            return 0;
        }
        sio::disconnect_all(&self.shared)
    }

    /// Holds `sync` broadcasts: items are still appended (and served by `initsync` and
    /// `/sync/get`) but not pushed until [`resume_sync`](Self::resume_sync).
    ///
    /// HTTP: `POST /_dev/pause_sync` → `{"paused": true}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// control.pause_sync();
    /// control.change_records(3, None)?; // appended, held
    /// assert!(control.is_sync_paused());
    /// control.resume_sync(); // sent now, as one list of 3
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pause_sync(&self) {
        lock(&self.shared.inner).pause();
    }

    /// Resumes broadcasts and sends each synced socket what it missed, in lists of at most 100.
    ///
    /// HTTP: `POST /_dev/resume_sync` → `{"paused": false}`.
    pub fn resume_sync(&self) {
        lock(&self.shared.inner).resume();
    }

    /// Invalidates every JWT issued so far: their next use gets HTTP 401 with
    /// `WWW-Authenticate` (sockets already connected stay connected; new ones are refused).
    /// Returns how many were live.
    ///
    /// HTTP: `POST /_dev/expire_jwts` → `{"expired"}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let _jwt = control.issue_jwt();
    /// assert_eq!(control.expire_jwts(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn expire_jwts(&self) -> usize {
        lock(&self.shared.tokens).expire_all()
    }

    /// Sends `authorization {"JWT": <fresh token>}` to every authorised socket now (what
    /// [`authorization_push_period`](crate::DevConfig::authorization_push_period) does
    /// periodically). Returns how many sockets got one.
    ///
    /// HTTP: `POST /_dev/push_authorization` → `{"sent"}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// assert_eq!(control.push_authorization(), 0); // no socket connected
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn push_authorization(&self) -> usize {
        sio::push_authorization(&self.shared)
    }

    /// Every JWT issued so far, expired or not (the last 4,096), oldest first: tests check
    /// that none of them shows up in a client's logs or `Debug` output.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let jwt = control.issue_jwt();
    /// assert_eq!(control.issued_jwts(), [jwt]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn issued_jwts(&self) -> Vec<String> {
        lock(&self.shared.tokens).issued()
    }

    /// Issues a JWT for the API user, as `/auth` would (handy for raw protocol tests).
    ///
    /// HTTP: `POST /_dev/issue_jwt` → `{"JWT"}`.
    pub fn issue_jwt(&self) -> String {
        let user = lock(&self.shared.inner).api_user.clone();
        lock(&self.shared.tokens).mint(&user, &self.shared.project)
    }

    /// The canonical state as JSON text, in exactly this shape (the one the client's `mirror`
    /// example writes): `{"cc.version", "cc.cursor", "cursor", "data": {"cc.users",
    /// "cc.projects", "cc.projects_members" (keyed "pgid/ugid"), "cc.languages", "records",
    /// "definitions", "classes", "fields", "layouts", "assets", "assets_by_pathname" (keyed by
    /// pathname), "queries", "modules" (keyed by name)}}`.
    ///
    /// HTTP: `GET /_dev/state`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let text = control.state_json();
    /// assert!(text.starts_with(r#"{"cc.version":"2026.01.001","cc.cursor":100,"cursor":1000,"data":{"cc.users":"#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state_json(&self) -> String {
        lock(&self.shared.inner).dump()
    }

    /// [`state_json`](Self::state_json), parsed.
    pub fn state(&self) -> Value {
        serde_json::from_str(&self.state_json()).unwrap_or(Value::Null)
    }

    /// Requests served, per endpoint: `"/auth"`, `"/records/get"` and the other project calls,
    /// `"//users/get"` and the other global calls, `"/sync/get"`, `"/sync/cursors"`,
    /// `"dam/publish"`, `"dam/transform"`, `"dam/info"`, `"media"`, `"socket.io connect"`,
    /// `"socket.io connect_error"`, `"initsync"`. Control calls are not counted.
    ///
    /// HTTP: `GET /_dev/counters` → `{endpoint: count}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// assert!(control.counters().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn counters(&self) -> BTreeMap<String, u64> {
        lock(&self.shared.counters).clone()
    }

    /// Zeroes the counters.
    ///
    /// HTTP: `POST /_dev/counters/reset` → `{}`.
    pub fn reset_counters(&self) {
        lock(&self.shared.counters).clear();
    }

    /// `(cc.cursor, cursor)`: the latest cursor of each family (each item adds exactly one).
    pub fn cursors(&self) -> (u64, u64) {
        let inner = lock(&self.shared.inner);
        (inner.cc_cursor, inner.cursor)
    }

    /// The current `cc.version`.
    pub fn version(&self) -> String {
        lock(&self.shared.inner).version.clone()
    }

    /// Gid of the root record.
    pub fn root_record(&self) -> String {
        lock(&self.shared.inner).data.root_record.clone()
    }

    /// Gids of the first `n` records under the root, in order.
    ///
    /// HTTP: `POST /_dev/record_gids {"count"}` → `{"records": [...]}`.
    pub fn record_gids(&self, n: usize) -> Vec<String> {
        let inner = lock(&self.shared.inner);
        inner
            .data
            .children
            .get(&inner.data.root_record)
            .map(|c| c.iter().take(n).cloned().collect())
            .unwrap_or_default()
    }

    /// Number of connected, authorised sockets. After [`drop_transports`](Self::drop_transports)
    /// a WebSocket leaves at once; a polling session stays counted until its ping timeout,
    /// as on any Engine.IO server that lost a long-polling client.
    pub fn socket_count(&self) -> usize {
        lock(&self.shared.inner).sockets.len()
    }

    /// Number of sockets that did their `initsync` (the ones `sync` events go to).
    pub fn synced_socket_count(&self) -> usize {
        lock(&self.shared.inner)
            .sockets
            .values()
            .filter(|s| s.synced_upto.is_some())
            .count()
    }

    /// Number of TCP connections open right now.
    pub fn open_connections(&self) -> usize {
        self.shared.conns.open_count()
    }

    /// Whether broadcasts are paused (see [`pause_sync`](Self::pause_sync)).
    pub fn is_sync_paused(&self) -> bool {
        lock(&self.shared.inner).is_paused()
    }

    /// A summary: url, project, api_key, cursors, version, root record and asset, socket and
    /// connection counts, paused.
    ///
    /// HTTP: `GET /_dev/info`.
    pub fn info(&self) -> Value {
        let inner = lock(&self.shared.inner);
        json!({
            "url": self.shared.base_url, "project": self.shared.project, "api_key": self.shared.api_key,
            "cc.version": inner.version, "cc.cursor": inner.cc_cursor, "cursor": inner.cursor,
            "root_record": inner.data.root_record, "root_asset": inner.data.root_asset,
            "sockets": inner.sockets.len(),
            "synced_sockets": inner.sockets.values().filter(|s| s.synced_upto.is_some()).count(),
            "connections": self.shared.conns.open_count(), "paused": inner.is_paused(),
        })
    }
}
