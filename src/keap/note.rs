//! Keap's note for a submission: its title and its text, the visitor's
//! message then one line per piece of context (docs/CONTRACT.md 1 and 4).
//! What goes in it is decided by the form ([`crate::form::note`]). A note
//! is dated history: a later submission adds one, never overwrites it.

use crate::form::note::Note;
use crate::time;

/// The note's title: names the form.
fn title(form_id: &str) -> String {
    format!("Website form: {form_id}")
}

/// A note's title: names the form, then the visitor's subject.
pub fn heading(note: &Note, form_id: &str) -> String {
    match &note.subject {
        Some(subject) => format!("{} \u{2014} {subject}", title(form_id)),
        None => title(form_id),
    }
}

/// The note's text: the message, the unmapped fields, then one line per
/// piece of context.
pub fn body(note: &Note, form_id: &str, received_at_ms: u64) -> String {
    let mut lines: Vec<String> = Vec::new();
    if let Some(message) = &note.message {
        lines.push(message.clone());
        lines.push(String::new());
    }
    if !note.fields.is_empty() {
        lines.extend(note.fields.lines());
        lines.push(String::new());
    }
    if lines.is_empty() {
        lines.push("(no message)".into());
    } else {
        lines.push("---".into());
    }
    lines.push(format!("Form: {form_id}"));
    let c = &note.context;
    if let Some(origin) = &c.origin {
        lines.push(format!("Site: {origin}"));
    }
    if let Some(page) = &c.page {
        lines.push(format!("Page: {page}"));
    }
    if let Some(referrer) = &c.referrer {
        lines.push(format!("Referrer: {referrer}"));
    }
    for (name, value) in &c.campaign {
        lines.push(format!("{name}: {value}"));
    }
    if let Some(consent) = &note.consent {
        match (&consent.field, consent.given) {
            (Some(field), Some(true)) => {
                lines.push(format!("Consent: given (\"{field}\" was ticked)"))
            }
            (Some(field), _) => {
                lines.push(format!("Consent: not given (\"{field}\" was not ticked)"))
            }
            (None, _) => lines.push("Consent: the form has no consent field".into()),
        }
        if let Some(statement) = &consent.statement {
            lines.push(format!("Consent statement: \"{statement}\""));
        }
    }
    lines.push(format!(
        "Received: {} (UTC)",
        time::to_rfc3339(received_at_ms)
    ));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::context::Context;
    use crate::form::note::{Consent, NoteWhen};

    fn context() -> Context {
        Context {
            page: Some("https://example.com/contact".into()),
            referrer: Some("https://search.example/".into()),
            campaign: vec![
                ("utm_source".into(), "newsletter".into()),
                ("gclid".into(), "abc123".into()),
            ],
            origin: Some("https://example.com".into()),
        }
    }

    fn consent(given: bool) -> Option<Consent> {
        Some(Consent {
            field: Some("consent".into()),
            given: Some(given),
            statement: Some("You may email me.".into()),
        })
    }

    #[test]
    fn the_subject_titles_the_note_and_the_fields_follow_the_message() {
        let fields: crate::form::extra_fields::ExtraFields =
            serde_json::from_value(serde_json::json!([
                {"name": "company", "values": ["ACME"]},
                {"name": "services", "values": ["design", "hosting"]},
            ]))
            .unwrap();
        let note = Note::with_words(
            NoteWhen::Message,
            Some("Hello".into()),
            Some("Pricing".into()),
            fields.clone(),
            Context::default(),
            None,
        )
        .unwrap();
        assert_eq!(
            heading(&note, "contact"),
            "Website form: contact \u{2014} Pricing"
        );
        assert_eq!(
            body(&note, "contact", 0),
            "Hello\n\ncompany: ACME\nservices: design, hosting\n\n---\nForm: contact\n\
             Received: 1970-01-01T00:00:00Z (UTC)"
        );
        // No message: the fields alone, and no "(no message)".
        let no_message = Note::with_words(
            NoteWhen::Message,
            None,
            None,
            fields,
            Context::default(),
            None,
        )
        .unwrap();
        assert_eq!(heading(&no_message, "contact"), "Website form: contact");
        let text = body(&no_message, "contact", 0);
        assert!(
            text.starts_with("company: ACME\nservices: design, hosting\n\n---\nForm: contact\n"),
            "{text}"
        );
    }

    #[test]
    fn the_body_holds_the_message_and_every_piece_of_context() {
        let note = Note::for_submission(
            NoteWhen::Message,
            Some("Please call me.\nThanks".into()),
            context(),
            consent(true),
        )
        .unwrap();
        let body = body(&note, "contact", 1_764_900_000_000);
        assert_eq!(
            body,
            "Please call me.\nThanks\n\n---\nForm: contact\nSite: https://example.com\n\
             Page: https://example.com/contact\nReferrer: https://search.example/\n\
             utm_source: newsletter\ngclid: abc123\nConsent: given (\"consent\" was ticked)\n\
             Consent statement: \"You may email me.\"\nReceived: 2025-12-05T02:00:00Z (UTC)"
        );
        assert_eq!(title("contact"), "Website form: contact");
    }

    #[test]
    fn a_note_without_a_message_still_records_consent_and_time() {
        let note = Note::for_submission(NoteWhen::Always, None, Context::default(), consent(false))
            .unwrap();
        let body = body(&note, "signup", 0);
        assert!(body.starts_with("(no message)\nForm: signup\n"), "{body}");
        assert!(
            body.contains("Consent: not given (\"consent\" was not ticked)"),
            "{body}"
        );
        assert!(body.contains("You may email me."), "{body}");
        assert!(
            body.ends_with("Received: 1970-01-01T00:00:00Z (UTC)"),
            "{body}"
        );
        let no_field = Note::for_submission(
            NoteWhen::Always,
            None,
            Context::default(),
            Some(Consent {
                field: None,
                given: None,
                statement: None,
            }),
        )
        .unwrap();
        assert!(super::body(&no_field, "f", 0).contains("Consent: the form has no consent field"));
    }
}
