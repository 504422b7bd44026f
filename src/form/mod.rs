//! A submission from the site's form: the body, its validation into a
//! lead, the origin and CORS decisions, Turnstile, the answers, and the
//! `FORMS` setting that describes each form.

pub mod address;
pub mod answer;
pub mod body;
pub mod context;
pub mod cors;
pub mod email;
pub mod forms;
pub mod lead;
pub mod mail_domain;
pub mod origin;
pub mod snippet;
pub mod spam;
pub mod turnstile;
