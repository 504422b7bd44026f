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
use crate::platform::{Platform, RateDecision};
use crate::store::outbox;

/// The rate limiter's key when Cloudflare gave no client IP (local runs).
const UNKNOWN_CLIENT: &str = "unknown";

/// Answers a CORS preflight. An unknown form is granted too, so that the
/// page's script can read the `unknown_form` answer to its post.
pub fn preflight(config: &Config, request: &Incoming, _form_id: &str) -> Reply {
    cors::preflight(cors::allowed_origin(&config.origins, request))
}

/// Handles a submission to `form_id`.
pub async fn submit<P: Platform>(
    p: &P,
    config: &Config,
    request: &Incoming,
    form_id: &str,
) -> Reply {
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
        return answer.error(&Problem::new(ErrorCode::OriginNotAllowed));
    };
    answer.origin = Some(origin);

    // 2. The form.
    let forms = match &config.forms {
        Ok(forms) => forms,
        Err(problem) => {
            p.log(&format!("form {shown_id}: FORMS cannot be read: {problem}"));
            return answer.error(&Problem::new(ErrorCode::NotConfigured));
        }
    };
    let Some(form) = forms.get(form_id) else {
        return answer.error(&Problem::new(ErrorCode::UnknownForm));
    };
    answer.form = Some(form);

    // 3. The body. The shell does not buffer a body whose declared length
    // is already too large, so the declared length is checked too.
    let declared = request
        .header("Content-Length")
        .and_then(|n| n.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > body::MAX_BODY_BYTES as u64) {
        return answer.error(&Problem::new(ErrorCode::PayloadTooLarge));
    }
    let fields = match body::parse(request.header("Content-Type"), &request.body) {
        Ok(fields) => fields,
        Err(e) => return answer.error(&body_problem(e)),
    };
    answer.next = answer::next_target(&fields, &config.origins, Some(origin));

    // 4. The honeypot: a bot gets what a person would, and nothing happens.
    if let Some(trap) = honeypot::tripped(form, &fields) {
        p.log(&format!(
            "form {}: honeypot `{trap}` filled; submission dropped",
            form.id
        ));
        return answer.success(Accepted::Created);
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
        Err(invalid) => return answer.error(&Problem::on_field(invalid.code, &invalid.field)),
    };

    // 6. Rate limit, per client IP.
    let client = lead.ip.as_deref().unwrap_or(UNKNOWN_CLIENT);
    if p.rate_limit(client).await == RateDecision::Limited {
        return answer.error(&Problem::new(ErrorCode::RateLimited));
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
            return answer.error(&Problem::new(ErrorCode::TurnstileFailed));
        }
    }

    // 8. The spam rules and the address's domain, then delivery or the
    // outbox (flows::screen).
    match super::screen::screen_and_deliver(p, config, form, &lead).await {
        Ok(accepted) => answer.success(accepted),
        Err(problem) => answer.error(&problem),
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
    deliver_loaded(p, config, lead, credentials::load(p, config).await).await
}

/// [`deliver_lead`] with the credentials already read (the form path reads
/// them alongside the mail domain lookup).
pub async fn deliver_loaded<P: Platform>(
    p: &P,
    config: &Config,
    lead: &Lead,
    creds: Result<Credentials, credentials::Unavailable>,
) -> Result<Handled, Problem> {
    let queued = Handled {
        accepted: Accepted::Queued,
        contact_id: None,
    };
    let creds = match creds {
        Ok(creds) => creds,
        Err(why) => {
            let reason = why.to_string();
            return queue(p, config, lead, Progress::NeedsContact, &reason)
                .await
                .map(|()| queued);
        }
    };
    match delivery::deliver(p, config, &creds, lead, Progress::NeedsContact).await {
        DeliveryOutcome::Delivered {
            contact,
            contact_id,
        } => Ok(Handled {
            accepted: match contact {
                ContactWrite::Created => Accepted::Created,
                ContactWrite::Updated | ContactWrite::Earlier => Accepted::Updated,
            },
            contact_id: Some(contact_id),
        }),
        DeliveryOutcome::Retry {
            progress,
            reason,
            token_rejected,
        } => {
            if token_rejected {
                credentials::rejected(p, &creds).await;
            }
            queue(p, config, lead, progress, &reason)
                .await
                .map(|()| queued)
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
                    Ok(queued)
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

/// Puts the lead in the outbox, or says honestly (503) that it cannot be
/// stored.
async fn queue<P: Platform>(
    p: &P,
    config: &Config,
    lead: &Lead,
    progress: Progress,
    reason: &str,
) -> Result<(), Problem> {
    match outbox::enqueue(p, &config.seal_key, lead, progress, reason).await {
        Ok(id) => {
            p.log(&format!(
                "form {}: lead queued as {} ({reason})",
                lead.form_id,
                id.as_str()
            ));
            Ok(())
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
