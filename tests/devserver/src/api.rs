//! The HTTP side: routing, the `{success, result, data}` envelope, JWT checks and renewal, and
//! the API and sync endpoints. The read endpoints live in [`crate::read`], the bulk queries in
//! [`crate::query`], DAM and media in [`crate::dam`], control routes (`/_dev/…`) in
//! [`crate::control`].

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::connect_info::ConnectInfo;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, Response, StatusCode};
use bytes::Bytes;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::dam::{dam, media};
use crate::net::PeerAddr;
use crate::read::{assets_children, assets_get, get_objects, members_get, records_children};
use crate::server::{Shared, TokenInfo, MAX_BODY};
use crate::store::{parse, ApiError, Inner, Kind};
use crate::{control, lock, query};

/// The `WWW-Authenticate` header sent with every 401.
pub(crate) const WWW_AUTHENTICATE: &str = "Bearer realm=\"JWT access to Unicat.\"";

// ---------------------------------------------------------------------- request parameters

/// A JSON request body: an object (a missing or empty body, or `null`, is `{}`).
#[derive(Debug, Default)]
pub(crate) struct Params(pub(crate) Map<String, Value>);

impl Params {
    pub(crate) fn from_body(body: &[u8]) -> Result<Params, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Params::default());
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => Ok(Params(m)),
            Ok(Value::Null) => Ok(Params::default()),
            Ok(_) => Err(ApiError::bad_request(
                json!({"error": "the request body must be a JSON object"}),
            )),
            Err(e) => Err(ApiError::bad_request(
                json!({"error": format!("invalid JSON: {e}")}),
            )),
        }
    }

    /// The value of `key`, with `null` counting as absent.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&str>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::wrong_type(key, "string")),
        }
    }

    pub(crate) fn req_str(&self, key: &str) -> Result<&str, ApiError> {
        self.opt_str(key)?.ok_or_else(|| ApiError::missing(key))
    }

    pub(crate) fn opt_strs(&self, key: &str) -> Result<Option<Vec<&str>>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| ApiError::wrong_type(key, "list of strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(ApiError::wrong_type(key, "list of strings")),
        }
    }

    pub(crate) fn opt_u64(&self, key: &str) -> Result<Option<u64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| ApiError::wrong_type(key, "non-negative integer")),
        }
    }

    pub(crate) fn opt_f64(&self, key: &str) -> Result<Option<f64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(Some)
                .ok_or_else(|| ApiError::wrong_type(key, "non-negative number")),
        }
    }

    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| ApiError::wrong_type(key, "boolean")),
        }
    }

    pub(crate) fn opt_obj(&self, key: &str) -> Result<Option<&Map<String, Value>>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(ApiError::wrong_type(key, "object")),
        }
    }
}

// ---------------------------------------------------------------------- envelope

/// One entry of an envelope's `data`.
pub(crate) enum Section<'a> {
    /// A map of objects keyed by gid / name.
    Objs(Vec<(&'a str, &'a RawValue)>),
    /// A list of objects (`cc.projects_members`).
    List(Vec<&'a RawValue>),
    /// `cc.languages`.
    Langs(&'a BTreeMap<String, String>),
}

impl Serialize for Section<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Section::Objs(objs) => {
                let mut m = s.serialize_map(Some(objs.len()))?;
                for (k, v) in objs {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            Section::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Section::Langs(l) => l.serialize(s),
        }
    }
}

/// An envelope's `data`: sections in insertion order.
#[derive(Default)]
pub(crate) struct DataOut<'a>(Vec<(&'static str, Section<'a>)>);

impl<'a> DataOut<'a> {
    pub(crate) fn with(mut self, name: &'static str, section: Section<'a>) -> Self {
        self.0.push((name, section));
        self
    }

    /// Adds the objects `keys` of one store (missing keys are skipped).
    pub(crate) fn objs<'k>(
        self,
        inner: &'a Inner,
        kind: Kind,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Self {
        let store = inner.store(kind);
        let objs = keys
            .into_iter()
            .filter_map(|k| store.get_key_value(k).map(|(k, v)| (k.as_str(), &**v)))
            .collect();
        self.with(kind.name(), Section::Objs(objs))
    }

    /// Adds a whole store.
    pub(crate) fn all(self, inner: &'a Inner, kind: Kind) -> Self {
        let objs = inner
            .store(kind)
            .iter()
            .map(|(k, v)| (k.as_str(), &**v))
            .collect();
        self.with(kind.name(), Section::Objs(objs))
    }
}

impl Serialize for DataOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct Envelope<R, D> {
    success: bool,
    result: R,
    data: D,
}

#[derive(Serialize)]
struct ErrorResult<'a> {
    code: u16,
    message: &'a str,
    info: &'a Value,
}

/// A successful envelope's bytes.
pub(crate) fn ok_body(result: &impl Serialize, data: &DataOut<'_>) -> Vec<u8> {
    serde_json::to_vec(&Envelope {
        success: true,
        result,
        data,
    })
    .unwrap_or_default()
}

/// A failed envelope's bytes: `{"success":false,"result":{"code","message","info"},"data":{}}`.
pub(crate) fn error_body(err: &ApiError) -> Vec<u8> {
    let result = ErrorResult {
        code: err.code,
        message: err.message,
        info: &err.info,
    };
    serde_json::to_vec(&Envelope {
        success: false,
        result,
        data: DataOut::default(),
    })
    .unwrap_or_default()
}

pub(crate) fn json_response(status: u16, body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The response for an error; 401s carry `WWW-Authenticate`.
pub(crate) fn error_response(err: &ApiError) -> Response<Body> {
    let mut resp = json_response(err.http_status(), error_body(err));
    if err.code == 401 {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(WWW_AUTHENTICATE),
        );
    }
    resp
}

/// What a request gets once the server is shutting down.
pub(crate) fn gone() -> Response<Body> {
    error_response(&ApiError::new(503, "Service unavailable", json!({})))
}

fn with_token(mut resp: Response<Body>, token: Option<String>) -> Response<Body> {
    if let Some(t) = token.and_then(|t| HeaderValue::from_str(&t).ok()) {
        resp.headers_mut().insert(header::AUTHORIZATION, t);
    }
    resp
}

// ---------------------------------------------------------------------- routing

/// Reads the whole body, at most [`MAX_BODY`] bytes (`Err(413)` beyond).
pub(crate) async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::too_large())
}

fn content_length_too_large(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY as u64)
}

/// Entry point of every HTTP request that isn't Socket.IO.
pub(crate) async fn handle(shared: Arc<Shared>, req: Request) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let api = ["/api/", "/dam/"].iter().any(|p| path.starts_with(p))
        || path == "/sync/get"
        || path == "/sync/cursors";
    if !api {
        return route(shared, req, path).await;
    }
    let plan = lock(&shared.faults).plan();
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    if let Some((status, html)) = plan.fail {
        shared.count(&format!("fault {status}"));
        return injected_failure(status, html);
    }
    let resp = route(shared.clone(), req, path).await;
    if plan.stall {
        shared.count("fault stall");
        return stall(resp).await;
    }
    resp
}

/// How long a stalled answer hangs before its connection is dropped: longer than any test
/// waits, shorter than forever.
const STALL: std::time::Duration = std::time::Duration::from_secs(600);

/// The failure a fault plan asked for: Unicat's JSON envelope, or a proxy's HTML page.
fn injected_failure(status: u16, html: bool) -> Response<Body> {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = code.canonical_reason().unwrap_or("Error");
    let mut resp = if html {
        let page = format!(
            "<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>"
        );
        let mut r = Response::new(Body::from(page));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        r
    } else {
        error_response(&ApiError::new(status, reason, json!({})))
    };
    *resp.status_mut() = code;
    if status == 429 || status == 503 {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// The answer with its full `Content-Length`, but only the first half of its body, then
/// nothing until [`STALL`] passes: the client sees a response that stops halfway.
async fn stall(resp: Response<Body>) -> Response<Body> {
    use futures_util::StreamExt;
    let (mut parts, body) = resp.into_parts();
    let bytes = to_bytes(body, MAX_BODY).await.unwrap_or_default();
    let len = bytes.len();
    let half = bytes.slice(..len / 2);
    let rest = futures_util::stream::once(async {
        tokio::time::sleep(STALL).await;
        Err::<Bytes, _>(std::io::Error::other("stalled on purpose"))
    });
    let stream = futures_util::stream::once(async move { Ok(half) }).chain(rest);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Response::from_parts(parts, Body::from_stream(stream))
}

async fn route(shared: Arc<Shared>, req: Request, path: String) -> Response<Body> {
    if let Some(rest) = path.strip_prefix("/_dev/") {
        let peer = req
            .extensions()
            .get::<ConnectInfo<PeerAddr>>()
            .map(|c| c.0 .0);
        if !peer.is_some_and(|p| p.ip().is_loopback()) {
            return error_response(&ApiError::forbidden(
                json!({"error": "the control surface only answers loopback peers"}),
            ));
        }
        return control::handle_http(shared, rest.to_owned(), peer, req).await;
    }
    if let Some(rest) = path.strip_prefix("/media/") {
        shared.count("media");
        return media(&shared, rest);
    }
    if let Some(rest) = path.strip_prefix("/dam/p/") {
        return dam(&shared, rest, &req);
    }
    if req.method() != Method::POST && req.method() != Method::GET {
        return error_response(&ApiError::new(
            405,
            "Method not allowed",
            json!({"method": req.method().as_str()}),
        ));
    }
    if content_length_too_large(&req) {
        return error_response(&ApiError::too_large());
    }
    if path == "/sync/get" || path == "/sync/cursors" {
        shared.count(&path);
        return sync_call(&shared, &path, req).await;
    }
    if let Some(rest) = path.strip_prefix("/api/p/") {
        let (pgid, endpoint) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        shared.count(endpoint);
        return project_call(&shared, pgid.to_owned(), endpoint.to_owned(), req).await;
    }
    if let Some(rest) = path.strip_prefix("/api/") {
        let endpoint = format!("//{rest}");
        shared.count(&endpoint);
        return global_call(&shared, &endpoint, req).await;
    }
    let mut resp = error_response(&ApiError::new(404, "Not found", json!({"path": path})));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp
}

/// Checks `Authorization: Bearer <JWT>`.
pub(crate) fn authenticate(shared: &Shared, req: &Request) -> Result<TokenInfo, ApiError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(ApiError::permission_denied)?;
    lock(&shared.tokens)
        .check(token)
        .ok_or_else(ApiError::permission_denied)
}

/// A fresh token when the one used is older than `jwt_renew_after`.
fn renewal(shared: &Shared, info: &TokenInfo) -> Option<String> {
    let age = shared.cfg.jwt_renew_after?;
    (info.issued.elapsed() >= age).then(|| lock(&shared.tokens).mint(&info.user, &info.project))
}

pub(crate) fn finish(result: Result<Vec<u8>, ApiError>) -> Response<Body> {
    match result {
        Ok(body) => json_response(200, body),
        Err(e) => error_response(&e),
    }
}

// ---------------------------------------------------------------------- project API

async fn project_call(
    shared: &Arc<Shared>,
    pgid: String,
    endpoint: String,
    req: Request,
) -> Response<Body> {
    if endpoint == "/auth" {
        let body = match read_body(req.into_body()).await {
            Ok(b) => b,
            Err(e) => return error_response(&e),
        };
        return auth(shared, &pgid, &body);
    }
    let info = match authenticate(shared, &req) {
        Ok(i) => i,
        Err(e) => return error_response(&e),
    };
    if info.project != pgid {
        return error_response(&ApiError::forbidden(json!({"project": pgid})));
    }
    let renewed = renewal(shared, &info);
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return with_token(error_response(&e), renewed),
    };
    let result = if endpoint == "/assets/upload" {
        match (is_multipart, content_type) {
            (true, Some(ct)) => upload(shared, &ct, body).await,
            _ => Err(ApiError::bad_request(
                json!({"error": "assets/upload takes multipart/form-data"}),
            )),
        }
    } else {
        match Params::from_body(&body) {
            Ok(p) => project_endpoint(shared, &info, &endpoint, &p),
            Err(e) => Err(e),
        }
    };
    with_token(finish(result), renewed)
}

/// `/auth`: API key → JWT in the `Authorization` response header, init data in the body.
fn auth(shared: &Shared, pgid: &str, body: &[u8]) -> Response<Body> {
    let params = match Params::from_body(body) {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    let key = match params.req_str("api_key") {
        Ok(k) => k,
        Err(e) => return error_response(&e),
    };
    if pgid != shared.project || key != shared.api_key {
        return error_response(&ApiError::new(403, "Unknown user", json!({})));
    }
    let inner = lock(&shared.inner);
    let user = inner.api_user.clone();
    let token = lock(&shared.tokens).mint(&user, pgid);
    let body = init_body(&inner, &user);
    drop(inner);
    with_token(json_response(200, body), Some(token))
}

/// The result and data of `auth` and project `init`.
pub(crate) fn init_body(inner: &Inner, user: &str) -> Vec<u8> {
    let pgid = &inner.project;
    let prefix = format!("{pgid}/");
    let members: Vec<(&str, Map<String, Value>)> = inner
        .cc
        .members
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(k, v)| (k.as_str(), parse(v)))
        .collect();
    let member_users: Vec<String> = members
        .iter()
        .filter_map(|(_, m)| m.get("user_gid")?.as_str().map(str::to_owned))
        .collect();
    let roles = members
        .iter()
        .find(|(_, m)| m.get("user_gid").and_then(Value::as_str) == Some(user))
        .and_then(|(_, m)| m.get("roles").cloned())
        .unwrap_or_else(|| json!([]));
    let last_backed_up = inner
        .cc
        .projects
        .get(pgid)
        .and_then(|p| parse(p).get("last_backed_up").cloned())
        .unwrap_or(Value::Null);
    let result = json!({
        "user": user,
        "user_projects": {pgid.as_str(): roles},
        "project": pgid,
        "project_members": member_users,
        "last_backed_up": last_backed_up,
        "cc.version": inner.version,
        "cc.cursor": inner.cc_cursor,
        "cursor": inner.cursor,
    });
    let member_objs: Vec<&RawValue> = inner
        .cc
        .members
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, v)| &**v)
        .collect();
    let data = DataOut::default()
        .objs(inner, Kind::Users, member_users.iter().map(String::as_str))
        .objs(inner, Kind::Projects, [pgid.as_str()])
        .with(Kind::Members.name(), Section::List(member_objs))
        .with("cc.languages", Section::Langs(&inner.cc.languages))
        .all(inner, Kind::Definitions)
        .all(inner, Kind::Classes)
        .all(inner, Kind::Fields)
        .all(inner, Kind::Layouts)
        .all(inner, Kind::Queries);
    ok_body(&result, &data)
}

fn project_endpoint(
    shared: &Arc<Shared>,
    info: &TokenInfo,
    endpoint: &str,
    p: &Params,
) -> Result<Vec<u8>, ApiError> {
    let mut inner = lock(&shared.inner);
    let inner = &mut *inner;
    match endpoint {
        "/init" => Ok(init_body(inner, &info.user)),
        "/records/get" => get_objects(inner, Kind::Records, "record", "records", p),
        "/definitions/get" => get_objects(inner, Kind::Definitions, "definition", "definitions", p),
        "/classes/get" => get_objects(inner, Kind::Classes, "class", "classes", p),
        "/fields/get" => get_objects(inner, Kind::Fields, "field", "fields", p),
        "/layouts/get" => get_objects(inner, Kind::Layouts, "layout", "layouts", p),
        "/queries/get" => get_objects(inner, Kind::Queries, "query", "queries", p),
        "/modules/get" => get_objects(inner, Kind::Modules, "module", "modules", p),
        "/modules/all" => {
            let names: Vec<&str> = inner.data.modules.keys().map(String::as_str).collect();
            Ok(ok_body(
                &json!({"module_names": names}),
                &DataOut::default(),
            ))
        }
        "/records/root" => {
            let root = inner.data.root_record.clone();
            Ok(ok_body(
                &json!({"root": root}),
                &DataOut::default().objs(inner, Kind::Records, [root.as_str()]),
            ))
        }
        "/records/children" => records_children(inner, p),
        "/records/update" => {
            let record = p.req_str("record")?;
            let fields = p
                .opt_obj("fields")?
                .ok_or_else(|| ApiError::missing("fields"))?;
            let report = inner.update_record_fields(record, fields)?;
            let result = json!({"record": record, "report.validation": report});
            Ok(ok_body(
                &result,
                &DataOut::default().objs(inner, Kind::Records, [record]),
            ))
        }
        "/records/create" => {
            let parent = p.req_str("parent")?;
            let gid = inner.insert_record(Some(parent), None)?;
            let result = json!({"record": gid, "parent": parent});
            Ok(ok_body(
                &result,
                &DataOut::default().objs(inner, Kind::Records, [gid.as_str(), parent]),
            ))
        }
        "/records/delete" => {
            let record = p.req_str("record")?;
            inner.soft_delete_record(record)?;
            Ok(ok_body(
                &json!({"record": record}),
                &DataOut::default().objs(inner, Kind::Records, [record]),
            ))
        }
        "/assets/get" => assets_get(inner, p),
        "/assets/root" => {
            let root = inner.data.root_asset.clone();
            Ok(ok_body(
                &json!({"root": root}),
                &DataOut::default().objs(inner, Kind::Assets, [root.as_str()]),
            ))
        }
        "/assets/children" => assets_children(inner, p),
        "/records/bulk/get" => query::records_bulk_get(inner, p),
        "/assets/bulk/get" => query::assets_bulk_get(inner, p),
        "/schema/bulk/get" => query::schema_bulk_get(inner, p),
        "/members/get" => {
            let pgid = inner.project.clone();
            members_get(inner, &pgid, p)
        }
        "/backups/create" => {
            let created_by = p.opt_str("created_by")?.map(str::to_owned);
            let name = p.opt_str("name")?.map(str::to_owned);
            let (token, version, ts) =
                inner.start_backup(created_by.as_deref().or(Some(&info.user)), name.as_deref());
            crate::control::spawn_job(shared, token.clone());
            let pgid = inner.project.clone();
            let result = json!({"project": pgid, "version": version, "last_backed_up": ts, "job.token": token});
            Ok(ok_body(
                &result,
                &DataOut::default().objs(inner, Kind::Projects, [pgid.as_str()]),
            ))
        }
        "/backups/restore" => {
            let version = p
                .opt_u64("version")?
                .ok_or_else(|| ApiError::missing("version"))?;
            if version == 0 {
                return Err(ApiError::bad_request(
                    json!({"param": "version", "error": "version 0 can't be restored"}),
                ));
            }
            let (token, ts) = inner.start_restore(Some(version))?;
            crate::control::spawn_job(shared, token.clone());
            let result = json!({"project": inner.project, "job.token": token, "last_restored": ts});
            Ok(ok_body(&result, &DataOut::default()))
        }
        _ => Err(ApiError::not_implemented(json!({"endpoint": endpoint}))),
    }
}

async fn upload(shared: &Shared, content_type: &str, body: Bytes) -> Result<Vec<u8>, ApiError> {
    let boundary = multer::parse_boundary(content_type).map_err(|e| {
        ApiError::bad_request(json!({"error": format!("bad multipart content type: {e}")}))
    })?;
    let stream =
        futures_util::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let (mut parent, mut pathname, mut file) = (None, None, None);
    let bad = |e: multer::Error| {
        ApiError::bad_request(json!({"error": format!("bad multipart body: {e}")}))
    };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name() {
            Some("parent") => parent = Some(field.text().await.map_err(bad)?),
            Some("pathname") => pathname = Some(field.text().await.map_err(bad)?),
            Some("upload_file") => {
                let name = field.file_name().unwrap_or_default().to_owned();
                file = Some((name, field.bytes().await.map_err(bad)?));
            }
            _ => {}
        }
    }
    let (filename, bytes) = file.ok_or_else(|| ApiError::missing("upload_file"))?;
    let mut inner = lock(&shared.inner);
    let (asset, parent) =
        inner.upload_asset(parent.as_deref(), pathname.as_deref(), &filename, bytes)?;
    let result = json!({"asset": asset, "parent": parent});
    Ok(ok_body(
        &result,
        &DataOut::default().objs(&inner, Kind::Assets, [asset.as_str(), parent.as_str()]),
    ))
}

// ---------------------------------------------------------------------- global API

async fn global_call(shared: &Shared, endpoint: &str, req: Request) -> Response<Body> {
    let info = match authenticate(shared, &req) {
        Ok(i) => i,
        Err(e) => return error_response(&e),
    };
    let renewed = renewal(shared, &info);
    let result = match read_body(req.into_body()).await {
        Ok(body) => {
            Params::from_body(&body).and_then(|p| global_endpoint(shared, &info, endpoint, &p))
        }
        Err(e) => Err(e),
    };
    with_token(finish(result), renewed)
}

fn global_endpoint(
    shared: &Shared,
    info: &TokenInfo,
    endpoint: &str,
    p: &Params,
) -> Result<Vec<u8>, ApiError> {
    let inner = lock(&shared.inner);
    match endpoint {
        "//users/get" => get_objects(&inner, Kind::Users, "user", "users", p),
        "//projects/get" => get_objects(&inner, Kind::Projects, "project", "projects", p),
        "//members/get" => {
            let project = p.req_str("project")?;
            p.req_str("member")?;
            members_get(&inner, project, p)
        }
        "//init" => {
            let prefix = format!("{}/{}", inner.project, info.user);
            let roles = inner
                .cc
                .members
                .get(&prefix)
                .and_then(|m| parse(m).get("roles").cloned())
                .unwrap_or_else(|| json!([]));
            let result = json!({
                "user": info.user, "user_projects": {inner.project.as_str(): roles},
                "cc.version": inner.version, "cc.cursor": inner.cc_cursor,
            });
            let data = DataOut::default()
                .objs(&inner, Kind::Users, [info.user.as_str()])
                .objs(&inner, Kind::Projects, [inner.project.as_str()])
                .with("cc.languages", Section::Langs(&inner.cc.languages));
            Ok(ok_body(&result, &data))
        }
        _ => Err(ApiError::not_implemented(json!({"endpoint": endpoint}))),
    }
}

// ---------------------------------------------------------------------- sync over HTTP

async fn sync_call(shared: &Shared, path: &str, req: Request) -> Response<Body> {
    let info = match authenticate(shared, &req) {
        Ok(i) => i,
        Err(e) => return error_response(&e),
    };
    let renewed = renewal(shared, &info);
    let result = match read_body(req.into_body()).await {
        Ok(body) => Params::from_body(&body).and_then(|p| {
            if path == "/sync/cursors" {
                let inner = lock(&shared.inner);
                Ok(ok_body(
                    &json!({"cc.cursor": inner.cc_cursor, "cursor": inner.cursor}),
                    &DataOut::default(),
                ))
            } else {
                sync_get(shared, &info, &p)
            }
        }),
        Err(e) => Err(e),
    };
    with_token(finish(result), renewed)
}

/// `/sync/get {cc_cursor (or "cc.cursor"), project?, cursor?}` → `{"sync": [...]}`, plus
/// `"warning"` when the page limit cut the list.
fn sync_get(shared: &Shared, info: &TokenInfo, p: &Params) -> Result<Vec<u8>, ApiError> {
    let cc = match p.opt_u64("cc_cursor")? {
        Some(c) => c,
        None => p.opt_u64("cc.cursor")?.unwrap_or(0),
    };
    let project = p.opt_str("project")?;
    if let Some(pg) = project {
        if pg != info.project {
            return Err(ApiError::forbidden(json!({"project": pg})));
        }
    }
    let cursor = p.opt_u64("cursor")?;
    let project_after = project.map(|_| cursor.unwrap_or(0));
    let inner = lock(&shared.inner);
    let (items, more) = inner.items_after(cc, project_after, shared.cfg.sync_page_limit);
    #[derive(Serialize)]
    struct SyncResult<'a> {
        sync: Vec<&'a RawValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        warning: Option<String>,
    }
    let warning = more.then(|| {
        format!(
            "more than {} sync items: this list is cut, call again with the cursors of its last items",
            shared.cfg.sync_page_limit
        )
    });
    Ok(ok_body(
        &SyncResult {
            sync: items,
            warning,
        },
        &DataOut::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_accept_empty_and_reject_non_objects() {
        assert!(Params::from_body(b"").unwrap().0.is_empty());
        assert!(Params::from_body(b"  null ").unwrap().0.is_empty());
        assert_eq!(Params::from_body(b"[1]").unwrap_err().code, 400);
        assert_eq!(Params::from_body(b"{").unwrap_err().code, 400);
        let p = Params::from_body(br#"{"a": 1, "b": "x", "c": ["y"]}"#).unwrap();
        assert_eq!(p.opt_str("a").unwrap_err().code, 400);
        assert_eq!(p.req_str("b").unwrap(), "x");
        assert_eq!(p.opt_strs("c").unwrap().unwrap(), vec!["y"]);
        assert_eq!(p.req_str("zz").unwrap_err().info["param"], "zz");
    }

    #[test]
    fn error_envelope_is_exact() {
        let body = error_body(&ApiError::permission_denied());
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"success":false,"result":{"code":401,"message":"Permission denied","info":{}},"data":{}}"#
        );
    }
}
