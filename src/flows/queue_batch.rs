//! The delivery queue's consumer: a batch of messages, each naming one
//! pending outbox entry ([`crate::retry::message`]).
//!
//! For each message, in order: a malformed one is logged and dropped, one
//! naming an entry that is gone (delivered meanwhile) is acknowledged and
//! dropped, one whose entry is not due yet waits in the queue until it
//! is. A due entry is claimed (stored not due for
//! [`CLAIM_MS`](crate::retry::timing::CLAIM_MS), one KV write, so a
//! duplicate message or the Cron run leaves it alone), delivered from its
//! recorded progress and settled as the scheduled run does: delivered
//! and dead letters are acknowledged, a passing failure waits in the
//! queue for its back-off (a delayed retry of the message).
//!
//! Each batch is one invocation: it counts its requests against
//! `DRAIN_SUBREQUESTS` and checks the runtime's CPU warning between
//! leads. Where it stops, the rest of its messages are retried, so
//! nothing waits for the next Cron run.

use crate::alerts;
use crate::config::Config;
use crate::flows::drain::{self, Settled, Stop};
use crate::keap::credentials::{self, Credentials};
use crate::keap::delivery::{DeliveryOutcome, Progress};
use crate::outcome_log::Via;
use crate::platform::metered::Metered;
use crate::platform::Platform;
use crate::retry::message;
use crate::retry::timing::{self, CLAIM_MS};
use crate::store::outbox::{self, Queue};

/// What the shell does with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Done with (delivered, dead letter, gone, malformed, or held for
    /// our own credentials, which connecting releases).
    Ack,
    /// Hand it back, to come again after `delay_secs`.
    Retry { delay_secs: u32 },
}

/// The wait before a message comes back when KV failed or Keap throttled
/// without saying for how long.
const AGAIN_SECS: u32 = 60;

/// The counts of one batch, logged as one summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub delivered: u32,
    pub retried: u32,
    pub dead: u32,
    /// Malformed, or naming an entry that is gone.
    pub dropped: u32,
    /// Entries not due yet, or not reached: back in the queue.
    pub deferred: u32,
    pub stopped: Option<Stop>,
    pub budget_used: usize,
}

/// Decides every message of a batch. `bodies[i]` is message i's body
/// when it is text. The verdicts are in the same order.
pub async fn consume<P: Platform>(
    p: &P,
    config: &Config,
    bodies: &[Option<String>],
) -> (Vec<Verdict>, BatchReport) {
    let metered = Metered::new(p).with_budget(config.budget.subrequests);
    let mut report = BatchReport::default();
    let mut verdicts = Vec::with_capacity(bodies.len());
    let mut creds: Option<Result<Credentials, String>> = None;
    let mut dead_alerted = false;
    for (i, body) in bodies.iter().enumerate() {
        if i > 0 && metered.near_cpu_limit() {
            report.stopped = Some(Stop::CpuLimit);
            break;
        }
        let id = match message::parse(body.as_deref()) {
            Ok(id) => id,
            Err(why) => {
                p.log(&format!(
                    "queue: a malformed message was dropped ({})",
                    why.as_str()
                ));
                report.dropped += 1;
                verdicts.push(Verdict::Ack);
                continue;
            }
        };
        let entry = match outbox::load::<_, Progress>(
            &metered,
            &config.seal_key,
            Queue::Pending,
            &id,
        )
        .await
        {
            Ok(Some(entry)) => entry,
            Ok(None) => {
                report.dropped += 1;
                verdicts.push(Verdict::Ack);
                continue;
            }
            Err(outbox::EntryLoadError::Store(e)) => {
                p.log(&format!("queue: entry {}: {e}", id.as_str()));
                report.deferred += 1;
                verdicts.push(Verdict::Retry {
                    delay_secs: AGAIN_SECS,
                });
                continue;
            }
            Err(e) => {
                // Kept in the outbox (never dropped); /admin shows it.
                p.log(&format!(
                    "queue: entry {} cannot be read: {e:?}",
                    id.as_str()
                ));
                report.dropped += 1;
                verdicts.push(Verdict::Ack);
                continue;
            }
        };
        let now = metered.now_ms();
        if entry.next_attempt_at_ms > now {
            report.deferred += 1;
            verdicts.push(Verdict::Retry {
                delay_secs: timing::delay_until(entry.next_attempt_at_ms, now).max(1),
            });
            continue;
        }
        if entry.progress.calls_needed(&entry.lead) > drain::available(&metered) {
            report.stopped = Some(Stop::Budget);
            break;
        }
        // Read once a batch, when the first due entry needs them.
        let loaded = match creds {
            Some(ref loaded) => loaded,
            None => creds.insert(
                credentials::load(&metered, config)
                    .await
                    .map_err(|why| why.to_string()),
            ),
        };
        let creds = match loaded {
            Ok(creds) => creds.clone(),
            Err(why) => {
                // Held for our own credentials: the Cron run after a
                // refresh, or connecting, releases the entry.
                p.log(&format!("queue: entry {} waits: {why}", id.as_str()));
                report.stopped = Some(Stop::NoCredentials);
                verdicts.push(Verdict::Ack);
                continue;
            }
        };
        // The claim: not due for anyone else while this delivers it.
        let mut claimed = entry.clone();
        claimed.next_attempt_at_ms = now + CLAIM_MS;
        if let Err(e) =
            outbox::save(&metered, &config.seal_key, Queue::Pending, &id, &claimed).await
        {
            p.log(&format!("queue: entry {} not claimed: {e}", id.as_str()));
            report.deferred += 1;
            verdicts.push(Verdict::Retry {
                delay_secs: AGAIN_SECS,
            });
            continue;
        }
        let attempt = drain::attempt(&metered, config, &creds, &id, &claimed, Via::Queue).await;
        let settled = drain::settle(
            &metered,
            config,
            Queue::Pending,
            &id,
            entry,
            &attempt.outcome,
        )
        .await;
        attempt.close(&metered, &creds).await;
        let verdict = match settled {
            Ok(Settled::Delivered) => {
                report.delivered += 1;
                Verdict::Ack
            }
            Ok(Settled::Dead) => {
                report.dead += 1;
                if let (false, DeliveryOutcome::Permanent { reason, .. }) =
                    (dead_alerted, &attempt.outcome)
                {
                    dead_alerted = true;
                    alerts::dead_letter(&metered, config, reason).await;
                }
                Verdict::Ack
            }
            Ok(Settled::Retrying { .. }) if attempt.token_rejected() => Verdict::Ack,
            Ok(Settled::Retrying { next_attempt_at_ms }) => {
                report.retried += 1;
                let wait = timing::not_before(
                    next_attempt_at_ms,
                    metered.now_ms(),
                    attempt.retry_after_secs,
                );
                Verdict::Retry {
                    delay_secs: timing::delay_until(wait, metered.now_ms()).max(1),
                }
            }
            Err(e) => {
                // Keap's answer is not recorded; the claim runs out and the
                // entry is tried again, which its progress makes harmless.
                p.log(&format!(
                    "queue: entry {} could not be settled: {e}",
                    id.as_str()
                ));
                Verdict::Retry {
                    delay_secs: timing::delay_until(claimed.next_attempt_at_ms, metered.now_ms()),
                }
            }
        };
        verdicts.push(verdict);
        if attempt.token_rejected() {
            report.stopped = Some(Stop::TokenRejected);
            break;
        }
        if attempt.throttled {
            report.stopped = Some(Stop::Throttled);
            break;
        }
    }
    // Messages not reached: back to the queue (after a throttle, with a
    // pause), except after a rejected token (held until connecting).
    let rest = bodies.len() - verdicts.len();
    let leftover = match report.stopped {
        Some(Stop::TokenRejected) => Verdict::Ack,
        Some(Stop::Throttled) => Verdict::Retry {
            delay_secs: AGAIN_SECS,
        },
        _ => Verdict::Retry { delay_secs: 0 },
    };
    if leftover != Verdict::Ack {
        report.deferred += u32::try_from(rest).unwrap_or(u32::MAX);
    }
    verdicts.extend(std::iter::repeat_n(leftover, rest));
    report.budget_used = metered.fetches();
    p.log(&format!(
        "queue: {} delivered, {} retried, {} dead, {} dropped, {} back in the queue, \
         {} of {} requests used{}",
        report.delivered,
        report.retried,
        report.dead,
        report.dropped,
        report.deferred,
        report.budget_used,
        metered.budget(),
        report
            .stopped
            .map(|s| format!(", stopped: {}", s.as_str()))
            .unwrap_or_default()
    ));
    (verdicts, report)
}

// Tested with the scheduled run's simulated Keap: flows/scheduled/tests/soon.rs.
