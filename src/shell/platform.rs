//! [`Platform`] on the Workers runtime: KV binding `STORE`, `fetch` with a
//! time limit, the `SUBMIT_LIMITER` rate limiter and the clock.

use std::time::Duration;

use wasm_bindgen::JsCast;
use worker::{js_sys, wasm_bindgen_futures, web_sys, Delay, Env, Method as WMethod};

use crate::http::{FetchError, Headers, InResponse, Method, OutRequest};
use crate::platform::{KeyPage, ListedKey, Platform, PutOptions, RateDecision, StoreError};

/// Longest wait for Keap, Turnstile or a webhook: past it the lead is
/// queued rather than leaving the visitor waiting.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

pub struct WorkerPlatform {
    store: Option<worker::kv::KvStore>,
    limiter: Option<js_sys::Object>,
}

impl WorkerPlatform {
    pub fn new(env: &Env) -> Self {
        let limiter = js_sys::Reflect::get(env, &"SUBMIT_LIMITER".into())
            .ok()
            .filter(|v| v.is_object())
            .map(|v| v.unchecked_into::<js_sys::Object>());
        WorkerPlatform {
            store: env.kv("STORE").ok(),
            limiter,
        }
    }

    fn store(&self) -> Result<&worker::kv::KvStore, StoreError> {
        self.store
            .as_ref()
            .ok_or_else(|| StoreError("the KV binding STORE is missing from wrangler.toml".into()))
    }
}

fn kv_error(e: worker::kv::KvError) -> StoreError {
    StoreError(e.to_string())
}

fn method(m: Method) -> WMethod {
    match m {
        Method::Get => WMethod::Get,
        Method::Post => WMethod::Post,
        Method::Put => WMethod::Put,
        Method::Delete => WMethod::Delete,
        Method::Options => WMethod::Options,
        Method::Head => WMethod::Head,
        Method::Other => WMethod::Get,
    }
}

impl Platform for WorkerPlatform {
    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.store()?.get(key).text().await.map_err(kv_error)
    }

    async fn kv_put(&self, key: &str, value: &str, options: PutOptions) -> Result<(), StoreError> {
        let mut put = self.store()?.put(key, value).map_err(kv_error)?;
        if let Some(ttl) = options.ttl_secs {
            put = put.expiration_ttl(ttl.max(60));
        }
        if let Some(meta) = options.metadata {
            let meta: serde_json::Value =
                serde_json::from_str(&meta).unwrap_or(serde_json::Value::String(meta));
            put = put.metadata(meta).map_err(kv_error)?;
        }
        put.execute().await.map_err(kv_error)
    }

    async fn kv_delete(&self, key: &str) -> Result<(), StoreError> {
        self.store()?.delete(key).await.map_err(kv_error)
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
        if let Some(c) = cursor {
            list = list.cursor(c);
        }
        let page = list.execute().await.map_err(kv_error)?;
        Ok(KeyPage {
            keys: page
                .keys
                .into_iter()
                .map(|k| ListedKey {
                    name: k.name,
                    metadata: k.metadata.map(|m| m.to_string()),
                })
                .collect(),
            cursor: if page.list_complete {
                None
            } else {
                page.cursor
            },
        })
    }

    async fn fetch(&self, request: OutRequest) -> Result<InResponse, FetchError> {
        // The runtime's fetch, bounded by an AbortSignal that also bounds
        // reading the body: no timer of our own to race against it.
        let network = |what: &str| FetchError::Network(what.into());
        let headers = web_sys::Headers::new().map_err(|_| network("invalid request header"))?;
        for (name, value) in request.headers.iter() {
            headers
                .set(name, value)
                .map_err(|_| network("invalid request header"))?;
        }
        let signal = web_sys::AbortSignal::timeout_with_u32(FETCH_TIMEOUT.as_millis() as u32);
        let init = web_sys::RequestInit::new();
        init.set_method(method(request.method).as_ref());
        init.set_headers(&headers);
        if let Some(body) = request.body {
            init.set_body(&js_sys::Uint8Array::from(body.as_slice()));
        }
        init.set_signal(Some(&signal));
        let failed = |what: &str| {
            if signal.aborted() {
                FetchError::Timeout
            } else {
                network(what)
            }
        };
        let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        let answer = wasm_bindgen_futures::JsFuture::from(
            scope.fetch_with_str_and_init(&request.url, &init),
        )
        .await
        .map_err(|_| failed("the request failed"))?;
        let resp: web_sys::Response = answer.dyn_into().map_err(|_| failed("not a response"))?;
        let mut headers = Headers::new();
        if let Ok(Some(entries)) = js_sys::try_iter(&resp.headers()) {
            for entry in entries.flatten() {
                let pair: js_sys::Array = entry.unchecked_into();
                if let (Some(name), Some(value)) =
                    (pair.get(0).as_string(), pair.get(1).as_string())
                {
                    headers.push(name, value);
                }
            }
        }
        let buffer = resp
            .array_buffer()
            .map_err(|_| failed("the answer's body could not be read"))?;
        let buffer = wasm_bindgen_futures::JsFuture::from(buffer)
            .await
            .map_err(|_| failed("the answer's body could not be read"))?;
        Ok(InResponse {
            status: resp.status(),
            headers,
            body: js_sys::Uint8Array::new(&buffer).to_vec(),
        })
    }

    async fn rate_limit(&self, key: &str) -> RateDecision {
        let Some(limiter) = &self.limiter else {
            return RateDecision::NotConfigured;
        };
        let outcome = async {
            let limit = js_sys::Reflect::get(limiter, &"limit".into()).ok()?;
            let limit = limit.dyn_into::<js_sys::Function>().ok()?;
            let arg = js_sys::Object::new();
            js_sys::Reflect::set(&arg, &"key".into(), &key.into()).ok()?;
            let promise = limit.call1(limiter, &arg).ok()?;
            let promise = promise.dyn_into::<js_sys::Promise>().ok()?;
            let result = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
            js_sys::Reflect::get(&result, &"success".into())
                .ok()?
                .as_bool()
        }
        .await;
        match outcome {
            Some(true) => RateDecision::Allowed,
            Some(false) => RateDecision::Limited,
            // A limiter that fails must not lose leads: let them through.
            None => RateDecision::NotConfigured,
        }
    }

    async fn sleep_ms(&self, ms: u64) {
        Delay::from(Duration::from_millis(ms)).await;
    }

    fn now_ms(&self) -> u64 {
        worker::Date::now().as_millis()
    }

    fn log(&self, line: &str) {
        worker::console_log!("{}", line);
    }
}
