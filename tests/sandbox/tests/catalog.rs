//! What an owner's setup assistant reads from Keap: the tags (paged) and
//! the contact model's custom fields, and the control API that changes
//! them under a configured form.

mod common;

use std::collections::BTreeSet;

use common::*;
use keap_sandbox::{Operation, Schemas};
use serde_json::{json, Value};

fn schemas() -> Schemas {
    Schemas::from_spec_file(&keap_sandbox::Config::default().spec)
        .unwrap_or_else(|_| Schemas::builtin())
}

fn key() -> [(&'static str, &'static str); 1] {
    [("X-Keap-API-Key", API_KEY)]
}

/// The path and query of an absolute `next` link.
fn path_of(link: &Value) -> String {
    let url = url::Url::parse(link.as_str().expect("a link")).expect("an absolute URL");
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}

#[test]
fn tags_page_by_limit_and_offset_with_the_total_count() {
    let sandbox = Sandbox::start();
    for name in ["Alpha", "Beta", "Gamma", "Delta", "Epsilon"] {
        sandbox.control("tags", &json!({"name": name}));
    }
    let mut seen = Vec::new();
    let mut path = "/crm/rest/v1/tags?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let reply = sandbox.get(&path, &key());
        assert_eq!(reply.status, 200, "{}", reply.body);
        let page = reply.json();
        assert_eq!(
            schemas().validate(Operation::TagsGetResponse, &page),
            Ok(())
        );
        assert_eq!(page["count"], 8, "count is the total, on every page");
        let tags = page["tags"].as_array().expect("tags").clone();
        assert!(tags.len() <= 3);
        seen.extend(tags.iter().map(|t| t["id"].as_i64().expect("an id")));
        pages += 1;
        assert!(pages <= 4, "paging ends");
        if tags.is_empty() || seen.len() >= 8 {
            // Keap's `next` is there even on the last page, pointing past it.
            let past = sandbox.get(&path_of(&page["next"]), &key()).json();
            assert_eq!(past["tags"], json!([]));
            assert_eq!(past["count"], 8);
            break;
        }
        path = path_of(&page["next"]);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, vec![101, 102, 103, 104, 105, 106, 107, 108]);
    let second = sandbox
        .get("/crm/rest/v1/tags?limit=3&offset=3", &key())
        .json();
    assert_eq!(
        path_of(&second["previous"]),
        "/crm/rest/v1/tags?limit=3&offset=0"
    );
    assert_eq!(
        path_of(&second["next"]),
        "/crm/rest/v1/tags?limit=3&offset=6"
    );
}

#[test]
fn tag_limit_is_capped_at_1000_and_filters_keep_in_the_links() {
    let sandbox = Sandbox::start();
    let all = sandbox.get("/crm/rest/v1/tags?limit=5000", &key()).json();
    assert!(path_of(&all["next"]).contains("limit=1000"));
    let default = sandbox.get("/crm/rest/v1/tags", &key()).json();
    assert!(path_of(&default["next"]).contains("limit=1000&offset=1000"));
    sandbox.control(
        "tags",
        &json!({"id": 500, "name": "Web lead", "category": {"id": 9, "name": "Sources"}}),
    );
    sandbox.control("tags", &json!({"name": "Fair lead", "category": {"id": 9}}));
    let by_category = sandbox.get("/crm/rest/v1/tags?category=9", &key()).json();
    assert_eq!(
        by_category["tags"],
        json!([
            {"id": 500, "name": "Web lead", "category": {"id": 9, "name": "Sources"}},
            {"id": 501, "name": "Fair lead", "category": {"id": 9, "name": "Sources"}}
        ])
    );
    assert!(path_of(&by_category["next"]).contains("category=9"));
    let by_name = sandbox
        .get("/crm/rest/v1/tags?name=web%20LEAD", &key())
        .json();
    assert_eq!(by_name["count"], 1);
    assert!(path_of(&by_name["next"]).contains("name=web+LEAD"));
    assert_eq!(
        sandbox.get("/crm/rest/v1/tags?offset=-1", &key()).status,
        400
    );
}

#[test]
fn one_tag_is_read_by_id_and_a_missing_one_is_404() {
    let sandbox = Sandbox::start();
    let reply = sandbox.get("/crm/rest/v1/tags/102", &key());
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"id": 102, "name": "Website"}));
    assert_eq!(
        schemas().validate(Operation::TagGetResponse, &reply.json()),
        Ok(())
    );
    let missing = sandbox.get("/crm/rest/v1/tags/999", &key());
    assert_eq!(missing.status, 404);
    assert!(missing.json()["message"].is_string());
    assert_eq!(sandbox.get("/crm/rest/v1/tags/abc", &key()).status, 400);
    assert_eq!(sandbox.get("/crm/rest/v1/tags/102", &[]).status, 401);
    let counts = sandbox.state()["counts"].clone();
    assert_eq!(counts["tag_get"], 4);
}

#[test]
fn the_contact_model_lists_custom_fields_per_the_spec() {
    let sandbox = Sandbox::start();
    let reply = sandbox.get("/crm/rest/v1/contacts/model", &key());
    assert_eq!(reply.status, 200, "{}", reply.body);
    let model = reply.json();
    assert_eq!(
        schemas().validate(Operation::ContactModelResponse, &model),
        Ok(())
    );
    let fields = model["custom_fields"].as_array().expect("custom_fields");
    let ids: Vec<i64> = fields.iter().filter_map(|f| f["id"].as_i64()).collect();
    assert_eq!(ids, vec![7, 8, 9]);
    assert_eq!(fields[0]["label"], "Company");
    assert_eq!(fields[0]["field_type"], "Text");
    assert_eq!(fields[1]["field_type"], "Dropdown");
    assert_eq!(
        fields[1]["options"],
        json!([{"id": "Sales", "label": "Sales"}, {"id": "Support", "label": "Support"},
               {"id": "Other", "label": "Other"}])
    );
    assert!(fields.iter().all(|f| f["field_name"].is_string()));
    assert!(model["optional_properties"]
        .as_array()
        .is_some_and(|p| p.contains(&json!("custom_fields")) && p.contains(&json!("job_title"))));
    assert_eq!(sandbox.get("/crm/rest/v1/contacts/model", &[]).status, 401);
    assert_eq!(sandbox.state()["counts"]["contact_model"], 2);
}

#[test]
fn a_deleted_tag_is_gone_from_the_list_its_contacts_and_tagging() {
    let sandbox = Sandbox::start();
    let contact = json!({"duplicate_option": "Email",
        "email_addresses": [{"email": "ada@example.com", "field": "EMAIL1"}]});
    let id = sandbox.rest("PUT", "/v1/contacts", &contact).json()["id"]
        .as_i64()
        .unwrap();
    let tags_path = format!("/v1/contacts/{id}/tags");
    sandbox.rest("POST", &tags_path, &json!({"tagIds": [101, 103]}));

    let deleted = sandbox.send("DELETE", "/_sandbox/tags/103", &[], None);
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.json(), json!({"deleted": 103}));
    assert_eq!(sandbox.get("/crm/rest/v1/tags/103", &key()).status, 404);
    let list = sandbox.get("/crm/rest/v1/tags", &key()).json();
    assert_eq!(list["count"], 2);
    let state = sandbox.state();
    assert_eq!(state["contacts"][0]["tag_ids"], json!([101]));
    let tagged = sandbox.rest("POST", &tags_path, &json!({"tagIds": [101, 103]}));
    assert_eq!(
        tagged.json(),
        json!({"101": "DUPLICATE", "103": "TAG_ID_NOT_FOUND"})
    );
    // Deleted ids are not handed out again.
    let created = sandbox.rest("POST", "/v1/tags", &json!({"name": "New"}));
    assert_eq!(created.json()["id"], 104);
    let added = sandbox.control("tags", &json!({"name": "Newer"}));
    assert_eq!(added.json()["id"], 105);
    // The POST form, for a client that only POSTs; a second delete is 404.
    assert_eq!(
        sandbox.control("tags/102/delete", &json!({})).json()["deleted"],
        102
    );
    assert_eq!(
        sandbox
            .send("DELETE", "/_sandbox/tags/102", &[], None)
            .status,
        404
    );
    assert_eq!(
        sandbox.send("DELETE", "/_sandbox/tags/x", &[], None).status,
        400
    );
    // Reset brings the seeded tags back.
    sandbox.control("reset", &json!({}));
    assert_eq!(sandbox.get("/crm/rest/v1/tags", &key()).json()["count"], 3);
}

#[test]
fn custom_fields_are_added_and_deleted_under_a_form() {
    let sandbox = Sandbox::start();
    let added = sandbox.control(
        "custom-fields",
        &json!({"label": "Plan", "field_type": "Radio", "options": ["Basic", {"id": "p", "label": "Pro"}]}),
    );
    let field = added.json();
    assert_eq!(field["id"], 10);
    assert_eq!(field["options"][1], json!({"id": "p", "label": "Pro"}));
    let model = sandbox.get("/crm/rest/v1/contacts/model", &key()).json();
    assert_eq!(
        schemas().validate(Operation::ContactModelResponse, &model),
        Ok(())
    );
    assert_eq!(model["custom_fields"][3], field);
    assert_eq!(sandbox.state()["custom_fields"][3], field);

    let contact = json!({"duplicate_option": "Email",
        "email_addresses": [{"email": "ada@example.com", "field": "EMAIL1"}],
        "custom_fields": [{"id": 10, "content": "Pro"}, {"id": 7, "content": "Acme"}]});
    assert_eq!(sandbox.rest("PUT", "/v1/contacts", &contact).status, 201);
    let deleted = sandbox.send("DELETE", "/_sandbox/custom-fields/10", &[], None);
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(
        sandbox.state()["contacts"][0]["custom_fields"],
        json!([{"id": 7, "content": "Acme"}])
    );
    let refused = sandbox.rest("PUT", "/v1/contacts", &contact);
    assert_eq!(refused.status, 400, "{}", refused.body);
    let ids: BTreeSet<i64> = sandbox.get("/crm/rest/v1/contacts/model", &key()).json()
        ["custom_fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_i64())
        .collect();
    assert_eq!(ids, BTreeSet::from([7, 8, 9]));
    assert_eq!(
        sandbox.control("custom-fields/7/delete", &json!({})).json()["deleted"],
        7
    );
    assert_eq!(
        sandbox
            .send("DELETE", "/_sandbox/custom-fields/7", &[], None)
            .status,
        404
    );
    let page = sandbox.get("/_sandbox/", &[]);
    assert!(page.body.contains("<td>Interest</td>"));
}

#[test]
fn the_control_api_refuses_bad_tags_and_fields() {
    let sandbox = Sandbox::start();
    for (path, body) in [
        ("tags", json!({"id": 101, "name": "Again"})),
        ("tags", json!({"name": ""})),
        ("tags", json!({"description": "no name"})),
        ("tags", json!({"name": "X", "colour": "red"})),
        ("tags", json!({"name": "X", "category": {"name": "no id"}})),
        ("tags", json!({"id": -3, "name": "X"})),
        ("custom-fields", json!({"id": 7, "label": "Again"})),
        ("custom-fields", json!({"label": "X", "field_type": "Blob"})),
        ("custom-fields", json!({"field_type": "Text"})),
        ("custom-fields", json!({"label": "X", "options": "a,b"})),
    ] {
        let reply = sandbox.send_json("POST", &format!("/_sandbox/{path}"), &[], &body);
        assert_eq!(reply.status, 400, "{path} {body}: {}", reply.body);
        assert!(reply.json()["error"].is_string());
    }
    assert_eq!(sandbox.get("/_sandbox/tags", &[]).status, 405);
    assert_eq!(sandbox.state()["tags"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        sandbox.state()["custom_fields"].as_array().map(Vec::len),
        Some(3)
    );
}
