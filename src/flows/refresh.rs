//! Keeping the OAuth connection alive: the scheduled run refreshes the
//! tokens before they expire, `/admin/refresh` refreshes on demand. The
//! form path never refreshes.
//!
//! Keap rotates the refresh token on every refresh and kills the old one at
//! once, so the new pair is stored the moment it arrives, and a refusal is
//! judged carefully: if the stored refresh token is no longer the one we
//! sent, another refresher won a race and the connection is fine; only if
//! it is still ours after a short wait is the grant taken as revoked.

use serde::Serialize;

use crate::alerts::{alert, AlertKind};
use crate::auth::oauth::{self, Client, TokenFailure};
use crate::auth::tokens::{
    self, AfterRefusal, TokenLoadError, TokenReading, TokenRecord, TokenState,
};
use crate::config::{AuthMode, Config};
use crate::http::{Incoming, Reply};
use crate::pages;
use crate::pages::outcomes::{self, Said};
use crate::platform::{Platform, StoreError};
use crate::store::seal::SealKey;
use crate::time;

/// Waits before re-reading the stored tokens after a refusal, so that a
/// concurrent refresher's write has time to land.
const REREAD_WAITS_MS: [u64; 2] = [750, 750];
/// Attempts at storing a new pair (the old refresh token is already dead).
const STORE_ATTEMPTS: u32 = 3;
/// Alert about passing failures once the access token is this close to expiry.
const ALERT_BEFORE_EXPIRY_MS: u64 = 2 * 3_600_000;

const RECONNECT: &str = "Open /admin and click \"Connect to Keap\" to authorize again; \
leads Keap cannot take meanwhile are queued, not lost.";

/// What a refresh run did, written in JSON in snake case (`not_due`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshOutcome {
    /// A new pair is stored.
    Refreshed,
    /// The access token is not close to expiry; Keap was not called.
    NotDue,
    /// Another refresh stored newer tokens first; the connection is fine.
    LostRace,
    /// Keap refused the refresh token: a person must reconnect.
    NeedsReauth,
    /// Keap or KV failed for now; the stored tokens are unchanged.
    Failed,
    /// OAuth is configured but nobody has connected yet.
    NotConnected,
    /// API-key mode: there is nothing to refresh.
    ApiKeyMode,
    /// No Keap credentials, or no usable `ENCRYPTION_KEY`.
    NotConfigured,
}

/// The result of a refresh run, as `/admin/refresh` shows it. Holds no
/// token or secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshReport {
    /// False when someone has something to fix or the run failed.
    pub ok: bool,
    pub outcome: RefreshOutcome,
    pub message: String,
    /// When the stored access token expires (RFC 3339), if one is stored.
    pub access_token_expires_at: Option<String>,
}

impl RefreshReport {
    fn new(
        outcome: RefreshOutcome,
        message: impl Into<String>,
        expires_at_ms: Option<u64>,
    ) -> Self {
        let ok = matches!(
            outcome,
            RefreshOutcome::Refreshed
                | RefreshOutcome::NotDue
                | RefreshOutcome::LostRace
                | RefreshOutcome::ApiKeyMode
        );
        RefreshReport {
            ok,
            outcome,
            message: message.into(),
            access_token_expires_at: expires_at_ms.map(time::to_rfc3339),
        }
    }

    /// The answer to `POST /admin/refresh`: the report as JSON for scripts
    /// (always 200; `ok` says how it went), or a short page for a person
    /// who pressed "Refresh now" on `/admin`.
    pub fn answer(&self) -> Said {
        // A struct of texts and booleans always serialises.
        let json = serde_json::to_value(self).unwrap_or_default();
        let expires_at = self.access_token_expires_at.as_deref();
        outcomes::refreshed(json, self.ok, &self.message, expires_at)
    }
}

/// The scheduled run: refreshes when the access token is due, expired or
/// rejected by Keap; never when fresh. When re-authorization is needed it
/// does not call Keap and only reminds (alerts are rate-limited).
pub async fn refresh_if_due<P: Platform>(p: &P, config: &Config) -> RefreshReport {
    run(p, config, Trigger::Schedule).await
}

/// `/admin/refresh`: always tries, even when the tokens are fresh or
/// marked for re-authorization (a person asked; if Keap now accepts the
/// refresh token, the connection is back).
pub async fn refresh_now<P: Platform>(p: &P, config: &Config) -> RefreshReport {
    run(p, config, Trigger::Person).await
}

/// `POST /admin/refresh` (the caller has checked admin authentication):
/// refreshes now and answers as the client asked ([`pages::answer`]).
pub async fn refresh_reply<P: Platform>(p: &P, config: &Config, request: &Incoming) -> Reply {
    pages::answer(request, &refresh_now(p, config).await.answer())
}

/// Who asked for the refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// The scheduled run: only when needed.
    Schedule,
    /// A person on `/admin`: always.
    Person,
}

async fn run<P: Platform>(p: &P, config: &Config, trigger: Trigger) -> RefreshReport {
    let Some(client) = Client::of(&config.auth) else {
        return match config.auth {
            AuthMode::ApiKey(_) => RefreshReport::new(
                RefreshOutcome::ApiKeyMode,
                "API-key mode (KEAP_API_KEY is set): there are no tokens to refresh.",
                None,
            ),
            _ => RefreshReport::new(
                RefreshOutcome::NotConfigured,
                "No Keap credentials are configured: set KEAP_CLIENT_ID and KEAP_CLIENT_SECRET \
                 (or KEAP_API_KEY). See /admin.",
                None,
            ),
        };
    };
    let key = match &config.seal_key {
        Ok(k) => k,
        Err(problem) => {
            return RefreshReport::new(RefreshOutcome::NotConfigured, problem.to_string(), None)
        }
    };
    let (record, state) = match tokens::read(p, key).await {
        Ok(TokenReading {
            record: Some(record),
            state,
        }) => (record, state),
        Ok(TokenReading { record: None, .. }) => {
            return RefreshReport::new(
                RefreshOutcome::NotConnected,
                "Not connected to Keap yet: open /admin and click \"Connect to Keap\".",
                None,
            )
        }
        Err(TokenLoadError::Store(e)) => {
            let message =
                format!("Could not read the stored tokens ({e}); will try again next run.");
            p.log(&format!("refresh: {message}"));
            return RefreshReport::new(RefreshOutcome::Failed, message, None);
        }
        Err(TokenLoadError::Unreadable(why)) => {
            let message = format!(
                "{why}. Set ENCRYPTION_KEY back to the key the tokens were sealed with, or \
                 connect again. {RECONNECT}"
            );
            p.log(&format!("refresh: {why}"));
            alert(p, config, AlertKind::NeedsReauth, &message).await;
            return RefreshReport::new(RefreshOutcome::NeedsReauth, message, None);
        }
    };
    match state {
        TokenState::NeedsReauth if trigger == Trigger::Schedule => {
            let message = needs_reauth_message(&record);
            alert(p, config, AlertKind::NeedsReauth, &message).await;
            RefreshReport::new(
                RefreshOutcome::NeedsReauth,
                message,
                Some(record.expires_at_ms),
            )
        }
        _ if trigger == Trigger::Schedule && !state.wants_refresh() => RefreshReport::new(
            RefreshOutcome::NotDue,
            "The access token is not due for refresh.",
            Some(record.expires_at_ms),
        ),
        _ => attempt(p, config, client, key, record).await,
    }
}

/// One call to Keap's token endpoint with the stored refresh token.
async fn attempt<P: Platform>(
    p: &P,
    config: &Config,
    client: Client<'_>,
    key: &SealKey,
    record: TokenRecord,
) -> RefreshReport {
    let request = oauth::refresh_request(&config.settings, client, &record.refresh_token);
    let answer = p.fetch(request).await;
    match oauth::read_token_answer(answer) {
        Ok(grant) => {
            let fresh = TokenRecord::from_grant(grant, p.now_ms(), record.tenant.clone());
            match store_new_pair(p, key, &fresh).await {
                Ok(()) => {
                    tokens::record_last_refresh(p, true, None).await;
                    let expires = time::to_rfc3339(fresh.expires_at_ms);
                    p.log(&format!(
                        "refresh: new tokens stored; the access token expires at {expires}"
                    ));
                    RefreshReport::new(
                        RefreshOutcome::Refreshed,
                        "New tokens stored.",
                        Some(fresh.expires_at_ms),
                    )
                }
                Err(e) => {
                    // Keap has already retired the old refresh token, so this
                    // most likely ends in re-authorization: say so now.
                    let message = format!(
                        "Keap issued new tokens but they could not be stored ({e}). \
                         If the next run reports that re-authorization is needed: {RECONNECT}"
                    );
                    p.log(&format!("refresh: {message}"));
                    tokens::record_last_refresh(p, false, Some(message.clone())).await;
                    alert(p, config, AlertKind::RefreshFailed, &message).await;
                    RefreshReport::new(RefreshOutcome::Failed, message, Some(record.expires_at_ms))
                }
            }
        }
        Err(refusal @ TokenFailure::Refused { .. }) => {
            judge_refusal(p, config, key, record, &refusal).await
        }
        Err(TokenFailure::Transient(why)) => {
            let message =
                format!("{why}; the stored tokens are kept and the next run tries again.");
            p.log(&format!("refresh: {message}"));
            tokens::record_last_refresh(p, false, Some(why.clone())).await;
            let left = record.expires_at_ms.saturating_sub(p.now_ms());
            if left <= ALERT_BEFORE_EXPIRY_MS {
                let warning = format!(
                    "Refreshing the Keap tokens keeps failing ({why}) and the access token \
                     expires at {}. Leads are queued until Keap can be reached.",
                    time::to_rfc3339(record.expires_at_ms)
                );
                alert(p, config, AlertKind::RefreshFailed, &warning).await;
            }
            RefreshReport::new(RefreshOutcome::Failed, message, Some(record.expires_at_ms))
        }
    }
}

/// Keap refused the refresh token we sent. A lost race, or revoked?
async fn judge_refusal<P: Platform>(
    p: &P,
    config: &Config,
    key: &SealKey,
    record: TokenRecord,
    refusal: &TokenFailure,
) -> RefreshReport {
    let used = &record.refresh_token;
    for wait in std::iter::once(0).chain(REREAD_WAITS_MS) {
        if wait > 0 {
            p.sleep_ms(wait).await;
        }
        let reread = match tokens::read(p, key).await {
            Ok(reading) => reading.record,
            Err(e) => {
                // Without a trustworthy re-read we cannot tell a race from a
                // revocation; marking re-authorization could be wrong.
                let why = match e {
                    TokenLoadError::Store(e) => e,
                    TokenLoadError::Unreadable(u) => StoreError(u.to_string()),
                };
                let message = format!(
                    "{refusal}, and the stored tokens could not be re-read ({why}); the next \
                     run checks again."
                );
                p.log(&format!("refresh: {message}"));
                tokens::record_last_refresh(p, false, Some(message.clone())).await;
                return RefreshReport::new(
                    RefreshOutcome::Failed,
                    message,
                    Some(record.expires_at_ms),
                );
            }
        };
        match tokens::after_refusal(used, reread.as_ref()) {
            AfterRefusal::LostRace => {
                p.log("refresh: another refresh stored newer tokens first; nothing lost");
                tokens::record_last_refresh(p, true, None).await;
                return RefreshReport::new(
                    RefreshOutcome::LostRace,
                    "Another refresh stored newer tokens first; the connection is fine.",
                    reread.map(|r| r.expires_at_ms),
                );
            }
            AfterRefusal::Gone => {
                return RefreshReport::new(
                    RefreshOutcome::NotConnected,
                    "The stored tokens were removed while refreshing: connect again at /admin.",
                    None,
                )
            }
            AfterRefusal::StillOurs => {}
        }
    }
    // Still the refresh token Keap refused: the grant is gone. The marker
    // names this refresh token, so a late winner's write still wins.
    if let Err(e) = tokens::write_reauth_marker(p, used).await {
        p.log(&format!(
            "refresh: could not record that re-authorization is needed: {e}"
        ));
    }
    let mut message = needs_reauth_message(&record);
    if let TokenFailure::Refused { status: 401, .. } = refusal {
        // 401 is how token endpoints refuse the client rather than the token.
        message.push_str(
            " (Keap answered HTTP 401, which usually means KEAP_CLIENT_ID or KEAP_CLIENT_SECRET \
             is wrong: if they were changed, fix them and use \"Refresh now\" on /admin.)",
        );
    }
    p.log(&format!("refresh: {refusal}; re-authorization needed"));
    tokens::record_last_refresh(
        p,
        false,
        Some(format!("{refusal}; re-authorization needed.")),
    )
    .await;
    alert(p, config, AlertKind::NeedsReauth, &message).await;
    RefreshReport::new(
        RefreshOutcome::NeedsReauth,
        message,
        Some(record.expires_at_ms),
    )
}

fn needs_reauth_message(record: &TokenRecord) -> String {
    let app = record
        .tenant
        .as_deref()
        .map(|t| format!(" (Keap app {t})"))
        .unwrap_or_default();
    format!("Keap no longer accepts the worker's authorization{app}. {RECONNECT}")
}

/// Stores a new pair, retrying a failed write a couple of times: it is the
/// only copy of the new refresh token.
async fn store_new_pair<P: Platform>(
    p: &P,
    key: &SealKey,
    record: &TokenRecord,
) -> Result<(), StoreError> {
    let mut last = StoreError("not attempted".into());
    for n in 0..STORE_ATTEMPTS {
        if n > 0 {
            p.sleep_ms(250).await;
        }
        match tokens::store(p, key, record).await {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}
