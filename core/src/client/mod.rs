//! The Unicat client: API calls, the local store and live sync, as one sans-IO machine.
//!
//! ```text
//!         connect(key)                          /auth answered: the store is loaded from its
//!  Idle ───────────────▶ Authenticating ─────── data, the cursors from its result (connect's
//!   │ ▲                  and loading            /auth is the load from scratch) ────────────┐
//!   │ │                    │    ▲                                                           │
//!   │ │                    │    └── /auth again ◀── KeepTrying: Reconnecting ◀──┐           │
//!   │ │                    ├── failed, may heal ────────────────────────────────┘           │
//!   │ │                    └── key refused, or failed with FailFast ──▶ Stopped             │
//!   │ └───────────────────── live sync off: calls only ◀────────────────────────────────────┤
//!   │                                                                     live sync on:     │
//!   │                                                                     open the socket   ▼
//!   │              ┌────── timer (the session's backoff) ──────────────────▶ Connecting ◀───┘
//!   │              │                                                          │ CONNECT
//!   │              │                                                          │ accepted:
//!   │              │                                                          ▼ Connected
//!   │         Reconnecting ◀── the socket lost, CONNECT refused, ──────── CatchingUp ◀───┐
//!   │         (Disconnected,   initsync failed, too many items held:          │          │ a sync
//!   │          Reconnecting)   from Connecting, CatchingUp or Connected       │ initsync │ item to
//!   │              │                                                          │ answered,│ fetch
//!   │              │                                                          ▼ all in   │
//!   │              │                                                       Connected ────┘
//!   │              └── attempts used up ──▶ Stopped ◀── the server's DISCONNECT; the JWT refused
//!   │                                                   and no key kept; initsync too large
//!   │                                                   three times in a row
//!   └── close() from anywhere: Closed (inert). From Stopped, connect(key) starts again.
//! ```
//!
//! [`Client::health`] tells the state: `Idle`; `Connecting` while authenticating, loading
//! and connecting; `CatchingUp` (also while a sync item's fetch is out, without a second
//! `CaughtUp`); `Connected`; `Reconnecting`; `Stopped` (closed included).
//! The session below keeps its own states (see [`Session`]); the client decides when a
//! connection is healthy, which restarts the session's backoff: `initsync` answered.
//!
//! # Words
//!
//! * A **command** is what the application asks for: one [`Command`], carried out by
//!   [`Client::execute`] or one of the methods named after it. It gets a [`CallId`] at once,
//!   and its result later as [`Event::CallFinished`] with that id. (The name is the
//!   application's: it calls the API. A `CallId` names a command's result, not a call below.)
//! * A **call** is one HTTP request the client makes, with its bookkeeping: retries left, the
//!   backoff, whether it was sent again after a new JWT. A command makes any number of calls
//!   (a download: the DAM, then the media; a job tracked: none), and the client makes calls
//!   of its own (sync fetches, re-authentication). Calls under way are in the `CallTable`:
//!   sent, waiting for a retry, or waiting for a JWT.
//! * A call's **request** is the HTTP request it sends (a JSON POST, a multipart upload, a
//!   DAM or a media GET), built into an [`HttpRequest`](crate::io::HttpRequest) with the JWT
//!   of the moment each time it goes out, under a new [`RequestId`](crate::io::RequestId).
//! * A call's **purpose** is why it is made, and decides what its answer does: an
//!   application's call, a load, a re-authentication, a sync fetch, a `/sync/get` page, a
//!   download's DAM or media step, a step of walking the record tree.
//! * A **load** is a kind of purpose: reading the whole project into the store, from scratch
//!   (`connect`'s `/auth`, `init`) or as the reload after a restore.
//! * A **fetch** is a call for a batch of keys that sync items asked for; a **sync item** is
//!   one change the server reports; a **sync page** is one `/sync/get` answer.
//! * A **file operation** is a stat or a read the client asks the runtime for, numbered from
//!   the same [`RequestId`](crate::io::RequestId)s as requests.
//! * A **job** is server work followed by its token (`track_job`).
//! * An **attempt** is one try at connecting the socket; a **streak** the failed attempts
//!   since the connection was last healthy.
//!
//! # Parts
//!
//! The client keeps the store, the sync state, the session, the JWT and the key, and
//! orchestrates its parts, each a struct of its own with its own tests:
//!
//! * `calls`: the `Call`, its request and purpose, and the `CallTable`;
//! * `files`: the file operations in flight, and what their answers mean;
//! * `jobs`: the jobs followed, their deadlines, and the poll while the socket is down;
//! * `live`: live sync's state: running or stopped, the streak, `initsync` and the items held
//!   for it, catching up, the reload after a restore, the fetch retry schedule, `sync_now`'s
//!   pages.
//!
//! Each part says when its next deadline is and what is due; the client's `poll_timeout` is
//! the earliest of theirs and the session's. What the client does lives in `commands` (each
//! command's first steps), `sending` (sending calls, retries, re-authentication), `answers`
//! (what a call's answer or failure does), `transfers` (uploads and downloads around file
//! operations), `socket` (the session's events) and `syncing` (applying sync items, fetches,
//! the reload, pages); `health` holds the public health types.
//!
//! Request ids are the client's: it owns the one sequence that numbers its requests, its file
//! operations and its session's requests and WebSockets, and lends it to the session
//! (`Session::with_ids`) for each call into it.

mod answers;
mod calls;
mod commands;
mod config;
mod files;
mod health;
mod jobs;
mod live;
mod sending;
mod socket;
mod syncing;
mod transfers;

pub use config::{ClientConfig, FirstConnect, RetryPolicy};
pub use health::{Cause, Health, InitsyncFailure, Stats, StopReason};

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::api::{CallError, Secret};
use crate::error::{CommandError, DisconnectReason};
use crate::io::{Input, Machine, Output, RequestIds};
use crate::session::{Session, SessionState};
use crate::store::{DataType, Store};
use crate::sync::{Action, JobInfo, SyncState};
use crate::timer::earliest;

use self::calls::CallTable;
use self::files::{FileAnswer, FileOps};
use self::jobs::Jobs;
use self::live::Live;

/// Identifies a [`Command`] the application gave; its result comes as
/// [`Event::CallFinished`]. (It names the command, not one of the HTTP calls the command makes:
/// see the [module docs](self).)
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[must_use = "the command's result comes as Event::CallFinished with this id"]
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
    /// A command finished.
    CallFinished {
        /// The command.
        id: CallId,
        /// Its `result`, or why it failed.
        result: Result<Value, CallError>,
    },
}

pub use crate::api::TransformOptions;

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
    /// The configuration, fixed for the client's life.
    cfg: ClientConfig,
    /// When the client was created: a replay log's times count from it.
    #[cfg(feature = "record")]
    t0: Instant,
    /// The latest `now` seen; an earlier one counts as this.
    now: Instant,
    /// The numbers of the client's requests and file operations, and of its session's
    /// requests and WebSockets: one sequence, lent to the session for each call into it.
    ids: RequestIds,
    /// The Sync API socket.
    session: Session,
    /// What the client knows of the project.
    store: Store,
    /// The sync cursors, the items waiting for fetches, and the fetch queue.
    sync: SyncState,
    /// The JWT, once `/auth` or a response gave one.
    jwt: Option<Secret>,
    /// The API key, kept to re-authenticate when the configuration says so.
    api_key: Option<Secret>,
    /// The HTTP calls under way.
    calls: CallTable,
    /// The file operations under way.
    files: FileOps,
    /// The jobs followed.
    jobs: Jobs,
    /// Live sync's own state.
    live: Live,
    /// The last load from scratch whose data went into the store, and the cursors it read at.
    last_load: Option<(CallId, (i64, i64))>,
    /// The number of the next command.
    next_call: u64,
    /// [`close`](Client::close) was called: the client is inert.
    closed: bool,
    /// Outputs for the runtime and events for the application, in order.
    out: VecDeque<Output<Event>>,
}

/// Retries of a `connect`'s `/auth` after a failure that may heal, before it fails (or, with
/// [`FirstConnect::KeepTrying`], before the next backoff step): one, so a typo or a server
/// that is down shows at once, and a single dropped packet does not.
const FIRST_CONNECT_RETRIES: u32 = 1;

/// Whether an endpoint only reads, so a call to it may be retried: the getters (`…/get`,
/// `…/bulk/get` included), the tree pages the walkers read (`…/root`, `…/children`) and the
/// list of modules.
fn is_read(endpoint: &str) -> bool {
    endpoint.ends_with("/get")
        || endpoint.ends_with("/root")
        || endpoint.ends_with("/children")
        || matches!(endpoint, "/init" | "//init" | "/modules/all")
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
            files: FileOps::new(cfg.session.rng_seed),
            jobs: Jobs::new(cfg.job_poll_interval),
            live: Live::new(&cfg),
            cfg,
            #[cfg(feature = "record")]
            t0: now,
            now,
            ids: RequestIds::default(),
            store: Store::default(),
            sync: SyncState::default(),
            jwt: None,
            api_key: None,
            calls: CallTable::default(),
            last_load: None,
            next_call: 0,
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
        self.session.is_connected("/") && self.live.caught_up() && self.sync.is_settled()
    }

    /// How live sync is doing. Never waits on anything.
    pub fn health(&self) -> Health {
        if self.closed {
            return Health::Stopped {
                reason: StopReason::Closed,
            };
        }
        let connected = self.session.is_connected("/");
        let attempts = self.session.attempts();
        self.live.health(connected, self.is_caught_up(), attempts)
    }

    /// Queue lengths, to watch for growth. Never waits on anything.
    pub fn stats(&self) -> Stats {
        Stats {
            held_sync_items: self
                .live
                .held_len()
                .saturating_add(self.sync.held_back_len()),
            queued_fetches: self.sync.queued_len(),
            fetches_in_flight: self.calls.fetches(),
            pending_calls: self.calls.len(),
            buffered_emits: self.session.buffered_emits("/"),
            pending_acks: self.session.pending_acks(),
            store_objects: self.store.len(),
        }
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
    ) -> Result<Option<CallId>, CommandError> {
        self.advance(now);
        self.dispatch_command(now, command)
    }

    fn dispatch_command(
        &mut self,
        now: Instant,
        command: Command,
    ) -> Result<Option<CallId>, CommandError> {
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

    fn run(&mut self, now: Instant, command: Command) -> Result<CallId, CommandError> {
        self.execute(now, command)?.ok_or(CommandError::Closed)
    }

    /// Authenticates with the API key (`/auth`), loads the store from scratch and, with live
    /// sync on, connects the Sync API socket. The call's result is the `/auth` result.
    pub fn connect(&mut self, now: Instant, api_key: Secret) -> Result<CallId, CommandError> {
        self.run(now, Command::Connect { api_key })
    }

    /// Reloads the store from scratch with `/init`, without re-authenticating.
    pub fn init(&mut self, now: Instant) -> Result<CallId, CommandError> {
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
    ) -> Result<CallId, CommandError> {
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
    ) -> Result<CallId, CommandError> {
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
    pub fn publish(&mut self, now: Instant, asset: &str) -> Result<CallId, CommandError> {
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
    ) -> Result<CallId, CommandError> {
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
    ) -> Result<CallId, CommandError> {
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
    pub fn load_all_records(&mut self, now: Instant) -> Result<CallId, CommandError> {
        self.run(now, Command::LoadAllRecords)
    }

    /// Fetches changes over HTTP (`/sync/get`, page after page while the server warns that
    /// more remain) and applies them as the socket would. For hosts where the socket cannot be
    /// used, and for explicit refreshes.
    pub fn sync_now(&mut self, now: Instant) -> Result<CallId, CommandError> {
        self.run(now, Command::SyncNow)
    }

    /// Asks the server for its latest cursors (`/sync/cursors`); the result holds `cc.cursor`
    /// and `cursor`. The client's own cursors do not move: they only ever pass items whose
    /// effect is in the store.
    pub fn sync_cursors(&mut self, now: Instant) -> Result<CallId, CommandError> {
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
    ) -> Result<CallId, CommandError> {
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

    fn begin(&mut self, now: Instant) -> Result<(), CommandError> {
        self.advance(now);
        if self.closed {
            Err(CommandError::Closed)
        } else {
            Ok(())
        }
    }

    /// The id of a new command.
    fn command_id(&mut self) -> CallId {
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
        self.next_deadline()
    }
}

impl Client {
    fn dispatch_input(&mut self, input: Input) {
        match input {
            Input::HttpResponse { id, response } if self.calls.is_in_flight(id) => {
                self.on_http(id, Ok(response))
            }
            Input::HttpFailed { id, error } if self.calls.is_in_flight(id) => {
                self.on_http(id, Err(error))
            }
            Input::Stat { id, info } => self.on_file(id, FileAnswer::Stat(info)),
            Input::FileRead { id, result } => self.on_file(id, FileAnswer::Read(result)),
            other => {
                self.session
                    .with_ids(&mut self.ids)
                    .handle_input(self.now, other);
                self.drain_session();
            }
        }
    }

    /// Runs whatever is due, the session's timers first, then each part's, in a fixed order.
    fn run_timers(&mut self) {
        let now = self.now;
        self.session.with_ids(&mut self.ids).handle_timeout(now);
        self.drain_session();
        while let Some(call) = self.calls.due(now) {
            self.send(call);
        }
        if self.live.fetches_resume(now) {
            self.pump_fetches();
        }
        if self.live.reload_due(now) {
            self.send_reload();
        }
        for call in self.jobs.expired(now) {
            self.finish(call, Err(CallError::Timeout));
        }
        if self.jobs.poll_due(now) {
            let socket_up = self.session.is_connected("/");
            if self.jobs.any() && !socket_up && !self.calls.sync_page_pending() {
                self.send_sync_page(None);
            }
            self.jobs.schedule_poll(now);
        }
    }

    /// The earliest deadline of the session and of every part.
    fn next_deadline(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        [
            self.session.poll_timeout(),
            self.calls.next_deadline(),
            self.live.next_deadline(),
            self.jobs.next_deadline(),
        ]
        .into_iter()
        .fold(None, earliest)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::api::Secret;
    use crate::config::TransportMode;
    use crate::io::{Body, Input, Machine, Output, RequestId};

    use super::{Client, ClientConfig};

    fn http_ids(client: &mut Client) -> Vec<RequestId> {
        std::iter::from_fn(|| client.poll_output())
            .filter_map(|o| match o {
                Output::Http { id, .. } => Some(id),
                _ => None,
            })
            .collect()
    }

    fn ok(body: &str) -> http::Response<Body> {
        http::Response::builder()
            .header("Authorization", "Bearer jwt-1")
            .body(Body::from(body))
            .unwrap()
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // a test's clock has to start somewhere
    fn the_clients_requests_and_its_sockets_are_numbered_from_one_sequence() {
        let now = Instant::now();
        let cfg = ClientConfig::new("http://unicat.test", "p1")
            .unwrap()
            .transport(TransportMode::Polling);
        let mut client = Client::new(cfg, now);
        let _ = client.connect(now, Secret::new("key")).unwrap();
        // The client's `/auth` is request 0.
        assert_eq!(http_ids(&mut client), [RequestId(0)]);
        let auth = r#"{"success":true,"result":{"cc.cursor":1,"cursor":1},"data":{}}"#;
        let response = ok(auth);
        client.handle_input(
            now,
            Input::HttpResponse {
                id: RequestId(0),
                response,
            },
        );
        // Its answer opens the socket: the handshake GET is request 1.
        assert_eq!(http_ids(&mut client), [RequestId(1)]);
        let open = r#"0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        let response = ok(open);
        client.handle_input(
            now,
            Input::HttpResponse {
                id: RequestId(1),
                response,
            },
        );
        // The socket's long-poll and the POST with its CONNECT, made while the client handled
        // that input, go on from there; and so does the client's next call.
        assert_eq!(http_ids(&mut client), [RequestId(2), RequestId(3)]);
        let _ = client.sync_cursors(now).unwrap();
        assert_eq!(http_ids(&mut client), [RequestId(4)]);
    }
}
