//! Shared helpers for the sandbox's HTTP tests: an in-process sandbox on a
//! free port and a tiny client that returns every status as a value.

#![allow(dead_code)]

use base64::Engine as _;
use keap_sandbox::{Config, Handle};
use serde_json::Value;

pub const CLIENT_ID: &str = "sandbox-client";
pub const CLIENT_SECRET: &str = "sandbox-secret";
pub const API_KEY: &str = "KeapAK-sandbox";
pub const REDIRECT_URI: &str = "http://127.0.0.1:8787/oauth/callback";

/// An answer: status, headers (lower-case names) and body text.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The query parameters of the `Location` header.
    pub fn location_params(&self) -> Vec<(String, String)> {
        let location = self.header("location").expect("a Location header");
        url::Url::parse(location)
            .expect("an absolute Location")
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    pub fn location_param(&self, name: &str) -> Option<String> {
        self.location_params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

pub struct Sandbox {
    pub handle: Handle,
    agent: ureq::Agent,
}

pub fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

impl Sandbox {
    pub fn start() -> Sandbox {
        Sandbox::with(Config::default())
    }

    pub fn with(config: Config) -> Sandbox {
        let handle = keap_sandbox::start(config).expect("sandbox starts");
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        Sandbox { handle, agent }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.url())
    }

    /// Sends a request; `body` is (content type, bytes).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Reply {
        let mut request = self.agent.request(method, &self.url(path));
        for (name, value) in headers {
            request = request.set(name, value);
        }
        let result = match body {
            Some((content_type, bytes)) => {
                request.set("Content-Type", content_type).send_bytes(bytes)
            }
            None => request.call(),
        };
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let headers = response
            .headers_names()
            .into_iter()
            .filter_map(|name| {
                let value = response.header(&name)?.to_owned();
                Some((name.to_ascii_lowercase(), value))
            })
            .collect();
        let body = response.into_string().unwrap_or_default();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", path, headers, None)
    }

    pub fn post_form(&self, path: &str, headers: &[(&str, &str)], pairs: &[(&str, &str)]) -> Reply {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.send(
            "POST",
            path,
            headers,
            Some(("application/x-www-form-urlencoded", body.as_bytes())),
        )
    }

    pub fn send_json(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> Reply {
        let text = body.to_string();
        self.send(
            method,
            path,
            headers,
            Some(("application/json", text.as_bytes())),
        )
    }

    /// A REST call with the default API key.
    pub fn rest(&self, method: &str, path: &str, body: &Value) -> Reply {
        self.send_json(
            method,
            &format!("/crm/rest{path}"),
            &[("X-Keap-API-Key", API_KEY)],
            body,
        )
    }

    pub fn control(&self, path: &str, body: &Value) -> Reply {
        let reply = self.send_json("POST", &format!("/_sandbox/{path}"), &[], body);
        assert_eq!(reply.status, 200, "control {path}: {}", reply.body);
        reply
    }

    pub fn state(&self) -> Value {
        self.get("/_sandbox/state", &[]).json()
    }

    /// Presses Allow on the consent page; returns the code.
    pub fn authorize(&self, state: &str) -> String {
        let reply = self.post_form(
            "/app/oauth/decision",
            &[],
            &[
                ("client_id", CLIENT_ID),
                ("redirect_uri", REDIRECT_URI),
                ("response_type", "code"),
                ("scope", "full"),
                ("state", state),
                ("decision", "allow"),
            ],
        );
        assert_eq!(reply.status, 302, "{}", reply.body);
        reply.location_param("code").expect("a code")
    }

    pub fn exchange(&self, code: &str) -> Reply {
        self.post_form(
            "/token",
            &[],
            &[
                ("grant_type", "authorization_code"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
            ],
        )
    }

    /// Authorizes and exchanges the code: the token answer.
    pub fn connect(&self) -> Value {
        let code = self.authorize("s");
        let reply = self.exchange(&code);
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    }

    pub fn refresh(&self, refresh_token: &str) -> Reply {
        self.post_form(
            "/token",
            &[("Authorization", &basic(CLIENT_ID, CLIENT_SECRET))],
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
    }
}

pub fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {value}"))
}
