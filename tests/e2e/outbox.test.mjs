// No lead is lost (issue 5), end to end: leads that cannot go to Keap now
// are queued (202) in the sealed outbox and delivered exactly once by the
// scheduled run; permanent refusals become dead letters that
// /admin/replay delivers once fixed; and a bounded load test under random
// Keap failures.
//
// The tests of the first suite share one sandbox and one worker and run in
// order.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  connect,
  findLeaks,
  readAllFiles,
  secretLeaks,
  sleep,
  startSandbox,
  startStub,
  startWorker,
  stopAll,
  submit,
} from '../support/harness.mjs';

after(stopAll);

const OPT_IN = 'Asked to be contacted on the example site';

const contactsWith = (state, email) =>
  state.contacts.filter((c) => c.email_addresses.some((e) => e.email.toLowerCase() === email.toLowerCase()));

/** The sandbox's requests of `route` about `email` (by the PUT body). */
const putsFor = (state, email) =>
  state.requests.filter((r) => r.route === 'contacts_put' && r.json?.email_addresses?.[0]?.email === email);

const tokenCalls = (state) =>
  (state.counts.token_refresh ?? 0) + (state.counts.token_authorization_code ?? 0) + (state.counts.token_other ?? 0);

/** Runs the scheduled handler until the outbox has nothing pending. */
async function drain(worker, maxRuns = 20) {
  let runs = 0;
  let status = await worker.status();
  while (status.outbox.pending > 0 && runs < maxRuns) {
    const res = await worker.scheduled();
    assert.equal(res.status, 200, res.text);
    runs += 1;
    status = await worker.status();
  }
  return { runs, status };
}

/**
 * Waits (at most 20 s) until no lead waits in the outbox: a lead queued for
 * a passing failure is retried a couple of seconds after its answer, so
 * the next sandbox fault is not taken by that retry.
 */
async function settled(worker) {
  let status = await worker.status();
  for (let i = 0; i < 80 && status.outbox.pending > 0; i += 1) {
    await sleep(250);
    status = await worker.status();
  }
  return status;
}

/** Local KV files whose plain text holds any of `needles`. */
function kvLeaks(worker, needles) {
  const kvDir = path.join(worker.persistDir, 'v3/kv');
  const files = readAllFiles(kvDir).map((f) => ({ where: path.relative(kvDir, f.file), text: f.text }));
  return { files: files.length, leaks: findLeaks(needles, files) };
}

// The suites each start their own sandbox and worker and run side by side:
// the load test spends most of its minute waiting for its leads' due time.
describe('the outbox', { concurrency: true }, () => {
  describe('outbox', { concurrency: 1 }, () => {
    let sandbox;
    let worker;
    let alerts;
    const people = []; // every email and name submitted, for the KV sweep
    const lead = (email, extra = {}) => {
      people.push(email, ...Object.values(extra).filter((v) => typeof v === 'string' && v.length >= 6 && v !== 'newsletter'));
      return submit(worker, 'contact', { email, ...extra });
    };

    before(async () => {
      sandbox = await startSandbox({ name: 'outbox-sandbox' });
      alerts = await startStub();
      worker = await startWorker({
        sandbox,
        name: 'outbox',
        secrets: { ALERT_WEBHOOK_URL: `${alerts.url}/alert` },
      });
    });

    test('a lead submitted before authorization is delivered by the first scheduled run after connecting', async () => {
      const res = await lead('early-bird@example.com', { first_name: 'Earlybird', consent: 'on', tags: ['newsletter'] });
      assert.equal(res.status, 202, res.text);
      assert.deepEqual(res.json, { ok: true, status: 'queued' });
      // A plain HTML post is queued too, and answered like a delivered one.
      people.push('early-html@example.com');
      const html = await submit(worker, 'contact', { email: 'early-html@example.com' }, { type: 'urlencoded' });
      assert.equal(html.status, 200, html.text);
      assert.match(html.header('content-type'), /^text\/html/);
      let status = await worker.status();
      assert.equal(status.outbox.pending, 2);
      assert.equal((await sandbox.state()).counts.contacts_put ?? 0, 0, 'nothing reached Keap');

      // A run before anyone connects keeps it.
      await worker.scheduled();
      assert.equal((await worker.status()).outbox.pending, 2);

      const { res: cb } = await connect(worker);
      assert.equal(cb.status, 303);
      const run = await worker.scheduled();
      assert.equal(run.status, 200);

      status = await worker.status();
      assert.equal(status.outbox.pending, 0, JSON.stringify(status.outbox));
      assert.equal(status.outbox.dead, 0);
      const delivered = await sandbox.state();
      assert.equal(contactsWith(delivered, 'early-html@example.com').length, 1);
      const [contact] = contactsWith(delivered, 'early-bird@example.com');
      assert.ok(contact, 'delivered to Keap');
      assert.equal(contact.given_name, 'Earlybird');
      assert.deepEqual([...contact.tag_ids].sort(), [101, 103]);
      assert.equal(contact.opt_in_reason, OPT_IN);
    });

    test('during an outage (500s, 429s, a failed tag call, a lost answer) leads are queued and delivered exactly once', async () => {
      const queued = [];
      const post = async (email) => {
        const res = await lead(email, { first_name: 'Outage', tags: ['newsletter'] });
        assert.equal(res.status, 202, `${email}: ${res.status} ${res.text}`);
        assert.equal(res.json.status, 'queued');
        queued.push(email);
      };
      // Each group's leads are retried a couple of seconds after their
      // answers (no scheduled run): wait for that before the next fault.
      await sandbox.faults({ route: 'rest', status: 500, count: 2 });
      await post('outage-500-a@example.com');
      await post('outage-500-b@example.com');
      await sandbox.faults({ clear: true });
      await settled(worker);
      await sandbox.faults({ route: 'rest', status: 429, count: 2 });
      await post('outage-429-a@example.com');
      await post('outage-429-b@example.com');
      await sandbox.faults({ clear: true });
      await settled(worker);
      // The contact is made, the tags fail: only the tags are left to do.
      await sandbox.faults({ route: 'tags_post', status: 500, count: 1 });
      await post('outage-tags@example.com');
      await sandbox.faults({ clear: true });
      await settled(worker);
      // Keap makes the contact but the answer is lost.
      await sandbox.faults({ route: 'contacts_put', status: 500, count: 1, after: true });
      await post('outage-lost@example.com');
      await sandbox.faults({ clear: true });

      const status = await settled(worker);
      console.log(`outage: ${queued.length} queued leads delivered by the retry after each answer`);
      assert.equal(status.outbox.pending, 0);
      assert.equal(status.outbox.dead, 0);

      const state = await sandbox.state();
      for (const email of queued) {
        const found = contactsWith(state, email);
        assert.equal(found.length, 1, `${email}: one contact`);
        assert.deepEqual([...found[0].tag_ids].sort(), [101, 103], `${email}: tagged`);
        const goodPuts = putsFor(state, email).filter((r) => r.status === 200 || r.status === 201);
        // The lost answer's PUT was carried out, so that lead may be upserted
        // twice (the same contact); every other lead exactly once.
        if (email === 'outage-lost@example.com') assert.ok(goodPuts.length <= 2, `${email}: ${goodPuts.length}`);
        else assert.equal(goodPuts.length, 1, `${email}: upserted once`);
      }
      assert.equal(putsFor(state, 'outage-tags@example.com').length, 1, 'a lead missing only its tags gets only its tags');

      // Nothing is delivered twice: another run calls Keap for nothing.
      const before = await sandbox.state();
      await worker.scheduled();
      const afterState = await sandbox.state();
      assert.equal(afterState.counts.contacts_put, before.counts.contacts_put);
      assert.equal(afterState.counts.tags_post, before.counts.tags_post);
    });

    test('with an expired access token the form path queues without touching the token endpoint; the next run refreshes and delivers', async () => {
      await sandbox.expireAccessTokens();
      const before = await sandbox.state();

      for (const email of ['expired-1@example.com', 'expired-2@example.com']) {
        const res = await lead(email, { first_name: 'Expiry' });
        assert.equal(res.status, 202, res.text);
        assert.equal(res.json.status, 'queued');
      }
      const mid = await sandbox.state();
      assert.equal(tokenCalls(mid), tokenCalls(before), 'the form path never refreshes');
      assert.ok(
        mid.requests.some((r) => r.route === 'contacts_put' && r.status === 401),
        'Keap answered 401 to the expired token',
      );
      assert.equal((await worker.status()).outbox.pending, 2);

      const run = await worker.scheduled();
      assert.equal(run.status, 200);
      const state = await sandbox.state();
      assert.equal(state.counts.token_refresh ?? 0, (before.counts.token_refresh ?? 0) + 1, 'one refresh');
      const status = await worker.status();
      assert.equal(status.outbox.pending, 0, JSON.stringify(status));
      assert.equal(status.connected, true);
      for (const email of ['expired-1@example.com', 'expired-2@example.com']) {
        assert.equal(contactsWith(state, email).length, 1, `${email} delivered`);
      }
      // And the form path delivers directly again with the new token.
      const direct = await lead('after-refresh@example.com');
      assert.equal(direct.status, 200, direct.text);
    });

    test('a lead Keap rejects on the form path becomes a dead letter (202 to the visitor), kept by scheduled runs', async () => {
      await sandbox.config({ reject_contacts_with_status: 400 });
      const res = await lead('rejected@example.com', { first_name: 'Rejected', tags: ['newsletter'] });
      assert.equal(res.status, 202, res.text);
      assert.equal(res.json.status, 'queued');

      let status = await worker.status();
      assert.equal(status.outbox.dead, 1, JSON.stringify(status.outbox));
      assert.equal(status.outbox.pending, 0);

      // Scheduled runs keep it: dead letters wait for the owner.
      await worker.scheduled();
      status = await worker.status();
      assert.equal(status.outbox.dead, 1);
      assert.equal(contactsWith(await sandbox.state(), 'rejected@example.com').length, 0);

      const page = await worker.admin('/admin', { headers: { accept: 'text/html' } });
      assert.equal(page.status, 200);
      assert.match(page.text, /dead letter/i);
      assert.doesNotMatch(page.text, /rejected@example\.com/, 'the page lists dead letters without personal data');
    });

    // A lead Keap refuses on the form path is kept as a dead letter and
    // alerted at once, like one that becomes dead during a drain.
    test('a form-path dead letter raises a dead_letter alert', () => {
      const deadAlerts = alerts.requests.filter((r) => r.json?.event === 'dead_letter');
      assert.equal(deadAlerts.length, 1, `alerts: ${JSON.stringify(alerts.requests.map((r) => r.json?.event))}`);
    });

    test('a queued lead Keap rejects at delivery becomes a dead letter too, with one alert in all', async () => {
      await sandbox.faults({ route: 'rest', status: 503, count: 1 });
      const res = await lead('rejected-later@example.com', { first_name: 'Rejectedlater' });
      assert.equal(res.status, 202, res.text);
      // The retry after the answer meets Keap's refusal (still 400).
      const status = await settled(worker);
      assert.equal(status.outbox.pending, 0, JSON.stringify(status.outbox));
      assert.equal(status.outbox.dead, 2);
      const deadAlerts = alerts.requests.filter((r) => r.json?.event === 'dead_letter');
      assert.equal(deadAlerts.length, 1, 'one alert (rate-limited per kind)');
      for (const a of deadAlerts) assert.doesNotMatch(a.body, /rejected(-later)?@example\.com|Rejectedlater/);
    });

    test('/admin/replay delivers the dead letters once Keap accepts them', async () => {
      await sandbox.config({ reject_contacts_with_status: null });
      const replay = await worker.admin('/admin/replay', { method: 'POST' });
      assert.equal(replay.status, 200, replay.text);
      assert.equal(replay.json.ok, true);
      assert.equal(replay.json.delivered, 2, replay.text);
      assert.equal(replay.json.dead, 0);

      const status = await worker.status();
      assert.equal(status.outbox.dead, 0);
      assert.equal(status.outbox.pending, 0);
      const state = await sandbox.state();
      const [contact] = contactsWith(state, 'rejected@example.com');
      assert.ok(contact, 'delivered after replay');
      assert.deepEqual([...contact.tag_ids].sort(), [101, 103]);
      assert.deepEqual(contactsWith(state, 'rejected-later@example.com')[0]?.tag_ids, [101]);
    });

    test('Keap throttling the retry after the answer keeps the lead waiting, never dead; the others go out', async () => {
      await sandbox.faults({ route: 'rest', status: 500, count: 3 });
      const emails = ['throttle-1@example.com', 'throttle-2@example.com', 'throttle-3@example.com'];
      for (const email of emails) {
        const res = await lead(email, { first_name: 'Throttled' });
        assert.equal(res.status, 202, res.text);
      }
      await sandbox.faults({ clear: true });
      await sandbox.faults({ route: 'rest', status: 429, count: 1 });
      // Each lead is retried about 2 s after its answer; one meets the 429.
      // A contact is in Keap a moment before its entry leaves the outbox:
      // wait for both.
      let state;
      let status;
      for (let i = 0; i < 60; i += 1) {
        await sleep(250);
        state = await sandbox.state();
        status = await worker.status();
        const inKeap = emails.filter((e) => contactsWith(state, e).length === 1).length;
        if (inKeap === 2 && status.outbox.pending <= 1) break;
      }
      const delivered = emails.filter((e) => contactsWith(state, e).length === 1);
      assert.equal(delivered.length, 2, `delivered: ${delivered}`);
      assert.equal(status.outbox.pending, 1, 'the throttled one waits');
      assert.equal(status.outbox.dead, 0, 'a 429 is not a dead letter');
      assert.ok(status.backlog.next_attempt_in_s > 0, JSON.stringify(status.backlog));
      // Not due yet: a scheduled run leaves it alone.
      const before = await sandbox.state();
      await worker.scheduled();
      const restCalls = (st) => (st.counts.contacts_put ?? 0) + (st.counts.tags_post ?? 0);
      assert.equal(restCalls(await sandbox.state()), restCalls(before));
      await sandbox.faults({ clear: true });
    });

    test('no email address or name in plain text in the local KV files, nor in the log; no token or secret anywhere', async () => {
      const { files, leaks } = kvLeaks(worker, people);
      assert.ok(files > 0);
      assert.deepEqual(leaks, []);
      assert.deepEqual(findLeaks(people, [{ where: 'wrangler log', text: worker.logs() }]), []);
      const alertBodies = alerts.requests.map((r, i) => ({ where: `alert ${i}`, text: r.body }));
      assert.deepEqual(findLeaks(people, alertBodies), [], 'no personal data in alerts');
      assert.deepEqual(secretLeaks(worker, await sandbox.state()), []);
    });
  });

  describe('without ENCRYPTION_KEY', () => {
    let worker;
    before(async () => {
      worker = await startWorker({ name: 'outbox-nokey', secrets: { ENCRYPTION_KEY: null } });
    });
    after(() => worker?.stop());

    test('a lead that cannot be stored gets an honest error, never a success', async () => {
      const json = await submit(worker, 'contact', { email: 'nowhere@example.com' });
      assert.equal(json.status, 503, json.text);
      assert.equal(json.json.ok, false);
      assert.equal(json.json.error.code, 'queue_unavailable');
      const html = await submit(worker, 'contact', { email: 'nowhere@example.com' }, { type: 'urlencoded' });
      assert.equal(html.status, 503);
      assert.doesNotMatch(html.text, /thank/i);
      const status = await worker.status();
      assert.equal(status.outbox.pending, 0);
      assert.ok(status.problems.some((p) => p.setting === 'ENCRYPTION_KEY'), JSON.stringify(status.problems));
      assert.doesNotMatch(worker.logs(), /nowhere@example\.com/);
    });
  });

  describe('bounded load under random Keap failures', () => {
    const TOTAL = 200;
    const CLIENTS = 16;
    let sandbox;
    let worker;

    before(async () => {
      sandbox = await startSandbox({ name: 'load-sandbox' });
      worker = await startWorker({ sandbox, name: 'load' });
      const { res } = await connect(worker);
      assert.equal(res.status, 303);
    });
    after(async () => {
      await worker?.stop();
      await sandbox?.stop();
    });

    test(`${TOTAL} submissions from ${CLIENTS} clients, ~30% of Keap calls failing: every lead lands exactly once`, async () => {
      const emails = Array.from({ length: TOTAL }, (_, i) => `load-${String(i).padStart(3, '0')}@example.com`);
      const names = emails.map((_, i) => `Loadtester${String(i).padStart(3, '0')}`);
      const wantsNewsletter = (i) => i % 2 === 0;

      await sandbox.faults({ fail_rate: 0.3, seed: 42, statuses: [500, 429] });
      const started = Date.now();
      const answers = {};
      let next = 0;
      const client = async () => {
        while (next < TOTAL) {
          const i = next++;
          const res = await submit(worker, 'contact', {
            email: emails[i],
            first_name: names[i],
            ...(wantsNewsletter(i) ? { tags: ['newsletter'] } : {}),
          });
          answers[res.status] = (answers[res.status] ?? 0) + 1;
          assert.ok(res.status === 200 || res.status === 202, `${emails[i]}: ${res.status} ${res.text}`);
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, client));
      const submitMs = Date.now() - started;
      const queued = (await worker.status()).outbox.pending;
      const failedCalls = (await sandbox.state()).requests.filter((r) => r.status >= 429).length;

      // The outage ends; the scheduled runs deliver the outbox. Each queued
      // lead was retried once a couple of seconds after its answer (under
      // the same failures); those still waiting are due a minute after
      // their answer, and no attempt of theirs counted, so no back-off.
      await sandbox.faults({ fail_rate: 0 });
      const drainStarted = Date.now();
      let runs = 0;
      let status = await worker.status();
      while (status.outbox.pending > 0 && Date.now() - drainStarted < 120_000) {
        // Nothing due yet: wait for the next lead's time, then run.
        if (status.backlog.next_attempt_in_s > 0) await sleep(Math.min(status.backlog.next_attempt_in_s, 5) * 1000);
        const run = await drain(worker, 5);
        runs += run.runs;
        status = run.status;
      }
      const drainMs = Date.now() - drainStarted;

      const state = await sandbox.state();
      console.log(
        `load: ${TOTAL} posts from ${CLIENTS} clients in ${submitMs} ms; answers ${JSON.stringify(answers)}; ` +
          `${failedCalls} Keap calls failed; ${queued} queued; drained in ${runs} scheduled run(s), ${drainMs} ms; ` +
          `sandbox contacts ${state.contacts.length}`,
      );
      assert.equal(status.outbox.pending, 0, `outbox after ${runs} runs: ${JSON.stringify(status.outbox)}`);
      assert.equal(status.outbox.dead, 0);
      assert.equal(state.contacts.length, TOTAL, 'exactly one contact per lead');
      emails.forEach((email, i) => {
        const found = contactsWith(state, email);
        assert.equal(found.length, 1, email);
        assert.equal(found[0].given_name, names[i], email);
        const want = wantsNewsletter(i) ? [101, 103] : [101];
        assert.deepEqual([...found[0].tag_ids].sort(), want, `${email} tags`);
      });

      const { files, leaks } = kvLeaks(worker, [...emails, ...names]);
      assert.ok(files > 0);
      assert.deepEqual(leaks, [], 'no email or name in plain text in the local KV');
      assert.deepEqual(findLeaks([...emails, ...names], [{ where: 'wrangler log', text: worker.logs() }]), []);
      assert.deepEqual(secretLeaks(worker, state), []);
    });
  });
});
