//! The worker's flows: each answers one route or runs one scheduled job,
//! written against [`crate::platform::Platform`].

pub mod admin;
pub mod after_reply;
#[cfg(test)]
mod auth_tests;
pub mod connect;
#[cfg(test)]
mod cross_site_tests;
pub mod drain;
pub mod held;
pub mod queue_batch;
pub mod refresh;
pub mod replay;
pub mod retry_soon;
pub mod scheduled;
pub mod screen;
pub mod setup;
pub mod submit;
