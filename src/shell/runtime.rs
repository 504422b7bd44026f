//! The runtime calls of `runtime.js`, declared for Rust. Each is shaped to
//! cross the JS/wasm boundary once (see that file). An asynchronous call
//! takes the [`SlotId`] of a [`crate::executor::Settlement`] and settles it
//! through the callback given to [`set_settle`].

use wasm_bindgen::prelude::wasm_bindgen;

use crate::executor::SlotId;

#[wasm_bindgen(module = "/src/shell/runtime.js")]
extern "C" {
    /// The one settlement callback, `(slot, ok, value)`, for the instance.
    #[wasm_bindgen(js_name = setSettle)]
    pub fn set_settle(callback: &js_sys::Function);
    /// Asks for a run of the ready tasks in a microtask.
    pub fn later();
    /// A promise for request task `id`'s answer.
    pub fn deferred(id: u32) -> js_sys::Promise;
    #[wasm_bindgen(js_name = resolveDeferred)]
    pub fn resolve_deferred(id: u32, value: &wasm_bindgen::JsValue);

    #[wasm_bindgen(js_name = makeResponse)]
    pub fn make_response(status: u16, headers: &str, body: &[u8]) -> web_sys::Response;

    /// The time limit shared by one request's fetches, each of which gets
    /// `timeout_ms`.
    pub type FetchLimit;
    #[wasm_bindgen(js_name = fetchLimit)]
    pub fn fetch_limit(timeout_ms: u32) -> FetchLimit;
    /// Clears the limit's timer when the request is over.
    #[wasm_bindgen(js_name = endFetchLimit)]
    pub fn end_fetch_limit(limit: &FetchLimit);
    /// Settles with a [`Fetched`]. `head` is "METHOD\nURL\nname:value\n...".
    pub fn send(limit: &FetchLimit, head: &str, body: &[u8], slot: SlotId);
    /// What [`send`] resolves to: an answer, or a failure (status 0).
    pub type Fetched;
    #[wasm_bindgen(method, getter)]
    pub fn failure(this: &Fetched) -> Option<String>;
    #[wasm_bindgen(method, getter)]
    pub fn status(this: &Fetched) -> u16;
    #[wasm_bindgen(method, getter)]
    pub fn body(this: &Fetched) -> Vec<u8>;

    #[wasm_bindgen(js_name = envText)]
    pub fn env_text(env: &wasm_bindgen::JsValue, name: &str) -> Option<String>;
    /// `name` is a JS string (see `platform::with_js_text`).
    pub fn binding(
        env: &wasm_bindgen::JsValue,
        name: &wasm_bindgen::JsValue,
    ) -> Option<js_sys::Object>;

    /// Settles with the value's bytes, or null. `key` is a JS string.
    #[wasm_bindgen(js_name = kvGet)]
    pub fn kv_get(store: &js_sys::Object, key: &wasm_bindgen::JsValue, slot: SlotId);
    #[wasm_bindgen(js_name = kvPut)]
    pub fn kv_put(
        store: &js_sys::Object,
        key: &str,
        value: &str,
        ttl: Option<u32>,
        metadata: Option<String>,
        slot: SlotId,
    );
    #[wasm_bindgen(js_name = kvDelete)]
    pub fn kv_delete(store: &js_sys::Object, key: &str, slot: SlotId);
    /// Settles with the page as JSON text: `{keys: [{name, metadata}], cursor}`.
    #[wasm_bindgen(js_name = kvList)]
    pub fn kv_list(
        store: &js_sys::Object,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
        slot: SlotId,
    );

    /// Settles with true (allowed), false (limited) or undefined (it failed).
    #[wasm_bindgen(js_name = rateLimit)]
    pub fn rate_limit(limiter: &js_sys::Object, key: &str, slot: SlotId);
    pub fn sleep(ms: u32, slot: SlotId);
    pub fn log(line: &str);
}
