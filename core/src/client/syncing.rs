//! Keeping the store in step with the server, part of the client's orchestration: sync items
//! applied, their fetches sent in batches and landed, the reload after a restore, `sync_now`'s
//! pages, and the moment everything reported is in ([`Event::CaughtUp`]).

use std::collections::BTreeSet;

use serde_json::json;

use crate::api::CallError;
use crate::error::TransportErrorKind;
use crate::store::DataType;
use crate::sync::{self, Batch, Effect, JobInfo, SyncItem, Waiter};

use super::calls::{Load, Purpose, Request};
use super::health::Cause;
use super::{CallId, Client, Event};

impl Client {
    /// The store's cursors are the applied ones.
    pub(super) fn refresh_cursors(&mut self) {
        let (cc, project) = self.sync.applied();
        self.store.set_cursors(cc, project);
    }

    /// Applies sync items, or drops them (and reconnects, when live sync runs) when a load
    /// holds too many back.
    pub(super) fn apply_sync(&mut self, items: Vec<SyncItem>) {
        let limit = self.cfg.max_held_sync_items;
        if self.sync.loading() && self.sync.held_back_len().saturating_add(items.len()) > limit {
            // A load that never lands must not hold items without end: drop them and start
            // again from the applied cursors, from which the server sends them once more. With
            // live sync off or stopped there is no connection to restart: the next page or poll
            // asks from the applied cursors.
            crate::log!(warn, "too many sync items while a load is out; dropped");
            self.sync.drop_held_back();
            if self.live.is_running() {
                self.fail_attempt(Cause::Overflow { limit });
                self.drain_session();
            }
            return;
        }
        let mut effects = Vec::new();
        let project = self.cfg.urls.project().to_string();
        self.sync
            .apply(items, &mut self.store, &project, &mut effects);
        self.emit_effects(effects);
        self.finish_reload_if_done();
        self.pump_fetches();
        // Deletes only matter against fetches in flight; without this a burst of deletes and
        // no fetch would grow the map for ever.
        self.sync.prune_deletes();
        self.refresh_cursors();
        self.check_caught_up();
    }

    /// Reports what reached the store, and acts on jobs and restores.
    pub(super) fn emit_effects(&mut self, effects: Vec<Effect>) {
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

    /// A job progressed: the command following it finishes if that finished it.
    fn on_job(&mut self, token: String, job: JobInfo) {
        for (call, result) in self.jobs.progress(&token, &job) {
            self.finish(call, result);
        }
        self.event(Event::Job { token, job });
    }

    /// A restore finished: the store is loaded again, the cursor held at `barrier` meanwhile.
    fn start_reload(&mut self, barrier: Waiter) {
        if let Some(old) = self.live.start_reload(barrier) {
            self.sync.release(&old);
        }
        crate::log!(info, "the project was restored: reloading the store");
        self.send_reload();
    }

    /// Sends the reload's `/init`, the first time or again after a failure that may heal.
    pub(super) fn send_reload(&mut self) {
        self.live.reload_sent();
        // A reload's /init is the client's own call: nobody waits on its id.
        if let Err(e) = self.start_init(Load::Restore) {
            crate::log!(debug, "the reload's /init cannot be sent: {e}");
        }
    }

    /// Ends the reload once every key it waits for is in, or will never be: deleted since, or
    /// refused.
    pub(super) fn finish_reload_if_done(&mut self) {
        self.live.finish_reload_if_done(&mut self.sync);
    }

    /// A fetch landed, `stored` naming the keys it put in the store: its items settle.
    pub(super) fn after_fetch(&mut self, batch: Batch, stored: BTreeSet<(DataType, String)>) {
        let mut effects = Vec::new();
        self.live
            .reload_fetched(&batch, &stored, &mut self.store, &mut effects);
        self.sync.complete(batch, &self.store, &mut effects);
        self.finish_reload_if_done();
        self.emit_effects(effects);
        self.sync_progressed();
    }

    /// After anything that may have settled sync items (a fetch landed or was given up, a
    /// reload finished or failed): move the cursors, send what is queued, and report what is
    /// now complete, so neither `caught_up` nor a `sync_now` call waits for nothing.
    pub(super) fn sync_progressed(&mut self) {
        self.finish_reload_if_done();
        self.sync.prune_deletes();
        self.refresh_cursors();
        self.pump_fetches();
        self.check_caught_up();
        self.pump_sync_pages();
    }

    /// The `/init` of a restore failed. If the failure may heal, it is sent again on the fetch
    /// retry schedule, the cursors waiting meanwhile. Otherwise the store keeps what it had,
    /// the application is told, and sync goes on rather than waiting for ever on the restore.
    pub(super) fn reload_failed(&mut self, error: &CallError) {
        if self.live.reloading() && may_heal(error) {
            crate::log!(
                warn,
                "the reload after a restore failed ({error}); trying again later"
            );
            self.live.retry_reload(self.now);
            return;
        }
        if let Some(barrier) = self.live.end_reload() {
            crate::log!(warn, "the reload after a restore failed: {error}");
            self.event(Event::SyncError {
                message: format!("the reload after a restore failed: {error}"),
            });
            self.sync.release(&barrier);
            self.sync_progressed();
        }
    }

    /// Sends the fetches queued, up to the limit in flight, unless fetches are paused.
    pub(super) fn pump_fetches(&mut self) {
        if self.live.fetches_paused() {
            return;
        }
        let project = self.cfg.urls.project().to_string();
        while self.calls.fetches() < self.cfg.max_concurrent_fetches.max(1) {
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
            self.start(Purpose::Fetch(batch), Request::json(url, &body), true);
        }
    }

    /// Reports [`Event::CaughtUp`] once catching up is over.
    pub(super) fn check_caught_up(&mut self) {
        if self.live.finish_catching_up(self.sync.is_settled()) {
            let (cc_cursor, cursor) = self.sync.applied();
            self.event(Event::CaughtUp { cc_cursor, cursor });
        }
    }

    /// Sends the next `/sync/get` page, and finishes `sync_now` calls, only once every item
    /// of the pages before is in the store: the cursors the next page starts from must not
    /// pass an unapplied item.
    pub(super) fn pump_sync_pages(&mut self) {
        if !self.sync.is_settled() {
            return;
        }
        let (cc, cursor) = self.sync.applied();
        for id in self.live.take_pages_done() {
            self.finish(id, Ok(json!({"cc.cursor": cc, "cursor": cursor})));
        }
        if self.calls.sync_page_pending() {
            return;
        }
        if let Some(id) = self.live.next_page() {
            self.send_sync_page(Some(id));
        }
    }

    /// Asks `/sync/get` for the changes after the applied cursors, for `sync_now` call `id`
    /// or the job poll.
    pub(super) fn send_sync_page(&mut self, id: Option<CallId>) {
        let (cc, cursor) = self.sync.applied();
        let body = json!({"cc_cursor": cc, "project": self.cfg.urls.project(), "cursor": cursor});
        let url = self.cfg.urls.sync("/get");
        self.start(Purpose::SyncPage(id), Request::json(url, &body), true);
    }
}

/// A JSON list of sync items, read straight into items; entries that are not sync items are
/// skipped with one log line for the list. `None` when it is no list (`null`, say).
pub(super) fn items_of(text: &str) -> Option<Vec<SyncItem>> {
    let (items, malformed) = crate::sync::parse_items(text)?;
    if malformed > 0 {
        crate::log!(
            warn,
            "{malformed} malformed sync items skipped of a list of {}",
            items.len().saturating_add(malformed)
        );
    }
    Some(items)
}

/// Whether a failed sync fetch or reload may succeed later: the server was overloaded, down,
/// or the JWT expired, rather than refusing the request itself. A 501 says the server has no
/// such endpoint, which no wait changes.
pub(super) fn may_heal(error: &CallError) -> bool {
    match error {
        CallError::Api(e) => {
            e.code == 401 || e.status == 429 || ((500..600).contains(&e.status) && e.status != 501)
        }
        CallError::InvalidResponse { .. } => true,
        CallError::Transport(e) => !matches!(
            e.kind,
            TransportErrorKind::Tls | TransportErrorKind::TooLarge | TransportErrorKind::File
        ),
        _ => false,
    }
}
