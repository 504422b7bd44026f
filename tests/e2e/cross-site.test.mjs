// Admin actions refuse cross-site requests (issue 27), end to end in
// workerd against the sandbox: with the owner's browser login (HTTP
// Basic), a POST under /admin that says it comes from another site
// (`Origin`, or `Sec-Fetch-Site` without one) is answered 403
// cross_site_request and nothing reaches Keap; from the worker's own
// origin, from curl, and with a Bearer token it acts; /oauth/start
// navigated to from another site does not send the browser to Keap.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { connect, secretLeaks, startSandbox, startWorker, stopAll } from '../support/harness.mjs';

after(stopAll);

const EVIL = 'https://evil.example';

describe('cross-site admin requests', () => {
  let sandbox;
  let worker;
  let basic;
  let leads = 0;
  const address = (tag) => `cross-site-${tag}-${++leads}@example.com`;

  /**
   * The admin actions, each as a request that would do something: its
   * body, and what the sandbox holds once it has run.
   */
  const actions = () => [
    { path: '/admin/refresh', did: (before, after) => (after.counts.token_refresh ?? 0) > (before.counts.token_refresh ?? 0) },
    { path: '/admin/replay', did: null },
    { path: '/admin/check', did: (before, after) => after.requests.length > before.requests.length },
    {
      path: '/admin/test-lead',
      lead: true,
      did: (before, after, email) => after.contacts.some((c) => c.email_addresses.some((e) => e.email === email)),
    },
  ];

  /** POSTs `path` with `headers`; a test lead sends a fresh address. */
  const post = (path, headers, email) =>
    worker.fetch(path, {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/json', ...headers },
      body: JSON.stringify(email ? { form: 'contact', email } : {}),
    });

  before(async () => {
    sandbox = await startSandbox({ name: 'cross-site-sandbox' });
    worker = await startWorker({ sandbox, name: 'cross-site' });
    basic = `Basic ${Buffer.from(`owner:${worker.adminToken}`).toString('base64')}`;
    const { res } = await connect(worker);
    assert.equal(res.status, 303);
  });

  test('with Basic credentials and a foreign Origin, or only Sec-Fetch-Site: cross-site, each action is refused and Keap sees nothing', async () => {
    const refusedAddresses = [];
    for (const { path, lead } of actions()) {
      for (const from of [{ origin: EVIL }, { 'sec-fetch-site': 'cross-site' }]) {
        const email = lead ? address('refused') : undefined;
        if (email) refusedAddresses.push(email);
        const before = await sandbox.state();
        const pendingBefore = (await worker.status()).outbox.pending;
        const res = await post(path, { authorization: basic, ...from }, email);
        const what = `${path} ${JSON.stringify(from)}`;
        assert.equal(res.status, 403, `${what}: ${res.text}`);
        assert.equal(res.json?.error?.code, 'cross_site_request', what);
        assert.equal(res.header('www-authenticate'), null, `${what}: no password prompt`);
        assert.equal(res.header('x-frame-options'), 'DENY');
        const after = await sandbox.state();
        assert.equal(after.requests.length, before.requests.length, `${what}: the sandbox was called`);
        assert.deepEqual(after.counts, before.counts, what);
        assert.equal((await worker.status()).outbox.pending, pendingBefore, `${what}: something was queued`);
      }
    }
    // A browser's form post gets a page with the way back to /admin.
    const email = address('refused');
    refusedAddresses.push(email);
    const page = await post('/admin/test-lead', { authorization: basic, origin: EVIL, accept: 'text/html' }, email);
    assert.equal(page.status, 403);
    assert.match(page.header('content-type'), /^text\/html/);
    assert.match(page.text, /<a href="\/admin">/);
    assert.match(page.header('content-security-policy'), /frame-ancestors 'none'/);

    const held = JSON.stringify(await sandbox.state());
    for (const email of refusedAddresses) assert.ok(!held.includes(email), `${email} reached the sandbox`);
  });

  test('the same requests from the worker\'s own origin, from curl (neither header) and with Bearer act', async () => {
    const bearer = `Bearer ${worker.adminToken}`;
    for (const { path, lead, did } of actions()) {
      for (const headers of [
        { authorization: basic, origin: worker.url },
        { authorization: basic, origin: worker.url, 'sec-fetch-site': 'same-origin' },
        { authorization: basic },
        { authorization: bearer, origin: EVIL, 'sec-fetch-site': 'cross-site' },
      ]) {
        const email = lead ? address('allowed') : undefined;
        const before = await sandbox.state();
        const res = await post(path, headers, email);
        const what = `${path} ${JSON.stringify({ ...headers, authorization: headers.authorization.split(' ')[0] })}`;
        assert.equal(res.status, 200, `${what}: ${res.text}`);
        assert.equal(res.json?.ok, true, `${what}: ${res.text}`);
        if (did) assert.ok(did(before, await sandbox.state(), email), `${what}: it did nothing in Keap`);
        else assert.equal(typeof res.json.delivered, 'number', what);
      }
    }
  });

  test('GET /oauth/start navigated to from another site does not go to Keap', async () => {
    const before = await sandbox.state();
    const res = await worker.fetch('/oauth/start', {
      headers: { authorization: basic, accept: 'text/html', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' },
    });
    assert.equal(res.status, 403, res.text);
    assert.equal(res.header('location'), null);
    assert.match(res.text, /<a href="\/admin">/);
    assert.doesNotMatch(res.text, new RegExp(sandbox.url.replace(/[.:/]/g, '\\$&')));
    assert.deepEqual((await sandbox.state()).counts, before.counts);

    // Typed in or bookmarked (`none`), or from the admin page: off to Keap.
    for (const site of ['none', 'same-origin']) {
      const ok = await worker.fetch('/oauth/start', {
        headers: { authorization: basic, accept: 'text/html', 'sec-fetch-site': site },
      });
      assert.equal(ok.status, 302, `${site}: ${ok.text}`);
      assert.ok(ok.header('location').startsWith(`${sandbox.url}/app/oauth/authorize`), site);
    }
  });

  test('every /admin answer refuses to be framed, and nothing secret is in any answer', async () => {
    for (const [path, headers, status] of [
      ['/admin', { authorization: basic, accept: 'text/html' }, 200],
      ['/admin/status', { authorization: basic }, 200],
      ['/admin', {}, 401],
    ]) {
      const res = await worker.fetch(path, { headers });
      assert.equal(res.status, status, path);
      assert.equal(res.header('x-frame-options'), 'DENY', path);
      assert.equal(res.header('content-security-policy'), "frame-ancestors 'none'", path);
    }
    assert.deepEqual(secretLeaks(worker, await sandbox.state()), []);
  });
});
