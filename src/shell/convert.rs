//! `worker::Request`/`Response` to and from the core's plain HTTP values.

use wasm_bindgen::JsCast;
use worker::{js_sys, wasm_bindgen_futures::JsFuture, web_sys, Response};

use crate::http::{Headers, Incoming, Method, Reply};

/// The most body the worker reads: a little over the form limit, so the
/// core can tell "too large" from "just fits".
const MAX_BODY: usize = 64 * 1024;

/// Reads a request into the core's form. A body that cannot be read
/// becomes a 400 answer, never a panic. It takes the runtime's own
/// `Request`, not `worker::Request`, whose conversion also reads and
/// converts `request.cf`, which nothing here uses.
pub async fn incoming(req: web_sys::Request) -> Result<Incoming, Reply> {
    let url = url::Url::parse(&req.url())
        .map_err(|_| Reply::json(400, &bad_request("the request URL is not valid")))?;
    let mut headers = Headers::new();
    if let Ok(Some(entries)) = js_sys::try_iter(&req.headers()) {
        for entry in entries.flatten() {
            let pair: js_sys::Array = entry.unchecked_into();
            if let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                headers.push(name, value);
            }
        }
    }
    let method = Method::parse(&req.method());
    let declared = headers
        .get("Content-Length")
        .and_then(|v| v.trim().parse::<usize>().ok());
    let body = match method {
        Method::Get | Method::Head | Method::Options => Vec::new(),
        _ if declared.is_some_and(|n| n > MAX_BODY) => {
            // Do not buffer what will be refused anyway; the core answers 413
            // from the declared length.
            Vec::new()
        }
        _ => read_body(&req)
            .await
            .ok_or_else(|| Reply::json(400, &bad_request("the request body could not be read")))?,
    };
    Ok(Incoming {
        method,
        url,
        headers,
        body,
    })
}

async fn read_body(req: &web_sys::Request) -> Option<Vec<u8>> {
    let buffer = JsFuture::from(req.array_buffer().ok()?).await.ok()?;
    Some(js_sys::Uint8Array::new(&buffer).to_vec())
}

fn bad_request(message: &str) -> serde_json::Value {
    serde_json::json!({"ok": false, "error": {"code": "malformed_request", "message": message}})
}

/// Turns a core answer into a runtime response.
pub fn response(reply: Reply) -> worker::Result<Response> {
    let headers = worker::Headers::new();
    for (name, value) in reply.headers.iter() {
        headers.append(name, value)?;
    }
    let body = if reply.body.is_empty() {
        Response::empty()?
    } else {
        Response::from_bytes(reply.body)?
    };
    Ok(body.with_status(reply.status).with_headers(headers))
}
