//! The `FORMS` object var: one table per form id (docs/CONTRACT.md 1).
//!
//! Read strictly: a misspelt key (`redirct`), a wrong type or a value that
//! cannot work is a configuration problem, named with its form and key and
//! shown on `/admin`, rather than a form that silently behaves otherwise.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::form::address::ADDRESS_FIELDS;
use crate::form::context;
use crate::form::honeypot;
use crate::form::note::{NoteWhen, MAX_CONSENT_TEXT};
use crate::form::spam::SpamMode;

/// A Keap tag id.
pub type TagId = u64;
/// A Keap custom field id.
pub type CustomFieldId = u64;

/// The form fields the worker reads itself; a custom field may not reuse
/// these names.
pub const STANDARD_FIELDS: [&str; 13] = [
    "email",
    "first_name",
    "last_name",
    "phone",
    "tags",
    "job_title",
    "website",
    ADDRESS_FIELDS[0],
    ADDRESS_FIELDS[1],
    ADDRESS_FIELDS[2],
    ADDRESS_FIELDS[3],
    ADDRESS_FIELDS[4],
    ADDRESS_FIELDS[5],
];
/// Fields with a meaning to the worker, never contact data: the reserved
/// ones and the context recorded in the note.
pub const RESERVED_FIELDS: [&str; 11] = [
    honeypot::HONEYPOT_FIELDS[0],
    "_next",
    crate::form::turnstile::RESPONSE_FIELD,
    context::PAGE_FIELD,
    context::REFERRER_FIELD,
    context::CAMPAIGN_FIELDS[0],
    context::CAMPAIGN_FIELDS[1],
    context::CAMPAIGN_FIELDS[2],
    context::CAMPAIGN_FIELDS[3],
    context::CAMPAIGN_FIELDS[4],
    context::CAMPAIGN_FIELDS[5],
];
/// The message field when a form names none.
pub const DEFAULT_MESSAGE_FIELD: &str = "message";

/// How Keap finds a returning contact, spelt as Keap spells it (in
/// `FORMS`, in queued leads and in the upsert).
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
    /// The field whose text becomes the submission's Keap note.
    pub message_field: String,
    /// When a submission leaves a note.
    pub note: NoteWhen,
    /// The consent statement shown to the visitor, recorded in the note.
    pub consent_text: Option<String>,
    /// A honeypot of the form's own, beside the usual names
    /// (form/honeypot.rs).
    pub honeypot_field: Option<String>,
    /// Whether the address's domain must take mail (`check_email_domain`).
    pub check_email_domain: bool,
    /// What happens to a post the spam rules catch.
    pub spam: SpamMode,
}

/// The table as written, each value of its type, before its values are
/// checked. A key left out takes its default; an optional text or list
/// may also be `null`; any other key is a typo, refused.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of settings")]
struct RawForm {
    tags: Vec<TagId>,
    optional_tags: BTreeMap<String, TagId>,
    redirect: Option<String>,
    error_redirect: Option<String>,
    opt_in_reason: Option<String>,
    consent_field: Option<String>,
    required: Option<Vec<String>>,
    custom_fields: BTreeMap<String, CustomFieldId>,
    duplicate_option: DuplicateOption,
    turnstile: bool,
    message_field: Option<String>,
    note: NoteWhen,
    consent_text: Option<String>,
    honeypot_field: Option<String>,
    check_email_domain: Option<bool>,
    spam: SpamMode,
}

impl RawForm {
    /// Reads the table's shape. Problems are prefixed with `at`; when the
    /// table is refused, each of its keys is read alone, so that every
    /// key at fault is named at once, not only the first.
    fn read(at: &str, table: &Value) -> Result<RawForm, Vec<String>> {
        let whole = match RawForm::deserialize(table) {
            Ok(raw) => return Ok(raw),
            Err(e) => e,
        };
        let Value::Object(map) = table else {
            return Err(vec![format!("{at}: {whole}")]);
        };
        let problems: Vec<String> = map
            .iter()
            .filter_map(|(key, value)| {
                let alone = Value::Object(Map::from_iter([(key.clone(), value.clone())]));
                let e = RawForm::deserialize(&alone).err()?;
                Some(format!("{at}.{key}: {e}"))
            })
            .collect();
        Err(if problems.is_empty() {
            vec![format!("{at}: {whole}")]
        } else {
            problems
        })
    }
}

/// All configured forms, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forms(BTreeMap<String, Form>);

impl Forms {
    /// Reads the `FORMS` var (absent: no forms). It may also arrive as a
    /// string holding JSON (a `.dev.vars` line). Every problem is reported
    /// at once, separated by `; `.
    pub fn from_json(value: Option<&Value>) -> Result<Forms, String> {
        let parsed;
        let value = match value {
            None | Some(Value::Null) => return Ok(Forms::default()),
            Some(Value::String(text)) => {
                parsed = serde_json::from_str::<Value>(text)
                    .map_err(|e| format!("FORMS: not valid JSON ({e})"))?;
                &parsed
            }
            Some(v) => v,
        };
        let Value::Object(map) = value else {
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

    /// The forms, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Form> {
        self.0.values()
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
    pub fn from_json(id: &str, table: &Value) -> Result<Form, Vec<String>> {
        let at = format!("FORMS.{id}");
        if !valid_form_id(id) {
            return Err(vec![format!(
                "{at}: a form id is 1 to 64 letters, digits, `-` or `_`"
            )]);
        }
        let raw = RawForm::read(&at, table)?;
        let mut problems = Vec::new();

        let url_of = |key: &str, value: Option<String>, problems: &mut Vec<String>| {
            let text = value?;
            match url::Url::parse(&text) {
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
            if STANDARD_FIELDS.contains(&name.as_str())
                || RESERVED_FIELDS.contains(&name.as_str())
                || honeypot::is_usual_name(name)
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
                || honeypot::is_usual_name(consent)
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
        // A custom field may share the message field's name (the message
        // then goes to both), as forms did before notes existed.
        let message_field = raw
            .message_field
            .unwrap_or_else(|| DEFAULT_MESSAGE_FIELD.to_string());
        if !valid_field_name(&message_field)
            || STANDARD_FIELDS.contains(&message_field.as_str())
            || RESERVED_FIELDS.contains(&message_field.as_str())
            || honeypot::is_usual_name(&message_field)
            || raw.consent_field.as_deref() == Some(message_field.as_str())
        {
            problems.push(format!(
                "{at}.message_field: `{message_field}` must be a field of its own"
            ));
        }
        let consent_text = raw.consent_text.map(|t| t.trim().to_string());
        if let Some(text) = &consent_text {
            if text.is_empty() || text.chars().count() > MAX_CONSENT_TEXT {
                problems.push(format!(
                    "{at}.consent_text: must be 1 to {MAX_CONSENT_TEXT} characters"
                ));
            }
        }
        if let Some(honeypot) = &raw.honeypot_field {
            let own = [raw.consent_field.as_deref(), Some(message_field.as_str())];
            if !valid_field_name(honeypot)
                || STANDARD_FIELDS.contains(&honeypot.as_str())
                || RESERVED_FIELDS.contains(&honeypot.as_str())
                || crate::form::aliases::alias_of(honeypot).is_some()
                || raw.custom_fields.contains_key(honeypot)
                || own.contains(&Some(honeypot.as_str()))
            {
                problems.push(format!(
                    "{at}.honeypot_field: `{honeypot}` must be a field of its own, not one a person fills in"
                ));
            }
        }
        let required = raw.required.unwrap_or_else(|| vec!["email".to_string()]);
        for name in &required {
            let known = STANDARD_FIELDS.contains(&name.as_str())
                || raw.custom_fields.contains_key(name)
                || *name == message_field
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
            message_field,
            note: raw.note,
            consent_text,
            honeypot_field: raw.honeypot_field,
            check_email_domain: raw.check_email_domain.unwrap_or(true),
            spam: raw.spam,
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
            message_field: DEFAULT_MESSAGE_FIELD.to_string(),
            note: NoteWhen::Message,
            consent_text: None,
            honeypot_field: None,
            check_email_domain: true,
            spam: SpamMode::Hold,
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
    fn reads_the_note_settings() {
        let v = json!({
            "a": {"message_field": "comments", "note": "always",
                  "consent_text": "  You may email me.  ", "required": ["comments"]},
            "b": {"note": "never", "custom_fields": {"message": 9}},
        });
        let forms = Forms::from_json(Some(&v)).unwrap();
        let a = forms.get("a").unwrap();
        assert_eq!(a.message_field, "comments");
        assert_eq!(a.note, NoteWhen::Always);
        assert_eq!(a.consent_text.as_deref(), Some("You may email me."));
        let b = forms.get("b").unwrap();
        assert_eq!(
            (b.message_field.as_str(), b.note),
            ("message", NoteWhen::Never)
        );
        assert_eq!(Form::bare("x").note, NoteWhen::Message);

        let p = problem(json!({"a": {"note": "sometimes"}}));
        assert!(p.contains("FORMS.a.note"), "{p}");
        for field in ["email", "_page", "utm_source", "city", "bad name"] {
            let p = problem(json!({"a": {"message_field": field}}));
            assert!(p.contains("FORMS.a.message_field"), "{field}: {p}");
        }
        let p = problem(json!({"a": {"consent_field": "consent", "message_field": "consent"}}));
        assert!(p.contains("FORMS.a.message_field"), "{p}");
        let p = problem(json!({"a": {"consent_text": " "}}));
        assert!(p.contains("FORMS.a.consent_text"), "{p}");
        let p = problem(json!({"a": {"custom_fields": {"website": 3}}}));
        assert!(p.contains("FORMS.a.custom_fields"), "{p}");
    }

    #[test]
    fn reads_a_honeypot_of_the_form_own() {
        let v = json!({"a": {"honeypot_field": "fax_number"}});
        let forms = Forms::from_json(Some(&v)).unwrap();
        assert_eq!(
            forms.get("a").unwrap().honeypot_field.as_deref(),
            Some("fax_number")
        );
        for taken in [
            "email",
            "_page",
            "name",
            "Your-Message",
            "company",
            "consent",
            "bad name",
        ] {
            let p = problem(json!({"a": {
                "honeypot_field": taken, "custom_fields": {"company": 7}, "consent_field": "consent"
            }}));
            assert!(p.contains("FORMS.a.honeypot_field"), "{taken}: {p}");
        }
        // A usual honeypot name, in any case, is never a field of the
        // form's own: every post filling it in would be dropped as a bot's.
        for name in ["bot-field", "Bot-Field", "_HONEYPOT"] {
            let p = problem(json!({"a": {"custom_fields": {name: 7}}}));
            assert!(p.contains("FORMS.a.custom_fields"), "{name}: {p}");
            let p = problem(json!({"a": {"consent_field": name}}));
            assert!(p.contains("FORMS.a.consent_field"), "{name}: {p}");
            let p = problem(json!({"a": {"message_field": name}}));
            assert!(p.contains("FORMS.a.message_field"), "{name}: {p}");
        }
    }

    #[test]
    fn reads_the_spam_settings() {
        let v = json!({
            "a": {},
            "b": {"spam": "drop", "check_email_domain": false},
            "c": {"spam": "off", "check_email_domain": true},
        });
        let forms = Forms::from_json(Some(&v)).unwrap();
        let of = |id: &str| {
            let f = forms.get(id).unwrap();
            (f.spam, f.check_email_domain)
        };
        assert_eq!(of("a"), (SpamMode::Hold, true));
        assert_eq!(of("b"), (SpamMode::Drop, false));
        assert_eq!(of("c"), (SpamMode::Off, true));
        let p = problem(json!({"a": {"spam": "block"}}));
        assert!(p.contains("FORMS.a.spam"), "{p}");
        let p = problem(json!({"a": {"check_email_domain": "no"}}));
        assert!(p.contains("FORMS.a.check_email_domain"), "{p}");
    }

    #[test]
    fn a_redirect_to_a_unicode_host_takes_its_idna_form() {
        let v = json!({"a": {"redirect": "https://Bücher.example/danke?x=ü"}});
        let forms = Forms::from_json(Some(&v)).unwrap();
        let redirect = forms.get("a").unwrap().redirect.as_ref().unwrap();
        assert_eq!(redirect.host_str(), Some("xn--bcher-kva.example"));
        assert_eq!(redirect.path(), "/danke");
    }

    #[test]
    fn absent_forms_are_no_forms_and_a_json_string_is_read() {
        assert!(Forms::from_json(None).unwrap().is_empty());
        let text = json!("{\"a\":{\"tags\":[1]}}");
        assert_eq!(Forms::from_json(Some(&text)).unwrap().ids(), vec!["a"]);
    }

    #[test]
    fn null_leaves_an_optional_key_unset_but_not_a_list() {
        let v = json!({"a": {"redirect": null, "required": null, "consent_field": null}});
        let forms = Forms::from_json(Some(&v)).unwrap();
        assert_eq!(forms.get("a"), Some(&Form::bare("a")));
        let p = problem(json!({"a": {"tags": null}}));
        assert!(
            p.contains("FORMS.a.tags") && p.contains("invalid type"),
            "{p}"
        );
    }

    #[test]
    fn every_shape_problem_of_a_table_is_named() {
        let p = problem(json!({"a": {
            "redirct": "https://x.example", "tags": "1", "optional_tags": {"n": "2"},
            "custom_fields": [7], "required": "email", "turnstile": 1,
            "duplicate_option": 5, "opt_in_reason": false
        }}));
        for key in [
            "`redirct`",
            "FORMS.a.tags",
            "FORMS.a.optional_tags",
            "FORMS.a.custom_fields",
            "FORMS.a.required",
            "FORMS.a.turnstile",
            "FORMS.a.duplicate_option",
            "FORMS.a.opt_in_reason",
        ] {
            assert!(p.contains(key), "{key} in {p}");
        }
        let p = problem(json!({"a": "https://x.example"}));
        assert!(p.starts_with("FORMS.a: invalid type"), "{p}");
    }

    fn problem(v: Value) -> String {
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
        // A typo'd key is named with its form, and the keys a table takes listed.
        let p = problem(json!({"contact": {"tags": [1], "redirct": "https://x.example"}}));
        assert!(
            p.starts_with("FORMS.contact.redirct: unknown field `redirct`")
                && p.contains("`redirect`")
                && !p.contains("FORMS.contact.tags"),
            "{p}"
        );
    }
}
