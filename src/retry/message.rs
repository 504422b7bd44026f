//! The delivery queue's message: the outbox key of one pending entry
//! (`outbox/<13-digit ms>-<12 hex digits>`), as a JSON string. Never the
//! lead: the sealed outbox entry stays the one record of it, and a
//! message says only which entry to deliver next.

use crate::store::outbox::{EntryId, Queue};

/// The message naming the pending entry `id`.
pub fn for_entry(id: &EntryId) -> String {
    id.key(Queue::Pending)
}

/// Why a message cannot be acted on. Either way it is logged and dropped:
/// retrying it could never help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// The body is not a string (another program's message?).
    NotText,
    /// A string, but not the key of a pending entry.
    NotAnEntryKey,
}

impl Malformed {
    pub fn as_str(self) -> &'static str {
        match self {
            Malformed::NotText => "not_text",
            Malformed::NotAnEntryKey => "not_an_entry_key",
        }
    }
}

/// The entry a message names. `body` is the message's body when it is a
/// string, `None` otherwise.
pub fn parse(body: Option<&str>) -> Result<EntryId, Malformed> {
    let text = body.ok_or(Malformed::NotText)?;
    EntryId::from_exact_key(Queue::Pending, text).ok_or(Malformed::NotAnEntryKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_the_entry_key_and_reads_back() {
        let id = EntryId::from_key(Queue::Pending, "outbox/1767225600000-0a0b0c0d0e0f").unwrap();
        let message = for_entry(&id);
        assert_eq!(message, "outbox/1767225600000-0a0b0c0d0e0f");
        assert_eq!(parse(Some(&message)), Ok(id));
    }

    #[test]
    fn anything_else_is_malformed() {
        assert_eq!(parse(None), Err(Malformed::NotText));
        for bad in [
            "",
            "outbox/",
            "dead/1767225600000-0a0b0c0d0e0f",
            "auth/tokens",
            "outbox/1767225600000-0a0b0c0d0e0",
            "outbox/1767225600000-0a0b0c0d0e0f0",
            "outbox/1767225600000-0A0B0C0D0E0F",
            "outbox/176722560000x-0a0b0c0d0e0f",
            "outbox/1767225600000_0a0b0c0d0e0f",
            "{\"entry\":\"outbox/1767225600000-0a0b0c0d0e0f\"}",
            "outbox/1767225600000-0a0b0c0d0e0é",
        ] {
            assert_eq!(parse(Some(bad)), Err(Malformed::NotAnEntryKey), "{bad}");
        }
    }
}
