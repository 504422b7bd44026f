// Authorization (issue 3), end to end: the owner's one-time consent, the
// single-use callback, refresh with rotation from the Cron Trigger, a
// revoked grant, a refresh race, API-key mode, and no secret anywhere.
//
// The OAuth tests share one sandbox and one worker and run in order: each
// builds on the connection the previous one left.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  SANDBOX_API_KEY,
  SANDBOX_CLIENT_ID,
  SANDBOX_CLIENT_SECRET,
  connect,
  consent,
  findLeaks,
  knownSecrets,
  readAllFiles,
  startSandbox,
  startStub,
  startWorker,
  stopAll,
  submit,
  tokenStrings,
} from '../support/harness.mjs';

after(stopAll);

/** Three hours: inside the worker's six-hour refresh window. */
const SHORT_EXPIRES_IN = 3 * 3600;
const BASIC = `Basic ${Buffer.from(`${SANDBOX_CLIENT_ID}:${SANDBOX_CLIENT_SECRET}`).toString('base64')}`;

/** The worker's answers (status, headers, body; not our request URLs). */
const answers = (worker) =>
  worker.transcript().map((t, i) => ({
    where: `answer ${i} (${t.path.split('?')[0]})`,
    text: JSON.stringify([t.status, t.headers, t.body]),
  }));

const requestsOf = (state, route) => state.requests.filter((r) => r.route === route);

/** Calls that carry a token or the client secret: token endpoint and REST. */
const tokenAndRestCalls = (state) =>
  state.requests.filter((r) => (r.route || '').startsWith('token') || (r.path || '').startsWith('/crm/rest')).length;

describe('OAuth mode', () => {
  let sandbox;
  let worker;
  let alerts;
  const retired = []; // workers stopped along the way, for the leak sweep
  let emails = 0;
  const deliver = () =>
    submit(worker, 'contact', { email: `auth-${++emails}@example.com`, first_name: 'Ada' });

  before(async () => {
    sandbox = await startSandbox({ name: 'auth-sandbox' });
    await sandbox.config({ expires_in: SHORT_EXPIRES_IN });
    alerts = await startStub();
    worker = await startWorker({
      sandbox,
      name: 'auth',
      secrets: { ALERT_WEBHOOK_URL: `${alerts.url}/alert` },
    });
  });

  test('before consent: not connected, and a denied consent gets a 4xx page saying so', async () => {
    const status = await worker.status();
    assert.equal(status.auth_mode, 'oauth');
    assert.equal(status.connected, false);
    assert.equal(status.tenant, null);

    const { callbackUrl } = await consent(worker, { decision: 'deny' });
    assert.match(callbackUrl, /error=access_denied/);
    const u = new URL(callbackUrl);
    const res = await worker.fetch(u.pathname + u.search);
    assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
    assert.match(res.text, /denied|Deny|refused/i);
    assert.equal((await worker.status()).connected, false);
  });

  test('start, consent, callback: connected with the tenant', async () => {
    const start = await worker.admin('/oauth/start', { headers: { accept: 'text/html' } });
    assert.equal(start.status, 302);
    const authorize = new URL(start.header('location'));
    assert.equal(authorize.origin + authorize.pathname, `${sandbox.url}/app/oauth/authorize`);
    assert.equal(authorize.searchParams.get('client_id'), SANDBOX_CLIENT_ID);
    assert.equal(authorize.searchParams.get('response_type'), 'code');
    assert.equal(authorize.searchParams.get('scope'), 'full');
    assert.equal(authorize.searchParams.get('redirect_uri'), `${worker.url}/oauth/callback`);
    assert.ok((authorize.searchParams.get('state') || '').length >= 16, 'a random state');

    const { res } = await connect(worker);
    assert.equal(res.status, 303);
    assert.equal(res.header('location'), '/admin');

    const status = await worker.status();
    assert.equal(status.connected, true);
    assert.equal(status.needs_reauth, false);
    assert.equal(status.tenant, 'xy123.infusionsoft.com');
    const expiresAt = Date.parse(status.access_token_expires_at);
    assert.ok(Math.abs(expiresAt - (Date.now() + SHORT_EXPIRES_IN * 1000)) < 120_000, status.access_token_expires_at);

    const page = await worker.admin('/admin', { headers: { accept: 'text/html' } });
    assert.equal(page.status, 200);
    assert.match(page.text, /xy123/);

    const state = await sandbox.state();
    assert.equal(state.counts.token_authorization_code, 1);
    const [exchange] = requestsOf(state, 'token_authorization_code');
    assert.equal(exchange.status, 200);
    assert.equal(exchange.form.grant_type, 'authorization_code');
    assert.equal(exchange.form.redirect_uri, `${worker.url}/oauth/callback`);
  });

  test('the same callback URL replayed is refused with no second code exchange', async () => {
    // A fresh consent whose callback we deliver twice.
    const { callbackUrl } = await consent(worker);
    const u = new URL(callbackUrl);
    const first = await worker.fetch(u.pathname + u.search);
    assert.equal(first.status, 303);
    const before = (await sandbox.state()).counts.token_authorization_code;

    const replay = await worker.fetch(u.pathname + u.search);
    assert.ok(replay.status >= 400 && replay.status < 500, `replay answered ${replay.status}`);
    assert.match(replay.text, /state/i);
    const afterState = await sandbox.state();
    assert.equal(afterState.counts.token_authorization_code, before, 'no second code exchange');

    // A made-up state is refused the same way, with no exchange either.
    const forged = await worker.fetch(`/oauth/callback?code=sbc_made_up&state=forged${'x'.repeat(30)}`);
    assert.ok(forged.status >= 400 && forged.status < 500);
    assert.equal((await sandbox.state()).counts.token_authorization_code, before);

    const status = await worker.status();
    assert.equal(status.connected, true, 'a refused replay leaves the connection alone');
  });

  test('two scheduled runs with short-lived tokens each refresh with Basic auth and the newest refresh token', async () => {
    const before = await sandbox.state();
    const refreshesBefore = requestsOf(before, 'token_refresh').length;
    // The sandbox lists tokens in issue order; each consent started a new
    // grant, so the worker holds the newest refresh token.
    let expected = before.tokens.refresh.at(-1).token;
    assert.equal(before.tokens.refresh.at(-1).status, 'live');

    for (let run = 1; run <= 2; run++) {
      const res = await worker.scheduled();
      assert.equal(res.status, 200);
      const state = await sandbox.state();
      const refreshes = requestsOf(state, 'token_refresh');
      assert.equal(refreshes.length, refreshesBefore + run, `run ${run} refreshed once`);
      const last = refreshes.at(-1);
      assert.equal(last.status, 200, `run ${run}: the sandbox accepted the refresh`);
      assert.equal(last.headers.authorization, BASIC, `run ${run}: Basic client auth`);
      assert.equal(last.form.grant_type, 'refresh_token');
      assert.equal(last.form.refresh_token, expected, `run ${run}: the newest refresh token`);
      assert.equal(last.form.client_secret, undefined, 'the secret goes in the header only');

      const used = state.tokens.refresh.find((t) => t.token === expected);
      assert.equal(used.status, 'rotated', `run ${run}: the old refresh token is dead`);
      const newest = state.tokens.refresh.at(-1);
      assert.equal(newest.status, 'live');
      assert.notEqual(newest.token, expected, 'rotated');
      expected = newest.token;

      const status = await worker.status();
      assert.equal(status.connected, true);
      assert.equal(status.last_refresh?.ok, true);
      assert.equal(status.last_refresh?.error, null);
    }
    // The newest access token works: a form post is delivered with it.
    const res = await deliver();
    assert.equal(res.status, 200, res.text);
    const state = await sandbox.state();
    const put = requestsOf(state, 'contacts_put').at(-1);
    const newestAccess = state.tokens.access.at(-1).token;
    assert.equal(put.headers.authorization, `Bearer ${newestAccess}`);
  });

  test('the rotated tokens persist: a restarted worker on the same KV refreshes with the newest one', async () => {
    const { persistDir, secrets } = worker;
    await worker.stop();
    retired.push(worker);
    // A copy of the KV for the wrong-key check below, taken while stopped.
    const copy = `${worker.dir}-kv-copy`;
    fs.cpSync(persistDir, copy, { recursive: true });

    worker = await startWorker({ sandbox, name: 'auth-restarted', persistDir, secrets });
    let status = await worker.status();
    assert.equal(status.connected, true);
    assert.equal(status.tenant, 'xy123.infusionsoft.com');
    const expected = (await sandbox.state()).tokens.refresh.at(-1).token;
    const refresh = await worker.admin('/admin/refresh', { method: 'POST' });
    assert.equal(refresh.status, 200, refresh.text);
    const last = requestsOf(await sandbox.state(), 'token_refresh').at(-1);
    assert.equal(last.form.refresh_token, expected);
    assert.equal(last.status, 200);

    // The same KV under another ENCRYPTION_KEY: detected and reported,
    // the tokens never used.
    const before = await sandbox.state();
    const strangerAlerts = await startStub();
    const stranger = await startWorker({
      sandbox,
      name: 'auth-wrong-key',
      persistDir: copy,
      secrets: {
        ...secrets,
        ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        ALERT_WEBHOOK_URL: `${strangerAlerts.url}/alert`,
      },
    });
    try {
      status = await stranger.status();
      assert.equal(status.connected, false);
      assert.ok(
        status.problems.some((p) => p.setting === 'ENCRYPTION_KEY'),
        `problems: ${JSON.stringify(status.problems)}`,
      );
      await stranger.scheduled();
      const lead = await submit(stranger, 'contact', { email: 'wrong-key@example.com' });
      assert.equal(lead.status, 202, lead.text);
      const afterState = await sandbox.state();
      assert.equal(tokenAndRestCalls(afterState), tokenAndRestCalls(before), 'no token was sent anywhere');
      assert.deepEqual(
        strangerAlerts.requests.map((r) => r.json?.event),
        ['needs_reauth'],
        'the owner is told to set the key back or reconnect',
      );
    } finally {
      await strangerAlerts.stop();
      await stranger.stop();
      retired.push(stranger);
    }
  });

  test('/admin/refresh racing a scheduled run does not lose the connection', async () => {
    const refusedBefore = requestsOf(await sandbox.state(), 'token_refresh').filter((r) => r.status !== 200).length;
    for (let round = 1; round <= 3; round++) {
      const [manual, cron] = await Promise.all([
        worker.admin('/admin/refresh', { method: 'POST' }),
        worker.scheduled(),
      ]);
      assert.equal(cron.status, 200, `round ${round}: scheduled`);
      assert.ok(manual.status < 500, `round ${round}: /admin/refresh answered ${manual.status} ${manual.text}`);
      const status = await worker.status();
      assert.equal(status.connected, true, `round ${round}: still connected (${JSON.stringify(status.last_refresh)})`);
      assert.equal(status.needs_reauth, false, `round ${round}`);
    }
    const refused = requestsOf(await sandbox.state(), 'token_refresh').filter((r) => r.status !== 200).length;
    console.log(`refresh race: ${refused - refusedBefore} of 3 rounds had a refresh refused by the sandbox (a real race)`);
    // The stored pair is the live one: the next refresh succeeds...
    const refresh = await worker.admin('/admin/refresh', { method: 'POST' });
    assert.equal(refresh.status, 200, refresh.text);
    assert.equal((await worker.status()).last_refresh?.ok, true);
    // ...and a form post is delivered.
    const res = await deliver();
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.status, 'created');
    assert.equal(
      alerts.requests.filter((r) => r.json?.event === 'needs_reauth').length,
      0,
      'a lost race is not an alert',
    );
  });

  test('a revoked refresh token: needs_reauth and exactly one alert', async () => {
    await sandbox.revokeRefreshTokens();
    const first = await worker.scheduled();
    assert.equal(first.status, 200);
    const status = await worker.status();
    assert.equal(status.needs_reauth, true);
    assert.equal(status.connected, false);
    assert.equal(status.last_refresh?.ok, false);
    assert.equal(typeof status.last_refresh?.error, 'string');

    // Another run and a manual refresh do not alert again.
    await worker.scheduled();
    await worker.admin('/admin/refresh', { method: 'POST' });
    const reauth = alerts.requests.filter((r) => r.json?.event === 'needs_reauth');
    assert.equal(reauth.length, 1, `alerts: ${JSON.stringify(alerts.requests.map((r) => r.json?.event))}`);
    const [alert] = reauth;
    assert.equal(alert.method, 'POST');
    assert.equal(alert.url, '/alert');
    assert.equal(typeof alert.json.message, 'string');
    assert.ok(!Number.isNaN(Date.parse(alert.json.at)), 'at is a date');

    // A lead posted now is kept, not lost: delivered with the access token
    // that still works, or queued.
    const res = await deliver();
    assert.ok([200, 202].includes(res.status), `${res.status} ${res.text}`);
  });

  test('reconnecting after revocation clears needs_reauth', async () => {
    const { res } = await connect(worker);
    assert.equal(res.status, 303);
    const status = await worker.status();
    assert.equal(status.connected, true);
    assert.equal(status.needs_reauth, false);
  });

  test('no token, client secret, admin token or encryption key in any answer, log, alert or KV file', async () => {
    const state = await sandbox.state();
    const tokens = tokenStrings(state);
    assert.ok(tokens.length >= 6, `sandbox issued tokens (${tokens.length})`);
    const secrets = [...tokens, ...knownSecrets(), SANDBOX_CLIENT_SECRET];

    const seen = [];
    for (const w of [...retired, worker]) {
      seen.push(...answers(w), { where: `wrangler log ${path.basename(w.dir)}`, text: w.logs() });
    }
    alerts.requests.forEach((r, i) => seen.push({ where: `alert ${i}`, text: r.body }));
    assert.deepEqual(findLeaks(secrets, seen), []);

    // The local KV: no token of any kind in plain text.
    const kvDir = path.join(worker.persistDir, 'v3/kv');
    const kv = readAllFiles(kvDir).map((f) => ({ where: path.relative(kvDir, f.file), text: f.text }));
    assert.ok(kv.length > 0, 'the local KV has files');
    assert.deepEqual(findLeaks(tokens, kv), []);
    // Anywhere wrangler keeps state (its request traces included): no
    // access or refresh token. (Authorization codes do appear there: they
    // arrive in the callback URL, which miniflare's trace store records.)
    const everything = readAllFiles(worker.persistDir).map((f) => ({
      where: path.relative(worker.persistDir, f.file),
      text: f.text,
    }));
    const bearer = [...state.tokens.access, ...state.tokens.refresh].map((t) => t.token);
    assert.deepEqual(findLeaks(bearer, everything), []);
  });
});

describe('API-key mode', () => {
  let sandbox;
  let worker;
  before(async () => {
    sandbox = await startSandbox({ name: 'apikey-sandbox' });
    worker = await startWorker({
      sandbox,
      name: 'apikey',
      secrets: { KEAP_API_KEY: SANDBOX_API_KEY, KEAP_CLIENT_ID: null, KEAP_CLIENT_SECRET: null },
    });
  });
  after(async () => {
    await worker?.stop();
    await sandbox?.stop();
  });

  test('status says api_key and connected', async () => {
    const status = await worker.status();
    assert.equal(status.auth_mode, 'api_key');
    assert.equal(status.connected, true);
    assert.equal(status.needs_reauth, false);
  });

  test('a form post is delivered with X-Keap-API-Key', async () => {
    const res = await submit(worker, 'contact', { email: 'key-mode@example.com', consent: 'yes' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.status, 'created');
    const state = await sandbox.state();
    const [put] = requestsOf(state, 'contacts_put');
    assert.equal(put.headers['x-keap-api-key'], SANDBOX_API_KEY);
    assert.equal(put.headers.authorization, undefined);
    const [tags] = requestsOf(state, 'tags_post');
    assert.equal(tags.headers['x-keap-api-key'], SANDBOX_API_KEY);
    assert.deepEqual(state.contacts[0].tag_ids, [101]);
  });

  test('/oauth/start explains that OAuth is not in use, and scheduled runs never refresh', async () => {
    const res = await worker.admin('/oauth/start', { headers: { accept: 'text/html' } });
    assert.ok(res.status < 300 || res.status >= 400, `not a redirect: ${res.status}`);
    assert.equal(res.header('location'), null);
    assert.match(res.text, /OAuth is not in use/);
    assert.match(res.text, /KEAP_API_KEY/);
    await worker.scheduled();
    const state = await sandbox.state();
    assert.equal(state.counts.token_refresh ?? 0, 0);
    assert.equal(state.counts.authorize ?? 0, 0);
  });

  test('the API key appears in no answer and no log', () => {
    const seen = answers(worker);
    seen.push({ where: 'wrangler log', text: worker.logs() });
    assert.deepEqual(findLeaks([SANDBOX_API_KEY, ...knownSecrets()], seen), []);
    const kv = readAllFiles(worker.persistDir).map((f) => ({ where: f.file, text: f.text }));
    assert.deepEqual(findLeaks([SANDBOX_API_KEY], kv), []);
  });
});
