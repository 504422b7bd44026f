//! keap-form-worker: a Cloudflare Worker that turns a static site's form
//! posts into tagged Keap contacts.
//!
//! Everything but `shell` is the functional core: plain Rust with no
//! runtime types, tested natively with `cargo test`. The core talks to the
//! outside world only through [`platform::Platform`], which the shell
//! implements with the `worker` crate on top of Workers KV, `Fetch`, the
//! rate limiter and the clock.

pub mod accept;
pub mod address;
pub mod admin_auth;
pub mod alerts;
pub mod answer;
pub mod body;
pub mod config;
pub mod config_check;
pub mod context;
pub mod cors;
pub mod credentials;
pub mod delivery;
pub mod email;
#[cfg(test)]
mod fixtures;
pub mod flows;
pub mod form_snippet;
pub mod forms;
pub mod html;
pub mod http;
pub mod keap;
pub mod keap_answers;
pub mod keap_catalog;
pub mod kv_keys;
pub mod lead;
pub mod note;
pub mod oauth;
pub mod origin;
pub mod outbox;
pub mod platform;
pub mod request_url;
pub mod routes;
pub mod seal;
pub mod secret;
pub mod settings;
pub mod time;
pub mod tokens;

#[cfg(target_arch = "wasm32")]
mod shell;

#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod turnstile;
