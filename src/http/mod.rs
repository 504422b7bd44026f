//! Plain HTTP values passed between the core and the shell.
//!
//! The core decides *what* to send and *what* to answer; the shell turns
//! these values into the runtime's `Request`/`Response` and back. Keeping them
//! plain lets every decision be tested natively.

pub mod accept;
use std::borrow::Cow;

use crate::request_url::RequestUrl;

/// An HTTP method the core uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
    Options,
    Head,
    Other,
}

impl Method {
    /// A method name, in any case.
    pub fn parse(s: &str) -> Method {
        [
            Method::Get,
            Method::Post,
            Method::Put,
            Method::Delete,
            Method::Options,
            Method::Head,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(s))
        .unwrap_or(Method::Other)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Head => "HEAD",
            Method::Other => "OTHER",
        }
    }
}

/// A header name or value: most are fixed text (`Content-Type`,
/// `no-store`), which is then kept without a copy.
pub type HeaderText = Cow<'static, str>;

/// Header list with case-insensitive lookup. Order is kept; names are
/// stored as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(HeaderText, HeaderText)>);

impl Headers {
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// First value of `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// Adds a header, keeping any earlier one of the same name.
    pub fn push(&mut self, name: impl Into<HeaderText>, value: impl Into<HeaderText>) {
        self.0.push((name.into(), value.into()));
    }

    /// Replaces every header of this name with one value.
    pub fn set(&mut self, name: &'static str, value: impl Into<HeaderText>) {
        self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.0.push((Cow::Borrowed(name), value.into()));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }
}

/// The request headers the core reads, lowercase. The shell copies only
/// these out of the runtime, since copying every header of every request
/// costs CPU; [`Incoming::header`] checks in debug builds (so in every
/// native test) that nothing else is asked for.
pub const REQUEST_HEADERS: [&str; 8] = [
    "accept",
    "authorization",
    "cf-connecting-ip",
    "content-length",
    "content-type",
    "origin",
    "referer",
    "sec-fetch-site",
];

/// A request that reached the worker, as the core sees it.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub method: Method,
    /// Full URL of the request (scheme, host, path, query).
    pub url: RequestUrl,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        debug_assert!(
            REQUEST_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)),
            "{name} is read but not in http::REQUEST_HEADERS, so the shell never passes it"
        );
        self.headers.get(name)
    }

    /// Value of a query parameter, first occurrence.
    pub fn query(&self, name: &str) -> Option<String> {
        self.url
            .parsed()
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The visitor's IP as Cloudflare reports it.
    pub fn client_ip(&self) -> Option<&str> {
        self.header("CF-Connecting-IP")
    }
}

/// `{"ok":false,"error":{"code","message"}}`: the shape of every refusal
/// that is not about a form field (a visitor's answers add `field`, see
/// `form::answer::problem_json`).
pub fn error_json(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"ok": false, "error": {"code": code, "message": message}})
}

/// An answer the worker gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16) -> Self {
        Reply {
            status,
            // Room for a submission's answer (type, caching, CORS) at once.
            headers: Headers(Vec::with_capacity(6)),
            body: Vec::new(),
        }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Reply::json_text(status, value.to_string())
    }

    /// A refusal as [`error_json`].
    pub fn json_error(status: u16, code: &str, message: &str) -> Self {
        Reply::json(status, &error_json(code, message))
    }

    /// A JSON answer already written as text.
    pub fn json_text(status: u16, json: String) -> Self {
        Reply::text(status, "application/json; charset=utf-8", json)
    }

    pub fn html(status: u16, body: String) -> Self {
        Reply::text(status, "text/html; charset=utf-8", body)
    }

    fn text(status: u16, content_type: &'static str, body: String) -> Self {
        let mut r = Reply::new(status).with_header("Content-Type", content_type);
        r.body = body.into_bytes();
        r
    }

    pub fn redirect(status: u16, location: &str) -> Self {
        Reply::new(status).with_header("Location", location.to_string())
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<HeaderText>) -> Self {
        self.headers.set(name, value);
        self
    }
}

/// A request the core wants sent to Keap, Turnstile or the alert webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRequest {
    pub method: Method,
    pub url: String,
    pub headers: Headers,
    pub body: Option<Vec<u8>>,
    /// A shorter time limit than the platform's usual one, for a call that
    /// must not hold a visitor up (the mail domain lookup).
    pub timeout_ms: Option<u32>,
}

impl OutRequest {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        OutRequest {
            method,
            url: url.into(),
            headers: Headers::new(),
            body: None,
            timeout_ms: None,
        }
    }

    /// Limits the call (answer included) to `ms` milliseconds.
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// A JSON body. Every body the core sends is an object with text keys,
    /// which always serialises.
    pub fn json(mut self, value: &impl serde::Serialize) -> Self {
        self.headers.set("Content-Type", "application/json");
        let mut body = Vec::with_capacity(256);
        let written = serde_json::to_writer(&mut body, value).is_ok();
        self.body = Some(if written { body } else { Vec::new() });
        self
    }

    pub fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.headers
            .set("Content-Type", "application/x-www-form-urlencoded");
        self.body = Some(body.into_bytes());
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<HeaderText>) -> Self {
        self.headers.set(name, value);
        self
    }
}

/// An answer to an [`OutRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InResponse {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl InResponse {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        InResponse {
            status,
            headers: Headers::new(),
            body: body.into(),
        }
    }

    pub fn json_body(&self) -> Option<serde_json::Value> {
        let text = std::str::from_utf8(&self.body).ok()?;
        serde_json::from_str(text).ok()
    }

    /// The seconds of the `Retry-After` header's delta-seconds form. The
    /// date form, and anything else, reads as absent: the default wait
    /// applies.
    pub fn retry_after_secs(&self) -> Option<u64> {
        let text = self.headers.get("Retry-After")?.trim();
        if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    }
}

/// Why an outbound request produced no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// DNS, connection refused, TLS, reset: nothing came back.
    Network(String),
    /// No answer within the time the core allowed.
    Timeout,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Network(m) => write!(f, "network error: {m}"),
            FetchError::Timeout => write!(f, "timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_delta_seconds_only() {
        let read = |value: Option<&'static str>| {
            let mut answer = InResponse::new(429, "");
            if let Some(v) = value {
                answer.headers.push("Retry-After", v);
            }
            answer.retry_after_secs()
        };
        assert_eq!(read(Some("5")), Some(5));
        assert_eq!(read(Some(" 30 ")), Some(30));
        assert_eq!(read(Some("0")), Some(0));
        assert_eq!(read(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(read(Some("-1")), None);
        assert_eq!(read(Some("1.5")), None);
        assert_eq!(read(Some("")), None);
        assert_eq!(read(Some("99999999999")), None);
        assert_eq!(read(None), None);
    }

    impl Reply {
        /// The body as text, for the tests' assertions.
        pub fn body_text(&self) -> &str {
            std::str::from_utf8(&self.body).unwrap_or("")
        }
    }

    fn incoming() -> Incoming {
        let mut headers = Headers::new();
        headers.push("Origin", "https://example.com");
        Incoming {
            method: Method::Post,
            url: RequestUrl::parse("https://w.example/forms/contact").unwrap(),
            headers,
            body: Vec::new(),
        }
    }

    #[test]
    fn listed_headers_are_read_case_insensitively() {
        assert_eq!(incoming().header("origin"), Some("https://example.com"));
        assert_eq!(incoming().header("Referer"), None);
    }

    /// A header the shell does not pass would silently read as absent in
    /// production; tests catch the read instead.
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "not in http::REQUEST_HEADERS")]
    fn reading_an_unlisted_header_is_caught() {
        let _ = incoming().header("X-Custom");
    }
}
