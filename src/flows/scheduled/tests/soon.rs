//! Leads in Keap within seconds of a passing failure (the retry after
//! the answer), a backlog drained by the delivery queue, and every
//! invocation inside `DRAIN_SUBREQUESTS` and the runtime's CPU warning:
//! checked on what the simulated Keap holds.

use super::*;
use crate::flows::queue_batch::{self, Verdict};
use crate::routes;

const SITE: &str = "https://site.example";

fn with_forms(settings: Settings) -> Config {
    Config::from_settings(Settings {
        allowed_origins: Some(SITE.into()),
        forms: Some(json!({"contact": {"tags": [101, 102], "note": "message"}})),
        ..settings
    })
}

fn api_key_forms() -> Config {
    with_forms(Settings {
        keap_api_key: Some(Secret::new("KeapAK-test")),
        ..base()
    })
}

fn budget(config_settings: Settings, n: &str) -> Config {
    with_forms(Settings {
        drain_subrequests: Some(n.into()),
        ..config_settings
    })
}

fn api_key_settings() -> Settings {
    Settings {
        keap_api_key: Some(Secret::new("KeapAK-test")),
        ..base()
    }
}

/// A visitor's JSON post with a message (so a note is written).
fn post(i: usize) -> Incoming {
    let mut headers = Headers::new();
    headers.push("Origin", SITE);
    headers.push("Content-Type", "application/json");
    let body = json!({"email": format!("visitor{i}@example.com"), "message": format!("Hello {i}")});
    Incoming {
        method: Method::Post,
        url: crate::request_url::RequestUrl::parse("https://worker.test/forms/contact").unwrap(),
        headers,
        body: body.to_string().into_bytes(),
    }
}

/// The JSON log lines of the given event.
fn outcome_lines(p: &MemoryPlatform, event: &str) -> Vec<Value> {
    p.logs
        .borrow()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == event)
        .collect()
}

/// Plays Cloudflare Queues: hands out the messages the worker sent, at
/// most `size` at a time once their delay has passed (moving the clock
/// to the next one), and takes back retried ones with their delay. How
/// many batches ran.
fn run_queue(p: &MemoryPlatform, config: &Config, size: usize, max_batches: usize) -> usize {
    let mut waiting: Vec<(u64, String)> = Vec::new();
    let mut batches = 0;
    loop {
        let sent: Vec<_> = p.queued_messages.borrow_mut().drain(..).collect();
        for m in sent {
            waiting.push((p.now_ms() + u64::from(m.delay_secs) * 1000, m.body));
        }
        let Some(next) = waiting.iter().map(|w| w.0).min() else {
            return batches;
        };
        if next > p.now_ms() {
            p.now.set(next);
        }
        let now = p.now_ms();
        waiting.sort_by_key(|w| w.0);
        let ready = waiting.iter().take_while(|w| w.0 <= now).count().min(size);
        let batch: Vec<(u64, String)> = waiting.drain(..ready).collect();
        let bodies: Vec<Option<String>> = batch.iter().map(|b| Some(b.1.clone())).collect();
        let verdicts = block_on(routes::queue_batch(p, config, &bodies));
        assert_eq!(verdicts.len(), bodies.len());
        for (verdict, (_, body)) in verdicts.into_iter().zip(batch) {
            if let Verdict::Retry { delay_secs } = verdict {
                waiting.push((p.now_ms() + u64::from(delay_secs) * 1000, body));
            }
        }
        batches += 1;
        assert!(batches <= max_batches, "the queue does not drain");
        p.advance_ms(100);
    }
}

/// Posts `post(i)` and returns the answer's status and the work after it.
fn submit(p: &MemoryPlatform, config: &Config, i: usize) -> (u16, Option<AfterReply>) {
    let routed = block_on(routes::answer_request(p, config, post(i)));
    (routed.reply.status, routed.after)
}

#[test]
fn a_503_is_in_keap_seconds_after_the_answer_once_without_a_queue() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = api_key_forms();
    let mut first = true;
    crm.fail(move |r| {
        (r.method == Method::Put && std::mem::take(&mut first)).then_some((503, false))
    });

    let (status, after) = submit(&p, &config, 1);
    assert_eq!(status, 202);
    assert_eq!(crm.contact_count(), 0, "the answer came before any retry");
    let answered_at = p.now_ms();
    let Some(work @ AfterReply::RetrySoon(_)) = after else {
        panic!("no retry after the answer: {after:?}");
    };
    // Nobody else may take it while the retry may run.
    let Some(AfterReply::RetrySoon(soon)) = Some(work.clone()) else {
        unreachable!()
    };
    assert!(soon.entry.next_attempt_at_ms >= answered_at + 60_000);
    block_on(after_reply(&p, &config, work));

    assert!(p.now_ms() - answered_at <= 30_000, "within 30 s");
    assert_eq!((crm.contact_count(), crm.upserts.get()), (1, 1));
    assert!(crm.all_tagged());
    assert_eq!(crm.notes.borrow().len(), 1);
    assert_eq!(pending(&p), 0);
    assert!(p.queued_messages.borrow().is_empty(), "no queue bound");

    let submission = outcome_lines(&p, "submission");
    assert_eq!(submission.len(), 1);
    assert_eq!(submission[0]["outcome"], "queued");
    assert_eq!(submission[0]["error"], "keap_503");
    let delivery = outcome_lines(&p, "delivery");
    assert_eq!(delivery.len(), 1);
    assert_eq!(
        (
            &delivery[0]["outcome"],
            &delivery[0]["via"],
            &delivery[0]["attempt"]
        ),
        (&json!("delivered"), &json!("after_reply"), &json!(2))
    );
    // A structured line never carries the visitor's words or address.
    for line in p.logs.borrow().iter() {
        assert!(
            !line.contains("visitor1") && !line.contains("Hello"),
            "{line}"
        );
    }
}

#[test]
fn with_a_queue_the_message_finds_the_lead_delivered_and_is_dropped() {
    let crm = Crm::new();
    let p = platform(&crm);
    p.queue_bound.set(true);
    let config = api_key_forms();
    let mut first = true;
    crm.fail(move |r| {
        (r.method == Method::Put && std::mem::take(&mut first)).then_some((503, false))
    });

    let (status, after) = submit(&p, &config, 1);
    assert_eq!(status, 202);
    assert!(
        p.queued_messages.borrow().is_empty(),
        "the message goes after the answer"
    );
    let answered_at = p.now_ms();
    block_on(after_reply(&p, &config, after.unwrap()));
    let sent = p.queued_messages.borrow().clone();
    assert_eq!(sent.len(), 1, "one message for the queued lead");
    assert!(sent[0].body.starts_with("outbox/"), "only the entry's key");
    assert_eq!(sent[0].delay_secs, 60, "after the retry's lease");
    assert!(p.now_ms() - answered_at <= 30_000);
    assert_eq!(crm.contact_count(), 1);

    // The message arrives later: the entry is gone, it is acknowledged.
    assert_eq!(run_queue(&p, &config, 10, 5), 1);
    assert_eq!((crm.upserts.get(), crm.notes.borrow().len()), (1, 1));
    assert!(crm.all_tagged());
}

#[test]
fn a_429_with_a_retry_after_that_fits_is_honoured() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = api_key_forms();
    let c = Rc::clone(&crm);
    let first = Cell::new(true);
    p.respond(move |r| {
        if r.method == Method::Put && first.replace(false) {
            let mut throttled = InResponse::new(429, r#"{"message":"Quota Exceeded"}"#);
            throttled.headers.push("Retry-After", "5");
            return Ok(throttled);
        }
        c.answer(r)
    });
    let (status, after) = submit(&p, &config, 1);
    assert_eq!(status, 202);
    let Some(AfterReply::RetrySoon(soon)) = &after else {
        panic!("{after:?}")
    };
    assert_eq!(soon.wait_ms, Some(5_000));
    let answered_at = p.now_ms();
    block_on(after_reply(&p, &config, after.unwrap()));
    assert_eq!(p.now_ms() - answered_at, 5_000, "waited as Keap asked");
    assert_eq!((crm.contact_count(), crm.notes.borrow().len()), (1, 1));
    assert_eq!(outcome_lines(&p, "submission")[0]["error"], "keap_429");
}

#[test]
fn a_retry_after_too_long_for_the_invocation_is_left_to_the_queue() {
    let crm = Crm::new();
    let p = platform(&crm);
    p.queue_bound.set(true);
    let config = api_key_forms();
    let c = Rc::clone(&crm);
    let first = Cell::new(true);
    p.respond(move |r| {
        if r.method == Method::Put && first.replace(false) {
            let mut throttled = InResponse::new(429, "{}");
            throttled.headers.push("Retry-After", "120");
            return Ok(throttled);
        }
        c.answer(r)
    });
    let (_, after) = submit(&p, &config, 1);
    let answered_at = p.now_ms();
    block_on(after_reply(&p, &config, after.unwrap()));
    assert_eq!(p.now_ms(), answered_at, "no wait in the invocation");
    assert_eq!(crm.contact_count(), 0);
    assert_eq!(p.queued_messages.borrow()[0].delay_secs, 120);
    // Not due for the Cron run before then either.
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!((report.delivered, report.skipped), (0, 1));
    run_queue(&p, &config, 10, 5);
    assert!(p.now_ms() >= answered_at + 120_000);
    assert_eq!((crm.contact_count(), crm.notes.borrow().len()), (1, 1));
}

#[test]
fn a_lead_held_for_our_credentials_is_not_retried_after_the_answer() {
    let crm = Crm::new();
    let p = platform(&crm);
    p.queue_bound.set(true);
    let config = with_forms(Settings {
        keap_client_id: Some("cid".into()),
        keap_client_secret: Some(Secret::new("csecret")),
        ..base()
    });
    let (status, after) = submit(&p, &config, 1);
    assert_eq!((status, after), (202, None));
    assert_eq!(crm.calls.get(), 0);
    assert!(p.queued_messages.borrow().is_empty());
    let line = &outcome_lines(&p, "submission")[0];
    assert_eq!(
        (&line["outcome"], &line["error"]),
        (&json!("held"), &json!("no_credentials"))
    );
}

#[test]
fn when_the_retry_fails_too_the_message_delivers_after_the_back_off() {
    let crm = Crm::new();
    let p = platform(&crm);
    p.queue_bound.set(true);
    let config = api_key_forms();
    let mut failures = 2;
    crm.fail(move |r| {
        (r.method == Method::Put && failures > 0).then(|| {
            failures -= 1;
            (503, false)
        })
    });
    let (_, after) = submit(&p, &config, 1);
    block_on(after_reply(&p, &config, after.unwrap()));
    assert_eq!(crm.contact_count(), 0);
    // The retry was part of the first try: no attempt counted, due when
    // the lease ends, when the message comes.
    let kept = p.keys(kv_keys::OUTBOX_PREFIX);
    let id = EntryId::from_key(Queue::Pending, &kept[0]).unwrap();
    let stored = entry(&p, &config, &id);
    assert_eq!(stored.attempts, 0);
    let batches = run_queue(&p, &config, 10, 5);
    assert_eq!(batches, 1, "the message comes when the lead is due");
    assert_eq!((crm.contact_count(), crm.notes.borrow().len()), (1, 1));
    assert_eq!(pending(&p), 0);
}

#[test]
fn a_failing_queue_send_leaves_the_lead_for_the_cron_run() {
    let crm = Crm::new();
    let p = platform(&crm);
    p.queue_bound.set(true);
    p.fail_queue_sends.set(true);
    let config = api_key_forms();
    let mut failures = 2;
    crm.fail(move |r| {
        (r.method == Method::Put && failures > 0).then(|| {
            failures -= 1;
            (503, false)
        })
    });
    let (status, after) = submit(&p, &config, 1);
    assert_eq!(status, 202, "the visitor is told the truth: it is kept");
    block_on(after_reply(&p, &config, after.unwrap()));
    assert!(p
        .logs
        .borrow()
        .iter()
        .any(|l| l.contains("waits for the Cron run")));
    assert_eq!(pending(&p), 1);
    p.advance_ms(HOUR);
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.delivered, 1);
    assert_eq!((crm.contact_count(), crm.notes.borrow().len()), (1, 1));
}

#[test]
fn a_message_delivered_twice_writes_one_note() {
    let crm = Crm::new();
    let p = platform(&crm);
    p.queue_bound.set(true);
    let config = api_key_forms();
    block_on(outbox::enqueue(
        &p,
        &config.seal_key,
        &lead_with_note(1),
        Progress::NeedsContact,
        "x",
    ))
    .unwrap();
    let key = p.keys(kv_keys::OUTBOX_PREFIX)[0].clone();
    let twice = [Some(key.clone()), Some(key.clone())];
    let verdicts = block_on(routes::queue_batch(&p, &config, &twice));
    assert_eq!(verdicts, vec![Verdict::Ack, Verdict::Ack]);
    // And once more later, in a batch of its own.
    let again = block_on(routes::queue_batch(&p, &config, &[Some(key)]));
    assert_eq!(again, vec![Verdict::Ack]);
    assert_eq!((crm.upserts.get(), crm.notes.borrow().len()), (1, 1));
}

#[test]
fn a_claimed_entry_makes_a_duplicate_wait_and_the_cron_run_skip_it() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = api_key_forms();
    let ids = queue(&p, &config, 1);
    // A consumer claimed it and died before settling.
    let mut claimed = entry(&p, &config, &ids[0]);
    claimed.next_attempt_at_ms = p.now_ms() + crate::retry::timing::CLAIM_MS;
    block_on(outbox::save(
        &p,
        &config.seal_key,
        Queue::Pending,
        &ids[0],
        &claimed,
    ))
    .unwrap();
    let key = ids[0].key(Queue::Pending);
    let verdicts = block_on(routes::queue_batch(&p, &config, &[Some(key.clone())]));
    assert_eq!(verdicts, vec![Verdict::Retry { delay_secs: 120 }]);
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!((report.delivered, report.skipped), (0, 1));
    assert_eq!(crm.upserts.get(), 0, "nobody delivered the claimed lead");
    p.advance_ms(120_000);
    let verdicts = block_on(routes::queue_batch(&p, &config, &[Some(key)]));
    assert_eq!(verdicts, vec![Verdict::Ack]);
    assert_eq!(crm.contact_count(), 1);
}

#[test]
fn malformed_and_gone_messages_are_dropped() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = api_key_forms();
    let bodies = [
        None,
        Some("hello".to_string()),
        Some("outbox/1767225600000-0a0b0c0d0e0f".to_string()),
    ];
    let (verdicts, report) = block_on(queue_batch::consume(&p, &config, &bodies));
    assert_eq!(verdicts, vec![Verdict::Ack; 3]);
    assert_eq!(report.dropped, 3);
    assert_eq!(crm.calls.get(), 0);
    let malformed = p
        .logs
        .borrow()
        .iter()
        .filter(|l| l.contains("malformed message"))
        .count();
    assert_eq!(malformed, 2);
}

#[test]
fn a_drain_near_the_cpu_limit_after_its_second_lead_stops_there_with_both_recorded() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = api_key_forms();
    queue(&p, &config, 5);
    p.near_cpu_from_check.set(Some(2));
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.stopped, Some(Stop::CpuLimit));
    assert_eq!(report.delivered, 2);
    assert_eq!(crm.contact_count(), 2);
    assert_eq!(
        pending(&p),
        3,
        "both delivered leads are settled, the rest wait"
    );
    assert!(
        p.queued_messages.borrow().is_empty(),
        "without a queue the rest wait for the next run"
    );

    // With a queue, the rest are handed to it and go out at once.
    p.queue_bound.set(true);
    p.near_cpu_from_check.set(None);
    p.cpu_checks.set(0);
    p.near_cpu_from_check.set(Some(1));
    p.advance_ms(HOUR);
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!((report.delivered, report.enqueued), (1, 2));
    p.near_cpu_from_check.set(None);
    run_queue(&p, &config, 10, 3);
    assert_eq!((crm.contact_count(), crm.upserts.get()), (5, 5));
    assert_eq!(pending(&p), 0);
}

#[test]
fn a_queue_batch_near_the_cpu_limit_retries_the_rest_of_its_messages() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = api_key_forms();
    let ids = queue(&p, &config, 4);
    p.near_cpu_from_check.set(Some(2));
    let bodies: Vec<_> = ids.iter().map(|id| Some(id.key(Queue::Pending))).collect();
    let (verdicts, report) = block_on(queue_batch::consume(&p, &config, &bodies));
    assert_eq!(report.stopped, Some(Stop::CpuLimit));
    assert_eq!(
        verdicts,
        vec![
            Verdict::Ack,
            Verdict::Ack,
            Verdict::Retry { delay_secs: 0 },
            Verdict::Retry { delay_secs: 0 }
        ]
    );
    assert_eq!((crm.contact_count(), pending(&p)), (2, 2));
}

#[test]
fn a_queue_batch_reads_the_credentials_once() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = with_forms(Settings {
        keap_client_id: Some("cid".into()),
        keap_client_secret: Some(Secret::new("csecret")),
        ..base()
    });
    store_tokens(&p, "AT-1", p.now_ms() + 24 * 3_600_000);
    let ids = queue(&p, &config, 3);
    let bodies: Vec<_> = ids.iter().map(|id| Some(id.key(Queue::Pending))).collect();
    let reads = p.kv_reads.get();
    let (verdicts, report) = block_on(queue_batch::consume(&p, &config, &bodies));
    assert_eq!(verdicts, vec![Verdict::Ack; 3]);
    assert_eq!(report.delivered, 3);
    assert_eq!(
        p.kv_reads.get() - reads,
        3 + 1,
        "each message's entry, and the stored tokens once"
    );
}

#[test]
fn drain_subrequests_bounds_the_cron_run() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = budget(api_key_settings(), "12");
    queue(&p, &config, 30);
    let before = p.requests.borrow().len();
    let report = block_on(run(&p, &config)).outbox;
    let made = p.requests.borrow().len() - before;
    assert_eq!(report.stopped, Some(Stop::Budget));
    assert!(made <= 12 && report.budget_used == made, "{report:?}");
    // The day's configuration check took its share first.
    assert!(report.delivered >= 4, "{report:?}");
    assert_eq!(crm.contact_count(), report.delivered as usize);
    assert!(report.summary().contains("of 12 requests used"));

    let config = budget(api_key_settings(), "1000");
    p.advance_ms(HOUR);
    let report = block_on(run(&p, &config)).outbox;
    assert_eq!(report.stopped, None, "Workers Paid: all of them");
    assert_eq!(crm.contact_count(), 30);
}

#[test]
fn drain_subrequests_bounds_a_queue_batch_and_the_rest_come_back() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = budget(api_key_settings(), "12");
    let ids = queue(&p, &config, 10);
    let bodies: Vec<_> = ids.iter().map(|id| Some(id.key(Queue::Pending))).collect();
    let before = p.requests.borrow().len();
    let (verdicts, report) = block_on(queue_batch::consume(&p, &config, &bodies));
    assert!(p.requests.borrow().len() - before <= 12);
    assert_eq!(report.delivered, 5);
    assert_eq!(report.stopped, Some(Stop::Budget));
    assert_eq!(
        verdicts
            .iter()
            .filter(|v| **v == Verdict::Retry { delay_secs: 0 })
            .count(),
        5
    );
}

#[test]
fn drain_subrequests_bounds_a_request_and_its_retry() {
    let crm = Crm::new();
    let p = platform(&crm);
    // Five: the answer's failed upsert leaves four, two kept for alerts,
    // and a lead with a note needs three: no retry in this invocation.
    let config = budget(api_key_settings(), "5");
    let mut first = true;
    crm.fail(move |r| {
        (r.method == Method::Put && std::mem::take(&mut first)).then_some((503, false))
    });
    let (status, after) = submit(&p, &config, 1);
    assert_eq!(status, 202);
    block_on(after_reply(&p, &config, after.unwrap()));
    assert_eq!(crm.calls.get(), 1, "only the answer's own call");
    assert_eq!(pending(&p), 1, "kept for the Cron run");

    // With the free plan's 50 the same retry goes out.
    let crm = Crm::new();
    let p = platform(&crm);
    let config = budget(api_key_settings(), "50");
    let mut first = true;
    crm.fail(move |r| {
        (r.method == Method::Put && std::mem::take(&mut first)).then_some((503, false))
    });
    let (_, after) = submit(&p, &config, 1);
    block_on(after_reply(&p, &config, after.unwrap()));
    assert_eq!(crm.contact_count(), 1);
}

#[test]
fn connecting_hands_every_held_lead_to_the_queue_and_120_arrive_once_each() {
    let crm = Crm::new();
    let p = platform(&crm);
    p.queue_bound.set(true);
    let config = oauth();
    for i in 0..120 {
        p.advance_ms(1);
        block_on(outbox::enqueue(
            &p,
            &config.seal_key,
            &lead_with_note(i),
            Progress::NeedsContact,
            "Keap is not connected",
        ))
        .unwrap();
    }
    let routed = reconnect(&p, &config);
    let connected_at = p.now_ms();
    block_on(after_reply(&p, &config, routed.after.unwrap()));
    assert_eq!(
        crm.calls.get(),
        0,
        "no delivery in the connecting invocation"
    );
    assert_eq!(p.queued_messages.borrow().len(), 120);

    // Batches of ten, each inside the budget.
    let batches = run_queue(&p, &config, 10, 20);
    assert_eq!(batches, 12);
    assert!(p.now_ms() - connected_at < 180_000);
    assert_eq!(crm.contact_count(), 120);
    assert_eq!(crm.upserts.get(), 120, "each upserted once");
    assert_eq!(crm.notes.borrow().len(), 120, "one note each");
    assert!(crm.all_tagged());
    assert_eq!(pending(&p), 0);
}

#[test]
fn connecting_without_a_queue_still_delivers_within_the_budget() {
    let crm = Crm::new();
    let p = platform(&crm);
    p.queue_bound.set(true);
    p.fail_queue_sends.set(true);
    let config = oauth();
    queue(&p, &config, 30);
    let routed = reconnect(&p, &config);
    let lists = p.kv_lists.get();
    block_on(after_reply(&p, &config, routed.after.unwrap()));
    assert_eq!(p.kv_lists.get() - lists, 1, "the outbox is listed once");
    // The exchange and the failed send took two of the 50, two are kept
    // for alerts: 23 leads of two calls; then one more failed send for
    // the 7 left over.
    assert_eq!(crm.contact_count(), 23);
    assert!(
        p.logs
            .borrow()
            .iter()
            .any(|l| l.contains("49 of 50 requests used")),
        "{:?}",
        p.logs.borrow()
    );
}

#[test]
fn admin_status_shows_how_many_wait_the_oldest_age_and_the_next_try() {
    let crm = Crm::new();
    let p = platform(&crm);
    let config = budget(api_key_settings(), "40");
    queue(&p, &config, 2);
    crm.fail(|_| Some((503, false)));
    block_on(run(&p, &config));
    p.advance_ms(90_000);
    let lists = p.kv_lists.get();
    let status = block_on(admin::reply(
        &p,
        &config,
        &crate::request_url::RequestUrl::parse("https://worker.test/admin/status").unwrap(),
        true,
    ));
    assert_eq!(status.status, 200);
    assert_eq!(
        p.kv_lists.get() - lists,
        3,
        "one listing each of the pending leads, the dead letters and the held posts"
    );
    let status: serde_json::Value = serde_json::from_slice(&status.body).unwrap();
    assert_eq!(status["drain_subrequests"], 40);
    let backlog = &status["backlog"];
    assert_eq!(backlog["waiting"], 2);
    assert_eq!(backlog["oldest_age_s"], 90);
    // Both failed once: five minutes' back-off, 90 s of it gone.
    assert_eq!(backlog["next_attempt_in_s"], 210);
    assert!(backlog["next_attempt_at"].as_str().unwrap().ends_with('Z'));
}
