//! The Keap note a submission leaves on its contact: the visitor's
//! message and the submission's context (page, referrer, campaign,
//! consent, time, form, site), docs/CONTRACT.md 1 and 4.
//!
//! A note is a dated entry in the contact's history, so unlike a custom
//! field nothing the visitor wrote is overwritten by their next
//! submission. What goes in it is decided when the lead is validated and
//! kept with it, so a queued lead's note says what the form said then.

use serde::{Deserialize, Serialize};

use crate::form::context::Context;
use crate::time;

/// Longest message, in characters.
pub const MAX_MESSAGE: usize = 10_000;
/// Longest `consent_text` a form may set, in characters.
pub const MAX_CONSENT_TEXT: usize = 2000;

/// When a form writes a note (the form's `note` setting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoteWhen {
    /// When the submission has a message.
    #[default]
    Message,
    /// Every submission: a consent and attribution trail.
    Always,
    /// Never.
    Never,
}

/// What was consented to, as recorded in the note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// The consent field's name, when the form has one.
    #[serde(default)]
    pub field: Option<String>,
    /// Whether that field was ticked; `None` when the form has none.
    #[serde(default)]
    pub given: Option<bool>,
    /// The statement shown to the visitor (the form's `consent_text`).
    #[serde(default)]
    pub statement: Option<String>,
}

/// A submission's note, before it is written out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// The visitor's message: their words.
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub context: Context,
    #[serde(default)]
    pub consent: Option<Consent>,
}

impl std::fmt::Debug for Note {
    /// Shape only: the message is the visitor's words.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Note")
            .field("message", &self.message.as_ref().map(|_| "[given]"))
            .field("page", &self.context.page.is_some())
            .field("campaign", &self.context.campaign.len())
            .field("consent", &self.consent.as_ref().map(|c| c.given))
            .finish()
    }
}

impl Note {
    /// The note for a submission, or none when `when` says so.
    pub fn for_submission(
        when: NoteWhen,
        message: Option<String>,
        context: Context,
        consent: Option<Consent>,
    ) -> Option<Note> {
        let wanted = match when {
            NoteWhen::Never => false,
            NoteWhen::Message => message.is_some(),
            NoteWhen::Always => true,
        };
        wanted.then_some(Note {
            message,
            context,
            consent,
        })
    }

    /// The note's title: names the form.
    pub fn title(form_id: &str) -> String {
        format!("Website form: {form_id}")
    }

    /// The note's text: the message, then one line per piece of context.
    pub fn body(&self, form_id: &str, received_at_ms: u64) -> String {
        let mut lines: Vec<String> = Vec::new();
        match &self.message {
            Some(message) => {
                lines.push(message.clone());
                lines.push(String::new());
                lines.push("---".into());
            }
            None => lines.push("(no message)".into()),
        }
        lines.push(format!("Form: {form_id}"));
        let c = &self.context;
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
        if let Some(consent) = &self.consent {
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

    /// Every value the visitor gave that the note holds, to scrub from
    /// text we keep.
    pub fn personal_values(&self) -> impl Iterator<Item = &str> {
        self.message
            .as_deref()
            .into_iter()
            .chain(self.context.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn when_a_note_is_written() {
        let msg = || Some("Hello".to_string());
        let some = |when, message| Note::for_submission(when, message, context(), None).is_some();
        assert!(some(NoteWhen::Message, msg()));
        assert!(!some(NoteWhen::Message, None));
        assert!(some(NoteWhen::Always, None));
        assert!(some(NoteWhen::Always, msg()));
        assert!(!some(NoteWhen::Never, msg()));
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
        let body = note.body("contact", 1_764_900_000_000);
        assert_eq!(
            body,
            "Please call me.\nThanks\n\n---\nForm: contact\nSite: https://example.com\n\
             Page: https://example.com/contact\nReferrer: https://search.example/\n\
             utm_source: newsletter\ngclid: abc123\nConsent: given (\"consent\" was ticked)\n\
             Consent statement: \"You may email me.\"\nReceived: 2025-12-05T02:00:00Z (UTC)"
        );
        assert_eq!(Note::title("contact"), "Website form: contact");
    }

    #[test]
    fn a_note_without_a_message_still_records_consent_and_time() {
        let note = Note::for_submission(NoteWhen::Always, None, Context::default(), consent(false))
            .unwrap();
        let body = note.body("signup", 0);
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
        assert!(no_field
            .body("f", 0)
            .contains("Consent: the form has no consent field"));
    }

    #[test]
    fn debug_hides_the_message_and_old_records_read() {
        let note = Note::for_submission(
            NoteWhen::Message,
            Some("secret words".into()),
            context(),
            None,
        )
        .unwrap();
        assert!(!format!("{note:?}").contains("secret"));
        let read: Note = serde_json::from_str(r#"{"message":"m"}"#).unwrap();
        assert_eq!(read.context, Context::default());
        assert_eq!(read.consent, None);
        let values: Vec<&str> = note.personal_values().collect();
        assert!(values.contains(&"secret words"));
        assert!(values.contains(&"https://example.com/contact"));
        assert!(
            !values.contains(&"newsletter"),
            "campaign values are not the visitor's"
        );
    }

    #[test]
    fn the_setting_is_spelt_in_lower_case() {
        for (text, when) in [
            ("\"message\"", NoteWhen::Message),
            ("\"always\"", NoteWhen::Always),
            ("\"never\"", NoteWhen::Never),
        ] {
            assert_eq!(serde_json::from_str::<NoteWhen>(text).unwrap(), when);
        }
        assert!(serde_json::from_str::<NoteWhen>("\"Always\"").is_err());
    }
}
