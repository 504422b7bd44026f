//! The review routes, the admin page's section, the status count and the
//! daily alert, through the route table on the in-memory platform.

use std::cell::Cell;
use std::rc::Rc;

use serde_json::{json, Value};

use crate::config::Config;
use crate::http::{Headers, InResponse, Incoming, Method, Reply};
use crate::request_url::RequestUrl;
use crate::routes;
use crate::secret::Secret;
use crate::settings::Settings;
use crate::store::kv_keys;
use crate::testing::{block_on, MemoryPlatform};

const ADMIN: &str = "admin-token-for-tests";
const API: &str = "https://keap.test/crm/rest";
const HOOK: &str = "https://hooks.test/alert";
const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn config(api_key: bool) -> Config {
    Config::from_settings(Settings {
        keap_api_key: api_key.then(|| Secret::new("KeapAK-test")),
        keap_api_url: Some(API.into()),
        admin_token: Some(Secret::new(ADMIN)),
        encryption_key: Some(Secret::new(KEY_B64)),
        alert_webhook_url: Some(Secret::new(HOOK)),
        allowed_origins: Some("https://site.example".into()),
        forms: Some(json!({"contact": {"tags": [101]}})),
        ..Settings::default()
    })
}

/// Keap up, counting upserts; the webhook answers 204.
fn platform() -> (MemoryPlatform, Rc<Cell<u32>>) {
    let p = MemoryPlatform::new();
    p.knows_mail_domain("example.com");
    let upserts = Rc::new(Cell::new(0));
    let seen = Rc::clone(&upserts);
    p.respond(move |r| {
        if r.url == HOOK {
            return Ok(InResponse::new(204, ""));
        }
        if r.method == Method::Put {
            seen.set(seen.get() + 1);
            return Ok(InResponse::new(201, r#"{"id":42}"#));
        }
        if r.url.ends_with("/tags") {
            return Ok(InResponse::new(200, r#"{"101":"SUCCESS"}"#));
        }
        Ok(InResponse::new(200, r#"{"id":9}"#))
    });
    (p, upserts)
}

fn send(
    p: &MemoryPlatform,
    c: &Config,
    method: Method,
    path: &str,
    accept: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut headers = Headers::new();
    if path.starts_with("/admin") {
        headers.push("Authorization", format!("Bearer {ADMIN}"));
    } else {
        headers.push("Origin", "https://site.example");
    }
    if let Some(a) = accept {
        headers.push("Accept", a.to_string());
    }
    if body.is_some() {
        headers.push("Content-Type", "application/json");
    }
    let req = Incoming {
        method,
        url: RequestUrl::parse(&format!("https://worker.test{path}")).unwrap(),
        headers,
        body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
    };
    block_on(routes::answer_request(p, c, req)).reply
}

fn json_of(r: &Reply) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

/// Posts one suspicious submission; its held id.
fn hold_one(p: &MemoryPlatform, c: &Config, message: &str) -> String {
    let r = send(
        p,
        c,
        Method::Post,
        "/forms/contact",
        None,
        Some(json!({"email": "sam@example.com", "first_name": "Sam", "message": message})),
    );
    assert_eq!(json_of(&r)["status"], "created", "{}", r.body_text());
    let keys = p.keys(kv_keys::HELD_PREFIX);
    keys.last()
        .unwrap()
        .trim_start_matches(kv_keys::HELD_PREFIX)
        .to_string()
}

#[test]
fn held_posts_are_listed_for_scripts() {
    let (p, _) = platform();
    let c = config(true);
    let id = hold_one(&p, &c, "www.spam.example");
    let r = send(&p, &c, Method::Get, "/admin/held", None, None);
    assert_eq!(r.status, 200);
    assert_eq!(r.headers.get("Cache-Control"), Some("no-store"));
    let v = json_of(&r);
    assert_eq!(v["count"], 1);
    assert_eq!(
        v["held"][0],
        json!({
            "id": id, "form": "contact", "reason": "message_only_link",
            "received_at": "2026-01-01T00:00:00Z", "email": "sam@example.com",
            "name": "Sam", "message": "www.spam.example",
        })
    );
    let status = send(&p, &c, Method::Get, "/admin/status", None, None);
    assert_eq!(json_of(&status)["held"], json!({"count": 1}));
}

#[test]
fn a_release_delivers_once_and_a_second_one_is_404() {
    let (p, upserts) = platform();
    let c = config(true);
    let id = hold_one(
        &p,
        &c,
        "http://a.example http://b.example http://c.example http://d.example",
    );
    assert_eq!(upserts.get(), 0);
    let path = format!("/admin/held/{id}/release");
    let r = send(&p, &c, Method::Post, &path, None, None);
    assert_eq!(r.status, 200, "{}", r.body_text());
    assert_eq!(
        json_of(&r),
        json!({"ok": true, "status": "created", "contact_id": 42})
    );
    assert_eq!(upserts.get(), 1);
    assert!(p.keys(kv_keys::HELD_PREFIX).is_empty());
    let again = send(&p, &c, Method::Post, &path, None, None);
    assert_eq!(again.status, 404);
    assert_eq!(json_of(&again)["error"]["code"], "not_found");
    assert_eq!(upserts.get(), 1);
    // A browser's button gets a page.
    let id = hold_one(&p, &c, "www.x.example");
    let page = send(
        &p,
        &c,
        Method::Post,
        &format!("/admin/held/{id}/release"),
        Some("text/html"),
        None,
    );
    assert_eq!(page.status, 200);
    assert!(page.body_text().contains("Delivered to Keap."));
}

#[test]
fn a_release_while_keap_is_unavailable_goes_to_the_outbox() {
    let (p, upserts) = platform();
    let c = config(false); // OAuth, never connected
    let c = Config::from_settings(Settings {
        keap_client_id: Some("cid".into()),
        keap_client_secret: Some(Secret::new("cs")),
        ..c.settings.clone()
    });
    let id = hold_one(&p, &c, "www.x.example");
    let r = send(
        &p,
        &c,
        Method::Post,
        &format!("/admin/held/{id}/release"),
        None,
        None,
    );
    assert_eq!(json_of(&r)["status"], "queued");
    assert_eq!(upserts.get(), 0);
    assert_eq!(p.keys(kv_keys::OUTBOX_PREFIX).len(), 1);
    assert!(p.keys(kv_keys::HELD_PREFIX).is_empty());
}

#[test]
fn delete_removes_it_and_then_it_is_gone() {
    let (p, upserts) = platform();
    let c = config(true);
    let id = hold_one(&p, &c, "www.x.example");
    let path = format!("/admin/held/{id}/delete");
    let r = send(&p, &c, Method::Post, &path, None, None);
    assert_eq!(json_of(&r), json!({"ok": true, "deleted": id}));
    assert!(p.keys(kv_keys::HELD_PREFIX).is_empty());
    assert_eq!(send(&p, &c, Method::Post, &path, None, None).status, 404);
    let release = format!("/admin/held/{id}/release");
    assert_eq!(send(&p, &c, Method::Post, &release, None, None).status, 404);
    assert_eq!(upserts.get(), 0);
}

#[test]
fn forged_ids_answer_404_and_touch_nothing() {
    let (p, _) = platform();
    let c = config(true);
    hold_one(&p, &c, "www.x.example");
    let before: Vec<String> = p.keys("");
    let (reads, writes, lists, calls) = (
        p.kv_reads.get(),
        p.kv_writes.get(),
        p.kv_lists.get(),
        p.requests.borrow().len(),
    );
    for forged in [
        "..%2Ftokens",
        "%2E%2E%2Fauth%2Ftokens",
        "auth%2Ftokens",
        "outbox",
        "0123456789abcdef0123456789abcdef",
        "20260101-0123456789ABCDEF0123456789ABCDEF",
        "20260101-0123456789abcdef0123456789abcde%2F",
        "20260101-0123456789abcdef0123456789abcdef%00",
    ] {
        for action in ["release", "delete"] {
            let r = send(
                &p,
                &c,
                Method::Post,
                &format!("/admin/held/{forged}/{action}"),
                None,
                None,
            );
            assert_eq!(r.status, 404, "{forged} {action}");
        }
    }
    // A path that climbs out is another route, also 404.
    let r = send(
        &p,
        &c,
        Method::Post,
        "/admin/held/../../auth/tokens/delete",
        None,
        None,
    );
    assert_eq!(r.status, 404);
    assert_eq!(p.keys(""), before);
    assert_eq!(
        (
            p.kv_reads.get(),
            p.kv_writes.get(),
            p.kv_lists.get(),
            p.requests.borrow().len()
        ),
        (reads, writes, lists, calls)
    );
}

#[test]
fn the_admin_page_shows_held_posts_escaped_with_their_buttons() {
    let (p, _) = platform();
    let c = config(true);
    let id = hold_one(
        &p,
        &c,
        "<script>alert(1)</script><img src=x onerror=alert(2)> <a href=\"http://x.example\">x</a>",
    );
    let r = send(&p, &c, Method::Get, "/admin", Some("text/html"), None);
    let page = r.body_text();
    assert!(page.contains("Held for review"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(!page.contains("<script>alert"));
    assert!(!page.contains("<img src=x"));
    assert!(!page.contains("<a href=\"http://x.example\""));
    assert!(page.contains(&format!("action=\"/admin/held/{id}/release\"")));
    assert!(page.contains(&format!("action=\"/admin/held/{id}/delete\"")));
    assert!(page.contains("Deliver to Keap"));
    assert!(page.contains("markup_link"));
}

#[test]
fn the_daily_alert_counts_without_visitor_data() {
    let (p, _) = platform();
    let c = config(true);
    hold_one(&p, &c, "www.secret-words.example");
    hold_one(&p, &c, "www.more.example");
    block_on(super::daily_alert(&p, &c));
    let sent = p.sent_to(HOOK);
    assert_eq!(sent.len(), 1);
    let body: Value = serde_json::from_slice(sent[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(body["event"], "spam_held");
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("2 suspicious post(s)"), "{message}");
    assert!(!message.contains("secret-words") && !message.contains("sam@"));
    // Not again the same day, even with more held.
    p.advance_ms(3_600_000);
    hold_one(&p, &c, "www.x.example");
    block_on(super::daily_alert(&p, &c));
    assert_eq!(p.sent_to(HOOK).len(), 1);
    // A day later: only the post held since.
    p.advance_ms(23 * 3_600_000);
    block_on(super::daily_alert(&p, &c));
    let sent = p.sent_to(HOOK);
    assert_eq!(sent.len(), 2);
    let body: Value = serde_json::from_slice(sent[1].body.as_deref().unwrap()).unwrap();
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("1 suspicious post(s)"));
    // Nothing new: no alert.
    p.advance_ms(24 * 3_600_000);
    block_on(super::daily_alert(&p, &c));
    assert_eq!(p.sent_to(HOOK).len(), 2);
}

#[test]
fn fifty_are_listed_and_all_are_counted() {
    let (p, _) = platform();
    let c = config(true);
    for i in 0..55 {
        hold_one(&p, &c, &format!("www.spam{i}.example"));
    }
    let v = json_of(&send(&p, &c, Method::Get, "/admin/held", None, None));
    assert_eq!(v["count"], 55);
    assert_eq!(v["held"].as_array().unwrap().len(), 50);
    let page = send(&p, &c, Method::Get, "/admin", Some("text/html"), None);
    assert!(page.body_text().contains("55 post(s) looked like spam"));
    assert!(page.body_text().contains("The oldest 50 are listed"));
}
