//! The runtime's `Request`/`Response` to and from the core's plain HTTP
//! values, through `runtime.js`.

use worker::{js_sys, wasm_bindgen_futures::JsFuture, web_sys};

use super::runtime;
use crate::http::{Headers, Incoming, Method, Reply};

/// The most body the worker reads: a little over the form limit, so the
/// core can tell "too large" from "just fits".
const MAX_BODY: usize = 64 * 1024;

/// Reads a request into the core's form. A body that cannot be read
/// becomes a 400 answer, never a panic. Method, URL and headers come in
/// one call; the body is awaited only when the method has one.
pub async fn incoming(req: web_sys::Request) -> Result<Incoming, Reply> {
    let described = runtime::describe_request(&req);
    let mut lines = described.splitn(3, '\n');
    let method = Method::parse(lines.next().unwrap_or(""));
    let url = url::Url::parse(lines.next().unwrap_or(""))
        .map_err(|_| malformed("the request URL is not valid"))?;
    let headers = header_lines(lines.next().unwrap_or(""));
    let declared = headers
        .get("Content-Length")
        .and_then(|v| v.trim().parse::<usize>().ok());
    let body = match method {
        Method::Get | Method::Head | Method::Options => Vec::new(),
        // Do not buffer what will be refused anyway; the core answers 413
        // from the declared length.
        _ if declared.is_some_and(|n| n > MAX_BODY) => Vec::new(),
        _ => JsFuture::from(runtime::read_body(&req))
            .await
            .map(|buffer| js_sys::Uint8Array::new(&buffer).to_vec())
            .map_err(|_| malformed("the request body could not be read"))?,
    };
    Ok(Incoming {
        method,
        url,
        headers,
        body,
    })
}

/// "name:value\n" lines, as `runtime.js` writes them, into headers.
pub fn header_lines(text: &str) -> Headers {
    let mut headers = Headers::new();
    for line in text.lines() {
        if let Some((name, value)) = line.split_once(':') {
            headers.push(name, value);
        }
    }
    headers
}

/// Headers as "name:value\n" lines, for `runtime.js`. A value holding a
/// newline could not be sent anyway; it is cut there.
pub fn to_header_lines(headers: &Headers) -> String {
    let mut text = String::new();
    for (name, value) in headers.iter() {
        text.push_str(name);
        text.push(':');
        text.push_str(value.lines().next().unwrap_or(""));
        text.push('\n');
    }
    text
}

fn malformed(message: &str) -> Reply {
    Reply::json(
        400,
        &serde_json::json!({"ok": false, "error": {"code": "malformed_request", "message": message}}),
    )
}

/// Turns a core answer into a runtime response.
pub fn response(reply: Reply) -> web_sys::Response {
    runtime::make_response(reply.status, &to_header_lines(&reply.headers), &reply.body)
}
