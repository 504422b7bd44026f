//! Typed configuration, parsed once from [`Settings`]. What cannot be
//! parsed is kept as a problem to report (on `/admin/status`, `/admin` and
//! in errors), never a panic.

use crate::budget::Budget;
use crate::form::forms::Forms;
use crate::form::origin::AllowedOrigins;
use crate::secret::Secret;
use crate::settings::Settings;
use crate::store::seal::{KeyProblem, SealKey};

/// How the worker authenticates to Keap.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// `KEAP_API_KEY` is set: sent as `X-Keap-API-Key`, nothing refreshes.
    ApiKey(Secret),
    /// `KEAP_CLIENT_ID` and `KEAP_CLIENT_SECRET` are set.
    OAuth {
        client_id: String,
        client_secret: Secret,
    },
    /// Neither: nothing can be delivered yet; leads are queued.
    Unconfigured,
}

impl AuthMode {
    /// The name `/admin/status` uses.
    pub fn name(&self) -> &'static str {
        match self {
            AuthMode::ApiKey(_) => "api_key",
            AuthMode::OAuth { .. } => "oauth",
            AuthMode::Unconfigured => "unconfigured",
        }
    }

    pub fn from_settings(s: &Settings) -> AuthMode {
        if let Some(key) = s.keap_api_key.as_ref().filter(|k| !k.is_empty()) {
            return AuthMode::ApiKey(key.clone());
        }
        match (&s.keap_client_id, &s.keap_client_secret) {
            (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => AuthMode::OAuth {
                client_id: id.clone(),
                client_secret: secret.clone(),
            },
            _ => AuthMode::Unconfigured,
        }
    }
}

/// Everything the core needs to know about this deployment.
#[derive(Debug)]
pub struct Config {
    pub settings: Settings,
    pub auth: AuthMode,
    /// The sealing key, or why there is none usable.
    pub seal_key: Result<SealKey, KeyProblem>,
    pub origins: AllowedOrigins,
    /// Entries of `ALLOWED_ORIGINS` that are not origins (reported).
    pub origin_problems: Vec<String>,
    /// The `FORMS` var, or why it could not be read.
    pub forms: Result<Forms, String>,
    /// Each invocation's subrequest budget (`DRAIN_SUBREQUESTS`).
    pub budget: Budget,
}

impl Config {
    pub fn from_settings(settings: Settings) -> Config {
        let auth = AuthMode::from_settings(&settings);
        let seal_key = match settings.encryption_key.as_ref() {
            Some(k) if !k.is_empty() => SealKey::from_base64(k.expose()),
            _ => Err(KeyProblem::Missing),
        };
        let (origins, origin_problems) = AllowedOrigins::parse(settings.allowed_origins.as_deref());
        let forms = Forms::from_json(settings.forms.as_ref());
        let budget = Budget::parse(settings.drain_subrequests.as_deref());
        Config {
            budget,
            settings,
            auth,
            seal_key,
            origins,
            origin_problems,
            forms,
        }
    }
}
