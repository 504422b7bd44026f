//! What a form's submission leaves as its note (the form's `note` setting),
//! kept with the lead so a queued lead's note says what the form said then.

use serde::{Deserialize, Serialize};

use crate::form::context::Context;
use crate::form::extra_fields::ExtraFields;

/// Longest message, in characters.
pub const MAX_MESSAGE: usize = 10_000;
/// Longest subject (`_subject`, the note's title), in characters.
pub const MAX_SUBJECT: usize = 200;
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
    pub field: Option<String>,
    /// Whether that field was ticked; `None` when the form has none.
    pub given: Option<bool>,
    /// The statement shown to the visitor (the form's `consent_text`).
    pub statement: Option<String>,
}

/// A submission's note, before it is written out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// The visitor's message: their words.
    pub message: Option<String>,
    #[serde(default)]
    pub context: Context,
    pub consent: Option<Consent>,
    /// The visitor's subject, put in the title (written only when given,
    /// so a note without one is stored as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The fields the worker does not map: the visitor's words too.
    #[serde(default, skip_serializing_if = "ExtraFields::is_empty")]
    pub fields: ExtraFields,
}

impl std::fmt::Debug for Note {
    /// Shape only: the message is the visitor's words.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Note")
            .field("message", &self.message.as_ref().map(|_| "[given]"))
            .field("page", &self.context.page.is_some())
            .field("campaign", &self.context.campaign.len())
            .field("consent", &self.consent.as_ref().map(|c| c.given))
            .field("subject", &self.subject.as_ref().map(|_| "[given]"))
            .field("fields", &self.fields.len())
            .finish()
    }
}

impl Note {
    /// [`Note::with_words`] without a subject or unmapped fields: the
    /// tests' shorthand.
    #[cfg(test)]
    pub fn for_submission(
        when: NoteWhen,
        message: Option<String>,
        context: Context,
        consent: Option<Consent>,
    ) -> Option<Note> {
        Note::with_words(
            when,
            message,
            None,
            ExtraFields::default(),
            context,
            consent,
        )
    }

    /// The note for a submission, or none when `when` says so: with
    /// `Message`, when the visitor wrote something (a message, a subject
    /// or an unmapped field).
    pub fn with_words(
        when: NoteWhen,
        message: Option<String>,
        subject: Option<String>,
        fields: ExtraFields,
        context: Context,
        consent: Option<Consent>,
    ) -> Option<Note> {
        let wanted = match when {
            NoteWhen::Never => false,
            NoteWhen::Message => message.is_some() || subject.is_some() || !fields.is_empty(),
            NoteWhen::Always => true,
        };
        wanted.then_some(Note {
            message,
            context,
            consent,
            subject,
            fields,
        })
    }

    /// Every value the visitor gave that the note holds, to scrub from
    /// text we keep.
    pub fn personal_values(&self) -> impl Iterator<Item = &str> {
        self.message
            .as_deref()
            .into_iter()
            .chain(self.subject.as_deref())
            .chain(self.fields.values())
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

    fn extra(pairs: serde_json::Value) -> ExtraFields {
        serde_json::from_value(pairs).unwrap()
    }

    #[test]
    fn a_subject_or_an_unmapped_field_is_something_written() {
        let fields = || extra(serde_json::json!([{"name": "company", "values": ["ACME"]}]));
        let some = |subject: Option<&str>, fields: ExtraFields| {
            Note::with_words(
                NoteWhen::Message,
                None,
                subject.map(str::to_string),
                fields,
                context(),
                None,
            )
        };
        assert!(some(Some("Hi"), ExtraFields::default()).is_some());
        assert!(some(None, fields()).is_some());
        assert!(some(None, ExtraFields::default()).is_none());
        let never = Note::with_words(
            NoteWhen::Never,
            Some("m".into()),
            Some("s".into()),
            fields(),
            context(),
            None,
        );
        assert!(never.is_none());
        let note = Note::with_words(
            NoteWhen::Message,
            Some("Hello".into()),
            Some("Pricing".into()),
            extra(serde_json::json!([{"name": "services", "values": ["design", "hosting"]}])),
            context(),
            None,
        )
        .unwrap();
        let values: Vec<&str> = note.personal_values().collect();
        for v in ["Hello", "Pricing", "hosting"] {
            assert!(values.contains(&v), "{v}");
        }
        let shown = format!("{note:?}");
        assert!(
            !shown.contains("hosting") && !shown.contains("Pricing"),
            "{shown}"
        );
    }

    #[test]
    fn a_note_without_subject_or_fields_is_stored_as_before() {
        let note =
            Note::for_submission(NoteWhen::Message, Some("m".into()), context(), None).unwrap();
        let stored = serde_json::to_value(&note).unwrap();
        assert!(stored.get("subject").is_none() && stored.get("fields").is_none());
        let with = Note::with_words(
            NoteWhen::Message,
            None,
            Some("s".into()),
            extra(serde_json::json!([{"name": "a", "values": ["b", "c"]}])),
            context(),
            None,
        )
        .unwrap();
        let text = serde_json::to_string(&with).unwrap();
        assert_eq!(crate::fixtures::reread::<Note>(&text), with);
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
