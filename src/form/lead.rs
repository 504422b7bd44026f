//! From a submission's fields to a [`Lead`]: what the visitor gave,
//! checked against the form, ready for Keap or the outbox.
//!
//! A lead keeps only what was given (`None` for an absent field), so the
//! upsert never blanks a returning contact's data, and it carries the form
//! settings that shape its delivery (tags, duplicate option, opt-in), so a
//! queued lead is delivered as the form said when it was sent.

use serde::{Deserialize, Serialize};

use crate::form::address::{self, Address, AddressProblem};
use crate::form::aliases;
use crate::form::answer::ErrorCode;
use crate::form::body::Fields;
use crate::form::context::Context;
use crate::form::email;
use crate::form::extra_fields::{self, ExtraFields};
use crate::form::forms::{CustomFieldId, DuplicateOption, Form, TagId};
use crate::form::note::{self, Consent, Note, NoteWhen};

/// Longest values, in characters.
pub const MAX_EMAIL: usize = email::MAX_LEN;
pub const MAX_NAME: usize = 100;
pub const MAX_PHONE: usize = 40;
pub const MAX_CUSTOM: usize = 1000;
pub const MAX_TAG_NAME: usize = 100;
pub const MAX_JOB_TITLE: usize = 100;
pub const MAX_WEBSITE: usize = 255;

/// A value for one of Keap's custom fields.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomValue {
    pub id: CustomFieldId,
    pub content: String,
}

impl std::fmt::Debug for CustomValue {
    /// The id only: the content is the visitor's.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustomValue({}, [given])", self.id)
    }
}

/// A validated submission, as stored (sealed) in an outbox entry: absent
/// values are written `null`, and may also be left out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lead {
    pub form_id: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub custom_fields: Vec<CustomValue>,
    /// The form's fixed tags, then the ones the visitor chose; no repeats.
    pub tag_ids: Vec<TagId>,
    pub duplicate_option: DuplicateOption,
    /// Set only when the visitor consented (or the form asks no consent).
    pub opt_in_reason: Option<String>,
    /// The visitor's IP (`CF-Connecting-IP`), when it is one.
    pub ip: Option<String>,
    pub received_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Sent as the contact's `BILLING` address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// The Keap note this submission leaves, when the form writes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Note>,
}

impl std::fmt::Debug for Lead {
    /// Shape only: a lead is a person's data and must not reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lead")
            .field("form_id", &self.form_id)
            .field("email", &self.email.as_ref().map(|_| "[given]"))
            .field("first_name", &self.first_name.as_ref().map(|_| "[given]"))
            .field("last_name", &self.last_name.as_ref().map(|_| "[given]"))
            .field("phone", &self.phone.as_ref().map(|_| "[given]"))
            .field("job_title", &self.job_title.as_ref().map(|_| "[given]"))
            .field("website", &self.website.as_ref().map(|_| "[given]"))
            .field("address", &self.address)
            .field("note", &self.note)
            .field("custom_fields", &self.custom_fields.len())
            .field("tag_ids", &self.tag_ids)
            .field("opted_in", &self.opt_in_reason.is_some())
            .field("received_at_ms", &self.received_at_ms)
            .finish()
    }
}

impl Lead {
    /// Every value the visitor typed, to scrub from messages (a Keap error
    /// may quote the address it refused).
    pub fn personal_values(&self) -> Vec<&str> {
        [
            &self.email,
            &self.first_name,
            &self.last_name,
            &self.phone,
            &self.job_title,
            &self.website,
        ]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .chain(self.custom_fields.iter().map(|c| c.content.as_str()))
        .chain(self.ip.as_deref())
        .chain(self.address.iter().flat_map(Address::values))
        .chain(self.note.iter().flat_map(Note::personal_values))
        .collect()
    }
}

/// Why a submission is refused, and which field caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: ErrorCode,
    pub field: String,
}

impl Invalid {
    fn new(code: ErrorCode, field: &str) -> Invalid {
        Invalid {
            code,
            field: field.to_string(),
        }
    }
}

/// Values a checkbox sends when ticked, or a JSON client for "yes".
const TRUTHY: [&str; 12] = [
    "on", "true", "yes", "y", "1", "checked", "agree", "agreed", "accept", "accepted", "consent",
    "ok",
];

/// True when a consent value means yes.
pub fn truthy(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    TRUTHY.contains(&v.as_str())
}

/// What the request itself says about a submission, beside its fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct Arrival<'a> {
    /// The `CF-Connecting-IP` header.
    pub ip: Option<&'a str>,
    /// The `Referer` header: the page, when the form posted no `_page`.
    pub referer: Option<&'a str>,
    /// The allowed origin the post came from.
    pub origin: Option<&'a str>,
    pub received_at_ms: u64,
}

/// Checks `fields` against `form`. `ip` is the `CF-Connecting-IP` header.
/// Without the request's `Referer` and origin, a note records only a
/// posted `_page` and no site; the form path uses [`validate_arrival`].
pub fn validate(
    form: &Form,
    fields: &Fields,
    ip: Option<&str>,
    received_at_ms: u64,
) -> Result<Lead, Invalid> {
    validate_arrival(
        form,
        fields,
        &Arrival {
            ip,
            received_at_ms,
            ..Arrival::default()
        },
    )
}

/// Checks `fields` against `form`, with what the request says of where
/// the submission came from. The standard fields are read by any of
/// their common names (form/aliases.rs), and an error names the field as
/// posted; the fields the worker does not map go into the note
/// (form/extra_fields.rs), unless the form writes no note.
pub fn validate_arrival(form: &Form, fields: &Fields, arrival: &Arrival) -> Result<Lead, Invalid> {
    let resolved = aliases::resolve(form, fields);
    let extra = match form.note {
        NoteWhen::Never => ExtraFields::default(),
        NoteWhen::Message | NoteWhen::Always => extra_fields::collect(form, &resolved.rest)?,
    };
    read_lead(form, &resolved.fields, arrival, extra).map_err(|e| Invalid {
        field: resolved.posted_name(&e.field).to_string(),
        code: e.code,
    })
}

/// Checks the fields as the worker reads them (the aliases resolved).
fn read_lead(
    form: &Form,
    fields: &Fields,
    arrival: &Arrival,
    extra: ExtraFields,
) -> Result<Lead, Invalid> {
    let Arrival {
        ip,
        referer,
        origin,
        received_at_ms,
    } = *arrival;
    let email = single_line(fields, "email", MAX_EMAIL)?;
    if let Some(address) = &email {
        if email::validate(address).is_err() {
            return Err(Invalid::new(ErrorCode::InvalidEmail, "email"));
        }
    }
    let first_name = single_line(fields, "first_name", MAX_NAME)?;
    let last_name = single_line(fields, "last_name", MAX_NAME)?;
    let phone = single_line(fields, "phone", MAX_PHONE)?;
    if phone
        .as_deref()
        .is_some_and(|p| !p.chars().any(|c| c.is_ascii_digit()))
    {
        return Err(Invalid::new(ErrorCode::InvalidPhone, "phone"));
    }

    let job_title = single_line(fields, "job_title", MAX_JOB_TITLE)?;
    let website = single_line(fields, "website", MAX_WEBSITE)?;
    if website.as_deref().is_some_and(|w| !website_like(w)) {
        return Err(Invalid::new(ErrorCode::InvalidValue, "website"));
    }
    let address = read_address(fields)?;
    // Browsers send a textarea's line breaks as CRLF; a note keeps plain ones.
    let message =
        multi_line(fields, &form.message_field, note::MAX_MESSAGE)?.map(|m| plain_line_breaks(&m));
    let subject = single_line(fields, aliases::SUBJECT_FIELD, note::MAX_SUBJECT)?;

    let mut custom_fields = Vec::new();
    for (name, id) in &form.custom_fields {
        if let Some(content) = multi_line(fields, name, MAX_CUSTOM)? {
            custom_fields.push(CustomValue { id: *id, content });
        }
    }

    let mut tag_ids: Vec<TagId> = Vec::new();
    for tag in &form.tags {
        if !tag_ids.contains(tag) {
            tag_ids.push(*tag);
        }
    }
    let mut chose_a_tag = false;
    for name in fields.all("tags") {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        if name.chars().count() > MAX_TAG_NAME {
            return Err(Invalid::new(ErrorCode::FieldTooLong, "tags"));
        }
        let id = form
            .optional_tags
            .get(name)
            .ok_or_else(|| Invalid::new(ErrorCode::UnknownTag, "tags"))?;
        chose_a_tag = true;
        if !tag_ids.contains(id) {
            tag_ids.push(*id);
        }
    }

    let consented = form
        .consent_field
        .as_deref()
        .map(|field| fields.all(field).any(truthy));

    for name in &form.required {
        let present = match name.as_str() {
            "email" => email.is_some(),
            "first_name" => first_name.is_some(),
            "last_name" => last_name.is_some(),
            "phone" => phone.is_some(),
            "tags" => chose_a_tag,
            "job_title" => job_title.is_some(),
            "website" => website.is_some(),
            n if address::ADDRESS_FIELDS.contains(&n) => given(fields, n).is_some(),
            n if n == form.message_field => message.is_some(),
            n if form.consent_field.as_deref() == Some(n) => consented == Some(true),
            n => form
                .custom_fields
                .get(n)
                .is_some_and(|id| custom_fields.iter().any(|c| c.id == *id)),
        };
        if !present {
            return Err(Invalid::new(ErrorCode::MissingField, name));
        }
    }
    // Keap creates a contact only from an email or a phone number.
    if email.is_none() && phone.is_none() {
        return Err(Invalid::new(ErrorCode::MissingField, "email"));
    }

    let opt_in_reason = match consented {
        Some(false) => None,
        Some(true) | None => form.opt_in_reason.clone(),
    };
    let ip = ip
        .map(str::trim)
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_string);
    let consent = (form.consent_field.is_some() || form.consent_text.is_some()).then(|| Consent {
        field: form.consent_field.clone(),
        given: consented,
        statement: form.consent_text.clone(),
    });
    let note = Note::with_words(
        form.note,
        message,
        subject,
        extra,
        Context::read(fields, referer, origin),
        consent,
    );

    Ok(Lead {
        form_id: form.id.clone(),
        email,
        first_name,
        last_name,
        phone,
        custom_fields,
        tag_ids,
        duplicate_option: form.duplicate_option,
        opt_in_reason,
        ip,
        received_at_ms,
        job_title,
        website,
        address,
        note,
    })
}

/// The address fields, checked; none when none was given.
fn read_address(fields: &Fields) -> Result<Option<Address>, Invalid> {
    let line1 = single_line(fields, "address_line1", address::MAX_LINE)?;
    let line2 = single_line(fields, "address_line2", address::MAX_LINE)?;
    let city = single_line(fields, "city", address::MAX_CITY)?;
    let region = single_line(fields, "region", address::MAX_REGION)?;
    let postal_code = single_line(fields, "postal_code", address::MAX_POSTAL_CODE)?;
    // Read with room for a country's name, so that a name (not a code)
    // is `invalid_value` rather than `field_too_long`.
    let country_code = single_line(fields, "country_code", address::MAX_REGION)?;
    Address::from_parts(line1, line2, city, region, postal_code, country_code).map_err(
        |p| match p {
            AddressProblem::RegionWithoutCountry => {
                Invalid::new(ErrorCode::MissingField, "country_code")
            }
            AddressProblem::BadCountryCode => Invalid::new(ErrorCode::InvalidValue, "country_code"),
        },
    )
}

/// A website as a visitor types it: `example.com` or an http(s) address,
/// with no spaces.
fn website_like(text: &str) -> bool {
    if text.contains(char::is_whitespace) || !text.contains('.') {
        return false;
    }
    match text.split_once("://") {
        Some((scheme, _)) => {
            matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https")
                && url::Url::parse(text).is_ok()
        }
        None => url::Url::parse(&format!("https://{text}")).is_ok(),
    }
}

/// The first value of `name`, trimmed; `None` when absent or blank.
fn given<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields.get(name).map(str::trim).filter(|v| !v.is_empty())
}

/// A one-line field: no control characters at all.
fn single_line(fields: &Fields, name: &str, max: usize) -> Result<Option<String>, Invalid> {
    checked(fields, name, max, false)
}

/// A free-text field (a message, an address): line breaks and tabs are
/// fine, other control characters are not.
fn multi_line(fields: &Fields, name: &str, max: usize) -> Result<Option<String>, Invalid> {
    checked(fields, name, max, true)
}

fn checked(
    fields: &Fields,
    name: &str,
    max: usize,
    lines: bool,
) -> Result<Option<String>, Invalid> {
    let Some(value) = given(fields, name) else {
        return Ok(None);
    };
    match text_problem(value, max, lines) {
        Some(code) => Err(Invalid::new(code, name)),
        None => Ok(Some(value.to_string())),
    }
}

/// What is wrong with a text value, if anything: over `max` characters
/// (`field_too_long`), or holding a control character (with `lines`, one
/// other than a line break or a tab) or U+FFFD, which stands for bytes
/// that were not UTF-8 (`invalid_value`).
pub fn text_problem(value: &str, max: usize, lines: bool) -> Option<ErrorCode> {
    let forbidden = |c: char| c.is_control() && !(lines && matches!(c, '\n' | '\r' | '\t'));
    if value.chars().count() > max {
        Some(ErrorCode::FieldTooLong)
    } else if value.chars().any(|c| forbidden(c) || c == '\u{FFFD}') {
        Some(ErrorCode::InvalidValue)
    } else {
        None
    }
}

/// A textarea's line breaks, which browsers send as CRLF, as plain ones.
pub fn plain_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::body;
    use crate::form::note::NoteWhen;
    use proptest::prelude::*;
    use serde_json::json;

    fn form() -> Form {
        Form::from_json(
            "contact",
            &json!({
                "tags": [101, 102],
                "optional_tags": {"newsletter": 103, "offers": 104},
                "opt_in_reason": "Signed up on example.com",
                "consent_field": "consent",
                "custom_fields": {"company": 7, "message": 8},
            }),
        )
        .unwrap()
    }

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        let mut f = Fields::new();
        for (k, v) in pairs {
            f.push(*k, *v);
        }
        f
    }

    fn check(pairs: &[(&str, &str)]) -> Result<Lead, Invalid> {
        validate(&form(), &fields(pairs), Some("203.0.113.9"), 42)
    }

    fn refused(pairs: &[(&str, &str)]) -> (ErrorCode, String) {
        let e = check(pairs).unwrap_err();
        (e.code, e.field)
    }

    #[test]
    fn keeps_only_what_was_given_trimmed() {
        let lead = check(&[
            ("email", "  jane+news@example.com "),
            ("first_name", " Jane "),
            ("company", "ACME"),
            ("ignored", "x"),
        ])
        .unwrap();
        assert_eq!(lead.email.as_deref(), Some("jane+news@example.com"));
        assert_eq!(lead.first_name.as_deref(), Some("Jane"));
        assert_eq!(lead.last_name, None);
        assert_eq!(lead.phone, None);
        assert_eq!(
            lead.custom_fields,
            vec![CustomValue {
                id: 7,
                content: "ACME".into()
            }]
        );
        assert_eq!(lead.tag_ids, vec![101, 102]);
        assert_eq!(lead.ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(lead.received_at_ms, 42);
        assert_eq!(lead.form_id, "contact");
    }

    #[test]
    fn opt_in_only_on_consent() {
        let yes = check(&[("email", "a@example.com"), ("consent", "on")]).unwrap();
        assert_eq!(
            yes.opt_in_reason.as_deref(),
            Some("Signed up on example.com")
        );
        // A hidden "no" before the checkbox's "yes" is the usual pattern.
        let both = check(&[
            ("email", "a@example.com"),
            ("consent", "0"),
            ("consent", "Yes"),
        ])
        .unwrap();
        assert!(both.opt_in_reason.is_some());
        for no in [
            &[("email", "a@example.com")][..],
            &[("email", "a@example.com"), ("consent", "false")],
        ] {
            assert_eq!(check(no).unwrap().opt_in_reason, None);
        }
        // A form without a consent field opts in whenever it has a reason.
        let mut f = form();
        f.consent_field = None;
        let lead = validate(&f, &fields(&[("email", "a@example.com")]), None, 0).unwrap();
        assert!(lead.opt_in_reason.is_some());
        f.opt_in_reason = None;
        let lead = validate(&f, &fields(&[("email", "a@example.com")]), None, 0).unwrap();
        assert_eq!(lead.opt_in_reason, None);
    }

    #[test]
    fn chosen_tags_from_the_allow_list_only() {
        let lead = check(&[
            ("email", "a@example.com"),
            ("tags", "offers"),
            ("tags", "newsletter"),
            ("tags", "offers"),
            ("tags", " "),
        ])
        .unwrap();
        assert_eq!(lead.tag_ids, vec![101, 102, 104, 103]);
        assert_eq!(
            refused(&[("email", "a@example.com"), ("tags", "vip")]),
            (ErrorCode::UnknownTag, "tags".into())
        );
        let long = "n".repeat(101);
        assert_eq!(
            refused(&[("email", "a@example.com"), ("tags", &long)]),
            (ErrorCode::FieldTooLong, "tags".into())
        );
    }

    #[test]
    fn every_field_error() {
        use ErrorCode::*;
        assert_eq!(refused(&[]), (MissingField, "email".into()));
        assert_eq!(refused(&[("email", "   ")]), (MissingField, "email".into()));
        assert_eq!(
            refused(&[("email", "jane@example")]),
            (InvalidEmail, "email".into())
        );
        let long_email = format!("{}@example.com", "a".repeat(250));
        assert_eq!(
            refused(&[("email", &long_email)]),
            (FieldTooLong, "email".into())
        );
        let long_name = "é".repeat(101);
        assert_eq!(
            refused(&[("email", "a@example.com"), ("last_name", &long_name)]),
            (FieldTooLong, "last_name".into())
        );
        assert!(check(&[("email", "a@example.com"), ("last_name", &"é".repeat(100))]).is_ok());
        assert_eq!(
            refused(&[("email", "a@example.com"), ("first_name", "Ja\nne")]),
            (InvalidValue, "first_name".into())
        );
        assert_eq!(
            refused(&[("email", "a@example.com"), ("first_name", "Ja\u{FFFD}ne")]),
            (InvalidValue, "first_name".into())
        );
        assert_eq!(
            refused(&[("email", "a@example.com"), ("phone", "call me")]),
            (InvalidPhone, "phone".into())
        );
        assert_eq!(
            refused(&[("email", "a@example.com"), ("phone", &"1".repeat(41))]),
            (FieldTooLong, "phone".into())
        );
        assert_eq!(
            refused(&[("email", "a@example.com"), ("message", &"m".repeat(1001))]),
            (FieldTooLong, "message".into())
        );
        assert_eq!(
            refused(&[("email", "a@example.com"), ("message", "bell\u{7}")]),
            (InvalidValue, "message".into())
        );
        let ok = check(&[
            ("email", "a@example.com"),
            ("message", "line 1\r\nline 2\ttab"),
        ])
        .unwrap();
        assert_eq!(ok.custom_fields[0].content, "line 1\r\nline 2\ttab");
    }

    #[test]
    fn a_message_goes_to_the_note_with_its_context() {
        let mut f = form();
        f.custom_fields.remove("message");
        f.consent_text = Some("You may email me.".into());
        let arrival = Arrival {
            ip: None,
            referer: Some("https://example.com/from-header"),
            origin: Some("https://example.com"),
            received_at_ms: 7,
        };
        let lead = validate_arrival(
            &f,
            &fields(&[
                ("email", "a@example.com"),
                ("message", " Hello\r\nthere\t! "),
                ("utm_source", "news"),
                ("consent", "on"),
            ]),
            &arrival,
        )
        .unwrap();
        let note = lead.note.as_ref().unwrap();
        assert_eq!(note.message.as_deref(), Some("Hello\nthere\t!"));
        assert_eq!(
            note.context.page.as_deref(),
            Some("https://example.com/from-header")
        );
        assert_eq!(note.context.origin.as_deref(), Some("https://example.com"));
        let consent = note.consent.as_ref().unwrap();
        assert_eq!(consent.given, Some(true));
        assert_eq!(consent.statement.as_deref(), Some("You may email me."));
        assert!(lead.personal_values().contains(&"Hello\nthere\t!"));
        assert!(lead.custom_fields.is_empty());

        // No message, no note (the default); `always` and `never`.
        let plain = fields(&[("email", "a@example.com"), ("utm_source", "news")]);
        assert!(validate_arrival(&f, &plain, &arrival)
            .unwrap()
            .note
            .is_none());
        f.note = NoteWhen::Always;
        let always = validate_arrival(&f, &plain, &arrival).unwrap();
        assert_eq!(always.note.unwrap().consent.unwrap().given, Some(false));
        f.note = NoteWhen::Never;
        let with_message = fields(&[("email", "a@example.com"), ("message", "Hi")]);
        assert!(validate_arrival(&f, &with_message, &arrival)
            .unwrap()
            .note
            .is_none());

        // Another field name, and the message as a required field.
        f.note = NoteWhen::Message;
        f.message_field = "comments".into();
        f.required = vec!["email".into(), "comments".into()];
        let run = |pairs: &[(&str, &str)]| validate_arrival(&f, &fields(pairs), &arrival);
        assert_eq!(
            run(&[("email", "a@example.com"), ("message", "Hi")])
                .unwrap_err()
                .field,
            "comments"
        );
        let lead = run(&[("email", "a@example.com"), ("comments", "Hi")]).unwrap();
        assert_eq!(lead.note.unwrap().message.as_deref(), Some("Hi"));
    }

    fn bare(pairs: &[(&str, &str)]) -> Result<Lead, Invalid> {
        validate(&Form::bare("contact"), &fields(pairs), None, 0)
    }

    #[test]
    fn a_formspree_form_works_unchanged() {
        let lead = bare(&[
            ("name", "Jane Doe"),
            ("_replyto", "jane@example.com"),
            ("message", "Hello"),
            ("_subject", "Pricing"),
            ("_gotcha", ""),
            ("_cc", "boss@example.com"),
        ])
        .unwrap();
        assert_eq!(lead.email.as_deref(), Some("jane@example.com"));
        assert_eq!(
            (lead.first_name.as_deref(), lead.last_name.as_deref()),
            (Some("Jane"), Some("Doe"))
        );
        let note = lead.note.as_ref().unwrap();
        assert_eq!(note.message.as_deref(), Some("Hello"));
        assert_eq!(note.subject.as_deref(), Some("Pricing"));
        assert!(note.fields.is_empty(), "{:?}", note.fields);
        for v in ["Pricing", "Jane", "Doe"] {
            assert!(lead.personal_values().contains(&v), "{v}");
        }
    }

    #[test]
    fn a_netlify_and_a_contact_form_7_form() {
        let lead = bare(&[
            ("form-name", "contact"),
            ("bot-field", ""),
            ("Name", "Ada"),
            ("Email", "ada@example.com"),
            ("Message", "Hi"),
            ("company", "ACME"),
            ("budget", "5k"),
            ("services", "design"),
            ("services", "hosting"),
        ])
        .unwrap();
        assert_eq!(lead.first_name.as_deref(), Some("Ada"));
        assert_eq!(lead.last_name, None);
        let note = lead.note.unwrap();
        assert_eq!(note.message.as_deref(), Some("Hi"));
        assert_eq!(
            note.fields.lines(),
            vec!["company: ACME", "budget: 5k", "services: design, hosting"]
        );
        // Contact Form 7: no message, but an unmapped field makes a note.
        let lead = bare(&[
            ("_wpcf7", "12"),
            ("_wpcf7_unit_tag", "wpcf7-f12-p3-o1"),
            ("your-name", "Grace Brewster Hopper"),
            ("your-email", "grace@example.com"),
            ("your-subject", "Navy"),
            ("menu-123", "Option B"),
        ])
        .unwrap();
        assert_eq!(
            (lead.first_name.as_deref(), lead.last_name.as_deref()),
            (Some("Grace"), Some("Brewster Hopper"))
        );
        let note = lead.note.unwrap();
        assert_eq!(
            (note.message, note.subject.as_deref()),
            (None, Some("Navy"))
        );
        assert_eq!(note.fields.lines(), vec!["menu-123: Option B"]);
    }

    #[test]
    fn errors_name_the_field_as_posted() {
        use ErrorCode::*;
        let e = |pairs: &[(&str, &str)]| bare(pairs).map(|_| ()).unwrap_err();
        assert_eq!(
            e(&[("_replyto", "nope")]),
            Invalid::new(InvalidEmail, "_replyto")
        );
        assert_eq!(
            e(&[("email", "a@example.com"), ("Tel", "call me")]),
            Invalid::new(InvalidPhone, "Tel")
        );
        let long = format!("{} Doe", "J".repeat(MAX_NAME + 1));
        assert_eq!(
            e(&[("email", "a@example.com"), ("your-name", &long)]),
            Invalid::new(FieldTooLong, "your-name")
        );
        assert_eq!(
            e(&[("email", "a@example.com"), ("name", "Jane\nDoe")]),
            Invalid::new(InvalidValue, "name")
        );
        assert_eq!(
            e(&[("email", "a@example.com"), ("your-message", "bell\u{7}")]),
            Invalid::new(InvalidValue, "your-message")
        );
        // The subject: one line, at most 200 characters.
        assert_eq!(
            e(&[("email", "a@example.com"), ("subject", &"s".repeat(201))]),
            Invalid::new(FieldTooLong, "subject")
        );
        assert_eq!(
            e(&[("email", "a@example.com"), ("_subject", "a\nb")]),
            Invalid::new(InvalidValue, "_subject")
        );
        assert!(bare(&[("email", "a@example.com"), ("_subject", &"é".repeat(200))]).is_ok());
        // Unmapped fields.
        assert_eq!(
            e(&[("email", "a@example.com"), ("budget", &"9".repeat(1001))]),
            Invalid::new(FieldTooLong, "budget")
        );
        let names: Vec<String> = (0..51).map(|i| format!("f{i}")).collect();
        let mut many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
        many.push(("email", "a@example.com"));
        assert_eq!(e(&many), Invalid::new(TooManyFields, "f50"));
        // Required `email` is met by an alias; missing, it is named `email`.
        assert_eq!(e(&[("name", "Jane")]), Invalid::new(MissingField, "email"));
    }

    #[test]
    fn first_and_last_names_win_and_never_ignores_unmapped_fields() {
        let lead = bare(&[
            ("name", "Someone Else"),
            ("first_name", "Ada"),
            ("last_name", "Lovelace"),
            ("email", "a@example.com"),
        ])
        .unwrap();
        assert_eq!(
            (lead.first_name.as_deref(), lead.last_name.as_deref()),
            (Some("Ada"), Some("Lovelace"))
        );
        assert_eq!(
            lead.note.unwrap().fields.lines(),
            vec!["name: Someone Else"]
        );

        let mut f = Form::bare("quiet");
        f.note = NoteWhen::Never;
        let names: Vec<String> = (0..60).map(|i| format!("f{i}")).collect();
        let mut many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
        many.push(("email", "a@example.com"));
        let lead = validate(&f, &fields(&many), None, 0).unwrap();
        assert!(lead.note.is_none());
        // Context and the form's own fields alone make no note.
        let plain = bare(&[
            ("email", "a@example.com"),
            ("_page", "https://example.com/"),
            ("utm_source", "x"),
            ("submit", "Send"),
            ("g-recaptcha-response", "token"),
        ])
        .unwrap();
        assert!(plain.note.is_none());
    }

    #[test]
    fn a_message_is_checked_but_context_never_refuses() {
        let mut f = form();
        f.custom_fields.remove("message");
        let run = |pairs: &[(&str, &str)]| {
            validate(&f, &fields(pairs), None, 0).map_err(|e| (e.code, e.field))
        };
        let long = "m".repeat(note::MAX_MESSAGE + 1);
        assert_eq!(
            run(&[("email", "a@example.com"), ("message", &long)]).unwrap_err(),
            (ErrorCode::FieldTooLong, "message".into())
        );
        let longest = "é".repeat(note::MAX_MESSAGE);
        assert!(run(&[("email", "a@example.com"), ("message", &longest)]).is_ok());
        for bad in ["bell\u{7}", "nul\u{0}", "esc\u{1b}[0m", "bad\u{FFFD}"] {
            assert_eq!(
                run(&[("email", "a@example.com"), ("message", bad)]).unwrap_err(),
                (ErrorCode::InvalidValue, "message".into()),
                "{bad:?}"
            );
        }
        let lead = run(&[
            ("email", "a@example.com"),
            ("message", "Hi"),
            ("_page", &"p".repeat(5000)),
            ("utm_source", "a\u{0}b"),
            ("utm_medium", "email"),
        ])
        .unwrap();
        let context = &lead.note.unwrap().context;
        assert_eq!(context.page, None);
        assert_eq!(
            context.campaign,
            vec![("utm_medium".to_string(), "email".to_string())]
        );
    }

    #[test]
    fn job_title_website_and_address() {
        let lead = check(&[
            ("email", "a@example.com"),
            ("job_title", " Buyer "),
            ("website", "example.org/shop"),
            ("address_line1", "1 Main St"),
            ("city", "Springfield"),
            ("region", "IL"),
            ("postal_code", "62701"),
            ("country_code", "usa"),
        ])
        .unwrap();
        assert_eq!(lead.job_title.as_deref(), Some("Buyer"));
        assert_eq!(lead.website.as_deref(), Some("example.org/shop"));
        let a = lead.address.as_ref().unwrap();
        assert_eq!(
            (
                a.line1.as_deref(),
                a.line2.as_deref(),
                a.locality.as_deref(),
                a.country_code.as_deref()
            ),
            (Some("1 Main St"), None, Some("Springfield"), Some("USA"))
        );
        assert!(lead.personal_values().contains(&"1 Main St"));
        assert!(check(&[("email", "a@example.com")])
            .unwrap()
            .address
            .is_none());
        assert!(check(&[
            ("email", "a@example.com"),
            ("website", "https://example.org/")
        ])
        .is_ok());

        use ErrorCode::*;
        let with =
            |k: &'static str, v: &'static str| refused(&[("email", "a@example.com"), (k, v)]);
        assert_eq!(with("region", "IL"), (MissingField, "country_code".into()));
        assert_eq!(
            with("country_code", "US"),
            (InvalidValue, "country_code".into())
        );
        assert_eq!(
            with("country_code", "United States"),
            (InvalidValue, "country_code".into())
        );
        assert_eq!(
            with("website", "not a site"),
            (InvalidValue, "website".into())
        );
        assert_eq!(
            with("website", "ftp://x.example"),
            (InvalidValue, "website".into())
        );
        assert_eq!(with("city", "Spring\nfield"), (InvalidValue, "city".into()));
        let long = "j".repeat(MAX_JOB_TITLE + 1);
        assert_eq!(
            refused(&[("email", "a@example.com"), ("job_title", &long)]),
            (FieldTooLong, "job_title".into())
        );
        let long = "9".repeat(address::MAX_POSTAL_CODE + 1);
        assert_eq!(
            refused(&[("email", "a@example.com"), ("postal_code", &long)]),
            (FieldTooLong, "postal_code".into())
        );
    }

    #[test]
    fn an_outbox_lead_from_before_notes_reads_without_them() {
        let mut old = serde_json::to_value(check(&[("email", "a@example.com")]).unwrap()).unwrap();
        for key in ["job_title", "website", "address", "note"] {
            assert!(old.get(key).is_none(), "{key} is written only when set");
        }
        old.as_object_mut().unwrap().remove("ip");
        let lead: Lead = serde_json::from_value(old).unwrap();
        assert!(lead.note.is_none() && lead.address.is_none());
    }

    #[test]
    fn required_fields_include_consent_custom_fields_and_tags() {
        let mut f = form();
        f.required = vec![
            "email".into(),
            "consent".into(),
            "company".into(),
            "tags".into(),
        ];
        let run =
            |pairs: &[(&str, &str)]| validate(&f, &fields(pairs), None, 0).map_err(|e| e.field);
        assert_eq!(run(&[("email", "a@example.com")]).unwrap_err(), "consent");
        assert_eq!(
            run(&[("email", "a@example.com"), ("consent", "no")]).unwrap_err(),
            "consent"
        );
        assert_eq!(
            run(&[("email", "a@example.com"), ("consent", "yes")]).unwrap_err(),
            "company"
        );
        assert_eq!(
            run(&[
                ("email", "a@example.com"),
                ("consent", "yes"),
                ("company", "X")
            ])
            .unwrap_err(),
            "tags"
        );
        assert!(run(&[
            ("email", "a@example.com"),
            ("consent", "yes"),
            ("company", "X"),
            ("tags", "offers")
        ])
        .is_ok());
        // Phone alone is enough for Keap when the form does not ask for email.
        f.required = vec!["phone".into()];
        let lead = validate(&f, &fields(&[("phone", "+1 555 0100")]), None, 0).unwrap();
        assert_eq!(lead.email, None);
    }

    #[test]
    fn bad_ips_are_dropped_and_debug_hides_the_person() {
        let lead = validate(
            &form(),
            &fields(&[("email", "secret@example.com"), ("first_name", "Zelda")]),
            Some("not-an-ip"),
            0,
        )
        .unwrap();
        assert_eq!(lead.ip, None);
        let shown = format!("{lead:?}");
        assert!(
            !shown.contains("secret") && !shown.contains("Zelda"),
            "{shown}"
        );
    }

    #[test]
    fn round_trips_through_json() {
        let lead = check(&[
            ("email", "a@example.com"),
            ("consent", "on"),
            ("company", "ACME"),
        ])
        .unwrap();
        let text = serde_json::to_string(&lead).unwrap();
        assert_eq!(crate::fixtures::reread::<Lead>(&text), lead);
    }

    #[test]
    fn a_record_that_is_not_a_lead_is_refused() {
        let read = |v: serde_json::Value| serde_json::from_value::<Lead>(v).ok();
        let good = serde_json::to_value(check(&[("email", "a@example.com")]).unwrap()).unwrap();
        let without = |key: &str| {
            let mut v = good.clone();
            v.as_object_mut().unwrap().remove(key);
            v
        };
        // Optional values may be left out; the rest may not.
        assert!(read(without("phone")).is_some());
        assert!(read(without("form_id")).is_none());
        assert!(read(without("tag_ids")).is_none());
        assert!(read(without("received_at_ms")).is_none());
        let mut wrong = good.clone();
        wrong["duplicate_option"] = json!("Name");
        assert!(read(wrong).is_none());
        let mut wrong = good;
        wrong["email"] = json!(5);
        assert!(read(wrong).is_none());
        assert!(read(json!("a lead")).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_field_values_never_panic(
            pairs in proptest::collection::vec(
                (prop_oneof![
                    Just("email".to_string()), Just("first_name".to_string()),
                    Just("last_name".to_string()), Just("phone".to_string()),
                    Just("tags".to_string()), Just("consent".to_string()),
                    Just("company".to_string()), Just("message".to_string()), ".{0,8}",
                    Just("city".to_string()), Just("region".to_string()),
                    Just("country_code".to_string()), Just("website".to_string()),
                    Just("job_title".to_string()), Just("_page".to_string()),
                    Just("utm_source".to_string()),
                ], any::<String>()),
                0..8,
            ),
            ip in proptest::option::of(any::<String>()),
        ) {
            let mut f = Fields::new();
            for (k, v) in pairs {
                f.push(k, v);
            }
            if let Ok(lead) = validate(&form(), &f, ip.as_deref(), 0) {
                // Whatever passes is within the limits.
                prop_assert!(lead.email.as_deref().is_none_or(|e| email::validate(e).is_ok()));
                prop_assert!(lead.first_name.as_deref().is_none_or(|n| n.chars().count() <= MAX_NAME));
                if let Some(a) = &lead.address {
                    prop_assert!(a.region.is_none() || a.country_code.as_ref().is_some_and(|c| c.len() == 3));
                }
            }
        }

        #[test]
        fn parse_then_validate_never_panics(
            body in proptest::collection::vec(any::<u8>(), 0..400),
            ct in prop_oneof![
                Just("application/x-www-form-urlencoded"),
                Just("application/json"),
                Just("multipart/form-data; boundary=b"),
            ],
        ) {
            if let Ok(f) = body::parse(Some(ct), &body) {
                let _ = validate(&form(), &f, Some("::1"), 0);
            }
        }

        #[test]
        fn urlencoded_text_then_validate_never_panics(
            pairs in proptest::collection::vec(("(email|first_name|tags|consent|phone|company)", ".{0,60}"), 0..6),
        ) {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter())
                .finish();
            let f = body::parse(Some("application/x-www-form-urlencoded"), body.as_bytes()).unwrap();
            let _ = validate(&form(), &f, None, 0);
        }
    }
}
