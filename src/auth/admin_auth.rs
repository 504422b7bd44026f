//! Who may use `/admin/*` and `/oauth/start`: whoever presents
//! `ADMIN_TOKEN`, as `Authorization: Bearer <token>` (scripts) or as the
//! password of HTTP Basic with any user name (browsers prompt for it);
//! and, for a browser's login, only from the worker's own pages when the
//! request acts (see [`cross_site`]).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::cross_site;
use crate::config::Config;
use crate::http::{accept, Incoming, Reply};
use crate::pages::layout;
use crate::secret::Secret;

/// The realm browsers show in their password prompt.
pub const REALM: &str = "keap-form-worker";

/// What to do with an admin request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminDecision {
    Allowed,
    /// No or wrong credentials: 401 with a Basic challenge.
    Challenge,
    /// `ADMIN_TOKEN` is not set: 503 saying how to set it.
    NotConfigured,
    /// A request that acts, not authenticated with `Bearer`, that a
    /// browser says comes from another site: 403, and nothing is done.
    CrossSite,
}

/// Decides from the configured token and the `Authorization` header.
pub fn decide(admin_token: Option<&Secret>, authorization: Option<&str>) -> AdminDecision {
    let Some(expected) = admin_token.filter(|t| !t.is_empty()) else {
        return AdminDecision::NotConfigured;
    };
    match authorization.and_then(presented_token) {
        Some(given) if same_secret(&given, expected.expose().as_bytes()) => AdminDecision::Allowed,
        _ => AdminDecision::Challenge,
    }
}

/// Decides a whole admin request: its credentials, then, when it acts
/// ([`cross_site::acts`]) and does not present `Bearer` (which a browser
/// never adds by itself), where it comes from. The cross-site check comes
/// before the password's, so a page elsewhere never even makes the
/// browser ask for it.
pub fn decide_request(config: &Config, request: &Incoming) -> AdminDecision {
    let authorization = request.header("Authorization");
    let decision = decide(config.settings.admin_token.as_ref(), authorization);
    if decision == AdminDecision::NotConfigured
        || authorization.is_some_and(is_bearer)
        || !cross_site::acts(request.method, request.url.path())
    {
        return decision;
    }
    let own = cross_site::own_origins(&config.settings, &request.url);
    if cross_site::from_elsewhere(
        &own,
        request.header("Origin"),
        request.header("Sec-Fetch-Site"),
    ) {
        AdminDecision::CrossSite
    } else {
        decision
    }
}

/// Checks a request against `ADMIN_TOKEN` and where it comes from
/// ([`decide_request`]): `Ok(())` to go on, or the answer to give instead
/// (JSON when the client asked for JSON, else HTML).
pub fn guard(config: &Config, request: &Incoming) -> Result<(), Reply> {
    refusal(decide_request(config, request), wants_json(request)).map_or(Ok(()), Err)
}

/// Whether an admin answer that can be a page or JSON is JSON: the one
/// rule for every such route (its refusals too). JSON unless the request
/// prefers `text/html` (see [`accept::prefers_html`]): a script with no
/// `Accept` gets JSON, a browser's form post its page.
pub fn wants_json(request: &Incoming) -> bool {
    !accept::prefers_html(request.header("Accept"))
}

/// The answer for a refused decision; `None` when allowed.
pub fn refusal(decision: AdminDecision, json: bool) -> Option<Reply> {
    let (status, code, title, text) = match decision {
        AdminDecision::Allowed => return None,
        AdminDecision::Challenge => (
            401,
            "unauthorized",
            "Sign in required",
            "This page is for the worker's administrator. Sign in with any user name and \
             ADMIN_TOKEN as the password, or send `Authorization: Bearer <ADMIN_TOKEN>`.",
        ),
        AdminDecision::NotConfigured => (
            503,
            "admin_token_not_set",
            "ADMIN_TOKEN is not set",
            "The admin pages are locked until ADMIN_TOKEN is set. Choose a long random value \
             (for example `openssl rand -base64 32`) and set it with \
             `wrangler secret put ADMIN_TOKEN`; when running locally, add an \
             `ADMIN_TOKEN=...` line to `.dev.vars` and restart `wrangler dev`.",
        ),
        AdminDecision::CrossSite => (
            403,
            "cross_site_request",
            "Refused: this came from another site",
            "Your browser says this request was sent from a page that is not this worker's own \
             (its Origin or Sec-Fetch-Site header), so it was refused and nothing was done. \
             Use the buttons on the admin page itself (/admin); a script sends \
             `Authorization: Bearer <ADMIN_TOKEN>` instead.",
        ),
    };
    let reply = if json {
        Reply::json_error(status, code, text)
    } else {
        let link = match decision {
            AdminDecision::CrossSite => ADMIN_LINK,
            _ => "",
        };
        layout::page(
            status,
            title,
            &format!("<p>{}</p>{link}", layout::escape(text)),
        )
    };
    let reply = reply.with_header("Cache-Control", "no-store");
    Some(match decision {
        AdminDecision::Challenge => {
            reply.with_header("WWW-Authenticate", format!("Basic realm=\"{REALM}\""))
        }
        _ => reply,
    })
}

/// Where a refused cross-site request can go instead: a link the owner
/// follows themselves, from the worker's own page.
const ADMIN_LINK: &str = "<p><a href=\"/admin\">Open the admin page</a></p>";

/// The headers that keep every admin answer out of other sites' frames,
/// so no page can show `/admin` under a decoy and trick a click.
pub fn unframeable(reply: Reply) -> Reply {
    reply
        .with_header("X-Frame-Options", "DENY")
        .with_header("Content-Security-Policy", "frame-ancestors 'none'")
}

/// Whether `Authorization` uses the `Bearer` scheme (right token or not):
/// only a script or a tool adds it, never a browser by itself.
fn is_bearer(header: &str) -> bool {
    header
        .trim()
        .split_once(' ')
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("Bearer"))
}

/// The token in `Bearer <t>`, or the password in `Basic base64(user:pass)`.
fn presented_token(header: &str) -> Option<Vec<u8>> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("Bearer") {
        Some(rest.as_bytes().to_vec())
    } else if scheme.eq_ignore_ascii_case("Basic") {
        let decoded = STANDARD.decode(rest).ok()?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        decoded.get(colon + 1..).map(<[u8]>::to_vec)
    } else {
        None
    }
}

/// Compares in constant time. Hashing first makes both sides the same
/// length, so not even the token's length leaks through timing.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let given = Sha256::digest(given);
    let expected = Sha256::digest(expected);
    given.as_slice().ct_eq(expected.as_slice()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Secret {
        Secret::new("s3cret-admin-token")
    }

    fn basic(user: &str, pass: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")))
    }

    #[test]
    fn bearer_with_the_token_is_allowed() {
        let t = token();
        assert_eq!(
            decide(Some(&t), Some("Bearer s3cret-admin-token")),
            AdminDecision::Allowed
        );
        assert_eq!(
            decide(Some(&t), Some("bearer  s3cret-admin-token ")),
            AdminDecision::Allowed
        );
    }

    #[test]
    fn basic_with_any_user_and_the_token_is_allowed() {
        let t = token();
        for user in ["admin", "", "someone:else"] {
            let header = basic(user, "s3cret-admin-token");
            // A user name with a colon cannot be told apart; only the first colon splits.
            let expected = if user.contains(':') {
                AdminDecision::Challenge
            } else {
                AdminDecision::Allowed
            };
            assert_eq!(decide(Some(&t), Some(&header)), expected, "{user:?}");
        }
        let with_colon_in_password = Secret::new("a:b");
        assert_eq!(
            decide(Some(&with_colon_in_password), Some(&basic("u", "a:b"))),
            AdminDecision::Allowed
        );
    }

    #[test]
    fn wrong_or_malformed_credentials_are_challenged() {
        let t = token();
        for header in [
            "Bearer wrong".to_string(),
            "Bearer s3cret-admin-toke".to_string(),
            "Bearer s3cret-admin-token-and-more".to_string(),
            "Bearer".to_string(),
            basic("admin", "wrong"),
            "Basic !!!not-base64".to_string(),
            format!("Basic {}", STANDARD.encode("no-colon")),
            "Token s3cret-admin-token".to_string(),
            "s3cret-admin-token".to_string(),
            String::new(),
        ] {
            assert_eq!(
                decide(Some(&t), Some(&header)),
                AdminDecision::Challenge,
                "{header:?}"
            );
        }
        assert_eq!(decide(Some(&t), None), AdminDecision::Challenge);
    }

    #[test]
    fn without_admin_token_nothing_is_allowed() {
        assert_eq!(decide(None, Some("Bearer ")), AdminDecision::NotConfigured);
        assert_eq!(
            decide(Some(&Secret::new("")), Some("Bearer ")),
            AdminDecision::NotConfigured
        );
    }

    #[test]
    fn challenge_asks_the_browser_for_a_password() {
        let reply = refusal(AdminDecision::Challenge, false).unwrap();
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply.headers.get("WWW-Authenticate"),
            Some("Basic realm=\"keap-form-worker\"")
        );
        assert!(reply
            .headers
            .get("Content-Type")
            .unwrap()
            .starts_with("text/html"));
    }

    #[test]
    fn not_configured_says_how_to_set_the_token() {
        for json in [true, false] {
            let reply = refusal(AdminDecision::NotConfigured, json).unwrap();
            assert_eq!(reply.status, 503);
            assert!(reply.headers.get("WWW-Authenticate").is_none());
            assert!(reply
                .body_text()
                .contains("wrangler secret put ADMIN_TOKEN"));
            assert!(reply.body_text().contains(".dev.vars"));
        }
        let json = refusal(AdminDecision::NotConfigured, true).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
        assert_eq!(v["error"]["code"], "admin_token_not_set");
    }

    #[test]
    fn where_an_action_comes_from_is_decided_after_the_token_is_set_and_before_the_password() {
        use crate::http::{Headers, Method};
        use crate::request_url::RequestUrl;
        use crate::settings::Settings;
        let config = |token: Option<&str>| {
            Config::from_settings(Settings {
                admin_token: token.map(Secret::new),
                ..Settings::default()
            })
        };
        let set = config(Some("s3cret-admin-token"));
        let unset = config(None);
        let good = basic("owner", "s3cret-admin-token");
        let wrong = basic("owner", "wrong");
        let evil = [("Origin", "https://evil.example")];
        let own = [("Origin", "https://w.example")];
        let cross = [("Sec-Fetch-Site", "cross-site")];
        let none: [(&str, &str); 0] = [];
        /// (config, method, path, Authorization, other headers, decision)
        type Case<'a> = (
            &'a Config,
            Method,
            &'a str,
            Option<&'a str>,
            &'a [(&'a str, &'a str)],
            AdminDecision,
        );
        let cases: Vec<Case> = vec![
            (
                &set,
                Method::Post,
                "/admin/refresh",
                Some(&good),
                &evil,
                AdminDecision::CrossSite,
            ),
            (
                &set,
                Method::Post,
                "/admin/refresh",
                Some(&good),
                &cross,
                AdminDecision::CrossSite,
            ),
            (
                &set,
                Method::Post,
                "/admin/refresh",
                Some(&good),
                &own,
                AdminDecision::Allowed,
            ),
            (
                &set,
                Method::Post,
                "/admin/refresh",
                Some(&good),
                &none,
                AdminDecision::Allowed,
            ),
            (
                &set,
                Method::Post,
                "/admin/refresh",
                Some(&wrong),
                &evil,
                AdminDecision::CrossSite,
            ),
            (
                &set,
                Method::Post,
                "/admin/refresh",
                None,
                &evil,
                AdminDecision::CrossSite,
            ),
            (
                &set,
                Method::Post,
                "/admin/refresh",
                None,
                &own,
                AdminDecision::Challenge,
            ),
            (
                &set,
                Method::Post,
                "/admin/refresh",
                Some(&wrong),
                &own,
                AdminDecision::Challenge,
            ),
            (
                &set,
                Method::Post,
                "/admin/refresh",
                Some("Bearer s3cret-admin-token"),
                &evil,
                AdminDecision::Allowed,
            ),
            (
                &set,
                Method::Post,
                "/admin/refresh",
                Some("Bearer wrong"),
                &evil,
                AdminDecision::Challenge,
            ),
            (
                &set,
                Method::Get,
                "/admin",
                Some(&good),
                &evil,
                AdminDecision::Allowed,
            ),
            (
                &set,
                Method::Get,
                "/admin/status",
                Some(&good),
                &cross,
                AdminDecision::Allowed,
            ),
            (
                &set,
                Method::Get,
                "/oauth/start",
                Some(&good),
                &cross,
                AdminDecision::CrossSite,
            ),
            (
                &set,
                Method::Get,
                "/oauth/start",
                Some(&good),
                &none,
                AdminDecision::Allowed,
            ),
            (
                &unset,
                Method::Post,
                "/admin/refresh",
                Some(&good),
                &evil,
                AdminDecision::NotConfigured,
            ),
        ];
        for (config, method, path, authorization, headers, expected) in cases {
            let mut h = Headers::new();
            if let Some(a) = authorization {
                h.push("Authorization", a.to_string());
            }
            for (k, v) in headers {
                h.push(k.to_string(), v.to_string());
            }
            let request = Incoming {
                method,
                url: RequestUrl::parse(&format!("https://w.example{path}")).unwrap(),
                headers: h,
                body: Vec::new(),
            };
            assert_eq!(
                decide_request(config, &request),
                expected,
                "{method:?} {path} {authorization:?} {headers:?}"
            );
        }
    }

    #[test]
    fn a_cross_site_refusal_says_what_to_do_instead() {
        let json = refusal(AdminDecision::CrossSite, true).unwrap();
        assert_eq!(json.status, 403);
        let v: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
        assert_eq!(v["error"]["code"], "cross_site_request");
        assert!(json.headers.get("WWW-Authenticate").is_none());
        let page = refusal(AdminDecision::CrossSite, false).unwrap();
        assert_eq!(page.status, 403);
        assert!(page.body_text().contains("<a href=\"/admin\">"));
    }

    #[test]
    fn allowed_has_no_refusal() {
        assert!(refusal(AdminDecision::Allowed, true).is_none());
    }
}
