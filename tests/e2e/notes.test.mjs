// Every submission fully in Keap (issue 20), end to end in workerd against
// the sandbox: the visitor's message as a note holding the page, the
// campaign and the consent; one note per submission, never rewritten; a
// tags failure delivered later still leaves exactly one note; `note =
// "always"` and `"never"`; Keap's own contact fields (job title, website,
// the BILLING address).

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  SANDBOX_API_KEY,
  SITE_ORIGIN,
  findLeaks,
  readAllFiles,
  startSandbox,
  startWorker,
  stopAll,
  submit,
} from '../support/harness.mjs';

after(stopAll);

const CONSENT_TEXT = 'You may email me about my request.';

const FORMS = {
  contact: {
    tags: [101],
    optional_tags: { newsletter: 103 },
    opt_in_reason: 'Asked to be contacted on the example site',
    consent_field: 'consent',
    consent_text: CONSENT_TEXT,
    note: 'message',
  },
  trail: { tags: [102], consent_field: 'consent', consent_text: CONSENT_TEXT, note: 'always' },
  quiet: { tags: [102], note: 'never' },
};

const contactWith = (state, email) => {
  const found = state.contacts.filter((c) => c.email_addresses.some((e) => e.email.toLowerCase() === email));
  assert.equal(found.length, 1, `one contact for ${email}`);
  return found[0];
};

/**
 * Until the outbox is empty (at most 20 s): a lead queued for a passing
 * failure goes out with the retry a couple of seconds after its answer;
 * scheduled runs in between find nothing due and change nothing.
 */
async function drain(worker) {
  for (let runs = 0; runs < 80; runs += 1) {
    const status = await worker.status();
    if (status.outbox.pending === 0) return;
    const res = await worker.scheduled();
    assert.equal(res.status, 200, res.text);
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail('the outbox did not drain');
}

describe('notes and contact fields', () => {
  let sandbox;
  let worker;

  before(async () => {
    sandbox = await startSandbox({ name: 'notes-sandbox' });
    worker = await startWorker({ sandbox, name: 'notes', forms: FORMS, secrets: { KEAP_API_KEY: SANDBOX_API_KEY } });
  });

  test('a message, a page and campaign parameters make one contact, its tags and one note', async () => {
    const email = 'ada@example.com';
    const page = `${SITE_ORIGIN}/contact.html?utm_source=news`;
    const res = await submit(worker, 'contact', {
      email,
      message: 'Please call me\nabout the spring offer.',
      _page: page,
      _referrer: 'https://search.example/?q=keap',
      utm_source: 'news',
      utm_medium: 'email',
      utm_campaign: 'spring',
      utm_term: 'forms',
      utm_content: 'button',
      gclid: 'gclid-123',
      consent: 'yes',
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { ok: true, status: 'created' });

    const state = await sandbox.state();
    const contact = contactWith(state, email);
    assert.deepEqual([...contact.tag_ids].sort(), [101]);
    assert.equal(contact.notes.length, 1);
    const note = contact.notes[0];
    assert.equal(note.type, 'Other');
    assert.match(note.title, /contact/);
    for (const part of [
      'Please call me\nabout the spring offer.',
      `Page: ${page}`,
      'Referrer: https://search.example/?q=keap',
      'utm_source: news',
      'utm_medium: email',
      'utm_campaign: spring',
      'utm_term: forms',
      'utm_content: button',
      'gclid: gclid-123',
      `Site: ${SITE_ORIGIN}`,
      'Consent: given',
      CONSENT_TEXT,
      'Form: contact',
    ]) {
      assert.ok(note.body.includes(part), `${JSON.stringify(part)} in ${note.body}`);
    }
    assert.match(note.body, /Received: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(UTC\)/);

    // The same person again: a second note; the first unchanged.
    const again = await submit(worker, 'contact', { email, message: 'One more thing.' });
    assert.deepEqual(again.json, { ok: true, status: 'updated' });
    const later = contactWith(await sandbox.state(), email);
    assert.equal(later.notes.length, 2);
    assert.deepEqual(later.notes[0], note);
    assert.ok(later.notes[1].body.startsWith('One more thing.'), later.notes[1].body);
  });

  test('a plain form post with no _page records the Referer as the page', async () => {
    const email = 'plain@example.com';
    const res = await submit(
      worker,
      'contact',
      { email, message: 'Sent without JavaScript' },
      { type: 'urlencoded', accept: 'application/json', headers: { referer: `${SITE_ORIGIN}/index.html` } },
    );
    assert.equal(res.status, 200, res.text);
    const [note] = contactWith(await sandbox.state(), email).notes;
    assert.ok(note.body.includes(`Page: ${SITE_ORIGIN}/index.html`), note.body);
  });

  test('no message, no note, and still two Keap calls', async () => {
    const email = 'nomsg@example.com';
    const before = (await sandbox.state()).counts;
    const res = await submit(worker, 'contact', { email });
    assert.equal(res.status, 200, res.text);
    const state = await sandbox.state();
    assert.equal(contactWith(state, email).notes.length, 0);
    assert.equal((state.counts.notes_post ?? 0) - (before.notes_post ?? 0), 0);
    assert.equal(state.counts.contacts_put - before.contacts_put, 1);
    assert.equal(state.counts.tags_post - before.tags_post, 1);
  });

  test('a post during a tags failure, delivered by the scheduled run, leaves exactly one note', async () => {
    const email = 'tagsfail@example.com';
    const message = 'Tags will fail first, and this stays sealed';
    await sandbox.faults({ route: 'tags_post', status: 503, count: 1 });
    const res = await submit(worker, 'contact', { email, message });
    assert.equal(res.status, 202, res.text);
    assert.deepEqual(res.json, { ok: true, status: 'queued' });
    await sandbox.faults({ clear: true });
    // The queued lead, message included, is sealed in KV; nor does the
    // message reach the worker's log.
    const kvDir = path.join(worker.persistDir, 'v3/kv');
    const files = readAllFiles(kvDir).map((f) => ({ where: path.relative(kvDir, f.file), text: f.text }));
    assert.ok(files.length > 0, 'the outbox entry is in local KV');
    assert.deepEqual(findLeaks([message, email], files), []);
    await drain(worker);
    const contact = contactWith(await sandbox.state(), email);
    assert.deepEqual(contact.tag_ids, [101]);
    assert.equal(contact.notes.length, 1);
    assert.ok(contact.notes[0].body.startsWith(message));
  });

  test('a failed note call alone is retried alone by the scheduled run', async () => {
    const email = 'notefail@example.com';
    await sandbox.faults({ route: 'notes_post', status: 503, count: 1 });
    const res = await submit(worker, 'contact', { email, message: 'The note fails first' });
    assert.equal(res.status, 202, res.text);
    await sandbox.faults({ clear: true });
    const before = (await sandbox.state()).counts;
    await drain(worker);
    const state = await sandbox.state();
    assert.equal(state.counts.contacts_put - before.contacts_put, 0, 'no second upsert');
    assert.equal(state.counts.tags_post - before.tags_post, 0, 'no second tags call');
    assert.equal(contactWith(state, email).notes.length, 1);
  });

  test('note = "always" records consent and its statement for a submission with no message', async () => {
    const email = 'trail@example.com';
    const res = await submit(worker, 'trail', { email, utm_source: 'ads' });
    assert.equal(res.status, 200, res.text);
    const [note, ...more] = contactWith(await sandbox.state(), email).notes;
    assert.equal(more.length, 0);
    assert.ok(note.body.includes('(no message)'), note.body);
    assert.ok(note.body.includes('Consent: not given'), note.body);
    assert.ok(note.body.includes(CONSENT_TEXT), note.body);
    assert.ok(note.body.includes('utm_source: ads'), note.body);
    assert.match(note.body, /Received: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(UTC\)/);
  });

  test('note = "never" writes none', async () => {
    const email = 'quiet@example.com';
    const res = await submit(worker, 'quiet', { email, message: 'Do not keep this' });
    assert.equal(res.status, 200, res.text);
    assert.equal(contactWith(await sandbox.state(), email).notes.length, 0);
  });

  test('job title, website and a BILLING address go to the contact; a returning contact keeps its other data', async () => {
    const email = 'grace@example.com';
    const first = await submit(worker, 'contact', {
      email,
      first_name: 'Grace',
      job_title: 'Engineer',
      website: 'https://grace.example',
      address_line1: '1 Main St',
      address_line2: 'Suite 2',
      city: 'Springfield',
      region: 'IL',
      postal_code: '62701',
      country_code: 'usa',
    });
    assert.equal(first.status, 200, first.text);
    let contact = contactWith(await sandbox.state(), email);
    assert.equal(contact.job_title, 'Engineer');
    assert.equal(contact.website, 'https://grace.example');
    const billing = contact.addresses.filter((a) => a.field === 'BILLING');
    assert.equal(billing.length, 1);
    assert.deepEqual(
      [billing[0].line1, billing[0].line2, billing[0].locality, billing[0].region, billing[0].postal_code, billing[0].country_code],
      ['1 Main St', 'Suite 2', 'Springfield', 'IL', '62701', 'USA'],
    );

    // Again with only a new city: the address sent replaces the BILLING
    // slot; the name, job title and website are kept.
    const second = await submit(worker, 'contact', { email, city: 'Shelbyville' });
    assert.equal(second.status, 200, second.text);
    contact = contactWith(await sandbox.state(), email);
    assert.equal(contact.given_name, 'Grace');
    assert.equal(contact.job_title, 'Engineer');
    assert.equal(contact.website, 'https://grace.example');
    const after = contact.addresses.filter((a) => a.field === 'BILLING');
    assert.equal(after.length, 1);
    assert.equal(after[0].locality, 'Shelbyville');
  });

  test('bad input gets clear codes and sends nothing', async () => {
    const before = (await sandbox.state()).counts.contacts_put;
    const cases = [
      [{ email: 'x@example.com', message: 'm'.repeat(10001) }, 'field_too_long', 'message'],
      [{ email: 'x@example.com', message: 'bell\u0007' }, 'invalid_value', 'message'],
      [{ email: 'x@example.com', region: 'IL' }, 'missing_field', 'country_code'],
      [{ email: 'x@example.com', country_code: 'US' }, 'invalid_value', 'country_code'],
      [{ email: 'x@example.com', website: 'not a site' }, 'invalid_value', 'website'],
    ];
    for (const [fields, code, field] of cases) {
      const res = await submit(worker, 'contact', fields);
      assert.equal(res.status, 400, res.text);
      assert.equal(res.json.error.code, code);
      assert.equal(res.json.error.field, field);
    }
    // Unusable context is dropped, never a reason to refuse.
    const ok = await submit(worker, 'contact', {
      email: 'ctx@example.com',
      message: 'hi',
      _page: 'p'.repeat(5000),
      utm_source: 'a\u0000b',
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal((await sandbox.state()).counts.contacts_put - before, 1);
  });

  test("no visitor's message reaches the worker's log", async () => {
    const logs = worker.logs();
    assert.ok(logs.length > 0);
    const messages = [
      'Please call me',
      'One more thing.',
      'Sent without JavaScript',
      'Tags will fail first',
      'The note fails first',
      'Do not keep this',
    ];
    assert.deepEqual(findLeaks(messages, [{ where: 'the worker log', text: logs }]), []);
  });
});
