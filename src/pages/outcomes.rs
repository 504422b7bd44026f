//! What the admin's buttons did, for a script and for a person: the test
//! lead, "Refresh now", "Deliver now", and why an action could not be done.

use serde_json::{json, Value};

use super::layout::{escape, BACK_TO_ADMIN};
use super::{AdminView, Page};
use crate::form::answer::{self, Accepted, Problem};
use crate::keap::ContactId;

/// A short answer: `json` for a script; for a person, a page titled
/// `title` that says `html` and leads back to `/admin`.
pub struct Said {
    pub status: u16,
    pub json: Value,
    pub title: &'static str,
    pub html: String,
}

impl AdminView for Said {
    fn status(&self) -> u16 {
        self.status
    }
    fn json(&self) -> Value {
        self.json.clone()
    }
    fn page(&self) -> Page {
        let body = format!("{}{BACK_TO_ADMIN}", self.html);
        Page {
            title: self.title,
            body,
        }
    }
}

/// An action that could not be done: `{"ok":false,"error":{"code","message"}}`.
pub fn failure(status: u16, code: &str, message: &str) -> Said {
    Said {
        status,
        json: crate::http::error_json(code, message),
        title: "Keap could not be asked",
        html: format!("<p class=\"bad\">{}</p>", escape(message)),
    }
}

/// A test lead that went the way of a visitor's post: `contact_id` when it
/// reached Keap now.
pub fn test_lead(accepted: Accepted, contact_id: Option<ContactId>, tag_ids: &[u64]) -> Said {
    let words = match (accepted, contact_id) {
        (Accepted::Queued, _) => "Keap cannot take it right now, so it waits in the outbox and \
                                  goes out with the next delivery."
            .to_string(),
        (accepted, Some(id)) => {
            let tags: Vec<String> = tag_ids.iter().map(u64::to_string).collect();
            let tagged = if tags.is_empty() {
                String::new()
            } else {
                format!(" and tagged it {}", tags.join(", "))
            };
            format!("Keap {} contact {id}{tagged}.", accepted.as_str())
        }
        (accepted, None) => format!("Keap {} the contact.", accepted.as_str()),
    };
    let status = accepted.as_str();
    Said {
        status: accepted.status(),
        json: json!({"ok": true, "status": status, "contact_id": contact_id, "tag_ids": tag_ids}),
        title: "Test lead sent",
        html: format!("<p class=\"ok\">Test lead {status}: {}</p>", escape(&words)),
    }
}

/// A test lead refused as a visitor's post would be.
pub fn test_lead_refused(problem: &Problem) -> Said {
    Said {
        status: problem.code.status(),
        json: answer::problem_json(problem),
        title: "Test lead not sent",
        html: format!(
            "<p class=\"bad\">{} (<code>{}</code>)</p>",
            escape(&problem.message),
            problem.code.as_str()
        ),
    }
}

/// What "Deliver now" did: the flow's `report`, and the same in `words`.
pub fn deliver_now(report: Value, words: &str) -> Said {
    Said {
        status: 200,
        json: report,
        title: "Deliver now",
        html: format!("<p>{}</p>", escape(words)),
    }
}

/// What "Refresh now" did: the flow's `report`, whether it went well, its
/// `message` and until when the access token holds.
pub fn refreshed(report: Value, ok: bool, message: &str, expires_at: Option<&str>) -> Said {
    let (class, title) = if ok {
        ("ok", "Refresh done")
    } else {
        ("bad", "Refresh did not succeed")
    };
    let expires = expires_at
        .map(|at| format!("<p>The access token expires at {}.</p>", escape(at)))
        .unwrap_or_default();
    Said {
        status: 200,
        json: report,
        title,
        html: format!("<p class=\"{class}\">{}</p>{expires}", escape(message)),
    }
}
