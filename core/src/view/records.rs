//! Records and assets: the project's data.

use std::borrow::Cow;

use serde_json::Value;

use super::doc::Doc;
use super::schema::Definition;
use super::value::FieldValue;
use super::{view_type, Reference, Wanted};
use crate::store::{DataType, Store};

view_type! {
    /// A record (`records`): its place in the tree, its definition and its field values.
    ///
    /// ```
    /// # let store = unicat_core::view::example_store();
    /// let record = store.view().record("r1").unwrap();
    /// assert_eq!(record.title("en").as_deref(), Some("Article A-1"));
    /// assert_eq!(record.field("nl", "artnr").unwrap().to_string(), "A-1");
    /// assert_eq!(record.childcount(), 0);
    /// ```
    Record, Records
}

impl<'a> Record<'a> {
    /// The gid.
    pub fn gid(&self) -> &'a str {
        self.key
    }

    /// The gid of the record this one is a link to (its own gid when it is no link).
    pub fn canonical(&self) -> Option<Cow<'a, str>> {
        self.doc.str("canonical")
    }

    /// The parent's gid; `None` for the root.
    pub fn parent(&self) -> Option<Cow<'a, str>> {
        self.doc.str("parent")
    }

    /// The gids of the links to this record.
    pub fn backlinks(&self) -> Vec<Cow<'a, str>> {
        self.doc.strs("backlinks")
    }

    /// Whether it is a link to another record.
    pub fn is_link(&self) -> bool {
        self.doc.flag("is_link")
    }

    /// Its status (`published`, `deleted`, …).
    pub fn status(&self) -> Option<Cow<'a, str>> {
        self.doc.str("status")
    }

    /// Whether it was deleted (`status` is `deleted`).
    pub fn is_deleted(&self) -> bool {
        self.status().as_deref() == Some("deleted")
    }

    /// Its depth in the tree, 0 for the root.
    pub fn treelevel(&self) -> u64 {
        self.doc.get("treelevel").unwrap_or(0)
    }

    /// The gids from the root down to this record.
    pub fn path(&self) -> Vec<Cow<'a, str>> {
        self.doc.strs("path")
    }

    /// The title in one language.
    pub fn title(&self, language: &str) -> Option<Cow<'a, str>> {
        self.doc.localized("title", language)
    }

    /// The channels it is in.
    pub fn channels(&self) -> Vec<Cow<'a, str>> {
        self.doc.strs("channels")
    }

    /// Its position in each ordering, as JSON.
    pub fn orderings(&self) -> Option<Value> {
        self.doc.value("orderings")
    }

    /// How many children it has; 0 when the object does not say.
    pub fn childcount(&self) -> u64 {
        self.doc.get("childcount").unwrap_or(0)
    }

    /// Whether the object says how many children it has.
    pub fn knows_childcount(&self) -> bool {
        self.doc.get::<u64>("childcount").is_some()
    }

    /// The definition.
    pub fn definition(&self) -> Option<Reference<'a, Definition<'a>>> {
        Reference::to(self.store, self.doc.str("definition")?)
    }

    /// Creation time, epoch seconds.
    pub fn created_on(&self) -> Option<f64> {
        self.doc.get("created_on")
    }

    /// Last update time, epoch seconds.
    pub fn updated_on(&self) -> Option<f64> {
        self.doc.get("updated_on")
    }

    /// The languages it has values in, in document order.
    pub fn languages(&self) -> Vec<Cow<'a, str>> {
        self.doc
            .doc("fields")
            .entries()
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The value of the field `name` in `language`, typed by the field's definition; `None`
    /// when the record has no value of that name in that language (a `null` value is
    /// `Some`, with [`Typed::Null`](super::Typed::Null)). To read several fields of one
    /// record, [`values`](Self::values) reads the language and the definition once.
    pub fn field(&self, language: &str, name: &str) -> Option<FieldValue<'a>> {
        self.values(language)?.field(name)
    }

    /// Every value in `language`, in document order, without the `…/key` companions (the
    /// SDK's `record.fields[language]`).
    pub fn fields(&self, language: &str) -> Vec<FieldValue<'a>> {
        self.values(language)
            .map(|v| v.fields())
            .unwrap_or_default()
    }

    /// The record's values in one language, to read several fields through; `None` when it
    /// has none in that language.
    ///
    /// ```
    /// # let store = unicat_core::view::example_store();
    /// let record = store.view().record("r1").unwrap();
    /// let en = record.values("en").unwrap();
    /// let row: Vec<String> = ["artnr", "price", "width"]
    ///     .iter()
    ///     .map(|name| en.field(name).map(|v| v.to_string()).unwrap_or_default())
    ///     .collect();
    /// assert_eq!(row, ["A-1", "12345678901234567.891", "40"]);
    /// ```
    pub fn values(&self, language: &str) -> Option<Values<'a>> {
        let (language, raw) = self.doc.doc("fields").entry(language)?;
        Some(Values {
            store: self.store,
            language,
            doc: Doc::of(Some(raw)),
            definition: self.definition().and_then(Reference::held),
        })
    }

    /// What this record refers to that the store does not hold: its definition, the fields
    /// it names, and the records, assets and fields its values in `language` (every language
    /// with `None`) refer to.
    pub fn wanted(&self, language: Option<&str>) -> Wanted {
        let mut wanted = Wanted::default();
        if let Some(d) = self.definition() {
            d.want(&mut wanted);
            if let Some(d) = d.held() {
                d.want_schema(&mut wanted);
            }
        }
        let languages = match language {
            Some(l) => vec![Cow::Owned(l.to_owned())],
            None => self.languages(),
        };
        for l in languages {
            for value in self.fields(&l) {
                value.want(&mut wanted);
            }
        }
        wanted
    }
}

/// A record's values in one language (see [`Record::values`]): its `fields` member and its
/// definition are read once for all the fields read through it.
#[derive(Clone, Debug)]
pub struct Values<'a> {
    store: &'a Store,
    language: Cow<'a, str>,
    doc: Doc<'a>,
    definition: Option<Definition<'a>>,
}

impl<'a> Values<'a> {
    /// The language.
    pub fn language(&self) -> &str {
        &self.language
    }

    /// The value of the field `name`, typed by its definition (see [`Record::field`]).
    pub fn field(&self, name: &str) -> Option<FieldValue<'a>> {
        let (name, raw) = self.doc.entry(name)?;
        Some(self.value(name, raw))
    }

    /// Every value, in document order, without the `…/key` companions.
    pub fn fields(&self) -> Vec<FieldValue<'a>> {
        self.doc
            .entries()
            .filter(|(name, _)| !name.ends_with("/key"))
            .map(|(name, raw)| self.value(name.clone(), raw))
            .collect()
    }

    fn value(&self, name: Cow<'a, str>, raw: &'a serde_json::value::RawValue) -> FieldValue<'a> {
        let key = self.doc.raw(&format!("{name}/key"));
        let field = self
            .definition
            .as_ref()
            .and_then(|d| d.field_by_name(&name));
        FieldValue::new(
            self.store,
            self.language.clone(),
            name,
            field,
            Some(raw),
            key,
        )
    }
}

view_type! {
    /// An asset (`assets`): a file or folder of the asset tree.
    ///
    /// ```
    /// # let store = unicat_core::view::example_store();
    /// let photo = store.view().asset_by_pathname("/img/photo-1.jpg").unwrap();
    /// assert!(photo.is_file());
    /// assert_eq!(photo.name().as_deref(), Some("photo-1.jpg"));
    /// ```
    Asset, Assets
}

impl<'a> Asset<'a> {
    /// The gid.
    pub fn gid(&self) -> &'a str {
        self.key
    }

    /// The pathname in the asset tree, `/img/photo-1.jpg`.
    pub fn pathname(&self) -> Option<Cow<'a, str>> {
        self.doc.str("pathname")
    }

    /// The gids from the root down to this asset.
    pub fn path(&self) -> Vec<Cow<'a, str>> {
        self.doc.strs("path")
    }

    /// The file or folder name.
    pub fn name(&self) -> Option<Cow<'a, str>> {
        self.doc.str("name")
    }

    /// A file, not a folder.
    pub fn is_file(&self) -> bool {
        self.doc.flag("is_file")
    }

    /// The file type (`jpg`, …).
    pub fn file_type(&self) -> Option<Cow<'a, str>> {
        self.doc.str("type")
    }

    /// How many children it has; 0 when the object does not say.
    pub fn childcount(&self) -> u64 {
        self.doc.get("childcount").unwrap_or(0)
    }

    /// Whether the object says how many children it has.
    pub fn knows_childcount(&self) -> bool {
        self.doc.get::<u64>("childcount").is_some()
    }

    /// Its status.
    pub fn status(&self) -> Option<Cow<'a, str>> {
        self.doc.str("status")
    }

    /// Whether it was deleted.
    pub fn is_deleted(&self) -> bool {
        self.status().as_deref() == Some("deleted")
    }

    /// File information (format, size, dimensions), as JSON.
    pub fn info(&self) -> Option<Value> {
        self.doc.value("info")
    }

    /// The stored transforms, as JSON.
    pub fn transforms(&self) -> Option<Value> {
        self.doc.value("transforms")
    }

    /// The `_main_` transform, as JSON.
    pub fn default_transform(&self) -> Option<Value> {
        self.doc.doc("transforms").value("_main_")
    }

    /// The title in one language.
    pub fn title(&self, language: &str) -> Option<Cow<'a, str>> {
        self.doc.localized("title", language)
    }

    /// The description in one language.
    pub fn description(&self, language: &str) -> Option<Cow<'a, str>> {
        self.doc.localized("description", language)
    }

    /// The metadata, as JSON.
    pub fn metadata(&self) -> Option<Value> {
        self.doc.value("metadata")
    }

    /// The file's version.
    pub fn version(&self) -> Option<u64> {
        self.doc.get("version")
    }

    /// Creation time, epoch seconds.
    pub fn created_on(&self) -> Option<f64> {
        self.doc.get("created_on")
    }

    /// Last update time, epoch seconds: downloads compare it with the file's.
    pub fn updated_on(&self) -> Option<f64> {
        self.doc.get("updated_on")
    }
}
