// Reconnecting releases the waiting leads (issue 19), end to end: a lead
// held back while Keap refused the worker's authorization goes out with
// the first scheduled run after the owner connects again (no back-off for
// our own dead credentials), and, with a shell that runs work after its
// answer, right after the connection without any scheduled run. Also:
// the admin actions answer a script in JSON.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { connect, sleep, startSandbox, startWorker, stopAll, submit } from '../support/harness.mjs';

after(stopAll);

/** Three hours: inside the worker's six-hour refresh window, so every scheduled run refreshes. */
const SHORT_EXPIRES_IN = 3 * 3600;

const contactsWith = (state, email) =>
  state.contacts.filter((c) => c.email_addresses.some((e) => e.email.toLowerCase() === email.toLowerCase()));

const putsFor = (state, email) =>
  state.requests.filter((r) => r.route === 'contacts_put' && r.json?.email_addresses?.[0]?.email === email);

/** A POST with only `Authorization` (no Accept at all, which fetch would add), as raw HTTP. */
function bareAdminPost(worker, path) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${worker.url}${path}`,
      { method: 'POST', headers: { authorization: `Bearer ${worker.adminToken}`, 'content-length': '0' } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('after a revoked grant, reconnecting', () => {
  let sandbox;
  let worker;

  before(async () => {
    sandbox = await startSandbox({ name: 'reconnect-sandbox' });
    await sandbox.config({ expires_in: SHORT_EXPIRES_IN });
    worker = await startWorker({ sandbox, name: 'reconnect' });
  });

  test('the very next scheduled run delivers the lead that waited, with its tags', async () => {
    const { res: first } = await connect(worker);
    assert.equal(first.status, 303);

    // Keap revokes the grant: the refresh token is refused, the access token too.
    await sandbox.revokeRefreshTokens();
    await sandbox.expireAccessTokens();
    assert.equal((await worker.scheduled()).status, 200);
    let status = await worker.status();
    assert.equal(status.needs_reauth, true, JSON.stringify(status));

    // A lead now: queued, and Keap is not even asked.
    const email = 'waited-for-reconnect@example.com';
    const posted = await submit(worker, 'contact', { email, first_name: 'Patient', tags: ['newsletter'] });
    assert.equal(posted.status, 202, posted.text);
    assert.deepEqual(posted.json, { ok: true, status: 'queued' });
    assert.equal(putsFor(await sandbox.state(), email).length, 0, 'no Keap call with dead credentials');

    // Another scheduled run: still waiting, still not sent.
    assert.equal((await worker.scheduled()).status, 200);
    status = await worker.status();
    assert.equal(status.outbox.pending, 1);
    assert.equal(putsFor(await sandbox.state(), email).length, 0);

    // The owner connects again; the very next run (no time passing) delivers it.
    const { res: again } = await connect(worker);
    assert.equal(again.status, 303);
    assert.equal((await worker.scheduled()).status, 200);

    status = await worker.status();
    assert.equal(status.needs_reauth, false);
    assert.equal(status.outbox.pending, 0, JSON.stringify(status.outbox));
    assert.equal(status.outbox.dead, 0);
    const state = await sandbox.state();
    const [contact, ...more] = contactsWith(state, email);
    assert.ok(contact, 'delivered to Keap');
    assert.equal(more.length, 0, 'exactly once');
    assert.equal(contact.given_name, 'Patient');
    assert.deepEqual([...contact.tag_ids].sort(), [101, 103]);
  });

  test('POST /admin/refresh and /admin/replay answer a script (Bearer, no Accept) in JSON', async () => {
    for (const path of ['/admin/refresh', '/admin/replay']) {
      // No Accept header at all.
      const bare = await bareAdminPost(worker, path);
      assert.equal(bare.status, 200, `${path}: ${bare.text}`);
      assert.match(bare.headers['content-type'] ?? '', /^application\/json/, path);
      const v = JSON.parse(bare.text);
      assert.equal(typeof v.ok, 'boolean', path);
      // curl's Accept: */*.
      const curl = await worker.fetch(path, {
        method: 'POST',
        headers: { authorization: `Bearer ${worker.adminToken}`, accept: '*/*' },
      });
      assert.equal(curl.status, 200, `${path}: ${curl.text}`);
      assert.match(curl.header('content-type') ?? '', /^application\/json/, path);
      assert.ok(curl.json, `${path} answers JSON`);
    }
    const refresh = JSON.parse((await bareAdminPost(worker, '/admin/refresh')).text);
    assert.equal(refresh.ok, true, JSON.stringify(refresh));
    assert.equal(refresh.outcome, 'refreshed');
    const replay = JSON.parse((await bareAdminPost(worker, '/admin/replay')).text);
    assert.equal(replay.ok, true, JSON.stringify(replay));
    for (const key of ['delivered', 'queued', 'dead']) assert.equal(typeof replay[key], 'number', key);

    // A browser's form post still gets the page.
    const page = await worker.fetch('/admin/refresh', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${worker.adminToken}`,
        accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
      },
    });
    assert.equal(page.status, 200);
    assert.match(page.header('content-type') ?? '', /^text\/html/);
  });
});

// The callback's after-work (routes::answer_request's `after`, which the
// shell runs in ctx.wait_until) delivers the queue: a shell that dropped it
// would fail this.
describe('connecting, with no scheduled run', () => {
  test('delivers the leads that waited for the connection right after the callback answers', async () => {
    const sandbox = await startSandbox({ name: 'reconnect-now-sandbox' });
    const worker = await startWorker({ sandbox, name: 'reconnect-now' });
    const emails = ['first-in-line@example.com', 'second-in-line@example.com'];
    for (const email of emails) {
      const res = await submit(worker, 'contact', { email, tags: ['newsletter'] });
      assert.equal(res.status, 202, res.text);
    }
    assert.equal((await worker.status()).outbox.pending, 2);

    const { res } = await connect(worker);
    assert.equal(res.status, 303);

    // No /__scheduled here: only the callback's own after-work can deliver.
    let status;
    for (let i = 0; i < 50; i += 1) {
      status = await worker.status();
      if (status.outbox.pending === 0) break;
      await sleep(200);
    }
    assert.equal(status.outbox.pending, 0, `still waiting 10 s after connecting: ${JSON.stringify(status.outbox)}`);
    const state = await sandbox.state();
    for (const email of emails) {
      const found = contactsWith(state, email);
      assert.equal(found.length, 1, email);
      assert.deepEqual([...found[0].tag_ids].sort(), [101, 103], email);
    }
  });
});
