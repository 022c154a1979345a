//! What a call's answer does, part of the client's orchestration: its data merged into the
//! store, a load landing, a re-authentication's JWT, a sync page's items; and what a failure
//! does once the call's retries are spent.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::api::{self, ApiError, CallError};
use crate::session::SessionState;
use crate::store::{DataType, Object};
use crate::sync::Family;
use crate::timer::after;

use super::calls::{Call, Load, Purpose};
use super::health::{self, Cause};
use super::syncing::{items_of, may_heal};
use super::{CallId, Client, Event, FirstConnect, StopReason, FIRST_CONNECT_RETRIES};

impl Client {
    /// Merges a response's data. Sync fetches skip objects deleted after they were requested,
    /// and everything when a load from scratch landed after they were sent.
    pub(super) fn merge(
        &mut self,
        data: Vec<(DataType, Vec<(String, Object)>)>,
        sent_seq: Option<u64>,
    ) -> BTreeSet<(DataType, String)> {
        let mut stored = BTreeSet::new();
        for (t, entries) in data {
            for (key, obj) in entries {
                if sent_seq.is_some_and(|seq| {
                    self.sync.predates_load(seq) || self.sync.deleted_since(t, &key, seq)
                }) {
                    continue;
                }
                if self.live.reloading() && matches!(t, DataType::Records | DataType::Assets) {
                    stored.insert((t, key.clone()));
                }
                self.store.insert(t, key, obj);
            }
        }
        stored
    }

    /// Puts a load's data in the store, from scratch (connect, `/init`) or as the first step of
    /// the reload after a restore.
    fn load_landed(
        &mut self,
        kind: &Load,
        data: Vec<(DataType, Vec<(String, Object)>)>,
        (cc, project): (i64, i64),
    ) {
        match kind {
            Load::Connect | Load::Init => {
                self.store.clear();
                self.sync.reset();
                // The reload's barrier went with the sync state.
                self.live.end_reload();
                self.merge(data, None);
                self.sync.load_cursors(cc, project);
                self.sync_progressed();
            }
            Load::Restore => {
                self.store
                    .clear_except(&[DataType::Records, DataType::Assets]);
                self.merge(data, None);
                self.sync.mark_loaded();
                // Keys dropped before now say nothing about this reload's keys.
                self.sync.take_dropped();
                if self.live.reload_landed() {
                    self.sync.load_cursors(cc, project);
                }
                let held: Vec<(DataType, String)> = [DataType::Records, DataType::Assets]
                    .into_iter()
                    .flat_map(|t| self.store.map(t).keys().map(move |k| (t, k.to_string())))
                    .collect();
                for t in [DataType::Records, DataType::Assets] {
                    self.sync.want_quietly(
                        t,
                        held.iter()
                            .filter(|(ht, _)| *ht == t)
                            .map(|(_, k)| k.clone()),
                    );
                }
                let since = self.sync.seq();
                self.live.reload_expects(held.into_iter().collect(), since);
                self.event(Event::StoreReset);
                self.finish_reload_if_done();
                self.sync_progressed();
            }
        }
    }

    pub(super) fn note_version(&mut self, result: &Map<String, Value>) {
        let Some(new) = result.get("cc.version").and_then(Value::as_str) else {
            return;
        };
        if let Some(old) = self.store.set_version(new.to_string()) {
            self.event(Event::VersionChanged {
                old,
                new: new.to_string(),
            });
        }
    }

    /// The cursors a load read the server at, and whether it is newer than the load whose
    /// data is in the store. The cursors decide, not the order the loads were sent in: a
    /// retried load reads the server later than one first sent after it.
    fn load_is_newest(&self, id: CallId, result: &Map<String, Value>) -> ((i64, i64), bool) {
        let cursor = |k: &str| result.get(k).and_then(Value::as_i64).filter(|c| *c > 0);
        let loaded = (
            cursor("cc.cursor").unwrap_or(0),
            cursor("cursor").unwrap_or(0),
        );
        let newest = self
            .last_load
            .is_none_or(|(last, at)| loaded > at || (loaded == at && id >= last));
        (loaded, newest)
    }

    /// A call succeeded: its purpose says what its answer does.
    pub(super) fn on_success(&mut self, call: Call, resp: api::Response) {
        let load = match call.purpose() {
            Purpose::Load(id, _) => Some(self.load_is_newest(*id, &resp.result)),
            _ => None,
        };
        // A load older than the store says nothing about the version now.
        if load.is_none_or(|(_, newest)| newest) {
            self.note_version(&resp.result);
        }
        let result = Value::Object(resp.result.clone());
        match call.into_purpose() {
            Purpose::App(id) => {
                self.merge(resp.data, None);
                self.finish(id, Ok(result));
            }
            Purpose::Load(id, kind) => self.on_load(id, kind, resp.data, load, result),
            Purpose::Reauth => self.on_reauth(resp.data),
            Purpose::Fetch(batch) => {
                self.live.fetched();
                let stored = self.merge(resp.data, Some(batch.sent_seq));
                self.after_fetch(batch, stored);
            }
            Purpose::SyncPage(id) => self.on_sync_page(id, resp),
            Purpose::Dam(download) => self.on_dam(download, &resp.result),
            Purpose::Walk(walk) => {
                self.merge(resp.data, None);
                self.walk_on(walk, Some(&resp.result));
            }
            Purpose::Media(id, _) => self.finish(id, Ok(result)),
        }
    }

    /// A load landed: it becomes the store if it is the newest, the client's first connection
    /// starts its socket, and the items that arrived meanwhile go on top.
    fn on_load(
        &mut self,
        id: CallId,
        kind: Load,
        data: Vec<(DataType, Vec<(String, Object)>)>,
        load: Option<((i64, i64), bool)>,
        result: Value,
    ) {
        let (loaded, newest) = load.unwrap_or_default();
        let waiting = self.sync.end_load();
        // A load that read the server before the one that landed last is no newer
        // than it: that load and the items handled since are the store.
        if newest {
            self.last_load = Some((id, loaded));
            self.load_landed(&kind, data, loaded);
        } else {
            crate::log!(
                debug,
                "a load older than the store landed; its data is dropped"
            );
        }
        // A reload's /init is the client's own call: nobody waits on its id.
        if !matches!(kind, Load::Restore) {
            self.finish(id, Ok(result));
        }
        if matches!(kind, Load::Restore) {
            self.live.fetched();
        }
        if matches!(kind, Load::Connect) {
            if !self.cfg.keep_api_key {
                self.api_key = None;
            }
            let idle = self.session.state() == SessionState::Idle;
            if self.cfg.live_sync && idle && !self.live.is_stopped() {
                // The first connection proper starts: the failures of `/auth` before
                // it are history.
                self.live.forget_failures();
                if let Err(e) = self.session.with_ids(&mut self.ids).connect(self.now) {
                    crate::log!(debug, "the socket is already connecting: {e}");
                }
                self.drain_session();
            }
        }
        // The items that arrived while loads were out go on top of the newest one.
        self.apply_sync(waiting);
    }

    /// `/auth` answered: the calls that waited for a JWT go, and so does the socket.
    fn on_reauth(&mut self, data: Vec<(DataType, Vec<(String, Object)>)>) {
        // Fresh schema is welcome; the cursors stay where they are, or the items
        // between would be skipped.
        self.merge(data, None);
        if self.jwt.is_none() {
            // Without a token the waiting calls would only ask for another /auth.
            let error = CallError::Api(ApiError {
                status: 200,
                code: 401,
                message: "re-authentication returned no JWT".into(),
                info: Value::Null,
            });
            self.event(Event::SyncError {
                message: "re-authentication returned no JWT".into(),
            });
            for waiting in self.calls.take_awaiting_jwt() {
                self.fail(waiting, error.clone());
            }
        }
        for call in self.calls.take_awaiting_jwt() {
            self.send(call);
        }
        // The socket goes on even without a token: the server refuses it, and that
        // refusal is one more failed attempt of the backoff.
        if self.live.socket_awaits_jwt() {
            self.authenticate_socket();
        }
    }

    /// A `/sync/get` page: its items applied, and the next page asked for if there is more.
    fn on_sync_page(&mut self, id: Option<CallId>, resp: api::Response) {
        let items = resp
            .sync
            .as_deref()
            .and_then(|raw| items_of(raw.get()))
            .unwrap_or_default();
        // A page that says there is more but brings nothing past the cursors would be asked
        // for again from the same cursors, for ever: it is the last.
        let (cc, project) = (self.store.cc_cursor(), self.store.cursor());
        let fresh = items.iter().any(|i| {
            i.cursor
                > match i.family {
                    Family::Cc => cc,
                    Family::Project => project,
                }
        });
        let more = resp.result.contains_key("warning") && fresh;
        if resp.result.contains_key("warning") && !fresh {
            crate::log!(
                warn,
                "/sync/get said there is more but sent nothing new; not asking again"
            );
        }
        self.merge(resp.data, None);
        self.apply_sync(items);
        if let Some(id) = id {
            // The next page starts from the applied cursors, once this page's fetches have
            // landed.
            self.live.page_answered(id, more);
        }
        self.pump_sync_pages();
    }

    /// With [`FirstConnect::KeepTrying`], a `connect` whose `/auth` failed in a way that may
    /// heal is sent again after the next backoff step; the call waits. Gives the call back
    /// when it is to fail instead.
    fn retry_connect(&mut self, mut call: Call, error: &CallError) -> Option<Call> {
        let keep_trying = self.cfg.first_connect == FirstConnect::KeepTrying
            && matches!(call.purpose(), Purpose::Load(_, Load::Connect))
            && health::key_rejected(error).is_none()
            && !self.live.is_stopped();
        if !keep_trying {
            return Some(call);
        }
        let Some(delay) = self.session.backoff_step() else {
            return Some(call);
        };
        let attempt = self.session.attempts();
        crate::log!(info, "connect failed ({error}); trying again in {delay:?}");
        let cause = Cause::Auth(error.clone());
        self.live.fail(self.now, cause.clone());
        self.event(Event::Reconnecting {
            attempt,
            delay,
            cause,
        });
        call.restart_retries(FIRST_CONNECT_RETRIES);
        if let Some(call) = self.calls.retry_at(after(self.now, delay), call) {
            self.send(call);
        }
        None
    }

    /// A call failed for good (its retries spent, or a failure no retry heals): its purpose
    /// says what that does.
    pub(super) fn fail(&mut self, call: Call, error: CallError) {
        let Some(call) = self.retry_connect(call, &error) else {
            return;
        };
        match call.into_purpose() {
            Purpose::Load(id, kind) => {
                // The store keeps what it had; the items held back for the load go on it.
                let waiting = self.sync.end_load();
                match kind {
                    // A reload's /init is the client's own call: nobody waits on its id.
                    Load::Restore => self.reload_failed(&error),
                    Load::Connect => {
                        let reason = match health::key_rejected(&error) {
                            Some(e) => StopReason::KeyRejected(e.clone()),
                            None => StopReason::ConnectFailed(error.clone()),
                        };
                        self.stop(reason);
                        self.drain_session();
                        self.finish(id, Err(error));
                    }
                    Load::Init => self.finish(id, Err(error)),
                }
                self.apply_sync(waiting);
            }
            Purpose::App(id) | Purpose::Media(id, _) => self.finish(id, Err(error)),
            Purpose::Dam(d) => self.finish(d.command, Err(error)),
            Purpose::Walk(w) => self.finish(w.command, Err(error)),
            Purpose::Reauth => {
                crate::log!(warn, "re-authentication failed: {error}");
                for waiting in self.calls.take_awaiting_jwt() {
                    self.fail(waiting, error.clone());
                }
                if let Some(e) = health::key_rejected(&error) {
                    self.stop(StopReason::KeyRejected(e.clone()));
                } else if self.live.take_socket_awaits_jwt() {
                    // The attempt waiting for the JWT failed; the backoff spaces the next.
                    self.fail_attempt(Cause::Auth(error));
                }
                self.drain_session();
            }
            Purpose::Fetch(batch) => {
                // A refusal will be refused again; an overloaded or failing server may heal.
                if may_heal(&error) {
                    crate::log!(
                        warn,
                        "sync fetch of {} failed ({error}); trying again later",
                        batch.data_type
                    );
                    self.sync.requeue(batch);
                    self.live.pause_fetches(self.now);
                    // Keys deleted meanwhile were dropped, and their items settled with them.
                    self.sync_progressed();
                } else {
                    crate::log!(
                        warn,
                        "sync fetch of {} refused ({error}); skipped",
                        batch.data_type
                    );
                    self.sync.abandon(batch);
                    self.sync_progressed();
                }
            }
            Purpose::SyncPage(id) => {
                if let Some(id) = id {
                    self.finish(id, Err(error));
                }
                self.pump_sync_pages();
            }
        }
    }
}
