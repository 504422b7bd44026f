//! What the admin's buttons did, for a script and for a person: the test
//! lead, "Refresh now", "Deliver now", and why an action could not be done.

use serde_json::{json, Value};

use super::layout::{escape, BACK_TO_ADMIN};
use super::{AdminView, Page};
use crate::form::answer::{self, Accepted, Problem};
use crate::keap::ContactId;

/// An action that could not be done: `{"ok":false,"error":{"code","message"}}`.
pub struct Failure {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl AdminView for Failure {
    fn status(&self) -> u16 {
        self.status
    }
    fn json(&self) -> Value {
        json!({"ok": false, "error": {"code": self.code, "message": self.message}})
    }
    fn page(&self) -> Page {
        said("Keap could not be asked", "bad", &escape(&self.message))
    }
}

/// A test lead that went the way of a visitor's post.
pub struct TestLead {
    pub accepted: Accepted,
    /// Keap's contact, when the lead reached Keap now.
    pub contact_id: Option<ContactId>,
    pub tag_ids: Vec<u64>,
}

impl AdminView for TestLead {
    fn status(&self) -> u16 {
        self.accepted.status()
    }
    fn json(&self) -> Value {
        json!({
            "ok": true,
            "status": self.accepted.as_str(),
            "contact_id": self.contact_id,
            "tag_ids": self.tag_ids,
        })
    }
    fn page(&self) -> Page {
        let words = match (self.accepted, self.contact_id) {
            (Accepted::Queued, _) => "Keap cannot take it right now, so it waits in the \
                                      outbox and goes out with the next delivery."
                .to_string(),
            (accepted, Some(id)) if self.tag_ids.is_empty() => {
                format!("Keap {} contact {id}.", accepted.as_str())
            }
            (accepted, Some(id)) => {
                let tags: Vec<String> = self.tag_ids.iter().map(u64::to_string).collect();
                let tags = tags.join(", ");
                format!(
                    "Keap {} contact {id} and tagged it {tags}.",
                    accepted.as_str()
                )
            }
            (accepted, None) => format!("Keap {} the contact.", accepted.as_str()),
        };
        let text = format!("Test lead {}: {words}", self.accepted.as_str());
        said("Test lead sent", "ok", &escape(&text))
    }
}

/// A test lead refused as a visitor's post would be.
pub struct TestLeadRefused(pub Problem);

impl AdminView for TestLeadRefused {
    fn status(&self) -> u16 {
        self.0.code.status()
    }
    fn json(&self) -> Value {
        answer::problem_json(&self.0)
    }
    fn page(&self) -> Page {
        let html = format!(
            "{} (<code>{}</code>)",
            escape(&self.0.message),
            self.0.code.as_str()
        );
        said("Test lead not sent", "bad", &html)
    }
}

/// What "Deliver now" did: the flow's report, and the same in words.
pub struct DeliverNow {
    pub report: Value,
    pub words: String,
}

impl AdminView for DeliverNow {
    fn json(&self) -> Value {
        self.report.clone()
    }
    fn page(&self) -> Page {
        said("Deliver now", "", &escape(&self.words))
    }
}

/// The page after "Refresh now": how it went, and until when the access
/// token holds.
pub fn refreshed(ok: bool, message: &str, expires_at: Option<&str>) -> Page {
    let (class, title) = if ok {
        ("ok", "Refresh done")
    } else {
        ("bad", "Refresh did not succeed")
    };
    let expires = expires_at
        .map(|at| format!("<p>The access token expires at {}.</p>", escape(at)))
        .unwrap_or_default();
    Page {
        title,
        body: format!(
            "<p class=\"{class}\">{}</p>{expires}{BACK_TO_ADMIN}",
            escape(message)
        ),
    }
}

/// A page that says one thing (`html`, a paragraph of `class`), then
/// leads back to `/admin`.
fn said(title: &'static str, class: &str, html: &str) -> Page {
    let open = if class.is_empty() {
        "<p>".to_string()
    } else {
        format!("<p class=\"{class}\">")
    };
    Page {
        title,
        body: format!("{open}{html}</p>{BACK_TO_ADMIN}"),
    }
}
