//! Who may do what: Keap's OAuth requests and the token state machine,
//! the admin token, where an admin action comes from, and whether an admin answer is a page or JSON.

pub mod admin_auth;
pub mod cross_site;
pub mod oauth;
pub mod tokens;
