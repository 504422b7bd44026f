//! What the administrator sees, read once from the store: `/admin` (a
//! page) and `/admin/status` (JSON), both shown by
//! [`crate::pages::admin`].

use crate::auth::oauth;
use crate::auth::tokens::{self, TokenLoadError, TokenState};
use crate::config::{AuthMode, Config};
use crate::config_check;
use crate::http::Reply;
use crate::pages::admin::{AdminState, ConfigProblem, Connection, DeadLetterSummary, OutboxCounts};
use crate::pages::held::HeldShown;
use crate::pages::into_reply;
use crate::platform::Platform;
use crate::request_url::RequestUrl;
use crate::store::backlog::Backlog;
use crate::store::outbox::{self, Listed, Queue};
use crate::store::seal::KeyProblem;
use crate::time;

/// At most this many dead letters are listed on `/admin` (the count shows
/// them all).
pub const DEAD_LETTERS_SHOWN: usize = 50;

/// The OAuth connection, read once.
async fn read_connection<P: Platform>(p: &P, config: &Config) -> Connection {
    let mut c = Connection::default();
    let (AuthMode::OAuth { .. }, Ok(key)) = (&config.auth, &config.seal_key) else {
        return c;
    };
    c.last_refresh = tokens::load_last_refresh(p).await;
    match tokens::read(p, key).await {
        Ok(reading) => {
            c.state = Some(reading.state);
            if let Some(r) = reading.record {
                c.tenant = r.tenant;
                c.expires_at_ms = Some(r.expires_at_ms);
            }
        }
        Err(TokenLoadError::Unreadable(why)) => {
            // Tokens that cannot be opened are as good as none: reconnect.
            c.state = Some(TokenState::NeedsReauth);
            c.trouble = Some(why.to_string());
        }
        Err(TokenLoadError::Store(e)) => c.trouble = Some(e.to_string()),
    }
    c
}

/// The state `/admin` and `/admin/status` show; `dead_letters` only the
/// page lists. `request_url` is the page's own: the callback URL it tells
/// the owner to register is the one `/oauth/start` on the same host will
/// send to Keap.
pub async fn state<'a, P: Platform>(
    p: &P,
    config: &'a Config,
    request_url: &RequestUrl,
    outbox: OutboxCounts,
    dead_letters: Vec<DeadLetterSummary>,
    held: HeldShown,
    backlog: Option<Backlog>,
) -> AdminState<'a> {
    let connection = read_connection(p, config).await;
    let checks = match &config.forms {
        Ok(_) => config_check::load(p).await,
        Err(_) => None,
    };
    AdminState {
        config,
        problems: problems(config, connection.trouble.as_deref()),
        connection,
        outbox,
        dead_letters,
        held,
        backlog,
        now_ms: p.now_ms(),
        checks,
        callback: oauth::redirect_uri(&config.settings, request_url),
        worker_origin: request_url.parsed().origin().ascii_serialization(),
    }
}

/// Everything misconfigured, each with its fix.
pub fn problems(config: &Config, token_trouble: Option<&str>) -> Vec<ConfigProblem> {
    let s = &config.settings;
    let mut out = Vec::new();
    if let Some(why) = &config.budget.problem {
        out.push(ConfigProblem {
            setting: "DRAIN_SUBREQUESTS",
            message: format!("{why}."),
            fix: "Set it in `[vars]` to your plan's subrequest limit (50 on Workers Free), or \
                  remove it.",
        });
    }
    let mut add = |setting, message: String, fix| {
        out.push(ConfigProblem {
            setting,
            message,
            fix,
        })
    };
    if let AuthMode::Unconfigured = config.auth {
        let has_id = s.keap_client_id.as_ref().is_some_and(|v| !v.is_empty());
        let has_secret = s.keap_client_secret.as_ref().is_some_and(|v| !v.is_empty());
        match (has_id, has_secret) {
            (true, false) => add(
                "KEAP_CLIENT_SECRET",
                "KEAP_CLIENT_ID is set but KEAP_CLIENT_SECRET is not.".into(),
                "Set the app's Secret from Keap's developer portal: \
                 `wrangler secret put KEAP_CLIENT_SECRET`.",
            ),
            (false, true) => add(
                "KEAP_CLIENT_ID",
                "KEAP_CLIENT_SECRET is set but KEAP_CLIENT_ID is not.".into(),
                "Set the app's Key (client id) from Keap's developer portal: \
                 `wrangler secret put KEAP_CLIENT_ID`.",
            ),
            _ => add(
                "KEAP_API_KEY",
                "No way to reach Keap is configured; leads are queued until one is.".into(),
                "Either set a Personal Access Token or Service Account Key (Keap: Settings > \
                 API Settings) with `wrangler secret put KEAP_API_KEY`, or set \
                 KEAP_CLIENT_ID and KEAP_CLIENT_SECRET and connect on /admin.",
            ),
        }
    }
    if let Err(problem) = &config.seal_key {
        let message = match problem {
            KeyProblem::Missing => {
                "ENCRYPTION_KEY is not set: tokens and queued leads cannot be stored.".into()
            }
            KeyProblem::NotBase64 => "ENCRYPTION_KEY is not valid base64.".into(),
            KeyProblem::WrongLength(n) => format!("ENCRYPTION_KEY decodes to {n} bytes, not 32."),
        };
        let fix = "Generate one with `openssl rand -base64 32` and set it with \
                   `wrangler secret put ENCRYPTION_KEY` (locally: `.dev.vars`).";
        add("ENCRYPTION_KEY", message, fix);
    }
    if let Some(trouble) = token_trouble {
        let fix = "If ENCRYPTION_KEY was changed, set the previous key back; otherwise connect \
                   to Keap again on /admin.";
        add("ENCRYPTION_KEY", trouble.to_string(), fix);
    }
    if s.allowed_origins
        .as_deref()
        .is_none_or(|o| o.trim().is_empty())
    {
        add(
            "ALLOWED_ORIGINS",
            "No origin is allowed, so every form post is refused.".into(),
            "List the site's exact origins, comma-separated, in `[vars]` of wrangler.toml: \
             ALLOWED_ORIGINS = \"https://example.com,https://www.example.com\".",
        );
    }
    for entry in &config.origin_problems {
        let fix = "Write each origin as scheme and host only, like `https://example.com` \
                   (no path, no trailing slash, no wildcard).";
        add("ALLOWED_ORIGINS", entry.clone(), fix);
    }
    match &config.forms {
        Err(why) => add(
            "FORMS",
            why.clone(),
            "Fix the `[vars.FORMS.<form id>]` tables in wrangler.toml (see the README).",
        ),
        Ok(forms) if forms.ids().is_empty() => add(
            "FORMS",
            "No form is configured, so every post to /forms/{id} is refused.".into(),
            "Add a `[vars.FORMS.contact]` table (with its `tags`) to wrangler.toml.",
        ),
        Ok(_) => {}
    }
    out
}

/// Every entry of `queue` as listed; a KV failure lists none and is
/// logged (the page must still load to say what is wrong).
async fn listed<P: Platform>(p: &P, queue: Queue) -> Vec<Listed> {
    outbox::list_all(p, queue).await.unwrap_or_else(|e| {
        p.log(&format!("admin: could not list the outbox: {e}"));
        Vec::new()
    })
}

/// A dead letter as the page lists it: the time comes from the id and the
/// reason from the key's metadata, so no value is opened and no personal
/// data can show.
fn dead_letter(l: Listed) -> DeadLetterSummary {
    DeadLetterSummary {
        queued_at: l
            .id
            .queued_at_ms()
            .map(time::to_rfc3339)
            .unwrap_or_default(),
        reason: l.reason.unwrap_or_else(|| "not recorded".into()),
        id: l.id.as_str().to_string(),
    }
}

/// `GET /admin` (`json` false: the page, which lists the dead letters)
/// and `GET /admin/status` (`json` true). Each list is listed once, for
/// its count, the backlog's figures and the dead letters shown.
pub async fn reply<P: Platform>(
    p: &P,
    config: &Config,
    request_url: &RequestUrl,
    json: bool,
) -> Reply {
    let (pending, dead) = (
        listed(p, Queue::Pending).await,
        listed(p, Queue::Dead).await,
    );
    let counts = OutboxCounts::of(&pending, &dead);
    let held = super::held::shown(p, config, json).await;
    // The page says when the waiting leads go out; the JSON always has it.
    let backlog = (json || counts.pending > 0).then(|| Backlog::of(&pending, p.now_ms()));
    let dead = match json {
        true => Vec::new(),
        false => dead
            .into_iter()
            .take(DEAD_LETTERS_SHOWN)
            .map(dead_letter)
            .collect(),
    };
    into_reply(
        &state(p, config, request_url, counts, dead, held, backlog).await,
        json,
    )
}
