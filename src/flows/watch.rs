//! A [`Platform`] that watches the answers to one delivery attempt, for
//! what the attempt's outcome does not carry: the stable code of the
//! failure (for the log line, [`crate::outcome_log`]) and Keap's
//! `Retry-After` (for when to try again, [`crate::retry::timing`]).

use std::cell::{Cell, RefCell};

use crate::http::{FetchError, InResponse, OutRequest};
use crate::outcome_log;
use crate::platform::{
    KeyPage, Platform, PutOptions, QueueSend, QueueSendError, RateDecision, StoreError,
};
use crate::retry::timing;

pub struct Watched<'a, P> {
    inner: &'a P,
    error: RefCell<Option<String>>,
    retry_after_secs: Cell<Option<u64>>,
}

impl<'a, P: Platform> Watched<'a, P> {
    pub fn new(inner: &'a P) -> Self {
        Watched {
            inner,
            error: RefCell::new(None),
            retry_after_secs: Cell::new(None),
        }
    }

    /// The code of the first failed answer, if any.
    pub fn error(&self) -> Option<String> {
        self.error.borrow().clone()
    }

    /// The longest `Retry-After` (in seconds) of the answers.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_secs.get()
    }
}

impl<P: Platform> Platform for Watched<'_, P> {
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
        let answer = self.inner.fetch(request).await;
        if let Some(code) = outcome_log::failure_code(&answer) {
            self.error.borrow_mut().get_or_insert(code);
        }
        if let Ok(response) = &answer {
            if let Some(secs) = timing::parse_retry_after(response.headers.get("Retry-After")) {
                let longest = self.retry_after_secs.get().map_or(secs, |s| s.max(secs));
                self.retry_after_secs.set(Some(longest));
            }
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
    async fn queue_send(&self, messages: &[QueueSend]) -> Result<(), QueueSendError> {
        self.inner.queue_send(messages).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;
    use crate::testing::{block_on, MemoryPlatform};

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
        let w = Watched::new(&p);
        assert_eq!((w.error(), w.retry_after_secs()), (None, None));
        for path in ["/ok", "/a", "/b"] {
            let _ = block_on(w.fetch(OutRequest::new(Method::Get, format!("http://k{path}"))));
        }
        assert_eq!(w.error().as_deref(), Some("keap_429"));
        assert_eq!(w.retry_after_secs(), Some(7));
        assert_eq!(p.requests.borrow().len(), 3);
    }

    #[test]
    fn the_isolate_memory_and_the_runtime_signals_pass_through() {
        let p = MemoryPlatform::new();
        p.near_cpu_from_check.set(Some(1));
        let w = Watched::new(&p);
        assert!(std::ptr::eq(w.memory().unwrap(), p.memory().unwrap()));
        assert!(w.near_cpu_limit());
    }
}
