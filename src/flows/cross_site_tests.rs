//! Cross-site admin requests (issue 27) as whole requests through the
//! route table: a page elsewhere cannot act with the owner's browser
//! login, and nothing happens when it tries (no Keap call, no KV access).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::config::Config;
use crate::http::{Headers, InResponse, Incoming, Method, Reply};
use crate::request_url::RequestUrl;
use crate::routes;
use crate::secret::Secret;
use crate::settings::Settings;
use crate::testing::{block_on, MemoryPlatform};

const ADMIN: &str = "admin-zq7";
const WORKER: &str = "https://forms.example.com";
const EVIL: &str = "https://evil.example";
const BROWSER: &str = "text/html,application/xhtml+xml,*/*;q=0.8";
const LEAD: &str = "victim-zq7@example.com";

/// The admin actions, each with a body that would make it do something.
const ACTIONS: [(&str, &str); 4] = [
    ("/admin/refresh", ""),
    ("/admin/replay", ""),
    ("/admin/check", ""),
    (
        "/admin/test-lead",
        "form=contact&email=victim-zq7%40example.com",
    ),
];

fn settings() -> Settings {
    Settings {
        admin_token: Some(Secret::new(ADMIN)),
        encryption_key: Some(Secret::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")),
        keap_api_url: Some("https://keap.test/crm/rest".into()),
        forms: Some(json!({"contact": {"tags": [101]}})),
        ..Settings::default()
    }
}

/// API-key mode: every action calls Keap or reads KV when it runs.
fn api_key() -> Config {
    Config::from_settings(Settings {
        keap_api_key: Some(Secret::new("KeapAK-test")),
        ..settings()
    })
}

/// OAuth mode, for `/oauth/start`.
fn oauth(redirect: Option<&str>) -> Config {
    Config::from_settings(Settings {
        keap_client_id: Some("client-zq7".into()),
        keap_client_secret: Some(Secret::new("client-secret-zq7")),
        oauth_redirect_uri: redirect.map(str::to_string),
        ..settings()
    })
}

/// A platform whose Keap answers 503 to everything (a test lead is then
/// queued: a KV write).
fn platform() -> MemoryPlatform {
    let p = MemoryPlatform::new();
    p.respond(|_| Ok(InResponse::new(503, "")));
    p
}

fn basic() -> String {
    format!("Basic {}", STANDARD.encode(format!("owner:{ADMIN}")))
}

fn request(method: Method, path: &str, body: &str, headers: &[(&str, &str)]) -> Incoming {
    let mut h = Headers::new();
    for (k, v) in headers {
        h.push(k.to_string(), v.to_string());
    }
    if !body.is_empty() {
        h.push("Content-Type", "application/x-www-form-urlencoded");
    }
    Incoming {
        method,
        url: RequestUrl::parse(&format!("{WORKER}{path}")).unwrap(),
        headers: h,
        body: body.as_bytes().to_vec(),
    }
}

fn send(p: &MemoryPlatform, config: &Config, req: Incoming) -> Reply {
    block_on(routes::answer_request(p, config, req)).reply
}

fn code(reply: &Reply) -> Value {
    serde_json::from_slice::<Value>(&reply.body).unwrap_or(Value::Null)["error"]["code"].clone()
}

/// Nothing was done: no call out, no KV read or write.
fn untouched(p: &MemoryPlatform, what: &str) {
    assert!(p.requests.borrow().is_empty(), "{what}: a call went out");
    assert_eq!(p.kv_reads.get(), 0, "{what}: KV was read");
    assert_eq!(p.kv_writes.get(), 0, "{what}: KV was written");
    assert!(p.kv.borrow().is_empty(), "{what}: KV holds something");
}

fn assert_unframeable(reply: &Reply, what: &str) {
    assert_eq!(reply.headers.get("X-Frame-Options"), Some("DENY"), "{what}");
    assert_eq!(
        reply.headers.get("Content-Security-Policy"),
        Some("frame-ancestors 'none'"),
        "{what}"
    );
}

#[test]
fn a_browser_login_from_another_site_is_refused_and_nothing_happens() {
    let config = api_key();
    let basic = basic();
    let from_elsewhere: [&[(&str, &str)]; 5] = [
        &[("Origin", EVIL)],
        &[("Origin", EVIL), ("Sec-Fetch-Site", "cross-site")],
        &[("Origin", "null")],
        &[("Sec-Fetch-Site", "cross-site")],
        &[("Sec-Fetch-Site", "same-site")],
    ];
    for (path, body) in ACTIONS {
        for where_from in from_elsewhere {
            for credentials in [Some(basic.as_str()), Some("Basic d3Jvbmc6d3Jvbmc="), None] {
                let what = format!("{path} {where_from:?} {credentials:?}");
                let p = platform();
                let mut headers = where_from.to_vec();
                headers.extend(credentials.map(|c| ("Authorization", c)));
                let reply = send(&p, &config, request(Method::Post, path, body, &headers));
                assert_eq!(reply.status, 403, "{what}: {}", reply.body_text());
                assert_eq!(code(&reply), "cross_site_request", "{what}");
                // Refused before the password: no prompt for it.
                assert!(reply.headers.get("WWW-Authenticate").is_none(), "{what}");
                assert_eq!(reply.headers.get("Cache-Control"), Some("no-store"));
                assert_unframeable(&reply, &what);
                untouched(&p, &what);
            }
        }
        // A browser's form post gets a page that links to /admin.
        let p = platform();
        let reply = send(
            &p,
            &config,
            request(
                Method::Post,
                path,
                body,
                &[
                    ("Authorization", &basic),
                    ("Origin", EVIL),
                    ("Accept", BROWSER),
                ],
            ),
        );
        assert_eq!(reply.status, 403);
        assert!(reply
            .headers
            .get("Content-Type")
            .unwrap()
            .starts_with("text/html"));
        assert!(reply.body_text().contains("href=\"/admin\""), "{path}");
        assert!(!reply.body_text().contains(LEAD));
        untouched(&p, path);
    }
}

#[test]
fn the_workers_own_pages_curl_and_bearer_scripts_still_act() {
    let config = api_key();
    let basic = basic();
    let bearer = format!("Bearer {ADMIN}");
    let allowed: [Vec<(&str, &str)>; 6] = [
        vec![("Authorization", &basic), ("Origin", WORKER)],
        vec![
            ("Authorization", &basic),
            ("Origin", WORKER),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        vec![("Authorization", &basic), ("Sec-Fetch-Site", "same-origin")],
        vec![("Authorization", &basic), ("Sec-Fetch-Site", "none")],
        // curl: neither header.
        vec![("Authorization", &basic)],
        // A script holding the token decides for itself.
        vec![
            ("Authorization", &bearer),
            ("Origin", EVIL),
            ("Sec-Fetch-Site", "cross-site"),
        ],
    ];
    for (path, body) in ACTIONS {
        for headers in &allowed {
            let what = format!("{path} {headers:?}");
            let p = platform();
            let reply = send(&p, &config, request(Method::Post, path, body, headers));
            // (The check answers 502: the scripted Keap is down.)
            assert!(
                matches!(reply.status, 200 | 202 | 502),
                "{what}: {} {}",
                reply.status,
                reply.body_text()
            );
            assert_ne!(code(&reply), "cross_site_request", "{what}");
            assert_unframeable(&reply, &what);
            // It ran: each route's own answer and effect.
            let answer: Value = serde_json::from_slice(&reply.body).unwrap();
            let ran = match path {
                "/admin/refresh" => answer["outcome"] == "api_key_mode",
                "/admin/replay" => answer["ok"] == true && answer.get("delivered").is_some(),
                _ => !p.requests.borrow().is_empty(),
            };
            assert!(ran, "{what}: {answer}");
        }
    }
    // The test lead reached Keap with its address (and, Keap being down, was queued).
    let p = platform();
    let reply = send(
        &p,
        &config,
        request(
            Method::Post,
            "/admin/test-lead",
            ACTIONS[3].1,
            &[("Authorization", &bearer), ("Origin", EVIL)],
        ),
    );
    assert_eq!(reply.status, 202, "{}", reply.body_text());
    assert!(p
        .requests
        .borrow()
        .iter()
        .any(|r| String::from_utf8_lossy(r.body.as_deref().unwrap_or_default()).contains(LEAD)));
}

#[test]
fn reading_admin_pages_is_not_refused_wherever_it_comes_from() {
    let config = api_key();
    for path in ["/admin", "/admin/status"] {
        let p = platform();
        let reply = send(
            &p,
            &config,
            request(
                Method::Get,
                path,
                "",
                &[
                    ("Authorization", &basic()),
                    ("Origin", EVIL),
                    ("Sec-Fetch-Site", "cross-site"),
                ],
            ),
        );
        assert_eq!(reply.status, 200, "{path}");
        assert_unframeable(&reply, path);
    }
}

#[test]
fn every_admin_answer_refuses_to_be_framed() {
    let config = api_key();
    for (method, path, headers, status) in [
        (Method::Get, "/admin", vec![], 401),
        (
            Method::Post,
            "/admin/refresh",
            vec![("Authorization", "Bearer wrong")],
            401,
        ),
        (
            Method::Get,
            "/admin/nothing-here",
            vec![("Authorization", "Bearer admin-zq7")],
            404,
        ),
        (Method::Post, "/admin/refresh", vec![("Origin", EVIL)], 403),
    ] {
        let reply = send(&platform(), &config, request(method, path, "", &headers));
        assert_eq!(reply.status, status, "{path}");
        assert_unframeable(&reply, path);
    }
    // Not admin answers: a visitor's form and the health check are left alone.
    let reply = send(
        &platform(),
        &config,
        request(Method::Get, "/health", "", &[]),
    );
    assert!(reply.headers.get("X-Frame-Options").is_none());
    let unset = Config::from_settings(Settings::default());
    let reply = send(&platform(), &unset, request(Method::Get, "/admin", "", &[]));
    assert_eq!(reply.status, 503);
    assert_unframeable(&reply, "admin token not set");
}

#[test]
fn oauth_start_from_another_site_starts_nothing() {
    let config = oauth(None);
    let basic = basic();
    for site in ["cross-site", "same-site"] {
        let p = platform();
        let reply = send(
            &p,
            &config,
            request(
                Method::Get,
                "/oauth/start",
                "",
                &[
                    ("Authorization", &basic),
                    ("Sec-Fetch-Site", site),
                    ("Accept", BROWSER),
                ],
            ),
        );
        assert_eq!(reply.status, 403, "{site}");
        assert!(reply.headers.get("Location").is_none(), "{site}");
        assert!(reply.body_text().contains("href=\"/admin\""), "{site}");
        assert_unframeable(&reply, site);
        untouched(&p, site);
    }
    // Typed, bookmarked or clicked on /admin: off to Keap.
    for site in [Some("none"), Some("same-origin"), None] {
        let p = platform();
        let mut headers = vec![("Authorization", basic.as_str()), ("Accept", BROWSER)];
        headers.extend(site.map(|s| ("Sec-Fetch-Site", s)));
        let reply = send(
            &p,
            &config,
            request(Method::Get, "/oauth/start", "", &headers),
        );
        assert_eq!(reply.status, 302, "{site:?}: {}", reply.body_text());
        assert_eq!(p.kv_writes.get(), 1, "the state is stored");
    }
}

#[test]
fn the_redirect_uris_origin_counts_as_the_workers_own() {
    let basic = basic();
    let post = |config: &Config, origin: &str| {
        let p = platform();
        let reply = send(
            &p,
            config,
            request(
                Method::Post,
                "/admin/replay",
                "",
                &[("Authorization", &basic), ("Origin", origin)],
            ),
        );
        reply.status
    };
    let fixed = oauth(Some("https://connect.example.org/oauth/callback"));
    assert_eq!(post(&fixed, "https://connect.example.org"), 200);
    assert_eq!(post(&fixed, WORKER), 200);
    assert_eq!(post(&fixed, EVIL), 403);
    assert_eq!(post(&oauth(None), "https://connect.example.org"), 403);
}
