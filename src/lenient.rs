//! Reading other services' JSON answers (Keap's, its token endpoint's,
//! Turnstile's) with serde derives, as leniently as they need: unknown
//! fields are skipped (serde's default), a field of another type than
//! expected reads as absent ([`Maybe`]) instead of refusing the whole
//! answer, and a struct is read from an object only ([`Object`]).

use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// An answer's body read as `T`: `None` when it is not UTF-8 text (every
/// byte is checked, those of skipped fields too) or not JSON of `T`'s
/// shape.
pub fn from_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Option<T> {
    serde_json::from_str(std::str::from_utf8(body).ok()?).ok()
}

/// A value that is a `T`, or anything else: null, another type, or (for
/// an [`Object`]) an object that cannot be read. Absent by default, so a
/// struct of them with `#[serde(default)]` reads any object.
#[derive(Debug, Deserialize)]
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

impl<T> Default for Maybe<T> {
    fn default() -> Self {
        Maybe::Other(IgnoredAny)
    }
}

/// A count or an id as other services write it: a JSON number, or a
/// string holding one.
#[derive(Debug, PartialEq, Eq, Deserialize)]
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

/// A `T` read from a JSON object and from nothing else: a derived struct
/// alone would also take a list, reading its items as the fields in order.
#[derive(Debug)]
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Fields<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Object)
            }
        }
        d.deserialize_map(Fields(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Named {
        name: Maybe<String>,
        id: Maybe<Number>,
    }

    /// The name and id of `json`, `None` when it is not an object.
    fn read(json: &str) -> Option<(Option<String>, Option<Number>)> {
        let named = from_body::<Maybe<Object<Named>>>(json.as_bytes()).unwrap();
        named
            .value()
            .map(|Object(n)| (n.name.value(), n.id.value()))
    }

    #[test]
    fn a_field_of_another_type_is_absent_and_unknown_fields_are_skipped() {
        assert_eq!(
            read(r#"{"name":"a","id":7,"x":[1,{"y":2}]}"#),
            Some((Some("a".into()), Some(Number::Number(7))))
        );
        assert_eq!(
            read(r#"{"id":"12"}"#),
            Some((None, Some(Number::Text("12".into()))))
        );
        for other in ["5", "true", "null", "[1]", "{}", "-3", "1.5"] {
            let json = format!(r#"{{"name":{other},"id":{other}}}"#);
            let id = (other == "5").then_some(Number::Number(5));
            assert_eq!(read(&json), Some((None, id)), "{json}");
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
            assert_eq!(read(other), None, "{other}");
            assert!(
                from_body::<Object<Named>>(other.as_bytes()).is_none(),
                "{other}"
            );
        }
        // Inside a list, each item on its own.
        let items: Vec<Maybe<Object<Named>>> =
            serde_json::from_str(r#"[["a"],{"name":"b"},3]"#).unwrap();
        assert_eq!(items.into_iter().filter_map(Maybe::value).count(), 1);
        assert!(
            from_body::<Maybe<Object<Named>>>(b"{").is_none(),
            "not JSON"
        );
        assert!(
            from_body::<Maybe<Object<Named>>>(b"{\"x\":\"\xff\"}").is_none(),
            "not UTF-8"
        );
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
