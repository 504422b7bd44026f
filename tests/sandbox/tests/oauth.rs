//! The OAuth flow over HTTP: consent page, codes, the token endpoint's
//! strictness, refresh-token rotation and expired access tokens.

mod common;

use common::*;
use serde_json::json;

#[test]
fn consent_page_shows_buttons_and_tenant() {
    let sandbox = Sandbox::start();
    let path = format!(
        "/app/oauth/authorize?client_id={CLIENT_ID}&redirect_uri={}&response_type=code&scope=full&state=abc",
        url::form_urlencoded::byte_serialize(REDIRECT_URI.as_bytes()).collect::<String>()
    );
    let page = sandbox.get(&path, &[]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"allow\""));
    assert!(page.body.contains("id=\"deny\""));
    assert!(page.body.contains("xy123.infusionsoft.com"));
    assert_eq!(sandbox.state()["counts"]["authorize"], 1);
}

#[test]
fn allow_redirects_with_code_scope_and_state_deny_with_access_denied() {
    let sandbox = Sandbox::start();
    let decide = |decision: &str| {
        sandbox.post_form(
            "/app/oauth/decision",
            &[],
            &[
                ("client_id", CLIENT_ID),
                ("redirect_uri", REDIRECT_URI),
                ("response_type", "code"),
                ("state", "xyz"),
                ("decision", decision),
            ],
        )
    };
    let allowed = decide("allow");
    assert_eq!(allowed.status, 302);
    let location = allowed.header("location").unwrap();
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    assert!(
        location.contains("scope=full%7Cxy123.infusionsoft.com"),
        "{location}"
    );
    assert_eq!(allowed.location_param("state").as_deref(), Some("xyz"));
    assert!(allowed.location_param("code").is_some());

    let denied = decide("deny");
    assert_eq!(denied.status, 302);
    assert_eq!(
        denied.location_param("error").as_deref(),
        Some("access_denied")
    );
    assert!(denied.location_param("error_description").is_some());
    assert_eq!(denied.location_param("state").as_deref(), Some("xyz"));
    assert_eq!(denied.location_param("code"), None);
}

#[test]
fn unknown_client_id_redirects_with_server_error_and_bad_redirect_uri_gets_a_page() {
    let sandbox = Sandbox::start();
    let unknown = sandbox.get(
        "/app/oauth/authorize?client_id=1234&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&response_type=code&scope=full&state=s",
        &[],
    );
    assert_eq!(unknown.status, 302);
    assert_eq!(
        unknown.location_param("error").as_deref(),
        Some("server_error")
    );

    let with_query = sandbox.get(
        "/app/oauth/authorize?client_id=sandbox-client&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb%3Fa%3D1&response_type=code",
        &[],
    );
    assert_eq!(with_query.status, 400);
    assert_eq!(with_query.header("location"), None);

    let strict = Sandbox::with(keap_sandbox::Config {
        redirect_uri: url::Url::parse(REDIRECT_URI).ok(),
        ..keap_sandbox::Config::default()
    });
    let other = strict.get(
        "/app/oauth/authorize?client_id=sandbox-client&redirect_uri=http%3A%2F%2F127.0.0.1%2Fother&response_type=code",
        &[],
    );
    assert_eq!(other.status, 400);
}

#[test]
fn code_exchange_answers_keaps_token_shape() {
    let sandbox = Sandbox::start();
    let tokens = sandbox.connect();
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 86400);
    assert_eq!(tokens["scope"], "full|xy123.infusionsoft.com");
    assert!(!str_of(&tokens, "access_token").is_empty());
    assert!(!str_of(&tokens, "refresh_token").is_empty());
    assert_eq!(sandbox.state()["counts"]["token_authorization_code"], 1);
}

#[test]
fn codes_are_single_use() {
    let sandbox = Sandbox::start();
    let code = sandbox.authorize("s");
    assert_eq!(sandbox.exchange(&code).status, 200);
    let again = sandbox.exchange(&code);
    assert_eq!(again.status, 400);
    assert_eq!(again.json()["error"], "invalid_grant");
    let unknown = sandbox.exchange("made-up");
    assert_eq!(unknown.json()["error"], "invalid_grant");
}

#[test]
fn code_exchange_checks_secret_and_redirect_uri() {
    let sandbox = Sandbox::start();
    let code = sandbox.authorize("s");
    let wrong_secret = sandbox.post_form(
        "/token",
        &[],
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("client_secret", "nope"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
        ],
    );
    assert_eq!(wrong_secret.status, 401);
    assert_eq!(wrong_secret.json()["error"], "invalid_client");

    let other_redirect = sandbox.post_form(
        "/token",
        &[],
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:8787/elsewhere"),
        ],
    );
    assert_eq!(other_redirect.status, 400);
    assert_eq!(other_redirect.json()["error"], "invalid_grant");
}

#[test]
fn json_to_the_token_endpoint_is_refused() {
    let sandbox = Sandbox::start();
    let code = sandbox.authorize("s");
    let reply = sandbox.send_json(
        "POST",
        "/token",
        &[],
        &json!({
            "grant_type": "authorization_code", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "code": code, "redirect_uri": REDIRECT_URI
        }),
    );
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"], "invalid_request");
    // The code was not spent by the refused request.
    assert_eq!(sandbox.exchange(&code).status, 200);
}

#[test]
fn refresh_without_basic_auth_fails() {
    let sandbox = Sandbox::start();
    let tokens = sandbox.connect();
    let refresh_token = str_of(&tokens, "refresh_token");
    let in_body = sandbox.post_form(
        "/token",
        &[],
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
    );
    assert_eq!(in_body.status, 401);
    assert_eq!(in_body.json()["error"], "invalid_client");
    let wrong = sandbox.post_form(
        "/token",
        &[("Authorization", &basic(CLIENT_ID, "wrong"))],
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    );
    assert_eq!(wrong.status, 401);
    // Neither attempt spent the token.
    assert_eq!(sandbox.refresh(refresh_token).status, 200);
}

#[test]
fn refresh_rotates_and_a_rotated_out_token_fails() {
    let sandbox = Sandbox::start();
    let first = sandbox.connect();
    let second = sandbox.refresh(str_of(&first, "refresh_token"));
    assert_eq!(second.status, 200);
    let second = second.json();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(second["scope"], "full|xy123.infusionsoft.com");

    let reused = sandbox.refresh(str_of(&first, "refresh_token"));
    assert_eq!(reused.status, 400);
    assert_eq!(
        reused.json(),
        json!({"error": "invalid_request", "error_description": "Invalid Refresh Token"})
    );
    // The old access token keeps working until it expires.
    let userinfo = sandbox.get(
        "/crm/rest/v1/oauth/connect/userinfo",
        &[(
            "Authorization",
            &format!("Bearer {}", str_of(&first, "access_token")),
        )],
    );
    assert_eq!(userinfo.status, 200);
    // The newest refresh token works once more.
    assert_eq!(
        sandbox.refresh(str_of(&second, "refresh_token")).status,
        200
    );
}

#[test]
fn refresh_error_string_is_switchable_and_revocation_kills_refresh_tokens() {
    let sandbox = Sandbox::start();
    let tokens = sandbox.connect();
    sandbox.control("revoke-refresh-tokens", &json!({}));
    sandbox.control("config", &json!({"refresh_error": "invalid_grant"}));
    let refused = sandbox.refresh(str_of(&tokens, "refresh_token"));
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"], "invalid_grant");
}

#[test]
fn expired_access_token_gets_401_with_the_fault_body() {
    let sandbox = Sandbox::start();
    let tokens = sandbox.connect();
    let bearer = format!("Bearer {}", str_of(&tokens, "access_token"));
    let path = "/crm/rest/v1/oauth/connect/userinfo";
    assert_eq!(sandbox.get(path, &[("Authorization", &bearer)]).status, 200);
    sandbox.control("expire-access-tokens", &json!({}));
    let expired = sandbox.get(path, &[("Authorization", &bearer)]);
    assert_eq!(expired.status, 401);
    assert_eq!(
        expired.json(),
        json!({"fault": {"faultstring": "Access Token Expired",
            "detail": {"errorcode": "keymanagement.service.access_token_expired"}}})
    );
    let unknown = sandbox.get(path, &[("Authorization", "Bearer nonsense")]);
    assert_eq!(unknown.status, 401);
    assert_eq!(
        unknown.json()["fault"]["detail"]["errorcode"],
        "keymanagement.service.invalid_access_token"
    );
    assert_eq!(sandbox.get(path, &[]).status, 401);
}

#[test]
fn expires_in_is_configurable() {
    let sandbox = Sandbox::start();
    sandbox.control("config", &json!({"expires_in": 60}));
    assert_eq!(sandbox.connect()["expires_in"], 60);
}

#[test]
fn state_log_shows_what_the_refresh_sent() {
    let sandbox = Sandbox::start();
    let first = sandbox.connect();
    let second = sandbox.refresh(str_of(&first, "refresh_token")).json();
    let state = sandbox.state();
    let requests = state["requests"].as_array().unwrap();
    let refresh = requests
        .iter()
        .rev()
        .find(|r| r["route"] == "token_refresh")
        .unwrap();
    assert_eq!(
        refresh["headers"]["authorization"],
        basic(CLIENT_ID, CLIENT_SECRET)
    );
    assert_eq!(refresh["form"]["refresh_token"], first["refresh_token"]);
    assert_eq!(refresh["status"], 200);
    let live: Vec<_> = state["tokens"]["refresh"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "live")
        .collect();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0]["token"], second["refresh_token"]);
}
