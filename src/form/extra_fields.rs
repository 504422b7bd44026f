//! The fields a form posts that the worker does not map to a contact
//! field (docs/CONTRACT.md 1, "Form fields"): a Netlify form's `company`,
//! a checkbox group `services[]`. They are the visitor's words, so they
//! are kept, as `name: value` lines of the submission's note, in the
//! order posted; only what is not the visitor's (a form's own `_`
//! settings, captcha answers, Netlify's `form-name`, a `submit` button,
//! honeypots) is dropped.
//!
//! Like the message, they are sealed in a queued lead and never logged.

use serde::{Deserialize, Serialize};

use crate::form::aliases::{alias_of, Posted};
use crate::form::answer::ErrorCode;
use crate::form::body;
use crate::form::forms::{Form, RESERVED_FIELDS, STANDARD_FIELDS};
use crate::form::honeypot;
use crate::form::lead::{self, Invalid};
use crate::form::turnstile;

/// Most distinct unmapped fields a submission may carry.
pub const MAX_FIELDS: usize = 50;
/// Longest unmapped value, in characters.
pub const MAX_VALUE: usize = 1000;
/// Longest field name, in characters.
pub const MAX_NAME: usize = 64;

/// Captcha answers: a widget's token, not the visitor's words.
pub const CAPTCHA_FIELDS: [&str; 3] = [
    turnstile::RESPONSE_FIELD,
    "g-recaptcha-response",
    "h-captcha-response",
];

/// One unmapped field and every value it was posted with.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraField {
    /// As posted, without a trailing `[]`.
    pub name: String,
    pub values: Vec<String>,
}

/// A submission's unmapped fields, in the order first posted.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExtraFields(Vec<ExtraField>);

impl std::fmt::Debug for ExtraFields {
    /// How many only: names and values are the form's and the visitor's.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExtraFields({})", self.0.len())
    }
}

impl ExtraFields {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &ExtraField> {
        self.0.iter()
    }

    /// The note's lines: `name: value`, a repeated field's values joined
    /// by `, `; a value's own line breaks are kept, its further lines
    /// indented so they read as part of it.
    pub fn lines(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|f| format!("{}: {}", f.name, f.values.join(", ").replace('\n', "\n  ")))
            .collect()
    }

    /// Every value, to scrub from text we keep.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .flat_map(|f| f.values.iter().map(String::as_str))
    }
}

/// True when the worker reads `name` itself for `form`: a standard,
/// reserved, custom, consent or message field.
fn mapped(form: &Form, name: &str) -> bool {
    STANDARD_FIELDS.contains(&name)
        || RESERVED_FIELDS.contains(&name)
        || form.custom_fields.contains_key(name)
        || form.consent_field.as_deref() == Some(name)
        || form.message_field == name
}

/// True for a field that is not the visitor's words: a form's own `_`
/// setting (Formspree's `_cc`, Contact Form 7's `_wpcf7`), a captcha
/// answer, Netlify's `form-name`, a button named `submit`, a honeypot.
fn not_the_visitors(form: &Form, name: &str) -> bool {
    (name.starts_with('_') && alias_of(name).is_none())
        || CAPTCHA_FIELDS.iter().any(|c| c.eq_ignore_ascii_case(name))
        || name.eq_ignore_ascii_case("form-name")
        || name.eq_ignore_ascii_case("submit")
        || honeypot::is_honeypot(form, name)
}

fn invalid(code: ErrorCode, name: &str) -> Invalid {
    Invalid {
        code,
        field: body::printable_name(name),
    }
}

/// Collects the unmapped fields among `rest` (the fields the aliases did
/// not take), checked: a name over 64 characters or with control
/// characters is `invalid_value`, a value over 1,000 characters
/// `field_too_long`, a value with control characters other than line
/// breaks and tabs `invalid_value`, more than 50 fields `too_many_fields`
/// (on the first one over). Blank values count as absent.
pub fn collect(form: &Form, rest: &[Posted]) -> Result<ExtraFields, Invalid> {
    let mut kept: Vec<ExtraField> = Vec::new();
    for posted in rest {
        let name = posted.name.as_str();
        if !posted.passed_over && (mapped(form, name) || not_the_visitors(form, name)) {
            continue;
        }
        let value = posted.value.trim();
        if value.is_empty() {
            continue;
        }
        if lead::text_problem(name, MAX_NAME, false).is_some() {
            return Err(invalid(ErrorCode::InvalidValue, name));
        }
        if let Some(code) = lead::text_problem(value, MAX_VALUE, true) {
            return Err(invalid(code, name));
        }
        // A textarea's CRLF line breaks become plain ones, as in the message.
        let value = lead::plain_line_breaks(value);
        let shown_name = name
            .strip_suffix("[]")
            .filter(|n| !n.is_empty())
            .unwrap_or(name);
        if let Some(field) = kept.iter_mut().find(|f| f.name == shown_name) {
            field.values.push(value);
        } else if kept.len() == MAX_FIELDS {
            return Err(invalid(ErrorCode::TooManyFields, name));
        } else {
            kept.push(ExtraField {
                name: shown_name.to_string(),
                values: vec![value],
            });
        }
    }
    Ok(ExtraFields(kept))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::aliases::resolve;
    use crate::form::body::Fields;
    use proptest::prelude::*;

    fn extras(form: &Form, pairs: &[(&str, &str)]) -> Result<ExtraFields, Invalid> {
        let mut f = Fields::new();
        for (k, v) in pairs {
            f.push(*k, *v);
        }
        collect(form, &resolve(form, &f).rest)
    }

    fn lines(pairs: &[(&str, &str)]) -> Vec<String> {
        extras(&Form::bare("c"), pairs).unwrap().lines()
    }

    fn refused(form: &Form, pairs: &[(&str, &str)]) -> (ErrorCode, String) {
        let e = extras(form, pairs).unwrap_err();
        (e.code, e.field)
    }

    #[test]
    fn unmapped_fields_become_lines_in_posted_order_with_every_value() {
        assert_eq!(
            lines(&[
                ("Name", "Jane Doe"),
                ("company", "ACME"),
                ("services[]", "design"),
                ("Email", "jane@example.com"),
                ("budget", " 5k "),
                ("services[]", "hosting"),
                ("empty", " "),
                ("notes", "line 1\r\nline 2"),
            ]),
            vec![
                "company: ACME",
                "services: design, hosting",
                "budget: 5k",
                "notes: line 1\n  line 2"
            ]
        );
    }

    #[test]
    fn what_is_not_the_visitors_is_dropped() {
        let mut form = Form::bare("c");
        form.honeypot_field = Some("fax".into());
        let got = extras(
            &form,
            &[
                ("_cc", "boss@example.com"),
                ("_language", "de"),
                ("_wpcf7_unit_tag", "wpcf7-f1"),
                ("_next", "/thanks"),
                ("_page", "https://example.com/"),
                ("utm_source", "news"),
                ("g-recaptcha-response", "tok"),
                ("H-Captcha-Response", "tok"),
                ("cf-turnstile-response", "tok"),
                ("form-name", "contact"),
                ("Submit", "Send"),
                ("bot-field", ""),
                ("fax", ""),
                ("tags", "news"),
                ("city", "Paris"),
                ("company", "ACME"),
            ],
        )
        .unwrap();
        assert_eq!(got.lines(), vec!["company: ACME"]);
    }

    #[test]
    fn the_form_own_fields_are_not_repeated() {
        let mut form = Form::bare("c");
        form.custom_fields.insert("company".into(), 7);
        form.consent_field = Some("agree".into());
        form.message_field = "details".into();
        let got = extras(
            &form,
            &[
                ("company", "ACME"),
                ("agree", "on"),
                ("details", "Hi"),
                ("message", "also"),
            ],
        )
        .unwrap();
        assert_eq!(got.lines(), vec!["message: also"]);
    }

    #[test]
    fn a_second_name_saying_something_else_is_kept() {
        assert_eq!(
            lines(&[
                ("email", "a@example.com"),
                ("_replyto", "b@example.com"),
                ("first_name", "Ada"),
                ("name", "Augusta Ada King"),
            ]),
            vec!["_replyto: b@example.com", "name: Augusta Ada King"]
        );
    }

    #[test]
    fn the_limits() {
        use ErrorCode::*;
        let form = Form::bare("c");
        let long_name = "n".repeat(MAX_NAME + 1);
        assert_eq!(
            refused(&form, &[(&long_name, "x")]),
            (InvalidValue, "n".repeat(MAX_NAME))
        );
        assert!(extras(&form, &[(&"n".repeat(MAX_NAME), "x")]).is_ok());
        assert_eq!(
            refused(&form, &[("bad\u{1}name", "x")]),
            (InvalidValue, "badname".into())
        );
        assert_eq!(
            refused(&form, &[("budget", &"9".repeat(MAX_VALUE + 1))]),
            (FieldTooLong, "budget".into())
        );
        assert!(extras(&form, &[("budget", &"é".repeat(MAX_VALUE))]).is_ok());
        for bad in ["bell\u{7}", "nul\u{0}", "bad\u{FFFD}"] {
            assert_eq!(
                refused(&form, &[("budget", bad)]),
                (InvalidValue, "budget".into())
            );
        }
        assert!(extras(&form, &[("budget", "a\tb\nc")]).is_ok());

        let names: Vec<String> = (0..=MAX_FIELDS).map(|i| format!("f{i}")).collect();
        let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
        assert_eq!(
            refused(&form, &many),
            (TooManyFields, format!("f{MAX_FIELDS}"))
        );
        assert_eq!(
            extras(&form, &many[..MAX_FIELDS]).unwrap().len(),
            MAX_FIELDS
        );
        // Repeats of one field, and dropped fields, do not count.
        let mut repeats: Vec<(&str, &str)> = many[..MAX_FIELDS].to_vec();
        repeats.extend([("f0", "again"), ("_cc", "x"), ("submit", "Send")]);
        assert!(extras(&form, &repeats).is_ok());
        // A bad field the owner never sees is not a reason to refuse.
        assert!(extras(&form, &[("_x\u{1}", &"x".repeat(5000))]).is_ok());
    }

    #[test]
    fn debug_shows_neither_names_nor_values() {
        let got = extras(&Form::bare("c"), &[("company", "Secret Co")]).unwrap();
        assert_eq!(format!("{got:?}"), "ExtraFields(1)");
        assert_eq!(got.values().collect::<Vec<_>>(), vec!["Secret Co"]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_fields_never_panic_and_what_is_kept_is_within_the_limits(
            pairs in proptest::collection::vec((".{0,70}", ".{0,1100}"), 0..12),
        ) {
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            if let Ok(kept) = extras(&Form::bare("c"), &refs) {
                prop_assert!(kept.len() <= MAX_FIELDS);
                for f in kept.iter() {
                    prop_assert!(f.name.chars().count() <= MAX_NAME);
                    prop_assert!(!f.name.chars().any(char::is_control));
                    for v in &f.values {
                        prop_assert!(!v.is_empty() && v.chars().count() <= MAX_VALUE);
                        prop_assert!(!v.contains('\r'));
                    }
                }
            }
        }
    }
}
