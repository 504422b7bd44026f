//! The owner's review of held posts (docs/CONTRACT.md 2.4):
//! `GET /admin/held`, `POST /admin/held/{id}/release` (delivered through
//! the normal delivery, the outbox when Keap cannot take it now) and
//! `POST /admin/held/{id}/delete`; the count in `/admin/status`; and the
//! daily `spam_held` alert from the scheduled run.
//!
//! An id from the URL is parsed strictly ([`HeldId::parse`]) before any KV
//! access: anything the worker did not issue answers 404 and touches
//! nothing.

use serde_json::{json, Value};

use super::pages::{page, BACK_TO_ADMIN};
use crate::alerts::{self, AlertKind};
use crate::auth::admin_auth;
use crate::config::Config;
use crate::form::answer::Accepted;
use crate::html::escape;
use crate::http::{Incoming, Reply};
use crate::platform::{Platform, StoreError};
use crate::store::held::{self, HeldId, HeldPost, HeldSummary};
use crate::time;

/// Held posts listed at most, oldest first (the count shows them all).
pub const HELD_SHOWN: u32 = 50;
const HOUR_MS: u64 = 3_600_000;
/// The start of a message shown in a listing, in characters.
const EXCERPT_CHARS: usize = 200;

/// A listed held post, opened when it could be.
#[derive(Debug, Clone)]
pub struct HeldView {
    pub summary: HeldSummary,
    /// `None` when gone since the listing, or not openable.
    pub post: Option<HeldPost>,
}

impl HeldView {
    pub fn email(&self) -> Option<&str> {
        self.post.as_ref().and_then(|p| p.lead.email.as_deref())
    }

    /// The first and last name, as given.
    pub fn name(&self) -> Option<String> {
        let lead = &self.post.as_ref()?.lead;
        let parts: Vec<&str> = [&lead.first_name, &lead.last_name]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// The start of the message, cut at [`EXCERPT_CHARS`].
    pub fn excerpt(&self) -> Option<String> {
        let message = self.post.as_ref()?.lead.note.as_ref()?.message.as_deref()?;
        let mut cut: String = message.chars().take(EXCERPT_CHARS).collect();
        if message.chars().count() > EXCERPT_CHARS {
            cut.push('…');
        }
        Some(cut)
    }

    pub fn reason_code(&self) -> Option<&'static str> {
        self.summary
            .reason
            .or(self.post.as_ref().map(|p| p.reason))
            .map(|r| r.code())
    }

    pub fn received_at(&self) -> Option<String> {
        self.summary
            .received_at_ms
            .or(self.post.as_ref().map(|p| p.lead.received_at_ms))
            .map(time::to_rfc3339)
    }

    fn json(&self) -> Value {
        json!({
            "id": self.summary.id.as_str(),
            "form": self.summary.form,
            "reason": self.reason_code(),
            "received_at": self.received_at(),
            "email": self.email(),
            "name": self.name(),
            "message": self.excerpt(),
        })
    }
}

/// The oldest [`HELD_SHOWN`] held posts: one listing and one bulk read.
pub async fn views<P: Platform>(p: &P, config: &Config) -> Result<Vec<HeldView>, StoreError> {
    let listed = held::list(p, HELD_SHOWN).await?;
    let ids: Vec<&HeldId> = listed.iter().map(|s| &s.id).collect();
    let posts = held::load_many(p, config, &ids).await?;
    Ok(listed
        .into_iter()
        .zip(posts)
        .map(|(summary, post)| HeldView { summary, post })
        .collect())
}

/// The listed held posts and how many there are in all: a second
/// listing only when the first page is full (KV lists are counted too).
pub async fn views_and_count<P: Platform>(
    p: &P,
    config: &Config,
) -> Result<(Vec<HeldView>, u64), StoreError> {
    let views = views(p, config).await?;
    let count = if views.len() < HELD_SHOWN as usize {
        views.len() as u64
    } else {
        held::count(p).await?
    };
    Ok((views, count))
}

/// `GET /admin/held`.
pub async fn list_reply<P: Platform>(p: &P, config: &Config) -> Reply {
    let (views, count) = match views_and_count(p, config).await {
        Ok(both) => both,
        Err(e) => {
            p.log(&format!("admin: could not list the held posts: {e}"));
            return Reply::json_error(
                503,
                "store_unavailable",
                "the held posts could not be read now",
            )
            .with_header("Cache-Control", "no-store");
        }
    };
    let held: Vec<Value> = views.iter().map(HeldView::json).collect();
    Reply::json(200, &json!({"ok": true, "count": count, "held": held}))
        .with_header("Cache-Control", "no-store")
}

/// `"held":{"count":n}` for `/admin/status`; a KV failure counts none and
/// is logged.
pub async fn status_json<P: Platform>(p: &P) -> Value {
    let count = held::count(p).await.unwrap_or_else(|e| {
        p.log(&format!("admin: could not count the held posts: {e}"));
        0
    });
    json!({ "count": count })
}

/// An answer as JSON or, to a browser's form post, a page.
fn answer(json: bool, status: u16, value: &Value, title: &str, words: &str) -> Reply {
    if json {
        return Reply::json(status, value).with_header("Cache-Control", "no-store");
    }
    page(
        status,
        title,
        &format!("<p>{}</p>{BACK_TO_ADMIN}", escape(words)),
    )
}

fn gone(json: bool) -> Reply {
    let message = "No held post has this id: it was delivered, deleted or has expired.";
    answer(
        json,
        404,
        &json!({"ok": false, "error": {"code": "not_found", "message": message}}),
        "Not found",
        message,
    )
}

fn store_trouble(json: bool, words: &str) -> Reply {
    answer(
        json,
        503,
        &json!({"ok": false, "error": {"code": "store_unavailable", "message": words}}),
        "Try again",
        words,
    )
}

/// `POST /admin/held/{id}/release`: delivers the post exactly once. It is
/// removed from the held posts first, then delivered (or queued, or kept
/// as a dead letter, as a visitor's lead would be); if it could be
/// neither delivered nor stored it is put back.
pub async fn release_reply<P: Platform>(p: &P, config: &Config, req: &Incoming, id: &str) -> Reply {
    let json = admin_auth::wants_json(req);
    let Some(id) = HeldId::parse(id) else {
        return gone(json);
    };
    let post = match held::load(p, config, &id).await {
        Ok(Some(post)) => post,
        Ok(None) => return gone(json),
        Err(e) => {
            p.log(&format!(
                "admin: held post {} cannot be read: {e}",
                id.as_str()
            ));
            return store_trouble(json, &format!("The held post cannot be read: {e}."));
        }
    };
    if let Err(e) = held::delete(p, &id).await {
        p.log(&format!(
            "admin: held post {} not released: {e}",
            id.as_str()
        ));
        return store_trouble(json, "The held post could not be released now; try again.");
    }
    match super::submit::deliver_lead(p, config, &post.lead).await {
        Ok(handled) => {
            let status = match handled.accepted {
                Accepted::Created => "created",
                Accepted::Updated => "updated",
                Accepted::Queued => "queued",
            };
            p.log(&format!(
                "admin: held post {} released ({status})",
                id.as_str()
            ));
            let words = match handled.accepted {
                Accepted::Queued => {
                    "Released: Keap cannot take it right now, so it waits in the outbox and \
                     goes out with the next delivery."
                }
                _ => "Delivered to Keap.",
            };
            answer(
                json,
                200,
                &json!({"ok": true, "status": status, "contact_id": handled.contact_id}),
                "Deliver to Keap",
                words,
            )
        }
        Err(problem) => {
            if let Err(e) = held::restore(p, config, &id, &post).await {
                p.log(&format!(
                    "admin: held post {} could be neither delivered nor kept: {e}",
                    id.as_str()
                ));
            }
            store_trouble(
                json,
                &format!(
                    "Nothing was delivered: {} The post is still held.",
                    problem.message
                ),
            )
        }
    }
}

/// `POST /admin/held/{id}/delete`.
pub async fn delete_reply<P: Platform>(p: &P, req: &Incoming, id: &str) -> Reply {
    let json = admin_auth::wants_json(req);
    let Some(id) = HeldId::parse(id) else {
        return gone(json);
    };
    match p.kv_get(&id.key()).await {
        Ok(Some(_)) => {}
        Ok(None) => return gone(json),
        Err(e) => return store_trouble(json, &format!("{e}")),
    }
    match held::delete(p, &id).await {
        Ok(()) => {
            p.log(&format!("admin: held post {} deleted", id.as_str()));
            answer(
                json,
                200,
                &json!({"ok": true, "deleted": id.as_str()}),
                "Deleted",
                "The held post was deleted.",
            )
        }
        Err(e) => store_trouble(
            json,
            &format!("The held post could not be deleted now: {e}"),
        ),
    }
}

/// From the scheduled run: at most once a day, when posts were held since
/// the last such alert, a `spam_held` alert with how many (no visitor
/// data). At most a KV read and a listing an hour (fewer when the
/// isolate remembers the last look), a write only when sent.
pub async fn daily_alert<P: Platform>(p: &P, config: &Config) {
    if config
        .settings
        .alert_webhook_url
        .as_ref()
        .is_none_or(|u| u.is_empty())
    {
        return;
    }
    let now = p.now_ms();
    let kind = AlertKind::SpamHeld;
    let remember = |next_ms: u64| {
        if let Some(m) = p.memory() {
            m.next_held_alert_check_ms.set(next_ms);
        }
    };
    if p.memory()
        .is_some_and(|m| now < m.next_held_alert_check_ms.get())
    {
        return;
    }
    let last = alerts::last_sent(p, kind).await;
    if let Some(t) = last.filter(|t| now.saturating_sub(*t) < kind.interval_ms()) {
        remember(t.saturating_add(kind.interval_ms()));
        return;
    }
    let since = last.unwrap_or(now.saturating_sub(kind.interval_ms()));
    let (new, total) = match (held::count_since(p, since).await, held::count(p).await) {
        (Ok(n), Ok(t)) => (n, t),
        (Err(e), _) | (_, Err(e)) => {
            p.log(&format!("scheduled: could not count the held posts: {e}"));
            return;
        }
    };
    if new == 0 {
        remember(now.saturating_add(HOUR_MS));
        return;
    }
    remember(now.saturating_add(kind.interval_ms()));
    let message = format!(
        "{new} suspicious post(s) held for review since {}; {total} held in all. Deliver or \
         delete them on /admin (each is kept 30 days).",
        time::to_rfc3339(since)
    );
    alerts::alert(p, config, kind, &message).await;
}

#[cfg(test)]
mod tests;
