//! The URL of a request that reached the worker.
//!
//! Routing needs only the path, and a form post or preflight needs nothing
//! else, so the path of a plain URL is found by scanning instead of by a
//! full URL parse (with the origin matched without a parse too, that took
//! 20 to 30 µs off a preflight's 95 in workerd: bench/handler.mjs). A URL with anything
//! a parser would normalise (dot segments, percent escapes, uppercase or
//! bracketed hosts, user info) is parsed in full instead, so the path is
//! always the one a WHATWG parser gives. The query and the origin (the
//! OAuth callback's needs) come from a full parse, done when asked for.

/// An absolute http(s) URL and its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestUrl {
    text: String,
    path: String,
}

impl RequestUrl {
    /// The URL of `text`, `None` when it is not an absolute URL. The
    /// runtime hands over URLs its own parser has already normalised; the
    /// quick scan accepts only ones on which both parsers agree.
    pub fn parse(text: &str) -> Option<RequestUrl> {
        if let Some(path) = plain_path(text) {
            return Some(RequestUrl {
                text: text.to_string(),
                path: path.to_string(),
            });
        }
        let url = url::Url::parse(text).ok()?;
        Some(RequestUrl {
            path: url.path().to_string(),
            text: url.into(),
        })
    }

    /// The path, percent-encoded as sent: `/forms/contact`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The full parse, for the query and the origin.
    pub fn parsed(&self) -> Option<url::Url> {
        url::Url::parse(&self.text).ok()
    }
}

/// The path of `http(s)://host[:port]/path[?query][#fragment]` when the
/// host is lowercase letters, digits, dots and hyphens and the path only
/// letters, digits, `_`, `-` and `/`: nothing a parser would change.
fn plain_path(text: &str) -> Option<&str> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(end);
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let host_ok = host
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    // A host whose last label starts with a digit is read as an IPv4
    // address, which a parser checks and may rewrite (`1.2.3` is
    // `1.2.0.3`, `a.0` is refused): parse those.
    let last_label = host.strip_suffix('.').unwrap_or(host).rsplit('.').next();
    let numeric = last_label.is_some_and(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        && !dotted_quad(host);
    let port_ok = port.is_none_or(|p| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
    });
    if host.is_empty() || !host_ok || numeric || !port_ok {
        return None;
    }
    let path_end = rest.find(['?', '#']).unwrap_or(rest.len());
    let path = &rest[..path_end];
    if path.is_empty() {
        return Some("/");
    }
    let path_ok = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'/');
    path_ok.then_some(path)
}

/// `a.b.c.d` in the form a parser gives it: four decimal parts of at most
/// 255, without leading zeros (`127.0.0.1`, the address of local runs).
fn dotted_quad(host: &str) -> bool {
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
                && p.parse::<u8>().is_ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_urls_are_scanned_and_give_the_parsers_path() {
        for (text, path) in [
            ("https://w.example/forms/contact", "/forms/contact"),
            (
                "http://127.0.0.1:8787/forms/contact?x=1#y",
                "/forms/contact",
            ),
            ("http://localhost:8787", "/"),
            ("https://w.example?a=b", "/"),
        ] {
            assert_eq!(RequestUrl::parse(text).unwrap().path(), path, "{text}");
        }
        assert_eq!(
            plain_path("https://w.example/forms/contact"),
            Some("/forms/contact")
        );
    }

    #[test]
    fn anything_a_parser_would_change_is_parsed_in_full() {
        for (text, path) in [
            ("https://w.example/forms/../admin", "/admin"),
            ("https://w.example/forms/%2e%2e/admin", "/admin"),
            ("https://W.EXAMPLE/forms/contact", "/forms/contact"),
            ("https://w.example/a b", "/a%20b"),
            ("https://user@w.example/health", "/health"),
            ("https://w.example/forms/caf\u{e9}", "/forms/caf%C3%A9"),
        ] {
            assert_eq!(plain_path(text), None, "{text}");
            assert_eq!(RequestUrl::parse(text).unwrap().path(), path, "{text}");
        }
        for bad in ["", "/forms/contact", "not a url", "https://", "http://:80/"] {
            assert_eq!(RequestUrl::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_query_comes_from_a_full_parse() {
        let url = RequestUrl::parse("https://w.example/oauth/callback?code=a%20b&state=s").unwrap();
        let parsed = url.parsed().unwrap();
        let code = parsed.query_pairs().find(|(k, _)| k == "code").unwrap().1;
        assert_eq!(code, "a b");
    }

    proptest! {
        /// Wherever the scan answers, a WHATWG parser accepts the URL and
        /// gives the same path.
        #[test]
        fn the_scan_agrees_with_the_parser(
            scheme in prop::sample::select(vec!["http://", "https://", "HTTP://", "ftp://"]),
            host in "[a-zA-Z0-9.\\-:@\\[\\]]{0,12}|[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,4}",
            path in "[a-zA-Z0-9_\\-/.%?# ]{0,16}",
        ) {
            let text = format!("{scheme}{host}{path}");
            if let Some(scanned) = plain_path(&text) {
                let parsed = url::Url::parse(&text);
                prop_assert!(parsed.is_ok(), "{}", text);
                let parsed = parsed.unwrap();
                prop_assert_eq!(scanned, parsed.path(), "{}", text);
            }
        }
    }
}
