//! The commands' work, part of the client's orchestration: each checks its arguments, builds
//! its first request (or file check), and leaves the rest to the answers.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::api::{self, CallError, Secret};
use crate::error::CommandError;
use crate::io::Output;
use crate::session::SessionState;
use crate::timer::after;

use super::calls::{Download, Load, Purpose, Request, Walk};
use super::files::FileOp;
use super::{
    is_read, CallId, CallOptions, Client, Event, StopReason, TransformOptions,
    FIRST_CONNECT_RETRIES,
};
use crate::walk::{Step, Walk as _};

impl Client {
    pub(super) fn do_connect(
        &mut self,
        now: Instant,
        api_key: Secret,
    ) -> Result<CallId, CommandError> {
        self.begin(now)?;
        if !matches!(self.session.state(), SessionState::Idle) {
            return Err(CommandError::AlreadyConnected);
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
        self.live.start(self.cfg.live_sync);
        self.session.mark_healthy();
        let id = self.command_id();
        self.start_with_retries(
            Purpose::Load(id, Load::Connect),
            Request::json(url, &body),
            FIRST_CONNECT_RETRIES,
        );
        Ok(id)
    }

    pub(super) fn do_init(&mut self, now: Instant) -> Result<CallId, CommandError> {
        self.begin(now)?;
        self.start_init(Load::Init)
    }

    /// Sends `/init`, a load of `kind`, under a new command id.
    pub(super) fn start_init(&mut self, kind: Load) -> Result<CallId, CommandError> {
        let url = self.cfg.urls.api("/init")?;
        let body = json!({"omit_extended_definitions": self.cfg.omit_extended_definitions});
        let id = self.command_id();
        self.start(Purpose::Load(id, kind), Request::json(url, &body), true);
        Ok(id)
    }

    pub(super) fn do_call(
        &mut self,
        now: Instant,
        endpoint: &str,
        body: Option<Value>,
        options: CallOptions,
    ) -> Result<CallId, CommandError> {
        self.begin(now)?;
        let body = body.unwrap_or_else(|| json!({}));
        if !body.is_object() {
            return Err(CommandError::InvalidArgument(
                "a call's body is a JSON object".into(),
            ));
        }
        let url = self.cfg.urls.api(endpoint)?;
        let id = self.command_id();
        let safe = options.safe || is_read(endpoint);
        self.start(Purpose::App(id), Request::json(url, &body), safe);
        Ok(id)
    }

    pub(super) fn do_upload(
        &mut self,
        now: Instant,
        endpoint: &str,
        fields: Vec<(String, String)>,
        path: PathBuf,
    ) -> Result<CallId, CommandError> {
        self.begin(now)?;
        if endpoint.starts_with("//") {
            return Err(CommandError::InvalidArgument(
                "uploads go to the project API".into(),
            ));
        }
        let url = self.cfg.urls.api(endpoint)?;
        let id = self.command_id();
        let stat = FileOp::UploadStat {
            command: id,
            url,
            fields,
            path: path.clone(),
        };
        self.stat_file(stat, path);
        Ok(id)
    }

    pub(super) fn do_publish(&mut self, now: Instant, asset: &str) -> Result<CallId, CommandError> {
        self.begin(now)?;
        let url = self.dam_url(asset, None)?;
        let id = self.command_id();
        self.start(Purpose::App(id), Request::Dam { url }, true);
        Ok(id)
    }

    pub(super) fn do_transform(
        &mut self,
        now: Instant,
        asset: &str,
        options: TransformOptions,
    ) -> Result<CallId, CommandError> {
        self.begin(now)?;
        let url = self.dam_url(asset, Some(options))?;
        let id = self.command_id();
        self.start(Purpose::App(id), Request::Dam { url }, true);
        Ok(id)
    }

    pub(super) fn do_download(
        &mut self,
        now: Instant,
        asset: &str,
        options: Option<TransformOptions>,
        pathname: Option<&str>,
        updated_on: Option<f64>,
    ) -> Result<CallId, CommandError> {
        self.begin(now)?;
        let folder =
            self.cfg.asset_folder.clone().ok_or_else(|| {
                CommandError::InvalidArgument("no asset folder is configured".into())
            })?;
        let dam = self.dam_url(asset, options)?;
        let asset_pathname = self
            .store
            .asset(asset)
            .and_then(|a| a.pointer("/pathname"))
            .and_then(|p| p.as_str().map(str::to_string))
            .unwrap_or_default();
        let id = self.command_id();
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
            command: id,
            relative,
            asset_pathname,
            updated_on,
        };
        match &download.relative {
            Some(rel) => {
                let path = folder.join(rel);
                let request = Request::Dam { url: dam };
                self.stat_file(FileOp::DownloadBefore(download, request), path);
            }
            None => self.start(Purpose::Dam(download), Request::Dam { url: dam }, true),
        }
        Ok(id)
    }

    pub(super) fn do_load_all_records(&mut self, now: Instant) -> Result<CallId, CommandError> {
        self.begin(now)?;
        let id = self.command_id();
        self.walk_on(Walk::new(id), None);
        Ok(id)
    }

    /// Feeds a page's result to the walk, then drives it to its next call or its end.
    pub(super) fn walk_on(&mut self, mut walk: Walk, result: Option<&Map<String, Value>>) {
        let invalid = |status: u16, detail: String| CallError::InvalidResponse {
            status,
            detail,
            excerpt: String::new(),
        };
        if let Some(result) = result {
            if let Err(e) = walk.walk.handle_result(&Value::Object(result.clone())) {
                return self.finish(walk.command, Err(invalid(200, e.to_string())));
            }
        }
        loop {
            match walk.walk.poll(&self.store) {
                Step::Item(Ok(_)) => walk.loaded = walk.loaded.saturating_add(1),
                Step::Item(Err(e)) => crate::log!(warn, "load_all_records: {e}"),
                Step::Call(call) => {
                    let request = self.cfg.urls.api(&call.endpoint);
                    return match request {
                        Ok(url) => {
                            self.start(Purpose::Walk(walk), Request::json(url, &call.body), true)
                        }
                        Err(e) => self.finish(walk.command, Err(invalid(0, e.to_string()))),
                    };
                }
                Step::Done => {
                    let result = json!({ "records": walk.loaded, "repeats": walk.walk.repeats() });
                    return self.finish(walk.command, Ok(result));
                }
            }
        }
    }

    pub(super) fn do_sync_now(&mut self, now: Instant) -> Result<CallId, CommandError> {
        self.begin(now)?;
        let id = self.command_id();
        self.live.queue_page(id);
        self.pump_sync_pages();
        Ok(id)
    }

    pub(super) fn do_sync_cursors(&mut self, now: Instant) -> Result<CallId, CommandError> {
        self.begin(now)?;
        let id = self.command_id();
        let url = self.cfg.urls.sync("/cursors");
        self.start(Purpose::App(id), Request::json(url, &json!({})), true);
        Ok(id)
    }

    pub(super) fn do_track_job(
        &mut self,
        now: Instant,
        token: &str,
        timeout: Option<Duration>,
    ) -> Result<CallId, CommandError> {
        self.begin(now)?;
        let id = self.command_id();
        let deadline = timeout.and_then(|t| after(self.now, t));
        if let Some(result) = self.jobs.track(token, id, deadline) {
            self.finish(id, result);
            return Ok(id);
        }
        self.jobs.schedule_poll(self.now);
        Ok(id)
    }

    /// Closes the session, cancels what is out and finishes every command still running
    /// with [`CallError::Closed`], each once.
    pub(super) fn do_close(&mut self, now: Instant) {
        self.advance(now);
        if self.closed {
            return;
        }
        self.session.with_ids(&mut self.ids).close(self.now);
        self.drain_session();
        let (cancel, mut running) = self.calls.close();
        running.extend(self.files.close());
        running.extend(self.jobs.close());
        running.extend(self.live.close_pages());
        for id in cancel {
            self.out.push_back(Output::CancelHttp { id });
        }
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
    ) -> Result<String, CommandError> {
        let object = self.store.asset(asset).ok_or_else(|| {
            CommandError::InvalidArgument(format!("asset {asset:?} is not in the store"))
        })?;
        let storage = api::dam_storage_name(object)
            .map_err(|e| CommandError::InvalidArgument(e.to_string()))?;
        match options {
            None => Ok(self.cfg.urls.dam("publish", &storage, &[])),
            Some(mut options) => {
                if !options.is_empty() && !options.iter().any(|(k, _)| k == "key") {
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
                        return Err(CommandError::InvalidArgument(format!(
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
