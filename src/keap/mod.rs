//! Keap REST v1 for a lead: building its calls (upsert, tags, note) and
//! reading their answers (docs/CONTRACT.md 4, and Keap's OpenAPI document in tests/).
//!
//! Pure functions: no I/O here, so every request body and every way Keap
//! can answer is tested natively. Each answer is classified as done, worth
//! retrying later, or a permanent rejection of this lead.

pub mod answers;
pub mod catalog;
pub mod credentials;
pub mod delivery;
pub mod note;

use serde::Serialize;
use serde_json::Value;

use crate::form::address::Address;
use crate::form::forms::{CustomFieldId, TagId};
use crate::form::lead::{CustomValue, Lead};
use crate::form::note::Note;
use crate::http::{FetchError, InResponse, Method, OutRequest};

/// A Keap contact id.
pub type ContactId = u64;

/// Keap applies at most this many tags per call.
pub const MAX_TAGS_PER_CALL: usize = 100;

/// Longest Keap message kept in a reason.
const MAX_REASON_CHARS: usize = 200;

/// `PUT {api}/v1/contacts`.
pub fn contacts_url(api_url: &str) -> String {
    [api_url.trim_end_matches('/'), "/v1/contacts"].concat()
}

/// `POST {api}/v1/contacts/{id}/tags`.
pub fn tags_url(api_url: &str, contact_id: ContactId) -> String {
    use std::fmt::Write;
    let api = api_url.trim_end_matches('/');
    // Room for the longest id, so the text is allocated once.
    let mut url = String::with_capacity(api.len() + 38);
    url.push_str(api);
    let _ = write!(url, "/v1/contacts/{contact_id}/tags");
    url
}

/// The upsert body: only what the visitor gave, so a returning contact's
/// other data is left as it is. `opt_in_reason` only when the lead has
/// one (the visitor consented). Written straight from the lead (no
/// intermediate JSON tree): it is built on every submission.
#[derive(Serialize)]
struct UpsertBody<'a> {
    duplicate_option: &'static str,
    source_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_addresses: Option<[EmailAddress<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    given_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    family_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_numbers: Option<[PhoneNumber<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    website: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    addresses: Option<[PostalAddress<'a>; 1]>,
    #[serde(skip_serializing_if = "CustomFields::is_empty")]
    custom_fields: CustomFields<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<RequestOrigin<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    opt_in_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct EmailAddress<'a> {
    email: &'a str,
    field: &'static str,
}

#[derive(Serialize)]
struct PhoneNumber<'a> {
    number: &'a str,
    field: &'static str,
}

/// The `BILLING` slot, whole: Keap replaces a sent slot entirely.
#[derive(Serialize)]
struct PostalAddress<'a> {
    field: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    line1: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line2: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    locality: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country_code: Option<&'a str>,
}

impl<'a> PostalAddress<'a> {
    fn billing(a: &'a Address) -> PostalAddress<'a> {
        PostalAddress {
            field: "BILLING",
            line1: a.line1.as_deref(),
            line2: a.line2.as_deref(),
            locality: a.locality.as_deref(),
            region: a.region.as_deref(),
            postal_code: a.postal_code.as_deref(),
            country_code: a.country_code.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct RequestOrigin<'a> {
    ip_address: &'a str,
}

/// `[{"id": 7, "content": "..."}]`, written from the lead's values.
struct CustomFields<'a>(&'a [CustomValue]);

impl CustomFields<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for CustomFields<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Entry<'a> {
            id: CustomFieldId,
            content: &'a str,
        }
        serializer.collect_seq(self.0.iter().map(|c| Entry {
            id: c.id,
            content: &c.content,
        }))
    }
}

fn upsert_body(lead: &Lead) -> UpsertBody<'_> {
    UpsertBody {
        duplicate_option: lead.duplicate_option.as_str(),
        source_type: "WEBFORM",
        email_addresses: lead.email.as_deref().map(|email| {
            [EmailAddress {
                email,
                field: "EMAIL1",
            }]
        }),
        given_name: lead.first_name.as_deref(),
        family_name: lead.last_name.as_deref(),
        phone_numbers: lead.phone.as_deref().map(|number| {
            [PhoneNumber {
                number,
                field: "PHONE1",
            }]
        }),
        job_title: lead.job_title.as_deref(),
        website: lead.website.as_deref(),
        addresses: lead.address.as_ref().map(|a| [PostalAddress::billing(a)]),
        custom_fields: CustomFields(&lead.custom_fields),
        origin: lead
            .ip
            .as_deref()
            .map(|ip_address| RequestOrigin { ip_address }),
        opt_in_reason: lead.opt_in_reason.as_deref(),
    }
}

/// The upsert call, without credentials.
pub fn upsert_request(api_url: &str, lead: &Lead) -> OutRequest {
    OutRequest::new(Method::Put, contacts_url(api_url))
        .header("Accept", "application/json")
        .json(&upsert_body(lead))
}

/// `{"tagIds":[...]}`.
#[derive(Serialize)]
struct TagsBody<'a> {
    #[serde(rename = "tagIds")]
    tag_ids: &'a [TagId],
}

fn tags_body(tag_ids: &[TagId]) -> TagsBody<'_> {
    TagsBody { tag_ids }
}

/// The tag calls for a contact, at most [`MAX_TAGS_PER_CALL`] ids each;
/// none when there are no tags.
pub fn tag_requests(
    api_url: &str,
    contact_id: ContactId,
    tag_ids: &[TagId],
) -> Vec<(OutRequest, Vec<TagId>)> {
    tag_ids
        .chunks(MAX_TAGS_PER_CALL)
        .map(|chunk| {
            let request = OutRequest::new(Method::Post, tags_url(api_url, contact_id))
                .header("Accept", "application/json")
                .json(&tags_body(chunk));
            (request, chunk.to_vec())
        })
        .collect()
}

/// How many Keap calls delivering `tag_ids` takes.
pub fn tag_calls(tag_ids: &[TagId]) -> usize {
    tag_ids.len().div_ceil(MAX_TAGS_PER_CALL)
}

/// `POST {api}/v1/notes`.
pub fn notes_url(api_url: &str) -> String {
    [api_url.trim_end_matches('/'), "/v1/notes"].concat()
}

/// `{"contact_id","title","body","type":"Other"}`.
#[derive(Serialize)]
struct NoteBody {
    contact_id: ContactId,
    title: String,
    body: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// The note call for a lead's note on `contact_id`, without credentials.
pub fn note_request(api_url: &str, contact_id: ContactId, lead: &Lead, note: &Note) -> OutRequest {
    OutRequest::new(Method::Post, notes_url(api_url))
        .header("Accept", "application/json")
        .json(&NoteBody {
            contact_id,
            title: note::heading(note, &lead.form_id),
            body: note::body(note, &lead.form_id, lead.received_at_ms),
            kind: "Other",
        })
}

/// Reads the note call's answer: any 2xx is a written note (its body is
/// not needed). A refusal names the note, so the owner knows which call.
pub fn read_note(answer: &Result<InResponse, FetchError>, lead: &Lead) -> Result<(), Failure> {
    classify(answer, lead).map(|_| ()).map_err(|f| match f {
        Failure::Retry {
            reason,
            token_rejected,
        } => Failure::Retry {
            reason: format!("note: {reason}"),
            token_rejected,
        },
        Failure::Permanent { reason } => Failure::Permanent {
            reason: format!("note: {reason}"),
        },
        Failure::ContactGone => Failure::ContactGone,
    })
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upserted {
    pub contact_id: ContactId,
    pub created: bool,
}

/// Why a Keap call did not do its job, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Not now (outage, throttling, bad token, unreadable answer): the
    /// same call may succeed later.
    Retry {
        reason: String,
        token_rejected: bool,
    },
    /// The tags' contact does not exist (merged or deleted since the
    /// upsert): upsert again, then tag.
    ContactGone,
    /// Keap refuses this lead as it is; retrying will not help until the
    /// owner changes something (a tag id, the form, Keap's settings).
    Permanent { reason: String },
}

/// Reads the upsert's answer.
pub fn read_upsert(
    answer: &Result<InResponse, FetchError>,
    lead: &Lead,
) -> Result<Upserted, Failure> {
    let response = classify(answer, lead)?;
    match answers::contact_id(&response.body) {
        Some(contact_id) => Ok(Upserted {
            contact_id,
            created: response.status == 201,
        }),
        None => Err(retry(format!(
            "Keap answered {} without a contact id",
            response.status
        ))),
    }
}

/// Keap's per-tag results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagResult {
    Success,
    Duplicate,
    TagIdNotFound,
    ContactNotFound,
    Failure,
    NoPermission,
}

impl TagResult {
    /// Keap's word for a result, in any case.
    fn parse(s: &str) -> Option<TagResult> {
        const WORDS: [(&str, TagResult); 6] = [
            ("SUCCESS", TagResult::Success),
            ("DUPLICATE", TagResult::Duplicate),
            ("TAG_ID_NOT_FOUND", TagResult::TagIdNotFound),
            ("CONTACT_NOT_FOUND", TagResult::ContactNotFound),
            ("FAILURE", TagResult::Failure),
            ("NO_PERMISSION", TagResult::NoPermission),
        ];
        let s = s.trim();
        WORDS
            .iter()
            .find(|(word, _)| word.eq_ignore_ascii_case(s))
            .map(|(_, result)| *result)
    }
}

/// Reads a tag call's answer, checking the result of every tag sent.
///
/// `SUCCESS` and `DUPLICATE` are fine. `TAG_ID_NOT_FOUND` and
/// `NO_PERMISSION` are permanent: the form names a tag this Keap app does
/// not have or let us use, and only the owner can fix that. A
/// `CONTACT_NOT_FOUND` asks for a new upsert. `FAILURE` is Keap's generic
/// "did not work", with nothing saying the lead is at fault: it is retried
/// with the outbox's back-off (the entry stays pending and counted, with
/// its reason). Re-sending tags is harmless (Keap answers `DUPLICATE`), so
/// an answer that does not cover every tag is retried too.
pub fn read_tags(
    answer: &Result<InResponse, FetchError>,
    sent: &[TagId],
    lead: &Lead,
) -> Result<(), Failure> {
    let response = classify(answer, lead)?;
    let results = answers::tag_entries(&response.body, TagResult::parse, listed_tag);
    let Some(results) = results.filter(|r| !r.is_empty()) else {
        return Err(retry(format!(
            "Keap's tags answer ({}) could not be read",
            response.status
        )));
    };
    let result_for = |tag: TagId| -> Option<TagResult> {
        match results.iter().find(|(id, _)| *id == Some(tag)) {
            Some((_, r)) => Some(*r),
            // Entries without ids (the spec's list of bare results) count
            // only when there is one per tag sent.
            None if results.iter().all(|(id, _)| id.is_none()) && results.len() == sent.len() => {
                let at = sent.iter().position(|t| *t == tag)?;
                results.get(at).map(|(_, r)| *r)
            }
            None => None,
        }
    };
    let mut retry_reason = None;
    for tag in sent {
        match result_for(*tag) {
            Some(TagResult::Success | TagResult::Duplicate) => {}
            Some(TagResult::TagIdNotFound) => {
                return Err(Failure::Permanent {
                    reason: format!("Keap has no tag with id {tag} (TAG_ID_NOT_FOUND)"),
                })
            }
            Some(TagResult::NoPermission) => {
                return Err(Failure::Permanent {
                    reason: format!("Keap does not allow applying tag {tag} (NO_PERMISSION)"),
                })
            }
            Some(TagResult::ContactNotFound) => return Err(Failure::ContactGone),
            Some(TagResult::Failure) => {
                retry_reason = Some(format!("Keap could not apply tag {tag} (FAILURE)"))
            }
            None => retry_reason = Some(format!("Keap's tags answer has no result for tag {tag}")),
        }
    }
    match retry_reason {
        Some(reason) => Err(retry(reason)),
        None => Ok(()),
    }
}

/// `(tag id if known, result)` from an entry of a list of results
/// (`{"key":"SUCCESS"}`, `{"key":101,"value":"SUCCESS"}`, ...).
fn listed_tag(fields: &serde_json::Map<String, Value>) -> Option<(Option<TagId>, TagResult)> {
    let result = fields
        .values()
        .find_map(|v| v.as_str().and_then(TagResult::parse))?;
    Some((fields.values().find_map(answers::id_of), result))
}

fn retry(reason: String) -> Failure {
    Failure::Retry {
        reason,
        token_rejected: false,
    }
}

/// A 2xx response, or how a failed call is to be taken.
fn classify<'a>(
    answer: &'a Result<InResponse, FetchError>,
    lead: &Lead,
) -> Result<&'a InResponse, Failure> {
    let response = match answer {
        Ok(r) => r,
        Err(FetchError::Timeout) => return Err(retry("Keap did not answer in time".into())),
        Err(FetchError::Network(_)) => return Err(retry("Keap could not be reached".into())),
    };
    let status = response.status;
    if (200..=299).contains(&status) {
        return Ok(response);
    }
    // Only a refusal's body is read for Keap's message.
    let said = keap_message(response, lead);
    Err(match status {
        401 => Failure::Retry {
            reason: format!("Keap rejected the credentials (401){said}"),
            token_rejected: true,
        },
        403 => retry(format!(
            "Keap refused access (403); check the key's or app's permissions{said}"
        )),
        408 | 425 => retry(format!("Keap timed out ({status})")),
        429 => retry(format!("Keap throttled the request (429){said}")),
        500..=599 => retry(format!("Keap had an error ({status})")),
        400..=499 => Failure::Permanent {
            reason: format!("Keap refused the lead ({status}){said}"),
        },
        _ => retry(format!("Keap answered with an unexpected status {status}")),
    })
}

/// `: <Keap's message>` from an error body, with anything of the
/// visitor's removed, or nothing.
fn keap_message(response: &InResponse, lead: &Lead) -> String {
    let Some(body) = response.json_body() else {
        return String::new();
    };
    let message = body
        .get("message")
        .or_else(|| body.pointer("/fault/faultstring"))
        .or_else(|| body.get("error_description"))
        .or_else(|| body.get("error"))
        .and_then(Value::as_str);
    match message {
        Some(m) if !m.trim().is_empty() => format!(": {}", scrub(m, lead)),
        _ => String::new(),
    }
}

/// Removes the visitor's values and anything that looks like an address
/// or a phone number from a message, and caps its length.
pub fn scrub(message: &str, lead: &Lead) -> String {
    let mut text: String = message.chars().filter(|c| !c.is_control()).collect();
    // The text has lost its line breaks and tabs, so a value holding some
    // (a message, an unmapped field) would never match whole: each of its
    // lines is redacted instead.
    for value in lead.personal_values() {
        for line in value.split(char::is_control).map(str::trim) {
            if line.chars().count() >= 2 {
                text = text.replace(line, "[redacted]");
            }
        }
    }
    let words: Vec<&str> = text
        .split(' ')
        .map(|w| {
            let digits = w.chars().filter(char::is_ascii_digit).count();
            if w.contains('@') || digits >= 6 {
                "[redacted]"
            } else {
                w
            }
        })
        .collect();
    words.join(" ").chars().take(MAX_REASON_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::forms::DuplicateOption;
    use serde_json::json;

    /// The body a request carries, as JSON: what Keap receives.
    fn sent_json(request: &OutRequest) -> Value {
        serde_json::from_slice(request.body.as_deref().unwrap_or_default()).unwrap_or_default()
    }

    fn upsert_json(lead: &Lead) -> Value {
        sent_json(&upsert_request("https://k.test", lead))
    }

    fn tags_json(tag_ids: &[TagId]) -> Value {
        sent_json(&tag_requests("https://k.test", 1, tag_ids)[0].0)
    }

    fn lead() -> Lead {
        Lead {
            form_id: "contact".into(),
            email: Some("jane+news@example.com".into()),
            first_name: Some("Jane".into()),
            last_name: None,
            phone: Some("+1 555 0100".into()),
            custom_fields: vec![CustomValue {
                id: 7,
                content: "ACME".into(),
            }],
            tag_ids: vec![101, 103],
            duplicate_option: DuplicateOption::EmailAndName,
            opt_in_reason: Some("Signed up on example.com".into()),
            ip: Some("203.0.113.9".into()),
            received_at_ms: 0,
            job_title: None,
            website: None,
            address: None,
            note: None,
        }
    }

    fn answer(status: u16, body: &str) -> Result<InResponse, FetchError> {
        Ok(InResponse::new(status, body.as_bytes().to_vec()))
    }

    #[test]
    fn upsert_body_has_what_was_given() {
        assert_eq!(
            upsert_json(&lead()),
            json!({
                "duplicate_option": "EmailAndName",
                "source_type": "WEBFORM",
                "email_addresses": [{"email": "jane+news@example.com", "field": "EMAIL1"}],
                "given_name": "Jane",
                "phone_numbers": [{"number": "+1 555 0100", "field": "PHONE1"}],
                "custom_fields": [{"id": 7, "content": "ACME"}],
                "origin": {"ip_address": "203.0.113.9"},
                "opt_in_reason": "Signed up on example.com",
            })
        );
    }

    #[test]
    fn upsert_body_never_blanks_what_was_not_given() {
        let bare = Lead {
            first_name: None,
            phone: None,
            custom_fields: vec![],
            opt_in_reason: None,
            ip: None,
            duplicate_option: DuplicateOption::Email,
            ..lead()
        };
        assert_eq!(
            upsert_json(&bare),
            json!({
                "duplicate_option": "Email",
                "source_type": "WEBFORM",
                "email_addresses": [{"email": "jane+news@example.com", "field": "EMAIL1"}],
            })
        );
    }

    #[test]
    fn requests_go_where_the_design_says() {
        let r = upsert_request("http://127.0.0.1:9/crm/rest/", &lead());
        assert_eq!(
            (r.method, r.url.as_str()),
            (Method::Put, "http://127.0.0.1:9/crm/rest/v1/contacts")
        );
        assert_eq!(r.headers.get("Content-Type"), Some("application/json"));
        let calls = tag_requests("https://api.example/crm/rest", 42, &[1, 2]);
        assert_eq!(calls.len(), 1);
        let (r, ids) = &calls[0];
        assert_eq!(r.url, "https://api.example/crm/rest/v1/contacts/42/tags");
        assert_eq!(r.body.as_deref(), Some(br#"{"tagIds":[1,2]}"#.as_slice()));
        assert_eq!(ids, &vec![1, 2]);
        assert!(tag_requests("x", 1, &[]).is_empty());
        let many: Vec<u64> = (1..=250).collect();
        let sizes: Vec<usize> = tag_requests("x", 1, &many)
            .iter()
            .map(|(_, ids)| ids.len())
            .collect();
        assert_eq!(sizes, vec![100, 100, 50]);
        assert_eq!(tag_calls(&many), 3);
        assert_eq!(tag_calls(&[]), 0);
    }

    #[test]
    fn reads_created_and_updated() {
        let l = lead();
        assert_eq!(
            read_upsert(&answer(201, r#"{"id":42,"given_name":"Jane"}"#), &l),
            Ok(Upserted {
                contact_id: 42,
                created: true
            })
        );
        assert_eq!(
            read_upsert(&answer(200, r#"{"id":"42"}"#), &l),
            Ok(Upserted {
                contact_id: 42,
                created: false
            })
        );
        // The rest of a contact is skipped, however it nests.
        let full = r#"{"email_addresses":[{"email":"j@x.co","field":"EMAIL1"}],"custom_fields":[],"id":7,"tag_ids":[1,2],"origin":{"ip_address":"::1"}}"#;
        assert_eq!(
            read_upsert(&answer(200, full), &l).map(|u| u.contact_id),
            Ok(7)
        );
        for bad in [
            "",
            "{}",
            r#"{"id":0}"#,
            "<html>",
            r#"{"id":-3}"#,
            r#"{"id":null}"#,
            r#"{"id":1.5}"#,
            r#"{"id":"x"}"#,
            r#"[{"id":4}]"#,
            r#"{"id":4} and more"#,
            r#"{"id":[4]}"#,
        ] {
            assert!(
                matches!(
                    read_upsert(&answer(200, bad), &l),
                    Err(Failure::Retry {
                        token_rejected: false,
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn classifies_failures() {
        let l = lead();
        let fault = r#"{"fault":{"faultstring":"Invalid Access Token","detail":{"errorcode":"keymanagement.service.invalid_access_token"}}}"#;
        match read_upsert(&answer(401, fault), &l) {
            Err(Failure::Retry {
                token_rejected: true,
                reason,
            }) => assert!(reason.contains("Invalid Access Token")),
            other => panic!("{other:?}"),
        }
        for status in [403, 408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(
                    read_upsert(&answer(status, "{}"), &l),
                    Err(Failure::Retry {
                        token_rejected: false,
                        ..
                    })
                ),
                "{status}"
            );
        }
        for err in [FetchError::Timeout, FetchError::Network("reset".into())] {
            assert!(matches!(
                read_upsert(&Err(err), &l),
                Err(Failure::Retry { .. })
            ));
        }
        for status in [400, 404, 409, 422] {
            assert!(
                matches!(
                    read_upsert(&answer(status, "{}"), &l),
                    Err(Failure::Permanent { .. })
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn permanent_reasons_carry_keaps_message_without_personal_data() {
        let l = lead();
        let body = r#"{"message":"Email jane+news@example.com is invalid for Jane, call +1 555 0100 or 5550100999"}"#;
        let Err(Failure::Permanent { reason }) = read_upsert(&answer(400, body), &l) else {
            panic!("not permanent");
        };
        assert!(
            reason.contains("400") && reason.contains("is invalid"),
            "{reason}"
        );
        for personal in ["jane", "Jane", "555", "example.com"] {
            assert!(!reason.contains(personal), "{reason}");
        }
    }

    #[test]
    fn a_value_of_several_lines_is_redacted_line_by_line() {
        let mut l = lead();
        l.note = Some(crate::form::note::Note {
            message: Some("Call me about\r\n\tthe spring order".into()),
            context: Default::default(),
            consent: None,
            subject: None,
            fields: Default::default(),
        });
        for echoed in [
            "Call me about\r\n\tthe spring order",
            "Call me aboutthe spring order",
        ] {
            let body = serde_json::json!({ "message": format!("Note '{echoed}' is too long") });
            let Err(Failure::Permanent { reason }) =
                read_upsert(&answer(400, &body.to_string()), &l)
            else {
                panic!("not permanent");
            };
            assert!(reason.contains("is too long"), "{reason}");
            assert!(
                !reason.contains("Call me") && !reason.contains("spring"),
                "{reason}"
            );
        }
    }

    #[test]
    fn reads_tag_results_leniently() {
        let l = lead();
        let sent = [101, 103];
        let ok = |body: &str| read_tags(&answer(200, body), &sent, &l);
        assert_eq!(ok(r#"{"101":"SUCCESS","103":"DUPLICATE"}"#), Ok(()));
        assert_eq!(ok(r#"[{"key":"SUCCESS"},{"key":"DUPLICATE"}]"#), Ok(()));
        assert_eq!(
            ok(r#"[{"key":101,"value":"SUCCESS"},{"key":103,"value":"SUCCESS"}]"#),
            Ok(())
        );
        assert!(
            matches!(ok(r#"{"101":"SUCCESS","103":"TAG_ID_NOT_FOUND"}"#), Err(Failure::Permanent { reason }) if reason.contains("103"))
        );
        assert!(matches!(
            ok(r#"{"101":"NO_PERMISSION","103":"SUCCESS"}"#),
            Err(Failure::Permanent { .. })
        ));
        assert_eq!(
            ok(r#"{"101":"CONTACT_NOT_FOUND","103":"CONTACT_NOT_FOUND"}"#),
            Err(Failure::ContactGone)
        );
        for retried in [
            r#"{"101":"SUCCESS","103":"FAILURE"}"#,
            r#"{"101":"SUCCESS"}"#,
            r#"[{"key":"SUCCESS"}]"#,
            r#"{"101":"WHATEVER","103":"SUCCESS"}"#,
            "{}",
            "[]",
            "",
            "null",
        ] {
            assert!(
                matches!(ok(retried), Err(Failure::Retry { .. })),
                "{retried}"
            );
        }
        assert!(matches!(
            read_tags(&answer(401, ""), &sent, &l),
            Err(Failure::Retry {
                token_rejected: true,
                ..
            })
        ));
        assert!(matches!(
            read_tags(&answer(404, r#"{"message":"Not found"}"#), &sent, &l),
            Err(Failure::Permanent { .. })
        ));
    }

    fn full_lead() -> Lead {
        Lead {
            last_name: Some("Doe".into()),
            job_title: Some("Buyer".into()),
            website: Some("https://jane.example".into()),
            address: Address::from_parts(
                Some("1 Main St".into()),
                Some("Suite 2".into()),
                Some("Springfield".into()),
                Some("IL".into()),
                Some("62701".into()),
                Some("USA".into()),
            )
            .unwrap(),
            note: Some(Note {
                message: Some("Please call me".into()),
                context: crate::form::context::Context {
                    page: Some("https://example.com/contact".into()),
                    referrer: None,
                    campaign: vec![("utm_source".into(), "news".into())],
                    origin: Some("https://example.com".into()),
                },
                consent: None,
                subject: Some("Pricing question".into()),
                fields: serde_json::from_value(json!([
                    {"name": "company", "values": ["Secret Co"]},
                    {"name": "services", "values": ["design", "hosting"]},
                ]))
                .unwrap(),
            }),
            ..lead()
        }
    }

    #[test]
    fn upsert_body_has_keaps_own_contact_fields() {
        let body = upsert_json(&full_lead());
        assert_eq!(body["job_title"], "Buyer");
        assert_eq!(body["website"], "https://jane.example");
        assert_eq!(
            body["addresses"],
            json!([{"field": "BILLING", "line1": "1 Main St", "line2": "Suite 2",
                    "locality": "Springfield", "region": "IL", "postal_code": "62701",
                    "country_code": "USA"}])
        );
        // Only the parts given.
        let partial = Lead {
            address: Address::from_parts(None, None, Some("Paris".into()), None, None, None)
                .unwrap(),
            ..lead()
        };
        assert_eq!(
            upsert_json(&partial)["addresses"],
            json!([{"field": "BILLING", "locality": "Paris"}])
        );
    }

    #[test]
    fn the_note_request() {
        let l = full_lead();
        let r = note_request("https://k.test/crm/rest/", 42, &l, l.note.as_ref().unwrap());
        assert_eq!(
            (r.method, r.url.as_str()),
            (Method::Post, "https://k.test/crm/rest/v1/notes")
        );
        let body = sent_json(&r);
        assert_eq!(body["contact_id"], 42);
        assert_eq!(body["type"], "Other");
        assert_eq!(
            body["title"],
            "Website form: contact \u{2014} Pricing question"
        );
        let text = body["body"].as_str().unwrap();
        for part in [
            "Please call me\n\ncompany: Secret Co\nservices: design, hosting\n\n---\n",
            "Page: https://example.com/contact",
            "utm_source: news",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        assert_eq!(
            body.as_object().unwrap().len(),
            4,
            "nothing but the four fields"
        );

        assert_eq!(read_note(&answer(201, r#"{"id":5}"#), &l), Ok(()));
        assert_eq!(read_note(&answer(200, ""), &l), Ok(()));
        let refused = r#"{"message":"Body Please call me, Secret Co, hosting; title Pricing question is too long"}"#;
        let Err(Failure::Permanent { reason }) = read_note(&answer(400, refused), &l) else {
            panic!("a 400 is a refusal");
        };
        assert!(
            reason.starts_with("note: ") && reason.contains("400"),
            "{reason}"
        );
        // Keap's text keeps none of the visitor's words: message, subject, fields.
        for words in ["Please call me", "Secret Co", "hosting", "Pricing question"] {
            assert!(!reason.contains(words), "{words} in {reason}");
        }
        assert!(matches!(
            read_note(&answer(503, ""), &l),
            Err(Failure::Retry { reason, .. }) if reason.starts_with("note: ")
        ));
        assert!(matches!(
            read_note(&answer(401, ""), &l),
            Err(Failure::Retry {
                token_rejected: true,
                ..
            })
        ));
    }

    /// Checks the bodies against Keap's own OpenAPI document (the request
    /// schemas of `createOrUpdateContactUsingPUT`,
    /// `applyTagsToContactIdUsingPOST` and `createNoteUsingPOST`).
    #[test]
    fn bodies_validate_against_keaps_openapi_spec() {
        let (put, tags, notes) = request_schemas();
        assert!(
            put.is_object() && tags.is_object() && notes.is_object(),
            "operations missing from the spec"
        );

        let mut errors = Vec::new();
        let full = full_lead();
        let note = note_request("https://k.test", 9, &full, full.note.as_ref().unwrap());
        spec_check::check(notes, &sent_json(&note), "$", &mut errors);
        for body in [
            upsert_json(&full),
            upsert_json(&Lead {
                phone: None,
                ip: None,
                opt_in_reason: None,
                ..lead()
            }),
        ] {
            spec_check::check(put, &body, "$", &mut errors);
        }
        spec_check::check(tags, &tags_json(&[101, 103]), "$", &mut errors);
        assert!(errors.is_empty(), "{errors:#?}");

        // The checker does catch mistakes.
        let mut wrong = Vec::new();
        spec_check::check(
            put,
            &json!({"email_addresses":[{"email":"a@b.co","field":"EMAIL9"}],"given_name":5,"nope":1}),
            "$",
            &mut wrong,
        );
        assert_eq!(wrong.len(), 3, "{wrong:#?}");
    }

    /// The request schemas of the three operations, read once from the
    /// vendored spec (`tests/keap-rest-v1.openapi.json`); a missing or
    /// unreadable file fails the test rather than skipping the check.
    fn request_schemas() -> &'static (Value, Value, Value) {
        static SCHEMAS: std::sync::OnceLock<(Value, Value, Value)> = std::sync::OnceLock::new();
        SCHEMAS.get_or_init(|| {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/keap-rest-v1.openapi.json"
            );
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("Keap's OpenAPI spec {path}: {e}"));
            let spec: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("Keap's OpenAPI spec {path}: {e}"));
            let schema_of = |p: &str, method: &str| {
                spec["paths"][p][method]["requestBody"]["content"]["application/json"]["schema"]
                    .clone()
            };
            (
                schema_of("/v1/contacts", "put"),
                schema_of("/v1/contacts/{contactId}/tags", "post"),
                schema_of("/v1/notes", "post"),
            )
        })
    }

    fn text() -> impl proptest::strategy::Strategy<Value = Option<String>> {
        proptest::option::of(proptest::prelude::any::<String>())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, failure_persistence: None, ..Default::default() })]

        /// Whatever a lead holds, the bodies sent fit Keap's schemas.
        #[test]
        fn every_lead_gives_bodies_that_fit_the_spec(
            email in text(), first in text(), last in text(), phone in text(),
            reason in text(), ip in text(), email_and_name in proptest::prelude::any::<bool>(),
            custom in proptest::collection::vec((1u64..u64::MAX, proptest::prelude::any::<String>()), 0..4),
            tags in proptest::collection::vec(1u64..u64::MAX, 0..150),
            job in text(), site in text(), line1 in text(), city in text(), postal in text(),
            message in text(), page in text(), utm in text(), subject in text(),
            extra in proptest::collection::vec((proptest::prelude::any::<String>(), proptest::collection::vec(proptest::prelude::any::<String>(), 1..3)), 0..4),
        ) {
            let (put, tag_schema, note_schema) = request_schemas();
            let lead = Lead {
                form_id: "f".into(),
                email, first_name: first, last_name: last, phone,
                custom_fields: custom.into_iter().map(|(id, content)| CustomValue { id, content }).collect(),
                tag_ids: tags.clone(),
                duplicate_option: if email_and_name { DuplicateOption::EmailAndName } else { DuplicateOption::Email },
                opt_in_reason: reason, ip, received_at_ms: 0,
                job_title: job, website: site,
                address: Some(Address { line1, line2: None, locality: city, region: None, postal_code: postal, country_code: Some("GBR".into()) }),
                note: Some(Note {
                    message,
                    context: crate::form::context::Context {
                        page, referrer: None,
                        campaign: utm.into_iter().map(|u| ("utm_source".to_string(), u)).collect(),
                        origin: None,
                    },
                    consent: None,
                    subject,
                    fields: serde_json::from_value(Value::Array(extra.into_iter().map(|(name, values)| json!({"name": name, "values": values})).collect())).unwrap(),
                }),
            };
            let mut errors = Vec::new();
            spec_check::check(put, &upsert_json(&lead), "$", &mut errors);
            if let Some(note) = &lead.note {
                spec_check::check(note_schema, &sent_json(&note_request("https://k.test", 1, &lead, note)), "$", &mut errors);
            }
            for (request, sent) in tag_requests("https://k.test", 1, &tags) {
                proptest::prop_assert!(sent.len() <= MAX_TAGS_PER_CALL);
                let body: Value = serde_json::from_slice(request.body.as_deref().unwrap_or_default()).unwrap_or_default();
                spec_check::check(tag_schema, &body, "$", &mut errors);
            }
            proptest::prop_assert!(errors.is_empty(), "{:?}", errors);
        }
    }

    /// The JSON Schema subset Keap's spec uses for these requests: type,
    /// properties (no others allowed), required, enum, items. (The spec
    /// inlines these two schemas; a `$ref` would fail the test loudly.)
    mod spec_check {
        use serde_json::Value;

        /// Keap's Java model types `custom_fields[].content` as `Object`,
        /// which the generated spec renders as `type: object`; Keap takes a
        /// string there (its docs and SDK samples send one). That one path
        /// accepts any JSON value.
        const ANY_VALUE_PATHS: [&str; 1] = ["$.custom_fields[].content"];

        pub fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
            if ANY_VALUE_PATHS.contains(&path) {
                return;
            }
            if schema.get("$ref").is_some() {
                errors.push(format!("{path}: `$ref` not supported by this checker"));
                return;
            }
            if let Some(t) = schema.get("type").and_then(Value::as_str) {
                let ok = match t {
                    "object" => value.is_object(),
                    "array" => value.is_array(),
                    "string" => value.is_string(),
                    "integer" => value.is_i64() || value.is_u64(),
                    "number" => value.is_number(),
                    "boolean" => value.is_boolean(),
                    _ => true,
                };
                if !ok {
                    errors.push(format!("{path}: expected {t}, got {value}"));
                    return;
                }
            }
            if let Some(options) = schema.get("enum").and_then(Value::as_array) {
                if !options.contains(value) {
                    errors.push(format!("{path}: {value} not in {options:?}"));
                }
            }
            if let (Some(props), Some(obj)) = (
                schema.get("properties").and_then(Value::as_object),
                value.as_object(),
            ) {
                for (k, v) in obj {
                    match props.get(k) {
                        Some(s) => check(s, v, &format!("{path}.{k}"), errors),
                        None => errors.push(format!("{path}: `{k}` is not in the spec")),
                    }
                }
                for r in schema
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if r.as_str().is_some_and(|r| !obj.contains_key(r)) {
                        errors.push(format!("{path}: `{r}` is required"));
                    }
                }
            }
            if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
                for v in arr {
                    check(items, v, &format!("{path}[]"), errors);
                }
            }
        }
    }
}
