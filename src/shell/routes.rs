//! The route table of DESIGN.md section 2, and the scheduled run.

use crate::config::Config;
use crate::http::{Incoming, Method, Reply};
use crate::platform::Platform;

pub async fn handle<P: Platform>(p: &P, config: &Config, req: Incoming) -> Reply {
    let path = req.url.path().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (req.method, segments.as_slice()) {
        (Method::Get | Method::Head, ["health"]) => {
            Reply::json(200, &serde_json::json!({"status": "ok"}))
        }
        (Method::Post, ["forms", _form_id]) => not_built("POST /forms/{form_id}"),
        (Method::Options, ["forms", _form_id]) => not_built("OPTIONS /forms/{form_id}"),
        (Method::Get, ["admin"]) => not_built("GET /admin"),
        (Method::Get, ["admin", "status"]) => not_built("GET /admin/status"),
        (Method::Post, ["admin", "refresh"]) => not_built("POST /admin/refresh"),
        (Method::Post, ["admin", "replay"]) => not_built("POST /admin/replay"),
        (Method::Get, ["oauth", "start"]) => not_built("GET /oauth/start"),
        (Method::Get, ["oauth", "callback"]) => not_built("GET /oauth/callback"),
        _ => {
            let _ = (p, config);
            Reply::json(
                404,
                &serde_json::json!({"ok": false, "error": {"code": "not_found", "message": "no such route"}}),
            )
        }
    }
}

fn not_built(route: &str) -> Reply {
    Reply::json(
        501,
        &serde_json::json!({"ok": false, "error": {"code": "not_implemented", "message": format!("{route} is not built yet")}}),
    )
}

pub async fn scheduled<P: Platform>(p: &P, _config: &Config) {
    p.log("scheduled run: nothing to do yet");
}
