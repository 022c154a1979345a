//! The read endpoints: singular and plural gets, asset lookups by pathname, memberships.

use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::api::{ok_body, DataOut, Params, Section};
use crate::store::{parse, ApiError, Inner, Kind, ObjMap};

/// Singular (`{"record": gid}` → result `record`) or plural (`{"records": [..]}` → result
/// `records`, unknown keys left out) get.
pub(crate) fn get_objects(
    inner: &Inner,
    kind: Kind,
    single: &str,
    plural: &str,
    p: &Params,
) -> Result<Vec<u8>, ApiError> {
    if let Some(key) = p.opt_str(single)? {
        if !inner.store(kind).contains_key(key) {
            return Err(ApiError::unprocessable(json!({single: key})));
        }
        return Ok(ok_body(
            &json!({single: key}),
            &DataOut::default().objs(inner, kind, [key]),
        ));
    }
    if let Some(keys) = p.opt_strs(plural)? {
        let store = inner.store(kind);
        let found: Vec<&str> = keys
            .into_iter()
            .filter(|k| store.contains_key(*k))
            .collect();
        return Ok(ok_body(
            &json!({plural: found}),
            &DataOut::default().objs(inner, kind, found.iter().copied()),
        ));
    }
    Err(ApiError::missing(single))
}

fn asset_by_pathname<'a>(assets: &'a ObjMap, pathname: &str) -> Option<&'a str> {
    assets
        .iter()
        .find(|(_, a)| parse(a).get("pathname").and_then(Value::as_str) == Some(pathname))
        .map(|(k, _)| k.as_str())
}

pub(crate) fn assets_get(inner: &Inner, p: &Params) -> Result<Vec<u8>, ApiError> {
    if p.get("asset").is_some() || p.get("assets").is_some() {
        return get_objects(inner, Kind::Assets, "asset", "assets", p);
    }
    if let Some(pathname) = p.opt_str("pathname")? {
        let gid = asset_by_pathname(&inner.data.assets, pathname)
            .ok_or_else(|| ApiError::unprocessable(json!({"pathname": pathname})))?;
        return Ok(ok_body(
            &json!({"asset": gid}),
            &DataOut::default().objs(inner, Kind::Assets, [gid]),
        ));
    }
    if let Some(pathnames) = p.opt_strs("pathnames")? {
        let found: Vec<&str> = pathnames
            .into_iter()
            .filter_map(|pn| asset_by_pathname(&inner.data.assets, pn))
            .collect();
        return Ok(ok_body(
            &json!({"assets": found}),
            &DataOut::default().objs(inner, Kind::Assets, found.iter().copied()),
        ));
    }
    Err(ApiError::missing("asset"))
}

/// The children of an asset folder in the order `/assets/children` lists them: folders first,
/// then by name (children whose object is missing are left out).
pub(crate) fn sorted_asset_children<'a>(inner: &'a Inner, gid: &str) -> Vec<&'a str> {
    let mut kids: Vec<(bool, String, &str)> = inner
        .data
        .asset_children
        .get(gid)
        .map(|kids| {
            kids.iter()
                .filter_map(|k| {
                    let a = parse(inner.data.assets.get(k)?);
                    let is_file = a.get("is_file").and_then(Value::as_bool).unwrap_or(false);
                    let name = a
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    Some((is_file, name, k.as_str()))
                })
                .collect()
        })
        .unwrap_or_default();
    kids.sort();
    kids.into_iter().map(|(_, _, k)| k).collect()
}

pub(crate) fn assets_children(inner: &Inner, p: &Params) -> Result<Vec<u8>, ApiError> {
    let gid = match (p.opt_str("asset")?, p.opt_str("pathname")?) {
        (Some(g), _) => g.to_owned(),
        (None, Some(pn)) => asset_by_pathname(&inner.data.assets, pn)
            .ok_or_else(|| ApiError::unprocessable(json!({"pathname": pn})))?
            .to_owned(),
        (None, None) => return Err(ApiError::missing("asset")),
    };
    if !inner.data.assets.contains_key(&gid) {
        return Err(ApiError::unprocessable(json!({"asset": gid})));
    }
    let top = usize::try_from(p.opt_u64("page.top")?.unwrap_or(0)).unwrap_or(usize::MAX);
    let size = usize::try_from(p.opt_u64("page.size")?.unwrap_or(100)).unwrap_or(usize::MAX);
    let kids = sorted_asset_children(inner, &gid);
    let total = kids.len();
    let page: Vec<&str> = kids.into_iter().skip(top).take(size).collect();
    let result = json!({"children": page, "children.size": total});
    Ok(ok_body(
        &result,
        &DataOut::default().objs(inner, Kind::Assets, page.iter().copied()),
    ))
}

/// Memberships of `pgid`: `member` → result `user`, `members` → result `users`; data
/// `cc.projects_members` (a list) and `cc.users`.
pub(crate) fn members_get(inner: &Inner, pgid: &str, p: &Params) -> Result<Vec<u8>, ApiError> {
    let (users, result) = if let Some(m) = p.opt_str("member")? {
        if !inner.cc.members.contains_key(&format!("{pgid}/{m}")) {
            return Err(ApiError::unprocessable(
                json!({"project": pgid, "member": m}),
            ));
        }
        (vec![m], json!({"user": m}))
    } else if let Some(ms) = p.opt_strs("members")? {
        let found: Vec<&str> = ms
            .into_iter()
            .filter(|m| inner.cc.members.contains_key(&format!("{pgid}/{m}")))
            .collect();
        let result = json!({"users": found});
        (found, result)
    } else {
        return Err(ApiError::missing("member"));
    };
    let member_objs: Vec<&RawValue> = users
        .iter()
        .filter_map(|u| inner.cc.members.get(&format!("{pgid}/{u}")).map(|o| &**o))
        .collect();
    let data = DataOut::default()
        .with(Kind::Members.name(), Section::List(member_objs))
        .objs(inner, Kind::Users, users.iter().copied());
    Ok(ok_body(&result, &data))
}

/// `/records/children {record, page.top?, page.size? (100), channel?, ordering?}` →
/// `children, children.size`, the listed children in `data`. `channel` and `ordering` are
/// accepted and ignored: children come in their stored order. A record planted with
/// [`Control::plant_empty_page`](crate::Control::plant_empty_page) answers an empty page with
/// its `childcount` as `children.size`, whatever page is asked for.
pub(crate) fn records_children(inner: &Inner, p: &Params) -> Result<Vec<u8>, ApiError> {
    let record = p.req_str("record")?;
    let Some(obj) = inner.data.records.get(record) else {
        return Err(ApiError::unprocessable(json!({"record": record})));
    };
    p.opt_str("channel")?;
    p.opt_str("ordering")?;
    let top = usize::try_from(p.opt_u64("page.top")?.unwrap_or(0)).unwrap_or(usize::MAX);
    let size = usize::try_from(p.opt_u64("page.size")?.unwrap_or(100)).unwrap_or(usize::MAX);
    if inner.data.empty_pages.contains(record) {
        let claimed = parse(obj)
            .get("childcount")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let result = json!({"children": [], "children.size": claimed});
        return Ok(ok_body(&result, &DataOut::default()));
    }
    let all = inner
        .data
        .children
        .get(record)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let page: Vec<&str> = all
        .iter()
        .skip(top)
        .take(size)
        .map(String::as_str)
        .collect();
    let result = json!({"children": page, "children.size": all.len()});
    Ok(ok_body(
        &result,
        &DataOut::default().objs(inner, Kind::Records, page.iter().copied()),
    ))
}
