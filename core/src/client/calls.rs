//! Calls: one HTTP request the client makes and its bookkeeping ([`Call`]), what it sends
//! ([`Request`]), why ([`Purpose`]), and the table of every call under way ([`CallTable`]): sent
//! and waiting for its answer, waiting for a retry, or waiting for a JWT.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::io::RequestId;
use crate::sync::Batch;

use super::config::RetryPolicy;
use super::CallId;

/// The HTTP request a call sends. It is built into an [`HttpRequest`](crate::io::HttpRequest)
/// each time the call goes out, with the JWT of that moment.
#[derive(Clone)]
pub(super) enum Request {
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

impl Request {
    /// A JSON POST of `body` to `url`.
    pub(super) fn json(url: String, body: &Value) -> Request {
        Request::Json {
            url,
            // Serialising a `Value` cannot fail.
            body: serde_json::to_vec(body).unwrap_or_default(),
        }
    }
}

/// Bodies can hold the API key (`/auth`): `Debug` shows their length only.
impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Json { url, body } => write!(f, "Json({url}, {} bytes)", body.len()),
            Request::Upload { url, body, .. } => write!(f, "Upload({url}, {} bytes)", body.len()),
            Request::Dam { url } => write!(f, "Dam({url})"),
            Request::Media { url, path } => write!(f, "Media({url} -> {})", path.display()),
        }
    }
}

/// A kind of load: the calls that read the whole project into the store.
#[derive(Debug)]
pub(super) enum Load {
    /// `/auth` of `connect`: clears the store, takes the cursors, then opens the socket.
    Connect,
    /// `/init` the application asked for.
    Init,
    /// `/init` after a restore finished.
    Restore,
}

/// A download between its steps: the DAM call that names the file, then the media GET.
#[derive(Debug)]
pub(super) struct Download {
    /// The command.
    pub(super) command: CallId,
    /// Where the file lands, relative to the asset folder, when the command said.
    pub(super) relative: Option<PathBuf>,
    /// The asset's path in the tree, which a name the DAM gives is put beside.
    pub(super) asset_pathname: String,
    /// Keep a file at least this new.
    pub(super) updated_on: Option<f64>,
}

/// Walking the record tree from the root, page by page, to load every record: the same
/// [`TreeWalk`](crate::walk::TreeWalk) the runtimes' `walk_record_tree` drives.
#[derive(Debug)]
pub(super) struct Walk {
    /// The command.
    pub(super) command: CallId,
    /// The walk.
    pub(super) walk: crate::walk::TreeWalk<crate::view::Records>,
    /// Records loaded so far.
    pub(super) loaded: u64,
}

impl Walk {
    /// A walk for `command`, before its first page.
    pub(super) fn new(command: CallId) -> Walk {
        Walk {
            command,
            walk: crate::walk::TreeWalk::records(None, None),
            loaded: 0,
        }
    }
}

/// Why a call is made: it decides what its answer does.
#[derive(Debug)]
pub(super) enum Purpose {
    /// An application's [`Client::call`](super::Client::call), publish, transform or upload.
    App(CallId),
    /// A load (see [`Load`]).
    Load(CallId, Load),
    /// `/auth` with the kept key, for a new JWT.
    Reauth,
    /// A sync fetch: one batch of keys sync items asked for.
    Fetch(Batch),
    /// A `/sync/get` page, for a `sync_now` call or the job poll (`None`).
    SyncPage(Option<CallId>),
    /// The DAM step of a download.
    Dam(Download),
    /// The media step of a download.
    Media(CallId, PathBuf),
    /// A step of walking the record tree.
    Walk(Walk),
}

impl Purpose {
    /// The command whose result waits on the call, if any.
    pub(super) fn owner(&self) -> Option<CallId> {
        match self {
            Purpose::App(id) | Purpose::Load(id, _) | Purpose::Media(id, _) => Some(*id),
            Purpose::Dam(d) => Some(d.command),
            Purpose::Walk(w) => Some(w.command),
            Purpose::SyncPage(id) => *id,
            Purpose::Reauth | Purpose::Fetch(_) => None,
        }
    }

    /// Whether this is an `/auth` call, which gets the JWT rather than needing it.
    fn is_auth(&self) -> bool {
        matches!(self, Purpose::Reauth | Purpose::Load(_, Load::Connect))
    }
}

/// One HTTP request the client makes, and its bookkeeping: it is sent, perhaps retried after
/// a failure that may heal, perhaps sent once more after a new JWT, and finally answered.
#[derive(Debug)]
pub(super) struct Call {
    /// Why.
    purpose: Purpose,
    /// What it sends.
    request: Request,
    /// Retries still allowed after a failure that may heal.
    retries_left: u32,
    /// Retries made: the exponent of the next retry's delay.
    attempt: u32,
    /// It was sent again after a challenge renewed the JWT: a second challenge fails it.
    reauthed: bool,
}

impl Call {
    /// A call not sent yet, allowed `retries` retries.
    pub(super) fn new(purpose: Purpose, request: Request, retries: u32) -> Call {
        Call {
            purpose,
            request,
            retries_left: retries,
            attempt: 0,
            reauthed: false,
        }
    }

    /// Why the call is made.
    pub(super) fn purpose(&self) -> &Purpose {
        &self.purpose
    }

    /// What it sends.
    pub(super) fn request(&self) -> &Request {
        &self.request
    }

    /// The purpose, once the call is done with.
    pub(super) fn into_purpose(self) -> Purpose {
        self.purpose
    }

    /// Whether a failure that may heal is retried.
    pub(super) fn may_retry(&self) -> bool {
        self.retries_left > 0
    }

    /// Whether the call carries the JWT: everything but public media and `/auth` itself.
    pub(super) fn needs_jwt(&self) -> bool {
        !matches!(self.request, Request::Media { .. }) && !self.purpose.is_auth()
    }

    /// Whether a 401 challenge may renew the JWT and send the call once more: once per call,
    /// and never for `/auth` itself.
    pub(super) fn may_reauth(&self) -> bool {
        !self.reauthed && !self.purpose.is_auth()
    }

    /// The call goes again after a new JWT.
    pub(super) fn mark_reauthed(&mut self) {
        self.reauthed = true;
    }

    /// The wait before the next retry, spending one: the policy's first delay, doubled for
    /// each retry made, capped at its longest.
    pub(super) fn backoff(&mut self, policy: &RetryPolicy) -> Duration {
        let factor = 1u32.checked_shl(self.attempt).unwrap_or(u32::MAX);
        let delay = policy.initial.saturating_mul(factor).min(policy.max);
        self.attempt = self.attempt.saturating_add(1);
        self.retries_left = self.retries_left.saturating_sub(1);
        delay
    }

    /// The retries start again, `retries` of them, from the first delay.
    pub(super) fn restart_retries(&mut self, retries: u32) {
        self.retries_left = retries;
        self.attempt = 0;
    }
}

/// Every call under way: sent and waiting for its answer, waiting for a retry, or waiting for
/// a JWT. A call is in exactly one of the three, or nowhere once it is done with.
#[derive(Debug, Default)]
pub(super) struct CallTable {
    /// Calls sent, by the id their answer will carry.
    in_flight: BTreeMap<RequestId, Call>,
    /// Calls waiting to be sent again, by when; ties in the order they were scheduled.
    retries: BTreeMap<(Instant, u64), Call>,
    /// Retries scheduled so far: the tie-breaker of `retries`.
    scheduled: u64,
    /// Calls waiting for `/auth` to bring a JWT, in the order they came.
    awaiting_jwt: Vec<Call>,
}

impl CallTable {
    /// The call went out as request `id`.
    pub(super) fn sent(&mut self, id: RequestId, call: Call) {
        self.in_flight.insert(id, call);
    }

    /// Whether request `id` is a call's: its answer is the client's, not the socket's.
    pub(super) fn is_in_flight(&self, id: RequestId) -> bool {
        self.in_flight.contains_key(&id)
    }

    /// The call request `id` answers, taken off the table.
    pub(super) fn answered(&mut self, id: RequestId) -> Option<Call> {
        self.in_flight.remove(&id)
    }

    /// The call goes again at `at`. When there is no such instant (a delay beyond what
    /// `Instant` holds) it is given back, to go at once.
    pub(super) fn retry_at(&mut self, at: Option<Instant>, call: Call) -> Option<Call> {
        let Some(at) = at else {
            return Some(call);
        };
        self.scheduled = self.scheduled.saturating_add(1);
        self.retries.insert((at, self.scheduled), call);
        None
    }

    /// The earliest call whose retry time has come at `now`, taken off the schedule: call it
    /// until `None`, sending each, as a retry sent may be due again at once.
    pub(super) fn due(&mut self, now: Instant) -> Option<Call> {
        let entry = self.retries.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        Some(entry.remove())
    }

    /// When the next retry is due.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.retries.keys().next().map(|(at, _)| *at)
    }

    /// The call waits for the JWT that `/auth` is getting.
    pub(super) fn await_jwt(&mut self, call: Call) {
        self.awaiting_jwt.push(call);
    }

    /// The calls that waited for a JWT, in the order they came.
    pub(super) fn take_awaiting_jwt(&mut self) -> Vec<Call> {
        std::mem::take(&mut self.awaiting_jwt)
    }

    /// Every call under way, sent or waiting.
    fn pending(&self) -> impl Iterator<Item = &Call> {
        self.in_flight
            .values()
            .chain(self.retries.values())
            .chain(self.awaiting_jwt.iter())
    }

    /// How many calls are under way.
    pub(super) fn len(&self) -> usize {
        self.pending().count()
    }

    /// How many sync fetches are under way.
    pub(super) fn fetches(&self) -> usize {
        self.pending()
            .filter(|c| matches!(c.purpose, Purpose::Fetch(_)))
            .count()
    }

    /// Whether a `/sync/get` page is under way.
    pub(super) fn sync_page_pending(&self) -> bool {
        self.pending()
            .any(|c| matches!(c.purpose, Purpose::SyncPage(_)))
    }

    /// Whether `/auth` with the kept key is under way.
    pub(super) fn reauth_pending(&self) -> bool {
        self.pending().any(|c| matches!(c.purpose, Purpose::Reauth))
    }

    /// Empties the table: the requests to cancel, in order, and the commands that waited on
    /// any of its calls.
    pub(super) fn close(&mut self) -> (Vec<RequestId>, Vec<CallId>) {
        let owners = self.pending().filter_map(|c| c.purpose.owner()).collect();
        let cancel = std::mem::take(&mut self.in_flight).into_keys().collect();
        self.retries.clear();
        self.awaiting_jwt.clear();
        (cancel, owners)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::json;

    use crate::io::RequestId;
    use crate::store::DataType;
    use crate::sync::SyncState;

    use super::{Call, CallId, CallTable, Load, Purpose, Request, RetryPolicy, Walk};

    fn app(n: u64) -> Call {
        Call::new(
            Purpose::App(CallId(n)),
            Request::json("https://unicat.test/api/p/records/get".into(), &json!({})),
            7,
        )
    }

    fn owner(call: &Option<Call>) -> Option<CallId> {
        call.as_ref().and_then(|c| c.purpose().owner())
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // a test's clock has to start somewhere
    fn a_retry_waits_for_its_time_and_ties_go_in_the_order_they_were_scheduled() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut table = CallTable::default();
        assert!(table.retry_at(Some(t0 + ms(200)), app(1)).is_none());
        assert!(table.retry_at(Some(t0 + ms(100)), app(2)).is_none());
        assert!(table.retry_at(Some(t0 + ms(100)), app(3)).is_none());
        // A delay past what an `Instant` holds: the call goes at once.
        assert_eq!(owner(&table.retry_at(None, app(4))), Some(CallId(4)));
        assert_eq!(table.next_deadline(), Some(t0 + ms(100)));
        assert!(table.due(t0 + ms(99)).is_none());
        assert_eq!(owner(&table.due(t0 + ms(150))), Some(CallId(2)));
        assert_eq!(owner(&table.due(t0 + ms(150))), Some(CallId(3)));
        assert!(table.due(t0 + ms(150)).is_none());
        assert_eq!(table.next_deadline(), Some(t0 + ms(200)));
        assert_eq!(owner(&table.due(t0 + ms(200))), Some(CallId(1)));
        assert_eq!(table.next_deadline(), None);
    }

    #[test]
    fn a_read_backs_off_from_100_ms_doubling_to_the_cap_and_spends_a_retry_each_time() {
        let policy = RetryPolicy {
            retries: 7,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        let mut call = Call::new(Purpose::App(CallId(0)), Request::Dam { url: "u".into() }, 3);
        let waits: Vec<u64> = (0..3)
            .map(|_| {
                assert!(call.may_retry());
                call.backoff(&policy).as_millis() as u64
            })
            .collect();
        assert_eq!(waits, [100, 200, 400]);
        assert!(!call.may_retry());
        // `connect` keeping on: its retries start again from the first delay.
        call.restart_retries(1);
        assert!(call.may_retry());
        assert_eq!(call.backoff(&policy), Duration::from_millis(100));
        call.restart_retries(5);
        for _ in 0..4 {
            call.backoff(&policy);
        }
        assert_eq!(call.backoff(&policy), Duration::from_millis(500), "capped");
    }

    #[test]
    fn only_public_media_and_auth_itself_go_without_the_jwt_and_a_challenge_renews_it_once() {
        let json = || Request::json("u".into(), &json!({}));
        let media = Request::Media {
            url: "https://cdn.test/a.jpg".into(),
            path: "a.jpg".into(),
        };
        let connect = Call::new(Purpose::Load(CallId(0), Load::Connect), json(), 1);
        let reauth = Call::new(Purpose::Reauth, json(), 0);
        let init = Call::new(Purpose::Load(CallId(1), Load::Init), json(), 7);
        let download = Call::new(Purpose::Media(CallId(2), "a.jpg".into()), media, 7);
        let mut call = app(3);
        assert!(!connect.needs_jwt() && !reauth.needs_jwt() && !download.needs_jwt());
        assert!(init.needs_jwt() && call.needs_jwt());
        assert!(!connect.may_reauth() && !reauth.may_reauth());
        assert!(call.may_reauth());
        call.mark_reauthed();
        assert!(!call.may_reauth(), "a second challenge fails the call");
    }

    #[test]
    fn a_call_is_under_way_while_out_waiting_for_a_retry_or_waiting_for_a_jwt() {
        let mut sync = SyncState::default();
        sync.want_quietly(DataType::Records, ["r1".to_string()]);
        let batch = sync.take_batch(100, "p1").unwrap();
        let json = || Request::json("u".into(), &json!({}));
        let mut table = CallTable::default();
        table.sent(RequestId(4), Call::new(Purpose::Fetch(batch), json(), 7));
        table.await_jwt(Call::new(Purpose::SyncPage(None), json(), 7));
        assert!(table.retry_at(None, app(1)).is_some());
        assert_eq!((table.len(), table.fetches()), (2, 1));
        assert!(table.sync_page_pending() && !table.reauth_pending());
        assert!(table.is_in_flight(RequestId(4)));
        assert!(table.answered(RequestId(5)).is_none(), "not ours");
        assert!(table.answered(RequestId(4)).is_some());
        assert!(table.answered(RequestId(4)).is_none(), "answered once");
        assert_eq!(table.take_awaiting_jwt().len(), 1);
        assert_eq!(table.len(), 0);
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // a test's clock has to start somewhere
    fn closing_cancels_what_is_out_and_names_every_command_that_waited() {
        let t0 = Instant::now();
        let json = || Request::json("u".into(), &json!({}));
        let mut table = CallTable::default();
        table.sent(RequestId(9), app(1));
        table.sent(RequestId(2), Call::new(Purpose::Reauth, json(), 0));
        assert!(table.retry_at(Some(t0), app(3)).is_none());
        table.await_jwt(Call::new(Purpose::Walk(Walk::new(CallId(4))), json(), 7));
        let (cancel, owners) = table.close();
        assert_eq!(cancel, [RequestId(2), RequestId(9)]);
        assert_eq!(
            owners,
            [CallId(1), CallId(3), CallId(4)],
            "/auth is nobody's"
        );
        assert_eq!((table.len(), table.next_deadline()), (0, None));
    }
}
