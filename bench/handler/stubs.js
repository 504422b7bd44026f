// KV, the Keap API and the requests of the handler benchmarks, in memory,
// for bench/handler/worker.js (which bench/handler.mjs and
// bench/instructions.mjs serve in workerd). Both workers under test get
// the same env, answers and requests.

const KEAP = 'http://keap.test';
const WORKER = 'http://worker.test';
const ADMIN_TOKEN = 'handler-bench-admin';

const encoder = new TextEncoder();
const asBytes = new Map();

/** KV in memory, with the methods both workers use. */
const stored = new Map([['keap_token', JSON.stringify({ access_token: 'a'.repeat(40) })]]);
const STORE = {
  async get(key, type) {
    const value = stored.get(key) ?? null;
    if (value === null) return null;
    if (type === 'json') return JSON.parse(value);
    if (type === 'arrayBuffer') {
      // KV keeps bytes: a value is encoded once, not on every read.
      if (!asBytes.has(key)) asBytes.set(key, encoder.encode(value));
      return asBytes.get(key).slice().buffer;
    }
    return value;
  },
  async put(key, value) {
    stored.set(key, value);
    asBytes.delete(key);
  },
  async delete(key) {
    stored.delete(key);
    asBytes.delete(key);
  },
  async list({ prefix = '' } = {}) {
    const keys = [...stored.keys()].filter((k) => k.startsWith(prefix)).map((name) => ({ name }));
    return { keys, list_complete: true };
  },
};

const json = (status, body) =>
  new Response(typeof body === 'string' ? body : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' },
  });

/** Keap's answers, shaped like the sandbox's (tests/sandbox). */
let lastContact = 1000;
export async function keap(url, init = {}) {
  const { pathname } = new URL(url);
  if (pathname.endsWith('/token')) {
    return json(200, { access_token: 'a'.repeat(40), refresh_token: 'r'.repeat(40), expires_in: 86400, token_type: 'bearer', scope: 'full' });
  }
  if (init.method === 'PUT' && pathname === '/v1/contacts') {
    lastContact += 1;
    return json(201, `{"id":${lastContact},"given_name":"Ada","family_name":"Lovelace","email_addresses":[{"email":"ada@example.com","field":"EMAIL1"}]}`);
  }
  if (init.method === 'POST' && pathname.endsWith('/tags')) return json(200, '{"101":"SUCCESS"}');
  return json(404, { message: 'not found' });
}

/** The workers' env: FORMS and ALLOWED_ORIGINS from this worker's own
 *  vars (bench/handler.mjs sets them), the rest made up here. */
export const env = {
  STORE,
  KEAP_API_URL: KEAP,
  KEAP_TOKEN_URL: `${KEAP}/token`,
  KEAP_AUTHORIZE_URL: `${KEAP}/authorize`,
  KEAP_CLIENT_ID: 'handler-bench',
  KEAP_CLIENT_SECRET: 'handler-bench-secret',
  ADMIN_TOKEN,
  // 32 bytes, base64: the key the tokens are sealed with.
  ENCRYPTION_KEY: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=',
};

export async function connectOne(ours) {
  const authorization = `Basic ${btoa(`bench:${ADMIN_TOKEN}`)}`;
  const start = await ours.fetch(new Request(`${WORKER}/oauth/start`, { headers: { authorization } }), env);
  const state = new URL(start.headers.get('location') ?? `${KEAP}/`).searchParams.get('state');
  const back = await ours.fetch(new Request(`${WORKER}/oauth/callback?code=bench&state=${state}`), env);
  if (back.status >= 400 || ![...stored.keys()].some((k) => k.startsWith('auth/tokens'))) {
    throw new Error(`ours did not connect: ${back.status}`);
  }
}

let sequence = 0;
export const SCENARIOS = {
  submission: {
    status: 200,
    make: () =>
      new Request(`${WORKER}/forms/contact`, {
        method: 'POST',
        headers: { origin: env.ALLOWED_ORIGINS, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ email: `handler-${++sequence}@example.com`, first_name: 'Ada', last_name: 'Lovelace' }),
      }),
  },
  preflight: {
    status: 204,
    make: () =>
      new Request(`${WORKER}/forms/contact`, {
        method: 'OPTIONS',
        headers: { origin: env.ALLOWED_ORIGINS, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      }),
  },
};
