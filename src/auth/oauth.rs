//! Keap's OAuth 2 authorization-code flow as plain values: the authorize
//! URL, the two token-endpoint requests, and what their answers mean.
//! Nothing here sends anything; the flows do.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::Deserialize;

use crate::config::AuthMode;
use crate::http::{FetchError, InResponse, Method, OutRequest};
use crate::lenient::{self, Maybe, Number, Object};
use crate::request_url::RequestUrl;
use crate::secret::Secret;
use crate::settings::Settings;

/// Used when the token endpoint omits `expires_in`: short, so the next
/// scheduled run refreshes rather than trusting a guess for long.
const FALLBACK_EXPIRES_IN_SECS: u64 = 3600;

/// The developer app's keys, borrowed from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub id: &'a str,
    pub secret: &'a Secret,
}

impl<'a> Client<'a> {
    /// The client in OAuth mode; `None` in API-key or unconfigured mode.
    pub fn of(auth: &'a AuthMode) -> Option<Client<'a>> {
        match auth {
            AuthMode::OAuth {
                client_id,
                client_secret,
            } => Some(Client {
                id: client_id,
                secret: client_secret,
            }),
            _ => None,
        }
    }
}

/// The callback URL Keap sends the browser back to: `OAUTH_REDIRECT_URI`
/// when set, else `/oauth/callback` on the origin the request came to.
pub fn redirect_uri(settings: &Settings, request_url: &RequestUrl) -> String {
    match settings
        .oauth_redirect_uri
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(configured) => configured.to_string(),
        None => format!(
            "{}/oauth/callback",
            request_url.parsed().origin().ascii_serialization()
        ),
    }
}

/// Where `/oauth/start` sends the browser.
pub fn authorize_url(
    settings: &Settings,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
) -> String {
    let base = settings.authorize_url();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", "full")
        .append_pair("state", state)
        .finish();
    let joiner = if base.contains('?') { '&' } else { '?' };
    format!("{base}{joiner}{query}")
}

/// A fresh `state`: 32 random bytes, base64url. `None` only if the
/// system's random source fails, in which case no flow may start.
pub fn new_state() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// Trades the authorization code for tokens (credentials in the body, as
/// Keap's code exchange expects).
pub fn exchange_request(
    settings: &Settings,
    client: Client<'_>,
    code: &str,
    redirect_uri: &str,
) -> OutRequest {
    OutRequest::new(Method::Post, settings.token_url())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", client.id),
            ("client_secret", client.secret.expose()),
            ("redirect_uri", redirect_uri),
        ])
        .header("Accept", "application/json")
}

/// Trades the refresh token for a new pair (credentials as HTTP Basic, as
/// Keap's refresh expects).
pub fn refresh_request(
    settings: &Settings,
    client: Client<'_>,
    refresh_token: &Secret,
) -> OutRequest {
    let basic = STANDARD.encode(format!("{}:{}", client.id, client.secret.expose()));
    OutRequest::new(Method::Post, settings.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ])
        .header("Authorization", format!("Basic {basic}"))
        .header("Accept", "application/json")
}

/// A token-endpoint answer that carried tokens.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub access_token: Secret,
    pub refresh_token: Secret,
    pub expires_in_secs: u64,
    /// The Keap app the user picked (after the `|` in `scope`), e.g.
    /// `xy123.infusionsoft.com`.
    pub tenant: Option<String>,
}

/// Why the token endpoint gave no tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenFailure {
    /// 400 or 401: the code, the refresh token or the client was refused.
    /// Keap's error strings vary between `invalid_grant` and
    /// `invalid_request` for the same case, so nothing decides on `error`;
    /// it is kept (when it is a plain OAuth error code) to be shown.
    Refused { status: u16, error: Option<String> },
    /// Worth trying again later: 429, 5xx, another status, no answer, or an
    /// answer without tokens. The text names the cause, never a value.
    Transient(String),
}

impl std::fmt::Display for TokenFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenFailure::Refused { status, error } => {
                let error = error.as_deref().map(|e| [", ", e].concat());
                let error = error.unwrap_or_default();
                write!(
                    f,
                    "Keap's token endpoint refused the request (HTTP {status}{error})"
                )
            }
            TokenFailure::Transient(why) => f.write_str(why),
        }
    }
}

/// Reads the token endpoint's answer (or the failure to get one).
pub fn read_token_answer(
    answer: Result<InResponse, FetchError>,
) -> Result<TokenGrant, TokenFailure> {
    let response = match answer {
        Ok(r) => r,
        Err(FetchError::Timeout) => {
            return Err(TokenFailure::Transient(
                "Keap's token endpoint did not answer in time".into(),
            ))
        }
        Err(FetchError::Network(_)) => {
            return Err(TokenFailure::Transient(
                "Keap's token endpoint could not be reached (network error)".into(),
            ))
        }
    };
    let body = lenient::from_body::<Object<TokenAnswer>>(&response.body).map(|Object(a)| a);
    match response.status {
        200..=299 => body.and_then(TokenAnswer::grant).ok_or_else(|| {
            TokenFailure::Transient(format!(
                "Keap's token endpoint answered HTTP {} without usable tokens",
                response.status
            ))
        }),
        400 | 401 => Err(TokenFailure::Refused {
            status: response.status,
            error: body.and_then(|b| b.error.value()).and_then(error_code),
        }),
        status => Err(TokenFailure::Transient(format!(
            "Keap's token endpoint answered HTTP {status}"
        ))),
    }
}

/// What the token endpoint answers, tokens or an error, read leniently
/// (a field of another type is absent).
#[derive(Default, Deserialize)]
#[serde(default)]
struct TokenAnswer {
    access_token: Maybe<String>,
    refresh_token: Maybe<String>,
    expires_in: Maybe<Number>,
    scope: Maybe<String>,
    error: Maybe<String>,
}

impl TokenAnswer {
    /// The grant, when both tokens are there.
    fn grant(self) -> Option<TokenGrant> {
        let token = |t: Maybe<String>| {
            t.value()
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(Secret::new)
        };
        Some(TokenGrant {
            access_token: token(self.access_token)?,
            refresh_token: token(self.refresh_token)?,
            expires_in_secs: self
                .expires_in
                .value()
                .and_then(Number::value)
                .unwrap_or(FALLBACK_EXPIRES_IN_SECS),
            tenant: self.scope.value().as_deref().and_then(tenant_from_scope),
        })
    }
}

/// `full|xy123.infusionsoft.com` → `xy123.infusionsoft.com`.
pub fn tenant_from_scope(scope: &str) -> Option<String> {
    let (_, tenant) = scope.split_once('|')?;
    let tenant = tenant.trim();
    let plausible = !tenant.is_empty()
        && tenant.len() <= 253
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    plausible.then(|| tenant.to_string())
}

/// The OAuth `error` code, only if it looks like one (`invalid_grant`),
/// so that nothing else from the answer is ever repeated.
pub fn error_code(code: String) -> Option<String> {
    let plain = !code.is_empty()
        && code.len() <= 40
        && code.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    plain.then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            keap_token_url: Some("http://keap.test/token".into()),
            keap_authorize_url: Some("http://keap.test/authorize".into()),
            ..Settings::default()
        }
    }

    fn client_secret() -> Secret {
        Secret::new("client-secret-xyz")
    }

    fn form(req: &OutRequest) -> Vec<(String, String)> {
        url::form_urlencoded::parse(req.body.as_deref().unwrap())
            .into_owned()
            .collect()
    }

    #[test]
    fn redirect_uri_from_setting_or_request_origin() {
        let url = RequestUrl::parse("https://worker.example.com/oauth/start?x=1").unwrap();
        assert_eq!(
            redirect_uri(&Settings::default(), &url),
            "https://worker.example.com/oauth/callback"
        );
        let local = RequestUrl::parse("http://127.0.0.1:8787/oauth/start").unwrap();
        assert_eq!(
            redirect_uri(&Settings::default(), &local),
            "http://127.0.0.1:8787/oauth/callback"
        );
        let s = Settings {
            oauth_redirect_uri: Some("https://forms.example.com/oauth/callback".into()),
            ..Settings::default()
        };
        assert_eq!(
            redirect_uri(&s, &url),
            "https://forms.example.com/oauth/callback"
        );
    }

    #[test]
    fn authorize_url_carries_every_parameter() {
        let u = authorize_url(
            &settings(),
            "cid",
            "https://w.example/oauth/callback",
            "st&te",
        );
        let parsed = url::Url::parse(&u).unwrap();
        assert_eq!(parsed.path(), "/authorize");
        let q: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("client_id"), Some("cid"));
        assert_eq!(
            get("redirect_uri"),
            Some("https://w.example/oauth/callback")
        );
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("scope"), Some("full"));
        assert_eq!(get("state"), Some("st&te"));
    }

    #[test]
    fn states_are_long_and_distinct() {
        let (a, b) = (new_state().unwrap(), new_state().unwrap());
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
    }

    #[test]
    fn exchange_is_form_encoded_with_credentials_in_the_body() {
        let secret = client_secret();
        let client = Client {
            id: "cid",
            secret: &secret,
        };
        let req = exchange_request(&settings(), client, "the-code", "https://w/cb");
        assert_eq!(req.method, Method::Post);
        assert_eq!(req.url, "http://keap.test/token");
        assert_eq!(
            req.headers.get("Content-Type"),
            Some("application/x-www-form-urlencoded")
        );
        let f = form(&req);
        for (k, v) in [
            ("grant_type", "authorization_code"),
            ("code", "the-code"),
            ("client_id", "cid"),
            ("client_secret", "client-secret-xyz"),
            ("redirect_uri", "https://w/cb"),
        ] {
            assert!(f.contains(&(k.to_string(), v.to_string())), "{k}");
        }
    }

    #[test]
    fn refresh_uses_basic_auth_and_sends_no_secret_in_the_body() {
        let secret = client_secret();
        let client = Client {
            id: "cid",
            secret: &secret,
        };
        let req = refresh_request(&settings(), client, &Secret::new("rt-1"));
        let auth = req.headers.get("Authorization").unwrap();
        let decoded = STANDARD
            .decode(auth.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(decoded, b"cid:client-secret-xyz");
        assert_eq!(
            form(&req),
            vec![
                ("grant_type".to_string(), "refresh_token".to_string()),
                ("refresh_token".to_string(), "rt-1".to_string())
            ]
        );
    }

    fn answer(status: u16, body: &str) -> Result<InResponse, FetchError> {
        Ok(InResponse::new(status, body))
    }

    #[test]
    fn reads_a_grant_and_trusts_expires_in() {
        let g = read_token_answer(answer(
            200,
            r#"{"access_token":"at","refresh_token":"rt","expires_in":120,"token_type":"bearer","scope":"full|xy123.infusionsoft.com"}"#,
        ))
        .unwrap();
        assert_eq!(g.access_token.expose(), "at");
        assert_eq!(g.refresh_token.expose(), "rt");
        assert_eq!(g.expires_in_secs, 120);
        assert_eq!(g.tenant.as_deref(), Some("xy123.infusionsoft.com"));
    }

    #[test]
    fn a_grant_without_expires_in_is_still_kept() {
        // The old refresh token is already dead: dropping the new pair would
        // lose the connection, so a missing expiry gets a short default.
        let g = read_token_answer(answer(200, r#"{"access_token":"at","refresh_token":"rt"}"#))
            .unwrap();
        assert_eq!(g.expires_in_secs, FALLBACK_EXPIRES_IN_SECS);
        assert_eq!(g.tenant, None);
        let g = read_token_answer(answer(
            200,
            r#"{"access_token":"at","refresh_token":"rt","expires_in":"86400"}"#,
        ))
        .unwrap();
        assert_eq!(g.expires_in_secs, 86400);
    }

    #[test]
    fn fields_of_another_type_read_as_absent() {
        for (expires_in, secs) in [
            ("-5", FALLBACK_EXPIRES_IN_SECS),
            ("1.5", FALLBACK_EXPIRES_IN_SECS),
            ("null", FALLBACK_EXPIRES_IN_SECS),
            ("[120]", FALLBACK_EXPIRES_IN_SECS),
            (r#""soon""#, FALLBACK_EXPIRES_IN_SECS),
            (r#"" 90 ""#, 90),
            ("0", 0),
        ] {
            let body = format!(
                r#"{{"access_token":" at ","refresh_token":"rt","expires_in":{expires_in},"scope":7,"extra":{{"a":[1]}}}}"#
            );
            let g = read_token_answer(answer(200, &body)).unwrap();
            assert_eq!(g.expires_in_secs, secs, "{body}");
            assert_eq!((g.access_token.expose(), g.tenant), ("at", None), "{body}");
        }
        for body in [
            r#"{"access_token":5,"refresh_token":"rt"}"#,
            r#"{"access_token":"at","refresh_token":null}"#,
            r#"["at","rt",120]"#,
        ] {
            assert!(
                matches!(
                    read_token_answer(answer(200, body)),
                    Err(TokenFailure::Transient(_))
                ),
                "{body}"
            );
        }
        let mut not_utf8 = br#"{"access_token":"at","refresh_token":"rt","x":""#.to_vec();
        not_utf8.extend_from_slice(b"\xff\"}");
        assert!(matches!(
            read_token_answer(Ok(InResponse::new(200, not_utf8))),
            Err(TokenFailure::Transient(_))
        ));
        for body in [r#"{"error":5}"#, r#"["invalid_grant"]"#] {
            assert_eq!(
                read_token_answer(answer(400, body)).unwrap_err(),
                TokenFailure::Refused {
                    status: 400,
                    error: None
                },
                "{body}"
            );
        }
    }

    #[test]
    fn a_success_without_tokens_is_transient() {
        for body in [
            "",
            "{}",
            r#"{"access_token":"at"}"#,
            r#"{"access_token":"","refresh_token":"rt"}"#,
            "<html>",
        ] {
            assert!(
                matches!(
                    read_token_answer(answer(200, body)),
                    Err(TokenFailure::Transient(_))
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn refusals_are_classified_by_status_not_by_message() {
        for body in [
            r#"{"error":"invalid_grant"}"#,
            r#"{"error":"invalid_request","error_description":"Invalid Refresh Token"}"#,
            "not json",
        ] {
            assert!(matches!(
                read_token_answer(answer(400, body)),
                Err(TokenFailure::Refused { status: 400, .. })
            ));
        }
        assert_eq!(
            read_token_answer(answer(401, r#"{"error":"invalid_client"}"#)).unwrap_err(),
            TokenFailure::Refused {
                status: 401,
                error: Some("invalid_client".into())
            }
        );
    }

    #[test]
    fn only_plain_error_codes_are_kept() {
        let e =
            read_token_answer(answer(400, r#"{"error":"Bad token rt-123 <script>"}"#)).unwrap_err();
        assert_eq!(
            e,
            TokenFailure::Refused {
                status: 400,
                error: None
            }
        );
    }

    #[test]
    fn throttling_outages_and_network_errors_are_transient() {
        for status in [429, 500, 502, 503, 404, 403] {
            assert!(
                matches!(
                    read_token_answer(answer(status, "{}")),
                    Err(TokenFailure::Transient(_))
                ),
                "{status}"
            );
        }
        assert!(matches!(
            read_token_answer(Err(FetchError::Timeout)),
            Err(TokenFailure::Transient(_))
        ));
        let e =
            read_token_answer(Err(FetchError::Network("secret-ish detail".into()))).unwrap_err();
        assert!(!e.to_string().contains("secret-ish"));
    }

    #[test]
    fn tenant_comes_after_the_bar() {
        assert_eq!(
            tenant_from_scope("full|ab12.infusionsoft.com").as_deref(),
            Some("ab12.infusionsoft.com")
        );
        assert_eq!(tenant_from_scope("full"), None);
        assert_eq!(tenant_from_scope("full|"), None);
        assert_eq!(tenant_from_scope("full|<b>"), None);
    }

    #[test]
    fn client_only_in_oauth_mode() {
        let secret = client_secret();
        let oauth = AuthMode::OAuth {
            client_id: "cid".into(),
            client_secret: secret,
        };
        assert_eq!(Client::of(&oauth).unwrap().id, "cid");
        assert!(Client::of(&AuthMode::ApiKey(Secret::new("k"))).is_none());
        assert!(Client::of(&AuthMode::Unconfigured).is_none());
    }
}
