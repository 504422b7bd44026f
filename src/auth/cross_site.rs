//! Whether an admin request that acts came from another site.
//!
//! Once the owner has signed in to `/admin` with HTTP Basic, the browser
//! sends those credentials with every request to the worker, including a
//! form that another site auto-submits. So a request that changes
//! something is only taken from the worker's own pages: browsers say where
//! a request comes from in `Origin` (every POST) and `Sec-Fetch-Site`
//! (every request, in current browsers). A client that sends neither
//! (curl, old clients) is not a browser acting for someone else.

use crate::form::origin::Origin;
use crate::http::Method;
use crate::request_url::RequestUrl;
use crate::settings::Settings;

/// Whether a request to `path` with `method` changes something: every
/// `POST` (or other non-reading method) under `/admin`, and
/// `/oauth/start`, which starts an authorization in the owner's name.
/// Decided from the method and the path alone, so a new admin route is
/// covered without being listed.
pub fn acts(method: Method, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["oauth", "start"] => true,
        ["admin", ..] => !matches!(method, Method::Get | Method::Head | Method::Options),
        _ => false,
    }
}

/// Whether a browser says the request comes from somewhere other than
/// the worker's own pages: its `Origin` is present and not one of
/// `own` (an opaque `null` origin included), or, with no `Origin`, its
/// `Sec-Fetch-Site` is `cross-site` or `same-site`.
pub fn from_elsewhere(own: &[Origin], origin: Option<&str>, sec_fetch_site: Option<&str>) -> bool {
    match origin {
        // An opaque origin (`null`: `file:`, sandboxed frames) or anything
        // that is not an http(s) origin is elsewhere.
        Some(origin) => Origin::parse(origin).map_or(true, |origin| !own.contains(&origin)),
        None => sec_fetch_site.is_some_and(|site| {
            let site = site.trim();
            site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site")
        }),
    }
}

/// The worker's own origins: the one the request came to (behind
/// `wrangler dev` and on workers.dev alike), and `OAUTH_REDIRECT_URI`'s
/// when it is set (the origin the owner registered with Keap).
pub fn own_origins(settings: &Settings, request_url: &RequestUrl) -> Vec<Origin> {
    let configured = settings
        .oauth_redirect_uri
        .as_deref()
        .and_then(|uri| url::Url::parse(uri.trim()).ok());
    std::iter::once(request_url.parsed())
        .chain(configured.as_ref())
        .filter_map(|url| Origin::of_url(url).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKER: &str = "https://forms.example.com/admin/test-lead";

    fn own(redirect: Option<&str>) -> Vec<Origin> {
        let settings = Settings {
            oauth_redirect_uri: redirect.map(str::to_string),
            ..Settings::default()
        };
        own_origins(&settings, &RequestUrl::parse(WORKER).unwrap())
    }

    #[test]
    fn what_acts_is_read_from_method_and_path() {
        for (method, path, expected) in [
            (Method::Post, "/admin/refresh", true),
            (Method::Post, "/admin/replay", true),
            (Method::Post, "/admin/check", true),
            (Method::Post, "/admin/test-lead", true),
            (Method::Post, "/admin/held/abc/release", true),
            (Method::Delete, "/admin/held/abc", true),
            (Method::Put, "/admin/anything", true),
            (Method::Other, "/admin", true),
            (Method::Post, "/admin/test-lead/", true),
            (Method::Get, "/oauth/start", true),
            (Method::Head, "/oauth/start", true),
            (Method::Get, "/admin", false),
            (Method::Head, "/admin", false),
            (Method::Get, "/admin/status", false),
            (Method::Get, "/admin/keap/tags", false),
            (Method::Options, "/admin/refresh", false),
            (Method::Post, "/forms/contact", false),
            (Method::Get, "/oauth/callback", false),
            (Method::Post, "/administrator", false),
        ] {
            assert_eq!(acts(method, path), expected, "{method:?} {path}");
        }
    }

    #[test]
    fn where_a_request_comes_from() {
        let plain = own(None);
        let with_redirect = own(Some("https://connect.example.org/oauth/callback"));
        /// (own origins, Origin, Sec-Fetch-Site, from elsewhere?)
        type Case<'a> = (&'a [Origin], Option<&'a str>, Option<&'a str>, bool);
        let cases: &[Case] = &[
            // A foreign Origin, whatever Sec-Fetch-Site says.
            (&plain, Some("https://evil.example"), None, true),
            (
                &plain,
                Some("https://evil.example"),
                Some("same-origin"),
                true,
            ),
            (&plain, Some("null"), None, true),
            (&plain, Some("not an origin"), None, true),
            (&plain, Some(""), None, true),
            // Another scheme or port is another origin.
            (&plain, Some("http://forms.example.com"), None, true),
            (&plain, Some("https://forms.example.com:8443"), None, true),
            // A sibling subdomain is same-site but not the worker.
            (&plain, Some("https://www.example.com"), None, true),
            (&plain, Some("https://connect.example.org"), None, true),
            // The worker's own origin, as browsers send it (or spelled otherwise).
            (&plain, Some("https://forms.example.com"), None, false),
            (
                &plain,
                Some("https://forms.example.com"),
                Some("same-origin"),
                false,
            ),
            (&plain, Some("https://FORMS.example.com:443"), None, false),
            (&plain, Some(" https://forms.example.com "), None, false),
            // OAUTH_REDIRECT_URI's origin counts as the worker's own.
            (
                &with_redirect,
                Some("https://connect.example.org"),
                None,
                false,
            ),
            (
                &with_redirect,
                Some("https://forms.example.com"),
                None,
                false,
            ),
            (&with_redirect, Some("https://evil.example"), None, true),
            // No Origin: Sec-Fetch-Site decides.
            (&plain, None, Some("cross-site"), true),
            (&plain, None, Some("same-site"), true),
            (&plain, None, Some("Cross-Site"), true),
            (&plain, None, Some("same-origin"), false),
            (&plain, None, Some("none"), false),
            // Neither (curl, old clients): not a browser acting for someone.
            (&plain, None, None, false),
        ];
        for (own, origin, site, expected) in cases {
            assert_eq!(
                from_elsewhere(own, *origin, *site),
                *expected,
                "Origin {origin:?}, Sec-Fetch-Site {site:?}, own {own:?}"
            );
        }
    }

    #[test]
    fn the_own_origins_are_the_request_and_the_redirect_uri() {
        let origins = |o: &[Origin]| -> Vec<String> { o.iter().map(Origin::to_string).collect() };
        assert_eq!(origins(&own(None)), ["https://forms.example.com"]);
        assert_eq!(
            origins(&own(Some(" https://connect.example.org/oauth/callback "))),
            ["https://forms.example.com", "https://connect.example.org"]
        );
        // A setting that is not a URL adds nothing (and is never an opaque origin).
        assert_eq!(
            origins(&own(Some("nonsense"))),
            ["https://forms.example.com"]
        );
        assert_eq!(origins(&own(Some(""))), ["https://forms.example.com"]);
        let local = own_origins(
            &Settings::default(),
            &RequestUrl::parse("http://127.0.0.1:8787/admin/refresh").unwrap(),
        );
        assert_eq!(origins(&local), ["http://127.0.0.1:8787"]);
    }
}
