//! The request and response schemas of the calls the sandbox serves, taken
//! from Keap's REST v1 OpenAPI document, and a validator for the subset of
//! JSON Schema that document uses.
//!
//! Validation is strict the way Keap's Jackson-based API is: an object
//! property the schema does not name is refused, and so is `null` where
//! the schema does not say `nullable` (a worker that sends `null` risks
//! blanking a returning contact's data in the real Keap). One leniency is
//! deliberate: springfox renders a Java `Object` field as a bare
//! `{"type":"object"}`, which Keap fills with strings and numbers (custom
//! field `content`), so such a schema accepts any JSON value. So does a
//! `$ref` left in place for a recursive schema (see `inline_refs`): the
//! nested options of a custom field option are not checked.

use std::fmt;
use std::path::Path;

use serde_json::Value;

/// The schemas the sandbox checks, by operation. Built from the spec file
/// when it is readable, otherwise from the copy compiled into the crate.
#[derive(Debug, Clone)]
pub struct Schemas {
    doc: Value,
}

/// Which schema in [`Schemas`] to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `PUT /v1/contacts` request body.
    ContactsPutRequest,
    /// `PUT /v1/contacts` answer (the full contact).
    ContactsPutResponse,
    /// `POST /v1/contacts/{id}/tags` request body.
    ContactTagsPostRequest,
    /// `POST /v1/tags` request body.
    TagsPostRequest,
    /// `POST /v1/tags` answer.
    TagsPostResponse,
    /// `GET /v1/tags` answer.
    TagsGetResponse,
    /// `GET /v1/tags/{id}` answer.
    TagGetResponse,
    /// `GET /v1/contacts/model` answer.
    ContactModelResponse,
    /// `POST /v1/notes` request body.
    NotesPostRequest,
    /// `POST /v1/notes` answer (201).
    NotesPostResponse,
    /// `GET /v1/oauth/connect/userinfo` answer.
    UserinfoResponse,
}

impl Operation {
    const ALL: [Operation; 11] = [
        Operation::ContactsPutRequest,
        Operation::ContactsPutResponse,
        Operation::ContactTagsPostRequest,
        Operation::TagsPostRequest,
        Operation::TagsPostResponse,
        Operation::TagsGetResponse,
        Operation::TagGetResponse,
        Operation::ContactModelResponse,
        Operation::NotesPostRequest,
        Operation::NotesPostResponse,
        Operation::UserinfoResponse,
    ];

    /// The key of this schema in the compiled-in extract.
    fn key(self) -> &'static str {
        match self {
            Operation::ContactsPutRequest => "contacts_put_request",
            Operation::ContactsPutResponse => "contacts_put_response",
            Operation::ContactTagsPostRequest => "contact_tags_post_request",
            Operation::TagsPostRequest => "tags_post_request",
            Operation::TagsPostResponse => "tags_post_response",
            Operation::TagsGetResponse => "tags_get_response",
            Operation::TagGetResponse => "tag_get_response",
            Operation::ContactModelResponse => "contact_model_response",
            Operation::NotesPostRequest => "notes_post_request",
            Operation::NotesPostResponse => "notes_post_response",
            Operation::UserinfoResponse => "userinfo_response",
        }
    }

    /// Where this schema sits in the OpenAPI document (a JSON pointer).
    fn pointer(self) -> &'static str {
        match self {
            Operation::ContactsPutRequest => {
                "/paths/~1v1~1contacts/put/requestBody/content/application~1json/schema"
            }
            Operation::ContactsPutResponse => {
                "/paths/~1v1~1contacts/put/responses/200/content/application~1json/schema"
            }
            Operation::ContactTagsPostRequest => {
                "/paths/~1v1~1contacts~1{contactId}~1tags/post/requestBody/content/application~1json/schema"
            }
            Operation::TagsPostRequest => {
                "/paths/~1v1~1tags/post/requestBody/content/application~1json/schema"
            }
            Operation::TagsPostResponse => {
                "/paths/~1v1~1tags/post/responses/200/content/application~1json/schema"
            }
            Operation::TagsGetResponse => {
                "/paths/~1v1~1tags/get/responses/200/content/application~1json/schema"
            }
            Operation::TagGetResponse => {
                "/paths/~1v1~1tags~1{id}/get/responses/200/content/application~1json/schema"
            }
            Operation::ContactModelResponse => {
                "/paths/~1v1~1contacts~1model/get/responses/200/content/application~1json/schema"
            }
            Operation::NotesPostRequest => {
                "/paths/~1v1~1notes/post/requestBody/content/application~1json/schema"
            }
            Operation::NotesPostResponse => {
                "/paths/~1v1~1notes/post/responses/201/content/application~1json/schema"
            }
            Operation::UserinfoResponse => {
                "/paths/~1v1~1oauth~1connect~1userinfo/get/responses/200/content/application~1json/schema"
            }
        }
    }
}

/// The extract of the spec compiled into the crate, used when the spec file
/// is absent. Regenerate it with the `jq` program in `tests/schema.rs` of
/// this crate; a test checks it still matches the spec.
const EXTRACT: &str = include_str!("spec_extract.json");

impl Schemas {
    /// Reads the schemas from the OpenAPI document at `path`. When that
    /// fails, falls back to the compiled-in extract and says why in the
    /// returned warning.
    pub fn load(path: &Path) -> (Schemas, Option<String>) {
        match Schemas::from_spec_file(path) {
            Ok(schemas) => (schemas, None),
            Err(why) => (
                Schemas::builtin(),
                Some(format!(
                    "spec {} not used ({why}); validating with the built-in extract",
                    path.display()
                )),
            ),
        }
    }

    /// The compiled-in extract of the spec.
    pub fn builtin() -> Schemas {
        let doc = serde_json::from_str(EXTRACT).unwrap_or(Value::Null);
        Schemas { doc }
    }

    /// Reads the schemas out of a full OpenAPI document.
    pub fn from_spec_file(path: &Path) -> Result<Schemas, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let spec: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        Schemas::from_spec(&spec)
    }

    /// Picks the schemas the sandbox needs out of a parsed OpenAPI document,
    /// resolving `$ref`s against it, so the result stands alone.
    pub fn from_spec(spec: &Value) -> Result<Schemas, String> {
        let mut doc = serde_json::Map::new();
        for op in Operation::ALL {
            let schema = spec
                .pointer(op.pointer())
                .ok_or_else(|| format!("no schema at {}", op.pointer()))?;
            doc.insert(op.key().to_owned(), inline_refs(schema, spec, 0)?);
        }
        Ok(Schemas {
            doc: Value::Object(doc),
        })
    }

    /// The stand-alone schema document, keyed by operation (the same shape
    /// as the compiled-in extract).
    pub fn document(&self) -> &Value {
        &self.doc
    }

    /// Checks `value` against the schema of `op`.
    pub fn validate(&self, op: Operation, value: &Value) -> Result<(), Violation> {
        match self.doc.get(op.key()) {
            Some(schema) => check(schema, value, &mut String::new()),
            None => Err(Violation {
                path: String::new(),
                problem: "the sandbox has no schema for this operation".to_owned(),
            }),
        }
    }
}

/// Where a value broke its schema and how. Names a location, never the
/// offending value (it may be a person's data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// A JSON-path-like location, e.g. `email_addresses[0].field`.
    pub path: String,
    /// What is wrong there.
    pub problem: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "the request body {}", self.problem)
        } else {
            write!(f, "{} {}", self.path, self.problem)
        }
    }
}

/// How deep `$ref`s may nest when inlined (a guard: only non-recursive
/// references are inlined, so they end on their own).
const MAX_REF_DEPTH: usize = 16;

/// Replaces every `{"$ref": "#/..."}` in `schema` by what it points at,
/// except a reference to a recursive schema (one that reaches itself
/// through its own `$ref`s, like the contact model's `CustomFieldOption`,
/// whose `options` hold more options): springfox already wrote such a
/// schema out once in place and kept `$ref` only for the recursion, so the
/// reference stays as it is, and the validator accepts any value there.
fn inline_refs(schema: &Value, spec: &Value, depth: usize) -> Result<Value, String> {
    if depth > MAX_REF_DEPTH {
        return Err("$refs nested too deeply".to_owned());
    }
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                let target = ref_target(reference, spec)?;
                if reaches(target, spec, reference, &mut Vec::new())? {
                    return Ok(schema.clone());
                }
                return inline_refs(target, spec, depth + 1);
            }
            let mut out = serde_json::Map::new();
            for (key, value) in map {
                out.insert(key.clone(), inline_refs(value, spec, depth)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|item| inline_refs(item, spec, depth))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

/// What a local `$ref` (`#/...`) points at.
fn ref_target<'a>(reference: &str, spec: &'a Value) -> Result<&'a Value, String> {
    let pointer = reference
        .strip_prefix('#')
        .ok_or_else(|| format!("external $ref {reference}"))?;
    spec.pointer(pointer)
        .ok_or_else(|| format!("dangling $ref {reference}"))
}

/// Whether `schema` refers to `wanted`, directly or through other
/// references (each followed once).
fn reaches(
    schema: &Value,
    spec: &Value,
    wanted: &str,
    followed: &mut Vec<String>,
) -> Result<bool, String> {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                if reference == wanted {
                    return Ok(true);
                }
                if followed.contains(reference) {
                    return Ok(false);
                }
                followed.push(reference.clone());
                return reaches(ref_target(reference, spec)?, spec, wanted, followed);
            }
            for value in map.values() {
                if reaches(value, spec, wanted, followed)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Value::Array(items) => {
            for item in items {
                if reaches(item, spec, wanted, followed)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        _ => Ok(false),
    }
}

fn violation(path: &str, problem: impl Into<String>) -> Violation {
    Violation {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

/// Validates `value` against `schema`; `path` is where `value` sits.
fn check(schema: &Value, value: &Value, path: &mut String) -> Result<(), Violation> {
    let Some(schema) = schema.as_object() else {
        // `true`/`{}`-like schemas accept anything.
        return Ok(());
    };
    if value.is_null() {
        if schema.get("nullable") == Some(&Value::Bool(true)) {
            return Ok(());
        }
        return Err(violation(path, "must not be null"));
    }
    if let Some(Value::Array(allowed)) = schema.get("enum") {
        if !allowed.contains(value) {
            let names: Vec<String> = allowed.iter().map(Value::to_string).collect();
            return Err(violation(
                path,
                format!("must be one of {}", names.join(", ")),
            ));
        }
    }
    let kind = schema.get("type").and_then(Value::as_str);
    match kind {
        Some("string") => expect(value.is_string(), path, "must be a string"),
        Some("boolean") => expect(value.is_boolean(), path, "must be a boolean"),
        Some("number") => expect(value.is_number(), path, "must be a number"),
        Some("integer") => check_integer(schema, value, path),
        Some("array") => check_array(schema, value, path),
        Some("object") => check_object(schema, value, path),
        _ => Ok(()),
    }
}

fn expect(ok: bool, path: &str, problem: &str) -> Result<(), Violation> {
    if ok {
        Ok(())
    } else {
        Err(violation(path, problem))
    }
}

fn check_integer(
    schema: &serde_json::Map<String, Value>,
    value: &Value,
    path: &str,
) -> Result<(), Violation> {
    let Some(n) = value.as_i64() else {
        return Err(violation(path, "must be an integer (64-bit)"));
    };
    if schema.get("format").and_then(Value::as_str) == Some("int32") && i32::try_from(n).is_err() {
        return Err(violation(path, "must be a 32-bit integer"));
    }
    Ok(())
}

fn check_array(
    schema: &serde_json::Map<String, Value>,
    value: &Value,
    path: &mut String,
) -> Result<(), Violation> {
    let Some(items) = value.as_array() else {
        return Err(violation(path, "must be an array"));
    };
    let Some(item_schema) = schema.get("items") else {
        return Ok(());
    };
    for (index, item) in items.iter().enumerate() {
        let len = path.len();
        path.push_str(&format!("[{index}]"));
        let result = check(item_schema, item, path);
        path.truncate(len);
        result?;
    }
    Ok(())
}

fn check_object(
    schema: &serde_json::Map<String, Value>,
    value: &Value,
    path: &mut String,
) -> Result<(), Violation> {
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    if properties.is_none() && additional.is_none() && !schema.contains_key("required") {
        // springfox's rendering of `java.lang.Object`: any JSON value.
        return Ok(());
    }
    let Some(object) = value.as_object() else {
        return Err(violation(path, "must be an object"));
    };
    if let Some(Value::Array(required)) = schema.get("required") {
        for name in required.iter().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                return Err(violation(&join(path, name), "is required but missing"));
            }
        }
    }
    for (name, member) in object {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(name);
        let result = match properties.and_then(|p| p.get(name)) {
            Some(member_schema) => check(member_schema, member, path),
            None => match additional {
                Some(extra @ Value::Object(_)) => check(extra, member, path),
                Some(Value::Bool(true)) => Ok(()),
                _ => Err(violation(path, "is not a known property")),
            },
        };
        path.truncate(len);
        result?;
    }
    Ok(())
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schemas() -> Schemas {
        Schemas::builtin()
    }

    #[test]
    fn builtin_extract_parses_and_has_every_operation() {
        let s = schemas();
        for op in Operation::ALL {
            assert!(s.document().get(op.key()).is_some(), "{op:?}");
        }
    }

    #[test]
    fn accepts_a_typical_worker_contact() {
        let body = json!({
            "duplicate_option": "Email",
            "email_addresses": [{"email": "a@example.com", "field": "EMAIL1"}],
            "given_name": "Ada",
            "phone_numbers": [{"number": "555", "field": "PHONE1"}],
            "custom_fields": [{"id": 7, "content": "blue"}],
            "source_type": "WEBFORM",
            "origin": {"ip_address": "203.0.113.9"},
            "opt_in_reason": "Signed up"
        });
        assert_eq!(
            schemas().validate(Operation::ContactsPutRequest, &body),
            Ok(())
        );
    }

    #[test]
    fn refuses_unknown_property_and_names_its_path() {
        let body = json!({"email_addresses": [{"email": "a@b.c", "field": "EMAIL1", "x": 1}]});
        let err = schemas()
            .validate(Operation::ContactsPutRequest, &body)
            .unwrap_err();
        assert_eq!(err.path, "email_addresses[0].x");
    }

    #[test]
    fn refuses_wrong_types_bad_enums_nulls_and_missing_required() {
        let s = schemas();
        let op = Operation::ContactsPutRequest;
        assert!(s.validate(op, &json!({"given_name": 5})).is_err());
        assert!(s.validate(op, &json!({"lead_source_id": "5"})).is_err());
        assert!(s.validate(op, &json!({"lead_source_id": 1.5})).is_err());
        assert!(s.validate(op, &json!({"source_type": "FORM"})).is_err());
        assert!(s.validate(op, &json!({"given_name": null})).is_err());
        assert!(s
            .validate(op, &json!({"email_addresses": [{"email": "a@b.c"}]}))
            .is_err());
        assert!(s.validate(op, &json!([])).is_err());
    }

    #[test]
    fn bare_object_schema_accepts_any_value() {
        let s = schemas();
        for content in [json!("text"), json!(3), json!({"a": 1}), json!(true)] {
            let body = json!({"custom_fields": [{"id": 1, "content": content}]});
            assert_eq!(s.validate(Operation::ContactsPutRequest, &body), Ok(()));
        }
    }

    #[test]
    fn inlines_refs_from_the_document() {
        let spec = json!({
            "components": {"schemas": {"X": {"type": "string"}}},
            "paths": {}
        });
        let schema =
            json!({"type": "object", "properties": {"a": {"$ref": "#/components/schemas/X"}}});
        let inlined = inline_refs(&schema, &spec, 0).unwrap();
        assert_eq!(inlined["properties"]["a"], json!({"type": "string"}));
        let looped = json!({"components": {"schemas": {
            "L": {"type": "object", "properties": {"more": {"$ref": "#/components/schemas/L"}}}
        }}});
        let reference = json!({"$ref": "#/components/schemas/L"});
        assert_eq!(inline_refs(&reference, &looped, 0), Ok(reference.clone()));
        assert!(inline_refs(&json!({"$ref": "#/components/schemas/Nope"}), &looped, 0).is_err());
    }
}
