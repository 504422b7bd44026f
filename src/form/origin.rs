//! Web origins (`scheme://host[:port]`) and the `ALLOWED_ORIGINS` list.
//!
//! An [`Origin`] exists only by parsing, so a value of the type is always a
//! normalised http(s) origin: lowercase, default port dropped, no path,
//! never the opaque `null`. Two origins are the same site exactly when
//! their serialisations are equal, which is what the CORS check compares.

use std::fmt;

/// A normalised http(s) origin, e.g. `https://www.example.com`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `scheme://host[:port]`, as browsers serialise it.
    serialised: String,
    /// The host alone (IDNs in their ASCII form), for Turnstile's check.
    host: String,
}

/// Why a text is not an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginError {
    /// `null`: the browser hides the origin (sandboxed frame, `file:`).
    Opaque,
    /// Not a URL, or a URL without a host.
    NotAUrl,
    /// A scheme other than http or https.
    Scheme,
    /// A path, query, fragment or user info: not just an origin.
    NotJustAnOrigin,
}

impl fmt::Display for OriginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OriginError::Opaque => "the opaque origin `null` cannot be allowed",
            OriginError::NotAUrl => "not a URL with a host",
            OriginError::Scheme => "the scheme must be http or https",
            OriginError::NotJustAnOrigin => {
                "an origin has no path, query or user name (write it like https://example.com)"
            }
        })
    }
}

impl Origin {
    /// Parses an origin as found in an `Origin` header or in
    /// `ALLOWED_ORIGINS`. A single trailing `/` is tolerated (people copy
    /// it from the address bar); any other path is refused.
    pub fn parse(text: &str) -> Result<Origin, OriginError> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("null") {
            return Err(OriginError::Opaque);
        }
        let bare = text.strip_suffix('/').unwrap_or(text);
        // `scheme://host` and nothing after the authority.
        let after_scheme = bare.split_once("://").map(|(_, rest)| rest);
        if after_scheme.is_some_and(|rest| rest.contains(['/', '?', '#', '@', '\\'])) {
            return Err(OriginError::NotJustAnOrigin);
        }
        let url = url::Url::parse(bare).map_err(|_| OriginError::NotAUrl)?;
        let origin = Origin::of_url(&url)?;
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(OriginError::NotJustAnOrigin);
        }
        Ok(origin)
    }

    /// The origin of a full URL (a `Referer`, a `_next` target).
    pub fn of_url(url: &url::Url) -> Result<Origin, OriginError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(OriginError::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OriginError::NotJustAnOrigin);
        }
        let host = url.host_str().ok_or(OriginError::NotAUrl)?;
        if host.is_empty() {
            return Err(OriginError::NotAUrl);
        }
        let serialised = url.origin().ascii_serialization();
        if serialised == "null" {
            return Err(OriginError::Opaque);
        }
        Ok(Origin {
            serialised,
            host: host.to_string(),
        })
    }

    /// The origin of a `Referer` header value, if it is an http(s) URL.
    pub fn of_referer(referer: &str) -> Option<Origin> {
        let url = url::Url::parse(referer.trim()).ok()?;
        Origin::of_url(&url).ok()
    }

    /// The origin a request claims: its `Origin` header when present (even
    /// if that is `null`, which is then refused: falling back to `Referer`
    /// would let a hidden origin through), else the origin of `Referer`.
    pub fn of_request(origin: Option<&str>, referer: Option<&str>) -> Option<Origin> {
        match origin {
            Some(o) => Origin::parse(o).ok(),
            None => referer.and_then(Origin::of_referer),
        }
    }

    /// `scheme://host[:port]`.
    pub fn as_str(&self) -> &str {
        &self.serialised
    }

    /// The host, without scheme or port.
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.serialised)
    }
}

/// The origins whose pages may post to the forms. Matching is exact: no
/// wildcards, no subdomain matching, so the list says precisely who may.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<Origin>);

impl AllowedOrigins {
    /// Parses the comma-separated `ALLOWED_ORIGINS` var. Entries that are
    /// not origins are left out and described in the returned problems.
    pub fn parse(raw: Option<&str>) -> (AllowedOrigins, Vec<String>) {
        let mut origins: Vec<Origin> = Vec::new();
        let mut problems = Vec::new();
        for entry in raw.unwrap_or("").split(',').map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            match Origin::parse(entry) {
                Ok(o) if !origins.contains(&o) => origins.push(o),
                Ok(_) => {}
                Err(e) => problems.push(format!("ALLOWED_ORIGINS: `{entry}` is not allowed: {e}")),
            }
        }
        (AllowedOrigins(origins), problems)
    }

    /// The allowed origin equal to `origin`, if any.
    pub fn find(&self, origin: &Origin) -> Option<&Origin> {
        self.0.iter().find(|o| *o == origin)
    }

    /// The allowed origin whose serialisation is exactly `header`, as a
    /// browser sends it: the common case, answered without a URL parse,
    /// which is costly in wasm. An origin's serialisation parses to
    /// itself, so this agrees with parsing first.
    pub fn find_exact(&self, header: &str) -> Option<&Origin> {
        self.0.iter().find(|o| o.serialised == header)
    }

    pub fn contains(&self, origin: &Origin) -> bool {
        self.find(origin).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Origin> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_parses_to_itself_so_an_exact_match_needs_no_parse() {
        for text in [
            "https://example.com",
            "http://127.0.0.1:8788",
            "https://xn--bcher-kva.example",
            "https://Example.COM:443/",
            "https://bücher.example",
            "http://[::1]:8080",
        ] {
            let origin = Origin::parse(text).unwrap();
            assert_eq!(
                Origin::parse(origin.as_str()).as_ref(),
                Ok(&origin),
                "{text}"
            );
            let list = AllowedOrigins(vec![origin.clone()]);
            assert_eq!(list.find_exact(origin.as_str()), Some(&origin));
        }
        let list = AllowedOrigins::parse(Some("https://example.com")).0;
        // Only the exact serialisation takes the short way; the rest parse.
        for other in [
            "https://example.com/",
            "HTTPS://EXAMPLE.COM",
            " https://example.com",
            "null",
        ] {
            assert_eq!(list.find_exact(other), None, "{other}");
        }
    }

    fn o(s: &str) -> String {
        match Origin::parse(s) {
            Ok(o) => o.as_str().to_string(),
            Err(e) => format!("error: {e:?}"),
        }
    }

    #[test]
    fn normalises_case_and_default_ports() {
        assert_eq!(o("HTTPS://Example.COM"), "https://example.com");
        assert_eq!(o("https://example.com:443"), "https://example.com");
        assert_eq!(o("http://example.com:80"), "http://example.com");
        assert_eq!(o("http://localhost:8080"), "http://localhost:8080");
        assert_eq!(o("https://example.com/"), "https://example.com");
        assert_eq!(o("  https://example.com  "), "https://example.com");
        assert_eq!(o("https://bücher.example"), "https://xn--bcher-kva.example");
    }

    #[test]
    fn unicode_hosts_take_their_idna_form() {
        // Vectors from RFC 3492 section 7.1 and from browsers' address bars,
        // through `url`'s IDNA (UTS #46): case folded in any script, the
        // ideographic full stop a label separator.
        for (text, ascii) in [
            ("https://München.DE", "https://xn--mnchen-3ya.de"),
            (
                "https://BÜCHER.example:8443",
                "https://xn--bcher-kva.example:8443",
            ),
            ("https://例え.テスト", "https://xn--r8jz45g.xn--zckzah"),
            ("https://例え。テスト", "https://xn--r8jz45g.xn--zckzah"),
            (
                "https://ПРАВИТЕЛЬСТВО.РФ",
                "https://xn--80aealotwbjpid2k.xn--p1ai",
            ),
            (
                "https://ليهمابتكلموشعربي؟.example",
                "https://xn--egbpdaj6bu4bxfgehfvwxn.example",
            ),
            (
                "https://他们为什么不说中文.example",
                "https://xn--ihqwcrb4cv8a8dqg056pqjye.example",
            ),
        ] {
            assert_eq!(o(text), ascii, "{text}");
        }
        assert_eq!(o("https://xn--a.example"), "error: NotAUrl");
        let referer = Origin::of_referer("https://bücher.example/danke?x=ü#f").unwrap();
        assert_eq!(
            (referer.as_str(), referer.host()),
            ("https://xn--bcher-kva.example", "xn--bcher-kva.example")
        );
    }

    #[test]
    fn refuses_what_is_not_an_http_origin() {
        assert_eq!(o("null"), "error: Opaque");
        assert_eq!(o("NULL"), "error: Opaque");
        assert_eq!(o("file:///etc/passwd"), "error: NotJustAnOrigin");
        assert_eq!(o("ftp://example.com"), "error: Scheme");
        assert_eq!(o("data:text/html,hi"), "error: Scheme");
        assert_eq!(o("https://example.com/path"), "error: NotJustAnOrigin");
        assert_eq!(o("https://example.com?x=1"), "error: NotJustAnOrigin");
        assert_eq!(o("https://user@example.com"), "error: NotJustAnOrigin");
        assert_eq!(o("example.com"), "error: NotAUrl");
        assert_eq!(o(""), "error: NotAUrl");
    }

    #[test]
    fn referer_gives_its_origin() {
        let r = Origin::of_referer("https://www.example.com:443/contact?x=1#top");
        assert_eq!(
            r.map(|o| o.to_string()),
            Some("https://www.example.com".into())
        );
        assert_eq!(Origin::of_referer("about:blank"), None);
        assert_eq!(Origin::of_referer("not a url"), None);
    }

    #[test]
    fn the_origin_header_wins_over_referer_even_when_null() {
        let both = Origin::of_request(Some("https://a.example"), Some("https://b.example/x"));
        assert_eq!(both.map(|o| o.host().to_string()), Some("a.example".into()));
        assert_eq!(
            Origin::of_request(Some("null"), Some("https://b.example/x")),
            None
        );
        let fallback = Origin::of_request(None, Some("https://b.example/x"));
        assert_eq!(
            fallback.map(|o| o.host().to_string()),
            Some("b.example".into())
        );
        assert_eq!(Origin::of_request(None, None), None);
    }

    #[test]
    fn allowed_list_is_exact_and_reports_bad_entries() {
        let (list, problems) = AllowedOrigins::parse(Some(
            "https://example.com, https://WWW.example.com:443,,null,https://example.com/x",
        ));
        assert_eq!(problems.len(), 2, "{problems:?}");
        let yes = Origin::parse("https://www.example.com").unwrap();
        let sub = Origin::parse("https://shop.example.com").unwrap();
        let http = Origin::parse("http://example.com").unwrap();
        assert!(list.contains(&yes));
        assert!(!list.contains(&sub));
        assert!(!list.contains(&http));
        assert!(AllowedOrigins::parse(None).0.is_empty());
    }
}
