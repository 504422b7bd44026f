//! When a lead that met a passing failure (a timeout, a network error,
//! 5xx, 429) is tried again, and how long a queue message waits.
//!
//! The first retry runs in the same invocation, after the visitor has
//! their answer (Workers' `ctx.wait_until`), which the runtime ends about
//! 30 seconds after the answer. So that nothing else touches the entry
//! meanwhile, it is stored "not due" for [`AFTER_REPLY_LEASE_MS`]; its
//! queue message (when the queue is bound) is delayed just as long, and
//! then finds the entry delivered (and is dropped) or due.

/// The wait before the retry after the answer, when Keap said nothing
/// about when to come back: long enough for a blip to pass, short enough
/// for the lead to be in Keap within seconds.
pub const AFTER_REPLY_WAIT_MS: u64 = 2_000;

/// The longest wait after the answer. The retry itself may take two of
/// Keap's round trips of up to 10 seconds each, and the runtime gives the
/// after-answer work about 30 seconds in all; a longer `Retry-After`
/// is left to the queue message or the Cron run.
pub const MAX_AFTER_REPLY_WAIT_MS: u64 = 10_000;

/// How long an entry queued for a passing failure is not due: past the
/// end of the after-answer work, so the scheduled run and the queue
/// never deliver it while that retry may still be running.
pub const AFTER_REPLY_LEASE_MS: u64 = 60_000;

// The longest wait plus two of Keap's calls of up to 10 s each end well
// inside the lease.
const _: () = assert!(MAX_AFTER_REPLY_WAIT_MS + 20_000 < AFTER_REPLY_LEASE_MS);

/// How long the queue consumer holds an entry it is delivering (its
/// claim): a duplicate message, or the Cron run, that comes meanwhile
/// finds it not due and leaves it alone.
pub const CLAIM_MS: u64 = 120_000;

/// The longest delay Cloudflare Queues accepts for a message (12 hours).
pub const MAX_QUEUE_DELAY_SECS: u32 = 43_200;

/// The wait before the retry after the answer, from the `Retry-After`
/// seconds Keap sent (if any): `None` when Keap asked for longer than the
/// after-answer work can wait.
pub fn after_reply_wait_ms(retry_after_secs: Option<u64>) -> Option<u64> {
    match retry_after_secs {
        None => Some(AFTER_REPLY_WAIT_MS),
        Some(secs) => {
            let ms = secs.saturating_mul(1000);
            (ms <= MAX_AFTER_REPLY_WAIT_MS).then_some(ms.max(AFTER_REPLY_WAIT_MS))
        }
    }
}

/// When an entry due at `due_at_ms` may be tried again after Keap asked
/// for `retry_after_secs` (when it did): never sooner than either.
pub fn not_before(due_at_ms: u64, now_ms: u64, retry_after_secs: Option<u64>) -> u64 {
    retry_after_secs.map_or(due_at_ms, |secs| {
        due_at_ms.max(now_ms.saturating_add(secs.saturating_mul(1000)))
    })
}

/// A queue message's delay so that it arrives when the entry is due
/// (`due_at_ms`), rounded up to whole seconds and capped at what Queues
/// accepts (a later entry's message is simply retried again).
pub fn delay_until(due_at_ms: u64, now_ms: u64) -> u32 {
    let ms = due_at_ms.saturating_sub(now_ms);
    let secs = ms.div_ceil(1000);
    u32::try_from(secs)
        .unwrap_or(MAX_QUEUE_DELAY_SECS)
        .min(MAX_QUEUE_DELAY_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_retry_after_the_short_wait_applies() {
        assert_eq!(after_reply_wait_ms(None), Some(AFTER_REPLY_WAIT_MS));
    }

    #[test]
    fn a_retry_after_that_fits_is_honoured_and_one_that_does_not_is_left_to_later() {
        assert_eq!(after_reply_wait_ms(Some(7)), Some(7_000));
        assert_eq!(after_reply_wait_ms(Some(10)), Some(10_000));
        // Never sooner than the short wait, even when Keap says 0.
        assert_eq!(after_reply_wait_ms(Some(0)), Some(AFTER_REPLY_WAIT_MS));
        assert_eq!(after_reply_wait_ms(Some(11)), None);
        assert_eq!(after_reply_wait_ms(Some(u64::MAX)), None);
    }

    #[test]
    fn keaps_retry_after_only_ever_postpones() {
        assert_eq!(not_before(70_000, 10_000, None), 70_000);
        assert_eq!(not_before(70_000, 10_000, Some(30)), 70_000);
        assert_eq!(not_before(70_000, 10_000, Some(90)), 100_000);
        assert_eq!(not_before(10_000, 10_000, Some(u64::MAX)), u64::MAX);
    }

    #[test]
    fn a_message_arrives_when_the_entry_is_due() {
        assert_eq!(delay_until(10_000, 10_000), 0);
        assert_eq!(delay_until(5_000, 10_000), 0);
        assert_eq!(delay_until(10_001, 10_000), 1);
        assert_eq!(delay_until(70_000, 10_000), 60);
        assert_eq!(delay_until(u64::MAX, 0), MAX_QUEUE_DELAY_SECS);
        assert_eq!(
            delay_until(6 * 3_600_000 + 500, 0),
            6 * 3600 + 1,
            "a six-hour back-off fits"
        );
    }
}
