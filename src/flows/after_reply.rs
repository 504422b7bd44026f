//! Work a route leaves for after its answer has been sent. The person
//! who made the request is not kept waiting for it: the shell sends the
//! [`Routed::reply`] first, then runs [`Routed::after`] with
//! [`after_reply`] in the same invocation (Workers' `ctx.wait_until`).
//!
//! That work shares the invocation's limits with the answer: the outbound
//! requests it may make are what the answer left of
//! [`SUBREQUEST_BUDGET`](crate::platform::metered::SUBREQUEST_BUDGET), and
//! Workers gives it about 30 seconds after the answer. Cut short, it loses
//! nothing: an entry delivered but not yet settled is delivered again
//! later, which the outbox's idempotency makes harmless
//! (see [`crate::flows::drain`]).

use crate::config::Config;
use crate::config_check;
use crate::flows::drain::{self, Released};
use crate::flows::retry_soon::{self, RetrySoon};
use crate::http::Reply;
use crate::outcome_log::Via;
use crate::platform::{metered::Metered, Platform};

/// A route's answer, and what to do once it is sent.
#[derive(Debug)]
pub struct Routed {
    pub reply: Reply,
    pub after: Option<AfterReply>,
}

impl Routed {
    /// An answer with nothing to do after it.
    pub fn only(reply: Reply) -> Routed {
        Routed { reply, after: None }
    }

    /// An answer, then `work`.
    pub fn then(reply: Reply, work: AfterReply) -> Routed {
        Routed {
            reply,
            after: Some(work),
        }
    }
}

impl From<Reply> for Routed {
    fn from(reply: Reply) -> Routed {
        Routed::only(reply)
    }
}

/// Work to run after the answer, in the same invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterReply {
    /// A lead was queued for a passing failure: try it again shortly
    /// (see [`crate::flows::retry_soon`]).
    RetrySoon(RetrySoon),
    /// The owner has just connected: check the forms' ids against the
    /// app (see [`crate::config_check`]; a few requests), then release
    /// the waiting leads now rather than at the next scheduled run: each
    /// gets a delivery queue message when a queue is bound (many
    /// consumers then deliver them side by side), else they are
    /// delivered here within the budget.
    /// `subrequests_used`: the outbound requests the answer already made
    /// in this invocation, taken off the budget.
    Connected { subrequests_used: usize },
}

/// Runs `work`. Logs one summary line each; never fails (what it could
/// not do waits for the next scheduled run).
pub async fn after_reply<P: Platform>(p: &P, config: &Config, work: AfterReply) {
    match work {
        AfterReply::RetrySoon(work) => retry_soon::retry_soon(p, config, work).await,
        AfterReply::Connected { subrequests_used } => {
            let metered =
                Metered::after_spending(p, subrequests_used).with_budget(config.budget.subrequests);
            if let Err(e) = config_check::run(&metered, config).await {
                p.log(&format!(
                    "after connecting: the configuration check failed: {e}"
                ));
            }
            match drain::release(&metered, config, Via::Admin).await {
                Released::Queued(handed) => p.log(&format!(
                    "after connecting: {handed} waiting lead(s) handed to the delivery queue"
                )),
                Released::Drained(report) => {
                    p.log(&format!("after connecting: {}", report.summary()))
                }
            }
        }
    }
}
