//! keap-form-worker: a Cloudflare Worker that turns a static site's form
//! posts into tagged Keap contacts.
//!
//! Everything but `shell` is the functional core: plain Rust with no
//! runtime types, tested natively with `cargo test`. The core talks to the
//! outside world only through [`platform::Platform`], which the shell
//! implements with the `worker` crate on top of Workers KV, `Fetch`, the
//! rate limiter and the clock.

pub mod alerts;
pub mod auth;
pub mod budget;
pub mod config;
pub mod config_check;
#[cfg(test)]
mod fixtures;
pub mod flows;
pub mod form;
pub mod http;
pub mod isolate;
pub mod keap;
pub mod lenient;
pub mod outcome_log;
pub mod pages;
pub mod platform;
pub mod request_url;
pub mod retry;
pub mod routes;
pub mod secret;
pub mod settings;
pub mod store;
pub mod time;

#[cfg(target_arch = "wasm32")]
mod shell;

#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
