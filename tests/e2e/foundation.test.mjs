// Foundation (issue 2): the wasm worker in workerd answers /health, 404s
// unknown routes with JSON, and guards the admin routes.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { secretLeaks, startSandbox, startWorker, stopAll } from '../support/harness.mjs';

after(stopAll);

const ADMIN_ROUTES = [
  ['GET', '/admin'],
  ['GET', '/admin/status'],
  ['POST', '/admin/refresh'],
  ['POST', '/admin/replay'],
  ['GET', '/oauth/start'],
];

describe('with ADMIN_TOKEN set', () => {
  let sandbox;
  let worker;
  before(async () => {
    sandbox = await startSandbox();
    worker = await startWorker({ sandbox, name: 'foundation' });
  });
  after(async () => {
    await worker?.stop();
    await sandbox?.stop();
  });

  test('GET /health answers exactly {"status":"ok"}', async () => {
    const res = await worker.fetch('/health');
    assert.equal(res.status, 200);
    assert.equal(res.text, '{"status":"ok"}');
    assert.match(res.header('content-type'), /^application\/json/);
  });

  test('an unknown route is a JSON 404', async () => {
    for (const [method, p] of [
      ['GET', '/'],
      ['GET', '/nope'],
      ['POST', '/health/extra'],
      ['GET', '/forms'],
      ['DELETE', '/forms/contact'],
    ]) {
      const res = await worker.fetch(p, { method });
      assert.equal(res.status, 404, `${method} ${p}`);
      assert.match(res.header('content-type'), /^application\/json/, `${method} ${p}`);
      assert.equal(res.json?.ok, false, `${method} ${p}`);
      assert.equal(typeof res.json?.error?.code, 'string', `${method} ${p}`);
    }
  });

  test('admin routes without credentials: 401 with a Basic challenge', async () => {
    for (const [method, p] of ADMIN_ROUTES) {
      const res = await worker.fetch(p, { method });
      assert.equal(res.status, 401, `${method} ${p}`);
      assert.equal(res.header('www-authenticate'), 'Basic realm="keap-form-worker"', `${method} ${p}`);
    }
  });

  test('admin routes with a wrong token: 401, Bearer and Basic alike', async () => {
    const wrong = [
      'Bearer not-the-token',
      `Basic ${Buffer.from('admin:not-the-token').toString('base64')}`,
      `Bearer ${worker.adminToken}x`,
      `Bearer ${worker.adminToken.slice(0, -1)}`,
    ];
    for (const authorization of wrong) {
      const res = await worker.fetch('/admin/status', { headers: { authorization, accept: 'application/json' } });
      assert.equal(res.status, 401);
      assert.equal(res.header('www-authenticate'), 'Basic realm="keap-form-worker"');
    }
  });

  test('admin routes accept Bearer and Basic (any user name) with ADMIN_TOKEN', async () => {
    const bearer = await worker.fetch('/admin/status', {
      headers: { authorization: `Bearer ${worker.adminToken}`, accept: 'application/json' },
    });
    assert.equal(bearer.status, 200);
    assert.equal(bearer.json.auth_mode, 'oauth');
    assert.equal(bearer.json.connected, false);
    assert.deepEqual(bearer.json.forms, ['contact']);

    const basic = await worker.fetch('/admin', {
      headers: { authorization: `Basic ${Buffer.from(`anyone:${worker.adminToken}`).toString('base64')}` },
    });
    assert.equal(basic.status, 200);
    assert.match(basic.header('content-type'), /^text\/html/);
    assert.match(basic.text, /Connect to Keap/);
  });

  test('no secret in any answer or in the log', async () => {
    // The admin token was sent by us in requests, never echoed back.
    assert.deepEqual(secretLeaks(worker, await sandbox.state()), []);
  });
});

describe('without ADMIN_TOKEN', () => {
  let worker;
  before(async () => {
    worker = await startWorker({ name: 'foundation-noadmin', secrets: { ADMIN_TOKEN: null } });
  });

  test('every admin route answers 503 saying how to set ADMIN_TOKEN', async () => {
    for (const [method, p] of ADMIN_ROUTES) {
      for (const accept of ['application/json', 'text/html']) {
        const res = await worker.fetch(p, {
          method,
          headers: { accept, authorization: 'Bearer anything' },
        });
        assert.equal(res.status, 503, `${method} ${p} (${accept})`);
        assert.match(res.text, /ADMIN_TOKEN/, `${method} ${p}`);
        assert.match(res.text, /wrangler secret put ADMIN_TOKEN/, `${method} ${p}`);
        assert.match(res.text, /\.dev\.vars/, `${method} ${p}`);
        if (accept === 'application/json') {
          assert.equal(res.json?.ok, false);
          assert.equal(res.json?.error?.code, 'admin_token_not_set');
        }
      }
    }
  });

  test('no secret in any answer or in the log', () => {
    assert.deepEqual(secretLeaks(worker, null), []);
  });

  test('/health still answers', async () => {
    const res = await worker.fetch('/health');
    assert.equal(res.status, 200);
    assert.equal(res.text, '{"status":"ok"}');
  });
});
