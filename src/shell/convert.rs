//! The runtime's `Request` and `Response` to and from the core's plain
//! HTTP values.

use std::borrow::Cow;

use crate::body::MAX_BODY_BYTES;
use crate::http::{Headers, Incoming, Method, Reply, REQUEST_HEADERS};
use crate::request_url::RequestUrl;

/// The most body read: twice the form limit, so the core can tell "too
/// large" (413) from "just fits" without the worker holding a huge body.
/// A body declared larger is not read at all; the core refuses it from
/// its declared length.
const MAX_BODY_READ: usize = 2 * MAX_BODY_BYTES;

/// Reads a request into the core's form: method, URL, the headers the core
/// reads ([`REQUEST_HEADERS`]) and the body. A request whose URL or body
/// cannot be read becomes a 400 answer, never a panic.
pub async fn incoming(req: &mut worker::Request) -> Result<Incoming, Reply> {
    let method = Method::parse(req.method().as_ref());
    let url = RequestUrl::parse(&req.inner().url())
        .ok_or_else(|| malformed("the request URL is not valid"))?;
    let mut headers = Headers::new();
    for name in REQUEST_HEADERS {
        if let Ok(Some(value)) = req.headers().get(name) {
            headers.push(Cow::Borrowed(name), value);
        }
    }
    let declared = headers
        .get("content-length")
        .and_then(|n| n.trim().parse::<usize>().ok());
    let body = match method {
        Method::Get | Method::Head | Method::Options => Vec::new(),
        _ if declared.is_some_and(|n| n > MAX_BODY_READ) => Vec::new(),
        _ => req
            .bytes()
            .await
            .map_err(|_| malformed("the request body could not be read"))?,
    };
    Ok(Incoming {
        method,
        url,
        headers,
        body,
    })
}

fn malformed(message: &str) -> Reply {
    Reply::json(
        400,
        &serde_json::json!({"ok": false, "error": {"code": "malformed_request", "message": message}}),
    )
}

/// Turns a core answer into a runtime response. The core's headers are
/// fixed names and values it made itself; one the runtime still refuses
/// is left out rather than failing the answer.
pub fn response(reply: Reply) -> worker::Response {
    let headers = worker::Headers::new();
    for (name, value) in reply.headers.iter() {
        let _ = headers.append(name, value);
    }
    let builder = worker::Response::builder()
        .with_status(reply.status)
        .with_headers(headers);
    if reply.body.is_empty() {
        builder.empty()
    } else {
        builder.fixed(reply.body)
    }
}
