//! Reading a store back from the mirror document [`Store::to_json`] writes, so a saved mirror
//! can be read offline with the same views as a live client's store.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{DataType, Object, Store};

/// Why a mirror document could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// The text is not the JSON shape of a mirror document.
    Json(serde_json::Error),
    /// `data` names a map the store does not have.
    UnknownDataType(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Json(e) => write!(f, "not a mirror document: {e}"),
            LoadError::UnknownDataType(t) => write!(f, "unknown data type {t:?}"),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Json(e) => Some(e),
            LoadError::UnknownDataType(_) => None,
        }
    }
}

#[derive(Deserialize)]
struct Document {
    #[serde(rename = "cc.version", default)]
    version: String,
    #[serde(rename = "cc.cursor", default)]
    cc_cursor: i64,
    #[serde(default)]
    cursor: i64,
    #[serde(default)]
    data: BTreeMap<String, BTreeMap<String, Box<RawValue>>>,
}

impl Store {
    /// A store holding what a mirror document says (the format of [`Store::to_json`]); the
    /// indexes are rebuilt from the objects, so the document's `assets_by_pathname` map is
    /// not read. Objects keep their JSON text exactly.
    ///
    /// ```
    /// use unicat_core::store::Store;
    ///
    /// let store = Store::from_json(r#"{"cc.version": "2026.01.001", "cursor": 7,
    ///     "data": {"records": {"r1": {"gid": "r1", "fields": {"en": {"price": 12.50}}}}}}"#)?;
    /// assert_eq!(store.cursor(), 7);
    /// assert!(store.record("r1").unwrap().json().contains("12.50"));
    /// assert_eq!(Store::from_json(&store.to_json())?.to_json(), store.to_json());
    /// # Ok::<(), unicat_core::store::LoadError>(())
    /// ```
    pub fn from_json(text: &str) -> Result<Store, LoadError> {
        let doc: Document = crate::json::from_str(text).map_err(LoadError::Json)?;
        let mut store = Store::default();
        for (name, objects) in doc.data {
            if name == "assets_by_pathname" {
                continue;
            }
            let t = DataType::from_name(&name).ok_or(LoadError::UnknownDataType(name))?;
            for (key, raw) in objects {
                store.insert(t, key, Object::new(&raw));
            }
        }
        store.set_cursors(doc.cc_cursor, doc.cursor);
        store.version = doc.version;
        Ok(store)
    }
}
