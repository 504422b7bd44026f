//! What the visitor gets back (docs/CONTRACT.md 3.4–3.8).
//!
//! Two audiences: a page's `fetch()` reads JSON with stable error codes; a
//! plain `<form>` post is a person looking at the browser, who gets a 303
//! to the site's own thank-you or error page, or a small readable page.
//! Every answer carries the CORS headers for an allowed origin.

use crate::form::body::{self, Fields};
use crate::form::cors;
use crate::form::forms::Form;
use crate::form::origin::{AllowedOrigins, Origin};
use crate::http::{accept, Incoming, Reply};
use crate::pages::layout;

/// Seconds a rate-limited visitor is asked to wait.
pub const RETRY_AFTER_SECS: u32 = 60;

/// Stable error codes: sites branch on them, so they never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    UnknownForm,
    MissingField,
    InvalidEmail,
    /// A phone number without a single digit.
    InvalidPhone,
    /// Control characters or garbled (non-UTF-8) text in a field.
    InvalidValue,
    FieldTooLong,
    /// More unmapped fields than a note takes (form/extra_fields.rs).
    TooManyFields,
    UnknownTag,
    MalformedBody,
    /// A multipart part carried a file; the worker takes no files.
    FileNotAccepted,
    PayloadTooLarge,
    UnsupportedMediaType,
    OriginNotAllowed,
    TurnstileFailed,
    RateLimited,
    /// The worker's own configuration is broken (e.g. `FORMS` unreadable).
    NotConfigured,
    /// The lead could not be delivered and could not be queued either
    /// (no `ENCRYPTION_KEY`, or KV failed): nothing was accepted.
    QueueUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::UnknownForm => "unknown_form",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidEmail => "invalid_email",
            ErrorCode::InvalidPhone => "invalid_phone",
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::FieldTooLong => "field_too_long",
            ErrorCode::TooManyFields => "too_many_fields",
            ErrorCode::UnknownTag => "unknown_tag",
            ErrorCode::MalformedBody => "malformed_body",
            ErrorCode::FileNotAccepted => "file_not_accepted",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::OriginNotAllowed => "origin_not_allowed",
            ErrorCode::TurnstileFailed => "turnstile_failed",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::NotConfigured => "not_configured",
            ErrorCode::QueueUnavailable => "queue_unavailable",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorCode::UnknownForm => 404,
            ErrorCode::MissingField
            | ErrorCode::InvalidEmail
            | ErrorCode::InvalidPhone
            | ErrorCode::InvalidValue
            | ErrorCode::FieldTooLong
            | ErrorCode::TooManyFields
            | ErrorCode::UnknownTag
            | ErrorCode::MalformedBody
            | ErrorCode::FileNotAccepted => 400,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::OriginNotAllowed | ErrorCode::TurnstileFailed => 403,
            ErrorCode::RateLimited => 429,
            ErrorCode::NotConfigured | ErrorCode::QueueUnavailable => 503,
        }
    }

    /// A sentence for the visitor; `field` is a form field's name.
    fn message(self, field: Option<&str>) -> String {
        let f = field.unwrap_or("a field");
        match self {
            ErrorCode::UnknownForm => "There is no form at this address.".into(),
            ErrorCode::MissingField => format!("Please fill in the {f} field."),
            ErrorCode::InvalidEmail => "Please enter a valid email address.".into(),
            ErrorCode::InvalidPhone => "Please enter a phone number with digits.".into(),
            ErrorCode::InvalidValue => format!("The {f} field contains characters that cannot be used."),
            ErrorCode::FieldTooLong => format!("The {f} field is too long."),
            ErrorCode::TooManyFields => "The form sent more fields than it may.".into(),
            ErrorCode::UnknownTag => "One of the chosen options is not offered by this form.".into(),
            ErrorCode::MalformedBody => "The form data could not be read.".into(),
            ErrorCode::FileNotAccepted => "This form does not accept file uploads.".into(),
            ErrorCode::PayloadTooLarge => "The submission is too large.".into(),
            ErrorCode::UnsupportedMediaType => {
                "Send the form as application/x-www-form-urlencoded, multipart/form-data or application/json.".into()
            }
            ErrorCode::OriginNotAllowed => "This form cannot be sent from this website.".into(),
            ErrorCode::TurnstileFailed => "The anti-spam check failed. Please try again.".into(),
            ErrorCode::RateLimited => "Too many submissions. Please wait a minute and try again.".into(),
            ErrorCode::NotConfigured => {
                "This form is not set up correctly yet. Please try again later.".into()
            }
            ErrorCode::QueueUnavailable => {
                "Your submission could not be saved right now. Please try again later.".into()
            }
        }
    }
}

/// A refusal: its code, the field at fault, and a message for the visitor
/// (which never repeats a submitted value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub code: ErrorCode,
    pub field: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn new(code: ErrorCode) -> Problem {
        Problem {
            code,
            field: None,
            message: code.message(None),
        }
    }

    pub fn on_field(code: ErrorCode, field: &str) -> Problem {
        let field = body::printable_name(field);
        Problem {
            code,
            message: code.message(Some(&field)),
            field: Some(field),
        }
    }

    /// Replaces the default sentence with a more precise one.
    pub fn with_message(mut self, message: impl Into<String>) -> Problem {
        self.message = message.into();
        self
    }
}

/// What happened to an accepted submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    Created,
    Updated,
    /// Durably in the outbox, to be delivered later.
    Queued,
}

impl Accepted {
    pub fn as_str(self) -> &'static str {
        match self {
            Accepted::Created => "created",
            Accepted::Updated => "updated",
            Accepted::Queued => "queued",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Accepted::Created | Accepted::Updated => 200,
            Accepted::Queued => 202,
        }
    }
}

/// Which kind of answer the client wants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    Json,
    /// A plain `<form>` post: a person is looking at the answer.
    #[default]
    Html,
}

impl Mode {
    /// JSON when the body is JSON or `Accept` asks for JSON; else HTML.
    pub fn of(request: &Incoming) -> Mode {
        let json_body = body::is_json(request.header("Content-Type"));
        let wants_json = request
            .header("Accept")
            .is_some_and(|a| accept::lists(a, "application/json"));
        if json_body || wants_json {
            Mode::Json
        } else {
            Mode::Html
        }
    }
}

/// The `_next` target, if it is a URL on an allowed origin. A relative
/// `_next` is read against the page's own origin. Anything else is
/// ignored: the endpoint is not an open redirect.
pub fn next_target(
    fields: &Fields,
    allowed: &AllowedOrigins,
    page_origin: Option<&Origin>,
) -> Option<url::Url> {
    let raw = fields.get("_next")?.trim();
    if raw.is_empty() || raw.chars().any(char::is_control) {
        return None;
    }
    let url = match url::Url::parse(raw) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            let base = url::Url::parse(page_origin?.as_str()).ok()?;
            base.join(raw).ok()?
        }
        Err(_) => return None,
    };
    let origin = Origin::of_url(&url).ok()?;
    allowed.contains(&origin).then_some(url)
}

/// A refused submission as JSON: `{"ok":false,"error":{"code","message","field"}}`
/// (`field` null when no one field is at fault).
pub fn problem_json(problem: &Problem) -> serde_json::Value {
    serde_json::json!({
        "ok": false,
        "error": {
            "code": problem.code.as_str(),
            "message": problem.message,
            "field": problem.field,
        }
    })
}

/// Everything that shapes an answer, gathered as the flow learns it.
#[derive(Debug, Clone, Default)]
pub struct Answering<'a> {
    pub mode: Mode,
    /// The request's origin when it is allowed (gets the CORS headers).
    pub origin: Option<&'a Origin>,
    pub form: Option<&'a Form>,
    /// A validated `_next`.
    pub next: Option<url::Url>,
}

impl Answering<'_> {
    /// The answer to a refused submission.
    pub fn error(&self, problem: &Problem) -> Reply {
        let status = problem.code.status();
        let mut reply = match self.mode {
            Mode::Json => Reply::json(status, &problem_json(problem)),
            Mode::Html => match self.form.and_then(|f| f.error_redirect.as_ref()) {
                Some(target) => {
                    let mut url = target.clone();
                    {
                        let mut q = url.query_pairs_mut();
                        q.append_pair("error", problem.code.as_str());
                        if let Some(field) = &problem.field {
                            q.append_pair("field", field);
                        }
                    }
                    Reply::redirect(303, url.as_str())
                }
                None => Reply::html(status, error_page(problem, self.origin)),
            },
        };
        if problem.code == ErrorCode::RateLimited {
            reply = reply.with_header("Retry-After", RETRY_AFTER_SECS.to_string());
        }
        self.finish(reply)
    }

    /// The answer to an accepted submission (or a caught bot, which must
    /// not be able to tell).
    pub fn success(&self, accepted: Accepted) -> Reply {
        let reply = match self.mode {
            Mode::Json => Reply::json_text(
                accepted.status(),
                format!(r#"{{"ok":true,"status":"{}"}}"#, accepted.as_str()),
            ),
            Mode::Html => {
                let target = self
                    .next
                    .as_ref()
                    .or_else(|| self.form.and_then(|f| f.redirect.as_ref()));
                match target {
                    Some(url) => Reply::redirect(303, url.as_str()),
                    None => Reply::html(200, thank_you_page(self.origin)),
                }
            }
        };
        self.finish(reply)
    }

    fn finish(&self, reply: Reply) -> Reply {
        cors::decorate(reply.with_header("Cache-Control", "no-store"), self.origin)
    }
}

fn back_link(origin: Option<&Origin>) -> String {
    match origin {
        Some(o) => format!(
            "<p><a href=\"{0}\">Back to {1}</a></p>",
            layout::escape(o.as_str()),
            layout::escape(o.host())
        ),
        None => String::new(),
    }
}

fn error_page(problem: &Problem, origin: Option<&Origin>) -> String {
    layout::document(
        "Your message was not sent",
        &format!(
            "<h1 class=\"bad\">Your message was not sent</h1><p>{}</p>\
<p>Please go back, check the form and send it again.</p>{}\
<p><small>Error code: <code>{}</code></small></p>",
            layout::escape(&problem.message),
            back_link(origin),
            problem.code.as_str()
        ),
    )
}

fn thank_you_page(origin: Option<&Origin>) -> String {
    layout::document(
        "Thank you",
        &format!(
            "<h1 class=\"ok\">Thank you</h1><p>Your message has been received.</p>{}",
            back_link(origin)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Headers, Method};
    use serde_json::json;

    fn origin() -> Origin {
        Origin::parse("https://example.com").unwrap()
    }

    fn form() -> Form {
        Form::from_json(
            "contact",
            &json!({"redirect": "https://example.com/thanks", "error_redirect": "https://example.com/oops?lang=en"}),
        )
        .unwrap()
    }

    fn request(headers: &[(&str, &str)]) -> Incoming {
        let mut h = Headers::new();
        for (k, v) in headers {
            h.push(k.to_string(), v.to_string());
        }
        Incoming {
            method: Method::Post,
            url: crate::request_url::RequestUrl::parse("https://w.example/forms/contact").unwrap(),
            headers: h,
            body: Vec::new(),
        }
    }

    #[test]
    fn mode_follows_body_type_and_accept() {
        let m = |h: &[(&str, &str)]| Mode::of(&request(h));
        assert_eq!(m(&[("Content-Type", "application/json")]), Mode::Json);
        assert_eq!(
            m(&[("Accept", "application/json, text/plain, */*")]),
            Mode::Json
        );
        assert_eq!(m(&[("Accept", "Application/JSON;q=0.9")]), Mode::Json);
        assert_eq!(m(&[("Accept", "application/json;q=0")]), Mode::Html);
        assert_eq!(m(&[("Accept", "application/json; q=0.000")]), Mode::Html);
        assert_eq!(m(&[("Accept", "application/json;q=0.001")]), Mode::Json);
        assert_eq!(
            m(&[
                ("Accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
                ("Content-Type", "application/x-www-form-urlencoded")
            ]),
            Mode::Html
        );
        assert_eq!(m(&[]), Mode::Html);
    }

    #[test]
    fn json_error_and_success_bodies() {
        let o = origin();
        let a = Answering {
            mode: Mode::Json,
            origin: Some(&o),
            ..Default::default()
        };
        let r = a.error(&Problem::on_field(ErrorCode::MissingField, "email"));
        assert_eq!(r.status, 400);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["ok"], json!(false));
        assert_eq!(v["error"]["code"], json!("missing_field"));
        assert_eq!(v["error"]["field"], json!("email"));
        assert!(v["error"]["message"].as_str().unwrap().contains("email"));
        assert_eq!(
            r.headers.get("Access-Control-Allow-Origin"),
            Some("https://example.com")
        );
        assert_eq!(r.headers.get("Vary"), Some("Origin"));

        let r = a.success(Accepted::Queued);
        assert_eq!(
            (r.status, r.body_text()),
            (202, r#"{"ok":true,"status":"queued"}"#)
        );
        let r = a.success(Accepted::Created);
        assert_eq!(
            (r.status, r.body_text()),
            (200, r#"{"ok":true,"status":"created"}"#)
        );

        let r = a.error(&Problem::new(ErrorCode::RateLimited));
        assert_eq!((r.status, r.headers.get("Retry-After")), (429, Some("60")));
    }

    #[test]
    fn html_mode_redirects_or_shows_a_page() {
        let o = origin();
        let f = form();
        let a = Answering {
            mode: Mode::Html,
            origin: Some(&o),
            form: Some(&f),
            next: None,
        };
        let r = a.success(Accepted::Created);
        assert_eq!(
            (r.status, r.headers.get("Location")),
            (303, Some("https://example.com/thanks"))
        );
        let r = a.error(&Problem::on_field(ErrorCode::InvalidEmail, "email"));
        assert_eq!(
            (r.status, r.headers.get("Location")),
            (
                303,
                Some("https://example.com/oops?lang=en&error=invalid_email&field=email")
            )
        );
        assert_eq!(
            r.headers.get("Access-Control-Allow-Origin"),
            Some("https://example.com")
        );

        let next = url::Url::parse("https://example.com/merci").unwrap();
        let a = Answering {
            next: Some(next),
            ..a
        };
        assert_eq!(
            a.success(Accepted::Queued).headers.get("Location"),
            Some("https://example.com/merci")
        );

        let bare = Form::bare("x");
        let a = Answering {
            mode: Mode::Html,
            origin: None,
            form: Some(&bare),
            next: None,
        };
        let r = a.success(Accepted::Updated);
        assert_eq!(r.status, 200);
        assert!(r.body_text().contains("Thank you"));
        let r = a.error(&Problem::new(ErrorCode::UnsupportedMediaType));
        assert_eq!(r.status, 415);
        assert!(r.body_text().contains("unsupported_media_type"));
        assert_eq!(r.headers.get("Access-Control-Allow-Origin"), None);
    }

    #[test]
    fn next_only_to_allowed_origins() {
        let (allowed, _) =
            AllowedOrigins::parse(Some("https://example.com,https://www.example.com"));
        let o = origin();
        let next = |v: &str| {
            let mut f = Fields::new();
            f.push("_next", v);
            next_target(&f, &allowed, Some(&o)).map(|u| u.to_string())
        };
        assert_eq!(
            next("https://www.example.com/ok"),
            Some("https://www.example.com/ok".into())
        );
        assert_eq!(
            next("/thanks?x=1"),
            Some("https://example.com/thanks?x=1".into())
        );
        assert_eq!(next("https://evil.example/phish"), None);
        assert_eq!(next("//evil.example/phish"), None);
        assert_eq!(next("javascript:alert(1)"), None);
        assert_eq!(next("https://example.com.evil.example/"), None);
        assert_eq!(next(""), None);
        assert_eq!(next_target(&Fields::new(), &allowed, Some(&o)), None);

        // A Unicode host is compared in its IDNA form.
        let (idn, _) = AllowedOrigins::parse(Some("https://bücher.example"));
        let mut f = Fields::new();
        f.push("_next", "https://BÜCHER.example/danke");
        assert_eq!(
            next_target(&f, &idn, None).map(|u| u.to_string()),
            Some("https://xn--bcher-kva.example/danke".into())
        );
    }

    #[test]
    fn every_code_has_its_status() {
        use ErrorCode::*;
        for (code, status) in [
            (UnknownForm, 404),
            (MissingField, 400),
            (InvalidEmail, 400),
            (FieldTooLong, 400),
            (TooManyFields, 400),
            (UnknownTag, 400),
            (MalformedBody, 400),
            (PayloadTooLarge, 413),
            (UnsupportedMediaType, 415),
            (OriginNotAllowed, 403),
            (TurnstileFailed, 403),
            (RateLimited, 429),
            (NotConfigured, 503),
            (QueueUnavailable, 503),
        ] {
            assert_eq!(code.status(), status, "{}", code.as_str());
        }
    }
}
