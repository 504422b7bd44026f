//! One structured log line per submission and per delivery attempt, so
//! the owner can follow outcomes with `wrangler tail` or in Workers Logs
//! (which indexes a JSON line's fields).
//!
//! The line holds counts, codes and the form's id from `FORMS`: never an
//! address, a name, a message, a token or Keap's own words (which may
//! quote the lead).

use serde::Serialize;

use crate::http::{FetchError, InResponse};

/// What the line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A form post, answered.
    Submission,
    /// An attempt to deliver a lead from the outbox.
    Delivery,
}

/// Which invocation made the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The form post itself.
    Request,
    /// The retry after the visitor's answer, in the same invocation.
    AfterReply,
    /// A delivery queue message.
    Queue,
    /// The Cron Trigger's run.
    Cron,
    /// `POST /admin/replay`, or the delivery right after connecting.
    Admin,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// In Keap.
    Delivered,
    /// In the outbox for a passing failure; retried soon.
    Queued,
    /// In the outbox, waiting for our own credentials (not connected,
    /// re-authorization needed): connecting releases it.
    Held,
    /// Tried from the outbox and failed for now; in back-off.
    Retrying,
    /// Refused by Keap for good: a dead letter.
    Dead,
    /// The post was refused (the `error` field says why); nothing kept.
    Refused,
    /// The honeypot was filled: answered as a success, dropped.
    Dropped,
    /// Caught by the spam rules (`error` names the rule) and held for the
    /// owner's review: answered as a success.
    SpamHeld,
    /// Caught by the spam rules and dropped (the form says `drop`, or the
    /// day's cap of held posts was reached): answered as a success.
    SpamDropped,
}

/// One line. `attempt` counts from 1 (the form post's own try is 1);
/// `waited_s` is how long the lead had waited since it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutcomeLine<'a> {
    pub event: Event,
    pub form: Option<&'a str>,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub attempt: u32,
    pub waited_s: u64,
    pub via: Via,
}

impl OutcomeLine<'_> {
    /// The JSON text of the line.
    pub fn to_json(&self) -> String {
        // Plain fields always serialise.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A stable code for a failed call's answer: `keap_<status>` for an HTTP
/// status, `timeout`, `network`; `None` for a success.
pub fn failure_code(answer: &Result<InResponse, FetchError>) -> Option<String> {
    match answer {
        Ok(r) if (200..=299).contains(&r.status) => None,
        Ok(r) => Some(format!("keap_{}", r.status)),
        Err(FetchError::Timeout) => Some("timeout".into()),
        Err(FetchError::Network(_)) => Some("network".into()),
    }
}

/// Whole seconds from `since_ms` to `now_ms`.
pub fn waited_s(since_ms: u64, now_ms: u64) -> u64 {
    now_ms.saturating_sub(since_ms) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_the_contracts_fields_and_nothing_else() {
        let line = OutcomeLine {
            event: Event::Delivery,
            form: Some("contact"),
            outcome: Outcome::Retrying,
            error: Some("keap_503".into()),
            attempt: 2,
            waited_s: 62,
            via: Via::Queue,
        };
        let v: serde_json::Value = serde_json::from_str(&line.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"event": "delivery", "form": "contact", "outcome": "retrying",
                "error": "keap_503", "attempt": 2, "waited_s": 62, "via": "queue"})
        );
        let refused = OutcomeLine {
            event: Event::Submission,
            form: None,
            outcome: Outcome::Refused,
            error: Some("unknown_form".into()),
            attempt: 1,
            waited_s: 0,
            via: Via::Request,
        };
        let v: serde_json::Value = serde_json::from_str(&refused.to_json()).unwrap();
        assert_eq!(v["form"], serde_json::Value::Null);
        assert_eq!(v["event"], "submission");
    }

    #[test]
    fn failures_have_stable_codes() {
        assert_eq!(failure_code(&Ok(InResponse::new(200, ""))), None);
        assert_eq!(failure_code(&Ok(InResponse::new(201, ""))), None);
        assert_eq!(
            failure_code(&Ok(InResponse::new(503, "jane@example.com"))).as_deref(),
            Some("keap_503")
        );
        assert_eq!(
            failure_code(&Ok(InResponse::new(429, ""))).as_deref(),
            Some("keap_429")
        );
        assert_eq!(
            failure_code(&Err(FetchError::Timeout)).as_deref(),
            Some("timeout")
        );
        assert_eq!(
            failure_code(&Err(FetchError::Network("dns for a secret host".into()))).as_deref(),
            Some("network")
        );
    }

    #[test]
    fn waits_are_whole_seconds_and_never_negative() {
        assert_eq!(waited_s(1_000, 62_999), 61);
        assert_eq!(waited_s(5_000, 1_000), 0);
    }
}
