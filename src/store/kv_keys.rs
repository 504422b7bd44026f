//! Names of everything the worker keeps in the `STORE` namespace, in one
//! place so that no two modules disagree.
//!
//! Sealed values use the key's purpose (not the full key) as the sealing
//! label, so a sealed token record cannot be replayed as an outbox entry.

/// The OAuth token record (sealed, label [`TOKENS`]).
pub const TOKENS: &str = "auth/tokens";
/// Fingerprint of an access token Keap answered 401 to (plain; set by the
/// form path, read by the refresher).
pub const REJECTED: &str = "auth/rejected";
/// Re-authorization marker: which refresh token Keap refused (plain JSON).
/// Stale (ignored) once the stored refresh token differs.
pub const REAUTH: &str = "auth/reauth";
/// The outcome of the last refresh attempt (plain JSON, no secrets).
pub const LAST_REFRESH: &str = "auth/last_refresh";
/// Prefix of single-use OAuth `state` records (10-minute TTL).
pub const OAUTH_STATE_PREFIX: &str = "oauth/state/";
/// Prefix of pending outbox entries (sealed, label [`OUTBOX_LABEL`]). The
/// rest of the key sorts by arrival time, so a listing is oldest first.
pub const OUTBOX_PREFIX: &str = "outbox/";
/// Prefix of dead letters (sealed, label [`OUTBOX_LABEL`]), same suffix as
/// the outbox entry they came from.
pub const DEAD_PREFIX: &str = "dead/";
/// Sealing label of outbox entries and dead letters.
pub const OUTBOX_LABEL: &str = "outbox";
/// Prefix of per-kind alert send times (plain).
pub const ALERT_PREFIX: &str = "alerts/";
/// The latest configuration check (plain JSON: ids and Keap's names for
/// them, no secret, no personal data). Never read on the form path.
pub const CONFIG_CHECK: &str = "setup/config_check";
/// Prefix of held posts: submissions the spam rules caught, kept for the
/// owner's review (sealed, label [`HELD_LABEL`], 30-day TTL). The rest of
/// the key is `<YYYYMMDD>-<32 hex>` (see `store::held`).
pub const HELD_PREFIX: &str = "held/";
/// Sealing label of held posts: a held post cannot be passed off as an
/// outbox entry, nor the other way round.
pub const HELD_LABEL: &str = "held";
