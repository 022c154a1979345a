//! JSON parsing that survives what real servers send.
//!
//! Node and Python Socket.IO servers pass lone UTF-16 surrogates through as `"\ud800"`
//! escapes, which serde_json rejects. Rather than drop the whole packet, a failed parse is
//! retried once with every unpaired surrogate escape replaced by `\ufffd`, the replacement
//! character, as a lossy UTF-8 decoder would.

use serde::de::DeserializeOwned;
use serde_json::Value;
use std::borrow::Cow;

use crate::error::DecodeError;

/// A parsed tree may take this many times the bytes of its JSON, plus [`TREE_SLACK`]. Past
/// that the text is refused rather than parsed: `[0,0,0,…]` would take 16 times its size as a
/// `Value`, and `[{},{},…]` hundreds of times.
pub(crate) const TREE_FACTOR: usize = 4;

/// What any small document may take, whatever its shape: an empty object alone is a B-tree
/// node of several hundred bytes.
pub(crate) const TREE_SLACK: usize = 64 * 1024;

/// An upper estimate of the memory of the `Value` that `text` parses into: the text itself
/// (string contents), a slot per value (arrays grow by doubling), and a B-tree node per
/// object. One pass over the bytes, no allocation.
pub(crate) fn tree_cost(text: &str) -> usize {
    const SLOT: usize = 64;
    const OBJECT: usize = 640;
    let mut cost = text.len().saturating_add(SLOT);
    let (mut in_string, mut escaped) = (false, false);
    for b in text.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        cost = cost.saturating_add(match b {
            b'"' => {
                in_string = true;
                0
            }
            b'{' => OBJECT,
            b',' | b'[' => SLOT,
            _ => 0,
        });
    }
    cost
}

/// Calls `f` with the elements of a JSON array, borrowed from its text (nothing is parsed into
/// a tree; a lone surrogate escape is repaired first, as [`from_str`] does); `None` when the
/// text is not an array.
pub(crate) fn with_array_items<R>(
    text: &str,
    f: impl FnOnce(&[&serde_json::value::RawValue]) -> R,
) -> Option<R> {
    type Items<'a> = Vec<&'a serde_json::value::RawValue>;
    if let Ok(items) = serde_json::from_str::<Items<'_>>(text) {
        return Some(f(&items));
    }
    match repair_surrogates(text) {
        Cow::Owned(fixed) => serde_json::from_str::<Items<'_>>(&fixed)
            .ok()
            .map(|items| f(&items)),
        Cow::Borrowed(_) => None,
    }
}

/// Parses a `Value`, refusing JSON whose tree would outgrow [`TREE_FACTOR`] times its size
/// plus [`TREE_SLACK`].
pub(crate) fn tree_bounded(text: &str) -> Result<Value, DecodeError> {
    let budget = text
        .len()
        .saturating_mul(TREE_FACTOR)
        .saturating_add(TREE_SLACK);
    if tree_cost(text) > budget {
        return Err(DecodeError::TooComplex { size: text.len() });
    }
    from_str(text).map_err(|e| DecodeError::InvalidJson(e.to_string()))
}

/// Parses `text`, repairing unpaired surrogate escapes if the first attempt fails.
pub(crate) fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(first) => match repair_surrogates(text) {
            Cow::Owned(fixed) => serde_json::from_str(&fixed).map_err(|_| first),
            Cow::Borrowed(_) => Err(first),
        },
    }
}

fn hex4(s: &[u8]) -> Option<u16> {
    let digits = s.get(..4)?;
    let text = std::str::from_utf8(digits).ok()?;
    u16::from_str_radix(text, 16).ok()
}

/// Replaces each `\uD800`–`\uDFFF` escape that is not part of a high+low pair with `\uFFFD`.
/// Returns the input unchanged (borrowed) when there is nothing to repair.
pub(crate) fn repair_surrogates(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0usize;
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        if b != b'\\' {
            i = i.saturating_add(1);
            continue;
        }
        let next = bytes.get(i.saturating_add(1)).copied();
        if next != Some(b'u') {
            // Skip the escaped character, so `\\u` is not read as an escape.
            i = i.saturating_add(2);
            continue;
        }
        let unit = bytes.get(i.saturating_add(2)..).and_then(hex4);
        let Some(unit) = unit else {
            i = i.saturating_add(2);
            continue;
        };
        let esc_end = i.saturating_add(6);
        let is_high = (0xD800..=0xDBFF).contains(&unit);
        let is_low = (0xDC00..=0xDFFF).contains(&unit);
        if is_high {
            let pair_low = bytes
                .get(esc_end..esc_end.saturating_add(2))
                .filter(|s| *s == b"\\u")
                .and_then(|_| bytes.get(esc_end.saturating_add(2)..))
                .and_then(hex4)
                .filter(|u| (0xDC00..=0xDFFF).contains(u));
            if pair_low.is_some() {
                i = esc_end.saturating_add(6);
                continue;
            }
        }
        if is_high || is_low {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(text.get(copied..i).unwrap_or_default());
            o.push_str("\\ufffd");
            copied = esc_end;
        }
        i = esc_end;
    }
    match out {
        Some(mut o) => {
            o.push_str(text.get(copied..).unwrap_or_default());
            Cow::Owned(o)
        }
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let v: Value = from_str(r#"["a\ud800b", "\udc00", "ok\ud83d\ude00"]"#).unwrap();
        assert_eq!(
            v,
            serde_json::json!(["a\u{fffd}b", "\u{fffd}", "ok\u{1F600}"])
        );
    }

    #[test]
    fn escaped_backslashes_are_not_escapes() {
        let v: Value = from_str(r#"["\\ud800"]"#).unwrap();
        assert_eq!(v, serde_json::json!(["\\ud800"]));
        assert!(matches!(
            repair_surrogates(r#"["\\ud800"]"#),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_high_surrogate_at_the_end_is_repaired() {
        let v: Value = from_str(r#""\ud800""#).unwrap();
        assert_eq!(v, Value::String("\u{fffd}".into()));
    }

    #[test]
    fn trees_are_bounded_by_the_size_of_their_text() {
        let zeros = format!("[{}0]", "0,".repeat(100_000));
        assert!(matches!(
            tree_bounded(&zeros),
            Err(DecodeError::TooComplex { .. })
        ));
        let objects = format!("[{}{{}}]", "{},".repeat(1_000));
        assert!(matches!(
            tree_bounded(&objects),
            Err(DecodeError::TooComplex { .. })
        ));
        // Ordinary documents parse: strings dominate, and small ones fit the slack.
        let text = serde_json::to_string(&vec!["a fairly long string of text"; 10_000]).unwrap();
        assert!(tree_bounded(&text).is_ok());
        assert!(tree_bounded(r#"{"JWT":"x"}"#).is_ok());
        // Braces and commas inside strings are text.
        let text = serde_json::to_string(&vec!["{,{,{,{,[,[,[, braces and commas {,{,[,["; 10_000])
            .unwrap();
        assert!(tree_bounded(&text).is_ok());
    }

    #[test]
    fn invalid_json_stays_an_error() {
        assert!(from_str::<Value>("[1,").is_err());
        assert!(from_str::<Value>(r#"["\ud800"#).is_err());
    }
}
