//! Keap's tags and contact custom fields by name (`GET /admin/keap/tags`,
//! `GET /admin/keap/fields`): the ids to put in `wrangler.toml`, in a
//! table that a filter box narrows when scripts run.

use serde_json::{json, Value};

use super::layout::escape;
use super::{AdminView, Page};
use crate::keap::catalog::{KeapField, KeapTag};

/// Every tag of the connected app.
pub struct Tags(pub Vec<KeapTag>);

/// The app's contact custom fields.
pub struct Fields(pub Vec<KeapField>);

impl AdminView for Tags {
    fn json(&self) -> Value {
        json!({"ok": true, "count": self.0.len(), "tags": self.0})
    }

    fn page(&self) -> Page {
        let intro = format!(
            "<p>The {} tag(s) of the connected Keap app. Put a tag's id in a form's <code>tags</code> \
             (applied to every lead) or <code>optional_tags</code> (chosen by the visitor) in \
             <code>wrangler.toml</code>. <a href=\"/admin/keap/fields\">Custom fields</a> · \
             <a href=\"/admin\">Admin</a></p>",
            self.0.len()
        );
        let rows = self.0.iter().map(|t| {
            [
                format!("<code>{}</code>", t.id),
                escape(&t.name),
                escape(t.category.as_deref().unwrap_or("")),
            ]
        });
        Page {
            title: "Keap tags",
            body: intro + &filtered_table(&["Id", "Name", "Category"], rows, "tags"),
        }
    }
}

impl AdminView for Fields {
    fn json(&self) -> Value {
        json!({"ok": true, "count": self.0.len(), "custom_fields": self.0})
    }

    fn page(&self) -> Page {
        let intro = format!(
            "<p>The {} contact custom field(s) of the connected Keap app. Map a form field to one \
             with <code>custom_fields = {{ field_name = id }}</code> in <code>wrangler.toml</code>. \
             <a href=\"/admin/keap/tags\">Tags</a> · <a href=\"/admin\">Admin</a></p>",
            self.0.len()
        );
        let rows = self.0.iter().map(|f| {
            [
                format!("<code>{}</code>", f.id),
                escape(&f.label),
                escape(&f.field_type),
                escape(&f.options.join(", ")),
            ]
        });
        let headings = ["Id", "Label", "Type", "Options"];
        Page {
            title: "Keap custom fields",
            body: intro + &filtered_table(&headings, rows, "fields"),
        }
    }
}

/// A filter box (shown only when scripts run: the table is whole without
/// it) over a table of `rows`, cells already HTML.
fn filtered_table<const N: usize>(
    headings: &[&str; N],
    rows: impl Iterator<Item = [String; N]>,
    what: &str,
) -> String {
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
    h.push_str(concat!(
        "</tbody></table><script>",
        include_str!("assets/filter.js"),
        "</script>"
    ));
    h
}
