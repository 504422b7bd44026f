//! The runtime's `Request` and `Response` to and from the core's plain
//! HTTP values.

use std::borrow::Cow;

use worker::wasm_bindgen_futures::JsFuture;
use worker::{js_sys, web_sys};

use crate::form::body::MAX_BODY_BYTES;
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
///
/// It reads the runtime's own `Request` (the event handler takes
/// `web_sys::Request`, which `worker`'s macro accepts): making a
/// `worker::Request` reads the request's `cf` object, which the profile
/// put at 3% of a submission's CPU, and nothing here uses it.
pub async fn incoming(req: &web_sys::Request) -> Result<Incoming, Reply> {
    let method = Method::parse(&req.method());
    let url =
        RequestUrl::parse(&req.url()).ok_or_else(|| malformed("the request URL is not valid"))?;
    let mut headers = Headers::new();
    let runtime_headers = req.headers();
    for name in REQUEST_HEADERS {
        if let Ok(Some(value)) = runtime_headers.get(name) {
            headers.push(Cow::Borrowed(name), value);
        }
    }
    let declared = headers
        .get("content-length")
        .and_then(|n| n.trim().parse::<usize>().ok());
    let body = match method {
        Method::Get | Method::Head | Method::Options => Vec::new(),
        _ if declared.is_some_and(|n| n > MAX_BODY_READ) => Vec::new(),
        _ => read_body(req)
            .await
            .ok_or_else(|| malformed("the request body could not be read"))?,
    };
    Ok(Incoming {
        method,
        url,
        headers,
        body,
    })
}

/// The whole body, with one `arrayBuffer()`.
async fn read_body(req: &web_sys::Request) -> Option<Vec<u8>> {
    let buffer = JsFuture::from(req.array_buffer().ok()?).await.ok()?;
    Some(js_sys::Uint8Array::new(&buffer).to_vec())
}

fn malformed(message: &str) -> Reply {
    Reply::json_error(400, "malformed_request", message)
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
