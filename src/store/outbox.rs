//! The outbox: leads Keap could not take yet, kept sealed in KV until a
//! scheduled run delivers them, and dead letters Keap refused, kept for
//! the owner. Nothing here ever expires. An entry keeps the delivery's
//! progress as the delivery gave it (any serde type), without reading it;
//! reading or writing one takes the sealing key, or why there is none.
//!
//! Keys are `outbox/<13-digit ms>-<random>` (dead letters: `dead/` and the
//! same id), so a KV listing is oldest first. Each key's metadata holds
//! `{"next_attempt_at":ms,"attempts":n,"reason":"..."}`, so a drain skips
//! entries still in back-off, and `/admin` lists dead letters, from the
//! listing alone, without reading or opening them.

use std::hash::{BuildHasher, Hasher};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::form::lead::Lead;
use crate::platform::{self, ListedKey, Platform, PutOptions, StoreError};
use crate::store::kv_keys;
use crate::store::seal::{self, KeyProblem, OpenError, SealKey};

/// Waits before the next attempt, by attempts made so far: the first try
/// is at once (the next scheduled run), then 5 min, 15 min, 1 h, then
/// every 6 h. Never given up on by time; only Keap's permanent refusals
/// make dead letters.
const BACKOFF_MS: [u64; 5] = [0, 5 * MINUTE, 15 * MINUTE, HOUR, 6 * HOUR];
const MINUTE: u64 = 60_000;
/// A reason longer than this is cut in the listing metadata (the sealed
/// value keeps it whole). 200 characters of at most 4 bytes each, plus the
/// rest, stay under KV's 1024-byte metadata limit.
const MAX_META_REASON_CHARS: usize = 200;
const HOUR: u64 = 60 * MINUTE;

/// The wait before attempt number `attempts + 1`.
pub fn backoff_ms(attempts: u32) -> u64 {
    let at = (attempts as usize).min(BACKOFF_MS.len() - 1);
    BACKOFF_MS.get(at).copied().unwrap_or(6 * HOUR)
}

/// One queued lead, as stored (sealed) under its key, with `G`, how far
/// its delivery got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry<G> {
    pub lead: Lead,
    pub progress: G,
    /// Delivery attempts made from the outbox so far.
    pub attempts: u32,
    pub first_queued_at_ms: u64,
    pub next_attempt_at_ms: u64,
    /// Why the last attempt failed (no personal data).
    pub last_error: Option<String>,
}

impl<G> Entry<G> {
    /// A fresh entry: due at once.
    pub fn new(lead: Lead, progress: G, reason: &str, now_ms: u64) -> Entry<G> {
        Entry {
            lead,
            progress,
            attempts: 0,
            first_queued_at_ms: now_ms,
            next_attempt_at_ms: now_ms,
            last_error: Some(reason.to_string()),
        }
    }

    /// The entry after a failed attempt at `now_ms`, reaching `progress`.
    pub fn failed(mut self, progress: G, reason: &str, now_ms: u64) -> Entry<G> {
        self.attempts = self.attempts.saturating_add(1);
        self.progress = progress;
        self.next_attempt_at_ms = now_ms.saturating_add(backoff_ms(self.attempts));
        self.last_error = Some(reason.to_string());
        self
    }

    /// The entry after an attempt that our own credentials stopped (Keap
    /// answered 401): how far it got and why are kept, but the lead is
    /// not at fault, so no attempt is counted and no back-off added. It
    /// stays due, and goes out with the first run that has usable
    /// credentials again (right after the owner reconnects).
    pub fn held(mut self, progress: G, reason: &str) -> Entry<G> {
        self.progress = progress;
        self.last_error = Some(reason.to_string());
        self
    }

    /// The entry made due again with its attempts forgotten, for a
    /// replay after the owner fixed the cause.
    pub fn requeued(mut self, now_ms: u64) -> Entry<G> {
        self.attempts = 0;
        self.next_attempt_at_ms = now_ms;
        self
    }

    /// The listing metadata: back-off state and the last reason (cut to fit
    /// KV's 1 KiB metadata limit), so neither a drain nor the admin page
    /// needs to read the value.
    fn metadata(&self) -> String {
        let meta = Meta {
            next_attempt_at: self.next_attempt_at_ms,
            attempts: self.attempts,
            reason: self
                .last_error
                .as_deref()
                .map(|r| r.chars().take(MAX_META_REASON_CHARS).collect()),
        };
        serde_json::to_string(&meta).unwrap_or_default()
    }
}

/// Which list an entry is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    Pending,
    Dead,
}

impl Queue {
    pub fn prefix(self) -> &'static str {
        match self {
            Queue::Pending => kv_keys::OUTBOX_PREFIX,
            Queue::Dead => kv_keys::DEAD_PREFIX,
        }
    }
}

/// An entry's id: the key without its prefix, the same in both lists.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(String);

impl EntryId {
    /// A new id sorting after every id made earlier (to the millisecond).
    fn new(now_ms: u64) -> EntryId {
        let mut bytes = [0u8; 6];
        if getrandom::getrandom(&mut bytes).is_err() {
            // A per-process random hasher still tells two entries of one
            // millisecond apart.
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(now_ms);
            bytes.copy_from_slice(&h.finish().to_le_bytes()[..6]);
        }
        let suffix = seal::hex(&bytes);
        EntryId(format!("{now_ms:013}-{suffix}"))
    }

    /// The id of a listed key of `queue`.
    pub fn from_key(queue: Queue, key: &str) -> Option<EntryId> {
        key.strip_prefix(queue.prefix())
            .filter(|id| !id.is_empty())
            .map(|id| EntryId(id.to_string()))
    }

    /// The id in `key` when it has exactly the shape [`EntryId::new`]
    /// makes (13 digits, `-`, 12 lower-case hex digits): for a key that
    /// comes from outside, like a queue message.
    pub fn from_exact_key(queue: Queue, key: &str) -> Option<EntryId> {
        let b = key.strip_prefix(queue.prefix())?.as_bytes();
        let exact = b.len() == 26
            && b[..13].iter().all(u8::is_ascii_digit)
            && b[13] == b'-'
            && b[14..]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
        exact.then(|| EntryId::from_key(queue, key)).flatten()
    }

    pub fn key(&self, queue: Queue) -> String {
        format!("{}{}", queue.prefix(), self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// When the entry was first queued, read from the id itself (its first
    /// 13 digits), so listings tell an entry's age without a value read.
    pub fn queued_at_ms(&self) -> Option<u64> {
        self.0.get(..13).and_then(|ms| ms.parse().ok())
    }
}

/// Why a lead could not be queued. The visitor is then told so honestly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueError {
    /// No usable `ENCRYPTION_KEY`: a person's data is never stored in clear.
    NoSealKey(KeyProblem),
    Store(StoreError),
}

impl std::fmt::Display for QueueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueError::NoSealKey(p) => write!(f, "cannot queue the lead: {p}"),
            QueueError::Store(e) => write!(f, "cannot queue the lead: {e}"),
        }
    }
}

/// Why a stored entry could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryLoadError {
    NoSealKey(KeyProblem),
    Store(StoreError),
    /// Sealed under another key, or tampered with.
    Unreadable(OpenError),
    /// Opened, but not an entry this worker understands.
    Corrupt,
}

/// Writes an entry (new, or back after a failed attempt).
pub async fn save<P: Platform, G: Serialize>(
    platform: &P,
    seal_key: &Result<SealKey, KeyProblem>,
    queue: Queue,
    id: &EntryId,
    entry: &Entry<G>,
) -> Result<(), QueueError> {
    let key = seal_key
        .as_ref()
        .map_err(|p| QueueError::NoSealKey(p.clone()))?;
    // A struct of texts and integers always serialises.
    let plain = serde_json::to_vec(entry).unwrap_or_default();
    let sealed = seal::seal(key, kv_keys::OUTBOX_LABEL, &plain);
    let options = PutOptions {
        ttl_secs: None,
        metadata: Some(entry.metadata()),
    };
    platform
        .kv_put(&id.key(queue), &sealed, options)
        .await
        .map_err(QueueError::Store)
}

/// Queues a lead Keap could not take now (`reason`, no personal data),
/// due at once: the tests' shorthand for [`enqueue_due`].
#[cfg(test)]
pub async fn enqueue<P: Platform, G: Serialize>(
    platform: &P,
    seal_key: &Result<SealKey, KeyProblem>,
    lead: &Lead,
    progress: G,
    reason: &str,
) -> Result<EntryId, QueueError> {
    let now = platform.now_ms();
    enqueue_due(platform, seal_key, lead, progress, reason, now)
        .await
        .map(|(id, _)| id)
}

/// The same, not due before `due_at_ms` (a lead the invocation that
/// queued it is about to retry; see [`crate::retry::timing`]). Returns
/// the entry as stored too.
pub async fn enqueue_due<P: Platform, G: Serialize>(
    platform: &P,
    seal_key: &Result<SealKey, KeyProblem>,
    lead: &Lead,
    progress: G,
    reason: &str,
    due_at_ms: u64,
) -> Result<(EntryId, Entry<G>), QueueError> {
    let now = platform.now_ms();
    let id = EntryId::new(now);
    let mut entry = Entry::new(lead.clone(), progress, reason, now);
    entry.next_attempt_at_ms = due_at_ms;
    save(platform, seal_key, Queue::Pending, &id, &entry).await?;
    Ok((id, entry))
}

/// Keeps a lead Keap refused (one attempt made) as a dead letter, for the
/// owner to see and replay. One KV write.
pub async fn enqueue_dead<P: Platform, G: Serialize>(
    platform: &P,
    seal_key: &Result<SealKey, KeyProblem>,
    lead: &Lead,
    progress: G,
    reason: &str,
) -> Result<EntryId, QueueError> {
    let now = platform.now_ms();
    let id = EntryId::new(now);
    let entry = Entry {
        attempts: 1,
        ..Entry::new(lead.clone(), progress, reason, now)
    };
    save(platform, seal_key, Queue::Dead, &id, &entry).await?;
    Ok(id)
}

/// Reads and opens an entry; `None` when it is gone.
pub async fn load<P: Platform, G: DeserializeOwned>(
    platform: &P,
    seal_key: &Result<SealKey, KeyProblem>,
    queue: Queue,
    id: &EntryId,
) -> Result<Option<Entry<G>>, EntryLoadError> {
    let key = seal_key
        .as_ref()
        .map_err(|p| EntryLoadError::NoSealKey(p.clone()))?;
    let Some(sealed) = platform
        .kv_get(&id.key(queue))
        .await
        .map_err(EntryLoadError::Store)?
    else {
        return Ok(None);
    };
    let plain =
        seal::open(key, kv_keys::OUTBOX_LABEL, &sealed).map_err(EntryLoadError::Unreadable)?;
    std::str::from_utf8(&plain)
        .ok()
        .and_then(|text| serde_json::from_str(text).ok())
        .map(Some)
        .ok_or(EntryLoadError::Corrupt)
}

/// [`load`] for a run going through a listing: `None` when the entry is
/// gone (delivered meanwhile) or cannot be read; the latter is logged and
/// the entry left where it is (never dropped; /admin shows the count).
pub async fn load_listed<P: Platform, G: DeserializeOwned>(
    platform: &P,
    seal_key: &Result<SealKey, KeyProblem>,
    queue: Queue,
    id: &EntryId,
) -> Option<Entry<G>> {
    load(platform, seal_key, queue, id)
        .await
        .unwrap_or_else(|e| {
            let list = queue.prefix().trim_end_matches('/');
            platform.log(&format!(
                "{list}: entry {} cannot be read: {e:?}",
                id.as_str()
            ));
            None
        })
}

/// Removes an entry (delivered, or moved).
pub async fn delete<P: Platform>(
    platform: &P,
    queue: Queue,
    id: &EntryId,
) -> Result<(), StoreError> {
    platform.kv_delete(&id.key(queue)).await
}

/// Moves an entry between lists: written to the new one first, then
/// removed from the old, so a failure in between leaves it in both (and
/// never in neither).
pub async fn move_to<P: Platform, G: Serialize>(
    platform: &P,
    seal_key: &Result<SealKey, KeyProblem>,
    from: Queue,
    to: Queue,
    id: &EntryId,
    entry: &Entry<G>,
) -> Result<(), QueueError> {
    save(platform, seal_key, to, id, entry).await?;
    delete(platform, from, id).await.map_err(QueueError::Store)
}

/// A key of a listing, triaged from its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: EntryId,
    pub attempts: u32,
    pub next_attempt_at_ms: u64,
    /// Why the last attempt failed (cut short), when the metadata says.
    pub reason: Option<String>,
}

impl Listed {
    /// Whether its back-off is over at `now_ms`.
    pub fn is_due(&self, now_ms: u64) -> bool {
        self.next_attempt_at_ms <= now_ms
    }
}

/// A key's listing metadata, as [`Entry::metadata`] writes it; when it
/// cannot be read, the default: due, no attempt, no reason.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Meta {
    next_attempt_at: u64,
    attempts: u32,
    reason: Option<String>,
}

impl Meta {
    fn parse(text: &str) -> Option<Meta> {
        serde_json::from_str(text).ok()
    }
}

/// One page of `queue`, oldest first. Keys whose metadata cannot be read
/// are listed as due (they are opened to find out).
pub async fn list<P: Platform>(
    platform: &P,
    queue: Queue,
    cursor: Option<String>,
    limit: u32,
) -> Result<(Vec<Listed>, Option<String>), StoreError> {
    let page = platform.kv_list(queue.prefix(), cursor, limit).await?;
    Ok((read_listing(queue, &page.keys), page.cursor))
}

/// Every entry of `queue` as listed, oldest first (listing pages only,
/// no entry opened).
pub async fn list_all<P: Platform>(platform: &P, queue: Queue) -> Result<Vec<Listed>, StoreError> {
    let keys = platform::list_every(platform, queue.prefix()).await?;
    Ok(read_listing(queue, &keys))
}

/// The entries of a listing, from their keys and metadata.
fn read_listing(queue: Queue, keys: &[ListedKey]) -> Vec<Listed> {
    keys.iter()
        .filter_map(|k| {
            let id = EntryId::from_key(queue, &k.name)?;
            let meta = k.metadata.as_deref().and_then(Meta::parse);
            let meta = meta.unwrap_or_default();
            Some(Listed {
                id,
                attempts: meta.attempts,
                next_attempt_at_ms: meta.next_attempt_at,
                reason: meta.reason,
            })
        })
        .collect()
}

/// How many entries each list holds, as `/admin/status` shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pending: u64,
    pub dead: u64,
}

impl Counts {
    pub fn of(pending: &[Listed], dead: &[Listed]) -> Counts {
        Counts {
            pending: pending.len() as u64,
            dead: dead.len() as u64,
        }
    }
}

/// Counts both lists (their keys only).
pub async fn counts<P: Platform>(platform: &P) -> Result<Counts, StoreError> {
    let count = |queue: Queue| async move {
        platform::list_every(platform, queue.prefix())
            .await
            .map(|keys| keys.len() as u64)
    };
    Ok(Counts {
        pending: count(Queue::Pending).await?,
        dead: count(Queue::Dead).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::forms::DuplicateOption;
    use crate::form::lead::CustomValue;
    use crate::keap::delivery::Progress;
    use crate::testing::{block_on, MemoryPlatform};

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn config(with_key: bool) -> Result<SealKey, KeyProblem> {
        match with_key {
            true => SealKey::from_base64(KEY),
            false => Err(KeyProblem::Missing),
        }
    }

    fn lead() -> Lead {
        Lead {
            form_id: "contact".into(),
            email: Some("zelda.secret@example.com".into()),
            first_name: Some("Zelda".into()),
            last_name: Some("Hyrule".into()),
            phone: Some("+1 555 0199".into()),
            custom_fields: vec![CustomValue {
                id: 7,
                content: "Triforce Ltd".into(),
            }],
            tag_ids: vec![101],
            duplicate_option: DuplicateOption::Email,
            opt_in_reason: None,
            ip: Some("203.0.113.9".into()),
            received_at_ms: 5,
            job_title: None,
            website: None,
            address: None,
            note: None,
        }
    }

    #[test]
    fn entries_written_by_the_hand_written_code_are_read() {
        use crate::fixtures;
        let full: Entry<Progress> = fixtures::record("outbox_entry_full.json");
        let lead = &full.lead;
        assert_eq!(lead.form_id, "contact");
        assert_eq!(lead.email.as_deref(), Some("jane.doe@bücher.example"));
        assert_eq!(
            (lead.first_name.as_deref(), lead.last_name.as_deref()),
            (Some("Jane"), Some("Doe \"JD\""))
        );
        assert_eq!(lead.phone.as_deref(), Some("+1 555 0100"));
        assert_eq!(
            lead.custom_fields,
            vec![
                CustomValue {
                    id: 7,
                    content: "ACME Ltd".into()
                },
                CustomValue {
                    id: 12,
                    content: "Line one\nline two".into()
                }
            ]
        );
        assert_eq!(lead.tag_ids, vec![101, 205]);
        assert_eq!(lead.duplicate_option, DuplicateOption::EmailAndName);
        assert_eq!(
            lead.opt_in_reason.as_deref(),
            Some("Signed up on example.com")
        );
        assert_eq!(lead.ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(lead.received_at_ms, 1_767_225_600_000);
        assert_eq!(full.progress, Progress::contact_written(4821));
        assert_eq!(
            (
                full.attempts,
                full.first_queued_at_ms,
                full.next_attempt_at_ms
            ),
            (1, 1_767_225_600_000, 1_767_225_960_000)
        );
        assert_eq!(full.last_error.as_deref(), Some("Keap had an error (502)"));

        let minimal: Entry<Progress> = fixtures::record("outbox_entry_minimal.json");
        assert_eq!(minimal.lead.form_id, "newsletter");
        assert_eq!(
            (minimal.lead.first_name.as_ref(), minimal.lead.ip.as_ref()),
            (None, None)
        );
        assert!(minimal.lead.custom_fields.is_empty() && minimal.lead.tag_ids.is_empty());
        assert_eq!(minimal.lead.duplicate_option, DuplicateOption::Email);
        assert_eq!(
            (minimal.progress, minimal.attempts, minimal.last_error),
            (Progress::NeedsContact, 0, None)
        );

        // Sealed by the old code, loaded by the new.
        let p = MemoryPlatform::new();
        let c = SealKey::from_base64("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=");
        let id = EntryId("1767225600000-0a0b0c0d0e0f".into());
        block_on(p.kv_put(
            &id.key(Queue::Pending),
            &fixtures::text("outbox_entry_full.sealed"),
            PutOptions::default(),
        ))
        .unwrap();
        let loaded = block_on(load(&p, &c, Queue::Pending, &id)).unwrap();
        assert_eq!(loaded, Some(full));
    }

    /// `outbox_entry_dropin.json` was written by this version from a
    /// Netlify-style post (issue 25): a note with a subject and unmapped
    /// fields. `outbox_entry_note.json` is the same entry as the version
    /// before wrote it (no `subject`, no `fields`).
    #[test]
    fn entries_with_a_subject_and_unmapped_fields_are_read_and_older_ones_still_are() {
        use crate::fixtures;
        let dropin: Entry<Progress> = fixtures::record("outbox_entry_dropin.json");
        let note = dropin.lead.note.as_ref().unwrap();
        assert_eq!(note.subject.as_deref(), Some("Spring offer"));
        assert_eq!(
            note.fields.lines(),
            vec!["company: ACME Ltd", "services: design, hosting"]
        );
        let before: Entry<Progress> = fixtures::record("outbox_entry_note.json");
        let note = before.lead.note.as_ref().unwrap();
        assert_eq!(
            note.message.as_deref(),
            Some("Please call me\nabout the offer.")
        );
        assert!(note.subject.is_none() && note.fields.is_empty());
        assert_eq!(
            before.lead.first_name, dropin.lead.first_name,
            "the rest of the lead is the same"
        );
    }

    #[test]
    fn a_record_that_is_not_an_entry_is_refused() {
        let good: serde_json::Value =
            serde_json::from_str(&crate::fixtures::text("outbox_entry_full.json")).unwrap();
        let read = |v: serde_json::Value| serde_json::from_value::<Entry<Progress>>(v).ok();
        assert!(read(good.clone()).is_some());
        let mut bad = good.clone();
        bad["attempts"] = serde_json::json!(5_000_000_000u64);
        assert!(read(bad).is_none());
        let mut bad = good.clone();
        bad["progress"] = serde_json::json!({"stage": "unknown"});
        assert!(read(bad).is_none());
        let mut bad = good;
        bad.as_object_mut().unwrap().remove("lead");
        assert!(read(bad).is_none());
    }

    #[test]
    fn listing_metadata_written_by_the_hand_written_code_is_read() {
        use crate::fixtures;
        let full: Meta = fixtures::record("outbox_meta_full.json");
        assert_eq!(
            (full.next_attempt_at, full.attempts, full.reason.as_deref()),
            (1_767_225_960_000, 1, Some("Keap had an error (502)"))
        );
        let minimal: Meta = fixtures::record("outbox_meta_minimal.json");
        assert_eq!((minimal.next_attempt_at, minimal.reason), (5, None));
        let long: Meta = fixtures::record("outbox_meta_long_reason.json");
        assert_eq!(long.reason.unwrap().chars().count(), MAX_META_REASON_CHARS);

        // What the new code writes for the same entries is the same JSON.
        let same = |entry: &Entry<Progress>, name: &str| {
            let written: serde_json::Value = serde_json::from_str(&entry.metadata()).unwrap();
            let old: serde_json::Value = serde_json::from_str(&fixtures::text(name)).unwrap();
            assert_eq!(written, old, "{name}");
        };
        let entry: Entry<Progress> = fixtures::record("outbox_entry_full.json");
        same(&entry, "outbox_meta_full.json");
        let entry: Entry<Progress> = fixtures::record("outbox_entry_minimal.json");
        same(&entry, "outbox_meta_minimal.json");
        let long = Entry::new(entry.lead, Progress::NeedsContact, &"é".repeat(300), 5);
        same(&long, "outbox_meta_long_reason.json");
    }

    #[test]
    fn listing_metadata_is_read_as_written_and_reason_is_optional() {
        let m = Meta::parse(r#"{"next_attempt_at":9,"attempts":2,"reason":"why"}"#).unwrap();
        assert_eq!(
            (m.next_attempt_at, m.attempts, m.reason.as_deref()),
            (9, 2, Some("why"))
        );
        let m = Meta::parse(r#"{"next_attempt_at":9,"attempts":2}"#).unwrap();
        assert_eq!(m.reason, None);
        let m = Meta::parse(r#"{"next_attempt_at":9,"attempts":2,"reason":null}"#).unwrap();
        assert_eq!(m.reason, None);
        assert!(Meta::parse(r#"{"attempts":2}"#).is_none());
        assert!(Meta::parse(r#"{"next_attempt_at":9,"attempts":-1}"#).is_none());
        assert!(Meta::parse("not json").is_none());
        let written = Entry::new(lead(), Progress::NeedsContact, "why", 9).metadata();
        let m = Meta::parse(&written).unwrap();
        assert_eq!(
            (m.next_attempt_at, m.attempts, m.reason.as_deref()),
            (9, 0, Some("why"))
        );
    }

    #[test]
    fn counts_show_both_lists() {
        let c = Counts {
            pending: 3,
            dead: 1,
        };
        assert_eq!(
            serde_json::to_value(c).unwrap(),
            serde_json::json!({"pending": 3, "dead": 1})
        );
    }

    #[test]
    fn backoff_grows_then_stays_at_six_hours() {
        let waits: Vec<u64> = (0..8).map(|a| backoff_ms(a) / MINUTE).collect();
        assert_eq!(waits, vec![0, 5, 15, 60, 360, 360, 360, 360]);
    }

    #[test]
    fn enqueue_seals_and_round_trips() {
        let p = MemoryPlatform::new();
        let c = config(true);
        let id = block_on(enqueue(
            &p,
            &c,
            &lead(),
            Progress::NeedsContact,
            "Keap had an error (503)",
        ))
        .unwrap();
        assert_eq!(p.kv_writes.get(), 1);
        let key = id.key(Queue::Pending);
        assert!(key.starts_with("outbox/1767225600000-"), "{key}");
        assert_eq!(key.len(), "outbox/".len() + 13 + 1 + 12);
        let stored = p.value(&key).unwrap();
        for personal in ["zelda", "Zelda", "Hyrule", "555", "Triforce", "203.0.113"] {
            assert!(!stored.contains(personal), "{personal} in clear");
        }
        let meta = p.kv.borrow().get(&key).unwrap().metadata.clone().unwrap();
        let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
        assert_eq!(
            meta,
            serde_json::json!({
                "attempts": 0,
                "next_attempt_at": 1_767_225_600_000u64,
                "reason": "Keap had an error (503)"
            })
        );
        assert_eq!(id.queued_at_ms(), Some(1_767_225_600_000));
        assert_eq!(p.kv.borrow().get(&key).unwrap().expires_at_ms, None);

        let entry: Entry<Progress> = block_on(load(&p, &c, Queue::Pending, &id))
            .unwrap()
            .unwrap();
        assert_eq!(entry.lead, lead());
        assert_eq!(entry.progress, Progress::NeedsContact);
        assert_eq!(entry.last_error.as_deref(), Some("Keap had an error (503)"));
    }

    #[test]
    fn no_key_or_failed_write_is_an_error_not_a_success() {
        let p = MemoryPlatform::new();
        let r = block_on(enqueue(
            &p,
            &config(false),
            &lead(),
            Progress::NeedsContact,
            "x",
        ));
        assert!(matches!(r, Err(QueueError::NoSealKey(KeyProblem::Missing))));
        p.fail_writes.set(true);
        let r = block_on(enqueue(
            &p,
            &config(true),
            &lead(),
            Progress::NeedsContact,
            "x",
        ));
        assert!(matches!(r, Err(QueueError::Store(_))));
        assert!(p.keys("").is_empty());
    }

    #[test]
    fn the_pending_listing_reads_every_page() {
        let p = MemoryPlatform::new();
        for n in 0..1001u64 {
            let id = EntryId(format!("{:013}-000000", 1_767_225_600_000 + n));
            let meta = format!(r#"{{"next_attempt_at":{n},"attempts":1}}"#);
            let options = PutOptions {
                ttl_secs: None,
                metadata: Some(meta),
            };
            block_on(p.kv_put(&id.key(Queue::Pending), "sealed", options)).unwrap();
        }
        block_on(p.kv_put("dead/0000000000001-000000", "x", PutOptions::default())).unwrap();
        let listed = block_on(list_all(&p, Queue::Pending)).unwrap();
        assert_eq!(listed.len(), 1001);
        assert!(listed.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
        assert_eq!(listed[1000].next_attempt_at_ms, 1000);
        assert_eq!(listed.iter().filter(|l| l.is_due(499)).count(), 500);
    }

    #[test]
    fn listing_is_oldest_first_and_skips_entries_in_backoff() {
        let p = MemoryPlatform::new();
        let c = config(true);
        let first = block_on(enqueue(&p, &c, &lead(), Progress::NeedsContact, "a")).unwrap();
        p.advance_ms(1);
        let second = block_on(enqueue(&p, &c, &lead(), Progress::NeedsContact, "b")).unwrap();
        p.advance_ms(1);
        let third = block_on(enqueue(&p, &c, &lead(), Progress::NeedsContact, "c")).unwrap();
        let now = p.now_ms();
        let due = |now: u64| {
            block_on(list_all(&p, Queue::Pending))
                .unwrap()
                .into_iter()
                .filter(|l| l.is_due(now))
                .map(|l| l.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(due(now), vec![first.clone(), second.clone(), third.clone()]);

        // The second fails: not due again for five minutes.
        let entry: Entry<Progress> = block_on(load(&p, &c, Queue::Pending, &second))
            .unwrap()
            .unwrap();
        let entry = entry.failed(Progress::contact_written(9), "Keap had an error (500)", now);
        block_on(save(&p, &c, Queue::Pending, &second, &entry)).unwrap();
        assert_eq!(due(now), vec![first.clone(), third.clone()]);
        assert_eq!(due(now + 5 * MINUTE).len(), 3);
        assert_eq!(
            block_on(list_all(&p, Queue::Pending)).unwrap().len(),
            3,
            "all listed"
        );
        let reloaded: Entry<Progress> = block_on(load(&p, &c, Queue::Pending, &second))
            .unwrap()
            .unwrap();
        assert_eq!(
            (reloaded.attempts, reloaded.progress),
            (1, Progress::contact_written(9))
        );

        // Dead letters: moved, counted, and loadable.
        block_on(move_to(&p, &c, Queue::Pending, Queue::Dead, &first, &entry)).unwrap();
        block_on(delete(&p, Queue::Pending, &third)).unwrap();
        assert_eq!(
            block_on(counts(&p)).unwrap(),
            Counts {
                pending: 1,
                dead: 1
            }
        );
        assert!(block_on(load::<_, Progress>(&p, &c, Queue::Dead, &first))
            .unwrap()
            .is_some());
        assert_eq!(
            block_on(load::<_, Progress>(&p, &c, Queue::Pending, &first)).unwrap(),
            None
        );
    }

    #[test]
    fn dead_letters_go_straight_to_the_dead_list() {
        let p = MemoryPlatform::new();
        let c = config(true);
        let id = block_on(enqueue_dead(
            &p,
            &c,
            &lead(),
            Progress::NeedsContact,
            "Keap refused the lead (400)",
        ))
        .unwrap();
        assert_eq!(p.keys("dead/"), vec![id.key(Queue::Dead)]);
        assert!(p.keys("outbox/").is_empty());
        let e: Entry<Progress> = block_on(load(&p, &c, Queue::Dead, &id)).unwrap().unwrap();
        assert_eq!(e.attempts, 1);
    }

    #[test]
    fn a_value_under_another_label_or_key_is_refused() {
        let p = MemoryPlatform::new();
        let c = config(true);
        let id = block_on(enqueue(&p, &c, &lead(), Progress::NeedsContact, "x")).unwrap();
        let other = SealKey::from_base64("HyAdGxoZGBcWFRQTEhEQDw4NDAsKCQgHBgUEAwIBAAA=");
        assert!(matches!(
            block_on(load::<_, Progress>(&p, &other, Queue::Pending, &id)),
            Err(EntryLoadError::Unreadable(_))
        ));
        let id2 = EntryId::from_key(Queue::Pending, &id.key(Queue::Pending)).unwrap();
        assert_eq!(id2, id);
        assert_eq!(EntryId::from_key(Queue::Pending, "outbox/"), None);
        assert_eq!(EntryId::from_key(Queue::Pending, "dead/x"), None);
    }
}
