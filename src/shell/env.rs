//! Reads the design's secrets and vars from the runtime's `env` into
//! [`Settings`].

use std::rc::Rc;

use wasm_bindgen::JsValue;

use super::runtime;
use crate::config::Config;
use crate::secret::Secret;
use crate::settings::Settings;

/// A text binding (secret or var), `None` when unset or blank. An object
/// var comes as its JSON text.
fn text(env: &JsValue, name: &str) -> Option<String> {
    runtime::env_text(env, name).filter(|v| !v.trim().is_empty())
}

fn secret(env: &JsValue, name: &str) -> Option<Secret> {
    text(env, name).map(Secret::new)
}

/// `FORMS` is an object var (which arrives as JSON text); a JSON string
/// (from `--var` or a secret) is accepted too. Text that is not JSON is
/// kept as a string, for the configuration check to explain.
fn forms(env: &JsValue) -> Option<serde_json::Value> {
    let s = text(env, "FORMS")?;
    Some(serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)))
}

pub fn settings(env: &JsValue) -> Settings {
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
    }
}

thread_local! {
    /// The parsed configuration of this isolate. Secrets and vars cannot
    /// change while an isolate lives (a new deployment starts new
    /// isolates), so they are read and parsed once, not per request.
    static CONFIG: std::cell::OnceCell<Rc<Config>> = const { std::cell::OnceCell::new() };
}

pub fn config(env: &JsValue) -> Rc<Config> {
    CONFIG.with(|cell| {
        cell.get_or_init(|| Rc::new(Config::from_settings(settings(env))))
            .clone()
    })
}
