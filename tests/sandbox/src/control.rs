//! The control API under `/_sandbox/`, for tests: read everything the
//! sandbox holds and was sent, inject faults, expire or revoke tokens,
//! flip behaviour switches, add and delete tags and custom fields, reset.
//! JSON in and out; never logged, counted or faulted.

use serde_json::{json, Value};

use crate::app::App;
use crate::clock;
use crate::dashboard;
use crate::http::{Request, Response};
use crate::state::State;

fn bad_request(problem: &str) -> Response {
    Response::json(400, &json!({"error": problem}))
}

/// The body as JSON; an empty body reads as `{}`.
fn body_json(request: &Request) -> Result<Value, Response> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&request.body).map_err(|_| bad_request("body must be JSON"))
}

/// What a path under `/_sandbox/` names that has an id in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deletable {
    Tag,
    CustomField,
}

/// `DELETE /_sandbox/tags/{id}` or `POST /_sandbox/tags/{id}/delete` (the
/// POST form suits a client that only POSTs), and the same for
/// `custom-fields`. The id is `None` when it is not an integer.
fn deletion(method: &str, path: &str) -> Option<(Deletable, Option<i64>)> {
    let (kind, rest) = if let Some(rest) = path.strip_prefix("/_sandbox/tags/") {
        (Deletable::Tag, rest)
    } else {
        (
            Deletable::CustomField,
            path.strip_prefix("/_sandbox/custom-fields/")?,
        )
    };
    let id = match method {
        "DELETE" => rest,
        "POST" => rest.strip_suffix("/delete")?,
        _ => return None,
    };
    Some((kind, id.parse().ok().filter(|id| *id > 0)))
}

fn delete(app: &App, kind: Deletable, id: Option<i64>) -> Response {
    let Some(id) = id else {
        return bad_request("the id must be a positive integer");
    };
    let mut state = app.state();
    let (deleted, what) = match kind {
        Deletable::Tag => (state.crm.delete_tag(id), "tag"),
        Deletable::CustomField => (state.crm.delete_custom_field(id), "custom field"),
    };
    if deleted {
        Response::json(200, &json!({"deleted": id}))
    } else {
        Response::json(404, &json!({"error": format!("no {what} {id}")}))
    }
}

/// Serves `/_sandbox/...`.
pub fn handle(app: &App, request: &Request) -> Response {
    let path = request.path.trim_end_matches('/');
    let now = clock::now();
    if let Some((kind, id)) = deletion(&request.method, path) {
        return delete(app, kind, id);
    }
    match (request.method.as_str(), path) {
        ("GET", "/_sandbox") => {
            let page = dashboard::render(&app.state().to_json(now));
            Response::html(200, page).with_header("Cache-Control", "no-store")
        }
        ("GET", "/_sandbox/state") => Response::json(200, &app.state().to_json(now)),
        ("POST", "/_sandbox/faults") => {
            let body = match body_json(request) {
                Ok(body) => body,
                Err(response) => return response,
            };
            let mut state = app.state();
            match state.faults.apply(&body) {
                Ok(()) => Response::json(200, &state.faults.to_json()),
                Err(problem) => bad_request(&problem),
            }
        }
        ("POST", "/_sandbox/config") => {
            let body = match body_json(request) {
                Ok(body) => body,
                Err(response) => return response,
            };
            let mut state = app.state();
            match state.settings.apply(&body) {
                Ok(()) => Response::json(200, &state.settings.to_json()),
                Err(problem) => bad_request(&problem),
            }
        }
        ("POST", "/_sandbox/tags") => {
            let body = match body_json(request) {
                Ok(body) => body,
                Err(response) => return response,
            };
            match app.state().crm.add_tag(&body) {
                Ok(tag) => Response::json(200, &tag.to_json()),
                Err(problem) => bad_request(&problem),
            }
        }
        ("POST", "/_sandbox/custom-fields") => {
            let body = match body_json(request) {
                Ok(body) => body,
                Err(response) => return response,
            };
            match app.state().crm.fields.add(&body) {
                Ok(field) => Response::json(200, &field.to_json()),
                Err(problem) => bad_request(&problem),
            }
        }
        ("POST", "/_sandbox/expire-access-tokens") => {
            let expired = app.state().tokens.expire_access_tokens(now);
            Response::json(200, &json!({"expired": expired}))
        }
        ("POST", "/_sandbox/revoke-refresh-tokens") => {
            let revoked = app.state().tokens.revoke_refresh_tokens();
            Response::json(200, &json!({"revoked": revoked}))
        }
        ("POST", "/_sandbox/reset") => {
            *app.state() = State::new(app.config());
            Response::json(200, &json!({"reset": true}))
        }
        (
            _,
            "/_sandbox/state"
            | "/_sandbox/faults"
            | "/_sandbox/config"
            | "/_sandbox/tags"
            | "/_sandbox/custom-fields"
            | "/_sandbox/expire-access-tokens"
            | "/_sandbox/revoke-refresh-tokens"
            | "/_sandbox/reset",
        ) => Response::json(405, &json!({"error": "method not allowed"})),
        _ => Response::json(404, &json!({"error": "unknown control route"})),
    }
}
