//! The Unicat HTTP API: URLs, request bodies, the response envelope, errors and the JWT.

mod media;
pub(crate) mod multipart;
pub(crate) mod paths;
pub(crate) mod transform;

use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{CommandError, TransportError};
use crate::store::{DataType, Object};

pub use media::{public_url, MediaHosts};
pub use transform::{ImageType, Pad, Resize, Transform};

/// Transform options for `Client::transform`, in order (what [`Transform::options`] gives).
/// Without a `key`, the client adds the one the Python SDK would derive, so the same options
/// name the same file.
pub type TransformOptions = Vec<(String, serde_json::Value)>;

/// A secret string: an API key or a JWT. It never shows in `Debug` output, has no `Display`,
/// and is only handed out through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    /// The secret itself. Keep it out of logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

/// An error the Unicat API returned: `{"success": false, "result": {code, message, info}}`.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The API's code (400, 401, 403, 422, 500, 1000–1004, ...). Match on this, not on the
    /// message, which may vary.
    pub code: i64,
    /// The API's message.
    pub message: String,
    /// Details; the shape depends on the code.
    pub info: Value,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "API error {} ({}): {}",
            self.code, self.status, self.message
        )
    }
}

impl std::error::Error for ApiError {}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CallError {
    /// The API said no.
    Api(ApiError),
    /// The response was not the API's JSON envelope: not JSON, cut short, or of another shape.
    InvalidResponse {
        /// The HTTP status.
        status: u16,
        /// What was wrong.
        detail: String,
        /// The start of the body, at most 256 characters.
        excerpt: String,
    },
    /// The request did not complete (after the retries the call was allowed).
    Transport(TransportError),
    /// A path built from server data would have left the asset folder.
    UnsafePath(String),
    /// The server named a media URL the [`MediaHosts`] policy does not accept.
    UntrustedUrl {
        /// The URL, as the server sent it (at most 200 characters).
        url: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The client has no asset folder, or the asset is not a file.
    NotDownloadable(String),
    /// The operation did not finish in time.
    Timeout,
    /// A job ended `rejected`, or `done` with an error in its info.
    JobFailed {
        /// The job's last status.
        status: String,
        /// The job's info.
        info: Value,
    },
    /// The client was closed before the call finished.
    Closed,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Api(e) => e.fmt(f),
            CallError::InvalidResponse {
                status,
                detail,
                excerpt,
            } => write!(f, "invalid response (HTTP {status}): {detail}: {excerpt:?}"),
            CallError::Transport(e) => e.fmt(f),
            CallError::UnsafePath(p) => write!(f, "refused path outside the asset folder: {p:?}"),
            CallError::UntrustedUrl { url, reason } => {
                write!(f, "refused media URL {url:?}: {reason}")
            }
            CallError::NotDownloadable(why) => write!(f, "cannot download: {why}"),
            CallError::Timeout => f.write_str("timed out"),
            CallError::JobFailed { status, .. } => write!(f, "job failed with status {status:?}"),
            CallError::Closed => f.write_str("the client was closed"),
        }
    }
}

impl std::error::Error for CallError {}

impl CallError {
    /// The API error code, if the API answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            CallError::Api(e) => Some(e.code),
            _ => None,
        }
    }
}

/// Where requests go. Built once from the base URL and the project gid, both checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Urls {
    base: String,
    project: String,
}

/// Gids are opaque, but they travel in URL paths: only characters that need no escaping pass.
pub(crate) fn is_safe_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s != "."
        && s != ".."
}

impl Urls {
    pub(crate) fn new(base_url: &str, project: &str) -> Result<Self, CommandError> {
        let base = base_url.trim_end_matches('/');
        let uri: http::Uri = base
            .parse()
            .map_err(|_| CommandError::InvalidArgument(format!("not a URL: {base_url:?}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            return Err(CommandError::InvalidArgument(format!(
                "the base URL must be http:// or https:// with a host: {base_url:?}"
            )));
        }
        if uri.query().is_some() {
            return Err(CommandError::InvalidArgument(format!(
                "the base URL must not have a query: {base_url:?}"
            )));
        }
        if !is_safe_id(project) {
            return Err(CommandError::InvalidArgument(format!(
                "not a project gid: {project:?}"
            )));
        }
        Ok(Urls {
            base: base.to_string(),
            project: project.to_string(),
        })
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn project(&self) -> &str {
        &self.project
    }

    /// The API's host name (or address).
    pub(crate) fn host(&self) -> String {
        self.base
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.host().map(str::to_string))
            .unwrap_or_default()
    }

    /// `//x` goes to the global API, `<base>/api/x`; anything else to the project API,
    /// `<base>/api/p/<project>/x`.
    pub(crate) fn api(&self, endpoint: &str) -> Result<String, CommandError> {
        match endpoint.strip_prefix("//") {
            Some(global) => {
                check_endpoint(global)?;
                Ok(format!("{}/api/{global}", self.base))
            }
            None => {
                let rest = endpoint.strip_prefix('/').ok_or_else(|| {
                    CommandError::InvalidArgument(format!(
                        "an endpoint starts with '/' (project) or '//' (global): {endpoint:?}"
                    ))
                })?;
                check_endpoint(rest)?;
                Ok(format!("{}/api/p/{}/{rest}", self.base, self.project))
            }
        }
    }

    /// `<base>/sync/<endpoint>`.
    pub(crate) fn sync(&self, endpoint: &str) -> String {
        format!("{}/sync/{}", self.base, endpoint.trim_start_matches('/'))
    }

    /// `<base>/dam/p/<project>/<kind>/<gid>~<version><ext>[/<k>=<v>…]`.
    pub(crate) fn dam(&self, kind: &str, storage: &str, options: &[(String, String)]) -> String {
        let mut url = format!("{}/dam/p/{}/{kind}/{storage}", self.base, self.project);
        for (k, v) in options {
            url.push('/');
            url.push_str(k);
            url.push('=');
            url.push_str(v);
        }
        url
    }
}

fn check_endpoint(path: &str) -> Result<(), CommandError> {
    let valid = !path.is_empty()
        && path.len() <= 256
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'))
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    if valid {
        Ok(())
    } else {
        Err(CommandError::InvalidArgument(format!(
            "not an API endpoint: {path:?}"
        )))
    }
}

/// The storage pathname of an asset for the DAM: `<gid>~<version><ext>`, where `ext` is the
/// extension of the asset's name, dot included, as Python's `os.path.splitext` gives it. All
/// three come from the server, so each is checked before it goes into a URL path.
pub(crate) fn dam_storage_name(asset: &Object) -> Result<String, CallError> {
    #[derive(Deserialize)]
    struct Asset {
        gid: String,
        version: Value,
        name: String,
        #[serde(default)]
        is_file: bool,
    }
    let asset: Asset = asset.deserialize().map_err(|e| {
        CallError::NotDownloadable(format!("asset without gid, version or name: {e}"))
    })?;
    if !asset.is_file {
        return Err(CallError::NotDownloadable("the asset is not a file".into()));
    }
    let version = match &asset.version {
        Value::Number(n) if n.is_u64() => n.to_string(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.clone(),
        _ => return Err(CallError::NotDownloadable("bad asset version".into())),
    };
    let ext = splitext_ext(&asset.name);
    let ext_ok = ext
        .strip_prefix('.')
        .is_none_or(|e| e.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !is_safe_id(&asset.gid) || !ext_ok || ext.len() > 32 {
        return Err(CallError::UnsafePath(format!(
            "{}~{version}{ext}",
            asset.gid
        )));
    }
    Ok(format!("{}~{version}{ext}", asset.gid))
}

/// Python's `os.path.splitext(name)[1]`: the last dot of the last path segment and what
/// follows, unless only dots come before it (`.bashrc` has no extension).
fn splitext_ext(name: &str) -> &str {
    let base = name.rsplit('/').next().unwrap_or(name);
    match base.rfind('.') {
        Some(dot)
            if base
                .get(..dot)
                .is_some_and(|stem| stem.bytes().any(|b| b != b'.')) =>
        {
            base.get(dot..).unwrap_or("")
        }
        _ => "",
    }
}

/// The parts of a response the client uses.
#[derive(Debug)]
pub(crate) struct Response {
    /// The envelope's `result`, with `data.files` moved to `result["data/files"]`.
    pub(crate) result: Map<String, Value>,
    /// The envelope's `data`, per known data type, keyed as the store keys them.
    pub(crate) data: Vec<(DataType, Vec<(String, Object)>)>,
    /// `result.sync` of a `/sync/get` answer, as its JSON text.
    pub(crate) sync: Option<Box<RawValue>>,
}

/// Body excerpts in errors are bounded, so a huge HTML error page cannot flood a log.
const EXCERPT: usize = 256;

fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(EXCERPT)
        .collect()
}

fn invalid(status: u16, body: &[u8], detail: impl Into<String>) -> CallError {
    CallError::InvalidResponse {
        status,
        detail: detail.into(),
        excerpt: excerpt(body),
    }
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    success: bool,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    data: Option<Data>,
}

/// The envelope's `data`, read in the envelope's own pass over the body (a response of a
/// thousand records is megabytes; every extra pass over it shows): each known store's objects
/// copied out as they are met, `files` parsed within bounds, anything else skipped.
#[derive(Default)]
struct Data {
    stores: Vec<(DataType, Vec<(String, Object)>)>,
    files: Option<Value>,
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(DataVisitor)
    }
}

struct DataVisitor;

impl<'de> serde::de::Visitor<'de> for DataVisitor {
    type Value = Data;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`data` as an object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Data, A::Error> {
        use serde::de::Error;
        let mut data = Data::default();
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if name == "files" {
                // Downloadable file contents, not a store: the SDK moves them into the result.
                let raw: &'de RawValue = map.next_value()?;
                let files = crate::json::tree_bounded(raw.get())
                    .map_err(|e| A::Error::custom(format!("`data.files`: {e}")))?;
                data.files = Some(files);
                continue;
            }
            let Some(t) = DataType::from_name(&name) else {
                crate::log!(debug, "unknown data type {name:?} in a response ignored");
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            };
            let entries = map.next_value_seed(Entries(t))?;
            data.stores.push((t, entries));
        }
        Ok(data)
    }
}

/// One store's objects, keyed as the store keys them.
struct Entries(DataType);

impl<'de> serde::de::DeserializeSeed<'de> for Entries {
    type Value = Vec<(String, Object)>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        if self.0 == DataType::ProjectsMembers {
            d.deserialize_seq(self)
        } else {
            d.deserialize_map(self)
        }
    }
}

impl<'de> serde::de::Visitor<'de> for Entries {
    type Value = Vec<(String, Object)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == DataType::ProjectsMembers {
            write!(f, "`data.{}` as a list", self.0)
        } else {
            write!(f, "`data.{}` as an object", self.0)
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
            out.push((k, Object::new(v)));
        }
        Ok(out)
    }

    /// Memberships come as a list; the store keys them "<project>/<user>".
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(m) = seq.next_element::<&'de RawValue>()? {
            if let Ok(k) = serde_json::from_str::<MemberKey>(m.get()) {
                out.push((format!("{}/{}", k.project_gid, k.user_gid), Object::new(m)));
            }
        }
        Ok(out)
    }
}

#[derive(Deserialize)]
struct MemberKey {
    project_gid: String,
    user_gid: String,
}

/// Parses a response body as the `{success, result, data}` envelope. `success: false` becomes
/// an [`ApiError`]; a body that is not the envelope becomes [`CallError::InvalidResponse`].
pub(crate) fn parse_response(status: u16, body: &[u8]) -> Result<Response, CallError> {
    match parse_envelope(status, body) {
        Err(CallError::InvalidResponse { .. }) => {
            // A lone surrogate escape makes serde_json give up on the whole body; repair it
            // and try once more before calling the response invalid.
            let Ok(text) = std::str::from_utf8(body) else {
                return Err(invalid(status, body, "the body is not UTF-8"));
            };
            match crate::json::repair_surrogates(text) {
                std::borrow::Cow::Owned(fixed) => {
                    parse_envelope(status, fixed.as_bytes()).map_err(|e| match e {
                        CallError::InvalidResponse { detail, .. } => invalid(status, body, detail),
                        other => other,
                    })
                }
                std::borrow::Cow::Borrowed(_) => parse_envelope(status, body),
            }
        }
        other => other,
    }
}

fn parse_envelope(status: u16, body: &[u8]) -> Result<Response, CallError> {
    let env: RawEnvelope<'_> = serde_json::from_slice(body).map_err(|e| {
        let detail = if e.is_eof() {
            "the body is cut short".to_string()
        } else {
            format!("not the API's JSON envelope: {e}")
        };
        invalid(status, body, detail)
    })?;
    let (mut result, sync) = match env.result {
        None => (Map::new(), None),
        Some(raw) if raw.get() == "null" => (Map::new(), None),
        Some(raw) => split_result(raw).map_err(|detail| invalid(status, body, detail))?,
    };
    let Data {
        stores: data,
        files,
    } = env.data.unwrap_or_default();
    if let Some(files) = files {
        result.insert("data/files".to_string(), files);
    }
    if !env.success {
        return Err(CallError::Api(api_error(status, &result)));
    }
    Ok(Response { result, data, sync })
}

/// A result's values, and its `sync` list as text.
type SplitResult = (Map<String, Value>, Option<Box<RawValue>>);

/// The envelope's `result`, each value parsed within bounds, except a `sync` list, kept as
/// its text to be read straight into sync items.
fn split_result(raw: &RawValue) -> Result<SplitResult, String> {
    let pairs =
        deserialize_pairs(raw.get()).map_err(|_| "`result` is not an object".to_string())?;
    let mut result = Map::new();
    let mut sync = None;
    for (key, value) in pairs {
        if key == "sync" {
            sync = Some(value.to_owned());
            continue;
        }
        let value =
            crate::json::tree_bounded(value.get()).map_err(|e| format!("`result.{key}`: {e}"))?;
        result.insert(key, value);
    }
    Ok((result, sync))
}

fn api_error(status: u16, result: &Map<String, Value>) -> ApiError {
    ApiError {
        status,
        code: result
            .get("code")
            .and_then(Value::as_i64)
            .unwrap_or(i64::from(status)),
        message: result
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        info: result.get("info").cloned().unwrap_or(Value::Null),
    }
}

/// The pairs of a JSON object, borrowing the values, in document order.
fn deserialize_pairs(text: &str) -> Result<Vec<(String, &RawValue)>, serde_json::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<(String, &'de RawValue)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                out.push((k, v));
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    serde::Deserializer::deserialize_map(&mut de, V)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> Urls {
        Urls::new("https://unicat.app/", "p1").unwrap()
    }

    #[test]
    fn url_rules() {
        let u = urls();
        assert_eq!(
            u.api("//users/get").unwrap(),
            "https://unicat.app/api/users/get"
        );
        assert_eq!(
            u.api("/records/get").unwrap(),
            "https://unicat.app/api/p/p1/records/get"
        );
        assert_eq!(u.sync("/get"), "https://unicat.app/sync/get");
        assert_eq!(
            u.dam(
                "transform",
                "g~7.png",
                &[
                    ("fill".into(), "400,300".into()),
                    ("key".into(), "thumb".into())
                ]
            ),
            "https://unicat.app/dam/p/p1/transform/g~7.png/fill=400,300/key=thumb"
        );
        for bad in [
            "records/get",
            "/records/../x",
            "/a//b",
            "/a?b",
            "/a b",
            "///x",
            "/",
            "//",
        ] {
            assert!(u.api(bad).is_err(), "{bad}");
        }
        assert!(Urls::new("ftp://x", "p").is_err());
        assert!(Urls::new("https://x", "../p").is_err());
        assert!(Urls::new("https://x?q", "p").is_err());
    }

    #[test]
    fn storage_names_follow_splitext() {
        let name = |n: &str| {
            let json = format!(
                r#"{{"gid":"g","version":31,"name":{},"is_file":true}}"#,
                serde_json::to_string(n).unwrap()
            );
            dam_storage_name(&Object::new(&RawValue::from_string(json).unwrap()))
        };
        assert_eq!(name("logo.svg").unwrap(), "g~31.svg");
        assert_eq!(name("archive.tar.gz").unwrap(), "g~31.gz");
        assert_eq!(name("README").unwrap(), "g~31");
        assert_eq!(name(".bashrc").unwrap(), "g~31");
        assert_eq!(name("..b").unwrap(), "g~31");
        assert_eq!(name("a..b").unwrap(), "g~31.b");
        assert!(matches!(name("evil.p%g"), Err(CallError::UnsafePath(_))));
        let folder = Object::new(
            &RawValue::from_string(r#"{"gid":"g","version":1,"name":"f","is_file":false}"#.into())
                .unwrap(),
        );
        assert!(matches!(
            dam_storage_name(&folder),
            Err(CallError::NotDownloadable(_))
        ));
    }

    #[test]
    fn the_envelope_fills_result_and_data() {
        let body = br#"{"success":true,"result":{"records":["r1"],"cc.version":"2026.1"},
            "data":{"records":{"r1":{"gid":"r1","price":1.10}},
                    "cc.projects_members":[{"project_gid":"p","user_gid":"u","roles":["api"]}],
                    "files":{"x.xlsx":"AAAA"},"somethingnew":{"k":{}}}}"#;
        let r = parse_response(200, body).unwrap();
        assert_eq!(
            r.result["data/files"],
            serde_json::json!({"x.xlsx": "AAAA"})
        );
        assert_eq!(r.data.len(), 2);
        assert_eq!(r.data[0].0, DataType::Records);
        assert_eq!(r.data[0].1[0].1.json(), r#"{"gid":"r1","price":1.10}"#);
        assert_eq!(r.data[1].1[0].0, "p/u");
    }

    #[test]
    fn failures_keep_code_message_and_info() {
        let body = br#"{"success":false,"result":{"code":1003,"message":"Process error","info":{"process":"restore"}},"data":{}}"#;
        let e = parse_response(422, body).unwrap_err();
        assert_eq!(
            e,
            CallError::Api(ApiError {
                status: 422,
                code: 1003,
                message: "Process error".into(),
                info: serde_json::json!({"process": "restore"})
            })
        );
    }

    #[test]
    fn bodies_that_are_not_the_envelope_are_typed_errors() {
        let cut = br#"{"success":true,"result":{"a":1},"data":{"records":{"r1":{"gid":"#;
        match parse_response(200, cut) {
            Err(CallError::InvalidResponse {
                status: 200,
                detail,
                excerpt,
            }) => {
                assert!(detail.contains("cut short"), "{detail}");
                assert!(excerpt.starts_with("{\"success\""));
            }
            other => panic!("{other:?}"),
        }
        let html = "<html>".repeat(1000);
        match parse_response(502, html.as_bytes()) {
            Err(CallError::InvalidResponse {
                status: 502,
                excerpt,
                ..
            }) => assert_eq!(excerpt.chars().count(), 256),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_response(200, br#"{"result":{}}"#),
            Err(CallError::InvalidResponse { .. })
        ));
        assert!(matches!(
            parse_response(200, br#"{"success":true,"result":[]}"#),
            Err(CallError::InvalidResponse { .. })
        ));
        assert!(matches!(
            parse_response(200, b"\xff\xfe"),
            Err(CallError::InvalidResponse { .. })
        ));
    }

    #[test]
    fn data_of_the_wrong_shape_names_its_part() {
        for (body, part) in [
            (
                &br#"{"success":true,"data":{"records":[1]}}"#[..],
                "`data.records` as an object",
            ),
            (
                br#"{"success":true,"data":{"cc.projects_members":{}}}"#,
                "`data.cc.projects_members` as a list",
            ),
            (br#"{"success":true,"data":[]}"#, "`data` as an object"),
        ] {
            match parse_response(200, body) {
                Err(CallError::InvalidResponse { detail, .. }) => {
                    assert!(detail.contains(part), "{detail}");
                }
                other => panic!("{other:?}"),
            }
        }
        // A membership without its keys cannot be stored, and costs only itself.
        let body = br#"{"success":true,"data":{"cc.projects_members":[{"user_gid":"u"},
            {"project_gid":"p","user_gid":"u"}]}}"#;
        let r = parse_response(200, body).unwrap();
        assert_eq!(r.data[0].1.len(), 1);
        assert_eq!(r.data[0].1[0].0, "p/u");
    }

    #[test]
    fn a_lone_surrogate_does_not_lose_the_response() {
        let body = br#"{"success":true,"result":{},"data":{"records":{"r1":{"title":"\ud800"}}}}"#;
        let r = parse_response(200, body).unwrap();
        assert_eq!(r.data[0].1[0].1.to_value()["title"], "\u{fffd}");
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(redacted)");
    }
}
