//! Field values, typed by their field's definition.

use std::borrow::Cow;
use std::fmt;

use serde_json::value::RawValue;
use serde_json::Value;

use super::doc::{self, Doc};
use super::records::{Asset, Record};
use super::schema::{Class, Field, FieldType};
use super::{Reference, Wanted};
use crate::store::Store;

/// A number exactly as the JSON text has it (`12.50` stays `12.50`): a decimal never passes
/// through `f64` unless you ask for one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Number<'a>(pub(crate) Cow<'a, str>);

impl<'a> Number<'a> {
    /// The digits, as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The nearest `f64`.
    pub fn to_f64(&self) -> Option<f64> {
        self.0.parse().ok()
    }

    /// The value as an `i64`, when it is a whole number that fits.
    pub fn to_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    /// The exact value as `(mantissa, scale)`: `12.50` is `(1250, 2)`, meaning 1250 × 10⁻².
    /// `None` when it does not fit an `i128` (or has an exponent that does not fit).
    pub fn to_scaled(&self) -> Option<(i128, u32)> {
        let text = self.0.trim();
        let (digits, exp) = match text.find(['e', 'E']) {
            Some(i) => (
                text.get(..i)?,
                text.get(i.checked_add(1)?..)?.parse::<i32>().ok()?,
            ),
            None => (text, 0),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let mantissa: i128 = format!("{int}{frac}").parse().ok()?;
        if mantissa == 0 {
            return Some((0, 0));
        }
        let scale = i32::try_from(frac.len()).ok()?.checked_sub(exp)?;
        match u32::try_from(scale) {
            Ok(scale) => Some((mantissa, scale)),
            Err(_) => {
                let up = 10i128.checked_pow(scale.checked_neg()?.unsigned_abs())?;
                Some((mantissa.checked_mul(up)?, 0))
            }
        }
    }

    /// The number a JSON value is, or a string that is one (some servers send decimals as
    /// strings).
    fn read(raw: &'a RawValue) -> Option<Number<'a>> {
        let text = raw.get().trim();
        if text.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) {
            return serde_json::from_str::<serde_json::Number>(text)
                .ok()
                .map(|_| Number(Cow::Borrowed(text)));
        }
        let s = doc::string(raw)?;
        serde_json::from_str::<serde_json::Number>(&s).ok()?;
        Some(Number(s))
    }
}

impl fmt::Display for Number<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A field value, typed by its field's type.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Typed<'a> {
    /// No value: `null`.
    Null,
    /// `text`, `textline`, `code`, `barcode`.
    Text(Cow<'a, str>),
    /// `textlist`.
    TextList(Vec<Cow<'a, str>>),
    /// `number`, with its exact digits.
    Number(Number<'a>),
    /// `decimal`, with its exact digits.
    Decimal(Number<'a>),
    /// `boolean`.
    Boolean(bool),
    /// `class`: nested fields.
    Class(ClassValue<'a>),
    /// `classlist`: groups of nested fields.
    ClassList(Vec<ClassValue<'a>>),
    /// `record`.
    Record(Reference<'a, Record<'a>>),
    /// `recordlist`.
    RecordList(Vec<Reference<'a, Record<'a>>>),
    /// `image` or `file`.
    Asset(Reference<'a, Asset<'a>>),
    /// `imagelist` or `filelist`.
    AssetList(Vec<Reference<'a, Asset<'a>>>),
    /// `fieldpicker`.
    Field(Reference<'a, Field<'a>>),
    /// A value of a type this client does not know, of a field the store does not hold, or
    /// that does not have its type's shape: the JSON as sent.
    Raw(&'a RawValue),
}

/// How many levels of nested class values [`FieldValue::want`] follows.
pub const MAX_CLASS_DEPTH: usize = 32;

/// One field's value in one language, with what its field says about it (type, label,
/// unit) and its `…/key` companion.
///
/// ```
/// # let store = unicat_core::view::example_store();
/// use unicat_core::view::Typed;
/// let record = store.view().record("r1").unwrap();
/// let width = record.field("en", "width").unwrap();
/// assert_eq!(width.title().as_deref(), Some("Width [mm]"));
/// let Typed::Number(n) = width.typed() else { panic!() };
/// assert_eq!(n.to_i64(), Some(40));
/// ```
#[derive(Clone, Debug)]
pub struct FieldValue<'a> {
    store: &'a Store,
    language: Cow<'a, str>,
    name: Cow<'a, str>,
    field: Option<Field<'a>>,
    raw: Option<&'a RawValue>,
    key: Option<&'a RawValue>,
}

impl<'a> FieldValue<'a> {
    pub(crate) fn new(
        store: &'a Store,
        language: Cow<'a, str>,
        name: Cow<'a, str>,
        field: Option<Field<'a>>,
        raw: Option<&'a RawValue>,
        key: Option<&'a RawValue>,
    ) -> Self {
        FieldValue {
            store,
            language,
            name,
            field,
            raw,
            key,
        }
    }

    /// The field's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The language of the value.
    pub fn language(&self) -> &str {
        &self.language
    }

    /// The field, when the store holds it.
    pub fn field(&self) -> Option<&Field<'a>> {
        self.field.as_ref()
    }

    /// The field's type; [`FieldType::Other`] with an empty name when the field is not held.
    pub fn field_type(&self) -> FieldType {
        self.field
            .as_ref()
            .map_or(FieldType::Other(String::new()), Field::field_type)
    }

    /// The field's label in the value's language.
    pub fn label(&self) -> Option<Cow<'a, str>> {
        self.field.as_ref()?.label(&self.language)
    }

    /// The label with the unit (`Width [mm]`).
    pub fn title(&self) -> Option<Cow<'a, str>> {
        self.field.as_ref()?.title(&self.language)
    }

    /// The field's unit.
    pub fn unit(&self) -> Option<Cow<'a, str>> {
        self.field.as_ref()?.unit()
    }

    /// The `<name>/key` companion value (the keys of a `textlist`'s items), as JSON.
    pub fn key(&self) -> Option<Value> {
        crate::json::from_str(self.key?.get()).ok()
    }

    /// The value as sent; `None` for a class field the value does not mention.
    pub fn raw(&self) -> Option<&'a RawValue> {
        self.raw
    }

    /// Whether there is no value (`null`, or not mentioned).
    pub fn is_null(&self) -> bool {
        self.raw.is_none_or(doc::is_null)
    }

    /// The value, typed by the field's type.
    pub fn typed(&self) -> Typed<'a> {
        let Some(raw) = self.raw.filter(|r| !doc::is_null(r)) else {
            return Typed::Null;
        };
        let Some(field) = &self.field else {
            return Typed::Raw(raw);
        };
        let typed = match field.field_type() {
            FieldType::Text | FieldType::Textline | FieldType::Code | FieldType::Barcode => {
                doc::string(raw).map(Typed::Text)
            }
            FieldType::Textlist => strings(raw).map(Typed::TextList),
            FieldType::Number => Number::read(raw).map(Typed::Number),
            FieldType::Decimal => Number::read(raw).map(Typed::Decimal),
            FieldType::Boolean => serde_json::from_str(raw.get()).ok().map(Typed::Boolean),
            FieldType::Class => self.class_value(field, raw).map(Typed::Class),
            FieldType::Classlist => self.class_list(field, raw).map(Typed::ClassList),
            FieldType::Record => self.reference(raw).map(Typed::Record),
            FieldType::Recordlist => self.references(raw).map(Typed::RecordList),
            FieldType::Image | FieldType::File => self.reference(raw).map(Typed::Asset),
            FieldType::Imagelist | FieldType::Filelist => {
                self.references(raw).map(Typed::AssetList)
            }
            FieldType::Fieldpicker => self.reference(raw).map(Typed::Field),
            FieldType::Other(_) => None,
        };
        typed.unwrap_or(Typed::Raw(raw))
    }

    fn reference<V: super::View<'a>>(&self, raw: &'a RawValue) -> Option<Reference<'a, V>> {
        Some(Reference::of(self.store, doc::string(raw)?))
    }

    fn references<V: super::View<'a>>(&self, raw: &'a RawValue) -> Option<Vec<Reference<'a, V>>> {
        let gids = strings(raw)?;
        Some(
            gids.into_iter()
                .map(|g| Reference::of(self.store, g))
                .collect(),
        )
    }

    fn class_value(&self, field: &Field<'a>, raw: &'a RawValue) -> Option<ClassValue<'a>> {
        if !raw.get().trim_start().starts_with('{') {
            return None;
        }
        Some(ClassValue {
            store: self.store,
            language: self.language.clone(),
            class: field.class(),
            doc: Doc::parse(raw.get()),
        })
    }

    fn class_list(&self, field: &Field<'a>, raw: &'a RawValue) -> Option<Vec<ClassValue<'a>>> {
        if !raw.get().trim_start().starts_with('[') {
            return None;
        }
        doc::list(Some(raw))
            .into_iter()
            .map(|item| self.class_value(field, item))
            .collect()
    }

    /// Adds what the value refers to and the store does not hold to `wanted`: records,
    /// assets and fields, through nested class values too.
    ///
    /// Class values are followed [`MAX_CLASS_DEPTH`] levels deep: a class whose field is of
    /// that same class lets a value nest as deep as the server likes.
    pub fn want(&self, wanted: &mut Wanted) {
        self.want_at(wanted, 0);
    }

    fn want_at(&self, wanted: &mut Wanted, depth: usize) {
        match self.typed() {
            Typed::Record(r) => r.want(wanted),
            Typed::RecordList(rs) => rs.iter().for_each(|r| r.want(wanted)),
            Typed::Asset(a) => a.want(wanted),
            Typed::AssetList(assets) => assets.iter().for_each(|a| a.want(wanted)),
            Typed::Field(f) => f.want(wanted),
            Typed::Class(c) if depth < MAX_CLASS_DEPTH => c.want_at(wanted, depth),
            Typed::ClassList(cs) if depth < MAX_CLASS_DEPTH => {
                cs.iter().for_each(|c| c.want_at(wanted, depth));
            }
            _ => {}
        }
    }
}

/// The value as plain text: text as is, numbers with their exact digits, booleans as
/// `true`/`false`, references as the gid, lists joined by `|`, `null` as nothing. A value of
/// no known shape prints the same way when it is a string, a number, a boolean or a list of
/// those, and as its JSON otherwise.
impl fmt::Display for FieldValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn gids<'a, V: super::View<'a>>(refs: &[Reference<'a, V>]) -> String {
            refs.iter()
                .map(Reference::gid)
                .collect::<Vec<_>>()
                .join("|")
        }
        match self.typed() {
            Typed::Null => Ok(()),
            Typed::Text(t) => f.write_str(&t),
            Typed::TextList(items) => f.write_str(&items.join("|")),
            Typed::Number(n) | Typed::Decimal(n) => f.write_str(n.as_str()),
            Typed::Boolean(b) => write!(f, "{b}"),
            Typed::Record(r) => f.write_str(r.gid()),
            Typed::RecordList(rs) => f.write_str(&gids(&rs)),
            Typed::Asset(a) => f.write_str(a.gid()),
            Typed::AssetList(assets) => f.write_str(&gids(&assets)),
            Typed::Field(r) => f.write_str(r.gid()),
            Typed::Raw(raw) => f.write_str(&raw_text(raw)),
            Typed::Class(_) | Typed::ClassList(_) => f.write_str(self.raw.map_or("", |r| r.get())),
        }
    }
}

/// A raw value as plain text (see [`FieldValue`]'s `Display`).
fn raw_text(raw: &RawValue) -> String {
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => Some(String::new()),
            _ => None,
        }
    }
    // Numbers keep their digits: a scalar number is printed from the text itself.
    let text = raw.get().trim();
    match crate::json::from_str::<Value>(text) {
        Ok(Value::Number(_)) => text.to_owned(),
        Ok(Value::Array(items)) => items
            .iter()
            .map(scalar)
            .collect::<Option<Vec<_>>>()
            .map_or_else(|| text.to_owned(), |items| items.join("|")),
        Ok(v) => scalar(&v).unwrap_or_else(|| text.to_owned()),
        Err(_) => text.to_owned(),
    }
}

/// The strings of a JSON array of strings.
fn strings(raw: &RawValue) -> Option<Vec<Cow<'_, str>>> {
    if !raw.get().trim_start().starts_with('[') {
        return None;
    }
    doc::list(Some(raw)).into_iter().map(doc::string).collect()
}

/// The nested fields of a `class` value (or of one item of a `classlist`).
///
/// ```
/// # let store = unicat_core::view::example_store();
/// use unicat_core::view::Typed;
/// let record = store.view().record("r1").unwrap();
/// let Typed::Class(size) = record.field("en", "size").unwrap().typed() else { panic!() };
/// assert_eq!(size.field("width").unwrap().to_string(), "10");
/// assert_eq!(size.field("width").unwrap().unit().as_deref(), Some("mm"));
/// ```
#[derive(Clone, Debug)]
pub struct ClassValue<'a> {
    store: &'a Store,
    language: Cow<'a, str>,
    class: Option<Reference<'a, Class<'a>>>,
    doc: Doc<'a>,
}

impl<'a> ClassValue<'a> {
    /// The class, when the field names one.
    pub fn class(&self) -> Option<&Reference<'a, Class<'a>>> {
        self.class.as_ref()
    }

    /// The nested value of the class's field `name` (a field the value does not mention is
    /// [`Typed::Null`]); `None` when the class has no such field or is not held.
    pub fn field(&self, name: &str) -> Option<FieldValue<'a>> {
        self.fields().into_iter().find(|f| f.name() == name)
    }

    /// The class's fields in order, each with its value, as the SDK's class fields give them.
    pub fn fields(&self) -> Vec<FieldValue<'a>> {
        let Some(Reference::Held(class)) = &self.class else {
            return Vec::new();
        };
        class
            .fields()
            .into_iter()
            .filter_map(Reference::held)
            .filter_map(|field| {
                let name = field.name()?;
                if name.ends_with("/key") {
                    return None;
                }
                let raw = self.doc.raw(&name);
                let key = self.doc.raw(&format!("{name}/key"));
                Some(FieldValue::new(
                    self.store,
                    self.language.clone(),
                    name,
                    Some(field),
                    raw,
                    key,
                ))
            })
            .collect()
    }

    /// The value as sent, as JSON.
    pub fn to_value(&self) -> Value {
        Value::Object(
            self.doc
                .entries()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        crate::json::from_str(v.get()).unwrap_or(Value::Null),
                    )
                })
                .collect(),
        )
    }

    fn want_at(&self, wanted: &mut Wanted, depth: usize) {
        if let Some(c) = &self.class {
            c.want(wanted);
        }
        for f in self.fields() {
            f.want_at(wanted, depth.saturating_add(1));
        }
    }
}
