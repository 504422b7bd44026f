//! The worker's flows: each answers one route or runs one scheduled job,
//! written against [`crate::platform::Platform`].

pub mod admin;
pub mod after_reply;
#[cfg(test)]
mod auth_tests;
pub mod connect;
pub mod drain;
pub mod pages;
pub mod queue_batch;
pub mod refresh;
pub mod replay;
pub mod retry;
pub mod scheduled;
pub mod setup;
pub mod submit;
pub mod watch;
