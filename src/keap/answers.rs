//! The two Keap answers every delivered lead reads: the upsert's contact
//! id and the tag call's results. Both are read leniently: unknown fields
//! are ignored, an id may be a number or a numeric string, and tag results
//! may come as a map or as a list. `keap/mod.rs` decides what the values
//! mean.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::lenient::{Maybe, Number, Object};

/// The `id` of an upsert's answer: a positive number, or a string holding
/// one. `None` when the body is not a JSON object or has no usable id.
pub fn contact_id(body: &[u8]) -> Option<u64> {
    let Object(contact) = serde_json::from_slice::<Object<Contact>>(body).ok()?;
    contact.id.value().and_then(Number::positive)
}

/// An upsert's answer: the whole contact (addresses, phones, custom
/// fields, often kilobytes), of which only `id` is kept; every other field
/// is skipped unread.
#[derive(Deserialize)]
struct Contact {
    /// Any other value than a number or a numeric text is no id (not an
    /// error).
    #[serde(default)]
    id: Maybe<Number>,
}

/// A tag id, when the entry names one, and its result.
pub type TagEntry<R> = (Option<u64>, R);

/// Reads an entry of a tag call's answer given as a list.
pub type ListedEntry<R> = fn(&serde_json::Map<String, Value>) -> Option<TagEntry<R>>;

/// A tag call's answer: a map `{"101":"SUCCESS"}` (what Keap sends) or a
/// list of objects (`{"key":101,"value":"SUCCESS"}`).
#[derive(Deserialize)]
#[serde(untagged)]
enum TagResults {
    ById(BTreeMap<String, Value>),
    Listed(Vec<Value>),
}

/// The entries of a tag call's answer, each a tag id (when the entry
/// names one) and the result `word` makes of Keap's text for it: from a
/// map, by key, leaving out entries whose value is not such a word; or
/// from a list of objects, in order, each read by `entry`. `None` when
/// the body is neither.
pub fn tag_entries<R>(
    body: &[u8],
    word: fn(&str) -> Option<R>,
    entry: ListedEntry<R>,
) -> Option<Vec<TagEntry<R>>> {
    Some(match serde_json::from_slice(body).ok()? {
        TagResults::ById(results) => results
            .iter()
            .filter_map(|(id, result)| Some((id.trim().parse().ok(), word(result.as_str()?)?)))
            .collect(),
        TagResults::Listed(items) => items
            .iter()
            .filter_map(Value::as_object)
            .filter_map(entry)
            .collect(),
    })
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
            r#"[3]"#,
            // Keap writes one `id`; two make no contact.
            r#"{"id":1,"id":45}"#,
            "",
        ] {
            assert_eq!(id(none), None, "{none}");
        }
    }

    #[test]
    fn tag_entries_come_from_a_map_or_from_a_list() {
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
                (Some(101), "SUCCESS"),
                (Some(102), "DUPLICATE"),
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
