//! The check of the configuration against the connected Keap app: every
//! tag id of each form (`tags`, `optional_tags`) and every custom field id
//! (`custom_fields`) must exist there. A wrong or since-deleted id would
//! otherwise show only later, as leads turning into dead letters.
//!
//! It runs when the owner connects, once a day from the scheduled run
//! ([`is_due`]) and on `POST /admin/check`. Its latest result is one plain
//! JSON record in KV ([`kv_keys::CONFIG_CHECK`]): ids and Keap's names for
//! them are neither secrets nor anyone's personal data. The form path
//! never reads it. A check that finds an id missing that the previous
//! check did not sends a `config_mismatch` alert.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::alerts::{self, AlertKind, AlertOutcome};
use crate::config::Config;
use crate::form::forms::{Form, Forms};
use crate::keap::catalog::{self, CatalogError, MAX_TAG_PAGES, TAG_PAGE_SIZE};
use crate::keap::credentials::{self, Credentials, Unavailable};
use crate::platform::{put_or_log, Platform};
use crate::store::kv_keys;
use crate::time;

/// How often the scheduled run checks again.
pub const CHECK_INTERVAL_MS: u64 = 24 * 3_600_000;

/// One configured id and what Keap calls it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedId {
    pub id: u64,
    /// Where the form's configuration uses it: `tags`,
    /// `optional_tags.<name>` or `custom_fields.<field>`.
    pub used_as: String,
    /// Keap's name (a tag's name, a field's label); `None`: Keap has no
    /// such id.
    pub keap_name: Option<String>,
}

/// The check of one form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormCheck {
    pub tags: Vec<CheckedId>,
    pub custom_fields: Vec<CheckedId>,
}

impl FormCheck {
    pub fn ok(&self) -> bool {
        self.tags
            .iter()
            .chain(&self.custom_fields)
            .all(|c| c.keap_name.is_some())
    }

    pub fn missing_tag_ids(&self) -> Vec<u64> {
        missing(&self.tags)
    }

    pub fn missing_custom_field_ids(&self) -> Vec<u64> {
        missing(&self.custom_fields)
    }

    /// Whether this is a check of `form` as configured now (the same ids
    /// in the same places), not of an earlier configuration.
    pub fn describes(&self, form: &Form) -> bool {
        let (tags, fields) = expected(form);
        let key = |c: &CheckedId| (c.used_as.clone(), c.id);
        tags.iter().map(key).eq(self.tags.iter().map(key))
            && fields
                .iter()
                .map(key)
                .eq(self.custom_fields.iter().map(key))
    }

    /// Keap's name for the tag `used_as` (e.g. `optional_tags.newsletter`).
    pub fn tag_name(&self, used_as: &str) -> Option<&str> {
        name_of(&self.tags, used_as)
    }

    /// Keap's label for the custom field `used_as`.
    pub fn field_label(&self, used_as: &str) -> Option<&str> {
        name_of(&self.custom_fields, used_as)
    }
}

fn name_of<'a>(ids: &'a [CheckedId], used_as: &str) -> Option<&'a str> {
    ids.iter()
        .find(|c| c.used_as == used_as)
        .and_then(|c| c.keap_name.as_deref())
}

fn missing(ids: &[CheckedId]) -> Vec<u64> {
    let set: BTreeSet<u64> = ids
        .iter()
        .filter(|c| c.keap_name.is_none())
        .map(|c| c.id)
        .collect();
    set.into_iter().collect()
}

/// The latest check of every form, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// When it ran (RFC 3339).
    pub checked_at: String,
    pub forms: BTreeMap<String, FormCheck>,
}

impl CheckRecord {
    /// The check of `form`, when it describes the form as configured now.
    pub fn current(&self, form: &Form) -> Option<&FormCheck> {
        self.forms.get(&form.id).filter(|c| c.describes(form))
    }

    /// `GET /admin/status`'s `form_checks`: the forms whose configuration
    /// has not changed since the check.
    pub fn status_json(&self, forms: &Forms) -> Value {
        let mut out = serde_json::Map::new();
        for form in forms.iter() {
            let Some(check) = self.current(form) else {
                continue;
            };
            out.insert(
                form.id.clone(),
                json!({
                    "ok": check.ok(),
                    "missing_tag_ids": check.missing_tag_ids(),
                    "missing_custom_field_ids": check.missing_custom_field_ids(),
                    "checked_at": self.checked_at,
                }),
            );
        }
        Value::Object(out)
    }
}

/// The ids `form` uses, names not yet known: tags then custom fields.
fn expected(form: &Form) -> (Vec<CheckedId>, Vec<CheckedId>) {
    let unnamed = |id, used_as: String| CheckedId {
        id,
        used_as,
        keap_name: None,
    };
    let tags = form
        .tags
        .iter()
        .map(|&id| unnamed(id, "tags".into()))
        .chain(
            form.optional_tags
                .iter()
                .map(|(name, &id)| unnamed(id, format!("optional_tags.{name}"))),
        )
        .collect();
    let fields = form
        .custom_fields
        .iter()
        .map(|(name, &id)| unnamed(id, format!("custom_fields.{name}")))
        .collect();
    (tags, fields)
}

/// Checks every form against Keap's tag names and custom field labels
/// (by id).
pub fn check_forms(
    forms: &Forms,
    tag_names: &BTreeMap<u64, String>,
    field_labels: &BTreeMap<u64, String>,
    now_ms: u64,
) -> CheckRecord {
    let mut out = BTreeMap::new();
    for form in forms.iter() {
        let (mut tags, mut fields) = expected(form);
        for t in &mut tags {
            t.keap_name = tag_names.get(&t.id).cloned();
        }
        for f in &mut fields {
            f.keap_name = field_labels.get(&f.id).cloned();
        }
        out.insert(
            form.id.clone(),
            FormCheck {
                tags,
                custom_fields: fields,
            },
        );
    }
    CheckRecord {
        checked_at: time::to_rfc3339(now_ms),
        forms: out,
    }
}

/// Ids one form is newly missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub form_id: String,
    pub tag_ids: Vec<u64>,
    pub custom_field_ids: Vec<u64>,
}

/// What `current` finds missing that `previous` did not (all of it when
/// there is no previous check of that form).
pub fn newly_missing(previous: Option<&CheckRecord>, current: &CheckRecord) -> Vec<Mismatch> {
    // The ids in `now` that were not in `before`.
    let new = |now: Vec<u64>, before: Option<Vec<u64>>| -> Vec<u64> {
        let before = before.unwrap_or_default();
        now.into_iter().filter(|id| !before.contains(id)).collect()
    };
    let mut out = Vec::new();
    for (form_id, check) in &current.forms {
        let before = previous.and_then(|p| p.forms.get(form_id));
        let tag_ids = new(
            check.missing_tag_ids(),
            before.map(FormCheck::missing_tag_ids),
        );
        let custom_field_ids = new(
            check.missing_custom_field_ids(),
            before.map(FormCheck::missing_custom_field_ids),
        );
        if !tag_ids.is_empty() || !custom_field_ids.is_empty() {
            out.push(Mismatch {
                form_id: form_id.clone(),
                tag_ids,
                custom_field_ids,
            });
        }
    }
    out
}

/// The `config_mismatch` alert's words: each form and its missing ids.
pub fn mismatch_message(mismatches: &[Mismatch]) -> String {
    let ids = |ids: &[u64]| {
        ids.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let parts: Vec<String> = mismatches
        .iter()
        .map(|m| {
            let mut what = Vec::new();
            if !m.tag_ids.is_empty() {
                what.push(format!("tag id(s) {}", ids(&m.tag_ids)));
            }
            if !m.custom_field_ids.is_empty() {
                what.push(format!("custom field id(s) {}", ids(&m.custom_field_ids)));
            }
            format!("form {}: {}", m.form_id, what.join(" and "))
        })
        .collect();
    format!(
        "The connected Keap app has no {}. Leads from these forms will be kept as dead letters \
         until the ids in FORMS are fixed; see /admin/keap/tags and /admin/keap/fields.",
        parts.join("; ")
    )
}

/// Whether the scheduled run should check now: never checked, checked a
/// day ago or more, or `FORMS` changed since.
pub fn is_due(record: Option<&CheckRecord>, forms: &Forms, now_ms: u64) -> bool {
    let Some(record) = record else { return true };
    let Some(at) = time::from_rfc3339(&record.checked_at) else {
        return true;
    };
    if now_ms.saturating_sub(at) >= CHECK_INTERVAL_MS {
        return true;
    }
    forms.iter().any(|f| record.current(f).is_none())
}

/// The stored check, if any (an unreadable one counts as none, logged).
pub async fn load<P: Platform>(p: &P) -> Option<CheckRecord> {
    match p.kv_get(kv_keys::CONFIG_CHECK).await {
        Ok(Some(text)) => match serde_json::from_str(&text) {
            Ok(record) => Some(record),
            Err(e) => {
                p.log(&format!(
                    "config check: the stored result cannot be read: {e}"
                ));
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            p.log(&format!("config check: {e}"));
            None
        }
    }
}

/// Why a check could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckError {
    /// `FORMS` cannot be read.
    Forms(String),
    /// No usable credentials.
    Unavailable(Unavailable),
    /// Keap's lists could not be read.
    Keap(CatalogError),
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckError::Forms(why) => write!(f, "FORMS cannot be read: {why}"),
            CheckError::Unavailable(why) => write!(f, "{why}"),
            CheckError::Keap(why) => write!(f, "{why}"),
        }
    }
}

/// What a check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub record: CheckRecord,
    pub newly_missing: Vec<Mismatch>,
    /// The `config_mismatch` alert, when one was due.
    pub alert: Option<AlertOutcome>,
}

/// Checks every form now: at most [`MAX_TAG_PAGES`] tag pages and one
/// contact-model call (each only when some form has such ids), then one
/// KV read and one write, and an alert when an id is newly missing.
pub async fn run<P: Platform>(p: &P, config: &Config) -> Result<CheckOutcome, CheckError> {
    let previous = load(p).await;
    run_after(p, config, previous).await
}

/// The scheduled run's check: only when [`is_due`]. `None`: not due, no
/// form configured, or `FORMS` unreadable (which `/admin` reports).
pub async fn run_if_due<P: Platform>(
    p: &P,
    config: &Config,
) -> Option<Result<CheckOutcome, CheckError>> {
    let forms = config.forms.as_ref().ok().filter(|f| !f.is_empty())?;
    let previous = load(p).await;
    if !is_due(previous.as_ref(), forms, p.now_ms()) {
        return None;
    }
    Some(run_after(p, config, previous).await)
}

/// [`run`], given the stored check it follows.
async fn run_after<P: Platform>(
    p: &P,
    config: &Config,
    previous: Option<CheckRecord>,
) -> Result<CheckOutcome, CheckError> {
    let forms = config
        .forms
        .as_ref()
        .map_err(|e| CheckError::Forms(e.clone()))?;
    let creds = credentials::load(p, config)
        .await
        .map_err(CheckError::Unavailable)?;
    let result = read_keap(p, config, forms, &creds).await;
    let (tag_names, field_labels) = match result {
        Ok(found) => found,
        Err(e) => {
            if e.token_rejected() {
                credentials::rejected(p, &creds).await;
            }
            return Err(CheckError::Keap(e));
        }
    };
    let record = check_forms(forms, &tag_names, &field_labels, p.now_ms());
    let news = newly_missing(previous.as_ref(), &record);
    match serde_json::to_string(&record) {
        Ok(text) => {
            let what = "config check: the result could not be stored";
            put_or_log(p, kv_keys::CONFIG_CHECK, &text, what).await;
        }
        Err(e) => p.log(&format!("config check: {e}")),
    }
    let alert = if news.is_empty() {
        None
    } else {
        Some(
            alerts::alert(
                p,
                config,
                AlertKind::ConfigMismatch,
                &mismatch_message(&news),
            )
            .await,
        )
    };
    let bad: Vec<&str> = record
        .forms
        .iter()
        .filter(|(_, c)| !c.ok())
        .map(|(id, _)| id.as_str())
        .collect();
    p.log(&format!(
        "config check: {} form(s) checked; {}",
        record.forms.len(),
        if bad.is_empty() {
            "every id exists in Keap".to_string()
        } else {
            format!("ids missing in form(s) {}", bad.join(", "))
        }
    ));
    Ok(CheckOutcome {
        record,
        newly_missing: news,
        alert,
    })
}

type Names = BTreeMap<u64, String>;

/// Keap's tag names and field labels by id, reading only what some form
/// needs.
async fn read_keap<P: Platform>(
    p: &P,
    config: &Config,
    forms: &Forms,
    creds: &Credentials,
) -> Result<(Names, Names), CatalogError> {
    let api = config.settings.api_url();
    let mut tag_names = Names::new();
    if forms
        .iter()
        .any(|f| !f.tags.is_empty() || !f.optional_tags.is_empty())
    {
        for t in catalog::list_tags(p, api, creds, TAG_PAGE_SIZE, MAX_TAG_PAGES).await? {
            tag_names.insert(t.id, t.name);
        }
    }
    let mut field_labels = Names::new();
    if forms.iter().any(|f| !f.custom_fields.is_empty()) {
        for f in catalog::list_fields(p, api, creds).await? {
            field_labels.insert(f.id, f.label);
        }
    }
    Ok((tag_names, field_labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{InResponse, Method};
    use crate::secret::Secret;
    use crate::settings::Settings;
    use crate::testing::{block_on, MemoryPlatform};

    const HOOK: &str = "https://hooks.example.com/alert";

    fn forms() -> Forms {
        Forms::from_json(Some(&json!({
            "contact": {"tags": [101], "optional_tags": {"newsletter": 103}, "custom_fields": {"company": 7}},
            "quote": {"tags": [102, 101]},
        })))
        .unwrap()
    }

    fn config() -> Config {
        let mut c = Config::from_settings(Settings {
            keap_api_key: Some(Secret::new("KeapAK-test")),
            keap_api_url: Some("https://keap.test/crm/rest".into()),
            alert_webhook_url: Some(Secret::new(HOOK)),
            ..Settings::default()
        });
        c.forms = Ok(forms());
        c
    }

    fn names(pairs: &[(u64, &str)]) -> Names {
        pairs.iter().map(|(id, n)| (*id, n.to_string())).collect()
    }

    /// A Keap with these tags and custom fields (by id and name).
    fn keap(tags: Vec<(u64, &'static str)>, fields: Vec<(u64, &'static str)>) -> MemoryPlatform {
        let p = MemoryPlatform::new();
        p.respond(move |r| {
            if r.url == HOOK {
                return Ok(InResponse::new(204, ""));
            }
            let body = if r.url.contains("/v1/tags") {
                let list: Vec<Value> = tags
                    .iter()
                    .map(|(id, n)| json!({"id": id, "name": n}))
                    .collect();
                json!({"tags": list, "count": tags.len(), "next": "x"})
            } else {
                let list: Vec<Value> = fields
                    .iter()
                    .map(|(id, n)| json!({"id": id, "label": n, "field_type": "Text"}))
                    .collect();
                json!({"custom_fields": list})
            };
            Ok(InResponse::new(200, body.to_string()))
        });
        p
    }

    #[test]
    fn names_every_id_or_says_it_is_missing() {
        let record = check_forms(
            &forms(),
            &names(&[(101, "Lead"), (103, "Newsletter")]),
            &names(&[]),
            0,
        );
        let contact = &record.forms["contact"];
        assert!(!contact.ok());
        assert_eq!(contact.tag_name("tags"), Some("Lead"));
        assert_eq!(
            contact.tag_name("optional_tags.newsletter"),
            Some("Newsletter")
        );
        assert_eq!(contact.missing_tag_ids(), Vec::<u64>::new());
        assert_eq!(contact.missing_custom_field_ids(), vec![7]);
        let quote = &record.forms["quote"];
        assert_eq!(quote.missing_tag_ids(), vec![102]);
        let status = record.status_json(&forms());
        assert_eq!(
            status["quote"],
            json!({"ok": false, "missing_tag_ids": [102], "missing_custom_field_ids": [], "checked_at": "1970-01-01T00:00:00Z"})
        );
        assert_eq!(status["contact"]["missing_custom_field_ids"], json!([7]));
    }

    #[test]
    fn only_newly_missing_ids_are_news() {
        let all = names(&[(101, "Lead"), (102, "W"), (103, "N")]);
        let fields = names(&[(7, "Company")]);
        let fine = check_forms(&forms(), &all, &fields, 0);
        assert!(newly_missing(None, &fine).is_empty());

        let without_101 = names(&[(102, "W"), (103, "N")]);
        let broken = check_forms(&forms(), &without_101, &fields, 0);
        let news = newly_missing(Some(&fine), &broken);
        assert_eq!(news.len(), 2);
        assert_eq!(news[0].form_id, "contact");
        assert_eq!(news[0].tag_ids, vec![101]);
        let message = mismatch_message(&news);
        assert!(message.contains("form contact: tag id(s) 101"), "{message}");
        assert!(message.contains("form quote: tag id(s) 101"), "{message}");
        // The same ids missing again are old news; one more is news.
        assert!(newly_missing(Some(&broken), &broken).is_empty());
        let worse = check_forms(&forms(), &without_101, &names(&[]), 0);
        let news = newly_missing(Some(&broken), &worse);
        assert_eq!(news.len(), 1);
        assert_eq!(news[0].custom_field_ids, vec![7]);
        assert!(news[0].tag_ids.is_empty());
        // Without an earlier check, whatever is missing is news.
        assert_eq!(newly_missing(None, &broken).len(), 2);
    }

    #[test]
    fn due_daily_when_never_checked_or_when_forms_changed() {
        let now = 1_767_225_600_000;
        let record = check_forms(&forms(), &names(&[]), &names(&[]), now);
        assert!(is_due(None, &forms(), now));
        assert!(!is_due(Some(&record), &forms(), now));
        assert!(!is_due(
            Some(&record),
            &forms(),
            now + CHECK_INTERVAL_MS - 1
        ));
        assert!(is_due(Some(&record), &forms(), now + CHECK_INTERVAL_MS));
        let changed = Forms::from_json(Some(&json!({
            "contact": {"tags": [101], "optional_tags": {"newsletter": 104}, "custom_fields": {"company": 7}},
            "quote": {"tags": [102, 101]},
        })))
        .unwrap();
        assert!(is_due(Some(&record), &changed, now));
        assert!(record.current(changed.get("contact").unwrap()).is_none());
        assert!(record.current(changed.get("quote").unwrap()).is_some());
        assert!(record.status_json(&changed).get("contact").is_none());
    }

    #[test]
    fn a_run_stores_the_result_and_alerts_once_for_a_newly_missing_id() {
        let p = keap(
            vec![(101, "Lead"), (102, "Website"), (103, "News")],
            vec![(7, "Company")],
        );
        let c = config();
        let out = block_on(run(&p, &c)).unwrap();
        assert!(out.record.forms.values().all(FormCheck::ok));
        assert_eq!(out.alert, None);
        // Two Keap calls (one tag page, the model), no alert.
        assert_eq!(p.requests.borrow().len(), 2);
        assert!(p.requests.borrow().iter().all(|r| r.method == Method::Get));
        assert_eq!(block_on(load(&p)).unwrap(), out.record);

        // Tag 103 deleted in Keap: one alert naming the form and the id.
        let p2 = keap(vec![(101, "Lead"), (102, "Website")], vec![(7, "Company")]);
        p2.kv.replace(p.kv.borrow().clone());
        let out = block_on(run(&p2, &c)).unwrap();
        assert_eq!(out.alert, Some(AlertOutcome::Sent));
        let sent = p2.sent_to(HOOK);
        assert_eq!(sent.len(), 1);
        let body: Value = serde_json::from_slice(sent[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(body["event"], "config_mismatch");
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("form contact: tag id(s) 103"));
        // The next check finds the same: no second alert, even once the
        // alert's rate limit has passed.
        p2.advance_ms(CHECK_INTERVAL_MS);
        let out = block_on(run(&p2, &c)).unwrap();
        assert_eq!(out.alert, None);
        assert_eq!(p2.sent_to(HOOK).len(), 1);
        assert_eq!(out.record.forms["contact"].missing_tag_ids(), vec![103]);
    }

    #[test]
    fn keap_trouble_leaves_the_stored_result_alone() {
        let p = MemoryPlatform::new();
        p.respond(|_| Ok(InResponse::new(503, "")));
        let e = block_on(run(&p, &config())).unwrap_err();
        assert_eq!(e, CheckError::Keap(CatalogError::Status(503)));
        assert!(p.value(kv_keys::CONFIG_CHECK).is_none());

        let mut unconfigured = config();
        unconfigured.auth = crate::config::AuthMode::Unconfigured;
        let e = block_on(run(&p, &unconfigured)).unwrap_err();
        assert_eq!(e, CheckError::Unavailable(Unavailable::Unconfigured));
    }

    #[test]
    fn forms_without_ids_cost_no_keap_call() {
        let p = keap(vec![], vec![]);
        let mut c = config();
        c.forms = Forms::from_json(Some(&json!({"bare": {}})));
        let out = block_on(run(&p, &c)).unwrap();
        assert!(out.record.forms["bare"].ok());
        assert!(p.requests.borrow().is_empty());
    }
}
