//! A submission from the site's form: the body, its validation into a
//! lead, the origin and CORS decisions, Turnstile, the answers, and the
//! `FORMS` setting that describes each form.

pub mod address;
pub mod aliases;
pub mod answer;
pub mod body;
pub mod context;
pub mod cors;
pub mod email;
pub mod extra_fields;
pub mod forms;
pub mod honeypot;
pub mod lead;
pub mod mail_domain;
pub mod name_split;
pub mod note;
pub mod origin;
pub mod spam;
pub mod turnstile;
