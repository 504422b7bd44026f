//! The stored OAuth tokens and what state the connection is in.
//!
//! Three KV records describe the connection:
//! - [`kv_keys::TOKENS`]: the sealed [`TokenRecord`];
//! - [`kv_keys::REJECTED`]: the fingerprint of an access token Keap
//!   answered 401 to (written by the form path);
//! - [`kv_keys::REAUTH`]: a [`ReauthMarker`] naming, by fingerprint, the
//!   refresh token Keap refused.
//!
//! Markers name the token they are about instead of being flags, so a
//! newer token makes them stale without anyone clearing them: if a refresh
//! that lost a race marks re-authorization after the winner stored a new
//! pair, or the winner's write lands after the marker, the marker no longer
//! matches the stored refresh token and is ignored. The token record itself
//! is only ever replaced by newer tokens, never by worse data.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::oauth::TokenGrant;
use crate::platform::{put_or_log, Platform, PutOptions, StoreError};
use crate::secret::Secret;
use crate::store::kv_keys;
use crate::store::seal::{self, OpenError, SealKey};
use crate::time;

const HOUR_MS: u64 = 3_600_000;
/// Refresh when the access token expires within this.
pub const REFRESH_AHEAD_MS: u64 = 6 * HOUR_MS;

/// The OAuth tokens as stored (sealed) at [`kv_keys::TOKENS`]. Absent
/// values are written `null`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    #[serde(with = "exposed")]
    pub access_token: Secret,
    #[serde(with = "exposed")]
    pub refresh_token: Secret,
    pub expires_at_ms: u64,
    /// The Keap app the tokens are for, e.g. `xy123.infusionsoft.com`.
    pub tenant: Option<String>,
    pub obtained_at_ms: u64,
}

/// A token written out as its plain text. Only [`TokenRecord`] uses it,
/// and a token record is only ever written sealed: `Secret` itself has no
/// `Serialize`, so no other JSON can hold a token by accident.
mod exposed {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::secret::Secret;

    pub fn serialize<S: Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(secret.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

impl TokenRecord {
    /// The record for a grant received at `now_ms`. A refresh answer
    /// without a tenant keeps the one already known.
    pub fn from_grant(grant: TokenGrant, now_ms: u64, known_tenant: Option<String>) -> TokenRecord {
        TokenRecord {
            expires_at_ms: now_ms.saturating_add(grant.expires_in_secs.saturating_mul(1000)),
            tenant: grant.tenant.or(known_tenant),
            access_token: grant.access_token,
            refresh_token: grant.refresh_token,
            obtained_at_ms: now_ms,
        }
    }

    /// The record sealed: the only place the tokens are written out. (A
    /// struct of texts and integers always serialises.)
    pub fn seal(&self, key: &SealKey) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        seal::seal(key, kv_keys::TOKENS, &json)
    }

    pub fn open(key: &SealKey, sealed: &str) -> Result<TokenRecord, Unreadable> {
        let json = seal::open(key, kv_keys::TOKENS, sealed).map_err(Unreadable::Seal)?;
        std::str::from_utf8(&json)
            .ok()
            .and_then(|text| serde_json::from_str(text).ok())
            .ok_or(Unreadable::NotARecord)
    }
}

/// Why a stored token record cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    Seal(OpenError),
    /// Opened, but not a token record (written by another version?).
    NotARecord,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unreadable::Seal(e) => write!(f, "the stored Keap tokens cannot be opened: {e}"),
            Unreadable::NotARecord => {
                f.write_str("the stored Keap tokens are not in a format this worker reads")
            }
        }
    }
}

/// A short, stable name for a token that reveals nothing about it, for
/// the plain markers in KV. (Tokens are long random strings, so a
/// truncated SHA-256 cannot be inverted or guessed.)
pub fn fingerprint(token: &Secret) -> String {
    let digest = Sha256::new()
        .chain_update(b"keap-form-worker/token\0")
        .chain_update(token.expose().as_bytes())
        .finalize();
    seal::hex(digest.get(..8).unwrap_or_default())
}

/// Written when Keap refused the refresh token: re-authorization needed,
/// as long as that refresh token is still the stored one. Stored in plain
/// JSON at [`kv_keys::REAUTH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReauthMarker {
    pub refresh_fingerprint: String,
    /// When it was written (RFC 3339).
    pub at: String,
}

/// The outcome of the last refresh attempt, as stored at
/// [`kv_keys::LAST_REFRESH`] and shown on `/admin/status`. Never holds a
/// token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRefresh {
    pub at: String,
    pub ok: bool,
    pub error: Option<String>,
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// No tokens stored: nobody has connected.
    NotConnected,
    /// Keap refused the stored refresh token: a person must reconnect.
    NeedsReauth,
    /// Keap answered 401 to the stored access token: refresh now.
    Rejected,
    /// The access token has expired: refresh now.
    Expired,
    /// The access token expires within [`REFRESH_AHEAD_MS`]: refresh now.
    Due,
    /// Nothing to do.
    Fresh,
}

impl TokenState {
    /// Whether the scheduled run should refresh.
    pub fn wants_refresh(self) -> bool {
        matches!(
            self,
            TokenState::Rejected | TokenState::Expired | TokenState::Due
        )
    }
}

/// Decides the state from the stored records at `now_ms`. Markers about
/// tokens other than the stored ones are stale and ignored.
pub fn classify(
    record: Option<&TokenRecord>,
    rejected_fingerprint: Option<&str>,
    reauth: Option<&ReauthMarker>,
    now_ms: u64,
) -> TokenState {
    let Some(record) = record else {
        return TokenState::NotConnected;
    };
    if reauth.is_some_and(|m| m.refresh_fingerprint == fingerprint(&record.refresh_token)) {
        TokenState::NeedsReauth
    } else if rejected_fingerprint.is_some_and(|f| f == fingerprint(&record.access_token)) {
        TokenState::Rejected
    } else if now_ms >= record.expires_at_ms {
        TokenState::Expired
    } else if record.expires_at_ms - now_ms <= REFRESH_AHEAD_MS {
        TokenState::Due
    } else {
        TokenState::Fresh
    }
}

/// What a 400/401 to our refresh means, judged from a fresh read of the
/// stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterRefusal {
    /// Another refresher already stored a newer pair: we lost a race;
    /// the connection is fine.
    LostRace,
    /// The refresh token we used is still the stored one: either the
    /// winner's write is not visible yet, or the grant is revoked.
    StillOurs,
    /// The record is gone (or unreadable): nothing left to mark.
    Gone,
}

pub fn after_refusal(used_refresh_token: &Secret, reread: Option<&TokenRecord>) -> AfterRefusal {
    match reread {
        None => AfterRefusal::Gone,
        Some(r) if r.refresh_token == *used_refresh_token => AfterRefusal::StillOurs,
        Some(_) => AfterRefusal::LostRace,
    }
}

/// Why the token record could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLoadError {
    Store(StoreError),
    Unreadable(Unreadable),
}

thread_local! {
    /// The record last opened in this isolate, by key id and sealed text.
    /// Every submission reads the same sealed text until the next refresh
    /// (a day), so it is opened once, not on each request. A different
    /// text or key opens afresh: a cached record is never served for
    /// anything but the exact bytes it was opened from.
    static LAST_OPENED: std::cell::RefCell<Option<(String, String, TokenRecord)>> =
        const { std::cell::RefCell::new(None) };
}

/// The stored connection as read at once: the token record, if there is
/// one, and its state at the platform's clock.
#[derive(Debug, Clone)]
pub struct TokenReading {
    /// `None` exactly when the state is [`TokenState::NotConnected`].
    pub record: Option<TokenRecord>,
    pub state: TokenState,
}

/// Reads the connection: the token record and its two markers in one bulk
/// KV read, classified now. The form path, the refresher and `/admin` all
/// read it here. A marker that cannot be read counts as absent: the token
/// record stays the source of truth.
pub async fn read<P: Platform>(p: &P, key: &SealKey) -> Result<TokenReading, TokenLoadError> {
    let read = p
        .kv_get_many(&[kv_keys::TOKENS, kv_keys::REJECTED, kv_keys::REAUTH])
        .await
        .map_err(TokenLoadError::Store)?;
    let [sealed, rejected, reauth] = <[Option<String>; 3]>::try_from(read).unwrap_or_default();
    let record = sealed
        .map(|sealed| open_stored(key, sealed))
        .transpose()
        .map_err(TokenLoadError::Unreadable)?;
    let reauth = reauth.as_deref().and_then(read_reauth_marker);
    let state = classify(
        record.as_ref(),
        rejected.as_deref(),
        reauth.as_ref(),
        p.now_ms(),
    );
    Ok(TokenReading { record, state })
}

/// Opens the sealed text read from [`kv_keys::TOKENS`], at most once per
/// isolate for the same text and key.
pub fn open_stored(key: &SealKey, sealed: String) -> Result<TokenRecord, Unreadable> {
    let cached = LAST_OPENED.with_borrow(|last| {
        last.as_ref()
            .filter(|(id, text, _)| id == key.id() && same_text(text, &sealed))
            .map(|(_, _, record)| record.clone())
    });
    if let Some(record) = cached {
        return Ok(record);
    }
    let record = TokenRecord::open(key, &sealed)?;
    LAST_OPENED.set(Some((key.id().to_string(), sealed, record.clone())));
    Ok(record)
}

/// Equal texts, compared eight bytes at a time. A sealed record is a few
/// hundred bytes, and the `memcmp` a wasm build gets (no libc) compares
/// one byte at a time.
fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let ((a8, a_rest), (b8, b_rest)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    a_rest == b_rest
        && a8
            .iter()
            .zip(b8)
            .all(|(x, y)| u64::from_ne_bytes(*x) == u64::from_ne_bytes(*y))
}

/// Seals and stores the record.
pub async fn store<P: Platform>(
    p: &P,
    key: &SealKey,
    record: &TokenRecord,
) -> Result<(), StoreError> {
    p.kv_put(kv_keys::TOKENS, &record.seal(key), PutOptions::default())
        .await
}

/// The [`ReauthMarker`] in the text stored at [`kv_keys::REAUTH`]; `None`
/// when it cannot be read (counted as absent).
pub fn read_reauth_marker(text: &str) -> Option<ReauthMarker> {
    serde_json::from_str(text).ok()
}

pub async fn write_reauth_marker<P: Platform>(
    p: &P,
    refused_refresh_token: &Secret,
) -> Result<(), StoreError> {
    let marker = ReauthMarker {
        refresh_fingerprint: fingerprint(refused_refresh_token),
        at: time::to_rfc3339(p.now_ms()),
    };
    let json = serde_json::to_string(&marker).unwrap_or_default();
    p.kv_put(kv_keys::REAUTH, &json, PutOptions::default())
        .await
}

pub async fn load_last_refresh<P: Platform>(p: &P) -> Option<LastRefresh> {
    let raw = p.kv_get(kv_keys::LAST_REFRESH).await.ok().flatten()?;
    serde_json::from_str(&raw).ok()
}

/// Records the outcome of a refresh attempt. A failure to record is only
/// logged: the attempt's real effect (the tokens) is already stored.
pub async fn record_last_refresh<P: Platform>(p: &P, ok: bool, error: Option<String>) {
    let entry = LastRefresh {
        at: time::to_rfc3339(p.now_ms()),
        ok,
        error,
    };
    let json = serde_json::to_string(&entry).unwrap_or_default();
    put_or_log(
        p,
        kv_keys::LAST_REFRESH,
        &json,
        "refresh: could not record the outcome",
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{block_on, MemoryPlatform};

    const NOW: u64 = 1_767_225_600_000;

    #[test]
    fn same_text_agrees_with_string_equality_at_every_length_and_position() {
        let base: String = (0..40).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        for len in 0..=base.len() {
            let a = &base[..len];
            assert!(same_text(a, a), "equal at length {len}");
            assert!(!same_text(a, &base[..len.saturating_sub(1)]) || len == 0);
            for at in 0..len {
                let mut b = a.as_bytes().to_vec();
                b[at] = b'Z';
                let b = String::from_utf8(b).unwrap();
                assert!(!same_text(a, &b), "differs at {at} of {len}");
            }
        }
    }

    fn record(access: &str, refresh: &str, expires_at_ms: u64) -> TokenRecord {
        TokenRecord {
            access_token: Secret::new(access),
            refresh_token: Secret::new(refresh),
            expires_at_ms,
            tenant: Some("xy123.infusionsoft.com".into()),
            obtained_at_ms: NOW - 1000,
        }
    }

    fn marker_for(refresh: &str) -> ReauthMarker {
        ReauthMarker {
            refresh_fingerprint: fingerprint(&Secret::new(refresh)),
            at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn not_connected_without_a_record() {
        assert_eq!(classify(None, None, None, NOW), TokenState::NotConnected);
        let m = marker_for("rt");
        assert_eq!(
            classify(None, Some("x"), Some(&m), NOW),
            TokenState::NotConnected
        );
    }

    #[test]
    fn fresh_due_and_expired_by_expiry() {
        let fresh = record("at", "rt", NOW + 24 * HOUR_MS);
        assert_eq!(classify(Some(&fresh), None, None, NOW), TokenState::Fresh);
        let just_fresh = record("at", "rt", NOW + REFRESH_AHEAD_MS + 1);
        assert_eq!(
            classify(Some(&just_fresh), None, None, NOW),
            TokenState::Fresh
        );
        let due = record("at", "rt", NOW + REFRESH_AHEAD_MS);
        assert_eq!(classify(Some(&due), None, None, NOW), TokenState::Due);
        let nearly = record("at", "rt", NOW + 1);
        assert_eq!(classify(Some(&nearly), None, None, NOW), TokenState::Due);
        let expired = record("at", "rt", NOW);
        assert_eq!(
            classify(Some(&expired), None, None, NOW),
            TokenState::Expired
        );
        assert!(!TokenState::Fresh.wants_refresh());
        assert!(TokenState::Due.wants_refresh() && TokenState::Expired.wants_refresh());
    }

    #[test]
    fn rejected_only_for_the_current_access_token() {
        let r = record("at-2", "rt", NOW + 24 * HOUR_MS);
        let current = fingerprint(&Secret::new("at-2"));
        let older = fingerprint(&Secret::new("at-1"));
        assert_eq!(
            classify(Some(&r), Some(&current), None, NOW),
            TokenState::Rejected
        );
        assert_eq!(
            classify(Some(&r), Some(&older), None, NOW),
            TokenState::Fresh
        );
        assert!(TokenState::Rejected.wants_refresh());
    }

    #[test]
    fn needs_reauth_only_for_the_current_refresh_token() {
        let r = record("at", "rt-2", NOW + 24 * HOUR_MS);
        let current = marker_for("rt-2");
        let stale = marker_for("rt-1");
        assert_eq!(
            classify(Some(&r), None, Some(&current), NOW),
            TokenState::NeedsReauth
        );
        assert_eq!(
            classify(Some(&r), None, Some(&stale), NOW),
            TokenState::Fresh
        );
        // Re-authorization outranks everything else, since refreshing cannot help.
        let rejected = fingerprint(&Secret::new("at"));
        assert_eq!(
            classify(
                Some(&r),
                Some(&rejected),
                Some(&current),
                NOW + 48 * HOUR_MS
            ),
            TokenState::NeedsReauth
        );
        assert!(!TokenState::NeedsReauth.wants_refresh());
    }

    proptest::proptest! {
        #[test]
        fn without_markers_refresh_is_wanted_exactly_within_the_window(
            expires_at in 0u64..4_000_000_000_000,
            now in 0u64..4_000_000_000_000,
        ) {
            let r = record("at", "rt", expires_at);
            let state = classify(Some(&r), None, None, now);
            let within = expires_at <= now.saturating_add(REFRESH_AHEAD_MS);
            proptest::prop_assert_eq!(state.wants_refresh(), within);
            proptest::prop_assert_eq!(state == TokenState::Expired, now >= expires_at);
        }
    }

    #[test]
    fn refusal_after_another_refresh_is_a_lost_race() {
        let used = Secret::new("rt-1");
        let same = record("at-1", "rt-1", NOW);
        let newer = record("at-2", "rt-2", NOW + 24 * HOUR_MS);
        assert_eq!(after_refusal(&used, Some(&newer)), AfterRefusal::LostRace);
        assert_eq!(after_refusal(&used, Some(&same)), AfterRefusal::StillOurs);
        assert_eq!(after_refusal(&used, None), AfterRefusal::Gone);
    }

    #[test]
    fn fingerprints_are_stable_short_and_hide_the_token() {
        let t = Secret::new("a-very-secret-access-token");
        assert_eq!(fingerprint(&t), fingerprint(&t.clone()));
        assert_eq!(fingerprint(&t).len(), 16);
        assert!(!fingerprint(&t).contains("secret"));
        assert_ne!(fingerprint(&t), fingerprint(&Secret::new("another")));
    }

    #[test]
    fn record_from_grant_trusts_expires_in_and_keeps_a_known_tenant() {
        let grant = TokenGrant {
            access_token: Secret::new("at"),
            refresh_token: Secret::new("rt"),
            expires_in_secs: 120,
            tenant: None,
        };
        let r = TokenRecord::from_grant(grant, NOW, Some("known.infusionsoft.com".into()));
        assert_eq!(r.expires_at_ms, NOW + 120_000);
        assert_eq!(r.obtained_at_ms, NOW);
        assert_eq!(r.tenant.as_deref(), Some("known.infusionsoft.com"));
    }

    #[test]
    fn records_are_stored_sealed_and_load_back() {
        let p = MemoryPlatform::new();
        let key = SealKey::from_bytes([4; 32]);
        let r = record("plain-access-token", "plain-refresh-token", NOW + 1000);
        block_on(store(&p, &key, &r)).unwrap();
        let raw = p.value(kv_keys::TOKENS).unwrap();
        assert!(!raw.contains("plain-access-token") && !raw.contains("plain-refresh-token"));
        let back = block_on(read(&p, &key)).unwrap().record.unwrap();
        assert_eq!(back.refresh_token.expose(), "plain-refresh-token");
        assert_eq!(back.expires_at_ms, NOW + 1000);

        let other = SealKey::from_bytes([5; 32]);
        assert_eq!(
            block_on(read(&p, &other)).unwrap_err(),
            TokenLoadError::Unreadable(Unreadable::Seal(OpenError::OtherKey))
        );
    }

    #[test]
    fn the_opened_record_is_reused_only_for_the_same_text_and_key() {
        let p = MemoryPlatform::new();
        let key = SealKey::from_bytes([6; 32]);
        block_on(store(&p, &key, &record("at-a", "rt-a", NOW))).unwrap();
        let first = block_on(read(&p, &key)).unwrap().record.unwrap();
        let again = block_on(read(&p, &key)).unwrap().record.unwrap();
        assert_eq!(
            (first.access_token, again.access_token.expose()),
            (Secret::new("at-a"), "at-a")
        );

        // New tokens: a new text, opened afresh.
        block_on(store(&p, &key, &record("at-b", "rt-b", NOW))).unwrap();
        assert_eq!(
            block_on(read(&p, &key))
                .unwrap()
                .record
                .unwrap()
                .access_token
                .expose(),
            "at-b"
        );

        // A tampered text is not served from what was opened before.
        let sealed = p.value(kv_keys::TOKENS).unwrap();
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        block_on(p.kv_put(kv_keys::TOKENS, &tampered, PutOptions::default())).unwrap();
        assert!(block_on(read(&p, &key)).is_err());
    }

    #[test]
    fn records_written_by_the_hand_written_code_are_read() {
        use crate::fixtures;
        let r: TokenRecord = fixtures::record("token_record.json");
        assert_eq!(
            r.access_token.expose(),
            "KeapAT.eyJhbGciOiJIUzI1NiJ9.fixture-access"
        );
        assert_eq!(
            r.refresh_token.expose(),
            "KeapRT.fixture-refresh-0123456789"
        );
        assert_eq!(
            (r.expires_at_ms, r.tenant.as_deref(), r.obtained_at_ms),
            (
                1_767_312_000_000,
                Some("xy123.infusionsoft.com"),
                1_767_225_600_000
            )
        );
        let r: TokenRecord = fixtures::record("token_record_no_tenant.json");
        assert_eq!(r.tenant, None);

        // Sealed by the old code, opened by the new.
        let key = SealKey::from_bytes([7; 32]);
        let sealed = TokenRecord::open(&key, &fixtures::text("token_record.sealed")).unwrap();
        assert_eq!(sealed.access_token, r.access_token);
        assert_eq!(sealed.tenant.as_deref(), Some("xy123.infusionsoft.com"));
        // And what the new code seals opens to the same record.
        let again = TokenRecord::open(&key, &sealed.seal(&key)).unwrap();
        assert_eq!(again.refresh_token, r.refresh_token);
        assert_eq!(again.expires_at_ms, 1_767_312_000_000);

        let m: ReauthMarker = fixtures::record("reauth_marker.json");
        assert_eq!(
            m,
            ReauthMarker {
                refresh_fingerprint: fingerprint(&r.refresh_token),
                at: "2026-01-01T06:00:00Z".into(),
            }
        );
        let ok: LastRefresh = fixtures::record("last_refresh_ok.json");
        assert_eq!(
            ok,
            LastRefresh {
                at: "2026-01-01T00:00:00Z".into(),
                ok: true,
                error: None
            }
        );
        let failed: LastRefresh = fixtures::record("last_refresh_failed.json");
        assert_eq!(
            (failed.ok, failed.error.as_deref()),
            (false, Some("Keap had an error (503)"))
        );
    }

    #[test]
    fn records_missing_a_field_or_of_the_wrong_type_are_not_read() {
        let read = |json: &str| serde_json::from_str::<TokenRecord>(json).ok();
        let good =
            r#"{"access_token":"a","refresh_token":"r","expires_at_ms":9,"obtained_at_ms":3}"#;
        assert_eq!(read(good).and_then(|r| r.tenant), None);
        assert!(read(r#"{"access_token":"a","expires_at_ms":9,"obtained_at_ms":3}"#).is_none());
        assert!(read(&good.replace("9", "-9")).is_none());
        assert!(serde_json::from_str::<ReauthMarker>(r#"{"at":"x"}"#).is_err());
        assert!(serde_json::from_str::<LastRefresh>(r#"{"at":"x","ok":"yes"}"#).is_err());
        assert!(serde_json::from_str::<LastRefresh>(r#"{"at":"x","ok":true,"error":5}"#).is_err());
    }

    #[test]
    fn markers_are_stored_and_read_back() {
        let p = MemoryPlatform::new();
        block_on(write_reauth_marker(&p, &Secret::new("rt"))).unwrap();
        block_on(record_last_refresh(&p, false, Some("why".into())));
        let reauth = read_reauth_marker(&p.value(kv_keys::REAUTH).unwrap());
        assert_eq!(
            reauth,
            Some(marker_for_at("rt", &time::to_rfc3339(p.now_ms())))
        );
        let last = block_on(load_last_refresh(&p)).unwrap();
        assert_eq!((last.ok, last.error.as_deref()), (false, Some("why")));
    }

    #[test]
    fn the_connection_is_read_in_one_bulk_read_and_classified_now() {
        let p = MemoryPlatform::new();
        let key = SealKey::from_bytes([8; 32]);
        let reading = |p: &MemoryPlatform| {
            let reads = p.kv_reads.get();
            let r = block_on(read(p, &key));
            assert_eq!(p.kv_reads.get(), reads + 1, "one bulk read");
            r
        };
        let nobody = reading(&p).unwrap();
        assert_eq!(
            (nobody.state, nobody.record.is_none()),
            (TokenState::NotConnected, true)
        );

        block_on(store(&p, &key, &record("at", "rt", NOW + 24 * HOUR_MS))).unwrap();
        let fresh = reading(&p).unwrap();
        assert_eq!(fresh.state, TokenState::Fresh);
        assert_eq!(fresh.record.unwrap().access_token.expose(), "at");

        // A marker that cannot be read counts as absent; one that can counts.
        let put = |k: &str, v: &str| block_on(p.kv_put(k, v, PutOptions::default())).unwrap();
        put(kv_keys::REAUTH, "not json");
        assert_eq!(reading(&p).unwrap().state, TokenState::Fresh);
        put(kv_keys::REJECTED, &fingerprint(&Secret::new("at")));
        assert_eq!(reading(&p).unwrap().state, TokenState::Rejected);
        block_on(write_reauth_marker(&p, &Secret::new("rt"))).unwrap();
        assert_eq!(reading(&p).unwrap().state, TokenState::NeedsReauth);

        // Classified at the platform's clock.
        block_on(p.kv_delete(kv_keys::REAUTH)).unwrap();
        block_on(p.kv_delete(kv_keys::REJECTED)).unwrap();
        p.advance_ms(24 * HOUR_MS);
        assert_eq!(reading(&p).unwrap().state, TokenState::Expired);

        let other = SealKey::from_bytes([9; 32]);
        assert_eq!(
            block_on(read(&p, &other)).unwrap_err(),
            TokenLoadError::Unreadable(Unreadable::Seal(OpenError::OtherKey))
        );
    }

    fn marker_for_at(refresh: &str, at: &str) -> ReauthMarker {
        ReauthMarker {
            at: at.into(),
            ..marker_for(refresh)
        }
    }

    #[test]
    fn a_sealed_value_of_another_kind_is_not_a_token_record() {
        let key = SealKey::from_bytes([4; 32]);
        let sealed = seal::seal(&key, kv_keys::TOKENS, b"{\"something\":\"else\"}");
        assert_eq!(
            TokenRecord::open(&key, &sealed).unwrap_err(),
            Unreadable::NotARecord
        );
        let outbox = seal::seal(&key, kv_keys::OUTBOX_LABEL, b"{}");
        assert_eq!(
            TokenRecord::open(&key, &outbox).unwrap_err(),
            Unreadable::Seal(OpenError::Rejected)
        );
    }
}
