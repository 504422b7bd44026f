//! `GET /_sandbox/`: a plain HTML view of the sandbox's Keap app for a
//! person running `make dev`: contacts with their tags and consent, their
//! notes, the tags and custom fields that exist, and the latest requests
//! the worker sent.

use serde_json::Value;

use crate::http::escape_html;

/// How many of the latest requests the page lists.
const RECENT: usize = 30;

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => escape_html(s),
        Value::Null => String::new(),
        other => escape_html(&other.to_string()),
    }
}

fn list(value: &Value, member: &str) -> String {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| text(&item[member]))
                .collect::<Vec<_>>()
                .join("<br>")
        })
        .unwrap_or_default()
}

/// Renders the page from the `GET /_sandbox/state` document.
pub fn render(state: &Value) -> String {
    let tag_names = |ids: &Value| -> String {
        ids.as_array()
            .map(|ids| {
                ids.iter()
                    .map(|id| {
                        state["tags"]
                            .as_array()
                            .and_then(|tags| tags.iter().find(|t| t["id"] == *id))
                            .map(|t| format!("{} ({})", text(&t["name"]), text(id)))
                            .unwrap_or_else(|| text(id))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let contacts: String = state["contacts"]
        .as_array()
        .map(|contacts| {
            contacts
                .iter()
                .map(|c| {
                    format!(
                        "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        text(&c["id"]),
                        list(&c["email_addresses"], "email"),
                        text(&c["given_name"]),
                        text(&c["family_name"]),
                        list(&c["phone_numbers"], "number"),
                        tag_names(&c["tag_ids"]),
                        text(&c["opt_in_reason"]),
                        text(&c["last_updated"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let notes: String = state["notes"]
        .as_array()
        .map(|notes| {
            notes
                .iter()
                .map(|n| {
                    format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"body\">{}</td><td>{}</td></tr>",
                        text(&n["id"]),
                        text(&n["contact_id"]),
                        text(&n["type"]),
                        text(&n["title"]),
                        text(&n["body"]),
                        text(&n["date_created"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let tags: String = state["tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| {
                    format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                        text(&t["id"]),
                        text(&t["name"]),
                        text(&t["category"]["name"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let fields: String = state["custom_fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .map(|f| {
                    format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        text(&f["id"]),
                        text(&f["label"]),
                        text(&f["field_type"]),
                        list(&f["options"], "label"),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let requests: String = state["requests"]
        .as_array()
        .map(|requests| {
            requests
                .iter()
                .rev()
                .take(RECENT)
                .map(|r| {
                    format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        text(&r["seq"]),
                        text(&r["method"]),
                        text(&r["path"]),
                        text(&r["route"]),
                        text(&r["status"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Keap sandbox</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}}\
         td.body{{white-space:pre-wrap;max-width:40em}}</style>\
         </head><body><h1>Keap sandbox</h1>\
         <p>Everything the sandbox holds, as JSON: <a href=\"/_sandbox/state\">/_sandbox/state</a>.</p>\
         <h2>Contacts</h2><table id=\"contacts\"><tr><th>id</th><th>email</th><th>name</th><th>phone</th>\
         <th>tags</th><th>opt-in reason</th><th>last updated</th></tr>{contacts}</table>\
         <h2>Notes</h2><table id=\"notes\"><tr><th>id</th><th>contact</th><th>type</th><th>title</th>\
         <th>body</th><th>created</th></tr>{notes}</table>\
         <h2>Tags</h2><table id=\"tags\"><tr><th>id</th><th>name</th><th>category</th></tr>{tags}</table>\
         <h2>Custom fields</h2><table id=\"custom-fields\"><tr><th>id</th><th>label</th><th>type</th>\
         <th>options</th></tr>{fields}</table>\
         <h2>Latest requests</h2><table id=\"requests\"><tr><th>#</th><th>method</th><th>path</th>\
         <th>route</th><th>status</th></tr>{requests}</table></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shows_contacts_with_tag_names_and_escapes() {
        let state = json!({
            "tags": [{"id": 101, "name": "Lead"}],
            "contacts": [{"id": 1, "email_addresses": [{"email": "<a@b.co>", "field": "EMAIL1"}],
                "given_name": "Ada", "tag_ids": [101, 7], "opt_in_reason": "form"}],
            "requests": [{"seq": 1, "method": "PUT", "path": "/crm/rest/v1/contacts", "route": "contacts_put", "status": 201}],
            "notes": [{"id": 3, "contact_id": 1, "type": "Other", "title": "Contact form", "body": "Hi <there>\nline two"}],
            "custom_fields": [{"id": 8, "label": "Interest", "field_type": "Dropdown", "options": [{"id": "a", "label": "Sales"}]}]
        });
        let page = render(&state);
        assert!(page.contains("Lead (101), 7"));
        assert!(page.contains("Hi &lt;there&gt;\nline two"));
        assert!(page.contains("<td>Interest</td><td>Dropdown</td><td>Sales</td>"));
        assert!(page.contains("&lt;a@b.co&gt;"));
        assert!(page.contains("contacts_put"));
    }
}
