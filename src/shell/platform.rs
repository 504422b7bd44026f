//! [`Platform`] on the Workers runtime through the `worker` crate and the
//! wasm-bindgen bindings it is built on: the KV binding `STORE`, `fetch`
//! with a time limit, the `SUBMIT_LIMITER` rate limiter, the delivery
//! queue `DELIVERY_QUEUE`, the runtime's CPU warning, timers and the
//! clock.

use std::cell::OnceCell;
use std::rc::Rc;
use std::time::Duration;

use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{
    js_sys, web_sys, BatchMessageBuilder, Delay, Env, KvStore, MessageBuilder, Queue, RateLimiter,
};

use crate::http::{FetchError, Headers, InResponse, OutRequest};
use crate::isolate::IsolateMemory;
use crate::platform::{
    KeyPage, ListedKey, Platform, PutOptions, QueueSend, QueueSendError, RateDecision, StoreError,
};

/// The delivery queue's producer binding (optional).
const QUEUE_BINDING: &str = "DELIVERY_QUEUE";

/// Longest wait for Keap, Turnstile or a webhook, answer body included:
/// past it the lead is queued rather than leaving the visitor waiting.
const FETCH_TIMEOUT_MS: u32 = 10_000;

thread_local! {
    /// What this isolate remembers between requests (the wasm runs on one
    /// thread, so this is the isolate's one instance).
    static MEMORY: Rc<IsolateMemory> = Rc::new(IsolateMemory::default());
}

/// One platform serves one request or one scheduled run. Each binding is
/// looked up when first used: a preflight uses none of them, a form post
/// in API-key mode no KV.
pub struct WorkerPlatform {
    env: Env,
    store: OnceCell<Option<KvStore>>,
    limiter: OnceCell<Option<RateLimiter>>,
    memory: Rc<IsolateMemory>,
}

impl WorkerPlatform {
    pub fn new(env: Env) -> Self {
        WorkerPlatform {
            env,
            store: OnceCell::new(),
            limiter: OnceCell::new(),
            memory: MEMORY.with(Rc::clone),
        }
    }

    fn store(&self) -> Result<&KvStore, StoreError> {
        self.store
            .get_or_init(|| self.env.kv("STORE").ok())
            .as_ref()
            .ok_or_else(|| StoreError("the KV binding STORE is missing from wrangler.toml".into()))
    }
}

/// A KV error names the operation, never a value.
fn store_error(operation: &str) -> impl FnOnce(worker::KvError) -> StoreError + '_ {
    move |e| StoreError(format!("KV {operation} failed: {e}"))
}

fn network(what: &str) -> FetchError {
    FetchError::Network(what.to_string())
}

/// The `fetch` options for an [`OutRequest`], bounded by `signal`; `None`
/// when the runtime refuses a header.
fn runtime_init(
    request: &OutRequest,
    signal: &web_sys::AbortSignal,
) -> Option<web_sys::RequestInit> {
    let headers = worker::Headers::new();
    for (name, value) in request.headers.iter() {
        headers.set(name, value).ok()?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(request.method.as_str());
    init.set_headers(headers.as_ref());
    if let Some(body) = request.body.as_deref() {
        init.set_body(&js_sys::Uint8Array::from(body));
    }
    init.set_signal(Some(signal));
    Some(init)
}

impl Platform for WorkerPlatform {
    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.store()?
            .get(key)
            .text()
            .await
            .map_err(store_error("read"))
    }

    /// One bulk read (`get` with a list of keys): one KV operation and one
    /// round trip for the form path's token record and its markers.
    async fn kv_get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        let mut found = self
            .store()?
            .get_bulk(keys)
            .text()
            .await
            .map_err(store_error("read"))?;
        Ok(keys.iter().map(|k| found.remove(*k).flatten()).collect())
    }

    async fn kv_put(&self, key: &str, value: &str, options: PutOptions) -> Result<(), StoreError> {
        let mut put = self
            .store()?
            .put(key, value)
            .map_err(store_error("write"))?;
        if let Some(ttl) = options.ttl_secs {
            // KV's shortest time to live is 60 s.
            put = put.expiration_ttl(ttl.max(60));
        }
        if let Some(metadata) = options.metadata {
            let metadata: serde_json::Value = serde_json::from_str(&metadata)
                .map_err(|_| StoreError("KV metadata is not JSON".into()))?;
            put = put.metadata(metadata).map_err(store_error("write"))?;
        }
        put.execute().await.map_err(store_error("write"))
    }

    async fn kv_delete(&self, key: &str) -> Result<(), StoreError> {
        self.store()?
            .delete(key)
            .await
            .map_err(store_error("delete"))
    }

    async fn kv_list(
        &self,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<KeyPage, StoreError> {
        let mut list = self
            .store()?
            .list()
            .prefix(prefix.to_string())
            .limit(u64::from(limit.clamp(1, 1000)));
        if let Some(cursor) = cursor {
            list = list.cursor(cursor);
        }
        let page = list.execute().await.map_err(store_error("list"))?;
        Ok(KeyPage {
            keys: page
                .keys
                .into_iter()
                .map(|k| ListedKey {
                    name: k.name,
                    metadata: k.metadata.map(|m| m.to_string()),
                })
                .collect(),
            cursor: page.cursor.filter(|_| !page.list_complete),
        })
    }

    /// The runtime's `fetch` with the options as one `RequestInit` and the
    /// answer's body read with one `arrayBuffer()`. (`worker::Fetch` builds
    /// a `Request` that `fetch` then copies, and its `Response::bytes`
    /// polls the body stream chunk by chunk through the wasm: a fifth of a
    /// submission's CPU in the profile.) `AbortSignal.timeout` bounds the
    /// call and the body together.
    async fn fetch(&self, request: OutRequest) -> Result<InResponse, FetchError> {
        let limit = request
            .timeout_ms
            .map_or(FETCH_TIMEOUT_MS, |ms| ms.min(FETCH_TIMEOUT_MS));
        let signal = web_sys::AbortSignal::timeout_with_u32(limit);
        let init =
            runtime_init(&request, &signal).ok_or_else(|| network("the request is not valid"))?;
        let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        let exchange = async {
            let response: web_sys::Response =
                JsFuture::from(global.fetch_with_str_and_init(&request.url, &init))
                    .await
                    .ok()?
                    .dyn_into()
                    .ok()?;
            let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
            // The core reads one header of an answer, a failure's
            // Retry-After; no other is copied.
            let mut headers = Headers::new();
            if !response.ok() {
                if let Ok(Some(wait)) = response.headers().get("Retry-After") {
                    headers.push("Retry-After", wait);
                }
            }
            Some((
                response.status(),
                headers,
                js_sys::Uint8Array::new(&buffer).to_vec(),
            ))
        };
        match exchange.await {
            Some((status, headers, body)) => Ok(InResponse {
                status,
                headers,
                body,
            }),
            None if signal.aborted() => Err(FetchError::Timeout),
            None => Err(network("the request failed")),
        }
    }

    async fn rate_limit(&self, key: &str) -> RateDecision {
        let limiter = self
            .limiter
            .get_or_init(|| self.env.rate_limiter("SUBMIT_LIMITER").ok());
        let Some(limiter) = limiter else {
            return RateDecision::NotConfigured;
        };
        match limiter.limit(key.to_string()).await {
            Ok(outcome) if outcome.success => RateDecision::Allowed,
            Ok(_) => RateDecision::Limited,
            // A limiter that fails must not lose leads: let them through.
            Err(_) => RateDecision::NotConfigured,
        }
    }

    async fn sleep_ms(&self, ms: u64) {
        Delay::from(Duration::from_millis(ms)).await;
    }

    fn now_ms(&self) -> u64 {
        worker::Date::now().as_millis()
    }

    fn log(&self, line: &str) {
        worker::console_log!("{line}");
    }

    fn memory(&self) -> Option<&IsolateMemory> {
        Some(&self.memory)
    }

    /// The runtime's signal that the invocation is near its CPU limit
    /// (`worker::signal`); never set where the runtime does not send it.
    fn near_cpu_limit(&self) -> bool {
        worker::signal::is_near_cpu_limit()
    }

    /// One `sendBatch`. The binding is looked up as it is, not checked
    /// for its type: anything there that cannot send is a failed send,
    /// reported, never a trap.
    async fn queue_send(&self, messages: &[QueueSend]) -> Result<(), QueueSendError> {
        let binding = js_sys::Reflect::get(self.env.as_ref(), &QUEUE_BINDING.into())
            .map_err(|_| QueueSendError::NotBound)?;
        if binding.is_undefined() || binding.is_null() {
            return Err(QueueSendError::NotBound);
        }
        if !js_sys::Reflect::has(&binding, &"sendBatch".into()).unwrap_or(false) {
            return Err(QueueSendError::Failed(format!(
                "{QUEUE_BINDING} is not a queue binding"
            )));
        }
        let queue: Queue = binding.unchecked_into();
        let batch = messages
            .iter()
            .fold(BatchMessageBuilder::new(), |batch, m| {
                batch.message(
                    MessageBuilder::new(m.body.clone())
                        .delay_seconds(m.delay_secs)
                        .build(),
                )
            })
            .build();
        queue
            .send_batch(batch)
            .await
            .map_err(|e| QueueSendError::Failed(e.to_string()))
    }
}
