//! Walkers: the SDK's paging loops (`walk_record_tree`, `walk_record_query`, …) and its
//! get-or-fetch helpers, as sans-IO machines.
//!
//! A walker never does I/O. Ask it for its next [`Step`] with the store as it is now: it
//! hands out an item, or the API call it needs answered first, or says it is done. Make the
//! call, merge the response's `data` into the store as every call does, and hand the call's
//! `result` to [`Walk::handle_result`]. Items are [`Held`] views, read from the store the
//! walker was polled with.
//!
//! The runtimes turn walkers into iterators (blocking) and streams (smol), and the client's
//! `load_all_records` is a [`TreeWalk`] driven by the client itself.
//!
//! ```
//! use serde_json::json;
//! use unicat_core::store::Store;
//! use unicat_core::walk::{Step, TreeWalk, Walk};
//!
//! let store = Store::default();
//! let mut walk = TreeWalk::records(None, None);
//! let Step::Call(call) = walk.poll(&store) else { panic!() };
//! assert_eq!(call.endpoint, "/records/root");
//! walk.handle_result(&json!({"root": "r0"})).unwrap();
//! // The root comes first; the store does not hold it, so the item says which gid is missing.
//! let Step::Item(Err(missing)) = walk.poll(&store) else { panic!() };
//! assert_eq!(missing.to_string(), "records r0 is not in the store");
//! let Step::Call(call) = walk.poll(&store) else { panic!() };
//! assert_eq!(call.body, json!({"record": "r0", "page.top": 0, "page.size": 100}));
//! walk.handle_result(&json!({"children": [], "children.size": 0})).unwrap();
//! assert!(matches!(walk.poll(&store), Step::Done));
//! ```

use std::collections::{BTreeSet, VecDeque};
use std::fmt;

use serde_json::{json, Map, Value};

use crate::store::{DataType, Store};
use crate::view::{Assets, Held, Kind, Records};

/// The page size of tree walks, as the SDK's.
pub const TREE_PAGE: u64 = 100;
/// How many keys one get call asks for.
pub const GET_BATCH: usize = 100;

/// An API call a walker needs answered.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiCall {
    /// The project endpoint, such as `/records/children`.
    pub endpoint: String,
    /// The JSON body.
    pub body: Value,
}

impl ApiCall {
    fn new(endpoint: &str, body: Value) -> Self {
        ApiCall {
            endpoint: endpoint.to_owned(),
            body,
        }
    }
}

/// What a walker does next.
#[derive(Debug)]
#[must_use]
pub enum Step<T> {
    /// The next item, or why it could not be read.
    Item(Result<T, WalkError>),
    /// Make this call and hand its result to [`Walk::handle_result`], then poll again.
    Call(ApiCall),
    /// The walk is over.
    Done,
}

/// Why a walker could not go on, or could not hand out an item.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WalkError {
    /// The store does not hold an item the server listed (the server sent its key without
    /// its object, or sync removed it at once). The walk goes on.
    NotHeld {
        /// Its map.
        data_type: DataType,
        /// Its key (or, for a lookup by pathname, the pathname).
        key: String,
    },
    /// A result does not have the shape the endpoint promises. The walk is over.
    Malformed {
        /// The endpoint.
        endpoint: String,
        /// What is wrong.
        detail: String,
    },
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::NotHeld { data_type, key } => {
                write!(f, "{data_type} {key} is not in the store")
            }
            WalkError::Malformed { endpoint, detail } => {
                write!(f, "malformed result from {endpoint}: {detail}")
            }
        }
    }
}

impl std::error::Error for WalkError {}

/// A sans-IO walker (see the [module docs](self)).
pub trait Walk {
    /// What it hands out.
    type Item;

    /// The next step, with the store as it is now.
    fn poll(&mut self, store: &Store) -> Step<Self::Item>;

    /// The `result` of the call the last [`Step::Call`] asked for. An error ends the walk:
    /// polling again gives [`Step::Done`].
    fn handle_result(&mut self, result: &Value) -> Result<(), WalkError>;
}

fn malformed(endpoint: &str, detail: impl Into<String>) -> WalkError {
    WalkError::Malformed {
        endpoint: endpoint.to_owned(),
        detail: detail.into(),
    }
}

fn held<K: Kind>(store: &Store, key: &str) -> Result<Held<K>, WalkError> {
    Held::new(store.clone(), key).ok_or_else(|| WalkError::NotHeld {
        data_type: K::DATA_TYPE,
        key: key.to_owned(),
    })
}

/// A list of strings in `result`, or a malformed-result error.
fn strings(result: &Value, member: &str, endpoint: &str) -> Result<Vec<String>, WalkError> {
    let items = result
        .get(member)
        .and_then(Value::as_array)
        .ok_or_else(|| malformed(endpoint, format!("no {member} list")))?;
    items
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| malformed(endpoint, format!("{member} holds a non-string")))
}

/// A tree the SDK walks depth first: the record tree or the asset tree.
pub trait Tree: Kind {
    /// The endpoint that names the root.
    const ROOT: &'static str;
    /// The endpoint that lists a parent's children.
    const CHILDREN: &'static str;
    /// The parameter that names the parent.
    const PARENT: &'static str;

    /// The object's `childcount`, `None` when the store does not hold it or it does not say.
    fn childcount(store: &Store, key: &str) -> Option<u64>;
}

impl Tree for Records {
    const ROOT: &'static str = "/records/root";
    const CHILDREN: &'static str = "/records/children";
    const PARENT: &'static str = "record";

    fn childcount(store: &Store, key: &str) -> Option<u64> {
        let r = store.view().record(key)?;
        r.knows_childcount().then(|| r.childcount())
    }
}

impl Tree for Assets {
    const ROOT: &'static str = "/assets/root";
    const CHILDREN: &'static str = "/assets/children";
    const PARENT: &'static str = "asset";

    fn childcount(store: &Store, key: &str) -> Option<u64> {
        let a = store.view().asset(key)?;
        a.knows_childcount().then(|| a.childcount())
    }
}

/// One parent whose children are being walked.
#[derive(Debug)]
struct Frame {
    parent: String,
    top: u64,
    page: VecDeque<String>,
    more: bool,
}

/// The SDK's `walk_record_tree` and `walk_asset_tree`: the root, then depth first, each
/// parent's children in pages of [`TREE_PAGE`], a child's subtree before its next sibling.
/// The next page starts after the children the last one brought (the SDK adds the page size,
/// which skips children when a server caps its pages lower), and an empty page ends its
/// parent.
///
/// A node reached twice (a cycle, or a child listed under two parents) is handed out once
/// and walked once; [`TreeWalk::repeats`] counts the others. A page that brings only nodes
/// already reached ends its parent, so a server that lists the same children on every page
/// cannot keep the walk going. A child whose `childcount` the store cannot tell (it was not
/// sent) is asked for its children rather than skipped.
#[derive(Debug)]
pub struct TreeWalk<K> {
    channel: Option<String>,
    ordering: Option<String>,
    stack: Vec<Frame>,
    started: bool,
    root: Option<String>,
    visited: BTreeSet<String>,
    repeats: u64,
    waiting: Option<ApiCall>,
    kind: std::marker::PhantomData<fn() -> K>,
}

impl TreeWalk<Records> {
    /// A walk of the record tree, with the children in `channel` and `ordering` (the
    /// project's defaults when `None`).
    pub fn records(channel: Option<&str>, ordering: Option<&str>) -> Self {
        TreeWalk::new(channel, ordering)
    }
}

impl TreeWalk<Assets> {
    /// A walk of the asset tree.
    pub fn assets() -> Self {
        TreeWalk::new(None, None)
    }
}

impl<K: Tree> TreeWalk<K> {
    fn new(channel: Option<&str>, ordering: Option<&str>) -> Self {
        TreeWalk {
            channel: channel.map(str::to_owned),
            ordering: ordering.map(str::to_owned),
            stack: Vec::new(),
            started: false,
            root: None,
            visited: BTreeSet::new(),
            repeats: 0,
            waiting: None,
            kind: std::marker::PhantomData,
        }
    }

    /// How many times a node was reached again and not walked again.
    pub fn repeats(&self) -> u64 {
        self.repeats
    }

    /// How many distinct nodes were reached so far.
    pub fn reached(&self) -> usize {
        self.visited.len()
    }

    fn page_call(&self, parent: &str, top: u64) -> ApiCall {
        let mut body = Map::new();
        body.insert(K::PARENT.to_owned(), json!(parent));
        body.insert("page.top".to_owned(), json!(top));
        body.insert("page.size".to_owned(), json!(TREE_PAGE));
        if let Some(c) = &self.channel {
            body.insert("channel".to_owned(), json!(c));
        }
        if let Some(o) = &self.ordering {
            body.insert("ordering".to_owned(), json!(o));
        }
        ApiCall::new(K::CHILDREN, Value::Object(body))
    }

    fn on_page(&mut self, result: &Value) -> Result<(), WalkError> {
        let children = strings(result, "children", K::CHILDREN).inspect_err(|_| {
            // The walk is over: polling again must not ask for the same page.
            self.stack.clear();
        })?;
        let size = result
            .get("children.size")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let visited = &self.visited;
        let fresh = children.iter().any(|c| !visited.contains(c));
        let Some(frame) = self.stack.last_mut() else {
            return Ok(());
        };
        // The SDK steps by the page size; stepping by what came keeps a server that caps
        // its pages below 100 from having children skipped, and is the same otherwise.
        let got = u64::try_from(children.len()).unwrap_or(u64::MAX);
        frame.top = frame.top.saturating_add(got);
        frame.more = fresh && frame.top < size;
        if !children.is_empty() && !fresh {
            crate::log!(
                warn,
                "a page of {}'s children brought only nodes already reached; not paging on",
                frame.parent
            );
        }
        frame.page = children.into();
        Ok(())
    }
}

impl<K: Tree> Walk for TreeWalk<K> {
    type Item = Held<K>;

    fn poll(&mut self, store: &Store) -> Step<Held<K>> {
        if let Some(call) = &self.waiting {
            return Step::Call(call.clone());
        }
        if !self.started {
            let call = ApiCall::new(K::ROOT, json!({}));
            self.waiting = Some(call.clone());
            return Step::Call(call);
        }
        if let Some(root) = self.root.take() {
            return Step::Item(held(store, &root));
        }
        loop {
            let Some(frame) = self.stack.last_mut() else {
                return Step::Done;
            };
            if let Some(child) = frame.page.pop_front() {
                if !self.visited.insert(child.clone()) {
                    crate::log!(warn, "{child} reached again in the tree; not walked again");
                    self.repeats = self.repeats.saturating_add(1);
                    continue;
                }
                if K::childcount(store, &child).is_none_or(|n| n > 0) {
                    self.stack.push(Frame {
                        parent: child.clone(),
                        top: 0,
                        page: VecDeque::new(),
                        more: true,
                    });
                }
                return Step::Item(held(store, &child));
            }
            if frame.more {
                let (parent, top) = (frame.parent.clone(), frame.top);
                let call = self.page_call(&parent, top);
                self.waiting = Some(call.clone());
                return Step::Call(call);
            }
            self.stack.pop();
        }
    }

    fn handle_result(&mut self, result: &Value) -> Result<(), WalkError> {
        if self.waiting.take().is_none() {
            return Ok(());
        }
        if self.started {
            return self.on_page(result);
        }
        self.started = true;
        let root = result
            .get("root")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(K::ROOT, "no root"))?;
        self.visited.insert(root.to_owned());
        self.root = Some(root.to_owned());
        self.stack.push(Frame {
            parent: root.to_owned(),
            top: 0,
            page: VecDeque::new(),
            more: true,
        });
        Ok(())
    }
}

mod get;
mod query;

pub use get::{Fetchable, Get, GetByPathname, ModulesWalk, Root};
pub use query::{QueryTarget, QueryWalk, SchemaItem, SchemaItems};

#[cfg(test)]
mod tests;
