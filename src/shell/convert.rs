//! The runtime's `Request`/`Response` to and from the core's plain HTTP
//! values, through `runtime.js`.

use std::cell::Cell;

use super::runtime;
use crate::http::{Headers, Incoming, Method, Reply};
use crate::request_url::RequestUrl;

/// Reads a request into the core's form: its description by `entry.js`
/// ("METHOD\nURL\nname:value\n...", only the headers the core reads) and
/// the body `entry.js` has read (it leaves out a body declared larger than
/// the core accepts, which the core then refuses from the declared length).
/// A body that could not be read (`None`) becomes a 400 answer, never a
/// panic.
pub fn incoming(described: &str, body: Option<Vec<u8>>) -> Result<Incoming, Reply> {
    let mut lines = described.splitn(3, '\n');
    let method = Method::parse(lines.next().unwrap_or(""));
    let url = RequestUrl::parse(lines.next().unwrap_or(""))
        .ok_or_else(|| malformed("the request URL is not valid"))?;
    let headers = Headers::from_lines(lines.next().unwrap_or(""));
    let body = body.ok_or_else(|| malformed("the request body could not be read"))?;
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

thread_local! {
    /// The headers the last answer made depends on, when it was marked
    /// reusable (and has no body).
    static REUSABLE: Cell<Option<&'static [&'static str]>> = const { Cell::new(None) };
}

/// Turns a core answer into a runtime response.
pub fn response(reply: Reply) -> web_sys::Response {
    REUSABLE.set(reply.reusable.filter(|_| reply.body.is_empty()));
    runtime::make_response(reply.status, &reply.headers.to_lines(), &reply.body)
}

/// The headers the last answer made depends on, comma-separated, when it
/// may be given again; clears the mark.
pub fn take_reusable() -> Option<String> {
    REUSABLE.take().map(|names| names.join(","))
}
