//! The owner's setup assistant: Keap's tags and custom fields by name
//! (`GET /admin/keap/tags`, `GET /admin/keap/fields`), the check of every
//! configured id (`POST /admin/check`, see [`crate::config_check`]) and a
//! test lead (`POST /admin/test-lead`). Each gives its result as a view of
//! [`crate::pages`], which the route answers as JSON for a script or a page
//! for a browser. When Keap cannot be reached or the worker is not
//! connected, the answer says so (503 or 502), never a 500.

use super::submit;
use crate::config::Config;
use crate::config_check::{self, CheckError};
use crate::form::answer::{ErrorCode, Problem};
use crate::form::body;
use crate::form::lead;
use crate::http::Incoming;
use crate::keap::catalog::{self, CatalogError, MAX_TAG_PAGES, TAG_PAGE_SIZE};
use crate::keap::credentials::{self, Credentials};
use crate::pages::outcomes::{self, Said};
use crate::pages::{form_setup::Checked, keap_lists};
use crate::platform::Platform;

/// `GET /admin/keap/tags`: every tag of the connected app.
pub async fn tags<P: Platform>(p: &P, config: &Config) -> Result<keap_lists::Tags, Said> {
    let creds = usable_credentials(p, config).await?;
    let api = config.settings.api_url();
    let listed = catalog::list_tags(p, api, &creds, TAG_PAGE_SIZE, MAX_TAG_PAGES).await;
    Ok(keap_lists::Tags(keap_answered(p, &creds, listed).await?))
}

/// `GET /admin/keap/fields`: the app's contact custom fields.
pub async fn fields<P: Platform>(p: &P, config: &Config) -> Result<keap_lists::Fields, Said> {
    let creds = usable_credentials(p, config).await?;
    let listed = catalog::list_fields(p, config.settings.api_url(), &creds).await;
    Ok(keap_lists::Fields(keap_answered(p, &creds, listed).await?))
}

/// `POST /admin/check`: checks every form now.
pub async fn check<P: Platform>(p: &P, config: &Config) -> Result<Checked, Said> {
    let checked = config_check::run(p, config).await.map(|outcome| Checked {
        record: outcome.record,
        forms: config.forms.as_ref().cloned().unwrap_or_default(),
    });
    checked.map_err(|e| {
        let (status, code) = match &e {
            CheckError::Forms(_) => (503, "not_configured"),
            CheckError::Unavailable(_) => (503, "keap_unavailable"),
            CheckError::Keap(_) => (502, "keap_error"),
        };
        outcomes::failure(status, code, &format!("Nothing was checked: {e}."))
    })
}

/// `POST /admin/test-lead` with `{"form","email"}` (JSON, or the admin
/// page's form post; any other field of the form may come too): the
/// validation and delivery of a visitor's post (tags, outbox when Keap
/// cannot take it now). No origin, Turnstile or rate-limit check: the
/// sender is the owner, not a visitor on the site.
pub async fn test_lead<P: Platform>(
    p: &P,
    config: &Config,
    request: &Incoming,
) -> Result<Said, Said> {
    let sent = send_test_lead(p, config, request).await;
    sent.map_err(|problem| outcomes::test_lead_refused(&problem))
}

/// The test lead: what became of it.
async fn send_test_lead<P: Platform>(
    p: &P,
    config: &Config,
    request: &Incoming,
) -> Result<Said, Problem> {
    let forms = config
        .forms
        .as_ref()
        .map_err(|_| Problem::new(ErrorCode::NotConfigured))?;
    if request.body.len() > body::MAX_BODY_BYTES {
        return Err(Problem::new(ErrorCode::PayloadTooLarge));
    }
    let fields =
        body::parse(request.header("Content-Type"), &request.body).map_err(submit::body_problem)?;
    let form_id = fields.get("form").unwrap_or_default();
    let form = forms
        .get(form_id)
        .ok_or_else(|| Problem::new(ErrorCode::UnknownForm))?;
    // The owner tests the email path: an email is required here even when
    // the form would take a phone number alone.
    if fields.get("email").is_none_or(|e| e.trim().is_empty()) {
        return Err(Problem::on_field(ErrorCode::MissingField, "email"));
    }
    // `form` chose the form; it is not a field of it (nor a line of its note).
    let fields = fields.without("form");
    let lead = lead::validate(form, &fields, request.client_ip(), p.now_ms())
        .map_err(|invalid| Problem::on_field(invalid.code, &invalid.field))?;
    p.log(&format!("admin: sending a test lead for form {}", form.id));
    let handled = submit::deliver_lead(p, config, &lead).await?;
    let (accepted, contact_id) = (handled.accepted, handled.contact_id);
    Ok(outcomes::test_lead(accepted, contact_id, &lead.tag_ids))
}

/// The credentials for a catalog call, or why there are none.
async fn usable_credentials<P: Platform>(p: &P, config: &Config) -> Result<Credentials, Said> {
    credentials::load(p, config).await.map_err(|why| {
        let message = format!("Keap cannot be asked now: {why}.");
        outcomes::failure(503, "keap_unavailable", &message)
    })
}

/// Keap's list, or why Keap did not give it; a 401 marks the token for
/// the refresher, as on the form path.
async fn keap_answered<P: Platform, T>(
    p: &P,
    creds: &Credentials,
    listed: Result<T, CatalogError>,
) -> Result<T, Said> {
    let e = match listed {
        Ok(list) => return Ok(list),
        Err(e) => e,
    };
    if e.token_rejected() {
        credentials::rejected(p, creds).await;
    }
    p.log(&format!("admin: Keap's list could not be read: {e}"));
    let message = format!("Keap's list could not be read: {e}.");
    Err(outcomes::failure(502, "keap_error", &message))
}

#[cfg(test)]
mod tests;
