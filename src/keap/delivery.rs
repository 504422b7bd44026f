//! Delivering one lead to Keap: the upsert, then its tags and its note
//! side by side. Shared by the form path and the outbox drain.
//!
//! [`Progress`] records how far a lead got, so a lead whose contact was
//! created but whose tags failed only re-sends its tags next time: no
//! second upsert, no second note, and fewer of the run's outbound
//! requests spent. A note, unlike tags, is not harmless to send twice, so
//! progress records it once it is written.

use futures_util::future::join;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::form::lead::Lead;
use crate::keap::credentials::Credentials;
use crate::keap::{self, ContactId, Failure};
use crate::platform::Platform;

/// How far a lead's delivery has got. Stored in an outbox entry as
/// `{"stage":"needs_contact"}`, `{"stage":"needs_tags","contact_id":9}`
/// (with `"note_written":true` once the note is in Keap) or
/// `{"stage":"needs_note","contact_id":9}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Progress {
    /// Nothing done yet: upsert the contact, then tag it and write its note.
    #[default]
    NeedsContact,
    /// The contact exists; the tags remain, and the note (if the lead has
    /// one) unless `note_written`.
    NeedsTags {
        contact_id: ContactId,
        #[serde(default, skip_serializing_if = "is_false")]
        note_written: bool,
    },
    /// The contact exists and is tagged; only the note remains.
    NeedsNote { contact_id: ContactId },
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Progress {
    /// The contact exists, with nothing after the upsert done yet.
    pub fn contact_written(contact_id: ContactId) -> Progress {
        Progress::NeedsTags {
            contact_id,
            note_written: false,
        }
    }

    /// Keap calls a delivery from here makes at most (for the drain's
    /// per-invocation request budget).
    pub fn calls_needed(self, lead: &Lead) -> usize {
        let tags = keap::tag_calls(&lead.tag_ids);
        let note = usize::from(lead.note.is_some());
        match self {
            Progress::NeedsContact => 1 + tags + note,
            Progress::NeedsTags { note_written, .. } => tags + if note_written { 0 } else { note },
            Progress::NeedsNote { .. } => note,
        }
    }
}

/// What the upsert did, as far as this delivery knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactWrite {
    Created,
    Updated,
    /// An earlier attempt wrote the contact; this one only finished it.
    Earlier,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered {
        contact_id: ContactId,
        contact: ContactWrite,
    },
    /// Try again later from `progress`. `token_rejected`: Keap answered 401
    /// (the refresher should look at the token). No personal data in
    /// `reason`.
    Retry {
        progress: Progress,
        reason: String,
        token_rejected: bool,
    },
    /// Keap refuses this lead; keep it as a dead letter for the owner.
    Permanent { progress: Progress, reason: String },
}

/// Delivers `lead` from `progress` with `creds`: at most one upsert, one
/// tag call per hundred tags and one note call, the tags and the note
/// at the same time.
pub async fn deliver<P: Platform>(
    platform: &P,
    config: &Config,
    creds: &Credentials,
    lead: &Lead,
    progress: Progress,
) -> DeliveryOutcome {
    let (contact_id, contact) = match progress {
        Progress::NeedsTags { contact_id, .. } | Progress::NeedsNote { contact_id } => {
            (contact_id, ContactWrite::Earlier)
        }
        Progress::NeedsContact => match upsert(platform, config, creds, lead).await {
            Ok(written) => written,
            Err(outcome) => return outcome,
        },
    };
    finish(platform, config, creds, lead, contact_id, contact, progress).await
}

/// The first half of a delivery: writes the contact (one call). The
/// outbox drain calls the halves itself when it must record the contact
/// id before tagging (see `flows::drain`).
pub async fn upsert<P: Platform>(
    platform: &P,
    config: &Config,
    creds: &Credentials,
    lead: &Lead,
) -> Result<(ContactId, ContactWrite), DeliveryOutcome> {
    let request = creds.apply(keap::upsert_request(config.settings.api_url(), lead));
    let answer = platform.fetch(request).await;
    match keap::read_upsert(&answer, lead) {
        Ok(u) => {
            let write = if u.created {
                ContactWrite::Created
            } else {
                ContactWrite::Updated
            };
            Ok((u.contact_id, write))
        }
        Err(failure) => Err(failed(failure, Progress::NeedsContact)),
    }
}

/// The second half: what `progress` says remains after the upsert, on
/// `contact_id`: the lead's tags (one call per hundred; none without
/// tags) and its note (one call), sent at the same time. `contact` is
/// what the upsert did.
pub async fn finish<P: Platform>(
    platform: &P,
    config: &Config,
    creds: &Credentials,
    lead: &Lead,
    contact_id: ContactId,
    contact: ContactWrite,
    progress: Progress,
) -> DeliveryOutcome {
    let (tags_due, note_due) = match progress {
        Progress::NeedsContact => (true, true),
        Progress::NeedsTags { note_written, .. } => (true, !note_written),
        Progress::NeedsNote { .. } => (false, true),
    };
    let note = lead.note.as_ref().filter(|_| note_due);
    let api = config.settings.api_url();
    let tags = async {
        if !tags_due {
            return Ok(());
        }
        for (request, sent) in keap::tag_requests(api, contact_id, &lead.tag_ids) {
            let answer = platform.fetch(creds.apply(request)).await;
            keap::read_tags(&answer, &sent, lead)?;
        }
        Ok(())
    };
    let noted = async {
        let Some(note) = note else {
            return Ok(false);
        };
        let request = keap::note_request(api, contact_id, lead, note);
        let answer = platform.fetch(creds.apply(request)).await;
        keap::read_note(&answer, lead).map(|()| true)
    };
    let (tagged, noted) = join(tags, noted).await;
    // The note is written when it was already, or is now.
    let note_done = !note_due || noted == Ok(true);
    match (tagged, noted) {
        (Ok(()), Ok(_)) => DeliveryOutcome::Delivered {
            contact_id,
            contact,
        },
        (Ok(()), Err(failure)) => failed(failure, Progress::NeedsNote { contact_id }),
        (Err(failure), Ok(_)) => failed(
            failure,
            Progress::NeedsTags {
                contact_id,
                note_written: note_done,
            },
        ),
        (Err(tags), Err(note)) => failed(worse(tags, note), Progress::contact_written(contact_id)),
    }
}

/// Of two failures at once, the one that decides what happens next: a
/// vanished contact (write it again), then a refusal (a dead letter),
/// then a retry, rejected credentials first (the refresher must know).
fn worse(a: Failure, b: Failure) -> Failure {
    fn rank(f: &Failure) -> u8 {
        match f {
            Failure::ContactGone => 3,
            Failure::Permanent { .. } => 2,
            Failure::Retry {
                token_rejected: true,
                ..
            } => 1,
            Failure::Retry { .. } => 0,
        }
    }
    if rank(&b) > rank(&a) {
        b
    } else {
        a
    }
}

/// The outcome of a failed call made from `progress`.
fn failed(failure: Failure, progress: Progress) -> DeliveryOutcome {
    match failure {
        Failure::Retry {
            reason,
            token_rejected,
        } => DeliveryOutcome::Retry {
            progress,
            reason,
            token_rejected,
        },
        Failure::Permanent { reason } => DeliveryOutcome::Permanent { progress, reason },
        // The contact is gone (merged, deleted): write it again, then
        // finish. A note already written goes on the gone contact; the
        // new one gets its own.
        Failure::ContactGone => DeliveryOutcome::Retry {
            progress: Progress::NeedsContact,
            reason: "Keap no longer has the contact; it will be written again".into(),
            token_rejected: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::forms::DuplicateOption;
    use crate::http::{FetchError, InResponse, Method};
    use crate::secret::Secret;
    use crate::settings::Settings;
    use crate::testing::{block_on, MemoryPlatform};

    fn config() -> Config {
        Config::from_settings(Settings {
            keap_api_key: Some(Secret::new("KeapAK-test")),
            keap_api_url: Some("https://keap.test/crm/rest".into()),
            ..Settings::default()
        })
    }

    fn lead(tags: Vec<u64>) -> Lead {
        Lead {
            form_id: "contact".into(),
            email: Some("jane@example.com".into()),
            first_name: None,
            last_name: None,
            phone: None,
            custom_fields: vec![],
            tag_ids: tags,
            duplicate_option: DuplicateOption::Email,
            opt_in_reason: None,
            ip: None,
            received_at_ms: 0,
            job_title: None,
            website: None,
            address: None,
            note: None,
        }
    }

    fn creds() -> Credentials {
        Credentials::ApiKey(Secret::new("KeapAK-test"))
    }

    fn keap(upsert: (u16, &'static str), tags: (u16, &'static str)) -> MemoryPlatform {
        let p = MemoryPlatform::new();
        p.respond(move |r| {
            let (status, body) = if r.method == Method::Put {
                upsert
            } else {
                tags
            };
            Ok(InResponse::new(status, body))
        });
        p
    }

    #[test]
    fn upserts_then_tags_with_the_credentials() {
        let p = keap(
            (201, r#"{"id":42}"#),
            (200, r#"{"101":"SUCCESS","102":"SUCCESS"}"#),
        );
        let out = block_on(deliver(
            &p,
            &config(),
            &creds(),
            &lead(vec![101, 102]),
            Progress::NeedsContact,
        ));
        assert_eq!(
            out,
            DeliveryOutcome::Delivered {
                contact_id: 42,
                contact: ContactWrite::Created
            }
        );
        let sent = p.requests.borrow();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].url, "https://keap.test/crm/rest/v1/contacts");
        assert_eq!(
            sent[1].url,
            "https://keap.test/crm/rest/v1/contacts/42/tags"
        );
        assert!(sent
            .iter()
            .all(|r| r.headers.get("X-Keap-API-Key") == Some("KeapAK-test")));
    }

    #[test]
    fn no_tags_means_one_call() {
        let p = keap((200, r#"{"id":7}"#), (500, ""));
        let out = block_on(deliver(
            &p,
            &config(),
            &creds(),
            &lead(vec![]),
            Progress::NeedsContact,
        ));
        assert_eq!(
            out,
            DeliveryOutcome::Delivered {
                contact_id: 7,
                contact: ContactWrite::Updated
            }
        );
        assert_eq!(p.requests.borrow().len(), 1);
        assert_eq!(Progress::NeedsContact.calls_needed(&lead(vec![])), 1);
    }

    #[test]
    fn a_tag_failure_keeps_the_contact_and_a_retry_only_tags() {
        let p = keap((201, r#"{"id":42}"#), (503, ""));
        let l = lead(vec![101]);
        let out = block_on(deliver(&p, &config(), &creds(), &l, Progress::NeedsContact));
        let DeliveryOutcome::Retry {
            progress,
            token_rejected: false,
            ..
        } = out
        else {
            panic!("{out:?}");
        };
        assert_eq!(progress, Progress::contact_written(42));
        assert_eq!(progress.calls_needed(&l), 1);

        let p = keap((500, ""), (200, r#"{"101":"DUPLICATE"}"#));
        let out = block_on(deliver(&p, &config(), &creds(), &l, progress));
        assert_eq!(
            out,
            DeliveryOutcome::Delivered {
                contact_id: 42,
                contact: ContactWrite::Earlier
            }
        );
        assert!(p.requests.borrow().iter().all(|r| r.method == Method::Post));
    }

    #[test]
    fn retry_permanent_and_token_rejection() {
        let l = lead(vec![101]);
        let p = keap((401, "{}"), (200, ""));
        let out = block_on(deliver(&p, &config(), &creds(), &l, Progress::NeedsContact));
        assert!(matches!(
            out,
            DeliveryOutcome::Retry {
                progress: Progress::NeedsContact,
                token_rejected: true,
                ..
            }
        ));
        assert_eq!(
            p.requests.borrow().len(),
            1,
            "no tag call after a failed upsert"
        );

        let p = keap((422, r#"{"message":"bad"}"#), (200, ""));
        let out = block_on(deliver(&p, &config(), &creds(), &l, Progress::NeedsContact));
        assert!(matches!(
            out,
            DeliveryOutcome::Permanent {
                progress: Progress::NeedsContact,
                ..
            }
        ));

        let p = keap((201, r#"{"id":5}"#), (200, r#"{"101":"TAG_ID_NOT_FOUND"}"#));
        let out = block_on(deliver(&p, &config(), &creds(), &l, Progress::NeedsContact));
        assert!(matches!(
            out,
            DeliveryOutcome::Permanent {
                progress: Progress::NeedsTags { contact_id: 5, .. },
                ..
            }
        ));

        let p = keap(
            (201, r#"{"id":5}"#),
            (200, r#"{"101":"CONTACT_NOT_FOUND"}"#),
        );
        let out = block_on(deliver(&p, &config(), &creds(), &l, Progress::NeedsContact));
        assert!(matches!(
            out,
            DeliveryOutcome::Retry {
                progress: Progress::NeedsContact,
                ..
            }
        ));

        let p = MemoryPlatform::new();
        p.respond(|_| Err(FetchError::Timeout));
        let out = block_on(deliver(&p, &config(), &creds(), &l, Progress::NeedsContact));
        assert!(matches!(
            out,
            DeliveryOutcome::Retry {
                token_rejected: false,
                ..
            }
        ));
    }

    fn with_note(tags: Vec<u64>) -> Lead {
        Lead {
            note: Some(crate::form::note::Note {
                message: Some("Please call".into()),
                context: crate::form::context::Context::default(),
                consent: None,
                subject: None,
                fields: Default::default(),
            }),
            ..lead(tags)
        }
    }

    /// Keap answering each route as given.
    fn keap3(
        upsert: (u16, &'static str),
        tags: (u16, &'static str),
        note: (u16, &'static str),
    ) -> MemoryPlatform {
        let p = MemoryPlatform::new();
        p.respond(move |r| {
            let (status, body) = if r.method == Method::Put {
                upsert
            } else if r.url.ends_with("/v1/notes") {
                note
            } else {
                tags
            };
            Ok(InResponse::new(status, body))
        });
        p
    }

    fn notes_sent(p: &MemoryPlatform) -> usize {
        p.requests
            .borrow()
            .iter()
            .filter(|r| r.url.ends_with("/v1/notes"))
            .count()
    }

    #[test]
    fn a_note_goes_beside_the_tags_after_the_upsert() {
        let p = keap3(
            (201, r#"{"id":42}"#),
            (200, r#"{"101":"SUCCESS"}"#),
            (201, r#"{"id":1}"#),
        );
        let l = with_note(vec![101]);
        assert_eq!(Progress::NeedsContact.calls_needed(&l), 3);
        let out = block_on(deliver(&p, &config(), &creds(), &l, Progress::NeedsContact));
        assert!(
            matches!(out, DeliveryOutcome::Delivered { contact_id: 42, .. }),
            "{out:?}"
        );
        let sent = p.requests.borrow();
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[0].method, Method::Put, "the upsert first");
        let note = sent.iter().find(|r| r.url.ends_with("/v1/notes")).unwrap();
        let body: serde_json::Value =
            serde_json::from_slice(note.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["contact_id"], 42);
        assert!(note.headers.get("X-Keap-API-Key").is_some());

        // Without tags: the upsert and the note.
        let p = keap3((200, r#"{"id":7}"#), (500, ""), (201, "{}"));
        let out = block_on(deliver(
            &p,
            &config(),
            &creds(),
            &with_note(vec![]),
            Progress::NeedsContact,
        ));
        assert!(matches!(out, DeliveryOutcome::Delivered { .. }), "{out:?}");
        assert_eq!(p.requests.borrow().len(), 2);
    }

    /// A platform whose tag calls yield once before going out, so that a
    /// note call made at the same time goes out first; one made after
    /// the tags does not.
    struct TagsYield {
        inner: MemoryPlatform,
        note_sent: std::cell::Cell<bool>,
        /// Whether the note had gone out when each tag call did.
        note_before_tags: std::cell::RefCell<Vec<bool>>,
    }

    /// Pending once (waking itself at once), then ready.
    struct YieldOnce(bool);

    impl std::future::Future for YieldOnce {
        type Output = ();
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            if self.0 {
                return std::task::Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }

    impl Platform for TagsYield {
        async fn kv_get(&self, key: &str) -> Result<Option<String>, crate::platform::StoreError> {
            self.inner.kv_get(key).await
        }
        async fn kv_put(
            &self,
            key: &str,
            value: &str,
            options: crate::platform::PutOptions,
        ) -> Result<(), crate::platform::StoreError> {
            self.inner.kv_put(key, value, options).await
        }
        async fn kv_delete(&self, key: &str) -> Result<(), crate::platform::StoreError> {
            self.inner.kv_delete(key).await
        }
        async fn kv_list(
            &self,
            prefix: &str,
            cursor: Option<String>,
            limit: u32,
        ) -> Result<crate::platform::KeyPage, crate::platform::StoreError> {
            self.inner.kv_list(prefix, cursor, limit).await
        }
        async fn fetch(&self, request: crate::http::OutRequest) -> Result<InResponse, FetchError> {
            if request.url.ends_with("/tags") {
                YieldOnce(false).await;
                self.note_before_tags
                    .borrow_mut()
                    .push(self.note_sent.get());
            } else if request.url.ends_with("/v1/notes") {
                self.note_sent.set(true);
            }
            self.inner.fetch(request).await
        }
        async fn rate_limit(&self, key: &str) -> crate::platform::RateDecision {
            self.inner.rate_limit(key).await
        }
        async fn sleep_ms(&self, ms: u64) {
            self.inner.sleep_ms(ms).await
        }
        fn now_ms(&self) -> u64 {
            self.inner.now_ms()
        }
        fn log(&self, line: &str) {
            self.inner.log(line)
        }
    }

    #[test]
    fn the_note_does_not_wait_for_the_tags() {
        let p = TagsYield {
            inner: keap3(
                (201, r#"{"id":42}"#),
                (200, r#"{"101":"SUCCESS"}"#),
                (201, "{}"),
            ),
            note_sent: std::cell::Cell::new(false),
            note_before_tags: std::cell::RefCell::new(Vec::new()),
        };
        let out = block_on(deliver(
            &p,
            &config(),
            &creds(),
            &with_note(vec![101]),
            Progress::NeedsContact,
        ));
        assert!(matches!(out, DeliveryOutcome::Delivered { .. }), "{out:?}");
        assert_eq!(
            p.note_before_tags.borrow().as_slice(),
            &[true],
            "the note went out while the tags call was still waiting"
        );
    }

    #[test]
    fn a_tags_failure_never_writes_a_second_note() {
        let l = with_note(vec![101]);
        let p = keap3((201, r#"{"id":42}"#), (503, ""), (201, "{}"));
        let out = block_on(deliver(&p, &config(), &creds(), &l, Progress::NeedsContact));
        let DeliveryOutcome::Retry { progress, .. } = out else {
            panic!("{out:?}");
        };
        assert_eq!(
            progress,
            Progress::NeedsTags {
                contact_id: 42,
                note_written: true
            }
        );
        assert_eq!(progress.calls_needed(&l), 1);
        assert_eq!(notes_sent(&p), 1);

        // The retry only tags.
        let p = keap3((500, ""), (200, r#"{"101":"SUCCESS"}"#), (500, ""));
        let out = block_on(deliver(&p, &config(), &creds(), &l, progress));
        assert!(
            matches!(
                out,
                DeliveryOutcome::Delivered {
                    contact: ContactWrite::Earlier,
                    ..
                }
            ),
            "{out:?}"
        );
        assert_eq!(notes_sent(&p), 0);
        assert_eq!(p.requests.borrow().len(), 1);
    }

    #[test]
    fn a_failed_note_alone_is_retried_alone() {
        let l = with_note(vec![101, 102]);
        let p = keap3(
            (201, r#"{"id":42}"#),
            (200, r#"{"101":"SUCCESS","102":"SUCCESS"}"#),
            (429, ""),
        );
        let out = block_on(deliver(&p, &config(), &creds(), &l, Progress::NeedsContact));
        let DeliveryOutcome::Retry {
            progress, reason, ..
        } = out
        else {
            panic!("{out:?}");
        };
        assert_eq!(progress, Progress::NeedsNote { contact_id: 42 });
        assert!(reason.starts_with("note: "), "{reason}");
        assert_eq!(progress.calls_needed(&l), 1);

        let p = keap3((500, ""), (500, ""), (201, "{}"));
        let out = block_on(deliver(&p, &config(), &creds(), &l, progress));
        assert!(matches!(out, DeliveryOutcome::Delivered { .. }), "{out:?}");
        let sent = p.requests.borrow();
        assert_eq!(sent.len(), 1);
        assert!(sent[0].url.ends_with("/v1/notes"));
    }

    #[test]
    fn both_failing_leaves_both_to_do_and_a_refused_note_is_a_dead_letter() {
        let l = with_note(vec![101]);
        let p = keap3((201, r#"{"id":42}"#), (503, ""), (503, ""));
        let out = block_on(deliver(&p, &config(), &creds(), &l, Progress::NeedsContact));
        let DeliveryOutcome::Retry { progress, .. } = out else {
            panic!("{out:?}");
        };
        assert_eq!(progress, Progress::contact_written(42));
        assert_eq!(progress.calls_needed(&l), 2);

        let p = keap3(
            (201, r#"{"id":42}"#),
            (200, r#"{"101":"SUCCESS"}"#),
            (422, "{}"),
        );
        let out = block_on(deliver(&p, &config(), &creds(), &l, Progress::NeedsContact));
        assert!(
            matches!(&out, DeliveryOutcome::Permanent { progress: Progress::NeedsNote { contact_id: 42 }, reason } if reason.starts_with("note: ")),
            "{out:?}"
        );
        // A refusal outranks a retry when both fail at once.
        let p = keap3((201, r#"{"id":42}"#), (503, ""), (400, "{}"));
        let out = block_on(deliver(&p, &config(), &creds(), &l, Progress::NeedsContact));
        assert!(
            matches!(
                out,
                DeliveryOutcome::Permanent {
                    progress: Progress::NeedsTags {
                        note_written: false,
                        ..
                    },
                    ..
                }
            ),
            "{out:?}"
        );
        // A lead without a note never sends one, whatever its progress says.
        let p = keap3((500, ""), (500, ""), (201, "{}"));
        let out = block_on(deliver(
            &p,
            &config(),
            &creds(),
            &lead(vec![]),
            Progress::NeedsNote { contact_id: 3 },
        ));
        assert!(matches!(out, DeliveryOutcome::Delivered { .. }), "{out:?}");
        assert!(p.requests.borrow().is_empty());
    }

    #[test]
    fn progress_written_by_the_hand_written_code_is_read() {
        use crate::fixtures;
        let contact: Progress = fixtures::record("progress_needs_contact.json");
        assert_eq!(contact, Progress::NeedsContact);
        let tags: Progress = fixtures::record("progress_needs_tags.json");
        assert_eq!(tags, Progress::contact_written(4821));
        let noted = Progress::NeedsTags {
            contact_id: 9,
            note_written: true,
        };
        for progress in [
            noted,
            Progress::NeedsNote { contact_id: 9 },
            Progress::contact_written(9),
        ] {
            let text = serde_json::to_string(&progress).unwrap();
            assert_eq!(serde_json::from_str::<Progress>(&text).unwrap(), progress);
        }
        assert_eq!(
            serde_json::to_string(&Progress::contact_written(9)).unwrap(),
            r#"{"stage":"needs_tags","contact_id":9}"#,
            "written as before notes existed"
        );
        for bad in [
            r#"{"stage":"needs_note"}"#,
            r#"{"stage":"needs_tags"}"#,
            r#"{"stage":"done"}"#,
            r#"{"contact_id":9}"#,
        ] {
            assert!(serde_json::from_str::<Progress>(bad).is_err(), "{bad}");
        }
    }
}
