//! The Unicat client: API calls, the local store and live sync, as one sans-IO machine.

mod config;

pub use config::{ClientConfig, RetryPolicy};

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{json, Map, Value};

use crate::api::{self, ApiError, CallError, Secret};
use crate::error::{DisconnectReason, TransportError, TransportErrorKind, UsageError};
use crate::io::{Body, BodyTarget, FileInfo, HttpRequest, Input, Machine, Output, RequestId};
use crate::session::{AckError, AckId, Session, SessionEvent, SessionState};
use crate::store::{DataType, Object, Store};
use crate::sync::{self, Action, Batch, Effect, JobInfo, Sync, Waiter};
use crate::timer::{after, earliest};

/// Identifies a call the application made; its result comes as [`Event::CallFinished`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
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
    /// The Sync API socket went down. [`DisconnectReason::reconnects`] says whether a reconnect
    /// follows.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// A reconnect is scheduled.
    Reconnecting {
        /// 1 for the first attempt after a loss.
        attempt: u32,
        /// How long until it starts.
        delay: Duration,
    },
    /// The reconnect policy gave up.
    ReconnectFailed {
        /// The attempts made.
        attempts: u32,
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
    /// Live sync hit a problem it is handling (a refused socket, a failed `initsync`).
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

#[derive(Clone, Debug)]
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
    started: bool,
}

#[derive(Debug)]
struct TrackedJob {
    call: CallId,
    deadline: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterReauth {
    Nothing,
    Authenticate,
    Reconnect,
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
#[derive(Debug)]
pub struct Client {
    cfg: ClientConfig,
    #[cfg(feature = "record")]
    t0: Instant,
    now: Instant,
    #[cfg(feature = "record")]
    recorder: Option<crate::record::Recorder>,
    session: Session,
    store: Store,
    sync: Sync,
    jwt: Option<Secret>,
    api_key: Option<Secret>,
    calls: BTreeMap<RequestId, Call>,
    retry_at: BTreeMap<(Instant, u64), Call>,
    auth_wait: Vec<Call>,
    reauth_running: bool,
    after_reauth: AfterReauth,
    refusals: u32,
    files: BTreeMap<RequestId, FileOp>,
    initsync: Option<AckId>,
    held_sync: Vec<Value>,
    catching_up: bool,
    fetches_in_flight: usize,
    fetch_resume_at: Option<Instant>,
    reload: Option<Reload>,
    sync_pages: Vec<CallId>,
    sync_pages_done: Vec<CallId>,
    sync_page_in_flight: bool,
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

fn is_read(endpoint: &str) -> bool {
    endpoint.ends_with("/get") || endpoint == "/init" || endpoint == "//init"
}

impl Client {
    /// A new client. Nothing happens until [`connect`](Client::connect) or a call.
    pub fn new(cfg: ClientConfig, now: Instant) -> Self {
        Client {
            session: Session::new(cfg.session.clone(), now),
            multipart_seed: cfg.session.rng_seed,
            cfg,
            #[cfg(feature = "record")]
            t0: now,
            now,
            #[cfg(feature = "record")]
            recorder: None,
            store: Store::default(),
            sync: Sync::default(),
            jwt: None,
            api_key: None,
            calls: BTreeMap::new(),
            retry_at: BTreeMap::new(),
            auth_wait: Vec::new(),
            reauth_running: false,
            after_reauth: AfterReauth::Nothing,
            refusals: 0,
            files: BTreeMap::new(),
            initsync: None,
            held_sync: Vec::new(),
            catching_up: false,
            fetches_in_flight: 0,
            fetch_resume_at: None,
            reload: None,
            sync_pages: Vec::new(),
            sync_pages_done: Vec::new(),
            sync_page_in_flight: false,
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

    fn do_connect(&mut self, now: Instant, api_key: Secret) -> Result<CallId, UsageError> {
        self.begin(now)?;
        if !matches!(self.session.state(), SessionState::Idle) {
            return Err(UsageError::AlreadyConnected);
        }
        let body = json!({
            "api_key": api_key.expose(),
            "omit_extended_definitions": self.cfg.omit_extended_definitions,
        });
        if self.cfg.keep_api_key {
            self.api_key = Some(api_key);
        }
        let url = self.cfg.urls.api("/auth")?;
        let id = self.call_id();
        self.start(Purpose::Load(id, Load::Connect), json_req(url, &body), true);
        Ok(id)
    }

    fn do_init(&mut self, now: Instant) -> Result<CallId, UsageError> {
        self.begin(now)?;
        let url = self.cfg.urls.api("/init")?;
        let body = json!({"omit_extended_definitions": self.cfg.omit_extended_definitions});
        let id = self.call_id();
        self.start(Purpose::Load(id, Load::Init), json_req(url, &body), true);
        Ok(id)
    }

    fn do_call(
        &mut self,
        now: Instant,
        endpoint: &str,
        body: Option<Value>,
        options: CallOptions,
    ) -> Result<CallId, UsageError> {
        self.begin(now)?;
        let body = body.unwrap_or_else(|| json!({}));
        if !body.is_object() {
            return Err(UsageError::InvalidArgument(
                "a call's body is a JSON object".into(),
            ));
        }
        let url = self.cfg.urls.api(endpoint)?;
        let id = self.call_id();
        let safe = options.safe || is_read(endpoint);
        self.start(Purpose::App(id), json_req(url, &body), safe);
        Ok(id)
    }

    fn do_upload(
        &mut self,
        now: Instant,
        endpoint: &str,
        fields: Vec<(String, String)>,
        path: PathBuf,
    ) -> Result<CallId, UsageError> {
        self.begin(now)?;
        if endpoint.starts_with("//") {
            return Err(UsageError::InvalidArgument(
                "uploads go to the project API".into(),
            ));
        }
        let url = self.cfg.urls.api(endpoint)?;
        let id = self.call_id();
        let op = self.session.alloc_request_id();
        self.files.insert(
            op,
            FileOp::UploadStat {
                call: id,
                url,
                fields,
                path: path.clone(),
            },
        );
        self.out.push_back(Output::Stat { id: op, path });
        Ok(id)
    }

    fn do_publish(&mut self, now: Instant, asset: &str) -> Result<CallId, UsageError> {
        self.begin(now)?;
        let url = self.dam_url(asset, None)?;
        let id = self.call_id();
        self.start(Purpose::App(id), Req::Dam { url }, true);
        Ok(id)
    }

    fn do_transform(
        &mut self,
        now: Instant,
        asset: &str,
        options: TransformOptions,
    ) -> Result<CallId, UsageError> {
        self.begin(now)?;
        let url = self.dam_url(asset, Some(options))?;
        let id = self.call_id();
        self.start(Purpose::App(id), Req::Dam { url }, true);
        Ok(id)
    }

    fn do_download(
        &mut self,
        now: Instant,
        asset: &str,
        options: Option<TransformOptions>,
        pathname: Option<&str>,
        updated_on: Option<f64>,
    ) -> Result<CallId, UsageError> {
        self.begin(now)?;
        let folder =
            self.cfg.asset_folder.clone().ok_or_else(|| {
                UsageError::InvalidArgument("no asset folder is configured".into())
            })?;
        let dam = self.dam_url(asset, options)?;
        let asset_pathname = self
            .store
            .asset(asset)
            .and_then(|a| a.pointer("/pathname"))
            .and_then(|p| p.as_str().map(str::to_string))
            .unwrap_or_default();
        let id = self.call_id();
        let relative = match pathname {
            Some(p) => match api::paths::download_path(&asset_pathname, Some(p), None) {
                Ok(r) => Some(r),
                Err(e) => {
                    self.finish(id, Err(CallError::UnsafePath(e.to_string())));
                    return Ok(id);
                }
            },
            None => None,
        };
        let download = Download {
            call: id,
            relative,
            asset_pathname,
            updated_on,
        };
        match &download.relative {
            Some(rel) => {
                let op = self.session.alloc_request_id();
                let path = folder.join(rel);
                self.files
                    .insert(op, FileOp::DownloadBefore(download, Req::Dam { url: dam }));
                self.out.push_back(Output::Stat { id: op, path });
            }
            None => self.start(Purpose::Dam(download), Req::Dam { url: dam }, true),
        }
        Ok(id)
    }

    fn do_load_all_records(&mut self, now: Instant) -> Result<CallId, UsageError> {
        self.begin(now)?;
        let id = self.call_id();
        let url = self.cfg.urls.api("/records/root")?;
        let walk = Walk {
            call: id,
            queue: VecDeque::new(),
            parent: None,
            top: 0,
            loaded: 0,
        };
        self.start(Purpose::Walk(walk), json_req(url, &json!({})), true);
        Ok(id)
    }

    fn walk_on(&mut self, mut walk: Walk, result: &Map<String, Value>) {
        match walk.parent.clone() {
            None => {
                if let Some(root) = result.get("root").and_then(Value::as_str) {
                    walk.loaded = walk.loaded.saturating_add(1);
                    walk.queue.push_back(root.to_string());
                }
            }
            Some(_) => {
                let children: Vec<String> = result
                    .get("children")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|c| c.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let size = result
                    .get("children.size")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let n = u64::try_from(children.len()).unwrap_or(u64::MAX);
                walk.loaded = walk.loaded.saturating_add(n);
                for child in children {
                    let has_children = self
                        .store
                        .record(&child)
                        .and_then(|r| r.pointer("/childcount"))
                        .and_then(|c| c.as_u64())
                        .is_some_and(|c| c > 0);
                    if has_children {
                        walk.queue.push_back(child);
                    }
                }
                walk.top = walk.top.saturating_add(n);
                if n == 0 || walk.top >= size {
                    walk.parent = None;
                }
            }
        }
        if walk.parent.is_none() {
            match walk.queue.pop_front() {
                Some(next) => {
                    walk.parent = Some(next);
                    walk.top = 0;
                }
                None => return self.finish(walk.call, Ok(json!({ "records": walk.loaded }))),
            }
        }
        let body = json!({
            "record": walk.parent,
            "page.top": walk.top,
            "page.size": WALK_PAGE,
        });
        match self.cfg.urls.api("/records/children") {
            Ok(url) => self.start(Purpose::Walk(walk), json_req(url, &body), true),
            Err(e) => self.finish(
                walk.call,
                Err(CallError::InvalidResponse {
                    status: 0,
                    detail: e.to_string(),
                    excerpt: String::new(),
                }),
            ),
        }
    }

    fn do_sync_now(&mut self, now: Instant) -> Result<CallId, UsageError> {
        self.begin(now)?;
        let id = self.call_id();
        self.sync_pages.push(id);
        self.pump_sync_pages();
        Ok(id)
    }

    fn do_sync_cursors(&mut self, now: Instant) -> Result<CallId, UsageError> {
        self.begin(now)?;
        let id = self.call_id();
        let url = self.cfg.urls.sync("/cursors");
        self.start(Purpose::App(id), json_req(url, &json!({})), true);
        Ok(id)
    }

    fn do_track_job(
        &mut self,
        now: Instant,
        token: &str,
        timeout: Option<Duration>,
    ) -> Result<CallId, UsageError> {
        self.begin(now)?;
        let id = self.call_id();
        if let Some((_, job)) = self.recent_jobs.iter().rev().find(|(t, _)| t == token) {
            if let Some(result) = job_result(job) {
                self.finish(id, result);
                return Ok(id);
            }
        }
        self.jobs.insert(
            token.to_string(),
            TrackedJob {
                call: id,
                deadline: timeout.and_then(|t| after(self.now, t)),
            },
        );
        self.schedule_job_poll();
        Ok(id)
    }

    fn do_close(&mut self, now: Instant) {
        self.advance(now);
        if self.closed {
            return;
        }
        self.session.close(self.now);
        self.drain_session();
        let running: Vec<CallId> = self
            .calls
            .values()
            .chain(self.retry_at.values())
            .chain(self.auth_wait.iter())
            .filter_map(|c| match &c.purpose {
                Purpose::App(id) | Purpose::Load(id, _) | Purpose::Media(id, _) => Some(*id),
                Purpose::Dam(d) => Some(d.call),
                Purpose::Walk(w) => Some(w.call),
                Purpose::SyncPage(id) => *id,
                _ => None,
            })
            .chain(self.files.values().map(|f| match f {
                FileOp::UploadStat { call, .. }
                | FileOp::UploadRead { call, .. }
                | FileOp::DownloadAfter { call, .. } => *call,
                FileOp::DownloadBefore(d, _) => d.call,
            }))
            .chain(self.jobs.values().map(|j| j.call))
            .chain(self.sync_pages.iter().copied())
            .collect();
        for id in std::mem::take(&mut self.calls).into_keys() {
            self.out.push_back(Output::CancelHttp { id });
        }
        self.retry_at.clear();
        self.auth_wait.clear();
        self.files.clear();
        self.jobs.clear();
        self.sync_pages.clear();
        let unique: BTreeSet<CallId> = running.into_iter().collect();
        for id in unique {
            self.finish(id, Err(CallError::Closed));
        }
        self.jwt = None;
        self.api_key = None;
        self.closed = true;
    }

    /// Starts recording a replay log (see [`record`](crate::record) for the format): from
    /// now on every input, timeout, command and output is kept as a line, with secrets
    /// redacted, for [`poll_record`](Client::poll_record) to take. Times count from the
    /// client's creation.
    #[cfg(feature = "record")]
    pub fn record(&mut self) {
        if self.recorder.is_none() {
            self.recorder = Some(crate::record::Recorder::new(self.t0, &self.cfg));
        }
    }

    /// The next line of the replay log, if recording.
    #[cfg(feature = "record")]
    pub fn poll_record(&mut self) -> Option<String> {
        self.recorder.as_mut()?.poll()
    }

    #[cfg(feature = "record")]
    fn record_command(&mut self, command: &Command) {
        if let Some(r) = self.recorder.as_mut() {
            r.command(self.now, command);
        }
    }

    /// Carries out a command. The command methods below are shorthands for this. Returns the
    /// id whose result comes as [`Event::CallFinished`]; [`Command::Close`] has none.
    pub fn execute(
        &mut self,
        now: Instant,
        command: Command,
    ) -> Result<Option<CallId>, UsageError> {
        self.advance(now);
        #[cfg(feature = "record")]
        self.record_command(&command);
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
    /// `{"records": <number loaded>}`. Live sync keeps them fresh afterwards.
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

    fn dam_url(
        &self,
        asset: &str,
        options: Option<TransformOptions>,
    ) -> Result<String, UsageError> {
        let object = self.store.asset(asset).ok_or_else(|| {
            UsageError::InvalidArgument(format!("asset {asset:?} is not in the store"))
        })?;
        let storage = api::dam_storage_name(object)
            .map_err(|e| UsageError::InvalidArgument(e.to_string()))?;
        match options {
            None => Ok(self.cfg.urls.dam("publish", &storage, &[])),
            Some(mut options) => {
                if !options.iter().any(|(k, _)| k == "key") {
                    let map: Map<String, Value> = options.iter().cloned().collect();
                    options.push((
                        "key".into(),
                        Value::String(api::transform::transform_key(&map)),
                    ));
                }
                let mut parts = Vec::with_capacity(options.len());
                for (k, v) in &options {
                    let v = api::transform::python_str(v);
                    let safe = |s: &str| {
                        !s.is_empty()
                            && s.bytes().all(|b| {
                                b.is_ascii_graphic()
                                    && !matches!(b, b'/' | b'?' | b'#' | b'%' | b'=')
                            })
                    };
                    if !safe(k) || !(safe(&v) || (k == "name" && v.is_empty())) {
                        return Err(UsageError::InvalidArgument(format!(
                            "transform option {k}={v} cannot go in a URL path"
                        )));
                    }
                    parts.push((k.clone(), v));
                }
                Ok(self.cfg.urls.dam("transform", &storage, &parts))
            }
        }
    }

    fn start(&mut self, purpose: Purpose, req: Req, safe: bool) {
        let call = Call {
            purpose,
            req,
            retries_left: if safe { self.cfg.retry.retries } else { 0 },
            attempt: 0,
            reauthed: false,
        };
        self.send(call);
    }

    fn needs_jwt(call: &Call) -> bool {
        match &call.req {
            Req::Media { .. } => false,
            _ => !matches!(
                call.purpose,
                Purpose::Reauth | Purpose::Load(_, Load::Connect)
            ),
        }
    }

    fn send(&mut self, call: Call) {
        if self.closed {
            return;
        }
        if Self::needs_jwt(&call) && self.jwt.is_none() && self.api_key.is_some() {
            self.auth_wait.push(call);
            self.start_reauth(AfterReauth::Nothing);
            return;
        }
        let auth = if Self::needs_jwt(&call) {
            self.jwt
                .as_ref()
                .and_then(|j| HeaderValue::from_str(&format!("Bearer {}", j.expose())).ok())
                .map(|mut v| {
                    v.set_sensitive(true);
                    v
                })
        } else {
            None
        };
        let (method, url, content_type, body, target, timeout) = match &call.req {
            Req::Json { url, body } => (
                http::Method::POST,
                url.clone(),
                Some("application/json".to_string()),
                body.clone(),
                BodyTarget::Memory {
                    limit: self.cfg.max_response_bytes,
                },
                self.cfg.http_timeout,
            ),
            Req::Upload {
                url,
                content_type,
                body,
            } => (
                http::Method::POST,
                url.clone(),
                Some(content_type.clone()),
                body.clone(),
                BodyTarget::Memory {
                    limit: self.cfg.max_response_bytes,
                },
                self.cfg.http_timeout,
            ),
            Req::Dam { url } => (
                http::Method::GET,
                url.clone(),
                None,
                Vec::new(),
                BodyTarget::Memory {
                    limit: self.cfg.max_response_bytes,
                },
                self.cfg.http_timeout,
            ),
            Req::Media { url, path } => (
                http::Method::GET,
                url.clone(),
                None,
                Vec::new(),
                BodyTarget::File {
                    path: path.clone(),
                    limit: self.cfg.max_download_bytes,
                },
                self.cfg.download_timeout,
            ),
        };
        let mut builder = http::Request::builder().method(method).uri(url.as_str());
        if let Some(ct) = content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        if let Some(auth) = auth {
            builder = builder.header(AUTHORIZATION, auth);
        }
        let request = match builder.body(Body(body)) {
            Ok(r) => r,
            Err(e) => {
                let error = CallError::InvalidResponse {
                    status: 0,
                    detail: format!("could not build the request: {e}"),
                    excerpt: String::new(),
                };
                return self.fail(call, error);
            }
        };
        let id = self.session.alloc_request_id();
        crate::log!(debug, "{} {}", request.method(), redact_url(&url));
        self.calls.insert(id, call);
        self.out.push_back(Output::Http {
            id,
            request: HttpRequest {
                request,
                timeout,
                target,
            },
        });
    }

    fn schedule_retry(&mut self, mut call: Call) {
        let p = &self.cfg.retry;
        let factor = 1u32.checked_shl(call.attempt).unwrap_or(u32::MAX);
        let delay = p.initial.saturating_mul(factor).min(p.max);
        call.attempt = call.attempt.saturating_add(1);
        call.retries_left = call.retries_left.saturating_sub(1);
        self.next_seq = self.next_seq.saturating_add(1);
        match after(self.now, delay) {
            Some(at) => {
                self.retry_at.insert((at, self.next_seq), call);
            }
            None => self.send(call),
        }
    }

    fn start_reauth(&mut self, then: AfterReauth) {
        if then != AfterReauth::Nothing {
            self.after_reauth = then;
        }
        if self.reauth_running {
            return;
        }
        let Some(key) = &self.api_key else {
            return;
        };
        let body = json!({
            "api_key": key.expose(),
            "omit_extended_definitions": self.cfg.omit_extended_definitions,
        });
        let Ok(url) = self.cfg.urls.api("/auth") else {
            return;
        };
        self.reauth_running = true;
        crate::log!(info, "re-authenticating with the kept API key");
        self.start(Purpose::Reauth, json_req(url, &body), true);
    }

    // ---- responses ---------------------------------------------------------------------------

    fn on_http(&mut self, id: RequestId, response: Result<http::Response<Body>, TransportError>) {
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        if matches!(call.purpose, Purpose::Fetch(_)) {
            self.fetches_in_flight = self.fetches_in_flight.saturating_sub(1);
        }
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                if call.retries_left > 0 {
                    crate::log!(debug, "request failed ({e}), retrying");
                    return self.schedule_retry(call);
                }
                return self.fail(call, CallError::Transport(e));
            }
        };
        let status = response.status().as_u16();
        let challenged = response.headers().contains_key(WWW_AUTHENTICATE);
        if !matches!(call.req, Req::Media { .. }) {
            if !matches!(call.req, Req::Dam { .. }) {
                if let Some(token) = response
                    .headers()
                    .get(AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.trim().trim_start_matches("Bearer ").trim())
                    .filter(|t| !t.is_empty())
                {
                    self.set_jwt(token.to_string());
                }
            }
            if challenged {
                // As the SDK: a challenge clears the token, even one the same response set.
                self.jwt = None;
            }
        }
        if matches!(status, 500 | 502 | 503 | 504) && call.retries_left > 0 {
            crate::log!(debug, "HTTP {status}, retrying");
            return self.schedule_retry(call);
        }
        if status == 401
            && challenged
            && !call.reauthed
            && self.api_key.is_some()
            && !matches!(
                call.purpose,
                Purpose::Reauth | Purpose::Load(_, Load::Connect)
            )
        {
            let mut call = call;
            call.reauthed = true;
            self.auth_wait.push(call);
            self.start_reauth(AfterReauth::Nothing);
            return;
        }
        if let Req::Media { .. } = call.req {
            return self.on_media(call, status, response.into_body());
        }
        let body = response.into_body();
        match api::parse_response(status, body.as_bytes()) {
            Ok(resp) => self.on_success(call, resp),
            Err(e) => self.fail(call, e),
        }
    }

    fn set_jwt(&mut self, token: String) {
        let changed = self.jwt.as_ref().is_none_or(|j| j.expose() != token);
        #[cfg(feature = "record")]
        if let Some(r) = self.recorder.as_mut() {
            r.note_jwt(&token);
        }
        if changed {
            let first = self.jwt.is_none();
            self.jwt = Some(Secret::new(token));
            if !first {
                self.event(Event::TokenRefreshed);
            }
        }
    }

    /// Merges a response's data. Sync fetches skip objects deleted after they were requested.
    fn merge(
        &mut self,
        data: Vec<(DataType, Vec<(String, Object)>)>,
        sent_seq: Option<u64>,
    ) -> BTreeSet<(DataType, String)> {
        let mut stored = BTreeSet::new();
        for (t, entries) in data {
            for (key, obj) in entries {
                if sent_seq.is_some_and(|seq| self.sync.deleted_since(t, &key, seq)) {
                    continue;
                }
                if self.reload.is_some() && matches!(t, DataType::Records | DataType::Assets) {
                    stored.insert((t, key.clone()));
                }
                self.store.insert(t, key, obj);
            }
        }
        stored
    }

    fn note_version(&mut self, result: &Map<String, Value>) {
        let Some(new) = result.get("cc.version").and_then(Value::as_str) else {
            return;
        };
        let old = self.store.version().to_string();
        if old != new {
            self.store.set_version(new.to_string());
            if !old.is_empty() {
                self.event(Event::VersionChanged {
                    old,
                    new: new.to_string(),
                });
            }
        }
    }

    fn on_success(&mut self, call: Call, resp: api::Response) {
        self.note_version(&resp.result);
        let result = Value::Object(resp.result.clone());
        match call.purpose {
            Purpose::App(id) => {
                self.merge(resp.data, None);
                self.finish(id, Ok(result));
            }
            Purpose::Load(id, kind) => {
                let cursor = |k: &str| {
                    resp.result
                        .get(k)
                        .and_then(Value::as_i64)
                        .filter(|c| *c > 0)
                };
                let (cc, project) = (cursor("cc.cursor"), cursor("cursor"));
                match kind {
                    Load::Connect | Load::Init => {
                        self.store.clear();
                        self.sync.reset();
                        self.reload = None;
                        self.merge(resp.data, None);
                        self.sync
                            .load_cursors(cc.unwrap_or(0), project.unwrap_or(0));
                        self.refresh_cursors();
                        self.finish(id, Ok(result));
                        if matches!(kind, Load::Connect) {
                            if !self.cfg.keep_api_key {
                                self.api_key = None;
                            }
                            if self.cfg.live_sync && self.session.state() == SessionState::Idle {
                                let _ = self.session.connect(self.now);
                                self.drain_session();
                            }
                        }
                    }
                    Load::Restore => {
                        self.store
                            .clear_except(&[DataType::Records, DataType::Assets]);
                        self.merge(resp.data, None);
                        if let Some(reload) = self.reload.as_mut() {
                            reload.started = true;
                            let cc_now = cc.unwrap_or(0);
                            let p_now = project.unwrap_or(0);
                            self.sync.load_cursors(cc_now, p_now);
                        }
                        let held: Vec<(DataType, String)> = [DataType::Records, DataType::Assets]
                            .into_iter()
                            .flat_map(|t| self.store.map(t).keys().map(move |k| (t, k.clone())))
                            .collect();
                        for t in [DataType::Records, DataType::Assets] {
                            self.sync.want_quietly(
                                t,
                                held.iter()
                                    .filter(|(ht, _)| *ht == t)
                                    .map(|(_, k)| k.clone()),
                            );
                        }
                        if let Some(reload) = self.reload.as_mut() {
                            reload.expect = held.into_iter().collect();
                        }
                        self.event(Event::StoreReset);
                        self.finish_reload_if_done();
                        self.pump_fetches();
                        self.refresh_cursors();
                    }
                }
            }
            Purpose::Reauth => {
                self.reauth_running = false;
                // Fresh schema is welcome; the cursors stay where they are, or the items
                // between would be skipped.
                self.merge(resp.data, None);
                for call in std::mem::take(&mut self.auth_wait) {
                    self.send(call);
                }
                match std::mem::replace(&mut self.after_reauth, AfterReauth::Nothing) {
                    AfterReauth::Nothing => {}
                    AfterReauth::Authenticate => self.authenticate_socket(),
                    AfterReauth::Reconnect => {
                        let _ = self.session.disconnect(self.now);
                        let _ = self.session.connect(self.now);
                        self.drain_session();
                    }
                }
            }
            Purpose::Fetch(batch) => {
                let stored = self.merge(resp.data, Some(batch.sent_seq));
                self.after_fetch(batch, stored);
            }
            Purpose::SyncPage(id) => {
                self.sync_page_in_flight = false;
                let more = resp.result.contains_key("warning");
                let items = match resp.result.get("sync") {
                    Some(Value::Array(items)) => items.clone(),
                    _ => Vec::new(),
                };
                self.merge(resp.data, None);
                self.apply_sync(items);
                if let Some(id) = id {
                    if more {
                        // The next page starts from the applied cursors, once this page's
                        // fetches have landed.
                        self.sync_pages.insert(0, id);
                    } else {
                        self.sync_pages_done.push(id);
                    }
                }
                self.pump_sync_pages();
            }
            Purpose::Dam(download) => self.on_dam(download, &resp.result),
            Purpose::Walk(walk) => {
                self.merge(resp.data, None);
                self.walk_on(walk, &resp.result);
            }
            Purpose::Media(id, _) => self.finish(id, Ok(result)),
        }
    }

    fn fail(&mut self, call: Call, error: CallError) {
        match call.purpose {
            Purpose::App(id) | Purpose::Load(id, _) | Purpose::Media(id, _) => {
                self.finish(id, Err(error))
            }
            Purpose::Dam(d) => self.finish(d.call, Err(error)),
            Purpose::Walk(w) => self.finish(w.call, Err(error)),
            Purpose::Reauth => {
                self.reauth_running = false;
                crate::log!(warn, "re-authentication failed: {error}");
                self.event(Event::SyncError {
                    message: format!("re-authentication failed: {error}"),
                });
                for waiting in std::mem::take(&mut self.auth_wait) {
                    self.fail(waiting, error.clone());
                }
                self.after_reauth = AfterReauth::Nothing;
            }
            Purpose::Fetch(batch) => {
                let retry_later = match &error {
                    CallError::Api(e) => e.code == 401,
                    CallError::InvalidResponse { .. } | CallError::Transport(_) => true,
                    _ => false,
                };
                if retry_later {
                    crate::log!(
                        warn,
                        "sync fetch of {} failed ({error}); trying again later",
                        batch.data_type
                    );
                    self.sync.requeue(batch);
                    self.fetch_resume_at = after(self.now, self.cfg.fetch_retry_delay);
                } else {
                    crate::log!(
                        warn,
                        "sync fetch of {} refused ({error}); skipped",
                        batch.data_type
                    );
                    self.sync.abandon(batch);
                    self.refresh_cursors();
                    self.pump_fetches();
                }
            }
            Purpose::SyncPage(id) => {
                self.sync_page_in_flight = false;
                if let Some(id) = id {
                    self.finish(id, Err(error));
                }
                self.pump_sync_pages();
            }
        }
    }

    fn on_media(&mut self, call: Call, status: u16, body: Body) {
        let Purpose::Media(id, relative) = call.purpose else {
            return;
        };
        if status == 200 {
            self.finish(
                id,
                Ok(Value::String(relative.to_string_lossy().replace('\\', "/"))),
            );
        } else {
            self.finish(
                id,
                Err(CallError::InvalidResponse {
                    status,
                    detail: "the media download failed".into(),
                    excerpt: String::from_utf8_lossy(body.as_bytes())
                        .chars()
                        .take(256)
                        .collect(),
                }),
            );
        }
    }

    fn on_dam(&mut self, d: Download, result: &Map<String, Value>) {
        let Some(url) = result
            .get("public_url")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return self.finish(
                d.call,
                Err(CallError::InvalidResponse {
                    status: 200,
                    detail: "the DAM result has no public_url".into(),
                    excerpt: String::new(),
                }),
            );
        };
        let relative = match d.relative {
            Some(r) => r,
            None => match api::paths::download_path(&d.asset_pathname, None, Some(&url)) {
                Ok(r) => r,
                Err(e) => return self.finish(d.call, Err(CallError::UnsafePath(e.to_string()))),
            },
        };
        let Some(folder) = self.cfg.asset_folder.clone() else {
            return self.finish(
                d.call,
                Err(CallError::NotDownloadable("no asset folder".into())),
            );
        };
        let op = self.session.alloc_request_id();
        let path = folder.join(&relative);
        self.files.insert(
            op,
            FileOp::DownloadAfter {
                call: d.call,
                relative,
                url,
                updated_on: d.updated_on,
            },
        );
        self.out.push_back(Output::Stat { id: op, path });
    }

    fn on_file(
        &mut self,
        id: RequestId,
        stat: Option<Option<FileInfo>>,
        read: Option<Result<Body, TransportError>>,
    ) {
        let Some(op) = self.files.remove(&id) else {
            return;
        };
        let fresh = |info: Option<FileInfo>, updated_on: Option<f64>| match (info, updated_on) {
            (Some(_), None) => true,
            (
                Some(FileInfo {
                    modified: Some(m), ..
                }),
                Some(u),
            ) => u <= m,
            _ => false,
        };
        match (op, stat, read) {
            (
                FileOp::UploadStat {
                    call,
                    url,
                    fields,
                    path,
                },
                Some(info),
                _,
            ) => match info {
                None => self.finish(
                    call,
                    Err(CallError::Transport(TransportError::new(
                        TransportErrorKind::File,
                        "the file to upload cannot be read",
                    ))),
                ),
                Some(info) if info.size > self.cfg.max_upload_bytes => {
                    self.finish(call, Err(too_large()))
                }
                Some(_) => {
                    let name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let op = self.session.alloc_request_id();
                    self.files.insert(
                        op,
                        FileOp::UploadRead {
                            call,
                            url,
                            fields,
                            name,
                        },
                    );
                    self.out.push_back(Output::ReadFile {
                        id: op,
                        path,
                        limit: self.cfg.max_upload_bytes,
                    });
                }
            },
            (
                FileOp::UploadRead {
                    call,
                    url,
                    fields,
                    name,
                },
                _,
                Some(read),
            ) => match read {
                Err(e) if e.kind == TransportErrorKind::TooLarge => {
                    self.finish(call, Err(too_large()))
                }
                Err(e) => self.finish(call, Err(CallError::Transport(e))),
                Ok(bytes) => {
                    self.multipart_seed = self.multipart_seed.wrapping_add(1);
                    let mp = api::multipart::build(
                        &fields,
                        "upload_file",
                        &name,
                        bytes.as_bytes(),
                        self.multipart_seed,
                    );
                    let req = Req::Upload {
                        url,
                        content_type: mp.content_type,
                        body: mp.body,
                    };
                    self.start(Purpose::App(call), req, false);
                }
            },
            (FileOp::DownloadBefore(d, req), Some(info), _) => {
                if fresh(info, d.updated_on) {
                    let rel = d
                        .relative
                        .as_ref()
                        .map(|r| r.to_string_lossy().replace('\\', "/"))
                        .unwrap_or_default();
                    self.finish(d.call, Ok(Value::String(rel)));
                } else {
                    self.start(Purpose::Dam(d), req, true);
                }
            }
            (
                FileOp::DownloadAfter {
                    call,
                    relative,
                    url,
                    updated_on,
                },
                Some(info),
                _,
            ) => {
                if fresh(info, updated_on) {
                    self.finish(
                        call,
                        Ok(Value::String(relative.to_string_lossy().replace('\\', "/"))),
                    );
                } else if let Some(folder) = self.cfg.asset_folder.clone() {
                    let path = folder.join(&relative);
                    self.start(
                        Purpose::Media(call, relative),
                        Req::Media { url, path },
                        true,
                    );
                }
            }
            (op, _, _) => {
                crate::log!(debug, "file answer of the wrong kind for {op:?} ignored");
            }
        }
    }

    // ---- sync --------------------------------------------------------------------------------

    fn refresh_cursors(&mut self) {
        let (cc, project) = self.sync.applied();
        self.store.set_cursors(cc, project);
    }

    fn apply_sync(&mut self, items: Vec<Value>) {
        let mut effects = Vec::new();
        let project = self.cfg.urls.project().to_string();
        self.sync
            .apply(items, &mut self.store, &project, &mut effects);
        self.emit_effects(effects);
        self.pump_fetches();
        self.refresh_cursors();
        self.check_caught_up();
    }

    fn emit_effects(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Changed(data_type, key, action) => self.event(Event::Changed {
                    data_type,
                    key,
                    action,
                }),
                Effect::VersionChanged { old, new } => {
                    self.event(Event::VersionChanged { old, new })
                }
                Effect::Job { token, job } => self.on_job(token, job),
                Effect::Reload(barrier) => self.start_reload(barrier),
            }
        }
    }

    fn on_job(&mut self, token: String, job: JobInfo) {
        if let Some(result) = job_result(&job) {
            if let Some(tracked) = self.jobs.remove(&token) {
                self.finish(tracked.call, result);
            }
        }
        if self.recent_jobs.len() >= RECENT_JOBS {
            self.recent_jobs.pop_front();
        }
        self.recent_jobs.push_back((token.clone(), job.clone()));
        self.event(Event::Job { token, job });
    }

    fn start_reload(&mut self, barrier: Waiter) {
        if let Some(old) = self.reload.take() {
            self.sync.release(&old.barrier);
        }
        crate::log!(info, "the project was restored: reloading the store");
        self.reload = Some(Reload {
            barrier,
            expect: BTreeSet::new(),
            started: false,
        });
        let Ok(url) = self.cfg.urls.api("/init") else {
            return;
        };
        let body = json!({"omit_extended_definitions": self.cfg.omit_extended_definitions});
        let id = self.call_id();
        self.start(Purpose::Load(id, Load::Restore), json_req(url, &body), true);
    }

    fn finish_reload_if_done(&mut self) {
        let done = self
            .reload
            .as_ref()
            .is_some_and(|r| r.started && r.expect.is_empty());
        if done {
            if let Some(r) = self.reload.take() {
                self.sync.release(&r.barrier);
            }
        }
    }

    fn after_fetch(&mut self, batch: Batch, stored: BTreeSet<(DataType, String)>) {
        let mut effects = Vec::new();
        if let Some(reload) = self.reload.as_mut() {
            let t = batch.data_type;
            for key in &batch.keys {
                if reload.expect.remove(&(t, key.clone())) {
                    if stored.contains(&(t, key.clone())) {
                        effects.push(Effect::Changed(t, key.clone(), Action::Update));
                    } else if self.store.remove(t, key).is_some() {
                        effects.push(Effect::Changed(t, key.clone(), Action::Delete));
                    }
                }
            }
        }
        self.sync.complete(batch, &self.store, &mut effects);
        self.finish_reload_if_done();
        self.emit_effects(effects);
        self.prune_deletes();
        self.refresh_cursors();
        self.pump_fetches();
        self.check_caught_up();
        self.pump_sync_pages();
    }

    fn prune_deletes(&mut self) {
        let oldest = self
            .calls
            .values()
            .chain(self.retry_at.values())
            .filter_map(|c| match &c.purpose {
                Purpose::Fetch(b) => Some(b.sent_seq),
                _ => None,
            })
            .min();
        self.sync.prune_deletes(oldest);
    }

    fn pump_fetches(&mut self) {
        if self.fetch_resume_at.is_some() {
            return;
        }
        let project = self.cfg.urls.project().to_string();
        while self.fetches_in_flight < self.cfg.max_concurrent_fetches.max(1) {
            let Some(batch) = self.sync.take_batch(self.cfg.batch_size, &project) else {
                break;
            };
            let Some((endpoint, body)) =
                sync::fetch_request(batch.data_type, &batch.keys, &project)
            else {
                self.sync.abandon(batch);
                continue;
            };
            let Ok(url) = self.cfg.urls.api(&endpoint) else {
                self.sync.abandon(batch);
                continue;
            };
            self.fetches_in_flight = self.fetches_in_flight.saturating_add(1);
            self.start(Purpose::Fetch(batch), json_req(url, &body), true);
        }
    }

    fn check_caught_up(&mut self) {
        if self.catching_up && self.initsync.is_none() && self.sync.is_settled() {
            self.catching_up = false;
            let (cc_cursor, cursor) = self.sync.applied();
            self.event(Event::CaughtUp { cc_cursor, cursor });
        }
    }

    /// Sends the next `/sync/get` page, and finishes `sync_now` calls, only once every item
    /// of the pages before is in the store: the cursors the next page starts from must not
    /// pass an unapplied item.
    fn pump_sync_pages(&mut self) {
        if !self.sync.is_settled() {
            return;
        }
        let (cc, cursor) = self.sync.applied();
        for id in std::mem::take(&mut self.sync_pages_done) {
            self.finish(id, Ok(json!({"cc.cursor": cc, "cursor": cursor})));
        }
        if self.sync_page_in_flight {
            return;
        }
        let Some(id) = self.sync_pages.first().copied() else {
            return;
        };
        self.sync_pages.remove(0);
        self.send_sync_page(Some(id));
    }

    fn send_sync_page(&mut self, id: Option<CallId>) {
        let (cc, cursor) = self.sync.applied();
        let body = json!({"cc_cursor": cc, "project": self.cfg.urls.project(), "cursor": cursor});
        let url = self.cfg.urls.sync("/get");
        self.sync_page_in_flight = true;
        self.start(Purpose::SyncPage(id), json_req(url, &body), true);
    }

    fn schedule_job_poll(&mut self) {
        if !self.jobs.is_empty() && self.job_poll_at.is_none() {
            self.job_poll_at = after(self.now, self.cfg.job_poll_interval);
        }
    }

    fn authenticate_socket(&mut self) {
        let auth = self.jwt.as_ref().map(|j| json!({"JWT": j.expose()}));
        let _ = self.session.authenticate(self.now, "/", auth);
        self.drain_session();
    }

    fn drain_session(&mut self) {
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::Event(e) => self.on_session_event(e),
                Output::Http { id, request } => self.out.push_back(Output::Http { id, request }),
                Output::CancelHttp { id } => self.out.push_back(Output::CancelHttp { id }),
                Output::OpenWs { id, request } => {
                    self.out.push_back(Output::OpenWs { id, request })
                }
                Output::WsSend { id, frame } => self.out.push_back(Output::WsSend { id, frame }),
                Output::CloseWs { id } => self.out.push_back(Output::CloseWs { id }),
                Output::Stat { id, path } => self.out.push_back(Output::Stat { id, path }),
                Output::ReadFile { id, path, limit } => {
                    self.out.push_back(Output::ReadFile { id, path, limit })
                }
            }
        }
    }

    fn on_session_event(&mut self, e: SessionEvent) {
        match e {
            SessionEvent::AuthRequested { .. } => {
                if self.jwt.is_none() && self.api_key.is_some() {
                    self.start_reauth(AfterReauth::Authenticate);
                } else {
                    self.authenticate_socket();
                }
            }
            SessionEvent::Connected { .. } => {
                self.refusals = 0;
                self.event(Event::Connected);
                let (cc, cursor) = self.sync.applied();
                let payload =
                    json!({"cc.cursor": cc, "project": self.cfg.urls.project(), "cursor": cursor});
                match self.session.emit(
                    self.now,
                    "/",
                    "initsync",
                    vec![payload],
                    Vec::new(),
                    Some(self.cfg.initsync_timeout),
                ) {
                    Ok(ack) => self.initsync = ack,
                    Err(e) => crate::log!(warn, "initsync could not be sent: {e}"),
                }
            }
            SessionEvent::Message {
                event,
                mut args,
                ack,
                ..
            } => {
                if let Some(id) = ack {
                    let _ = self.session.ack(self.now, "/", id, Vec::new(), Vec::new());
                }
                let first = if args.is_empty() {
                    Value::Null
                } else {
                    args.swap_remove(0)
                };
                match event.as_str() {
                    "sync" => match first {
                        Value::Array(items) => {
                            if self.initsync.is_some() {
                                self.hold_sync(items);
                            } else {
                                self.apply_sync(items);
                            }
                        }
                        _ => crate::log!(warn, "sync event without a list ignored"),
                    },
                    "authorization" => match first.get("JWT").and_then(Value::as_str) {
                        Some(token)
                            if !token.is_empty() && HeaderValue::from_str(token).is_ok() =>
                        {
                            self.set_jwt(token.to_string());
                        }
                        _ => crate::log!(warn, "authorization event without a usable JWT ignored"),
                    },
                    other => crate::log!(debug, "sync socket event {other:?} ignored"),
                }
            }
            SessionEvent::AckReceived { id, mut args, .. } => {
                if self.initsync != Some(id) {
                    return;
                }
                self.initsync = None;
                match if args.is_empty() {
                    Value::Null
                } else {
                    args.swap_remove(0)
                } {
                    Value::Array(items) => {
                        self.catching_up = true;
                        self.apply_sync(items);
                        let held = std::mem::take(&mut self.held_sync);
                        self.apply_sync(held);
                        self.check_caught_up();
                    }
                    _ => {
                        // The seed reads a missing list as an auth problem.
                        self.held_sync.clear();
                        self.event(Event::SyncError {
                            message: "initsync was answered without a list".into(),
                        });
                        if self.api_key.is_some() {
                            self.jwt = None;
                            self.start_reauth(AfterReauth::Reconnect);
                        }
                    }
                }
            }
            SessionEvent::AckFailed { id, error } => {
                if self.initsync == Some(id) {
                    self.initsync = None;
                    self.held_sync.clear();
                    if error == AckError::TimedOut {
                        self.event(Event::SyncError {
                            message: "initsync timed out; reconnecting".into(),
                        });
                        let _ = self.session.disconnect(self.now);
                        let _ = self.session.connect(self.now);
                    }
                }
            }
            SessionEvent::ConnectError { message, .. } => {
                self.event(Event::SyncError {
                    message: format!("the sync server refused the connection: {message}"),
                });
                self.refusals = self.refusals.saturating_add(1);
                if self.api_key.is_some() && self.refusals <= 3 {
                    self.jwt = None;
                    self.start_reauth(AfterReauth::Reconnect);
                }
            }
            SessionEvent::Disconnected { reason } => {
                self.initsync = None;
                self.held_sync.clear();
                self.catching_up = false;
                self.sync.on_disconnect();
                self.refresh_cursors();
                self.event(Event::Disconnected { reason });
                self.schedule_job_poll();
            }
            SessionEvent::Reconnecting { attempt, delay } => {
                self.event(Event::Reconnecting { attempt, delay })
            }
            SessionEvent::ReconnectFailed { attempts } => {
                self.event(Event::ReconnectFailed { attempts })
            }
            SessionEvent::Opened { .. }
            | SessionEvent::Upgraded
            | SessionEvent::NamespaceDisconnected { .. } => {}
        }
    }

    fn hold_sync(&mut self, items: Vec<Value>) {
        if self.held_sync.len().saturating_add(items.len()) > self.cfg.max_held_sync_items {
            crate::log!(
                warn,
                "too many sync items while initsync is pending; reconnecting"
            );
            self.held_sync.clear();
            let _ = self.session.disconnect(self.now);
            let _ = self.session.connect(self.now);
            return;
        }
        self.held_sync.extend(items);
    }
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

fn redact_url(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

impl Machine for Client {
    type Event = Event;

    fn handle_input(&mut self, now: Instant, input: Input) {
        self.advance(now);
        if self.closed {
            return;
        }
        #[cfg(feature = "record")]
        let record = self
            .recorder
            .as_ref()
            .map(|_| crate::record::InputRecord::new(&input));
        self.dispatch_input(input);
        #[cfg(feature = "record")]
        if let (Some(r), Some(record)) = (self.recorder.as_mut(), record) {
            // Written after the input is handled, so a JWT it brought is already known and
            // redacted.
            r.input(self.now, record);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        if self.closed {
            return;
        }
        #[cfg(feature = "record")]
        if let Some(r) = self.recorder.as_mut() {
            r.timeout(self.now);
        }
        self.run_timers();
    }

    fn poll_output(&mut self) -> Option<Output<Event>> {
        let out = self.out.pop_front()?;
        #[cfg(feature = "record")]
        if let Some(r) = self.recorder.as_mut() {
            r.output(&out);
        }
        Some(out)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_timeout()
    }

    #[cfg(feature = "record")]
    fn poll_record(&mut self) -> Option<String> {
        Client::poll_record(self)
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
            Input::Stat { id, info } => self.on_file(id, Some(info), None),
            Input::FileRead { id, result } => self.on_file(id, None, Some(result)),
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
            if !self.jobs.is_empty() && !socket_up && !self.sync_page_in_flight {
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
            self.job_poll_at,
            jobs,
        ]
        .into_iter()
        .fold(None, earliest)
    }
}
