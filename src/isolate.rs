//! What one isolate remembers between the requests it serves.
//!
//! A Workers isolate lives for many requests, on one thread. The core
//! keeps two small things there, both pure values defined beside the code
//! that uses them: the mail-domain answers ([`DomainCache`]) and how many
//! posts this isolate knows were held today ([`HeldBudget`]), and when
//! the daily `spam_held` alert is next worth a look. The
//! [`Platform`](crate::platform::Platform) lends the isolate's one
//! instance (the shell keeps it in a `thread_local`, the in-memory
//! platform per test), so the core holds no global state of its own and
//! every test starts from an empty memory. Losing it (a new isolate) only
//! costs a lookup or a count again.

use std::cell::{Cell, RefCell};

pub use crate::form::mail_domain::DomainCache;
pub use crate::store::held::HeldBudget;

/// The isolate's memory. Borrowed briefly, never across an `await`.
#[derive(Debug, Default)]
pub struct IsolateMemory {
    pub mail_domains: RefCell<DomainCache>,
    pub held_budget: RefCell<HeldBudget>,
    /// The earliest time the `spam_held` alert is worth looking at again
    /// (ms): it was sent, or found not due, or nothing new was held.
    pub next_held_alert_check_ms: Cell<u64>,
}
