//! Notes on a contact (`POST /v1/notes`): dated entries in the contact's
//! history. Unlike a custom field, a later note never replaces an earlier
//! one, so each call adds one.

use serde_json::{json, Map, Value};

use crate::clock;

/// The one Keap user the sandbox has (the owner `userinfo` describes);
/// notes are written as this user.
pub const USER_ID: i64 = 1;

/// A note, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Keap's integer note id.
    pub id: i64,
    /// The contact it is on.
    pub contact_id: i64,
    /// Its title, when sent.
    pub title: Option<String>,
    /// Its text, when sent.
    pub body: Option<String>,
    /// One of the spec's types (`Other`, `Call`, ...), when sent.
    pub kind: Option<String>,
    /// Who wrote it.
    pub user_id: i64,
    /// When it was created (Unix seconds).
    pub date_created: u64,
}

impl Note {
    /// The spec's `Note` shape.
    pub fn to_json(&self) -> Value {
        let date = json!(clock::rfc3339(self.date_created));
        let mut note = Map::new();
        note.insert("id".to_owned(), json!(self.id));
        note.insert("contact_id".to_owned(), json!(self.contact_id));
        for (key, value) in [
            ("title", &self.title),
            ("body", &self.body),
            ("type", &self.kind),
        ] {
            if let Some(value) = value {
                note.insert(key.to_owned(), json!(value));
            }
        }
        note.insert("user_id".to_owned(), json!(self.user_id));
        note.insert("date_created".to_owned(), date.clone());
        note.insert("last_updated".to_owned(), date);
        note.insert(
            "last_updated_by".to_owned(),
            json!({"user_id": self.user_id, "given_name": "Sandbox", "family_name": "Owner"}),
        );
        Value::Object(note)
    }
}

/// What a `POST /v1/notes` body asks for, once it passed the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteRequest {
    /// `contact_id`.
    pub contact_id: i64,
    /// `title`.
    pub title: Option<String>,
    /// `body`.
    pub body: Option<String>,
    /// `type`.
    pub kind: Option<String>,
}

impl NoteRequest {
    /// Reads a body that validated against the spec's `RequestNote`, and
    /// applies Keap's rules beyond the schema: a title or a body is
    /// required (the spec's description), and `user_id`, when given, must
    /// be a user of the app (the sandbox has one). The answer never quotes
    /// the note's text.
    pub fn parse(body: &Value) -> Result<NoteRequest, String> {
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        let contact_id = body
            .get("contact_id")
            .and_then(Value::as_i64)
            .ok_or_else(|| "contact_id is required".to_owned())?;
        if let Some(user) = body.get("user_id").and_then(Value::as_i64) {
            if user != USER_ID {
                return Err(format!("User with ID {user} not found"));
            }
        }
        let request = NoteRequest {
            contact_id,
            title: text("title"),
            body: text("body"),
            kind: text("type"),
        };
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|t| t.trim().is_empty());
        if blank(&request.title) && blank(&request.body) {
            return Err("Either a title or body is required".to_owned());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_or_body_is_required_and_only_the_one_user() {
        assert!(NoteRequest::parse(&json!({"contact_id": 1})).is_err());
        assert!(NoteRequest::parse(&json!({"contact_id": 1, "title": " ", "body": ""})).is_err());
        assert!(NoteRequest::parse(&json!({"contact_id": 1, "body": "x", "user_id": 2})).is_err());
        let ok = NoteRequest::parse(
            &json!({"contact_id": 3, "body": "Hello", "type": "Other", "user_id": 1}),
        )
        .unwrap();
        assert_eq!(ok.contact_id, 3);
        assert_eq!(ok.kind.as_deref(), Some("Other"));
        assert_eq!(ok.title, None);
    }

    #[test]
    fn answers_in_the_spec_shape() {
        let note = Note {
            id: 5,
            contact_id: 3,
            title: Some("Web form".into()),
            body: None,
            kind: Some("Other".into()),
            user_id: USER_ID,
            date_created: 0,
        };
        let value = note.to_json();
        assert_eq!(value["date_created"], "1970-01-01T00:00:00Z");
        assert_eq!(value["title"], "Web form");
        assert!(value.get("body").is_none());
    }
}
