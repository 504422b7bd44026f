// Spam and undeliverable addresses stay out of Keap (issue 28), end to end
// in workerd against the sandbox and the stand-in resolver
// (tests/support/doh.mjs): spam held and reaching no Keap call, the
// legitimate examples delivered at once, addresses at domains that take no
// mail refused, a failing or slow lookup never blocking a lead, and the
// owner's review: list, release exactly once, delete, everything escaped,
// forged ids refused without touching anything.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { connect, readAllFiles, startSandbox, startWorker, stopAll, submit } from '../support/harness.mjs';

after(stopAll);

const FORMS = {
  contact: { tags: [101], note: 'message' },
  dropper: { tags: [101], spam: 'drop' },
  unchecked: { tags: [101], check_email_domain: false },
};

const SPAM = [
  [{ first_name: 'Earn $5000 a day http://cash.example' }, 'link_in_name'],
  [{ message: 'https://casino.example/bonus?ref=e2e' }, 'message_only_link'],
  [{ message: 'SEO http://a.example http://b.example https://c.example www.d.example www.e.example' }, 'too_many_links'],
  [{ message: 'Cheap pills [url=http://pills.example]here[/url]' }, 'markup_link'],
  [{ message: 'Look <a href="http://x.example">at this</a>' }, 'markup_link'],
];

const LEGIT = [
  { email: 'jose@example.com', first_name: 'José', last_name: 'Ñúñez' },
  { email: 'lilei@example.org', first_name: '李', last_name: '雷' },
  { email: 'zoe@example.net', first_name: 'Zoë', last_name: "O'Brien", message: 'My old site https://old.example is slow, can you help?', website: 'https://www.zoe.example' },
];

const contactsPut = async (sandbox) => (await sandbox.state()).counts.contacts_put;
const emailsInKeap = async (sandbox) =>
  (await sandbox.state()).contacts.flatMap((c) => c.email_addresses.map((e) => e.email.toLowerCase()));

describe('spam held, undeliverable addresses refused', () => {
  let sandbox;
  let worker;

  before(async () => {
    sandbox = await startSandbox({ name: 'spam-sandbox' });
    worker = await startWorker({ sandbox, name: 'spam', forms: FORMS });
    await connect(worker);
  });

  test('the spam examples are held, answered as success, and reach no Keap call', async () => {
    const before = await contactsPut(sandbox);
    for (const [fields, reason] of SPAM) {
      const res = await submit(worker, 'contact', { email: 'bot@example.com', ...fields });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json, { ok: true, status: 'created' });
      const held = (await worker.admin('/admin/held')).json;
      assert.ok(held.held.some((h) => h.reason === reason), `${reason} in ${JSON.stringify(held.held.map((h) => h.reason))}`);
    }
    assert.equal(await contactsPut(sandbox), before);
    assert.ok(!(await emailsInKeap(sandbox)).includes('bot@example.com'));
    const status = await worker.status();
    assert.equal(status.held.count, SPAM.length);
    assert.deepEqual(status.outbox, { pending: 0, dead: 0 });
    // The visitor's words are sealed: in no log line and in no stored file in clear.
    const logs = worker.logs();
    const files = readAllFiles(worker.persistDir).map((f) => f.text).join('\n');
    for (const [fields] of SPAM) {
      for (const v of Object.values(fields)) {
        assert.ok(!logs.includes(v), 'a held word in the log');
        assert.ok(!files.includes(v), 'a held word stored in clear');
      }
    }
  });

  test('spam = "drop" keeps nothing and answers the same', async () => {
    const count = (await worker.status()).held.count;
    const res = await submit(worker, 'dropper', { email: 'bot2@example.com', message: 'www.casino.example' });
    assert.deepEqual(res.json, { ok: true, status: 'created' });
    assert.equal((await worker.status()).held.count, count);
    assert.ok(!(await emailsInKeap(sandbox)).includes('bot2@example.com'));
  });

  test('the legitimate examples are delivered at once', async () => {
    for (const fields of LEGIT) {
      const res = await submit(worker, 'contact', fields);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.status, 'created');
    }
    const inKeap = await emailsInKeap(sandbox);
    for (const { email } of LEGIT) assert.ok(inKeap.includes(email), email);
  });

  test('addresses at domains that take no mail are refused with invalid_email', async () => {
    const before = await contactsPut(sandbox);
    for (const domain of ['nowhere.invalid', 'no-records.test', 'null-mx.test']) {
      const res = await submit(worker, 'contact', { email: `sam@${domain}` });
      assert.equal(res.status, 400, `${domain}: ${res.text}`);
      assert.equal(res.json.error.code, 'invalid_email');
      assert.equal(res.json.error.field, 'email');
      assert.match(res.json.error.message, /check the address/);
      assert.ok(worker.doh.asked(domain).every((q) => q.accept === 'application/dns-json'));
    }
    assert.equal(await contactsPut(sandbox), before);
    assert.equal((await worker.status()).outbox.pending, 0);
    // A form may turn the check off.
    const res = await submit(worker, 'unchecked', { email: 'sam@nowhere.invalid' });
    assert.equal(res.json?.status, 'created', res.text);
  });

  test('an A record alone, a failing lookup and a slow one let the lead through', async () => {
    for (const domain of ['a-only.test', 'dns-fails.test', 'dns-slow.test']) {
      const started = Date.now();
      const res = await submit(worker, 'contact', { email: `pat@${domain}` });
      assert.equal(res.status, 200, `${domain}: ${res.text}`);
      assert.equal(res.json.status, 'created');
      if (domain === 'dns-slow.test') assert.ok(Date.now() - started < 4500, 'the slow resolver was not waited for');
    }
    const inKeap = await emailsInKeap(sandbox);
    for (const d of ['a-only.test', 'dns-fails.test', 'dns-slow.test']) assert.ok(inKeap.includes(`pat@${d}`), d);
    assert.deepEqual(
      worker.doh.asked('a-only.test').map((q) => q.type).sort(),
      ['A', 'AAAA', 'MX'],
    );
  });

  test('a released held post is in Keap once; a second release answers 404', async () => {
    const res = await submit(worker, 'contact', { email: 'maybe@example.com', first_name: 'Maybe', message: 'www.my-shop.example' });
    assert.equal(res.json.status, 'created');
    const held = (await worker.admin('/admin/held')).json.held.find((h) => h.email === 'maybe@example.com');
    assert.ok(held, 'listed');
    assert.equal(held.reason, 'message_only_link');
    assert.equal(held.form, 'contact');
    assert.match(held.id, /^\d{8}-[0-9a-f]{32}$/);
    assert.match(held.received_at, /^\d{4}-\d\d-\d\dT/);
    assert.ok(!(await emailsInKeap(sandbox)).includes('maybe@example.com'));

    const release = await worker.admin(`/admin/held/${held.id}/release`, { method: 'POST' });
    assert.equal(release.status, 200, release.text);
    assert.equal(release.json.status, 'created');
    const state = await sandbox.state();
    const mine = state.contacts.filter((c) => c.email_addresses.some((e) => e.email === 'maybe@example.com'));
    assert.equal(mine.length, 1);
    assert.equal(mine[0].notes.length, 1);
    const again = await worker.admin(`/admin/held/${held.id}/release`, { method: 'POST' });
    assert.equal(again.status, 404);
    assert.equal(again.json.error.code, 'not_found');
    const after = await sandbox.state();
    assert.equal(after.counts.contacts_put, state.counts.contacts_put);
    assert.ok(!(await worker.admin('/admin/held')).json.held.some((h) => h.id === held.id));
  });

  test('a deleted held post is gone', async () => {
    await submit(worker, 'contact', { email: 'gone@example.com', message: 'https://gone.example' });
    const held = (await worker.admin('/admin/held')).json.held.find((h) => h.email === 'gone@example.com');
    const del = await worker.admin(`/admin/held/${held.id}/delete`, { method: 'POST' });
    assert.equal(del.status, 200, del.text);
    assert.deepEqual(del.json, { ok: true, deleted: held.id });
    assert.ok(!(await worker.admin('/admin/held')).json.held.some((h) => h.id === held.id));
    assert.equal((await worker.admin(`/admin/held/${held.id}/delete`, { method: 'POST' })).status, 404);
    assert.equal((await worker.admin(`/admin/held/${held.id}/release`, { method: 'POST' })).status, 404);
    assert.ok(!(await emailsInKeap(sandbox)).includes('gone@example.com'));
  });

  test('a held message carrying markup is shown escaped on /admin', async () => {
    const evil = '<script>alert("held")</script><img src=x onerror=alert(2)><a href="http://x.example">x</a>';
    await submit(worker, 'contact', { email: 'evil@example.com', first_name: '<b>Mal</b>', message: evil });
    const page = await worker.admin('/admin', { headers: { accept: 'text/html' } });
    assert.equal(page.status, 200);
    assert.ok(page.text.includes('&lt;script&gt;alert(&quot;held&quot;)&lt;/script&gt;'));
    assert.ok(page.text.includes('&lt;img src=x onerror=alert(2)&gt;'));
    assert.ok(page.text.includes('&lt;b&gt;Mal&lt;/b&gt;'));
    assert.ok(!page.text.includes('<script>alert'));
    assert.ok(!page.text.includes('<img src=x'));
    assert.ok(!page.text.includes('<b>Mal'));
  });

  test('forged ids answer 404 and leave the connection and the outbox untouched', async () => {
    const statusBefore = await worker.status();
    const stateBefore = await sandbox.state();
    const hex = '0123456789abcdef0123456789abcdef';
    for (const forged of [
      '..%2Ftokens',
      '..%2F..%2Fauth%2Ftokens',
      'auth%2Ftokens',
      hex,
      `20260101-${hex.toUpperCase()}`,
      `20260101-${hex}%2F`,
      `outbox%2F20260101-${hex}`,
    ]) {
      for (const action of ['release', 'delete']) {
        const res = await worker.admin(`/admin/held/${forged}/${action}`, { method: 'POST' });
        assert.equal(res.status, 404, `${forged} ${action}`);
      }
    }
    const climb = await worker.admin('/admin/held/../../auth/tokens/delete', { method: 'POST' });
    assert.equal(climb.status, 404);
    const statusAfter = await worker.status();
    assert.equal(statusAfter.connected, true);
    assert.deepEqual(statusAfter.outbox, statusBefore.outbox);
    assert.equal(statusAfter.access_token_expires_at, statusBefore.access_token_expires_at);
    assert.equal(statusAfter.held.count, statusBefore.held.count);
    const stateAfter = await sandbox.state();
    assert.equal(stateAfter.counts.contacts_put, stateBefore.counts.contacts_put);
    // Still connected for real: a lead goes straight in.
    const res = await submit(worker, 'contact', { email: 'after@example.com' });
    assert.equal(res.json.status, 'created');
  });
});
