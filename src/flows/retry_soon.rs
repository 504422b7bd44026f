//! The retry after the answer: a lead queued for a passing failure (a
//! timeout, a network error, 5xx, 429) is tried again in the same
//! invocation once the visitor has their answer, after a short wait
//! ([`crate::retry::timing`]), so that one blip costs seconds, not the
//! hour until the next Cron run. When the delivery queue is bound, the
//! entry's message goes first, delayed until the entry is due again: if
//! this retry fails too, or the runtime cuts it short, the message takes
//! over; if it succeeds, the message finds the entry gone and is dropped.
//!
//! This retry is part of the lead's first try: if it fails for a passing
//! reason too, no attempt is counted and no back-off added; the entry
//! stays due when its lease ends (or at Keap's `Retry-After`), when its
//! queue message or the next Cron run takes it.
//!
//! A lead held for our own credentials (not connected, re-authorization
//! needed, a 401) is not retried here: connecting releases it.

use crate::config::Config;
use crate::flows::drain;
use crate::keap::credentials;
use crate::keap::delivery::{DeliveryOutcome, Progress};
use crate::outcome_log::Via;
use crate::platform::metered::Metered;
use crate::platform::{Platform, QueueSend, QueueSendError};
use crate::retry::{message, timing};
use crate::store::outbox::{self, Entry, EntryId, Queue};

/// A lead just queued for a passing failure, to try again soon. Holds
/// the entry as it was stored, so the retry reads nothing back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySoon {
    pub id: EntryId,
    pub entry: Box<Entry<Progress>>,
    /// The wait before trying again in this invocation; `None` when Keap
    /// asked for longer than the invocation can wait (the message or the
    /// Cron run tries then).
    pub wait_ms: Option<u64>,
    /// Outbound requests the answer already made in this invocation.
    pub subrequests_used: usize,
}

/// Sends the entry's queue message (when a queue is bound), waits, and
/// tries the lead again once, recording the outcome in the outbox.
pub async fn retry_soon<P: Platform>(p: &P, config: &Config, work: RetrySoon) {
    let metered =
        Metered::after_spending(p, work.subrequests_used).with_budget(config.budget.subrequests);
    send_message(&metered, &work.id, &work.entry).await;
    let Some(wait_ms) = work.wait_ms else {
        return;
    };
    metered.sleep_ms(wait_ms).await;
    let creds = match credentials::load(&metered, config).await {
        Ok(creds) => creds,
        Err(why) => {
            p.log(&format!(
                "retry after the answer: entry {} waits: {why}",
                work.id.as_str()
            ));
            return;
        }
    };
    let entry = *work.entry;
    if entry.progress.calls_needed(&entry.lead) > drain::available(&metered) {
        return;
    }
    let attempt = drain::attempt(&metered, config, &creds, &work.id, &entry, Via::AfterReply).await;
    let settled = match &attempt.outcome {
        DeliveryOutcome::Retry {
            progress,
            reason,
            token_rejected: false,
        } => {
            let mut kept = entry.held(*progress, reason);
            kept.next_attempt_at_ms = timing::not_before(
                kept.next_attempt_at_ms,
                p.now_ms(),
                attempt.retry_after_secs,
            );
            outbox::save(p, &config.seal_key, Queue::Pending, &work.id, &kept).await
        }
        outcome => drain::settle(p, config, Queue::Pending, &work.id, entry, outcome)
            .await
            .map(|_| ()),
    };
    attempt.close(p, &creds).await;
    if let Err(e) = settled {
        p.log(&format!(
            "retry after the answer: entry {} could not be settled: {e}",
            work.id.as_str()
        ));
    }
}

/// The entry's one message, delayed until it is due. A failed send is
/// logged and leaves the entry to the Cron run.
async fn send_message<P: Platform>(p: &Metered<'_, P>, id: &EntryId, entry: &Entry<Progress>) {
    let send = QueueSend {
        body: message::for_entry(id),
        delay_secs: timing::delay_until(entry.next_attempt_at_ms, p.now_ms()),
    };
    match p.queue_send(std::slice::from_ref(&send)).await {
        Ok(()) | Err(QueueSendError::NotBound) => {}
        Err(e) => p.log(&format!(
            "form {}: entry {} waits for the Cron run: {e}",
            entry.lead.form_id,
            id.as_str()
        )),
    }
}
