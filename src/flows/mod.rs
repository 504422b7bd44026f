//! The worker's flows: each answers one route or runs one scheduled job,
//! written against [`crate::platform::Platform`].
