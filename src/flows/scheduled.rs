//! The Cron Trigger's run: refresh the tokens when due, check the forms'
//! ids against Keap once a day, then deliver the outbox with what is left
//! of the invocation's request budget.

use serde::Serialize;

use crate::config::Config;
use crate::config_check;
use crate::flows::drain::{self, DrainReport};
use crate::flows::refresh::{self, RefreshReport};
use crate::outcome_log::Via;
use crate::platform::{metered::Metered, Platform};

/// What a scheduled run did (no token, no personal data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduledReport {
    pub refresh: RefreshReport,
    pub outbox: DrainReport,
}

/// Refreshes first, so that a lead queued because the token had expired
/// is delivered in the same run, then drains the outbox. Logs one line
/// for each.
pub async fn run<P: Platform>(p: &P, config: &Config) -> ScheduledReport {
    let metered = Metered::new(p).with_budget(config.budget.subrequests);
    let refresh = refresh::refresh_if_due(&metered, config).await;
    let json = serde_json::to_string(&refresh).unwrap_or_default();
    p.log(&format!("scheduled: refresh {json}"));
    // Once a day, a few requests: before the outbox takes the rest.
    if let Some(Err(e)) = config_check::run_if_due(&metered, config).await {
        p.log(&format!("scheduled: configuration check failed: {e}"));
    }
    // At most once a day: how many posts were held for review.
    crate::flows::held::daily_alert(&metered, config).await;
    let outbox = drain::drain(&metered, config, Via::Cron).await;
    p.log(&format!("scheduled: {}", outbox.summary()));
    ScheduledReport { refresh, outbox }
}

#[cfg(test)]
mod tests;
