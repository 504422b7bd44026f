//! The held posts (docs/CONTRACT.md 2.4): `/admin`'s "Held for review"
//! section, each post's form, time, reason, address, name and the start
//! of its message, with **Deliver to Keap** and **Delete** (forms posting
//! to `/admin/held/{id}/…`), and what those buttons did.
//!
//! A held post is a stranger's crafted text shown in the owner's
//! browser: every value goes through [`escape`] and nothing is ever
//! interpreted (no markup, no link is made from it).

use serde_json::{json, Value};

use super::layout::escape;
use super::outcomes::Said;
use crate::form::answer::Accepted;
use crate::form::spam::Reason;
use crate::keap::ContactId;
use crate::store::held::{HeldPost, HeldSummary};
use crate::time;

/// Held posts listed at most, oldest first (the count shows them all).
pub const HELD_SHOWN: u32 = 50;
/// The start of a message shown in a listing, in characters.
const EXCERPT_CHARS: usize = 200;

/// What `/admin` and `/admin/status` show of the held posts.
pub enum HeldShown {
    /// How many there are (`/admin/status`).
    Count(u64),
    /// The oldest ones and how many there are in all (`/admin`).
    Listed { views: Vec<HeldView>, count: u64 },
    /// The store could not be read just now.
    Unreadable,
}

impl HeldShown {
    /// `{"count":n}`; none counted when the store could not be read.
    pub fn json(&self) -> Value {
        let count = match self {
            HeldShown::Count(n) | HeldShown::Listed { count: n, .. } => *n,
            HeldShown::Unreadable => 0,
        };
        json!({ "count": count })
    }

    /// The section of `/admin`.
    pub fn html(&self) -> String {
        match self {
            HeldShown::Listed { views, count } => section_html(*count, views),
            HeldShown::Count(count) => section_html(*count, &[]),
            HeldShown::Unreadable => format!(
                "<h2 id=\"held\">Held for review</h2><p class=\"warn\">The held posts could not \
                 be read just now (at most {HELD_SHOWN} are listed). Reload the page in a \
                 moment.</p>"
            ),
        }
    }
}

/// A listed held post, opened when it could be.
#[derive(Debug, Clone)]
pub struct HeldView {
    pub summary: HeldSummary,
    /// `None` when gone since the listing, or not openable.
    pub post: Option<HeldPost>,
}

impl HeldView {
    pub fn email(&self) -> Option<&str> {
        self.post.as_ref().and_then(|p| p.lead.email.as_deref())
    }

    /// The first and last name, as given.
    pub fn name(&self) -> Option<String> {
        let lead = &self.post.as_ref()?.lead;
        let parts: Vec<&str> = [&lead.first_name, &lead.last_name]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// The start of the message, cut at [`EXCERPT_CHARS`].
    pub fn excerpt(&self) -> Option<String> {
        let message = self.post.as_ref()?.lead.note.as_ref()?.message.as_deref()?;
        let mut cut: String = message.chars().take(EXCERPT_CHARS).collect();
        if message.chars().count() > EXCERPT_CHARS {
            cut.push('…');
        }
        Some(cut)
    }

    pub fn reason(&self) -> Option<Reason> {
        self.summary.reason.or(self.post.as_ref().map(|p| p.reason))
    }

    pub fn received_at(&self) -> Option<String> {
        self.summary
            .received_at_ms
            .or(self.post.as_ref().map(|p| p.lead.received_at_ms))
            .map(time::to_rfc3339)
    }

    pub fn json(&self) -> Value {
        json!({
            "id": self.summary.id.as_str(),
            "form": self.summary.form,
            "reason": self.reason().map(Reason::code),
            "received_at": self.received_at(),
            "email": self.email(),
            "name": self.name(),
            "message": self.excerpt(),
        })
    }
}

fn reason_words(reason: Option<Reason>) -> String {
    match reason {
        Some(r) => format!("{} (<code>{}</code>)", escape(r.explain()), r.code()),
        None => "not recorded".into(),
    }
}

/// The section's HTML for `count` held posts, `views` the listed ones.
fn section_html(count: u64, views: &[HeldView]) -> String {
    let mut h = String::from("<h2 id=\"held\">Held for review</h2>");
    if count == 0 {
        h.push_str(
            "<p class=\"ok\">No post is held. Posts that look like spam (links in a name, a \
             message that is only links, BBCode or HTML links) are kept here for 30 days \
             instead of going to Keap.</p>",
        );
        return h;
    }
    h.push_str(&format!(
        "<p class=\"warn\">{count} post(s) looked like spam and were kept out of Keap. Each is \
         kept 30 days. <strong>Deliver to Keap</strong> sends one as a normal lead; \
         <strong>Delete</strong> removes it.</p>"
    ));
    if count > views.len() as u64 {
        h.push_str(&format!(
            "<p>The oldest {} are listed; the rest follow as these are handled.</p>",
            views.len()
        ));
    }
    // One entry per post (the page is narrow): who, when, why, then the
    // start of the message and the two buttons.
    h.push_str("<ul class=\"held\">");
    for v in views {
        let id = escape(v.summary.id.as_str());
        let from = match (v.name(), v.email()) {
            (Some(n), Some(e)) => format!("<strong>{}</strong> {}", escape(&n), escape(e)),
            (None, Some(e)) => format!("<strong>{}</strong>", escape(e)),
            (Some(n), None) => format!("<strong>{}</strong>", escape(&n)),
            (None, None) if v.post.is_none() => "<em>cannot be opened</em>".into(),
            (None, None) => "<em>no name or address</em>".into(),
        };
        let message = v
            .excerpt()
            .map(|m| format!("<p class=\"excerpt\">{}</p>", escape(&m)))
            .unwrap_or_default();
        h.push_str(&format!(
            "<li><p>{from}<br><small>{} · form <code>{}</code> · {}</small></p>{message}\
             <form method=\"post\" action=\"/admin/held/{id}/release\" class=\"inline\">\
             <button>Deliver to Keap</button></form> \
             <form method=\"post\" action=\"/admin/held/{id}/delete\" class=\"inline\">\
             <button>Delete</button></form></li>",
            escape(&v.received_at().unwrap_or_default()),
            escape(&v.summary.form),
            reason_words(v.reason()),
        ));
    }
    h.push_str("</ul>");
    h
}

/// A released post: delivered, or queued when Keap cannot take it now.
pub fn released(accepted: Accepted, contact_id: Option<ContactId>) -> Said {
    let words = match accepted {
        Accepted::Queued => {
            "Released: Keap cannot take it right now, so it waits in the outbox and goes out \
             with the next delivery."
        }
        _ => "Delivered to Keap.",
    };
    Said {
        status: 200,
        json: json!({"ok": true, "status": accepted.as_str(), "contact_id": contact_id}),
        title: "Deliver to Keap",
        html: format!("<p>{}</p>", escape(words)),
    }
}

/// A deleted post.
pub fn deleted(id: &str) -> Said {
    Said {
        status: 200,
        json: json!({"ok": true, "deleted": id}),
        title: "Deleted",
        html: "<p>The held post was deleted.</p>".into(),
    }
}

/// An id that names no held post (any more).
pub fn gone() -> Said {
    let message = "No held post has this id: it was delivered, deleted or has expired.";
    Said {
        title: "Not found",
        ..super::outcomes::failure(404, "not_found", message)
    }
}

/// The store could not do it now.
pub fn store_trouble(words: &str) -> Said {
    Said {
        title: "Try again",
        ..super::outcomes::failure(503, "store_unavailable", words)
    }
}
