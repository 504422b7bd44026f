//! `POST /v1/notes` over HTTP: strict like the rest of REST v1, one note
//! per call on the contact's history, shown in the state and on the
//! dashboard, and failed on its own by the fault switches.

mod common;

use std::time::{Duration, Instant};

use common::*;
use keap_sandbox::{Operation, Schemas};
use serde_json::{json, Value};

fn schemas() -> Schemas {
    Schemas::from_spec_file(&keap_sandbox::Config::default().spec)
        .unwrap_or_else(|_| Schemas::builtin())
}

/// Creates a contact with this email; its id.
fn contact(sandbox: &Sandbox, email: &str) -> i64 {
    let reply = sandbox.rest(
        "PUT",
        "/v1/contacts",
        &json!({"duplicate_option": "Email", "email_addresses": [{"email": email, "field": "EMAIL1"}]}),
    );
    assert!(reply.status == 201 || reply.status == 200, "{}", reply.body);
    reply.json()["id"].as_i64().expect("an integer id")
}

fn note(contact_id: i64, body: &str) -> Value {
    json!({"contact_id": contact_id, "title": "Contact form", "body": body, "type": "Other"})
}

#[test]
fn a_note_is_created_on_its_contact_and_answers_the_spec_shape() {
    let sandbox = Sandbox::start();
    let id = contact(&sandbox, "ada@example.com");
    let reply = sandbox.rest("POST", "/v1/notes", &note(id, "Please call me\nafter 5"));
    assert_eq!(reply.status, 201, "{}", reply.body);
    let created = reply.json();
    assert_eq!(
        schemas().validate(Operation::NotesPostResponse, &created),
        Ok(())
    );
    assert!(created["id"].is_i64());
    assert_eq!(created["contact_id"], id);
    assert_eq!(created["title"], "Contact form");
    assert_eq!(created["body"], "Please call me\nafter 5");
    assert_eq!(created["type"], "Other");
    assert!(created["date_created"].is_string());

    let state = sandbox.state();
    assert_eq!(state["counts"]["notes_post"], 1);
    assert_eq!(state["notes"], json!([created.clone()]));
    assert_eq!(state["contacts"][0]["notes"], json!([created]));
    // The REST answer for the contact has no `notes` (not in FullContact).
    let again = contact(&sandbox, "ada@example.com");
    assert_eq!(again, id);
}

#[test]
fn notes_never_replace_each_other_and_stay_with_their_contact() {
    let sandbox = Sandbox::start();
    let ada = contact(&sandbox, "ada@example.com");
    let bob = contact(&sandbox, "bob@example.com");
    for (who, text) in [(ada, "first"), (bob, "bob's"), (ada, "second")] {
        assert_eq!(
            sandbox.rest("POST", "/v1/notes", &note(who, text)).status,
            201
        );
    }
    let state = sandbox.state();
    let bodies = |index: usize| -> Vec<Value> {
        state["contacts"][index]["notes"]
            .as_array()
            .expect("notes")
            .iter()
            .map(|n| n["body"].clone())
            .collect()
    };
    assert_eq!(bodies(0), vec![json!("first"), json!("second")]);
    assert_eq!(bodies(1), vec![json!("bob's")]);
    let ids: Vec<i64> = state["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["id"].as_i64())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let page = sandbox.get("/_sandbox/", &[]);
    assert!(page.body.contains("bob&#39;s"), "notes on the dashboard");
    assert!(page.body.contains("id=\"notes\""));
}

#[test]
fn strict_note_rules() {
    let sandbox = Sandbox::start();
    let id = contact(&sandbox, "ada@example.com");
    let mut extra = note(id, "x");
    extra["colour"] = json!("blue");
    let mut bad_type = note(id, "x");
    bad_type["type"] = json!("Meeting");
    let mut null_title = note(id, "x");
    null_title["title"] = Value::Null;
    let mut string_id = note(id, "x");
    string_id["contact_id"] = json!(id.to_string());
    for (body, mentions) in [
        (extra, "colour"),
        (bad_type, "type"),
        (null_title, "title"),
        (string_id, "contact_id"),
        (json!({"title": "t", "body": "b"}), "contact_id"),
        (json!({"contact_id": id}), "title or body"),
        (
            json!({"contact_id": id, "body": "b", "user_id": 99}),
            "User",
        ),
        (note(4242, "private words"), "Contact"),
    ] {
        let reply = sandbox.rest("POST", "/v1/notes", &body);
        assert_eq!(reply.status, 400, "{body} -> {}", reply.body);
        let message = reply.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.contains(mentions), "{body} -> {message}");
        assert!(
            !reply.body.contains("private words"),
            "the note is not echoed"
        );
    }
    let form = sandbox.send(
        "POST",
        "/crm/rest/v1/notes",
        &[("X-Keap-API-Key", API_KEY)],
        Some(("application/x-www-form-urlencoded", b"contact_id=1&body=x")),
    );
    assert_eq!(form.status, 415);
    assert_eq!(sandbox.state()["notes"], json!([]));
    // Every type of the spec's enum is taken.
    for kind in ["Appointment", "Call", "Email", "Fax", "Letter", "Other"] {
        let mut body = note(id, "x");
        body["type"] = json!(kind);
        assert_eq!(
            sandbox.rest("POST", "/v1/notes", &body).status,
            201,
            "{kind}"
        );
    }
    // A title alone is enough, and `type` may be left out.
    let title_only = sandbox.rest(
        "POST",
        "/v1/notes",
        &json!({"contact_id": id, "title": "t"}),
    );
    assert_eq!(title_only.status, 201, "{}", title_only.body);
}

#[test]
fn notes_need_a_valid_token_or_key() {
    let sandbox = Sandbox::start();
    let id = contact(&sandbox, "ada@example.com");
    let body = note(id, "x").to_string();
    let send = |headers: &[(&str, &str)]| {
        sandbox.send(
            "POST",
            "/crm/rest/v1/notes",
            headers,
            Some(("application/json", body.as_bytes())),
        )
    };
    assert_eq!(send(&[]).status, 401);
    let wrong = send(&[("Authorization", "Bearer not-a-token")]);
    assert_eq!(wrong.status, 401);
    assert!(wrong.json()["fault"]["faultstring"].is_string());
    assert_eq!(send(&[("X-Keap-API-Key", "KeapAK-wrong")]).status, 401);
    let tokens = sandbox.connect();
    let bearer = format!("Bearer {}", str_of(&tokens, "access_token"));
    assert_eq!(send(&[("Authorization", &bearer)]).status, 201);
    sandbox.control("expire-access-tokens", &json!({}));
    let expired = send(&[("Authorization", &bearer)]);
    assert_eq!(expired.status, 401);
    assert_eq!(
        expired.json()["fault"]["faultstring"],
        "Access Token Expired"
    );
    assert_eq!(sandbox.state()["notes"].as_array().map(Vec::len), Some(1));
}

#[test]
fn a_note_fault_fails_the_note_call_alone() {
    let sandbox = Sandbox::start();
    let id = contact(&sandbox, "ada@example.com");
    for status in [500, 503, 429, 400] {
        sandbox.control("faults", &json!({"route": "notes_post", "status": status}));
        // The other calls of a delivery are untouched.
        assert_eq!(
            sandbox
                .rest(
                    "POST",
                    &format!("/v1/contacts/{id}/tags"),
                    &json!({"tagIds": [101]})
                )
                .status,
            200
        );
        assert_eq!(contact(&sandbox, "ada@example.com"), id);
        let failed = sandbox.rest("POST", "/v1/notes", &note(id, "x"));
        assert_eq!(failed.status, status);
        if status == 429 {
            assert_eq!(failed.json()["message"], "Quota Exceeded");
        }
    }
    assert_eq!(
        sandbox.state()["notes"],
        json!([]),
        "failed before the call"
    );
    assert_eq!(
        sandbox.rest("POST", "/v1/notes", &note(id, "x")).status,
        201
    );

    // A lost answer: the note is written, the client sees a failure.
    sandbox.control(
        "faults",
        &json!({"route": "notes_post", "status": 502, "after": true}),
    );
    assert_eq!(
        sandbox.rest("POST", "/v1/notes", &note(id, "y")).status,
        502
    );
    assert_eq!(sandbox.state()["notes"].as_array().map(Vec::len), Some(2));
}

#[test]
fn a_permanent_note_refusal_lasts_until_switched_off() {
    let sandbox = Sandbox::start();
    let id = contact(&sandbox, "ada@example.com");
    sandbox.control("config", &json!({"reject_notes_with_status": 400}));
    for _ in 0..3 {
        let reply = sandbox.rest("POST", "/v1/notes", &note(id, "x"));
        assert_eq!(reply.status, 400);
        assert!(reply.json()["message"].is_string());
    }
    // Contacts are not affected by the notes switch.
    assert_eq!(contact(&sandbox, "bob@example.com"), id + 1);
    assert_eq!(sandbox.state()["settings"]["reject_notes_with_status"], 400);
    sandbox.control("config", &json!({"reject_notes_with_status": null}));
    assert_eq!(
        sandbox.rest("POST", "/v1/notes", &note(id, "x")).status,
        201
    );
}

#[test]
fn a_held_note_call_times_out_for_the_client_and_is_still_carried_out() {
    let sandbox = Sandbox::start();
    let id = contact(&sandbox, "ada@example.com");
    // Held far longer than the client waits, so the client's timeout is
    // what ends the call whatever the machine's load.
    sandbox.control("faults", &json!({"route": "notes_post", "hang_ms": 3000}));
    let impatient = ureq::AgentBuilder::new()
        .timeout(Duration::from_millis(200))
        .build();
    let result = impatient
        .post(&sandbox.url("/crm/rest/v1/notes"))
        .set("X-Keap-API-Key", API_KEY)
        .send_json(note(id, "held"));
    assert!(
        matches!(result, Err(ureq::Error::Transport(_))),
        "the client gave up: {result:?}"
    );
    // Keap did the work after all: the note shows up once the hold ends.
    let deadline = Instant::now() + Duration::from_secs(30);
    let notes = loop {
        let notes = sandbox.state()["notes"].clone();
        if notes.as_array().is_some_and(|n| !n.is_empty()) || Instant::now() > deadline {
            break notes;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(notes[0]["body"], "held");
    assert_eq!(sandbox.state()["faults"]["pending"], json!([]));
}
