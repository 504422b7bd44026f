//! Reading the fields of our JSON records (KV values, metadata) by hand.
//!
//! Records are converted to and from `serde_json::Value` explicitly, next
//! to each type, instead of with serde's derives: one derive costs a
//! monomorphised deserializer per type in the wasm, these few readers are
//! shared by all. Each answers `None` when the field is absent or of the
//! wrong type, so a `from_json` reads as a chain of `?`.

use serde_json::Value;

/// A required string.
pub fn string(v: &Value, key: &str) -> Option<String> {
    v.get(key)?.as_str().map(str::to_string)
}

/// A required non-negative integer.
pub fn u64(v: &Value, key: &str) -> Option<u64> {
    v.get(key)?.as_u64()
}

/// A required non-negative integer that fits in a `u32`.
pub fn u32(v: &Value, key: &str) -> Option<u32> {
    u32::try_from(u64(v, key)?).ok()
}

/// A required boolean.
pub fn bool(v: &Value, key: &str) -> Option<bool> {
    v.get(key)?.as_bool()
}

/// An optional string: absent or `null` is `Some(None)`; any other
/// non-string is `None` (the record is not ours).
pub fn optional_string(v: &Value, key: &str) -> Option<Option<String>> {
    match v.get(key) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => None,
    }
}

/// A required list of non-negative integers.
pub fn u64_list(v: &Value, key: &str) -> Option<Vec<u64>> {
    v.get(key)?.as_array()?.iter().map(Value::as_u64).collect()
}

/// `Some(text)` as a JSON string, `None` as `null`.
pub fn string_or_null(text: Option<&str>) -> Value {
    text.map_or(Value::Null, Value::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_fields_of_the_right_type_only() {
        let v = json!({"s": "x", "n": 5, "big": 5_000_000_000u64, "neg": -1, "b": true,
                       "null": null, "list": [1, 2], "mixed": [1, "2"]});
        assert_eq!(string(&v, "s").as_deref(), Some("x"));
        assert_eq!(string(&v, "n"), None);
        assert_eq!(string(&v, "absent"), None);
        assert_eq!(u64(&v, "n"), Some(5));
        assert_eq!(u64(&v, "neg"), None);
        assert_eq!(u64(&v, "s"), None);
        assert_eq!(u32(&v, "n"), Some(5));
        assert_eq!(u32(&v, "big"), None);
        assert_eq!(bool(&v, "b"), Some(true));
        assert_eq!(bool(&v, "n"), None);
        assert_eq!(optional_string(&v, "s"), Some(Some("x".into())));
        assert_eq!(optional_string(&v, "null"), Some(None));
        assert_eq!(optional_string(&v, "absent"), Some(None));
        assert_eq!(optional_string(&v, "n"), None);
        assert_eq!(u64_list(&v, "list"), Some(vec![1, 2]));
        assert_eq!(u64_list(&v, "mixed"), None);
        assert_eq!(u64_list(&v, "absent"), None);
        assert_eq!(string_or_null(Some("a")), json!("a"));
        assert_eq!(string_or_null(None), Value::Null);
    }

    #[test]
    fn a_non_object_has_no_fields() {
        let v = json!([1, 2]);
        assert_eq!(string(&v, "0"), None);
        assert_eq!(optional_string(&v, "x"), Some(None));
    }
}
