//! Connecting the worker to a Keap app, once, in a browser:
//! `/oauth/start` sends the administrator to Keap's consent screen, and
//! Keap sends them back to `/oauth/callback`, where the code becomes
//! tokens, sealed into KV.
//!
//! Every failure answers with a page that says what happened and what to
//! do next; no page ever shows a token, code or secret.

use serde::{Deserialize, Serialize};

use super::after_reply::{AfterReply, Routed};
use crate::auth::oauth::{self, Client, TokenFailure};
use crate::auth::tokens::{self, TokenRecord};
use crate::config::{AuthMode, Config};
use crate::http::{Incoming, Reply};
use crate::pages::layout::{escape, page, page_back};
use crate::platform::{metered::Metered, Platform, PutOptions};
use crate::store::kv_keys;
use crate::store::seal::SealKey;

/// How long an authorization may take, from start to callback.
pub const STATE_TTL_SECS: u64 = 600;

/// What `/oauth/start` remembers about one authorization, under its state.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct PendingAuthorization {
    /// Sent again in the code exchange, which must repeat it exactly.
    redirect_uri: String,
    created_at_ms: u64,
}

/// `GET /oauth/start` (the caller has checked admin authentication).
pub async fn oauth_start<P: Platform>(p: &P, config: &Config, request: &Incoming) -> Reply {
    let (client, _key) = match ready(config) {
        Ok(ready) => ready,
        Err(reply) => return reply,
    };
    let Some(state) = oauth::new_state() else {
        return page(
            500,
            "Could not start the authorization",
            "<p>The worker's random number source failed, so no safe authorization link could be \
             made. Nothing was changed. Try again in a moment.</p>",
        );
    };
    let redirect_uri = oauth::redirect_uri(&config.settings, &request.url);
    let pending = PendingAuthorization {
        redirect_uri: redirect_uri.clone(),
        created_at_ms: p.now_ms(),
    };
    let stored = p
        .kv_put(
            &state_key(&state),
            &serde_json::to_string(&pending).unwrap_or_default(),
            PutOptions {
                ttl_secs: Some(STATE_TTL_SECS),
                metadata: None,
            },
        )
        .await;
    if let Err(e) = stored {
        p.log(&format!("oauth start: could not store the state: {e}"));
        return page(
            503,
            "Could not start the authorization",
            "<p>The worker could not write to its KV store (the <code>STORE</code> binding), so \
             the authorization could not be started. Check that <code>STORE</code> is bound in \
             <code>wrangler.toml</code>, then try again.</p>",
        );
    }
    let location = oauth::authorize_url(&config.settings, client.id, &redirect_uri, &state);
    Reply::redirect(302, &location).with_header("Cache-Control", "no-store")
}

/// `GET /oauth/callback`: where Keap sends the browser back. Once the
/// new tokens are stored, the answer comes with
/// [`AfterReply::Connected`]: the forms' ids are checked against the app
/// and the leads that waited for the connection go out right after it,
/// not at the next scheduled run.
pub async fn oauth_callback<P: Platform>(p: &P, config: &Config, request: &Incoming) -> Routed {
    let metered = Metered::new(p);
    let reply = match callback(&metered, config, request).await {
        Ok(reply) => reply,
        Err(reply) => return Routed::only(reply),
    };
    let subrequests_used = metered.fetches();
    Routed::then(reply, AfterReply::Connected { subrequests_used })
}

/// The callback's work: `Ok` with the answer once connected, `Err` with
/// the page that says why not.
async fn callback<P: Platform>(p: &P, config: &Config, request: &Incoming) -> Result<Reply, Reply> {
    if let Some(error) = request.query("error") {
        // The state, if any, is spent either way.
        if let Some(state) = request.query("state") {
            let _ = p.kv_delete(&state_key(&state)).await;
        }
        return Err(keap_said_no(&error));
    }
    let (client, key) = ready(config)?;
    let (Some(code), Some(state)) = (
        request.query("code").filter(|c| !c.is_empty()),
        request.query("state").filter(|s| !s.is_empty()),
    ) else {
        return Err(page_back(
            400,
            "This is not a complete Keap answer",
            "<p>The callback address was opened without the <code>code</code> and \
                 <code>state</code> Keap adds. It is only meant to be reached from Keap's \
                 consent screen. To connect, use the button on the admin page.</p>",
        ));
    };
    let pending = take_state(p, &state).await?;
    let answer = p
        .fetch(oauth::exchange_request(
            &config.settings,
            client,
            &code,
            &pending.redirect_uri,
        ))
        .await;
    let grant = match oauth::read_token_answer(answer) {
        Ok(grant) => grant,
        Err(failure) => {
            p.log(&format!("oauth callback: code exchange failed: {failure}"));
            return Err(exchange_failed(&failure, &pending.redirect_uri));
        }
    };
    let record = TokenRecord::from_grant(grant, p.now_ms(), None);
    if let Err(e) = tokens::store(p, key, &record).await {
        p.log(&format!("oauth callback: could not store the tokens: {e}"));
        return Err(page_back(
            503,
            "Keap said yes, but the tokens could not be saved",
            "<p>The worker could not write to its KV store (the <code>STORE</code> binding), \
                 so the connection was not saved. Check the binding, then connect again.</p>\
                 ",
        ));
    }
    // Markers about older tokens are stale already; removing them keeps the
    // store tidy and makes the fresh start obvious.
    for marker in [kv_keys::REAUTH, kv_keys::REJECTED] {
        if let Err(e) = p.kv_delete(marker).await {
            p.log(&format!("oauth callback: could not clear {marker}: {e}"));
        }
    }
    let tenant = record.tenant.as_deref().unwrap_or("unknown app");
    p.log(&format!("oauth callback: connected to Keap ({tenant})"));
    Ok(Reply::redirect(303, "/admin").with_header("Cache-Control", "no-store"))
}

/// The OAuth client and sealing key, or the page explaining why the
/// worker is not set up for OAuth.
fn ready(config: &Config) -> Result<(Client<'_>, &SealKey), Reply> {
    let client = match &config.auth {
        AuthMode::ApiKey(_) => {
            return Err(page_back(
                200,
                "OAuth is not in use",
                "<p>This worker is in API-key mode: <code>KEAP_API_KEY</code> is set, and every \
                     call to Keap carries that key. There is nothing to connect and nothing to \
                     refresh, and that is fine.</p>\
                     <p>To use OAuth instead (a user's consent, tokens refreshed automatically), \
                     remove the key with <code>wrangler secret delete KEAP_API_KEY</code> and set \
                     <code>KEAP_CLIENT_ID</code> and <code>KEAP_CLIENT_SECRET</code>.</p>",
            ))
        }
        AuthMode::Unconfigured => {
            return Err(page_back(
                503,
                "Keap access is not configured",
                "<p>To connect with OAuth, set the developer app's keys (from Keap's developer \
                     portal, the app's <em>Key</em> and <em>Secret</em>):</p>\
                     <p><code>wrangler secret put KEAP_CLIENT_ID</code><br>\
                     <code>wrangler secret put KEAP_CLIENT_SECRET</code></p>\
                     <p>(Locally, put them in <code>.dev.vars</code>.) Or, for one site writing into \
                     its own Keap app, set a Personal Access Token or Service Account Key with \
                     <code>wrangler secret put KEAP_API_KEY</code> and skip OAuth entirely.</p>\
                     ",
            ))
        }
        auth => Client::of(auth),
    };
    let Some(client) = client else {
        return Err(page_back(503, "Keap access is not configured", ""));
    };
    match &config.seal_key {
        Ok(key) => Ok((client, key)),
        Err(problem) => Err(page_back(
            503,
            "ENCRYPTION_KEY is needed first",
            &format!(
                "<p>The worker keeps Keap's tokens sealed with <code>ENCRYPTION_KEY</code> and \
                 refuses to store them without it. {}.</p><p>Then start again from the admin page.</p>\
                 ",
                escape(&problem.to_string())
            ),
        )),
    }
}

/// Reads and deletes the state: single use, so a replayed callback URL
/// never reaches the token endpoint. Deleted before the code exchange.
async fn take_state<P: Platform>(p: &P, state: &str) -> Result<PendingAuthorization, Reply> {
    let looks_like_ours = state.len() <= 64
        && state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !looks_like_ours {
        return Err(unknown_state());
    }
    let key = state_key(state);
    let stored = match p.kv_get(&key).await {
        Ok(stored) => stored,
        Err(e) => {
            p.log(&format!("oauth callback: could not read the state: {e}"));
            return Err(store_unavailable());
        }
    };
    let pending = stored.and_then(|s| serde_json::from_str::<PendingAuthorization>(&s).ok());
    let Some(pending) = pending else {
        return Err(unknown_state());
    };
    if let Err(e) = p.kv_delete(&key).await {
        p.log(&format!("oauth callback: could not delete the state: {e}"));
        return Err(store_unavailable());
    }
    if p.now_ms().saturating_sub(pending.created_at_ms) > STATE_TTL_SECS * 1000 {
        return Err(page_back(
            400,
            "This authorization link has expired",
            "<p>More than 10 minutes passed between starting the authorization and Keap's \
                 answer, so it was not completed. Nothing was changed.</p><p>Start again with \
                 \"Connect to Keap\" on the admin page.</p>",
        ));
    }
    Ok(pending)
}

fn unknown_state() -> Reply {
    page_back(
        400,
        "This authorization link is not valid",
        "<p>The <code>state</code> in this link is unknown: it was already used, it expired \
             (a link lasts 10 minutes), or the authorization was not started from this worker. \
             Nothing was changed.</p><p>Start again with \"Connect to Keap\" on the admin \
             page.</p>",
    )
}

fn store_unavailable() -> Reply {
    page_back(
        503,
        "The worker's store is unavailable",
        "<p>The worker could not use its KV store (the <code>STORE</code> binding), so the \
             authorization could not be checked. Nothing was changed. Try again in a moment.</p>\
             ",
    )
}

/// Keap redirected back with `error=...` instead of a code.
fn keap_said_no(error: &str) -> Reply {
    match error {
        "access_denied" => page_back(
            403,
            "Keap did not grant access",
            "<p>Keap answered <code>access_denied</code>. Either \"Deny\" was chosen on Keap's \
                 consent screen, or the Keap login used has no Keap app attached to it: a login \
                 that only has a developer account (or no Keap app) also ends here. Sign in as a \
                 user of the Keap app the leads should go to, then allow access.</p>\
                 <p>Nothing was changed. Start again with \"Connect to Keap\" on the admin page.</p>\
                 ",
        ),
        "server_error" => page_back(
            400,
            "Keap could not start the authorization",
            "<p>Keap answered <code>server_error</code>. This usually means the worker sent \
                 the wrong client id: <code>KEAP_CLIENT_ID</code> must be the app's <em>Key</em> \
                 (client id) from Keap's developer portal, not the app's id or name. Fix it with \
                 <code>wrangler secret put KEAP_CLIENT_ID</code> and connect again. If it is \
                 right, Keap may be having trouble: try again later.</p>",
        ),
        other => {
            let code = oauth::error_code(other.to_string())
                .map(|code| format!(" <code>{}</code>", escape(&code)))
                .unwrap_or_default();
            page_back(
                400,
                "Keap did not complete the authorization",
                &format!(
                    "<p>Keap answered with an error{code} instead of an authorization code. \
                     Nothing was changed. Check <code>KEAP_CLIENT_ID</code> and the callback URL \
                     registered for the app, then start again from the admin page.</p>"
                ),
            )
        }
    }
}

/// The code exchange failed: say which setting to check.
fn exchange_failed(failure: &TokenFailure, redirect_uri: &str) -> Reply {
    match failure {
        TokenFailure::Refused { status, error } => {
            let code = error
                .as_deref()
                .map(|e| format!(", <code>{}</code>", escape(e)))
                .unwrap_or_default();
            let bad_client = *status == 401 || error.as_deref() == Some("invalid_client");
            let advice = if bad_client {
                "<p>Keap did not accept the worker's client credentials. Check that \
                 <code>KEAP_CLIENT_ID</code> and <code>KEAP_CLIENT_SECRET</code> are the app's \
                 <em>Key</em> and <em>Secret</em> from Keap's developer portal (set them with \
                 <code>wrangler secret put KEAP_CLIENT_SECRET</code>), then connect again.</p>"
                    .to_string()
            } else {
                format!(
                    "<p>Keap did not accept the authorization code. Most often the callback URL \
                     registered for the app in Keap's developer portal differs from the one this \
                     worker used:</p><p><code>{}</code></p><p>Register exactly this URL (or set \
                     <code>OAUTH_REDIRECT_URI</code> to the registered one). A code is also \
                     refused when it was already used or is more than a few minutes old. Then \
                     connect again.</p>",
                    escape(redirect_uri)
                )
            };
            page_back(
                400,
                "Keap refused the authorization code",
                &format!("<p>Keap's token endpoint answered HTTP {status}{code}. No tokens were stored.</p>{advice}"),
            )
        }
        TokenFailure::Transient(why) => page_back(
            502,
            "Keap could not be reached",
            &format!(
                "<p>{}. No tokens were stored. Try again in a few minutes with \"Connect to Keap\" \
                 on the admin page.</p>",
                escape(why)
            ),
        ),
    }
}

fn state_key(state: &str) -> String {
    format!("{}{state}", kv_keys::OAUTH_STATE_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_authorization_written_by_the_hand_written_code_is_read() {
        let read: PendingAuthorization = crate::fixtures::record("pending_authorization.json");
        assert_eq!(
            read,
            PendingAuthorization {
                redirect_uri: "https://forms.example.com/oauth/callback".into(),
                created_at_ms: 1_767_225_600_000,
            }
        );
        assert!(serde_json::from_str::<PendingAuthorization>(r#"{"redirect_uri":"x"}"#).is_err());
    }
}
