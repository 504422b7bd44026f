//! One sandbox: its configuration, schemas and state, and the dispatch of
//! a request to the right handler, with the request log, call counts,
//! injected faults and delays around it.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::json;

use crate::clock;
use crate::config::Config;
use crate::control;
use crate::faults::Fault;
use crate::http::{decode_form, first, Request, Response};
use crate::oauth;
use crate::rest;
use crate::route::Route;
use crate::schema::Schemas;
use crate::state::State;

/// A sandbox's whole world, shared by the threads that serve requests.
#[derive(Debug)]
pub struct App {
    config: Config,
    schemas: Schemas,
    state: Mutex<State>,
}

impl App {
    /// A sandbox with fresh state.
    pub fn new(config: Config, schemas: Schemas) -> App {
        let state = Mutex::new(State::new(&config));
        App {
            config,
            schemas,
            state,
        }
    }

    /// The configuration it started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The state. A handler that panicked cannot leave it half-written in
    /// a way that matters to a test double, so a poisoned lock is taken
    /// over rather than propagated.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Answers one request.
    pub fn handle(&self, request: &Request) -> Response {
        let grant_type = (request.path == "/token"
            && request.media_type().as_deref() == Some("application/x-www-form-urlencoded"))
        .then(|| first(&decode_form(&request.body), "grant_type"))
        .flatten();
        let route = Route::classify(&request.method, &request.path, grant_type.as_deref());
        if route == Route::Control {
            return control::handle(self, request);
        }
        let (seq, delay_ms, fault) = {
            let mut state = self.state();
            let seq = state.record(route, request);
            (seq, state.faults.delay_ms(), state.faults.take(route))
        };
        let hold_ms = delay_ms.saturating_add(fault.map_or(0, |f| f.hang_ms));
        if hold_ms > 0 {
            std::thread::sleep(Duration::from_millis(hold_ms));
        }
        let now = clock::now();
        let mut state = self.state();
        let mut response = match fault {
            Some(Fault {
                status: Some(status),
                after: false,
                ..
            }) => fault_response(route, status),
            _ => {
                let real = self.dispatch(&mut state, route, request, now);
                match fault.and_then(|f| f.status) {
                    Some(status) => fault_response(route, status),
                    None => real,
                }
            }
        };
        if route.is_rest() {
            let quota = state.spend_quota(&self.config.tenant, now);
            response.headers.extend(quota);
        }
        state.record_status(seq, response.status);
        response
    }

    fn dispatch(&self, state: &mut State, route: Route, request: &Request, now: u64) -> Response {
        match route {
            Route::Authorize => oauth::authorize_page(&self.config, request),
            Route::AuthorizeDecision => oauth::decision(&self.config, state, request, now),
            Route::TokenAuthorizationCode | Route::TokenRefresh | Route::TokenOther => {
                oauth::token(&self.config, state, request, now)
            }
            Route::ContactsPut
            | Route::TagsPost
            | Route::TagsList
            | Route::TagCreate
            | Route::TagGet
            | Route::ContactModel
            | Route::NotesPost
            | Route::Userinfo
            | Route::RestOther => {
                rest::handle(&self.config, &self.schemas, state, route, request, now)
            }
            Route::Control | Route::NotFound => Response::message(404, "Not found"),
        }
    }
}

/// What an injected failure looks like on the wire, per route kind.
fn fault_response(route: Route, status: u16) -> Response {
    if status == 429 {
        return Response::json(
            429,
            &json!({"code": "429", "message": "Quota Exceeded", "status": "Request Throttled"}),
        );
    }
    if route.is_token() {
        let error = match status {
            401 => "invalid_client",
            400..=499 => "invalid_request",
            _ => "server_error",
        };
        return Response::json(
            status,
            &json!({"error": error, "error_description": "Injected by the Keap sandbox"}),
        );
    }
    if status == 401 && route.is_rest() {
        return rest::auth_fault(false);
    }
    Response::message(status, "Injected by the Keap sandbox")
}
