//! Small HTML pages the worker shows to people: escaping and one layout.

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
pub fn page(title: &str, body_html: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"robots\" content=\"noindex\">\
<title>{title}</title><style>{STYLE}</style></head>\
<body><main>{body_html}</main></body></html>\n",
        title = escape(title),
    )
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}\
main{max-width:42rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002}\
h1{font-size:1.5rem;margin-top:0}code{background:#eef0f4;padding:0 .25em;border-radius:3px}\
.ok{color:#0a7a3d}.bad{color:#b3261e}.warn{color:#8a5a00}\
table{border-collapse:collapse}td,th{text-align:left;padding:.25rem .75rem .25rem 0;vertical-align:top}\
.button,button{display:inline-block;background:#1f5fd1;color:#fff;border:0;border-radius:6px;padding:.6rem 1.1rem;font:inherit;text-decoration:none;cursor:pointer}\
.button:hover,button:hover{background:#174ba8}\
a{color:#1f5fd1}a:focus-visible,.button:focus-visible,button:focus-visible{outline:3px solid #1f5fd1;outline-offset:2px}\
h2{font-size:1.15rem;margin:1.75rem 0 .5rem}small{color:#4a5360}";

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
        let p = page("<script>", "<p>hi</p>");
        assert!(p.contains("<title>&lt;script&gt;</title>"));
        assert!(p.contains("<p>hi</p>"));
    }
}
