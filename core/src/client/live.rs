//! Live sync: the Sync API socket's events, applying sync items, pumping batched fetches,
//! the reload after a restore, and jobs.

use super::*;

impl Client {
    pub(super) fn refresh_cursors(&mut self) {
        let (cc, project) = self.sync.applied();
        self.store.set_cursors(cc, project);
    }

    pub(super) fn apply_sync(&mut self, items: Vec<SyncItem>) {
        let limit = self.cfg.max_held_sync_items;
        if self.sync.loading() && self.sync.held_back_len().saturating_add(items.len()) > limit {
            // A load that never lands must not hold items without end: drop them and start
            // again from the applied cursors, from which the server sends them once more.
            crate::log!(
                warn,
                "too many sync items while a load is out; reconnecting"
            );
            self.sync.drop_held_back();
            self.fail_attempt(Cause::Overflow { limit });
            self.drain_session();
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

    pub(super) fn on_job(&mut self, token: String, job: JobInfo) {
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

    pub(super) fn start_reload(&mut self, barrier: Waiter) {
        if let Some(old) = self.reload.take() {
            self.sync.release(&old.barrier);
        }
        crate::log!(info, "the project was restored: reloading the store");
        self.reload = Some(Reload {
            barrier,
            expect: BTreeSet::new(),
            recheck: BTreeSet::new(),
            started: false,
            since: 0,
            retry_at: None,
        });
        self.send_reload();
    }

    /// Sends the reload's `/init`, the first time or again after a failure that may heal.
    pub(super) fn send_reload(&mut self) {
        if let Some(r) = self.reload.as_mut() {
            r.retry_at = None;
        }
        let Ok(url) = self.cfg.urls.api("/init") else {
            return;
        };
        let body = json!({"omit_extended_definitions": self.cfg.omit_extended_definitions});
        let id = self.call_id();
        self.start(Purpose::Load(id, Load::Restore), json_req(url, &body), true);
    }

    /// The next wait of the fetch retry schedule: `fetch_retry_delay`, doubled for each
    /// failure in a row, capped at `fetch_retry_max`.
    pub(super) fn fetch_retry_delay(&mut self) -> Duration {
        let factor = 1u32
            .checked_shl(self.fetch_failures.min(16))
            .unwrap_or(u32::MAX);
        self.fetch_failures = self.fetch_failures.saturating_add(1);
        self.cfg
            .fetch_retry_delay
            .saturating_mul(factor)
            .min(self.cfg.fetch_retry_max.max(self.cfg.fetch_retry_delay))
    }

    /// Ends the reload once every key it waits for is in, or will never be: deleted since, or
    /// refused.
    pub(super) fn finish_reload_if_done(&mut self) {
        let dropped = self.sync.take_dropped();
        if let Some(r) = self.reload.as_mut() {
            // A key dropped from one fetch may still be queued, or out, for another: look
            // again each time until nothing wants it.
            r.recheck
                .extend(dropped.into_iter().filter(|k| r.expect.contains(k)));
            let sync = &self.sync;
            let gone: Vec<_> = r
                .recheck
                .iter()
                .filter(|(t, k)| !sync.wants(*t, k))
                .cloned()
                .collect();
            for key in gone {
                r.recheck.remove(&key);
                r.expect.remove(&key);
            }
        }
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

    pub(super) fn after_fetch(&mut self, batch: Batch, stored: BTreeSet<(DataType, String)>) {
        let mut effects = Vec::new();
        if let Some(reload) = self.reload.as_mut().filter(|r| batch.sent_seq > r.since) {
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
        if self.reload.is_some() && may_heal(error) {
            crate::log!(
                warn,
                "the reload after a restore failed ({error}); trying again later"
            );
            let delay = self.fetch_retry_delay();
            if let Some(r) = self.reload.as_mut() {
                r.retry_at = after(self.now, delay);
            }
            return;
        }
        if let Some(r) = self.reload.take() {
            crate::log!(warn, "the reload after a restore failed: {error}");
            self.event(Event::SyncError {
                message: format!("the reload after a restore failed: {error}"),
            });
            self.sync.release(&r.barrier);
            self.sync_progressed();
        }
    }

    pub(super) fn pump_fetches(&mut self) {
        if self.fetch_resume_at.is_some() {
            return;
        }
        let project = self.cfg.urls.project().to_string();
        while self.fetches_in_flight() < self.cfg.max_concurrent_fetches.max(1) {
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
            self.start(Purpose::Fetch(batch), json_req(url, &body), true);
        }
    }

    pub(super) fn check_caught_up(&mut self) {
        if self.catching_up
            && self.initsync.is_none()
            && self.sync.is_settled()
            && self.reload.is_none()
        {
            self.catching_up = false;
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
        for id in std::mem::take(&mut self.sync_pages_done) {
            self.finish(id, Ok(json!({"cc.cursor": cc, "cursor": cursor})));
        }
        if self.sync_page_in_flight() {
            return;
        }
        if self.sync_pages.is_empty() {
            return;
        }
        let id = self.sync_pages.remove(0);
        self.send_sync_page(Some(id));
    }

    pub(super) fn send_sync_page(&mut self, id: Option<CallId>) {
        let (cc, cursor) = self.sync.applied();
        let body = json!({"cc_cursor": cc, "project": self.cfg.urls.project(), "cursor": cursor});
        let url = self.cfg.urls.sync("/get");
        self.start(Purpose::SyncPage(id), json_req(url, &body), true);
    }

    pub(super) fn schedule_job_poll(&mut self) {
        if !self.jobs.is_empty() && self.job_poll_at.is_none() {
            self.job_poll_at = after(self.now, self.cfg.job_poll_interval);
        }
    }

    pub(super) fn authenticate_socket(&mut self) {
        self.socket_awaits_jwt = false;
        let auth = self.jwt.as_ref().map(|j| json!({"JWT": j.expose()}));
        // The attempt that asked may have ended while `/auth` ran; the next one asks again.
        if let Err(e) = self.session.authenticate(self.now, "/", auth) {
            crate::log!(
                debug,
                "the socket's auth payload was not needed any more: {e}"
            );
        }
        self.drain_session();
    }

    pub(super) fn drain_session(&mut self) {
        while let Some(output) = self.session.poll_output() {
            match output.split_event() {
                Ok(transport) => self.out.push_back(transport),
                Err(e) => self.on_session_event(e),
            }
        }
    }

    pub(super) fn on_session_event(&mut self, e: SessionEvent) {
        match e {
            SessionEvent::AuthRequested { .. } => {
                if self.jwt.is_none() && self.api_key.is_some() {
                    self.socket_awaits_jwt = true;
                    self.start_reauth(false);
                } else {
                    self.authenticate_socket();
                }
            }
            SessionEvent::Connected { .. } => {
                self.streak.reauthed = false;
                self.event(Event::Connected);
                self.send_initsync();
            }
            SessionEvent::Message {
                event, raw, ack, ..
            } => {
                if let Some(id) = ack {
                    if let Err(e) = self.session.ack(self.now, "/", id, Vec::new(), Vec::new()) {
                        crate::log!(debug, "the server's ack request {id} not answered: {e}");
                    }
                }
                // The arguments come raw (`raw_args`): `[name, first, …]`. Binary events,
                // which come parsed, are nothing the Sync API sends.
                let text = raw.as_ref().map_or("null", |r| r.get());
                crate::json::with_array_items(text, |items| {
                    self.on_message(&event, items.get(1).copied())
                })
                .unwrap_or_else(|| crate::log!(debug, "sync socket event {event:?} unread"));
            }
            SessionEvent::AckReceived { id, raw, .. } => {
                if self.initsync == Some(id) {
                    self.initsync = None;
                    let text = raw.as_ref().map_or("null", |r| r.get());
                    crate::json::with_array_items(text, |items| {
                        self.on_initsync_answer(items.first().copied())
                    })
                    .unwrap_or_else(|| self.on_initsync_answer(None));
                }
            }
            SessionEvent::AckFailed { id, error } => {
                if self.initsync == Some(id) {
                    self.initsync = None;
                    self.held_sync.clear();
                    if error == AckError::TimedOut {
                        self.fail_attempt(Cause::Initsync(InitsyncFailure::TimedOut));
                    }
                }
            }
            SessionEvent::ConnectError { message, data, .. } => {
                self.on_refused(message, data.as_ref())
            }
            SessionEvent::Disconnected { reason } => self.on_disconnected(reason),
            SessionEvent::Reconnecting { attempt, delay } => {
                if self.stopped.is_none() {
                    let cause = self
                        .streak
                        .cause
                        .clone()
                        .unwrap_or(Cause::Socket(DisconnectReason::TransportClose));
                    self.event(Event::Reconnecting {
                        attempt,
                        delay,
                        cause,
                    });
                }
            }
            SessionEvent::ReconnectFailed { attempts } => {
                self.stop(StopReason::ReconnectFailed { attempts })
            }
            SessionEvent::Opened { .. }
            | SessionEvent::Upgraded
            | SessionEvent::NamespaceDisconnected { .. } => {}
        }
    }

    fn on_message(&mut self, event: &str, first: Option<&RawValue>) {
        match event {
            "sync" => match first.and_then(|raw| items_of(raw.get())) {
                Some(items) => {
                    if self.initsync.is_some() {
                        self.hold_sync(items);
                    } else {
                        self.apply_sync(items);
                    }
                }
                None => crate::log!(warn, "sync event without a list ignored"),
            },
            "authorization" => match first
                .and_then(|raw| crate::json::tree_bounded(raw.get()).ok())
                .as_ref()
                .and_then(|v| v.get("JWT"))
                .and_then(Value::as_str)
            {
                Some(token) if !token.is_empty() && HeaderValue::from_str(token).is_ok() => {
                    self.set_jwt(token.to_string());
                }
                _ => crate::log!(warn, "authorization event without a usable JWT ignored"),
            },
            other => crate::log!(debug, "sync socket event {other:?} ignored"),
        }
    }

    /// Sends `initsync` with the applied cursors, once per connection.
    fn send_initsync(&mut self) {
        // The CONNECT reply and a loss may come in one input: an emit now would wait in the
        // buffer and go out after the next CONNECT, beside that connection's own initsync.
        if !self.session.is_connected("/") {
            return;
        }
        let (cc, cursor) = self.sync.applied();
        let payload =
            json!({"cc.cursor": cc, "project": self.cfg.urls.project(), "cursor": cursor});
        let sent = self.session.emit(
            self.now,
            "/",
            "initsync",
            vec![payload],
            Vec::new(),
            Some(self.cfg.initsync_timeout),
        );
        match sent {
            Ok(ack) => self.initsync = ack,
            Err(UsageError::PayloadTooLarge { size, limit }) => {
                // A server that cannot take 70 bytes breaks the protocol; if it keeps doing
                // so, trying for ever only hides it.
                self.streak.payload_strikes = self.streak.payload_strikes.saturating_add(1);
                if self.streak.payload_strikes >= PAYLOAD_STRIKES {
                    self.stop(StopReason::PayloadLimit { size, limit });
                } else {
                    self.fail_attempt(Cause::Initsync(InitsyncFailure::TooLarge { size, limit }));
                }
            }
            Err(e) => self.fail_attempt(Cause::Initsync(InitsyncFailure::NotSent(e.to_string()))),
        }
    }

    fn on_initsync_answer(&mut self, answer: Option<&RawValue>) {
        match answer.and_then(|raw| items_of(raw.get())) {
            Some(mut items) => {
                // Healthy at last: the next loss backs off from the first delay again.
                self.synced = true;
                self.session.mark_healthy();
                self.streak = Streak::default();
                // The ack's items, then those that came while it was awaited, in one go: the
                // client is not caught up until both are in the store.
                self.catching_up = true;
                items.append(&mut self.held_sync);
                self.apply_sync(items);
            }
            None => {
                self.held_sync.clear();
                // The Python clients read a missing list as an auth problem.
                self.renew_jwt_once();
                self.fail_attempt(Cause::Initsync(InitsyncFailure::NoList));
            }
        }
    }

    /// A refused CONNECT. The session already scheduled the next attempt; what the client
    /// decides here is whether a new JWT is needed first, or whether to stop.
    fn on_refused(&mut self, message: String, data: Option<&Value>) {
        crate::log!(warn, "the sync server refused the connection: {message}");
        if health::names_auth(&message, data) {
            if self.api_key.is_none() {
                self.streak.fail(
                    self.now,
                    Cause::Refused {
                        message: message.clone(),
                    },
                );
                return self.stop(StopReason::JwtRejected { message });
            }
            // Renewed before the next attempt's CONNECT.
            self.jwt = None;
        } else {
            // Perhaps an auth problem in disguise: renewing once per streak costs little.
            self.renew_jwt_once();
        }
        self.streak.fail(self.now, Cause::Refused { message });
    }

    fn on_disconnected(&mut self, reason: DisconnectReason) {
        self.initsync = None;
        self.synced = false;
        self.held_sync.clear();
        self.catching_up = false;
        self.sync.on_disconnect();
        if let Some(r) = self.reload.as_mut() {
            // The restore's item will come again, but a load landing before it does would
            // carry the cursor past it while the reload is not done: keep holding it.
            r.barrier = self.sync.rehold(&r.barrier);
        }
        self.refresh_cursors();
        match &reason {
            DisconnectReason::ClientClose => {}
            // The cause was noted where the client decided (a refusal, a failed initsync).
            DisconnectReason::Refused { .. } | DisconnectReason::Restart(_) => {
                self.streak.since.get_or_insert(self.now);
            }
            other => self.streak.fail(self.now, Cause::Socket(other.clone())),
        }
        let server_said_bye = reason == DisconnectReason::ServerDisconnect;
        self.event(Event::Disconnected { reason });
        if server_said_bye {
            self.stop(StopReason::ServerDisconnect);
        }
        self.schedule_job_poll();
    }

    /// Drops the JWT so the next attempt renews it first, once per streak of refusals.
    fn renew_jwt_once(&mut self) {
        if self.api_key.is_some() && !self.streak.reauthed {
            self.streak.reauthed = true;
            self.jwt = None;
        }
    }

    /// Gives up on this connection attempt and tries again through the session's backoff.
    /// The caller drains the session.
    pub(super) fn fail_attempt(&mut self, cause: Cause) {
        crate::log!(info, "sync connection attempt failed: {cause}");
        let reason = DisconnectReason::Restart(cause.to_string());
        self.streak.fail(self.now, cause);
        self.session.restart(self.now, reason);
    }

    /// Stops live sync for one of the reasons of [`StopReason`]: the socket is closed and
    /// nothing reconnects it until the application calls `connect` again.
    pub(super) fn stop(&mut self, reason: StopReason) {
        if self.closed || self.stopped.is_some() {
            return;
        }
        crate::log!(warn, "live sync stopped: {reason}");
        self.stopped = Some(reason.clone());
        self.socket_awaits_jwt = false;
        if let Err(e) = self.session.disconnect(self.now) {
            crate::log!(debug, "the socket was already closed: {e}");
        }
        self.event(Event::Stopped { reason });
    }

    pub(super) fn hold_sync(&mut self, items: Vec<SyncItem>) {
        let limit = self.cfg.max_held_sync_items;
        if self.held_sync.len().saturating_add(items.len()) > limit {
            crate::log!(
                warn,
                "too many sync items while initsync is pending; reconnecting"
            );
            self.held_sync.clear();
            self.fail_attempt(Cause::Overflow { limit });
            return;
        }
        self.held_sync.extend(items);
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

/// Attempts in a row whose `initsync` does not fit the server's `maxPayload` before live sync
/// stops: one could be a fluke of a server starting up, three are its configuration.
const PAYLOAD_STRIKES: u32 = 3;

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
