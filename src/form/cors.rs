//! CORS decisions for the form endpoint (docs/CONTRACT.md 3.1–3.2).
//!
//! CORS headers only decide whether a page's script may *read* an answer;
//! they do not stop a plain form post. The origin check in the submit flow
//! is what restricts the endpoint; this module makes sure every answer to
//! an allowed origin is readable and nothing else is.

use crate::form::origin::{AllowedOrigins, Origin};
use crate::http::{Incoming, Reply};

/// Methods a page may use on a form.
pub const ALLOW_METHODS: &str = "POST, OPTIONS";
/// Request headers a page may send (beyond the CORS-safelisted ones).
pub const ALLOW_HEADERS: &str = "Content-Type, Accept";
/// Answer headers a page's script may read (rate-limit back-off).
pub const EXPOSE_HEADERS: &str = "Retry-After";
/// How long a browser may cache a preflight answer, in seconds.
pub const MAX_AGE_SECS: u32 = 86_400;

/// The allowed origin a request comes from, if it comes from one.
pub fn allowed_origin<'a>(allowed: &'a AllowedOrigins, request: &Incoming) -> Option<&'a Origin> {
    let origin = request.header("Origin");
    if let Some(exact) = origin.and_then(|h| allowed.find_exact(h)) {
        return Some(exact);
    }
    let claimed = Origin::of_request(origin, request.header("Referer"))?;
    allowed.find(&claimed)
}

/// Adds the CORS headers every answer carries: `Vary: Origin` always (the
/// answer depends on it, so caches must key on it) and
/// `Access-Control-Allow-Origin` naming that one origin when it is allowed.
pub fn decorate(reply: Reply, origin: Option<&Origin>) -> Reply {
    let reply = reply.with_header("Vary", "Origin");
    match origin {
        Some(o) => reply
            .with_header("Access-Control-Allow-Origin", o.as_str().to_string())
            .with_header("Access-Control-Expose-Headers", EXPOSE_HEADERS),
        None => reply,
    }
}

/// The answer to an `OPTIONS` preflight: 204 with the grant for an allowed
/// origin; 403 without any `Access-Control-Allow-*` header otherwise, so
/// the browser stops before sending the post. (No Expose-Headers: that
/// grant belongs on the answer to the post, not on a preflight.)
pub fn preflight(origin: Option<&Origin>) -> Reply {
    match origin {
        Some(o) => Reply::new(204)
            .with_header("Vary", "Origin")
            .with_header("Access-Control-Allow-Origin", o.as_str().to_string())
            .with_header("Access-Control-Allow-Methods", ALLOW_METHODS)
            .with_header("Access-Control-Allow-Headers", ALLOW_HEADERS)
            .with_header("Access-Control-Max-Age", MAX_AGE_SECS.to_string()),
        None => decorate(Reply::new(403), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Headers, Method};

    fn request(headers: &[(&str, &str)]) -> Incoming {
        let mut h = Headers::new();
        for (k, v) in headers {
            h.push(k.to_string(), v.to_string());
        }
        Incoming {
            method: Method::Options,
            url: crate::request_url::RequestUrl::parse("https://worker.example/forms/contact")
                .unwrap(),
            headers: h,
            body: Vec::new(),
        }
    }

    fn allowed() -> AllowedOrigins {
        AllowedOrigins::parse(Some("https://example.com")).0
    }

    #[test]
    fn preflight_from_an_allowed_origin_is_granted_for_that_origin_only() {
        let list = allowed();
        let req = request(&[("Origin", "https://example.com")]);
        let reply = preflight(allowed_origin(&list, &req));
        assert_eq!(reply.status, 204);
        assert_eq!(
            reply.headers.get("Access-Control-Allow-Origin"),
            Some("https://example.com")
        );
        assert_eq!(reply.headers.get("Vary"), Some("Origin"));
        assert_eq!(
            reply.headers.get("Access-Control-Allow-Methods"),
            Some("POST, OPTIONS")
        );
        let allow_headers = reply.headers.get("Access-Control-Allow-Headers").unwrap();
        assert!(allow_headers.contains("Content-Type") && allow_headers.contains("Accept"));
        assert_eq!(reply.headers.get("Access-Control-Max-Age"), Some("86400"));
    }

    #[test]
    fn preflight_from_elsewhere_gets_no_grant() {
        let list = allowed();
        for headers in [
            vec![("Origin", "https://evil.example")],
            vec![("Origin", "null")],
            vec![],
        ] {
            let reply = preflight(allowed_origin(&list, &request(&headers)));
            assert_eq!(reply.status, 403);
            assert!(reply
                .headers
                .iter()
                .all(|(k, _)| !k.to_ascii_lowercase().starts_with("access-control-")));
        }
    }

    #[test]
    fn an_origin_written_differently_is_still_the_same_site() {
        let list = allowed();
        for header in [
            "https://example.com",
            "https://EXAMPLE.com",
            "https://example.com:443",
            " https://example.com/",
        ] {
            let origin = allowed_origin(&list, &request(&[("Origin", header)]));
            assert_eq!(
                origin.map(Origin::as_str),
                Some("https://example.com"),
                "{header}"
            );
        }
        // A present Origin decides, even when it takes the parse: the
        // Referer is not consulted.
        let req = request(&[
            ("Origin", "https://evil.example"),
            ("Referer", "https://example.com/"),
        ]);
        assert_eq!(allowed_origin(&list, &req), None);
    }

    #[test]
    fn with_an_origin_present_the_referer_changes_nothing() {
        let list = allowed();
        for origin in [
            "https://example.com",
            "https://evil.example",
            "null",
            "",
            "not a url",
        ] {
            let alone = allowed_origin(&list, &request(&[("Origin", origin)]));
            for referer in [
                "https://example.com/contact.html",
                "https://evil.example/",
                "junk",
            ] {
                let both = request(&[("Origin", origin), ("Referer", referer)]);
                assert_eq!(
                    allowed_origin(&list, &both),
                    alone,
                    "{origin} with {referer}"
                );
            }
        }
    }

    #[test]
    fn referer_is_the_fallback_and_never_a_star() {
        let list = allowed();
        let req = request(&[("Referer", "https://example.com/contact.html")]);
        let reply = decorate(Reply::new(200), allowed_origin(&list, &req));
        assert_eq!(
            reply.headers.get("Access-Control-Allow-Origin"),
            Some("https://example.com")
        );
        assert!(reply.headers.iter().all(|(_, v)| v != "*"));
    }
}
