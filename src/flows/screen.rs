//! Between a valid submission and Keap (docs/CONTRACT.md 3.9 and 3.10):
//! the spam rules, and whether the address's domain takes mail.
//!
//! A post the rules catch is held for the owner (or dropped, as the form
//! says) and answered like a delivered one, so a bot learns nothing. A
//! clean post's domain lookup runs alongside the credentials read, so a
//! delivered submission still takes two rounds of Keap calls after it.
//! The lookup only refuses on a clear answer; a failing or slow resolver
//! lets the lead through.

use futures_util::future::join;

use super::submit::{self, Handled, Kept};
use crate::config::Config;
use crate::form::answer::{Accepted, ErrorCode, Problem};
use crate::form::forms::Form;
use crate::form::lead::Lead;
use crate::form::mail_domain::{self, Verdict};
use crate::form::spam::{self, SpamMode};
use crate::keap::credentials;
use crate::outcome_log::Outcome;
use crate::platform::Platform;
use crate::store::held::{self, Kept as HeldKept};

/// What a visitor whose domain takes no mail is told: what to do about it,
/// never the address.
pub const NO_MAIL_MESSAGE: &str =
    "This email address cannot receive mail: its domain has no mail server. Please check the address.";

/// The domain's verdict, or [`Verdict::Unknown`] when the form does not
/// check or there is no address.
async fn domain_verdict<P: Platform>(p: &P, config: &Config, form: &Form, lead: &Lead) -> Verdict {
    match lead.email.as_deref() {
        Some(address) if form.check_email_domain => {
            mail_domain::check(p, config.settings.doh_url(), address).await
        }
        _ => Verdict::Unknown,
    }
}

/// The refusal for a domain that takes no mail, logged without the address.
fn refused<P: Platform>(p: &P, form: &Form, verdict: Verdict) -> Option<Problem> {
    let Verdict::Refused(why) = verdict else {
        return None;
    };
    p.log(&format!(
        "form {}: address refused: {}",
        form.id,
        why.as_str()
    ));
    Some(Problem::on_field(ErrorCode::InvalidEmail, "email").with_message(NO_MAIL_MESSAGE))
}

/// A post the rules caught, told `created` as a delivered one would be.
fn screened(outcome: Outcome, code: &str) -> Kept {
    Kept {
        handled: Handled {
            accepted: Accepted::Created,
            contact_id: None,
        },
        outcome,
        error: Some(code.to_string()),
        soon: None,
    }
}

/// Screens a validated lead, then delivers it (or queues it). `Ok` with
/// what became of it; a held or dropped post is told `created`.
pub async fn screen_and_deliver<P: Platform>(
    p: &P,
    config: &Config,
    form: &Form,
    lead: &Lead,
) -> Result<Kept, Problem> {
    let caught = match form.spam {
        SpamMode::Off => None,
        mode => spam::check(lead).map(|reason| (mode, reason)),
    };
    let Some((mode, reason)) = caught else {
        let (verdict, creds) = join(
            domain_verdict(p, config, form, lead),
            credentials::load(p, config),
        )
        .await;
        if let Some(problem) = refused(p, form, verdict) {
            return Err(problem);
        }
        return submit::deliver_loaded(p, config, lead, creds).await;
    };
    // A caught post at a domain that takes no mail costs nothing to keep.
    if let Some(problem) = refused(p, form, domain_verdict(p, config, form, lead).await) {
        return Err(problem);
    }
    let code = reason.code();
    if mode == SpamMode::Drop {
        p.log(&format!("form {}: post dropped as spam ({code})", form.id));
        return Ok(screened(Outcome::SpamDropped, code));
    }
    match held::hold(p, &config.seal_key, lead, reason).await {
        Ok(HeldKept::Held(id)) => {
            p.log(&format!(
                "form {}: post held for review as {} ({code})",
                form.id,
                id.as_str()
            ));
            Ok(screened(Outcome::SpamHeld, code))
        }
        Ok(HeldKept::OverCap { dropped }) => {
            p.log(&format!(
                "form {}: post caught as spam ({code}) and dropped: {} posts were already held \
                 today ({dropped} dropped over the cap by this isolate today)",
                form.id,
                held::HELD_PER_DAY
            ));
            Ok(screened(Outcome::SpamDropped, code))
        }
        Err(e) => {
            // As with the outbox: never answered as accepted unless kept.
            p.log(&format!(
                "form {}: post caught as spam ({code}) could not be held: {e}",
                form.id
            ));
            Err(Problem::new(ErrorCode::QueueUnavailable))
        }
    }
}

#[cfg(test)]
mod tests;
