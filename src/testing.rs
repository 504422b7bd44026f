//! An in-memory [`Platform`] for native tests of whole flows: KV in a
//! sorted map, outbound requests answered by a closure and recorded, a
//! clock the test moves, and captured log lines.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use crate::http::{FetchError, InResponse, OutRequest};
use crate::isolate::IsolateMemory;
use crate::platform::{
    KeyPage, ListedKey, Platform, PutOptions, QueueSend, QueueSendError, RateDecision, StoreError,
};

type Responder = Box<dyn Fn(&OutRequest) -> Result<InResponse, FetchError>>;

/// A stored KV value with its metadata and expiry.
#[derive(Debug, Clone)]
pub struct Stored {
    pub value: String,
    pub metadata: Option<String>,
    pub expires_at_ms: Option<u64>,
}

pub struct MemoryPlatform {
    pub kv: RefCell<BTreeMap<String, Stored>>,
    pub requests: RefCell<Vec<OutRequest>>,
    pub logs: RefCell<Vec<String>>,
    pub now: Cell<u64>,
    /// When set, every KV write fails (to test honest failure answers).
    pub fail_writes: Cell<bool>,
    pub limited: Cell<bool>,
    pub kv_reads: Cell<u32>,
    pub kv_writes: Cell<u32>,
    /// KV listings made (the free plan allows 1,000 a day).
    pub kv_lists: Cell<u32>,
    /// The isolate's memory, as one isolate would keep it.
    pub memory: IsolateMemory,
    /// Whether a delivery queue is bound (off by default, as without
    /// `DELIVERY_QUEUE`).
    pub queue_bound: Cell<bool>,
    /// When set, every queue send fails (a bound but failing queue).
    pub fail_queue_sends: Cell<bool>,
    /// Messages sent to the delivery queue, in order.
    pub queued_messages: RefCell<Vec<QueueSend>>,
    /// From which CPU check on (1 = the first) the runtime warns that the
    /// CPU limit is near; `None`: never.
    pub near_cpu_from_check: Cell<Option<u32>>,
    /// CPU checks made so far.
    pub cpu_checks: Cell<u32>,
    responder: RefCell<Responder>,
}

impl Default for MemoryPlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryPlatform {
    /// A platform at 2026-01-01T00:00:00Z whose every outbound request
    /// fails with a network error until [`MemoryPlatform::respond`] is set.
    pub fn new() -> Self {
        MemoryPlatform {
            kv: RefCell::new(BTreeMap::new()),
            requests: RefCell::new(Vec::new()),
            logs: RefCell::new(Vec::new()),
            now: Cell::new(1_767_225_600_000),
            fail_writes: Cell::new(false),
            limited: Cell::new(false),
            kv_reads: Cell::new(0),
            kv_writes: Cell::new(0),
            kv_lists: Cell::new(0),
            memory: IsolateMemory::default(),
            queue_bound: Cell::new(false),
            fail_queue_sends: Cell::new(false),
            queued_messages: RefCell::new(Vec::new()),
            near_cpu_from_check: Cell::new(None),
            cpu_checks: Cell::new(0),
            responder: RefCell::new(Box::new(|_| {
                Err(FetchError::Network("no responder".into()))
            })),
        }
    }

    /// Sets how outbound requests are answered.
    pub fn respond(&self, f: impl Fn(&OutRequest) -> Result<InResponse, FetchError> + 'static) {
        *self.responder.borrow_mut() = Box::new(f);
    }

    pub fn advance_ms(&self, ms: u64) {
        self.now.set(self.now.get() + ms);
    }

    /// Makes the isolate remember that `domain` takes mail (for a day), as
    /// it would after one lookup: a test of Keap calls then sees no DNS
    /// request.
    pub fn knows_mail_domain(&self, domain: &str) {
        use crate::form::mail_domain::{DomainCache, Verdict};
        let now = self.now.get();
        self.memory
            .with(|c: &mut DomainCache| c.put(domain, Verdict::TakesMail, 86_400, now));
    }

    /// Keys currently stored under `prefix`.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.kv
            .borrow()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    pub fn value(&self, key: &str) -> Option<String> {
        self.kv.borrow().get(key).map(|s| s.value.clone())
    }

    /// Outbound requests whose URL contains `needle`.
    pub fn sent_to(&self, needle: &str) -> Vec<OutRequest> {
        self.requests
            .borrow()
            .iter()
            .filter(|r| r.url.contains(needle))
            .cloned()
            .collect()
    }

    fn live(&self, s: &Stored) -> bool {
        s.expires_at_ms.is_none_or(|t| t > self.now.get())
    }
}

impl Platform for MemoryPlatform {
    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.kv_reads.set(self.kv_reads.get() + 1);
        Ok(self
            .kv
            .borrow()
            .get(key)
            .filter(|s| self.live(s))
            .map(|s| s.value.clone()))
    }

    /// One read, as KV's bulk `get` is one operation.
    async fn kv_get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        self.kv_reads.set(self.kv_reads.get() + 1);
        let kv = self.kv.borrow();
        Ok(keys
            .iter()
            .map(|key| {
                kv.get(*key)
                    .filter(|s| self.live(s))
                    .map(|s| s.value.clone())
            })
            .collect())
    }

    async fn kv_put(&self, key: &str, value: &str, options: PutOptions) -> Result<(), StoreError> {
        if self.fail_writes.get() {
            return Err(StoreError("writes disabled by the test".into()));
        }
        self.kv_writes.set(self.kv_writes.get() + 1);
        let expires_at_ms = options.ttl_secs.map(|t| self.now.get() + t * 1000);
        self.kv.borrow_mut().insert(
            key.to_string(),
            Stored {
                value: value.to_string(),
                metadata: options.metadata,
                expires_at_ms,
            },
        );
        Ok(())
    }

    async fn kv_delete(&self, key: &str) -> Result<(), StoreError> {
        if self.fail_writes.get() {
            return Err(StoreError("writes disabled by the test".into()));
        }
        self.kv_writes.set(self.kv_writes.get() + 1);
        self.kv.borrow_mut().remove(key);
        Ok(())
    }

    async fn kv_list(
        &self,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<KeyPage, StoreError> {
        self.kv_lists.set(self.kv_lists.get() + 1);
        let kv = self.kv.borrow();
        let start = cursor.unwrap_or_default();
        let mut keys: Vec<ListedKey> = kv
            .iter()
            .filter(|(k, s)| k.starts_with(prefix) && k.as_str() > start.as_str() && self.live(s))
            .map(|(k, s)| ListedKey {
                name: k.clone(),
                metadata: s.metadata.clone(),
            })
            .take(limit as usize + 1)
            .collect();
        let cursor = if keys.len() > limit as usize {
            keys.truncate(limit as usize);
            keys.last().map(|k| k.name.clone())
        } else {
            None
        };
        Ok(KeyPage { keys, cursor })
    }

    async fn fetch(&self, request: OutRequest) -> Result<InResponse, FetchError> {
        let answer = (self.responder.borrow())(&request);
        self.requests.borrow_mut().push(request);
        answer
    }

    async fn rate_limit(&self, _key: &str) -> RateDecision {
        if self.limited.get() {
            RateDecision::Limited
        } else {
            RateDecision::Allowed
        }
    }

    async fn sleep_ms(&self, ms: u64) {
        self.advance_ms(ms);
    }

    fn now_ms(&self) -> u64 {
        self.now.get()
    }

    fn log(&self, line: &str) {
        self.logs.borrow_mut().push(line.to_string());
    }

    fn memory(&self) -> Option<&IsolateMemory> {
        Some(&self.memory)
    }

    fn near_cpu_limit(&self) -> bool {
        let n = self.cpu_checks.get() + 1;
        self.cpu_checks.set(n);
        self.near_cpu_from_check.get().is_some_and(|from| n >= from)
    }

    async fn queue_send(&self, messages: &[QueueSend]) -> Result<(), QueueSendError> {
        if !self.queue_bound.get() {
            return Err(QueueSendError::NotBound);
        }
        if self.fail_queue_sends.get() {
            return Err(QueueSendError::Failed("sends disabled by the test".into()));
        }
        self.queued_messages
            .borrow_mut()
            .extend(messages.iter().cloned());
        Ok(())
    }
}

/// Runs a future to completion on the current thread.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}
