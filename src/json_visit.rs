//! Shared pieces of the JSON readers that visit a body once instead of
//! building a `serde_json::Value` tree (`body::parse_json`,
//! `keap_answers`).
//!
//! These readers never make an error of their own. Every serde error is
//! built by formatting a message, and serde's answer to an unexpected
//! value prints that value, floats included: that would link float
//! formatting and serde_json's error parsing into the wasm (19 KB
//! gzipped, measured). So a visitor takes every kind of value serde_json's
//! `deserialize_any` may hand it, and turns the kinds it has no use for
//! into an ordinary value ("none", "not an object") through [`others_are!`].

/// A visitor used as a seed (for `next_key_seed`, `next_value_seed`,
/// `next_element_seed`): the value is read with `deserialize_any`, so the
/// visitor sees whatever kind of value the JSON holds there.
pub struct Any<V>(pub V);

impl<'de, V: serde::de::Visitor<'de>> serde::de::DeserializeSeed<'de> for Any<V> {
    type Value = V::Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        d.deserialize_any(self.0)
    }
}

/// Inside a `Visitor<'de>` impl, answers `Ok($value)` for each listed
/// kind (`bool`, `i64`, `u64`, `f64`, `str`, `unit`, `seq`, `map`); a
/// list or an object is read through to its end first, so that reading
/// goes on after it.
macro_rules! others_are {
    ($value:expr; $($kind:ident),+) => { $( $crate::json_visit::others_are!(@ $kind $value); )+ };
    (@ bool $value:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
    (@ i64 $value:expr) => {
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
    (@ u64 $value:expr) => {
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
    (@ f64 $value:expr) => {
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
    (@ str $value:expr) => {
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
    (@ unit $value:expr) => {
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
    (@ seq $value:expr) => {
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok($value)
        }
    };
    (@ map $value:expr) => {
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            Ok($value)
        }
    };
}

pub(crate) use others_are;
