//! The owner's setup assistant: Keap's tags and custom fields by name
//! (`GET /admin/keap/tags`, `GET /admin/keap/fields`), the check of every
//! configured id (`POST /admin/check`, see [`crate::config_check`]), a
//! test lead (`POST /admin/test-lead`), and, on `/admin`, each form's
//! check, test-lead box and copy-ready HTML.
//!
//! Each route answers JSON for a script and a page for a browser (the
//! admin rule, [`admin_auth::wants_json`]). When Keap cannot be reached
//! or the worker is not connected, the answer says so (503 or 502), never
//! a 500.

use serde_json::json;

use super::pages::{page, BACK_TO_ADMIN};
use super::submit::{self, Handled};
use crate::auth::admin_auth;
use crate::config::Config;
use crate::config_check::{self, CheckError, CheckRecord, FormCheck};
use crate::form::answer::{self, Accepted, ErrorCode, Problem};
use crate::form::body;
use crate::form::forms::Form;
use crate::form::lead;
use crate::form::snippet;
use crate::html::escape;
use crate::http::{Incoming, Reply};
use crate::keap::catalog::{self, CatalogError, KeapField, KeapTag, MAX_TAG_PAGES, TAG_PAGE_SIZE};
use crate::keap::credentials::{self, Credentials};
use crate::platform::Platform;
use crate::request_url::RequestUrl;

/// `GET /admin/keap/tags`: every tag of the connected app.
pub async fn tags_reply<P: Platform>(p: &P, config: &Config, request: &Incoming) -> Reply {
    let json = admin_auth::wants_json(request);
    let creds = match usable_credentials(p, config, json).await {
        Ok(creds) => creds,
        Err(reply) => return reply,
    };
    let api = config.settings.api_url();
    match catalog::list_tags(p, api, &creds, TAG_PAGE_SIZE, MAX_TAG_PAGES).await {
        Ok(tags) if json => no_store(Reply::json(
            200,
            &json!({"ok": true, "count": tags.len(), "tags": tags}),
        )),
        Ok(tags) => page(200, "Keap tags", &tags_html(&tags)),
        Err(e) => keap_failed(p, &creds, &e, json).await,
    }
}

/// `GET /admin/keap/fields`: the app's contact custom fields.
pub async fn fields_reply<P: Platform>(p: &P, config: &Config, request: &Incoming) -> Reply {
    let json = admin_auth::wants_json(request);
    let creds = match usable_credentials(p, config, json).await {
        Ok(creds) => creds,
        Err(reply) => return reply,
    };
    match catalog::list_fields(p, config.settings.api_url(), &creds).await {
        Ok(fields) if json => no_store(Reply::json(
            200,
            &json!({"ok": true, "count": fields.len(), "custom_fields": fields}),
        )),
        Ok(fields) => page(200, "Keap custom fields", &fields_html(&fields)),
        Err(e) => keap_failed(p, &creds, &e, json).await,
    }
}

/// `POST /admin/check`: checks every form now.
pub async fn check_reply<P: Platform>(p: &P, config: &Config, request: &Incoming) -> Reply {
    let json = admin_auth::wants_json(request);
    match config_check::run(p, config).await {
        Ok(outcome) => {
            let forms = config.forms.as_ref().cloned().unwrap_or_default();
            if json {
                return no_store(Reply::json(
                    200,
                    &json!({
                        "ok": true,
                        "checked_at": outcome.record.checked_at,
                        "form_checks": outcome.record.status_json(&forms),
                    }),
                ));
            }
            let mut body = String::new();
            for id in forms.ids() {
                let Some(form) = forms.get(&id) else { continue };
                body.push_str(&format!("<h2><code>/forms/{}</code></h2>", escape(&id)));
                body.push_str(&check_html(form, Some(&outcome.record)));
            }
            if forms.is_empty() {
                body.push_str("<p>No form is configured.</p>");
            }
            body.push_str(BACK_TO_ADMIN);
            page(200, "Configuration checked", &body)
        }
        Err(e) => {
            let (status, code) = match &e {
                CheckError::Forms(_) => (503, "not_configured"),
                CheckError::Unavailable(_) => (503, "keap_unavailable"),
                CheckError::Keap(_) => (502, "keap_error"),
            };
            failure(status, code, &format!("Nothing was checked: {e}."), json)
        }
    }
}

/// `POST /admin/test-lead` with `{"form","email"}` (JSON, or the admin
/// page's form post; any other field of the form may come too): the
/// validation and delivery of a visitor's post (tags, outbox when Keap
/// cannot take it now). No origin, Turnstile or rate-limit check: the
/// sender is the owner, not a visitor on the site.
pub async fn test_lead_reply<P: Platform>(p: &P, config: &Config, request: &Incoming) -> Reply {
    let json = admin_auth::wants_json(request);
    match test_lead(p, config, request).await {
        Ok((handled, tag_ids)) => {
            let status = match handled.accepted {
                Accepted::Queued => 202,
                Accepted::Created | Accepted::Updated => 200,
            };
            if json {
                return no_store(Reply::json(
                    status,
                    &json!({
                        "ok": true,
                        "status": handled.accepted.as_str(),
                        "contact_id": handled.contact_id,
                        "tag_ids": tag_ids,
                    }),
                ));
            }
            let words = match (handled.accepted, handled.contact_id) {
                (Accepted::Queued, _) => "Keap cannot take it right now, so it waits in the \
                                          outbox and goes out with the next delivery."
                    .to_string(),
                (accepted, Some(id)) => format!(
                    "Keap {} contact {id}{}.",
                    accepted.as_str(),
                    if tag_ids.is_empty() {
                        String::new()
                    } else {
                        format!(" and tagged it {}", join(&tag_ids))
                    }
                ),
                (accepted, None) => format!("Keap {} the contact.", accepted.as_str()),
            };
            page(
                status,
                "Test lead sent",
                &format!(
                    "<p class=\"ok\">Test lead {}: {}</p>{BACK_TO_ADMIN}",
                    handled.accepted.as_str(),
                    escape(&words)
                ),
            )
        }
        Err(problem) => {
            if json {
                return no_store(Reply::json(
                    problem.code.status(),
                    &answer::problem_json(&problem),
                ));
            }
            page(
                problem.code.status(),
                "Test lead not sent",
                &format!(
                    "<p class=\"bad\">{} (<code>{}</code>)</p>{BACK_TO_ADMIN}",
                    escape(&problem.message),
                    problem.code.as_str()
                ),
            )
        }
    }
}

/// The test lead: what became of it and its tag ids.
async fn test_lead<P: Platform>(
    p: &P,
    config: &Config,
    request: &Incoming,
) -> Result<(Handled, Vec<u64>), Problem> {
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
    Ok((handled, lead.tag_ids.clone()))
}

/// The credentials for a catalog call, or the answer saying why there
/// are none.
async fn usable_credentials<P: Platform>(
    p: &P,
    config: &Config,
    json: bool,
) -> Result<Credentials, Reply> {
    credentials::load(p, config).await.map_err(|why| {
        failure(
            503,
            "keap_unavailable",
            &format!("Keap cannot be asked now: {why}."),
            json,
        )
    })
}

/// The answer when Keap did not give its list; a 401 marks the token for
/// the refresher, as on the form path.
async fn keap_failed<P: Platform>(
    p: &P,
    creds: &Credentials,
    e: &CatalogError,
    json: bool,
) -> Reply {
    if e.token_rejected() {
        if let Credentials::Bearer(token) = creds {
            credentials::mark_rejected(p, token).await;
        }
    }
    p.log(&format!("admin: Keap's list could not be read: {e}"));
    failure(
        502,
        "keap_error",
        &format!("Keap's list could not be read: {e}."),
        json,
    )
}

fn failure(status: u16, code: &str, message: &str, json: bool) -> Reply {
    if json {
        no_store(Reply::json_error(status, code, message))
    } else {
        page(
            status,
            "Keap could not be asked",
            &format!("<p class=\"bad\">{}</p>{BACK_TO_ADMIN}", escape(message)),
        )
    }
}

fn no_store(reply: Reply) -> Reply {
    reply.with_header("Cache-Control", "no-store")
}

fn join(ids: &[u64]) -> String {
    ids.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A filter box (shown only when scripts run: the table is whole without
/// it) over a table whose rows are `rows`.
fn filtered_table(headings: &[&str], rows: &[Vec<String>], what: &str) -> String {
    let mut h = format!(
        "<p id=\"filter-box\" hidden><label>Filter {what} <input id=\"filter\" type=\"search\" \
         autocomplete=\"off\" placeholder=\"name or id\"></label></p>\
         <table id=\"list\"><thead><tr>"
    );
    for heading in headings {
        h.push_str(&format!("<th>{heading}</th>"));
    }
    h.push_str("</tr></thead><tbody>");
    for row in rows {
        h.push_str("<tr>");
        for cell in row {
            h.push_str(&format!("<td>{cell}</td>"));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
    h.push_str(FILTER_SCRIPT);
    h
}

/// Hides the rows whose text does not hold the filter's words.
const FILTER_SCRIPT: &str = "<script>(function(){var box=document.getElementById('filter-box'),\
f=document.getElementById('filter'),rows=document.querySelectorAll('#list tbody tr');box.hidden=false;\
f.addEventListener('input',function(){var q=f.value.trim().toLowerCase();\
rows.forEach(function(r){r.hidden=q!==''&&r.textContent.toLowerCase().indexOf(q)<0;});});})();</script>";

fn tags_html(tags: &[KeapTag]) -> String {
    let mut h = format!(
        "<p>The {} tag(s) of the connected Keap app. Put a tag's id in a form's <code>tags</code> \
         (applied to every lead) or <code>optional_tags</code> (chosen by the visitor) in \
         <code>wrangler.toml</code>. <a href=\"/admin/keap/fields\">Custom fields</a> · \
         <a href=\"/admin\">Admin</a></p>",
        tags.len()
    );
    let rows: Vec<Vec<String>> = tags
        .iter()
        .map(|t| {
            vec![
                format!("<code>{}</code>", t.id),
                escape(&t.name),
                escape(t.category.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    h.push_str(&filtered_table(&["Id", "Name", "Category"], &rows, "tags"));
    h
}

fn fields_html(fields: &[KeapField]) -> String {
    let mut h = format!(
        "<p>The {} contact custom field(s) of the connected Keap app. Map a form field to one \
         with <code>custom_fields = {{ field_name = id }}</code> in <code>wrangler.toml</code>. \
         <a href=\"/admin/keap/tags\">Tags</a> · <a href=\"/admin\">Admin</a></p>",
        fields.len()
    );
    let rows: Vec<Vec<String>> = fields
        .iter()
        .map(|f| {
            vec![
                format!("<code>{}</code>", f.id),
                escape(&f.label),
                escape(&f.field_type),
                escape(&f.options.join(", ")),
            ]
        })
        .collect();
    h.push_str(&filtered_table(
        &["Id", "Label", "Type", "Options"],
        &rows,
        "fields",
    ));
    h
}

/// One form's ids with Keap's names (green) or "missing" (red), or why
/// there is no check of it to show.
fn check_html(form: &Form, record: Option<&CheckRecord>) -> String {
    let Some(record) = record else {
        return "<p class=\"warn\">Not checked against Keap yet.</p>".into();
    };
    let Some(check) = record.current(form) else {
        return "<p class=\"warn\">This form's ids changed since the last check: check again.</p>"
            .into();
    };
    if check.tags.is_empty() && check.custom_fields.is_empty() {
        return "<p>This form names no tag or custom field.</p>".into();
    }
    let mut h = format!(
        "<p class=\"{}\">{} (checked {})</p><table class=\"ids\"><tr><th>Setting</th><th>Id</th>\
         <th>In Keap</th></tr>",
        if check.ok() { "ok" } else { "bad" },
        if check.ok() {
            "Every id exists in Keap."
        } else {
            "Some ids do not exist in Keap: leads would become dead letters."
        },
        escape(&record.checked_at)
    );
    for (kind, c) in check
        .tags
        .iter()
        .map(|c| ("tag", c))
        .chain(check.custom_fields.iter().map(|c| ("custom field", c)))
    {
        let (class, name) = match &c.keap_name {
            Some(name) => ("ok", escape(name)),
            None => ("bad", format!("missing: no such {kind}")),
        };
        h.push_str(&format!(
            "<tr class=\"{class}\" data-id=\"{}\"><td><code>{}</code></td><td><code>{}</code></td>\
             <td>{name}</td></tr>",
            c.id,
            escape(&c.used_as),
            c.id
        ));
    }
    h.push_str("</table>");
    h
}

/// The forms part of `/admin`: for each form, its check, a test-lead box
/// and its HTML. Reads the stored check (one KV read), never Keap.
pub async fn forms_section<P: Platform>(
    p: &P,
    config: &Config,
    request_url: &RequestUrl,
) -> String {
    let Ok(forms) = &config.forms else {
        return String::new();
    };
    if forms.is_empty() {
        return String::new();
    }
    let record = config_check::load(p).await;
    let worker_origin = request_url.parsed().origin().ascii_serialization();
    let mut h = String::from("<h2 id=\"forms\">Forms</h2>");
    h.push_str(
        "<p>Find ids by name: <a href=\"/admin/keap/tags\">Keap's tags</a> · \
         <a href=\"/admin/keap/fields\">custom fields</a>.</p>\
         <form method=\"post\" action=\"/admin/check\"><button>Check the ids now</button></form>",
    );
    for id in forms.ids() {
        let Some(form) = forms.get(&id) else { continue };
        let check: Option<&FormCheck> = record.as_ref().and_then(|r| r.current(form));
        h.push_str(&format!(
            "<section class=\"form-setup\" id=\"form-{0}\" data-form=\"{0}\"><h3><code>/forms/{0}</code></h3>",
            escape(&id)
        ));
        h.push_str(&check_html(form, record.as_ref()));
        h.push_str(&test_lead_form(form));
        h.push_str(&format!(
            "<h4>The form's HTML</h4><p>Paste it into a page of the site (an origin in \
             <code>ALLOWED_ORIGINS</code>).</p><textarea class=\"snippet\" readonly rows=\"12\" \
             style=\"width:100%;font:13px monospace\">{}</textarea>\
             <p><button type=\"button\" class=\"copy\" hidden>Copy</button></p></section>",
            escape(&snippet::snippet(form, &worker_origin, check))
        ));
    }
    h.push_str(SETUP_SCRIPT);
    h
}

/// The "Send a test lead" box: an email, and any other field the form
/// requires.
fn test_lead_form(form: &Form) -> String {
    let mut h = format!(
        "<h4>Send a test lead</h4><form class=\"test-lead\" method=\"post\" \
         action=\"/admin/test-lead\"><input type=\"hidden\" name=\"form\" value=\"{}\">\
         <label>Email <input type=\"email\" name=\"email\" required></label> ",
        escape(&form.id)
    );
    for name in form.required.iter().filter(|r| r.as_str() != "email") {
        let consent = form.consent_field.as_deref() == Some(name.as_str());
        if consent {
            h.push_str(&format!(
                "<label><input type=\"checkbox\" name=\"{}\" value=\"yes\" required> {}</label> ",
                escape(name),
                escape(name)
            ));
        } else {
            h.push_str(&format!(
                "<label>{} <input name=\"{}\" required></label> ",
                escape(name),
                escape(name)
            ));
        }
    }
    h.push_str(
        "<button>Send a test lead</button></form><p class=\"test-lead-result\" role=\"status\"></p>",
    );
    h
}

/// Sends a test lead with `fetch` and shows the answer beside its form
/// (without scripts the form posts and a result page answers); shows the
/// snippets' copy buttons.
const SETUP_SCRIPT: &str = "<script>(function(){\
document.querySelectorAll('form.test-lead').forEach(function(f){\
var out=f.nextElementSibling;f.addEventListener('submit',function(e){e.preventDefault();\
out.className='test-lead-result';out.textContent='Sending…';\
fetch(f.action,{method:'POST',headers:{'Accept':'application/json'},body:new URLSearchParams(new FormData(f))})\
.then(function(r){return r.json();}).then(function(a){if(a.ok){out.className='test-lead-result ok';\
out.textContent='Test lead '+a.status+(a.contact_id?': contact '+a.contact_id:'')+\
(a.tag_ids&&a.tag_ids.length?', tags '+a.tag_ids.join(', '):'')+'.';}else{\
out.className='test-lead-result bad';out.textContent=a.error.message+' ('+a.error.code+')';}})\
.catch(function(){out.className='test-lead-result bad';out.textContent='No answer from the worker.';});});});\
document.querySelectorAll('section.form-setup button.copy').forEach(function(b){\
var t=b.closest('section').querySelector('textarea.snippet');b.hidden=false;b.addEventListener('click',function(){\
var done=function(){b.textContent='Copied';};if(navigator.clipboard){navigator.clipboard.writeText(t.value).then(done,function(){t.select();document.execCommand('copy');done();});}\
else{t.select();document.execCommand('copy');done();}});});})();</script>";

#[cfg(test)]
mod tests;
