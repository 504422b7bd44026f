//! The runtime calls of `runtime.js`, declared for Rust. Each is shaped to
//! cross the JS/wasm boundary once (see that file).

use wasm_bindgen::prelude::wasm_bindgen;
use worker::{js_sys, web_sys};

#[wasm_bindgen(module = "/src/shell/runtime.js")]
extern "C" {
    /// Which request headers [`describe_request`] copies: comma-separated.
    #[wasm_bindgen(js_name = setRequestHeaders)]
    pub fn set_request_headers(names: &str);
    /// "METHOD\nURL\nname:value\n..." with the headers set above.
    #[wasm_bindgen(js_name = describeRequest)]
    pub fn describe_request(request: &web_sys::Request) -> String;
    /// The body entry.js read; `None` when reading it failed.
    #[wasm_bindgen(js_name = requestBody)]
    pub fn request_body(request: &web_sys::Request) -> Option<Vec<u8>>;
    #[wasm_bindgen(js_name = makeResponse)]
    pub fn make_response(status: u16, headers: &str, body: &[u8]) -> web_sys::Response;

    /// Resolves to a [`Fetched`].
    /// `scope` is one object per incoming request or scheduled run: its
    /// fetches share a time limit while most of it is left.
    pub fn send(
        scope: &js_sys::Object,
        url: &str,
        method: &str,
        headers: &str,
        body: &[u8],
        timeout_ms: u32,
    ) -> js_sys::Promise;
    /// What [`send`] resolves to: an answer, or a failure.
    pub type Fetched;
    #[wasm_bindgen(method, getter)]
    pub fn failure(this: &Fetched) -> Option<String>;
    #[wasm_bindgen(method, getter)]
    pub fn status(this: &Fetched) -> u16;
    #[wasm_bindgen(method, getter)]
    pub fn headers(this: &Fetched) -> String;
    #[wasm_bindgen(method, getter)]
    pub fn body(this: &Fetched) -> Vec<u8>;

    #[wasm_bindgen(js_name = envText)]
    pub fn env_text(env: &wasm_bindgen::JsValue, name: &str) -> Option<String>;
    pub fn binding(env: &wasm_bindgen::JsValue, name: &str) -> Option<js_sys::Object>;

    /// Resolves to the value's text, or null.
    #[wasm_bindgen(js_name = kvGet)]
    pub fn kv_get(store: &js_sys::Object, key: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = kvPut)]
    pub fn kv_put(
        store: &js_sys::Object,
        key: &str,
        value: &str,
        ttl: Option<u32>,
        metadata: Option<String>,
    ) -> js_sys::Promise;
    #[wasm_bindgen(js_name = kvDelete)]
    pub fn kv_delete(store: &js_sys::Object, key: &str) -> js_sys::Promise;
    /// Resolves to the page as JSON text: `{keys: [{name, metadata}], cursor}`.
    #[wasm_bindgen(js_name = kvList)]
    pub fn kv_list(
        store: &js_sys::Object,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> js_sys::Promise;

    /// Resolves to true (allowed), false (limited) or undefined (it failed).
    #[wasm_bindgen(js_name = rateLimit)]
    pub fn rate_limit(limiter: &js_sys::Object, key: &str) -> js_sys::Promise;
    pub fn sleep(ms: u32) -> js_sys::Promise;
    pub fn log(line: &str);
}
