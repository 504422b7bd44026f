//! The scheduled run, the drain and `/admin/replay` against a simulated
//! Keap that keeps contacts and tags, so "delivered exactly once" is
//! checked on what Keap holds, not on what the worker believes.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;

use serde_json::{json, Value};

use super::run;
use crate::auth::tokens::{self, TokenRecord};
use crate::config::Config;
use crate::flows::admin;
use crate::flows::after_reply::{after_reply, AfterReply, Routed};
use crate::flows::connect;
use crate::flows::drain::Stop;
use crate::flows::refresh::RefreshOutcome;
use crate::flows::replay::replay;
use crate::form::forms::DuplicateOption;
use crate::form::lead::Lead;
use crate::http::{FetchError, Headers, InResponse, Incoming, Method, OutRequest};
use crate::keap::delivery::Progress;
use crate::platform::{
    metered::SUBREQUEST_BUDGET, KeyPage, Platform, PutOptions, RateDecision, StoreError,
};
use crate::secret::Secret;
use crate::settings::Settings;
use crate::store::kv_keys;
use crate::store::outbox::{self, EntryId, Queue};
use crate::store::seal::SealKey;
use crate::testing::{block_on, MemoryPlatform};

const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const API: &str = "https://keap.test/crm/rest";
const TOKEN_URL: &str = "https://keap.test/token";
const WEBHOOK: &str = "https://hooks.test/alert";
const HOUR: u64 = 3_600_000;
/// What Chromium sends with a form post.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,\
image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";

/// How the simulated Keap fails a call: `Some((status, applied))` answers
/// `status`, after doing the work when `applied` (the answer was lost);
/// status 0 is a timeout.
type Fault = Box<dyn FnMut(&OutRequest) -> Option<(u16, bool)>>;

struct Contact {
    id: u64,
    email: Option<String>,
    tags: BTreeSet<u64>,
}

/// Keap as far as delivery sees it: contacts upserted by email, tags
/// answering SUCCESS or DUPLICATE, a token endpoint, and the alert
/// webhook.
struct Crm {
    contacts: RefCell<Vec<Contact>>,
    upserts: Cell<u32>,
    /// The bearer token accepted; `None`: any credentials are.
    bearer: RefCell<Option<String>>,
    unknown_tags: RefCell<BTreeSet<u64>>,
    fault: RefCell<Fault>,
    token_calls: Cell<u32>,
    /// The token endpoint refuses refresh tokens (the grant was revoked);
    /// a new authorization code is still exchanged.
    refresh_revoked: Cell<bool>,
    alerts: RefCell<Vec<Value>>,
    /// Keap calls (not the token endpoint, not alerts).
    calls: Cell<usize>,
    /// Notes written, by contact id.
    notes: RefCell<Vec<u64>>,
}

impl Crm {
    fn new() -> Rc<Crm> {
        Rc::new(Crm {
            contacts: RefCell::new(Vec::new()),
            upserts: Cell::new(0),
            bearer: RefCell::new(None),
            unknown_tags: RefCell::new(BTreeSet::new()),
            fault: RefCell::new(Box::new(|_| None)),
            token_calls: Cell::new(0),
            refresh_revoked: Cell::new(false),
            alerts: RefCell::new(Vec::new()),
            calls: Cell::new(0),
            notes: RefCell::new(Vec::new()),
        })
    }

    fn fail(&self, f: impl FnMut(&OutRequest) -> Option<(u16, bool)> + 'static) {
        *self.fault.borrow_mut() = Box::new(f);
    }

    fn heal(&self) {
        self.fail(|_| None);
    }

    fn answer(&self, req: &OutRequest) -> Result<InResponse, FetchError> {
        let body: Value =
            serde_json::from_slice(req.body.as_deref().unwrap_or_default()).unwrap_or(Value::Null);
        if req.url == WEBHOOK {
            self.alerts.borrow_mut().push(body);
            return Ok(InResponse::new(200, "ok"));
        }
        if req.url == TOKEN_URL {
            self.token_calls.set(self.token_calls.get() + 1);
            let form = String::from_utf8_lossy(req.body.as_deref().unwrap_or_default());
            if self.refresh_revoked.get() && form.contains("grant_type=refresh_token") {
                return Ok(InResponse::new(400, r#"{"error":"invalid_grant"}"#));
            }
            let access = format!("AT-{}", self.token_calls.get());
            *self.bearer.borrow_mut() = Some(access.clone());
            let grant = json!({"access_token": access, "refresh_token": "RT-next",
                "expires_in": 86_400, "token_type": "bearer", "scope": "full|xy1.infusionsoft.com"});
            return Ok(InResponse::new(200, grant.to_string()));
        }
        self.calls.set(self.calls.get() + 1);
        if let Some(token) = self.bearer.borrow().as_ref() {
            if req.headers.get("Authorization") != Some(&format!("Bearer {token}")) {
                return Ok(InResponse::new(
                    401,
                    r#"{"message":"Invalid Access Token"}"#,
                ));
            }
        }
        let fault = (self.fault.borrow_mut())(req);
        if let Some((status, false)) = fault {
            return lost(status);
        }
        let answer = if req.method == Method::Put {
            self.upsert(&body)
        } else if req.url.ends_with("/v1/notes") {
            self.notes
                .borrow_mut()
                .push(body["contact_id"].as_u64().unwrap_or(0));
            InResponse::new(201, json!({"id": self.notes.borrow().len()}).to_string())
        } else {
            self.tag(&req.url, &body)
        };
        match fault {
            Some((status, _)) => lost(status),
            None => Ok(answer),
        }
    }

    fn upsert(&self, body: &Value) -> InResponse {
        self.upserts.set(self.upserts.get() + 1);
        let email = body["email_addresses"][0]["email"]
            .as_str()
            .map(str::to_string);
        let mut contacts = self.contacts.borrow_mut();
        if let Some(c) = contacts
            .iter()
            .find(|c| email.is_some() && c.email == email)
        {
            return InResponse::new(200, json!({"id": c.id}).to_string());
        }
        let id = contacts.len() as u64 + 1000;
        contacts.push(Contact {
            id,
            email,
            tags: BTreeSet::new(),
        });
        InResponse::new(201, json!({"id": id}).to_string())
    }

    fn tag(&self, url: &str, body: &Value) -> InResponse {
        let id: u64 = url
            .trim_end_matches("/tags")
            .rsplit('/')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut contacts = self.contacts.borrow_mut();
        let mut results = serde_json::Map::new();
        let contact = contacts.iter_mut().find(|c| c.id == id);
        let tags: Vec<u64> = body["tagIds"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        let Some(contact) = contact else {
            for t in tags {
                results.insert(t.to_string(), json!("CONTACT_NOT_FOUND"));
            }
            return InResponse::new(200, Value::Object(results).to_string());
        };
        for t in tags {
            let result = if self.unknown_tags.borrow().contains(&t) {
                "TAG_ID_NOT_FOUND"
            } else if contact.tags.insert(t) {
                "SUCCESS"
            } else {
                "DUPLICATE"
            };
            results.insert(t.to_string(), json!(result));
        }
        InResponse::new(200, Value::Object(results).to_string())
    }

    fn contact_count(&self) -> usize {
        self.contacts.borrow().len()
    }

    /// Every contact's tags are the lead's.
    fn all_tagged(&self) -> bool {
        self.contacts
            .borrow()
            .iter()
            .all(|c| c.tags == BTreeSet::from([101, 102]))
    }

    fn alerts_of(&self, event: &str) -> usize {
        self.alerts
            .borrow()
            .iter()
            .filter(|a| a["event"] == event)
            .count()
    }
}

fn lost(status: u16) -> Result<InResponse, FetchError> {
    match status {
        0 => Err(FetchError::Timeout),
        429 => Ok(InResponse::new(
            429,
            r#"{"code":"429","message":"Quota Exceeded","status":"Request Throttled"}"#,
        )),
        s => Ok(InResponse::new(
            s,
            r#"{"message":"Bad request: invalid field"}"#,
        )),
    }
}

fn base() -> Settings {
    Settings {
        encryption_key: Some(Secret::new(KEY_B64)),
        keap_api_url: Some(API.into()),
        keap_token_url: Some(TOKEN_URL.into()),
        alert_webhook_url: Some(Secret::new(WEBHOOK)),
        ..Settings::default()
    }
}

fn api_key() -> Config {
    Config::from_settings(Settings {
        keap_api_key: Some(Secret::new("KeapAK-test")),
        ..base()
    })
}

fn oauth() -> Config {
    Config::from_settings(Settings {
        keap_client_id: Some("cid".into()),
        keap_client_secret: Some(Secret::new("csecret")),
        ..base()
    })
}

fn platform(crm: &Rc<Crm>) -> MemoryPlatform {
    let p = MemoryPlatform::new();
    // The isolate already knows the visitors' domain takes mail: the
    // counted requests are Keap's alone.
    p.knows_mail_domain("example.com");
    let c = Rc::clone(crm);
    p.respond(move |r| c.answer(r));
    p
}

fn store_tokens(p: &MemoryPlatform, access: &str, expires_at_ms: u64) {
    let key = SealKey::from_base64(KEY_B64).unwrap();
    let record = TokenRecord {
        access_token: Secret::new(access),
        refresh_token: Secret::new("RT-0"),
        expires_at_ms,
        tenant: None,
        obtained_at_ms: p.now_ms(),
    };
    block_on(tokens::store(p, &key, &record)).unwrap();
}

fn lead(i: usize) -> Lead {
    Lead {
        form_id: "contact".into(),
        email: Some(format!("zelda{i}@hyrule.example")),
        first_name: Some("Zelda".into()),
        last_name: Some("Hyrule".into()),
        phone: None,
        custom_fields: vec![],
        tag_ids: vec![101, 102],
        duplicate_option: DuplicateOption::Email,
        opt_in_reason: None,
        ip: None,
        received_at_ms: 0,
        job_title: None,
        website: None,
        address: None,
        note: None,
    }
}

/// Queues `n` leads a millisecond apart (so their order is known).
fn queue(p: &MemoryPlatform, config: &Config, n: usize) -> Vec<EntryId> {
    (0..n)
        .map(|i| {
            p.advance_ms(1);
            block_on(outbox::enqueue(
                p,
                &config.seal_key,
                &lead(i),
                Progress::NeedsContact,
                "Keap had an error (503)",
            ))
            .unwrap()
        })
        .collect()
}

fn pending(p: &MemoryPlatform) -> usize {
    p.keys(kv_keys::OUTBOX_PREFIX).len()
}

fn dead(p: &MemoryPlatform) -> usize {
    p.keys(kv_keys::DEAD_PREFIX).len()
}

/// A script's POST (`json`), or the admin page's "Deliver now" form as a
/// browser posts it.
fn replay_request(json: bool) -> Incoming {
    let mut headers = Headers::new();
    if json {
        headers.push("Accept", "application/json");
    } else {
        headers.push("Accept", BROWSER_ACCEPT);
    }
    Incoming {
        method: Method::Post,
        url: crate::request_url::RequestUrl::parse("https://worker.test/admin/replay").unwrap(),
        headers,
        body: Vec::new(),
    }
}

/// No email, name or other submitted value anywhere the worker writes
/// in clear: logs, KV values and metadata.
fn assert_no_personal_data(p: &MemoryPlatform, report: &str) {
    let personal = ["hyrule.example", "Zelda", "Hyrule", "555 01"];
    for word in personal {
        assert!(!report.contains(word), "{word} in a report");
        for line in p.logs.borrow().iter() {
            assert!(!line.contains(word), "{word} logged: {line}");
        }
        for (key, stored) in p.kv.borrow().iter() {
            assert!(!stored.value.contains(word), "{word} in clear in {key}");
            let meta = stored.metadata.as_deref().unwrap_or_default();
            assert!(!meta.contains(word), "{word} in the metadata of {key}");
        }
    }
}

#[test]
fn a_lead_queued_before_authorization_goes_out_with_the_first_run_after_it() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = oauth();
    let ids = queue(&p, &config, 1);

    let report = block_on(run(&p, &config));
    assert_eq!(report.refresh.outcome, RefreshOutcome::NotConnected);
    assert_eq!(report.outbox.stopped, Some(Stop::NoCredentials));
    assert_eq!((report.outbox.delivered, report.outbox.remaining), (0, 1));
    assert_eq!(crm.calls.get(), 0);
    let entry: outbox::Entry<Progress> =
        block_on(outbox::load(&p, &config.seal_key, Queue::Pending, &ids[0]))
            .unwrap()
            .unwrap();
    assert_eq!(entry.attempts, 0, "Keap was not asked: no attempt counted");
    // The report as JSON: every field, enums spelt in snake_case.
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["refresh"]["outcome"], "not_connected");
    assert_eq!(v["refresh"]["ok"], false);
    assert_eq!(v["refresh"]["access_token_expires_at"], Value::Null);
    assert!(v["refresh"]["message"].is_string());
    let outbox = v["outbox"].as_object().unwrap();
    let keys: Vec<&str> = outbox.keys().map(String::as_str).collect();
    assert_eq!(
        BTreeSet::from_iter(keys),
        BTreeSet::from([
            "delivered",
            "retried",
            "dead",
            "skipped",
            "remaining",
            "budget_used",
            "stopped",
            "unavailable"
        ])
    );
    assert_eq!(v["outbox"]["stopped"], "no_credentials");
    assert_eq!(v["outbox"]["remaining"], 1);
    assert!(v["outbox"]["unavailable"].is_string());

    // The owner connects.
    store_tokens(&p, "AT-0", p.now_ms() + 24 * HOUR);
    *crm.bearer.borrow_mut() = Some("AT-0".into());
    p.advance_ms(HOUR);
    let report = block_on(run(&p, &config));
    assert_eq!(report.outbox.delivered, 1);
    assert_eq!(report.outbox.stopped, None);
    assert_eq!((crm.contact_count(), crm.all_tagged()), (1, true));
    assert_eq!(pending(&p), 0);
    assert_no_personal_data(&p, &serde_json::to_string(&report).unwrap());
}

#[test]
fn an_outage_keeps_leads_queued_and_they_go_out_exactly_once_after_it() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = api_key();
    queue(&p, &config, 3);

    crm.fail(|_| Some((500, false)));
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!((report.retried, report.remaining), (3, 3));
    assert_eq!(crm.calls.get(), 3, "a 500 does not stop the others");

    // Still in back-off: skipped from the listing, no value read.
    let reads = p.kv_reads.get();
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!((report.skipped, report.retried), (3, 0));
    assert_eq!(p.kv_reads.get(), reads, "entries in back-off are not read");
    assert_eq!(crm.calls.get(), 3);

    // Throttled: the first 429 ends the run.
    p.advance_ms(HOUR);
    crm.fail(|_| Some((429, false)));
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.stopped, Some(Stop::Throttled));
    assert_eq!((report.retried, crm.calls.get()), (1, 4));

    crm.heal();
    p.advance_ms(6 * HOUR);
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!((report.delivered, report.remaining), (3, 0));
    assert_eq!((crm.contact_count(), crm.all_tagged()), (3, true));
    assert_eq!(pending(&p), 0);
    let logs = p.logs.borrow();
    let last = logs.iter().rev().find(|l| l.contains("outbox:")).unwrap();
    assert_eq!(
        last,
        "scheduled: outbox: 3 delivered, 0 retried, 0 dead, 0 skipped in back-off, \
         0 remaining, 6 of 50 requests used"
    );
}

#[test]
fn an_entry_that_cannot_be_opened_is_kept_and_does_not_block_the_others() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = api_key();
    let garbage = "outbox/0000000000001-000000000000";
    block_on(p.kv_put(garbage, "not sealed", PutOptions::default())).unwrap();
    queue(&p, &config, 2);

    let report = block_on(run(&p, &config)).outbox;
    assert_eq!((report.delivered, report.remaining), (2, 1));
    assert_eq!(p.keys(kv_keys::OUTBOX_PREFIX), vec![garbage.to_string()]);
    assert_eq!(crm.contact_count(), 2);
}

#[test]
fn an_expired_token_is_refreshed_and_its_leads_delivered_in_the_same_run() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = oauth();
    store_tokens(&p, "AT-old", p.now_ms());
    // What the form path does with an expired token: queue, no refresh.
    assert_eq!(
        block_on(crate::keap::credentials::load(&p, &config)).unwrap_err(),
        crate::keap::credentials::Unavailable::Expired
    );
    queue(&p, &config, 2);
    assert_eq!(crm.token_calls.get(), 0);

    let report = block_on(run(&p, &config));
    assert_eq!(report.refresh.outcome, RefreshOutcome::Refreshed);
    assert_eq!(crm.token_calls.get(), 1);
    assert_eq!(report.outbox.delivered, 2);
    assert_eq!(report.outbox.budget_used, 1 + 2 * 2);
    assert_eq!((crm.contact_count(), pending(&p)), (2, 0));
}

#[test]
fn a_401_marks_the_token_stops_the_run_and_the_next_run_refreshes_and_delivers() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = oauth();
    store_tokens(&p, "AT-revoked", p.now_ms() + 24 * HOUR);
    *crm.bearer.borrow_mut() = Some("AT-other".into());
    queue(&p, &config, 3);

    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.stopped, Some(Stop::TokenRejected));
    assert_eq!(
        crm.calls.get(),
        1,
        "the bad token is not tried on the others"
    );
    assert!(p.value(kv_keys::REJECTED).is_some());

    p.advance_ms(HOUR);
    let report = block_on(run(&p, &config));
    assert_eq!(report.refresh.outcome, RefreshOutcome::Refreshed);
    assert_eq!(report.outbox.delivered, 3);
    assert_eq!((crm.contact_count(), crm.all_tagged()), (3, true));
}

#[test]
fn a_refused_lead_becomes_a_dead_letter_with_one_alert_and_replay_delivers_it() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = api_key();
    let ids = queue(&p, &config, 2);

    crm.fail(|r| (r.method == Method::Put).then_some((400, false)));
    let report = block_on(run(&p, &config));
    assert_eq!((report.outbox.dead, report.outbox.remaining), (2, 0));
    assert_eq!((pending(&p), dead(&p)), (0, 2));
    assert_eq!(crm.alerts_of("dead_letter"), 1);
    // Another refusal a run later is within the alert interval: no second alert.
    block_on(outbox::enqueue(
        &p,
        &config.seal_key,
        &lead(2),
        Progress::NeedsContact,
        "x",
    ))
    .unwrap();
    block_on(run(&p, &config));
    assert_eq!((dead(&p), crm.alerts_of("dead_letter")), (3, 1));

    // /admin lists them by id, time and reason, from the listing alone.
    let url = crate::request_url::RequestUrl::parse("https://forms.example.com/admin").unwrap();
    let page = block_on(admin::reply(&p, &config, &url, false));
    let html = page.body_text();
    assert!(html.contains(ids[0].as_str()), "{html}");
    assert!(html.contains("Keap refused the lead (400)"), "{html}");
    assert!(html.contains("2026-01-01T00:00:00Z"), "{html}");
    assert!(html.contains("action=\"/admin/replay\""));

    // The owner fixes the cause and presses "Deliver now".
    crm.heal();
    let reply = block_on(replay(&p, &config, &replay_request(true)));
    let v: Value = serde_json::from_str(reply.body_text()).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(
        (v["delivered"].as_u64(), v["queued"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(v["dead"], 0);
    assert_eq!((crm.contact_count(), crm.all_tagged()), (3, true));
    assert_eq!((pending(&p), dead(&p)), (0, 0));

    // The page form gets a page.
    let reply = block_on(replay(&p, &config, &replay_request(false)));
    assert!(reply.body_text().contains("href=\"/admin\""));
    assert_no_personal_data(&p, &v.to_string());
}

#[test]
fn a_replay_without_usable_credentials_says_so_and_moves_nothing() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = oauth();
    block_on(outbox::enqueue_dead(
        &p,
        &config.seal_key,
        &lead(1),
        Progress::NeedsContact,
        "Keap refused the lead (400)",
    ))
    .unwrap();
    let reply = block_on(replay(&p, &config, &replay_request(true)));
    let v: Value = serde_json::from_str(reply.body_text()).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["code"], "keap_unavailable");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not connected"));
    assert_eq!((v["dead"].as_u64(), dead(&p)), (Some(1), 1));
    assert_eq!(crm.calls.get(), 0);
}

#[test]
fn a_run_never_exceeds_the_request_budget() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = api_key();
    queue(&p, &config, 100);
    // One lead Keap refuses (a dead-letter alert) and a stuck outbox (an
    // outbox_stuck alert) on top of the deliveries.
    crm.unknown_tags.borrow_mut().insert(999);
    block_on(outbox::enqueue(
        &p,
        &config.seal_key,
        &Lead {
            tag_ids: vec![999],
            ..lead(500)
        },
        Progress::NeedsContact,
        "x",
    ))
    .unwrap();
    p.advance_ms(25 * HOUR);

    let mut runs = 0;
    while pending(&p) > 0 {
        runs += 1;
        assert!(runs <= 10, "the outbox does not drain");
        let before = p.requests.borrow().len();
        let report = block_on(run(&p, &config)).outbox;
        let made = p.requests.borrow().len() - before;
        assert!(made <= SUBREQUEST_BUDGET, "run {runs} made {made} requests");
        assert_eq!(report.budget_used, made);
        p.advance_ms(HOUR);
    }
    assert_eq!(crm.contact_count(), 101);
    assert_eq!(dead(&p), 1);
    assert_eq!(crm.alerts_of("dead_letter"), 1);
    assert!(crm.alerts_of("outbox_stuck") >= 1);
    assert_eq!(runs, 5, "24 leads of two calls each fit in a run");
}

#[test]
fn a_lead_whose_tags_failed_only_needs_its_tags() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = api_key();
    queue(&p, &config, 1);
    crm.fail(|r| (r.method == Method::Post).then_some((503, false)));
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.retried, 1);
    assert_eq!(crm.calls.get(), 2);

    crm.heal();
    p.advance_ms(HOUR);
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.delivered, 1);
    assert_eq!(report.budget_used, 1, "tags only: one call");
    assert_eq!((crm.upserts.get(), crm.contact_count()), (1, 1));
    assert!(crm.all_tagged());
}

fn lead_with_note(i: usize) -> Lead {
    Lead {
        note: Some(crate::form::note::Note {
            message: Some(format!("Message {i}")),
            context: crate::form::context::Context::default(),
            consent: None,
            subject: None,
            fields: Default::default(),
        }),
        ..lead(i)
    }
}

#[test]
fn a_lead_with_a_note_counts_three_calls_against_the_budget() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = api_key();
    for i in 0..40 {
        p.advance_ms(1);
        block_on(outbox::enqueue(
            &p,
            &config.seal_key,
            &lead_with_note(i),
            Progress::NeedsContact,
            "x",
        ))
        .unwrap();
    }
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.stopped, Some(Stop::Budget));
    assert_eq!(
        report.delivered, 16,
        "48 calls for deliveries, three per lead"
    );
    assert_eq!(report.budget_used, 48);
    assert_eq!(crm.notes.borrow().len(), 16);
    p.advance_ms(HOUR);
    block_on(run(&p, &config));
    p.advance_ms(HOUR);
    block_on(run(&p, &config));
    assert_eq!(pending(&p), 0);
    assert_eq!(crm.notes.borrow().len(), 40, "one note per lead");
    assert_no_personal_data(&p, "");
    assert!(p.logs.borrow().iter().all(|l| !l.contains("Message")));
}

#[test]
fn a_lead_whose_tags_failed_keeps_its_one_note() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = api_key();
    block_on(outbox::enqueue(
        &p,
        &config.seal_key,
        &lead_with_note(0),
        Progress::NeedsContact,
        "x",
    ))
    .unwrap();
    crm.fail(|r| r.url.ends_with("/tags").then_some((503, false)));
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.retried, 1);
    assert_eq!(crm.notes.borrow().len(), 1);

    crm.heal();
    p.advance_ms(HOUR);
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.delivered, 1);
    assert_eq!(report.budget_used, 1, "the tags only");
    assert_eq!(crm.notes.borrow().len(), 1, "no second note");
    assert!(crm.all_tagged());
}

#[test]
fn a_lead_whose_note_failed_retries_only_the_note() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = api_key();
    let phone_only = Lead {
        email: None,
        phone: Some("+1 555 0199".into()),
        tag_ids: vec![],
        ..lead_with_note(0)
    };
    block_on(outbox::enqueue(
        &p,
        &config.seal_key,
        &phone_only,
        Progress::NeedsContact,
        "x",
    ))
    .unwrap();
    crm.fail(|r| r.url.ends_with("/v1/notes").then_some((502, false)));
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.retried, 1);
    crm.heal();
    p.advance_ms(HOUR);
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.delivered, 1);
    assert_eq!(report.budget_used, 1, "the note only");
    assert_eq!((crm.upserts.get(), crm.contact_count()), (1, 1));
    assert_eq!(crm.notes.borrow().as_slice(), &[1000]);
}

/// A platform whose outbox deletes fail: a run that dies after Keap took
/// the lead and before the outbox recorded it.
struct DeletesFail<'a>(&'a MemoryPlatform);

impl Platform for DeletesFail<'_> {
    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.0.kv_get(key).await
    }
    async fn kv_put(&self, key: &str, value: &str, options: PutOptions) -> Result<(), StoreError> {
        self.0.kv_put(key, value, options).await
    }
    async fn kv_delete(&self, key: &str) -> Result<(), StoreError> {
        if key.starts_with(kv_keys::OUTBOX_PREFIX) {
            return Err(StoreError("the isolate died".into()));
        }
        self.0.kv_delete(key).await
    }
    async fn kv_list(
        &self,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<KeyPage, StoreError> {
        self.0.kv_list(prefix, cursor, limit).await
    }
    async fn fetch(&self, request: OutRequest) -> Result<InResponse, FetchError> {
        self.0.fetch(request).await
    }
    async fn rate_limit(&self, key: &str) -> RateDecision {
        self.0.rate_limit(key).await
    }
    async fn sleep_ms(&self, ms: u64) {
        self.0.sleep_ms(ms).await
    }
    fn now_ms(&self) -> u64 {
        self.0.now_ms()
    }
    fn log(&self, line: &str) {
        self.0.log(line)
    }
}

#[test]
fn a_run_that_dies_before_the_delete_makes_no_second_contact() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = api_key();
    queue(&p, &config, 2);

    let report = block_on(run(&DeletesFail(&p), &config)).outbox;
    assert_eq!(report.stopped, Some(Stop::Store));
    assert_eq!(crm.contact_count(), 1, "Keap took the first lead");
    assert_eq!(pending(&p), 2, "but the outbox still holds it");

    let report = block_on(run(&p, &config)).outbox;
    assert_eq!((report.delivered, report.remaining), (2, 0));
    assert_eq!(crm.contact_count(), 2, "the first lead updated its contact");
    assert!(crm.all_tagged());
    assert_eq!(pending(&p), 0);
}

#[test]
fn a_lead_without_an_email_records_its_contact_before_tagging() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = api_key();
    let phone_only = Lead {
        email: None,
        phone: Some("+1 555 0199".into()),
        ..lead(0)
    };
    block_on(outbox::enqueue(
        &p,
        &config.seal_key,
        &phone_only,
        Progress::NeedsContact,
        "x",
    ))
    .unwrap();

    block_on(run(&DeletesFail(&p), &config));
    assert_eq!(crm.contact_count(), 1);
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.delivered, 1);
    assert_eq!(report.budget_used, 1, "only the tags again");
    assert_eq!((crm.upserts.get(), crm.contact_count()), (1, 1));
    assert_eq!(pending(&p), 0);
    assert_no_personal_data(&p, "");
}

/// A small seeded generator (xorshift), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn with_keap_failing_a_third_of_the_calls_every_lead_arrives_once_with_its_tags() {
    for seed in 1..=8u64 {
        let crm = Crm::new();
        let p = platform(&crm);
        let config = api_key();
        let n = 30;
        queue(&p, &config, n);
        let rng = Rc::new(RefCell::new(Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15))));
        let r = Rc::clone(&rng);
        crm.fail(move |_| {
            let mut rng = r.borrow_mut();
            if rng.next() % 10 >= 3 {
                return None;
            }
            // Failures before and after Keap did the work.
            let status = [500, 502, 503, 429, 0][(rng.next() % 5) as usize];
            Some((status, rng.next().is_multiple_of(2)))
        });
        let mut runs = 0;
        while pending(&p) > 0 {
            runs += 1;
            assert!(runs <= 40, "seed {seed}: not drained after {runs} runs");
            let before = p.requests.borrow().len();
            block_on(run(&p, &config));
            assert!(p.requests.borrow().len() - before <= SUBREQUEST_BUDGET);
            p.advance_ms(6 * HOUR);
        }
        assert_eq!(crm.contact_count(), n, "seed {seed}");
        assert!(crm.all_tagged(), "seed {seed}");
        assert_eq!(dead(&p), 0, "seed {seed}");
        assert_no_personal_data(&p, "");
    }
}

/// Connects as the owner would: `/oauth/start`, Keap's consent (the
/// simulated Keap takes any code), then the callback, whose answer and
/// after-work are returned.
fn reconnect(p: &MemoryPlatform, config: &Config) -> Routed {
    let get = |path: &str| Incoming {
        method: Method::Get,
        url: crate::request_url::RequestUrl::parse(&format!("https://worker.test{path}")).unwrap(),
        headers: Headers::new(),
        body: Vec::new(),
    };
    let start = block_on(connect::oauth_start(p, config, &get("/oauth/start")));
    assert_eq!(start.status, 302, "{}", start.body_text());
    let location = url::Url::parse(start.headers.get("Location").unwrap()).unwrap();
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let routed = block_on(connect::oauth_callback(
        p,
        config,
        &get(&format!("/oauth/callback?code=c1&state={state}")),
    ));
    assert_eq!(routed.reply.status, 303, "{}", routed.reply.body_text());
    routed
}

fn entry(p: &MemoryPlatform, config: &Config, id: &EntryId) -> outbox::Entry<Progress> {
    block_on(outbox::load(p, &config.seal_key, Queue::Pending, id))
        .unwrap()
        .unwrap()
}

#[test]
fn after_a_revoked_grant_the_first_run_after_reconnecting_delivers_the_waiting_leads() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = oauth();
    // Connected, with an access token due for refresh (so every run tries).
    store_tokens(&p, "AT-0", p.now_ms() + 2 * HOUR);
    *crm.bearer.borrow_mut() = Some("AT-0".into());

    // Keap revokes the grant: refresh token and access token alike.
    crm.refresh_revoked.set(true);
    *crm.bearer.borrow_mut() = Some("AT-none".into());
    let report = block_on(run(&p, &config));
    assert_eq!(report.refresh.outcome, RefreshOutcome::NeedsReauth);

    // A lead arrives meanwhile, and runs come and go.
    let ids = queue(&p, &config, 2);
    for _ in 0..2 {
        let report = block_on(run(&p, &config)).outbox;
        assert_eq!(report.stopped, Some(Stop::NoCredentials));
        assert_eq!(crm.calls.get(), 0, "no Keap call with dead credentials");
    }
    let waiting = entry(&p, &config, &ids[0]);
    assert_eq!(
        (waiting.attempts, waiting.next_attempt_at_ms <= p.now_ms()),
        (0, true)
    );

    // The owner connects again; the very next run, no time passing,
    // delivers both with their tags.
    crm.refresh_revoked.set(false);
    reconnect(&p, &config);
    let report = block_on(run(&p, &config));
    assert_eq!(report.outbox.delivered, 2, "{:?}", report.outbox);
    assert_eq!((crm.contact_count(), crm.all_tagged()), (2, true));
    assert_eq!(pending(&p), 0);
}

#[test]
fn a_401_in_a_run_adds_no_backoff_but_a_5xx_does() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = oauth();
    store_tokens(&p, "AT-0", p.now_ms() + 24 * HOUR);
    *crm.bearer.borrow_mut() = Some("AT-other".into());
    let ids = queue(&p, &config, 1);

    // Keap answers 401: the run stops, the lead is not penalised.
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.stopped, Some(Stop::TokenRejected));
    let held = entry(&p, &config, &ids[0]);
    assert_eq!(held.attempts, 0);
    assert!(held.next_attempt_at_ms <= p.now_ms(), "still due");
    assert!(held.last_error.as_deref().unwrap_or("").contains("401"));

    // The owner connects again: the next run, no time passing, delivers.
    reconnect(&p, &config);
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.delivered, 1, "{report:?}");
    assert_eq!(pending(&p), 0);

    // Keap's own failure (a 500) still backs off.
    let ids = queue(&p, &config, 1);
    crm.fail(|_| Some((500, false)));
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.retried, 1);
    let failed = entry(&p, &config, &ids[0]);
    assert_eq!(failed.attempts, 1);
    assert!(failed.next_attempt_at_ms > p.now_ms(), "in back-off");
    crm.heal();
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!((report.delivered, report.skipped), (0, 1), "{report:?}");
    p.advance_ms(5 * 60_000);
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.delivered, 1);
}

#[test]
fn connecting_delivers_the_waiting_leads_after_the_answer_within_the_budget() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = oauth();
    let ids = queue(&p, &config, 30);

    let routed = reconnect(&p, &config);
    // The answer is given before any lead is delivered.
    assert_eq!(crm.calls.get(), 0);
    assert_eq!(pending(&p), 30);
    assert_eq!(
        routed.after,
        Some(AfterReply::Connected {
            subrequests_used: 1
        })
    );

    let before = p.requests.borrow().len();
    block_on(after_reply(&p, &config, routed.after.unwrap()));
    let made = p.requests.borrow().len() - before;
    // The exchange took 1 of the invocation's 50; two are kept for
    // alerts; each lead takes two calls: 23 leads.
    assert_eq!(made, 46);
    assert!(
        made < SUBREQUEST_BUDGET,
        "with the exchange, within the budget"
    );
    assert_eq!(crm.contact_count(), 23);
    assert_eq!(pending(&p), 7);
    assert!(
        p.logs
            .borrow()
            .iter()
            .any(|l| l.starts_with("after connecting: ")
                && l.contains("23 delivered")
                && l.contains("47 of 50 requests used")),
        "{:?}",
        p.logs.borrow()
    );
    // The oldest went first; the rest go with the next run.
    assert!(block_on(outbox::load::<_, Progress>(
        &p,
        &config.seal_key,
        Queue::Pending,
        &ids[0]
    ))
    .unwrap()
    .is_none());
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.delivered, 7);
    assert_eq!((crm.contact_count(), crm.all_tagged()), (30, true));
}

#[test]
fn a_failed_connection_leaves_nothing_to_do_after_its_answer() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = oauth();
    queue(&p, &config, 1);
    let get = Incoming {
        method: Method::Get,
        url: crate::request_url::RequestUrl::parse(
            "https://worker.test/oauth/callback?code=c1&state=never-issued",
        )
        .unwrap(),
        headers: Headers::new(),
        body: Vec::new(),
    };
    let routed = block_on(connect::oauth_callback(&p, &config, &get));
    assert!(routed.reply.status >= 400);
    assert_eq!(routed.after, None);
    let denied = Incoming {
        url: crate::request_url::RequestUrl::parse(
            "https://worker.test/oauth/callback?error=access_denied",
        )
        .unwrap(),
        ..get
    };
    assert_eq!(
        block_on(connect::oauth_callback(&p, &config, &denied)).after,
        None
    );
}

/// The retry after the answer, the delivery queue and the budgets.
mod soon;
