//! The held posts on `/admin`: each one's form, time, reason, address,
//! name and the start of its message, with **Deliver to Keap** and
//! **Delete** (forms posting to `/admin/held/{id}/…`).
//!
//! A held post is a stranger's crafted text shown in the owner's
//! browser: every value goes through [`escape`] and nothing is ever
//! interpreted (no markup, no link is made from it).

use super::held::{self, HeldView, HELD_SHOWN};
use crate::config::Config;
use crate::form::spam::Reason;
use crate::html::escape;
use crate::platform::Platform;

fn reason_words(code: Option<&str>) -> String {
    let explained = [
        Reason::LinkInName,
        Reason::MessageOnlyLink,
        Reason::TooManyLinks,
        Reason::MarkupLink,
    ]
    .into_iter()
    .find(|r| Some(r.code()) == code);
    match explained {
        Some(r) => format!("{} (<code>{}</code>)", escape(r.explain()), r.code()),
        None => "not recorded".into(),
    }
}

/// The section's HTML for `count` held posts, `views` the listed ones.
pub fn section_html(count: u64, views: &[HeldView]) -> String {
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
            .map(|m| format!("<p class=\"excerpt\" style=\"white-space:pre-wrap;overflow-wrap:anywhere\">{}</p>", escape(&m)))
            .unwrap_or_default();
        h.push_str(&format!(
            "<li><p>{from}<br><small>{} · form <code>{}</code> · {}</small></p>{message}\
             <form method=\"post\" action=\"/admin/held/{id}/release\" style=\"display:inline\">\
             <button>Deliver to Keap</button></form> \
             <form method=\"post\" action=\"/admin/held/{id}/delete\" style=\"display:inline\">\
             <button>Delete</button></form></li>",
            escape(&v.received_at().unwrap_or_default()),
            escape(&v.summary.form),
            reason_words(v.reason_code()),
        ));
    }
    h.push_str("</ul>");
    h
}

/// The section, read from the store (a listing and a bulk read; a
/// count when there are more); a KV failure says so instead.
pub async fn section<P: Platform>(p: &P, config: &Config) -> String {
    match held::views_and_count(p, config).await {
        Ok((views, count)) => section_html(count, &views),
        Err(e) => {
            p.log(&format!("admin: could not list the held posts: {e}"));
            format!(
                "<h2 id=\"held\">Held for review</h2><p class=\"warn\">The held posts could not \
                 be read just now (at most {HELD_SHOWN} are listed). Reload the page in a \
                 moment.</p>"
            )
        }
    }
}
