//! Answers for people in a browser: a page with a status, never cached
//! (they describe the worker's state, which changes).

use crate::html;
use crate::http::Reply;

/// A page titled `title` whose body is `body_html` (built with
/// [`html::escape`] for anything not written here).
pub fn page(status: u16, title: &str, body_html: &str) -> Reply {
    let body = format!("<h1>{}</h1>{body_html}", html::escape(title));
    Reply::html(status, html::page(title, &body)).with_header("Cache-Control", "no-store")
}

/// The closing line of most pages: where to go next.
pub const BACK_TO_ADMIN: &str =
    "<p><a class=\"button\" href=\"/admin\">Back to the admin page</a></p>";
