//! Keap's OAuth 2 authorization-code flow: the consent page, the Allow /
//! Deny decision, and the token endpoint with its rules (form bodies only,
//! client secret in the body for a code exchange, HTTP Basic for a refresh,
//! refresh-token rotation).

use base64::Engine as _;
use serde_json::{json, Value};
use url::Url;

use crate::config::Config;
use crate::http::{decode_form, escape_html, first, Request, Response};
use crate::state::State;

/// The checked parameters of an authorization request.
struct Authorization {
    client_id: String,
    redirect_uri: Url,
    state: Option<String>,
}

/// `redirect_uri` with Keap's answer appended (and `state` echoed).
fn callback(redirect_uri: &Url, params: &[(&str, &str)], state: Option<&str>) -> String {
    let mut url = redirect_uri.clone();
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    url.to_string()
}

fn error_page(status: u16, problem: &str) -> Response {
    Response::html(
        status,
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Keap sandbox: authorization error</title></head>\
             <body><h1>Authorization error</h1><p id=\"error\">{}</p></body></html>",
            escape_html(problem)
        ),
    )
}

/// Checks an authorization request the way Keap does: a bad `redirect_uri`
/// gets an error page (there is nowhere safe to send the browser); every
/// other problem is reported to the `redirect_uri`.
fn check(config: &Config, pairs: &[(String, String)]) -> Result<Authorization, Response> {
    let Some(raw) = first(pairs, "redirect_uri").filter(|r| !r.is_empty()) else {
        return Err(error_page(400, "redirect_uri is missing."));
    };
    let redirect_uri = match Url::parse(&raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        _ => {
            return Err(error_page(
                400,
                "redirect_uri is not an absolute http(s) URL.",
            ))
        }
    };
    if redirect_uri.query().is_some() || redirect_uri.fragment().is_some() {
        return Err(error_page(
            400,
            "redirect_uri must not have a query string or fragment.",
        ));
    }
    if config
        .redirect_uri
        .as_ref()
        .is_some_and(|registered| *registered != redirect_uri)
    {
        return Err(error_page(
            400,
            "redirect_uri does not match the one registered for this application.",
        ));
    }
    let state = first(pairs, "state");
    let refuse = |error: &str, description: &str| {
        Response::redirect(&callback(
            &redirect_uri,
            &[("error", error), ("error_description", description)],
            state.as_deref(),
        ))
    };
    let client_id = first(pairs, "client_id").unwrap_or_default();
    if client_id != config.client_id {
        // What Keap does for an app id (or any unknown id) in place of the
        // client id.
        return Err(refuse("server_error", "Unknown client_id"));
    }
    if first(pairs, "response_type").as_deref() != Some("code") {
        return Err(refuse(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    if first(pairs, "scope").is_some_and(|scope| scope != "full") {
        return Err(refuse("invalid_scope", "The only scope is full"));
    }
    Ok(Authorization {
        client_id,
        redirect_uri,
        state,
    })
}

/// `GET /app/oauth/authorize`: the consent page.
pub fn authorize_page(config: &Config, request: &Request) -> Response {
    let auth = match check(config, &request.query_pairs()) {
        Ok(auth) => auth,
        Err(response) => return response,
    };
    let hidden = |name: &str, value: &str| {
        format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape_html(value)
        )
    };
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <title>Keap sandbox: allow access?</title></head><body>\
         <h1>Keap sandbox</h1>\
         <p>The application <code id=\"client\">{client}</code> asks for full access to the Keap app \
         <strong id=\"tenant\">{tenant}</strong>.</p>\
         <form method=\"post\" action=\"/app/oauth/decision\">{fields}\
         <button type=\"submit\" id=\"allow\" name=\"decision\" value=\"allow\">Allow</button> \
         <button type=\"submit\" id=\"deny\" name=\"decision\" value=\"deny\">Deny</button>\
         </form></body></html>",
        client = escape_html(&auth.client_id),
        tenant = escape_html(&config.tenant_domain()),
        fields = [
            hidden("client_id", &auth.client_id),
            hidden("redirect_uri", auth.redirect_uri.as_str()),
            hidden("response_type", "code"),
            hidden("scope", "full"),
            auth.state
                .as_deref()
                .map(|s| hidden("state", s))
                .unwrap_or_default(),
        ]
        .concat(),
    );
    Response::html(200, page).with_header("Cache-Control", "no-store")
}

/// `POST /app/oauth/decision`: Allow issues a code; Deny reports
/// `access_denied`. The form's fields are checked again, not trusted.
pub fn decision(config: &Config, state: &mut State, request: &Request, now: u64) -> Response {
    if request.media_type().as_deref() != Some("application/x-www-form-urlencoded") {
        return error_page(400, "The decision must be a form post.");
    }
    let pairs = decode_form(&request.body);
    let auth = match check(config, &pairs) {
        Ok(auth) => auth,
        Err(response) => return response,
    };
    match first(&pairs, "decision").as_deref() {
        Some("allow") => {
            let code = state
                .tokens
                .issue_code(&auth.client_id, auth.redirect_uri.as_str(), now);
            Response::redirect(&callback(
                &auth.redirect_uri,
                &[("code", &code), ("scope", &config.scope())],
                auth.state.as_deref(),
            ))
        }
        Some("deny") => Response::redirect(&callback(
            &auth.redirect_uri,
            &[
                ("error", "access_denied"),
                (
                    "error_description",
                    "The user denied access to the application",
                ),
            ],
            auth.state.as_deref(),
        )),
        _ => error_page(400, "decision must be allow or deny."),
    }
}

fn token_error(status: u16, error: &str, description: &str) -> Response {
    Response::json(
        status,
        &json!({"error": error, "error_description": description}),
    )
    .with_header("Cache-Control", "no-store")
}

fn invalid_client() -> Response {
    token_error(401, "invalid_client", "Invalid client credentials")
}

/// `POST /token`.
pub fn token(config: &Config, state: &mut State, request: &Request, now: u64) -> Response {
    if request.method != "POST" {
        return token_error(405, "invalid_request", "The token endpoint takes POST only");
    }
    if request.media_type().as_deref() != Some("application/x-www-form-urlencoded") {
        return token_error(
            400,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    let pairs = decode_form(&request.body);
    match first(&pairs, "grant_type").as_deref() {
        Some("authorization_code") => code_grant(config, state, &pairs, now),
        Some("refresh_token") => refresh_grant(config, state, request, &pairs, now),
        Some(_) => token_error(400, "unsupported_grant_type", "Unsupported grant_type"),
        None => token_error(400, "invalid_request", "grant_type is required"),
    }
}

fn code_grant(
    config: &Config,
    state: &mut State,
    pairs: &[(String, String)],
    now: u64,
) -> Response {
    let field = |name: &str| first(pairs, name).filter(|v| !v.is_empty());
    let (Some(client_id), Some(secret), Some(code), Some(redirect_uri)) = (
        field("client_id"),
        field("client_secret"),
        field("code"),
        field("redirect_uri"),
    ) else {
        return token_error(
            400,
            "invalid_request",
            "client_id, client_secret, code and redirect_uri are required",
        );
    };
    if client_id != config.client_id || secret != config.client_secret {
        return invalid_client();
    }
    let expires_in = state.settings.expires_in;
    match state
        .tokens
        .exchange_code(&code, &client_id, &redirect_uri, now, expires_in)
    {
        Ok(issued) => token_answer(config, issued),
        Err(problem) => token_error(400, "invalid_grant", problem.description()),
    }
}

/// The client id and secret of an `Authorization: Basic` header.
fn basic_credentials(request: &Request) -> Option<(String, String)> {
    let value = request.header("authorization")?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

fn refresh_grant(
    config: &Config,
    state: &mut State,
    request: &Request,
    pairs: &[(String, String)],
    now: u64,
) -> Response {
    match basic_credentials(request) {
        Some((id, secret)) if id == config.client_id && secret == config.client_secret => {}
        _ => {
            return invalid_client()
                .with_header("WWW-Authenticate", "Basic realm=\"api.infusionsoft.com\"")
        }
    }
    let Some(refresh_token) = first(pairs, "refresh_token").filter(|t| !t.is_empty()) else {
        return token_error(400, "invalid_request", "refresh_token is required");
    };
    let expires_in = state.settings.expires_in;
    match state
        .tokens
        .refresh(&refresh_token, &config.client_id, now, expires_in)
    {
        Some(issued) => token_answer(config, issued),
        None => token_error(
            400,
            state.settings.refresh_error.name(),
            "Invalid Refresh Token",
        ),
    }
}

fn token_answer(config: &Config, issued: crate::tokens::Issued) -> Response {
    let body: Value = json!({
        "access_token": issued.access_token,
        "token_type": "bearer",
        "expires_in": issued.expires_in,
        "refresh_token": issued.refresh_token,
        "scope": config.scope(),
    });
    Response::json(200, &body)
        .with_header("Cache-Control", "no-store")
        .with_header("Pragma", "no-cache")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(query: &str) -> Request {
        Request {
            method: "GET".into(),
            path: "/app/oauth/authorize".into(),
            query: Some(query.into()),
            ..Request::default()
        }
    }

    fn location(response: &Response) -> Url {
        let value = response
            .headers
            .iter()
            .find(|(n, _)| n == "Location")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        Url::parse(&value).unwrap()
    }

    #[test]
    fn consent_page_has_buttons_and_escapes_state() {
        let config = Config::default();
        let page = authorize_page(
            &config,
            &get("client_id=sandbox-client&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&response_type=code&scope=full&state=%22%3E%3Cx"),
        );
        assert_eq!(page.status, 200);
        let html = String::from_utf8(page.body).unwrap();
        assert!(html.contains("id=\"allow\"") && html.contains("id=\"deny\""));
        assert!(html.contains("xy123.infusionsoft.com"));
        assert!(!html.contains("\"><x"));
    }

    #[test]
    fn bad_redirect_uri_gets_a_page_and_unknown_client_a_server_error_redirect() {
        let mut config = Config::default();
        assert_eq!(
            authorize_page(&config, &get("client_id=sandbox-client")).status,
            400
        );
        assert_eq!(
            authorize_page(
                &config,
                &get("client_id=sandbox-client&response_type=code&redirect_uri=http%3A%2F%2Fa%2Fcb%3Fx%3D1")
            )
            .status,
            400
        );
        let r = authorize_page(
            &config,
            &get("client_id=12345&response_type=code&redirect_uri=http%3A%2F%2Fa%2Fcb&state=s"),
        );
        assert_eq!(r.status, 302);
        let url = location(&r);
        assert!(url
            .query_pairs()
            .any(|(k, v)| k == "error" && v == "server_error"));
        assert!(url.query_pairs().any(|(k, v)| k == "state" && v == "s"));
        config.redirect_uri = Url::parse("http://a/registered").ok();
        assert_eq!(
            authorize_page(
                &config,
                &get(
                    "client_id=sandbox-client&response_type=code&redirect_uri=http%3A%2F%2Fa%2Fcb"
                )
            )
            .status,
            400
        );
    }

    #[test]
    fn basic_credentials_are_decoded() {
        let request = Request {
            headers: vec![("authorization".into(), "Basic YTpiOmM=".into())],
            ..Request::default()
        };
        assert_eq!(
            basic_credentials(&request),
            Some(("a".into(), "b:c".into()))
        );
        let bearer = Request {
            headers: vec![("authorization".into(), "Bearer x".into())],
            ..Request::default()
        };
        assert_eq!(basic_credentials(&bearer), None);
    }
}
