//! How a Keap call is authenticated right now, read with at most one KV
//! read so the form path stays cheap.
//!
//! STUB parts (marked) are to be completed by the token work.

use crate::config::{AuthMode, Config};
use crate::http::OutRequest;
use crate::platform::{Platform, StoreError};
use crate::secret::Secret;

/// What goes on a Keap request.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// API-key mode: `X-Keap-API-Key: <key>`.
    ApiKey(Secret),
    /// OAuth mode: `Authorization: Bearer <access token>`.
    Bearer(Secret),
}

impl Credentials {
    /// Puts the credentials on a request.
    pub fn apply(&self, request: OutRequest) -> OutRequest {
        match self {
            Credentials::ApiKey(k) => request.header("X-Keap-API-Key", k.expose()),
            Credentials::Bearer(t) => {
                request.header("Authorization", format!("Bearer {}", t.expose()))
            }
        }
    }
}

/// Why no Keap call can be made now. Every one of these queues the lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// Neither an API key nor an OAuth client is configured.
    Unconfigured,
    /// OAuth is configured but nobody has connected yet.
    NotConnected,
    /// The stored access token has expired; the scheduled run refreshes it.
    Expired,
    /// `ENCRYPTION_KEY` is missing or wrong, so tokens cannot be read.
    NoSealKey,
    /// The stored record cannot be opened (tampered, or sealed under another key).
    Unreadable,
    /// KV failed.
    Store(StoreError),
}

/// Loads the credentials for one Keap call: no KV read in API-key mode,
/// one in OAuth mode.
pub async fn load<P: Platform>(_platform: &P, config: &Config) -> Result<Credentials, Unavailable> {
    match &config.auth {
        AuthMode::ApiKey(k) => Ok(Credentials::ApiKey(k.clone())),
        AuthMode::Unconfigured => Err(Unavailable::Unconfigured),
        // STUB: read and open kv_keys::TOKENS, check expiry.
        AuthMode::OAuth { .. } => Err(Unavailable::NotConnected),
    }
}

/// Records that Keap answered 401 to this access token, so the next
/// scheduled run refreshes even if the token is not due. Writes only a
/// fingerprint of the token, never the token.
pub async fn mark_rejected<P: Platform>(_platform: &P, _access_token: &Secret) {
    // STUB: write kv_keys::REJECTED.
}
