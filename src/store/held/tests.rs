//! Held posts in the in-memory store: ids, sealing, the daily cap and
//! what it costs.

use super::*;
use crate::config::Config;
use crate::form::body::Fields;
use crate::secret::Secret;
use crate::settings::Settings;
use crate::testing::{block_on, MemoryPlatform};

const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn config() -> Config {
    Config::from_settings(Settings {
        encryption_key: Some(Secret::new(KEY_B64)),
        forms: Some(serde_json::json!({"contact": {}})),
        ..Settings::default()
    })
}

fn lead(message: &str, at_ms: u64) -> Lead {
    let config = config();
    let form = config
        .forms
        .as_ref()
        .unwrap()
        .get("contact")
        .unwrap()
        .clone();
    let mut fields = Fields::new();
    fields.push("email", "sam@example.com");
    fields.push("message", message);
    crate::form::lead::validate(&form, &fields, None, at_ms).unwrap()
}

#[test]
fn ids_have_one_shape_and_nothing_else_parses() {
    let id = HeldId::new(1_767_225_600_000).unwrap();
    assert_eq!(id.as_str().len(), ID_LEN);
    assert!(id.as_str().starts_with("20260101-"));
    assert_eq!(HeldId::parse(id.as_str()), Some(id.clone()));
    assert_eq!(id.key(), format!("held/{}", id.as_str()));
    let hex = "0123456789abcdef0123456789abcdef";
    for bad in [
        String::new(),
        "../tokens".into(),
        "..%2Ftokens".into(),
        format!("20260101-{hex}/x"),
        format!("20260101-{}", hex.to_uppercase()),
        format!("20260101_{hex}"),
        format!("2026010x-{hex}"),
        format!("20260101-{hex}0"),
        format!("20260101-{}", &hex[1..]),
        "auth/tokens".into(),
        format!("outbox/0000000000000-{}", &hex[..12]),
        format!("20260101-{}%2f", &hex[3..]),
        format!("20260101-{}é", &hex[2..]),
    ] {
        assert_eq!(HeldId::parse(&bad), None, "{bad:?}");
    }
}

#[test]
fn a_held_post_is_sealed_expires_and_lists_without_its_words() {
    let p = MemoryPlatform::new();
    let c = config();
    let l = lead("buy <a href=x>now</a> secret-words", p.now_ms());
    let Kept::Held(id) = block_on(hold(&p, &c.seal_key, &l, Reason::MarkupLink)).unwrap() else {
        panic!("held")
    };
    let stored = p.kv.borrow().get(&id.key()).cloned().unwrap();
    assert!(!stored.value.contains("secret-words"));
    assert!(!stored.value.contains("sam@example.com"));
    let meta = stored.metadata.unwrap();
    assert!(!meta.contains("secret-words") && !meta.contains("sam@"));
    assert_eq!(
        stored.expires_at_ms,
        Some(p.now_ms() + HELD_TTL_SECS * 1000)
    );
    // Apart from the outbox, and not openable as an outbox entry.
    assert!(p.keys(kv_keys::OUTBOX_PREFIX).is_empty());
    let outbox_key = crate::store::seal::SealKey::from_base64(KEY_B64).unwrap();
    assert!(seal::open(&outbox_key, kv_keys::OUTBOX_LABEL, &stored.value).is_err());

    let listed = block_on(list(&p, 50)).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].form, "contact");
    assert_eq!(listed[0].reason, Some(Reason::MarkupLink));
    assert_eq!(listed[0].received_at_ms, Some(p.now_ms()));
    let back = block_on(load(&p, &c.seal_key, &id)).unwrap().unwrap();
    assert_eq!(back.lead, l);
    assert_eq!(back.reason, Reason::MarkupLink);
    assert_eq!(block_on(count(&p, 0)).unwrap().0, 1);

    block_on(delete(&p, &id)).unwrap();
    assert_eq!(block_on(load(&p, &c.seal_key, &id)).unwrap(), None);
    // KV forgets it after 30 days by itself.
    let Kept::Held(id2) = block_on(hold(&p, &c.seal_key, &l, Reason::MarkupLink)).unwrap() else {
        panic!()
    };
    p.advance_ms(HELD_TTL_SECS * 1000);
    assert_eq!(block_on(load(&p, &c.seal_key, &id2)).unwrap(), None);
}

#[test]
fn without_a_key_nothing_is_held() {
    let p = MemoryPlatform::new();
    let c = Config::from_settings(Settings::default());
    let l = lead("x", 0);
    assert!(matches!(
        block_on(hold(&p, &c.seal_key, &l, Reason::MarkupLink)),
        Err(HeldError::NoSealKey(_))
    ));
    assert!(p.kv.borrow().is_empty());
}

#[test]
fn a_flood_is_capped_per_day_at_a_listing_per_ten_writes() {
    let p = MemoryPlatform::new();
    let c = config();
    let l = lead("spam", p.now_ms());
    let mut held = 0;
    let mut dropped = 0;
    for _ in 0..(HELD_PER_DAY + 400) {
        match block_on(hold(&p, &c.seal_key, &l, Reason::TooManyLinks)).unwrap() {
            Kept::Held(_) => held += 1,
            Kept::OverCap { dropped: d } => {
                dropped += 1;
                assert_eq!(d, dropped);
            }
        }
    }
    assert_eq!(held, HELD_PER_DAY);
    assert_eq!(dropped, 400);
    assert_eq!(p.kv_writes.get(), HELD_PER_DAY, "a drop writes nothing");
    assert!(
        p.kv_lists.get() <= 1 + HELD_PER_DAY / RECOUNT_EVERY,
        "{} listings",
        p.kv_lists.get()
    );
    // The next UTC day starts afresh.
    p.advance_ms(MS_PER_DAY);
    assert!(matches!(
        block_on(hold(&p, &c.seal_key, &l, Reason::TooManyLinks)).unwrap(),
        Kept::Held(_)
    ));
}

#[test]
fn another_isolates_writes_are_seen_at_the_recount() {
    let p = MemoryPlatform::new();
    let c = config();
    let l = lead("spam", p.now_ms());
    // Another isolate (no shared memory) has held nearly the whole cap.
    let other = MemoryPlatform::new();
    for _ in 0..(HELD_PER_DAY - 5) {
        block_on(hold(&other, &c.seal_key, &l, Reason::TooManyLinks)).unwrap();
    }
    for (k, v) in other.kv.borrow().iter() {
        p.kv.borrow_mut().insert(k.clone(), v.clone());
    }
    let mut held = 0;
    for _ in 0..50 {
        if let Kept::Held(_) = block_on(hold(&p, &c.seal_key, &l, Reason::TooManyLinks)).unwrap() {
            held += 1;
        }
    }
    assert_eq!(held, 5, "this isolate's first hold listed the day's keys");
}

#[test]
fn without_isolate_memory_every_hold_lists_and_the_cap_still_holds() {
    struct Forgetful(MemoryPlatform);
    impl Platform for Forgetful {
        async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
            self.0.kv_get(key).await
        }
        async fn kv_put(&self, k: &str, v: &str, o: PutOptions) -> Result<(), StoreError> {
            self.0.kv_put(k, v, o).await
        }
        async fn kv_delete(&self, key: &str) -> Result<(), StoreError> {
            self.0.kv_delete(key).await
        }
        async fn kv_list(
            &self,
            prefix: &str,
            cursor: Option<String>,
            limit: u32,
        ) -> Result<crate::platform::KeyPage, StoreError> {
            self.0.kv_list(prefix, cursor, limit).await
        }
        async fn fetch(
            &self,
            r: crate::http::OutRequest,
        ) -> Result<crate::http::InResponse, crate::http::FetchError> {
            self.0.fetch(r).await
        }
        async fn rate_limit(&self, key: &str) -> crate::platform::RateDecision {
            self.0.rate_limit(key).await
        }
        async fn sleep_ms(&self, ms: u64) {
            self.0.sleep_ms(ms).await
        }
        fn now_ms(&self) -> u64 {
            self.0.now_ms()
        }
        fn log(&self, line: &str) {
            self.0.log(line)
        }
    }
    let p = Forgetful(MemoryPlatform::new());
    let c = config();
    let l = lead("spam", p.now_ms());
    let mut held = 0;
    for _ in 0..(HELD_PER_DAY + 3) {
        if let Kept::Held(_) = block_on(hold(&p, &c.seal_key, &l, Reason::TooManyLinks)).unwrap() {
            held += 1;
        }
    }
    assert_eq!(held, HELD_PER_DAY);
    assert_eq!(p.0.kv_lists.get(), HELD_PER_DAY + 3);
}

#[test]
fn count_tells_the_newer_posts_apart() {
    let p = MemoryPlatform::new();
    let c = config();
    let t0 = p.now_ms();
    block_on(hold(&p, &c.seal_key, &lead("a", t0), Reason::MarkupLink)).unwrap();
    p.advance_ms(1000);
    block_on(hold(
        &p,
        &c.seal_key,
        &lead("b", t0 + 1000),
        Reason::MarkupLink,
    ))
    .unwrap();
    assert_eq!(block_on(count(&p, t0)).unwrap(), (2, 1));
    assert_eq!(block_on(count(&p, t0 - 1)).unwrap(), (2, 2));
}
