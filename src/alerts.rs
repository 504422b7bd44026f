//! Telling a person that something needs them, by POSTing JSON to
//! `ALERT_WEBHOOK_URL`:
//! `{"event":"needs_reauth","message":"...","at":"2026-11-28T15:04:54Z"}`
//! (plus `text`, the same words, which chat webhooks such as Slack's show).
//!
//! At most one alert per kind every [`ALERT_INTERVAL_MS`], so an hourly
//! scheduled run reminds rather than floods. An alert is best effort: a
//! failing webhook is logged and never fails the caller. Messages never
//! hold a token or a person's data.

use crate::config::Config;
use crate::http::{Method, OutRequest};
use crate::platform::{put_or_log, Platform};
use crate::store::kv_keys;
use crate::time;

/// Minimum time between two alerts of one kind.
pub const ALERT_INTERVAL_MS: u64 = 6 * 3_600_000;

/// What the alert is about (its `event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// Keap refused the refresh token: someone must reconnect at `/admin`.
    NeedsReauth,
    /// Refreshing keeps failing for a passing reason and the token is
    /// about to expire.
    RefreshFailed,
    /// Keap permanently refused a lead; it is kept as a dead letter.
    DeadLetter,
    /// Leads are waiting in the outbox and not going out.
    OutboxStuck,
    /// A form names a tag or custom field id the Keap app does not have
    /// (see `config_check`).
    ConfigMismatch,
    /// Suspicious posts were held for review (see `store::held`); at most
    /// one a day.
    SpamHeld,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::NeedsReauth => "needs_reauth",
            AlertKind::RefreshFailed => "refresh_failed",
            AlertKind::DeadLetter => "dead_letter",
            AlertKind::OutboxStuck => "outbox_stuck",
            AlertKind::ConfigMismatch => "config_mismatch",
            AlertKind::SpamHeld => "spam_held",
        }
    }

    /// Minimum time between two alerts of this kind: a digest kind (held
    /// posts) once a day, the rest every [`ALERT_INTERVAL_MS`].
    pub fn interval_ms(self) -> u64 {
        match self {
            AlertKind::SpamHeld => 24 * 3_600_000,
            _ => ALERT_INTERVAL_MS,
        }
    }
}

/// When an alert of `kind` was last sent, if it was and that can be read.
pub async fn last_sent<P: Platform>(p: &P, kind: AlertKind) -> Option<u64> {
    let key = format!("{}{}", kv_keys::ALERT_PREFIX, kind.as_str());
    p.kv_get(&key)
        .await
        .ok()
        .flatten()
        .and_then(|t| time::from_rfc3339(&t))
}

/// What became of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertOutcome {
    Sent,
    /// `ALERT_WEBHOOK_URL` is not set; only logged.
    NoWebhook,
    /// One of this kind went out less than [`ALERT_INTERVAL_MS`] ago.
    RateLimited,
    /// The webhook failed or did not answer 2xx; logged.
    Failed,
}

/// Tells the owner that Keap refused a lead for good. `reason` is Keap's
/// refusal with the visitor's values already scrubbed
/// ([`crate::keap::scrub`]).
pub async fn dead_letter<P: Platform>(p: &P, config: &Config, reason: &str) -> AlertOutcome {
    let message = format!(
        "Keap refused a lead for good ({reason}). It is kept as a dead letter: \
         fix the cause, then press \"Deliver now\" on /admin."
    );
    alert(p, config, AlertKind::DeadLetter, &message).await
}

/// Sends an alert of `kind`, unless one was sent recently.
pub async fn alert<P: Platform>(
    p: &P,
    config: &Config,
    kind: AlertKind,
    message: &str,
) -> AlertOutcome {
    let Some(webhook) = config
        .settings
        .alert_webhook_url
        .as_ref()
        .filter(|u| !u.is_empty())
    else {
        p.log(&format!(
            "alert {} (no ALERT_WEBHOOK_URL set): {message}",
            kind.as_str()
        ));
        return AlertOutcome::NoWebhook;
    };
    let now = p.now_ms();
    let key = format!("{}{}", kv_keys::ALERT_PREFIX, kind.as_str());
    // An unreadable send time counts as none: a duplicate alert is better
    // than a missing one.
    let last_sent = last_sent(p, kind).await;
    if last_sent.is_some_and(|t| now.saturating_sub(t) < kind.interval_ms()) {
        return AlertOutcome::RateLimited;
    }
    // Recorded before sending, so a webhook that is down costs one request
    // per interval, not one per caller.
    let what = format!("alert {}: could not record the send time", kind.as_str());
    put_or_log(p, &key, &time::to_rfc3339(now), &what).await;
    let at = time::to_rfc3339(now);
    let body = serde_json::json!({
        "event": kind.as_str(),
        "message": message,
        "at": at,
        "text": format!("keap-form-worker: {message}"),
    });
    let request = OutRequest::new(Method::Post, webhook.expose()).json(&body);
    match p.fetch(request).await {
        Ok(r) if (200..300).contains(&r.status) => {
            p.log(&format!("alert {} sent", kind.as_str()));
            AlertOutcome::Sent
        }
        Ok(r) => {
            p.log(&format!(
                "alert {}: the webhook answered HTTP {}",
                kind.as_str(),
                r.status
            ));
            AlertOutcome::Failed
        }
        Err(e) => {
            p.log(&format!("alert {}: the webhook failed: {e}", kind.as_str()));
            AlertOutcome::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{FetchError, InResponse};
    use crate::platform::PutOptions;
    use crate::secret::Secret;
    use crate::settings::Settings;
    use crate::testing::{block_on, MemoryPlatform};

    const HOOK: &str = "https://hooks.example.com/T000/secret-path";

    fn config(webhook: Option<&str>) -> Config {
        Config::from_settings(Settings {
            alert_webhook_url: webhook.map(Secret::new),
            ..Settings::default()
        })
    }

    #[test]
    fn posts_the_event_as_json() {
        let p = MemoryPlatform::new();
        p.respond(|_| Ok(InResponse::new(200, "ok")));
        let outcome = block_on(alert(
            &p,
            &config(Some(HOOK)),
            AlertKind::NeedsReauth,
            "reconnect at /admin",
        ));
        assert_eq!(outcome, AlertOutcome::Sent);
        let sent = p.sent_to(HOOK);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].method, Method::Post);
        let body: serde_json::Value =
            serde_json::from_slice(sent[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(body["event"], "needs_reauth");
        assert_eq!(body["message"], "reconnect at /admin");
        assert_eq!(body["at"], "2026-01-01T00:00:00Z");
        // The webhook URL may itself be a secret: never logged.
        assert!(p.logs.borrow().iter().all(|l| !l.contains("secret-path")));
    }

    #[test]
    fn at_most_one_per_kind_every_six_hours() {
        let p = MemoryPlatform::new();
        p.respond(|_| Ok(InResponse::new(204, "")));
        let c = config(Some(HOOK));
        let send = |kind| block_on(alert(&p, &c, kind, "m"));
        assert_eq!(send(AlertKind::NeedsReauth), AlertOutcome::Sent);
        p.advance_ms(ALERT_INTERVAL_MS - 1);
        assert_eq!(send(AlertKind::NeedsReauth), AlertOutcome::RateLimited);
        assert_eq!(send(AlertKind::DeadLetter), AlertOutcome::Sent);
        p.advance_ms(1);
        assert_eq!(send(AlertKind::NeedsReauth), AlertOutcome::Sent);
        assert_eq!(p.sent_to(HOOK).len(), 3);
    }

    #[test]
    fn a_send_time_written_by_the_hand_written_code_is_read() {
        let p = MemoryPlatform::new();
        p.respond(|_| Ok(InResponse::new(204, "")));
        let key = format!("{}needs_reauth", kv_keys::ALERT_PREFIX);
        let stored = crate::fixtures::text("alert_state.txt");
        block_on(p.kv_put(&key, &stored, PutOptions::default())).unwrap();
        let c = config(Some(HOOK));
        let send = || block_on(alert(&p, &c, AlertKind::NeedsReauth, "m"));
        p.advance_ms(ALERT_INTERVAL_MS - 1);
        assert_eq!(send(), AlertOutcome::RateLimited);
        p.advance_ms(1);
        assert_eq!(send(), AlertOutcome::Sent);
        // Written again in the same form.
        let now = p.value(&key).unwrap();
        assert_eq!(now.len(), stored.len());
        assert_eq!(time::from_rfc3339(&now), Some(p.now_ms()));
    }

    #[test]
    fn a_failing_webhook_is_reported_not_raised_and_not_retried_at_once() {
        let p = MemoryPlatform::new();
        p.respond(|_| Err(FetchError::Network("refused".into())));
        let c = config(Some(HOOK));
        assert_eq!(
            block_on(alert(&p, &c, AlertKind::RefreshFailed, "m")),
            AlertOutcome::Failed
        );
        assert_eq!(
            block_on(alert(&p, &c, AlertKind::RefreshFailed, "m")),
            AlertOutcome::RateLimited
        );
        p.respond(|_| Ok(InResponse::new(500, "")));
        assert_eq!(
            block_on(alert(&p, &c, AlertKind::OutboxStuck, "m")),
            AlertOutcome::Failed
        );
    }

    #[test]
    fn without_a_webhook_only_logs() {
        let p = MemoryPlatform::new();
        assert_eq!(
            block_on(alert(
                &p,
                &config(None),
                AlertKind::DeadLetter,
                "a lead was refused"
            )),
            AlertOutcome::NoWebhook
        );
        assert!(p.requests.borrow().is_empty());
        assert!(p.logs.borrow().iter().any(|l| l.contains("dead_letter")));
    }
}
