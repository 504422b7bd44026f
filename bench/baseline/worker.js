// The baseline: the delivered-submission path and the preflight of
// keap-form-worker written as plainly as a competent developer would in
// JavaScript, to answer "does the Rust/wasm worker cost less than the JS one
// I would otherwise write?". It reads a plain (unsealed) token record
// `{"access_token": ...}` from KV `STORE` under `keap_token`, which the
// benchmark seeds. No outbox, no Turnstile, no rate limit: only what a
// delivered JSON submission needs, and the one outcome log line the
// contract asks of every submission.

const MAX_FIELD = 256;

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

function fail(status, code, message, cors) {
  return json(status, { ok: false, error: { code, message } }, cors);
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/health') return json(200, { status: 'ok' });

    const match = /^\/forms\/([A-Za-z0-9_-]+)$/.exec(url.pathname);
    if (!match) return fail(404, 'not_found', 'No such route.');

    const allowed = (env.ALLOWED_ORIGINS || '').split(',').map((o) => o.trim());
    const origin = request.headers.get('origin');
    if (!origin || !allowed.includes(origin)) {
      return fail(403, 'origin_not_allowed', 'This origin may not post here.');
    }
    const cors = { 'access-control-allow-origin': origin, vary: 'Origin' };

    if (request.method === 'OPTIONS') {
      return new Response(null, {
        status: 204,
        headers: {
          ...cors,
          'access-control-allow-methods': 'POST, OPTIONS',
          'access-control-allow-headers': 'Content-Type',
          'access-control-max-age': '86400',
        },
      });
    }
    if (request.method !== 'POST') return fail(405, 'method_not_allowed', 'Use POST.', cors);

    const form = (env.FORMS || {})[match[1]];
    if (!form) return fail(404, 'unknown_form', 'No such form.', cors);

    let fields;
    try {
      fields = await request.json();
    } catch {
      return fail(400, 'invalid_body', 'The body is not JSON.', cors);
    }
    const email = typeof fields.email === 'string' ? fields.email.trim() : '';
    if (!email) return fail(400, 'missing_field', 'email is required.', cors);
    if (email.length > MAX_FIELD || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
      return fail(400, 'invalid_email', 'email is not an address.', cors);
    }

    const token = await env.STORE.get('keap_token', 'json');
    if (!token) return fail(503, 'not_connected', 'Keap is not connected.', cors);
    const auth = { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json' };

    const contact = {
      duplicate_option: form.duplicate_option || 'Email',
      email_addresses: [{ email, field: 'EMAIL1' }],
      source_type: 'WEBFORM',
    };
    if (typeof fields.first_name === 'string' && fields.first_name) contact.given_name = fields.first_name;
    if (typeof fields.last_name === 'string' && fields.last_name) contact.family_name = fields.last_name;
    const ip = request.headers.get('cf-connecting-ip');
    if (ip) contact.origin = { ip_address: ip };
    if (form.opt_in_reason && (!form.consent_field || fields[form.consent_field])) {
      contact.opt_in_reason = form.opt_in_reason;
    }

    const put = await fetch(`${env.KEAP_API_URL}/v1/contacts`, {
      method: 'PUT',
      headers: auth,
      body: JSON.stringify(contact),
    });
    if (put.status !== 200 && put.status !== 201) {
      return fail(502, 'keap_error', `Keap answered ${put.status}.`, cors);
    }
    const { id } = await put.json();

    const tagIds = form.tags || [];
    if (tagIds.length) {
      const tags = await fetch(`${env.KEAP_API_URL}/v1/contacts/${id}/tags`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ tagIds }),
      });
      const applied = tags.ok ? await tags.json() : {};
      if (!tagIds.every((t) => applied[t] === 'SUCCESS' || applied[t] === 'DUPLICATE')) {
        return fail(502, 'keap_error', 'Keap did not apply the tags.', cors);
      }
    }
    // The contract's one outcome line per submission (docs/CONTRACT.md 5.5).
    console.log(
      JSON.stringify({ event: 'submission', form: match[1], outcome: 'delivered', error: null, attempt: 1, waited_s: 0, via: 'request' }),
    );
    return json(200, { ok: true, status: put.status === 201 ? 'created' : 'updated' }, cors);
  },
};
