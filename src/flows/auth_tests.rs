//! Whole-flow tests of connecting, refreshing and reporting, against a
//! scripted Keap token endpoint on the in-memory platform.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::admin;
use super::after_reply::Routed;
use super::connect::{oauth_callback, oauth_start};
use super::refresh::{refresh_if_due, refresh_now, RefreshOutcome, RefreshReport};
use crate::alerts::ALERT_INTERVAL_MS;
use crate::auth::tokens::{self, TokenRecord};
use crate::config::Config;
use crate::http::{FetchError, Headers, InResponse, Incoming, Method, OutRequest, Reply};
use crate::keap::credentials;
use crate::pages::admin::{DeadLetterSummary, OutboxCounts};
use crate::pages::held::HeldShown;
use crate::pages::{into_reply, AdminView};
use crate::platform::Platform;
use crate::secret::Secret;
use crate::settings::Settings;
use crate::store::kv_keys;
use crate::testing::{block_on, MemoryPlatform};

const CLIENT_ID: &str = "client-id-1";
const CLIENT_SECRET: &str = "client-secret-zq7";
const ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const ADMIN_TOKEN: &str = "admin-token-zq7";
const WEBHOOK: &str = "https://hooks.example.test/services/zq7-webhook-path";
const TOKEN_URL: &str = "http://keap.test/token";
const WORKER: &str = "https://worker.example.test";
const HOUR: u64 = 3_600_000;

/// How the fake token endpoint behaves right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    /// Answers 503 to everything.
    Down,
    /// Refuses every refresh token (the grant was revoked).
    Revoked,
}

/// Something a test does in the middle of a request.
type Hook = Box<dyn Fn(&FakeKeap)>;

/// A token endpoint that behaves like Keap's: single-use codes, rotating
/// refresh tokens that die on use, Basic auth on refresh.
struct FakeKeap {
    mode: Cell<Mode>,
    expires_in: Cell<u64>,
    issued: Cell<u32>,
    codes: RefCell<Vec<String>>,
    live_refresh: RefCell<Option<String>>,
    exchanges: Cell<u32>,
    refreshes: Cell<u32>,
    alerts: RefCell<Vec<serde_json::Value>>,
    /// Runs once, when the next refresh request arrives and before it is
    /// answered: lets a test play a concurrent refresher.
    before_refresh: RefCell<Option<Hook>>,
}

impl FakeKeap {
    fn new() -> Rc<FakeKeap> {
        Rc::new(FakeKeap {
            mode: Cell::new(Mode::Normal),
            expires_in: Cell::new(86_400),
            issued: Cell::new(0),
            codes: RefCell::new(Vec::new()),
            live_refresh: RefCell::new(None),
            exchanges: Cell::new(0),
            refreshes: Cell::new(0),
            alerts: RefCell::new(Vec::new()),
            before_refresh: RefCell::new(None),
        })
    }

    /// Issues a pair, killing the previous refresh token.
    fn issue(&self) -> (String, String) {
        let n = self.issued.get() + 1;
        self.issued.set(n);
        let pair = (format!("AT-{n}-zq7"), format!("RT-{n}-zq7"));
        *self.live_refresh.borrow_mut() = Some(pair.1.clone());
        pair
    }

    fn token_answer(&self) -> InResponse {
        let (access, refresh) = self.issue();
        let body = serde_json::json!({
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": self.expires_in.get(),
            "token_type": "bearer",
            "scope": "full|xy123.infusionsoft.com",
        });
        InResponse::new(200, body.to_string())
    }

    fn answer(&self, req: &OutRequest) -> Result<InResponse, FetchError> {
        if req.url == WEBHOOK {
            let body = serde_json::from_slice(req.body.as_deref().unwrap_or_default()).unwrap();
            self.alerts.borrow_mut().push(body);
            return Ok(InResponse::new(200, "ok"));
        }
        assert_eq!(req.url, TOKEN_URL, "unexpected request");
        if self.mode.get() == Mode::Down {
            return Ok(InResponse::new(503, "unavailable"));
        }
        let form: Vec<(String, String)> =
            url::form_urlencoded::parse(req.body.as_deref().unwrap_or_default())
                .into_owned()
                .collect();
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let refused = |code: &str| Ok(InResponse::new(400, format!("{{\"error\":\"{code}\"}}")));
        match get("grant_type").as_deref() {
            Some("authorization_code") => {
                self.exchanges.set(self.exchanges.get() + 1);
                if get("client_secret").as_deref() != Some(CLIENT_SECRET) {
                    return Ok(InResponse::new(401, r#"{"error":"invalid_client"}"#));
                }
                if get("redirect_uri").as_deref() != Some(&format!("{WORKER}/oauth/callback")) {
                    return refused("invalid_grant");
                }
                let code = get("code").unwrap_or_default();
                let mut codes = self.codes.borrow_mut();
                match codes.iter().position(|c| *c == code) {
                    Some(i) => {
                        codes.remove(i);
                        drop(codes);
                        Ok(self.token_answer())
                    }
                    None => refused("invalid_grant"),
                }
            }
            Some("refresh_token") => {
                self.refreshes.set(self.refreshes.get() + 1);
                let expected = format!(
                    "Basic {}",
                    STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
                );
                if req.headers.get("Authorization") != Some(expected.as_str()) {
                    return Ok(InResponse::new(401, r#"{"error":"invalid_client"}"#));
                }
                let hook = self.before_refresh.borrow_mut().take();
                if let Some(hook) = hook {
                    hook(self);
                }
                let live = self.live_refresh.borrow().clone();
                if self.mode.get() == Mode::Revoked || live != get("refresh_token") {
                    return Ok(InResponse::new(
                        400,
                        r#"{"error":"invalid_request","error_description":"Invalid Refresh Token"}"#,
                    ));
                }
                Ok(self.token_answer())
            }
            _ => refused("unsupported_grant_type"),
        }
    }
}

struct Harness {
    p: Rc<MemoryPlatform>,
    keap: Rc<FakeKeap>,
    config: Config,
}

fn oauth_settings() -> Settings {
    Settings {
        keap_client_id: Some(CLIENT_ID.into()),
        keap_client_secret: Some(Secret::new(CLIENT_SECRET)),
        admin_token: Some(Secret::new(ADMIN_TOKEN)),
        encryption_key: Some(Secret::new(ENCRYPTION_KEY)),
        alert_webhook_url: Some(Secret::new(WEBHOOK)),
        keap_token_url: Some(TOKEN_URL.into()),
        keap_authorize_url: Some("http://keap.test/authorize".into()),
        allowed_origins: Some("https://example.com".into()),
        ..Settings::default()
    }
}

impl Harness {
    fn new(settings: Settings) -> Harness {
        let p = Rc::new(MemoryPlatform::new());
        let keap = FakeKeap::new();
        let k = Rc::clone(&keap);
        p.respond(move |req| k.answer(req));
        Harness {
            p,
            keap,
            config: Config::from_settings(settings),
        }
    }

    fn oauth() -> Harness {
        Harness::new(oauth_settings())
    }

    fn get(&self, path_and_query: &str) -> Incoming {
        Incoming {
            method: Method::Get,
            url: crate::request_url::RequestUrl::parse(&format!("{WORKER}{path_and_query}"))
                .unwrap(),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    fn start(&self) -> Reply {
        block_on(oauth_start(
            &*self.p,
            &self.config,
            &self.get("/oauth/start"),
        ))
    }

    fn callback(&self, query: &str) -> Reply {
        self.callback_routed(query).reply
    }

    fn callback_routed(&self, query: &str) -> Routed {
        block_on(oauth_callback(
            &*self.p,
            &self.config,
            &self.get(&format!("/oauth/callback?{query}")),
        ))
    }

    /// Runs start, lets "Keap" issue a code for the state, and returns the
    /// callback query Keap would redirect to.
    fn consent(&self) -> String {
        let start = self.start();
        assert_eq!(start.status, 302, "{}", start.body_text());
        let location = url::Url::parse(start.headers.get("Location").unwrap()).unwrap();
        let state = location
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let code = format!(
            "code-{}",
            self.keap.codes.borrow().len() + self.keap.exchanges.get() as usize
        );
        self.keap.codes.borrow_mut().push(code.clone());
        format!("code={code}&scope=full%7Cxy123.infusionsoft.com&state={state}")
    }

    fn connect(&self) {
        let query = self.consent();
        let reply = self.callback(&query);
        assert_eq!(reply.status, 303, "{}", reply.body_text());
    }

    fn stored(&self) -> Option<TokenRecord> {
        let key = self.config.seal_key.as_ref().unwrap();
        block_on(tokens::read(&*self.p, key)).unwrap().record
    }

    fn status(&self) -> serde_json::Value {
        let counts = OutboxCounts::default();
        block_on(admin::state(
            &*self.p,
            &self.config,
            &admin_url(),
            counts,
            vec![],
            HeldShown::Count(0),
            None,
        ))
        .json()
    }

    fn refresh_if_due(&self) -> RefreshReport {
        block_on(refresh_if_due(&*self.p, &self.config))
    }

    fn refresh_now(&self) -> RefreshReport {
        block_on(refresh_now(&*self.p, &self.config))
    }

    fn token_requests(&self) -> Vec<OutRequest> {
        self.p.sent_to(TOKEN_URL)
    }
}

fn form_value(req: &OutRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.body.as_deref().unwrap_or_default())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

// ----- /oauth/start and /oauth/callback -----

#[test]
fn start_redirects_to_keap_with_a_stored_single_use_state() {
    let h = Harness::oauth();
    let reply = h.start();
    assert_eq!(reply.status, 302);
    let location = url::Url::parse(reply.headers.get("Location").unwrap()).unwrap();
    assert!(location.as_str().starts_with("http://keap.test/authorize?"));
    let q: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(
        get("redirect_uri").as_deref(),
        Some("https://worker.example.test/oauth/callback")
    );
    assert_eq!(get("response_type").as_deref(), Some("code"));
    assert_eq!(get("scope").as_deref(), Some("full"));
    let state = get("state").unwrap();
    let key = format!("{}{state}", kv_keys::OAUTH_STATE_PREFIX);
    let stored = h.p.kv.borrow().get(&key).cloned().unwrap();
    assert_eq!(stored.expires_at_ms, Some(h.p.now_ms() + 600_000));
}

#[test]
fn callback_stores_sealed_tokens_and_shows_connected() {
    let h = Harness::oauth();
    let query = h.consent();
    let reply = h.callback(&query);
    assert_eq!(reply.status, 303);
    assert_eq!(reply.headers.get("Location"), Some("/admin"));

    let exchange = &h.token_requests()[0];
    assert_eq!(
        form_value(exchange, "grant_type").as_deref(),
        Some("authorization_code")
    );
    assert_eq!(
        form_value(exchange, "client_id").as_deref(),
        Some(CLIENT_ID)
    );
    assert_eq!(
        form_value(exchange, "redirect_uri").as_deref(),
        Some("https://worker.example.test/oauth/callback")
    );

    let record = h.stored().unwrap();
    assert_eq!(record.access_token.expose(), "AT-1-zq7");
    assert_eq!(record.refresh_token.expose(), "RT-1-zq7");
    assert_eq!(record.expires_at_ms, h.p.now_ms() + 86_400_000);
    assert_eq!(record.tenant.as_deref(), Some("xy123.infusionsoft.com"));
    for (key, stored) in h.p.kv.borrow().iter() {
        for plain in ["AT-1-zq7", "RT-1-zq7", CLIENT_SECRET] {
            assert!(
                !stored.value.contains(plain),
                "{plain} in plain text at {key}"
            );
        }
    }
    // The state is spent.
    assert!(h.p.keys(kv_keys::OAUTH_STATE_PREFIX).is_empty());

    let status = h.status();
    assert_eq!(status["connected"], true);
    assert_eq!(status["needs_reauth"], false);
    assert_eq!(status["tenant"], "xy123.infusionsoft.com");
    assert_eq!(status["access_token_expires_at"], "2026-01-02T00:00:00Z");
}

#[test]
fn a_replayed_callback_is_refused_without_a_second_exchange() {
    let h = Harness::oauth();
    let query = h.consent();
    assert_eq!(h.callback(&query).status, 303);
    // Keap would even accept the code again: the state alone must stop it.
    h.keap.codes.borrow_mut().push("code-0".into());
    let replay = h.callback(&query);
    assert_eq!(replay.status, 400);
    assert!(replay.body_text().contains("already used"));
    assert_eq!(h.keap.exchanges.get(), 1);
    assert_eq!(h.stored().unwrap().access_token.expose(), "AT-1-zq7");
}

#[test]
fn an_expired_or_unknown_state_is_refused_without_an_exchange() {
    let h = Harness::oauth();
    let query = h.consent();
    h.p.advance_ms(601_000);
    let reply = h.callback(&query);
    assert_eq!(reply.status, 400);
    assert!(reply.body_text().contains("10 minutes"));

    for query in [
        "code=c&state=never-issued",
        "code=c&state=%3Cscript%3E",
        "code=c",
        "state=x",
    ] {
        assert_eq!(h.callback(query).status, 400, "{query}");
    }
    assert_eq!(h.keap.exchanges.get(), 0);
    assert!(h.stored().is_none());
}

#[test]
fn keap_errors_explain_what_to_do() {
    let h = Harness::oauth();
    let query = h.consent();
    let state = query.rsplit("state=").next().unwrap().to_string();
    let denied = h.callback(&format!(
        "error=access_denied&error_description=nope&state={state}"
    ));
    assert_eq!(denied.status, 403);
    assert!(denied.body_text().contains("no Keap app"));
    assert!(denied.body_text().contains("Connect to Keap"));
    // The state was spent by the refusal.
    assert!(h.p.keys(kv_keys::OAUTH_STATE_PREFIX).is_empty());

    let server = h.callback("error=server_error");
    assert_eq!(server.status, 400);
    assert!(server.body_text().contains("KEAP_CLIENT_ID"));

    let odd = h.callback("error=%3Cb%3Ehi%3C%2Fb%3E");
    assert_eq!(odd.status, 400);
    assert!(!odd.body_text().contains("<b>hi"));
    assert_eq!(h.keap.exchanges.get(), 0);
}

#[test]
fn a_refused_code_names_the_callback_url_to_register() {
    let h = Harness::oauth();
    let query = h.consent().replace("code=code-0", "code=wrong-code");
    let reply = h.callback(&query);
    assert_eq!(reply.status, 400);
    let text = reply.body_text();
    assert!(text.contains("https://worker.example.test/oauth/callback"));
    assert!(text.contains("invalid_grant"));
    assert!(h.stored().is_none());
}

#[test]
fn a_wrong_client_secret_is_named() {
    let mut settings = oauth_settings();
    settings.keap_client_secret = Some(Secret::new("wrong-secret"));
    let h = Harness::new(settings);
    let reply = h.callback(&h.consent());
    assert_eq!(reply.status, 400);
    assert!(reply.body_text().contains("KEAP_CLIENT_SECRET"));
    assert!(!reply.body_text().contains("wrong-secret"));
    assert!(h.stored().is_none());
}

#[test]
fn keap_down_during_the_exchange_stores_nothing() {
    let h = Harness::oauth();
    let query = h.consent();
    h.keap.mode.set(Mode::Down);
    let reply = h.callback(&query);
    assert_eq!(reply.status, 502);
    assert!(reply.body_text().contains("Try again"));
    assert!(h.stored().is_none());
}

#[test]
fn start_without_a_working_store_says_so() {
    let h = Harness::oauth();
    h.p.fail_writes.set(true);
    let reply = h.start();
    assert_eq!(reply.status, 503);
    assert!(reply.body_text().contains("STORE"));
    assert!(reply.headers.get("Location").is_none());
}

#[test]
fn start_explains_api_key_mode_unconfigured_and_a_missing_key() {
    let api = Harness::new(Settings {
        keap_api_key: Some(Secret::new("KeapAK-zq7")),
        ..oauth_settings()
    });
    let reply = api.start();
    assert_eq!(reply.status, 200);
    assert!(reply.body_text().contains("API-key mode"));

    let none = Harness::new(Settings::default());
    let reply = none.start();
    assert_eq!(reply.status, 503);
    assert!(reply
        .body_text()
        .contains("wrangler secret put KEAP_CLIENT_ID"));

    let no_key = Harness::new(Settings {
        encryption_key: None,
        ..oauth_settings()
    });
    let reply = no_key.start();
    assert_eq!(reply.status, 503);
    assert!(reply.body_text().contains("openssl rand -base64 32"));
    assert!(no_key.p.kv.borrow().is_empty());
}

// ----- refreshing -----

#[test]
fn fresh_tokens_are_not_refreshed_by_the_schedule() {
    let h = Harness::oauth();
    h.connect();
    let report = h.refresh_if_due();
    assert_eq!(report.outcome, RefreshOutcome::NotDue);
    assert!(report.ok);
    assert_eq!(h.keap.refreshes.get(), 0);
}

#[test]
fn due_tokens_rotate_across_runs_with_basic_auth_and_the_newest_refresh_token() {
    let h = Harness::oauth();
    h.keap.expires_in.set(3600); // within the 6-hour window from the start
    h.connect();
    for run in 1..=2u32 {
        h.p.advance_ms(HOUR / 2);
        let report = h.refresh_if_due();
        assert_eq!(report.outcome, RefreshOutcome::Refreshed, "run {run}");
        let sent = h.token_requests();
        let last = sent.last().unwrap();
        let basic = format!(
            "Basic {}",
            STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
        );
        assert_eq!(last.headers.get("Authorization"), Some(basic.as_str()));
        assert_eq!(
            form_value(last, "grant_type").as_deref(),
            Some("refresh_token")
        );
        assert_eq!(
            form_value(last, "refresh_token"),
            Some(format!("RT-{run}-zq7"))
        );
        assert_eq!(form_value(last, "client_secret"), None);
        let stored = h.stored().unwrap();
        assert_eq!(stored.refresh_token.expose(), format!("RT-{}-zq7", run + 1));
        assert_eq!(stored.expires_at_ms, h.p.now_ms() + 3_600_000);
        assert_eq!(stored.tenant.as_deref(), Some("xy123.infusionsoft.com"));
    }
    let status = h.status();
    assert_eq!(status["last_refresh"]["ok"], true);
    assert_eq!(status["last_refresh"]["error"], serde_json::Value::Null);
}

#[test]
fn a_rejected_access_token_is_refreshed_though_not_due() {
    let h = Harness::oauth();
    h.connect();
    let token = h.stored().unwrap().access_token;
    block_on(credentials::mark_rejected(&*h.p, &token));
    assert_eq!(h.refresh_if_due().outcome, RefreshOutcome::Refreshed);
    // The marker named the old token: now stale.
    assert_eq!(h.refresh_if_due().outcome, RefreshOutcome::NotDue);
}

#[test]
fn a_revoked_grant_marks_reauth_and_alerts_once_over_several_runs() {
    let h = Harness::oauth();
    h.connect();
    h.keap.mode.set(Mode::Revoked);
    h.p.advance_ms(20 * HOUR);
    let before = h.stored().unwrap();

    let report = h.refresh_if_due();
    assert_eq!(report.outcome, RefreshOutcome::NeedsReauth);
    assert!(!report.ok);
    assert!(report.message.contains("Connect to Keap"));
    assert_eq!(h.keap.refreshes.get(), 1);

    for _ in 0..4 {
        h.p.advance_ms(HOUR);
        assert_eq!(h.refresh_if_due().outcome, RefreshOutcome::NeedsReauth);
    }
    // The refused token is never sent again by the schedule.
    assert_eq!(h.keap.refreshes.get(), 1);
    let alerts = h.keap.alerts.borrow().clone();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["event"], "needs_reauth");
    assert!(alerts[0]["at"].as_str().unwrap().ends_with('Z'));

    // The record was not overwritten with anything worse.
    let after = h.stored().unwrap();
    assert_eq!(after.refresh_token, before.refresh_token);

    let status = h.status();
    assert_eq!(status["needs_reauth"], true);
    assert_eq!(status["connected"], false);
    assert_eq!(status["last_refresh"]["ok"], false);

    // A reminder once the interval has passed, not before.
    h.p.advance_ms(ALERT_INTERVAL_MS);
    h.refresh_if_due();
    assert_eq!(h.keap.alerts.borrow().len(), 2);

    // Reconnecting clears it.
    h.keap.mode.set(Mode::Normal);
    h.connect();
    let status = h.status();
    assert_eq!(status["needs_reauth"], false);
    assert_eq!(status["connected"], true);
    assert!(h.p.value(kv_keys::REAUTH).is_none());
}

#[test]
fn losing_a_race_to_another_refresher_keeps_the_connection() {
    let h = Harness::oauth();
    h.connect();
    h.p.advance_ms(20 * HOUR);
    // Another refresher (the other of /admin/refresh and the schedule)
    // reaches Keap first with the same refresh token and stores its pair.
    let p = Rc::downgrade(&h.p);
    let key = crate::store::seal::SealKey::from_base64(ENCRYPTION_KEY).unwrap();
    *h.keap.before_refresh.borrow_mut() = Some(Box::new(move |keap: &FakeKeap| {
        let (access, refresh) = keap.issue();
        let p = p.upgrade().unwrap();
        let record = TokenRecord {
            access_token: Secret::new(access),
            refresh_token: Secret::new(refresh),
            expires_at_ms: p.now_ms() + 86_400_000,
            tenant: Some("xy123.infusionsoft.com".into()),
            obtained_at_ms: p.now_ms(),
        };
        p.kv.borrow_mut().insert(
            kv_keys::TOKENS.to_string(),
            crate::testing::Stored {
                value: record.seal(&key),
                metadata: None,
                expires_at_ms: None,
            },
        );
    }));
    let report = h.refresh_now();
    assert_eq!(report.outcome, RefreshOutcome::LostRace);
    assert!(report.ok);
    assert!(h.p.value(kv_keys::REAUTH).is_none());
    assert!(h.keap.alerts.borrow().is_empty());
    assert_eq!(h.stored().unwrap().refresh_token.expose(), "RT-2-zq7");
    assert_eq!(h.status()["connected"], true);
    // And the winner's token keeps working on the next run.
    assert_eq!(h.refresh_now().outcome, RefreshOutcome::Refreshed);
    assert_eq!(h.stored().unwrap().refresh_token.expose(), "RT-3-zq7");
}

#[test]
fn keap_down_keeps_the_old_tokens_and_alerts_only_near_expiry() {
    let h = Harness::oauth();
    h.connect();
    h.keap.mode.set(Mode::Down);
    h.p.advance_ms(19 * HOUR);
    let before = h.p.value(kv_keys::TOKENS).unwrap();

    let report = h.refresh_if_due();
    assert_eq!(report.outcome, RefreshOutcome::Failed);
    assert!(report.message.contains("HTTP 503"));
    assert_eq!(h.p.value(kv_keys::TOKENS).unwrap(), before);
    assert!(h.p.value(kv_keys::REAUTH).is_none());
    assert!(h.keap.alerts.borrow().is_empty(), "5 h left: no alert yet");
    assert_eq!(h.status()["last_refresh"]["ok"], false);

    h.p.advance_ms(3 * HOUR + 1);
    h.refresh_if_due();
    let alerts = h.keap.alerts.borrow().clone();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["event"], "refresh_failed");

    // Keap back: the kept refresh token still works.
    h.keap.mode.set(Mode::Normal);
    assert_eq!(h.refresh_if_due().outcome, RefreshOutcome::Refreshed);
    assert_eq!(h.status()["connected"], true);
}

#[test]
fn a_refused_client_points_at_the_client_credentials() {
    let h = Harness::oauth();
    h.connect();
    let wrong = Harness {
        p: Rc::clone(&h.p),
        keap: Rc::clone(&h.keap),
        config: Config::from_settings(Settings {
            keap_client_secret: Some(Secret::new("rotated-secret")),
            ..oauth_settings()
        }),
    };
    let report = wrong.refresh_now();
    assert_eq!(report.outcome, RefreshOutcome::NeedsReauth);
    assert!(report.message.contains("KEAP_CLIENT_SECRET"));
    assert!(!report.message.contains("rotated-secret"));
    let last = h.status()["last_refresh"]["error"].to_string();
    assert!(
        last.contains("HTTP 401") && last.contains("invalid_client"),
        "{last}"
    );
    // Fixed credentials: "Refresh now" brings the connection back.
    assert_eq!(h.refresh_now().outcome, RefreshOutcome::Refreshed);
    assert_eq!(h.status()["needs_reauth"], false);
}

#[test]
fn the_refresh_answer_suits_scripts_and_people() {
    let h = Harness::oauth();
    h.connect();
    let report = h.refresh_now();
    let json = into_reply(&report.answer(), true);
    assert_eq!(json.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["outcome"], "refreshed");
    assert_eq!(v["access_token_expires_at"], "2026-01-02T00:00:00Z");
    let page = into_reply(&report.answer(), false);
    assert!(page.body_text().contains("New tokens stored."));
    assert!(page.body_text().contains("href=\"/admin\""));
}

/// The `Accept` headers an admin action meets, and whether each gets
/// JSON: scripts (none, curl's `*/*`, JSON asked for or preferred) and
/// browsers (a form post or a navigation, which prefer `text/html`).
const ACCEPTS: &[(Option<&str>, bool)] = &[
    (None, true),
    (Some("*/*"), true),
    (Some("application/json"), true),
    (Some("text/html;q=0.9, application/json"), true),
    (
        Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        false,
    ),
    (
        Some(
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,\
             image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
        ),
        false,
    ),
    (Some("text/html"), false),
];

fn admin_post(path: &str, accept: Option<&str>) -> Incoming {
    let mut headers = Headers::new();
    headers.push("Authorization", format!("Bearer {ADMIN_TOKEN}"));
    if let Some(accept) = accept {
        headers.push("Accept", accept.to_string());
    }
    Incoming {
        method: Method::Post,
        url: crate::request_url::RequestUrl::parse(&format!("{WORKER}{path}")).unwrap(),
        headers,
        body: Vec::new(),
    }
}

/// Whether `reply` is JSON (and parses), or else an HTML page.
fn is_json(reply: &Reply) -> bool {
    let kind = reply.headers.get("Content-Type").unwrap_or("");
    if kind.starts_with("application/json") {
        assert!(serde_json::from_slice::<serde_json::Value>(&reply.body).is_ok());
        true
    } else {
        assert!(kind.starts_with("text/html"), "{kind}");
        assert!(reply.body_text().starts_with("<!doctype html>"));
        false
    }
}

#[test]
fn admin_actions_answer_scripts_in_json_and_browsers_with_a_page() {
    let h = Harness::oauth();
    h.connect();
    for &(accept, json) in ACCEPTS {
        let refresh = admin_post("/admin/refresh", accept);
        assert!(crate::auth::admin_auth::guard(&h.config, &refresh).is_ok());
        let reply = block_on(super::refresh::refresh_reply(&*h.p, &h.config, &refresh));
        assert_eq!(reply.status, 200);
        assert_eq!(is_json(&reply), json, "/admin/refresh, Accept {accept:?}");
        if json {
            let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
            assert_eq!(v["outcome"], "refreshed");
        }

        let replay = admin_post("/admin/replay", accept);
        let reply = block_on(super::replay::replay(&*h.p, &h.config, &replay));
        assert_eq!(is_json(&reply), json, "/admin/replay, Accept {accept:?}");

        // A refusal follows the same rule (the browser's also asks for a
        // password).
        let mut wrong = admin_post("/admin/refresh", accept);
        wrong.headers = Headers::new();
        if let Some(accept) = accept {
            wrong.headers.push("Accept", accept.to_string());
        }
        let refusal = crate::auth::admin_auth::guard(&h.config, &wrong).unwrap_err();
        assert_eq!(refusal.status, 401);
        assert_eq!(is_json(&refusal), json, "refusal, Accept {accept:?}");
        assert!(refusal.headers.get("WWW-Authenticate").is_some());
    }
}

#[test]
fn refresh_now_always_tries() {
    let h = Harness::oauth();
    h.connect();
    assert_eq!(h.refresh_now().outcome, RefreshOutcome::Refreshed);
    assert_eq!(h.keap.refreshes.get(), 1);
}

#[test]
fn a_failed_store_of_the_new_pair_is_reported_and_alerted() {
    let h = Harness::oauth();
    h.connect();
    h.p.fail_writes.set(true);
    let report = h.refresh_now();
    assert_eq!(report.outcome, RefreshOutcome::Failed);
    assert!(report.message.contains("could not be stored"));
    assert_eq!(h.keap.alerts.borrow().len(), 1);
}

#[test]
fn nothing_to_refresh_without_oauth_or_connection() {
    let api = Harness::new(Settings {
        keap_api_key: Some(Secret::new("KeapAK-zq7")),
        ..oauth_settings()
    });
    let report = block_on(refresh_if_due(&*api.p, &api.config));
    assert_eq!(report.outcome, RefreshOutcome::ApiKeyMode);
    assert!(report.ok);

    let h = Harness::oauth();
    assert_eq!(h.refresh_if_due().outcome, RefreshOutcome::NotConnected);
    assert!(h.p.requests.borrow().is_empty());
}

#[test]
fn tokens_sealed_under_another_key_need_reconnecting() {
    let h = Harness::oauth();
    h.connect();
    let moved = Harness {
        p: Rc::clone(&h.p),
        keap: Rc::clone(&h.keap),
        config: Config::from_settings(Settings {
            encryption_key: Some(Secret::new("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=")),
            ..oauth_settings()
        }),
    };
    let report = moved.refresh_if_due();
    assert_eq!(report.outcome, RefreshOutcome::NeedsReauth);
    assert!(report.message.contains("different ENCRYPTION_KEY"));
    let status = moved.status();
    assert_eq!(status["needs_reauth"], true);
    assert!(status["problems"]
        .to_string()
        .contains("different ENCRYPTION_KEY"));
}

// ----- /admin/status and /admin -----

#[test]
fn status_has_exactly_the_documented_shape() {
    let h = Harness::oauth();
    let counts = OutboxCounts {
        pending: 3,
        dead: 1,
    };
    let status = block_on(admin::state(
        &*h.p,
        &h.config,
        &admin_url(),
        counts,
        vec![],
        HeldShown::Count(0),
        None,
    ))
    .json();
    let mut keys: Vec<&str> = status
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_token_expires_at",
            "auth_mode",
            "backlog",
            "connected",
            "drain_subrequests",
            "form_checks",
            "forms",
            "held",
            "last_refresh",
            "needs_reauth",
            "outbox",
            "problems",
            "tenant"
        ]
    );
    assert_eq!(status["auth_mode"], "oauth");
    assert_eq!(status["connected"], false);
    assert_eq!(status["tenant"], serde_json::Value::Null);
    assert_eq!(status["access_token_expires_at"], serde_json::Value::Null);
    assert_eq!(status["last_refresh"], serde_json::Value::Null);
    assert_eq!(
        status["outbox"],
        serde_json::json!({"pending": 3, "dead": 1})
    );
    assert!(status["forms"].is_array());
}

#[test]
fn status_reports_modes_and_problems_with_fixes() {
    let api = Harness::new(Settings {
        keap_api_key: Some(Secret::new("KeapAK-zq7")),
        ..Settings::default()
    });
    let status = api.status();
    assert_eq!(status["auth_mode"], "api_key");
    assert_eq!(status["connected"], true);
    let problems = status["problems"].to_string();
    assert!(problems.contains("ENCRYPTION_KEY") && problems.contains("openssl rand -base64 32"));
    assert!(problems.contains("ALLOWED_ORIGINS"));

    let none = Harness::new(Settings {
        keap_client_id: Some("only-the-id".into()),
        encryption_key: Some(Secret::new("too-short")),
        allowed_origins: Some("https://ok.example, not an origin".into()),
        ..Settings::default()
    });
    let status = none.status();
    assert_eq!(status["auth_mode"], "unconfigured");
    assert_eq!(status["connected"], false);
    let problems = status["problems"].as_array().unwrap();
    let settings: Vec<&str> = problems
        .iter()
        .map(|p| p["setting"].as_str().unwrap())
        .collect();
    assert!(settings.contains(&"KEAP_CLIENT_SECRET"), "{settings:?}");
    assert!(settings.contains(&"ENCRYPTION_KEY"), "{settings:?}");
    assert!(settings.contains(&"ALLOWED_ORIGINS"), "{settings:?}");
    assert!(problems
        .iter()
        .all(|p| !p["fix"].as_str().unwrap().is_empty()));
}

/// `/admin` with these counts and dead letters.
fn admin_page(
    p: &MemoryPlatform,
    config: &Config,
    counts: OutboxCounts,
    dead: Vec<DeadLetterSummary>,
) -> Reply {
    let held = HeldShown::Listed {
        views: vec![],
        count: 0,
    };
    let state = block_on(admin::state(
        p,
        config,
        &admin_url(),
        counts,
        dead,
        held,
        None,
    ));
    into_reply(&state, false)
}

/// The address `/admin` is read at in these tests.
fn admin_url() -> crate::request_url::RequestUrl {
    crate::request_url::RequestUrl::parse("https://forms.example.com/admin").unwrap()
}

#[test]
fn admin_page_shows_the_connection_and_what_to_do() {
    let h = Harness::oauth();
    let page = admin_page(&h.p, &h.config, OutboxCounts::default(), Vec::new());
    assert_eq!(page.status, 200);
    assert_eq!(page.headers.get("Cache-Control"), Some("no-store"));
    assert!(page.body_text().contains("Not connected yet"));
    assert!(page.body_text().contains("href=\"/oauth/start\""));
    // The callback URL to register is this worker's own, exactly.
    assert!(page
        .body_text()
        .contains("<code>https://forms.example.com/oauth/callback</code>"));
    let fixed = Harness::new(Settings {
        oauth_redirect_uri: Some("https://connect.example.org/oauth/callback".into()),
        ..oauth_settings()
    });
    let page = admin_page(&fixed.p, &fixed.config, OutboxCounts::default(), Vec::new());
    assert!(page
        .body_text()
        .contains("<code>https://connect.example.org/oauth/callback</code>"));
    assert!(!page.body_text().contains("forms.example.com/oauth"));

    h.connect();
    let dead = [DeadLetterSummary {
        id: "1767225600000-ab".into(),
        queued_at: "2026-01-01T00:00:00Z".into(),
        reason: "Keap answered 400: <unknown custom field>".into(),
    }];
    let page = admin_page(
        &h.p,
        &h.config,
        OutboxCounts {
            pending: 2,
            dead: 1,
        },
        dead.to_vec(),
    );
    let text = page.body_text();
    assert!(text.contains("Connected"));
    assert!(text.contains("xy123.infusionsoft.com"));
    assert!(text.contains("2026-01-02T00:00:00Z"));
    assert!(text.contains("2 lead(s) waiting"));
    assert!(text.contains("1767225600000-ab"));
    assert!(text.contains("&lt;unknown custom field&gt;"));

    let api = Harness::new(Settings {
        keap_api_key: Some(Secret::new("KeapAK-zq7")),
        ..oauth_settings()
    });
    let page = admin_page(&api.p, &api.config, OutboxCounts::default(), Vec::new());
    assert!(page.body_text().contains("API key"));
    assert!(!page.body_text().contains("/oauth/start"));
}

// ----- secrets never leave -----

#[test]
fn no_secret_appears_in_any_reply_report_or_log_line() {
    let h = Harness::oauth();
    let mut shown: Vec<String> = Vec::new();
    let mut keep = |r: &Reply| {
        shown.push(r.body_text().to_string());
        shown.extend(r.headers.iter().map(|(k, v)| format!("{k}: {v}")));
    };

    let query = h.consent();
    keep(&h.start());
    keep(&h.callback(&query));
    keep(&h.callback(&query)); // replay
    keep(&h.callback("code=stolen-code-zq7&state=bogus"));
    h.keap.expires_in.set(60);
    h.p.advance_ms(HOUR);
    let token = h.stored().unwrap().access_token;
    block_on(credentials::mark_rejected(&*h.p, &token));
    let mut reports = vec![h.refresh_if_due(), h.refresh_now()];
    h.keap.mode.set(Mode::Down);
    reports.push(h.refresh_now());
    h.keap.mode.set(Mode::Revoked);
    reports.push(h.refresh_now());
    reports.push(h.refresh_if_due());
    for authorization in [None, Some("Bearer wrong"), Some("Basic d3Jvbmc6d3Jvbmc=")] {
        let mut request = h.get("/admin");
        if let Some(a) = authorization {
            request.headers.set("Authorization", a);
        }
        keep(&crate::auth::admin_auth::guard(&h.config, &request).unwrap_err());
    }
    keep(&admin_page(
        &h.p,
        &h.config,
        OutboxCounts::default(),
        Vec::new(),
    ));
    shown.push(h.status().to_string());
    shown.extend(reports.iter().map(|r| serde_json::to_string(r).unwrap()));
    shown.extend(h.p.logs.borrow().iter().cloned());
    // Alerts leave the worker too.
    shown.extend(h.keap.alerts.borrow().iter().map(|a| a.to_string()));

    let mut secrets = vec![
        CLIENT_SECRET.to_string(),
        ENCRYPTION_KEY.to_string(),
        ADMIN_TOKEN.to_string(),
        "zq7-webhook-path".to_string(),
        "stolen-code-zq7".to_string(),
    ];
    for n in 1..=h.keap.issued.get() {
        secrets.push(format!("AT-{n}-zq7"));
        secrets.push(format!("RT-{n}-zq7"));
    }
    assert!(h.keap.issued.get() >= 3, "the flows above issued tokens");
    for text in &shown {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{secret} leaked in: {text}"
            );
        }
        // The code Keap issued is spent, but still not for showing.
        assert!(!text.contains("code=code-0"), "code leaked in: {text}");
    }
}

#[test]
fn refresh_outcomes_are_written_as_before() {
    use crate::flows::refresh::RefreshOutcome as O;
    let written: Vec<String> = [
        O::Refreshed,
        O::NotDue,
        O::LostRace,
        O::NeedsReauth,
        O::Failed,
        O::NotConnected,
        O::ApiKeyMode,
        O::NotConfigured,
    ]
    .iter()
    .map(|o| serde_json::to_string(o).unwrap())
    .collect();
    assert_eq!(
        written,
        [
            "\"refreshed\"",
            "\"not_due\"",
            "\"lost_race\"",
            "\"needs_reauth\"",
            "\"failed\"",
            "\"not_connected\"",
            "\"api_key_mode\"",
            "\"not_configured\"",
        ]
    );
}
