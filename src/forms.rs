//! The `FORMS` object var: one table per form id (DESIGN.md 1).
//!
//! Read strictly: a misspelt key (`redirct`), a wrong type or a value that
//! cannot work is a configuration problem, named with its form and key and
//! shown on `/admin`, rather than a form that silently behaves otherwise.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A Keap tag id.
pub type TagId = u64;
/// A Keap custom field id.
pub type CustomFieldId = u64;

/// The form fields the worker reads itself; a custom field may not reuse
/// these names.
pub const STANDARD_FIELDS: [&str; 5] = ["email", "first_name", "last_name", "phone", "tags"];
/// Fields with a meaning to the worker, never sent to Keap.
pub const RESERVED_FIELDS: [&str; 3] = ["_gotcha", "_next", "cf-turnstile-response"];

/// How Keap finds a returning contact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DuplicateOption {
    #[default]
    Email,
    EmailAndName,
}

impl DuplicateOption {
    /// The value Keap expects in `duplicate_option`.
    pub fn as_str(self) -> &'static str {
        match self {
            DuplicateOption::Email => "Email",
            DuplicateOption::EmailAndName => "EmailAndName",
        }
    }
}

/// One form, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub id: String,
    /// Applied on every submission.
    pub tags: Vec<TagId>,
    /// Names the visitor may pick with the `tags` field.
    pub optional_tags: BTreeMap<String, TagId>,
    pub redirect: Option<url::Url>,
    pub error_redirect: Option<url::Url>,
    pub opt_in_reason: Option<String>,
    pub consent_field: Option<String>,
    /// Field names that must be present (default `["email"]`).
    pub required: Vec<String>,
    /// Form field name → Keap custom field id.
    pub custom_fields: BTreeMap<String, CustomFieldId>,
    pub duplicate_option: DuplicateOption,
    pub turnstile: bool,
}

/// The table as written; `deny_unknown_fields` makes typos problems.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForm {
    #[serde(default)]
    tags: Vec<TagId>,
    #[serde(default)]
    optional_tags: BTreeMap<String, TagId>,
    redirect: Option<String>,
    error_redirect: Option<String>,
    opt_in_reason: Option<String>,
    consent_field: Option<String>,
    required: Option<Vec<String>>,
    #[serde(default)]
    custom_fields: BTreeMap<String, CustomFieldId>,
    #[serde(default)]
    duplicate_option: DuplicateOption,
    #[serde(default)]
    turnstile: bool,
}

/// All configured forms, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forms(BTreeMap<String, Form>);

impl Forms {
    /// Reads the `FORMS` var (absent: no forms). It may also arrive as a
    /// string holding JSON (a `.dev.vars` line). Every problem is reported
    /// at once, separated by `; `.
    pub fn from_json(value: Option<&serde_json::Value>) -> Result<Forms, String> {
        let parsed;
        let value = match value {
            None | Some(serde_json::Value::Null) => return Ok(Forms::default()),
            Some(serde_json::Value::String(text)) => {
                parsed = serde_json::from_str::<serde_json::Value>(text)
                    .map_err(|e| format!("FORMS: not valid JSON ({e})"))?;
                &parsed
            }
            Some(v) => v,
        };
        let serde_json::Value::Object(map) = value else {
            return Err("FORMS: must be an object with one table per form id".into());
        };
        let mut forms = BTreeMap::new();
        let mut problems = Vec::new();
        for (id, table) in map {
            match Form::from_json(id, table) {
                Ok(form) => {
                    forms.insert(id.clone(), form);
                }
                Err(mut p) => problems.append(&mut p),
            }
        }
        if problems.is_empty() {
            Ok(Forms(forms))
        } else {
            Err(problems.join("; "))
        }
    }

    pub fn get(&self, id: &str) -> Option<&Form> {
        self.0.get(id)
    }

    /// The form ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// True for an id that can appear in `/forms/{id}` as is.
pub fn valid_form_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// True for a field name a form may use for consent or a custom field.
fn valid_field_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(|c| !c.is_control() && c != ' ')
}

impl Form {
    /// Reads one table; problems are prefixed `FORMS.<id>`.
    pub fn from_json(id: &str, table: &serde_json::Value) -> Result<Form, Vec<String>> {
        let at = format!("FORMS.{id}");
        if !valid_form_id(id) {
            return Err(vec![format!(
                "{at}: a form id is 1 to 64 letters, digits, `-` or `_`"
            )]);
        }
        let raw: RawForm =
            serde_json::from_value(table.clone()).map_err(|e| vec![format!("{at}: {e}")])?;
        let mut problems = Vec::new();

        let url_of = |key: &str, value: Option<String>, problems: &mut Vec<String>| {
            let text = value?;
            match url::Url::parse(&crate::idn::ascii_url(&text)) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
                _ => {
                    problems.push(format!("{at}.{key}: `{text}` is not an http(s) URL"));
                    None
                }
            }
        };
        let redirect = url_of("redirect", raw.redirect, &mut problems);
        let error_redirect = url_of("error_redirect", raw.error_redirect, &mut problems);

        for tag in raw.tags.iter().chain(raw.optional_tags.values()) {
            if *tag == 0 {
                problems.push(format!("{at}: tag id 0 is not a Keap tag"));
            }
        }
        for name in raw.optional_tags.keys() {
            if name.trim().is_empty() || name.chars().count() > 100 || name.trim() != name {
                problems.push(format!(
                    "{at}.optional_tags: `{name}` must be 1 to 100 characters without surrounding spaces"
                ));
            }
        }
        for (name, field_id) in &raw.custom_fields {
            if !valid_field_name(name) {
                problems.push(format!(
                    "{at}.custom_fields: `{name}` is not a usable field name"
                ));
            }
            if STANDARD_FIELDS.contains(&name.as_str()) || RESERVED_FIELDS.contains(&name.as_str())
            {
                problems.push(format!(
                    "{at}.custom_fields: `{name}` is a field the worker reads itself"
                ));
            }
            if *field_id == 0 {
                problems.push(format!(
                    "{at}.custom_fields.{name}: 0 is not a Keap custom field id"
                ));
            }
        }
        if let Some(consent) = &raw.consent_field {
            if !valid_field_name(consent)
                || STANDARD_FIELDS.contains(&consent.as_str())
                || RESERVED_FIELDS.contains(&consent.as_str())
                || raw.custom_fields.contains_key(consent)
            {
                problems.push(format!(
                    "{at}.consent_field: `{consent}` must be a field of its own"
                ));
            }
        }
        if raw
            .opt_in_reason
            .as_deref()
            .is_some_and(|r| r.trim().is_empty())
        {
            problems.push(format!("{at}.opt_in_reason: empty; leave it out instead"));
        }
        let required = raw.required.unwrap_or_else(|| vec!["email".to_string()]);
        for name in &required {
            let known = STANDARD_FIELDS.contains(&name.as_str())
                || raw.custom_fields.contains_key(name)
                || raw.consent_field.as_deref() == Some(name.as_str());
            if !known {
                problems.push(format!(
                    "{at}.required: `{name}` is not a field this form reads"
                ));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Form {
            id: id.to_string(),
            tags: raw.tags,
            optional_tags: raw.optional_tags,
            redirect,
            error_redirect,
            opt_in_reason: raw.opt_in_reason.map(|r| r.trim().to_string()),
            consent_field: raw.consent_field,
            required,
            custom_fields: raw.custom_fields,
            duplicate_option: raw.duplicate_option,
            turnstile: raw.turnstile,
        })
    }

    /// A form with defaults only (tests, examples).
    pub fn bare(id: &str) -> Form {
        Form {
            id: id.to_string(),
            tags: Vec::new(),
            optional_tags: BTreeMap::new(),
            redirect: None,
            error_redirect: None,
            opt_in_reason: None,
            consent_field: None,
            required: vec!["email".to_string()],
            custom_fields: BTreeMap::new(),
            duplicate_option: DuplicateOption::Email,
            turnstile: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_full_form_and_defaults() {
        let v = json!({
            "contact": {
                "tags": [101, 102],
                "optional_tags": {"newsletter": 103},
                "redirect": "https://example.com/thanks",
                "error_redirect": "https://example.com/oops?from=form",
                "opt_in_reason": "Signed up on example.com",
                "consent_field": "consent",
                "required": ["email", "first_name", "consent"],
                "custom_fields": {"company": 7},
                "duplicate_option": "EmailAndName",
                "turnstile": true
            },
            "minimal": {}
        });
        let forms = Forms::from_json(Some(&v)).unwrap();
        assert_eq!(forms.ids(), vec!["contact", "minimal"]);
        let c = forms.get("contact").unwrap();
        assert_eq!(c.tags, vec![101, 102]);
        assert_eq!(c.optional_tags.get("newsletter"), Some(&103));
        assert_eq!(c.duplicate_option, DuplicateOption::EmailAndName);
        assert!(c.turnstile);
        assert_eq!(
            c.error_redirect.as_ref().map(|u| u.as_str()),
            Some("https://example.com/oops?from=form")
        );
        let m = forms.get("minimal").unwrap();
        assert_eq!(m, &Form::bare("minimal"));
        assert!(forms.get("other").is_none());
    }

    #[test]
    fn absent_forms_are_no_forms_and_a_json_string_is_read() {
        assert!(Forms::from_json(None).unwrap().is_empty());
        let text = json!("{\"a\":{\"tags\":[1]}}");
        assert_eq!(Forms::from_json(Some(&text)).unwrap().ids(), vec!["a"]);
    }

    fn problem(v: serde_json::Value) -> String {
        Forms::from_json(Some(&v)).unwrap_err()
    }

    #[test]
    fn problems_name_the_form_and_key() {
        let p = problem(json!({"contact": {"redirct": "https://x.example"}}));
        assert!(p.contains("FORMS.contact") && p.contains("redirct"), "{p}");
        let p = problem(json!({"contact": {"tags": ["101"]}}));
        assert!(
            p.contains("FORMS.contact") && p.contains("invalid type"),
            "{p}"
        );
        let p = problem(json!({"contact": {"duplicate_option": "Name"}}));
        assert!(p.contains("Name"), "{p}");
        let p = problem(json!({"contact": {"redirect": "/thanks"}}));
        assert!(p.contains("FORMS.contact.redirect"), "{p}");
        let p = problem(json!({"contact": {"required": ["email", "company"]}}));
        assert!(
            p.contains("FORMS.contact.required") && p.contains("company"),
            "{p}"
        );
        let p = problem(json!({"contact": {"custom_fields": {"email": 3}}}));
        assert!(p.contains("custom_fields"), "{p}");
        let p = problem(json!({"contact": {"consent_field": "email"}}));
        assert!(p.contains("consent_field"), "{p}");
        let p = problem(json!({"contact": {"tags": [0]}}));
        assert!(p.contains("tag id 0"), "{p}");
        let p = problem(json!({"bad id!": {}}));
        assert!(p.contains("FORMS.bad id!"), "{p}");
        let p = problem(json!([1, 2]));
        assert!(p.starts_with("FORMS:"), "{p}");
        let p = problem(json!({"a": {"turnstile": "yes"}, "b": {"tags": -1}}));
        assert!(p.contains("FORMS.a") && p.contains("FORMS.b"), "{p}");
    }
}
