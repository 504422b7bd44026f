//! A submission through the spam rules and the domain lookup, on the
//! in-memory platform with a stand-in resolver and Keap.

use serde_json::{json, Value};

use super::NO_MAIL_MESSAGE;
use crate::config::Config;
use crate::flows::submit::submit;
use crate::http::{FetchError, Headers, InResponse, Incoming, Method, OutRequest, Reply};
use crate::request_url::RequestUrl;
use crate::secret::Secret;
use crate::settings::Settings;
use crate::store::{held, kv_keys};
use crate::testing::{block_on, MemoryPlatform};

const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const DOH: &str = "https://doh.test/dns-query";
const API: &str = "https://keap.test/crm/rest";

fn config_with(forms: Value) -> Config {
    Config::from_settings(Settings {
        keap_api_key: Some(Secret::new("KeapAK-test")),
        encryption_key: Some(Secret::new(KEY_B64)),
        allowed_origins: Some("https://example.com".into()),
        forms: Some(forms),
        keap_api_url: Some(API.into()),
        doh_url: Some(DOH.into()),
        ..Settings::default()
    })
}

fn config() -> Config {
    config_with(json!({
        "contact": {"tags": [101]},
        "dropper": {"spam": "drop"},
        "open": {"spam": "off"},
        "nodns": {"check_email_domain": false},
    }))
}

/// DNS: `mail.test` has MX, `a-only.test` only an A record, `gone.test`
/// does not exist, `bare.test` has nothing, `nomail.test` a null MX,
/// `broken.test` times out. Keap creates contact 42.
fn answer(r: &OutRequest) -> Result<InResponse, FetchError> {
    if let Some(query) = r.url.strip_prefix(DOH) {
        let q: std::collections::BTreeMap<String, String> =
            url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
                .into_owned()
                .collect();
        let (name, kind) = (q["name"].as_str(), q["type"].as_str());
        let record = |t: u16, data: &str| {
            format!(r#"{{"Status":0,"Answer":[{{"type":{t},"TTL":300,"data":"{data}"}}]}}"#)
        };
        let body = match (name, kind) {
            ("broken.test", _) => return Err(FetchError::Timeout),
            ("gone.test", _) => r#"{"Status":3}"#.to_string(),
            ("mail.test", "MX") => record(15, "10 mx.mail.test."),
            ("nomail.test", "MX") => record(15, "0 ."),
            ("a-only.test", "A") => record(1, "192.0.2.1"),
            _ => r#"{"Status":0}"#.to_string(),
        };
        return Ok(InResponse::new(200, body));
    }
    if r.method == Method::Put {
        return Ok(InResponse::new(201, r#"{"id":42}"#));
    }
    if r.url.ends_with("/tags") {
        return Ok(InResponse::new(200, r#"{"101":"SUCCESS"}"#));
    }
    Ok(InResponse::new(200, r#"{"id":7}"#))
}

fn platform() -> MemoryPlatform {
    let p = MemoryPlatform::new();
    p.respond(answer);
    p
}

fn post(p: &MemoryPlatform, config: &Config, form: &str, body: Value) -> Reply {
    let mut headers = Headers::new();
    headers.push("Origin", "https://example.com");
    headers.push("Content-Type", "application/json");
    let req = Incoming {
        method: Method::Post,
        url: RequestUrl::parse(&format!("https://worker.test/forms/{form}")).unwrap(),
        headers,
        body: serde_json::to_vec(&body).unwrap(),
    };
    block_on(submit(p, config, &req, form))
}

fn json_of(r: &Reply) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn keap_calls(p: &MemoryPlatform) -> usize {
    p.sent_to(API).len()
}

fn dns_calls(p: &MemoryPlatform) -> usize {
    p.sent_to(DOH).len()
}

const SPAM: [(&str, &str, &str); 5] = [
    ("first_name", "Earn $5000 a day http://cash.example", "link_in_name"),
    ("message", "https://casino.example/bonus", "message_only_link"),
    (
        "message",
        "Best SEO http://a.example http://b.example http://c.example http://d.example http://e.example",
        "too_many_links",
    ),
    ("message", "nice [url=http://x.example]deal[/url]", "markup_link"),
    ("message", "click <a href=\"http://x.example\">here</a>", "markup_link"),
];

#[test]
fn spam_is_held_answered_as_success_and_reaches_no_keap_call() {
    let p = platform();
    let c = config();
    for (i, (field, value, code)) in SPAM.iter().enumerate() {
        let r = post(
            &p,
            &c,
            "contact",
            json!({"email": "x@mail.test", *field: value}),
        );
        assert_eq!(r.status, 200, "{}", r.body_text());
        assert_eq!(json_of(&r), json!({"ok": true, "status": "created"}));
        let listed = block_on(held::list(&p, 50)).unwrap();
        assert_eq!(listed.len(), i + 1);
        assert!(listed
            .iter()
            .any(|h| h.reason.map(|r| r.code()) == Some(code)));
    }
    assert_eq!(keap_calls(&p), 0);
    assert!(p.keys(kv_keys::OUTBOX_PREFIX).is_empty());
    // The visitor's words reach no log line.
    let logs = p.logs.borrow().join("\n");
    for (_, value, _) in SPAM {
        assert!(!logs.contains(value), "{logs}");
    }
    assert!(!logs.contains("x@mail.test"));
    assert!(logs.contains("held for review"));
}

#[test]
fn legitimate_leads_go_straight_to_keap() {
    let p = platform();
    let c = config();
    let posts = [
        json!({"email": "jose@mail.test", "first_name": "José", "last_name": "Ñúñez"}),
        json!({"email": "li@mail.test", "first_name": "李", "last_name": "雷"}),
        json!({"email": "zoe@mail.test", "first_name": "Zoë", "last_name": "O'Brien",
               "message": "Saw your work on https://old.example, can we talk?",
               "website": "https://www.zoe.example"}),
    ];
    for body in posts {
        let r = post(&p, &c, "contact", body);
        assert_eq!(json_of(&r)["status"], "created", "{}", r.body_text());
    }
    assert!(p.keys(kv_keys::HELD_PREFIX).is_empty());
    assert_eq!(dns_calls(&p), 1, "mail.test was asked once, then cached");
}

#[test]
fn drop_and_off_modes() {
    let p = platform();
    let c = config();
    let spam = json!({"email": "x@mail.test", "message": "https://casino.example"});
    let r = post(&p, &c, "dropper", spam.clone());
    assert_eq!(json_of(&r)["status"], "created");
    assert_eq!(p.kv_writes.get(), 0);
    assert_eq!(keap_calls(&p), 0);
    let r = post(&p, &c, "open", spam);
    assert_eq!(json_of(&r)["status"], "created");
    assert_eq!(keap_calls(&p), 2, "delivered: upsert and note (no tags)");
    assert!(p.keys(kv_keys::HELD_PREFIX).is_empty());
}

#[test]
fn domains_that_take_no_mail_are_refused_with_a_message_to_act_on() {
    for domain in ["gone.test", "bare.test", "nomail.test"] {
        let p = platform();
        let r = post(
            &p,
            &config(),
            "contact",
            json!({"email": format!("sam@{domain}")}),
        );
        assert_eq!(r.status, 400, "{domain}");
        assert_eq!(
            json_of(&r)["error"],
            json!({"code": "invalid_email", "field": "email", "message": NO_MAIL_MESSAGE})
        );
        assert_eq!(keap_calls(&p), 0);
        assert_eq!(p.kv_writes.get(), 0);
        assert!(!p.logs.borrow().join("\n").contains("sam@"));
        // Spam at such a domain is refused too, and costs no write.
        let r = post(
            &p,
            &config(),
            "contact",
            json!({"email": format!("sam@{domain}"), "message": "www.x.example"}),
        );
        assert_eq!(r.status, 400);
        assert_eq!(p.kv_writes.get(), 0);
    }
}

#[test]
fn an_a_record_or_a_failing_lookup_lets_the_lead_through() {
    for domain in ["a-only.test", "broken.test"] {
        let p = platform();
        let r = post(
            &p,
            &config(),
            "contact",
            json!({"email": format!("sam@{domain}")}),
        );
        assert_eq!(
            json_of(&r)["status"],
            "created",
            "{domain}: {}",
            r.body_text()
        );
        assert_eq!(keap_calls(&p), 2);
    }
    // The lookup's requests are short: never the 10 s of a Keap call.
    let p = platform();
    post(
        &p,
        &config(),
        "contact",
        json!({"email": "sam@broken.test"}),
    );
    let asked = p.sent_to(DOH);
    assert!(asked
        .iter()
        .all(|r| r.timeout_ms.is_some_and(|t| t <= 1500)));
}

#[test]
fn a_form_may_turn_the_lookup_off() {
    let p = platform();
    let r = post(&p, &config(), "nodns", json!({"email": "sam@gone.test"}));
    assert_eq!(json_of(&r)["status"], "created");
    assert_eq!(dns_calls(&p), 0);
}

#[test]
fn oauth_delivery_still_reads_kv_once_beside_the_lookup() {
    let p = platform();
    let c = Config::from_settings(Settings {
        keap_api_key: None,
        keap_client_id: Some("cid".into()),
        keap_client_secret: Some(Secret::new("cs")),
        ..config().settings.clone()
    });
    // Not connected: the lead is queued, after the lookup ran beside the read.
    let r = post(&p, &c, "contact", json!({"email": "sam@mail.test"}));
    assert_eq!(json_of(&r)["status"], "queued");
    assert_eq!(p.kv_reads.get(), 1);
    assert_eq!(dns_calls(&p), 1);
    let r = post(&p, &c, "contact", json!({"email": "sam@gone.test"}));
    assert_eq!(r.status, 400);
    assert_eq!(
        p.keys(kv_keys::OUTBOX_PREFIX).len(),
        1,
        "the refused one was not queued"
    );
}

#[test]
fn a_caught_post_that_cannot_be_held_is_not_answered_as_accepted() {
    let p = platform();
    p.fail_writes.set(true);
    let r = post(
        &p,
        &config(),
        "contact",
        json!({"email": "x@mail.test", "message": "www.x.example"}),
    );
    assert_eq!(r.status, 503);
    assert_eq!(json_of(&r)["error"]["code"], "queue_unavailable");
}
