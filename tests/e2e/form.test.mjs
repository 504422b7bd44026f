// The form endpoint (issue 4), end to end: a site's post becomes a tagged
// Keap contact; every refusal of docs/CONTRACT.md section 3 comes from the input
// that should cause it and sends nothing to Keap; CORS, HTML mode,
// redirects, multipart and the honeypot.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  SITE_ORIGIN,
  connect,
  secretLeaks,
  startSandbox,
  startStub,
  startWorker,
  stopAll,
  submit,
  unreachableUrl,
} from '../support/harness.mjs';

after(stopAll);

const THANKS = `${SITE_ORIGIN}/thanks`;
const OOPS = `${SITE_ORIGIN}/oops`;
const OTHER_ALLOWED = 'http://localhost:8788';
const OPT_IN = 'Asked to be contacted on the example site';

const FORMS = {
  contact: {
    tags: [101],
    optional_tags: { newsletter: 103, website: 102 },
    opt_in_reason: OPT_IN,
    consent_field: 'consent',
    required: ['email'],
    redirect: THANKS,
    error_redirect: OOPS,
  },
  // No redirects: HTML mode answers with pages.
  plain: { tags: [102], required: ['email', 'first_name'] },
  guarded: { tags: [101], turnstile: true },
  custom: { tags: [102], custom_fields: { company: 7 }, duplicate_option: 'EmailAndName' },
};

/** Every call the sandbox has answered as Keap (OAuth and REST). */
const keapCalls = (state) => Object.values(state.counts).reduce((a, b) => a + b, 0);

const contactsWith = (state, email) =>
  state.contacts.filter((c) => c.email_addresses.some((e) => e.email.toLowerCase() === email.toLowerCase()));

function assertCors(res, origin = SITE_ORIGIN) {
  assert.equal(res.header('access-control-allow-origin'), origin);
  assert.match(res.header('vary') || '', /Origin/);
}

describe('form endpoint', () => {
  let sandbox;
  let worker;
  let verifier;

  before(async () => {
    sandbox = await startSandbox({ name: 'form-sandbox' });
    // A Turnstile verifier: token "good" passes for this site's host,
    // "elsewhere" passes for another host, anything else fails.
    verifier = await startStub({
      respond: ({ body }) => {
        const token = new URLSearchParams(body).get('response');
        if (token === 'good') return { body: { success: true, hostname: '127.0.0.1' } };
        if (token === 'elsewhere') return { body: { success: true, hostname: 'evil.example' } };
        return { body: { success: false, 'error-codes': ['invalid-input-response'] } };
      },
    });
    worker = await startWorker({
      sandbox,
      name: 'form',
      forms: FORMS,
      allowedOrigins: [SITE_ORIGIN, OTHER_ALLOWED],
      vars: { TURNSTILE_VERIFY_URL: `${verifier.url}/siteverify` },
      secrets: { TURNSTILE_SECRET: 'turnstile-test-secret' },
    });
    const { res } = await connect(worker);
    assert.equal(res.status, 303);
  });

  test('an allowed origin creates a contact with the fixed and chosen tags, and opt-in on consent', async () => {
    const res = await submit(worker, 'contact', {
      email: 'ada@example.com',
      first_name: 'Ada',
      last_name: 'Lovelace',
      phone: '+44 20 7946 0000',
      consent: 'on',
      tags: ['newsletter', 'website'],
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { ok: true, status: 'created' });
    assertCors(res);

    const state = await sandbox.state();
    const [contact] = contactsWith(state, 'ada@example.com');
    assert.ok(contact, 'the contact exists in Keap');
    assert.equal(contact.given_name, 'Ada');
    assert.equal(contact.family_name, 'Lovelace');
    assert.equal(contact.phone_numbers[0]?.number, '+44 20 7946 0000');
    assert.deepEqual([...contact.tag_ids].sort(), [101, 102, 103]);
    assert.equal(contact.opt_in_reason, OPT_IN);
    assert.equal(contact.source_type, 'WEBFORM');
    const put = state.requests.filter((r) => r.route === 'contacts_put').at(-1);
    assert.equal(put.json.opt_in_reason, OPT_IN);
    assert.equal(put.json.duplicate_option, 'Email');
    assert.deepEqual(put.json.email_addresses, [{ email: 'ada@example.com', field: 'EMAIL1' }]);
    const tags = state.requests.filter((r) => r.route === 'tags_post').at(-1);
    assert.equal(tags.path, `/crm/rest/v1/contacts/${contact.id}/tags`);
    assert.deepEqual([...tags.json.tagIds].sort(), [101, 102, 103]);
  });

  test('without consent: the contact is created with the fixed tags and no opt-in reason', async () => {
    const res = await submit(worker, 'contact', { email: 'grace@example.com', first_name: 'Grace' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.status, 'created');
    const state = await sandbox.state();
    const [contact] = contactsWith(state, 'grace@example.com');
    assert.deepEqual(contact.tag_ids, [101]);
    assert.ok(!contact.opt_in_reason, `no opt-in reason (got ${contact.opt_in_reason})`);
    const put = state.requests.filter((r) => r.route === 'contacts_put').at(-1);
    assert.equal(put.json.opt_in_reason, undefined);
    assert.equal(put.json.family_name, undefined, 'only what the visitor gave');
    assert.equal(put.json.phone_numbers, undefined, 'only what the visitor gave');

    // A falsy consent value is no consent either.
    const no = await submit(worker, 'contact', { email: 'no-consent@example.com', consent: 'false' });
    assert.equal(no.status, 200, no.text);
    const [nc] = contactsWith(await sandbox.state(), 'no-consent@example.com');
    assert.ok(!nc.opt_in_reason);
  });

  test('the same email again updates the one contact and blanks nothing', async () => {
    const res = await submit(worker, 'contact', { email: 'ADA@example.com', last_name: 'Byron', tags: ['newsletter'] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { ok: true, status: 'updated' });
    const state = await sandbox.state();
    const matches = contactsWith(state, 'ada@example.com');
    assert.equal(matches.length, 1, 'still one contact');
    assert.equal(matches[0].given_name, 'Ada', 'the earlier first name is kept');
    assert.equal(matches[0].family_name, 'Byron');
    assert.equal(matches[0].phone_numbers[0]?.number, '+44 20 7946 0000', 'the phone is kept');
  });

  test('values a person would type: plus-addressing, an international domain, spaces around, custom fields', async () => {
    const plus = await submit(worker, 'contact', { email: '  ada+news@example.com ', first_name: '  Ada  ' });
    assert.equal(plus.status, 200, plus.text);
    let state = await sandbox.state();
    const [c] = contactsWith(state, 'ada+news@example.com');
    assert.ok(c, 'stored trimmed');
    assert.equal(c.given_name, 'Ada');

    const idn = await submit(worker, 'contact', { email: 'jo@bücher.example' });
    assert.equal(idn.status, 200, `an international domain is accepted: ${idn.text}`);
    assert.equal(contactsWith(await sandbox.state(), 'jo@bücher.example').length, 1);

    const custom = await submit(worker, 'custom', { email: 'custom@example.com', first_name: 'Cus', company: 'Acme Ltd' });
    assert.equal(custom.status, 200, custom.text);
    state = await sandbox.state();
    const put = state.requests.filter((r) => r.route === 'contacts_put').at(-1);
    assert.equal(put.json.duplicate_option, 'EmailAndName');
    assert.deepEqual(put.json.custom_fields, [{ id: 7, content: 'Acme Ltd' }]);
    assert.deepEqual(contactsWith(state, 'custom@example.com')[0].tag_ids, [102]);

    const control = await submit(worker, 'contact', { email: 'ctl@example.com', first_name: 'A\u0000B' });
    assert.equal(control.status, 400, control.text);
    assert.equal(control.json.error.field, 'first_name');
  });

  test('every validation error comes from its input, with CORS, and nothing reaches Keap', async () => {
    const before = keapCalls(await sandbox.state());
    const cases = [
      { name: 'unknown form', form: 'nope', fields: { email: 'x@example.com' }, status: 404, code: 'unknown_form' },
      { name: 'missing email', fields: { first_name: 'Ada' }, status: 400, code: 'missing_field', field: 'email' },
      { name: 'blank email', fields: { email: '   ' }, status: 400, code: 'missing_field', field: 'email' },
      {
        name: 'missing first_name on a form that requires it',
        form: 'plain',
        fields: { email: 'x@example.com' },
        status: 400,
        code: 'missing_field',
        field: 'first_name',
      },
      { name: 'bad email', fields: { email: 'not-an-email' }, status: 400, code: 'invalid_email', field: 'email' },
      { name: 'two @', fields: { email: 'a@b@example.com' }, status: 400, code: 'invalid_email', field: 'email' },
      {
        name: 'over-long first name',
        fields: { email: 'x@example.com', first_name: 'x'.repeat(101) },
        status: 400,
        code: 'field_too_long',
        field: 'first_name',
      },
      {
        name: 'over-long email',
        fields: { email: `${'a'.repeat(250)}@example.com` },
        status: 400,
        code: 'field_too_long',
        field: 'email',
      },
      {
        name: 'a tag not offered',
        fields: { email: 'x@example.com', tags: ['newsletter', 'vip'] },
        status: 400,
        code: 'unknown_tag',
        field: 'tags',
      },
      { name: 'no Turnstile token', form: 'guarded', fields: { email: 'x@example.com' }, status: 403, code: 'turnstile_failed' },
      {
        name: 'a Turnstile token the verifier refuses',
        form: 'guarded',
        fields: { email: 'x@example.com', 'cf-turnstile-response': 'bad' },
        status: 403,
        code: 'turnstile_failed',
      },
      {
        name: 'a Turnstile token for another site',
        form: 'guarded',
        fields: { email: 'x@example.com', 'cf-turnstile-response': 'elsewhere' },
        status: 403,
        code: 'turnstile_failed',
      },
    ];
    for (const c of cases) {
      const res = await submit(worker, c.form ?? 'contact', c.fields);
      assert.equal(res.status, c.status, `${c.name}: ${res.text}`);
      assert.equal(res.json?.ok, false, c.name);
      assert.equal(res.json.error.code, c.code, c.name);
      assert.equal(typeof res.json.error.message, 'string', c.name);
      if (c.field) assert.equal(res.json.error.field, c.field, c.name);
      assertCors(res);
    }
    assert.equal(keapCalls(await sandbox.state()), before, 'nothing sent to Keap');
    // The verifier saw the secret and the tokens, never a person's data.
    for (const r of verifier.requests) assert.doesNotMatch(r.body, /example\.com/);
  });

  test('body limits: 413 over 32 KiB, 415 for another type, nothing sent to Keap', async () => {
    const before = keapCalls(await sandbox.state());
    const big = await submit(worker, 'contact', { email: 'big@example.com', note: 'x'.repeat(33 * 1024) });
    assert.equal(big.status, 413, big.text);
    assert.equal(big.json.error.code, 'payload_too_large');
    assertCors(big);

    const bigForm = await submit(
      worker,
      'contact',
      { email: 'big@example.com', note: 'x'.repeat(40 * 1024) },
      { type: 'urlencoded', accept: 'application/json' },
    );
    assert.equal(bigForm.status, 413);

    for (const type of ['text/plain', 'application/xml', 'application/octet-stream']) {
      const res = await worker.fetch('/forms/contact', {
        method: 'POST',
        headers: { origin: SITE_ORIGIN, 'content-type': type, accept: 'application/json' },
        body: 'email=x@example.com',
      });
      assert.equal(res.status, 415, type);
      assert.equal(res.json.error.code, 'unsupported_media_type', type);
      assertCors(res);
    }
    // Just under the limit is fine (a `_` field, a form's own setting
    // and not the visitor's words, pads it without making a note).
    const fits = await submit(worker, 'contact', { email: 'fits@example.com', _pad: 'x'.repeat(31 * 1024) });
    assert.equal(fits.status, 200, fits.text);
    assert.equal(keapCalls(await sandbox.state()), before + 2, 'only the last one reached Keap (PUT + tags)');
  });

  test('a valid Turnstile token for this site passes', async () => {
    const res = await submit(worker, 'guarded', { email: 'human@example.com', 'cf-turnstile-response': 'good' });
    assert.equal(res.status, 200, res.text);
    const check = verifier.requests.at(-1);
    const params = new URLSearchParams(check.body);
    assert.equal(params.get('secret'), 'turnstile-test-secret');
    assert.equal(params.get('response'), 'good');
  });

  test('a disallowed origin and a missing Origin are refused with nothing sent to Keap', async () => {
    const before = await sandbox.state();
    const attempts = [
      { origin: 'https://evil.example' },
      { origin: 'http://127.0.0.1:8789' }, // another port is another origin
      { origin: 'null' },
      { origin: null }, // no Origin and no Referer
      { origin: null, headers: { referer: 'https://evil.example/page' } },
    ];
    for (const a of attempts) {
      for (const type of ['json', 'urlencoded']) {
        const res = await submit(worker, 'contact', { email: 'intruder@example.com', consent: 'on' }, { type, ...a });
        assert.equal(res.status, 403, `${JSON.stringify(a)} ${type}`);
        assert.equal(res.header('access-control-allow-origin'), null, JSON.stringify(a));
        if (type === 'json') assert.equal(res.json.error.code, 'origin_not_allowed');
      }
    }
    const afterState = await sandbox.state();
    assert.equal(keapCalls(afterState), keapCalls(before), 'nothing sent to Keap');
    assert.equal(afterState.requests.length, before.requests.length);
    assert.equal(contactsWith(afterState, 'intruder@example.com').length, 0);
    const status = await worker.status();
    assert.equal(status.outbox.pending, 0, 'nothing queued either');
  });

  test('no Origin but a Referer on an allowed origin is accepted', async () => {
    const res = await submit(worker, 'contact', { email: 'referer@example.com' }, {
      origin: null,
      headers: { referer: `${OTHER_ALLOWED}/contact.html` },
    });
    assert.equal(res.status, 200, res.text);
    assertCors(res, OTHER_ALLOWED);
  });

  test('preflight: exactly right for an allowed origin, no grant for another', async () => {
    const ok = await worker.fetch('/forms/contact', {
      method: 'OPTIONS',
      headers: {
        origin: OTHER_ALLOWED,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    assert.equal(ok.status, 204);
    assert.equal(ok.header('access-control-allow-origin'), OTHER_ALLOWED);
    assert.match(ok.header('vary') || '', /Origin/);
    const methods = (ok.header('access-control-allow-methods') || '').split(',').map((s) => s.trim());
    assert.deepEqual(methods.sort(), ['OPTIONS', 'POST']);
    const headers = (ok.header('access-control-allow-headers') || '').toLowerCase().split(',').map((s) => s.trim());
    assert.ok(headers.includes('content-type'), ok.header('access-control-allow-headers'));
    assert.ok(Number(ok.header('access-control-max-age')) > 0, 'a max age');
    assert.equal(ok.header('access-control-allow-credentials'), null);
    assert.equal(ok.text, '');

    for (const origin of ['https://evil.example', 'null', undefined]) {
      const res = await worker.fetch('/forms/contact', {
        method: 'OPTIONS',
        headers: { ...(origin ? { origin } : {}), 'access-control-request-method': 'POST' },
      });
      assert.equal(res.header('access-control-allow-origin'), null, String(origin));
      assert.equal(res.header('access-control-allow-methods'), null, String(origin));
      assert.notEqual(res.status, 204, String(origin));
    }
    // Never a wildcard, on any answer seen so far.
    for (const t of worker.transcript()) {
      const acao = t.headers.find(([k]) => k === 'access-control-allow-origin');
      assert.notEqual(acao?.[1], '*');
    }
  });

  test('preflight answers given again from memory stay exact: by URL, Origin and Referer', async () => {
    const preflight = (path, headers) =>
      worker.fetch(path, { method: 'OPTIONS', headers: { 'access-control-request-method': 'POST', ...headers } });
    const grant = (res) => [res.status, res.header('access-control-allow-origin')];
    const referer = { referer: `${OTHER_ALLOWED}/contact.html` };
    // Each case twice in a row (the second from memory), interleaved so
    // that every answer follows a different one for the same URL.
    const cases = [
      ['/forms/contact', { origin: OTHER_ALLOWED }, [204, OTHER_ALLOWED]],
      ['/forms/contact', { origin: 'https://evil.example' }, [403, null]],
      ['/forms/contact', { origin: SITE_ORIGIN }, [204, SITE_ORIGIN]],
      ['/forms/contact', referer, [204, OTHER_ALLOWED]],
      ['/forms/contact', {}, [403, null]],
      ['/forms/contact', { origin: 'null', ...referer }, [403, null]],
      ['/forms/other', { origin: OTHER_ALLOWED }, [204, OTHER_ALLOWED]],
      // Headers the answer does not depend on change nothing.
      ['/forms/contact', { origin: OTHER_ALLOWED, accept: 'text/html', 'content-type': 'text/plain' }, [204, OTHER_ALLOWED]],
    ];
    for (let round = 0; round < 2; round++) {
      for (const [path, headers, expected] of cases) {
        for (let i = 0; i < 2; i++) {
          const res = await preflight(path, headers);
          assert.deepEqual(grant(res), expected, `${path} ${JSON.stringify(headers)} (round ${round}, call ${i})`);
          if (res.status === 204) {
            assert.match(res.header('vary') || '', /Origin/);
            assert.equal(res.header('access-control-allow-methods'), 'POST, OPTIONS');
          } else {
            assert.equal(res.header('access-control-allow-methods'), null);
          }
        }
      }
    }
  });

  test('HTML mode: 303 to the configured redirect; _next honoured on an allowed origin, ignored elsewhere', async () => {
    const plainPost = (fields) => submit(worker, 'contact', fields, { type: 'urlencoded', accept: 'text/html' });

    const res = await plainPost({ email: 'html@example.com', first_name: 'Html' });
    assert.equal(res.status, 303, res.text);
    assert.equal(res.header('location'), THANKS);
    assertCors(res);

    const next = await plainPost({ email: 'html@example.com', _next: `${OTHER_ALLOWED}/merci` });
    assert.equal(next.status, 303);
    assert.equal(next.header('location'), `${OTHER_ALLOWED}/merci`);

    for (const foreign of ['https://evil.example/phish', '//evil.example/x', 'javascript:alert(1)']) {
      const r = await plainPost({ email: 'html@example.com', _next: foreign });
      assert.equal(r.status, 303, foreign);
      assert.equal(r.header('location'), THANKS, `_next ${foreign} ignored`);
    }

    const err = await plainPost({ email: 'nope' });
    assert.equal(err.status, 303);
    const loc = new URL(err.header('location'));
    assert.equal(loc.origin + loc.pathname, OOPS);
    assert.equal(loc.searchParams.get('error'), 'invalid_email');

    const contacts = contactsWith(await sandbox.state(), 'html@example.com');
    assert.equal(contacts.length, 1);
    assert.equal(contacts[0].given_name, 'Html');
  });

  test('HTML mode without redirects: a thank-you page, and an error page with the right status', async () => {
    const ok = await submit(worker, 'plain', { email: 'page@example.com', first_name: 'Page' }, { type: 'urlencoded' });
    assert.equal(ok.status, 200, ok.text);
    assert.match(ok.header('content-type'), /^text\/html/);
    assert.match(ok.text, /<html/i);

    const bad = await submit(worker, 'plain', { email: 'page@example.com' }, { type: 'urlencoded' });
    assert.equal(bad.status, 400);
    assert.match(bad.header('content-type'), /^text\/html/);
    assert.match(bad.text, /missing_field/);
  });

  test('multipart/form-data works, in JSON and HTML mode', async () => {
    const res = await submit(
      worker,
      'contact',
      { email: 'multi@example.com', first_name: 'Multi', tags: ['newsletter'], consent: 'yes' },
      { type: 'multipart', accept: 'application/json' },
    );
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.status, 'created');
    const [contact] = contactsWith(await sandbox.state(), 'multi@example.com');
    assert.equal(contact.given_name, 'Multi');
    assert.deepEqual([...contact.tag_ids].sort(), [101, 103]);
    assert.equal(contact.opt_in_reason, OPT_IN);

    const html = await submit(worker, 'contact', { email: 'multi@example.com' }, { type: 'multipart' });
    assert.equal(html.status, 303);
    assert.equal(html.header('location'), THANKS);
  });

  test('the honeypot answers success and sends nothing', async () => {
    const before = await sandbox.state();
    const json = await submit(worker, 'contact', { email: 'bot@example.com', _gotcha: 'http://spam.example' });
    assert.equal(json.status, 200);
    assert.equal(json.json.ok, true);
    const html = await submit(worker, 'contact', { email: 'bot@example.com', _gotcha: 'x' }, { type: 'urlencoded' });
    assert.equal(html.status, 303);
    assert.equal(html.header('location'), THANKS);
    const afterState = await sandbox.state();
    assert.equal(keapCalls(afterState), keapCalls(before));
    assert.equal(contactsWith(afterState, 'bot@example.com').length, 0);
    assert.equal((await worker.status()).outbox.pending, 0);
  });

  test('no email address or name the visitors gave appears in the log', async () => {
    const log = worker.logs();
    assert.ok(log.includes('POST /forms/contact'), 'the log is the worker\'s');
    for (const needle of ['ada@example.com', 'grace@example.com', 'multi@example.com', 'Lovelace', 'Byron', '7946']) {
      assert.ok(!log.toLowerCase().includes(needle.toLowerCase()), `"${needle}" is in the log`);
    }
  });

  test('no token or secret (Turnstile secret included) in any answer, the log or KV', async () => {
    assert.deepEqual(secretLeaks(worker, await sandbox.state(), ['turnstile-test-secret']), []);
  });

  test('without the SUBMIT_LIMITER binding, posts are not rate limited', async () => {
    for (let i = 0; i < 12; i++) {
      const res = await submit(worker, 'contact', { email: 'repeat@example.com' });
      assert.equal(res.status, 200, `post ${i}: ${res.text}`);
    }
  });
});

describe('rate limit and an unreachable Turnstile verifier', () => {
  let sandbox;
  let worker;
  before(async () => {
    sandbox = await startSandbox({ name: 'form-limit-sandbox' });
    worker = await startWorker({
      sandbox,
      name: 'form-limit',
      forms: FORMS,
      rateLimit: { limit: 3, period: 60 },
      vars: { TURNSTILE_VERIFY_URL: await unreachableUrl() },
      secrets: { TURNSTILE_SECRET: 'turnstile-test-secret' },
    });
  });
  after(async () => {
    await worker?.stop();
    await sandbox?.stop();
  });

  test('Turnstile fails closed when the verifier is unreachable', async () => {
    const res = await submit(worker, 'guarded', { email: 'x@example.com', 'cf-turnstile-response': 'good' });
    assert.equal(res.status, 403, res.text);
    assert.equal(res.json.error.code, 'turnstile_failed');
    assertCors(res);
  });

  test('rate_limited 429 with Retry-After once the limit is spent', async () => {
    const answers = [];
    for (let i = 0; i < 8; i++) {
      // Not connected: accepted posts are queued (202); that is fine here.
      const res = await submit(worker, 'contact', { email: `limit-${i}@example.com` });
      answers.push(res);
    }
    const statuses = answers.map((r) => r.status);
    const limited = answers.filter((r) => r.status === 429);
    assert.ok(limited.length > 0, `some posts are limited: ${statuses}`);
    // The limit (3 a minute) counts every validated post from this client,
    // the Turnstile one above included: the first ones pass, then none.
    const firstLimited = statuses.indexOf(429);
    assert.ok(firstLimited >= 1 && firstLimited <= 3, `the first ones pass: ${statuses}`);
    assert.ok(statuses.slice(0, firstLimited).every((s) => s === 202), `${statuses}`);
    assert.ok(statuses.slice(firstLimited).every((s) => s === 429), `${statuses}`);
    for (const r of limited) {
      assert.equal(r.json.error.code, 'rate_limited');
      assert.ok(Number(r.header('retry-after')) > 0, `Retry-After: ${r.header('retry-after')}`);
      assertCors(r);
      assert.match(r.header('access-control-expose-headers') || '', /Retry-After/i);
    }
    const status = await worker.status();
    assert.equal(status.outbox.pending, statuses.filter((s) => s === 202).length, 'limited posts are not queued');
  });
});
