// The owner's setup assistant (issue 21), end to end in workerd against
// the sandbox: Keap's tags (over more than one page) and custom fields by
// name, the check of every configured id (after connecting, daily from
// the scheduled run, and on POST /admin/check) with one config_mismatch
// alert, and a test lead that lands in Keap with its tags.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { connect, readAllFiles, SANDBOX_API_KEY, sleep, startSandbox, startStub, startWorker, stopAll } from '../support/harness.mjs';

after(stopAll);

const FORMS = {
  contact: {
    tags: [101],
    optional_tags: { newsletter: 103 },
    custom_fields: { company: 7 },
    consent_field: 'consent',
    opt_in_reason: 'Asked on the example site',
    required: ['email'],
  },
  quote: { tags: [102] },
};

/** Enough tags for a second page of GET /v1/tags (Keap's page is 1000). */
const EXTRA_TAGS = 1000;

async function addTags(sandbox, n) {
  const batch = 25;
  for (let i = 0; i < n; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, (_, j) =>
        sandbox.control('tags', { name: `Extra tag ${i + j + 1}`, category: { id: 9, name: 'Bulk' } }),
      ),
    );
  }
}

/** Waits until `/admin/status` satisfies `ok` (work after an answer runs in the background). */
async function statusWhen(worker, ok, what) {
  let status;
  for (let i = 0; i < 100; i += 1) {
    status = await worker.status();
    if (ok(status)) return status;
    await sleep(100);
  }
  assert.fail(`${what}: ${JSON.stringify(status)}`);
}

/**
 * Moves the stored check's time back two days, as if it had run then: the
 * record is plain JSON in local KV, so its file is edited in place (same
 * length). Returns how many files changed.
 */
function ageStoredCheck(worker) {
  const kvDir = path.join(worker.persistDir, 'v3/kv');
  let changed = 0;
  for (const { file } of readAllFiles(kvDir)) {
    const text = fs.readFileSync(file, 'utf8');
    const m = /"checked_at":"(\d{4}-\d\d-\d\dT[^"]+)"/.exec(text);
    if (!m || !text.startsWith('{"checked_at"')) continue;
    const older = new Date(Date.parse(m[1]) - 2 * 24 * 3600 * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    assert.equal(older.length, m[1].length);
    fs.writeFileSync(file, text.replace(m[1], older));
    changed += 1;
  }
  return changed;
}

describe('setup assistant', () => {
  let sandbox;
  let worker;
  let alerts;
  const mismatchAlerts = () => alerts.requests.filter((r) => r.json?.event === 'config_mismatch');

  before(async () => {
    sandbox = await startSandbox({ name: 'setup-sandbox' });
    alerts = await startStub();
    await addTags(sandbox, EXTRA_TAGS);
    worker = await startWorker({
      sandbox,
      name: 'setup',
      forms: FORMS,
      secrets: { ALERT_WEBHOOK_URL: `${alerts.url}/alert` },
    });
  });

  test('before connecting, the pages say Keap cannot be asked, and every route wants the admin token', async () => {
    const res = await worker.admin('/admin/keap/tags');
    assert.equal(res.status, 503, res.text);
    assert.equal(res.json.error.code, 'keap_unavailable');
    assert.match(res.json.error.message, /not connected/);
    const page = await worker.admin('/admin/keap/fields', { headers: { accept: 'text/html' } });
    assert.equal(page.status, 503);
    assert.match(page.header('content-type'), /text\/html/);
    assert.match(page.text, /not connected to Keap yet/);
    for (const [method, p] of [
      ['GET', '/admin/keap/tags'],
      ['GET', '/admin/keap/fields'],
      ['POST', '/admin/check'],
      ['POST', '/admin/test-lead'],
    ]) {
      const anon = await worker.fetch(p, { method, headers: { accept: 'application/json' } });
      assert.equal(anon.status, 401, `${method} ${p}`);
    }
    assert.deepEqual((await worker.status()).form_checks, {});
  });

  test('after connecting, /admin/status shows every form checked and ok', async () => {
    const { res } = await connect(worker);
    assert.equal(res.status, 303);
    const status = await statusWhen(worker, (s) => Object.keys(s.form_checks).length === 2, 'the check after connecting');
    for (const id of ['contact', 'quote']) {
      const check = status.form_checks[id];
      assert.equal(check.ok, true, JSON.stringify(check));
      assert.deepEqual(check.missing_tag_ids, []);
      assert.deepEqual(check.missing_custom_field_ids, []);
      assert.match(check.checked_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
    assert.deepEqual(status.forms, ['contact', 'quote']);
    assert.equal(mismatchAlerts().length, 0);
  });

  test('the tags and custom fields are what the sandbox holds, the tags read over two pages', async () => {
    const before = (await sandbox.state()).requests.length;
    const res = await worker.admin('/admin/keap/tags');
    assert.equal(res.status, 200, res.text);
    const state = await sandbox.state();
    const held = state.tags.map((t) => t.id).sort((a, b) => a - b);
    assert.ok(held.length > 1000, `${held.length} tags`);
    assert.deepEqual(res.json.tags.map((t) => t.id), held);
    assert.equal(res.json.count, held.length);
    assert.deepEqual(res.json.tags.find((t) => t.id === 101), { id: 101, name: 'Lead', category: null });
    assert.equal(res.json.tags.find((t) => t.name === 'Extra tag 1').category, 'Bulk');
    const pages = state.requests.slice(before).filter((r) => r.route === 'tags_list');
    assert.deepEqual(pages.map((r) => r.query_params?.offset ?? new URLSearchParams(r.query).get('offset')), ['0', '1000']);

    const fields = await worker.admin('/admin/keap/fields');
    assert.equal(fields.status, 200, fields.text);
    assert.deepEqual(
      fields.json.custom_fields.map((f) => [f.id, f.label, f.type]),
      state.custom_fields.map((f) => [f.id, f.label, f.field_type]),
    );
    assert.deepEqual(fields.json.custom_fields.find((f) => f.id === 8).options, ['Sales', 'Support', 'Other']);

    const page = await worker.admin('/admin/keap/tags', { headers: { accept: 'text/html' } });
    assert.match(page.header('content-type'), /text\/html/);
    assert.match(page.text, /id="filter"/);
    assert.match(page.text, /<td><code>103<\/code><\/td><td>Newsletter<\/td>/);
  });

  test('a test lead goes to Keap with its tags; bad input gets a visitor\'s error codes', async () => {
    const post = (body) =>
      worker.admin('/admin/test-lead', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    let res = await post({ form: 'nope', email: 'owner@example.com' });
    assert.equal(res.status, 404);
    assert.equal(res.json.error.code, 'unknown_form');
    res = await post({ form: 'contact', email: 'owner@@example' });
    assert.equal(res.status, 400);
    assert.equal(res.json.error.code, 'invalid_email');

    const email = 'owner-test-lead@example.com';
    res = await post({ form: 'contact', email, tags: 'newsletter' });
    assert.equal(res.status, 200, res.text);
    const state = await sandbox.state();
    const contact = state.contacts.find((c) => c.email_addresses.some((e) => e.email === email));
    assert.ok(contact, 'the contact is in Keap');
    assert.deepEqual(res.json, { ok: true, status: 'created', contact_id: contact.id, tag_ids: [101, 103] });
    assert.deepEqual([...contact.tag_ids].sort(), [101, 103]);
  });

  test('a deleted tag is reported missing by the next daily check and by POST /admin/check, with one alert', async () => {
    const checkedAt = (await worker.status()).form_checks.contact.checked_at;
    await sandbox.control('tags/103/delete', {});

    // Checked less than a day ago: the scheduled run leaves it.
    assert.equal((await worker.scheduled()).status, 200);
    let status = await worker.status();
    assert.equal(status.form_checks.contact.checked_at, checkedAt);
    assert.equal(status.form_checks.contact.ok, true);

    // A day later (the stored time moved back): the run checks again.
    assert.equal(ageStoredCheck(worker), 1);
    assert.equal((await worker.scheduled()).status, 200);
    status = await worker.status();
    assert.equal(status.form_checks.contact.ok, false, JSON.stringify(status.form_checks));
    assert.deepEqual(status.form_checks.contact.missing_tag_ids, [103]);
    assert.deepEqual(status.form_checks.contact.missing_custom_field_ids, []);
    assert.equal(status.form_checks.quote.ok, true);
    const alerts1 = mismatchAlerts();
    assert.equal(alerts1.length, 1);
    assert.match(alerts1[0].json.message, /form contact: tag id\(s\) 103/);

    const res = await worker.admin('/admin/check', { method: 'POST' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.form_checks.contact.missing_tag_ids, [103]);
    assert.equal(res.json.form_checks.contact.ok, false);
    assert.equal(mismatchAlerts().length, 1, 'still missing is not news');

    const page = await worker.admin('/admin', { headers: { accept: 'text/html' } });
    assert.match(page.text, /<tr class="bad" data-id="103">/);
    assert.match(page.text, /<tr class="ok" data-id="101"><td><code>tags<\/code><\/td><td><code>101<\/code><\/td><td>Lead<\/td>/);
  });
});

describe('setup assistant in API-key mode', () => {
  test('the check and the lists work with KEAP_API_KEY', async () => {
    const sandbox = await startSandbox({ name: 'setup-apikey-sandbox' });
    const worker = await startWorker({
      sandbox,
      name: 'setup-apikey',
      forms: { contact: { tags: [101, 999], custom_fields: { company: 7 } } },
      secrets: { KEAP_API_KEY: SANDBOX_API_KEY, KEAP_CLIENT_ID: null, KEAP_CLIENT_SECRET: null },
    });
    const res = await worker.admin('/admin/check', { method: 'POST' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.form_checks.contact, {
      ok: false,
      missing_tag_ids: [999],
      missing_custom_field_ids: [],
      checked_at: res.json.checked_at,
    });
    const tags = await worker.admin('/admin/keap/tags');
    assert.deepEqual(tags.json.tags.map((t) => t.id), [101, 102, 103]);
    await worker.stop();
    await sandbox.stop();
  });
});
