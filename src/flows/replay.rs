//! `POST /admin/replay`: deliver the outbox now, dead letters included,
//! after the owner fixed what made Keap refuse them. No refresh here: the
//! stored credentials are used as they are.

use serde_json::json;

use crate::config::Config;
use crate::flows::drain::{self, DrainReport, Stop, REPLAY_LIMIT};
use crate::http::{error_json, Incoming, Reply};
use crate::keap::credentials;
use crate::keap::delivery::Progress;
use crate::outcome_log::Via;
use crate::pages::{self, outcomes};
use crate::platform::{metered::Metered, Platform};
use crate::store::outbox::{self, Queue};

/// Moves the dead letters back to the pending list (attempts forgotten,
/// same id, so they keep their place by age), then drains. With unusable
/// credentials nothing is moved and the answer says why.
pub async fn replay<P: Platform>(p: &P, config: &Config, request: &Incoming) -> Reply {
    if let Err(why) = credentials::load(p, config).await {
        let words = format!("Nothing was delivered: {why}.");
        let counts = outbox::counts(p).await.unwrap_or_default();
        let mut report = error_json("keap_unavailable", &words);
        report["delivered"] = json!(0);
        report["queued"] = json!(counts.pending);
        report["dead"] = json!(counts.dead);
        return pages::answer(request, &outcomes::deliver_now(report, &words));
    }
    let requeued = requeue_dead(p, config).await;
    let metered = Metered::new(p).with_budget(config.budget.subrequests);
    let report = drain::drain(&metered, config, Via::Admin).await;
    p.log(&format!(
        "replay: {requeued} requeued; {}",
        report.summary()
    ));
    let dead = outbox::counts(p).await.map(|c| c.dead).unwrap_or(0);
    let words = summary_words(&report, dead);
    let report = json!({
            "ok": true,
            "delivered": report.delivered,
            "queued": report.remaining,
            "dead": dead,
            "requeued": requeued,
            "retried": report.retried,
            "budget_used": report.budget_used,
            "stopped": report.stopped.map(Stop::as_str),
    });
    pages::answer(request, &outcomes::deliver_now(report, &words))
}

/// Moves up to [`REPLAY_LIMIT`] dead letters back to pending; how many.
async fn requeue_dead<P: Platform>(p: &P, config: &Config) -> u32 {
    let listed = match outbox::list(p, Queue::Dead, None, REPLAY_LIMIT as u32).await {
        Ok((listed, _)) => listed,
        Err(e) => {
            p.log(&format!("replay: could not list the dead letters: {e}"));
            return 0;
        }
    };
    let (now, key) = (p.now_ms(), &config.seal_key);
    let mut moved = 0;
    for l in listed {
        let Some(entry) = outbox::load_listed::<_, Progress>(p, key, Queue::Dead, &l.id).await
        else {
            continue;
        };
        let entry = entry.requeued(now);
        match outbox::move_to(p, key, Queue::Dead, Queue::Pending, &l.id, &entry).await {
            Ok(()) => moved += 1,
            Err(e) => p.log(&format!(
                "replay: dead letter {} not requeued: {e}",
                l.id.as_str()
            )),
        }
    }
    moved
}

fn summary_words(report: &DrainReport, dead: u64) -> String {
    let mut words = format!(
        "{} lead(s) delivered; {} still waiting; {dead} dead letter(s).",
        report.delivered, report.remaining
    );
    if let Some(why) = &report.unavailable {
        words.push_str(&format!(" Keap could not be called: {why}."));
    } else if report.stopped.is_some() && report.remaining > 0 {
        words.push_str(" The rest go out with the next scheduled run.");
    }
    words
}
