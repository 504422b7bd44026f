//! The thin shell: binds the core to the Workers runtime. It converts
//! requests and answers, implements [`crate::platform::Platform`] on KV and
//! `fetch`, routes paths to flows, and runs the Cron Trigger. No decision
//! lives here. The runtime is reached through `runtime.js`, whose calls
//! each cross the JS/wasm boundary once, and tasks run on
//! [`crate::executor`].

mod convert;
mod env;
mod platform;
mod routes;
mod runtime;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

use crate::executor;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
    executor::set_later(runtime::later);
}

/// Hands `runtime.js` the callback through which every awaited runtime
/// call resumes its task: `settle` below, as its JS glue. `entry.js`
/// calls this once per instance. A plain export costs each outcome less
/// than a `Closure` (no closure wrapper around the call).
#[wasm_bindgen(js_name = connectSettle)]
pub fn connect_settle(settle: &js_sys::Function) {
    runtime::set_settle(settle);
}

/// The outcome of the runtime call waiting in `slot`: `ok` with its value,
/// or what it threw.
#[wasm_bindgen]
pub fn settle(slot: u32, ok: bool, value: JsValue) {
    executor::settle::<platform::Outcome>(slot, if ok { Ok(value) } else { Err(value) });
}

/// The request headers the core reads, comma-separated, a fallback
/// header written "referer?origin" (read only when there is no Origin):
/// `entry.js` asks once per instance, and copies only these into each
/// request's description.
#[wasm_bindgen(js_name = requestHeaders)]
pub fn request_headers() -> String {
    let mut names = String::new();
    for name in crate::http::REQUEST_HEADERS {
        if !names.is_empty() {
            names.push(',');
        }
        names.push_str(name);
        let fallback = crate::http::FALLBACK_HEADERS
            .iter()
            .find(|(f, _)| *f == name);
        if let Some((_, unless)) = fallback {
            names.push('?');
            names.push_str(unless);
        }
    }
    names
}

/// The fetch handler. `entry.js` calls it with the request described as
/// "METHOD\nURL\nname:value\n..." and the body it has read (empty when
/// there is none, `None` when it could not be read). Returns the
/// `Response`, or a promise of it when the request waits on I/O.
#[wasm_bindgen]
pub fn serve(head: String, env: JsValue, body: Option<Vec<u8>>) -> JsValue {
    answer(async move {
        let reply = match convert::incoming(&head, body) {
            Ok(incoming) => {
                let config = env::config(&env);
                let platform = platform::WorkerPlatform::new(&env);
                routes::handle(&platform, &config, incoming).await
            }
            Err(reply) => reply,
        };
        convert::response(reply).into()
    })
}

/// When the answer just made may be given again (the core marked it
/// reusable: a preflight's), the request headers it depends on besides the
/// method and URL, comma-separated; else undefined. Asked by `entry.js`
/// right after a `serve` that answered at once; reading it clears it.
#[wasm_bindgen(js_name = takeReusable)]
pub fn take_reusable() -> Option<String> {
    convert::take_reusable()
}

/// The Cron Trigger's handler: undefined, or a promise of it.
#[wasm_bindgen]
pub fn scheduled(_event: JsValue, env: JsValue) -> JsValue {
    answer(async move {
        let config = env::config(&env);
        let platform = platform::WorkerPlatform::new(&env);
        routes::scheduled(&platform, &config).await;
        JsValue::UNDEFINED
    })
}

/// Where a task's answer goes: back to the call that started it when it
/// finished at once, or to the promise handed out meanwhile.
enum Handoff {
    Running,
    Done(JsValue),
    Promised(u32),
}

thread_local! {
    static LAST_PROMISE: Cell<u32> = const { Cell::new(0) };
}

/// Runs `job` as a task: its value when it needs no I/O, else a promise.
fn answer(job: impl Future<Output = JsValue> + 'static) -> JsValue {
    let handoff = Rc::new(RefCell::new(Handoff::Running));
    let to = handoff.clone();
    executor::spawn(async move {
        let value = job.await;
        let promised = match &*to.borrow() {
            Handoff::Promised(id) => Some(*id),
            _ => None,
        };
        match promised {
            Some(id) => runtime::resolve_deferred(id, &value),
            None => *to.borrow_mut() = Handoff::Done(value),
        }
    });
    let mut handoff = handoff.borrow_mut();
    if let Handoff::Done(value) = std::mem::replace(&mut *handoff, Handoff::Running) {
        return value;
    }
    let id = LAST_PROMISE.with(|last| {
        last.set(last.get().wrapping_add(1));
        last.get()
    });
    *handoff = Handoff::Promised(id);
    runtime::deferred(id).into()
}
