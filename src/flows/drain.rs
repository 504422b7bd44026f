//! Delivering the outbox: the loop shared by the scheduled run and
//! `POST /admin/replay`.
//!
//! Entries go oldest first, within the invocation's budget of outbound
//! requests ([`SUBREQUEST_BUDGET`]), which every request of the
//! invocation spends (the refresh and the alerts too, counted by
//! [`Metered`]). Entries still in back-off are skipped from the listing's
//! metadata alone. The credentials are read once; a 401 or a 429 ends the
//! run's deliveries, since every other entry would meet the same answer.
//!
//! # Idempotency
//!
//! A run can die between Keap's answer and the outbox write that records
//! it; the entry is then delivered again. That is harmless:
//! - the upsert is keyed by the lead's email (`duplicate_option` is
//!   `Email` or `EmailAndName`), so a second upsert updates the contact
//!   the first one made, with the same values;
//! - tags already applied answer `DUPLICATE`, which counts as delivered;
//! - a note is recorded in the entry's progress once written, so a retry
//!   after a failed tags call does not write it again. (Only a run that
//!   dies between Keap's answer and the outbox write, or a note call whose
//!   answer is lost, can leave a second note.)
//!
//! A lead without an email (a phone number only) has no such key: a
//! second upsert would make a second contact. For such a lead with tags
//! or a note the contact id is saved in the entry (`NeedsTags`) before the
//! tag and note calls, one KV write, so a retry only finishes the contact.
//! Leads with an email skip that write.

use serde::Serialize;

use crate::alerts::{self, alert, AlertKind};
use crate::config::Config;
use crate::keap::credentials::{self, Credentials};
use crate::keap::delivery::{self, DeliveryOutcome, Progress};
use crate::outcome_log::{self, Event, Outcome, OutcomeLine, Via};
use crate::platform::metered::Metered;
use crate::platform::{Platform, QueueSend, QueueSendError};
use crate::retry::message;
use crate::store::outbox::{self, Entry, EntryId, Listed, Queue, QueueError};
use crate::time;

/// Requests kept back from deliveries for the run's alerts (one
/// `dead_letter`, one `outbox_stuck`).
pub const ALERT_RESERVE: usize = 2;
/// An outbox whose oldest entry has waited this long raises `outbox_stuck`.
pub const STUCK_AFTER_MS: u64 = 24 * 3_600_000;
/// Most dead letters one replay moves back (each costs a read, a write
/// and a delete of KV's per-invocation operations).
pub const REPLAY_LIMIT: usize = 100;

/// What remains of the invocation's budget for deliveries: all but the
/// [`ALERT_RESERVE`].
pub fn available<P: Platform>(p: &Metered<'_, P>) -> usize {
    p.left().saturating_sub(ALERT_RESERVE)
}

/// Why a drain stopped before every due entry was tried. Written in JSON
/// as [`Stop::as_str`] spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum Stop {
    /// No usable credentials: nothing was sent, nothing counted as tried.
    NoCredentials,
    /// Keap answered 401: the token is marked for the refresher.
    TokenRejected,
    /// Keap answered 429: the whole run backs off.
    Throttled,
    /// The next entry did not fit in what was left of the budget.
    Budget,
    /// KV failed; what was done is kept, the rest waits.
    Store,
    /// The runtime warned that the invocation's CPU time is nearly used
    /// up: the run stopped between two leads, everything done recorded.
    CpuLimit,
}

impl Stop {
    pub fn as_str(self) -> &'static str {
        match self {
            Stop::NoCredentials => "no_credentials",
            Stop::TokenRejected => "token_rejected",
            Stop::Throttled => "throttled",
            Stop::Budget => "budget",
            Stop::Store => "store",
            Stop::CpuLimit => "cpu_limit",
        }
    }
}

impl From<Stop> for &'static str {
    fn from(stop: Stop) -> &'static str {
        stop.as_str()
    }
}

/// What a drain did: counts only, no personal data. Absent values are
/// written `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DrainReport {
    pub delivered: u32,
    /// Tried and failed for now: pending again, in back-off.
    pub retried: u32,
    /// Refused by Keap for good: moved to the dead letters.
    pub dead: u32,
    /// Pending but still in back-off; not read.
    pub skipped: u32,
    /// Pending entries left after the run.
    pub remaining: u64,
    /// Outbound requests the whole invocation made, of its budget.
    pub budget_used: usize,
    pub stopped: Option<Stop>,
    /// Why no Keap call could be made, when `stopped` is `no_credentials`.
    pub unavailable: Option<String>,
    /// Due entries left over that were handed to the delivery queue.
    #[serde(skip_serializing_if = "is_zero")]
    pub enqueued: u32,
    /// The invocation's budget (for the summary line).
    #[serde(skip)]
    pub budget: usize,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl DrainReport {
    /// The one summary log line of a run.
    pub fn summary(&self) -> String {
        let stopped = self
            .stopped
            .map(|s| format!(", stopped: {}", s.as_str()))
            .unwrap_or_default();
        let enqueued = if self.enqueued > 0 {
            format!(", {} handed to the queue", self.enqueued)
        } else {
            String::new()
        };
        format!(
            "outbox: {} delivered, {} retried, {} dead, {} skipped in back-off, {} remaining, \
             {} of {} requests used{stopped}{enqueued}",
            self.delivered,
            self.retried,
            self.dead,
            self.skipped,
            self.remaining,
            self.budget_used,
            self.budget
        )
    }
}

/// Delivers the due pending entries through `p` (which has already spent
/// `p.fetches()` on, say, a refresh), then alerts if the outbox is stuck.
/// Due entries a stop left over are handed to the delivery queue, when
/// one is bound, so they need not wait for the next run. `via`: which
/// invocation this is, for the log lines.
pub async fn drain<P: Platform>(p: &Metered<'_, P>, config: &Config, via: Via) -> DrainReport {
    match drain_from(p, config, via, false).await {
        Released::Drained(report) => report,
        // Only `release` hands everything to the queue first.
        Released::Queued(enqueued) => DrainReport {
            enqueued,
            ..DrainReport::default()
        },
    }
}

/// What [`release`] did.
pub enum Released {
    /// Every due entry went to the delivery queue: this many.
    Queued(u32),
    /// The queue took none or some (`enqueued`); the rest were drained here.
    Drained(DrainReport),
}

/// [`drain`], after first handing every due entry to the delivery queue
/// (when one is bound), so that many consumers deliver them side by side;
/// what the queue did not take is delivered here. After connecting.
pub async fn release<P: Platform>(p: &Metered<'_, P>, config: &Config, via: Via) -> Released {
    drain_from(p, config, via, true).await
}

async fn drain_from<P: Platform>(
    p: &Metered<'_, P>,
    config: &Config,
    via: Via,
    queue_first: bool,
) -> Released {
    let mut report = DrainReport {
        budget: p.budget(),
        ..DrainReport::default()
    };
    let listed = match outbox::list_all(p, Queue::Pending).await {
        Ok(listed) => listed,
        Err(e) => {
            p.log(&format!("outbox: could not list the pending entries: {e}"));
            report.stopped = Some(Stop::Store);
            report.budget_used = p.fetches();
            return Released::Drained(report);
        }
    };
    let now = p.now_ms();
    let (mut due, waiting): (Vec<Listed>, Vec<Listed>) =
        listed.iter().cloned().partition(|l| l.is_due(now));
    report.skipped = u32::try_from(waiting.len()).unwrap_or(u32::MAX);
    if queue_first && !due.is_empty() {
        // Handed in order: the queue took the first ones.
        report.enqueued = hand_to_queue(p, &due).await;
        due.drain(..(report.enqueued as usize).min(due.len()));
        if due.is_empty() {
            return Released::Queued(report.enqueued);
        }
    }

    match credentials::load(p, config).await {
        Ok(creds) => {
            let reached = deliver_due(p, config, &creds, &due, via, &mut report).await;
            if matches!(
                report.stopped,
                Some(Stop::Budget | Stop::CpuLimit | Stop::Throttled)
            ) {
                report.enqueued += hand_to_queue(p, due.get(reached..).unwrap_or_default()).await;
            }
        }
        Err(why) => {
            report.stopped = Some(Stop::NoCredentials);
            report.unavailable = Some(why.to_string());
        }
    }

    let gone = u64::from(report.delivered) + u64::from(report.dead);
    report.remaining = (listed.len() as u64).saturating_sub(gone);
    if report.remaining > 0 {
        alert_if_stuck(p, config, &listed, &report).await;
    }
    report.budget_used = p.fetches();
    Released::Drained(report)
}

/// Delivers `due` in order until a stop; how many it went through (the
/// rest are for the queue or the next run).
async fn deliver_due<P: Platform>(
    p: &Metered<'_, P>,
    config: &Config,
    creds: &Credentials,
    due: &[Listed],
    via: Via,
    report: &mut DrainReport,
) -> usize {
    let mut dead_alerted = false;
    for (done, listed) in due.iter().enumerate() {
        // Between two leads: everything before is recorded.
        if done > 0 && p.near_cpu_limit() {
            report.stopped = Some(Stop::CpuLimit);
            return done;
        }
        let Some(entry) =
            outbox::load_listed::<_, Progress>(p, &config.seal_key, Queue::Pending, &listed.id)
                .await
        else {
            continue;
        };
        // Claimed by a queue consumer since the listing: its own.
        if entry.next_attempt_at_ms > p.now_ms() {
            report.skipped += 1;
            continue;
        }
        if Progress::calls_needed(entry.progress, &entry.lead) > available(p) {
            report.stopped = Some(Stop::Budget);
            return done;
        }
        let attempt = attempt(p, config, creds, &listed.id, &entry, via).await;
        let settled = settle(
            p,
            config,
            Queue::Pending,
            &listed.id,
            entry,
            &attempt.outcome,
        )
        .await;
        attempt.close(p, creds).await;
        match settled {
            Ok(Settled::Delivered) => report.delivered += 1,
            Ok(Settled::Retrying { .. }) => report.retried += 1,
            Ok(Settled::Dead) => {
                report.dead += 1;
                if let DeliveryOutcome::Permanent { reason, .. } = &attempt.outcome {
                    p.log(&format!(
                        "outbox: Keap refused entry {}, kept as a dead letter: {reason}",
                        listed.id.as_str()
                    ));
                    if !dead_alerted {
                        dead_alerted = true;
                        alerts::dead_letter(p, config, reason).await;
                    }
                }
            }
            Err(e) => {
                // Keap's answer is not recorded: the entry is tried again
                // later, which the upsert's key makes harmless.
                p.log(&format!(
                    "outbox: entry {} could not be settled: {e}",
                    listed.id.as_str()
                ));
                report.stopped = Some(Stop::Store);
                return done + 1;
            }
        }
        if attempt.token_rejected() {
            report.stopped = Some(Stop::TokenRejected);
            return done + 1;
        }
        if attempt.throttled {
            report.stopped = Some(Stop::Throttled);
            return done + 1;
        }
    }
    due.len()
}

/// One try at delivering a stored lead, as the scheduled run, the retry
/// after the answer and the queue consumer each make it: the outcome,
/// what Keap's answers said beyond it, and the attempt's log line.
pub struct Attempt {
    pub outcome: DeliveryOutcome,
    /// Keap's longest `Retry-After` (seconds), if it sent one.
    pub retry_after_secs: Option<u64>,
    /// Keap answered 429 to one of the calls: time to stop calling.
    pub throttled: bool,
    line: String,
}

impl Attempt {
    /// Keap refused the access token (401): held until a refresh.
    pub fn token_rejected(&self) -> bool {
        matches!(
            self.outcome,
            DeliveryOutcome::Retry {
                token_rejected: true,
                ..
            }
        )
    }

    /// Once the outcome is recorded: the attempt's log line, and a token
    /// Keap refused marked for the next refresh.
    pub async fn close<P: Platform>(&self, p: &P, creds: &Credentials) {
        p.log(&self.line);
        if self.token_rejected() {
            credentials::rejected(p, creds).await;
        }
    }
}

/// Delivers entry `id` once, watching Keap's answers to this attempt
/// alone; records nothing (see [`settle`] and [`Attempt::close`]).
pub async fn attempt<P: Platform>(
    p: &P,
    config: &Config,
    creds: &Credentials,
    id: &EntryId,
    entry: &Entry<Progress>,
    via: Via,
) -> Attempt {
    let watched = Metered::new(p);
    let outcome = deliver_one(&watched, config, creds, id, entry).await;
    let line = attempt_line(p, entry, &outcome, watched.failure(), via).to_json();
    Attempt {
        retry_after_secs: watched.retry_after_secs(),
        throttled: watched.throttles() > 0,
        line,
        outcome,
    }
}

/// The log line of one attempt on `entry` (its attempts so far are the
/// ones before this one).
fn attempt_line<'a, P: Platform>(
    p: &P,
    entry: &'a Entry<Progress>,
    outcome: &DeliveryOutcome,
    error: Option<String>,
    via: Via,
) -> OutcomeLine<'a> {
    let (outcome, error) = match outcome {
        DeliveryOutcome::Delivered { .. } => (Outcome::Delivered, None),
        DeliveryOutcome::Retry {
            token_rejected: true,
            ..
        } => (Outcome::Held, error.or(Some("keap_401".into()))),
        DeliveryOutcome::Retry { .. } => (Outcome::Retrying, error),
        DeliveryOutcome::Permanent { .. } => (Outcome::Dead, error),
    };
    OutcomeLine {
        event: Event::Delivery,
        form: Some(&entry.lead.form_id),
        outcome,
        error,
        attempt: entry.attempts.saturating_add(2),
        waited_s: outcome_log::waited_s(entry.lead.received_at_ms, p.now_ms()),
        via,
    }
}

/// Hands due entries to the delivery queue, at most 100 a send, while
/// the budget allows (each send is an outbound request); how many were
/// handed. Nothing is sent without a queue.
pub async fn hand_to_queue<P: Platform>(p: &Metered<'_, P>, entries: &[Listed]) -> u32 {
    let mut handed = 0u32;
    for chunk in entries.chunks(100) {
        if p.fetches() >= p.budget() {
            break;
        }
        let messages: Vec<QueueSend> = chunk
            .iter()
            .map(|l| QueueSend {
                body: message::for_entry(&l.id),
                delay_secs: 0,
            })
            .collect();
        match p.queue_send(&messages).await {
            Ok(()) => handed += u32::try_from(chunk.len()).unwrap_or(u32::MAX),
            Err(QueueSendError::NotBound) => break,
            Err(e) => {
                p.log(&format!("outbox: the rest wait for the next run: {e}"));
                break;
            }
        }
    }
    handed
}

/// One entry's delivery. A lead without an email that still needs its
/// contact has the contact id saved before its tags and note (see the
/// module docs); if that save fails they are still tried, since a later
/// success deletes the entry anyway.
async fn deliver_one<P: Platform>(
    p: &P,
    config: &Config,
    creds: &Credentials,
    id: &EntryId,
    entry: &Entry<Progress>,
) -> DeliveryOutcome {
    let lead = &entry.lead;
    let save_between = entry.progress == Progress::NeedsContact
        && lead.email.is_none()
        && (!lead.tag_ids.is_empty() || lead.note.is_some());
    if !save_between {
        return delivery::deliver(p, config, creds, lead, entry.progress).await;
    }
    let (contact_id, contact) = match delivery::upsert(p, config, creds, lead).await {
        Ok(written) => written,
        Err(outcome) => return outcome,
    };
    let mut saved = entry.clone();
    saved.progress = Progress::contact_written(contact_id);
    if let Err(e) = outbox::save(p, &config.seal_key, Queue::Pending, id, &saved).await {
        p.log(&format!(
            "outbox: entry {}: could not record its contact before tagging: {e}",
            id.as_str()
        ));
    }
    delivery::finish(p, config, creds, lead, contact_id, contact, saved.progress).await
}

/// What became of an entry after a delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// In Keap; the entry is deleted.
    Delivered,
    /// Pending again, not before this time.
    Retrying { next_attempt_at_ms: u64 },
    /// Kept as a dead letter.
    Dead,
}

/// Records the outcome of delivering entry `id` of `queue`: a delivered
/// entry is deleted; one to retry is written back to the pending list
/// with its progress and back-off (a replayed dead letter that now only
/// fails for a while is pending again), except that a retry for want of
/// credentials (a 401) adds no back-off ([`Entry::held`]); a permanent
/// refusal is kept as a dead letter. Each is one KV write (two for a
/// move).
pub async fn settle<P: Platform>(
    platform: &P,
    config: &Config,
    queue: Queue,
    id: &EntryId,
    entry: Entry<Progress>,
    outcome: &DeliveryOutcome,
) -> Result<Settled, QueueError> {
    let now = platform.now_ms();
    let (to, entry, settled) = match outcome {
        DeliveryOutcome::Delivered { .. } => {
            outbox::delete(platform, queue, id)
                .await
                .map_err(QueueError::Store)?;
            return Ok(Settled::Delivered);
        }
        DeliveryOutcome::Retry {
            progress,
            reason,
            token_rejected,
        } => {
            let entry = if *token_rejected {
                entry.held(*progress, reason)
            } else {
                entry.failed(*progress, reason, now)
            };
            let next_attempt_at_ms = entry.next_attempt_at_ms;
            (
                Queue::Pending,
                entry,
                Settled::Retrying { next_attempt_at_ms },
            )
        }
        DeliveryOutcome::Permanent { progress, reason } => (
            Queue::Dead,
            entry.failed(*progress, reason, now),
            Settled::Dead,
        ),
    };
    if to == queue {
        outbox::save(platform, &config.seal_key, queue, id, &entry).await?;
    } else {
        outbox::move_to(platform, &config.seal_key, queue, to, id, &entry).await?;
    }
    Ok(settled)
}

/// Alerts `outbox_stuck` when the oldest pending entry has waited longer
/// than [`STUCK_AFTER_MS`] (rate-limited by the alerts module).
async fn alert_if_stuck<P: Platform>(
    p: &P,
    config: &Config,
    listed: &[Listed],
    report: &DrainReport,
) {
    let Some(oldest) = listed.iter().filter_map(|l| l.id.queued_at_ms()).min() else {
        return;
    };
    if p.now_ms().saturating_sub(oldest) <= STUCK_AFTER_MS {
        return;
    }
    let why = report
        .unavailable
        .clone()
        .or_else(|| {
            listed
                .iter()
                .find(|l| l.id.queued_at_ms() == Some(oldest))
                .and_then(|l| l.reason.clone())
        })
        .unwrap_or_else(|| "no reason recorded".into());
    let message = format!(
        "{} lead(s) are waiting in the outbox, the oldest since {} ({why}). They are kept and \
         delivered once Keap takes them; see /admin.",
        report.remaining,
        time::to_rfc3339(oldest)
    );
    alert(p, config, AlertKind::OutboxStuck, &message).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::lead::Lead;
    use crate::secret::Secret;
    use crate::settings::Settings;
    use crate::testing::{block_on, MemoryPlatform};

    fn config(with_key: bool) -> Config {
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        Config::from_settings(Settings {
            encryption_key: with_key.then(|| Secret::new(key)),
            ..Settings::default()
        })
    }

    fn lead() -> Lead {
        crate::fixtures::record::<Entry<Progress>>("outbox_entry_full.json").lead
    }

    /// The report is logged and answered, not stored; it keeps the
    /// hand-written code's JSON all the same (commit 7195471).
    #[test]
    fn the_report_is_written_as_before() {
        let same = |report: &DrainReport, name: &str| {
            let old: serde_json::Value =
                serde_json::from_str(&crate::fixtures::text(name)).unwrap();
            assert_eq!(serde_json::to_value(report).unwrap(), old, "{name}");
        };
        let full = DrainReport {
            delivered: 3,
            retried: 1,
            dead: 1,
            skipped: 2,
            remaining: 3,
            budget_used: 9,
            stopped: Some(Stop::Budget),
            unavailable: None,
            enqueued: 0,
            budget: 50,
        };
        same(&full, "drain_report.json");
        let unavailable = DrainReport {
            stopped: Some(Stop::NoCredentials),
            unavailable: Some("Keap is not connected".into()),
            ..DrainReport::default()
        };
        same(&unavailable, "drain_report_no_credentials.json");
        same(&DrainReport::default(), "drain_report_empty.json");
    }

    #[test]
    fn settle_deletes_retries_and_buries() {
        let p = MemoryPlatform::new();
        let c = config(true);
        let load_p = |id: &EntryId, q| block_on(outbox::load(&p, &c.seal_key, q, id)).unwrap();

        let id = block_on(outbox::enqueue(
            &p,
            &c.seal_key,
            &lead(),
            Progress::NeedsContact,
            "x",
        ))
        .unwrap();
        let entry = load_p(&id, Queue::Pending).unwrap();
        let retry = DeliveryOutcome::Retry {
            progress: Progress::contact_written(3),
            reason: "Keap had an error (502)".into(),
            token_rejected: false,
        };
        let s = block_on(settle(&p, &c, Queue::Pending, &id, entry, &retry)).unwrap();
        assert_eq!(
            s,
            Settled::Retrying {
                next_attempt_at_ms: p.now_ms() + outbox::backoff_ms(1)
            }
        );
        let entry = load_p(&id, Queue::Pending).unwrap();
        assert_eq!(
            (entry.attempts, entry.progress),
            (1, Progress::contact_written(3))
        );

        let refused = DeliveryOutcome::Permanent {
            progress: Progress::contact_written(3),
            reason: "Keap has no tag with id 9".into(),
        };
        let s = block_on(settle(&p, &c, Queue::Pending, &id, entry, &refused)).unwrap();
        assert_eq!(s, Settled::Dead);
        assert_eq!(load_p(&id, Queue::Pending), None);
        let dead = load_p(&id, Queue::Dead).unwrap();
        assert_eq!(
            dead.last_error.as_deref(),
            Some("Keap has no tag with id 9")
        );

        // A replayed dead letter that meets an outage is pending again.
        let s = block_on(settle(&p, &c, Queue::Dead, &id, dead, &retry)).unwrap();
        assert!(matches!(s, Settled::Retrying { .. }));
        assert_eq!(load_p(&id, Queue::Dead), None);
        let entry = load_p(&id, Queue::Pending).unwrap();

        let done = DeliveryOutcome::Delivered {
            contact_id: 3,
            contact: delivery::ContactWrite::Earlier,
        };
        let s = block_on(settle(&p, &c, Queue::Pending, &id, entry, &done)).unwrap();
        assert_eq!(s, Settled::Delivered);
        assert!(p.keys("").is_empty());
    }

    #[test]
    fn a_credentials_failure_adds_no_backoff_but_keaps_own_failures_do() {
        let p = MemoryPlatform::new();
        let c = config(true);
        let retry = |reason: &str, token_rejected| DeliveryOutcome::Retry {
            progress: Progress::contact_written(3),
            reason: reason.into(),
            token_rejected,
        };
        for (outcome, penalised) in [
            (retry("Keap rejected the credentials (401)", true), false),
            (retry("Keap had an error (503)", false), true),
            (retry("Keap throttled the request (429)", false), true),
            (retry("Keap did not answer in time", false), true),
        ] {
            let id = block_on(outbox::enqueue(
                &p,
                &c.seal_key,
                &lead(),
                Progress::NeedsContact,
                "x",
            ))
            .unwrap();
            let now = p.now_ms();
            let settled = block_on(settle(
                &p,
                &c,
                Queue::Pending,
                &id,
                load_entry(&p, &c, &id),
                &outcome,
            ))
            .unwrap();
            let after = load_entry(&p, &c, &id);
            let DeliveryOutcome::Retry { reason, .. } = &outcome else {
                unreachable!()
            };
            // Either way, how far it got and why are kept.
            assert_eq!(after.progress, Progress::contact_written(3));
            assert_eq!(after.last_error.as_deref(), Some(reason.as_str()));
            let listed = block_on(outbox::list_all(&p, Queue::Pending)).unwrap();
            let due_now = listed.iter().any(|l| l.id == id && l.is_due(now));
            if penalised {
                assert_eq!(after.attempts, 1, "{reason}");
                assert_eq!(
                    after.next_attempt_at_ms,
                    now + outbox::backoff_ms(1),
                    "{reason}"
                );
                assert!(!due_now, "{reason}: in back-off");
            } else {
                assert_eq!(after.attempts, 0, "{reason}");
                assert_eq!(after.next_attempt_at_ms, now, "{reason}");
                assert_eq!(
                    settled,
                    Settled::Retrying {
                        next_attempt_at_ms: now
                    }
                );
                assert!(due_now, "{reason}: still due at once");
            }
            block_on(outbox::delete(&p, Queue::Pending, &id)).unwrap();
        }

        // An entry already in back-off from an outage keeps its count,
        // and a 401 adds nothing to it.
        let id = block_on(outbox::enqueue(
            &p,
            &c.seal_key,
            &lead(),
            Progress::NeedsContact,
            "x",
        ))
        .unwrap();
        let entry = load_entry(&p, &c, &id).failed(Progress::NeedsContact, "503", p.now_ms());
        p.advance_ms(outbox::backoff_ms(1));
        let rejected = retry("Keap rejected the credentials (401)", true);
        block_on(settle(
            &p,
            &c,
            Queue::Pending,
            &id,
            entry.clone(),
            &rejected,
        ))
        .unwrap();
        let after = load_entry(&p, &c, &id);
        assert_eq!(
            (after.attempts, after.next_attempt_at_ms),
            (1, entry.next_attempt_at_ms)
        );
    }

    fn load_entry(p: &MemoryPlatform, c: &Config, id: &EntryId) -> Entry<Progress> {
        block_on(outbox::load(p, &c.seal_key, Queue::Pending, id))
            .unwrap()
            .unwrap()
    }
}
