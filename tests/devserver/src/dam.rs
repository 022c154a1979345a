//! DAM (`/dam/p/<pgid>/{publish,transform,info}/…`) and media (`/media/…`) endpoints.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Response, StatusCode};
use serde_json::{json, Value};

use crate::api::{authenticate, error_response, finish, ok_body, DataOut};
use crate::lock;
use crate::server::Shared;
use crate::store::{parse, ApiError};

/// Decodes `%XX` escapes (invalid escapes and non-UTF-8 results are kept as they came).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

/// Escapes everything but unreserved characters and `/ @ ~ , = :` in a URL path.
pub(crate) fn percent_encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/@,=:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Splits a storage pathname `<gid>~<version><ext>` into its parts.
fn parse_storage(s: &str) -> Option<(&str, u64, &str)> {
    let (gid, rest) = s.split_once('~')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let version = rest[..digits].parse().ok()?;
    Some((gid, version, &rest[digits..]))
}

const TRANSFORM_OPTIONS: [&str; 15] = [
    "name", "key", "type", "force", "optimize", "width", "height", "fit", "fill", "hs", "crop",
    "padding", "bg", "q", "dpr",
];

/// Java-style 31-multiplier hash of the options, as 8 hex digits (the default `key`).
fn options_key(options: &BTreeMap<&str, &str>) -> String {
    let text = serde_json::to_string(options).unwrap_or_default();
    let h = text
        .chars()
        .fold(0u32, |h, c| h.wrapping_mul(31).wrapping_add(c as u32));
    format!("{h:08x}")
}

/// `GET /dam/p/<pgid>/{publish|transform|info}/<gid>~<version><ext>[/<k>=<v>…]`: Bearer auth,
/// JSON envelope, never a renewed JWT.
pub(crate) fn dam(shared: &Shared, rest: &str, req: &Request) -> Response<Body> {
    let mut parts = rest.split('/');
    let pgid = parts.next().unwrap_or_default();
    let action = parts.next().unwrap_or_default();
    let counter = match action {
        "publish" | "transform" | "info" => format!("dam/{action}"),
        _ => "dam".to_owned(),
    };
    shared.count(&counter);
    let info = match authenticate(shared, req) {
        Ok(i) => i,
        Err(e) => return error_response(&e),
    };
    if info.project != pgid {
        return error_response(&ApiError::forbidden(json!({"project": pgid})));
    }
    let storage = percent_decode(parts.next().unwrap_or_default());
    let options: Vec<String> = parts
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    finish(dam_action(shared, pgid, action, &storage, &options))
}

fn dam_action(
    shared: &Shared,
    pgid: &str,
    action: &str,
    storage: &str,
    options: &[&str],
) -> Result<Vec<u8>, ApiError> {
    if !matches!(action, "publish" | "transform" | "info") {
        return Err(ApiError::not_implemented(
            json!({"endpoint": format!("/dam/{action}")}),
        ));
    }
    let (gid, version, ext) = parse_storage(storage).ok_or_else(|| {
        ApiError::bad_request(
            json!({"error": "expected <gid>~<version><ext>", "pathname": storage}),
        )
    })?;
    let mut inner = lock(&shared.inner);
    let asset = inner
        .data
        .assets
        .get(gid)
        .map(|a| parse(a))
        .ok_or_else(|| ApiError::unprocessable(json!({"asset": gid})))?;
    if !asset
        .get("is_file")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return Err(ApiError::unprocessable(
            json!({"asset": gid, "error": "not a file"}),
        ));
    }
    if asset.get("version").and_then(Value::as_u64) != Some(version) {
        return Err(ApiError::unprocessable(
            json!({"asset": gid, "version": version, "error": "no such version"}),
        ));
    }
    match action {
        "info" => {
            let info = asset.get("info").cloned().unwrap_or_else(|| json!({}));
            Ok(ok_body(&info, &DataOut::default()))
        }
        "publish" => {
            if !options.is_empty() {
                return Err(ApiError::bad_request(
                    json!({"error": "publish takes no options"}),
                ));
            }
            let media = format!("p-{pgid}/src/{gid}{ext}");
            inner.data.published.insert(media.clone(), gid.to_owned());
            let url = format!("{}/media/{}", shared.base_url, percent_encode_path(&media));
            Ok(ok_body(&json!({"public_url": url}), &DataOut::default()))
        }
        _ => {
            let mut opts = BTreeMap::new();
            for o in options {
                let (k, v) = o.split_once('=').ok_or_else(|| {
                    ApiError::bad_request(
                        json!({"error": "expected <option>=<value>", "option": o}),
                    )
                })?;
                if !TRANSFORM_OPTIONS.contains(&k) {
                    return Err(ApiError::bad_request(
                        json!({"error": "unknown transform option", "option": k}),
                    ));
                }
                opts.insert(k, v);
            }
            let source_name = asset
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let stem = source_name.rsplit_once('.').map_or(source_name, |(s, _)| s);
            let name = opts.get("name").copied().unwrap_or(stem).to_owned();
            let key = opts
                .get("key")
                .map_or_else(|| options_key(&opts), |k| (*k).to_owned());
            let out_ext = match opts.get("type") {
                Some(t) => format!(".{t}"),
                None => ext.to_owned(),
            };
            let media = format!("p-{pgid}/transformed/{gid}/{name}@{key}{out_ext}");
            inner.data.published.insert(media.clone(), gid.to_owned());
            let url = format!("{}/media/{}", shared.base_url, percent_encode_path(&media));
            Ok(ok_body(
                &json!({"public_url": url, "transform": opts}),
                &DataOut::default(),
            ))
        }
    }
}

fn content_type_for(path: &str) -> &'static str {
    match path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        _ => "application/octet-stream",
    }
}

/// `GET /media/<path>`: the bytes of a published or transformed asset (no auth). Transforms
/// are not computed: they serve the source bytes.
pub(crate) fn media(shared: &Shared, rest: &str) -> Response<Body> {
    let rest = percent_decode(rest);
    let inner = lock(&shared.inner);
    let bytes = inner
        .data
        .published
        .get(&rest)
        .and_then(|gid| inner.data.asset_bytes.get(gid))
        .cloned();
    drop(inner);
    match bytes {
        Some(b) => {
            let mut resp = Response::new(Body::from(b));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type_for(&rest)),
            );
            resp
        }
        None => {
            let mut resp = Response::new(Body::from("not found"));
            *resp.status_mut() = StatusCode::NOT_FOUND;
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_coding() {
        assert_eq!(percent_decode("a%20b%2Fc%zz%4"), "a b/c%zz%4");
        assert_eq!(percent_decode("%ff"), "%ff");
        assert_eq!(
            percent_encode_path("p-x/new pic@k.png"),
            "p-x/new%20pic@k.png"
        );
        assert_eq!(percent_decode(&percent_encode_path("ä ö/€")), "ä ö/€");
    }

    #[test]
    fn storage_pathnames() {
        assert_eq!(parse_storage("abc~31.svg"), Some(("abc", 31, ".svg")));
        assert_eq!(parse_storage("abc~7"), Some(("abc", 7, "")));
        assert_eq!(parse_storage("abc.svg"), None);
        assert_eq!(parse_storage("abc~x.svg"), None);
    }
}
