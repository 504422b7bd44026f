//! Held posts: submissions the spam rules ([`crate::form::spam`]) caught,
//! kept sealed in KV for the owner to deliver or delete, apart from the
//! outbox (nothing here is ever sent without the owner), for 30 days.
//!
//! Keys are `held/<id>`, the id `<YYYYMMDD>-<32 hex>`: the UTC day it was
//! held, then 128 random bits. The worker issues every id; [`HeldId::parse`]
//! accepts exactly that shape, so an id from a URL can never name another
//! key. The key's metadata (`{"form","reason","received_at"}`) holds no
//! visitor data, so a listing is a summary; the post itself is sealed.
//!
//! **What a held post costs, and its bound.** One KV write (the sealed
//! post, which KV expires by itself). At most [`HELD_PER_DAY`] are written
//! a UTC day; past that a suspicious post is dropped (answered as success,
//! logged, counted). The count is kept in the isolate ([`HeldBudget`]):
//! it is taken from one KV listing of the day's keys when the isolate
//! first holds a post that day and again after every [`RECOUNT_EVERY`]
//! writes, so it costs no write and a listing per ten held posts at most;
//! several isolates at once can each overshoot by that much before they
//! recount. A flood of spam thus spends at most about a tenth of the free
//! plan's 1,000 daily writes, and leaves the rest to real leads.

use serde::{Deserialize, Serialize};

use crate::form::lead::Lead;
use crate::form::spam::Reason;
use crate::platform::{self, ListedKey, Platform, PutOptions, StoreError};
use crate::store::kv_keys;
use crate::store::seal::{self, KeyProblem, OpenError, SealKey};
use crate::time;

/// How long a held post is kept before KV deletes it.
pub const HELD_TTL_SECS: u64 = 30 * 86_400;
/// Held posts written per UTC day at most.
pub const HELD_PER_DAY: u32 = 100;
/// The isolate recounts the day's held posts after this many writes.
pub const RECOUNT_EVERY: u32 = 10;
const MS_PER_DAY: u64 = 86_400_000;
const RANDOM_HEX: usize = 32;
/// `YYYYMMDD-` and the random part.
const ID_LEN: usize = 9 + RANDOM_HEX;

/// A held post's id, as the worker issued it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HeldId(String);

impl HeldId {
    /// A new id for a post held at `now_ms`; `None` only when the system
    /// has no random source (an id must not be guessable).
    fn new(now_ms: u64) -> Option<HeldId> {
        let mut bytes = [0u8; RANDOM_HEX / 2];
        getrandom::getrandom(&mut bytes).ok()?;
        let random = seal::hex(&bytes);
        Some(HeldId(format!("{}-{random}", day_stamp(now_ms))))
    }

    /// The id in `text`, only when it has exactly the shape the worker
    /// issues: eight digits, `-`, 32 lowercase hex digits. Anything else
    /// (`../tokens`, an encoded slash, another prefix's key) is `None`.
    pub fn parse(text: &str) -> Option<HeldId> {
        let b = text.as_bytes();
        let shaped = b.len() == ID_LEN
            && b.get(..8).is_some_and(|d| d.iter().all(u8::is_ascii_digit))
            && b.get(8) == Some(&b'-')
            && b.get(9..)
                .is_some_and(|h| h.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
        shaped.then(|| HeldId(text.to_string()))
    }

    fn from_key(key: &str) -> Option<HeldId> {
        key.strip_prefix(kv_keys::HELD_PREFIX)
            .and_then(HeldId::parse)
    }

    pub fn key(&self) -> String {
        format!("{}{}", kv_keys::HELD_PREFIX, self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `YYYYMMDD` of the UTC day of `now_ms`.
fn day_stamp(now_ms: u64) -> String {
    time::to_rfc3339(now_ms)
        .get(..10)
        .unwrap_or("00000000")
        .replace('-', "")
}

/// A held post, as stored (sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldPost {
    pub lead: Lead,
    pub reason: Reason,
}

/// The listing metadata: no visitor data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Meta {
    form: String,
    reason: Reason,
    received_at: u64,
}

/// A held post as a listing shows it, without reading the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSummary {
    pub id: HeldId,
    pub form: String,
    /// `None` when the metadata cannot be read.
    pub reason: Option<Reason>,
    pub received_at_ms: Option<u64>,
}

impl HeldSummary {
    fn of(key: &ListedKey) -> Option<HeldSummary> {
        let id = HeldId::from_key(&key.name)?;
        let meta: Option<Meta> = key
            .metadata
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok());
        Some(HeldSummary {
            id,
            reason: meta.as_ref().map(|m| m.reason),
            received_at_ms: meta.as_ref().map(|m| m.received_at),
            form: meta.map(|m| m.form).unwrap_or_default(),
        })
    }
}

/// How many posts this isolate knows were held today. Lives in the
/// isolate's memory ([`crate::isolate`]).
#[derive(Debug, Default)]
pub struct HeldBudget {
    day: u64,
    /// The day's count as last listed plus the writes since; `None` until
    /// listed that day.
    held: Option<u32>,
    written_since_count: u32,
    /// Posts dropped over the cap by this isolate today.
    dropped: u32,
}

impl HeldBudget {
    fn roll(&mut self, day: u64) {
        if self.day != day {
            *self = HeldBudget {
                day,
                ..HeldBudget::default()
            };
        }
    }

    /// The day's count, or `None` when it must be listed (first use that
    /// day, or [`RECOUNT_EVERY`] writes since the last listing, while
    /// under the cap).
    pub fn known(&mut self, day: u64) -> Option<u32> {
        self.roll(day);
        match self.held {
            Some(n) if n >= HELD_PER_DAY || self.written_since_count < RECOUNT_EVERY => Some(n),
            _ => None,
        }
    }

    pub fn counted(&mut self, day: u64, n: u32) {
        self.roll(day);
        // Another isolate's writes only add; a listing that lags behind
        // this isolate's own writes does not lower the count.
        self.held = Some(self.held.map_or(n, |h| h.max(n)));
        self.written_since_count = 0;
    }

    pub fn wrote(&mut self, day: u64) {
        self.roll(day);
        self.held = Some(self.held.unwrap_or(0).saturating_add(1));
        self.written_since_count = self.written_since_count.saturating_add(1);
    }

    /// Counts a drop; the isolate's drops today.
    pub fn dropped(&mut self, day: u64) -> u32 {
        self.roll(day);
        self.dropped = self.dropped.saturating_add(1);
        self.dropped
    }
}

/// What became of a post the rules caught.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    Held(HeldId),
    /// Today's [`HELD_PER_DAY`] were already held: dropped. `dropped` is
    /// this isolate's count of such drops today.
    OverCap {
        dropped: u32,
    },
}

/// Why a post could not be held or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldError {
    NoSealKey(KeyProblem),
    /// No random source for an id.
    NoRandom,
    Store(StoreError),
    Unreadable(OpenError),
    /// Opened, but not a held post this worker understands.
    Corrupt,
}

impl std::fmt::Display for HeldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeldError::NoSealKey(p) => write!(f, "no usable ENCRYPTION_KEY: {p}"),
            HeldError::NoRandom => f.write_str("no random source for an id"),
            HeldError::Store(e) => write!(f, "{e}"),
            HeldError::Unreadable(e) => write!(f, "{e}"),
            HeldError::Corrupt => f.write_str("the held post cannot be read"),
        }
    }
}

/// The day's count of held posts: from the isolate's memory, or from one
/// listing of the day's keys (one page, as far as the cap).
async fn held_today<P: Platform>(p: &P, day: u64, now_ms: u64) -> Result<u32, StoreError> {
    if let Some(memory) = p.memory() {
        if let Some(n) = memory.with(|b: &mut HeldBudget| b.known(day)) {
            return Ok(n);
        }
    }
    let prefix = format!("{}{}-", kv_keys::HELD_PREFIX, day_stamp(now_ms));
    let page = p.kv_list(&prefix, None, HELD_PER_DAY).await?;
    let n = if page.cursor.is_some() {
        HELD_PER_DAY
    } else {
        page.keys.len() as u32
    };
    if let Some(memory) = p.memory() {
        memory.with(|b: &mut HeldBudget| b.counted(day, n));
    }
    Ok(n)
}

/// Holds `lead` for review, sealed, unless today's cap is reached. One KV
/// write when held; none when dropped.
pub async fn hold<P: Platform>(
    p: &P,
    seal_key: &Result<SealKey, KeyProblem>,
    lead: &Lead,
    reason: Reason,
) -> Result<Kept, HeldError> {
    let key = seal_key
        .as_ref()
        .map_err(|e| HeldError::NoSealKey(e.clone()))?;
    let now = p.now_ms();
    let day = now / MS_PER_DAY;
    if held_today(p, day, now).await.map_err(HeldError::Store)? >= HELD_PER_DAY {
        let dropped = p
            .memory()
            .map_or(1, |m| m.with(|b: &mut HeldBudget| b.dropped(day)));
        return Ok(Kept::OverCap { dropped });
    }
    let id = HeldId::new(now).ok_or(HeldError::NoRandom)?;
    let post = HeldPost {
        lead: lead.clone(),
        reason,
    };
    write(p, key, &id, &post).await?;
    if let Some(memory) = p.memory() {
        memory.with(|b: &mut HeldBudget| b.wrote(day));
    }
    Ok(Kept::Held(id))
}

fn open_post(seal_key: &Result<SealKey, KeyProblem>, sealed: &str) -> Result<HeldPost, HeldError> {
    let key = seal_key
        .as_ref()
        .map_err(|e| HeldError::NoSealKey(e.clone()))?;
    let plain = seal::open(key, kv_keys::HELD_LABEL, sealed).map_err(HeldError::Unreadable)?;
    serde_json::from_slice(&plain).map_err(|_| HeldError::Corrupt)
}

/// Reads and opens a held post; `None` when it is gone.
pub async fn load<P: Platform>(
    p: &P,
    seal_key: &Result<SealKey, KeyProblem>,
    id: &HeldId,
) -> Result<Option<HeldPost>, HeldError> {
    match p.kv_get(&id.key()).await.map_err(HeldError::Store)? {
        None => Ok(None),
        Some(sealed) => open_post(seal_key, &sealed).map(Some),
    }
}

/// Opens several held posts with one bulk read, in the order of `ids`;
/// each `None` when gone or unreadable.
pub async fn load_many<P: Platform>(
    p: &P,
    seal_key: &Result<SealKey, KeyProblem>,
    ids: &[&HeldId],
) -> Result<Vec<Option<HeldPost>>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = ids.iter().map(|id| id.key()).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let values = p.kv_get_many(&refs).await?;
    Ok(values
        .into_iter()
        .map(|v| v.and_then(|sealed| open_post(seal_key, &sealed).ok()))
        .collect())
}

/// Puts a post back under its id (when a release could not deliver it).
pub async fn restore<P: Platform>(
    p: &P,
    seal_key: &Result<SealKey, KeyProblem>,
    id: &HeldId,
    post: &HeldPost,
) -> Result<(), HeldError> {
    let key = seal_key
        .as_ref()
        .map_err(|e| HeldError::NoSealKey(e.clone()))?;
    write(p, key, id, post).await
}

/// Seals `post` under `id`, its form, reason and arrival in the key's
/// metadata (for listings), kept [`HELD_TTL_SECS`].
async fn write<P: Platform>(
    p: &P,
    key: &SealKey,
    id: &HeldId,
    post: &HeldPost,
) -> Result<(), HeldError> {
    // A struct of texts and integers always serialises.
    let plain = serde_json::to_vec(post).unwrap_or_default();
    let meta = Meta {
        form: post.lead.form_id.clone(),
        reason: post.reason,
        received_at: post.lead.received_at_ms,
    };
    let options = PutOptions {
        ttl_secs: Some(HELD_TTL_SECS),
        metadata: serde_json::to_string(&meta).ok(),
    };
    let sealed = seal::seal(key, kv_keys::HELD_LABEL, &plain);
    p.kv_put(&id.key(), &sealed, options)
        .await
        .map_err(HeldError::Store)
}

pub async fn delete<P: Platform>(p: &P, id: &HeldId) -> Result<(), StoreError> {
    p.kv_delete(&id.key()).await
}

/// The oldest `limit` held posts (at most 1,000), from one listing.
pub async fn list<P: Platform>(p: &P, limit: u32) -> Result<Vec<HeldSummary>, StoreError> {
    let page = p
        .kv_list(kv_keys::HELD_PREFIX, None, limit.clamp(1, 1000))
        .await?;
    Ok(page.keys.iter().filter_map(HeldSummary::of).collect())
}

/// How many posts are held (every page of the listing), and how many of
/// them arrived after `since_ms`.
pub async fn count<P: Platform>(p: &P, since_ms: u64) -> Result<(u64, u64), StoreError> {
    let keys = platform::list_every(p, kv_keys::HELD_PREFIX).await?;
    let new = keys
        .iter()
        .filter_map(HeldSummary::of)
        .filter(|s| s.received_at_ms.is_some_and(|t| t > since_ms))
        .count();
    Ok((keys.len() as u64, new as u64))
}

#[cfg(test)]
mod tests;
