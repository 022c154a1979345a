//! The Unicat client: API calls, the local store and live sync, as one sans-IO machine.

mod calls;
mod commands;
mod config;
mod files;
mod health;
mod live;

pub use config::{ClientConfig, FirstConnect, RetryPolicy};
pub use health::{Cause, Health, InitsyncFailure, Stats, StopReason};

use files::FileAnswer;
use health::Streak;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{json, Map, Value};

use crate::api::{self, ApiError, CallError, Secret};
use crate::error::{DisconnectReason, TransportError, TransportErrorKind, UsageError};
use crate::io::{Body, BodyTarget, FileInfo, HttpRequest, Input, Machine, Output, RequestId};
use crate::session::{AckError, AckId, Session, SessionEvent, SessionState};
use crate::store::{DataType, Object, Store};
use crate::sync::{self, Action, Batch, Effect, JobInfo, SyncItem, SyncState, Waiter};
use crate::timer::{after, earliest};
use serde_json::value::RawValue;

/// Identifies a call the application made; its result comes as [`Event::CallFinished`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[must_use = "the call's result comes as Event::CallFinished with this id"]
pub struct CallId(pub u64);

/// Options of [`Client::call`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// The call may be retried after a 5xx or a transport failure even though it is not a
    /// read: set it only for calls that are safe to run twice.
    pub safe: bool,
}

/// An application command, as data: every command method builds one and hands it to
/// [`Client::execute`], so a recorder can log commands and a replay can issue them again.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Command {
    /// See [`Client::connect`].
    Connect {
        /// The API key.
        api_key: Secret,
    },
    /// See [`Client::init`].
    Init,
    /// See [`Client::call`].
    Call {
        /// `//…` global or `/…` project.
        endpoint: String,
        /// A JSON object, or `None` for `{}`.
        body: Option<Value>,
        /// Retry after failures even though it is not a read.
        safe: bool,
    },
    /// See [`Client::upload`].
    Upload {
        /// The project endpoint.
        endpoint: String,
        /// Form fields.
        fields: Vec<(String, String)>,
        /// The local file.
        path: PathBuf,
    },
    /// See [`Client::publish`].
    Publish {
        /// The asset gid.
        asset: String,
    },
    /// See [`Client::transform`].
    Transform {
        /// The asset gid.
        asset: String,
        /// The transform options.
        options: TransformOptions,
    },
    /// See [`Client::download`].
    Download {
        /// The asset gid.
        asset: String,
        /// Transform options, for a transformed download.
        options: Option<TransformOptions>,
        /// Where the file lands.
        pathname: Option<String>,
        /// Keep a file at least this new.
        updated_on: Option<f64>,
    },
    /// See [`Client::load_all_records`].
    LoadAllRecords,
    /// See [`Client::sync_now`].
    SyncNow,
    /// See [`Client::sync_cursors`].
    SyncCursors,
    /// See [`Client::track_job`].
    TrackJob {
        /// The job token.
        token: String,
        /// Give up after this long.
        timeout: Option<Duration>,
    },
    /// See [`Client::close`].
    Close,
}

/// What the client tells the application.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The Sync API socket is connected; `initsync` is on its way.
    Connected,
    /// The Sync API socket went down. An [`Event::Reconnecting`] follows, or an
    /// [`Event::Stopped`] for the few reasons that stop live sync.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// A connection attempt failed, or a connection was lost: the next attempt is scheduled
    /// through the backoff.
    Reconnecting {
        /// 1 for the first attempt after a loss, growing while attempts fail.
        attempt: u32,
        /// How long until it starts.
        delay: Duration,
        /// Why the last attempt failed.
        cause: Cause,
    },
    /// Live sync stopped: only the reasons of [`StopReason`] do this. Calls still work.
    Stopped {
        /// Why.
        reason: StopReason,
    },
    /// Every change the server reported up to these cursors is in the store.
    CaughtUp {
        /// The global cursor.
        cc_cursor: i64,
        /// The project cursor.
        cursor: i64,
    },
    /// The store reflects a change.
    Changed {
        /// The map.
        data_type: DataType,
        /// The key in it.
        key: String,
        /// What happened.
        action: Action,
    },
    /// The server's version changed while the client ran.
    VersionChanged {
        /// The version before.
        old: String,
        /// The version now.
        new: String,
    },
    /// A job progressed.
    Job {
        /// The job token.
        token: String,
        /// Name, status and info.
        job: JobInfo,
    },
    /// A restore replaced the project's data: every map was reloaded. Records and assets the
    /// store held were fetched again (and each reported as [`Event::Changed`]).
    StoreReset,
    /// The JWT was renewed. The token itself is never in an event.
    TokenRefreshed,
    /// Live sync hit a problem it handles without reconnecting (a reload after a restore that
    /// the server refused, a re-authentication that brought no JWT).
    SyncError {
        /// What happened.
        message: String,
    },
    /// A call finished.
    CallFinished {
        /// The call.
        id: CallId,
        /// Its `result`, or why it failed.
        result: Result<Value, CallError>,
    },
}

/// Transform options for [`Client::transform`], in order. Without a `key`, the client adds the
/// one the Python SDK would derive, so the same options name the same file.
pub type TransformOptions = Vec<(String, Value)>;

#[derive(Clone)]
enum Req {
    /// A JSON POST to the project, global or sync API, with the JWT.
    Json { url: String, body: Vec<u8> },
    /// A multipart upload with the JWT.
    Upload {
        url: String,
        content_type: String,
        body: Vec<u8>,
    },
    /// A DAM GET with the JWT; DAM responses never renew it.
    Dam { url: String },
    /// A public media GET into a file.
    Media { url: String, path: PathBuf },
}

/// Bodies can hold the API key (`/auth`): `Debug` shows their length only.
impl std::fmt::Debug for Req {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Req::Json { url, body } => write!(f, "Json({url}, {} bytes)", body.len()),
            Req::Upload { url, body, .. } => write!(f, "Upload({url}, {} bytes)", body.len()),
            Req::Dam { url } => write!(f, "Dam({url})"),
            Req::Media { url, path } => write!(f, "Media({url} -> {})", path.display()),
        }
    }
}

#[derive(Debug)]
enum Load {
    /// `/auth` of `connect`: clears the store, takes the cursors, then opens the socket.
    Connect,
    /// `/init` the application asked for.
    Init,
    /// `/init` after a restore finished.
    Restore,
}

#[derive(Debug)]
struct Download {
    call: CallId,
    relative: Option<PathBuf>,
    asset_pathname: String,
    updated_on: Option<f64>,
}

#[derive(Debug)]
enum Purpose {
    App(CallId),
    Load(CallId, Load),
    Reauth,
    Fetch(Batch),
    SyncPage(Option<CallId>),
    /// The DAM step of a download.
    Dam(Download),
    /// The media step of a download.
    Media(CallId, PathBuf),
    /// A step of walking the record tree.
    Walk(Walk),
}

/// Walking the record tree from the root, page by page, to load every record.
#[derive(Debug)]
struct Walk {
    call: CallId,
    queue: VecDeque<String>,
    /// Every record reached: a record reached twice (the tree has a cycle, or a record two
    /// parents) is not walked again.
    visited: BTreeSet<String>,
    /// Records reached again.
    repeats: u64,
    parent: Option<String>,
    top: u64,
    loaded: u64,
}

/// Children per page when walking the tree.
const WALK_PAGE: u64 = 100;

#[derive(Debug)]
struct Call {
    purpose: Purpose,
    req: Req,
    retries_left: u32,
    attempt: u32,
    reauthed: bool,
}

#[derive(Debug)]
enum FileOp {
    UploadStat {
        call: CallId,
        url: String,
        fields: Vec<(String, String)>,
        path: PathBuf,
    },
    UploadRead {
        call: CallId,
        url: String,
        fields: Vec<(String, String)>,
        name: String,
    },
    /// Before the DAM call: is a fresh copy there already?
    DownloadBefore(Download, Req),
    /// After the DAM call: the same question for the name the DAM gave.
    DownloadAfter {
        call: CallId,
        relative: PathBuf,
        url: String,
        updated_on: Option<f64>,
    },
}

#[derive(Debug)]
struct Reload {
    barrier: Waiter,
    expect: BTreeSet<(DataType, String)>,
    /// Expected keys dropped from a fetch: done with once nothing fetches them any more.
    recheck: BTreeSet<(DataType, String)>,
    started: bool,
    /// The sync sequence when the reload's fetches were queued: only batches taken after it
    /// bring the restored data.
    since: u64,
    /// When to send the reload's `/init` again after it failed in a way that may heal.
    retry_at: Option<Instant>,
}

#[derive(Debug)]
struct TrackedJob {
    call: CallId,
    deadline: Option<Instant>,
}

/// The Unicat client as a sans-IO machine: it calls the API, merges each response into its
/// [`Store`], and keeps that store fresh through the Sync API socket, with no I/O of its own.
///
/// It follows the same contract as [`Session`] (see [`Machine`]): feed transport facts with
/// `handle_input`, time with `handle_timeout`, drain `poll_output` after every `&mut` call and
/// arm one timer for `poll_timeout`. Commands (`connect`, `call`, `upload`, `transform`, ...)
/// return a [`CallId`] at once; the result comes later as [`Event::CallFinished`].
///
/// # The sync rules
///
/// * Items at or below the cursor of their family are skipped, except jobs.
/// * DELETE removes the key. INSERT fetches schema types and our project's memberships. UPDATE
///   fetches only keys the store holds. Unknown types and actions are ignored with a log line.
/// * Fetches of one type are batched into plural requests of at most
///   [`batch_size`](ClientConfig::batch_size) keys, deduplicated, and dropped for keys deleted
///   later.
/// * The cursors the client sends never pass an item whose effect is not in the store yet; a
///   fetch that fails is tried again, and after a reconnect the server delivers unfinished
///   items again.
/// * `cc.version` items report [`Event::VersionChanged`]; a finished restore of the project
///   reloads the store and fetches again the records and assets it held.
/// * A re-authentication never moves the cursors; only a load from scratch does.
///
/// # Staying connected
///
/// Live sync never stops on its own. Every failure of the connection (a lost, reset or
/// silent transport, a refused CONNECT whatever its message, a timeout, an `/auth` answered
/// 5xx or 429 or not at all, an `initsync` that failed) ends in a reconnect scheduled through
/// the session's [`ReconnectPolicy`](crate::config::ReconnectPolicy), reported as
/// [`Event::Reconnecting`] with its [`Cause`]. The backoff starts again from its first delay
/// only once a connection is healthy: CONNECT accepted and `initsync` answered. A refusal
/// whose message names auth renews the JWT with the kept key before the next attempt; any
/// other refusal does so at most once per streak of refusals. A failed sync fetch or reload is
/// retried on its own schedule without touching the socket. Only the reasons of
/// [`StopReason`] stop live sync, each with an [`Event::Stopped`]; [`health`](Client::health)
/// tells which state the client is in at any moment.
#[derive(Debug)]
pub struct Client {
    cfg: ClientConfig,
    /// When the client was created: a replay log's times count from it.
    #[cfg(feature = "record")]
    t0: Instant,
    now: Instant,
    session: Session,
    store: Store,
    sync: SyncState,
    jwt: Option<Secret>,
    api_key: Option<Secret>,
    calls: BTreeMap<RequestId, Call>,
    retry_at: BTreeMap<(Instant, u64), Call>,
    auth_wait: Vec<Call>,
    /// The socket's CONNECT waits for the `/auth` under way.
    socket_awaits_jwt: bool,
    files: BTreeMap<RequestId, FileOp>,
    initsync: Option<AckId>,
    /// `initsync` was answered on this connection.
    synced: bool,
    /// `connect` was called, and live sync is on.
    started: bool,
    /// Why live sync stopped, if it did.
    stopped: Option<StopReason>,
    /// The failures since the connection was last healthy.
    streak: Streak,
    /// Sync fetches (and reloads) failed in a row: the exponent of the fetch retry delay.
    fetch_failures: u32,
    held_sync: Vec<SyncItem>,
    catching_up: bool,
    fetch_resume_at: Option<Instant>,
    reload: Option<Reload>,
    /// The last load from scratch whose data went into the store, and the cursors it read at.
    last_load: Option<(CallId, (i64, i64))>,
    sync_pages: Vec<CallId>,
    sync_pages_done: Vec<CallId>,
    jobs: BTreeMap<String, TrackedJob>,
    recent_jobs: VecDeque<(String, JobInfo)>,
    job_poll_at: Option<Instant>,
    next_call: u64,
    next_seq: u64,
    multipart_seed: u64,
    closed: bool,
    out: VecDeque<Output<Event>>,
}

const RECENT_JOBS: usize = 256;

/// Retries of a `connect`'s `/auth` after a failure that may heal, before it fails (or, with
/// [`FirstConnect::KeepTrying`], before the next backoff step): one, so a typo or a server
/// that is down shows at once, and a single dropped packet does not.
const FIRST_CONNECT_RETRIES: u32 = 1;

fn is_read(endpoint: &str) -> bool {
    endpoint.ends_with("/get") || endpoint == "/init" || endpoint == "//init"
}

impl Client {
    /// A new client. Nothing happens until [`connect`](Client::connect) or a call.
    pub fn new(mut cfg: ClientConfig, now: Instant) -> Self {
        // A connector must come back when a server that refused it for a while accepts it
        // again, and only it knows when a connection is healthy: `initsync` answered.
        cfg.session.retry_refused = true;
        // Sync lists are read straight into items, never into a tree.
        cfg.session.raw_args = true;
        let mut session = Session::new(cfg.session.clone(), now);
        session.owner_judges_health();
        Client {
            session,
            multipart_seed: cfg.session.rng_seed,
            cfg,
            #[cfg(feature = "record")]
            t0: now,
            now,
            store: Store::default(),
            sync: SyncState::default(),
            jwt: None,
            api_key: None,
            calls: BTreeMap::new(),
            retry_at: BTreeMap::new(),
            auth_wait: Vec::new(),
            socket_awaits_jwt: false,
            files: BTreeMap::new(),
            initsync: None,
            synced: false,
            started: false,
            stopped: None,
            streak: Streak::default(),
            fetch_failures: 0,
            held_sync: Vec::new(),
            catching_up: false,
            fetch_resume_at: None,
            reload: None,
            last_load: None,
            sync_pages: Vec::new(),
            sync_pages_done: Vec::new(),
            jobs: BTreeMap::new(),
            recent_jobs: VecDeque::new(),
            job_poll_at: None,
            next_call: 0,
            next_seq: 0,
            closed: false,
            out: VecDeque::new(),
        }
    }

    // ---- reading -----------------------------------------------------------------------------

    /// The local store. Reading it never waits on the network.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// The Sync API socket's state.
    pub fn sync_state(&self) -> SessionState {
        self.session.state()
    }

    /// Whether the Sync API socket is connected, its `initsync` answered, and every change it
    /// reported is in the store: no sync item waits for a fetch, and no reload after a
    /// restore is under way.
    pub fn is_caught_up(&self) -> bool {
        self.session.is_connected("/")
            && self.synced
            && self.initsync.is_none()
            && !self.catching_up
            && self.sync.is_settled()
            && self.reload.is_none()
    }

    /// How live sync is doing. Never waits on anything.
    pub fn health(&self) -> Health {
        if self.closed {
            return Health::Stopped {
                reason: StopReason::Closed,
            };
        }
        if let Some(reason) = &self.stopped {
            return Health::Stopped {
                reason: reason.clone(),
            };
        }
        if !self.started {
            return Health::Idle;
        }
        if self.session.is_connected("/") {
            return if self.is_caught_up() {
                Health::Connected
            } else {
                Health::CatchingUp
            };
        }
        match (&self.streak.since, &self.streak.cause) {
            (Some(since), Some(cause)) => Health::Reconnecting {
                since: *since,
                attempts: self.session.attempts(),
                cause: cause.clone(),
            },
            _ => Health::Connecting,
        }
    }

    /// Queue lengths, to watch for growth. Never waits on anything.
    pub fn stats(&self) -> Stats {
        Stats {
            held_sync_items: self
                .held_sync
                .len()
                .saturating_add(self.sync.held_back_len()),
            queued_fetches: self.sync.queued_len(),
            fetches_in_flight: self.fetches_in_flight(),
            pending_calls: self.pending_calls().count(),
            buffered_emits: self.session.buffered_emits("/"),
            pending_acks: self.session.pending_acks(),
            store_objects: self.store.len(),
        }
    }

    /// Every call the client is making, sent or waiting to be (for a retry, for a JWT).
    fn pending_calls(&self) -> impl Iterator<Item = &Call> {
        self.calls
            .values()
            .chain(self.retry_at.values())
            .chain(self.auth_wait.iter())
    }

    fn fetches_in_flight(&self) -> usize {
        self.pending_calls()
            .filter(|c| matches!(c.purpose, Purpose::Fetch(_)))
            .count()
    }

    fn sync_page_in_flight(&self) -> bool {
        self.pending_calls()
            .any(|c| matches!(c.purpose, Purpose::SyncPage(_)))
    }

    fn reauth_running(&self) -> bool {
        self.pending_calls()
            .any(|c| matches!(c.purpose, Purpose::Reauth))
    }

    /// Whether the client holds a JWT.
    pub fn is_authenticated(&self) -> bool {
        self.jwt.is_some()
    }

    /// The Sync API session, for the fuzz bodies' invariants.
    #[cfg(feature = "_test_exports")]
    #[doc(hidden)]
    pub fn session_for_tests(&self) -> &Session {
        &self.session
    }

    /// Whether [`close`](Client::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    // ---- commands ----------------------------------------------------------------------------

    /// Keeps [`Store::digest`](crate::store::Store::digest) up to date from now on, as a
    /// recording client does; a replay checks a log's digests with it.
    pub fn keep_digest(&mut self) {
        self.store.keep_digest();
    }

    /// When the client was created.
    #[cfg(feature = "record")]
    pub(crate) fn created(&self) -> Instant {
        self.t0
    }

    /// The API key and the JWT the client holds, for a recording to redact.
    #[cfg(feature = "record")]
    pub(crate) fn held_secrets(&self) -> (Option<&Secret>, Option<&Secret>) {
        (self.api_key.as_ref(), self.jwt.as_ref())
    }

    /// Carries out a command. The command methods below are shorthands for this. Returns the
    /// id whose result comes as [`Event::CallFinished`]; [`Command::Close`] has none.
    pub fn execute(
        &mut self,
        now: Instant,
        command: Command,
    ) -> Result<Option<CallId>, UsageError> {
        self.advance(now);
        self.dispatch_command(now, command)
    }

    fn dispatch_command(
        &mut self,
        now: Instant,
        command: Command,
    ) -> Result<Option<CallId>, UsageError> {
        let id = match command {
            Command::Connect { api_key } => self.do_connect(now, api_key)?,
            Command::Init => self.do_init(now)?,
            Command::Call {
                endpoint,
                body,
                safe,
            } => self.do_call(now, &endpoint, body, CallOptions { safe })?,
            Command::Upload {
                endpoint,
                fields,
                path,
            } => self.do_upload(now, &endpoint, fields, path)?,
            Command::Publish { asset } => self.do_publish(now, &asset)?,
            Command::Transform { asset, options } => self.do_transform(now, &asset, options)?,
            Command::Download {
                asset,
                options,
                pathname,
                updated_on,
            } => self.do_download(now, &asset, options, pathname.as_deref(), updated_on)?,
            Command::LoadAllRecords => self.do_load_all_records(now)?,
            Command::SyncNow => self.do_sync_now(now)?,
            Command::SyncCursors => self.do_sync_cursors(now)?,
            Command::TrackJob { token, timeout } => self.do_track_job(now, &token, timeout)?,
            Command::Close => {
                self.do_close(now);
                return Ok(None);
            }
        };
        Ok(Some(id))
    }

    fn run(&mut self, now: Instant, command: Command) -> Result<CallId, UsageError> {
        self.execute(now, command)?.ok_or(UsageError::Closed)
    }

    /// Authenticates with the API key (`/auth`), loads the store from scratch and, with live
    /// sync on, connects the Sync API socket. The call's result is the `/auth` result.
    pub fn connect(&mut self, now: Instant, api_key: Secret) -> Result<CallId, UsageError> {
        self.run(now, Command::Connect { api_key })
    }

    /// Reloads the store from scratch with `/init`, without re-authenticating.
    pub fn init(&mut self, now: Instant) -> Result<CallId, UsageError> {
        self.run(now, Command::Init)
    }

    /// Calls an API endpoint: `//…` for the global API, `/…` for the project. The body is a
    /// JSON object (`None` sends `{}`); the response's `data` goes into the store, and the
    /// call's result is its `result`. Reads (`…/get`, `/init`) are retried on 5xx and transport
    /// failures; other calls only when `options.safe` says so.
    pub fn call(
        &mut self,
        now: Instant,
        endpoint: &str,
        body: Option<Value>,
        options: CallOptions,
    ) -> Result<CallId, UsageError> {
        self.run(
            now,
            Command::Call {
                endpoint: endpoint.to_string(),
                body,
                safe: options.safe,
            },
        )
    }

    /// Uploads a local file with a multipart POST to a project endpoint such as
    /// `/assets/upload`, with `fields` as form fields and the file as `upload_file`. The size
    /// is checked against [`max_upload_bytes`](ClientConfig::max_upload_bytes) before a byte is
    /// read; a larger file fails with API code 413, as in the SDK.
    pub fn upload(
        &mut self,
        now: Instant,
        endpoint: &str,
        fields: Vec<(String, String)>,
        path: PathBuf,
    ) -> Result<CallId, UsageError> {
        self.run(
            now,
            Command::Upload {
                endpoint: endpoint.to_string(),
                fields,
                path,
            },
        )
    }

    /// Publishes an asset the store holds through the DAM; the result holds `public_url`.
    pub fn publish(&mut self, now: Instant, asset: &str) -> Result<CallId, UsageError> {
        self.run(
            now,
            Command::Publish {
                asset: asset.to_string(),
            },
        )
    }

    /// Transforms an asset the store holds through the DAM; the result holds `public_url`.
    /// Without a `key` option, the one the Python SDK would derive is added.
    pub fn transform(
        &mut self,
        now: Instant,
        asset: &str,
        options: TransformOptions,
    ) -> Result<CallId, UsageError> {
        self.run(
            now,
            Command::Transform {
                asset: asset.to_string(),
                options,
            },
        )
    }

    /// Downloads an asset the store holds into the asset folder: published as is, or
    /// transformed with `options`. The file lands at `pathname` (relative to the asset's folder
    /// in the tree, or from the tree root when it starts with `/`), or by default beside the
    /// asset's tree path under the name the DAM gives. An existing file is kept when
    /// `updated_on` is absent or not newer than it. The result is the path relative to the asset
    /// folder, as a string. Paths from the server that would leave the folder are refused.
    pub fn download(
        &mut self,
        now: Instant,
        asset: &str,
        options: Option<TransformOptions>,
        pathname: Option<&str>,
        updated_on: Option<f64>,
    ) -> Result<CallId, UsageError> {
        self.run(
            now,
            Command::Download {
                asset: asset.to_string(),
                options,
                pathname: pathname.map(str::to_string),
                updated_on,
            },
        )
    }

    /// Loads every record of the project into the store, walking the tree from
    /// `/records/root` through `/records/children`, page by page. The result is
    /// `{"records": <number loaded>, "repeats": <records reached twice>}`: a record reached again (a
    /// cycle in the tree) is walked once and counted. Live sync keeps them fresh afterwards.
    pub fn load_all_records(&mut self, now: Instant) -> Result<CallId, UsageError> {
        self.run(now, Command::LoadAllRecords)
    }

    /// Fetches changes over HTTP (`/sync/get`, page after page while the server warns that
    /// more remain) and applies them as the socket would. For hosts where the socket cannot be
    /// used, and for explicit refreshes.
    pub fn sync_now(&mut self, now: Instant) -> Result<CallId, UsageError> {
        self.run(now, Command::SyncNow)
    }

    /// Asks the server for its latest cursors (`/sync/cursors`); the result holds `cc.cursor`
    /// and `cursor`. The client's own cursors do not move: they only ever pass items whose
    /// effect is in the store.
    pub fn sync_cursors(&mut self, now: Instant) -> Result<CallId, UsageError> {
        self.run(now, Command::SyncCursors)
    }

    /// Follows a job (by the `job.token` a call returned) until it is `done` (the result is
    /// the job) or `rejected`, or `timeout` passes. Progress also comes as [`Event::Job`].
    /// While the socket is down, `/sync/get` is polled.
    pub fn track_job(
        &mut self,
        now: Instant,
        token: &str,
        timeout: Option<Duration>,
    ) -> Result<CallId, UsageError> {
        self.run(
            now,
            Command::TrackJob {
                token: token.to_string(),
                timeout,
            },
        )
    }

    /// Disconnects and makes the client inert. Calls still running finish with
    /// [`CallError::Closed`].
    pub fn close(&mut self, now: Instant) {
        if !self.closed {
            let _ = self.execute(now, Command::Close);
        }
    }

    // ---- plumbing ----------------------------------------------------------------------------

    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    fn begin(&mut self, now: Instant) -> Result<(), UsageError> {
        self.advance(now);
        if self.closed {
            Err(UsageError::Closed)
        } else {
            Ok(())
        }
    }

    fn call_id(&mut self) -> CallId {
        let id = CallId(self.next_call);
        self.next_call = self.next_call.saturating_add(1);
        id
    }

    fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    fn finish(&mut self, id: CallId, result: Result<Value, CallError>) {
        self.event(Event::CallFinished { id, result });
    }

    // ---- responses ---------------------------------------------------------------------------

    // ---- sync --------------------------------------------------------------------------------
}

fn json_req(url: String, body: &Value) -> Req {
    Req::Json {
        url,
        // Serialising a `Value` cannot fail.
        body: serde_json::to_vec(body).unwrap_or_default(),
    }
}

fn too_large() -> CallError {
    CallError::Api(ApiError {
        status: 413,
        code: 413,
        message: "Request Entity Too Large".into(),
        info: Value::Null,
    })
}

fn job_result(job: &JobInfo) -> Option<Result<Value, CallError>> {
    let value = json!({"job": job.job, "status": job.status, "info": job.info});
    match job.status.as_str() {
        "done" if job.info.get("error").is_some() => Some(Err(CallError::JobFailed {
            status: job.status.clone(),
            info: job.info.clone(),
        })),
        "done" => Some(Ok(value)),
        "rejected" => Some(Err(CallError::JobFailed {
            status: job.status.clone(),
            info: job.info.clone(),
        })),
        _ => None,
    }
}

impl Machine for Client {
    type Event = Event;

    fn handle_input(&mut self, now: Instant, input: Input) {
        self.advance(now);
        if self.closed {
            return;
        }
        self.dispatch_input(input);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        if self.closed {
            return;
        }
        self.run_timers();
    }

    fn poll_output(&mut self) -> Option<Output<Event>> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_timeout()
    }
}

impl Client {
    fn dispatch_input(&mut self, input: Input) {
        match input {
            Input::HttpResponse { id, response } if self.calls.contains_key(&id) => {
                self.on_http(id, Ok(response))
            }
            Input::HttpFailed { id, error } if self.calls.contains_key(&id) => {
                self.on_http(id, Err(error))
            }
            Input::Stat { id, info } => self.on_file(id, FileAnswer::Stat(info)),
            Input::FileRead { id, result } => self.on_file(id, FileAnswer::Read(result)),
            other => {
                self.session.handle_input(self.now, other);
                self.drain_session();
            }
        }
    }

    fn run_timers(&mut self) {
        let now = self.now;
        self.session.handle_timeout(now);
        self.drain_session();
        while let Some(entry) = self.retry_at.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let call = entry.remove();
            self.send(call);
        }
        if self.fetch_resume_at.is_some_and(|t| t <= now) {
            self.fetch_resume_at = None;
            self.pump_fetches();
        }
        if self
            .reload
            .as_ref()
            .and_then(|r| r.retry_at)
            .is_some_and(|t| t <= now)
        {
            self.send_reload();
        }
        let expired: Vec<String> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.deadline.is_some_and(|d| d <= now))
            .map(|(t, _)| t.clone())
            .collect();
        for token in expired {
            if let Some(j) = self.jobs.remove(&token) {
                self.finish(j.call, Err(CallError::Timeout));
            }
        }
        if self.job_poll_at.is_some_and(|t| t <= now) {
            self.job_poll_at = None;
            let socket_up = self.session.is_connected("/");
            if !self.jobs.is_empty() && !socket_up && !self.sync_page_in_flight() {
                self.send_sync_page(None);
            }
            self.schedule_job_poll();
        }
    }

    fn next_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let jobs = self.jobs.values().filter_map(|j| j.deadline).min();
        [
            self.session.poll_timeout(),
            self.retry_at.keys().next().map(|(t, _)| *t),
            self.fetch_resume_at,
            self.reload.as_ref().and_then(|r| r.retry_at),
            self.job_poll_at,
            jobs,
        ]
        .into_iter()
        .fold(None, earliest)
    }
}
