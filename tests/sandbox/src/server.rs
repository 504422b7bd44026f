//! The HTTP server: tiny_http on a loopback address, one thread per
//! request, each request read whole into a [`Request`] and answered by
//! [`App::handle`]. One line per request goes to stderr: method, path
//! (never the query, which can hold codes) and status.

use std::fmt;
use std::io::Read;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::app::App;
use crate::config::Config;
use crate::http::{Request, Response};
use crate::schema::Schemas;

/// The largest request body read; larger ones get 413.
pub const MAX_BODY: u64 = 1024 * 1024;

/// Why a sandbox could not start.
#[derive(Debug)]
pub struct StartError(String);

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// A running sandbox. Dropping it stops it, like [`Handle::shutdown`].
pub struct Handle {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    accept: Option<JoinHandle<()>>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").field("addr", &self.addr).finish()
    }
}

impl Handle {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests and waits for the accept loop to end.
    pub fn shutdown(mut self) {
        self.stop();
    }

    /// Blocks until the server stops (for the binary).
    pub fn wait(mut self) {
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }

    fn stop(&mut self) {
        self.server.unblock();
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts a sandbox. Validates against `config.spec`, or, when that file
/// cannot be read, against the built-in extract (with a warning on stderr).
pub fn start(config: Config) -> Result<Handle, StartError> {
    let (schemas, warning) = Schemas::load(&config.spec);
    if let Some(warning) = warning {
        eprintln!("keap-sandbox: warning: {warning}");
    }
    start_with(config, schemas)
}

/// Starts a sandbox with the given schemas.
pub fn start_with(config: Config, schemas: Schemas) -> Result<Handle, StartError> {
    let bind = SocketAddr::new(config.host.ip(), config.port);
    let server = tiny_http::Server::http(bind)
        .map_err(|e| StartError(format!("cannot listen on {bind}: {e}")))?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| StartError("listening on a non-IP address".to_owned()))?;
    let server = Arc::new(server);
    let app = Arc::new(App::new(config, schemas));
    let accept_server = Arc::clone(&server);
    let accept = std::thread::Builder::new()
        .name("keap-sandbox-accept".to_owned())
        .spawn(move || {
            for incoming in accept_server.incoming_requests() {
                let app = Arc::clone(&app);
                let spawned = std::thread::Builder::new()
                    .name("keap-sandbox-request".to_owned())
                    .spawn(move || serve(&app, incoming));
                if let Err(e) = spawned {
                    eprintln!("keap-sandbox: cannot start a request thread: {e}");
                }
            }
        })
        .map_err(|e| StartError(format!("cannot start the accept thread: {e}")))?;
    Ok(Handle {
        addr,
        server,
        accept: Some(accept),
    })
}

fn serve(app: &App, mut incoming: tiny_http::Request) {
    let method = incoming.method().as_str().to_ascii_uppercase();
    let url = incoming.url().to_owned();
    let (path, query) = match url.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (url, None),
    };
    let from_loopback = incoming
        .remote_addr()
        .is_some_and(|peer| peer.ip().is_loopback());
    let headers: Vec<(String, String)> = incoming
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    let read = incoming
        .as_reader()
        .take(MAX_BODY + 1)
        .read_to_end(&mut body);
    let response = if !from_loopback {
        Response::message(403, "The Keap sandbox serves loopback clients only")
    } else if read.is_err() {
        Response::message(400, "Could not read the request body")
    } else if body.len() as u64 > MAX_BODY {
        Response::message(413, "Request body too large")
    } else {
        let host = headers
            .iter()
            .find(|(n, _)| n == "host")
            .map(|(_, v)| v.clone());
        let request = Request {
            method: method.clone(),
            path: path.clone(),
            query,
            headers,
            body,
            host,
        };
        catch_unwind(AssertUnwindSafe(|| app.handle(&request)))
            .unwrap_or_else(|_| Response::message(500, "The Keap sandbox failed"))
    };
    eprintln!("{method} {path} {}", response.status);
    let mut reply = tiny_http::Response::from_data(response.body)
        .with_status_code(tiny_http::StatusCode(response.status));
    for (name, value) in &response.headers {
        if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            reply.add_header(header);
        }
    }
    if let Err(e) = incoming.respond(reply) {
        eprintln!("keap-sandbox: could not answer {method} {path}: {e}");
    }
}
