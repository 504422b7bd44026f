//! Who may use `/admin/*` and `/oauth/start`: whoever presents
//! `ADMIN_TOKEN`, as `Authorization: Bearer <token>` (scripts) or as the
//! password of HTTP Basic with any user name (browsers prompt for it).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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

/// Checks a request against `ADMIN_TOKEN`: `Ok(())` to go on, or the
/// answer to give instead (JSON when the client asked for JSON, else HTML).
pub fn guard(config: &Config, request: &Incoming) -> Result<(), Reply> {
    let decision = decide(
        config.settings.admin_token.as_ref(),
        request.header("Authorization"),
    );
    match refusal(decision, wants_json(request)) {
        None => Ok(()),
        Some(reply) => Err(reply),
    }
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
    };
    let reply = if json {
        Reply::json_error(status, code, text)
    } else {
        layout::page(status, title, &format!("<p>{}</p>", layout::escape(text)))
    };
    let reply = reply.with_header("Cache-Control", "no-store");
    Some(match decision {
        AdminDecision::Challenge => {
            reply.with_header("WWW-Authenticate", format!("Basic realm=\"{REALM}\""))
        }
        _ => reply,
    })
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
    fn allowed_has_no_refusal() {
        assert!(refusal(AdminDecision::Allowed, true).is_none());
    }
}
