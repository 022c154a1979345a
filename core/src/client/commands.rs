//! The commands' work: each builds its requests (or file checks) and records what to do
//! with the answers.

use super::*;

impl Client {
    pub(super) fn do_connect(
        &mut self,
        now: Instant,
        api_key: Secret,
    ) -> Result<CallId, UsageError> {
        self.begin(now)?;
        if !matches!(self.session.state(), SessionState::Idle) {
            return Err(UsageError::AlreadyConnected);
        }
        let url = self.cfg.urls.api("/auth")?;
        let body = json!({
            "api_key": api_key.expose(),
            "omit_extended_definitions": self.cfg.omit_extended_definitions,
        });
        if self.cfg.keep_api_key {
            self.api_key = Some(api_key);
        }
        // A new start: whatever stopped live sync before is the past.
        self.stopped = None;
        self.streak = Streak::default();
        self.started = self.cfg.live_sync;
        self.session.mark_healthy();
        let id = self.call_id();
        self.start_with_retries(
            Purpose::Load(id, Load::Connect),
            json_req(url, &body),
            FIRST_CONNECT_RETRIES,
        );
        Ok(id)
    }

    pub(super) fn do_init(&mut self, now: Instant) -> Result<CallId, UsageError> {
        self.begin(now)?;
        let url = self.cfg.urls.api("/init")?;
        let body = json!({"omit_extended_definitions": self.cfg.omit_extended_definitions});
        let id = self.call_id();
        self.start(Purpose::Load(id, Load::Init), json_req(url, &body), true);
        Ok(id)
    }

    pub(super) fn do_call(
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

    pub(super) fn do_upload(
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

    pub(super) fn do_publish(&mut self, now: Instant, asset: &str) -> Result<CallId, UsageError> {
        self.begin(now)?;
        let url = self.dam_url(asset, None)?;
        let id = self.call_id();
        self.start(Purpose::App(id), Req::Dam { url }, true);
        Ok(id)
    }

    pub(super) fn do_transform(
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

    pub(super) fn do_download(
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

    pub(super) fn do_load_all_records(&mut self, now: Instant) -> Result<CallId, UsageError> {
        self.begin(now)?;
        let id = self.call_id();
        let url = self.cfg.urls.api("/records/root")?;
        let walk = Walk {
            call: id,
            queue: VecDeque::new(),
            visited: BTreeSet::new(),
            repeats: 0,
            parent: None,
            top: 0,
            loaded: 0,
        };
        self.start(Purpose::Walk(walk), json_req(url, &json!({})), true);
        Ok(id)
    }

    pub(super) fn walk_on(&mut self, mut walk: Walk, result: &Map<String, Value>) {
        match walk.parent.clone() {
            None => {
                if let Some(root) = result.get("root").and_then(Value::as_str) {
                    walk.loaded = walk.loaded.saturating_add(1);
                    walk.visited.insert(root.to_string());
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
                for child in children {
                    if !walk.visited.insert(child.clone()) {
                        crate::log!(
                            warn,
                            "record {child} reached twice in the tree; not walked again"
                        );
                        walk.repeats = walk.repeats.saturating_add(1);
                        continue;
                    }
                    walk.loaded = walk.loaded.saturating_add(1);
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
                None => {
                    let result = json!({ "records": walk.loaded, "repeats": walk.repeats });
                    return self.finish(walk.call, Ok(result));
                }
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

    pub(super) fn do_sync_now(&mut self, now: Instant) -> Result<CallId, UsageError> {
        self.begin(now)?;
        let id = self.call_id();
        self.sync_pages.push(id);
        self.pump_sync_pages();
        Ok(id)
    }

    pub(super) fn do_sync_cursors(&mut self, now: Instant) -> Result<CallId, UsageError> {
        self.begin(now)?;
        let id = self.call_id();
        let url = self.cfg.urls.sync("/cursors");
        self.start(Purpose::App(id), json_req(url, &json!({})), true);
        Ok(id)
    }

    pub(super) fn do_track_job(
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

    pub(super) fn do_close(&mut self, now: Instant) {
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
            .chain(self.sync_pages_done.iter().copied())
            .collect();
        for id in std::mem::take(&mut self.calls).into_keys() {
            self.out.push_back(Output::CancelHttp { id });
        }
        self.retry_at.clear();
        self.auth_wait.clear();
        self.files.clear();
        self.jobs.clear();
        self.sync_pages.clear();
        self.sync_pages_done.clear();
        let unique: BTreeSet<CallId> = running.into_iter().collect();
        for id in unique {
            self.finish(id, Err(CallError::Closed));
        }
        self.jwt = None;
        self.api_key = None;
        self.closed = true;
        self.event(Event::Stopped {
            reason: StopReason::Closed,
        });
    }

    pub(super) fn dam_url(
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
}
