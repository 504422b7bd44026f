//! `/admin` (a page a person understands at a glance) and its JSON twin
//! `/admin/status` (for scripts and monitoring): one reading of the store,
//! shown two ways. Neither ever shows a token, key or secret.

use super::held::HeldShown;
use crate::store::backlog::Backlog;
use serde::Serialize;
use serde_json::{json, Value};

use super::form_setup::forms_section;
use super::layout::escape;
use super::{AdminView, Page};
use crate::auth::tokens::{LastRefresh, TokenState};
use crate::config::{AuthMode, Config};
use crate::config_check::CheckRecord;
use crate::time;

/// How many leads wait in the outbox, and how many Keap refused for good.
pub use crate::store::outbox::Counts as OutboxCounts;

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
pub struct ConfigProblem {
    /// The secret or var to look at.
    pub setting: &'static str,
    pub message: String,
    pub fix: &'static str,
}

/// The OAuth connection as read from the store once (all `None` in the
/// other modes).
#[derive(Debug, Default)]
pub struct Connection {
    pub state: Option<TokenState>,
    pub tenant: Option<String>,
    pub expires_at_ms: Option<u64>,
    pub last_refresh: Option<LastRefresh>,
    /// Why the stored tokens could not be read, if they could not.
    pub trouble: Option<String>,
}

impl Connection {
    fn connected(&self, auth: &AuthMode) -> bool {
        match auth {
            AuthMode::ApiKey(_) => true,
            AuthMode::Unconfigured => false,
            // Expired or rejected tokens are still a connection: the
            // refresher renews them.
            AuthMode::OAuth { .. } => self
                .state
                .is_some_and(|s| !matches!(s, TokenState::NotConnected | TokenState::NeedsReauth)),
        }
    }
}

/// The state of the worker, and what to do about it.
pub struct AdminState<'a> {
    pub config: &'a Config,
    pub connection: Connection,
    pub outbox: OutboxCounts,
    /// The oldest dead letters (the page lists them; the JSON counts them).
    pub dead_letters: Vec<DeadLetterSummary>,
    /// The held posts: listed for the page, counted for the JSON.
    pub held: HeldShown,
    /// The waiting leads' figures: always for the JSON, for the page when
    /// leads wait.
    pub backlog: Option<Backlog>,
    /// Now, for the backlog's ages.
    pub now_ms: u64,
    pub problems: Vec<ConfigProblem>,
    /// The latest check of the forms, as stored.
    pub checks: Option<CheckRecord>,
    /// The callback URL to register with Keap: the one the connect button
    /// will send (`OAUTH_REDIRECT_URI`, or this host's).
    pub callback: String,
    /// Where the forms' HTML posts to: this worker.
    pub worker_origin: String,
}

impl AdminView for AdminState<'_> {
    fn json(&self) -> Value {
        let c = &self.connection;
        let forms = self.config.forms.as_ref().ok();
        json!({
            "auth_mode": self.config.auth.name(),
            "connected": c.connected(&self.config.auth),
            "needs_reauth": c.state == Some(TokenState::NeedsReauth),
            "tenant": c.tenant,
            "access_token_expires_at": c.expires_at_ms.map(time::to_rfc3339),
            "last_refresh": c.last_refresh,
            "outbox": self.outbox,
            "held": self.held.json(),
            "backlog": self.backlog.unwrap_or_default().to_json(self.now_ms),
            "drain_subrequests": self.config.budget.subrequests,
            "forms": forms.map(|f| f.ids()).unwrap_or_default(),
            "form_checks": match (forms, &self.checks) {
                (Some(forms), Some(record)) => record.status_json(forms),
                _ => json!({}),
            },
            "problems": self.problems,
        })
    }

    fn page(&self) -> Page {
        let mut body = String::from("<h2>Keap</h2>");
        body.push_str(&connection_html(
            self.config,
            &self.connection,
            &self.callback,
        ));
        body.push_str("<h2>Leads</h2>");
        body.push_str(&outbox_html(self.outbox, &self.dead_letters));
        if let Some(backlog) = self.backlog.as_ref().filter(|_| self.outbox.pending > 0) {
            body.push_str(&backlog_html(backlog, self.now_ms));
        }
        body.push_str(&self.held.html());
        if !self.problems.is_empty() {
            body.push_str("<h2 class=\"bad\">To fix</h2><ul>");
            for pr in &self.problems {
                body.push_str(&format!(
                    "<li><strong>{}</strong>: {} {}</li>",
                    escape(pr.setting),
                    with_code(&pr.message),
                    with_code(pr.fix)
                ));
            }
            body.push_str("</ul>");
        }
        if let Ok(forms) = &self.config.forms {
            body.push_str(&forms_section(
                forms,
                self.checks.as_ref(),
                &self.worker_origin,
            ));
        }
        Page {
            title: "keap-form-worker",
            body,
        }
    }
}

fn connection_html(config: &Config, c: &Connection, callback: &str) -> String {
    let unusable = match &config.auth {
        AuthMode::Unconfigured => {
            "<p class=\"bad\">Not configured: the worker has no way to \
            reach Keap. New leads are kept in the outbox until it does (see below).</p>"
        }
        AuthMode::ApiKey(_) => {
            "<p class=\"ok\">Using an API key (<code>KEAP_API_KEY</code>). \
            Nothing needs connecting or refreshing.</p>"
        }
        AuthMode::OAuth { .. } if config.seal_key.is_err() => {
            "<p class=\"bad\">Not connected: \
            set <code>ENCRYPTION_KEY</code> first (see below), then connect.</p>"
        }
        AuthMode::OAuth { .. } => "",
    };
    if !unusable.is_empty() {
        return unusable.into();
    }
    let connect_button = "<p><a class=\"button\" href=\"/oauth/start\">Connect to Keap</a></p>";
    let refresh_button =
        "<form method=\"post\" action=\"/admin/refresh\"><button>Refresh now</button></form>";
    let app = c
        .tenant
        .as_deref()
        .map(|t| format!(" to the Keap app <strong>{}</strong>", escape(t)))
        .unwrap_or_default();
    let mut h = String::new();
    match c.state {
        None => h.push_str(
            "<p class=\"warn\">The connection state could not be read from the store just \
             now. Reload the page in a moment.</p>",
        ),
        Some(TokenState::NotConnected) => {
            h.push_str(
                "<p class=\"bad\">Not connected yet. Click the button, sign in to Keap as a user \
                 of the app the leads should go to, and allow access. Leads sent before then are \
                 kept and delivered afterwards.</p>",
            );
            h.push_str(connect_button);
            h.push_str(&format!(
                "<p>The app's callback URL in Keap's developer portal must be exactly \
                 <code>{}</code>; otherwise Keap will not send you back here. (To use another \
                 address, set <code>OAUTH_REDIRECT_URI</code>.)</p>",
                escape(callback)
            ));
        }
        Some(TokenState::NeedsReauth) => {
            h.push_str(&format!(
                "<p class=\"bad\">Connection lost{app}: Keap no longer accepts the worker's \
                 authorization. Click the button to authorize again. New leads are kept in the \
                 outbox meanwhile.</p>{connect_button}\
                 <p>If Keap refused the worker's client credentials instead (HTTP 401 below) and \
                 <code>KEAP_CLIENT_SECRET</code> has since been fixed, refreshing may be \
                 enough:</p>{refresh_button}"
            ));
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
            h.push_str(&format!(
                "{refresh_button}<p>To connect to another Keap app, \
                 <a href=\"/oauth/start\">connect again</a>.</p>"
            ));
        }
    }
    match &c.last_refresh {
        Some(LastRefresh { at, ok: true, .. }) => {
            h.push_str(&format!("<p>Last refresh: {} (succeeded).</p>", escape(at)));
        }
        Some(LastRefresh { at, error, .. }) => {
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
