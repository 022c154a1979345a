//! The SDK's query walks: a saved query's search through `*/bulk/get`, page by page with
//! `page.cursor`, each item handed out with the total.

use std::collections::{BTreeSet, VecDeque};

use serde_json::{json, Value};

use super::{held, malformed, ApiCall, Step, Walk, WalkError};
use crate::store::Store;
use crate::view::{Assets, Classes, Definitions, Fields, Held, Query, Records};

/// What a query walk searches: records, assets, or the schema.
pub trait QueryTarget {
    /// What it hands out with each total.
    type Item;
    /// The endpoint, such as `/records/bulk/get`.
    const ENDPOINT: &'static str;
    /// The result's list, such as `records`; the total is in `<list>.size`.
    const LIST: &'static str;

    /// The item one entry of the list names.
    fn item(store: &Store, entry: &Value) -> Result<Self::Item, WalkError>;
}

fn gid_of<'v>(entry: &'v Value, endpoint: &str) -> Result<&'v str, WalkError> {
    entry
        .as_str()
        .ok_or_else(|| malformed(endpoint, "a listed gid is not a string"))
}

impl QueryTarget for Records {
    type Item = Held<Records>;
    const ENDPOINT: &'static str = "/records/bulk/get";
    const LIST: &'static str = "records";

    fn item(store: &Store, entry: &Value) -> Result<Self::Item, WalkError> {
        held(store, gid_of(entry, Self::ENDPOINT)?)
    }
}

impl QueryTarget for Assets {
    type Item = Held<Assets>;
    const ENDPOINT: &'static str = "/assets/bulk/get";
    const LIST: &'static str = "assets";

    fn item(store: &Store, entry: &Value) -> Result<Self::Item, WalkError> {
        held(store, gid_of(entry, Self::ENDPOINT)?)
    }
}

/// An item of the schema: what a schema query finds.
#[derive(Clone, Debug)]
pub enum SchemaItem {
    /// A definition.
    Definition(Held<Definitions>),
    /// A class.
    Class(Held<Classes>),
    /// A field.
    Field(Held<Fields>),
}

impl SchemaItem {
    /// Its gid.
    pub fn gid(&self) -> &str {
        match self {
            SchemaItem::Definition(h) => h.key(),
            SchemaItem::Class(h) => h.key(),
            SchemaItem::Field(h) => h.key(),
        }
    }
}

/// The schema, as a [`QueryTarget`].
#[derive(Debug)]
pub enum SchemaItems {}

impl QueryTarget for SchemaItems {
    type Item = SchemaItem;
    const ENDPOINT: &'static str = "/schema/bulk/get";
    const LIST: &'static str = "schema_items";

    fn item(store: &Store, entry: &Value) -> Result<Self::Item, WalkError> {
        let gid = entry
            .get("item")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(Self::ENDPOINT, "a schema item without a gid"))?;
        match entry.get("type").and_then(Value::as_str) {
            Some("definition") => held(store, gid).map(SchemaItem::Definition),
            Some("class") => held(store, gid).map(SchemaItem::Class),
            Some("field") => held(store, gid).map(SchemaItem::Field),
            other => Err(malformed(
                Self::ENDPOINT,
                format!("a schema item of type {other:?}"),
            )),
        }
    }
}

/// The SDK's `walk_record_query`, `walk_asset_query` and `walk_schema_query`: hands out
/// `(total, item)` in the server's order, at most `limit` items.
///
/// A cursor the server already gave once ends the walk after its page (the SDK would ask
/// for the same pages for ever).
#[derive(Debug)]
pub struct QueryWalk<T> {
    request: Value,
    limit: Option<u64>,
    handed: u64,
    page: VecDeque<(u64, Value)>,
    cursors: BTreeSet<String>,
    /// Every entry handed out so far, as JSON text: a page that brings none new ends the walk.
    seen: BTreeSet<String>,
    more: bool,
    waiting: Option<ApiCall>,
    target: std::marker::PhantomData<fn() -> T>,
}

impl<T: QueryTarget> QueryWalk<T> {
    /// A walk of `query`'s search in `language`; `limit` 0 or `None` means all, as in the
    /// SDK. Pages hold `limit` items (100 without one), at most 1,000.
    ///
    /// ```
    /// # let store = unicat_core::view::example_store();
    /// use serde_json::json;
    /// use unicat_core::view::Records;
    /// use unicat_core::walk::{QueryWalk, Step, Walk};
    ///
    /// let query = store.view().record_query_by_name("Cheap articles").unwrap();
    /// let mut walk = QueryWalk::<Records>::new("en", &query, Some(1));
    /// let Step::Call(call) = walk.poll(&store) else { panic!() };
    /// assert_eq!(call.endpoint, "/records/bulk/get");
    /// assert_eq!(call.body["page.size"], 1);
    /// walk.handle_result(&json!({"records": ["r1"], "records.size": 7, "page.cursor": "c2"})).unwrap();
    /// let Step::Item(Ok((total, record))) = walk.poll(&store) else { panic!() };
    /// assert_eq!((total, record.key()), (7, "r1"));
    /// assert!(matches!(walk.poll(&store), Step::Done), "the limit is reached");
    /// ```
    pub fn new(language: &str, query: &Query<'_>, limit: Option<u64>) -> Self {
        let q = query.q().map(|q| q.into_owned());
        Self::search(language, q.as_deref(), query.filter(), limit)
    }

    /// A walk of a search not saved as a query.
    pub fn search(language: &str, q: Option<&str>, filter: Value, limit: Option<u64>) -> Self {
        let limit = limit.filter(|l| *l > 0);
        let size = limit.unwrap_or(100).clamp(1, 1000);
        let request = json!({
            "selection": [{"search": {"language": language, "q": q, "filter": filter}}],
            "page.size": size,
        });
        QueryWalk {
            request,
            limit,
            handed: 0,
            page: VecDeque::new(),
            cursors: BTreeSet::new(),
            seen: BTreeSet::new(),
            more: true,
            waiting: None,
            target: std::marker::PhantomData,
        }
    }
}

impl<T: QueryTarget> Walk for QueryWalk<T> {
    type Item = (u64, T::Item);

    fn poll(&mut self, store: &Store) -> Step<Self::Item> {
        if let Some(call) = &self.waiting {
            return Step::Call(call.clone());
        }
        if self.limit.is_some_and(|l| self.handed >= l) {
            return Step::Done;
        }
        if let Some((total, entry)) = self.page.pop_front() {
            self.handed = self.handed.saturating_add(1);
            return Step::Item(T::item(store, &entry).map(|item| (total, item)));
        }
        if !self.more {
            return Step::Done;
        }
        let call = ApiCall::new(T::ENDPOINT, self.request.clone());
        self.waiting = Some(call.clone());
        Step::Call(call)
    }

    fn handle_result(&mut self, result: &Value) -> Result<(), WalkError> {
        if self.waiting.take().is_none() {
            return Ok(());
        }
        self.more = false;
        let list = result
            .get(T::LIST)
            .and_then(Value::as_array)
            .ok_or_else(|| malformed(T::ENDPOINT, format!("no {} list", T::LIST)))?;
        let total = result
            .get(format!("{}.size", T::LIST))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let mut fresh = false;
        for entry in list {
            fresh |= self.seen.insert(entry.to_string());
            self.page.push_back((total, entry.clone()));
        }
        // The SDK goes on while the cursor is true in Python's sense.
        let cursor = match result.get("page.cursor") {
            Some(c) if truthy(c) => c.clone(),
            _ => return Ok(()),
        };
        if !fresh {
            crate::log!(
                warn,
                "{} gave a page of nothing new; not paging on",
                T::ENDPOINT
            );
            return Ok(());
        }
        if !self.cursors.insert(cursor.to_string()) {
            crate::log!(
                warn,
                "{} gave cursor {cursor} twice; not paging on",
                T::ENDPOINT
            );
            return Ok(());
        }
        if let Some(request) = self.request.as_object_mut() {
            request.insert("page.cursor".to_owned(), cursor);
        }
        self.more = true;
        Ok(())
    }
}

/// Python's truth of a JSON value: `null`, `false`, `0`, `""`, `[]` and `{}` are false.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}
