//! Everything a running sandbox remembers, behind one mutex: credentials,
//! contacts and tags, switches set through the control API, call counts
//! and the log of received requests.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::contacts::Crm;
use crate::faults::FaultPlan;
use crate::http::{decode_form, Request};
use crate::route::Route;
use crate::tokens::TokenStore;

/// The `error` a refused refresh answers with: Keap has used both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshError {
    /// `invalid_request` (what Keap answers now).
    InvalidRequest,
    /// `invalid_grant` (older reports, and the OAuth 2 standard).
    InvalidGrant,
}

impl RefreshError {
    /// The wire value.
    pub fn name(self) -> &'static str {
        match self {
            RefreshError::InvalidRequest => "invalid_request",
            RefreshError::InvalidGrant => "invalid_grant",
        }
    }

    fn parse(text: &str) -> Option<RefreshError> {
        match text {
            "invalid_request" => Some(RefreshError::InvalidRequest),
            "invalid_grant" => Some(RefreshError::InvalidGrant),
            _ => None,
        }
    }
}

/// Behaviour switches, changed by `POST /_sandbox/config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `expires_in` of newly issued access tokens.
    pub expires_in: u64,
    /// The `error` of a refused refresh.
    pub refresh_error: RefreshError,
    /// When set, every `PUT /v1/contacts` answers this status (a permanent
    /// rejection, for dead-letter tests).
    pub reject_contacts_with_status: Option<u16>,
    /// The same for every `POST /v1/notes`.
    pub reject_notes_with_status: Option<u16>,
}

impl Settings {
    /// Applies a `POST /_sandbox/config` body; unknown keys are refused.
    pub fn apply(&mut self, body: &Value) -> Result<(), String> {
        let object = body
            .as_object()
            .ok_or_else(|| "body must be a JSON object".to_owned())?;
        let mut next = self.clone();
        for (key, value) in object {
            match key.as_str() {
                "expires_in" => {
                    next.expires_in = value
                        .as_u64()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| "expires_in must be a positive integer".to_owned())?;
                }
                "refresh_error" => {
                    next.refresh_error =
                        value
                            .as_str()
                            .and_then(RefreshError::parse)
                            .ok_or_else(|| {
                                "refresh_error must be \"invalid_request\" or \"invalid_grant\""
                                    .to_owned()
                            })?;
                }
                "reject_contacts_with_status" => {
                    next.reject_contacts_with_status = parse_reject(key, value)?;
                }
                "reject_notes_with_status" => {
                    next.reject_notes_with_status = parse_reject(key, value)?;
                }
                other => {
                    return Err(format!(
                        "unknown key {other:?}; known: expires_in, refresh_error, \
                         reject_contacts_with_status, reject_notes_with_status"
                    ))
                }
            }
        }
        *self = next;
        Ok(())
    }

    /// The settings, for the control API.
    pub fn to_json(&self) -> Value {
        json!({
            "expires_in": self.expires_in,
            "refresh_error": self.refresh_error.name(),
            "reject_contacts_with_status": self.reject_contacts_with_status,
            "reject_notes_with_status": self.reject_notes_with_status,
        })
    }
}

/// A `reject_*_with_status` value: `null` (off) or a status 400..=599.
fn parse_reject(key: &str, value: &Value) -> Result<Option<u16>, String> {
    if value.is_null() {
        return Ok(None);
    }
    value
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (400..=599).contains(s))
        .map(Some)
        .ok_or_else(|| format!("{key} must be null or 400..=599"))
}

/// One received request, as the control API shows it.
#[derive(Debug, Clone)]
struct LoggedRequest {
    seq: u64,
    route: Route,
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: String,
    media_type: Option<String>,
    status: Option<u16>,
}

impl LoggedRequest {
    fn to_json(&self) -> Value {
        let mut headers = Map::new();
        for (name, value) in &self.headers {
            let joined = match headers.get(name).and_then(Value::as_str) {
                Some(previous) => format!("{previous}, {value}"),
                None => value.clone(),
            };
            headers.insert(name.clone(), json!(joined));
        }
        let mut entry = json!({
            "seq": self.seq,
            "route": self.route.name(),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": headers,
            "body": self.body,
            "status": self.status,
        });
        match self.media_type.as_deref() {
            Some("application/x-www-form-urlencoded") => {
                entry["form"] = pairs_json(&decode_form(self.body.as_bytes()));
            }
            Some("application/json") => {
                if let Ok(parsed) = serde_json::from_str::<Value>(&self.body) {
                    entry["json"] = parsed;
                }
            }
            _ => {}
        }
        if let Some(query) = &self.query {
            entry["query_params"] = pairs_json(&decode_form(query.as_bytes()));
        }
        entry
    }
}

/// Pairs as an object (the first of repeated names wins).
fn pairs_json(pairs: &[(String, String)]) -> Value {
    let mut object = Map::new();
    for (name, value) in pairs {
        object.entry(name.clone()).or_insert_with(|| json!(value));
    }
    Value::Object(object)
}

/// How much of a body the log keeps (the worker's bodies are far smaller).
const LOG_BODY_LIMIT: usize = 64 * 1024;

fn logged_body(request: &Request) -> String {
    let mut text = request.body_text();
    if text.len() > LOG_BODY_LIMIT {
        let mut cut = LOG_BODY_LIMIT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("…[truncated]");
    }
    text
}

/// How many requests the log keeps; older ones are dropped and counted.
const LOG_CAPACITY: usize = 2_000;

/// The quota a REST client sees in the `x-keap-product-*` headers.
pub const QUOTA_PER_DAY: u64 = 150_000;
/// The throttle a REST client sees in the `x-keap-product-throttle-*` headers.
pub const THROTTLE_PER_MINUTE: u64 = 1_500;

/// The whole mutable state of a sandbox.
#[derive(Debug, Clone)]
pub struct State {
    /// Switches.
    pub settings: Settings,
    /// Codes and tokens.
    pub tokens: TokenStore,
    /// Contacts and tags.
    pub crm: Crm,
    /// Injected failures.
    pub faults: FaultPlan,
    counts: BTreeMap<&'static str, u64>,
    log: VecDeque<LoggedRequest>,
    log_dropped: u64,
    next_seq: u64,
    rest_calls: u64,
    minute: (u64, u64),
}

impl State {
    /// A fresh state for `config`.
    pub fn new(config: &Config) -> State {
        State {
            settings: Settings {
                expires_in: config.expires_in,
                refresh_error: RefreshError::InvalidRequest,
                reject_contacts_with_status: None,
                reject_notes_with_status: None,
            },
            tokens: TokenStore::default(),
            crm: Crm::new(&config.tags),
            faults: FaultPlan::default(),
            counts: BTreeMap::new(),
            log: VecDeque::new(),
            log_dropped: 0,
            next_seq: 1,
            rest_calls: 0,
            minute: (0, 0),
        }
    }

    /// Counts and logs a received request; returns its sequence number.
    pub fn record(&mut self, route: Route, request: &Request) -> u64 {
        *self.counts.entry(route.name()).or_insert(0) += 1;
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.log.len() >= LOG_CAPACITY {
            self.log.pop_front();
            self.log_dropped += 1;
        }
        self.log.push_back(LoggedRequest {
            seq,
            route,
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.query.clone(),
            headers: request.headers.clone(),
            body: logged_body(request),
            media_type: request.media_type(),
            status: None,
        });
        seq
    }

    /// Notes the status a logged request was answered with.
    pub fn record_status(&mut self, seq: u64, status: u16) {
        if let Some(entry) = self.log.iter_mut().rev().find(|e| e.seq == seq) {
            entry.status = Some(status);
        }
    }

    /// Counts a REST call against the quota; returns the headers Keap sends
    /// with REST answers.
    pub fn spend_quota(&mut self, tenant: &str, now: u64) -> Vec<(String, String)> {
        self.rest_calls += 1;
        let minute = now / 60;
        self.minute = if self.minute.0 == minute {
            (minute, self.minute.1 + 1)
        } else {
            (minute, 1)
        };
        vec![
            (
                "x-keap-product-quota-limit".into(),
                QUOTA_PER_DAY.to_string(),
            ),
            (
                "x-keap-product-quota-available".into(),
                QUOTA_PER_DAY.saturating_sub(self.rest_calls).to_string(),
            ),
            ("x-keap-product-quota-interval".into(), "1".into()),
            ("x-keap-product-quota-time-unit".into(), "Day".into()),
            (
                "x-keap-product-throttle-limit".into(),
                THROTTLE_PER_MINUTE.to_string(),
            ),
            (
                "x-keap-product-throttle-available".into(),
                THROTTLE_PER_MINUTE
                    .saturating_sub(self.minute.1)
                    .to_string(),
            ),
            ("x-keap-product-throttle-interval".into(), "1".into()),
            ("x-keap-product-throttle-time-unit".into(), "Minute".into()),
            ("x-keap-tenant-id".into(), tenant.to_owned()),
        ]
    }

    /// Everything, for `GET /_sandbox/state`.
    pub fn to_json(&self, now: u64) -> Value {
        json!({
            "contacts": self.crm.contacts_json(),
            "tags": self.crm.tags_matching(None, None).iter().map(|t| t.to_json()).collect::<Vec<_>>(),
            "custom_fields": self.crm.fields.to_json(),
            "notes": self.crm.notes_json(),
            "counts": self.counts,
            "requests": self.log.iter().map(LoggedRequest::to_json).collect::<Vec<_>>(),
            "requests_dropped": self.log_dropped,
            "tokens": self.tokens.to_json(now),
            "settings": self.settings.to_json(),
            "faults": self.faults.to_json(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_switch_and_refuse_unknown_keys() {
        let mut s = State::new(&Config::default()).settings;
        s.apply(&json!({"refresh_error": "invalid_grant", "reject_contacts_with_status": 400, "expires_in": 5}))
            .unwrap();
        assert_eq!(s.refresh_error, RefreshError::InvalidGrant);
        assert_eq!(s.reject_contacts_with_status, Some(400));
        s.apply(&json!({"reject_contacts_with_status": null}))
            .unwrap();
        assert_eq!(s.reject_contacts_with_status, None);
        assert!(s.apply(&json!({"expires": 5})).is_err());
        s.apply(&json!({"reject_notes_with_status": 422})).unwrap();
        assert_eq!(s.reject_notes_with_status, Some(422));
        assert!(s
            .apply(&json!({"reject_notes_with_status": "400"}))
            .is_err());
        assert!(s
            .apply(&json!({"reject_contacts_with_status": 200}))
            .is_err());
        assert_eq!(s.expires_in, 5);
    }

    #[test]
    fn log_keeps_order_status_and_decoded_bodies() {
        let mut state = State::new(&Config::default());
        let request = Request {
            method: "POST".into(),
            path: "/token".into(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: b"grant_type=refresh_token&refresh_token=r1".to_vec(),
            ..Request::default()
        };
        let seq = state.record(Route::TokenRefresh, &request);
        state.record_status(seq, 200);
        let dump = state.to_json(0);
        assert_eq!(dump["counts"]["token_refresh"], 1);
        assert_eq!(dump["requests"][0]["status"], 200);
        assert_eq!(dump["requests"][0]["form"]["refresh_token"], "r1");
    }
}
