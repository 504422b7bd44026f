//! A copy-ready HTML form for one configured form, shown on `/admin`: a
//! plain `<form>` posting to this worker with the form's fields (the
//! required ones marked), a message box when the form keeps messages as
//! notes, its optional tags as checkboxes labelled with Keap's tag names,
//! the honeypot, the consent box (with the form's `consent_text`) and the
//! Turnstile widget when the form has them. Works without any script of
//! ours.
//!
//! Every configured or Keap-supplied text is HTML-escaped: a tag named
//! `<b>` must show as such, not become markup on the owner's site.

use super::layout::escape;
use crate::config_check::FormCheck;
use crate::form::forms::Form;
use crate::form::note::NoteWhen;

/// Standard fields offered in every snippet: name, label, input type.
const STANDARD: [(&str, &str, &str); 4] = [
    ("email", "Email", "email"),
    ("first_name", "First name", "text"),
    ("last_name", "Last name", "text"),
    ("phone", "Phone", "tel"),
];

/// Stands in for the Turnstile site key, which the worker does not know
/// (it holds only the secret).
pub const TURNSTILE_SITE_KEY_PLACEHOLDER: &str = "YOUR_TURNSTILE_SITE_KEY";

/// The snippet for `form`, posting to `worker_origin` (e.g.
/// `https://forms.example.workers.dev`). `check`: the latest check of the
/// form, whose Keap names label the tags and custom fields; without one
/// the configured names are used.
pub fn snippet(form: &Form, worker_origin: &str, check: Option<&FormCheck>) -> String {
    let mut h = String::new();
    let action = format!("{}/forms/{}", worker_origin.trim_end_matches('/'), form.id);
    h.push_str(&format!(
        "<form method=\"post\" action=\"{}\">\n",
        escape(&action)
    ));
    let required = |name: &str| form.required.iter().any(|r| r == name);
    let mut shown: Vec<&str> = Vec::new();

    for (name, label, kind) in STANDARD {
        h.push_str(&input(name, label, kind, required(name)));
        shown.push(name);
    }
    for name in form.custom_fields.keys() {
        let label = check
            .and_then(|c| c.field_label(&format!("custom_fields.{name}")))
            .unwrap_or(name);
        h.push_str(&input(name, label, "text", required(name)));
        shown.push(name);
    }
    // The message becomes a note unless the form never writes one (a
    // form that also maps it to a custom field already has its box).
    let message = form.message_field.as_str();
    if (form.note != NoteWhen::Never || required(message)) && !shown.contains(&message) {
        h.push_str(&format!(
            "  <label>Message{} <textarea name=\"{}\" rows=\"5\" maxlength=\"10000\"{}></textarea></label>\n",
            if required(message) { " (required)" } else { "" },
            escape(message),
            if required(message) { " required" } else { "" },
        ));
        shown.push(message);
    }
    // A required field named nowhere else still needs a box.
    for name in &form.required {
        let is_consent = form.consent_field.as_deref() == Some(name.as_str());
        if !shown.contains(&name.as_str()) && !is_consent {
            h.push_str(&input(name, name, "text", true));
            shown.push(name);
        }
    }
    if !form.optional_tags.is_empty() {
        h.push_str("  <fieldset>\n    <legend>Interests</legend>\n");
        for name in form.optional_tags.keys() {
            let label = check
                .and_then(|c| c.tag_name(&format!("optional_tags.{name}")))
                .unwrap_or(name);
            h.push_str(&format!(
                "    <label><input type=\"checkbox\" name=\"tags\" value=\"{}\"> {}</label>\n",
                escape(name),
                escape(label)
            ));
        }
        h.push_str("  </fieldset>\n");
    }
    if let Some(consent) = &form.consent_field {
        h.push_str(&format!(
            "  <label><input type=\"checkbox\" name=\"{}\" value=\"yes\"{}> {}{}</label>\n",
            escape(consent),
            if required(consent) { " required" } else { "" },
            escape(form.consent_text.as_deref().unwrap_or("You may email me.")),
            if required(consent) { " (required)" } else { "" },
        ));
    }
    if form.turnstile {
        h.push_str(&format!(
            "  <div class=\"cf-turnstile\" data-sitekey=\"{TURNSTILE_SITE_KEY_PLACEHOLDER}\"></div>\n  \
             <script src=\"https://challenges.cloudflare.com/turnstile/v0/api.js\" async defer></script>\n"
        ));
    }
    // The honeypot: people never see it, bots fill it in.
    h.push_str(
        "  <div style=\"position:absolute;left:-10000px\" aria-hidden=\"true\">\
         <input type=\"text\" name=\"_gotcha\" tabindex=\"-1\" autocomplete=\"off\"></div>\n",
    );
    h.push_str("  <button type=\"submit\">Send</button>\n</form>\n");
    h
}

fn input(name: &str, label: &str, kind: &str, required: bool) -> String {
    format!(
        "  <label>{}{} <input type=\"{kind}\" name=\"{}\"{}></label>\n",
        escape(label),
        if required { " (required)" } else { "" },
        escape(name),
        if required { " required" } else { "" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_check::check_forms;
    use crate::form::forms::Forms;
    use serde_json::json;

    fn form(table: serde_json::Value) -> Form {
        Form::from_json("contact", &table).unwrap()
    }

    #[test]
    fn posts_to_the_worker_with_the_forms_fields() {
        let f = form(json!({
            "tags": [101], "optional_tags": {"newsletter": 103},
            "required": ["email", "first_name"], "consent_field": "consent",
            "custom_fields": {"company": 7},
        }));
        let s = snippet(&f, "https://w.example.dev/", None);
        assert!(
            s.starts_with("<form method=\"post\" action=\"https://w.example.dev/forms/contact\">"),
            "{s}"
        );
        assert!(
            s.contains("Email (required) <input type=\"email\" name=\"email\" required>"),
            "{s}"
        );
        assert!(
            s.contains("First name (required) <input type=\"text\" name=\"first_name\" required>")
        );
        assert!(s.contains("Last name <input type=\"text\" name=\"last_name\">"));
        assert!(s.contains("company <input type=\"text\" name=\"company\">"));
        assert!(s.contains("name=\"tags\" value=\"newsletter\"> newsletter</label>"));
        assert!(s.contains("name=\"consent\" value=\"yes\"> You may email me.</label>"));
        assert!(s.contains(
            "Message <textarea name=\"message\" rows=\"5\" maxlength=\"10000\"></textarea>"
        ));
        assert!(s.contains("name=\"_gotcha\""));
        assert!(!s.contains("cf-turnstile"));
    }

    #[test]
    fn the_message_box_and_consent_statement_follow_the_forms_note_settings() {
        let f = form(json!({
            "message_field": "enquiry", "required": ["email", "enquiry"],
            "consent_field": "ok", "consent_text": "You may call me <soon>.",
        }));
        let s = snippet(&f, "https://w.test", None);
        assert!(
            s.contains("Message (required) <textarea name=\"enquiry\" rows=\"5\" maxlength=\"10000\" required>"),
            "{s}"
        );
        assert!(s.contains("> You may call me &lt;soon&gt;.</label>"), "{s}");
        assert_eq!(s.matches("name=\"enquiry\"").count(), 1, "{s}");
        let never = snippet(&form(json!({"note": "never"})), "https://w.test", None);
        assert!(!never.contains("<textarea"), "{never}");
    }

    #[test]
    fn labels_come_from_keaps_names_when_checked() {
        let forms = Forms::from_json(Some(&json!({"contact": {
            "optional_tags": {"newsletter": 103}, "custom_fields": {"company": 7}, "turnstile": true,
        }})))
        .unwrap();
        let names = |p: &[(u64, &str)]| p.iter().map(|(i, n)| (*i, n.to_string())).collect();
        let record = check_forms(
            &forms,
            &names(&[(103, "Monthly news")]),
            &names(&[(7, "Company name")]),
            0,
        );
        let s = snippet(
            forms.get("contact").unwrap(),
            "https://w.test",
            record.forms.get("contact"),
        );
        assert!(
            s.contains("value=\"newsletter\"> Monthly news</label>"),
            "{s}"
        );
        assert!(
            s.contains("Company name <input type=\"text\" name=\"company\">"),
            "{s}"
        );
        assert!(s.contains(&format!(
            "data-sitekey=\"{TURNSTILE_SITE_KEY_PLACEHOLDER}\""
        )));
    }

    #[test]
    fn every_text_is_escaped() {
        let forms = Forms::from_json(Some(&json!({"contact": {
            "optional_tags": {"a\"b<c>": 103}, "custom_fields": {"x'y": 7},
        }})))
        .unwrap();
        let names = |p: &[(u64, &str)]| p.iter().map(|(i, n)| (*i, n.to_string())).collect();
        let record = check_forms(
            &forms,
            &names(&[(103, "<script>alert(1)</script>")]),
            &names(&[(7, "A & B")]),
            0,
        );
        let s = snippet(
            forms.get("contact").unwrap(),
            "https://w.test\"><x",
            record.forms.get("contact"),
        );
        assert!(!s.contains("<script>"), "{s}");
        assert!(!s.contains("<x"), "{s}");
        assert!(s.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(s.contains("value=\"a&quot;b&lt;c&gt;\""));
        assert!(s.contains("name=\"x&#39;y\""));
        assert!(s.contains("A &amp; B"));
    }
}
