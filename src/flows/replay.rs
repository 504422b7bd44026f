//! `POST /admin/replay`: deliver the outbox now, dead letters included.

use crate::config::Config;
use crate::http::{Incoming, Reply};
use crate::platform::Platform;

pub async fn replay<P: Platform>(_p: &P, _config: &Config, _request: &Incoming) -> Reply {
    Reply::json(
        501,
        &serde_json::json!({"ok": false, "error": {"code": "not_implemented", "message": "replay is not built yet"}}),
    )
}
