//! The project's schema: definitions, classes, fields, layouts and saved queries.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use super::doc::Doc;
use super::{view_type, Reference};
use crate::store::{DataType, Store};

view_type! {
    /// A definition (`definitions`): the fields and classes a record of it has.
    ///
    /// ```
    /// # let store = unicat_core::view::example_store();
    /// let article = store.view().definition_by_name("article").unwrap();
    /// assert_eq!(article.label("nl").as_deref(), Some("Artikel"));
    /// let names: Vec<_> = article.all_fields().iter().map(|f| f.name().unwrap().into_owned()).collect();
    /// assert_eq!(names, ["artnr", "price", "size", "related", "width"]);
    /// ```
    Definition, Definitions
}

impl<'a> Definition<'a> {
    /// The name.
    pub fn name(&self) -> Option<Cow<'a, str>> {
        self.doc.str("name")
    }

    /// The label in one language.
    pub fn label(&self, language: &str) -> Option<Cow<'a, str>> {
        self.doc.localized("label", language)
    }

    /// The definition this is a working copy or extension of, when it is not new.
    pub fn original(&self) -> Option<Reference<'a, Definition<'a>>> {
        original(self.store, &self.doc)
    }

    /// The classes, in order.
    pub fn classes(&self) -> Vec<Reference<'a, Class<'a>>> {
        self.refs("classes")
    }

    /// The definition's own fields, in order (not those of its classes).
    pub fn fields(&self) -> Vec<Reference<'a, Field<'a>>> {
        self.refs("fields")
    }

    /// Every field a record of this definition has: its own, then each class's, in order
    /// (the SDK's `all_fields`). Fields the store does not hold are left out.
    pub fn all_fields(&self) -> Vec<Field<'a>> {
        let mut out: Vec<Field<'a>> = self
            .fields()
            .into_iter()
            .filter_map(Reference::held)
            .collect();
        for class in self.classes().into_iter().filter_map(Reference::held) {
            out.extend(class.fields().into_iter().filter_map(Reference::held));
        }
        out
    }

    /// The field a record's value named `name` has, by the SDK's rule: of
    /// [`all_fields`](Self::all_fields), the last with that name (a class's field overrides
    /// the definition's own).
    pub fn field_by_name(&self, name: &str) -> Option<Field<'a>> {
        let own = self.doc.strs("fields");
        let classes: Vec<Class<'a>> = self
            .classes()
            .into_iter()
            .filter_map(Reference::held)
            .collect();
        let class_fields = classes.iter().rev().flat_map(|c| {
            let mut gids = c.doc.strs("fields");
            gids.reverse();
            gids
        });
        class_fields
            .chain(own.into_iter().rev())
            .find(|gid| self.store.name_of(DataType::Fields, gid) == Some(name))
            .and_then(|gid| Field::find(self.store, &gid))
    }

    /// Adds the fields and classes (and the classes' fields) this definition names that the
    /// store does not hold to `wanted`: what typing a record of it needs.
    pub fn want_schema(&self, wanted: &mut super::Wanted) {
        for f in self.fields() {
            f.want(wanted);
        }
        for c in self.classes() {
            c.want(wanted);
            for f in c.held().map(|c| c.fields()).unwrap_or_default() {
                f.want(wanted);
            }
        }
    }

    /// The title field.
    pub fn titlefield(&self) -> Option<Reference<'a, Field<'a>>> {
        Reference::to(self.store, self.doc.str("titlefield")?)
    }

    /// The field lists: key and fields, in document order.
    pub fn fieldlists(&self) -> Vec<(Cow<'a, str>, Vec<Reference<'a, Field<'a>>>)> {
        let lists = self.doc.doc("fieldlists");
        lists
            .entries()
            .map(|(k, _)| {
                let gids = lists.strs(k);
                let fields = gids
                    .into_iter()
                    .map(|g| Reference::of(self.store, g))
                    .collect();
                (k.clone(), fields)
            })
            .collect()
    }

    /// The layout.
    pub fn layout(&self) -> Option<Reference<'a, Layout<'a>>> {
        Reference::to(self.store, self.doc.str("layout")?)
    }

    /// The definitions a child record may have.
    pub fn childdefinitions(&self) -> Vec<Reference<'a, Definition<'a>>> {
        self.refs("childdefinitions")
    }

    /// A base definition.
    pub fn is_base(&self) -> bool {
        self.doc.flag("is_base")
    }

    /// An extended definition (its name is unique only under its parent).
    pub fn is_extended(&self) -> bool {
        self.doc.flag("is_extended")
    }
}

view_type! {
    /// A class (`classes`): a group of fields a definition or a class field uses.
    ///
    /// ```
    /// # let store = unicat_core::view::example_store();
    /// let class = store.view().class_by_name("dimensions").unwrap();
    /// assert_eq!(class.fields()[0].as_held().unwrap().unit().as_deref(), Some("mm"));
    /// ```
    Class, Classes
}

impl<'a> Class<'a> {
    /// The name.
    pub fn name(&self) -> Option<Cow<'a, str>> {
        self.doc.str("name")
    }

    /// The label in one language.
    pub fn label(&self, language: &str) -> Option<Cow<'a, str>> {
        self.doc.localized("label", language)
    }

    /// The class this is a working copy of, when it is not new.
    pub fn original(&self) -> Option<Reference<'a, Class<'a>>> {
        original(self.store, &self.doc)
    }

    /// The fields, in order.
    pub fn fields(&self) -> Vec<Reference<'a, Field<'a>>> {
        self.refs("fields")
    }

    /// The layout.
    pub fn layout(&self) -> Option<Reference<'a, Layout<'a>>> {
        Reference::to(self.store, self.doc.str("layout")?)
    }
}

/// A field's type, as the API names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldType {
    /// `text`: multi-line text.
    Text,
    /// `textline`: one line of text.
    Textline,
    /// `textlist`: a list of texts.
    Textlist,
    /// `code`: source text.
    Code,
    /// `barcode`: a barcode's digits.
    Barcode,
    /// `number`.
    Number,
    /// `decimal`: kept exactly, never through `f64`.
    Decimal,
    /// `boolean`.
    Boolean,
    /// `class`: nested fields of a class.
    Class,
    /// `classlist`: a list of nested field groups.
    Classlist,
    /// `record`: a reference to a record.
    Record,
    /// `recordlist`: references to records.
    Recordlist,
    /// `image`: a reference to an asset.
    Image,
    /// `imagelist`: references to assets.
    Imagelist,
    /// `file`: a reference to an asset.
    File,
    /// `filelist`: references to assets.
    Filelist,
    /// `fieldpicker`: a reference to a field.
    Fieldpicker,
    /// A type this client does not know; its values are kept as raw JSON.
    Other(String),
}

const FIELD_TYPES: [(&str, FieldType); 17] = [
    ("text", FieldType::Text),
    ("textline", FieldType::Textline),
    ("textlist", FieldType::Textlist),
    ("code", FieldType::Code),
    ("barcode", FieldType::Barcode),
    ("number", FieldType::Number),
    ("decimal", FieldType::Decimal),
    ("boolean", FieldType::Boolean),
    ("class", FieldType::Class),
    ("classlist", FieldType::Classlist),
    ("record", FieldType::Record),
    ("recordlist", FieldType::Recordlist),
    ("image", FieldType::Image),
    ("imagelist", FieldType::Imagelist),
    ("file", FieldType::File),
    ("filelist", FieldType::Filelist),
    ("fieldpicker", FieldType::Fieldpicker),
];

impl FieldType {
    /// The type the API calls `name`.
    pub fn from_name(name: &str) -> FieldType {
        FIELD_TYPES
            .iter()
            .find(|(n, _)| *n == name)
            .map_or_else(|| FieldType::Other(name.to_owned()), |(_, t)| t.clone())
    }

    /// The API's name of the type.
    pub fn name(&self) -> &str {
        match self {
            FieldType::Other(name) => name,
            known => FIELD_TYPES
                .iter()
                .find(|(_, t)| t == known)
                .map_or("", |(n, _)| n),
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

view_type! {
    /// A field (`fields`): name, type, label and unit, and for class fields the class.
    ///
    /// ```
    /// # let store = unicat_core::view::example_store();
    /// use unicat_core::view::FieldType;
    /// let price = store.view().field_by_name("price").unwrap();
    /// assert_eq!(price.field_type(), FieldType::Decimal);
    /// assert_eq!(price.title("en").as_deref(), Some("Price [EUR]"));
    /// ```
    Field, Fields
}

impl<'a> Field<'a> {
    /// The name.
    pub fn name(&self) -> Option<Cow<'a, str>> {
        self.doc.str("name")
    }

    /// The type; a field without one is of an unknown, empty-named type.
    pub fn field_type(&self) -> FieldType {
        FieldType::from_name(self.doc.str("type").as_deref().unwrap_or_default())
    }

    /// The field this is a working copy of, when it is not new.
    pub fn original(&self) -> Option<Reference<'a, Field<'a>>> {
        original(self.store, &self.doc)
    }

    /// The class of a `class` or `classlist` field (`options.class`).
    pub fn class(&self) -> Option<Reference<'a, Class<'a>>> {
        if !matches!(self.field_type(), FieldType::Class | FieldType::Classlist) {
            return None;
        }
        let gid = self
            .doc
            .doc("options")
            .str("class")
            .filter(|g| !g.is_empty())?;
        Reference::to(self.store, gid)
    }

    /// The type's options, as JSON.
    pub fn options(&self) -> Option<Value> {
        self.doc.value("options")
    }

    /// Whether values differ per language.
    pub fn is_localized(&self) -> bool {
        self.doc.flag("is_localized")
    }

    /// Whether a value is required.
    pub fn is_required(&self) -> bool {
        self.doc.flag("is_required")
    }

    /// The label in one language.
    pub fn label(&self, language: &str) -> Option<Cow<'a, str>> {
        self.doc.localized("label", language)
    }

    /// The initial value, as JSON.
    pub fn initial(&self) -> Option<Value> {
        self.doc.value("initial")
    }

    /// The unit, such as `mm`.
    pub fn unit(&self) -> Option<Cow<'a, str>> {
        self.doc.str("unit").filter(|u| !u.is_empty())
    }

    /// The label with the unit, `Width [mm]`, as the SDK's `title` gives it; the label alone
    /// when there is no unit.
    pub fn title(&self, language: &str) -> Option<Cow<'a, str>> {
        let label = self.label(language)?;
        Some(match self.unit() {
            Some(unit) => Cow::Owned(format!("{label} [{unit}]")),
            None => label,
        })
    }
}

view_type! {
    /// A layout (`layouts`): how a definition's or class's fields are arranged.
    ///
    /// ```
    /// # let store = unicat_core::view::example_store();
    /// let article = store.view().definition_by_name("article").unwrap();
    /// let layout = article.layout().unwrap().held().unwrap();
    /// assert_eq!(layout.name().as_deref(), Some("article"));
    /// ```
    Layout, Layouts
}

impl<'a> Layout<'a> {
    /// The name.
    pub fn name(&self) -> Option<Cow<'a, str>> {
        self.doc.str("name")
    }

    /// The layout this is a working copy of.
    pub fn original(&self) -> Option<Reference<'a, Layout<'a>>> {
        Reference::to(self.store, self.doc.str("original")?)
    }

    /// The root component's gid.
    pub fn root(&self) -> Option<Cow<'a, str>> {
        self.doc.str("root")
    }

    /// The components, as JSON.
    pub fn components(&self) -> Option<Value> {
        self.doc.value("components")
    }

    /// New: not committed yet.
    pub fn is_new(&self) -> bool {
        self.doc.flag("is_new")
    }

    /// A working copy.
    pub fn is_working_copy(&self) -> bool {
        self.doc.flag("is_working_copy")
    }
}

view_type! {
    /// A saved query (`queries`): what a query walker searches for.
    ///
    /// ```
    /// # let store = unicat_core::view::example_store();
    /// let query = store.view().record_query_by_name("Cheap articles").unwrap();
    /// assert_eq!(query.query_type().as_deref(), Some("record"));
    /// assert_eq!(query.q().as_deref(), Some(""));
    /// ```
    Query, Queries
}

impl<'a> Query<'a> {
    /// What it searches: `record`, `asset` or `schema`.
    pub fn query_type(&self) -> Option<Cow<'a, str>> {
        self.doc.str("type")
    }

    /// The name.
    pub fn name(&self) -> Option<Cow<'a, str>> {
        self.doc.str("name")
    }

    /// The search text.
    pub fn q(&self) -> Option<Cow<'a, str>> {
        self.doc.str("q")
    }

    /// The filter, as JSON (`null` when absent).
    pub fn filter(&self) -> Value {
        self.doc.value("filter").unwrap_or(Value::Null)
    }
}

/// The `original` of a schema object: none when the object is new, as in the SDK.
fn original<'a, V: super::View<'a>>(store: &'a Store, doc: &Doc<'a>) -> Option<Reference<'a, V>> {
    if doc.flag("is_new") {
        return None;
    }
    Reference::to(store, doc.str("original").filter(|g| !g.is_empty())?)
}

macro_rules! gid {
    ($($name:ident),*) => {
        $(impl<'a> $name<'a> {
            /// The gid.
            pub fn gid(&self) -> &'a str {
                self.key
            }
        })*
    };
}

gid!(Definition, Class, Field, Layout, Query);

/// The readers every editable schema object has: whether it is committed, and its metadata.
macro_rules! editable {
    ($($name:ident),*) => {
        $(impl<'a> $name<'a> {
            /// New: not committed yet.
            pub fn is_new(&self) -> bool {
                self.doc.flag("is_new")
            }

            /// A working copy of a committed object.
            pub fn is_working_copy(&self) -> bool {
                self.doc.flag("is_working_copy")
            }

            /// Committed: neither new nor a working copy.
            pub fn is_committed(&self) -> bool {
                !self.is_new() && !self.is_working_copy()
            }

            /// The metadata, as JSON.
            pub fn metadata(&self) -> Option<Value> {
                self.doc.value("metadata")
            }
        })*
    };
}

editable!(Definition, Class, Field);
