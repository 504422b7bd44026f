//! The thin shell: binds the core to the Workers runtime. It converts
//! requests and answers, implements [`crate::platform::Platform`] on KV and
//! `fetch`, routes paths to flows, and runs the Cron Trigger. No decision
//! lives here. The runtime is reached through `runtime.js`, whose calls
//! each cross the JS/wasm boundary once.

mod convert;
mod env;
mod platform;
mod routes;
mod runtime;

use worker::{event, web_sys, Context, Env, ScheduleContext, ScheduledEvent};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
    runtime::set_request_headers(&crate::http::REQUEST_HEADERS.join(","));
}

#[event(fetch)]
async fn fetch(
    req: web_sys::Request,
    env: Env,
    _ctx: Context,
) -> worker::Result<web_sys::Response> {
    let reply = match convert::incoming(&req) {
        Ok(incoming) => {
            let config = env::config(&env);
            let platform = platform::WorkerPlatform::new(&env);
            routes::handle(&platform, &config, incoming).await
        }
        Err(reply) => reply,
    };
    Ok(convert::response(reply))
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let config = env::config(&env);
    let platform = platform::WorkerPlatform::new(&env);
    routes::scheduled(&platform, &config).await;
}
