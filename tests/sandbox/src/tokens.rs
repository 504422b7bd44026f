//! Authorization codes, access tokens and refresh tokens, with Keap's
//! rules: codes are single-use and live 10 minutes; every refresh kills
//! the refresh token it used at once; access tokens live until they
//! expire, even after a refresh.

use serde_json::{json, Value};

use crate::clock;

/// How long an authorization code can be exchanged, in seconds.
pub const CODE_LIFETIME: u64 = 600;

/// A random opaque credential: 24 random bytes, URL-safe base64, after a
/// prefix that says what it is (so a test log shows which is which).
pub fn random_token(prefix: &str) -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 24];
    if getrandom::getrandom(&mut bytes).is_err() {
        // No OS randomness: still unique, just not secret. Fine for a sandbox.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes[..16].copy_from_slice(&nanos.to_le_bytes());
    }
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// An authorization code handed out by the consent page.
#[derive(Debug, Clone)]
struct Code {
    code: String,
    client_id: String,
    redirect_uri: String,
    expires_at: u64,
    used: bool,
}

/// Why a code exchange failed (all are `invalid_grant` to the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeError {
    /// Never issued.
    Unknown,
    /// Exchanged before.
    Used,
    /// Older than [`CODE_LIFETIME`].
    Expired,
    /// Issued to another client.
    WrongClient,
    /// `redirect_uri` differs from the one the code was issued for.
    WrongRedirectUri,
}

impl CodeError {
    /// The `error_description` sent back.
    pub fn description(self) -> &'static str {
        match self {
            CodeError::Unknown => "Invalid Authorization Code",
            CodeError::Used => "Authorization Code has already been used",
            CodeError::Expired => "Authorization Code has expired",
            CodeError::WrongClient => "Authorization Code was issued to another client",
            CodeError::WrongRedirectUri => "Redirect URI does not match",
        }
    }
}

#[derive(Debug, Clone)]
struct AccessToken {
    token: String,
    client_id: String,
    expires_at: u64,
}

/// What became of a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefreshStatus {
    Live,
    /// Used for a refresh; replaced by a newer one.
    Rotated,
    /// Killed through the control API.
    Revoked,
}

impl RefreshStatus {
    fn name(self) -> &'static str {
        match self {
            RefreshStatus::Live => "live",
            RefreshStatus::Rotated => "rotated",
            RefreshStatus::Revoked => "revoked",
        }
    }
}

#[derive(Debug, Clone)]
struct RefreshToken {
    token: String,
    client_id: String,
    status: RefreshStatus,
}

/// A freshly issued token pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The access token.
    pub access_token: String,
    /// The refresh token that replaces any earlier one.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// What a presented access token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessCheck {
    /// Issued and not expired.
    Valid,
    /// Issued, but expired.
    Expired,
    /// Never issued.
    Unknown,
}

/// All credentials the sandbox has issued, oldest first.
#[derive(Debug, Clone, Default)]
pub struct TokenStore {
    codes: Vec<Code>,
    access: Vec<AccessToken>,
    refresh: Vec<RefreshToken>,
}

impl TokenStore {
    /// Issues a one-time code for `client_id` and `redirect_uri`.
    pub fn issue_code(&mut self, client_id: &str, redirect_uri: &str, now: u64) -> String {
        let code = random_token("sbc_");
        self.codes.push(Code {
            code: code.clone(),
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            expires_at: now.saturating_add(CODE_LIFETIME),
            used: false,
        });
        code
    }

    /// Exchanges a code for a token pair. A code is spent by any attempt
    /// that names it with the right client, as Keap does, so a retry of a
    /// failed exchange cannot succeed later.
    pub fn exchange_code(
        &mut self,
        code: &str,
        client_id: &str,
        redirect_uri: &str,
        now: u64,
        expires_in: u64,
    ) -> Result<Issued, CodeError> {
        let entry = self
            .codes
            .iter_mut()
            .find(|c| c.code == code)
            .ok_or(CodeError::Unknown)?;
        if entry.client_id != client_id {
            return Err(CodeError::WrongClient);
        }
        if entry.used {
            return Err(CodeError::Used);
        }
        entry.used = true;
        if now >= entry.expires_at {
            return Err(CodeError::Expired);
        }
        if entry.redirect_uri != redirect_uri {
            return Err(CodeError::WrongRedirectUri);
        }
        Ok(self.issue_pair(client_id, now, expires_in))
    }

    /// Trades a live refresh token for a new pair, killing it at once.
    /// `None` when the token is unknown, rotated out, revoked or another
    /// client's.
    pub fn refresh(
        &mut self,
        refresh_token: &str,
        client_id: &str,
        now: u64,
        expires_in: u64,
    ) -> Option<Issued> {
        let entry = self.refresh.iter_mut().find(|r| {
            r.token == refresh_token && r.client_id == client_id && r.status == RefreshStatus::Live
        })?;
        entry.status = RefreshStatus::Rotated;
        Some(self.issue_pair(client_id, now, expires_in))
    }

    fn issue_pair(&mut self, client_id: &str, now: u64, expires_in: u64) -> Issued {
        let issued = Issued {
            access_token: random_token("sba_"),
            refresh_token: random_token("sbr_"),
            expires_in,
        };
        self.access.push(AccessToken {
            token: issued.access_token.clone(),
            client_id: client_id.to_owned(),
            expires_at: now.saturating_add(expires_in),
        });
        self.refresh.push(RefreshToken {
            token: issued.refresh_token.clone(),
            client_id: client_id.to_owned(),
            status: RefreshStatus::Live,
        });
        issued
    }

    /// Whether `token` is a usable access token at `now`.
    pub fn check_access(&self, token: &str, now: u64) -> AccessCheck {
        match self.access.iter().find(|a| a.token == token) {
            None => AccessCheck::Unknown,
            Some(a) if now >= a.expires_at => AccessCheck::Expired,
            Some(_) => AccessCheck::Valid,
        }
    }

    /// Makes every issued access token expired as of `now`.
    pub fn expire_access_tokens(&mut self, now: u64) -> usize {
        let mut count = 0;
        for token in self.access.iter_mut().filter(|a| a.expires_at > now) {
            token.expires_at = now;
            count += 1;
        }
        count
    }

    /// Revokes every live refresh token.
    pub fn revoke_refresh_tokens(&mut self) -> usize {
        let mut count = 0;
        for token in self
            .refresh
            .iter_mut()
            .filter(|r| r.status == RefreshStatus::Live)
        {
            token.status = RefreshStatus::Revoked;
            count += 1;
        }
        count
    }

    /// Everything issued, for the control API (sandbox tokens are not
    /// secrets; tests compare them with what the worker sent).
    pub fn to_json(&self, now: u64) -> Value {
        json!({
            "codes": self.codes.iter().map(|c| json!({
                "code": c.code,
                "client_id": c.client_id,
                "redirect_uri": c.redirect_uri,
                "used": c.used,
                "expired": now >= c.expires_at,
            })).collect::<Vec<_>>(),
            "access": self.access.iter().map(|a| json!({
                "token": a.token,
                "client_id": a.client_id,
                "expires_at": clock::rfc3339(a.expires_at),
                "expired": now >= a.expires_at,
            })).collect::<Vec<_>>(),
            "refresh": self.refresh.iter().map(|r| json!({
                "token": r.token,
                "client_id": r.client_id,
                "status": r.status.name(),
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_000_000;

    #[test]
    fn codes_are_single_use_and_bound_to_client_and_redirect() {
        let mut s = TokenStore::default();
        let code = s.issue_code("c", "http://x/cb", NOW);
        assert_eq!(
            s.exchange_code(&code, "other", "http://x/cb", NOW, 60),
            Err(CodeError::WrongClient)
        );
        assert!(s.exchange_code(&code, "c", "http://x/cb", NOW, 60).is_ok());
        assert_eq!(
            s.exchange_code(&code, "c", "http://x/cb", NOW, 60),
            Err(CodeError::Used)
        );
        let code = s.issue_code("c", "http://x/cb", NOW);
        assert_eq!(
            s.exchange_code(&code, "c", "http://y/cb", NOW, 60),
            Err(CodeError::WrongRedirectUri)
        );
        let code = s.issue_code("c", "http://x/cb", NOW);
        assert_eq!(
            s.exchange_code(&code, "c", "http://x/cb", NOW + CODE_LIFETIME, 60),
            Err(CodeError::Expired)
        );
        assert_eq!(
            s.exchange_code("nope", "c", "http://x/cb", NOW, 60),
            Err(CodeError::Unknown)
        );
    }

    #[test]
    fn refresh_rotates_and_old_access_tokens_live_on() {
        let mut s = TokenStore::default();
        let code = s.issue_code("c", "u", NOW);
        let first = s.exchange_code(&code, "c", "u", NOW, 100).unwrap();
        let second = s.refresh(&first.refresh_token, "c", NOW, 100).unwrap();
        assert_ne!(first.refresh_token, second.refresh_token);
        assert_eq!(s.refresh(&first.refresh_token, "c", NOW, 100), None);
        assert_eq!(s.check_access(&first.access_token, NOW), AccessCheck::Valid);
        assert_eq!(
            s.check_access(&first.access_token, NOW + 100),
            AccessCheck::Expired
        );
        assert_eq!(s.refresh(&second.refresh_token, "other", NOW, 100), None);
        assert_eq!(s.revoke_refresh_tokens(), 1);
        assert_eq!(s.refresh(&second.refresh_token, "c", NOW, 100), None);
        assert_eq!(s.expire_access_tokens(NOW), 2);
        assert_eq!(
            s.check_access(&second.access_token, NOW),
            AccessCheck::Expired
        );
        assert_eq!(s.check_access("x", NOW), AccessCheck::Unknown);
    }
}
