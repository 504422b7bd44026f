//! Keap REST v1 under `/crm/rest`: the gateway's authentication, then the
//! calls the worker makes (contact upsert, tag application, notes) and the
//! ones an operator uses to look around (tags, the contact model,
//! userinfo).
//!
//! Unknown contact on tag application: the spec lists no 404 for
//! `POST /v1/contacts/{id}/tags`, only a 200 with a result per tag, so the
//! sandbox answers 200 with `CONTACT_NOT_FOUND` for every tag. Unknown
//! contact on `POST /v1/notes`: the spec lists no 4xx but 401 and 403 for
//! it; the sandbox answers 400 `{"message": ...}`, as for any other body
//! Keap refuses (a permanent refusal either way).
//!
//! Paging (`GET /v1/tags`): `count` is the total that match, and `next`
//! and `previous` are always present, as Keap's v1 list answers have them
//! (`next` points past the end on the last page): a client stops when
//! `offset` + the page's length reaches `count`, or on an empty page, not
//! when `next` is missing.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::contacts::{DuplicateOption, NoteRefusal, Upserted};
use crate::http::{Request, Response};
use crate::notes::NoteRequest;
use crate::route::{contact_tags_id, tag_id, Route};
use crate::schema::{Operation, Schemas};
use crate::state::State;
use crate::tokens::AccessCheck;

/// At most this many tag ids in one `POST /v1/contacts/{id}/tags`.
pub const MAX_TAG_IDS: usize = 100;

/// The gateway's 401 body.
pub fn auth_fault(expired: bool) -> Response {
    let (faultstring, errorcode) = if expired {
        (
            "Access Token Expired",
            "keymanagement.service.access_token_expired",
        )
    } else {
        (
            "Invalid Access Token",
            "keymanagement.service.invalid_access_token",
        )
    };
    Response::json(
        401,
        &json!({"fault": {"faultstring": faultstring, "detail": {"errorcode": errorcode}}}),
    )
}

/// Accepts `X-Keap-API-Key: <key>`, or `Authorization: Bearer <token>` with
/// a live access token or an API key.
fn authenticate(
    config: &Config,
    state: &State,
    request: &Request,
    now: u64,
) -> Result<(), Response> {
    if let Some(key) = request.header("x-keap-api-key") {
        return if config.api_keys.iter().any(|k| k == key.trim()) {
            Ok(())
        } else {
            Err(auth_fault(false))
        };
    }
    let bearer = request.header("authorization").and_then(|value| {
        let (scheme, token) = value.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned())
    });
    let Some(token) = bearer else {
        return Err(auth_fault(false));
    };
    if config.api_keys.contains(&token) {
        return Ok(());
    }
    match state.tokens.check_access(&token, now) {
        AccessCheck::Valid => Ok(()),
        AccessCheck::Expired => Err(auth_fault(true)),
        AccessCheck::Unknown => Err(auth_fault(false)),
    }
}

/// Serves a REST route (after faults were considered).
pub fn handle(
    config: &Config,
    schemas: &Schemas,
    state: &mut State,
    route: Route,
    request: &Request,
    now: u64,
) -> Response {
    if let Err(refused) = authenticate(config, state, request, now) {
        return refused;
    }
    match route {
        Route::ContactsPut => contacts_put(schemas, state, request, now),
        Route::TagsPost => tags_post(schemas, state, request),
        Route::TagsList => tags_list(state, request),
        Route::TagCreate => tag_create(schemas, state, request),
        Route::TagGet => tag_get(state, request),
        Route::ContactModel => Response::json(200, &state.crm.fields.model_json()),
        Route::NotesPost => notes_post(schemas, state, request, now),
        Route::Userinfo => userinfo(config),
        _ => Response::message(404, "No such resource in the Keap sandbox"),
    }
}

/// Reads a JSON body the way Keap's Spring controllers do.
fn json_body(request: &Request) -> Result<Value, Response> {
    match request.media_type().as_deref() {
        Some("application/json") => {}
        Some(other) => {
            return Err(Response::message(
                415,
                &format!("Content type '{other}' not supported"),
            ))
        }
        None => return Err(Response::message(415, "Content type missing")),
    }
    serde_json::from_slice(&request.body)
        .map_err(|_| Response::message(400, "Input could not be converted to a valid request"))
}

fn validated(schemas: &Schemas, op: Operation, request: &Request) -> Result<Value, Response> {
    let body = json_body(request)?;
    schemas
        .validate(op, &body)
        .map_err(|violation| Response::message(400, &format!("Invalid request: {violation}")))?;
    Ok(body)
}

/// A plausible email: one `@`, something before it, a dotted domain.
fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(char::is_whitespace)
}

/// Keap's rules beyond the schema for a contact upsert.
fn check_contact(body: &Map<String, Value>) -> Result<DuplicateOption, String> {
    let option = body
        .get("duplicate_option")
        .and_then(Value::as_str)
        .and_then(DuplicateOption::parse)
        .ok_or_else(|| "duplicate_option is required: Email or EmailAndName".to_owned())?;
    let list = |name: &str| {
        body.get(name)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let emails = list("email_addresses");
    for (index, entry) in emails.iter().enumerate() {
        let email = entry
            .get("email")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !looks_like_email(email) {
            return Err(format!("Invalid email address at email_addresses[{index}]"));
        }
    }
    let has_phone = list("phone_numbers").iter().any(|p| {
        p.get("number")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.trim().is_empty())
    });
    if emails.is_empty() && !has_phone {
        return Err("A contact must have at least one email address or phone number".to_owned());
    }
    for (index, address) in list("addresses").iter().enumerate() {
        if address.get("region").is_some() && address.get("country_code").is_none() {
            return Err(format!(
                "addresses[{index}]: country_code is required when region is given"
            ));
        }
    }
    Ok(option)
}

fn contacts_put(schemas: &Schemas, state: &mut State, request: &Request, now: u64) -> Response {
    if let Some(status) = state.settings.reject_contacts_with_status {
        return Response::message(
            status,
            "Contact rejected (sandbox switch reject_contacts_with_status is on)",
        );
    }
    let body = match validated(schemas, Operation::ContactsPutRequest, request) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(object) = body.as_object() else {
        return Response::message(400, "Input could not be converted to a valid request");
    };
    let option = match check_contact(object) {
        Ok(option) => option,
        Err(problem) => return Response::message(400, &problem),
    };
    if let Some(id) = state.crm.unknown_custom_field(object) {
        return Response::message(400, &format!("Custom field with id {id} does not exist"));
    }
    let outcome = state.crm.upsert(object, option, now);
    let status = match outcome {
        Upserted::Created(_) => 201,
        Upserted::Updated(_) => 200,
    };
    match state.crm.contact_json(outcome.id()) {
        Some(contact) => Response::json(status, &contact),
        None => Response::message(500, "Contact vanished"),
    }
}

fn tags_post(schemas: &Schemas, state: &mut State, request: &Request) -> Response {
    let rest_path = request
        .path
        .trim_end_matches('/')
        .strip_prefix("/crm/rest")
        .unwrap_or_default();
    let Some(contact_id) = contact_tags_id(rest_path).and_then(|id| id.parse::<i64>().ok()) else {
        return Response::message(400, "contactId must be an integer");
    };
    let body = match validated(schemas, Operation::ContactTagsPostRequest, request) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(ids) = body.get("tagIds").and_then(Value::as_array) else {
        return Response::message(400, "tagIds is required");
    };
    if ids.len() > MAX_TAG_IDS {
        return Response::message(400, "At most 100 tag ids can be applied in one request");
    }
    let ids: Vec<i64> = ids.iter().filter_map(Value::as_i64).collect();
    let results = state.crm.apply_tags(contact_id, &ids);
    let answer: BTreeMap<String, &str> = results
        .iter()
        .map(|(id, result)| (id.to_string(), result.name()))
        .collect();
    Response::json(200, &json!(answer))
}

fn notes_post(schemas: &Schemas, state: &mut State, request: &Request, now: u64) -> Response {
    if let Some(status) = state.settings.reject_notes_with_status {
        return Response::message(
            status,
            "Note rejected (sandbox switch reject_notes_with_status is on)",
        );
    }
    let body = match validated(schemas, Operation::NotesPostRequest, request) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let note = match NoteRequest::parse(&body) {
        Ok(note) => note,
        Err(problem) => return Response::message(400, &problem),
    };
    let contact_id = note.contact_id;
    match state.crm.add_note(note, now) {
        Ok(note) => Response::json(201, &note.to_json()),
        Err(NoteRefusal::ContactNotFound) => {
            Response::message(400, &format!("Contact with ID {contact_id} not found"))
        }
    }
}

fn tag_get(state: &State, request: &Request) -> Response {
    let rest_path = request
        .path
        .trim_end_matches('/')
        .strip_prefix("/crm/rest")
        .unwrap_or_default();
    let Some(id) = tag_id(rest_path).and_then(|id| id.parse::<i64>().ok()) else {
        return Response::message(400, "id must be an integer");
    };
    match state.crm.tag(id) {
        Some(tag) => Response::json(200, &tag.to_json()),
        None => Response::message(404, &format!("Tag with ID {id} not found")),
    }
}

fn query_number(request: &Request, name: &str) -> Result<Option<i64>, Response> {
    match request.query_param(name) {
        None => Ok(None),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| {
                Response::message(400, &format!("{name} must be a non-negative integer"))
            }),
    }
}

fn tags_list(state: &State, request: &Request) -> Response {
    let numbers = ["limit", "offset", "category"].map(|name| query_number(request, name));
    let [limit, offset, category] = match numbers {
        [Ok(limit), Ok(offset), Ok(category)] => [limit, offset, category],
        [Err(refused), ..] | [_, Err(refused), _] | [.., Err(refused)] => return refused,
    };
    let limit = usize::try_from(limit.filter(|l| *l > 0).unwrap_or(1000).min(1000)).unwrap_or(1000);
    let offset = usize::try_from(offset.unwrap_or(0)).unwrap_or(usize::MAX);
    let name = request.query_param("name");
    let matching = state.crm.tags_matching(name.as_deref(), category);
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|t| t.to_json())
        .collect();
    let base = format!(
        "http://{}/crm/rest/v1/tags",
        request.host.as_deref().unwrap_or("127.0.0.1")
    );
    let link = |offset: usize| {
        let mut url = format!("{base}?limit={limit}&offset={offset}");
        if let Some(name) = &name {
            url.push_str("&name=");
            url.push_str(
                &url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>(),
            );
        }
        if let Some(category) = category {
            url.push_str(&format!("&category={category}"));
        }
        url
    };
    Response::json(
        200,
        &json!({
            "tags": page,
            "count": matching.len(),
            "next": link(offset.saturating_add(limit)),
            "previous": link(offset.saturating_sub(limit)),
        }),
    )
}

fn tag_create(schemas: &Schemas, state: &mut State, request: &Request) -> Response {
    let body = match validated(schemas, Operation::TagsPostRequest, request) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    if name.is_empty() {
        return Response::message(400, "name must not be blank");
    }
    let description = body
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let category = body
        .get("category")
        .and_then(|c| c.get("id"))
        .and_then(Value::as_i64);
    let tag = state.crm.create_tag(name.to_owned(), description, category);
    Response::json(201, &tag.to_json())
}

fn userinfo(config: &Config) -> Response {
    Response::json(
        200,
        &json!({
            "email": "owner@sandbox.example",
            "family_name": "Owner",
            "given_name": "Sandbox",
            "global_user_id": 1,
            "infusionsoft_id": config.tenant_domain(),
            "is_admin": true,
            "preferred_name": "Sandbox Owner",
            "sub": "1",
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn email_shape() {
        assert!(looks_like_email("a@b.co"));
        for bad in [
            "", "a", "@b.co", "a@b", "a@@b.co", "a b@c.d", "a@.b", "a@b.",
        ] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }

    #[test]
    fn contact_rules_beyond_the_schema() {
        let check = |v: Value| check_contact(v.as_object().unwrap());
        assert!(
            check(json!({"email_addresses": [{"email": "a@b.co", "field": "EMAIL1"}]})).is_err()
        );
        assert!(check(json!({"duplicate_option": "Email"})).is_err());
        assert!(check(json!({"duplicate_option": "Email", "phone_numbers": [{"number": " ", "field": "PHONE1"}]})).is_err());
        assert!(check(json!({"duplicate_option": "Email", "email_addresses": [{"email": "nope", "field": "EMAIL1"}]})).is_err());
        assert!(check(json!({"duplicate_option": "Email", "phone_numbers": [{"number": "5", "field": "PHONE1"}],
            "addresses": [{"field": "BILLING", "region": "CA"}]})).is_err());
        assert_eq!(
            check(
                json!({"duplicate_option": "EmailAndName", "phone_numbers": [{"number": "5", "field": "PHONE1"}]})
            ),
            Ok(DuplicateOption::EmailAndName)
        );
    }
}
