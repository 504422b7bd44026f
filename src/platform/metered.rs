//! A [`Platform`] that counts what an invocation spends: its outbound
//! requests (queue sends included), of its budget (`DRAIN_SUBREQUESTS`,
//! [`crate::budget`]), and Keap's throttling answers (429), so a run
//! knows what it has left and when to stop. It also keeps what an
//! outcome does not carry: the stable code of the first failed answer
//! (for the log line, [`crate::outcome_log`]) and the longest
//! `Retry-After` (for when to try again); one delivery attempt wraps
//! the invocation's own in a fresh one to read them for that attempt.
//!
//! The one wrapper of the platform: each `Platform` method it does not
//! watch is forwarded here, defaulted ones included.

use std::cell::{Cell, RefCell};

use crate::http::{FetchError, InResponse, OutRequest};
use crate::outcome_log;
use crate::platform::{
    KeyPage, Platform, PutOptions, QueueSend, QueueSendError, RateDecision, StoreError,
};

/// Outbound requests one invocation may make by default (Cloudflare's
/// free plan); `DRAIN_SUBREQUESTS` sets it ([`crate::budget`]).
pub const SUBREQUEST_BUDGET: usize = crate::budget::DEFAULT_SUBREQUESTS;

/// `inner`, with its outbound requests and 429 answers counted.
pub struct Metered<'a, P> {
    inner: &'a P,
    fetches: Cell<usize>,
    throttles: Cell<usize>,
    budget: usize,
    failure: RefCell<Option<String>>,
    retry_after_secs: Cell<Option<u64>>,
}

impl<'a, P: Platform> Metered<'a, P> {
    pub fn new(inner: &'a P) -> Self {
        Self::after_spending(inner, 0)
    }

    /// For work later in an invocation that has already made `fetches`
    /// outbound requests (work after a reply shares its budget).
    pub fn after_spending(inner: &'a P, fetches: usize) -> Self {
        Metered {
            inner,
            fetches: Cell::new(fetches),
            throttles: Cell::new(0),
            budget: SUBREQUEST_BUDGET,
            failure: RefCell::new(None),
            retry_after_secs: Cell::new(None),
        }
    }

    /// The same, with the invocation's budget (`DRAIN_SUBREQUESTS`)
    /// instead of the free plan's.
    pub fn with_budget(mut self, budget: usize) -> Self {
        self.budget = budget;
        self
    }

    /// The invocation's budget of outbound requests.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Outbound requests made so far.
    pub fn fetches(&self) -> usize {
        self.fetches.get()
    }

    /// What remains of the budget.
    pub fn left(&self) -> usize {
        self.budget.saturating_sub(self.fetches())
    }

    /// Answers 429 received so far.
    pub fn throttles(&self) -> usize {
        self.throttles.get()
    }

    /// The stable code of the first failed answer (or of no answer), if any.
    pub fn failure(&self) -> Option<String> {
        self.failure.borrow().clone()
    }

    /// The longest `Retry-After` (in seconds) of the answers.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_secs.get()
    }
}

impl<P: Platform> Platform for Metered<'_, P> {
    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.kv_get(key).await
    }
    async fn kv_get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        self.inner.kv_get_many(keys).await
    }
    async fn kv_put(&self, key: &str, value: &str, options: PutOptions) -> Result<(), StoreError> {
        self.inner.kv_put(key, value, options).await
    }
    async fn kv_delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.kv_delete(key).await
    }
    async fn kv_list(
        &self,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<KeyPage, StoreError> {
        self.inner.kv_list(prefix, cursor, limit).await
    }
    async fn fetch(&self, request: OutRequest) -> Result<InResponse, FetchError> {
        self.fetches.set(self.fetches.get().saturating_add(1));
        let answer = self.inner.fetch(request).await;
        if matches!(&answer, Ok(r) if r.status == 429) {
            self.throttles.set(self.throttles.get().saturating_add(1));
        }
        if let Some(code) = outcome_log::failure_code(&answer) {
            self.failure.borrow_mut().get_or_insert(code);
        }
        if let Some(secs) = answer.as_ref().ok().and_then(InResponse::retry_after_secs) {
            let longest = self.retry_after_secs.get().map_or(secs, |s| s.max(secs));
            self.retry_after_secs.set(Some(longest));
        }
        answer
    }
    async fn rate_limit(&self, key: &str) -> RateDecision {
        self.inner.rate_limit(key).await
    }
    async fn sleep_ms(&self, ms: u64) {
        self.inner.sleep_ms(ms).await
    }
    fn now_ms(&self) -> u64 {
        self.inner.now_ms()
    }
    fn log(&self, line: &str) {
        self.inner.log(line)
    }
    fn memory(&self) -> Option<&crate::isolate::IsolateMemory> {
        self.inner.memory()
    }
    fn near_cpu_limit(&self) -> bool {
        self.inner.near_cpu_limit()
    }
    /// A send counts as an outbound request, unless there is no queue.
    async fn queue_send(&self, messages: &[QueueSend]) -> Result<(), QueueSendError> {
        let sent = self.inner.queue_send(messages).await;
        if sent != Err(QueueSendError::NotBound) {
            self.fetches.set(self.fetches.get().saturating_add(1));
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;
    use crate::testing::{block_on, MemoryPlatform};

    #[test]
    fn counts_requests_from_what_was_spent_and_notices_429() {
        let p = MemoryPlatform::new();
        p.respond(|r| {
            let status = if r.url.ends_with("/busy") { 429 } else { 200 };
            Ok(InResponse::new(status, Vec::new()))
        });
        let m = Metered::after_spending(&p, 3);
        assert_eq!((m.fetches(), m.left(), m.throttles()), (3, 47, 0));
        block_on(m.fetch(OutRequest::new(Method::Get, "https://x.test/ok"))).unwrap();
        block_on(m.fetch(OutRequest::new(Method::Get, "https://x.test/busy"))).unwrap();
        assert_eq!((m.fetches(), m.left(), m.throttles()), (5, 45, 1));
        assert_eq!(
            p.requests.borrow().len(),
            2,
            "every request reaches the platform"
        );
        assert_eq!(Metered::after_spending(&p, 60).left(), 0);
    }

    #[test]
    fn the_first_failure_and_the_longest_retry_after_are_kept() {
        let p = MemoryPlatform::new();
        p.respond(|r| {
            let mut answer = if r.url.ends_with("/a") {
                InResponse::new(429, "")
            } else if r.url.ends_with("/b") {
                InResponse::new(503, "")
            } else {
                InResponse::new(200, "")
            };
            answer
                .headers
                .push("Retry-After", if r.url.ends_with("/a") { "3" } else { "7" });
            Ok(answer)
        });
        let w = Metered::new(&p);
        assert_eq!((w.failure(), w.retry_after_secs()), (None, None));
        for path in ["/ok", "/a", "/b"] {
            let _ = block_on(w.fetch(OutRequest::new(Method::Get, format!("http://k{path}"))));
        }
        assert_eq!(w.failure().as_deref(), Some("keap_429"));
        assert_eq!(w.retry_after_secs(), Some(7));
        assert_eq!(p.requests.borrow().len(), 3);
    }

    #[test]
    fn the_isolate_memory_and_the_runtime_signals_pass_through() {
        let p = MemoryPlatform::new();
        p.near_cpu_from_check.set(Some(1));
        let w = Metered::new(&p);
        assert!(std::ptr::eq(w.memory().unwrap(), p.memory().unwrap()));
        assert!(w.near_cpu_limit());
    }
}
