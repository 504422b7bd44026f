//! `POST /forms/{form_id}` and its `OPTIONS` preflight (docs/CONTRACT.md 3).
//!
//! The order matters: the origin is checked before anything else (a post
//! from elsewhere learns nothing and costs nothing), validation before any
//! outbound call, and a lead is answered as accepted only once it is in
//! Keap or durably in the outbox.
//!
//! On the happy path the flow reads KV at most once (the OAuth token; none
//! with an API key), writes nothing, and makes two rounds of Keap calls
//! (the upsert; then the tags and the note, at the same time). It never
//! refreshes a token: when Keap cannot take the lead now, the lead is
//! queued for the scheduled run, which owns the refresh.
//!
//! A lead Keap refuses outright (400/404/422, an unknown tag id) was valid
//! by the form's own rules, so the visitor is not at fault: it is kept as
//! a dead letter, shown to the owner on `/admin` and replayable after the
//! owner fixes the cause, and the visitor gets the same `202 queued` as
//! for any lead that is safe but not yet in Keap.

use crate::alerts;
use crate::config::Config;
use crate::flows::after_reply::{AfterReply, Routed};
use crate::flows::retry_soon::RetrySoon;
use crate::form::answer::{self, Accepted, Answering, ErrorCode, Mode, Problem};
use crate::form::body::{self, BodyError};
use crate::form::cors;
use crate::form::forms::valid_form_id;
use crate::form::honeypot;
use crate::form::lead::{self, Lead};
use crate::form::origin::Origin;
use crate::form::turnstile;
use crate::http::{Incoming, Reply};
use crate::keap::credentials::{self, Credentials};
use crate::keap::delivery::{self, ContactWrite, DeliveryOutcome, Progress};
use crate::keap::ContactId;
use crate::outcome_log::{Event, Outcome, OutcomeLine, Via};
use crate::platform::metered::Metered;
use crate::platform::{Platform, RateDecision};
use crate::retry::timing;
use crate::store::outbox::{self, EntryId};

/// The rate limiter's key when Cloudflare gave no client IP (local runs).
const UNKNOWN_CLIENT: &str = "unknown";

/// Answers a CORS preflight. An unknown form is granted too, so that the
/// page's script can read the `unknown_form` answer to its post.
pub fn preflight(config: &Config, request: &Incoming, _form_id: &str) -> Reply {
    cors::preflight(cors::allowed_origin(&config.origins, request))
}

/// Handles a submission to `form_id`: its answer, then, when the lead
/// was queued for a passing failure, the retry after the answer
/// ([`crate::flows::retry_soon`]). Logs one structured line
/// ([`crate::outcome_log`]).
pub async fn submit_routed<P: Platform>(
    p: &P,
    config: &Config,
    request: &Incoming,
    form_id: &str,
) -> Routed {
    let metered = Metered::new(p).with_budget(config.budget.subrequests);
    let (reply, posted) = answer_post(&metered, config, request, form_id).await;
    let line = OutcomeLine {
        event: Event::Submission,
        form: posted.form.as_deref(),
        outcome: posted.outcome,
        error: posted.error,
        attempt: 1,
        waited_s: 0,
        via: Via::Request,
    };
    p.log(&line.to_json());
    match posted.soon {
        Some(mut soon) => {
            soon.subrequests_used = metered.fetches();
            Routed::then(reply, AfterReply::RetrySoon(soon))
        }
        None => Routed::only(reply),
    }
}

/// The answer to a submission alone (what happens after it is dropped).
pub async fn submit<P: Platform>(
    p: &P,
    config: &Config,
    request: &Incoming,
    form_id: &str,
) -> Reply {
    submit_routed(p, config, request, form_id).await.reply
}

/// What became of a post, for its log line and the work after it.
struct Posted {
    form: Option<String>,
    outcome: Outcome,
    error: Option<String>,
    soon: Option<RetrySoon>,
}

/// The refusal of a post: its answer and its record.
fn refused(answer: &Answering, problem: &Problem) -> (Reply, Posted) {
    let posted = Posted {
        form: answer.form.map(|f| f.id.clone()),
        outcome: Outcome::Refused,
        error: Some(problem.code.as_str().to_string()),
        soon: None,
    };
    (answer.error(problem), posted)
}

async fn answer_post<P: Platform>(
    p: &P,
    config: &Config,
    request: &Incoming,
    form_id: &str,
) -> (Reply, Posted) {
    let mut answer = Answering {
        mode: Mode::of(request),
        ..Answering::default()
    };
    // A form id from the URL goes into log lines only when it is a valid one.
    let shown_id = if valid_form_id(form_id) { form_id } else { "?" };

    // 1. Origin: nothing else happens for a post from elsewhere.
    let Some(origin) = cors::allowed_origin(&config.origins, request) else {
        // The claimed origin is a site, not a person: logging it tells the
        // owner which entry ALLOWED_ORIGINS may be missing.
        let claimed = Origin::of_request(request.header("Origin"), request.header("Referer"));
        let from = claimed
            .as_ref()
            .map_or("a page with no usable Origin or Referer", Origin::as_str);
        p.log(&format!(
            "form {shown_id}: refused a post from {from}: not in ALLOWED_ORIGINS"
        ));
        return refused(&answer, &Problem::new(ErrorCode::OriginNotAllowed));
    };
    answer.origin = Some(origin);

    // 2. The form.
    let forms = match &config.forms {
        Ok(forms) => forms,
        Err(problem) => {
            p.log(&format!("form {shown_id}: FORMS cannot be read: {problem}"));
            return refused(&answer, &Problem::new(ErrorCode::NotConfigured));
        }
    };
    let Some(form) = forms.get(form_id) else {
        return refused(&answer, &Problem::new(ErrorCode::UnknownForm));
    };
    answer.form = Some(form);

    // 3. The body. The shell does not buffer a body whose declared length
    // is already too large, so the declared length is checked too.
    let declared = request
        .header("Content-Length")
        .and_then(|n| n.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > body::MAX_BODY_BYTES as u64) {
        return refused(&answer, &Problem::new(ErrorCode::PayloadTooLarge));
    }
    let fields = match body::parse(request.header("Content-Type"), &request.body) {
        Ok(fields) => fields,
        Err(e) => return refused(&answer, &body_problem(e)),
    };
    answer.next = answer::next_target(&fields, &config.origins, Some(origin));

    // 4. The honeypot: a bot gets what a person would, and nothing happens.
    if let Some(trap) = honeypot::tripped(form, &fields) {
        p.log(&format!(
            "form {}: honeypot `{trap}` filled; submission dropped",
            form.id
        ));
        let dropped = Posted {
            form: Some(form.id.clone()),
            outcome: Outcome::Dropped,
            error: None,
            soon: None,
        };
        return (answer.success(Accepted::Created), dropped);
    }

    // 5. Validation.
    let arrival = lead::Arrival {
        ip: request.client_ip(),
        referer: request.header("Referer"),
        origin: Some(origin.as_str()),
        received_at_ms: p.now_ms(),
    };
    let lead = match lead::validate_arrival(form, &fields, &arrival) {
        Ok(lead) => lead,
        Err(invalid) => return refused(&answer, &Problem::on_field(invalid.code, &invalid.field)),
    };

    // 6. Rate limit, per client IP.
    let client = lead.ip.as_deref().unwrap_or(UNKNOWN_CLIENT);
    if p.rate_limit(client).await == RateDecision::Limited {
        return refused(&answer, &Problem::new(ErrorCode::RateLimited));
    }

    // 7. Turnstile, when the form asks for it.
    if form.turnstile {
        let checked = turnstile::verify(
            p,
            config.settings.turnstile_verify_url(),
            config.settings.turnstile_secret.as_ref(),
            fields.get(turnstile::RESPONSE_FIELD),
            lead.ip.as_deref(),
            origin.host(),
        )
        .await;
        if let Err(failure) = checked {
            p.log(&format!(
                "form {}: Turnstile check failed: {failure}",
                form.id
            ));
            return refused(&answer, &Problem::new(ErrorCode::TurnstileFailed));
        }
    }

    // 8. The spam rules and the address's domain, then delivery or the
    // outbox (flows::screen).
    match super::screen::screen_and_deliver(p, config, form, &lead).await {
        Ok(kept) => {
            let posted = Posted {
                form: Some(form.id.clone()),
                outcome: kept.outcome,
                error: kept.error,
                soon: kept.soon,
            };
            (answer.success(kept.handled.accepted), posted)
        }
        Err(problem) => refused(&answer, &problem),
    }
}

/// What became of a validated lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handled {
    pub accepted: Accepted,
    /// Keap's contact id, when the lead reached Keap now.
    pub contact_id: Option<ContactId>,
}

/// Delivers a validated lead to Keap, or keeps it in the outbox (a dead
/// letter when Keap refuses it for good). `Err` only when it could be
/// neither delivered nor stored: nothing was accepted. Shared by the form
/// path and the admin's test lead, so both go the same way.
pub async fn deliver_lead<P: Platform>(
    p: &P,
    config: &Config,
    lead: &Lead,
) -> Result<Handled, Problem> {
    deliver_loaded(p, config, lead, credentials::load(p, config).await)
        .await
        .map(|kept| kept.handled)
}

/// What [`deliver_loaded`] did, for the log line and the retry.
pub struct Kept {
    pub handled: Handled,
    pub outcome: Outcome,
    /// The failure's stable code (or the spam rule's), when not delivered.
    pub error: Option<String>,
    /// Queued for a passing failure: try again after the answer.
    pub soon: Option<RetrySoon>,
}

impl Kept {
    pub fn queued(outcome: Outcome, error: Option<String>, soon: Option<RetrySoon>) -> Kept {
        Kept {
            handled: Handled {
                accepted: Accepted::Queued,
                contact_id: None,
            },
            outcome,
            error,
            soon,
        }
    }
}

/// [`deliver_lead`] with the credentials already read (the form path reads
/// them alongside the mail domain lookup), saying what became of it.
pub async fn deliver_loaded<P: Platform>(
    p: &P,
    config: &Config,
    lead: &Lead,
    creds: Result<Credentials, credentials::Unavailable>,
) -> Result<Kept, Problem> {
    let creds = match creds {
        Ok(creds) => creds,
        Err(why) => {
            // Held for our own credentials: connecting releases it.
            let reason = why.to_string();
            queue(p, config, lead, Progress::NeedsContact, &reason, None).await?;
            return Ok(Kept::queued(
                Outcome::Held,
                Some("no_credentials".into()),
                None,
            ));
        }
    };
    let watched = Metered::new(p);
    let outcome = delivery::deliver(&watched, config, &creds, lead, Progress::NeedsContact).await;
    let error = watched.failure();
    match outcome {
        DeliveryOutcome::Delivered {
            contact,
            contact_id,
        } => Ok(Kept {
            handled: Handled {
                accepted: match contact {
                    ContactWrite::Created => Accepted::Created,
                    ContactWrite::Updated | ContactWrite::Earlier => Accepted::Updated,
                },
                contact_id: Some(contact_id),
            },
            outcome: Outcome::Delivered,
            error: None,
            soon: None,
        }),
        DeliveryOutcome::Retry {
            progress,
            reason,
            token_rejected: true,
        } => {
            credentials::rejected(p, &creds).await;
            queue(p, config, lead, progress, &reason, None).await?;
            Ok(Kept::queued(
                Outcome::Held,
                error.or(Some("keap_401".into())),
                None,
            ))
        }
        DeliveryOutcome::Retry {
            progress, reason, ..
        } => {
            // A passing failure: not due for anyone else until the retry
            // after the answer is surely over, or until Keap's
            // Retry-After when that is longer than this invocation can wait.
            let retry_after = watched.retry_after_secs();
            let wait_ms = timing::after_reply_wait_ms(retry_after);
            let now = p.now_ms();
            let due_at = match wait_ms {
                Some(_) => now + timing::AFTER_REPLY_LEASE_MS,
                None => timing::not_before(now, now, retry_after),
            };
            let (id, entry) = queue(p, config, lead, progress, &reason, Some(due_at))
                .await?
                .ok_or_else(|| Problem::new(ErrorCode::QueueUnavailable))?;
            let soon = RetrySoon {
                id,
                entry: Box::new(entry),
                wait_ms,
                subrequests_used: 0,
            };
            Ok(Kept::queued(Outcome::Queued, error, Some(soon)))
        }
        DeliveryOutcome::Permanent { progress, reason } => {
            match outbox::enqueue_dead(p, &config.seal_key, lead, progress, &reason).await {
                Ok(id) => {
                    p.log(&format!(
                        "form {}: Keap refused a lead, kept as dead letter {}: {reason}",
                        lead.form_id,
                        id.as_str()
                    ));
                    alerts::dead_letter(p, config, &reason).await;
                    Ok(Kept::queued(Outcome::Dead, error, None))
                }
                Err(e) => {
                    p.log(&format!(
                        "form {}: Keap refused a lead ({reason}) and {e}",
                        lead.form_id
                    ));
                    Err(Problem::new(ErrorCode::QueueUnavailable))
                }
            }
        }
    }
}

/// Puts the lead in the outbox (due at `due_at_ms`, else at once), or
/// says honestly (503) that it cannot be stored. The stored entry is
/// returned when a due time was given.
async fn queue<P: Platform>(
    p: &P,
    config: &Config,
    lead: &Lead,
    progress: Progress,
    reason: &str,
    due_at_ms: Option<u64>,
) -> Result<Option<(EntryId, outbox::Entry<Progress>)>, Problem> {
    let due = due_at_ms.unwrap_or_else(|| p.now_ms());
    match outbox::enqueue_due(p, &config.seal_key, lead, progress, reason, due).await {
        Ok((id, entry)) => {
            p.log(&format!(
                "form {}: lead queued as {} ({reason})",
                lead.form_id,
                id.as_str()
            ));
            Ok(due_at_ms.map(|_| (id, entry)))
        }
        Err(e) => {
            p.log(&format!(
                "form {}: lead NOT accepted: Keap unavailable ({reason}) and {e}",
                lead.form_id
            ));
            Err(Problem::new(ErrorCode::QueueUnavailable))
        }
    }
}

/// The refusal for a body that cannot be read.
pub fn body_problem(e: BodyError) -> Problem {
    match e {
        BodyError::TooLarge => Problem::new(ErrorCode::PayloadTooLarge),
        BodyError::Unsupported => Problem::new(ErrorCode::UnsupportedMediaType),
        BodyError::Malformed(why) => Problem::new(ErrorCode::MalformedBody)
            .with_message(format!("The form data could not be read: {why}.")),
        BodyError::FileUpload(field) => Problem::on_field(ErrorCode::FileNotAccepted, &field),
    }
}

#[cfg(test)]
mod tests;
