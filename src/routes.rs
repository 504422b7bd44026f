//! The route table (the contract's routes, see docs/CONTRACT.md) and the
//! scheduled run: what the shell calls for each event. Generic over
//! [`Platform`], so whole requests run natively in tests too.

use crate::auth::admin_auth;
use crate::config::Config;
use crate::flows;
use crate::flows::after_reply::Routed;
use crate::http::{Incoming, Method, Reply};
use crate::pages;
use crate::platform::Platform;

/// The answer to `req`, and what to run once it is sent
/// ([`flows::after_reply::after_reply`], in `ctx.wait_until`).
pub async fn answer_request<P: Platform>(p: &P, config: &Config, req: Incoming) -> Routed {
    let path = req.url.path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (req.method, segments.as_slice()) {
        (Method::Get, ["oauth", "callback"]) => {
            flows::connect::oauth_callback(p, config, &req).await
        }
        (Method::Post, ["forms", form_id]) => {
            flows::submit::submit_routed(p, config, &req, form_id).await
        }
        _ => Routed::only(answer(p, config, &req, &segments).await),
    }
}

/// The routes that leave nothing to do after their answer.
async fn answer<P: Platform>(p: &P, config: &Config, req: &Incoming, segments: &[&str]) -> Reply {
    match (req.method, segments) {
        (Method::Get | Method::Head, ["health"]) => {
            Reply::json(200, &serde_json::json!({"status": "ok"}))
        }
        (Method::Options, ["forms", form_id]) => flows::submit::preflight(config, req, form_id),
        (method, ["admin", ..] | ["oauth", "start"]) => {
            admin_auth::unframeable(admin(p, config, req, method, segments).await)
        }
        _ => not_found(),
    }
}

/// The admin routes (and `/oauth/start`), behind [`admin_auth::guard`]:
/// credentials, and for a request that acts, where it comes from.
async fn admin<P: Platform>(
    p: &P,
    config: &Config,
    req: &Incoming,
    method: Method,
    segments: &[&str],
) -> Reply {
    if let Err(refusal) = admin_auth::guard(config, req) {
        return refusal;
    }
    match (method, segments) {
        (Method::Get, ["admin"]) => flows::admin::reply(p, config, &req.url, false).await,
        (Method::Get, ["admin", "status"]) => flows::admin::reply(p, config, &req.url, true).await,
        (Method::Post, ["admin", "refresh"]) => flows::refresh::refresh_reply(p, config, req).await,
        (Method::Post, ["admin", "replay"]) => flows::replay::replay(p, config, req).await,
        (Method::Get, ["admin", "held"]) => flows::held::list(p, config).await,
        (Method::Post, ["admin", "held", id, "release"]) => {
            pages::answer(req, &flows::held::release(p, config, id).await)
        }
        (Method::Post, ["admin", "held", id, "delete"]) => {
            pages::answer(req, &flows::held::delete(p, id).await)
        }
        (Method::Get, ["admin", "keap", "tags"]) => {
            pages::answer(req, &flows::setup::tags(p, config).await)
        }
        (Method::Get, ["admin", "keap", "fields"]) => {
            pages::answer(req, &flows::setup::fields(p, config).await)
        }
        (Method::Post, ["admin", "check"]) => {
            pages::answer(req, &flows::setup::check(p, config).await)
        }
        (Method::Post, ["admin", "test-lead"]) => {
            pages::answer(req, &flows::setup::test_lead(p, config, req).await)
        }
        (Method::Get, ["oauth", "start"]) => flows::connect::oauth_start(p, config, req).await,
        _ => not_found(),
    }
}

fn not_found() -> Reply {
    Reply::json_error(404, "not_found", "no such route")
}

/// The Cron Trigger: refresh the tokens when due, check the forms' ids
/// once a day, then deliver the outbox.
pub async fn scheduled<P: Platform>(p: &P, config: &Config) {
    flows::scheduled::run(p, config).await;
}

/// A batch of the delivery queue's messages (their bodies when text):
/// what to do with each, in order (see [`flows::queue_batch`]).
pub async fn queue_batch<P: Platform>(
    p: &P,
    config: &Config,
    bodies: &[Option<String>],
) -> Vec<flows::queue_batch::Verdict> {
    flows::queue_batch::consume(p, config, bodies).await.0
}
