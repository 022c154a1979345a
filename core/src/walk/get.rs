//! Get-or-fetch: the SDK's `get_record(s)`, `get_asset(s)`, `get_asset_by_pathname`,
//! `get_root_record`, `get_module(s)` and `walk_modules`, fetching only what the store does
//! not hold, in batches.

use std::collections::{BTreeSet, VecDeque};

use serde_json::{json, Value};

use super::{held, malformed, strings, ApiCall, Step, Tree, Walk, WalkError, GET_BATCH};
use crate::store::{DataType, Store};
use crate::view::{
    Assets, Classes, Definitions, Fields, Held, Kind, Layouts, Modules, Queries, Records,
};

/// A data type with a get endpoint that takes one key or a list.
pub trait Fetchable: Kind {
    /// The endpoint, such as `/records/get`.
    const GET: &'static str;
    /// The parameter for one key, such as `record`.
    const ONE: &'static str;
    /// The parameter for a list of keys, such as `records`.
    const MANY: &'static str;
}

macro_rules! fetchable {
    ($($kind:ident: $get:literal, $one:literal, $many:literal;)*) => {
        $(impl Fetchable for $kind {
            const GET: &'static str = $get;
            const ONE: &'static str = $one;
            const MANY: &'static str = $many;
        })*
    };
}

fetchable! {
    Records: "/records/get", "record", "records";
    Assets: "/assets/get", "asset", "assets";
    Definitions: "/definitions/get", "definition", "definitions";
    Classes: "/classes/get", "class", "classes";
    Fields: "/fields/get", "field", "fields";
    Layouts: "/layouts/get", "layout", "layouts";
    Queries: "/queries/get", "query", "queries";
    Modules: "/modules/get", "module", "modules";
}

/// What both gets share: the keys to hand out in order, the batches of those to fetch first,
/// and the call under way.
#[derive(Debug)]
struct Batches {
    keys: Vec<String>,
    force: bool,
    /// Send one key in the one-key form (the server refuses an unknown key there) rather than
    /// the list form (the server leaves unknown keys out).
    single: bool,
    planned: Option<VecDeque<Vec<String>>>,
    next: usize,
    waiting: Option<ApiCall>,
}

/// What a get does next.
enum Next {
    Call(ApiCall),
    Key(String),
    Done,
}

impl Batches {
    fn new<S: Into<String>>(keys: impl IntoIterator<Item = S>, force: bool, single: bool) -> Self {
        Batches {
            keys: keys
                .into_iter()
                .map(Into::into)
                .filter(|k| !k.is_empty())
                .collect(),
            force,
            single,
            planned: None,
            next: 0,
            waiting: None,
        }
    }

    /// The call to make (through `endpoint`, with `one` or `many` naming the keys), or the
    /// next key once every batch is fetched. The batches are planned at the first step: the
    /// keys `held` says the store lacks (all with `force`), each once, in order.
    fn next(
        &mut self,
        held: impl Fn(&str) -> bool,
        (endpoint, one, many): (&str, &str, &str),
    ) -> Next {
        if let Some(call) = &self.waiting {
            return Next::Call(call.clone());
        }
        let (keys, force) = (&self.keys, self.force);
        let planned = self.planned.get_or_insert_with(|| {
            let mut seen = BTreeSet::new();
            let wanted: Vec<String> = keys
                .iter()
                .filter(|k| (force || !held(k)) && seen.insert(k.as_str()))
                .cloned()
                .collect();
            wanted.chunks(GET_BATCH).map(<[String]>::to_vec).collect()
        });
        if let Some(batch) = planned.pop_front() {
            let body = match <[String; 1]>::try_from(batch) {
                Ok([key]) if self.single => json!({ one: key }),
                Ok(batch) => json!({ many: batch }),
                Err(batch) => json!({ many: batch }),
            };
            let call = ApiCall::new(endpoint, body);
            self.waiting = Some(call.clone());
            return Next::Call(call);
        }
        let Some(key) = self.keys.get(self.next) else {
            return Next::Done;
        };
        self.next = self.next.saturating_add(1);
        Next::Key(key.clone())
    }
}

/// Hands out the objects at `keys`, in order, after fetching the ones the store does not
/// hold (every one with `force`) in batches of [`GET_BATCH`]. Empty keys are skipped, as the
/// SDK returns `None` for them.
///
/// ```
/// # let store = unicat_core::view::example_store();
/// use serde_json::json;
/// use unicat_core::view::Records;
/// use unicat_core::walk::{Get, Step, Walk};
///
/// let mut get = Get::<Records>::new(["r1", "r9"], false);
/// let Step::Call(call) = get.poll(&store) else { panic!() };
/// assert_eq!(call.body, json!({"records": ["r9"]}), "only what the store does not hold");
/// get.handle_result(&json!({"records": []})).unwrap();
/// let Step::Item(Ok(r1)) = get.poll(&store) else { panic!() };
/// assert_eq!(r1.key(), "r1");
/// ```
#[derive(Debug)]
pub struct Get<K> {
    batches: Batches,
    kind: std::marker::PhantomData<fn() -> K>,
}

impl<K: Fetchable> Get<K> {
    /// A get of `keys`, fetched in lists; `force` fetches them all again.
    pub fn new<S: Into<String>>(keys: impl IntoIterator<Item = S>, force: bool) -> Self {
        Get {
            batches: Batches::new(keys, force, false),
            kind: std::marker::PhantomData,
        }
    }

    /// A get of one key with the one-key form (`{"record": gid}`), as the SDK's `get_record`
    /// sends it: the server answers an unknown key with an error.
    pub fn one(key: &str, force: bool) -> Self {
        Get {
            batches: Batches::new([key], force, true),
            kind: std::marker::PhantomData,
        }
    }
}

impl<K: Fetchable> Walk for Get<K> {
    type Item = Held<K>;

    fn poll(&mut self, store: &Store) -> Step<Held<K>> {
        let held_by_store = |k: &str| store.contains(K::DATA_TYPE, k);
        match self.batches.next(held_by_store, (K::GET, K::ONE, K::MANY)) {
            Next::Call(call) => Step::Call(call),
            Next::Key(key) => Step::Item(held(store, &key)),
            Next::Done => Step::Done,
        }
    }

    fn handle_result(&mut self, _: &Value) -> Result<(), WalkError> {
        self.batches.waiting = None;
        Ok(())
    }
}

/// The SDK's `get_asset_by_pathname` and `get_assets_by_pathname`: assets by pathname, in
/// order, fetching (`/assets/get` with `pathname` or `pathnames`) those the
/// `assets_by_pathname` index does not hold.
#[derive(Debug)]
pub struct GetByPathname {
    batches: Batches,
    /// The gid a one-key answer named (`{"asset": gid}`), for a pathname the server spells
    /// otherwise than the caller (the SDK takes the answer's gid too).
    answered: Option<String>,
}

impl GetByPathname {
    /// A get of `pathnames`; `force` fetches them all again.
    pub fn new<S: Into<String>>(pathnames: impl IntoIterator<Item = S>, force: bool) -> Self {
        GetByPathname {
            batches: Batches::new(pathnames, force, false),
            answered: None,
        }
    }

    /// A get of one pathname with the one-key form (`{"pathname": …}`), as the SDK's
    /// `get_asset_by_pathname` sends it.
    pub fn one(pathname: &str, force: bool) -> Self {
        GetByPathname {
            batches: Batches::new([pathname], force, true),
            answered: None,
        }
    }
}

impl Walk for GetByPathname {
    type Item = Held<Assets>;

    fn poll(&mut self, store: &Store) -> Step<Held<Assets>> {
        let indexed = |p: &str| store.asset_by_pathname(p).is_some();
        match self
            .batches
            .next(indexed, (Assets::GET, "pathname", "pathnames"))
        {
            Next::Call(call) => Step::Call(call),
            Next::Key(pathname) => Step::Item(
                store
                    .key_by_name(DataType::Assets, &pathname)
                    .or(self.answered.as_deref())
                    .and_then(|gid| Held::new(store.clone(), gid))
                    .ok_or(WalkError::NotHeld {
                        data_type: DataType::Assets,
                        key: pathname,
                    }),
            ),
            Next::Done => Step::Done,
        }
    }

    fn handle_result(&mut self, result: &Value) -> Result<(), WalkError> {
        self.batches.waiting = None;
        if self.batches.single {
            self.answered = result
                .get("asset")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        Ok(())
    }
}

/// The SDK's `get_root_record` and `get_root_asset`: asks the server for the root (always,
/// as the SDK does) and hands it out.
#[derive(Debug)]
pub struct Root<K> {
    root: Option<String>,
    asked: bool,
    kind: std::marker::PhantomData<fn() -> K>,
}

impl<K: Tree> Root<K> {
    /// A get of the root.
    pub fn new() -> Self {
        Root {
            root: None,
            asked: false,
            kind: std::marker::PhantomData,
        }
    }
}

impl<K: Tree> Default for Root<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Tree> Walk for Root<K> {
    type Item = Held<K>;

    fn poll(&mut self, store: &Store) -> Step<Held<K>> {
        if !self.asked {
            return Step::Call(ApiCall::new(K::ROOT, json!({})));
        }
        match self.root.take() {
            Some(root) => Step::Item(held(store, &root)),
            None => Step::Done,
        }
    }

    fn handle_result(&mut self, result: &Value) -> Result<(), WalkError> {
        if self.asked {
            return Ok(());
        }
        self.asked = true;
        let root = result.get("root").and_then(Value::as_str);
        self.root = Some(
            root.ok_or_else(|| malformed(K::ROOT, "no root"))?
                .to_owned(),
        );
        Ok(())
    }
}

/// The SDK's `walk_modules`: the names from `/modules/all`, then every module, fetching
/// those the store does not hold.
#[derive(Debug, Default)]
pub struct ModulesWalk {
    get: Option<Get<Modules>>,
}

impl ModulesWalk {
    /// A walk of every module.
    pub fn new() -> Self {
        ModulesWalk::default()
    }
}

impl Walk for ModulesWalk {
    type Item = Held<Modules>;

    fn poll(&mut self, store: &Store) -> Step<Held<Modules>> {
        match &mut self.get {
            Some(get) => get.poll(store),
            None => Step::Call(ApiCall::new("/modules/all", json!({}))),
        }
    }

    fn handle_result(&mut self, result: &Value) -> Result<(), WalkError> {
        match &mut self.get {
            Some(get) => get.handle_result(result),
            None => {
                // Whatever the answer, the names are asked for once: a malformed one ends
                // the walk.
                let names = strings(result, "module_names", "/modules/all");
                self.get = Some(Get::new(names.clone().unwrap_or_default(), false));
                names.map(drop)
            }
        }
    }
}
