//! What is kept in KV: every key, the sealing of tokens and leads, and the
//! outbox of leads waiting for Keap.

pub mod backlog;
pub mod held;
pub mod kv_keys;
pub mod outbox;
pub mod seal;
