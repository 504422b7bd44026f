//! Contacts, tags, custom fields and notes as Keap's REST v1 keeps them:
//! upsert by email (or email and name), updates that change only the
//! fields sent, tags applied per id with a result for each, notes added to
//! a contact's history.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use crate::clock;
use crate::config::SeedTag;
use crate::fields::CustomFields;
use crate::notes::{Note, NoteRequest, USER_ID};

/// `duplicate_option` of `PUT /v1/contacts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateOption {
    /// Match an existing contact by any of its email addresses.
    Email,
    /// Match by email and by given and family name.
    EmailAndName,
}

impl DuplicateOption {
    /// Parses the wire value (exact, as Keap's enum is).
    pub fn parse(text: &str) -> Option<DuplicateOption> {
        match text {
            "Email" => Some(DuplicateOption::Email),
            "EmailAndName" => Some(DuplicateOption::EmailAndName),
            _ => None,
        }
    }
}

/// Whether an upsert made a new contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// A new contact (201).
    Created(i64),
    /// An existing contact was updated (200).
    Updated(i64),
}

impl Upserted {
    /// The contact id.
    pub fn id(self) -> i64 {
        match self {
            Upserted::Created(id) | Upserted::Updated(id) => id,
        }
    }
}

/// Array fields merged element by element, keyed by this member, rather
/// than replaced.
///
/// Keap's v1 upsert updates a returning contact "with only the values
/// provided in the request" (the spec's description of `PUT /v1/contacts`;
/// Keap's v2 upsert is the one that replaces whole lists). Its list entries are slots named by `field`
/// (`EMAIL1`..`EMAIL3`, `PHONE1`..`PHONE5`, `FAX1`/`FAX2`, addresses
/// `BILLING`/`SHIPPING`/`OTHER`), so an update that sends one slot
/// replaces that slot whole and leaves the others as they were: sending
/// a `BILLING` address with a new `line1` replaces the stored `BILLING`
/// address (members not sent are gone from that entry) and keeps the
/// `SHIPPING` one; sending `EMAIL1` keeps `EMAIL2`. Custom fields are keyed
/// by `id` the same way, social accounts by `type`.
const KEYED_ARRAYS: [(&str, &str); 6] = [
    ("email_addresses", "field"),
    ("phone_numbers", "field"),
    ("fax_numbers", "field"),
    ("addresses", "field"),
    ("social_accounts", "type"),
    ("custom_fields", "id"),
];

#[derive(Debug, Clone)]
struct Contact {
    id: i64,
    /// Stored fields, shaped like the spec's FullContact.
    fields: Map<String, Value>,
    tag_ids: Vec<i64>,
    /// Its notes, oldest first.
    notes: Vec<Note>,
    date_created: u64,
    last_updated: u64,
}

/// A tag category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCategory {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
}

/// A tag.
#[derive(Debug, Clone)]
pub struct Tag {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its description, when given.
    pub description: Option<String>,
    /// Its category, when it has one.
    pub category: Option<TagCategory>,
}

impl Tag {
    /// The spec's Tag shape.
    pub fn to_json(&self) -> Value {
        let mut tag = json!({"id": self.id, "name": self.name});
        if let Some(description) = &self.description {
            tag["description"] = json!(description);
        }
        if let Some(category) = &self.category {
            tag["category"] = json!({"id": category.id, "name": category.name});
        }
        tag
    }
}

/// Per-tag outcome of applying tags, as Keap names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagResult {
    /// Applied now.
    Success,
    /// The contact already had it.
    Duplicate,
    /// No such tag.
    TagIdNotFound,
    /// No such contact.
    ContactNotFound,
}

impl TagResult {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            TagResult::Success => "SUCCESS",
            TagResult::Duplicate => "DUPLICATE",
            TagResult::TagIdNotFound => "TAG_ID_NOT_FOUND",
            TagResult::ContactNotFound => "CONTACT_NOT_FOUND",
        }
    }
}

/// Why a note was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteRefusal {
    /// No contact has the note's `contact_id`.
    ContactNotFound,
}

/// The contacts, tags, custom fields and notes of the sandbox's one Keap
/// app.
#[derive(Debug, Clone)]
pub struct Crm {
    /// In creation order; contact `id` is at `id - 1` (none is deleted).
    contacts: Vec<Contact>,
    /// Positions in `contacts` by lowercased email: an upsert looks at
    /// the contacts sharing an email instead of scanning them all, which
    /// kept long benchmark runs (tens of thousands of contacts) from
    /// slowing down as they went.
    by_email: HashMap<String, Vec<usize>>,
    tags: BTreeMap<i64, Tag>,
    /// The contact model's custom fields.
    pub fields: CustomFields,
    next_contact_id: i64,
    next_note_id: i64,
    /// Ids are never reused, so a deleted tag's id stays unknown.
    next_tag_id: i64,
}

impl Crm {
    /// An app with these tags and no contacts.
    pub fn new(seed_tags: &[SeedTag]) -> Crm {
        let tags: BTreeMap<i64, Tag> = seed_tags
            .iter()
            .map(|t| {
                (
                    t.id,
                    Tag {
                        id: t.id,
                        name: t.name.clone(),
                        description: None,
                        category: None,
                    },
                )
            })
            .collect();
        Crm {
            contacts: Vec::new(),
            by_email: HashMap::new(),
            next_tag_id: tags.keys().next_back().map_or(1, |max| max + 1),
            tags,
            fields: CustomFields::default(),
            next_contact_id: 1,
            next_note_id: 1,
        }
    }

    /// Creates or updates a contact from a validated `PUT /v1/contacts`
    /// body (its `duplicate_option` already read into `option`).
    pub fn upsert(
        &mut self,
        body: &Map<String, Value>,
        option: DuplicateOption,
        now: u64,
    ) -> Upserted {
        let emails = emails_of(body);
        // Only a contact sharing an email can match (under either option);
        // the oldest that matches wins, as a scan in creation order would.
        let mut candidates: Vec<usize> = emails
            .iter()
            .filter_map(|e| self.by_email.get(e))
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        let matched = candidates
            .into_iter()
            .find(|&i| matches(&self.contacts[i], &emails, body, option));
        match matched {
            Some(index) => {
                let contact = &mut self.contacts[index];
                let before = emails_of(&contact.fields);
                merge(&mut contact.fields, body, now);
                contact.last_updated = now;
                let id = contact.id;
                self.reindex(index, &before);
                Upserted::Updated(id)
            }
            None => {
                let id = self.next_contact_id;
                self.next_contact_id += 1;
                let mut fields = Map::new();
                merge(&mut fields, body, now);
                self.contacts.push(Contact {
                    id,
                    fields,
                    tag_ids: Vec::new(),
                    notes: Vec::new(),
                    date_created: now,
                    last_updated: now,
                });
                self.reindex(self.contacts.len() - 1, &[]);
                Upserted::Created(id)
            }
        }
    }

    /// Moves contact `index` in the email index from the emails it had
    /// (`before`) to the ones it has now.
    fn reindex(&mut self, index: usize, before: &[String]) {
        for email in before {
            if let Some(list) = self.by_email.get_mut(email) {
                list.retain(|&i| i != index);
            }
        }
        for email in emails_of(&self.contacts[index].fields) {
            let list = self.by_email.entry(email).or_default();
            if !list.contains(&index) {
                list.push(index);
            }
        }
    }

    fn contact(&self, id: i64) -> Option<&Contact> {
        let index = usize::try_from(id.checked_sub(1)?).ok()?;
        self.contacts.get(index).filter(|c| c.id == id)
    }

    fn contact_mut(&mut self, id: i64) -> Option<&mut Contact> {
        let index = usize::try_from(id.checked_sub(1)?).ok()?;
        self.contacts.get_mut(index).filter(|c| c.id == id)
    }

    /// The first custom field id in an upsert body that the contact model
    /// does not have.
    pub fn unknown_custom_field(&self, body: &Map<String, Value>) -> Option<i64> {
        body.get("custom_fields")
            .and_then(Value::as_array)?
            .iter()
            .filter_map(|f| f.get("id").and_then(Value::as_i64))
            .find(|id| !self.fields.contains(*id))
    }

    /// Adds a note to its contact.
    pub fn add_note(&mut self, request: NoteRequest, now: u64) -> Result<&Note, NoteRefusal> {
        let id = self.next_note_id;
        if self.contact(request.contact_id).is_none() {
            return Err(NoteRefusal::ContactNotFound);
        }
        self.next_note_id += 1;
        let contact = self
            .contact_mut(request.contact_id)
            .ok_or(NoteRefusal::ContactNotFound)?;
        contact.notes.push(Note {
            id,
            contact_id: request.contact_id,
            title: request.title,
            body: request.body,
            kind: request.kind,
            user_id: USER_ID,
            date_created: now,
        });
        contact.notes.last().ok_or(NoteRefusal::ContactNotFound)
    }

    /// Every note, oldest first.
    pub fn notes_json(&self) -> Vec<Value> {
        let mut notes: Vec<&Note> = self.contacts.iter().flat_map(|c| &c.notes).collect();
        notes.sort_unstable_by_key(|n| n.id);
        notes.into_iter().map(Note::to_json).collect()
    }

    /// Applies tags to a contact; one result per distinct tag id.
    pub fn apply_tags(&mut self, contact_id: i64, tag_ids: &[i64]) -> BTreeMap<i64, TagResult> {
        let mut results = BTreeMap::new();
        let tags = &self.tags;
        let index = self.contact(contact_id).map(|c| (c.id - 1) as usize);
        let contact = index.and_then(|i| self.contacts.get_mut(i));
        let Some(contact) = contact else {
            for &id in tag_ids {
                results.insert(id, TagResult::ContactNotFound);
            }
            return results;
        };
        for &id in tag_ids {
            let result = if !tags.contains_key(&id) {
                TagResult::TagIdNotFound
            } else if contact.tag_ids.contains(&id) {
                TagResult::Duplicate
            } else {
                contact.tag_ids.push(id);
                TagResult::Success
            };
            results.entry(id).or_insert(result);
        }
        results
    }

    /// The full contact, shaped like the spec's FullContact.
    pub fn contact_json(&self, id: i64) -> Option<Value> {
        self.contact(id).map(full_contact)
    }

    /// Every contact, oldest first, each with its `notes` (for the control
    /// API; a REST answer has no `notes`).
    pub fn contacts_json(&self) -> Vec<Value> {
        self.contacts
            .iter()
            .map(|c| {
                let mut contact = full_contact(c);
                contact["notes"] = c.notes.iter().map(Note::to_json).collect();
                contact
            })
            .collect()
    }

    /// One tag.
    pub fn tag(&self, id: i64) -> Option<&Tag> {
        self.tags.get(&id)
    }

    /// Tags, by id; filtered by exact (case-insensitive) name and category.
    pub fn tags_matching(&self, name: Option<&str>, category: Option<i64>) -> Vec<&Tag> {
        self.tags
            .values()
            .filter(|t| name.is_none_or(|n| t.name.eq_ignore_ascii_case(n)))
            .filter(|t| category.is_none_or(|c| t.category.as_ref().is_some_and(|k| k.id == c)))
            .collect()
    }

    /// Creates a tag with the next free id, in the category with this id
    /// (named as other tags of it name it).
    pub fn create_tag(
        &mut self,
        name: String,
        description: Option<String>,
        category_id: Option<i64>,
    ) -> &Tag {
        let id = self.next_tag_id;
        let category = category_id.map(|id| self.category(id));
        self.insert_tag(Tag {
            id,
            name,
            description,
            category,
        })
    }

    /// The category with this id, named as a tag in it names it (or
    /// `Category <id>` for a new one).
    fn category(&self, id: i64) -> TagCategory {
        self.tags
            .values()
            .filter_map(|t| t.category.clone())
            .find(|c| c.id == id)
            .unwrap_or_else(|| TagCategory {
                id,
                name: format!("Category {id}"),
            })
    }

    /// Adds a tag from a control API body `{"id"?, "name", "description"?,
    /// "category"?: {"id", "name"?}}`; without `id` the next free one is
    /// used. An existing id is refused.
    pub fn add_tag(&mut self, body: &Value) -> Result<&Tag, String> {
        let object = body
            .as_object()
            .ok_or_else(|| "body must be a JSON object".to_owned())?;
        const KEYS: [&str; 4] = ["id", "name", "description", "category"];
        if let Some(key) = object.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!("unknown key {key:?}; known: {}", KEYS.join(", ")));
        }
        let id = match object.get("id") {
            None => self.next_tag_id,
            Some(id) => id
                .as_i64()
                .filter(|id| *id > 0)
                .ok_or_else(|| "id must be a positive integer".to_owned())?,
        };
        if self.tags.contains_key(&id) {
            return Err(format!("tag {id} exists already"));
        }
        let text = |key: &str| -> Result<Option<String>, String> {
            match object.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_str()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(|t| Some(t.to_owned()))
                    .ok_or_else(|| format!("{key} must be a non-empty string")),
            }
        };
        let name = text("name")?.ok_or_else(|| "name is required".to_owned())?;
        let description = text("description")?;
        let category = match object.get("category") {
            None => None,
            Some(category) => {
                let category_id = category
                    .get("id")
                    .and_then(Value::as_i64)
                    .filter(|id| *id > 0)
                    .ok_or_else(|| "category.id must be a positive integer".to_owned())?;
                let mut found = self.category(category_id);
                if let Some(name) = category.get("name") {
                    found.name = name
                        .as_str()
                        .filter(|n| !n.trim().is_empty())
                        .ok_or_else(|| "category.name must be a non-empty string".to_owned())?
                        .to_owned();
                }
                Some(found)
            }
        };
        Ok(self.insert_tag(Tag {
            id,
            name,
            description,
            category,
        }))
    }

    fn insert_tag(&mut self, tag: Tag) -> &Tag {
        let id = tag.id;
        self.next_tag_id = self.next_tag_id.max(id.saturating_add(1));
        self.tags.entry(id).or_insert(tag)
    }

    /// Deletes a tag, and takes it off every contact that had it, as
    /// deleting a tag in Keap does; whether it existed.
    pub fn delete_tag(&mut self, id: i64) -> bool {
        if self.tags.remove(&id).is_none() {
            return false;
        }
        for contact in &mut self.contacts {
            contact.tag_ids.retain(|t| *t != id);
        }
        true
    }

    /// Deletes a custom field, and its values on every contact; whether
    /// it existed.
    pub fn delete_custom_field(&mut self, id: i64) -> bool {
        if !self.fields.delete(id) {
            return false;
        }
        for contact in &mut self.contacts {
            if let Some(Value::Array(values)) = contact.fields.get_mut("custom_fields") {
                values.retain(|v| v.get("id").and_then(Value::as_i64) != Some(id));
            }
        }
        true
    }
}

fn emails_of(body: &Map<String, Value>) -> Vec<String> {
    body.get("email_addresses")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|e| e.get("email").and_then(Value::as_str))
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default()
}

fn lower_field(fields: &Map<String, Value>, name: &str) -> String {
    fields
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_lowercase)
        .unwrap_or_default()
}

fn matches(
    contact: &Contact,
    emails: &[String],
    body: &Map<String, Value>,
    option: DuplicateOption,
) -> bool {
    let email_match = emails_of(&contact.fields)
        .iter()
        .any(|existing| emails.contains(existing));
    match option {
        DuplicateOption::Email => email_match,
        DuplicateOption::EmailAndName => {
            email_match
                && ["given_name", "family_name"]
                    .iter()
                    .all(|n| lower_field(&contact.fields, n) == lower_field(body, n))
        }
    }
}

/// Writes the sent fields over the stored ones; unsent fields stay.
fn merge(fields: &mut Map<String, Value>, body: &Map<String, Value>, now: u64) {
    for (name, value) in body {
        match name.as_str() {
            "duplicate_option" => {}
            "origin" => {
                let mut origin = value.clone();
                if let Some(object) = origin.as_object_mut() {
                    object.insert("date".to_owned(), json!(clock::rfc3339(now)));
                }
                fields.insert(name.clone(), origin);
            }
            "company" => {
                fields.insert(name.clone(), value.clone());
            }
            _ => match KEYED_ARRAYS.iter().find(|(array, _)| array == name) {
                Some((_, key)) => merge_keyed(fields, name, key, value),
                None => {
                    fields.insert(name.clone(), value.clone());
                }
            },
        }
    }
    if body.contains_key("opt_in_reason") && fields.contains_key("email_addresses") {
        fields.insert("email_opted_in".to_owned(), json!(true));
        fields.insert("email_status".to_owned(), json!("SingleOptIn"));
    } else if !fields.contains_key("email_status") && fields.contains_key("email_addresses") {
        // Created by the API without consent: not marketable.
        fields.insert("email_opted_in".to_owned(), json!(false));
        fields.insert("email_status".to_owned(), json!("NonMarketable"));
    }
}

fn merge_keyed(fields: &mut Map<String, Value>, name: &str, key: &str, sent: &Value) {
    let mut merged: Vec<Value> = fields
        .get(name)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for item in sent.as_array().into_iter().flatten() {
        let item_key = item.get(key);
        match merged
            .iter_mut()
            .find(|existing| item_key.is_some() && existing.get(key) == item_key)
        {
            Some(existing) => *existing = item.clone(),
            None => merged.push(item.clone()),
        }
    }
    fields.insert(name.to_owned(), Value::Array(merged));
}

fn full_contact(contact: &Contact) -> Value {
    let mut out = contact.fields.clone();
    out.insert("id".to_owned(), json!(contact.id));
    out.insert("tag_ids".to_owned(), json!(contact.tag_ids));
    out.insert(
        "date_created".to_owned(),
        json!(clock::rfc3339(contact.date_created)),
    );
    out.insert(
        "last_updated".to_owned(),
        json!(clock::rfc3339(contact.last_updated)),
    );
    for array in [
        "email_addresses",
        "phone_numbers",
        "addresses",
        "custom_fields",
    ] {
        out.entry(array.to_owned()).or_insert_with(|| json!([]));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crm() -> Crm {
        Crm::new(&[SeedTag {
            id: 101,
            name: "Lead".into(),
        }])
    }

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn upsert_matches_email_case_insensitively_and_keeps_unsent_fields() {
        let mut crm = crm();
        let first = crm.upsert(
            &body(json!({
                "email_addresses": [{"email": "Ada@Example.com", "field": "EMAIL1"}],
                "given_name": "Ada",
                "phone_numbers": [{"number": "555", "field": "PHONE1"}],
                "custom_fields": [{"id": 7, "content": "blue"}, {"id": 8, "content": "x"}]
            })),
            DuplicateOption::Email,
            10,
        );
        assert_eq!(first, Upserted::Created(1));
        let second = crm.upsert(
            &body(json!({
                "email_addresses": [{"email": "ada@example.com", "field": "EMAIL1"}],
                "family_name": "Lovelace",
                "custom_fields": [{"id": 7, "content": "red"}]
            })),
            DuplicateOption::Email,
            20,
        );
        assert_eq!(second, Upserted::Updated(1));
        let c = crm.contact_json(1).unwrap();
        assert_eq!(c["given_name"], "Ada");
        assert_eq!(c["family_name"], "Lovelace");
        assert_eq!(c["phone_numbers"][0]["number"], "555");
        assert_eq!(
            c["custom_fields"],
            json!([{"id": 7, "content": "red"}, {"id": 8, "content": "x"}])
        );
        assert_eq!(c["email_status"], "NonMarketable");
    }

    fn with_email(email: &str, given: &str) -> Map<String, Value> {
        body(json!({
            "email_addresses": [{"email": email, "field": "EMAIL1"}],
            "given_name": given
        }))
    }

    #[test]
    fn a_changed_email_is_found_by_the_new_address_only() {
        let mut crm = crm();
        let opt = DuplicateOption::Email;
        let two = body(json!({"email_addresses": [
            {"email": "a@x.test", "field": "EMAIL1"},
            {"email": "b@x.test", "field": "EMAIL2"}
        ]}));
        assert_eq!(crm.upsert(&two, opt, 1), Upserted::Created(1));
        // Matched by b@; EMAIL1 (keyed by field) is replaced: a@ -> c@.
        let changed = body(json!({"email_addresses": [
            {"email": "B@x.test", "field": "EMAIL2"},
            {"email": "c@x.test", "field": "EMAIL1"}
        ]}));
        assert_eq!(crm.upsert(&changed, opt, 2), Upserted::Updated(1));
        assert_eq!(
            crm.upsert(&with_email("C@x.test", "C"), opt, 3),
            Upserted::Updated(1)
        );
        assert_eq!(
            crm.upsert(&with_email("a@x.test", "A"), opt, 4),
            Upserted::Created(2),
            "contact 1 no longer has a@"
        );
    }

    #[test]
    fn the_oldest_matching_contact_wins_and_ids_are_found_directly() {
        let mut crm = crm();
        let by_name = DuplicateOption::EmailAndName;
        assert_eq!(
            crm.upsert(&with_email("s@x.test", "Ann"), by_name, 1),
            Upserted::Created(1)
        );
        assert_eq!(
            crm.upsert(&with_email("s@x.test", "Bob"), by_name, 2),
            Upserted::Created(2)
        );
        assert_eq!(
            crm.upsert(&with_email("s@x.test", "Bob"), by_name, 3),
            Upserted::Updated(2)
        );
        // By email alone both match: the older one is updated.
        assert_eq!(
            crm.upsert(&with_email("s@x.test", "Cy"), DuplicateOption::Email, 4),
            Upserted::Updated(1)
        );
        assert!(crm.contact_json(0).is_none());
        assert!(crm.contact_json(3).is_none());
        assert!(crm.contact_json(-1).is_none());
        assert_eq!(crm.contact_json(2).unwrap()["given_name"], "Bob");
        let results = crm.apply_tags(2, &[101]);
        assert_eq!(results.get(&101), Some(&TagResult::Success));
        assert_eq!(
            crm.apply_tags(9, &[101]).get(&101),
            Some(&TagResult::ContactNotFound)
        );
    }

    #[test]
    fn email_and_name_needs_the_names_to_match_too() {
        let mut crm = crm();
        let ada = json!({"email_addresses": [{"email": "a@x.io", "field": "EMAIL1"}], "given_name": "Ada"});
        crm.upsert(&body(ada.clone()), DuplicateOption::EmailAndName, 1);
        let bob = json!({"email_addresses": [{"email": "a@x.io", "field": "EMAIL1"}], "given_name": "Bob"});
        assert_eq!(
            crm.upsert(&body(bob), DuplicateOption::EmailAndName, 2),
            Upserted::Created(2)
        );
        assert_eq!(
            crm.upsert(&body(ada), DuplicateOption::EmailAndName, 3),
            Upserted::Updated(1)
        );
    }

    #[test]
    fn opt_in_and_origin_are_kept() {
        let mut crm = crm();
        crm.upsert(
            &body(json!({
                "email_addresses": [{"email": "a@x.io", "field": "EMAIL1"}],
                "opt_in_reason": "form",
                "origin": {"ip_address": "203.0.113.1"}
            })),
            DuplicateOption::Email,
            0,
        );
        let c = crm.contact_json(1).unwrap();
        assert_eq!(c["opt_in_reason"], "form");
        assert_eq!(c["email_opted_in"], true);
        assert_eq!(c["origin"]["ip_address"], "203.0.113.1");
        assert_eq!(c["origin"]["date"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn tags_answer_per_tag() {
        let mut crm = crm();
        crm.upsert(
            &body(json!({"phone_numbers": [{"number": "1", "field": "PHONE1"}]})),
            DuplicateOption::Email,
            0,
        );
        let r = crm.apply_tags(1, &[101, 999]);
        assert_eq!(r.get(&101), Some(&TagResult::Success));
        assert_eq!(r.get(&999), Some(&TagResult::TagIdNotFound));
        assert_eq!(
            crm.apply_tags(1, &[101]).get(&101),
            Some(&TagResult::Duplicate)
        );
        assert_eq!(
            crm.apply_tags(42, &[101]).get(&101),
            Some(&TagResult::ContactNotFound)
        );
        assert_eq!(crm.contact_json(1).unwrap()["tag_ids"], json!([101]));
    }

    #[test]
    fn notes_need_their_contact_and_ids_run_across_contacts() {
        let mut crm = crm();
        let request = |contact_id| NoteRequest {
            contact_id,
            title: None,
            body: Some("hi".into()),
            kind: None,
        };
        assert_eq!(
            crm.add_note(request(1), 0).err(),
            Some(NoteRefusal::ContactNotFound)
        );
        for email in ["a@x.io", "b@x.io"] {
            crm.upsert(&with_email(email, "A"), DuplicateOption::Email, 0);
        }
        assert_eq!(crm.add_note(request(2), 5).map(|n| n.id), Ok(1));
        assert_eq!(crm.add_note(request(1), 6).map(|n| n.id), Ok(2));
        let all = crm.notes_json();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0]["contact_id"], 2);
        assert_eq!(crm.contacts_json()[0]["notes"][0]["id"], 2);
        assert!(crm.contact_json(1).unwrap().get("notes").is_none());
    }

    #[test]
    fn deleting_a_tag_takes_it_off_contacts_and_its_id_is_not_reused() {
        let mut crm = crm();
        crm.upsert(&with_email("a@x.io", "A"), DuplicateOption::Email, 0);
        crm.apply_tags(1, &[101]);
        assert!(crm.delete_tag(101));
        assert!(!crm.delete_tag(101));
        assert_eq!(crm.contact_json(1).unwrap()["tag_ids"], json!([]));
        assert_eq!(
            crm.apply_tags(1, &[101]).get(&101),
            Some(&TagResult::TagIdNotFound)
        );
        assert_eq!(crm.create_tag("Again".into(), None, None).id, 102);
    }

    #[test]
    fn tags_are_created_and_found_by_name() {
        let mut crm = crm();
        let id = crm.create_tag("VIP".into(), None, Some(3)).id;
        assert_eq!(id, 102);
        assert_eq!(crm.tags_matching(Some("vip"), None).len(), 1);
        assert_eq!(crm.tags_matching(None, Some(3)).len(), 1);
        assert_eq!(crm.tags_matching(None, None).len(), 2);
    }
}
