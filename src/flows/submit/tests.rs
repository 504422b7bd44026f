//! The whole submission flow on the in-memory platform: every answer of
//! docs/CONTRACT.md 3 from the input that should produce it.

use std::cell::Cell;
use std::rc::Rc;

use serde_json::{json, Value};

use super::{preflight, submit};
use crate::config::Config;
use crate::http::{FetchError, Headers, InResponse, Incoming, Method, OutRequest, Reply};
use crate::keap::delivery::Progress;
use crate::platform::Platform;
use crate::secret::Secret;
use crate::settings::Settings;
use crate::store::kv_keys;
use crate::store::outbox::{self, Queue};
use crate::testing::{block_on, MemoryPlatform};

const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const SITE: &str = "https://example.com";
const API: &str = "https://keap.test/crm/rest";
const VERIFY: &str = "https://turnstile.test/siteverify";

fn forms() -> Value {
    json!({
        "contact": {
            "tags": [101, 102],
            "optional_tags": {"newsletter": 103},
            "opt_in_reason": "Signed up on example.com",
            "consent_field": "consent",
            "custom_fields": {"company": 7},
        },
        "html": {
            "redirect": "https://example.com/thanks",
            "error_redirect": "https://example.com/oops",
        },
        "human": {"turnstile": true},
        "dropin": {"tags": [101], "honeypot_field": "fax_number"},
    })
}

fn settings() -> Settings {
    Settings {
        keap_api_key: Some(Secret::new("KeapAK-test")),
        encryption_key: Some(Secret::new(KEY_B64)),
        turnstile_secret: Some(Secret::new("ts-secret")),
        allowed_origins: Some(format!("{SITE},https://www.example.com")),
        forms: Some(forms()),
        keap_api_url: Some(API.into()),
        turnstile_verify_url: Some(VERIFY.into()),
        ..Settings::default()
    }
}

fn api_key() -> Config {
    Config::from_settings(settings())
}

/// OAuth configured, nobody connected yet.
fn oauth_unconnected() -> Config {
    Config::from_settings(Settings {
        keap_api_key: None,
        keap_client_id: Some("cid".into()),
        keap_client_secret: Some(Secret::new("csecret")),
        ..settings()
    })
}

#[derive(Clone)]
struct Req {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn new() -> Req {
        Req {
            headers: vec![
                ("Origin".into(), SITE.into()),
                ("CF-Connecting-IP".into(), "203.0.113.9".into()),
            ],
            body: Vec::new(),
        }
    }

    fn json(body: Value) -> Req {
        Req::new()
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(&body).unwrap())
    }

    fn form(pairs: &[(&str, &str)]) -> Req {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Req::new()
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.into_bytes())
    }

    fn header(mut self, k: &str, v: &str) -> Req {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case(k));
        self.headers.push((k.into(), v.into()));
        self
    }

    fn without(mut self, k: &str) -> Req {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case(k));
        self
    }

    fn body(mut self, body: Vec<u8>) -> Req {
        self.body = body;
        self
    }

    fn incoming(&self, method: Method, form: &str) -> Incoming {
        Incoming {
            method,
            url: crate::request_url::RequestUrl::parse(&format!(
                "https://worker.test/forms/{form}"
            ))
            .unwrap(),
            headers: Headers(
                self.headers
                    .iter()
                    .map(|(k, v)| (k.clone().into(), v.clone().into()))
                    .collect(),
            ),
            body: self.body.clone(),
        }
    }
}

/// A platform whose isolate already knows that example.com takes mail
/// (the tests of the domain lookup are in `flows::screen`).
fn platform() -> MemoryPlatform {
    let p = MemoryPlatform::new();
    p.knows_mail_domain("example.com");
    p
}

/// A Keap that creates contact 42 (or updates it, after the first time)
/// and applies every tag.
fn keap() -> MemoryPlatform {
    let p = platform();
    let seen = Rc::new(Cell::new(false));
    p.respond(move |r| Ok(keap_answer(r, &seen)));
    p
}

fn keap_answer(r: &OutRequest, seen: &Cell<bool>) -> InResponse {
    if r.url.starts_with(VERIFY) {
        return InResponse::new(200, r#"{"success":true,"hostname":"example.com"}"#);
    }
    if r.method == Method::Put {
        let status = if seen.replace(true) { 200 } else { 201 };
        return InResponse::new(status, r#"{"id":42}"#);
    }
    let body: Value = serde_json::from_slice(r.body.as_deref().unwrap_or(b"{}")).unwrap();
    let results: serde_json::Map<String, Value> = body["tagIds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|id| (id.to_string(), json!("SUCCESS")))
        .collect();
    InResponse::new(200, serde_json::to_vec(&results).unwrap())
}

fn post(p: &MemoryPlatform, config: &Config, form: &str, req: &Req) -> Reply {
    block_on(submit(p, config, &req.incoming(Method::Post, form), form))
}

fn json_of(reply: &Reply) -> Value {
    serde_json::from_slice(&reply.body).unwrap_or(Value::Null)
}

fn error_code(reply: &Reply) -> String {
    json_of(reply)["error"]["code"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn acao(reply: &Reply) -> Option<&str> {
    reply.headers.get("Access-Control-Allow-Origin")
}

fn sent_nothing(p: &MemoryPlatform) -> bool {
    p.requests.borrow().is_empty() && p.kv.borrow().is_empty() && p.kv_writes.get() == 0
}

const GOOD: &[(&str, &str)] = &[
    ("email", "jane+news@example.com"),
    ("first_name", "Jane"),
    ("consent", "on"),
    ("tags", "newsletter"),
];

#[test]
fn happy_path_creates_then_updates_with_two_keap_calls_and_no_kv_write() {
    let p = keap();
    let config = api_key();
    let reply = post(
        &p,
        &config,
        "contact",
        &Req::json(json!({
            "email": "jane+news@example.com", "first_name": "Jane", "consent": true,
            "tags": ["newsletter"], "company": "ACME"
        })),
    );
    assert_eq!(reply.status, 200, "{}", reply.body_text());
    assert_eq!(json_of(&reply), json!({"ok": true, "status": "created"}));
    assert_eq!(acao(&reply), Some(SITE));
    assert_eq!(reply.headers.get("Vary"), Some("Origin"));
    assert_eq!(p.kv_reads.get(), 0, "API-key mode reads nothing");
    assert_eq!(p.kv_writes.get(), 0);

    let sent = p.requests.borrow().clone();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        (sent[0].method, sent[0].url.as_str()),
        (Method::Put, "https://keap.test/crm/rest/v1/contacts")
    );
    let upsert: Value = serde_json::from_slice(sent[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(
        upsert["email_addresses"],
        json!([{"email": "jane+news@example.com", "field": "EMAIL1"}])
    );
    assert_eq!(upsert["opt_in_reason"], json!("Signed up on example.com"));
    assert_eq!(upsert["origin"], json!({"ip_address": "203.0.113.9"}));
    assert_eq!(
        upsert["custom_fields"],
        json!([{"id": 7, "content": "ACME"}])
    );
    assert!(upsert.get("family_name").is_none() && upsert.get("phone_numbers").is_none());
    assert_eq!(
        sent[1].url,
        "https://keap.test/crm/rest/v1/contacts/42/tags"
    );
    assert_eq!(
        sent[1].body.as_deref(),
        Some(br#"{"tagIds":[101,102,103]}"#.as_slice())
    );
    assert!(sent
        .iter()
        .all(|r| r.headers.get("X-Keap-API-Key") == Some("KeapAK-test")));
    drop(sent);

    let again = post(
        &p,
        &config,
        "contact",
        &Req::form(&[("email", "jane+news@example.com")]).header("Accept", "application/json"),
    );
    assert_eq!(json_of(&again), json!({"ok": true, "status": "updated"}));
    assert_eq!(p.kv_writes.get(), 0);
}

#[test]
fn a_message_becomes_a_note_with_its_context_in_the_same_two_rounds() {
    let p = keap();
    let config = api_key();
    let reply = post(
        &p,
        &config,
        "contact",
        &Req::form(&[
            ("email", "jane+news@example.com"),
            ("message", "Please call me about the offer"),
            ("utm_source", "newsletter"),
            ("utm_campaign", "spring"),
            ("_referrer", "https://search.example/?q=x"),
            ("consent", "on"),
        ])
        .header("Accept", "application/json")
        .header("Referer", "https://example.com/contact.html"),
    );
    assert_eq!(json_of(&reply), json!({"ok": true, "status": "created"}));
    assert_eq!((p.kv_reads.get(), p.kv_writes.get()), (0, 0));
    let sent = p.requests.borrow();
    assert_eq!(sent.len(), 3, "upsert, tags, note");
    let note = sent
        .iter()
        .find(|r| r.url == format!("{API}/v1/notes"))
        .unwrap();
    let body: Value = serde_json::from_slice(note.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["contact_id"], 42);
    assert_eq!(body["type"], "Other");
    assert_eq!(body["title"], "Website form: contact");
    let text = body["body"].as_str().unwrap();
    for part in [
        "Please call me about the offer",
        "Page: https://example.com/contact.html",
        "Referrer: https://search.example/?q=x",
        "utm_source: newsletter",
        "utm_campaign: spring",
        "Site: https://example.com",
        "Consent: given (\"consent\" was ticked)",
        "Form: contact",
        "(UTC)",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    let upsert: Value = serde_json::from_slice(sent[0].body.as_deref().unwrap()).unwrap();
    assert!(
        !upsert.to_string().contains("Please call"),
        "the message is not a contact field"
    );
}

#[test]
fn a_refused_note_is_a_dead_letter_without_the_message_anywhere() {
    let p = platform();
    p.respond(|r| {
        Ok(if r.url.starts_with("https://hooks.example.com/") {
            InResponse::new(204, "")
        } else if r.method == Method::Put {
            InResponse::new(201, r#"{"id":42}"#)
        } else if r.url.ends_with("/v1/notes") {
            InResponse::new(
                400,
                r#"{"message":"Note body 'My secret plan' is not allowed"}"#,
            )
        } else {
            InResponse::new(200, r#"{"101":"SUCCESS","102":"SUCCESS"}"#)
        })
    });
    let mut config = api_key();
    config.settings.alert_webhook_url = Some(crate::secret::Secret::new(
        "https://hooks.example.com/alerts",
    ));
    let reply = post(
        &p,
        &config,
        "contact",
        &Req::form(&[("email", "a@example.com"), ("message", "My secret plan")])
            .header("Accept", "application/json"),
    );
    assert_eq!(json_of(&reply), json!({"ok": true, "status": "queued"}));
    let keys = p.keys(kv_keys::DEAD_PREFIX);
    assert_eq!(keys.len(), 1, "a dead letter");
    let id = outbox::EntryId::from_key(Queue::Dead, &keys[0]).unwrap();
    let entry: outbox::Entry<Progress> =
        block_on(outbox::load(&p, &config.seal_key, Queue::Dead, &id))
            .unwrap()
            .unwrap();
    assert_eq!(entry.progress, Progress::NeedsNote { contact_id: 42 });
    let reason = entry.last_error.unwrap();
    assert!(
        reason.starts_with("note: ") && !reason.contains("secret"),
        "{reason}"
    );
    let alerts = p.sent_to("hooks.example.com");
    assert_eq!(alerts.len(), 1);
    let alert = String::from_utf8_lossy(alerts[0].body.as_deref().unwrap_or_default());
    assert!(!alert.contains("secret"), "{alert}");
    for line in p.logs.borrow().iter() {
        assert!(!line.contains("secret"), "{line}");
    }
    for (key, stored) in p.kv.borrow().iter() {
        let meta = stored.metadata.as_deref().unwrap_or("");
        assert!(
            !stored.value.contains("secret") && !meta.contains("secret"),
            "{key} is sealed and its metadata clean"
        );
    }
}

#[test]
fn oauth_happy_path_reads_kv_once_and_writes_nothing() {
    let p = keap();
    let config = Config::from_settings(Settings {
        keap_api_key: None,
        keap_client_id: Some("cid".into()),
        keap_client_secret: Some(Secret::new("csecret")),
        ..settings()
    });
    let key = crate::store::seal::SealKey::from_base64(KEY_B64).unwrap();
    let record = crate::auth::tokens::TokenRecord {
        access_token: Secret::new("access-1"),
        refresh_token: Secret::new("refresh-1"),
        expires_at_ms: p.now_ms() + 3_600_000,
        tenant: None,
        obtained_at_ms: p.now_ms(),
    };
    block_on(crate::auth::tokens::store(&p, &key, &record)).unwrap();
    let (reads, writes) = (p.kv_reads.get(), p.kv_writes.get());

    let reply = post(
        &p,
        &config,
        "contact",
        &Req::form(GOOD).header("Accept", "application/json"),
    );
    assert_eq!(json_of(&reply), json!({"ok": true, "status": "created"}));
    assert_eq!(p.kv_reads.get() - reads, 1);
    assert_eq!(p.kv_writes.get() - writes, 0);
    let sent = p.requests.borrow();
    assert_eq!(sent.len(), 2);
    assert!(sent
        .iter()
        .all(|r| r.headers.get("Authorization") == Some("Bearer access-1")));
}

#[test]
fn opt_in_only_with_consent() {
    let p = keap();
    let reply = post(
        &p,
        &api_key(),
        "contact",
        &Req::json(json!({"email": "a@example.com", "consent": false})),
    );
    assert_eq!(reply.status, 200);
    let sent = p.requests.borrow();
    let upsert: Value = serde_json::from_slice(sent[0].body.as_deref().unwrap()).unwrap();
    assert!(upsert.get("opt_in_reason").is_none(), "{upsert}");
}

#[test]
fn origins_are_checked_first_and_refusals_send_nothing() {
    let config = api_key();
    for req in [
        Req::form(GOOD).header("Origin", "https://evil.example"),
        Req::form(GOOD)
            .header("Origin", "null")
            .header("Referer", "https://example.com/contact"),
        Req::form(GOOD).without("Origin"),
        Req::form(GOOD).header("Origin", "http://example.com"),
        Req::form(GOOD).header("Origin", "https://shop.example.com"),
    ] {
        let p = keap();
        let reply = post(
            &p,
            &config,
            "contact",
            &req.header("Accept", "application/json"),
        );
        assert_eq!(
            (reply.status, error_code(&reply).as_str()),
            (403, "origin_not_allowed")
        );
        assert_eq!(acao(&reply), None);
        assert!(sent_nothing(&p));
        assert_eq!(p.kv_reads.get(), 0);
    }
    // Even an unknown form is not revealed to a foreign origin.
    let p = keap();
    let reply = post(
        &p,
        &config,
        "nope",
        &Req::json(json!({})).header("Origin", "https://evil.example"),
    );
    assert_eq!(error_code(&reply), "origin_not_allowed");

    // Referer stands in for a missing Origin.
    let p = keap();
    let req = Req::form(GOOD)
        .without("Origin")
        .header("Referer", "https://www.example.com/contact.html?x=1");
    let reply = post(
        &p,
        &config,
        "contact",
        &req.header("Accept", "application/json"),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(acao(&reply), Some("https://www.example.com"));
}

#[test]
fn a_browser_multipart_post_is_delivered() {
    let p = keap();
    let body = b"------WebKitFormBoundaryAbc\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\njane@example.com\r\n------WebKitFormBoundaryAbc\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\nnewsletter\r\n------WebKitFormBoundaryAbc\r\nContent-Disposition: form-data; name=\"_gotcha\"\r\n\r\n\r\n------WebKitFormBoundaryAbc--\r\n";
    let req = Req::new()
        .header(
            "Content-Type",
            "multipart/form-data; boundary=----WebKitFormBoundaryAbc",
        )
        .header("Accept", "application/json")
        .body(body.to_vec());
    let reply = post(&p, &api_key(), "contact", &req);
    assert_eq!(json_of(&reply), json!({"ok": true, "status": "created"}));
    let sent = p.requests.borrow();
    assert_eq!(
        sent[1].body.as_deref(),
        Some(br#"{"tagIds":[101,102,103]}"#.as_slice())
    );
}

#[test]
fn a_refused_origin_is_named_in_the_log() {
    let p = keap();
    post(
        &p,
        &api_key(),
        "contact",
        &Req::form(GOOD).header("Origin", "https://WWW.Example.org"),
    );
    let logs = p.logs.borrow();
    assert!(
        logs.iter()
            .any(|l| l.contains("https://www.example.org") && l.contains("ALLOWED_ORIGINS")),
        "{logs:?}"
    );
}

#[test]
fn preflight_grants_allowed_origins_only() {
    let config = api_key();
    let ok = preflight(
        &config,
        &Req::new().incoming(Method::Options, "contact"),
        "contact",
    );
    assert_eq!(ok.status, 204);
    assert_eq!(acao(&ok), Some(SITE));
    assert_eq!(
        ok.headers.get("Access-Control-Allow-Methods"),
        Some("POST, OPTIONS")
    );
    assert_eq!(ok.headers.get("Access-Control-Max-Age"), Some("86400"));
    let no = preflight(
        &config,
        &Req::new()
            .header("Origin", "https://evil.example")
            .incoming(Method::Options, "contact"),
        "contact",
    );
    assert_eq!(acao(&no), None);
    assert_ne!(no.status, 204);
}

/// The shell gives a preflight's answer again to every preflight of the
/// same URL that agrees on the headers the answer names: so it must not
/// change with any other header the core reads, nor with the body.
#[test]
fn every_error_code_from_its_input() {
    let config = api_key();
    let big = vec![b'a'; 32 * 1024 + 1];
    let cases: Vec<(&str, Req, u16, &str, Option<&str>)> = vec![
        ("nope", Req::json(json!({"email": "a@example.com"})), 404, "unknown_form", None),
        ("contact", Req::json(json!({"first_name": "Jane"})), 400, "missing_field", Some("email")),
        ("contact", Req::json(json!({"email": "jane@example"})), 400, "invalid_email", Some("email")),
        ("contact", Req::json(json!({"email": "a@example.com", "first_name": "x".repeat(101)})), 400, "field_too_long", Some("first_name")),
        ("contact", Req::json(json!({"email": "a@example.com", "tags": ["vip"]})), 400, "unknown_tag", Some("tags")),
        ("contact", Req::json(json!({"email": "a@example.com", "phone": "none"})), 400, "invalid_phone", Some("phone")),
        ("contact", Req::json(json!({"email": "a@example.com", "first_name": "a\u{0}b"})), 400, "invalid_value", Some("first_name")),
        ("contact", Req::new().header("Content-Type", "application/json").body(b"{\"email\":".to_vec()), 400, "malformed_body", None),
        ("contact", Req::new().header("Content-Type", "multipart/form-data; boundary=b").body(b"--b\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"cv.pdf\"\r\n\r\n%PDF\r\n--b--".to_vec()), 400, "file_not_accepted", Some("cv")),
        ("contact", Req::new().header("Content-Type", "application/x-www-form-urlencoded").body(big), 413, "payload_too_large", None),
        ("contact", Req::new().header("Content-Type", "text/plain").body(b"email=a@example.com".to_vec()), 415, "unsupported_media_type", None),
        ("contact", Req::json(json!({})).header("Origin", "https://evil.example"), 403, "origin_not_allowed", None),
        ("human", Req::json(json!({"email": "a@example.com"})), 403, "turnstile_failed", None),
    ];
    for (form, req, status, code, field) in cases {
        let p = keap();
        let reply = post(&p, &config, form, &req.header("Accept", "application/json"));
        assert_eq!(
            (reply.status, error_code(&reply).as_str()),
            (status, code),
            "{}",
            reply.body_text()
        );
        let v = json_of(&reply);
        assert_eq!(v["ok"], json!(false));
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert_eq!(v["error"]["field"].as_str(), field, "{code}");
        assert!(
            p.sent_to("keap.test").is_empty(),
            "{code}: nothing goes to Keap"
        );
        assert_eq!(p.kv_writes.get(), 0, "{code}: nothing stored");
        if code != "origin_not_allowed" {
            assert_eq!(acao(&reply), Some(SITE), "{code}: readable by the page");
        }
    }
}

#[test]
fn a_declared_length_over_the_limit_is_413_even_unread() {
    // The shell leaves such a body unread; the header alone decides.
    let p = keap();
    let req = Req::new()
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Content-Length", "70000")
        .header("Accept", "application/json");
    let reply = post(&p, &api_key(), "contact", &req);
    assert_eq!(
        (reply.status, error_code(&reply).as_str()),
        (413, "payload_too_large")
    );
    let exact = Req::form(GOOD)
        .header("Content-Length", &(32 * 1024).to_string())
        .header("Accept", "application/json");
    assert_eq!(post(&p, &api_key(), "contact", &exact).status, 200);
}

#[test]
fn rate_limited_with_retry_after() {
    let p = keap();
    p.limited.set(true);
    let reply = post(
        &p,
        &api_key(),
        "contact",
        &Req::json(json!({"email": "a@example.com"})),
    );
    assert_eq!(
        (reply.status, error_code(&reply).as_str()),
        (429, "rate_limited")
    );
    assert_eq!(reply.headers.get("Retry-After"), Some("60"));
    assert!(sent_nothing(&p));
}

#[test]
fn turnstile_passes_on_the_right_host_and_fails_closed() {
    let p = keap();
    let ok = post(
        &p,
        &api_key(),
        "human",
        &Req::json(json!({"email": "a@example.com", "cf-turnstile-response": "tok"})),
    );
    assert_eq!(ok.status, 200, "{}", ok.body_text());
    assert_eq!(p.sent_to("turnstile.test").len(), 1);

    let p = platform();
    p.respond(|r| {
        if r.url.starts_with(VERIFY) {
            Err(FetchError::Network("down".into()))
        } else {
            Ok(InResponse::new(201, r#"{"id":1}"#))
        }
    });
    let down = post(
        &p,
        &api_key(),
        "human",
        &Req::json(json!({"email": "a@example.com", "cf-turnstile-response": "tok"})),
    );
    assert_eq!(error_code(&down), "turnstile_failed");
    assert!(p.sent_to("keap.test").is_empty());

    let no_secret = Config::from_settings(Settings {
        turnstile_secret: None,
        ..settings()
    });
    let p = keap();
    let reply = post(
        &p,
        &no_secret,
        "human",
        &Req::json(json!({"email": "a@example.com", "cf-turnstile-response": "tok"})),
    );
    assert_eq!(error_code(&reply), "turnstile_failed");
}

#[test]
fn honeypot_gets_a_normal_success_and_nothing_happens() {
    let p = keap();
    let mut pairs = GOOD.to_vec();
    pairs.push(("_gotcha", "I am a bot"));
    let reply = post(&p, &api_key(), "html", &Req::form(&pairs));
    assert_eq!(
        (reply.status, reply.headers.get("Location")),
        (303, Some("https://example.com/thanks"))
    );
    let reply = post(
        &p,
        &api_key(),
        "contact",
        &Req::form(&pairs).header("Accept", "application/json"),
    );
    assert_eq!(json_of(&reply), json!({"ok": true, "status": "created"}));
    assert!(sent_nothing(&p));
    // An empty honeypot is a person.
    let mut pairs = GOOD.to_vec();
    pairs.push(("_gotcha", ""));
    let reply = post(
        &p,
        &api_key(),
        "contact",
        &Req::form(&pairs).header("Accept", "application/json"),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(p.requests.borrow().len(), 2);
}

#[test]
fn every_usual_honeypot_and_the_form_own_get_a_success_and_nothing_happens() {
    for trap in ["_gotcha", "_honeypot", "bot-field", "fax_number"] {
        let p = keap();
        let reply = post(
            &p,
            &api_key(),
            "dropin",
            &Req::form(&[("email", "a@example.com"), (trap, "http://spam.example")])
                .header("Accept", "application/json"),
        );
        assert_eq!(
            json_of(&reply),
            json!({"ok": true, "status": "created"}),
            "{trap}"
        );
        assert!(sent_nothing(&p), "{trap}");
        assert!(
            p.logs.borrow().iter().any(|l| l.contains("honeypot")),
            "{trap}: the drop is logged"
        );
    }
}

/// A Netlify form's `fetch(FormData)`: multipart, names in any case, a
/// repeated checkbox group.
fn netlify_multipart(parts: &[(&str, &str)]) -> Req {
    let mut body = String::new();
    for (name, value) in parts {
        body.push_str(&format!(
            "------b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str("------b--\r\n");
    Req::new()
        .header("Content-Type", "multipart/form-data; boundary=----b")
        .header("Accept", "application/json")
        .body(body.into_bytes())
}

#[test]
fn a_netlify_post_keeps_every_field_in_the_note_in_the_same_two_rounds() {
    let p = keap();
    let reply = post(
        &p,
        &api_key(),
        "dropin",
        &netlify_multipart(&[
            ("form-name", "contact"),
            ("bot-field", ""),
            ("Name", "Jane Doe"),
            ("Email", "jane@example.com"),
            ("Message", "Quote please"),
            ("_subject", "New lead"),
            ("company", "Hidden Corp"),
            ("budget", "12k-15k"),
            ("services", "design"),
            ("services", "hosting"),
            ("submit", "Send"),
        ]),
    );
    assert_eq!(json_of(&reply), json!({"ok": true, "status": "created"}));
    assert_eq!((p.kv_reads.get(), p.kv_writes.get()), (0, 0));
    let sent = p.requests.borrow();
    assert_eq!(sent.len(), 3, "upsert, tags, note");
    let upsert: Value = serde_json::from_slice(sent[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(
        (
            upsert["given_name"].as_str(),
            upsert["family_name"].as_str()
        ),
        (Some("Jane"), Some("Doe"))
    );
    let note = sent
        .iter()
        .find(|r| r.url == format!("{API}/v1/notes"))
        .unwrap();
    let body: Value = serde_json::from_slice(note.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["title"], "Website form: dropin \u{2014} New lead");
    let text = body["body"].as_str().unwrap();
    assert!(
        text.starts_with(
            "Quote please\n\ncompany: Hidden Corp\nbudget: 12k-15k\nservices: design, hosting\n\n---\n"
        ),
        "{text}"
    );
    for dropped in ["form-name", "submit", "Send", "bot-field"] {
        assert!(!text.contains(dropped), "{dropped} in {text}");
    }
    for line in p.logs.borrow().iter() {
        assert!(
            !line.contains("Hidden Corp") && !line.contains("12k"),
            "{line}"
        );
    }
}

#[test]
fn unmapped_field_limits_are_refused_before_anything_is_sent() {
    let p = keap();
    let names: Vec<String> = (0..=50).map(|i| format!("extra{i}")).collect();
    let mut many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    many.push(("email", "a@example.com"));
    let reply = post(
        &p,
        &api_key(),
        "dropin",
        &Req::form(&many).header("Accept", "application/json"),
    );
    assert_eq!(reply.status, 400);
    assert_eq!(error_code(&reply), "too_many_fields");
    let long = "x".repeat(1001);
    let reply = post(
        &p,
        &api_key(),
        "dropin",
        &Req::form(&[("email", "a@example.com"), ("budget", &long)])
            .header("Accept", "application/json"),
    );
    assert_eq!(
        (
            error_code(&reply),
            json_of(&reply)["error"]["field"].clone()
        ),
        ("field_too_long".to_string(), json!("budget"))
    );
    let name = "n".repeat(65);
    let reply = post(
        &p,
        &api_key(),
        "dropin",
        &Req::form(&[("email", "a@example.com"), (&name, "v")])
            .header("Accept", "application/json"),
    );
    assert_eq!(error_code(&reply), "invalid_value");
    assert!(sent_nothing(&p));
}

#[test]
fn a_refused_note_keeps_no_unmapped_value_or_subject_in_its_reason() {
    let p = MemoryPlatform::new();
    p.respond(|r| {
        Ok(if r.url.starts_with("https://hooks.example.com/") {
            InResponse::new(204, "")
        } else if r.method == Method::Put {
            InResponse::new(201, r#"{"id":42}"#)
        } else if r.url.ends_with("/v1/notes") {
            InResponse::new(
                400,
                r#"{"message":"Title 'Secret subject' and 'Hidden Corp' are not allowed"}"#,
            )
        } else {
            InResponse::new(200, r#"{"101":"SUCCESS"}"#)
        })
    });
    let mut config = api_key();
    config.settings.alert_webhook_url = Some(crate::secret::Secret::new(
        "https://hooks.example.com/alerts",
    ));
    let reply = post(
        &p,
        &config,
        "dropin",
        &Req::form(&[
            ("_replyto", "a@example.com"),
            ("subject", "Secret subject"),
            ("company", "Hidden Corp"),
        ])
        .header("Accept", "application/json"),
    );
    assert_eq!(json_of(&reply), json!({"ok": true, "status": "queued"}));
    let keys = p.keys(kv_keys::DEAD_PREFIX);
    let id = outbox::EntryId::from_key(Queue::Dead, &keys[0]).unwrap();
    let entry = block_on(outbox::load::<_, Progress>(
        &p,
        &config.seal_key,
        Queue::Dead,
        &id,
    ))
    .unwrap()
    .unwrap();
    let reason = entry.last_error.unwrap();
    let alerts = p.sent_to("hooks.example.com");
    let alert = String::from_utf8_lossy(alerts[0].body.as_deref().unwrap_or_default());
    let logs = p.logs.borrow().join("\n");
    for words in ["Secret subject", "Hidden Corp"] {
        assert!(!reason.contains(words), "{words} in {reason}");
        assert!(!alert.contains(words), "{words} in {alert}");
        assert!(!logs.contains(words), "{words} in {logs}");
        for (key, stored) in p.kv.borrow().iter() {
            assert!(!stored.value.contains(words), "{key} is sealed");
        }
    }
}

#[test]
fn html_mode_redirects_with_303() {
    let config = api_key();
    let p = keap();
    let html = |pairs: &[(&str, &str)]| Req::form(pairs).header("Accept", "text/html,*/*;q=0.8");

    let r = post(&p, &config, "html", &html(&[("email", "a@example.com")]));
    assert_eq!(
        (r.status, r.headers.get("Location")),
        (303, Some("https://example.com/thanks"))
    );
    assert_eq!(acao(&r), Some(SITE));

    let r = post(
        &p,
        &config,
        "html",
        &html(&[
            ("email", "a@example.com"),
            ("_next", "https://www.example.com/merci"),
        ]),
    );
    assert_eq!(
        r.headers.get("Location"),
        Some("https://www.example.com/merci")
    );

    let r = post(
        &p,
        &config,
        "html",
        &html(&[
            ("email", "a@example.com"),
            ("_next", "https://evil.example/phish"),
        ]),
    );
    assert_eq!(
        r.headers.get("Location"),
        Some("https://example.com/thanks"),
        "foreign _next ignored"
    );

    let r = post(&p, &config, "html", &html(&[("email", "nope")]));
    assert_eq!(
        (r.status, r.headers.get("Location")),
        (
            303,
            Some("https://example.com/oops?error=invalid_email&field=email")
        )
    );

    // No redirect configured: a small page with the right status.
    let r = post(&p, &config, "contact", &html(&[("email", "a@example.com")]));
    assert_eq!(r.status, 200);
    assert!(r.body_text().contains("Thank you"));
    let r = post(&p, &config, "contact", &html(&[("email", "nope")]));
    assert_eq!(r.status, 400);
    assert!(r
        .headers
        .get("Content-Type")
        .unwrap()
        .starts_with("text/html"));
    assert!(r.body_text().contains("invalid_email"));
    let r = post(
        &p,
        &config,
        "contact",
        &html(&[
            ("email", "a@example.com"),
            ("_next", "https://evil.example/"),
        ]),
    );
    assert_eq!((r.status, r.headers.get("Location")), (200, None));
}

/// Asserts a `202 queued` answer and returns the one pending entry.
fn queued_entry(p: &MemoryPlatform, config: &Config, reply: &Reply) -> outbox::Entry<Progress> {
    assert_eq!(reply.status, 202, "{}", reply.body_text());
    assert_eq!(json_of(reply), json!({"ok": true, "status": "queued"}));
    let keys = p.keys(kv_keys::OUTBOX_PREFIX);
    assert_eq!(keys.len(), 1);
    let id = outbox::EntryId::from_key(Queue::Pending, &keys[0]).unwrap();
    block_on(outbox::load(p, &config.seal_key, Queue::Pending, &id))
        .unwrap()
        .unwrap()
}

#[test]
fn queued_when_not_connected_and_sealed_in_kv() {
    let p = keap();
    let config = oauth_unconnected();
    let reply = post(
        &p,
        &config,
        "contact",
        &Req::form(GOOD).header("Accept", "application/json"),
    );
    let entry = queued_entry(&p, &config, &reply);
    assert_eq!(entry.progress, Progress::NeedsContact);
    assert_eq!(entry.lead.email.as_deref(), Some("jane+news@example.com"));
    assert!(
        p.requests.borrow().is_empty(),
        "no Keap call without a token"
    );
    for (key, stored) in p.kv.borrow().iter() {
        for personal in ["jane", "Jane", "203.0.113.9"] {
            assert!(
                !stored.value.contains(personal),
                "{personal} in clear under {key}"
            );
            assert!(!stored
                .metadata
                .clone()
                .unwrap_or_default()
                .contains(personal));
        }
    }
    // HTML mode: the same success redirect.
    let r = post(
        &p,
        &config,
        "html",
        &Req::form(&[("email", "a@example.com")]),
    );
    assert_eq!(
        (r.status, r.headers.get("Location")),
        (303, Some("https://example.com/thanks"))
    );
}

#[test]
fn queued_on_keap_trouble() {
    let failures: Vec<Box<dyn Fn() -> Result<InResponse, FetchError>>> = vec![
        Box::new(|| {
            Ok(InResponse::new(
                401,
                r#"{"fault":{"faultstring":"Invalid Access Token"}}"#,
            ))
        }),
        Box::new(|| {
            Ok(InResponse::new(
                429,
                r#"{"code":"429","message":"Quota Exceeded"}"#,
            ))
        }),
        Box::new(|| Ok(InResponse::new(500, ""))),
        Box::new(|| Ok(InResponse::new(503, "<html>down</html>"))),
        Box::new(|| Err(FetchError::Network("connection reset".into()))),
        Box::new(|| Err(FetchError::Timeout)),
    ];
    for failure in failures {
        let p = platform();
        p.respond(move |_| failure());
        let config = api_key();
        let reply = post(
            &p,
            &config,
            "contact",
            &Req::form(GOOD).header("Accept", "application/json"),
        );
        let entry = queued_entry(&p, &config, &reply);
        assert_eq!(entry.progress, Progress::NeedsContact);
        let reason = entry.last_error.unwrap_or_default();
        assert!(!reason.contains("jane"), "{reason}");
        assert_eq!(
            p.requests.borrow().len(),
            1,
            "no tag call after a failed upsert"
        );
    }
}

#[test]
fn a_tag_failure_queues_only_the_tags() {
    let p = platform();
    p.respond(|r| {
        Ok(if r.method == Method::Put {
            InResponse::new(201, r#"{"id":77}"#)
        } else {
            InResponse::new(502, "")
        })
    });
    let config = api_key();
    let reply = post(
        &p,
        &config,
        "contact",
        &Req::form(GOOD).header("Accept", "application/json"),
    );
    let entry = queued_entry(&p, &config, &reply);
    assert_eq!(entry.progress, Progress::contact_written(77));
}

#[test]
fn a_401_on_an_oauth_token_marks_it_rejected() {
    let p = platform();
    p.respond(|_| Ok(InResponse::new(401, "{}")));
    let config = Config::from_settings(Settings {
        keap_api_key: None,
        keap_client_id: Some("cid".into()),
        keap_client_secret: Some(Secret::new("csecret")),
        ..settings()
    });
    let key = crate::store::seal::SealKey::from_base64(KEY_B64).unwrap();
    let record = crate::auth::tokens::TokenRecord {
        access_token: Secret::new("access-1"),
        refresh_token: Secret::new("refresh-1"),
        expires_at_ms: p.now_ms() + 3_600_000,
        tenant: None,
        obtained_at_ms: p.now_ms(),
    };
    block_on(crate::auth::tokens::store(&p, &key, &record)).unwrap();
    let reply = post(
        &p,
        &config,
        "contact",
        &Req::form(GOOD).header("Accept", "application/json"),
    );
    queued_entry(&p, &config, &reply);
    let marker = p
        .value(kv_keys::REJECTED)
        .expect("token marked as rejected");
    assert!(!marker.contains("access-1"), "only a fingerprint is stored");
    assert!(
        p.sent_to("/token").is_empty(),
        "the form path never refreshes"
    );

    // The next visitor's lead: the token is known to be rejected, so it is
    // queued without spending a Keap call, and not marked again.
    let (calls, writes) = (p.requests.borrow().len(), p.kv_writes.get());
    let reply = post(
        &p,
        &config,
        "contact",
        &Req::form(GOOD).header("Accept", "application/json"),
    );
    assert_eq!(json_of(&reply), json!({"ok": true, "status": "queued"}));
    assert_eq!(p.requests.borrow().len(), calls, "no Keap call");
    assert_eq!(p.kv_writes.get() - writes, 1, "only the outbox entry");
    assert_eq!(p.keys(kv_keys::OUTBOX_PREFIX).len(), 2);
}

/// OAuth connected with `access-1`/`refresh-1`, valid for an hour.
fn oauth_connected(p: &MemoryPlatform) -> Config {
    let key = crate::store::seal::SealKey::from_base64(KEY_B64).unwrap();
    let record = crate::auth::tokens::TokenRecord {
        access_token: Secret::new("access-1"),
        refresh_token: Secret::new("refresh-1"),
        expires_at_ms: p.now_ms() + 3_600_000,
        tenant: None,
        obtained_at_ms: p.now_ms(),
    };
    block_on(crate::auth::tokens::store(p, &key, &record)).unwrap();
    Config::from_settings(Settings {
        keap_api_key: None,
        keap_client_id: Some("cid".into()),
        keap_client_secret: Some(Secret::new("csecret")),
        ..settings()
    })
}

#[test]
fn when_reauthorization_is_needed_a_lead_is_queued_without_a_keap_call() {
    let p = keap();
    let config = oauth_connected(&p);
    // The scheduled run found the refresh token refused.
    block_on(crate::auth::tokens::write_reauth_marker(
        &p,
        &Secret::new("refresh-1"),
    ))
    .unwrap();
    let reads = p.kv_reads.get();
    let reply = post(
        &p,
        &config,
        "contact",
        &Req::form(GOOD).header("Accept", "application/json"),
    );
    assert_eq!(p.kv_reads.get() - reads, 1, "one bulk read");
    let entry = queued_entry(&p, &config, &reply);
    assert!(p.requests.borrow().is_empty(), "no Keap call");
    assert_eq!(
        (entry.attempts, entry.progress),
        (0, Progress::NeedsContact)
    );
    assert!(
        entry
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("connect to Keap again")),
        "{:?}",
        entry.last_error
    );
}

#[test]
fn markers_about_older_tokens_do_not_hold_leads_back() {
    let p = keap();
    let config = oauth_connected(&p);
    block_on(crate::auth::tokens::write_reauth_marker(
        &p,
        &Secret::new("refresh-0"),
    ))
    .unwrap();
    block_on(crate::keap::credentials::mark_rejected(
        &p,
        &Secret::new("access-0"),
    ));
    let reply = post(
        &p,
        &config,
        "contact",
        &Req::form(GOOD).header("Accept", "application/json"),
    );
    assert_eq!(json_of(&reply), json!({"ok": true, "status": "created"}));
    assert_eq!(p.requests.borrow().len(), 2);
}

#[test]
fn a_permanent_refusal_becomes_a_dead_letter_and_the_visitor_is_not_blamed() {
    let p = platform();
    p.respond(|_| {
        Ok(InResponse::new(
            400,
            r#"{"message":"Invalid email a@example.com"}"#,
        ))
    });
    let config = api_key();
    let reply = post(
        &p,
        &config,
        "contact",
        &Req::form(GOOD).header("Accept", "application/json"),
    );
    assert_eq!(json_of(&reply), json!({"ok": true, "status": "queued"}));
    assert!(p.keys(kv_keys::OUTBOX_PREFIX).is_empty());
    let dead = p.keys(kv_keys::DEAD_PREFIX);
    assert_eq!(dead.len(), 1);
    let id = outbox::EntryId::from_key(Queue::Dead, &dead[0]).unwrap();
    let entry: outbox::Entry<Progress> =
        block_on(outbox::load(&p, &config.seal_key, Queue::Dead, &id))
            .unwrap()
            .unwrap();
    let reason = entry.last_error.unwrap();
    assert!(
        reason.contains("400") && !reason.contains("a@example.com"),
        "{reason}"
    );
}

#[test]
fn a_permanent_refusal_alerts_the_owner_without_personal_data() {
    let p = platform();
    p.respond(|r| {
        if r.url.starts_with("https://hooks.example.com/") {
            Ok(InResponse::new(204, ""))
        } else {
            Ok(InResponse::new(
                400,
                r#"{"message":"Invalid email a@example.com"}"#,
            ))
        }
    });
    let mut config = api_key();
    config.settings.alert_webhook_url = Some(crate::secret::Secret::new(
        "https://hooks.example.com/alerts",
    ));
    let reply = post(
        &p,
        &config,
        "contact",
        &Req::form(GOOD).header("Accept", "application/json"),
    );
    assert_eq!(json_of(&reply), json!({"ok": true, "status": "queued"}));
    let alerts = p.sent_to("hooks.example.com");
    assert_eq!(alerts.len(), 1, "one dead_letter alert");
    let body: serde_json::Value =
        serde_json::from_slice(alerts[0].body.as_deref().unwrap_or_default()).unwrap();
    assert_eq!(body["event"], "dead_letter");
    assert!(!body.to_string().contains("a@example.com"), "{body}");
}

#[test]
fn an_unstorable_lead_is_an_honest_503() {
    // No ENCRYPTION_KEY and Keap unreachable: nothing may claim success.
    let p = platform();
    p.respond(|_| Ok(InResponse::new(503, "")));
    let config = Config::from_settings(Settings {
        encryption_key: None,
        ..settings()
    });
    let reply = post(
        &p,
        &config,
        "contact",
        &Req::form(GOOD).header("Accept", "application/json"),
    );
    assert_eq!(
        (reply.status, error_code(&reply).as_str()),
        (503, "queue_unavailable")
    );
    assert!(p.kv.borrow().is_empty());

    // KV failing while queueing: the same.
    let p = platform();
    p.fail_writes.set(true);
    let reply = post(
        &p,
        &oauth_unconnected(),
        "contact",
        &Req::form(GOOD).header("Accept", "application/json"),
    );
    assert_eq!(
        (reply.status, error_code(&reply).as_str()),
        (503, "queue_unavailable")
    );

    // But a lead Keap takes needs no key at all.
    let p = keap();
    let reply = post(
        &p,
        &config,
        "contact",
        &Req::form(GOOD).header("Accept", "application/json"),
    );
    assert_eq!(reply.status, 200);
}

#[test]
fn a_broken_forms_var_is_not_configured() {
    let config = Config::from_settings(Settings {
        forms: Some(json!({"contact": {"redirct": "x"}})),
        ..settings()
    });
    let p = keap();
    let reply = post(
        &p,
        &config,
        "contact",
        &Req::json(json!({"email": "a@example.com"})),
    );
    assert_eq!(
        (reply.status, error_code(&reply).as_str()),
        (503, "not_configured")
    );
    assert!(sent_nothing(&p));
}

#[test]
fn log_lines_hold_no_personal_data() {
    let p = platform();
    p.respond(|_| {
        Ok(InResponse::new(
            400,
            r#"{"message":"Bad email jane+news@example.com"}"#,
        ))
    });
    let config = api_key();
    post(&p, &config, "contact", &Req::form(GOOD));
    let p2 = keap();
    post(&p2, &oauth_unconnected(), "contact", &Req::form(GOOD));
    for line in p.logs.borrow().iter().chain(p2.logs.borrow().iter()) {
        assert!(
            !line.contains("jane") && !line.contains("Jane") && !line.contains("203.0.113"),
            "{line}"
        );
    }
    assert!(!p.logs.borrow().is_empty());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn field_name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("email".to_string()),
            Just("first_name".to_string()),
            Just("phone".to_string()),
            Just("tags".to_string()),
            Just("consent".to_string()),
            Just("company".to_string()),
            Just("_next".to_string()),
            Just("_gotcha".to_string()),
            ".{0,10}",
        ]
    }

    fn body() -> impl Strategy<Value = (String, Vec<u8>)> {
        prop_oneof![
            (
                Just("application/x-www-form-urlencoded".to_string()),
                proptest::collection::vec((field_name(), ".{0,40}"), 0..6).prop_map(|pairs| {
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(pairs.iter())
                        .finish()
                        .into_bytes()
                })
            ),
            (
                Just("application/json".to_string()),
                proptest::collection::btree_map(field_name(), ".{0,40}", 0..6)
                    .prop_map(|m| serde_json::to_vec(&m).unwrap_or_default())
            ),
            (
                prop_oneof![
                    Just("application/json".to_string()),
                    Just("multipart/form-data; boundary=b".to_string()),
                    Just("application/x-www-form-urlencoded".to_string()),
                    ".{0,40}",
                ],
                proptest::collection::vec(any::<u8>(), 0..300)
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any submission gets a well-formed answer of a known status, and
        /// an allowed origin can always read it.
        #[test]
        fn any_submission_gets_a_proper_answer(
            (content_type, body) in body(),
            origin in prop_oneof![Just(SITE.to_string()), Just("https://evil.example".to_string()), Just("null".to_string())],
            accept in prop_oneof![Just("application/json"), Just("text/html")],
            form in prop_oneof![Just("contact"), Just("html"), Just("human"), Just("nope")],
            keap_up in any::<bool>(),
        ) {
            let p = if keap_up { keap() } else { platform() };
            let req = Req::new()
                .header("Origin", &origin)
                .header("Accept", accept)
                .header("Content-Type", &content_type)
                .body(body);
            let reply = post(&p, &api_key(), form, &req);
            prop_assert!(
                [200, 202, 303, 400, 403, 404, 413, 415, 429, 503].contains(&reply.status),
                "status {}", reply.status
            );
            if reply.status != 303 && (accept == "application/json" || content_type.starts_with("application/json")) {
                let v = json_of(&reply);
                prop_assert!(v["ok"].is_boolean(), "{}", reply.body_text());
            }
            prop_assert_eq!(acao(&reply).is_some(), origin == SITE);
            prop_assert!(reply.headers.iter().all(|(_, v)| v != "*"));
        }
    }
}
