//! The URL of a request that reached the worker, parsed once with the
//! `url` crate (the WHATWG parser browsers and the runtime follow).

/// An absolute http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestUrl(url::Url);

impl RequestUrl {
    /// The URL of `text`, `None` when it is not an absolute http(s) URL.
    pub fn parse(text: &str) -> Option<RequestUrl> {
        let url = url::Url::parse(text).ok()?;
        matches!(url.scheme(), "http" | "https").then_some(RequestUrl(url))
    }

    /// The path, percent-encoded as sent: `/forms/contact`.
    pub fn path(&self) -> &str {
        self.0.path()
    }

    /// The whole URL, for the query and the origin.
    pub fn parsed(&self) -> &url::Url {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_the_one_a_whatwg_parser_gives() {
        for (text, path) in [
            ("https://w.example/forms/contact", "/forms/contact"),
            (
                "http://127.0.0.1:8787/forms/contact?x=1#y",
                "/forms/contact",
            ),
            ("http://localhost:8787", "/"),
            ("https://w.example?a=b", "/"),
            ("https://w.example/forms/../admin", "/admin"),
            ("https://w.example/forms/%2e%2e/admin", "/admin"),
            ("https://W.EXAMPLE/forms/contact", "/forms/contact"),
            ("https://w.example/a b", "/a%20b"),
            ("https://user@w.example/health", "/health"),
            ("https://w.example/forms/caf\u{e9}", "/forms/caf%C3%A9"),
        ] {
            assert_eq!(RequestUrl::parse(text).unwrap().path(), path, "{text}");
        }
    }

    #[test]
    fn only_absolute_http_urls_are_request_urls() {
        for bad in [
            "",
            "/forms/contact",
            "not a url",
            "https://",
            "http://:80/",
            "ftp://w.example/forms/contact",
        ] {
            assert_eq!(RequestUrl::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_query_comes_from_the_parse() {
        let url = RequestUrl::parse("https://w.example/oauth/callback?code=a%20b&state=s").unwrap();
        let code = url
            .parsed()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1;
        assert_eq!(code, "a b");
    }
}
