// Drop-in for the forms sites already have (issue 25), end to end in
// workerd against the sandbox (which checks every request body against
// Keap's v1 OpenAPI): a Formspree-style plain post, a Netlify-style
// fetch(FormData) post, a Contact Form 7 post with no message, every
// honeypot name, and first/last names winning over a whole name.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  SANDBOX_API_KEY,
  findLeaks,
  readAllFiles,
  startSandbox,
  startWorker,
  stopAll,
  submit,
} from '../support/harness.mjs';

after(stopAll);

const FORMS = {
  contact: { tags: [101] },
  netlify: { tags: [102], honeypot_field: 'fax_number' },
};

const contactWith = (state, email) => {
  const found = state.contacts.filter((c) => c.email_addresses.some((e) => e.email.toLowerCase() === email));
  assert.equal(found.length, 1, `one contact for ${email}`);
  return found[0];
};

describe('drop-in forms', () => {
  let sandbox;
  let worker;

  before(async () => {
    sandbox = await startSandbox({ name: 'dropin-sandbox' });
    worker = await startWorker({ sandbox, name: 'dropin', forms: FORMS, secrets: { KEAP_API_KEY: SANDBOX_API_KEY } });
  });

  test('a Formspree-style plain post: Jane Doe, one note with the message and the subject', async () => {
    const email = 'jane.doe@example.com';
    const before = (await sandbox.state()).counts;
    const res = await submit(
      worker,
      'contact',
      {
        name: 'Jane Doe',
        _replyto: email,
        message: 'I would like a quote\nfor the spring.',
        _subject: 'New enquiry from the site',
        _gotcha: '',
        _language: 'en',
      },
      { type: 'urlencoded', accept: 'text/html,application/xhtml+xml' },
    );
    assert.equal(res.status, 200, res.text);
    assert.match(res.text, /thank/i);
    const state = await sandbox.state();
    const contact = contactWith(state, email);
    assert.equal(contact.given_name, 'Jane');
    assert.equal(contact.family_name, 'Doe');
    assert.equal(contact.notes.length, 1);
    const [note] = contact.notes;
    assert.equal(note.title, 'Website form: contact \u2014 New enquiry from the site');
    assert.ok(note.body.startsWith('I would like a quote\nfor the spring.\n\n---\n'), note.body);
    assert.ok(!note.body.includes('_language'), note.body);
    // Two round trips: the upsert, then the tags and the note.
    const calls = (route) => (state.counts[route] ?? 0) - (before[route] ?? 0);
    assert.deepEqual([calls('contacts_put'), calls('tags_post'), calls('notes_post')], [1, 1, 1]);
  });

  test('a Netlify-style fetch(FormData) post keeps every field, a repeated one with all its values', async () => {
    const email = 'ada@example.com';
    const fd = new FormData();
    for (const [k, v] of [
      ['form-name', 'contact'],
      ['bot-field', ''],
      ['Name', 'Ada Lovelace'],
      ['Email', email],
      ['Message', 'We need a new site.'],
      ['company', 'Analytical Engines Ltd'],
      ['budget', '10k-20k'],
      ['services', 'design'],
      ['services', 'hosting'],
      ['services', 'seo'],
    ]) fd.append(k, v);
    // As a page's script sends it: no Content-Type of its own (fetch
    // writes multipart/form-data with its boundary), no Accept.
    const res = await worker.fetch('/forms/netlify', { method: 'POST', headers: { origin: 'http://127.0.0.1:8788' }, body: fd });
    assert.equal(res.status, 200, res.text);
    const contact = contactWith(await sandbox.state(), email);
    assert.equal(contact.given_name, 'Ada');
    assert.equal(contact.family_name, 'Lovelace');
    assert.equal(contact.notes.length, 1);
    const { body, title } = contact.notes[0];
    assert.equal(title, 'Website form: netlify');
    for (const part of [
      'We need a new site.',
      'company: Analytical Engines Ltd',
      'budget: 10k-20k',
      'services: design, hosting, seo',
    ]) {
      assert.ok(body.includes(part), `${JSON.stringify(part)} in ${body}`);
    }
    assert.ok(!body.includes('form-name') && !body.includes('bot-field'), body);
  });

  test('a Contact Form 7 post with no message but an unmapped field still writes its note', async () => {
    const email = 'grace@example.com';
    const res = await submit(
      worker,
      'contact',
      {
        _wpcf7: '42',
        _wpcf7_version: '5.9',
        _wpcf7_unit_tag: 'wpcf7-f42-p7-o1',
        'your-name': 'Grace Brewster Hopper',
        'your-email': email,
        'your-subject': 'Compilers',
        'menu-721': 'Workshop',
        'g-recaptcha-response': 'token-not-words',
      },
      { type: 'urlencoded', accept: 'application/json' },
    );
    assert.equal(res.status, 200, res.text);
    const contact = contactWith(await sandbox.state(), email);
    assert.equal(contact.given_name, 'Grace');
    assert.equal(contact.family_name, 'Brewster Hopper');
    assert.equal(contact.notes.length, 1);
    const [note] = contact.notes;
    assert.equal(note.title, 'Website form: contact \u2014 Compilers');
    assert.ok(note.body.startsWith('menu-721: Workshop\n\n---\n'), note.body);
    assert.ok(!note.body.includes('wpcf7') && !note.body.includes('token-not-words'), note.body);
  });

  test('each honeypot name, filled in, gets a success and reaches no Keap call', async () => {
    for (const [form, trap] of [
      ['contact', '_gotcha'],
      ['contact', '_honeypot'],
      ['contact', 'bot-field'],
      ['netlify', 'fax_number'],
    ]) {
      const before = (await sandbox.state()).counts;
      const email = `bot-${trap.replace(/[^a-z]/g, '')}@example.com`;
      const res = await submit(worker, form, { email, message: 'Buy now', [trap]: 'http://spam.example' });
      assert.equal(res.status, 200, `${trap}: ${res.text}`);
      assert.deepEqual(res.json, { ok: true, status: 'created' });
      const state = await sandbox.state();
      assert.deepEqual(state.counts, before, `${trap}: no Keap call`);
      assert.equal(state.contacts.filter((c) => c.email_addresses.some((e) => e.email === email)).length, 0);
    }
  });

  test('first_name and last_name win over name; the other name is kept in the note', async () => {
    const email = 'augusta@example.com';
    const res = await submit(worker, 'contact', {
      name: 'Countess of Lovelace',
      first_name: 'Augusta',
      last_name: 'King',
      email,
    });
    assert.equal(res.status, 200, res.text);
    const contact = contactWith(await sandbox.state(), email);
    assert.equal(contact.given_name, 'Augusta');
    assert.equal(contact.family_name, 'King');
    assert.equal(contact.notes.length, 1);
    assert.ok(contact.notes[0].body.startsWith('name: Countess of Lovelace\n'), contact.notes[0].body);
  });

  test('the limits, with stable codes, and nothing sent', async () => {
    const before = (await sandbox.state()).counts;
    const many = { email: 'many@example.com' };
    for (let i = 0; i <= 50; i += 1) many[`extra_${i}`] = 'v';
    let res = await submit(worker, 'contact', many);
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error.code, 'too_many_fields');
    res = await submit(worker, 'contact', { email: 'long@example.com', budget: 'x'.repeat(1001) });
    assert.equal(res.status, 400);
    assert.deepEqual([res.json.error.code, res.json.error.field], ['field_too_long', 'budget']);
    res = await submit(worker, 'contact', { email: 'name@example.com', ['n'.repeat(65)]: 'v' });
    assert.equal(res.status, 400);
    assert.equal(res.json.error.code, 'invalid_value');
    res = await submit(worker, 'contact', { _replyto: 'not-an-address' });
    assert.deepEqual([res.json.error.code, res.json.error.field], ['invalid_email', '_replyto']);
    assert.deepEqual((await sandbox.state()).counts, before);
  });

  test('a queued lead keeps its unmapped fields sealed and out of the log, and delivers them', async () => {
    const email = 'sealed@example.com';
    const secretWords = 'Confidential Project Nightingale';
    await sandbox.faults({ route: 'contacts_put', status: 503, count: 1 });
    const res = await submit(worker, 'contact', { email, project: secretWords, subject: 'Private subject line' });
    assert.equal(res.status, 202, res.text);
    await sandbox.faults({ clear: true });
    const kvDir = path.join(worker.persistDir, 'v3/kv');
    const files = readAllFiles(kvDir).map((f) => ({ where: path.relative(kvDir, f.file), text: f.text }));
    assert.ok(files.length > 0, 'the outbox entry is in local KV');
    assert.deepEqual(findLeaks([secretWords, 'Private subject line', email], files), []);
    assert.deepEqual(findLeaks([secretWords, 'Private subject line'], [{ where: 'log', text: worker.logs() }]), []);
    // The retry after the answer delivers it a couple of seconds later
    // (docs/CONTRACT.md 3.8), with no scheduled run.
    for (let i = 0; i < 80 && (await worker.status()).outbox.pending > 0; i += 1) {
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal((await worker.status()).outbox.pending, 0, 'delivered from the outbox');
    const contact = contactWith(await sandbox.state(), email);
    assert.equal(contact.notes.length, 1);
    assert.equal(contact.notes[0].title, 'Website form: contact \u2014 Private subject line');
    assert.ok(contact.notes[0].body.includes(`project: ${secretWords}`), contact.notes[0].body);
  });
});
