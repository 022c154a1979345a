//! Sending calls, part of the client's orchestration: each call's HTTP request with the JWT
//! of the moment, retries with backoff for reads, the one transparent re-authentication, and
//! the headers of every answer (a renewed JWT, a challenge) before its body is read.

use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::json;

use crate::api::{self, CallError, Secret};
use crate::error::{TransportError, TransportErrorKind};
use crate::io::{Body, BodyTarget, HttpRequest, Output, RequestId};
use crate::timer::after;

use super::calls::{Call, Purpose, Request};
use super::{Client, Event};

impl Client {
    /// Starts a call: with the read retries if it is `safe` to run twice, none otherwise.
    pub(super) fn start(&mut self, purpose: Purpose, request: Request, safe: bool) {
        let retries = if safe { self.cfg.retry.retries } else { 0 };
        self.start_with_retries(purpose, request, retries);
    }

    /// Starts a call with `retries` retries.
    pub(super) fn start_with_retries(&mut self, purpose: Purpose, request: Request, retries: u32) {
        if matches!(purpose, Purpose::Load(..)) {
            self.sync.begin_load();
        }
        self.send(Call::new(purpose, request, retries));
    }

    /// Sends a call: it goes out now, or waits for the JWT a re-authentication gets.
    pub(super) fn send(&mut self, call: Call) {
        if self.closed {
            return;
        }
        if call.needs_jwt() && self.jwt.is_none() && self.api_key.is_some() {
            self.calls.await_jwt(call);
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
        let id = self.ids.request();
        crate::log!(
            debug,
            "{} {}",
            request.request.method(),
            crate::io::redact_uri(request.request.uri())
        );
        self.calls.sent(id, call);
        self.out.push_back(Output::Http { id, request });
    }

    /// The HTTP request of a call: its method, headers (the JWT where the call needs one),
    /// body, where the answer goes and how long it may take.
    fn http_request(&self, call: &Call) -> Result<HttpRequest, http::Error> {
        let memory = BodyTarget::Memory {
            limit: self.cfg.max_response_bytes,
        };
        let (method, url, content_type, body, target, timeout) = match call.request() {
            Request::Json { url, body } => (
                http::Method::POST,
                url,
                Some("application/json"),
                body.clone(),
                memory,
                self.cfg.http_timeout,
            ),
            Request::Upload {
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
            Request::Dam { url } => (
                http::Method::GET,
                url,
                None,
                Vec::new(),
                memory,
                self.cfg.http_timeout,
            ),
            Request::Media { url, path } => (
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
        let jwt = self.jwt.as_ref().filter(|_| call.needs_jwt());
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

    /// Sends the call again after the next wait of the retry policy.
    pub(super) fn schedule_retry(&mut self, mut call: Call) {
        let delay = call.backoff(&self.cfg.retry);
        if let Some(call) = self.calls.retry_at(after(self.now, delay), call) {
            self.send(call);
        }
    }

    /// Renews the JWT with the kept key, unless that is under way. For calls waiting on it,
    /// `/auth` gets the read retries; for the socket alone none, as the socket's own backoff
    /// spaces its attempts.
    pub(super) fn start_reauth(&mut self, for_calls: bool) {
        if self.calls.reauth_pending() {
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
        self.start_with_retries(Purpose::Reauth, Request::json(url, &body), retries);
    }

    /// A call's answer, or its failure: retried, sent again after a new JWT, or read.
    pub(super) fn on_http(
        &mut self,
        id: RequestId,
        response: Result<http::Response<Body>, TransportError>,
    ) {
        let Some(call) = self.calls.answered(id) else {
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
                if transient && call.may_retry() {
                    crate::log!(debug, "request failed ({e}), retrying");
                    return self.schedule_retry(call);
                }
                return self.fail(call, CallError::Transport(e));
            }
        };
        let status = response.status().as_u16();
        let challenged = response.headers().contains_key(WWW_AUTHENTICATE);
        if !matches!(call.request(), Request::Media { .. }) {
            if !matches!(call.request(), Request::Dam { .. }) {
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
        if matches!(status, 500 | 502 | 503 | 504) && call.may_retry() {
            crate::log!(debug, "HTTP {status}, retrying");
            return self.schedule_retry(call);
        }
        if status == 401 && challenged && call.may_reauth() && self.api_key.is_some() {
            let mut call = call;
            call.mark_reauthed();
            self.calls.await_jwt(call);
            self.start_reauth(true);
            return;
        }
        if let Request::Media { .. } = call.request() {
            return self.on_media(call, status, response.into_body());
        }
        let body = response.into_body();
        match api::parse_response(status, body.as_bytes()) {
            Ok(resp) => self.on_success(call, resp),
            Err(e) => self.fail(call, e),
        }
    }

    /// Keeps a JWT a response or the socket brought; a renewal is reported.
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
}
