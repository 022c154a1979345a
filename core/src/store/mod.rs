//! The local copy of a project's data: one map per data type, the by-name indexes
//! (`assets_by_pathname`, definitions, classes and fields by name, queries by `type:name`), the
//! two sync cursors and the server version.
//!
//! Objects are held as the JSON text the server sent ([`Object`]), not as parsed trees: every
//! number, every key order and every escape stays exactly as it arrived (a price never changes
//! on its way through the store), and a record costs about its JSON size in memory instead of
//! several times that. Reading parses on demand, which for one record takes microseconds.
//!
//! The maps are persistent (`imbl`'s B-trees, with keys and objects shared by reference
//! count): cloning a [`Store`] copies a few pointers, whatever its size, and the clone is a
//! snapshot that later changes to the original never touch. A change after a snapshot was
//! taken copies only the tree nodes on its path, a few kilobytes. That is what lets the
//! runtimes hand the application a store it can keep as long as it likes without ever
//! holding the client up.

use std::fmt;
use std::sync::Arc;

use imbl::OrdMap;

mod index;
mod load;

pub use load::LoadError;

pub(crate) use index::query_key;
use index::NameIndex;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;

/// The kinds of data the store keeps. Sync items name them by [`DataType::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DataType {
    /// `cc.users`, keyed by user gid.
    Users,
    /// `cc.projects`, keyed by project gid.
    Projects,
    /// `cc.projects_members`, keyed `"<project gid>/<user gid>"` (the server sends a list).
    ProjectsMembers,
    /// `cc.languages`, language code to display name.
    Languages,
    /// `records`, keyed by gid.
    Records,
    /// `definitions`, keyed by gid.
    Definitions,
    /// `classes`, keyed by gid.
    Classes,
    /// `fields`, keyed by gid.
    Fields,
    /// `layouts`, keyed by gid.
    Layouts,
    /// `assets`, keyed by gid; also indexed by pathname.
    Assets,
    /// `queries`, keyed by gid.
    Queries,
    /// `modules`, keyed by module name.
    Modules,
}

impl DataType {
    /// Every data type, in the order of the store's maps.
    pub const ALL: [DataType; 12] = [
        DataType::Users,
        DataType::Projects,
        DataType::ProjectsMembers,
        DataType::Languages,
        DataType::Records,
        DataType::Definitions,
        DataType::Classes,
        DataType::Fields,
        DataType::Layouts,
        DataType::Assets,
        DataType::Queries,
        DataType::Modules,
    ];

    /// The name the API uses, as in `data` maps and sync items.
    pub fn name(self) -> &'static str {
        match self {
            DataType::Users => "cc.users",
            DataType::Projects => "cc.projects",
            DataType::ProjectsMembers => "cc.projects_members",
            DataType::Languages => "cc.languages",
            DataType::Records => "records",
            DataType::Definitions => "definitions",
            DataType::Classes => "classes",
            DataType::Fields => "fields",
            DataType::Layouts => "layouts",
            DataType::Assets => "assets",
            DataType::Queries => "queries",
            DataType::Modules => "modules",
        }
    }

    /// The data type with this API name.
    pub fn from_name(name: &str) -> Option<Self> {
        DataType::ALL.into_iter().find(|t| t.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One stored value, exactly as the server sent it (usually a JSON object). Cloning it counts
/// a reference; the text is shared.
///
/// It holds the text as an `Arc<str>` rather than an `Arc<RawValue>`: the text is copied once,
/// straight out of the response body, where a `Box<RawValue>` would be copied twice.
#[derive(Clone)]
pub struct Object(Arc<str>);

/// Two objects are equal when their JSON text is.
impl PartialEq for Object {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl Eq for Object {}

impl Object {
    pub(crate) fn new(raw: &RawValue) -> Self {
        Object(Arc::from(raw.get()))
    }

    /// The JSON text, as received.
    pub fn json(&self) -> &str {
        &self.0
    }

    /// Parses the value into a [`serde_json::Value`].
    pub fn to_value(&self) -> Value {
        crate::json::from_str(self.json()).unwrap_or(Value::Null)
    }

    /// Deserializes the value into your own type.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        crate::json::from_str(self.json())
    }

    /// The value at a JSON pointer, such as `/fields/en/price`.
    pub fn pointer(&self, pointer: &str) -> Option<Value> {
        self.to_value().pointer(pointer).cloned()
    }
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Object({} bytes)", self.json().len())
    }
}

/// Serializes as the JSON it holds, verbatim.
impl serde::Serialize for Object {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The text was valid JSON when it was stored; reading it back as a borrowed raw value
        // only checks it again, without copying.
        let raw: &RawValue =
            serde_json::from_str(self.json()).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// A key of the store's maps, shared between the map and its snapshots.
type Key = Arc<str>;

/// The local store. Read it through the getters; the client keeps it up to date. A clone is
/// a snapshot, and costs a few reference counts (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Store {
    maps: [OrdMap<Key, Object>; 12],
    indexes: Indexes,
    cc_cursor: i64,
    cursor: i64,
    version: String,
    /// The sum of every object's hash, when the client keeps a digest (it records or
    /// replays a log): see [`Store::digest`].
    sum: Option<u64>,
}

/// The by-name indexes (see [`index`]).
#[derive(Clone, Debug, Default)]
struct Indexes {
    pathnames: NameIndex,
    definitions: NameIndex,
    classes: NameIndex,
    fields: NameIndex,
    queries: NameIndex,
}

impl Indexes {
    fn of(&self, data_type: DataType) -> Option<&NameIndex> {
        match data_type {
            DataType::Assets => Some(&self.pathnames),
            DataType::Definitions => Some(&self.definitions),
            DataType::Classes => Some(&self.classes),
            DataType::Fields => Some(&self.fields),
            DataType::Queries => Some(&self.queries),
            _ => None,
        }
    }

    fn of_mut(&mut self, data_type: DataType) -> Option<&mut NameIndex> {
        match data_type {
            DataType::Assets => Some(&mut self.pathnames),
            DataType::Definitions => Some(&mut self.definitions),
            DataType::Classes => Some(&mut self.classes),
            DataType::Fields => Some(&mut self.fields),
            DataType::Queries => Some(&mut self.queries),
            _ => None,
        }
    }
}

/// One map of the store, sorted by key: the view [`Store::map`] gives.
#[derive(Clone, Copy)]
pub struct Objects<'a>(&'a OrdMap<Key, Object>);

impl<'a> Objects<'a> {
    /// How many objects.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One object.
    pub fn get(&self, key: &str) -> Option<&'a Object> {
        self.0.get(key)
    }

    /// One object and the key the map holds it under.
    pub fn get_key_value(&self, key: &str) -> Option<(&'a str, &'a Object)> {
        self.0.get_key_value(key).map(|(k, v)| (&**k, v))
    }

    /// Whether the map holds this key.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Keys and objects, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a Object)> + 'a {
        self.0.iter().map(|(k, v)| (&**k, v))
    }

    /// The keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.0.keys().map(|k| &**k)
    }

    /// The objects, sorted by key.
    pub fn values(&self) -> impl Iterator<Item = &'a Object> + 'a {
        self.0.values()
    }
}

impl<'a> IntoIterator for Objects<'a> {
    type Item = (&'a str, &'a Object);
    type IntoIter = Box<dyn Iterator<Item = (&'a str, &'a Object)> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl fmt::Debug for Objects<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Store {
    /// One object.
    pub fn get(&self, data_type: DataType, key: &str) -> Option<&Object> {
        self.map(data_type).get(key)
    }

    /// Whether the store holds this key.
    pub fn contains(&self, data_type: DataType, key: &str) -> bool {
        self.map(data_type).contains_key(key)
    }

    /// A whole map, sorted by key.
    pub fn map(&self, data_type: DataType) -> Objects<'_> {
        // `maps` has one entry per `DataType`, so the index is always in range.
        static EMPTY: std::sync::OnceLock<OrdMap<Key, Object>> = std::sync::OnceLock::new();
        Objects(
            self.maps
                .get(data_type.index())
                .unwrap_or_else(|| EMPTY.get_or_init(OrdMap::new)),
        )
    }

    /// Every record, sorted by gid.
    pub fn records(&self) -> Objects<'_> {
        self.map(DataType::Records)
    }

    /// A record by gid.
    pub fn record(&self, gid: &str) -> Option<&Object> {
        self.get(DataType::Records, gid)
    }

    /// An asset by gid.
    pub fn asset(&self, gid: &str) -> Option<&Object> {
        self.get(DataType::Assets, gid)
    }

    /// An asset by its tree pathname (`assets_by_pathname`).
    pub fn asset_by_pathname(&self, pathname: &str) -> Option<&Object> {
        self.by_name(DataType::Assets, pathname)
    }

    /// The `assets_by_pathname` index: pathname and asset, sorted by pathname.
    pub fn assets_by_pathname(&self) -> impl Iterator<Item = (&str, &Object)> {
        self.names(DataType::Assets)
    }

    /// The object a by-name index finds: an asset by pathname, a definition, class or field
    /// by name, a query by `type:name`; `None` for other data types.
    ///
    /// The indexes follow every change, so a definition renamed through sync is found by its
    /// new name at once. As in the Python SDK, new objects and working copies are not found,
    /// nor are extended definitions; where two objects claim one name, the last to arrive
    /// answers.
    ///
    /// ```
    /// use unicat_core::store::{DataType, Store};
    ///
    /// let store = Store::from_json(r#"{"data": {"definitions": {
    ///     "d1": {"gid": "d1", "name": "article", "is_new": false, "is_working_copy": false, "is_extended": false},
    ///     "d2": {"gid": "d2", "name": "article", "is_new": false, "is_working_copy": true, "is_extended": false}
    /// }}}"#)?;
    /// let found = store.by_name(DataType::Definitions, "article").unwrap();
    /// assert_eq!(found.pointer("/gid").unwrap(), "d1", "a working copy is not found by name");
    /// # Ok::<(), unicat_core::store::LoadError>(())
    /// ```
    pub fn by_name(&self, data_type: DataType, name: &str) -> Option<&Object> {
        self.get(data_type, self.key_by_name(data_type, name)?)
    }

    /// The key of the object [`Store::by_name`] finds.
    pub fn key_by_name(&self, data_type: DataType, name: &str) -> Option<&str> {
        self.indexes.of(data_type)?.get(name)
    }

    /// A query by its type (`record`, `asset` or `schema`) and name, as the SDK's
    /// `get_record_query_by_name` and its siblings find it.
    pub fn query_by_name(&self, type_: &str, name: &str) -> Option<&Object> {
        self.by_name(DataType::Queries, &query_key(type_, name))
    }

    /// A by-name index in full: name and object, sorted by name (empty for data types without
    /// one).
    pub fn names(&self, data_type: DataType) -> impl Iterator<Item = (&str, &Object)> {
        self.indexes
            .of(data_type)
            .into_iter()
            .flat_map(NameIndex::iter)
            .filter_map(move |(n, key)| Some((n, self.get(data_type, key)?)))
    }

    /// The name the index holds for the object at `key` (a field's name, an asset's
    /// pathname), found by a lookup or not: cheaper than parsing the object.
    pub fn name_of(&self, data_type: DataType, key: &str) -> Option<&str> {
        self.indexes.of(data_type)?.name_of(key)
    }

    /// How many objects the store holds, all maps together.
    pub fn len(&self) -> usize {
        self.maps.iter().map(OrdMap::len).sum()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.maps.iter().all(OrdMap::is_empty)
    }

    /// The global (`cc`) sync cursor: every global change up to here is in the store.
    pub fn cc_cursor(&self) -> i64 {
        self.cc_cursor
    }

    /// The project sync cursor: every project change up to here is in the store.
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// The server version (`cc.version`), empty until known.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// A digest of the whole state: every object (its map, key and JSON text), both cursors
    /// and the version, with a stable hash, so two stores with the same digest hold the same
    /// data. Kept up to date as objects change, at the cost of hashing each one as it
    /// arrives; `None` unless the client keeps it (it does while recording or replaying a
    /// log).
    pub fn digest(&self) -> Option<u64> {
        let sum = self.sum?;
        let mut h = crate::digest::StableHasher::new(1);
        h.write_u64(sum);
        h.write_u64(self.cc_cursor as u64);
        h.write_u64(self.cursor as u64);
        h.write(self.version.as_bytes());
        Some(h.finish())
    }

    /// The whole store as one JSON document, the format of the `mirror` examples:
    /// `{"cc.version", "cc.cursor", "cursor", "data": {<map name>: {<key>: object}}}`, with the
    /// `assets_by_pathname` index as a map of its own. Objects are written as received.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(
            self.maps
                .iter()
                .flat_map(|m| m.values())
                .map(|o| o.json().len().saturating_add(48))
                .sum::<usize>()
                .saturating_add(256),
        );
        out.push_str("{\"cc.version\":");
        push_json_str(&mut out, &self.version);
        out.push_str(&format!(
            ",\"cc.cursor\":{},\"cursor\":{},\"data\":{{",
            self.cc_cursor, self.cursor
        ));
        let mut first_map = true;
        let mut write_map =
            |out: &mut String, name: &str, entries: &mut dyn Iterator<Item = (&str, &Object)>| {
                if !first_map {
                    out.push(',');
                }
                first_map = false;
                push_json_str(out, name);
                out.push_str(":{");
                for (i, (key, obj)) in entries.enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_json_str(out, key);
                    out.push(':');
                    out.push_str(obj.json());
                }
                out.push('}');
            };
        for t in DataType::ALL {
            write_map(&mut out, t.name(), &mut self.map(t).iter());
            if t == DataType::Assets {
                write_map(
                    &mut out,
                    "assets_by_pathname",
                    &mut self.assets_by_pathname(),
                );
            }
        }
        out.push_str("}}");
        out
    }

    // ---- changes, for the client only ----

    /// Starts keeping the digest (see [`Store::digest`]), hashing what the store holds now.
    pub(crate) fn keep_digest(&mut self) {
        if self.sum.is_none() {
            let sum = DataType::ALL
                .into_iter()
                .flat_map(|t| self.map(t).iter().map(move |(k, o)| object_hash(t, k, o)))
                .fold(0u64, u64::wrapping_add);
            self.sum = Some(sum);
        }
    }

    pub(crate) fn insert(&mut self, data_type: DataType, key: String, object: Object) {
        if let Some(index) = self.indexes.of_mut(data_type) {
            index.set(&key, index::name(data_type, &object));
        }
        if let Some(sum) = self.sum.as_mut() {
            *sum = sum.wrapping_add(object_hash(data_type, &key, &object));
        }
        let old = self
            .maps
            .get_mut(data_type.index())
            .and_then(|map| map.insert(Key::from(key.as_str()), object));
        if let (Some(sum), Some(old)) = (self.sum.as_mut(), old) {
            *sum = sum.wrapping_sub(object_hash(data_type, &key, &old));
        }
    }

    pub(crate) fn remove(&mut self, data_type: DataType, key: &str) -> Option<Object> {
        if let Some(index) = self.indexes.of_mut(data_type) {
            index.set(key, None);
        }
        let old = self.maps.get_mut(data_type.index())?.remove(key)?;
        if let Some(sum) = self.sum.as_mut() {
            *sum = sum.wrapping_sub(object_hash(data_type, key, &old));
        }
        Some(old)
    }

    pub(crate) fn clear(&mut self) {
        *self = Store {
            version: std::mem::take(&mut self.version),
            cc_cursor: self.cc_cursor,
            cursor: self.cursor,
            sum: self.sum.map(|_| 0),
            ..Store::default()
        };
    }

    /// Empties every map but the given ones.
    pub(crate) fn clear_except(&mut self, keep: &[DataType]) {
        for t in DataType::ALL {
            if !keep.contains(&t) {
                if let Some(map) = self.maps.get_mut(t.index()) {
                    map.clear();
                }
            }
        }
        for t in DataType::ALL {
            if !keep.contains(&t) {
                if let Some(index) = self.indexes.of_mut(t) {
                    index.clear();
                }
            }
        }
        if self.sum.is_some() {
            self.sum = None;
            self.keep_digest();
        }
    }

    pub(crate) fn set_cursors(&mut self, cc: i64, project: i64) {
        self.cc_cursor = cc;
        self.cursor = project;
    }

    /// Records the server version; returns the one before when a known version changed, which
    /// is what the application is told about.
    pub(crate) fn set_version(&mut self, version: String) -> Option<String> {
        if self.version == version {
            return None;
        }
        let old = std::mem::replace(&mut self.version, version);
        (!old.is_empty()).then_some(old)
    }
}

/// One object's part of the digest.
fn object_hash(data_type: DataType, key: &str, object: &Object) -> u64 {
    let mut h = crate::digest::StableHasher::new(data_type.index() as u64);
    h.write(key.as_bytes());
    h.write(object.json().as_bytes());
    h.finish()
}

fn push_json_str(out: &mut String, s: &str) {
    // Serialising a string cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(json: &str) -> Object {
        Object::new(&RawValue::from_string(json.to_string()).unwrap())
    }

    #[test]
    fn numbers_are_kept_exactly_as_sent() {
        let mut s = Store::default();
        let text = r#"{"gid":"r1","fields":{"en":{"price":0.30000000000000004,"big":12345678901234567890,"e":1E+2}}}"#;
        s.insert(DataType::Records, "r1".into(), obj(text));
        assert_eq!(s.record("r1").unwrap().json(), text);
        let price = s.record("r1").unwrap().pointer("/fields/en/price").unwrap();
        assert_eq!(
            price.as_f64().unwrap().to_bits(),
            0.30000000000000004f64.to_bits()
        );
    }

    #[test]
    fn assets_by_pathname_follows_insert_rename_and_delete() {
        let mut s = Store::default();
        s.insert(
            DataType::Assets,
            "a1".into(),
            obj(r#"{"gid":"a1","pathname":"/img/a.jpg"}"#),
        );
        s.insert(
            DataType::Assets,
            "a2".into(),
            obj(r#"{"gid":"a2","pathname":"/img/b.jpg"}"#),
        );
        assert!(s.asset_by_pathname("/img/a.jpg").is_some());
        // Rename.
        s.insert(
            DataType::Assets,
            "a1".into(),
            obj(r#"{"gid":"a1","pathname":"/img/c.jpg"}"#),
        );
        assert!(s.asset_by_pathname("/img/a.jpg").is_none());
        assert_eq!(
            s.asset_by_pathname("/img/c.jpg")
                .unwrap()
                .pointer("/gid")
                .unwrap(),
            "a1"
        );
        // Another asset takes a freed pathname.
        s.insert(
            DataType::Assets,
            "a2".into(),
            obj(r#"{"gid":"a2","pathname":"/img/a.jpg"}"#),
        );
        assert_eq!(s.assets_by_pathname().count(), 2);
        // Delete.
        s.remove(DataType::Assets, "a1");
        assert!(s.asset_by_pathname("/img/c.jpg").is_none());
        assert_eq!(
            s.assets_by_pathname().map(|(p, _)| p).collect::<Vec<_>>(),
            ["/img/a.jpg"]
        );
        // Two assets swap pathnames, one update at a time.
        s.insert(DataType::Assets, "x".into(), obj(r#"{"pathname":"/p"}"#));
        s.insert(DataType::Assets, "y".into(), obj(r#"{"pathname":"/q"}"#));
        s.insert(DataType::Assets, "x".into(), obj(r#"{"pathname":"/q"}"#));
        s.insert(DataType::Assets, "y".into(), obj(r#"{"pathname":"/p"}"#));
        assert_eq!(
            s.asset_by_pathname("/p").unwrap().json(),
            r#"{"pathname":"/p"}"#
        );
        assert_eq!(
            s.asset_by_pathname("/q").unwrap().json(),
            r#"{"pathname":"/q"}"#
        );
        s.remove(DataType::Assets, "x");
        assert!(s.asset_by_pathname("/q").is_none());
        assert!(s.asset_by_pathname("/p").is_some());
    }

    #[test]
    fn the_mirror_document_holds_every_map() {
        let mut s = Store::default();
        s.set_version("2026.11.001".into());
        s.set_cursors(7, 9);
        s.insert(DataType::Records, "r\"1".into(), obj(r#"{"a":1.50}"#));
        s.insert(DataType::Assets, "a".into(), obj(r#"{"pathname":"/x"}"#));
        let doc: Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(doc["cc.version"], "2026.11.001");
        assert_eq!(doc["cc.cursor"], 7);
        assert_eq!(doc["cursor"], 9);
        assert_eq!(doc["data"].as_object().unwrap().len(), 13);
        assert_eq!(doc["data"]["records"]["r\"1"]["a"], 1.5);
        assert_eq!(doc["data"]["assets_by_pathname"]["/x"]["pathname"], "/x");
        assert!(
            s.to_json().contains(r#"{"a":1.50}"#),
            "objects are written as received"
        );
    }

    #[test]
    fn data_type_names_round_trip() {
        for t in DataType::ALL {
            assert_eq!(DataType::from_name(t.name()), Some(t));
        }
        assert_eq!(DataType::from_name("jobs"), None);
    }
}
