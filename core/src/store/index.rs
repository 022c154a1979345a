//! The store's by-name indexes: `assets_by_pathname`, and definitions, classes and fields by
//! name and queries by `type:name`, kept current on every insert and removal (a definition
//! renamed through sync is found by its new name at once, and no longer by its old one).
//!
//! Which objects a name finds follows the Python SDK: new objects and working copies are left
//! out, and extended definitions too (their names are only unique under a parent). Where two
//! objects claim one name, the one that arrived last answers, as the SDK's dictionary does;
//! when it goes or is renamed, the one before answers again.

use std::sync::Arc;

use imbl::OrdMap;
use serde::Deserialize;

use super::{DataType, Key, Object};

/// One index: name to the objects that claim it, and each object's name.
///
/// Claimants are kept by arrival number, so adding, removing and finding the last are each
/// a few steps of a persistent map however many objects claim one name (a hostile server may
/// send thousands), and a snapshot shares all but the path that changed.
#[derive(Clone, Debug, Default)]
pub(super) struct NameIndex {
    /// The keys claiming each name, by arrival; the last answers.
    by_name: OrdMap<Key, OrdMap<u64, Key>>,
    /// Every indexed object's name, whether a lookup by name may find it, and its arrival
    /// number; including the ones a lookup leaves out (so a view can read a field's name
    /// without parsing it).
    name_of: OrdMap<Key, (Key, bool, u64)>,
    /// The next arrival number.
    arrivals: u64,
}

impl NameIndex {
    /// Sets the name of `key` (`None`: it has none, or it left), and whether a lookup by name
    /// may find it.
    pub(super) fn set(&mut self, key: &str, name: Option<(Key, bool)>) {
        let old = self.name_of.get(key).cloned();
        if old.as_ref().map(|(n, f, _)| (n, f)) == name.as_ref().map(|(n, f)| (n, f)) {
            return;
        }
        if let Some((old, true, arrival)) = old {
            if let Some(keys) = self.by_name.get_mut(&old) {
                keys.remove(&arrival);
                if keys.is_empty() {
                    self.by_name.remove(&old);
                }
            }
        }
        match name {
            Some((new, findable)) => {
                let arrival = self.arrivals;
                self.arrivals = self.arrivals.wrapping_add(1);
                if findable {
                    let keys = self.by_name.entry(Arc::clone(&new)).or_default();
                    keys.insert(arrival, Key::from(key));
                }
                self.name_of
                    .insert(Key::from(key), (new, findable, arrival));
            }
            None => {
                self.name_of.remove(key);
            }
        }
    }

    /// The key a lookup by `name` finds.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.by_name.get(name)?.get_max().map(|(_, k)| &**k)
    }

    /// The name of `key`, whether or not a lookup by name finds it.
    pub(super) fn name_of(&self, key: &str) -> Option<&str> {
        self.name_of.get(key).map(|(n, _, _)| &**n)
    }

    /// Names and the key each finds, sorted by name.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_name
            .iter()
            .filter_map(|(n, keys)| Some((&**n, &*keys.get_max()?.1)))
    }

    pub(super) fn clear(&mut self) {
        *self = NameIndex::default();
    }
}

/// A JSON value read for its Python truth: `false`, `null`, `0`, `""`, `[]` and `{}` are
/// false, as the SDK's `if definition["is_new"]` reads them.
#[derive(Default)]
struct Truthy(bool);

impl<'de> Deserialize<'de> for Truthy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde_json::Value;
        Ok(Truthy(match Value::deserialize(d)? {
            Value::Null | Value::Bool(false) => false,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            Value::Bool(true) => true,
        }))
    }
}

/// The members of an object that its index reads.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Names {
    name: Option<String>,
    pathname: Option<String>,
    #[serde(rename = "type")]
    type_: Option<String>,
    is_new: Truthy,
    is_working_copy: Truthy,
    is_extended: Truthy,
}

/// The name `object` of `data_type` is indexed under, and whether a lookup by name may find
/// it; `None` for data types without an index and objects without a name.
pub(super) fn name(data_type: DataType, object: &Object) -> Option<(Key, bool)> {
    if !matches!(
        data_type,
        DataType::Assets
            | DataType::Definitions
            | DataType::Classes
            | DataType::Fields
            | DataType::Queries
    ) {
        return None;
    }
    let n: Names = object.deserialize().unwrap_or_default();
    let committed = !n.is_new.0 && !n.is_working_copy.0;
    match data_type {
        DataType::Assets => Some((Arc::from(n.pathname?), true)),
        DataType::Definitions => Some((Arc::from(n.name?), committed && !n.is_extended.0)),
        DataType::Classes | DataType::Fields => Some((Arc::from(n.name?), committed)),
        DataType::Queries => Some((Arc::from(query_key(&n.type_?, &n.name?)), true)),
        _ => None,
    }
}

/// The SDK's `type:name` key of a query.
pub(crate) fn query_key(type_: &str, name: &str) -> String {
    format!("{type_}:{name}")
}
