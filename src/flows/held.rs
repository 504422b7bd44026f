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

use crate::alerts::{self, AlertKind};
use crate::config::Config;
use crate::http::Reply;
use crate::pages;
use crate::pages::held::{self as view, HeldShown, HeldView, HELD_SHOWN};
use crate::pages::outcomes::Said;
use crate::platform::{Platform, StoreError};
use crate::store::held::{self, HeldId};
use crate::time;

const HOUR_MS: u64 = 3_600_000;

/// The earliest time (ms) the `spam_held` alert is worth looking at again
/// (it was sent, or found not due, or nothing new was held), kept in the
/// isolate's memory.
#[derive(Default)]
struct NextAlertCheck(u64);

/// The oldest [`HELD_SHOWN`] held posts: one listing and one bulk read.
pub async fn views<P: Platform>(p: &P, config: &Config) -> Result<Vec<HeldView>, StoreError> {
    let listed = held::list(p, HELD_SHOWN).await?;
    let ids: Vec<&HeldId> = listed.iter().map(|s| &s.id).collect();
    let posts = held::load_many(p, &config.seal_key, &ids).await?;
    Ok(listed
        .into_iter()
        .zip(posts)
        .map(|(summary, post)| HeldView { summary, post })
        .collect())
}

/// What `/admin` shows: the listed held posts and how many there are in
/// all (a second listing only when the first page is full: KV lists are
/// counted too); `json` (`/admin/status`): the count alone.
pub async fn shown<P: Platform>(p: &P, config: &Config, json: bool) -> HeldShown {
    let shown = if json {
        held::count(p, u64::MAX)
            .await
            .map(|(all, _)| HeldShown::Count(all))
    } else {
        listed(p, config)
            .await
            .map(|(views, count)| HeldShown::Listed { views, count })
    };
    shown.unwrap_or_else(|e| {
        p.log(&format!("admin: could not read the held posts: {e}"));
        HeldShown::Unreadable
    })
}

/// The oldest held posts and how many there are in all.
async fn listed<P: Platform>(p: &P, config: &Config) -> Result<(Vec<HeldView>, u64), StoreError> {
    let views = views(p, config).await?;
    let count = if views.len() < HELD_SHOWN as usize {
        views.len() as u64
    } else {
        held::count(p, u64::MAX).await?.0
    };
    Ok((views, count))
}

/// `GET /admin/held`.
pub async fn list<P: Platform>(p: &P, config: &Config) -> Reply {
    let (views, count) = match listed(p, config).await {
        Ok(both) => both,
        Err(e) => {
            p.log(&format!("admin: could not list the held posts: {e}"));
            let trouble = view::store_trouble("the held posts could not be read now");
            return pages::into_reply(&trouble, true);
        }
    };
    let held: Vec<Value> = views.iter().map(HeldView::json).collect();
    Reply::json(200, &json!({"ok": true, "count": count, "held": held}))
        .with_header("Cache-Control", "no-store")
}

/// `POST /admin/held/{id}/release`: delivers the post exactly once. It is
/// removed from the held posts first, then delivered (or queued, or kept
/// as a dead letter, as a visitor's lead would be); if it could be
/// neither delivered nor stored it is put back.
pub async fn release<P: Platform>(p: &P, config: &Config, id: &str) -> Said {
    let Some(id) = HeldId::parse(id) else {
        return view::gone();
    };
    let post = match held::load(p, &config.seal_key, &id).await {
        Ok(Some(post)) => post,
        Ok(None) => return view::gone(),
        Err(e) => {
            p.log(&format!(
                "admin: held post {} cannot be read: {e}",
                id.as_str()
            ));
            return view::store_trouble(&format!("The held post cannot be read: {e}."));
        }
    };
    if let Err(e) = held::delete(p, &id).await {
        p.log(&format!(
            "admin: held post {} not released: {e}",
            id.as_str()
        ));
        return view::store_trouble("The held post could not be released now; try again.");
    }
    match super::submit::deliver_lead(p, config, &post.lead).await {
        Ok(handled) => {
            p.log(&format!(
                "admin: held post {} released ({})",
                id.as_str(),
                handled.accepted.as_str()
            ));
            view::released(handled.accepted, handled.contact_id)
        }
        Err(problem) => {
            if let Err(e) = held::restore(p, &config.seal_key, &id, &post).await {
                p.log(&format!(
                    "admin: held post {} could be neither delivered nor kept: {e}",
                    id.as_str()
                ));
            }
            view::store_trouble(&format!(
                "Nothing was delivered: {} The post is still held.",
                problem.message
            ))
        }
    }
}

/// `POST /admin/held/{id}/delete`.
pub async fn delete<P: Platform>(p: &P, id: &str) -> Said {
    let Some(id) = HeldId::parse(id) else {
        return view::gone();
    };
    match p.kv_get(&id.key()).await {
        Ok(Some(_)) => {}
        Ok(None) => return view::gone(),
        Err(e) => return view::store_trouble(&format!("{e}")),
    }
    match held::delete(p, &id).await {
        Ok(()) => {
            p.log(&format!("admin: held post {} deleted", id.as_str()));
            view::deleted(id.as_str())
        }
        Err(e) => view::store_trouble(&format!("The held post could not be deleted now: {e}")),
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
            m.with(|next: &mut NextAlertCheck| next.0 = next_ms);
        }
    };
    if p.memory()
        .is_some_and(|m| now < m.with(|next: &mut NextAlertCheck| next.0))
    {
        return;
    }
    let last = alerts::last_sent(p, kind).await;
    if let Some(t) = last.filter(|t| now.saturating_sub(*t) < kind.interval_ms()) {
        remember(t.saturating_add(kind.interval_ms()));
        return;
    }
    let since = last.unwrap_or(now.saturating_sub(kind.interval_ms()));
    let (total, new) = match held::count(p, since).await {
        Ok(both) => both,
        Err(e) => {
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
