//! Trying a queued lead again soon: when (the timing, Keap's
//! `Retry-After` included) and how the delivery queue names the entry
//! (the message). Pure: the flows that act on it are
//! [`crate::flows::retry_soon`] and [`crate::flows::queue_batch`].

pub mod message;
pub mod timing;
