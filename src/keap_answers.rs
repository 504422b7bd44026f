//! The two Keap answers every delivered lead reads, taken straight from
//! their bytes: the upsert's contact id and the tag call's results.
//!
//! An upsert answers with the whole contact (addresses, phones, custom
//! fields, often kilobytes); only its `id` matters here. Reading it into a
//! `serde_json::Value` tree first built a map and a string for every field
//! and threw them away: allocation and tree-building were the largest
//! items of a submission's own time in the wasm. These readers visit the
//! JSON once and keep nothing else.
//! `keap.rs` decides what the values mean.

use std::fmt;

use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;
use serde_json::Value;

use crate::json_visit::{others_are, Any};

/// The `id` of an upsert's answer: a positive number, or a string holding
/// one. `None` when the body is not a JSON object or has no usable id.
pub fn contact_id(body: &[u8]) -> Option<u64> {
    let mut reader = text_reader(body)?;
    let id = reader.deserialize_any(ContactIdVisitor).ok()?;
    reader.end().ok()?;
    id
}

/// A tag id, when the entry names one, and its result.
pub type TagEntry<R> = (Option<u64>, R);

/// Reads an entry of a tag call's answer given as a list.
pub type ListedEntry<R> = fn(&serde_json::Map<String, Value>) -> Option<TagEntry<R>>;

/// The entries of a tag call's answer, each a tag id (when the entry
/// names one) and the result `word` makes of Keap's text for it: from a
/// map `{"101":"SUCCESS"}` (what Keap sends), in the body's order, leaving
/// out entries whose value is not such a word; or from a list of objects
/// (`{"key":101,"value":"SUCCESS"}`), each read by `entry`. `None` when
/// the body is neither.
pub fn tag_entries<R>(
    body: &[u8],
    word: fn(&str) -> Option<R>,
    entry: ListedEntry<R>,
) -> Option<Vec<TagEntry<R>>> {
    let mut reader = text_reader(body)?;
    let entries = reader.deserialize_any(TagsVisitor { word, entry }).ok()?;
    reader.end().ok()?;
    entries
}

/// A reader over the body as text. (Every JSON reading in the worker goes
/// through text: a second reader over bytes would put a second copy of
/// serde_json's parser in the wasm.)
fn text_reader(body: &[u8]) -> Option<serde_json::Deserializer<serde_json::de::StrRead<'_>>> {
    std::str::from_utf8(body)
        .ok()
        .map(serde_json::Deserializer::from_str)
}

/// A positive id from a JSON number or a numeric string.
pub fn id_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|id| *id > 0)
}

struct ContactIdVisitor;

impl<'de> Visitor<'de> for ContactIdVisitor {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a contact")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<u64>, A::Error> {
        let mut id = None;
        while let Some(is_id) = map.next_key_seed(Any(KeyIs("id")))? {
            if is_id {
                // A repeated key counts with its last value, as in a map.
                id = map.next_value_seed(Any(IdValue))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(id)
    }

    others_are!(None; bool, i64, u64, f64, str, unit, seq);
}

/// Reads a map key as "is it this one?", without keeping it.
struct KeyIs(&'static str);

impl<'de> Visitor<'de> for KeyIs {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }

    others_are!(false; bool, i64, u64, f64, unit, seq, map);
}

/// What [`id_of`] reads, from the JSON directly: anything else is `None`.
struct IdValue;

impl<'de> Visitor<'de> for IdValue {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an id")
    }

    fn visit_u64<E>(self, v: u64) -> Result<Option<u64>, E> {
        Ok(Some(v).filter(|id| *id > 0))
    }

    fn visit_str<E>(self, v: &str) -> Result<Option<u64>, E> {
        Ok(v.trim().parse().ok().filter(|id| *id > 0))
    }

    others_are!(None; bool, i64, f64, unit, seq, map);
}

struct TagsVisitor<R> {
    word: fn(&str) -> Option<R>,
    entry: ListedEntry<R>,
}

impl<'de, R> Visitor<'de> for TagsVisitor<R> {
    type Value = Option<Vec<TagEntry<R>>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("tag results")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(id) = map.next_key_seed(Any(KeyAsId))? {
            if let Some(result) = map.next_value_seed(Any(Word(self.word)))? {
                entries.push((id, result));
            }
        }
        Ok(Some(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            if let Some(fields) = item.as_object() {
                entries.extend((self.entry)(fields));
            }
        }
        Ok(Some(entries))
    }

    others_are!(None; bool, i64, u64, f64, str, unit);
}

/// Reads a map key as the id it holds, if any.
struct KeyAsId;

impl<'de> Visitor<'de> for KeyAsId {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Option<u64>, E> {
        Ok(key.trim().parse().ok())
    }

    others_are!(None; bool, i64, u64, f64, unit, seq, map);
}

/// A value read as a result word when it is text; anything else is `None`.
struct Word<R>(fn(&str) -> Option<R>);

impl<'de, R> Visitor<'de> for Word<R> {
    type Value = Option<R>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a result")
    }

    fn visit_str<E>(self, v: &str) -> Result<Option<R>, E> {
        Ok((self.0)(v))
    }

    others_are!(None; bool, i64, u64, f64, unit, seq, map);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// How the id was read before: the whole body as a `Value`, then `id`.
    fn id_through_a_tree(body: &[u8]) -> Option<u64> {
        serde_json::from_slice::<Value>(body)
            .ok()?
            .get("id")
            .and_then(id_of)
    }

    #[test]
    fn the_contact_id_is_read_from_a_number_or_a_numeric_string() {
        let id = |body: &str| contact_id(body.as_bytes());
        assert_eq!(id(r#"{"id":42,"given_name":"Ada"}"#), Some(42));
        assert_eq!(
            id(r#"{"email_addresses":[{"email":"a@b.c","id":9}],"id":" 43 "}"#),
            Some(43)
        );
        assert_eq!(id(r#"{"\u0069d":44}"#), Some(44));
        assert_eq!(id(r#"{"id":1,"id":45}"#), Some(45));
        for none in [
            r#"{"id":0}"#,
            r#"{"id":-3}"#,
            r#"{"id":4.5}"#,
            r#"{"id":"x"}"#,
            r#"{"id":{"id":3}}"#,
            r#"{"id":[3]}"#,
            r#"{"id":null}"#,
            r#"{"contact":{"id":3}}"#,
            r#"[{"id":3}]"#,
            r#"{"id":3} trailing"#,
            r#"{"id":3"#,
            "",
        ] {
            assert_eq!(id(none), None, "{none}");
        }
    }

    #[test]
    fn tag_entries_come_from_a_map_in_order_or_from_a_list() {
        fn word(s: &str) -> Option<&'static str> {
            ["SUCCESS", "DUPLICATE"].into_iter().find(|w| *w == s)
        }
        fn entry(fields: &serde_json::Map<String, Value>) -> Option<(Option<u64>, &'static str)> {
            let result = fields.values().find_map(|v| v.as_str().and_then(word))?;
            Some((fields.values().find_map(id_of), result))
        }
        let read = |body: &str| tag_entries(body.as_bytes(), word, entry);
        assert_eq!(
            read(
                r#"{"102":"DUPLICATE","101":"SUCCESS","x":"SUCCESS","103":7,"104":{"a":[1]},"105":"NOPE"}"#
            ),
            Some(vec![
                (Some(102), "DUPLICATE"),
                (Some(101), "SUCCESS"),
                (None, "SUCCESS")
            ])
        );
        assert_eq!(
            read(r#"[{"key":101,"value":"SUCCESS"},{"value":"DUPLICATE"},3,{"key":9}]"#),
            Some(vec![(Some(101), "SUCCESS"), (None, "DUPLICATE")])
        );
        assert_eq!(read("{}"), Some(vec![]));
        for none in ["\"SUCCESS\"", "42", "{\"101\":\"SUCCESS\"", "{} {}", ""] {
            assert_eq!(read(none), None, "{none}");
        }
    }

    /// Any JSON value, a few levels deep, with keys that are often `id`.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[0-9 ]{0,6}|.{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::vec(
                    (prop_oneof![Just("id".to_string()), "[a-z]{0,3}"], inner),
                    0..5
                )
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn the_contact_id_is_what_a_value_tree_gives(value in any_json()) {
            let body = serde_json::to_vec(&value).unwrap();
            prop_assert_eq!(contact_id(&body), id_through_a_tree(&body));
        }

        #[test]
        fn any_bytes_are_read_without_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = contact_id(&body);
            let _ = tag_entries(&body, |s| Some(s.len()), |_| None);
        }
    }

    #[test]
    fn a_contact_as_keap_sends_it_gives_its_id() {
        let contact = json!({
            "id": 1001,
            "given_name": "Ada",
            "email_addresses": [{"email": "ada@example.com", "field": "EMAIL1"}],
            "custom_fields": [{"id": 7, "content": "x"}],
            "tag_ids": [101, 102],
        });
        assert_eq!(contact_id(contact.to_string().as_bytes()), Some(1001));
    }
}
