//! Each form on `/admin`: its ids as Keap names them (from the stored
//! check), a test-lead box and its copy-ready HTML; and the page after
//! `POST /admin/check`, which lists the same checks.

use serde_json::{json, Value};

use super::layout::{escape, BACK_TO_ADMIN};
use super::snippet;
use super::{AdminView, Page};
use crate::config_check::CheckRecord;
use crate::form::forms::{Form, Forms};

/// A check just run of every form.
pub struct Checked {
    pub record: CheckRecord,
    pub forms: Forms,
}

impl AdminView for Checked {
    fn json(&self) -> Value {
        json!({
            "ok": true,
            "checked_at": self.record.checked_at,
            "form_checks": self.record.status_json(&self.forms),
        })
    }

    fn page(&self) -> Page {
        let mut body = String::new();
        for form in self.forms.iter() {
            body.push_str(&format!(
                "<h2><code>/forms/{}</code></h2>",
                escape(&form.id)
            ));
            body.push_str(&check_html(form, Some(&self.record)));
        }
        if self.forms.is_empty() {
            body.push_str("<p>No form is configured.</p>");
        }
        body.push_str(BACK_TO_ADMIN);
        Page {
            title: "Configuration checked",
            body,
        }
    }
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

/// The forms part of `/admin`: for each form, its check (`record`, the
/// stored one), a test-lead box and its HTML posting to `worker_origin`.
pub fn forms_section(forms: &Forms, record: Option<&CheckRecord>, worker_origin: &str) -> String {
    if forms.is_empty() {
        return String::new();
    }
    let mut h = String::from(
        "<h2 id=\"forms\">Forms</h2><p>Find ids by name: <a href=\"/admin/keap/tags\">Keap's \
         tags</a> · <a href=\"/admin/keap/fields\">custom fields</a>.</p>\
         <form method=\"post\" action=\"/admin/check\"><button>Check the ids now</button></form>",
    );
    for form in forms.iter() {
        let check = record.and_then(|r| r.current(form));
        h.push_str(&format!(
            "<section class=\"form-setup\" id=\"form-{0}\" data-form=\"{0}\"><h3><code>/forms/{0}</code></h3>",
            escape(&form.id)
        ));
        h.push_str(&check_html(form, record));
        h.push_str(&test_lead_form(form));
        h.push_str(&format!(
            "<h4>The form's HTML</h4><p>Paste it into a page of the site (an origin in \
             <code>ALLOWED_ORIGINS</code>).</p><textarea class=\"snippet\" readonly rows=\"12\">{}</textarea>\
             <p><button type=\"button\" class=\"copy\" hidden>Copy</button></p></section>",
            escape(&snippet::snippet(form, worker_origin, check))
        ));
    }
    h.push_str(concat!(
        "<script>",
        include_str!("assets/form_setup.js"),
        "</script>"
    ));
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
        let name = escape(name);
        if consent {
            h.push_str(&format!(
                "<label><input type=\"checkbox\" name=\"{name}\" value=\"yes\" required> {name}</label> "
            ));
        } else {
            h.push_str(&format!(
                "<label>{name} <input name=\"{name}\" required></label> "
            ));
        }
    }
    h.push_str(
        "<button>Send a test lead</button></form><p class=\"test-lead-result\" role=\"status\"></p>",
    );
    h
}
