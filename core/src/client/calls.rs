//! HTTP calls: building requests with the JWT, retries with backoff for reads, the one
//! transparent re-authentication, and what every response does to the store.

use super::*;

impl Client {
    pub(super) fn start(&mut self, purpose: Purpose, req: Req, safe: bool) {
        let retries = if safe { self.cfg.retry.retries } else { 0 };
        self.start_with_retries(purpose, req, retries);
    }

    pub(super) fn start_with_retries(&mut self, purpose: Purpose, req: Req, retries: u32) {
        if matches!(purpose, Purpose::Load(..)) {
            self.sync.begin_load();
        }
        let call = Call {
            purpose,
            req,
            retries_left: retries,
            attempt: 0,
            reauthed: false,
        };
        self.send(call);
    }

    pub(super) fn needs_jwt(call: &Call) -> bool {
        match &call.req {
            Req::Media { .. } => false,
            _ => !matches!(
                call.purpose,
                Purpose::Reauth | Purpose::Load(_, Load::Connect)
            ),
        }
    }

    pub(super) fn send(&mut self, call: Call) {
        if self.closed {
            return;
        }
        if Self::needs_jwt(&call) && self.jwt.is_none() && self.api_key.is_some() {
            self.auth_wait.push(call);
            self.start_reauth(true);
            return;
        }
        let request = match self.http_request(&call) {
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
        crate::log!(
            debug,
            "{} {}",
            request.request.method(),
            crate::io::redact_uri(request.request.uri())
        );
        self.calls.insert(id, call);
        self.out.push_back(Output::Http { id, request });
    }

    /// The HTTP request of a call: its method, headers (the JWT where the call needs one),
    /// body, where the answer goes and how long it may take.
    fn http_request(&self, call: &Call) -> Result<HttpRequest, http::Error> {
        let memory = BodyTarget::Memory {
            limit: self.cfg.max_response_bytes,
        };
        let (method, url, content_type, body, target, timeout) = match &call.req {
            Req::Json { url, body } => (
                http::Method::POST,
                url,
                Some("application/json"),
                body.clone(),
                memory,
                self.cfg.http_timeout,
            ),
            Req::Upload {
                url,
                content_type,
                body,
            } => (
                http::Method::POST,
                url,
                Some(content_type.as_str()),
                body.clone(),
                memory,
                self.cfg.http_timeout,
            ),
            Req::Dam { url } => (
                http::Method::GET,
                url,
                None,
                Vec::new(),
                memory,
                self.cfg.http_timeout,
            ),
            Req::Media { url, path } => (
                http::Method::GET,
                url,
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
        let jwt = self.jwt.as_ref().filter(|_| Self::needs_jwt(call));
        if let Some(mut auth) =
            jwt.and_then(|j| HeaderValue::from_str(&format!("Bearer {}", j.expose())).ok())
        {
            auth.set_sensitive(true);
            builder = builder.header(AUTHORIZATION, auth);
        }
        Ok(HttpRequest {
            request: builder.body(Body(body))?,
            timeout,
            target,
        })
    }

    pub(super) fn schedule_retry(&mut self, mut call: Call) {
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

    /// Renews the JWT with the kept key, unless that is under way. For calls waiting on it,
    /// `/auth` gets the read retries; for the socket alone none, as the socket's own backoff
    /// spaces its attempts.
    pub(super) fn start_reauth(&mut self, for_calls: bool) {
        if self.reauth_running() {
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
        crate::log!(info, "re-authenticating with the kept API key");
        let retries = if for_calls { self.cfg.retry.retries } else { 0 };
        self.start_with_retries(Purpose::Reauth, json_req(url, &body), retries);
    }

    pub(super) fn on_http(
        &mut self,
        id: RequestId,
        response: Result<http::Response<Body>, TransportError>,
    ) {
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                // A refused certificate or an oversized body will not heal by trying again.
                let transient = !matches!(
                    e.kind,
                    TransportErrorKind::Tls
                        | TransportErrorKind::TooLarge
                        | TransportErrorKind::File
                );
                if transient && call.retries_left > 0 {
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
            self.start_reauth(true);
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

    pub(super) fn set_jwt(&mut self, token: String) {
        let changed = self.jwt.as_ref().is_none_or(|j| j.expose() != token);
        if changed {
            let first = self.jwt.is_none();
            self.jwt = Some(Secret::new(token));
            if !first {
                self.event(Event::TokenRefreshed);
            }
        }
    }

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
                if self.reload.is_some() && matches!(t, DataType::Records | DataType::Assets) {
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
                self.reload = None;
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
                if let Some(reload) = self.reload.as_mut() {
                    reload.started = true;
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
                if let Some(reload) = self.reload.as_mut() {
                    reload.expect = held.into_iter().collect();
                    reload.since = since;
                }
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

    pub(super) fn on_success(&mut self, call: Call, resp: api::Response) {
        let load = match call.purpose {
            Purpose::Load(id, _) => Some(self.load_is_newest(id, &resp.result)),
            _ => None,
        };
        // A load older than the store says nothing about the version now.
        if load.is_none_or(|(_, newest)| newest) {
            self.note_version(&resp.result);
        }
        let result = Value::Object(resp.result.clone());
        match call.purpose {
            Purpose::App(id) => {
                self.merge(resp.data, None);
                self.finish(id, Ok(result));
            }
            Purpose::Load(id, kind) => self.on_load(id, kind, resp.data, load, result),
            Purpose::Reauth => self.on_reauth(resp.data),
            Purpose::Fetch(batch) => {
                self.fetch_failures = 0;
                let stored = self.merge(resp.data, Some(batch.sent_seq));
                self.after_fetch(batch, stored);
            }
            Purpose::SyncPage(id) => self.on_sync_page(id, resp),
            Purpose::Dam(download) => self.on_dam(download, &resp.result),
            Purpose::Walk(walk) => {
                self.merge(resp.data, None);
                self.walk_on(walk, &resp.result);
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
            self.fetch_failures = 0;
        }
        if matches!(kind, Load::Connect) {
            if !self.cfg.keep_api_key {
                self.api_key = None;
            }
            let idle = self.session.state() == SessionState::Idle;
            if self.cfg.live_sync && idle && self.stopped.is_none() {
                // The first connection proper starts: the failures of `/auth` before
                // it are history.
                self.streak = Streak::default();
                if let Err(e) = self.session.connect(self.now) {
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
            for waiting in std::mem::take(&mut self.auth_wait) {
                self.fail(waiting, error.clone());
            }
        }
        for call in std::mem::take(&mut self.auth_wait) {
            self.send(call);
        }
        // The socket goes on even without a token: the server refuses it, and that
        // refusal is one more failed attempt of the backoff.
        if self.socket_awaits_jwt {
            self.authenticate_socket();
        }
    }

    /// A `/sync/get` page: its items applied, and the next page asked for if there is more.
    fn on_sync_page(&mut self, id: Option<CallId>, resp: api::Response) {
        let more = resp.result.contains_key("warning");
        let items = resp
            .sync
            .as_deref()
            .and_then(|raw| live::items_of(raw.get()))
            .unwrap_or_default();
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

    /// With [`FirstConnect::KeepTrying`], a `connect` whose `/auth` failed in a way that may
    /// heal is sent again after the next backoff step; the call waits. Gives the call back
    /// when it is to fail instead.
    fn retry_connect(&mut self, mut call: Call, error: &CallError) -> Option<Call> {
        let keep_trying = self.cfg.first_connect == FirstConnect::KeepTrying
            && matches!(call.purpose, Purpose::Load(_, Load::Connect))
            && health::key_rejected(error).is_none()
            && self.stopped.is_none();
        if !keep_trying {
            return Some(call);
        }
        let Some(delay) = self.session.backoff_step() else {
            return Some(call);
        };
        let attempt = self.session.attempts();
        crate::log!(info, "connect failed ({error}); trying again in {delay:?}");
        let cause = Cause::Auth(error.clone());
        self.streak.fail(self.now, cause.clone());
        self.event(Event::Reconnecting {
            attempt,
            delay,
            cause,
        });
        call.retries_left = FIRST_CONNECT_RETRIES;
        call.attempt = 0;
        self.next_seq = self.next_seq.saturating_add(1);
        match after(self.now, delay) {
            Some(at) => {
                self.retry_at.insert((at, self.next_seq), call);
            }
            None => self.send(call),
        }
        None
    }

    pub(super) fn fail(&mut self, call: Call, error: CallError) {
        let Some(call) = self.retry_connect(call, &error) else {
            return;
        };
        match call.purpose {
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
            Purpose::Dam(d) => self.finish(d.call, Err(error)),
            Purpose::Walk(w) => self.finish(w.call, Err(error)),
            Purpose::Reauth => {
                crate::log!(warn, "re-authentication failed: {error}");
                for waiting in std::mem::take(&mut self.auth_wait) {
                    self.fail(waiting, error.clone());
                }
                if let Some(e) = health::key_rejected(&error) {
                    self.stop(StopReason::KeyRejected(e.clone()));
                } else if std::mem::take(&mut self.socket_awaits_jwt) {
                    // The attempt waiting for the JWT failed; the backoff spaces the next.
                    self.fail_attempt(Cause::Auth(error));
                }
                self.drain_session();
            }
            Purpose::Fetch(batch) => {
                // A refusal will be refused again; an overloaded or failing server may heal.
                if live::may_heal(&error) {
                    crate::log!(
                        warn,
                        "sync fetch of {} failed ({error}); trying again later",
                        batch.data_type
                    );
                    self.sync.requeue(batch);
                    let delay = self.fetch_retry_delay();
                    self.fetch_resume_at = after(self.now, delay);
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
