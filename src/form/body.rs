//! Reading a submission's body into its fields, whatever its encoding:
//! `application/x-www-form-urlencoded`, `multipart/form-data` (no files)
//! or `application/json`.
//!
//! Every function here takes bytes from the internet: none may panic, and
//! none indexes a slice without checking.

use serde::Deserialize;

/// The largest body read, in bytes (docs/CONTRACT.md 3.3).
pub const MAX_BODY_BYTES: usize = 32 * 1024;

/// The submitted fields, in the order they came; a name may repeat (a
/// `tags` checkbox group).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<(String, String)>);

impl std::fmt::Debug for Fields {
    /// Names only: the values are a person's data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

impl Fields {
    pub fn new() -> Fields {
        Fields(Vec::new())
    }

    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.all(name).next()
    }

    /// Every value of `name`, in order.
    pub fn all<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// These fields but `name` (a field that only says where to go).
    pub fn without(&self, name: &str) -> Fields {
        Fields(self.0.iter().filter(|(k, _)| k != name).cloned().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why a body could not be read. Messages name no submitted value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Over [`MAX_BODY_BYTES`].
    TooLarge,
    /// A content type other than the three understood ones (or none).
    Unsupported,
    /// The body does not follow its content type; says what is wrong.
    Malformed(String),
    /// A multipart part carried a file; names the field.
    FileUpload(String),
}

/// The encodings a form may post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoding {
    UrlEncoded,
    Multipart { boundary: String },
    Json,
}

impl Encoding {
    /// Reads a `Content-Type` header. `None` for anything not understood.
    pub fn of_content_type(content_type: &str) -> Option<Encoding> {
        let mut parts = content_type.split(';');
        let essence = parts.next().unwrap_or("").trim();
        let is = |name: &str| essence.eq_ignore_ascii_case(name);
        if is("application/x-www-form-urlencoded") {
            Some(Encoding::UrlEncoded)
        } else if is("application/json") {
            Some(Encoding::Json)
        } else if is("multipart/form-data") {
            let boundary = parts.find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("boundary")
                    .then(|| unquote(v.trim()))
            })?;
            valid_boundary(&boundary).then_some(Encoding::Multipart { boundary })
        } else {
            None
        }
    }
}

/// True when the request body is JSON (answers then are JSON too).
pub fn is_json(content_type: Option<&str>) -> bool {
    content_type.and_then(Encoding::of_content_type) == Some(Encoding::Json)
}

/// Reads a body according to its `Content-Type`.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Fields, BodyError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(BodyError::TooLarge);
    }
    let ct = content_type.ok_or(BodyError::Unsupported)?;
    let essence = ct.split(';').next().unwrap_or("").trim();
    let encoding = match Encoding::of_content_type(ct) {
        Some(e) => e,
        None if essence.eq_ignore_ascii_case("multipart/form-data") => {
            return Err(BodyError::Malformed(
                "multipart/form-data needs a boundary parameter".into(),
            ))
        }
        None => return Err(BodyError::Unsupported),
    };
    match encoding {
        Encoding::UrlEncoded => Ok(parse_urlencoded(body)),
        Encoding::Multipart { boundary } => parse_multipart(&boundary, body),
        Encoding::Json => parse_json(body),
    }
}

/// `a=1&b=2`. Never fails: bytes that are not UTF-8 after decoding become
/// U+FFFD, and validation then refuses what makes no sense.
pub fn parse_urlencoded(body: &[u8]) -> Fields {
    Fields(
        url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    )
}

/// A JSON object whose values are strings, numbers, booleans, `null`
/// (ignored) or arrays of those (a repeated field, e.g. `tags`). Fields
/// keep the body's order; a name given twice keeps its last value, as
/// `JSON.parse` does.
pub fn parse_json(body: &[u8]) -> Result<Fields, BodyError> {
    let malformed_at = |line: usize| BodyError::Malformed(format!("invalid JSON at line {line}"));
    let text = std::str::from_utf8(body).map_err(|e| {
        let before = body.get(..e.valid_up_to()).unwrap_or_default();
        malformed_at(1 + before.iter().filter(|&&b| b == b'\n').count())
    })?;
    let mut reader = serde_json::Deserializer::from_str(text);
    let object = match JsonObject::deserialize(&mut reader).and_then(|o| reader.end().map(|()| o)) {
        Ok(object) => object,
        // Every value is taken (see `FieldValue`), so only the body itself
        // can be of the wrong kind.
        Err(e) if e.is_data() => {
            return Err(BodyError::Malformed(
                "the JSON body must be an object".into(),
            ))
        }
        Err(e) => return Err(malformed_at(e.line())),
    };
    let mut fields = Fields::new();
    for (name, value) in object.0 {
        fields.0.retain(|(k, _)| *k != name);
        match value {
            FieldValue::One(value) => fields.0.extend(value.map(|v| (name, v.into_text()))),
            FieldValue::Many(values) => {
                for value in values.into_iter().flatten() {
                    fields.push(name.clone(), value.into_text());
                }
            }
            FieldValue::Nested(_) => {
                return Err(BodyError::Malformed(format!(
                    "field `{}` must be a string, number, boolean or an array of those",
                    printable_name(&name)
                )))
            }
        }
    }
    Ok(fields)
}

/// A JSON object's members in the body's order, repeats included (a map
/// type would sort them or merge them).
struct JsonObject(Vec<(String, FieldValue)>);

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<JsonObject, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = JsonObject;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<JsonObject, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(JsonObject(members))
            }
        }
        d.deserialize_map(Members)
    }
}

/// A field's value: what a form can send, or anything else (`Nested`:
/// an object, or a list holding a list or an object), refused by name.
#[derive(Deserialize)]
#[serde(untagged)]
enum FieldValue {
    /// A scalar, or `null` (no value).
    One(Option<Scalar>),
    /// A list of scalars; its `null`s are no values.
    Many(Vec<Option<Scalar>>),
    Nested(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
}

impl Scalar {
    /// As the form would have sent it; a number as serde_json writes it.
    fn into_text(self) -> String {
        match self {
            Scalar::Text(text) => text,
            Scalar::Number(n) => n.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// A field name safe to echo in an error: printable, at most 64
/// characters.
pub fn printable_name(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// RFC 2046: 1–70 characters from a small set, not ending in a space.
fn valid_boundary(b: &str) -> bool {
    (1..=70).contains(&b.len())
        && !b.ends_with(' ')
        && b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&c))
}

/// Removes surrounding double quotes and backslash escapes.
fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut escaped = false;
            for c in inner.chars() {
                if escaped || c != '\\' {
                    out.push(c);
                    escaped = false;
                } else {
                    escaped = true;
                }
            }
            out
        }
        None => v.to_string(),
    }
}

/// Position of `needle` in `hay` at or after `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// `multipart/form-data` (RFC 7578) with text parts only. A part with a
/// file is refused with [`BodyError::FileUpload`]; an empty file input
/// (no file chosen, empty content) is skipped, since browsers send one.
pub fn parse_multipart(boundary: &str, body: &[u8]) -> Result<Fields, BodyError> {
    let malformed = |what: &str| BodyError::Malformed(format!("multipart body: {what}"));
    let dash_boundary = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");

    // The first boundary: at the very start or after a preamble line.
    let mut pos = if body.starts_with(dash_boundary.as_bytes()) {
        dash_boundary.len()
    } else {
        find(body, delimiter.as_bytes(), 0).ok_or_else(|| malformed("no boundary found"))?
            + delimiter.len()
    };

    let mut fields = Fields::new();
    loop {
        let rest = body.get(pos..).ok_or_else(|| malformed("truncated"))?;
        if rest.starts_with(b"--") {
            return Ok(fields); // the close delimiter; an epilogue is ignored
        }
        // Transport padding, then the line break that ends the boundary line.
        let padding = rest
            .iter()
            .take_while(|c| **c == b' ' || **c == b'\t')
            .count();
        pos += padding;
        if !body.get(pos..).is_some_and(|r| r.starts_with(b"\r\n")) {
            return Err(malformed("boundary line not followed by a line break"));
        }
        pos += 2;

        // A part may have no headers at all: then "\r\n" directly follows.
        let (headers, content_start) = if body.get(pos..).is_some_and(|r| r.starts_with(b"\r\n")) {
            (&[][..], pos + 2)
        } else {
            let end =
                find(body, b"\r\n\r\n", pos).ok_or_else(|| malformed("part headers never end"))?;
            (
                body.get(pos..end).ok_or_else(|| malformed("truncated"))?,
                end + 4,
            )
        };
        let content_end = find(body, delimiter.as_bytes(), content_start)
            .ok_or_else(|| malformed("a part is not closed by the boundary"))?;
        let content = body
            .get(content_start..content_end)
            .ok_or_else(|| malformed("truncated"))?;
        pos = content_end + delimiter.len();

        let disposition = part_disposition(headers).ok_or_else(|| {
            malformed("a part has no `Content-Disposition: form-data; name=...` header")
        })?;
        if let Some(filename) = disposition.filename {
            if !filename.is_empty() || !content.is_empty() {
                return Err(BodyError::FileUpload(printable_name(&disposition.name)));
            }
            continue;
        }
        fields.push(
            disposition.name,
            String::from_utf8_lossy(content).into_owned(),
        );
    }
}

struct Disposition {
    name: String,
    filename: Option<String>,
}

/// Reads `Content-Disposition: form-data; name="x"[; filename="y"]` from a
/// part's header block.
fn part_disposition(headers: &[u8]) -> Option<Disposition> {
    let text = String::from_utf8_lossy(headers);
    let line = text.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-disposition")
            .then_some(value)
    })?;
    let mut params = split_params(line).into_iter();
    if !params.next()?.trim().eq_ignore_ascii_case("form-data") {
        return None;
    }
    let mut name = None;
    let mut filename = None;
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let key = k.trim().to_ascii_lowercase();
        match key.as_str() {
            "name" => name = Some(unquote(v.trim())),
            "filename" | "filename*" => filename = Some(unquote(v.trim())),
            _ => {}
        }
    }
    Some(Disposition {
        name: name?,
        filename,
    })
}

/// Splits a header value on `;` outside double quotes.
fn split_params(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in value.chars() {
        match c {
            _ if escaped => {
                escaped = false;
                current.push(c);
            }
            '\\' if quoted => {
                escaped = true;
                current.push(c);
            }
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ';' if !quoted => out.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    out.push(current);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(f: &Fields) -> Vec<(String, String)> {
        f.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn kv(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn urlencoded_keeps_order_and_repeats() {
        let f = parse(
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            b"email=a%2Bb%40example.com&tags=news&tags=offers&first_name=J%C3%BCrgen+X",
        )
        .unwrap();
        assert_eq!(
            pairs(&f),
            kv(&[
                ("email", "a+b@example.com"),
                ("tags", "news"),
                ("tags", "offers"),
                ("first_name", "Jürgen X")
            ])
        );
        assert_eq!(f.all("tags").count(), 2);
    }

    #[test]
    fn json_objects_of_scalars_and_arrays() {
        let f = parse(
            Some("Application/JSON; charset=utf-8"),
            br#"{"email":"a@example.com","age":42,"consent":true,"tags":["news","offers"],"x":null}"#,
        )
        .unwrap();
        assert_eq!(
            pairs(&f),
            kv(&[
                ("email", "a@example.com"),
                ("age", "42"),
                ("consent", "true"),
                ("tags", "news"),
                ("tags", "offers")
            ])
        );
        for bad in [
            &b"[1,2]"[..],
            b"{\"a\":{\"b\":1}}",
            b"{\"a\":[[1]]}",
            b"{",
            b"",
        ] {
            assert!(matches!(
                parse(Some("application/json"), bad),
                Err(BodyError::Malformed(_))
            ));
        }
    }

    #[test]
    fn json_numbers_read_as_serde_json_writes_them_and_a_repeated_name_keeps_its_last_value() {
        let f = parse(
            Some("application/json"),
            br#"{"n":-7,"big":18446744073709551615,"f":1.50,"e":1e3,"tags":["a",null,2],"n":"last"}"#,
        )
        .unwrap();
        assert_eq!(
            pairs(&f),
            kv(&[
                ("big", "18446744073709551615"),
                ("f", "1.5"),
                ("e", "1000.0"),
                ("tags", "a"),
                ("tags", "2"),
                ("n", "last")
            ])
        );
    }

    #[test]
    fn json_refusals_say_what_is_wrong() {
        let message = |body: &[u8]| match parse(Some("application/json"), body) {
            Err(BodyError::Malformed(m)) => m,
            other => panic!("{other:?}"),
        };
        for (body, field) in [
            (&br#"{"ok":1,"addr":{"city":"x"}}"#[..], "addr"),
            (br#"{"tags":["a",["b"]]}"#, "tags"),
            (br#"{"tags":[{"b":1}]}"#, "tags"),
            (br#"{"tags":[["b"],"a"],"x":1}"#, "tags"),
            (br#"{"a":{"b":[1,{}]},"x":1}"#, "a"),
        ] {
            assert_eq!(
                message(body),
                format!("field `{field}` must be a string, number, boolean or an array of those")
            );
        }
        assert_eq!(message(b"[1,2]"), "the JSON body must be an object");
        assert_eq!(message(b"\"text\""), "the JSON body must be an object");
        assert_eq!(message(b"{\"a\":1}\n{}"), "invalid JSON at line 2");
        assert_eq!(message(b"{\"a\":\n1"), "invalid JSON at line 2");
    }

    #[test]
    fn json_that_is_not_utf8_is_malformed_at_its_line() {
        for (bad, line) in [
            (&b"{\"a\":\n\"\xff\"}"[..], 2),
            (b"\xfe{}", 1),
            (b"{\"a\":\n\n1,}", 3),
        ] {
            assert_eq!(
                parse(Some("application/json"), bad),
                Err(BodyError::Malformed(format!("invalid JSON at line {line}")))
            );
        }
    }

    #[test]
    fn multipart_text_parts() {
        let body = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@example.com\r\n--XyZ\r\ncontent-disposition: form-data; name=\"msg\"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nline 1\r\nline 2\r\n--XyZ\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"\"\r\nContent-Type: application/octet-stream\r\n\r\n\r\n--XyZ--\r\nepilogue";
        let f = parse(Some("multipart/form-data; boundary=\"XyZ\""), body).unwrap();
        assert_eq!(
            pairs(&f),
            kv(&[("email", "a@example.com"), ("msg", "line 1\r\nline 2")])
        );
    }

    #[test]
    fn multipart_refuses_files_and_broken_bodies() {
        let file = b"--b\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"cv.pdf\"\r\n\r\n%PDF\r\n--b--";
        assert_eq!(
            parse(Some("multipart/form-data; boundary=b"), file),
            Err(BodyError::FileUpload("cv".into()))
        );
        for bad in [
            &b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end"[..],
            b"nothing here",
            b"--b\r\nX-Other: 1\r\n\r\nv\r\n--b--",
            b"--bxx",
        ] {
            assert!(matches!(
                parse(Some("multipart/form-data; boundary=b"), bad),
                Err(BodyError::Malformed(_))
            ));
        }
        assert!(matches!(
            parse(Some("multipart/form-data"), b"--b--"),
            Err(BodyError::Malformed(_))
        ));
    }

    #[test]
    fn size_and_type_limits() {
        let big = vec![b'a'; MAX_BODY_BYTES + 1];
        assert_eq!(
            parse(Some("application/x-www-form-urlencoded"), &big),
            Err(BodyError::TooLarge)
        );
        let exact = vec![b'a'; MAX_BODY_BYTES];
        assert!(parse(Some("application/x-www-form-urlencoded"), &exact).is_ok());
        for ct in [None, Some("text/plain"), Some("application/xml"), Some("")] {
            assert_eq!(parse(ct, b"a=1"), Err(BodyError::Unsupported));
        }
    }

    #[test]
    fn debug_shows_names_not_values() {
        let mut f = Fields::new();
        f.push("email", "secret@example.com");
        assert_eq!(format!("{f:?}"), "[\"email\"]");
    }

    /// A multipart body built from parts, as a browser would send it.
    fn multipart(boundary: &str, parts: &[(String, String)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in parts {
            out.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n")
                    .as_bytes(),
            );
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_bytes_in_any_encoding_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..600),
            ct in prop_oneof![
                Just("application/x-www-form-urlencoded".to_string()),
                Just("application/json".to_string()),
                Just("multipart/form-data; boundary=b".to_string()),
                Just("multipart/form-data; boundary=\"--x y\"".to_string()),
                ".{0,60}",
            ],
        ) {
            let _ = parse(Some(&ct), &body);
        }

        #[test]
        fn mutated_multipart_never_panics(
            parts in proptest::collection::vec(("[a-z_]{1,8}", ".{0,40}"), 0..5),
            cut in any::<prop::sample::Index>(),
            junk in proptest::collection::vec(any::<u8>(), 0..8),
        ) {
            let mut body = multipart("XyZ", &parts);
            let at = cut.index(body.len() + 1);
            body.splice(at..at, junk);
            let _ = parse(Some("multipart/form-data; boundary=XyZ"), &body);
        }

        #[test]
        fn multipart_round_trips_text_parts(
            parts in proptest::collection::vec(("[a-z_]{1,8}", "[^\r\n-]{0,40}"), 0..5),
        ) {
            let body = multipart("b0undary", &parts);
            let f = parse(Some("multipart/form-data; boundary=b0undary"), &body).unwrap();
            prop_assert_eq!(pairs(&f), parts);
        }

        #[test]
        fn json_of_any_strings_round_trips(
            map in proptest::collection::btree_map(".{0,12}", ".{0,40}", 0..6),
        ) {
            let body = serde_json::to_vec(&map).unwrap();
            let f = parse(Some("application/json"), &body).unwrap();
            let expected: Vec<(String, String)> = map.into_iter().collect();
            // serde_json writes a map's keys in order, so the body's order
            // is the map's.
            prop_assert_eq!(pairs(&f), expected);
        }

        #[test]
        fn urlencoded_round_trips(
            parts in proptest::collection::vec((".{0,12}", ".{0,40}"), 0..6),
        ) {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(parts.iter())
                .finish();
            let f = parse(Some("application/x-www-form-urlencoded"), body.as_bytes()).unwrap();
            prop_assert_eq!(pairs(&f), parts);
        }
    }
}
