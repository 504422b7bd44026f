//! Reading other services' JSON answers (Keap's, its token endpoint's,
//! Turnstile's) with serde derives, as leniently as they need: unknown
//! fields are skipped (serde's default), a field of another type than
//! expected reads as absent ([`or_absent`]) instead of refusing the whole
//! answer, and a value that must be an object reads as nothing when it is
//! not one ([`Object`]).

use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// An answer's body read as `T`: `None` when it is not UTF-8 text (every
/// byte is checked, those of skipped fields too) or not JSON of `T`'s
/// shape.
pub fn from_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Option<T> {
    serde_json::from_str(std::str::from_utf8(body).ok()?).ok()
}

/// For `#[serde(default, deserialize_with = "lenient::or_absent")]`: the
/// field's value when it is a `T`; `None` when it is null or of another
/// type.
pub fn or_absent<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Maybe::<T>::deserialize(d).map(Maybe::value)
}

/// A value that is a `T`, or anything else (an item of a list whose other
/// items are skipped).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum Maybe<T> {
    Is(T),
    Other(IgnoredAny),
}

impl<T> Maybe<T> {
    pub fn value(self) -> Option<T> {
        match self {
            Maybe::Is(v) => Some(v),
            Maybe::Other(_) => None,
        }
    }
}

/// A count or an id as other services write it: a JSON number, or a
/// string holding one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Number {
    Number(u64),
    Text(String),
}

impl Number {
    /// The value; `None` for a string that is not a whole number.
    pub fn value(self) -> Option<u64> {
        match self {
            Number::Number(n) => Some(n),
            Number::Text(text) => text.trim().parse().ok(),
        }
    }

    /// The value when it is above zero, as ids are.
    pub fn positive(self) -> Option<u64> {
        self.value().filter(|n| *n > 0)
    }
}

/// A JSON object read as `T`; any other JSON value (a list, a string, a
/// number, null) reads as `Object(None)`. (A derived struct alone would
/// also take a list, reading its items as the fields in order.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object<T>(pub Option<T>);

impl<T> Default for Object<T> {
    fn default() -> Self {
        Object(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjectVisitor(PhantomData))
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = Object<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(|t| Object(Some(t)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Object<T>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Object(None))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Object<T>, E> {
        Ok(Object(None))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Object<T>, E> {
        Ok(Object(None))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Object<T>, E> {
        Ok(Object(None))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Object<T>, E> {
        Ok(Object(None))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Object<T>, E> {
        Ok(Object(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Object<T>, E> {
        Ok(Object(None))
    }

    fn visit_none<E: de::Error>(self) -> Result<Object<T>, E> {
        Ok(Object(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Named {
        #[serde(default, deserialize_with = "or_absent")]
        name: Option<String>,
        #[serde(default, deserialize_with = "or_absent")]
        id: Option<Number>,
    }

    fn read(json: &str) -> Object<Named> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_field_of_another_type_is_absent_and_unknown_fields_are_skipped() {
        let named = |name: Option<&str>, id: Option<Number>| {
            Object(Some(Named {
                name: name.map(str::to_string),
                id,
            }))
        };
        assert_eq!(
            read(r#"{"name":"a","id":7,"x":[1,{"y":2}]}"#),
            named(Some("a"), Some(Number::Number(7)))
        );
        assert_eq!(
            read(r#"{"id":"12"}"#),
            named(None, Some(Number::Text("12".into())))
        );
        for other in ["5", "true", "null", "[1]", "{}", "-3", "1.5"] {
            let json = format!(r#"{{"name":{other},"id":{other}}}"#);
            let want = if other == "5" {
                named(None, Some(Number::Number(5)))
            } else {
                named(None, None)
            };
            assert_eq!(read(&json), want, "{json}");
        }
    }

    #[test]
    fn only_an_object_is_read_as_one() {
        for other in [
            r#"["a",7]"#,
            r#""a""#,
            "7",
            "-7",
            "7.5",
            "true",
            "null",
            "[]",
        ] {
            assert_eq!(read(other), Object(None), "{other}");
        }
        // Inside a list, each item on its own.
        let items: Vec<Object<Named>> = serde_json::from_str(r#"[["a"],{"name":"b"},3]"#).unwrap();
        assert_eq!(items.iter().filter(|o| o.0.is_some()).count(), 1);
        assert!(from_body::<Object<Named>>(b"{").is_none(), "not JSON");
        assert!(
            from_body::<Object<Named>>(b"{\"x\":\"\xff\"}").is_none(),
            "not UTF-8"
        );
        assert_eq!(from_body::<Object<Named>>(b"[]"), Some(Object(None)));
    }

    #[test]
    fn numbers_may_be_written_as_text() {
        assert_eq!(Number::Text(" 42 ".into()).value(), Some(42));
        assert_eq!(Number::Text("4x".into()).value(), None);
        assert_eq!(Number::Number(0).value(), Some(0));
        assert_eq!(Number::Number(0).positive(), None);
        assert_eq!(Number::Text("0".into()).positive(), None);
        assert_eq!(Number::Number(9).positive(), Some(9));
    }
}
