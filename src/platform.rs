//! The one door between the core and the runtime.
//!
//! The core's flows (a submission, the OAuth callback, a scheduled run) are
//! written against this trait. The shell implements it with Workers KV,
//! `fetch` and the clock; tests implement it in memory, so whole flows run
//! natively and fast.

use crate::http::{FetchError, InResponse, OutRequest};
use crate::isolate::IsolateMemory;

pub mod metered;

/// A KV operation failed (the store is down, over quota, or the binding is
/// missing). The message never holds a stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "storage error: {}", self.0)
    }
}

/// Options for a KV write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// Seconds until KV deletes the key (KV's minimum is 60).
    pub ttl_secs: Option<u64>,
    /// Small JSON kept with the key and returned by `kv_list`, so a listing
    /// can be triaged without reading each value.
    pub metadata: Option<String>,
}

/// One key of a KV listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedKey {
    pub name: String,
    pub metadata: Option<String>,
}

/// A page of a KV listing, keys in lexicographic order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    pub keys: Vec<ListedKey>,
    /// Where the next page starts; `None` on the last page.
    pub cursor: Option<String>,
}

/// What the rate limiter said about one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    Limited,
    /// No limiter is bound (local runs without `[[ratelimits]]`): allowed.
    NotConfigured,
}

/// One message for the delivery queue (`DELIVERY_QUEUE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSend {
    /// The message: an outbox key (see [`crate::retry::message`]).
    pub body: String,
    /// Seconds before Queues hands it to the consumer.
    pub delay_secs: u32,
}

/// Why messages were not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueSendError {
    /// No `DELIVERY_QUEUE` binding: the worker runs without a queue, as
    /// before it had one (the Cron run delivers).
    NotBound,
    /// The binding is there but the send failed; the entries stay in the
    /// outbox for the Cron run.
    Failed(String),
}

impl std::fmt::Display for QueueSendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueSendError::NotBound => write!(f, "no DELIVERY_QUEUE binding"),
            QueueSendError::Failed(why) => write!(f, "the queue send failed: {why}"),
        }
    }
}

/// Every key under `prefix`, in order, from every page of the listing.
pub async fn list_every<P: Platform>(p: &P, prefix: &str) -> Result<Vec<ListedKey>, StoreError> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = p.kv_list(prefix, cursor, 1000).await?;
        all.extend(page.keys);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(all),
        }
    }
}

/// Writes a record beside work already done (a time, a marker, a
/// result): a failed write costs only the record, so it is logged as
/// `{what}: {error}`, not returned.
pub async fn put_or_log<P: Platform>(p: &P, key: &str, value: &str, what: &str) {
    if let Err(e) = p.kv_put(key, value, PutOptions::default()).await {
        p.log(&format!("{what}: {e}"));
    }
}

/// The runtime as the core sees it.
#[allow(async_fn_in_trait)] // used only generically, never as `dyn`, and the wasm runtime is single-threaded
pub trait Platform {
    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Reads several keys, values in the order of `keys`. This default
    /// reads them one at a time; a shell whose store reads many keys in
    /// one call (Workers KV's bulk `get`, up to 100 keys) should override
    /// it, so that the form path's credentials (the token record and its
    /// two markers) cost one round trip.
    async fn kv_get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.kv_get(key).await?);
        }
        Ok(values)
    }
    async fn kv_put(&self, key: &str, value: &str, options: PutOptions) -> Result<(), StoreError>;
    async fn kv_delete(&self, key: &str) -> Result<(), StoreError>;
    /// Lists keys under `prefix`, at most `limit` (≤ 1000) a page.
    async fn kv_list(
        &self,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<KeyPage, StoreError>;
    /// Sends a request. Every call counts against the platform's
    /// per-invocation subrequest budget.
    async fn fetch(&self, request: OutRequest) -> Result<InResponse, FetchError>;
    /// Asks the rate limiter whether `key` may go on.
    async fn rate_limit(&self, key: &str) -> RateDecision;
    /// Waits, for a short back-off between two reads.
    async fn sleep_ms(&self, ms: u64);
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// A log line. Callers never pass a secret or a person's data.
    fn log(&self, line: &str);
    /// What this isolate remembers between requests (see
    /// [`crate::isolate`]); `None` when the platform keeps nothing, and
    /// then every lookup and count is made afresh.
    fn memory(&self) -> Option<&IsolateMemory> {
        None
    }
    /// Whether the runtime warned that this invocation is close to its
    /// CPU limit; checked between leads, so that work stops where
    /// everything done is recorded. A wrapper must forward it; runtimes
    /// without the signal never warn.
    fn near_cpu_limit(&self) -> bool {
        false
    }
    /// Sends up to 100 messages to the delivery queue, in one call. A
    /// wrapper must forward it; without a queue it is
    /// [`QueueSendError::NotBound`].
    async fn queue_send(&self, messages: &[QueueSend]) -> Result<(), QueueSendError> {
        let _ = messages;
        Err(QueueSendError::NotBound)
    }
}
