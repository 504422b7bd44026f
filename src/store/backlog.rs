//! What the owner sees of the leads waiting in the outbox: how many, the
//! oldest one's age, and when the next try is due. Read from a listing's
//! keys and metadata alone, without opening an entry.

use serde::Serialize;

use crate::store::outbox::Listed;
use crate::time;

/// The backlog's figures at a moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Backlog {
    /// Leads waiting (pending entries; dead letters are not counted).
    pub waiting: u64,
    /// Seconds since the oldest waiting lead was queued.
    pub oldest_age_s: Option<u64>,
    /// When the next waiting lead is due (ms since the epoch); `None`
    /// when nothing waits. A time already past means "at the next run".
    pub next_attempt_at_ms: Option<u64>,
}

impl Backlog {
    pub fn of(listed: &[Listed], now_ms: u64) -> Backlog {
        let oldest = listed.iter().filter_map(|l| l.id.queued_at_ms()).min();
        Backlog {
            waiting: listed.len() as u64,
            oldest_age_s: oldest.map(|t| now_ms.saturating_sub(t) / 1000),
            next_attempt_at_ms: listed.iter().map(|l| l.next_attempt_at_ms).min(),
        }
    }

    /// Seconds until the next try, 0 when it is due already.
    pub fn next_attempt_in_s(&self, now_ms: u64) -> Option<u64> {
        self.next_attempt_at_ms
            .map(|t| t.saturating_sub(now_ms).div_ceil(1000))
    }
}

impl Backlog {
    /// The figures as `/admin/status` shows them.
    pub fn to_json(&self, now_ms: u64) -> serde_json::Value {
        serde_json::json!({
            "waiting": self.waiting,
            "oldest_age_s": self.oldest_age_s,
            "next_attempt_at": self.next_attempt_at_ms.map(time::to_rfc3339),
            "next_attempt_in_s": self.next_attempt_in_s(now_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbox::{EntryId, Queue};

    fn listed(key: &str, next: u64) -> Listed {
        Listed {
            id: EntryId::from_key(Queue::Pending, key).unwrap(),
            attempts: 0,
            next_attempt_at_ms: next,
            reason: None,
        }
    }

    #[test]
    fn nothing_waiting_has_no_age_and_no_next_try() {
        let b = Backlog::of(&[], 10_000);
        assert_eq!(b, Backlog::default());
        assert_eq!(b.next_attempt_in_s(10_000), None);
    }

    #[test]
    fn the_oldest_and_the_soonest_are_found() {
        let now = 1_767_225_900_000;
        let all = [
            listed("outbox/1767225600000-000000000001", now + 300_000),
            listed("outbox/1767225840000-000000000002", now + 1_500),
            listed("outbox/1767225000000-000000000003", now + 3_600_000),
        ];
        let b = Backlog::of(&all, now);
        assert_eq!(b.waiting, 3);
        assert_eq!(b.oldest_age_s, Some(900));
        assert_eq!(b.next_attempt_at_ms, Some(now + 1_500));
        assert_eq!(b.next_attempt_in_s(now), Some(2));
        assert_eq!(b.next_attempt_in_s(now + 10_000), Some(0));
        assert_eq!(
            b.to_json(now),
            serde_json::json!({"waiting": 3, "oldest_age_s": 900,
                "next_attempt_at": "2026-01-01T00:05:01Z", "next_attempt_in_s": 2})
        );
        assert_eq!(
            Backlog::default().to_json(now),
            serde_json::json!({"waiting": 0, "oldest_age_s": null,
                "next_attempt_at": null, "next_attempt_in_s": null})
        );
    }
}
