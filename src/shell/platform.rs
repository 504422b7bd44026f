//! [`Platform`] on the Workers runtime: KV binding `STORE`, `fetch` with a
//! time limit, the `SUBMIT_LIMITER` rate limiter and the clock, each one
//! call into `runtime.js`.

use std::cell::{OnceCell, RefCell};

use wasm_bindgen::{JsCast, JsValue};

use super::runtime;
use crate::executor::{self, SlotId};
use crate::http::{FetchError, Headers, InResponse, OutRequest};
use crate::kv_keys;
use crate::platform::{KeyPage, ListedKey, Platform, PutOptions, RateDecision, StoreError};

/// Longest wait for Keap, Turnstile or a webhook: past it the lead is
/// queued rather than leaving the visitor waiting.
const FETCH_TIMEOUT_MS: u32 = 10_000;

/// Each binding is looked up when a request first uses it: a preflight
/// uses none of them, a form post in API-key mode no KV. One platform
/// serves one request (or one scheduled run), and its fetches share one
/// time limit, made at the first fetch and ended with the platform.
pub struct WorkerPlatform {
    env: JsValue,
    store: OnceCell<Option<js_sys::Object>>,
    limiter: OnceCell<Option<js_sys::Object>>,
    fetch_limit: OnceCell<runtime::FetchLimit>,
}

impl WorkerPlatform {
    pub fn new(env: &JsValue) -> Self {
        WorkerPlatform {
            env: env.clone(),
            store: OnceCell::new(),
            limiter: OnceCell::new(),
            fetch_limit: OnceCell::new(),
        }
    }

    fn store(&self) -> Result<&js_sys::Object, StoreError> {
        self.store
            .get_or_init(|| with_js_text("STORE", |name| runtime::binding(&self.env, name)))
            .as_ref()
            .ok_or_else(|| StoreError("the KV binding STORE is missing from wrangler.toml".into()))
    }
}

impl Drop for WorkerPlatform {
    fn drop(&mut self) {
        if let Some(limit) = self.fetch_limit.get() {
            runtime::end_fetch_limit(limit);
        }
    }
}

thread_local! {
    /// JS strings of the texts passed on every request (binding names, the
    /// fixed KV keys), made once per instance: a `&str` is decoded into a
    /// new JS string at each crossing.
    static JS_TEXTS: RefCell<Vec<(&'static str, JsValue)>> = const { RefCell::new(Vec::new()) };
}

/// Calls `f` with `text` as a JS string, made at the first call. (`f`
/// only calls into JS, which does not call back into the wasm before it
/// returns, so the borrow cannot be taken twice.)
fn with_js_text<R>(text: &'static str, f: impl FnOnce(&JsValue) -> R) -> R {
    JS_TEXTS.with(|texts| {
        if let Some((_, js)) = texts.borrow().iter().find(|(t, _)| *t == text) {
            return f(js);
        }
        let js = JsValue::from_str(text);
        let value = f(&js);
        texts.borrow_mut().push((text, js));
        value
    })
}

/// What a runtime call settles with: its value, or what it threw.
pub type Outcome = Result<JsValue, JsValue>;

/// Starts a runtime call with a new slot and waits for its outcome.
async fn settled(start: impl FnOnce(SlotId)) -> Outcome {
    let (slot, outcome) = executor::settlement::<Outcome>();
    start(slot);
    outcome.await
}

/// A KV call's outcome. KV's errors name the operation, never a value.
async fn kv(start: impl FnOnce(SlotId)) -> Result<JsValue, StoreError> {
    settled(start).await.map_err(|e| {
        let message = e
            .dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .unwrap_or_else(|| "KV call failed".into());
        StoreError(message)
    })
}

impl Platform for WorkerPlatform {
    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let store = self.store()?;
        let start = |slot| match kv_keys::FIXED.iter().find(|k| **k == key) {
            Some(fixed) => with_js_text(fixed, |key| runtime::kv_get(store, key, slot)),
            None => runtime::kv_get(store, &JsValue::from_str(key), slot),
        };
        let value = kv(start).await?;
        // The bytes of a value this worker wrote as text; anything else is
        // read the way KV's text reading would (invalid UTF-8 replaced).
        Ok(value.dyn_into::<js_sys::Uint8Array>().ok().map(|bytes| {
            match String::from_utf8(bytes.to_vec()) {
                Ok(text) => text,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            }
        }))
    }

    async fn kv_put(&self, key: &str, value: &str, options: PutOptions) -> Result<(), StoreError> {
        // KV's shortest time to live is 60 s.
        let ttl = options
            .ttl_secs
            .map(|t| u32::try_from(t.max(60)).unwrap_or(u32::MAX));
        let store = self.store()?;
        kv(|slot| runtime::kv_put(store, key, value, ttl, options.metadata, slot)).await?;
        Ok(())
    }

    async fn kv_delete(&self, key: &str) -> Result<(), StoreError> {
        let store = self.store()?;
        kv(|slot| runtime::kv_delete(store, key, slot)).await?;
        Ok(())
    }

    async fn kv_list(
        &self,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<KeyPage, StoreError> {
        let store = self.store()?;
        let limit = limit.clamp(1, 1000);
        let text = kv(|slot| runtime::kv_list(store, prefix, cursor, limit, slot))
            .await?
            .as_string()
            .unwrap_or_default();
        let unreadable = || StoreError("KV returned an unreadable listing".into());
        let page: serde_json::Value = serde_json::from_str(&text).map_err(|_| unreadable())?;
        let keys = page["keys"]
            .as_array()
            .ok_or_else(unreadable)?
            .iter()
            .filter_map(|k| {
                Some(ListedKey {
                    name: k["name"].as_str()?.to_string(),
                    metadata: k["metadata"].as_str().map(str::to_string),
                })
            })
            .collect();
        Ok(KeyPage {
            keys,
            cursor: page["cursor"].as_str().map(str::to_string),
        })
    }

    async fn fetch(&self, request: OutRequest) -> Result<InResponse, FetchError> {
        // The runtime's fetch and the reading of its body, within the
        // request's time limit for fetches (see `runtime.js`).
        let head = request.head_lines();
        let limit = self
            .fetch_limit
            .get_or_init(|| runtime::fetch_limit(FETCH_TIMEOUT_MS));
        let fetched: runtime::Fetched = settled(|slot| {
            runtime::send(
                limit,
                &head,
                request.body.as_deref().unwrap_or_default(),
                slot,
            )
        })
        .await
        .map_err(|_| FetchError::Network("the request failed".into()))?
        .unchecked_into();
        match fetched.status() {
            0 if fetched.failure().as_deref() == Some("timeout") => Err(FetchError::Timeout),
            0 => Err(FetchError::Network("the request failed".into())),
            // The core reads no header of an answer, so none is copied.
            status => Ok(InResponse {
                status,
                headers: Headers::new(),
                body: fetched.body(),
            }),
        }
    }

    async fn rate_limit(&self, key: &str) -> RateDecision {
        let limiter = self.limiter.get_or_init(|| {
            with_js_text("SUBMIT_LIMITER", |name| runtime::binding(&self.env, name))
        });
        let Some(limiter) = limiter else {
            return RateDecision::NotConfigured;
        };
        let outcome = settled(|slot| runtime::rate_limit(limiter, key, slot)).await;
        match outcome.ok().and_then(|v| v.as_bool()) {
            Some(true) => RateDecision::Allowed,
            Some(false) => RateDecision::Limited,
            // A limiter that fails must not lose leads: let them through.
            _ => RateDecision::NotConfigured,
        }
    }

    async fn sleep_ms(&self, ms: u64) {
        let ms = u32::try_from(ms).unwrap_or(u32::MAX);
        let _ = settled(|slot| runtime::sleep(ms, slot)).await;
    }

    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    fn log(&self, line: &str) {
        runtime::log(line);
    }
}
