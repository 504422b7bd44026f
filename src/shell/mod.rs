//! The thin shell: binds the core to the Workers runtime through the
//! `worker` crate. It converts requests and answers, implements
//! [`crate::platform::Platform`] on KV, `fetch`, the rate limiter and the
//! clock, and hands each event to the route table ([`crate::routes`]). No
//! decision lives here.

mod convert;
mod env;
mod platform;

use worker::{
    event, web_sys, Context, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, Response,
    ScheduleContext, ScheduledEvent,
};

use crate::flows::after_reply::after_reply;
use crate::flows::queue_batch::Verdict;
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

/// A request: its answer, then any work the route left for after it
/// (delivering the outbox once the owner has connected), which
/// `ctx.wait_until` runs in the same invocation without keeping the
/// person who asked waiting.
#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let incoming = match convert::incoming(&req).await {
        Ok(incoming) => incoming,
        Err(reply) => return Ok(convert::response(reply)),
    };
    let config = env::config(&env);
    let routed = routes::answer_request(&WorkerPlatform::new(env.clone()), &config, incoming).await;
    if let Some(work) = routed.after {
        ctx.wait_until(async move {
            after_reply(&WorkerPlatform::new(env), &config, work).await;
        });
    }
    Ok(convert::response(routed.reply))
}

/// The Cron Trigger: refresh the tokens when due, then deliver the outbox.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let config = env::config(&env);
    let platform = WorkerPlatform::new(env);
    routes::scheduled(&platform, &config).await;
}

/// A batch of the delivery queue (`DELIVERY_QUEUE`): each message names
/// an outbox entry. The core decides each message; it is acknowledged,
/// or retried after the delay the core gives (a back-off, or at once for
/// what the batch did not reach).
#[event(queue)]
async fn queue(batch: MessageBatch<String>, env: Env, _ctx: Context) -> worker::Result<()> {
    let config = env::config(&env);
    let platform = WorkerPlatform::new(env);
    let messages: Vec<_> = batch.raw_iter().collect();
    let bodies: Vec<Option<String>> = messages.iter().map(|m| m.body().as_string()).collect();
    let verdicts = routes::queue_batch(&platform, &config, &bodies).await;
    for (message, verdict) in messages.iter().zip(verdicts) {
        match verdict {
            Verdict::Ack => message.ack(),
            Verdict::Retry { delay_secs } => message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(delay_secs)
                    .build(),
            ),
        }
    }
    Ok(())
}
