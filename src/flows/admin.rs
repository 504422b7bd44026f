//! What the administrator sees: `/admin/status` (JSON for scripts and
//! monitoring) and `/admin` (a page a person understands at a glance).
//! Both are built from the same reading of the store, and neither ever
//! shows a token, key or secret.

use serde::Serialize;
use serde_json::{json, Value};

use super::pages::page;
use crate::auth::oauth;
use crate::auth::tokens::{self, LastRefresh, LoadError, TokenState};
use crate::config::{AuthMode, Config};
use crate::config_check;
use crate::html::escape;
use crate::http::Reply;
use crate::platform::Platform;
use crate::request_url::RequestUrl;
use crate::store::backlog::{self, Backlog};
use crate::store::outbox::{self, Queue};
use crate::store::seal::KeyProblem;
use crate::time;

/// How many leads wait in the outbox, and how many Keap refused for good.
pub use crate::store::outbox::Counts as OutboxCounts;

/// At most this many dead letters are listed on `/admin` (the count shows
/// them all).
pub const DEAD_LETTERS_SHOWN: u32 = 50;

/// A dead letter as the admin page lists it: no personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterSummary {
    pub id: String,
    /// When the lead arrived (RFC 3339).
    pub queued_at: String,
    /// Why Keap refused it, in words that hold no submitted value.
    pub reason: String,
}

/// A configuration problem and how to fix it, as `/admin/status` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The secret or var to look at.
    pub setting: &'static str,
    pub message: String,
    pub fix: String,
}

/// The connection as read from the store once.
struct Connection {
    state: Option<TokenState>,
    tenant: Option<String>,
    expires_at_ms: Option<u64>,
    last_refresh: Option<LastRefresh>,
    /// Why the stored tokens could not be read, if they could not.
    trouble: Option<String>,
}

impl Connection {
    fn connected(&self, auth: &AuthMode) -> bool {
        match auth {
            AuthMode::ApiKey(_) => true,
            AuthMode::Unconfigured => false,
            AuthMode::OAuth { .. } => matches!(
                self.state,
                Some(
                    TokenState::Fresh
                        | TokenState::Due
                        | TokenState::Expired
                        | TokenState::Rejected
                )
            ),
        }
    }

    fn needs_reauth(&self) -> bool {
        self.state == Some(TokenState::NeedsReauth)
    }
}

async fn read_connection<P: Platform>(p: &P, config: &Config) -> Connection {
    let mut c = Connection {
        state: None,
        tenant: None,
        expires_at_ms: None,
        last_refresh: None,
        trouble: None,
    };
    let (AuthMode::OAuth { .. }, Ok(key)) = (&config.auth, &config.seal_key) else {
        return c;
    };
    c.last_refresh = tokens::load_last_refresh(p).await;
    match tokens::load(p, key).await {
        Ok(record) => {
            let (rejected, reauth) = tokens::load_markers(p).await;
            c.state = Some(tokens::classify(
                record.as_ref(),
                rejected.as_deref(),
                reauth.as_ref(),
                p.now_ms(),
            ));
            if let Some(r) = record {
                c.tenant = r.tenant;
                c.expires_at_ms = Some(r.expires_at_ms);
            }
        }
        Err(LoadError::Unreadable(why)) => {
            // Tokens that cannot be opened are as good as none: reconnect.
            c.state = Some(TokenState::NeedsReauth);
            c.trouble = Some(why.to_string());
        }
        Err(LoadError::Store(e)) => c.trouble = Some(e.to_string()),
    }
    c
}

/// `GET /admin/status`.
pub async fn status<P: Platform>(p: &P, config: &Config, outbox: OutboxCounts) -> Value {
    let c = read_connection(p, config).await;
    json!({
        "auth_mode": config.auth.name(),
        "connected": c.connected(&config.auth),
        "needs_reauth": c.needs_reauth(),
        "tenant": c.tenant,
        "access_token_expires_at": c.expires_at_ms.map(time::to_rfc3339),
        "last_refresh": c.last_refresh,
        "outbox": outbox,
        "backlog": backlog(p).await.to_json(p.now_ms()),
        "drain_subrequests": config.budget.subrequests,
        "forms": form_ids(config),
        "form_checks": form_checks(p, config).await,
        "problems": problems(config, c.trouble.as_deref()),
    })
}

/// The latest check of each form whose ids have not changed since (see
/// [`crate::config_check`]); `{}` before any check.
async fn form_checks<P: Platform>(p: &P, config: &Config) -> Value {
    match (&config.forms, config_check::load(p).await) {
        (Ok(forms), Some(record)) => record.status_json(forms),
        _ => json!({}),
    }
}

fn form_ids(config: &Config) -> Vec<String> {
    config.forms.as_ref().map(|f| f.ids()).unwrap_or_default()
}

/// Everything misconfigured, each with its fix.
pub fn problems(config: &Config, token_trouble: Option<&str>) -> Vec<Problem> {
    let s = &config.settings;
    let mut out = Vec::new();
    if let Some(why) = &config.budget.problem {
        out.push(Problem {
            setting: "DRAIN_SUBREQUESTS",
            message: format!("{why}."),
            fix: "Set it in `[vars]` to your plan's subrequest limit (50 on Workers Free), or \
                  remove it."
                .into(),
        });
    }
    if let AuthMode::Unconfigured = config.auth {
        let has_id = s.keap_client_id.as_ref().is_some_and(|v| !v.is_empty());
        let has_secret = s.keap_client_secret.as_ref().is_some_and(|v| !v.is_empty());
        out.push(match (has_id, has_secret) {
            (true, false) => Problem {
                setting: "KEAP_CLIENT_SECRET",
                message: "KEAP_CLIENT_ID is set but KEAP_CLIENT_SECRET is not.".into(),
                fix: "Set the app's Secret from Keap's developer portal: \
                      `wrangler secret put KEAP_CLIENT_SECRET`."
                    .into(),
            },
            (false, true) => Problem {
                setting: "KEAP_CLIENT_ID",
                message: "KEAP_CLIENT_SECRET is set but KEAP_CLIENT_ID is not.".into(),
                fix: "Set the app's Key (client id) from Keap's developer portal: \
                      `wrangler secret put KEAP_CLIENT_ID`."
                    .into(),
            },
            _ => Problem {
                setting: "KEAP_API_KEY",
                message: "No way to reach Keap is configured; leads are queued until one is."
                    .into(),
                fix: "Either set a Personal Access Token or Service Account Key (Keap: Settings > \
                      API Settings) with `wrangler secret put KEAP_API_KEY`, or set \
                      KEAP_CLIENT_ID and KEAP_CLIENT_SECRET and connect on /admin."
                    .into(),
            },
        });
    }
    if let Err(problem) = &config.seal_key {
        out.push(Problem {
            setting: "ENCRYPTION_KEY",
            message: match problem {
                KeyProblem::Missing => {
                    "ENCRYPTION_KEY is not set: tokens and queued leads cannot be stored.".into()
                }
                KeyProblem::NotBase64 => "ENCRYPTION_KEY is not valid base64.".into(),
                KeyProblem::WrongLength(n) => {
                    format!("ENCRYPTION_KEY decodes to {n} bytes, not 32.")
                }
            },
            fix: "Generate one with `openssl rand -base64 32` and set it with \
                  `wrangler secret put ENCRYPTION_KEY` (locally: `.dev.vars`)."
                .into(),
        });
    }
    if let Some(trouble) = token_trouble {
        out.push(Problem {
            setting: "ENCRYPTION_KEY",
            message: trouble.to_string(),
            fix: "If ENCRYPTION_KEY was changed, set the previous key back; otherwise connect \
                  to Keap again on /admin."
                .into(),
        });
    }
    let origins_unset = s
        .allowed_origins
        .as_deref()
        .is_none_or(|o| o.trim().is_empty());
    if origins_unset {
        out.push(Problem {
            setting: "ALLOWED_ORIGINS",
            message: "No origin is allowed, so every form post is refused.".into(),
            fix: "List the site's exact origins, comma-separated, in `[vars]` of wrangler.toml: \
                  ALLOWED_ORIGINS = \"https://example.com,https://www.example.com\"."
                .into(),
        });
    }
    for entry in &config.origin_problems {
        out.push(Problem {
            setting: "ALLOWED_ORIGINS",
            message: entry.clone(),
            fix: "Write each origin as scheme and host only, like `https://example.com` \
                  (no path, no trailing slash, no wildcard)."
                .into(),
        });
    }
    match &config.forms {
        Err(why) => out.push(Problem {
            setting: "FORMS",
            message: why.clone(),
            fix: "Fix the `[vars.FORMS.<form id>]` tables in wrangler.toml (see the README)."
                .into(),
        }),
        Ok(forms) if forms.ids().is_empty() => out.push(Problem {
            setting: "FORMS",
            message: "No form is configured, so every post to /forms/{id} is refused.".into(),
            fix: "Add a `[vars.FORMS.contact]` table (with its `tags`) to wrangler.toml.".into(),
        }),
        Ok(_) => {}
    }
    out
}

/// `GET /admin`: the state of the worker, and what to do about it.
/// `request_url` is the page's own: the callback URL it tells the owner to
/// register is the one `/oauth/start` on the same host will send to Keap.
pub async fn admin_page<P: Platform>(
    p: &P,
    config: &Config,
    request_url: &RequestUrl,
    outbox: OutboxCounts,
    dead_letters: &[DeadLetterSummary],
) -> Reply {
    let c = read_connection(p, config).await;
    let mut body = String::new();

    body.push_str("<h2>Keap</h2>");
    let callback = oauth::redirect_uri(&config.settings, request_url);
    body.push_str(&connection_html(config, &c, &callback));

    body.push_str("<h2>Leads</h2>");
    body.push_str(&outbox_html(outbox, dead_letters));
    if outbox.pending > 0 {
        body.push_str(&backlog_html(&backlog(p).await, p.now_ms()));
    }

    let problems = problems(config, c.trouble.as_deref());
    if !problems.is_empty() {
        body.push_str("<h2 class=\"bad\">To fix</h2><ul>");
        for pr in &problems {
            body.push_str(&format!(
                "<li><strong>{}</strong>: {} {}</li>",
                escape(pr.setting),
                with_code(&pr.message),
                with_code(&pr.fix)
            ));
        }
        body.push_str("</ul>");
    }

    body.push_str(&super::setup::forms_section(p, config, request_url).await);
    page(200, "keap-form-worker", &body)
}

fn connection_html(config: &Config, c: &Connection, callback: &str) -> String {
    let mut h = String::new();
    match &config.auth {
        AuthMode::Unconfigured => {
            h.push_str(
                "<p class=\"bad\">Not configured: the worker has no way to reach Keap. New leads \
                 are kept in the outbox until it does (see below).</p>",
            );
            return h;
        }
        AuthMode::ApiKey(_) => {
            h.push_str(
                "<p class=\"ok\">Using an API key (<code>KEAP_API_KEY</code>). Nothing needs \
                 connecting or refreshing.</p>",
            );
            return h;
        }
        AuthMode::OAuth { .. } => {}
    }
    let connect_button = "<p><a class=\"button\" href=\"/oauth/start\">Connect to Keap</a></p>";
    if config.seal_key.is_err() {
        h.push_str(
            "<p class=\"bad\">Not connected: set <code>ENCRYPTION_KEY</code> first (see below), \
             then connect.</p>",
        );
        return h;
    }
    let app = c
        .tenant
        .as_deref()
        .map(|t| format!(" to the Keap app <strong>{}</strong>", escape(t)))
        .unwrap_or_default();
    match c.state {
        None => {
            h.push_str(
                "<p class=\"warn\">The connection state could not be read from the store just \
                 now. Reload the page in a moment.</p>",
            );
        }
        Some(TokenState::NotConnected) => {
            h.push_str(
                "<p class=\"bad\">Not connected yet. Click the button, sign in to Keap as a user \
                 of the app the leads should go to, and allow access. Leads sent before then are \
                 kept and delivered afterwards.</p>",
            );
            h.push_str(connect_button);
            h.push_str(&callback_hint(callback));
        }
        Some(TokenState::NeedsReauth) => {
            h.push_str(&format!(
                "<p class=\"bad\">Connection lost{app}: Keap no longer accepts the worker's \
                 authorization. Click the button to authorize again. New leads are kept in the \
                 outbox meanwhile.</p>"
            ));
            h.push_str(connect_button);
            h.push_str(
                "<p>If Keap refused the worker's client credentials instead (HTTP 401 below) and \
                 <code>KEAP_CLIENT_SECRET</code> has since been fixed, refreshing may be enough:</p>\
                 <form method=\"post\" action=\"/admin/refresh\"><button>Refresh now</button></form>",
            );
        }
        Some(state) => {
            h.push_str(&format!("<p class=\"ok\">Connected{app}.</p>"));
            let note = match state {
                TokenState::Rejected => " Keap refused it; the next scheduled run refreshes it.",
                TokenState::Expired => " It has expired; the next scheduled run refreshes it.",
                TokenState::Due => " The next scheduled run refreshes it.",
                _ => "",
            };
            if let Some(at) = c.expires_at_ms {
                h.push_str(&format!(
                    "<p>The access token expires at {}.{note}</p>",
                    time::to_rfc3339(at)
                ));
            }
            h.push_str(
                "<form method=\"post\" action=\"/admin/refresh\"><button>Refresh now</button></form>\
                 <p>To connect to another Keap app, <a href=\"/oauth/start\">connect again</a>.</p>",
            );
        }
    }
    match &c.last_refresh {
        Some(LastRefresh { at, ok: true, .. }) => {
            h.push_str(&format!("<p>Last refresh: {} (succeeded).</p>", escape(at)));
        }
        Some(LastRefresh {
            at,
            ok: false,
            error,
        }) => {
            h.push_str(&format!(
                "<p class=\"warn\">Last refresh: {} failed: {}</p>",
                escape(at),
                escape(error.as_deref().unwrap_or("no details"))
            ));
        }
        None => {}
    }
    h
}

/// Escapes text and shows its `backticked` spans as code.
fn with_code(text: &str) -> String {
    // With an odd number of backticks, the last one is unpaired: plain text.
    let paired = text.matches('`').count().is_multiple_of(2);
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        let inside = i % 2 == 1;
        if inside && paired {
            out.push_str(&format!("<code>{}</code>", escape(part)));
        } else {
            if inside {
                out.push('`');
            }
            out.push_str(&escape(part));
        }
    }
    out
}

/// The callback URL to register with Keap, for the connect step: the one
/// the connect button will send (`OAUTH_REDIRECT_URI`, or this host's).
fn callback_hint(callback: &str) -> String {
    format!(
        "<p>The app's callback URL in Keap's developer portal must be exactly \
         <code>{}</code>; otherwise Keap will not send you back here. (To use another \
         address, set <code>OAUTH_REDIRECT_URI</code>.)</p>",
        escape(callback)
    )
}

fn outbox_html(outbox: OutboxCounts, dead_letters: &[DeadLetterSummary]) -> String {
    let mut h = String::new();
    if outbox.pending == 0 {
        h.push_str("<p class=\"ok\">No leads waiting: every lead received has gone to Keap.</p>");
    } else {
        h.push_str(&format!(
            "<p class=\"warn\">{} lead(s) waiting in the outbox. They are delivered by the \
             scheduled run once Keap can be reached.</p>",
            outbox.pending
        ));
    }
    if outbox.dead > 0 {
        h.push_str(&format!(
            "<p class=\"bad\">{} lead(s) Keap refused (dead letters). They are kept; fix the \
             cause (usually a form's tag or custom field id) and deliver them again.</p>",
            outbox.dead
        ));
        if !dead_letters.is_empty() {
            h.push_str("<table><tr><th>Lead</th><th>Received</th><th>Why</th></tr>");
            for d in dead_letters {
                h.push_str(&format!(
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                    escape(&d.id),
                    escape(&d.queued_at),
                    escape(&d.reason)
                ));
            }
            h.push_str("</table>");
        }
    }
    if outbox.pending > 0 || outbox.dead > 0 {
        h.push_str(
            "<form method=\"post\" action=\"/admin/replay\"><button>Deliver now</button></form>",
        );
    }
    h
}

/// The waiting leads' figures; a KV failure shows as none (and is logged).
async fn backlog<P: Platform>(p: &P) -> Backlog {
    backlog::read(p).await.unwrap_or_else(|e| {
        p.log(&format!("admin: could not list the outbox: {e}"));
        Backlog::default()
    })
}

/// The oldest waiting lead's age and when the next try is due.
fn backlog_html(b: &Backlog, now_ms: u64) -> String {
    let age = b.oldest_age_s.map_or_else(String::new, |s| {
        format!("The oldest has waited {}. ", time_words(s))
    });
    let next = match b.next_attempt_in_s(now_ms) {
        Some(0) => {
            "The next try is due now (the next scheduled run, or the delivery queue).".into()
        }
        Some(s) => format!("The next try is due in {}.", time_words(s)),
        None => String::new(),
    };
    format!("<p>{}</p>", escape(&format!("{age}{next}")))
}

/// `95` → "1 min 35 s", `7300` → "2 h 1 min".
fn time_words(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs / 60 % 60),
    }
}

/// Outbox counts for the admin views; a KV failure shows as zero and is
/// logged (the page must still load to say what is wrong).
async fn outbox_counts<P: Platform>(p: &P) -> OutboxCounts {
    match outbox::counts(p).await {
        Ok(c) => c,
        Err(e) => {
            p.log(&format!("admin: could not count the outbox: {e}"));
            OutboxCounts::default()
        }
    }
}

/// The oldest dead letters, from one listing page: the time comes from the
/// id and the reason from the key's metadata, so no value is read (or
/// opened) and no personal data can show. A KV failure lists none.
async fn dead_letters<P: Platform>(p: &P) -> Vec<DeadLetterSummary> {
    match outbox::list(p, Queue::Dead, None, DEAD_LETTERS_SHOWN).await {
        Ok((listed, _)) => listed
            .into_iter()
            .map(|l| DeadLetterSummary {
                queued_at: l
                    .id
                    .queued_at_ms()
                    .map(time::to_rfc3339)
                    .unwrap_or_default(),
                reason: l.reason.unwrap_or_else(|| "not recorded".into()),
                id: l.id.as_str().to_string(),
            })
            .collect(),
        Err(e) => {
            p.log(&format!("admin: could not list the dead letters: {e}"));
            Vec::new()
        }
    }
}

/// `GET /admin/status` as an answer.
pub async fn status_reply<P: Platform>(p: &P, config: &Config) -> Reply {
    let counts = outbox_counts(p).await;
    Reply::json(200, &status(p, config, counts).await).with_header("Cache-Control", "no-store")
}

/// `GET /admin` as an answer.
pub async fn page_reply<P: Platform>(p: &P, config: &Config, request_url: &RequestUrl) -> Reply {
    let counts = outbox_counts(p).await;
    let dead = if counts.dead > 0 {
        dead_letters(p).await
    } else {
        Vec::new()
    };
    admin_page(p, config, request_url, counts, &dead)
        .await
        .with_header("Cache-Control", "no-store")
}

#[cfg(test)]
mod tests {
    use super::{backlog_html, time_words, with_code, Backlog};

    #[test]
    fn the_backlog_says_its_age_and_next_try_in_words() {
        let b = Backlog {
            waiting: 2,
            oldest_age_s: Some(7_300),
            next_attempt_at_ms: Some(95_000),
        };
        assert_eq!(
            backlog_html(&b, 0),
            "<p>The oldest has waited 2 h 1 min. The next try is due in 1 min 35 s.</p>"
        );
        assert!(backlog_html(&b, 100_000).contains("due now"));
        assert_eq!(time_words(42), "42 s");
    }

    #[test]
    fn backticks_become_code_and_everything_is_escaped() {
        assert_eq!(
            with_code("run `wrangler secret put <X>` now"),
            "run <code>wrangler secret put &lt;X&gt;</code> now"
        );
        assert_eq!(with_code("a ` b <c>"), "a ` b &lt;c&gt;");
        assert_eq!(with_code("plain"), "plain");
    }
}
