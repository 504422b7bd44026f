//! Reads the secrets and vars of the contract from the runtime's `Env`
//! into [`Settings`], once per isolate.

use std::cell::OnceCell;
use std::rc::Rc;

use worker::Env;

use crate::config::Config;
use crate::secret::Secret;
use crate::settings::Settings;

/// A text binding (secret or var), `None` when unset, blank or not text.
fn text(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .ok()
        .map(|v| v.to_string())
        .filter(|v| !v.trim().is_empty())
}

fn secret(env: &Env, name: &str) -> Option<Secret> {
    text(env, name).map(Secret::new)
}

/// `FORMS` is an object var (`[vars.FORMS.<id>]`); a JSON string (from
/// `--var` or a secret) is accepted too. Text that is not JSON is kept as
/// a string, for the configuration check to explain.
fn forms(env: &Env) -> Option<serde_json::Value> {
    match text(env, "FORMS") {
        Some(s) => Some(serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))),
        None => env.object_var::<serde_json::Value>("FORMS").ok(),
    }
}

pub fn settings(env: &Env) -> Settings {
    Settings {
        keap_client_id: text(env, "KEAP_CLIENT_ID"),
        keap_client_secret: secret(env, "KEAP_CLIENT_SECRET"),
        keap_api_key: secret(env, "KEAP_API_KEY"),
        admin_token: secret(env, "ADMIN_TOKEN"),
        encryption_key: secret(env, "ENCRYPTION_KEY"),
        turnstile_secret: secret(env, "TURNSTILE_SECRET"),
        alert_webhook_url: secret(env, "ALERT_WEBHOOK_URL"),
        allowed_origins: text(env, "ALLOWED_ORIGINS"),
        forms: forms(env),
        keap_authorize_url: text(env, "KEAP_AUTHORIZE_URL"),
        keap_token_url: text(env, "KEAP_TOKEN_URL"),
        keap_api_url: text(env, "KEAP_API_URL"),
        turnstile_verify_url: text(env, "TURNSTILE_VERIFY_URL"),
        oauth_redirect_uri: text(env, "OAUTH_REDIRECT_URI"),
        doh_url: text(env, "DOH_URL"),
        drain_subrequests: text(env, "DRAIN_SUBREQUESTS"),
    }
}

thread_local! {
    /// The parsed configuration of this isolate. Secrets and vars cannot
    /// change while an isolate lives (a new deployment starts new
    /// isolates), so they are read and parsed once, not per request.
    static CONFIG: OnceCell<Rc<Config>> = const { OnceCell::new() };
}

pub fn config(env: &Env) -> Rc<Config> {
    CONFIG.with(|cell| {
        cell.get_or_init(|| Rc::new(Config::from_settings(settings(env))))
            .clone()
    })
}
