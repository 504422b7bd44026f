//! # keap-sandbox: a local Keap for tests and `make dev`
//!
//! A small HTTP server that behaves like Keap's OAuth 2 endpoints and REST
//! v1 API (as described in `shared/KEAP.md`), strict where Keap is strict,
//! so the worker can be exercised end to end with no Keap account. It
//! serves Keap's own paths, so pointing the worker at it is a base-URL
//! swap:
//!
//! ```text
//! KEAP_AUTHORIZE_URL=http://127.0.0.1:PORT/app/oauth/authorize
//! KEAP_TOKEN_URL=http://127.0.0.1:PORT/token
//! KEAP_API_URL=http://127.0.0.1:PORT/crm/rest
//! ```
//!
//! ## Running it
//!
//! ```text
//! cargo run -p keap-sandbox -- [--host 127.0.0.1] [--port 0]
//!     [--client-id ID --client-secret SECRET] [--api-key KEY]...
//!     [--redirect-uri URL] [--tenant xy123]
//!     [--tags 101:Lead,102:Website,103:Newsletter]
//!     [--expires-in 86400] [--spec PATH]
//! ```
//!
//! The first line on stdout is exactly `listening on http://127.0.0.1:PORT`
//! (so a harness can start it with `--port 0` and read the port). Then one
//! line per request goes to stderr: method, path, status (never a query
//! string or token). It listens on loopback addresses only.
//!
//! Defaults, enough for `make dev`: client id `sandbox-client`, secret
//! `sandbox-secret`, API key `KeapAK-sandbox`, tenant `xy123`, tags 101
//! Lead, 102 Website, 103 Newsletter, any http(s) redirect URI without a
//! query string, access tokens valid 86400 s. Request bodies are validated
//! against Keap's OpenAPI document (`--spec`, by default
//! `../shared/keap-rest-v1.openapi.json` beside the repository); when it is
//! missing, a built-in extract of the same schemas is used and a warning
//! printed.
//!
//! From Rust: [`start`]`(`[`Config`]`)` returns a [`Handle`] with
//! [`Handle::port`], [`Handle::url`] and [`Handle::shutdown`].
//!
//! ## What it does like Keap
//!
//! - `GET /app/oauth/authorize?client_id&redirect_uri&response_type=code&scope=full&state`:
//!   a consent page with buttons `#allow` and `#deny` and the tenant shown.
//!   Allow redirects (302) to `redirect_uri?code=..&scope=full%7Cxy123.infusionsoft.com&state=..`;
//!   Deny to `redirect_uri?error=access_denied&error_description=..&state=..`.
//!   An unknown `client_id` redirects with `error=server_error` (Keap's
//!   answer to an app id used as client id). A missing or invalid
//!   `redirect_uri` (not http(s), with a query string, or not the
//!   `--redirect-uri` when that is given) gets a 400 page and no redirect.
//!   Codes are single-use, live 10 minutes and are bound to the client and
//!   redirect URI.
//! - `POST /token`, form-encoded only (anything else: 400 `invalid_request`).
//!   `authorization_code` needs `client_id`, `client_secret`, `code`,
//!   `redirect_uri` in the body (bad secret: 401 `invalid_client`; unknown,
//!   reused or expired code, or another `redirect_uri`: 400
//!   `invalid_grant`). `refresh_token` needs `Authorization: Basic
//!   base64(id:secret)` (missing or wrong: 401 `invalid_client`); an
//!   unknown, revoked or already-used refresh token gets 400
//!   `{"error":"invalid_request","error_description":"Invalid Refresh Token"}`
//!   (`invalid_grant` after `POST /_sandbox/config {"refresh_error":"invalid_grant"}`).
//!   Every refresh returns a new access and refresh token and kills the old
//!   refresh token; old access tokens work until they expire.
//! - REST under `/crm/rest`, with `Authorization: Bearer <access token or
//!   API key>` or `X-Keap-API-Key: <key>`; otherwise 401
//!   `{"fault":{"faultstring":"Invalid Access Token",...}}` ("Access Token
//!   Expired" / `keymanagement.service.access_token_expired` for an expired
//!   token). Every REST answer carries `x-keap-product-quota-*`,
//!   `x-keap-product-throttle-*` and `x-keap-tenant-id` headers.
//!   - `PUT /v1/contacts`: JSON only (else 415); the body must validate
//!     against the spec's request schema with unknown properties and `null`s
//!     refused (400 `{"message":...}` naming the field, never its value);
//!     `duplicate_option` `Email` or `EmailAndName` required; at least one
//!     email or phone; emails must look like emails. Upsert by email
//!     (case-insensitive; `EmailAndName` also compares given and family
//!     name): 201 created, 200 updated, with the full contact (integer
//!     `id`, `tag_ids`, `email_status`, `origin.date`, ...). An update
//!     changes only the fields sent: array fields merge by their `field`
//!     (custom fields by `id`). A custom field's `content` may be any JSON
//!     value: the spec's bare `{"type":"object"}` there is springfox's
//!     rendering of `java.lang.Object`, and Keap takes strings.
//!   - `POST /v1/contacts/{id}/tags` `{"tagIds":[...]}` (at most 100): 200
//!     with a map `{"101":"SUCCESS","102":"DUPLICATE","999":"TAG_ID_NOT_FOUND"}`.
//!     An unknown contact gets `CONTACT_NOT_FOUND` for every tag (the spec
//!     lists no 404 for this call).
//!   - `GET /v1/tags?name=&limit=&offset=&category=` and `POST /v1/tags`
//!     (201), `GET /v1/oauth/connect/userinfo`.
//!
//! ## Control API (for tests; JSON, no auth, loopback only)
//!
//! - `GET /_sandbox/`: an HTML page listing the contacts (with tag names
//!   and opt-in reason) and the latest requests, for a person running
//!   `make dev`.
//! - `GET /_sandbox/state`: `contacts` (everything stored, with `tag_ids`,
//!   `opt_in_reason`, `custom_fields`, ...), `tags`, `counts` of calls per
//!   route (`authorize`, `authorize_decision`, `token_authorization_code`,
//!   `token_refresh`, `token_other`, `contacts_put`, `tags_post` (apply tags
//!   to a contact), `tags_list`, `tag_create`, `userinfo`, `rest_other`,
//!   `not_found`), `requests`: every received request in order with
//!   `seq`, `route`, `method`, `path`, `query`, `query_params`, `headers`
//!   (lower-case names), `body`, `form` or `json` (the decoded body) and
//!   the `status` answered (the last 2000; `requests_dropped` counts
//!   older ones), `tokens` (codes, access and refresh tokens with their
//!   status: `live`, `rotated`, `revoked`), `settings` and `faults`.
//! - `POST /_sandbox/faults`:
//!   `{"route":R,"status":S,"count":N,"after":false}` fails the next N
//!   (default 1) calls of R with S (400..=599), where R is `token`, `rest`,
//!   `any` (token and REST) or a route name from `counts`; with
//!   `"after":true` the call is carried out and only its answer replaced
//!   (a lost response). `{"fail_rate":0.3,"seed":42,"statuses":[500,429]}`
//!   fails that fraction of REST calls, deterministically for the seed
//!   (`fail_rate: 0` turns it off). `{"delay_ms":N}` delays every Keap
//!   answer. `{"clear":true}` removes all faults. A 429 answers Keap's
//!   `{"code":"429","message":"Quota Exceeded","status":"Request Throttled"}`.
//!   Unknown keys are refused.
//! - `POST /_sandbox/expire-access-tokens`: every issued access token is
//!   expired now. `POST /_sandbox/revoke-refresh-tokens`: every live
//!   refresh token is revoked.
//! - `POST /_sandbox/config`: `{"expires_in":N,
//!   "refresh_error":"invalid_grant"|"invalid_request",
//!   "reject_contacts_with_status":400|null}`; the last makes every
//!   `PUT /v1/contacts` answer that status until set back to `null`
//!   (for dead-letter tests).
//! - `POST /_sandbox/reset`: back to the state at start.

mod app;
mod clock;
mod config;
mod contacts;
mod control;
mod dashboard;
mod faults;
mod fields;
mod http;
mod notes;
mod oauth;
mod rest;
mod route;
mod schema;
mod server;
mod state;
mod tokens;

pub use config::{parse_tags, Command, Config, ConfigError, LoopbackHost, SeedTag, USAGE};
pub use schema::{Operation, Schemas, Violation};
pub use server::{start, start_with, Handle, StartError};
