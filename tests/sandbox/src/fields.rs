//! Contact custom fields as Keap's contact model describes them
//! (`GET /v1/contacts/model`): which exist, with their label, type and
//! options. An upsert may set only fields that exist, and the control API
//! adds and deletes them, so a test can take a field away from a form
//! that is configured with it.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// The spec's `CustomFieldMetaData.field_type` values.
pub const FIELD_TYPES: [&str; 24] = [
    "Currency",
    "Date",
    "DateTime",
    "DayOfWeek",
    "Drilldown",
    "Email",
    "Month",
    "ListBox",
    "Name",
    "WholeNumber",
    "DecimalNumber",
    "Percent",
    "PhoneNumber",
    "Radio",
    "Dropdown",
    "SocialSecurityNumber",
    "State",
    "Text",
    "TextArea",
    "User",
    "UserListBox",
    "Website",
    "Year",
    "YesNo",
];

/// Contact properties left out of a contact unless asked for by name,
/// listed by the model as `optional_properties`.
const OPTIONAL_PROPERTIES: [&str; 20] = [
    "anniversary",
    "birthday",
    "contact_type",
    "custom_fields",
    "fax_numbers",
    "job_title",
    "lead_source_id",
    "middle_name",
    "opt_in_reason",
    "origin",
    "owner_id",
    "preferred_locale",
    "preferred_name",
    "prefix",
    "relationships",
    "social_accounts",
    "source_type",
    "spouse_name",
    "suffix",
    "website",
];

/// One choice of a Dropdown, ListBox or Radio field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldOption {
    /// Keap's option id (a string).
    pub id: String,
    /// What the owner sees.
    pub label: String,
}

/// A contact custom field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomField {
    /// Keap's integer id: what `custom_fields[].id` of an upsert names.
    pub id: i64,
    /// The name the owner gave it.
    pub label: String,
    /// Keap's internal name (letters and digits).
    pub field_name: String,
    /// One of [`FIELD_TYPES`].
    pub field_type: &'static str,
    /// Choices, for the types that have them.
    pub options: Vec<FieldOption>,
    /// The value a new contact gets, when set.
    pub default_value: Option<String>,
}

impl CustomField {
    /// The spec's `CustomFieldMetaData` shape.
    pub fn to_json(&self) -> Value {
        let mut field = json!({
            "id": self.id,
            "label": self.label,
            "field_name": self.field_name,
            "field_type": self.field_type,
            "record_type": "CONTACT",
            "options": self.options.iter().map(|o| json!({"id": o.id, "label": o.label})).collect::<Vec<_>>(),
        });
        if let Some(default) = &self.default_value {
            field["default_value"] = json!(default);
        }
        field
    }
}

/// The custom fields of the sandbox's Keap app, by id.
#[derive(Debug, Clone)]
pub struct CustomFields {
    fields: BTreeMap<i64, CustomField>,
    /// Ids are never reused, so a deleted field's id stays unknown.
    next_id: i64,
}

fn text_field(id: i64, label: &str, field_type: &'static str, options: &[&str]) -> CustomField {
    CustomField {
        id,
        label: label.to_owned(),
        field_name: field_name_of(label),
        field_type,
        options: options
            .iter()
            .map(|o| FieldOption {
                id: (*o).to_owned(),
                label: (*o).to_owned(),
            })
            .collect(),
        default_value: None,
    }
}

/// Keap derives a field's internal name from its label: letters and
/// digits only.
fn field_name_of(label: &str) -> String {
    label.chars().filter(char::is_ascii_alphanumeric).collect()
}

impl Default for CustomFields {
    /// The fields every sandbox starts with: 7 Company (Text), 8 Interest
    /// (Dropdown: Sales, Support, Other), 9 Comments (TextArea).
    fn default() -> Self {
        let fields = [
            text_field(7, "Company", "Text", &[]),
            text_field(8, "Interest", "Dropdown", &["Sales", "Support", "Other"]),
            text_field(9, "Comments", "TextArea", &[]),
        ];
        CustomFields {
            fields: fields.into_iter().map(|f| (f.id, f)).collect(),
            next_id: 10,
        }
    }
}

impl CustomFields {
    /// Whether a field with this id exists.
    pub fn contains(&self, id: i64) -> bool {
        self.fields.contains_key(&id)
    }

    /// Every field, by id.
    pub fn to_json(&self) -> Vec<Value> {
        self.fields.values().map(CustomField::to_json).collect()
    }

    /// The answer of `GET /v1/contacts/model`.
    pub fn model_json(&self) -> Value {
        json!({
            "custom_fields": self.to_json(),
            "optional_properties": OPTIONAL_PROPERTIES,
        })
    }

    /// Adds a field from a control API body
    /// `{"id"?, "label", "field_type"?, "field_name"?, "options"?, "default_value"?}`
    /// (`field_type` defaults to `Text`; an option is a string or
    /// `{"id", "label"}`; without `id` the next free one is used).
    pub fn add(&mut self, body: &Value) -> Result<&CustomField, String> {
        let object = body
            .as_object()
            .ok_or_else(|| "body must be a JSON object".to_owned())?;
        const KEYS: [&str; 6] = [
            "id",
            "label",
            "field_type",
            "field_name",
            "options",
            "default_value",
        ];
        if let Some(key) = object.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!("unknown key {key:?}; known: {}", KEYS.join(", ")));
        }
        let id = match object.get("id") {
            None => self.next_id,
            Some(id) => id
                .as_i64()
                .filter(|id| *id > 0)
                .ok_or_else(|| "id must be a positive integer".to_owned())?,
        };
        if self.fields.contains_key(&id) {
            return Err(format!("custom field {id} exists already"));
        }
        let label = non_blank(object, "label")?.ok_or_else(|| "label is required".to_owned())?;
        let field_type = match object.get("field_type") {
            None => "Text",
            Some(kind) => kind
                .as_str()
                .and_then(|k| FIELD_TYPES.iter().find(|t| **t == k).copied())
                .ok_or_else(|| format!("field_type must be one of {}", FIELD_TYPES.join(", ")))?,
        };
        let field_name = non_blank(object, "field_name")?.unwrap_or_else(|| field_name_of(&label));
        let options = match object.get("options") {
            None => Vec::new(),
            Some(list) => list
                .as_array()
                .ok_or_else(|| "options must be an array".to_owned())?
                .iter()
                .map(parse_option)
                .collect::<Result<Vec<_>, _>>()?,
        };
        let default_value = non_blank(object, "default_value")?;
        let field = CustomField {
            id,
            label,
            field_name,
            field_type,
            options,
            default_value,
        };
        self.next_id = self.next_id.max(id.saturating_add(1));
        Ok(self.fields.entry(id).or_insert(field))
    }

    /// Deletes a field; whether it existed.
    pub fn delete(&mut self, id: i64) -> bool {
        self.fields.remove(&id).is_some()
    }
}

fn non_blank(object: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match object.get(key) {
        None => Ok(None),
        Some(value) => value
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Some(s.to_owned()))
            .ok_or_else(|| format!("{key} must be a non-empty string")),
    }
}

fn parse_option(value: &Value) -> Result<FieldOption, String> {
    let problem = || "an option is a non-empty string or {\"id\", \"label\"}".to_owned();
    if let Some(text) = value.as_str().filter(|t| !t.trim().is_empty()) {
        return Ok(FieldOption {
            id: text.to_owned(),
            label: text.to_owned(),
        });
    }
    let object = value.as_object().ok_or_else(problem)?;
    let id = non_blank(object, "id")?.ok_or_else(problem)?;
    let label = non_blank(object, "label")?.unwrap_or_else(|| id.clone());
    Ok(FieldOption { id, label })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_with_three_fields_and_adds_and_deletes() {
        let mut fields = CustomFields::default();
        assert!(fields.contains(7) && fields.contains(8) && fields.contains(9));
        let added = fields
            .add(&json!({"label": "Favourite colour", "field_type": "Radio",
                "options": ["Red", {"id": "b", "label": "Blue"}]}))
            .unwrap()
            .clone();
        assert_eq!(added.id, 10);
        assert_eq!(added.field_name, "Favouritecolour");
        assert_eq!(added.options[1].label, "Blue");
        assert!(fields.add(&json!({"id": 7, "label": "Again"})).is_err());
        assert!(fields
            .add(&json!({"label": "X", "field_type": "Blob"}))
            .is_err());
        assert!(fields.add(&json!({"label": " "})).is_err());
        assert!(fields.add(&json!({"label": "X", "colour": 1})).is_err());
        assert!(fields.delete(10));
        assert!(!fields.delete(10));
        assert!(!fields.contains(10));
        assert_eq!(fields.add(&json!({"label": "Next"})).unwrap().id, 11);
        assert!(fields.delete(7));
        let model = fields.model_json();
        assert_eq!(model["custom_fields"].as_array().map(Vec::len), Some(3));
        assert!(model["optional_properties"]
            .as_array()
            .is_some_and(|p| p.contains(&json!("custom_fields"))));
    }
}
