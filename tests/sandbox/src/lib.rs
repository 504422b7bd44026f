//! # keap-sandbox: a local Keap for tests and `make dev`
//!
//! A small HTTP server that behaves like Keap's OAuth 2 endpoints and REST
//! v1 API (as its OpenAPI document and the worker's docs/CONTRACT.md
//! describe it), strict where Keap is strict,
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
//! against Keap's OpenAPI document (`--spec`, by default the repository's
//! `tests/keap-rest-v1.openapi.json`); when it is missing, a built-in
//! extract of the same schemas is used and a warning printed.
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
//!     `id`, `tag_ids`, `email_status`, `origin.date`, ...). Every field
//!     of the spec's request is stored and answered back, `job_title`,
//!     `website` and `addresses` (`field` `BILLING`/`SHIPPING`/`OTHER`,
//!     `line1`, `line2`, `locality`, `region`, `postal_code`, `zip_code`,
//!     `zip_four`, `country_code`) included; an address with a `region`
//!     and no `country_code` is refused (400), as the spec says Keap does.
//!     An update changes only the fields sent ("Existing Contacts are
//!     updated with only the values provided", the spec): list entries
//!     are slots keyed by `field` (custom fields by `id`, social accounts
//!     by `type`), so sending `EMAIL1` replaces the stored `EMAIL1` entry
//!     whole and keeps `EMAIL2`; sending a `BILLING` address keeps the
//!     `SHIPPING` one (v2's upsert, not served here, replaces whole
//!     lists). A custom field must exist in the contact model (else 400);
//!     its `content` may be any JSON value: the spec's bare
//!     `{"type":"object"}` there is springfox's rendering of
//!     `java.lang.Object`, and Keap takes strings.
//!   - `POST /v1/contacts/{id}/tags` `{"tagIds":[...]}` (at most 100): 200
//!     with a map `{"101":"SUCCESS","102":"DUPLICATE","999":"TAG_ID_NOT_FOUND"}`.
//!     An unknown contact gets `CONTACT_NOT_FOUND` for every tag (the spec
//!     lists no 404 for this call).
//!     A tag id that does not exist (never did, or was deleted through the
//!     control API) gets `TAG_ID_NOT_FOUND`.
//!   - `POST /v1/notes` `{"contact_id","title","body","type"}` (the spec's
//!     `RequestNote`: `contact_id` required, `type` one of `Appointment`,
//!     `Call`, `Email`, `Fax`, `Letter`, `Other`, unknown properties
//!     refused, a title or a body required, `user_id` only the sandbox's
//!     user 1): 201 with the note (`id`, `contact_id`, `title`, `body`,
//!     `type`, `user_id`, `date_created`, `last_updated`,
//!     `last_updated_by`). An unknown contact gets 400 `{"message":...}`.
//!     Each call adds a note; none replaces another.
//!   - `GET /v1/tags?name=&limit=&offset=&category=`: `{"tags":[{"id",
//!     "name","description","category":{"id","name"}}],"count","next",
//!     "previous"}`, by id; `name` matches whole names, case-insensitively;
//!     `limit` defaults to and is capped at 1000; `count` is the total that
//!     match; `next` and `previous` are absolute URLs and always present,
//!     as in Keap (`next` points past the end on the last page), so a
//!     client pages until `offset` + the page's length reaches `count`.
//!     `GET /v1/tags/{id}`: the tag, 404 when there is none. `POST
//!     /v1/tags` (201) creates one; ids are never reused.
//!   - `GET /v1/contacts/model`: `{"custom_fields":[{"id","label",
//!     "field_name","field_type","record_type","options":[{"id","label"}],
//!     "default_value"}],"optional_properties":[...]}`. The sandbox starts
//!     with custom fields 7 Company (Text), 8 Interest (Dropdown: Sales,
//!     Support, Other) and 9 Comments (TextArea).
//!   - `GET /v1/oauth/connect/userinfo`.
//!
//! ## Control API (for tests; JSON, no auth, loopback only)
//!
//! - `GET /_sandbox/`: an HTML page listing the contacts (with tag names
//!   and opt-in reason), their notes, the tags and custom fields, and the
//!   latest requests, for a person running `make dev`.
//! - `GET /_sandbox/state`: `contacts` (everything stored, with `tag_ids`,
//!   `opt_in_reason`, `custom_fields`, ..., and `notes`: the contact's
//!   notes, oldest first), `notes` (every note, by id), `tags`,
//!   `custom_fields` (as the contact model lists them), `counts` of calls
//!   per route (`authorize`, `authorize_decision`,
//!   `token_authorization_code`, `token_refresh`, `token_other`,
//!   `contacts_put`, `tags_post` (apply tags to a contact), `tags_list`,
//!   `tag_create`, `tag_get`, `contact_model`, `notes_post`, `userinfo`,
//!   `rest_other`, `not_found`), `requests`: every received request in order with
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
//!   (a lost response). `{"route":R,"hang_ms":N,"count":N}` holds the next
//!   N calls of R for `hang_ms` (1..=120000) before carrying them out and
//!   answering normally: a client with a shorter timeout sees a timeout
//!   while Keap did the work (with a `status` too, the held call is then
//!   failed as above). So `{"route":"notes_post","status":503}`,
//!   `{"route":"notes_post","status":429}`, `{"route":"notes_post",
//!   "hang_ms":30000}` fail only the note call, like the same with
//!   `tags_post` only the tags call.
//!   `{"fail_rate":0.3,"seed":42,"statuses":[500,429]}`
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
//!   "reject_contacts_with_status":400|null,
//!   "reject_notes_with_status":400|null}`; the last two make every
//!   `PUT /v1/contacts` (or `POST /v1/notes`) answer that status until set
//!   back to `null` (a permanent refusal, for dead-letter tests).
//! - `POST /_sandbox/tags` `{"id"?,"name","description"?,"category"?:
//!   {"id","name"?}}`: adds a tag (200 with it; without `id` the next
//!   free one; an existing id is refused). `DELETE /_sandbox/tags/{id}`
//!   (or `POST /_sandbox/tags/{id}/delete`): deletes it and takes it off
//!   every contact, as Keap does; 200 `{"deleted":id}`, 404 when there is
//!   none. Tagging with a deleted tag then answers `TAG_ID_NOT_FOUND`.
//! - `POST /_sandbox/custom-fields` `{"id"?,"label","field_type"?,
//!   "field_name"?,"options"?,"default_value"?}` (`field_type` from the
//!   spec's list, default `Text`; an option is a string or
//!   `{"id","label"}`): adds a contact custom field.
//!   `DELETE /_sandbox/custom-fields/{id}` (or
//!   `POST /_sandbox/custom-fields/{id}/delete`): deletes it and its
//!   values; an upsert naming it is then refused (400).
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
