//! The control API: faults, switches, reset, and the binary's first line.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use serde_json::{json, Value};

fn contact() -> Value {
    json!({
        "duplicate_option": "Email",
        "email_addresses": [{"email": "grace@example.com", "field": "EMAIL1"}]
    })
}

#[test]
fn faults_fire_n_times_then_stop() {
    let sandbox = Sandbox::start();
    sandbox.control(
        "faults",
        &json!({"route": "contacts_put", "status": 503, "count": 2}),
    );
    assert_eq!(sandbox.rest("PUT", "/v1/contacts", &contact()).status, 503);
    // Other routes are untouched.
    assert_eq!(
        sandbox
            .rest("POST", "/v1/contacts/1/tags", &json!({"tagIds": [101]}))
            .status,
        200
    );
    assert_eq!(sandbox.rest("PUT", "/v1/contacts", &contact()).status, 503);
    assert_eq!(sandbox.rest("PUT", "/v1/contacts", &contact()).status, 201);
    let state = sandbox.state();
    assert_eq!(state["counts"]["contacts_put"], 3);
    assert_eq!(state["contacts"].as_array().map(Vec::len), Some(1));
    assert_eq!(state["faults"]["pending"], json!([]));
    let statuses: Vec<_> = state["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        vec![json!(503), json!(200), json!(503), json!(201)]
    );
}

#[test]
fn throttled_answers_use_keaps_429_body() {
    let sandbox = Sandbox::start();
    sandbox.control("faults", &json!({"route": "rest", "status": 429}));
    let reply = sandbox.rest("PUT", "/v1/contacts", &contact());
    assert_eq!(reply.status, 429);
    assert_eq!(
        reply.json(),
        json!({"code": "429", "message": "Quota Exceeded", "status": "Request Throttled"})
    );
}

#[test]
fn token_faults_and_lost_answers() {
    let sandbox = Sandbox::start();
    let tokens = sandbox.connect();
    sandbox.control(
        "faults",
        &json!({"route": "token_refresh", "status": 500, "after": true}),
    );
    let lost = sandbox.refresh(str_of(&tokens, "refresh_token"));
    assert_eq!(lost.status, 500);
    // The refresh happened on the sandbox's side: the old token is dead.
    assert_eq!(
        sandbox.refresh(str_of(&tokens, "refresh_token")).status,
        400
    );

    sandbox.control("faults", &json!({"route": "token", "status": 503}));
    let code = sandbox.authorize("s");
    assert_eq!(sandbox.exchange(&code).status, 503);
    // A fault before the call leaves the code unspent.
    assert_eq!(sandbox.exchange(&code).status, 200);
}

#[test]
fn random_faults_repeat_for_the_same_seed() {
    let run = || {
        let sandbox = Sandbox::start();
        sandbox.control(
            "faults",
            &json!({"fail_rate": 0.5, "seed": 7, "statuses": [500, 429]}),
        );
        (0..20)
            .map(|_| sandbox.rest("PUT", "/v1/contacts", &contact()).status)
            .collect::<Vec<_>>()
    };
    let first = run();
    assert_eq!(first, run());
    assert!(first.iter().any(|s| *s == 500 || *s == 429), "{first:?}");
    assert!(first.iter().any(|s| *s == 201 || *s == 200), "{first:?}");
}

#[test]
fn reject_contacts_switch_answers_a_permanent_status_until_off() {
    let sandbox = Sandbox::start();
    sandbox.control("config", &json!({"reject_contacts_with_status": 400}));
    for _ in 0..3 {
        let reply = sandbox.rest("PUT", "/v1/contacts", &contact());
        assert_eq!(reply.status, 400);
        assert!(reply.json()["message"].is_string());
    }
    sandbox.control("config", &json!({"reject_contacts_with_status": null}));
    assert_eq!(sandbox.rest("PUT", "/v1/contacts", &contact()).status, 201);
}

#[test]
fn control_api_refuses_unknown_keys_and_bad_values() {
    let sandbox = Sandbox::start();
    for (path, body) in [
        ("faults", json!({"route": "contacts", "status": 500})),
        ("faults", json!({"route": "rest", "status": 302})),
        ("faults", json!({"rout": "rest", "status": 500})),
        ("config", json!({"refresh_error": "nope"})),
        ("config", json!({"expires": 5})),
    ] {
        let reply = sandbox.send_json("POST", &format!("/_sandbox/{path}"), &[], &body);
        assert_eq!(reply.status, 400, "{path} {body}");
    }
    let not_json = sandbox.send(
        "POST",
        "/_sandbox/faults",
        &[],
        Some(("application/json", b"{")),
    );
    assert_eq!(not_json.status, 400);
    assert_eq!(sandbox.get("/_sandbox/nothing", &[]).status, 404);
    assert_eq!(sandbox.get("/_sandbox/reset", &[]).status, 405);
    // The control API is not logged or counted.
    assert_eq!(sandbox.state()["requests"], json!([]));
}

#[test]
fn delay_and_clear_are_accepted_and_reset_forgets_everything() {
    let sandbox = Sandbox::start();
    sandbox.connect();
    sandbox.rest("PUT", "/v1/contacts", &contact());
    sandbox.rest("POST", "/v1/tags", &json!({"name": "Extra"}));
    sandbox.control(
        "faults",
        &json!({"delay_ms": 1, "route": "rest", "status": 500, "count": 5}),
    );
    assert_eq!(sandbox.state()["faults"]["delay_ms"], 1);
    sandbox.control("faults", &json!({"clear": true}));
    assert_eq!(sandbox.rest("PUT", "/v1/contacts", &contact()).status, 200);
    let page = sandbox.get("/_sandbox/", &[]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("grace@example.com"));
    sandbox.control("reset", &json!({}));
    let state = sandbox.state();
    assert_eq!(state["contacts"], json!([]));
    assert_eq!(state["requests"], json!([]));
    assert_eq!(state["counts"], json!({}));
    assert_eq!(state["tags"].as_array().map(Vec::len), Some(3));
    assert_eq!(state["tokens"]["access"], json!([]));
}

#[test]
fn binary_prints_the_listening_line_first() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keap-sandbox"))
        .args(["--port", "0", "--tags", "5:Only"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    let read = BufReader::new(stdout).read_line(&mut line);
    let port = line
        .trim_end()
        .strip_prefix("listening on http://127.0.0.1:")
        .and_then(|p| p.parse::<u16>().ok());
    let tags = port.map(|port| {
        ureq::get(&format!("http://127.0.0.1:{port}/crm/rest/v1/tags"))
            .set("X-Keap-API-Key", API_KEY)
            .call()
            .ok()
            .and_then(|r| r.into_json::<Value>().ok())
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(read.is_ok());
    assert!(port.is_some_and(|p| p > 0), "first line was {line:?}");
    assert_eq!(tags.flatten().map(|t| t["count"].clone()), Some(json!(1)));
}

#[test]
fn binary_refuses_a_non_loopback_host() {
    let status = Command::new(env!("CARGO_BIN_EXE_keap-sandbox"))
        .args(["--host", "0.0.0.0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("the binary runs");
    assert!(!status.success());
}
