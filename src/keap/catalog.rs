//! What the connected Keap app holds that a form's configuration names:
//! its tags (`GET /v1/tags`, paged) and its contact custom fields
//! (`GET /v1/contacts/model`). Read for the setup pages and for the
//! configuration check (docs/CONTRACT.md 4), never on the form path.
//!
//! Keap's `next` link is present on every page, the last one too (it
//! points past the end), so paging stops when `offset` plus the page's
//! length reaches `count`, or on an empty page, never on `next`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::form::forms::{CustomFieldId, TagId};
use crate::http::{FetchError, InResponse, Method, OutRequest};
use crate::keap::credentials::Credentials;
use crate::lenient::{Maybe, Number, Object};
use crate::platform::Platform;

/// Tags asked for per page: Keap's (and the sandbox's) largest `limit`.
pub const TAG_PAGE_SIZE: u32 = 1000;
/// Most tag pages one listing reads, so that a huge tag list cannot spend
/// a whole invocation's outbound requests (10,000 tags).
pub const MAX_TAG_PAGES: u32 = 10;

/// A Keap tag as the setup pages list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeapTag {
    pub id: TagId,
    pub name: String,
    /// The tag's category name, if it has one.
    pub category: Option<String>,
}

/// A contact custom field as the setup pages list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeapField {
    pub id: CustomFieldId,
    pub label: String,
    /// Keap's `field_type` (`Text`, `Dropdown`, ...).
    #[serde(rename = "type")]
    pub field_type: String,
    /// The labels of a list field's options (empty for other types).
    pub options: Vec<String>,
}

/// Why Keap's lists could not be read. The words hold no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogError {
    /// Keap answered with this HTTP status.
    Status(u16),
    /// Keap could not be reached.
    Unreachable(String),
    /// The answer was not what Keap sends.
    Unreadable(&'static str),
    /// More tags than [`MAX_TAG_PAGES`] pages hold.
    TooManyTags(u64),
}

impl CatalogError {
    /// Keap refused the credentials (the refresher should look at them).
    pub fn token_rejected(&self) -> bool {
        *self == CatalogError::Status(401)
    }
}

impl std::fmt::Display for CatalogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CatalogError::Status(401) => {
                f.write_str("Keap refused the worker's credentials (HTTP 401)")
            }
            CatalogError::Status(429) => {
                f.write_str("Keap is throttling requests (HTTP 429); try again in a minute")
            }
            CatalogError::Status(s) => write!(f, "Keap answered HTTP {s}"),
            CatalogError::Unreachable(why) => write!(f, "Keap could not be reached ({why})"),
            CatalogError::Unreadable(what) => write!(f, "Keap's answer could not be read ({what})"),
            CatalogError::TooManyTags(n) => write!(
                f,
                "the app has {n} tags, more than the {} this worker reads at once",
                u64::from(TAG_PAGE_SIZE) * u64::from(MAX_TAG_PAGES)
            ),
        }
    }
}

/// `GET {api}/v1/tags?limit=&offset=`, without credentials.
pub fn tags_page_request(api_url: &str, offset: u64, limit: u32) -> OutRequest {
    let api = api_url.trim_end_matches('/');
    OutRequest::new(
        Method::Get,
        format!("{api}/v1/tags?limit={limit}&offset={offset}"),
    )
    .header("Accept", "application/json")
}

/// `GET {api}/v1/contacts/model`, without credentials.
pub fn model_request(api_url: &str) -> OutRequest {
    let api = api_url.trim_end_matches('/');
    OutRequest::new(Method::Get, format!("{api}/v1/contacts/model"))
        .header("Accept", "application/json")
}

/// One page of `GET /v1/tags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagsPage {
    pub tags: Vec<KeapTag>,
    /// How many tags there are in all.
    pub count: u64,
}

/// Keap's lists, read leniently: an item that is not an object, or has
/// no usable id, is skipped; a text of another type reads as empty.
#[derive(Deserialize)]
struct RawTagsPage {
    #[serde(default)]
    tags: Vec<Maybe<Object<RawTag>>>,
    count: Option<u64>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawTag {
    id: Maybe<Number>,
    name: Maybe<String>,
    category: Maybe<Object<RawCategory>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawCategory {
    name: Maybe<String>,
}

#[derive(Deserialize)]
struct RawModel {
    #[serde(default)]
    custom_fields: Vec<Maybe<Object<RawField>>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawField {
    id: Maybe<Number>,
    label: Maybe<String>,
    field_type: Maybe<String>,
    options: Maybe<Vec<Maybe<Object<RawOption>>>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawOption {
    label: Maybe<String>,
}

/// The body of a 2xx answer read as `T`, or why there is none (`what`:
/// what else it was).
fn read<T: DeserializeOwned>(
    answer: &Result<InResponse, FetchError>,
    what: &'static str,
) -> Result<T, CatalogError> {
    match answer {
        Err(e) => Err(CatalogError::Unreachable(e.to_string())),
        Ok(r) if (200..300).contains(&r.status) => {
            serde_json::from_slice(&r.body).map_err(|_| CatalogError::Unreadable(what))
        }
        Ok(r) => Err(CatalogError::Status(r.status)),
    }
}

/// Reads a tags page. Entries without a usable id are skipped.
pub fn read_tags_page(answer: &Result<InResponse, FetchError>) -> Result<TagsPage, CatalogError> {
    let raw: RawTagsPage = read(answer, "not a page of tags")?;
    let tags: Vec<KeapTag> = raw
        .tags
        .into_iter()
        .filter_map(|t| {
            let Object(t) = t.value()?;
            Some(KeapTag {
                id: t.id.value()?.positive()?,
                name: t.name.value().unwrap_or_default(),
                category: t.category.value().and_then(|Object(c)| c.name.value()),
            })
        })
        .collect();
    // Without a count, this page is taken as the last.
    let count = raw.count.unwrap_or(tags.len() as u64);
    Ok(TagsPage { tags, count })
}

/// Reads the contact model's custom fields.
pub fn read_model(answer: &Result<InResponse, FetchError>) -> Result<Vec<KeapField>, CatalogError> {
    let raw: RawModel = read(answer, "not a contact model")?;
    Ok(raw
        .custom_fields
        .into_iter()
        .filter_map(|f| {
            let Object(f) = f.value()?;
            Some(KeapField {
                id: f.id.value()?.positive()?,
                label: f.label.value().unwrap_or_default(),
                field_type: f.field_type.value().unwrap_or_default(),
                options: f
                    .options
                    .value()
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|o| o.value()?.0.label.value())
                    .filter(|l| !l.is_empty())
                    .collect(),
            })
        })
        .collect())
}

/// Every tag of the app, `page_size` a page (production:
/// [`TAG_PAGE_SIZE`]), at most `max_pages` calls.
pub async fn list_tags<P: Platform>(
    p: &P,
    api_url: &str,
    creds: &Credentials,
    page_size: u32,
    max_pages: u32,
) -> Result<Vec<KeapTag>, CatalogError> {
    let mut all: Vec<KeapTag> = Vec::new();
    let mut offset: u64 = 0;
    for _ in 0..max_pages {
        let answer = p
            .fetch(creds.apply(tags_page_request(api_url, offset, page_size)))
            .await;
        let page = read_tags_page(&answer)?;
        let got = page.tags.len() as u64;
        all.extend(page.tags);
        offset += got;
        if got == 0 || offset >= page.count {
            all.sort_by_key(|t| t.id);
            all.dedup_by_key(|t| t.id);
            return Ok(all);
        }
    }
    Err(CatalogError::TooManyTags(offset))
}

/// The app's contact custom fields (one call).
pub async fn list_fields<P: Platform>(
    p: &P,
    api_url: &str,
    creds: &Credentials,
) -> Result<Vec<KeapField>, CatalogError> {
    let answer = p.fetch(creds.apply(model_request(api_url))).await;
    read_model(&answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::testing::{block_on, MemoryPlatform};

    const API: &str = "https://keap.test/crm/rest";

    fn creds() -> Credentials {
        Credentials::ApiKey(Secret::new("KeapAK-test"))
    }

    /// A Keap holding tags `1..=n`, paging like Keap: `next` always set.
    fn keap_with_tags(n: u64) -> MemoryPlatform {
        let p = MemoryPlatform::new();
        p.respond(move |r| {
            let url = url::Url::parse(&r.url).unwrap();
            let q = |k: &str| {
                url.query_pairs()
                    .find(|(name, _)| name == k)
                    .map(|(_, v)| v.parse::<u64>().unwrap())
                    .unwrap()
            };
            let (limit, offset) = (q("limit"), q("offset"));
            let tags: Vec<_> = (offset + 1..=n.min(offset + limit))
                .map(|id| serde_json::json!({"id": id, "name": format!("Tag {id}"), "category": if id % 2 == 0 { serde_json::json!({"id": 1, "name": "Even"}) } else { serde_json::Value::Null }}))
                .collect();
            let body = serde_json::json!({
                "tags": tags, "count": n,
                "next": format!("{API}/v1/tags?limit={limit}&offset={}", offset + limit),
                "previous": format!("{API}/v1/tags?limit={limit}&offset=0"),
            });
            Ok(InResponse::new(200, body.to_string()))
        });
        p
    }

    #[test]
    fn reads_every_page_and_stops_when_count_is_reached() {
        let p = keap_with_tags(7);
        let tags = block_on(list_tags(&p, API, &creds(), 3, 10)).unwrap();
        assert_eq!(
            tags.iter().map(|t| t.id).collect::<Vec<_>>(),
            (1..=7).collect::<Vec<_>>()
        );
        assert_eq!(tags[1].category.as_deref(), Some("Even"));
        assert_eq!(tags[0].category, None);
        // 3 + 3 + 1: three calls, none past the end although `next` is set.
        let sent = p.requests.borrow();
        assert_eq!(sent.len(), 3);
        assert!(sent[2].url.ends_with("limit=3&offset=6"), "{}", sent[2].url);
        assert_eq!(sent[0].headers.get("X-Keap-API-Key"), Some("KeapAK-test"));
    }

    #[test]
    fn an_exact_multiple_of_the_page_size_takes_no_extra_call() {
        let p = keap_with_tags(6);
        assert_eq!(
            block_on(list_tags(&p, API, &creds(), 3, 10)).unwrap().len(),
            6
        );
        assert_eq!(p.requests.borrow().len(), 2);
        let p = keap_with_tags(0);
        assert!(block_on(list_tags(&p, API, &creds(), 3, 10))
            .unwrap()
            .is_empty());
        assert_eq!(p.requests.borrow().len(), 1);
    }

    #[test]
    fn an_empty_page_ends_the_listing_even_if_count_says_more() {
        let p = MemoryPlatform::new();
        p.respond(|r| {
            let body = if r.url.ends_with("offset=0") {
                r#"{"tags":[{"id":5,"name":"A"}],"count":50,"next":"x"}"#
            } else {
                r#"{"tags":[],"count":50,"next":"x"}"#
            };
            Ok(InResponse::new(200, body))
        });
        let tags = block_on(list_tags(&p, API, &creds(), 1, 10)).unwrap();
        assert_eq!(tags.len(), 1);
        assert_eq!(p.requests.borrow().len(), 2);
    }

    #[test]
    fn too_many_pages_is_an_error_not_a_partial_list() {
        let p = keap_with_tags(10);
        assert_eq!(
            block_on(list_tags(&p, API, &creds(), 3, 2)),
            Err(CatalogError::TooManyTags(6))
        );
        assert_eq!(p.requests.borrow().len(), 2);
    }

    #[test]
    fn failures_are_named() {
        let p = MemoryPlatform::new();
        p.respond(|_| Ok(InResponse::new(401, "{}")));
        let e = block_on(list_tags(&p, API, &creds(), 3, 2)).unwrap_err();
        assert!(e.token_rejected());
        p.respond(|_| Ok(InResponse::new(200, "<html>")));
        assert!(matches!(
            block_on(list_fields(&p, API, &creds())),
            Err(CatalogError::Unreadable(_))
        ));
        let p = MemoryPlatform::new();
        let e = block_on(list_fields(&p, API, &creds())).unwrap_err();
        assert!(e.to_string().contains("could not be reached"), "{e}");
    }

    #[test]
    fn items_are_read_leniently() {
        let page = r#"{"tags":[
            {"id":" 4 ","name":7,"category":"Even"},
            {"id":5,"name":"B","category":{"name":["x"]}},
            {"id":6,"name":null,"category":[{"name":"x"}],"description":{"a":1}},
            {"id":-1,"name":"neg"},{"id":1.5,"name":"float"},{"id":0,"name":"zero"},
            {"id":"x","name":"text"},{"id":[9],"name":"list"},{"name":"none"},
            [10,"list item"],"11",12,null
        ],"count":3}"#;
        let page = read_tags_page(&Ok(InResponse::new(200, page))).unwrap();
        let tag = |id, name: &str| KeapTag {
            id,
            name: name.into(),
            category: None,
        };
        assert_eq!(page.tags, vec![tag(4, ""), tag(5, "B"), tag(6, "")]);
        assert_eq!(page.count, 3);
        for body in [
            r#"{"tags":{"id":1}}"#,
            r#"{"tags":null}"#,
            r#"{"count":"3"}"#,
        ] {
            assert!(
                read_tags_page(&Ok(InResponse::new(200, body))).is_err(),
                "{body}"
            );
        }

        let model = r#"{"custom_fields":[
            {"id":7,"label":["L"],"field_type":3,"options":{"label":"x"}},
            {"id":8,"label":"M","field_type":"Dropdown","options":["a",{"label":5},{"label":""},{"label":"b"},[{"label":"c"}]]},
            [9,"N"],"10"
        ]}"#;
        let fields = read_model(&Ok(InResponse::new(200, model))).unwrap();
        let field = |id, label: &str, field_type: &str, options: &[&str]| KeapField {
            id,
            label: label.into(),
            field_type: field_type.into(),
            options: options.iter().map(|o| o.to_string()).collect(),
        };
        assert_eq!(
            fields,
            vec![field(7, "", "", &[]), field(8, "M", "Dropdown", &["b"])]
        );
    }

    #[test]
    fn reads_the_contact_models_custom_fields() {
        let body = r#"{"custom_fields":[
            {"id":7,"label":"Company","field_name":"company","field_type":"Text","options":[]},
            {"id":"8","label":"Interest","field_type":"Dropdown","options":[{"id":1,"label":"Sales"},{"id":2,"label":"Support"}]},
            {"label":"no id"}
        ],"optional_properties":[]}"#;
        let fields = read_model(&Ok(InResponse::new(200, body))).unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[1].id, 8);
        assert_eq!(fields[1].options, vec!["Sales", "Support"]);
        let json = serde_json::to_value(&fields[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id":7,"label":"Company","type":"Text","options":[]})
        );
        let p = MemoryPlatform::new();
        p.respond(|_| Ok(InResponse::new(200, "{}")));
        block_on(list_fields(&p, API, &creds())).unwrap();
        assert!(p.requests.borrow()[0].url.ends_with("/v1/contacts/model"));
    }
}
