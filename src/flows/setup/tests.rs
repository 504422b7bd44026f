//! The setup routes as whole requests through the route table, against a
//! small scripted Keap (tags, contact model, upsert, tags call, webhook).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::{json, Value};

use crate::config::Config;
use crate::config_check::CHECK_INTERVAL_MS;
use crate::flows::after_reply::{after_reply, AfterReply};
use crate::flows::scheduled;
use crate::http::{Headers, InResponse, Incoming, Method, OutRequest, Reply};
use crate::request_url::RequestUrl;
use crate::routes;
use crate::secret::Secret;
use crate::settings::Settings;
use crate::store::kv_keys;
use crate::testing::{block_on, MemoryPlatform};

const API: &str = "https://keap.test/crm/rest";
const HOOK: &str = "https://hooks.test/alert";
const ADMIN: &str = "admin-zq7";
const WORKER: &str = "https://worker.example.test";
const BROWSER: &str = "text/html,application/xhtml+xml,*/*;q=0.8";

/// What the scripted Keap holds and was sent.
#[derive(Default)]
struct Keap {
    tags: RefCell<BTreeMap<u64, String>>,
    up: RefCell<bool>,
    upserts: RefCell<Vec<Value>>,
    tagged: RefCell<Vec<Value>>,
    alerts: RefCell<Vec<Value>>,
}

impl Keap {
    fn answer(&self, r: &OutRequest) -> InResponse {
        let body: Value =
            serde_json::from_slice(r.body.as_deref().unwrap_or_default()).unwrap_or(Value::Null);
        if r.url == HOOK {
            self.alerts.borrow_mut().push(body);
            return InResponse::new(204, "");
        }
        if !*self.up.borrow() {
            return InResponse::new(503, "");
        }
        let url = url::Url::parse(&r.url).unwrap();
        match (r.method, url.path()) {
            (Method::Get, "/crm/rest/v1/tags") => {
                let q = |k: &str| -> usize {
                    url.query_pairs()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| v.parse().unwrap())
                        .unwrap()
                };
                let tags = self.tags.borrow();
                let page: Vec<Value> = tags
                    .iter()
                    .skip(q("offset"))
                    .take(q("limit"))
                    .map(|(id, name)| json!({"id": id, "name": name, "category": {"id": 1, "name": "Web"}}))
                    .collect();
                InResponse::new(
                    200,
                    json!({"tags": page, "count": tags.len(), "next": "x"}).to_string(),
                )
            }
            (Method::Get, "/crm/rest/v1/contacts/model") => InResponse::new(
                200,
                json!({"custom_fields": [
                    {"id": 7, "label": "Company <Inc>", "field_type": "Text", "options": []},
                    {"id": 8, "label": "Interest", "field_type": "Dropdown", "options": [{"id": 1, "label": "Sales"}]},
                ]})
                .to_string(),
            ),
            (Method::Put, "/crm/rest/v1/contacts") => {
                self.upserts.borrow_mut().push(body);
                InResponse::new(201, r#"{"id":42}"#)
            }
            (Method::Post, "/crm/rest/v1/contacts/42/tags") => {
                let results: serde_json::Map<String, Value> = body["tagIds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| (t.to_string(), json!("SUCCESS")))
                    .collect();
                self.tagged.borrow_mut().push(body);
                InResponse::new(200, Value::Object(results).to_string())
            }
            _ => InResponse::new(404, "{}"),
        }
    }
}

fn setup() -> (MemoryPlatform, Rc<Keap>, Config) {
    let keap = Rc::new(Keap::default());
    *keap.up.borrow_mut() = true;
    for (id, name) in [(101, "Lead"), (102, "Website"), (103, "Newsletter <b>")] {
        keap.tags.borrow_mut().insert(id, name.to_string());
    }
    let p = MemoryPlatform::new();
    p.knows_mail_domain("example.com");
    let k = Rc::clone(&keap);
    p.respond(move |r| Ok(k.answer(r)));
    let config = Config::from_settings(Settings {
        keap_api_key: Some(Secret::new("KeapAK-test")),
        keap_api_url: Some(API.into()),
        admin_token: Some(Secret::new(ADMIN)),
        encryption_key: Some(Secret::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")),
        alert_webhook_url: Some(Secret::new(HOOK)),
        allowed_origins: Some("https://site.example".into()),
        forms: Some(json!({
            "contact": {"tags": [101], "optional_tags": {"newsletter": 103}, "custom_fields": {"company": 7}},
        })),
        ..Settings::default()
    });
    (p, keap, config)
}

fn request(method: Method, path: &str, accept: Option<&str>, body: Option<Value>) -> Incoming {
    let mut headers = Headers::new();
    headers.push("Authorization", format!("Bearer {ADMIN}"));
    if let Some(a) = accept {
        headers.push("Accept", a.to_string());
    }
    if body.is_some() {
        headers.push("Content-Type", "application/json");
    }
    Incoming {
        method,
        url: RequestUrl::parse(&format!("{WORKER}{path}")).unwrap(),
        headers,
        body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
    }
}

fn send(p: &MemoryPlatform, config: &Config, req: Incoming) -> Reply {
    block_on(routes::answer_request(p, config, req)).reply
}

fn json_of(reply: &Reply) -> Value {
    serde_json::from_slice(&reply.body).unwrap()
}

#[test]
fn no_setup_route_answers_without_the_admin_token() {
    let (p, _, config) = setup();
    for (method, path) in [
        (Method::Get, "/admin/keap/tags"),
        (Method::Get, "/admin/keap/fields"),
        (Method::Post, "/admin/check"),
        (Method::Post, "/admin/test-lead"),
    ] {
        let mut req = request(
            method,
            path,
            None,
            Some(json!({"form": "contact", "email": "a@b.co"})),
        );
        req.headers = Headers::new();
        let reply = send(&p, &config, req);
        assert_eq!(reply.status, 401, "{path}");
    }
    assert!(p.requests.borrow().is_empty(), "nothing reached Keap");
}

#[test]
fn tags_and_fields_answer_json_for_scripts_and_a_filterable_page_for_browsers() {
    let (p, _, config) = setup();
    let reply = send(
        &p,
        &config,
        request(Method::Get, "/admin/keap/tags", None, None),
    );
    assert_eq!(reply.status, 200);
    let v = json_of(&reply);
    assert_eq!(v["count"], 3);
    assert_eq!(
        v["tags"][2],
        json!({"id": 103, "name": "Newsletter <b>", "category": "Web"})
    );

    let reply = send(
        &p,
        &config,
        request(Method::Get, "/admin/keap/tags", Some(BROWSER), None),
    );
    let html = reply.body_text();
    assert!(reply
        .headers
        .get("Content-Type")
        .unwrap()
        .starts_with("text/html"));
    assert!(html.contains("id=\"filter\""));
    assert!(html.contains("Newsletter &lt;b&gt;"), "escaped");
    assert!(!html.contains("Newsletter <b>"));

    let reply = send(
        &p,
        &config,
        request(Method::Get, "/admin/keap/fields", None, None),
    );
    let v = json_of(&reply);
    assert_eq!(
        v["custom_fields"][1],
        json!({"id": 8, "label": "Interest", "type": "Dropdown", "options": ["Sales"]})
    );
    let reply = send(
        &p,
        &config,
        request(Method::Get, "/admin/keap/fields", Some(BROWSER), None),
    );
    assert!(reply.body_text().contains("Company &lt;Inc&gt;"));
}

#[test]
fn when_keap_cannot_be_asked_the_pages_say_so() {
    let (p, keap, config) = setup();
    *keap.up.borrow_mut() = false;
    let reply = send(
        &p,
        &config,
        request(Method::Get, "/admin/keap/tags", None, None),
    );
    assert_eq!(reply.status, 502);
    assert_eq!(json_of(&reply)["error"]["code"], "keap_error");
    let reply = send(
        &p,
        &config,
        request(Method::Get, "/admin/keap/fields", Some(BROWSER), None),
    );
    assert_eq!(reply.status, 502);
    assert!(
        reply.body_text().contains("HTTP 503"),
        "{}",
        reply.body_text()
    );

    let unconfigured = Config::from_settings(Settings {
        admin_token: Some(Secret::new(ADMIN)),
        ..Settings::default()
    });
    let reply = send(
        &p,
        &unconfigured,
        request(Method::Get, "/admin/keap/tags", Some(BROWSER), None),
    );
    assert_eq!(reply.status, 503);
    assert!(
        reply.body_text().contains("not configured"),
        "{}",
        reply.body_text()
    );
    let reply = send(
        &p,
        &unconfigured,
        request(Method::Post, "/admin/check", None, None),
    );
    assert_eq!(json_of(&reply)["error"]["code"], "keap_unavailable");
}

#[test]
fn the_check_is_stored_shown_in_status_and_on_admin_and_alerts_once() {
    let (p, keap, config) = setup();
    let status = json_of(&send(
        &p,
        &config,
        request(Method::Get, "/admin/status", None, None),
    ));
    assert_eq!(status["form_checks"], json!({}));

    let reply = send(
        &p,
        &config,
        request(Method::Post, "/admin/check", None, None),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(json_of(&reply)["form_checks"]["contact"]["ok"], true);
    let status = json_of(&send(
        &p,
        &config,
        request(Method::Get, "/admin/status", None, None),
    ));
    assert_eq!(
        status["form_checks"]["contact"],
        json!({"ok": true, "missing_tag_ids": [], "missing_custom_field_ids": [], "checked_at": "2026-01-01T00:00:00Z"})
    );
    assert_eq!(status["forms"], json!(["contact"]));

    keap.tags.borrow_mut().remove(&103);
    let reply = send(
        &p,
        &config,
        request(Method::Post, "/admin/check", Some(BROWSER), None),
    );
    assert!(reply.body_text().contains("missing: no such tag"));
    let status = json_of(&send(
        &p,
        &config,
        request(Method::Get, "/admin/status", None, None),
    ));
    assert_eq!(status["form_checks"]["contact"]["ok"], false);
    assert_eq!(
        status["form_checks"]["contact"]["missing_tag_ids"],
        json!([103])
    );
    assert_eq!(keap.alerts.borrow().len(), 1);
    assert_eq!(keap.alerts.borrow()[0]["event"], "config_mismatch");

    // The admin page: each id with Keap's name, green or red.
    let page = send(
        &p,
        &config,
        request(Method::Get, "/admin", Some(BROWSER), None),
    );
    let html = page.body_text();
    assert!(html.contains("<tr class=\"ok\" data-id=\"101\"><td><code>tags</code></td><td><code>101</code></td><td>Lead</td></tr>"), "{html}");
    assert!(html.contains("<tr class=\"bad\" data-id=\"103\">"));
    assert!(html.contains("Company &lt;Inc&gt;"));
    assert!(html.contains("href=\"/admin/keap/tags\""));
    assert!(html.contains("href=\"/admin/keap/fields\""));
    assert!(html.contains("action=\"/admin/test-lead\""));
    // The snippet, escaped once for the textarea.
    assert!(html.contains(
        "&lt;form method=&quot;post&quot; action=&quot;https://worker.example.test/forms/contact&quot;&gt;"
    ), "{html}");
}

#[test]
fn a_test_lead_goes_the_way_of_a_visitors_post() {
    let (p, keap, config) = setup();
    let post = |body: Value| {
        send(
            &p,
            &config,
            request(Method::Post, "/admin/test-lead", None, Some(body)),
        )
    };

    let reply = post(json!({"form": "nope", "email": "a@example.com"}));
    assert_eq!(
        (reply.status, json_of(&reply)["error"]["code"].clone()),
        (404, json!("unknown_form"))
    );
    let reply = post(json!({"form": "contact", "email": "not an email"}));
    assert_eq!(
        (reply.status, json_of(&reply)["error"]["code"].clone()),
        (400, json!("invalid_email"))
    );
    let reply = post(json!({"form": "contact", "email": "a@example.com", "tags": "nope"}));
    assert_eq!(json_of(&reply)["error"]["code"], "unknown_tag");
    assert!(keap.upserts.borrow().is_empty(), "nothing sent on error");

    let reply =
        post(json!({"form": "contact", "email": "owner@example.com", "tags": "newsletter"}));
    assert_eq!(reply.status, 200);
    assert_eq!(
        json_of(&reply),
        json!({"ok": true, "status": "created", "contact_id": 42, "tag_ids": [101, 103]})
    );
    assert_eq!(
        keap.upserts.borrow()[0]["email_addresses"][0]["email"],
        "owner@example.com"
    );
    assert_eq!(keap.tagged.borrow()[0]["tagIds"], json!([101, 103]));

    // Keap down: queued in the outbox, like a visitor's lead.
    *keap.up.borrow_mut() = false;
    let reply = post(json!({"form": "contact", "email": "owner@example.com"}));
    assert_eq!(reply.status, 202);
    assert_eq!(
        json_of(&reply),
        json!({"ok": true, "status": "queued", "contact_id": null, "tag_ids": [101]})
    );
    assert_eq!(p.keys(kv_keys::OUTBOX_PREFIX).len(), 1);
    // No email address in the logs.
    assert!(p
        .logs
        .borrow()
        .iter()
        .all(|l| !l.contains("owner@example.com")));
}

#[test]
fn a_test_lead_from_the_admin_pages_form_gets_a_result_page() {
    let (p, _, config) = setup();
    let mut req = request(Method::Post, "/admin/test-lead", Some(BROWSER), None);
    req.headers
        .push("Content-Type", "application/x-www-form-urlencoded");
    req.body = b"form=contact&email=owner%40example.com".to_vec();
    let reply = send(&p, &config, req);
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .body_text()
            .contains("Keap created contact 42 and tagged it 101."),
        "{}",
        reply.body_text()
    );
}

#[test]
fn the_scheduled_run_checks_once_a_day_before_delivering() {
    let (p, keap, config) = setup();
    block_on(scheduled::run(&p, &config));
    let stored = p
        .value(kv_keys::CONFIG_CHECK)
        .expect("checked on the first run");
    assert!(p
        .requests
        .borrow()
        .iter()
        .any(|r| r.url.contains("/v1/tags")));
    let calls = p.requests.borrow().len();

    keap.tags.borrow_mut().remove(&101);
    p.advance_ms(CHECK_INTERVAL_MS - 1);
    block_on(scheduled::run(&p, &config));
    assert_eq!(
        p.requests.borrow().len(),
        calls,
        "not due yet: no Keap call"
    );
    assert_eq!(p.value(kv_keys::CONFIG_CHECK).unwrap(), stored);

    p.advance_ms(1);
    block_on(scheduled::run(&p, &config));
    let status = json_of(&send(
        &p,
        &config,
        request(Method::Get, "/admin/status", None, None),
    ));
    assert_eq!(
        status["form_checks"]["contact"]["missing_tag_ids"],
        json!([101])
    );
    assert_eq!(keap.alerts.borrow().len(), 1);
    // Again the next day: still missing, no second alert.
    p.advance_ms(CHECK_INTERVAL_MS);
    block_on(scheduled::run(&p, &config));
    assert_eq!(keap.alerts.borrow().len(), 1);
}

#[test]
fn connecting_checks_the_forms_after_the_answer() {
    let (p, _, config) = setup();
    block_on(after_reply(
        &p,
        &config,
        AfterReply::Connected {
            subrequests_used: 3,
        },
    ));
    let status = json_of(&send(
        &p,
        &config,
        request(Method::Get, "/admin/status", None, None),
    ));
    assert_eq!(status["form_checks"]["contact"]["ok"], true);
}

#[test]
fn the_form_path_never_reads_the_check() {
    let (p, _, config) = setup();
    send(
        &p,
        &config,
        request(Method::Post, "/admin/check", None, None),
    );
    let (reads, writes, calls) = (
        p.kv_reads.get(),
        p.kv_writes.get(),
        p.requests.borrow().len(),
    );
    let mut headers = Headers::new();
    headers.push("Origin", "https://site.example");
    headers.push("Content-Type", "application/json");
    let reply = send(
        &p,
        &config,
        Incoming {
            method: Method::Post,
            url: RequestUrl::parse(&format!("{WORKER}/forms/contact")).unwrap(),
            headers,
            body: br#"{"email":"v@example.com"}"#.to_vec(),
        },
    );
    assert_eq!(reply.status, 200, "{}", reply.body_text());
    // API-key mode: no KV read at all, no write, two Keap calls.
    assert_eq!((p.kv_reads.get(), p.kv_writes.get()), (reads, writes));
    assert_eq!(p.requests.borrow().len(), calls + 2);
}
