//! The owner's pages: `/admin` (and its JSON twin `/admin/status`), the
//! check of the forms, the test lead, Keap's tag and field lists, each
//! form's copy-ready HTML, and the short pages that answer the admin's
//! buttons. One layout ([`layout`]) with its CSS, and the scripts, are
//! files in `assets/`, included at build time.
//!
//! The flows (`crate::flows`) decide what to load and what to do; a view
//! here only renders what it is given. An admin route that answers a
//! script and a person alike gives its result as an [`AdminView`], and
//! [`answer`] is the one place that turns it into JSON or a page (by
//! [`admin_auth::wants_json`]).
//!
//! A new admin page is one new view module here (a type that implements
//! [`AdminView`], holding what the page shows) and one route line in
//! `src/routes.rs` calling the flow that fills it.

pub mod admin;
pub mod form_setup;
pub mod held;
pub mod keap_lists;
pub mod layout;
pub mod outcomes;
pub mod snippet;

use serde_json::Value;

use crate::auth::admin_auth;
use crate::http::{Incoming, Reply};

/// What a person sees: the page's title (also its heading) and its body,
/// HTML built with [`layout::escape`] for anything not written here.
pub struct Page {
    pub title: &'static str,
    pub body: String,
}

/// An admin answer that is JSON for a script and a page for a person, with
/// one status for both.
pub trait AdminView {
    fn status(&self) -> u16 {
        200
    }
    fn json(&self) -> Value;
    fn page(&self) -> Page;
}

/// Either view: a flow's result and the failure that stopped it.
impl<V: AdminView, E: AdminView> AdminView for Result<V, E> {
    fn status(&self) -> u16 {
        match self {
            Ok(v) => v.status(),
            Err(e) => e.status(),
        }
    }
    fn json(&self) -> Value {
        match self {
            Ok(v) => v.json(),
            Err(e) => e.json(),
        }
    }
    fn page(&self) -> Page {
        match self {
            Ok(v) => v.page(),
            Err(e) => e.page(),
        }
    }
}

/// The answer to `request`: JSON or the page, as the client asked.
pub fn answer(request: &Incoming, view: &impl AdminView) -> Reply {
    into_reply(view, admin_auth::wants_json(request))
}

/// `view` as JSON or as its page; never cached (it describes the
/// worker's state, which changes).
pub fn into_reply(view: &impl AdminView, json: bool) -> Reply {
    if json {
        Reply::json(view.status(), &view.json()).with_header("Cache-Control", "no-store")
    } else {
        let page = view.page();
        layout::page(view.status(), page.title, &page.body)
    }
}
