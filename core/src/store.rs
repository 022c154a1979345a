//! The local copy of a project's data: one map per data type, the `assets_by_pathname` index,
//! the two sync cursors and the server version.
//!
//! Objects are held as the JSON text the server sent ([`Object`]), not as parsed trees: every
//! number, every key order and every escape stays exactly as it arrived (a price never changes
//! on its way through the store), and a record costs about its JSON size in memory instead of
//! several times that. Reading parses on demand, which for one record takes microseconds.

use std::collections::BTreeMap;
use std::fmt;

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

/// One stored value, exactly as the server sent it (usually a JSON object).
#[derive(Clone)]
pub struct Object(Box<RawValue>);

/// Two objects are equal when their JSON text is.
impl PartialEq for Object {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl Eq for Object {}

impl Object {
    pub(crate) fn new(raw: Box<RawValue>) -> Self {
        Object(raw)
    }

    /// The JSON text, as received.
    pub fn json(&self) -> &str {
        self.0.get()
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

impl serde::Serialize for Object {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// The local store. Read it through the getters; the client keeps it up to date.
#[derive(Clone, Debug, Default)]
pub struct Store {
    maps: [BTreeMap<String, Object>; 12],
    by_pathname: BTreeMap<String, String>,
    pathname_of: BTreeMap<String, String>,
    cc_cursor: i64,
    cursor: i64,
    version: String,
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
    pub fn map(&self, data_type: DataType) -> &BTreeMap<String, Object> {
        // `maps` has one entry per `DataType`, so the index is always in range.
        static EMPTY: BTreeMap<String, Object> = BTreeMap::new();
        self.maps.get(data_type.index()).unwrap_or(&EMPTY)
    }

    /// Every record, sorted by gid.
    pub fn records(&self) -> &BTreeMap<String, Object> {
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
        self.by_pathname
            .get(pathname)
            .and_then(|gid| self.asset(gid))
    }

    /// The `assets_by_pathname` index: pathname and asset, sorted by pathname.
    pub fn assets_by_pathname(&self) -> impl Iterator<Item = (&str, &Object)> {
        self.by_pathname
            .iter()
            .filter_map(|(p, gid)| Some((p.as_str(), self.asset(gid)?)))
    }

    /// How many objects the store holds, all maps together.
    pub fn len(&self) -> usize {
        self.maps.iter().map(BTreeMap::len).sum()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.maps.iter().all(BTreeMap::is_empty)
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
            write_map(
                &mut out,
                t.name(),
                &mut self.map(t).iter().map(|(k, v)| (k.as_str(), v)),
            );
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

    pub(crate) fn insert(&mut self, data_type: DataType, key: String, object: Object) {
        if data_type == DataType::Assets {
            self.index_asset(&key, &object);
        }
        if let Some(map) = self.maps.get_mut(data_type.index()) {
            map.insert(key, object);
        }
    }

    pub(crate) fn remove(&mut self, data_type: DataType, key: &str) -> Option<Object> {
        if data_type == DataType::Assets {
            if let Some(old) = self.pathname_of.remove(key) {
                if self.by_pathname.get(&old).is_some_and(|g| g == key) {
                    self.by_pathname.remove(&old);
                }
            }
        }
        self.maps.get_mut(data_type.index())?.remove(key)
    }

    /// Keeps `assets_by_pathname` right when an asset arrives: a rename drops the old pathname.
    fn index_asset(&mut self, gid: &str, object: &Object) {
        #[derive(serde::Deserialize)]
        struct Pathname {
            pathname: Option<String>,
        }
        let new = object
            .deserialize::<Pathname>()
            .ok()
            .and_then(|p| p.pathname);
        if let Some(old) = self.pathname_of.remove(gid) {
            if Some(&old) != new.as_ref() && self.by_pathname.get(&old).is_some_and(|g| g == gid) {
                self.by_pathname.remove(&old);
            }
        }
        if let Some(p) = new {
            if let Some(prev) = self.by_pathname.insert(p.clone(), gid.to_string()) {
                if prev != gid {
                    // Another asset held this pathname (it moved away, and its update has not
                    // arrived yet): it is no longer reachable by this pathname.
                    self.pathname_of.remove(&prev);
                }
            }
            self.pathname_of.insert(gid.to_string(), p);
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = Store {
            version: std::mem::take(&mut self.version),
            cc_cursor: self.cc_cursor,
            cursor: self.cursor,
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
        if !keep.contains(&DataType::Assets) {
            self.by_pathname.clear();
            self.pathname_of.clear();
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

fn push_json_str(out: &mut String, s: &str) {
    // Serialising a string cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(json: &str) -> Object {
        Object::new(RawValue::from_string(json.to_string()).unwrap())
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
