//! The Cron Trigger's run: refresh the tokens when due, then deliver the
//! outbox.

use crate::config::Config;
use crate::flows::refresh;
use crate::platform::Platform;

pub async fn run<P: Platform>(p: &P, config: &Config) {
    let report = refresh::refresh_if_due(p, config).await;
    p.log(&format!(
        "scheduled: refresh {}",
        serde_json::to_string(&report).unwrap_or_default()
    ));
}
