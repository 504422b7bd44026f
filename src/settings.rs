//! The worker's configuration as raw values, exactly as named in the design
//! (secrets and `[vars]`). The shell fills this from `Env`; the core parses
//! it into typed configuration and reports what is wrong.

use crate::secret::Secret;

pub const DEFAULT_AUTHORIZE_URL: &str = "https://accounts.infusionsoft.com/app/oauth/authorize";
pub const DEFAULT_TOKEN_URL: &str = "https://api.infusionsoft.com/token";
pub const DEFAULT_API_URL: &str = "https://api.infusionsoft.com/crm/rest";
/// Cloudflare's DNS-over-HTTPS resolver, when `DOH_URL` is not set.
pub const DEFAULT_DOH_URL: &str = "https://cloudflare-dns.com/dns-query";
pub const DEFAULT_TURNSTILE_VERIFY_URL: &str =
    "https://challenges.cloudflare.com/turnstile/v0/siteverify";

/// Raw settings. Empty strings are treated as unset by the shell.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    // Secrets.
    pub keap_client_id: Option<String>,
    pub keap_client_secret: Option<Secret>,
    pub keap_api_key: Option<Secret>,
    pub admin_token: Option<Secret>,
    pub encryption_key: Option<Secret>,
    pub turnstile_secret: Option<Secret>,
    pub alert_webhook_url: Option<Secret>,
    // Vars.
    pub allowed_origins: Option<String>,
    /// The `FORMS` object var, as JSON.
    pub forms: Option<serde_json::Value>,
    pub keap_authorize_url: Option<String>,
    pub keap_token_url: Option<String>,
    pub keap_api_url: Option<String>,
    pub turnstile_verify_url: Option<String>,
    pub oauth_redirect_uri: Option<String>,
    /// The DNS-over-HTTPS resolver (JSON form) asked whether an address's
    /// domain takes mail.
    pub doh_url: Option<String>,
    /// `DRAIN_SUBREQUESTS`: outbound requests one invocation may make.
    pub drain_subrequests: Option<String>,
}

impl Settings {
    pub fn authorize_url(&self) -> &str {
        self.keap_authorize_url
            .as_deref()
            .unwrap_or(DEFAULT_AUTHORIZE_URL)
    }

    pub fn token_url(&self) -> &str {
        self.keap_token_url.as_deref().unwrap_or(DEFAULT_TOKEN_URL)
    }

    /// REST base without a trailing slash; v1 paths are appended.
    pub fn api_url(&self) -> &str {
        self.keap_api_url
            .as_deref()
            .unwrap_or(DEFAULT_API_URL)
            .trim_end_matches('/')
    }

    pub fn doh_url(&self) -> &str {
        self.doh_url.as_deref().unwrap_or(DEFAULT_DOH_URL)
    }

    pub fn turnstile_verify_url(&self) -> &str {
        self.turnstile_verify_url
            .as_deref()
            .unwrap_or(DEFAULT_TURNSTILE_VERIFY_URL)
    }
}
