//! REST v1 over HTTP: authentication, the strict contact upsert, tags, and
//! answers that validate against Keap's own response schemas.

mod common;

use common::*;
use keap_sandbox::{Operation, Schemas};
use serde_json::{json, Value};

/// The schemas of the real spec when it is beside the repository, else the
/// built-in extract (checked against the spec by `tests/schema.rs`).
fn schemas() -> Schemas {
    Schemas::from_spec_file(&keap_sandbox::Config::default().spec)
        .unwrap_or_else(|_| Schemas::builtin())
}

fn ada() -> Value {
    json!({
        "duplicate_option": "Email",
        "email_addresses": [{"email": "ada@example.com", "field": "EMAIL1"}],
        "given_name": "Ada",
        "phone_numbers": [{"number": "+1 555 0100", "field": "PHONE1"}],
        "custom_fields": [{"id": 7, "content": "blue"}],
        "source_type": "WEBFORM",
        "origin": {"ip_address": "203.0.113.9"},
        "opt_in_reason": "Signed up on example.com"
    })
}

#[test]
fn upsert_answers_201_then_200_and_keeps_unsent_fields() {
    let sandbox = Sandbox::start();
    let created = sandbox.rest("PUT", "/v1/contacts", &ada());
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_i64().expect("an integer id");

    let update = json!({
        "duplicate_option": "Email",
        "email_addresses": [{"email": "ADA@example.com", "field": "EMAIL1"}],
        "family_name": "Lovelace"
    });
    let updated = sandbox.rest("PUT", "/v1/contacts", &update);
    assert_eq!(updated.status, 200, "{}", updated.body);
    let contact = updated.json();
    assert_eq!(contact["id"], id);
    assert_eq!(contact["given_name"], "Ada");
    assert_eq!(contact["family_name"], "Lovelace");
    assert_eq!(contact["phone_numbers"][0]["number"], "+1 555 0100");
    assert_eq!(
        contact["custom_fields"],
        json!([{"id": 7, "content": "blue"}])
    );
    assert_eq!(contact["opt_in_reason"], "Signed up on example.com");
    assert_eq!(contact["source_type"], "WEBFORM");
    assert_eq!(contact["origin"]["ip_address"], "203.0.113.9");

    let state = sandbox.state();
    assert_eq!(state["contacts"].as_array().map(Vec::len), Some(1));
    assert_eq!(state["counts"]["contacts_put"], 2);
}

#[test]
fn contact_answer_validates_against_the_spec_response_schema() {
    let sandbox = Sandbox::start();
    let schemas = schemas();
    let created = sandbox.rest("PUT", "/v1/contacts", &ada());
    assert_eq!(
        schemas.validate(Operation::ContactsPutResponse, &created.json()),
        Ok(())
    );
    let id = created.json()["id"].as_i64().unwrap();
    sandbox.rest(
        "POST",
        &format!("/v1/contacts/{id}/tags"),
        &json!({"tagIds": [101]}),
    );
    let updated = sandbox.rest("PUT", "/v1/contacts", &ada());
    assert_eq!(updated.json()["tag_ids"], json!([101]));
    assert_eq!(
        schemas.validate(Operation::ContactsPutResponse, &updated.json()),
        Ok(())
    );
    let tags = sandbox.get("/crm/rest/v1/tags", &[("X-Keap-API-Key", API_KEY)]);
    assert_eq!(
        schemas.validate(Operation::TagsGetResponse, &tags.json()),
        Ok(())
    );
    let userinfo = sandbox.get(
        "/crm/rest/v1/oauth/connect/userinfo",
        &[("X-Keap-API-Key", API_KEY)],
    );
    assert_eq!(
        schemas.validate(Operation::UserinfoResponse, &userinfo.json()),
        Ok(())
    );
}

#[test]
fn a_body_with_an_unknown_property_is_refused() {
    let sandbox = Sandbox::start();
    let mut body = ada();
    body["company_name"] = json!("Acme");
    let refused = sandbox.rest("PUT", "/v1/contacts", &body);
    assert_eq!(refused.status, 400);
    let message = refused.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("company_name"), "{message}");
    assert!(sandbox.state()["contacts"].as_array().unwrap().is_empty());
}

#[test]
fn strict_contact_rules() {
    let sandbox = Sandbox::start();
    let mut cases = Vec::new();
    let mut wrong_type = ada();
    wrong_type["given_name"] = json!(42);
    cases.push(wrong_type);
    let mut bad_option = ada();
    bad_option["duplicate_option"] = json!("Name");
    cases.push(bad_option);
    let mut no_option = ada();
    no_option
        .as_object_mut()
        .unwrap()
        .remove("duplicate_option");
    cases.push(no_option);
    cases.push(json!({"duplicate_option": "Email", "given_name": "Nobody"}));
    let mut bad_email = ada();
    bad_email["email_addresses"] = json!([{"email": "not-an-email", "field": "EMAIL1"}]);
    cases.push(bad_email);
    let mut null_field = ada();
    null_field["family_name"] = Value::Null;
    cases.push(null_field);
    for body in cases {
        let reply = sandbox.rest("PUT", "/v1/contacts", &body);
        assert_eq!(reply.status, 400, "{body} -> {}", reply.body);
        assert!(reply.json()["message"].is_string());
        assert!(
            !reply.body.contains("example.com"),
            "no personal data echoed"
        );
    }
    let not_json = sandbox.send(
        "PUT",
        "/crm/rest/v1/contacts",
        &[("X-Keap-API-Key", API_KEY)],
        Some(("application/x-www-form-urlencoded", b"email=a@b.co")),
    );
    assert_eq!(not_json.status, 415);
    let garbage = sandbox.send(
        "PUT",
        "/crm/rest/v1/contacts",
        &[("X-Keap-API-Key", API_KEY)],
        Some(("application/json", b"{\"duplicate_option\":")),
    );
    assert_eq!(garbage.status, 400);
    assert!(sandbox.state()["contacts"].as_array().unwrap().is_empty());
}

#[test]
fn email_and_name_matches_on_names_too() {
    let sandbox = Sandbox::start();
    let mut body = ada();
    body["duplicate_option"] = json!("EmailAndName");
    assert_eq!(sandbox.rest("PUT", "/v1/contacts", &body).status, 201);
    body["given_name"] = json!("Grace");
    assert_eq!(sandbox.rest("PUT", "/v1/contacts", &body).status, 201);
    body["given_name"] = json!("ada");
    assert_eq!(sandbox.rest("PUT", "/v1/contacts", &body).status, 200);
}

#[test]
fn tags_answer_per_tag_with_duplicate_and_not_found() {
    let sandbox = Sandbox::start();
    let id = sandbox.rest("PUT", "/v1/contacts", &ada()).json()["id"]
        .as_i64()
        .unwrap();
    let path = format!("/v1/contacts/{id}/tags");
    let first = sandbox.rest("POST", &path, &json!({"tagIds": [101, 102, 999]}));
    assert_eq!(first.status, 200);
    assert_eq!(
        first.json(),
        json!({"101": "SUCCESS", "102": "SUCCESS", "999": "TAG_ID_NOT_FOUND"})
    );
    let second = sandbox.rest("POST", &path, &json!({"tagIds": [101, 103]}));
    assert_eq!(second.json(), json!({"101": "DUPLICATE", "103": "SUCCESS"}));
    let state = sandbox.state();
    assert_eq!(state["contacts"][0]["tag_ids"], json!([101, 102, 103]));
    assert_eq!(state["counts"]["tags_post"], 2);

    let nobody = sandbox.rest("POST", "/v1/contacts/4242/tags", &json!({"tagIds": [101]}));
    assert_eq!(nobody.status, 200);
    assert_eq!(nobody.json(), json!({"101": "CONTACT_NOT_FOUND"}));

    let too_many: Vec<i64> = (1..=101).collect();
    assert_eq!(
        sandbox
            .rest("POST", &path, &json!({ "tagIds": too_many }))
            .status,
        400
    );
    assert_eq!(
        sandbox
            .rest("POST", &path, &json!({"tagIds": ["101"]}))
            .status,
        400
    );
    assert_eq!(
        sandbox
            .rest("POST", &path, &json!({"tag_ids": [101]}))
            .status,
        400
    );
    assert_eq!(
        sandbox
            .rest("POST", "/v1/contacts/abc/tags", &json!({"tagIds": [101]}))
            .status,
        400
    );
}

#[test]
fn tags_can_be_listed_filtered_and_created() {
    let sandbox = Sandbox::start();
    let all = sandbox
        .get("/crm/rest/v1/tags", &[("X-Keap-API-Key", API_KEY)])
        .json();
    assert_eq!(all["count"], 3);
    assert_eq!(all["tags"][0], json!({"id": 101, "name": "Lead"}));
    let by_name = sandbox
        .get(
            "/crm/rest/v1/tags?name=Website",
            &[("X-Keap-API-Key", API_KEY)],
        )
        .json();
    assert_eq!(by_name["tags"], json!([{"id": 102, "name": "Website"}]));
    let page = sandbox
        .get(
            "/crm/rest/v1/tags?limit=1&offset=2",
            &[("X-Keap-API-Key", API_KEY)],
        )
        .json();
    assert_eq!(page["tags"], json!([{"id": 103, "name": "Newsletter"}]));
    assert_eq!(
        sandbox
            .get("/crm/rest/v1/tags?limit=x", &[("X-Keap-API-Key", API_KEY)])
            .status,
        400
    );
    let created = sandbox.rest(
        "POST",
        "/v1/tags",
        &json!({"name": "VIP", "description": "big"}),
    );
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["id"], 104);
    assert_eq!(
        schemas().validate(Operation::TagsPostResponse, &created.json()),
        Ok(())
    );
    assert_eq!(
        sandbox
            .rest("POST", "/v1/tags", &json!({"description": "no name"}))
            .status,
        400
    );
}

#[test]
fn api_keys_work_in_either_header_and_wrong_ones_do_not() {
    let sandbox = Sandbox::start();
    let path = "/crm/rest/v1/oauth/connect/userinfo";
    assert_eq!(
        sandbox.get(path, &[("X-Keap-API-Key", API_KEY)]).status,
        200
    );
    assert_eq!(
        sandbox
            .get(path, &[("Authorization", &format!("Bearer {API_KEY}"))])
            .status,
        200
    );
    let wrong = sandbox.get(path, &[("X-Keap-API-Key", "KeapAK-wrong")]);
    assert_eq!(wrong.status, 401);
    assert!(wrong.json()["fault"]["faultstring"].is_string());
    let info = sandbox.get(path, &[("X-Keap-API-Key", API_KEY)]).json();
    assert_eq!(info["infusionsoft_id"], "xy123.infusionsoft.com");
}

#[test]
fn rest_answers_carry_quota_headers() {
    let sandbox = Sandbox::start();
    let reply = sandbox.rest("PUT", "/v1/contacts", &ada());
    let available: u64 = reply
        .header("x-keap-product-quota-available")
        .and_then(|v| v.parse().ok())
        .expect("quota header");
    let again = sandbox.rest("PUT", "/v1/contacts", &ada());
    let after: u64 = again
        .header("x-keap-product-quota-available")
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert_eq!(after + 1, available);
    assert!(again.header("x-keap-product-throttle-available").is_some());
    assert_eq!(again.header("x-keap-tenant-id"), Some("xy123"));
}

#[test]
fn unknown_rest_paths_are_404_after_authentication() {
    let sandbox = Sandbox::start();
    assert_eq!(
        sandbox.get("/crm/rest/v1/contacts/1/emails", &[]).status,
        401
    );
    let reply = sandbox.get(
        "/crm/rest/v1/contacts/1/emails",
        &[("X-Keap-API-Key", API_KEY)],
    );
    assert_eq!(reply.status, 404);
    assert_eq!(sandbox.get("/nowhere", &[]).status, 404);
}

#[test]
fn concurrent_upserts_of_one_email_make_one_contact() {
    let sandbox = Sandbox::start();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| sandbox.rest("PUT", "/v1/contacts", &ada()).status))
            .collect();
        workers.into_iter().filter_map(|w| w.join().ok()).collect()
    });
    assert_eq!(statuses.len(), 8);
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 7);
    assert_eq!(
        sandbox.state()["contacts"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn job_title_website_and_addresses_are_stored_and_answered() {
    let sandbox = Sandbox::start();
    let mut body = ada();
    body["job_title"] = json!("Analyst");
    body["website"] = json!("https://ada.example.org");
    body["addresses"] = json!([{
        "field": "BILLING", "line1": "1 Main St", "line2": "Flat 2", "locality": "Springfield",
        "region": "IL", "postal_code": "62701", "zip_code": "62701", "zip_four": "1234",
        "country_code": "USA"
    }]);
    let created = sandbox.rest("PUT", "/v1/contacts", &body);
    assert_eq!(created.status, 201, "{}", created.body);
    let contact = created.json();
    assert_eq!(contact["job_title"], "Analyst");
    assert_eq!(contact["website"], "https://ada.example.org");
    assert_eq!(contact["addresses"], body["addresses"]);
    assert_eq!(
        schemas().validate(Operation::ContactsPutResponse, &contact),
        Ok(())
    );
    assert_eq!(
        schemas().validate(Operation::ContactsPutRequest, &body),
        Ok(()),
        "the request itself is what the spec allows"
    );
}

#[test]
fn a_returning_contacts_list_entries_merge_by_field() {
    let sandbox = Sandbox::start();
    let first = json!({
        "duplicate_option": "Email",
        "email_addresses": [
            {"email": "ada@example.com", "field": "EMAIL1"},
            {"email": "ada@work.example", "field": "EMAIL2"}
        ],
        "phone_numbers": [
            {"number": "111", "field": "PHONE1"},
            {"number": "222", "field": "PHONE2"}
        ],
        "addresses": [
            {"field": "BILLING", "line1": "1 Old Rd", "locality": "Leeds", "country_code": "GBR"},
            {"field": "SHIPPING", "line1": "9 Dock St", "country_code": "GBR"}
        ],
        "job_title": "Analyst"
    });
    assert_eq!(sandbox.rest("PUT", "/v1/contacts", &first).status, 201);
    let again = json!({
        "duplicate_option": "Email",
        "email_addresses": [{"email": "ada@example.com", "field": "EMAIL1"}],
        "phone_numbers": [{"number": "333", "field": "PHONE1"}],
        "addresses": [{"field": "BILLING", "line1": "2 New Rd", "region": "ENG", "country_code": "GBR"}]
    });
    let reply = sandbox.rest("PUT", "/v1/contacts", &again);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let contact = reply.json();
    // The slots sent are replaced whole; the others are kept.
    assert_eq!(contact["email_addresses"], first["email_addresses"]);
    assert_eq!(
        contact["phone_numbers"],
        json!([{"number": "333", "field": "PHONE1"}, {"number": "222", "field": "PHONE2"}])
    );
    assert_eq!(
        contact["addresses"],
        json!([
            {"field": "BILLING", "line1": "2 New Rd", "region": "ENG", "country_code": "GBR"},
            {"field": "SHIPPING", "line1": "9 Dock St", "country_code": "GBR"}
        ])
    );
    assert_eq!(contact["job_title"], "Analyst", "unsent fields stay");
    // The second email still finds the contact.
    let by_work = json!({
        "duplicate_option": "Email",
        "email_addresses": [{"email": "ADA@work.example", "field": "EMAIL2"}]
    });
    assert_eq!(sandbox.rest("PUT", "/v1/contacts", &by_work).status, 200);
    assert_eq!(
        sandbox.state()["contacts"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn an_address_with_a_region_needs_a_country_code() {
    let sandbox = Sandbox::start();
    let mut body = ada();
    body["addresses"] = json!([{"field": "BILLING", "line1": "1 Main St", "region": "IL"}]);
    let refused = sandbox.rest("PUT", "/v1/contacts", &body);
    assert_eq!(refused.status, 400);
    let message = refused.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("country_code"), "{message}");
    assert!(!refused.body.contains("Main St"), "no personal data echoed");
    body["addresses"] = json!([{"field": "HOME", "line1": "1 Main St"}]);
    assert_eq!(sandbox.rest("PUT", "/v1/contacts", &body).status, 400);
    body["addresses"] = json!([{"line1": "1 Main St"}]);
    assert_eq!(sandbox.rest("PUT", "/v1/contacts", &body).status, 400);
    assert!(sandbox.state()["contacts"].as_array().unwrap().is_empty());
    body["addresses"] = json!([{"field": "BILLING", "line1": "1 Main St", "country_code": "USA"}]);
    assert_eq!(sandbox.rest("PUT", "/v1/contacts", &body).status, 201);
}

#[test]
fn an_upsert_naming_a_custom_field_that_does_not_exist_is_refused() {
    let sandbox = Sandbox::start();
    let mut body = ada();
    body["custom_fields"] = json!([{"id": 7, "content": "Acme"}, {"id": 4040, "content": "x"}]);
    let refused = sandbox.rest("PUT", "/v1/contacts", &body);
    assert_eq!(refused.status, 400);
    assert!(refused.json()["message"]
        .as_str()
        .is_some_and(|m| m.contains("4040")));
    assert!(sandbox.state()["contacts"].as_array().unwrap().is_empty());
}
