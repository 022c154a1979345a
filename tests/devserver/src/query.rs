//! The bulk query endpoints: `/records/bulk/get`, `/assets/bulk/get`, `/schema/bulk/get`.
//!
//! A request is what the SDK's `walk_*_query` helpers send:
//! `{"selection": [{"search": {"language", "q", "filter"}}], "page.size": N, "page.cursor"?: C}`.
//! Every call computes the whole ordered list of matches, then answers one page of it:
//!
//! * records in depth-first tree order from the root record (the order of walking
//!   `/records/children`; a record met twice, as in a planted cycle, counts once), without
//!   records whose `status` is `deleted` and without records the tree doesn't reach;
//! * assets likewise from the root asset (children as `/assets/children` lists them);
//! * schema items: definitions, then classes, then fields, each sorted by name then gid.
//!
//! `q` (empty or absent: everything) is a case-insensitive substring of a record's `title[L]`
//! or of any string value in its `fields[L]`; of an asset's `name`, `pathname` or `title[L]`;
//! of a schema item's `name` or `label[L]`. `filter` (records only; `null` or `[]`: everything)
//! is `["value", op, [field_gid, operand]]` with `op` in `eq ne lt le gt ge` (numbers compare
//! numerically, strings as strings, a missing or `null` value never matches), or
//! `["and", f…]` / `["or", f…]`. Several `selection` entries match what any of them matches.
//!
//! `page.cursor` is opaque: the target, the offset of the next page and a check value. It is
//! `null` on the last page. A cursor this server didn't make is a 400.

use std::cmp::Ordering;
use std::collections::HashSet;

use serde_json::{json, Map, Value};

use crate::api::{ok_body, DataOut, Params};
use crate::ids::splitmix64;
use crate::read::sorted_asset_children;
use crate::store::{parse, ApiError, Inner, Kind};

/// What a bulk query lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Records,
    Assets,
    Schema,
}

impl Target {
    fn tag(self) -> &'static str {
        match self {
            Target::Records => "r",
            Target::Assets => "a",
            Target::Schema => "s",
        }
    }
}

/// The largest `page.size`.
const MAX_PAGE_SIZE: u64 = 1000;

/// The cursor of the page that starts at `offset`.
fn encode_cursor(target: Target, offset: usize) -> String {
    format!(
        "{}.{offset:x}.{:08x}",
        target.tag(),
        cursor_check(target, offset)
    )
}

fn cursor_check(target: Target, offset: usize) -> u32 {
    let seed = target
        .tag()
        .bytes()
        .fold(0x0C0F_FEE5_u64, |h, b| splitmix64(h ^ u64::from(b)));
    (splitmix64(seed ^ offset as u64) >> 32) as u32
}

/// The offset a cursor stands for, `None` if this server didn't make it for `target`.
fn decode_cursor(target: Target, cursor: &str) -> Option<usize> {
    let mut parts = cursor.split('.');
    let (tag, offset, check) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || tag != target.tag() {
        return None;
    }
    let offset = usize::from_str_radix(offset, 16).ok()?;
    let check = u32::from_str_radix(check, 16).ok()?;
    (check == cursor_check(target, offset)).then_some(offset)
}

/// A comparison operator of a `value` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn from_name(name: &str) -> Option<Op> {
        Some(match name {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "lt" => Op::Lt,
            "le" => Op::Le,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            _ => return None,
        })
    }

    /// Whether `value op operand` holds. Numbers compare numerically and strings as strings;
    /// other pairs only compare for (in)equality. A missing (`null`) value never matches.
    fn holds(self, value: &Value, operand: &Value) -> bool {
        if value.is_null() {
            return false;
        }
        let ordering = match (value, operand) {
            (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
                (Some(a), Some(b)) => a.partial_cmp(&b),
                _ => None,
            },
            (Value::String(a), Value::String(b)) => Some(a.as_str().cmp(b.as_str())),
            _ => None,
        };
        match (self, ordering) {
            (Op::Eq, Some(o)) => o == Ordering::Equal,
            (Op::Ne, Some(o)) => o != Ordering::Equal,
            (Op::Eq, None) => value == operand,
            (Op::Ne, None) => value != operand,
            (Op::Lt, Some(o)) => o == Ordering::Less,
            (Op::Le, Some(o)) => o != Ordering::Greater,
            (Op::Gt, Some(o)) => o == Ordering::Greater,
            (Op::Ge, Some(o)) => o != Ordering::Less,
            (_, None) => false,
        }
    }
}

/// A parsed `filter`.
#[derive(Debug, Clone, PartialEq)]
enum Filter {
    All,
    Value {
        op: Op,
        /// The field's name (records store values by name).
        field: String,
        operand: Value,
    },
    And(Vec<Filter>),
    Or(Vec<Filter>),
}

fn bad_filter(filter: &Value, error: &str) -> ApiError {
    ApiError::bad_request(json!({"param": "filter", "error": error, "filter": filter}))
}

impl Filter {
    fn parse(inner: &Inner, target: Target, v: &Value) -> Result<Filter, ApiError> {
        let list = match v {
            Value::Null => return Ok(Filter::All),
            Value::Array(a) if a.is_empty() => return Ok(Filter::All),
            Value::Array(a) => a,
            _ => return Err(bad_filter(v, "a filter is null or a list")),
        };
        match list[0].as_str() {
            Some(combine @ ("and" | "or")) => {
                let parts = list[1..]
                    .iter()
                    .map(|f| Filter::parse(inner, target, f))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if combine == "and" {
                    Filter::And(parts)
                } else {
                    Filter::Or(parts)
                })
            }
            Some("value") => {
                if target != Target::Records {
                    return Err(bad_filter(v, "value filters apply to records only"));
                }
                let (Some(op), Some(Value::Array(args)), 3) = (
                    list.get(1).and_then(Value::as_str).and_then(Op::from_name),
                    list.get(2),
                    list.len(),
                ) else {
                    return Err(bad_filter(
                        v,
                        "expected [\"value\", eq|ne|lt|le|gt|ge, [field_gid, operand]]",
                    ));
                };
                let (Some(gid), Some(operand), 2) = (
                    args.first().and_then(Value::as_str),
                    args.get(1),
                    args.len(),
                ) else {
                    return Err(bad_filter(v, "expected [field_gid, operand]"));
                };
                let field = inner
                    .data
                    .fields
                    .get(gid)
                    .and_then(|f| parse(f).get("name")?.as_str().map(str::to_owned))
                    .ok_or_else(|| bad_filter(v, "unknown field"))?;
                Ok(Filter::Value {
                    op,
                    field,
                    operand: operand.clone(),
                })
            }
            _ => Err(bad_filter(v, "unknown filter")),
        }
    }

    fn is_all(&self) -> bool {
        matches!(self, Filter::All)
    }

    /// Whether a record's values in one language (`fields[L]`) pass.
    fn matches(&self, values: Option<&Map<String, Value>>) -> bool {
        match self {
            Filter::All => true,
            Filter::Value { op, field, operand } => values
                .and_then(|v| v.get(field))
                .is_some_and(|value| op.holds(value, operand)),
            Filter::And(parts) => parts.iter().all(|f| f.matches(values)),
            Filter::Or(parts) => parts.iter().any(|f| f.matches(values)),
        }
    }
}

/// One `selection` entry's `search`.
#[derive(Debug)]
struct Search {
    language: String,
    /// Lowercased; empty matches everything.
    q: String,
    filter: Filter,
}

impl Search {
    fn matches_everything(&self) -> bool {
        self.q.is_empty() && self.filter.is_all()
    }

    fn q_in(&self, text: Option<&Value>) -> bool {
        text.and_then(Value::as_str)
            .is_some_and(|t| t.to_lowercase().contains(&self.q))
    }
}

/// A parsed bulk request: its searches (any may match) and the page asked for.
#[derive(Debug)]
struct Request {
    searches: Vec<Search>,
    offset: usize,
    size: usize,
}

fn bad_selection(error: &str) -> ApiError {
    ApiError::bad_request(json!({"param": "selection", "error": error}))
}

impl Request {
    fn parse(inner: &Inner, target: Target, p: &Params) -> Result<Request, ApiError> {
        let size = match p.opt_u64("page.size")? {
            None => 100,
            Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            Some(n) => {
                return Err(ApiError::bad_request(json!({
                    "param": "page.size", "error": format!("must be 1 to {MAX_PAGE_SIZE}, not {n}"),
                })))
            }
        };
        let offset = match p.opt_str("page.cursor")? {
            None => 0,
            Some(c) => decode_cursor(target, c).ok_or_else(|| {
                ApiError::bad_request(
                    json!({"param": "page.cursor", "error": "unknown cursor", "page.cursor": c}),
                )
            })?,
        };
        let languages = inner.languages();
        let entries: &[Value] = match p.get("selection") {
            None => &[],
            Some(Value::Array(a)) => a,
            Some(_) => return Err(bad_selection("expected a list")),
        };
        let mut searches = Vec::new();
        for entry in entries {
            let search = entry
                .get("search")
                .and_then(Value::as_object)
                .ok_or_else(|| bad_selection("expected [{\"search\": {…}}, …]"))?;
            let language = match search.get("language") {
                None | Some(Value::Null) => languages.first().cloned().unwrap_or_default(),
                Some(Value::String(l)) if languages.contains(l) => l.clone(),
                Some(l) => {
                    return Err(ApiError::bad_request(
                        json!({"param": "language", "error": "unknown language", "language": l}),
                    ))
                }
            };
            let q = match search.get("q") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(q)) => q.to_lowercase(),
                Some(_) => return Err(ApiError::wrong_type("q", "string")),
            };
            let filter =
                Filter::parse(inner, target, search.get("filter").unwrap_or(&Value::Null))?;
            searches.push(Search {
                language,
                q,
                filter,
            });
        }
        if searches.is_empty() {
            searches.push(Search {
                language: languages.first().cloned().unwrap_or_default(),
                q: String::new(),
                filter: Filter::All,
            });
        }
        Ok(Request {
            searches,
            offset,
            size: usize::try_from(size).unwrap_or(usize::MAX),
        })
    }

    fn matches_everything(&self) -> bool {
        self.searches.iter().any(Search::matches_everything)
    }
}

/// The next cursor after a page `[start, end)` of `total` items.
fn next_cursor(target: Target, end: usize, total: usize) -> Option<String> {
    (end < total).then(|| encode_cursor(target, end))
}

/// A page of `all`: `(items, next cursor)`.
fn slice<'a, T>(req: &Request, target: Target, all: &'a [T]) -> (&'a [T], Option<String>) {
    let start = req.offset.min(all.len());
    let end = start.saturating_add(req.size).min(all.len());
    (&all[start..end], next_cursor(target, end, all.len()))
}

fn is_deleted(m: &Map<String, Value>) -> bool {
    m.get("status").and_then(Value::as_str) == Some("deleted")
}

/// Whether a record (parsed) passes any of the searches.
fn record_matches(req: &Request, rec: &Map<String, Value>) -> bool {
    req.searches.iter().any(|s| {
        let values = rec
            .get("fields")
            .and_then(|f| f.get(&s.language))
            .and_then(Value::as_object);
        let q_ok = s.q.is_empty()
            || s.q_in(rec.get("title").and_then(|t| t.get(&s.language)))
            || values.is_some_and(|v| v.values().any(|x| s.q_in(Some(x))));
        q_ok && s.filter.matches(values)
    })
}

/// Every record the tree reaches from the root, depth first, each once.
fn record_tree(inner: &Inner) -> Vec<&str> {
    let data = &inner.data;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<&str> = vec![data.root_record.as_str()];
    while let Some(gid) = stack.pop() {
        if !data.records.contains_key(gid) || !seen.insert(gid) {
            continue;
        }
        out.push(gid);
        if let Some(kids) = data.children.get(gid) {
            stack.extend(kids.iter().rev().map(String::as_str));
        }
    }
    out
}

/// Every asset the tree reaches from the root asset, depth first, each once.
fn asset_tree(inner: &Inner) -> Vec<&str> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<&str> = vec![inner.data.root_asset.as_str()];
    while let Some(gid) = stack.pop() {
        if !inner.data.assets.contains_key(gid) || !seen.insert(gid) {
            continue;
        }
        out.push(gid);
        stack.extend(sorted_asset_children(inner, gid).into_iter().rev());
    }
    out
}

/// `/records/bulk/get` → `records, records.size, page.cursor` (the page's records in `data`).
pub(crate) fn records_bulk_get(inner: &Inner, p: &Params) -> Result<Vec<u8>, ApiError> {
    let req = Request::parse(inner, Target::Records, p)?;
    let everything = req.matches_everything();
    let all: Vec<&str> = record_tree(inner)
        .into_iter()
        .filter(|gid| {
            let Some(obj) = inner.data.records.get(*gid) else {
                return false;
            };
            // Most records need no parse: no "deleted" in the text means not deleted.
            if everything && !obj.get().contains("\"deleted\"") {
                return true;
            }
            let rec = parse(obj);
            !is_deleted(&rec) && (everything || record_matches(&req, &rec))
        })
        .collect();
    let (page, cursor) = slice(&req, Target::Records, &all);
    let result = json!({"records": page, "records.size": all.len(), "page.cursor": cursor});
    Ok(ok_body(
        &result,
        &DataOut::default().objs(inner, Kind::Records, page.iter().copied()),
    ))
}

/// `/assets/bulk/get` → `assets, assets.size, page.cursor` (the page's assets in `data`).
pub(crate) fn assets_bulk_get(inner: &Inner, p: &Params) -> Result<Vec<u8>, ApiError> {
    let req = Request::parse(inner, Target::Assets, p)?;
    let all: Vec<&str> = asset_tree(inner)
        .into_iter()
        .filter(|gid| {
            let a = inner
                .data
                .assets
                .get(*gid)
                .map(|o| parse(o))
                .unwrap_or_default();
            !is_deleted(&a)
                && req.searches.iter().any(|s| {
                    s.q.is_empty()
                        || s.q_in(a.get("name"))
                        || s.q_in(a.get("pathname"))
                        || s.q_in(a.get("title").and_then(|t| t.get(&s.language)))
                })
        })
        .collect();
    let (page, cursor) = slice(&req, Target::Assets, &all);
    let result = json!({"assets": page, "assets.size": all.len(), "page.cursor": cursor});
    Ok(ok_body(
        &result,
        &DataOut::default().objs(inner, Kind::Assets, page.iter().copied()),
    ))
}

/// `/schema/bulk/get` → `schema_items: [{type, item}], schema_items.size, page.cursor`
/// (the page's definitions, classes and fields in `data`).
pub(crate) fn schema_bulk_get(inner: &Inner, p: &Params) -> Result<Vec<u8>, ApiError> {
    let req = Request::parse(inner, Target::Schema, p)?;
    let mut all: Vec<(&'static str, &str)> = Vec::new();
    for (kind, type_) in [
        (Kind::Definitions, "definition"),
        (Kind::Classes, "class"),
        (Kind::Fields, "field"),
    ] {
        let mut items: Vec<(String, &str)> = inner
            .store(kind)
            .iter()
            .filter_map(|(gid, obj)| {
                let m = parse(obj);
                let hit = req.searches.iter().any(|s| {
                    s.q.is_empty()
                        || s.q_in(m.get("name"))
                        || s.q_in(m.get("label").and_then(|l| l.get(&s.language)))
                });
                let name = m.get("name").and_then(Value::as_str).unwrap_or_default();
                hit.then(|| (name.to_owned(), gid.as_str()))
            })
            .collect();
        items.sort();
        all.extend(items.into_iter().map(|(_, gid)| (type_, gid)));
    }
    let (page, cursor) = slice(&req, Target::Schema, &all);
    let listed: Vec<Value> = page
        .iter()
        .map(|(type_, gid)| json!({"type": type_, "item": gid}))
        .collect();
    let of = |t: &'static str| page.iter().filter(move |(x, _)| *x == t).map(|(_, g)| *g);
    let result =
        json!({"schema_items": listed, "schema_items.size": all.len(), "page.cursor": cursor});
    Ok(ok_body(
        &result,
        &DataOut::default()
            .objs(inner, Kind::Definitions, of("definition"))
            .objs(inner, Kind::Classes, of("class"))
            .objs(inner, Kind::Fields, of("field")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_strangers() {
        for offset in [0, 1, 100, 99_999] {
            let c = encode_cursor(Target::Records, offset);
            assert_eq!(decode_cursor(Target::Records, &c), Some(offset));
            assert_eq!(decode_cursor(Target::Assets, &c), None, "{c}");
        }
        for c in [
            "",
            "r",
            "r.64",
            "r.64.00000000",
            "x.64.1",
            "r.zz.1",
            "r.1.2.3",
        ] {
            assert_eq!(decode_cursor(Target::Records, c), None, "{c}");
        }
    }

    #[test]
    fn operators_compare_numbers_and_strings() {
        assert!(Op::Gt.holds(&json!(3), &json!(0)));
        assert!(Op::Ge.holds(&json!(0.5), &json!(0.5)));
        assert!(!Op::Lt.holds(&json!(1.0), &json!(1)));
        assert!(Op::Eq.holds(&json!(1.0), &json!(1)));
        assert!(Op::Lt.holds(&json!("A-00001"), &json!("A-00002")));
        assert!(Op::Ne.holds(&json!("x"), &json!("y")));
        assert!(
            !Op::Gt.holds(&json!("10"), &json!(9)),
            "no ordering across types"
        );
        assert!(Op::Ne.holds(&json!(true), &json!(false)));
        for op in [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge] {
            assert!(
                !op.holds(&Value::Null, &json!(1)),
                "{op:?}: null never matches"
            );
        }
    }

    #[test]
    fn filters_parse_or_name_what_is_wrong() {
        let inner = Inner::new(1, 3);
        let stock = inner
            .data
            .fields
            .iter()
            .find(|(_, f)| parse(f)["name"] == "stock")
            .map(|(g, _)| g.clone())
            .unwrap();
        let ok = json!(["and", ["value", "gt", [stock, 0]], ["or"]]);
        let f = Filter::parse(&inner, Target::Records, &ok).unwrap();
        assert!(matches!(&f, Filter::And(parts) if parts.len() == 2));
        let values = json!({"stock": 3});
        assert!(
            !f.matches(values.as_object()),
            "an empty or matches nothing"
        );
        let bad = [
            json!(["nope"]),
            json!({"value": 1}),
            json!(["value", "like", [stock, 1]]),
            json!(["value", "eq", ["no-such-field", 1]]),
            json!(["value", "eq", [stock]]),
            json!(["and", ["value"]]),
        ];
        for b in bad {
            let e = Filter::parse(&inner, Target::Records, &b).unwrap_err();
            assert_eq!(e.code, 400, "{b}");
            assert_eq!(e.info["param"], "filter");
            assert!(
                e.info["filter"].is_array() || e.info["filter"].is_object(),
                "{e}"
            );
        }
        let e = Filter::parse(&inner, Target::Assets, &json!(["value", "eq", [stock, 1]]));
        assert_eq!(e.unwrap_err().code, 400);
    }
}
