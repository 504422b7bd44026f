//! [`Platform`] on the Workers runtime through the `worker` crate: the KV
//! binding `STORE`, `Fetch` with a time limit, the `SUBMIT_LIMITER` rate
//! limiter, timers and the clock.

use std::cell::OnceCell;
use std::time::Duration;

use futures_util::future::{select, Either};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{
    js_sys, web_sys, AbortController, Delay, Env, Fetch, KvStore, RateLimiter, RequestInit,
};

use crate::http::{FetchError, Headers, InResponse, Method, OutRequest};
use crate::platform::{KeyPage, ListedKey, Platform, PutOptions, RateDecision, StoreError};

/// Longest wait for Keap, Turnstile or a webhook, answer body included:
/// past it the lead is queued rather than leaving the visitor waiting.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// One platform serves one request or one scheduled run. Each binding is
/// looked up when first used: a preflight uses none of them, a form post
/// in API-key mode no KV.
pub struct WorkerPlatform {
    env: Env,
    store: OnceCell<Option<KvStore>>,
    limiter: OnceCell<Option<RateLimiter>>,
}

impl WorkerPlatform {
    pub fn new(env: Env) -> Self {
        WorkerPlatform {
            env,
            store: OnceCell::new(),
            limiter: OnceCell::new(),
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

fn method(m: Method) -> worker::Method {
    match m {
        Method::Get => worker::Method::Get,
        Method::Post => worker::Method::Post,
        Method::Put => worker::Method::Put,
        Method::Delete => worker::Method::Delete,
        Method::Options => worker::Method::Options,
        Method::Head => worker::Method::Head,
        Method::Other => worker::Method::Get,
    }
}

/// The runtime's request for an [`OutRequest`]; `None` when the runtime
/// refuses its URL or a header.
fn runtime_request(request: &OutRequest) -> Option<worker::Request> {
    let headers = worker::Headers::new();
    for (name, value) in request.headers.iter() {
        headers.set(name, value).ok()?;
    }
    let mut init = RequestInit::new();
    init.with_method(method(request.method))
        .with_headers(headers);
    if let Some(body) = request.body.as_deref() {
        init.with_body(Some(js_sys::Uint8Array::from(body).into()));
    }
    worker::Request::new_with_init(&request.url, &init).ok()
}

/// An answer's whole body, read with one `arrayBuffer()`: the `worker`
/// crate's `Response::bytes` polls the body stream chunk by chunk through
/// the wasm, which profiled at a quarter of a submission's CPU.
async fn whole_body(response: worker::Response) -> Option<Vec<u8>> {
    let raw = web_sys::Response::from(response);
    let buffer = JsFuture::from(raw.array_buffer().ok()?).await.ok()?;
    Some(js_sys::Uint8Array::new(&buffer).to_vec())
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

    async fn fetch(&self, request: OutRequest) -> Result<InResponse, FetchError> {
        let runtime =
            runtime_request(&request).ok_or_else(|| network("the request is not valid"))?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let exchange = async {
            let response = Fetch::Request(runtime)
                .send_with_signal(&signal)
                .await
                .map_err(|_| network("the request failed"))?;
            let status = response.status_code();
            let body = whole_body(response)
                .await
                .ok_or_else(|| network("the answer could not be read"))?;
            // The core reads no header of an answer, so none is copied.
            Ok(InResponse {
                status,
                headers: Headers::new(),
                body,
            })
        };
        let timer = Delay::from(FETCH_TIMEOUT);
        futures_util::pin_mut!(exchange);
        match select(exchange, timer).await {
            Either::Left((outcome, _timer)) => outcome,
            Either::Right(((), _exchange)) => {
                controller.abort();
                Err(FetchError::Timeout)
            }
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
}
