//! The one layout of every page the worker shows to people (the owner's
//! pages and a visitor's answer without scripts), and HTML escaping. It
//! depends on nothing but [`Reply`], so any module may use it.

use crate::http::Reply;

/// Escapes text for use in HTML element content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A complete, plain page. `title` is text (escaped here); `body_html` is
/// HTML the caller built with [`escape`] for anything it did not write.
pub fn document(title: &str, body_html: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"robots\" content=\"noindex\">\
<title>{title}</title><style>{STYLE}</style></head>\
<body><main>{body_html}</main></body></html>\n",
        title = escape(title),
    )
}

/// A page headed `title` whose body is `body_html`, with a status and
/// never cached (the owner's pages describe the worker's state, which
/// changes).
pub fn page(status: u16, title: &str, body_html: &str) -> Reply {
    let body = format!("<h1>{}</h1>{body_html}", escape(title));
    Reply::html(status, document(title, &body)).with_header("Cache-Control", "no-store")
}

/// A [`page`] that ends with the way back to `/admin`, as most do.
pub fn page_back(status: u16, title: &str, body_html: &str) -> Reply {
    page(status, title, &format!("{body_html}{BACK_TO_ADMIN}"))
}

/// The closing line of most pages: where to go next.
pub const BACK_TO_ADMIN: &str =
    "<p><a class=\"button\" href=\"/admin\">Back to the admin page</a></p>";

const STYLE: &str = include_str!("assets/style.css");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn page_escapes_title() {
        let p = document("<script>", "<p>hi</p>");
        assert!(p.contains("<title>&lt;script&gt;</title>"));
        assert!(p.contains("<p>hi</p>"));
        assert!(p.contains(".ok{color:#0a7a3d}"), "the style is in: {p}");
    }
}
