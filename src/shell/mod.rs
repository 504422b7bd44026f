//! The thin shell: binds the core to the Workers runtime through the
//! `worker` crate. It converts requests and answers, implements
//! [`crate::platform::Platform`] on KV, `Fetch`, the rate limiter and the
//! clock, and hands each event to the route table. No decision lives here.

mod convert;
mod env;
mod platform;

use worker::{event, Context, Env, Request, Response, ScheduleContext, ScheduledEvent};

use crate::routes;
use platform::WorkerPlatform;

/// Once per isolate: a panic's message goes to the log instead of an
/// opaque `unreachable` trap. (worker-build's entry restarts the wasm
/// after a trap.) The core never panics on input; this is for the
/// impossible case, and its message holds no request data.
#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let reply = match convert::incoming(&mut req).await {
        Ok(incoming) => {
            let config = env::config(&env);
            let platform = WorkerPlatform::new(env);
            routes::handle(&platform, &config, incoming).await
        }
        Err(reply) => reply,
    };
    Ok(convert::response(reply))
}

/// The Cron Trigger: refresh the tokens when due, then deliver the outbox.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let config = env::config(&env);
    let platform = WorkerPlatform::new(env);
    routes::scheduled(&platform, &config).await;
}
