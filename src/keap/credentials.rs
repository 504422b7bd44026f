//! How a Keap call is authenticated right now, read with at most one KV
//! read (one bulk read of the token record and its two markers) so the
//! form path stays cheap. The form path never refreshes: it uses what is
//! stored, and reports a 401 with [`mark_rejected`] so the scheduled run
//! refreshes.
//!
//! Credentials known to be dead (Keap rejected the access token, or
//! refused the refresh token so a person must reconnect) are not used:
//! a Keap call with them would only be refused again.

use crate::auth::tokens::{self, TokenLoadError, TokenState};
use crate::config::{AuthMode, Config};
use crate::http::OutRequest;
use crate::platform::{put_or_log, Platform, StoreError};
use crate::secret::Secret;
use crate::store::kv_keys;

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
            Credentials::ApiKey(k) => request.header("X-Keap-API-Key", k.expose().to_string()),
            Credentials::Bearer(t) => {
                request.header("Authorization", ["Bearer ", t.expose()].concat())
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
    /// Keap answered 401 to the stored access token; the scheduled run
    /// refreshes it.
    Rejected,
    /// Keap refused the stored refresh token: a person must connect again.
    NeedsReauth,
    /// `ENCRYPTION_KEY` is missing or wrong, so tokens cannot be read.
    NoSealKey,
    /// The stored record cannot be opened (tampered, or sealed under another key).
    Unreadable,
    /// KV failed.
    Store(StoreError),
}

impl std::fmt::Display for Unavailable {
    /// Words for the owner (logs, outbox reasons, `/admin/replay`): what is
    /// missing and where to fix it; never a token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unavailable::Unconfigured => {
                f.write_str("Keap is not configured (no KEAP_API_KEY or OAuth client)")
            }
            Unavailable::NotConnected => {
                f.write_str("not connected to Keap yet (open /admin to connect)")
            }
            Unavailable::Expired => {
                f.write_str("the access token has expired; the scheduled run refreshes it")
            }
            Unavailable::Rejected => {
                f.write_str("Keap rejected the access token; the scheduled run refreshes it")
            }
            Unavailable::NeedsReauth => f.write_str(
                "Keap refused the stored authorization; open /admin and connect to Keap again",
            ),
            Unavailable::NoSealKey => {
                f.write_str("ENCRYPTION_KEY is missing or wrong, so the tokens cannot be read")
            }
            Unavailable::Unreadable => f.write_str("the stored tokens cannot be opened"),
            Unavailable::Store(e) => write!(f, "the tokens could not be read: {e}"),
        }
    }
}

/// Loads the credentials for one Keap call: no KV read in API-key mode,
/// one bulk read in OAuth mode (the token record, the rejected-token
/// fingerprint and the re-authorization marker).
pub async fn load<P: Platform>(platform: &P, config: &Config) -> Result<Credentials, Unavailable> {
    match &config.auth {
        AuthMode::ApiKey(k) => Ok(Credentials::ApiKey(k.clone())),
        AuthMode::Unconfigured => Err(Unavailable::Unconfigured),
        AuthMode::OAuth { .. } => {
            let key = config
                .seal_key
                .as_ref()
                .map_err(|_| Unavailable::NoSealKey)?;
            let reading = tokens::read(platform, key).await.map_err(|e| match e {
                TokenLoadError::Store(e) => Unavailable::Store(e),
                TokenLoadError::Unreadable(_) => Unavailable::Unreadable,
            })?;
            match (reading.state, reading.record) {
                (TokenState::Due | TokenState::Fresh, Some(r)) => {
                    Ok(Credentials::Bearer(r.access_token))
                }
                (TokenState::NeedsReauth, _) => Err(Unavailable::NeedsReauth),
                (TokenState::Rejected, _) => Err(Unavailable::Rejected),
                (TokenState::Expired, _) => Err(Unavailable::Expired),
                (TokenState::NotConnected | TokenState::Due | TokenState::Fresh, _) => {
                    Err(Unavailable::NotConnected)
                }
            }
        }
    }
}

/// Keap answered 401 to `creds`: an access token is marked
/// ([`mark_rejected`]); an API key has nothing the refresher could renew.
pub async fn rejected<P: Platform>(platform: &P, creds: &Credentials) {
    if let Credentials::Bearer(token) = creds {
        mark_rejected(platform, token).await;
    }
}

/// Records that Keap answered 401 to this access token, so the next
/// scheduled run refreshes even if the token is not due. Writes only a
/// fingerprint of the token, never the token. A failed write is logged:
/// the lead is queued either way, and the token is refreshed when due.
pub async fn mark_rejected<P: Platform>(platform: &P, access_token: &Secret) {
    let fingerprint = tokens::fingerprint(access_token);
    let what = "could not mark the access token as rejected";
    put_or_log(platform, kv_keys::REJECTED, &fingerprint, what).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::tokens::TokenRecord;
    use crate::platform::PutOptions;
    use crate::settings::Settings;
    use crate::store::seal::SealKey;
    use crate::testing::{block_on, MemoryPlatform};

    const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn oauth_config() -> Config {
        Config::from_settings(Settings {
            keap_client_id: Some("cid".into()),
            keap_client_secret: Some(Secret::new("csecret")),
            encryption_key: Some(Secret::new(KEY_B64)),
            ..Settings::default()
        })
    }

    fn store_tokens(p: &MemoryPlatform, expires_at_ms: u64) {
        let key = SealKey::from_base64(KEY_B64).unwrap();
        let record = TokenRecord {
            access_token: Secret::new("access-1"),
            refresh_token: Secret::new("refresh-1"),
            expires_at_ms,
            tenant: None,
            obtained_at_ms: p.now_ms(),
        };
        block_on(tokens::store(p, &key, &record)).unwrap();
    }

    #[test]
    fn api_key_mode_reads_nothing() {
        let p = MemoryPlatform::new();
        let config = Config::from_settings(Settings {
            keap_api_key: Some(Secret::new("KeapAK-1")),
            ..Settings::default()
        });
        let creds = block_on(load(&p, &config)).unwrap();
        let req = creds.apply(OutRequest::new(crate::http::Method::Get, "http://k/v1"));
        assert_eq!(req.headers.get("X-Keap-API-Key"), Some("KeapAK-1"));
        assert_eq!(p.kv_reads.get(), 0);
    }

    #[test]
    fn oauth_mode_reads_the_stored_token_once() {
        let p = MemoryPlatform::new();
        store_tokens(&p, p.now_ms() + 60_000);
        let reads = p.kv_reads.get();
        let creds = block_on(load(&p, &oauth_config())).unwrap();
        assert_eq!(p.kv_reads.get(), reads + 1);
        let req = creds.apply(OutRequest::new(crate::http::Method::Get, "http://k/v1"));
        assert_eq!(req.headers.get("Authorization"), Some("Bearer access-1"));
    }

    #[test]
    fn unavailable_reasons() {
        let p = MemoryPlatform::new();
        let config = oauth_config();
        assert_eq!(
            block_on(load(&p, &config)).unwrap_err(),
            Unavailable::NotConnected
        );

        store_tokens(&p, p.now_ms());
        assert_eq!(
            block_on(load(&p, &config)).unwrap_err(),
            Unavailable::Expired
        );

        let other_key = Config::from_settings(Settings {
            encryption_key: Some(Secret::new("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=")),
            ..oauth_config().settings
        });
        assert_eq!(
            block_on(load(&p, &other_key)).unwrap_err(),
            Unavailable::Unreadable
        );

        let no_key = Config::from_settings(Settings {
            encryption_key: None,
            ..oauth_config().settings
        });
        assert_eq!(
            block_on(load(&p, &no_key)).unwrap_err(),
            Unavailable::NoSealKey
        );

        let unconfigured = Config::from_settings(Settings::default());
        assert_eq!(
            block_on(load(&p, &unconfigured)).unwrap_err(),
            Unavailable::Unconfigured
        );
    }

    #[test]
    fn tokens_keap_refused_are_not_used_and_stale_markers_are_ignored() {
        let p = MemoryPlatform::new();
        let config = oauth_config();
        store_tokens(&p, p.now_ms() + 60_000);

        // About older tokens: stale, ignored.
        block_on(mark_rejected(&p, &Secret::new("access-0")));
        block_on(tokens::write_reauth_marker(&p, &Secret::new("refresh-0"))).unwrap();
        assert!(matches!(
            block_on(load(&p, &config)),
            Ok(Credentials::Bearer(_))
        ));

        // Keap answered 401 to the stored access token.
        block_on(mark_rejected(&p, &Secret::new("access-1")));
        let reads = p.kv_reads.get();
        assert_eq!(
            block_on(load(&p, &config)).unwrap_err(),
            Unavailable::Rejected
        );
        assert_eq!(p.kv_reads.get(), reads + 1, "one bulk read");

        // Keap refused the stored refresh token: that outranks the 401.
        block_on(tokens::write_reauth_marker(&p, &Secret::new("refresh-1"))).unwrap();
        let why = block_on(load(&p, &config)).unwrap_err();
        assert_eq!(why, Unavailable::NeedsReauth);
        assert!(why.to_string().contains("/admin"), "{why}");

        // A marker that cannot be read counts as absent.
        p.kv.borrow_mut().remove(kv_keys::REJECTED);
        block_on(p.kv_put(kv_keys::REAUTH, "not json", PutOptions::default())).unwrap();
        assert!(block_on(load(&p, &config)).is_ok());
    }

    #[test]
    fn mark_rejected_stores_only_a_fingerprint() {
        let p = MemoryPlatform::new();
        let token = Secret::new("access-token-keap-refused");
        block_on(mark_rejected(&p, &token));
        let stored = p.value(kv_keys::REJECTED).unwrap();
        assert_eq!(stored, tokens::fingerprint(&token));
        assert!(!stored.contains("access-token"));
    }
}
