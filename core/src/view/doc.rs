//! Reading one stored object's members without building a tree: the object's text is split
//! into its members once, each member kept as the slice of text it is (`&RawValue`), and a
//! member is parsed only when asked for. Strings without escapes are borrowed, never copied.

use std::borrow::Cow;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// A string borrowed from the text when it has no escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// The members of one JSON object, in document order; empty when the text is not an object.
#[derive(Clone, Default)]
pub(crate) struct Doc<'a> {
    members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl fmt::Debug for Doc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.members.iter().map(|(k, _)| k))
            .finish()
    }
}

struct Members;

impl<'de> Visitor<'de> for Members {
    type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some((Text(k), v)) = map.next_entry::<Text<'de>, &'de RawValue>()? {
            out.push((k, v));
        }
        Ok(out)
    }
}

impl<'a> Doc<'a> {
    /// The members of the object `text` holds.
    pub(crate) fn parse(text: &'a str) -> Doc<'a> {
        let mut de = serde_json::Deserializer::from_str(text);
        let members = serde::Deserializer::deserialize_map(&mut de, Members).unwrap_or_default();
        Doc { members }
    }

    /// The members of the object `raw` holds.
    pub(crate) fn of(raw: Option<&'a RawValue>) -> Doc<'a> {
        raw.map(|r| Doc::parse(r.get())).unwrap_or_default()
    }

    /// A member as its text; a repeated name means its last value, as in Python's `json`.
    pub(crate) fn raw(&self, key: &str) -> Option<&'a RawValue> {
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
    }

    /// The member's name as the document spells it, and its text.
    pub(crate) fn entry(&self, key: &str) -> Option<(Cow<'a, str>, &'a RawValue)> {
        self.members.iter().rev().find(|(k, _)| k == key).cloned()
    }

    /// Members in document order (a repeated name once per time it appears).
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&Cow<'a, str>, &'a RawValue)> + '_ {
        self.members.iter().map(|(k, v)| (k, *v))
    }

    /// A string member.
    pub(crate) fn str(&self, key: &str) -> Option<Cow<'a, str>> {
        string(self.raw(key)?)
    }

    /// A member read as `T`, `None` when absent or of another shape.
    pub(crate) fn get<T: Deserialize<'a>>(&self, key: &str) -> Option<T> {
        serde_json::from_str(self.raw(key)?.get()).ok()
    }

    /// A boolean member read for its Python truth (see the store's index): `null` and absent
    /// members are false.
    pub(crate) fn flag(&self, key: &str) -> bool {
        match self.value(key) {
            None | Some(Value::Null | Value::Bool(false)) => false,
            Some(Value::Number(n)) => n.as_f64() != Some(0.0),
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            Some(Value::Bool(true)) => true,
        }
    }

    /// A member parsed into a tree.
    pub(crate) fn value(&self, key: &str) -> Option<Value> {
        crate::json::from_str(self.raw(key)?.get()).ok()
    }

    /// A list of strings; other items are left out.
    pub(crate) fn strs(&self, key: &str) -> Vec<Cow<'a, str>> {
        list(self.raw(key)).into_iter().filter_map(string).collect()
    }

    /// A nested object.
    pub(crate) fn doc(&self, key: &str) -> Doc<'a> {
        Doc::of(self.raw(key))
    }

    /// A localized member (`{"en": …, "nl": …}`) in one language, when it is a string.
    pub(crate) fn localized(&self, key: &str, language: &str) -> Option<Cow<'a, str>> {
        self.doc(key).str(language)
    }
}

/// The items of a JSON array; empty when `raw` is absent or not an array.
pub(crate) fn list(raw: Option<&RawValue>) -> Vec<&RawValue> {
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
        .unwrap_or_default()
}

/// The string a JSON value is, if it is one.
pub(crate) fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Text<'_>>(raw.get())
        .ok()
        .map(|t| t.0)
}

/// Whether a JSON value is `null`.
pub(crate) fn is_null(raw: &RawValue) -> bool {
    raw.get().trim() == "null"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_slices_of_the_text_and_plain_strings_are_borrowed() {
        let doc = Doc::parse(r#"{"gid":"r1","price":12.50,"t":"a\"b","n":null,"gid":"r2"}"#);
        assert_eq!(doc.raw("price").unwrap().get(), "12.50");
        assert!(matches!(doc.str("gid"), Some(Cow::Borrowed("r2"))));
        assert_eq!(doc.str("t").as_deref(), Some("a\"b"));
        assert!(is_null(doc.raw("n").unwrap()));
        assert!(Doc::parse("[1,2]").raw("x").is_none());
        assert!(Doc::parse("not json").entries().next().is_none());
    }
}
