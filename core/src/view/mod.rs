//! Typed, definition-aware reading of the store: what the Python SDK's `UnicatRecord`,
//! `UnicatDefinition` and their siblings give, over a store snapshot.
//!
//! A view borrows a [`Store`] (a snapshot a runtime hands out, or the client's own) and never
//! does I/O: making one splits the object's JSON text into its members, and a member is parsed
//! only when read, so views are cheap to make and to throw away. Where a view refers to
//! another object (a record's definition, an image field's asset) it gives a [`Reference`]:
//! the object's view when the store holds it, or the gid to fetch when it does not;
//! [`Wanted`] gathers those gids for one batch of get-or-fetch calls.
//!
//! [`Held`] is a view that owns its snapshot, for walkers and helpers that hand items out one
//! by one.
//!
//! ```
//! # let store = unicat_core::view::example_store();
//! use unicat_core::view::Typed;
//!
//! let view = store.view();
//! let record = view.record("r1").unwrap();
//! let price = record.field("en", "price").unwrap();
//! assert_eq!(price.label().as_deref(), Some("Price"));
//! assert_eq!(price.unit().as_deref(), Some("EUR"));
//! let Typed::Decimal(n) = price.typed() else { panic!() };
//! assert_eq!(n.as_str(), "12345678901234567.891", "exact digits, never through f64");
//! ```

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::store::{DataType, Object, Store};

mod doc;
mod project;
mod records;
mod schema;
mod value;

pub use project::{
    Language, Member, Module, Modules, Project, Projects, ProjectsMembers, User, Users,
};
pub use records::{Asset, Assets, Record, Records, Values};
pub use schema::{
    Class, Classes, Definition, Definitions, Field, FieldType, Fields, Layout, Layouts, Queries,
    Query,
};
pub use value::{ClassValue, FieldValue, Number, Typed, MAX_CLASS_DEPTH};

/// A view of one stored object, made from the object as the store holds it.
pub trait View<'a>: Sized {
    /// The map the object is in.
    const DATA_TYPE: DataType;

    /// The view of `object`, stored under `key` in `store`.
    fn make(store: &'a Store, key: &'a str, object: &'a Object) -> Self;

    /// The key the store holds the object under.
    fn key_in_store(&self) -> &'a str;

    /// The view of the object at `key`, if the store holds it.
    fn find(store: &'a Store, key: &str) -> Option<Self> {
        let (key, object) = store.map(Self::DATA_TYPE).get_key_value(key)?;
        Some(Self::make(store, key, object))
    }
}

/// Defines a view type over one data type: its struct, [`View`] impl, its [`Kind`] marker
/// for [`Held`], and the readers every view has.
macro_rules! view_type {
    ($(#[$doc:meta])* $name:ident, $kind:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name<'a> {
            store: &'a Store,
            key: &'a str,
            object: &'a crate::store::Object,
            doc: super::doc::Doc<'a>,
        }

        impl<'a> super::View<'a> for $name<'a> {
            const DATA_TYPE: DataType = DataType::$kind;

            fn make(store: &'a Store, key: &'a str, object: &'a crate::store::Object) -> Self {
                $name { store, key, object, doc: super::doc::Doc::parse(object.json()) }
            }

            fn key_in_store(&self) -> &'a str {
                self.key
            }
        }

        /// The [`Held`](super::Held) marker of
        #[doc = concat!("[`", stringify!($name), "`] views.")]
        #[derive(Debug)]
        pub enum $kind {}

        impl super::Kind for $kind {
            const DATA_TYPE: DataType = DataType::$kind;
            type View<'a> = $name<'a>;
        }

        impl<'a> $name<'a> {
            /// The key the store holds it under (its gid, a module's name).
            pub fn key(&self) -> &'a str {
                self.key
            }

            /// The object, as the server sent it.
            pub fn object(&self) -> &'a crate::store::Object {
                self.object
            }

            /// The store the view reads.
            pub fn store(&self) -> &'a Store {
                self.store
            }

            /// The view at `key`, if the store holds it.
            pub(crate) fn find(store: &'a Store, key: &str) -> Option<Self> {
                <Self as super::View<'a>>::find(store, key)
            }

            /// The objects a list of gids names, held or not.
            #[allow(dead_code)]
            fn refs<V: super::View<'a>>(&self, member: &str) -> Vec<super::Reference<'a, V>> {
                self.doc
                    .strs(member)
                    .into_iter()
                    .map(|gid| super::Reference::of(self.store, gid))
                    .collect()
            }
        }
    };
}
pub(crate) use view_type;

/// What a view refers to: the referred object's view when the store holds it, or its gid.
#[derive(Clone, Debug)]
pub enum Reference<'a, V> {
    /// The store holds it.
    Held(V),
    /// The store does not hold it: fetch it by this gid (see [`Wanted`]).
    Missing(Cow<'a, str>),
}

impl<'a, V: View<'a>> Reference<'a, V> {
    /// The object `gid` names in `store`.
    pub(crate) fn of(store: &'a Store, gid: Cow<'a, str>) -> Self {
        match V::find(store, &gid) {
            Some(v) => Reference::Held(v),
            None => Reference::Missing(gid),
        }
    }

    /// [`Reference::of`] for a non-empty gid.
    pub(crate) fn to(store: &'a Store, gid: Cow<'a, str>) -> Option<Self> {
        (!gid.is_empty()).then(|| Reference::of(store, gid))
    }

    /// The gid it refers to.
    pub fn gid(&self) -> &str {
        match self {
            Reference::Held(v) => v.key_in_store(),
            Reference::Missing(gid) => gid,
        }
    }

    /// The view, borrowed, when the store holds it.
    pub fn as_held(&self) -> Option<&V> {
        match self {
            Reference::Held(v) => Some(v),
            Reference::Missing(_) => None,
        }
    }

    /// The view, when the store holds it.
    pub fn held(self) -> Option<V> {
        match self {
            Reference::Held(v) => Some(v),
            Reference::Missing(_) => None,
        }
    }

    /// The gid it refers to, when the store does not hold it.
    pub fn missing(&self) -> Option<&str> {
        match self {
            Reference::Held(_) => None,
            Reference::Missing(gid) => Some(gid),
        }
    }

    /// Adds the gid to `wanted` when the store does not hold it.
    pub fn want(&self, wanted: &mut Wanted) {
        if let Reference::Missing(gid) = self {
            wanted.add(V::DATA_TYPE, gid);
        }
    }
}

/// The gids views referred to that the store does not hold, by data type: what to fetch.
///
/// ```
/// # let store = unicat_core::view::example_store();
/// let record = store.view().record("r1").unwrap();
/// let wanted = record.wanted(Some("en"));
/// assert_eq!(wanted.records.iter().collect::<Vec<_>>(), ["r-gone"]);
/// assert!(wanted.assets.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Records to fetch (`/records/get`).
    pub records: BTreeSet<String>,
    /// Assets to fetch (`/assets/get`).
    pub assets: BTreeSet<String>,
    /// Definitions to fetch (`/definitions/get`).
    pub definitions: BTreeSet<String>,
    /// Classes to fetch (`/classes/get`).
    pub classes: BTreeSet<String>,
    /// Fields to fetch (`/fields/get`).
    pub fields: BTreeSet<String>,
    /// Layouts to fetch (`/layouts/get`).
    pub layouts: BTreeSet<String>,
}

impl Wanted {
    /// Adds a gid of `data_type`; data types without a get endpoint are ignored.
    pub fn add(&mut self, data_type: DataType, gid: &str) {
        let set = match data_type {
            DataType::Records => &mut self.records,
            DataType::Assets => &mut self.assets,
            DataType::Definitions => &mut self.definitions,
            DataType::Classes => &mut self.classes,
            DataType::Fields => &mut self.fields,
            DataType::Layouts => &mut self.layouts,
            _ => return,
        };
        set.insert(gid.to_owned());
    }

    /// Each set with its data type.
    fn sets(&self) -> [(DataType, &BTreeSet<String>); 6] {
        [
            (DataType::Records, &self.records),
            (DataType::Assets, &self.assets),
            (DataType::Definitions, &self.definitions),
            (DataType::Classes, &self.classes),
            (DataType::Fields, &self.fields),
            (DataType::Layouts, &self.layouts),
        ]
    }

    /// Every wanted gid with its data type.
    pub fn iter(&self) -> impl Iterator<Item = (DataType, &str)> {
        self.sets()
            .into_iter()
            .flat_map(|(t, gids)| gids.iter().map(move |g| (t, g.as_str())))
    }

    /// Whether this gid of `data_type` is wanted.
    pub fn contains(&self, data_type: DataType, gid: &str) -> bool {
        self.sets()
            .into_iter()
            .any(|(t, gids)| t == data_type && gids.contains(gid))
    }

    /// What of this `store` does not hold.
    ///
    /// ```
    /// use unicat_core::store::{DataType, Store};
    /// use unicat_core::view::Wanted;
    ///
    /// let mut wanted = Wanted::default();
    /// wanted.add(DataType::Records, "r1");
    /// assert_eq!(wanted.missing_from(&Store::default()), wanted);
    /// ```
    pub fn missing_from(&self, store: &Store) -> Wanted {
        let mut left = Wanted::default();
        for (t, gid) in self.iter().filter(|(t, g)| !store.contains(*t, g)) {
            left.add(t, gid);
        }
        left
    }

    /// Nothing is wanted.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
            && self.assets.is_empty()
            && self.definitions.is_empty()
            && self.classes.is_empty()
            && self.fields.is_empty()
            && self.layouts.is_empty()
    }
}

/// The marker of a view type, naming it in [`Held`] (`Held<Records>` holds a [`Record`]).
pub trait Kind {
    /// The map the objects are in.
    const DATA_TYPE: DataType;
    /// The view.
    type View<'a>: View<'a>;
}

/// A view that owns the snapshot it reads: what walkers and get-or-fetch helpers hand out.
/// Cloning one counts references; [`Held::get`] makes the view.
///
/// Each item keeps its snapshot alive, so a `Vec` of items from a long walk during heavy
/// sync can pin many versions of the changed parts of the store: keep gids, or the views
/// you need, rather than every item.
///
/// ```
/// # let store = unicat_core::view::example_store();
/// use unicat_core::view::{Held, Records};
///
/// let held: Held<Records> = Held::new(store.clone(), "r1").unwrap();
/// drop(store);
/// assert_eq!(held.get().definition().unwrap().held().unwrap().name().as_deref(), Some("article"));
/// ```
pub struct Held<K> {
    store: Store,
    key: Arc<str>,
    object: Object,
    kind: PhantomData<fn() -> K>,
}

impl<K: Kind> Held<K> {
    /// The object at `key` in `store`, if the store holds it.
    pub fn new(store: Store, key: &str) -> Option<Self> {
        let object = store.get(K::DATA_TYPE, key)?.clone();
        Some(Held {
            store,
            key: Arc::from(key),
            object,
            kind: PhantomData,
        })
    }

    /// The view.
    pub fn get(&self) -> K::View<'_> {
        <K::View<'_> as View<'_>>::make(&self.store, &self.key, &self.object)
    }
}

impl<K> Held<K> {
    /// Its key (gid, or a module's name).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The snapshot it reads, for the views it refers to.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl<K> Clone for Held<K> {
    fn clone(&self) -> Self {
        Held {
            store: self.store.clone(),
            key: Arc::clone(&self.key),
            object: self.object.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: Kind> fmt::Debug for Held<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Held({} {})", K::DATA_TYPE, self.key)
    }
}

/// The typed entry to a store: [`Store::view`].
#[derive(Clone, Copy, Debug)]
pub struct StoreView<'a> {
    store: &'a Store,
}

impl Store {
    /// Typed views over this store (see [`view`](crate::view)).
    pub fn view(&self) -> StoreView<'_> {
        StoreView { store: self }
    }
}

macro_rules! lookups {
    ($($(#[$doc:meta])* $fn:ident, $all:ident => $view:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $fn(&self, key: &str) -> Option<$view<'a>> {
                $view::find(self.store, key)
            }

            #[doc = concat!("Every [`", stringify!($view), "`] the store holds, sorted by key (the SDK's `walk_", stringify!($all), "` over a snapshot).")]
            pub fn $all(&self) -> impl Iterator<Item = $view<'a>> + 'a {
                let store = self.store;
                store.map(<$view<'a> as View<'a>>::DATA_TYPE).iter().map(move |(k, o)| $view::make(store, k, o))
            }
        )*
    };
}

impl<'a> StoreView<'a> {
    lookups! {
        /// A record by gid.
        record, records => Record;
        /// An asset by gid.
        asset, assets => Asset;
        /// A definition by gid.
        definition, definitions => Definition;
        /// A class by gid.
        class, classes => Class;
        /// A field by gid.
        field, fields => Field;
        /// A layout by gid.
        layout, layouts => Layout;
        /// A saved query by gid.
        query, queries => Query;
        /// A module by name.
        module, modules => Module;
        /// A user by gid.
        user, users => User;
        /// A project by gid.
        project, projects => Project;
    }

    /// The store it reads.
    pub fn store(&self) -> &'a Store {
        self.store
    }

    fn by_name<V: View<'a>>(&self, name: &str) -> Option<V> {
        let store = self.store;
        let object = store.by_name(V::DATA_TYPE, name)?;
        let key = store.key_by_name(V::DATA_TYPE, name)?;
        Some(V::make(store, key, object))
    }

    /// An asset by its pathname.
    pub fn asset_by_pathname(&self, pathname: &str) -> Option<Asset<'a>> {
        self.by_name(pathname)
    }

    /// A committed, not extended, definition by name (see [`Store::by_name`]).
    pub fn definition_by_name(&self, name: &str) -> Option<Definition<'a>> {
        self.by_name(name)
    }

    /// A committed class by name.
    pub fn class_by_name(&self, name: &str) -> Option<Class<'a>> {
        self.by_name(name)
    }

    /// A committed field by name.
    pub fn field_by_name(&self, name: &str) -> Option<Field<'a>> {
        self.by_name(name)
    }

    /// A saved query by type (`record`, `asset`, `schema`) and name.
    pub fn query_by_name(&self, query_type: &str, name: &str) -> Option<Query<'a>> {
        self.by_name(&crate::store::query_key(query_type, name))
    }

    /// A saved record query by name (the SDK's `get_record_query_by_name`).
    pub fn record_query_by_name(&self, name: &str) -> Option<Query<'a>> {
        self.query_by_name("record", name)
    }

    /// A saved asset query by name.
    pub fn asset_query_by_name(&self, name: &str) -> Option<Query<'a>> {
        self.query_by_name("asset", name)
    }

    /// A saved schema query by name.
    pub fn schema_query_by_name(&self, name: &str) -> Option<Query<'a>> {
        self.query_by_name("schema", name)
    }

    /// A language by code.
    pub fn language(&self, code: &str) -> Option<Language<'a>> {
        Language::find(self.store, code)
    }

    /// The languages the store knows (`cc.languages`), sorted by code.
    pub fn languages(&self) -> impl Iterator<Item = Language<'a>> + 'a {
        let store = self.store;
        store
            .map(DataType::Languages)
            .iter()
            .map(|(code, o)| Language::make(code, o))
    }

    /// A project member by project and user gid.
    pub fn member(&self, project: &str, user: &str) -> Option<Member<'a>> {
        Member::find(self.store, &format!("{project}/{user}"))
    }
}

#[doc(hidden)]
/// A small store for the documentation's examples.
pub fn example_store() -> Store {
    let text = include_str!("example.json");
    Store::from_json(text).unwrap_or_default()
}

#[cfg(test)]
mod tests;
