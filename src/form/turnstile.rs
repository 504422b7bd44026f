//! Cloudflare Turnstile server-side check, for forms with `turnstile = true`.
//!
//! Fails closed: no secret, no token, an unreachable verifier or an answer
//! that cannot be read all refuse the submission. A token solved on some
//! other site is refused too: the verifier's `hostname` must be the host
//! of the page that posted.

use serde::Deserialize;

use crate::http::{Method, OutRequest};
use crate::lenient::{self, Maybe, Object};
use crate::platform::Platform;
use crate::secret::Secret;

/// The form field the Turnstile widget fills in.
pub const RESPONSE_FIELD: &str = "cf-turnstile-response";
/// Turnstile tokens are at most 2048 characters.
const MAX_TOKEN_LEN: usize = 2048;

/// Why a check failed (for the log; the visitor sees `turnstile_failed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnstileFailure {
    /// `TURNSTILE_SECRET` is not set although a form requires Turnstile.
    NoSecret,
    /// The submission has no (plausible) token.
    NoToken,
    /// The verifier could not be asked or its answer could not be read.
    Unavailable(String),
    /// The verifier said no (`error-codes` as given).
    Rejected(Vec<String>),
    /// The token was solved on another host.
    WrongHost,
}

impl std::fmt::Display for TurnstileFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TurnstileFailure::NoSecret => f.write_str("TURNSTILE_SECRET is not set"),
            TurnstileFailure::NoToken => f.write_str("no Turnstile token in the submission"),
            TurnstileFailure::Unavailable(why) => {
                write!(f, "Turnstile verifier unavailable: {why}")
            }
            TurnstileFailure::Rejected(codes) => {
                write!(f, "Turnstile refused the token: {}", codes.join(","))
            }
            TurnstileFailure::WrongHost => {
                f.write_str("Turnstile token was solved on another host")
            }
        }
    }
}

/// The verifier's answer (`siteverify`), read leniently: a field of
/// another type is absent, an error code that is not text is skipped.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct Siteverify {
    success: Maybe<bool>,
    error_codes: Maybe<Vec<Maybe<String>>>,
    hostname: Maybe<String>,
}

/// Asks the verifier at `verify_url` about `token`, expecting it to have
/// been solved on `expected_host`.
pub async fn verify<P: Platform>(
    platform: &P,
    verify_url: &str,
    secret: Option<&Secret>,
    token: Option<&str>,
    remote_ip: Option<&str>,
    expected_host: &str,
) -> Result<(), TurnstileFailure> {
    let secret = secret
        .filter(|s| !s.is_empty())
        .ok_or(TurnstileFailure::NoSecret)?;
    let token = token
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN)
        .ok_or(TurnstileFailure::NoToken)?;
    let mut pairs = vec![("secret", secret.expose()), ("response", token)];
    if let Some(ip) = remote_ip {
        pairs.push(("remoteip", ip));
    }
    let request = OutRequest::new(Method::Post, verify_url).form(&pairs);
    let response = platform
        .fetch(request)
        .await
        .map_err(|e| TurnstileFailure::Unavailable(e.to_string()))?;
    if !(200..300).contains(&response.status) {
        return Err(TurnstileFailure::Unavailable(format!(
            "status {}",
            response.status
        )));
    }
    // JSON that is not an object says no more than `{}`: not a success.
    let Object(answer) = lenient::from_body::<Maybe<Object<Siteverify>>>(&response.body)
        .ok_or_else(|| TurnstileFailure::Unavailable("unreadable answer".into()))?
        .value()
        .unwrap_or(Object(Siteverify::default()));
    if answer.success.value() != Some(true) {
        let codes = answer
            .error_codes
            .value()
            .unwrap_or_default()
            .into_iter()
            .filter_map(Maybe::value)
            .map(|code| code.chars().take(64).collect())
            .collect();
        return Err(TurnstileFailure::Rejected(codes));
    }
    let hostname = answer.hostname.value();
    let hostname = hostname.as_deref();
    if hostname.is_some_and(|h| h.trim_end_matches('.').eq_ignore_ascii_case(expected_host)) {
        Ok(())
    } else {
        Err(TurnstileFailure::WrongHost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{FetchError, InResponse};
    use crate::testing::{block_on, MemoryPlatform};

    const URL: &str = "https://verify.test/siteverify";

    fn run(
        p: &MemoryPlatform,
        secret: Option<&str>,
        token: Option<&str>,
    ) -> Result<(), TurnstileFailure> {
        let secret = secret.map(Secret::new);
        block_on(verify(
            p,
            URL,
            secret.as_ref(),
            token,
            Some("203.0.113.9"),
            "example.com",
        ))
    }

    fn answering(status: u16, body: &'static str) -> MemoryPlatform {
        let p = MemoryPlatform::new();
        p.respond(move |_| Ok(InResponse::new(status, body)));
        p
    }

    #[test]
    fn passes_with_success_on_the_right_host_and_sends_the_form() {
        let p = answering(
            200,
            r#"{"success":true,"hostname":"Example.com","error-codes":[]}"#,
        );
        assert_eq!(run(&p, Some("s3cret"), Some("tok")), Ok(()));
        let sent = p.requests.borrow();
        assert_eq!(sent[0].url, URL);
        let body = String::from_utf8(sent[0].body.clone().unwrap()).unwrap();
        assert_eq!(body, "secret=s3cret&response=tok&remoteip=203.0.113.9");
    }

    #[test]
    fn fails_closed() {
        let good = r#"{"success":true,"hostname":"example.com"}"#;
        assert_eq!(
            run(&answering(200, good), None, Some("tok")),
            Err(TurnstileFailure::NoSecret)
        );
        assert_eq!(
            run(&answering(200, good), Some("s"), None),
            Err(TurnstileFailure::NoToken)
        );
        assert_eq!(
            run(&answering(200, good), Some("s"), Some("  ")),
            Err(TurnstileFailure::NoToken)
        );
        let long = "t".repeat(2049);
        assert_eq!(
            run(&answering(200, good), Some("s"), Some(&long)),
            Err(TurnstileFailure::NoToken)
        );
        assert!(matches!(
            run(&answering(500, good), Some("s"), Some("t")),
            Err(TurnstileFailure::Unavailable(_))
        ));
        assert!(matches!(
            run(&answering(200, "<html>"), Some("s"), Some("t")),
            Err(TurnstileFailure::Unavailable(_))
        ));
        let other = r#"{"success":true,"hostname":"evil.example"}"#;
        assert_eq!(
            run(&answering(200, other), Some("s"), Some("t")),
            Err(TurnstileFailure::WrongHost)
        );
        let no_host = r#"{"success":true}"#;
        assert_eq!(
            run(&answering(200, no_host), Some("s"), Some("t")),
            Err(TurnstileFailure::WrongHost)
        );
        let no = r#"{"success":false,"error-codes":["invalid-input-response"]}"#;
        assert_eq!(
            run(&answering(200, no), Some("s"), Some("t")),
            Err(TurnstileFailure::Rejected(vec![
                "invalid-input-response".into()
            ]))
        );
        let p = MemoryPlatform::new();
        p.respond(|_| Err(FetchError::Timeout));
        assert!(matches!(
            run(&p, Some("s"), Some("t")),
            Err(TurnstileFailure::Unavailable(_))
        ));
    }

    #[test]
    fn reads_the_answer_leniently() {
        let rejected = |codes: &[&str]| {
            Err(TurnstileFailure::Rejected(
                codes.iter().map(|c| c.to_string()).collect(),
            ))
        };
        for (body, want) in [
            (
                r#"{"success":"true","hostname":"example.com"}"#,
                rejected(&[]),
            ),
            (r#"{"success":1,"hostname":"example.com"}"#, rejected(&[])),
            (r#"[{"success":true}]"#, rejected(&[])),
            ("true", rejected(&[])),
            ("null", rejected(&[])),
            (
                r#"{"success":false,"error-codes":["a",5,null,"b"]}"#,
                rejected(&["a", "b"]),
            ),
            (r#"{"success":false,"error-codes":"a"}"#, rejected(&[])),
            (
                r#"{"success":true,"hostname":["example.com"]}"#,
                Err(TurnstileFailure::WrongHost),
            ),
            (
                r#"{"success":true,"hostname":"example.com.","cdata":{"x":[1]}}"#,
                Ok(()),
            ),
        ] {
            assert_eq!(
                run(&answering(200, body), Some("s"), Some("t")),
                want,
                "{body}"
            );
        }
        let long = format!(
            r#"{{"success":false,"error-codes":["{}"]}}"#,
            "c".repeat(99)
        );
        let p = MemoryPlatform::new();
        p.respond(move |_| Ok(InResponse::new(200, long.clone())));
        assert_eq!(run(&p, Some("s"), Some("t")), rejected(&[&"c".repeat(64)]));
        p.respond(|_| {
            Ok(InResponse::new(
                200,
                b"{\"success\":true,\"x\":\"\xff\"}".to_vec(),
            ))
        });
        assert!(matches!(
            run(&p, Some("s"), Some("t")),
            Err(TurnstileFailure::Unavailable(_))
        ));
    }
}
