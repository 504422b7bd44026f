// End-to-end harness: the real worker (build/index.js + index_bg.wasm) in
// workerd through `wrangler dev --local --test-scheduled`, with local KV,
// against the Keap sandbox (target/release/keap-sandbox), both driven over
// HTTP. Used by tests/e2e, tests/browser and bench/.
//
// Every process started here runs in its own process group and is killed
// (group and all) by `stop()`, by `stopAll()`, and on process exit or
// SIGINT/SIGTERM, so a failing test never leaves workerd behind. Test
// files should still call `after(stopAll)` so cleanup happens before the
// runner reports.
//
//   import { startSandbox, startWorker, stopAll } from '../support/harness.mjs';
//   const sandbox = await startSandbox();
//   const worker = await startWorker({ sandbox, name: 'auth' });
//   await worker.fetch('/health');          // recorded for secret sweeps
//   await worker.scheduled();               // runs the Cron Trigger once
//   await worker.admin('/admin/status');    // with the instance's ADMIN_TOKEN

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import { startDoh as startDohServer } from './doh.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = path.join(ROOT, 'tests/artifacts');
export const NODE = path.join(ROOT, 'node_modules/.bin/node');
export const WRANGLER_JS = path.join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
export const SANDBOX_BIN = path.join(ROOT, 'target/release/keap-sandbox');
/** The built worker; E2E_WORKER_BUILD_DIR points at another build (e.g. a branch's). */
export const WORKER_BUILD_DIR = path.resolve(ROOT, process.env.E2E_WORKER_BUILD_DIR || 'build');
export const WORKER_JS = path.join(WORKER_BUILD_DIR, 'index.js');
export const WORKER_WASM = path.join(WORKER_BUILD_DIR, 'index_bg.wasm');

/** The sandbox's default OAuth client (see tests/sandbox/src/lib.rs). */
export const SANDBOX_CLIENT_ID = 'sandbox-client';
export const SANDBOX_CLIENT_SECRET = 'sandbox-secret';
export const SANDBOX_API_KEY = 'KeapAK-sandbox';
export const SANDBOX_TENANT = 'xy123';

/** The cron of wrangler.toml, for `/__scheduled`. */
export const CRON = '0 * * * *';

/** A form like wrangler.toml's example, used when a test gives none. */
export const DEFAULT_FORMS = {
  contact: {
    tags: [101],
    optional_tags: { newsletter: 103 },
    opt_in_reason: 'Asked to be contacted on the example site',
    consent_field: 'consent',
    consent_text: 'You may email me about my request and related offers. I can unsubscribe at any time.',
    required: ['email'],
    note: 'message',
  },
};

export const SITE_ORIGIN = 'http://127.0.0.1:8788';

// ---------------------------------------------------------------- processes

const running = new Set(); // { pid, name }
let exitHooksInstalled = false;

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function installExitHooks() {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', () => {
    for (const p of running) killGroup(p.pid, 'SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      for (const p of running) killGroup(p.pid, 'SIGKILL');
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

/** Spawns `cmd` as the leader of a new process group, tracked for cleanup. */
function spawnTracked(name, cmd, args, options) {
  installExitHooks();
  const child = spawn(cmd, args, { ...options, detached: true });
  const entry = { pid: child.pid, name, child };
  running.add(entry);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  exited.then(() => running.delete(entry));
  return { child, entry, exited };
}

/** SIGTERM to the group, SIGKILL after `graceMs` if it has not exited. */
async function stopGroup({ child, entry, exited }, graceMs = 3000) {
  if (!running.has(entry) && child.exitCode !== null) return;
  killGroup(child.pid, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  // workerd may outlive wrangler briefly; make sure the group is gone.
  killGroup(child.pid, 'SIGKILL');
}

const stoppers = new Set();

/** Stops every sandbox, worker and stub this process started. */
export async function stopAll() {
  const all = [...stoppers];
  stoppers.clear();
  await Promise.allSettled(all.map((stop) => stop()));
}

// ------------------------------------------------------------------ helpers

/** The longest a request to a worker may wait for its answer. */
const ANSWER_LIMIT_MS = 120_000;
/** How long a GET waits before it is sent once more (see startWorker). */
const GET_PATIENCE_MS = 30_000;

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Fails with a clear message unless the worker and the sandbox are built. */
export function build() {
  const missing = [];
  if (!fs.existsSync(WORKER_JS) || !fs.existsSync(WORKER_WASM)) {
    missing.push(`the worker (${path.relative(ROOT, WORKER_JS)}, index_bg.wasm): run \`sh scripts/build.sh\``);
  }
  if (!fs.existsSync(SANDBOX_BIN)) {
    missing.push(`the Keap sandbox (${path.relative(ROOT, SANDBOX_BIN)}): run \`cargo build --release -p keap-sandbox\``);
  }
  if (!fs.existsSync(WRANGLER_JS) || !fs.existsSync(NODE)) {
    missing.push('the npm packages (wrangler, node 22): run `scripts/setup.sh`');
  }
  if (missing.length) {
    throw new Error(`end-to-end tests need prebuilt artifacts; missing:\n  - ${missing.join('\n  - ')}`);
  }
}

let runCounter = 0;
function runDir(name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (;;) {
    runCounter += 1;
    const dir = path.join(ARTIFACTS, `run-${name}-${process.pid}-${runCounter}`);
    try {
      fs.mkdirSync(dir);
      return dir;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
  }
}

function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function jsonOrText(res) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// ------------------------------------------------------------------ sandbox

/**
 * Starts the prebuilt Keap sandbox on a free port. `args` are extra flags
 * (e.g. ['--expires-in', '3600']).
 */
export async function startSandbox({ args = [], name = 'sandbox' } = {}) {
  build();
  const dir = runDir(name);
  const logFile = path.join(dir, 'sandbox.log');
  const logFd = fs.openSync(logFile, 'a');
  const proc = spawnTracked('keap-sandbox', SANDBOX_BIN, ['--port', '0', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', logFd],
  });
  fs.closeSync(logFd);
  const url = await new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: proc.child.stdout });
    const timer = setTimeout(() => reject(new Error(`keap-sandbox did not start in 15 s:\n${tail(logFile)}`)), 15000);
    rl.once('line', (line) => {
      clearTimeout(timer);
      const m = /listening on (http:\/\/[^\s]+)/.exec(line);
      if (m) resolve(m[1].replace(/\/$/, ''));
      else reject(new Error(`unexpected first line from keap-sandbox: ${line}`));
    });
    proc.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`keap-sandbox exited (${code ?? signal}):\n${tail(logFile)}`));
    });
  });
  // Keep draining stdout so the sandbox never blocks on a full pipe.
  proc.child.stdout.resume();
  const port = Number(new URL(url).port);

  const control = async (p, body) => {
    const res = await fetch(`${url}/_sandbox/${p.replace(/^\//, '')}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await jsonOrText(res);
    if (!res.ok) throw new Error(`sandbox ${p}: ${res.status} ${JSON.stringify(data)}`);
    return data;
  };
  const stop = async () => {
    stoppers.delete(stop);
    await stopGroup(proc, 1000);
  };
  stoppers.add(stop);
  return {
    url,
    port,
    dir,
    logFile,
    /** URLs for the worker's KEAP_* vars. */
    keapVars: {
      KEAP_AUTHORIZE_URL: `${url}/app/oauth/authorize`,
      KEAP_TOKEN_URL: `${url}/token`,
      KEAP_API_URL: `${url}/crm/rest`,
    },
    control,
    state: () => control('state'),
    faults: (body) => control('faults', body),
    config: (body) => control('config', body),
    expireAccessTokens: () => control('expire-access-tokens', {}),
    revokeRefreshTokens: () => control('revoke-refresh-tokens', {}),
    reset: () => control('reset', {}),
    stop,
  };
}

// -------------------------------------------------------------- small stubs

/**
 * A tiny HTTP server that records every request and answers with
 * `respond(req, body) -> {status, headers, body}` (default 200 `{}`).
 * Used as the alert webhook and as a Turnstile verifier.
 */
export async function startStub({ respond } = {}) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const entry = { method: req.method, url: req.url, headers: req.headers, body };
      try {
        entry.json = JSON.parse(body);
      } catch {
        // not JSON
      }
      requests.push(entry);
      const out = (respond && (await respond(entry))) || {};
      const outBody = typeof out.body === 'string' ? out.body : JSON.stringify(out.body ?? {});
      res.writeHead(out.status ?? 200, { 'content-type': 'application/json', ...(out.headers || {}) });
      res.end(outBody);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  const stop = () =>
    new Promise((r) => {
      stoppers.delete(stop);
      server.closeAllConnections?.();
      server.close(() => r());
    });
  stoppers.add(stop);
  return { url: `http://127.0.0.1:${port}`, port, requests, stop };
}

/**
 * A stand-in DNS-over-HTTPS resolver (tests/support/doh.mjs: which names
 * exist, which take mail). Every worker gets one as DOH_URL (the process's
 * shared one unless `doh` or `vars.DOH_URL` is given), so no test asks the
 * internet whether an address's domain takes mail.
 */
export async function startDoh() {
  return startDohServer((stop) => {
    const wrapped = async () => {
      stoppers.delete(wrapped);
      await stop();
    };
    stoppers.add(wrapped);
  });
}

let sharedDoh = null;
async function defaultDoh() {
  if (!sharedDoh) {
    const doh = await startDoh();
    sharedDoh = doh;
    // stopAll() stops it; the next worker then starts a new one.
    const stop = async () => {
      stoppers.delete(stop);
      if (sharedDoh === doh) sharedDoh = null;
    };
    stoppers.add(stop);
  }
  return sharedDoh;
}

/** A loopback URL nothing listens on (fetches to it fail at once). */
export async function unreachableUrl(p = '/siteverify') {
  return `http://127.0.0.1:${await freePort()}${p}`;
}

// ------------------------------------------------------------------- worker

/** Every secret any worker of this process was given (for leak sweeps). */
const allSecrets = new Set();

/** The secret strings of every worker started so far in this process. */
export function knownSecrets() {
  return [...allSecrets];
}

/**
 * Starts the worker in `wrangler dev --local --test-scheduled` on a free
 * loopback port with its own persist folder.
 *
 * - `sandbox`: from startSandbox; its URLs become KEAP_* vars.
 * - `vars`: extra or overriding vars (a value `null` removes one).
 * - `secrets`: extra or overriding secrets for .dev.vars (a value `null`
 *   removes one: e.g. `{ ADMIN_TOKEN: null }`). Defaults: the sandbox
 *   client id/secret and a random ADMIN_TOKEN and ENCRYPTION_KEY.
 * - `forms`: the FORMS object var (default DEFAULT_FORMS).
 * - `allowedOrigins`: array or comma string (default [SITE_ORIGIN]).
 * - `rateLimit`: `{limit, period}` adds the SUBMIT_LIMITER binding; absent:
 *   no binding.
 * - `queue`: `true` adds the delivery queue as wrangler.toml has it (the
 *   DELIVERY_QUEUE producer and this worker as its consumer, run locally
 *   by wrangler dev), with `max_batch_timeout` 1 s; `'broken'` makes
 *   DELIVERY_QUEUE a plain var, so every send fails; absent: no queue.
 * - `name`: the artifacts folder's name part.
 * - `persistDir`: reuse a KV folder (e.g. to restart on the same state).
 * - `doh`: a stand-in resolver from startDoh() for DOH_URL (default: the
 *   process's shared one).
 */
export async function startWorker({
  sandbox,
  vars = {},
  secrets = {},
  forms = DEFAULT_FORMS,
  allowedOrigins = [SITE_ORIGIN],
  rateLimit,
  queue,
  name = 'worker',
  persistDir,
  timeoutMs = 60000,
  doh,
} = {}) {
  build();
  if (!('DOH_URL' in vars)) doh = doh || (await defaultDoh());
  const dir = runDir(name);
  persistDir = persistDir || path.join(dir, 'state');
  fs.mkdirSync(persistDir, { recursive: true });

  // A snapshot of the build, so a rebuild during the run does not reload
  // the worker under a test.
  fs.copyFileSync(WORKER_JS, path.join(dir, 'index.js'));
  fs.copyFileSync(WORKER_WASM, path.join(dir, 'index_bg.wasm'));

  const allVars = {
    ALLOWED_ORIGINS: Array.isArray(allowedOrigins) ? allowedOrigins.join(',') : allowedOrigins,
    ...(forms ? { FORMS: forms } : {}),
    ...(sandbox ? sandbox.keapVars : {}),
    ...(doh ? { DOH_URL: doh.url } : {}),
    ...vars,
  };
  for (const [k, v] of Object.entries(allVars)) if (v === null || v === undefined) delete allVars[k];

  const allSecretsHere = {
    KEAP_CLIENT_ID: SANDBOX_CLIENT_ID,
    KEAP_CLIENT_SECRET: SANDBOX_CLIENT_SECRET,
    ADMIN_TOKEN: `admin-${randomBytes(18).toString('hex')}`,
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    ...secrets,
  };
  for (const [k, v] of Object.entries(allSecretsHere)) if (v === null || v === undefined) delete allSecretsHere[k];
  for (const [k, v] of Object.entries(allSecretsHere)) {
    if (k !== 'KEAP_CLIENT_ID' && k !== 'ALERT_WEBHOOK_URL') allSecrets.add(v);
  }

  const config = {
    name: `keap-form-worker-e2e-${name}`.replace(/[^a-z0-9-]/gi, '-').toLowerCase().slice(0, 60),
    main: './index.js',
    compatibility_date: compatibilityDate(),
    kv_namespaces: [{ binding: 'STORE', id: 'e2e-store' }],
    triggers: { crons: [CRON] },
    vars: allVars,
  };
  if (rateLimit) {
    config.ratelimits = [
      { name: 'SUBMIT_LIMITER', namespace_id: '1001', simple: { limit: rateLimit.limit, period: rateLimit.period ?? 60 } },
    ];
  }
  if (queue === true) {
    const queueName = `${config.name}-deliveries`;
    config.queues = {
      producers: [{ binding: 'DELIVERY_QUEUE', queue: queueName }],
      consumers: [{ queue: queueName, max_batch_size: 10, max_batch_timeout: 1, max_retries: 100 }],
    };
  } else if (queue === 'broken') {
    config.vars = { ...config.vars, DELIVERY_QUEUE: 'not a queue' };
  }
  const configFile = path.join(dir, 'wrangler.json');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  fs.writeFileSync(
    path.join(dir, '.dev.vars'),
    Object.entries(allSecretsHere)
      .map(([k, v]) => `${k}=${JSON.stringify(String(v))}`)
      .join('\n') + '\n',
    { mode: 0o600 },
  );

  const logFile = path.join(dir, 'wrangler.log');
  // Ports are found free, then bound by wrangler: with many workers
  // starting side by side another may take one meanwhile. That start is
  // tried again on new ports; any other failure is the test's.
  let port;
  let url;
  let stop;
  for (let attempt = 1; ; attempt += 1) {
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const logStart = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
    const started = await launchWrangler({ dir, configFile, persistDir, logFile, port, inspectorPort: await freePort(), url, timeoutMs });
    if (started.stop) {
      stop = started.stop;
      break;
    }
    const said = fs.readFileSync(logFile, 'utf8').slice(logStart);
    if (attempt < 3 && /Address already in use/.test(said)) continue;
    throw new Error(started.error);
  }

  const transcript = [];
  /**
   * fetch against the worker; the answer's headers and body are recorded.
   * No request waits forever: a run must fail, not hang. Under load, a
   * request to a just-started `wrangler dev` has once gone unanswered
   * while the worker answered others; a GET without an answer within
   * `GET_PATIENCE_MS` is sent once more (GETs change nothing a test
   * counts, except `/__scheduled`, which gets the longer limit alone).
   */
  const workerFetch = async (p, init = {}) => {
    const method = (init.method ?? 'GET').toUpperCase();
    const retried = method === 'GET' && !String(p).startsWith('/__scheduled');
    const ask = (ms) => fetch(new URL(p, url), { redirect: 'manual', signal: AbortSignal.timeout(ms), ...init });
    let res;
    try {
      res = await ask(retried ? GET_PATIENCE_MS : ANSWER_LIMIT_MS);
    } catch (e) {
      if (!retried || e.name !== 'TimeoutError') throw e;
      console.log(`harness: ${method} ${p} had no answer in ${GET_PATIENCE_MS / 1000} s; sent once more`);
      res = await ask(ANSWER_LIMIT_MS);
    }
    const body = await res.text();
    transcript.push({ path: String(p), status: res.status, headers: [...res.headers], body });
    return wrap(res, body);
  };
  const adminToken = allSecretsHere.ADMIN_TOKEN;
  return {
    url,
    port,
    dir,
    persistDir,
    configFile,
    logFile,
    secrets: allSecretsHere,
    vars: allVars,
    adminToken,
    /** The stand-in resolver this worker asks (null when vars.DOH_URL was given). */
    doh: doh || null,
    /** The full wrangler (and worker console) log so far. */
    logs: () => fs.readFileSync(logFile, 'utf8'),
    /** Every answer seen through `fetch`/`admin`/`scheduled` so far. */
    transcript: () => transcript,
    fetch: workerFetch,
    /** Runs the scheduled handler once (waits for it to finish). */
    scheduled: (cron = CRON) => workerFetch(`/__scheduled?cron=${encodeURIComponent(cron).replace(/%20/g, '+')}`),
    /** A request with `Authorization: Bearer ADMIN_TOKEN`. */
    admin: (p, init = {}) =>
      workerFetch(p, {
        ...init,
        headers: { accept: 'application/json', authorization: `Bearer ${adminToken}`, ...(init.headers || {}) },
      }),
    status: async () => {
      const res = await workerFetch('/admin/status', {
        headers: { accept: 'application/json', authorization: `Bearer ${adminToken}` },
      });
      if (res.status !== 200) throw new Error(`/admin/status answered ${res.status}: ${res.text}`);
      return res.json;
    },
    stop,
  };
}

/**
 * Runs `wrangler dev` for startWorker and waits for /health: `{ stop }`
 * once it answers, `{ error }` (the process stopped) when it exits or
 * does not answer in time.
 */
async function launchWrangler({ dir, configFile, persistDir, logFile, port, inspectorPort, url, timeoutMs }) {
  const logFd = fs.openSync(logFile, 'a');
  const proc = spawnTracked(
    'wrangler',
    NODE,
    [
      WRANGLER_JS,
      'dev',
      '--local',
      '--test-scheduled',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--inspector-port',
      String(inspectorPort),
      '--show-interactive-dev-session=false',
      '-c',
      configFile,
      '--persist-to',
      persistDir,
    ],
    {
      cwd: dir,
      stdio: ['ignore', logFd, logFd],
      env: {
        ...process.env,
        WRANGLER_SEND_METRICS: 'false',
        CI: '1',
        NO_COLOR: '1',
        FORCE_COLOR: '0',
        PATH: `${path.dirname(NODE)}:${process.env.PATH}`,
      },
    },
  );
  fs.closeSync(logFd);

  const stop = async () => {
    stoppers.delete(stop);
    await stopGroup(proc);
  };
  stoppers.add(stop);

  // Wait for /health.
  const deadline = Date.now() + timeoutMs;
  let exited = null;
  proc.exited.then((e) => (exited = e));
  for (;;) {
    if (exited) {
      await stop();
      return { error: `wrangler dev exited (${exited.code ?? exited.signal}) before serving /health; log tail:\n${tail(logFile)}` };
    }
    if (await answersHealth(url)) break;
    if (Date.now() > deadline) {
      await stop();
      return { error: `wrangler dev did not serve /health within ${timeoutMs / 1000} s; log tail:\n${tail(logFile)}` };
    }
    await sleep(200);
  }
  return { stop };
}

/**
 * Whether `url`/health answers 200 within 2 s. Asked on a connection of
 * its own (node:http, no agent), not with fetch: a fetch abandoned while
 * wrangler starts once left fetch's shared connections to that worker
 * stuck, and the test's next request waited on them for good.
 */
function answersHealth(url) {
  return new Promise((resolve) => {
    const req = http.get(`${url}/health`, { agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** A response with its body already read: `.text` and `.json` (or null). */
function wrap(res, text) {
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return {
    status: res.status,
    headers: res.headers,
    text,
    json,
    header: (n) => res.headers.get(n),
  };
}

let cachedDate;
function compatibilityDate() {
  if (!cachedDate) {
    const toml = fs.readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
    cachedDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1] ?? '2026-11-01';
  }
  return cachedDate;
}

// ------------------------------------------------------- OAuth, the browser

function unescapeHtml(s) {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/**
 * Clicks through the owner's consent like a browser would, stopping before
 * the worker's callback: /oauth/start (admin) -> the sandbox's authorize
 * page -> POST the decision -> returns the callback URL Keap redirected to.
 */
export async function consent(worker, { decision = 'allow' } = {}) {
  const start = await worker.admin('/oauth/start', { headers: { accept: 'text/html' } });
  if (start.status !== 302 && start.status !== 303) {
    throw new Error(`/oauth/start answered ${start.status}: ${start.text}`);
  }
  const authorizeUrl = start.header('location');
  const page = await fetch(authorizeUrl, { redirect: 'manual' });
  const html = await page.text();
  if (page.status !== 200) throw new Error(`authorize page answered ${page.status}: ${html}`);
  const form = /<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/.exec(html);
  if (!form) throw new Error(`no consent form on the authorize page: ${html}`);
  const fields = new URLSearchParams();
  for (const m of form[2].matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) {
    fields.append(unescapeHtml(m[1]), unescapeHtml(m[2]));
  }
  fields.append('decision', decision);
  const decided = await fetch(new URL(unescapeHtml(form[1]), authorizeUrl), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: fields.toString(),
  });
  await decided.text();
  if (decided.status !== 302 && decided.status !== 303) {
    throw new Error(`the consent decision answered ${decided.status}`);
  }
  return { authorizeUrl, callbackUrl: decided.headers.get('location') };
}

/** consent() then the callback on the worker; returns the callback answer. */
export async function connect(worker) {
  const finished = () => (worker.logs().match(AFTER_CONNECTING) ?? []).length;
  const before = finished();
  const { callbackUrl } = await consent(worker);
  const u = new URL(callbackUrl);
  const res = await worker.fetch(u.pathname + u.search, { headers: { accept: 'text/html' } });
  // A successful connection goes on after its answer (ctx.waitUntil): it
  // checks the forms' ids against Keap and delivers waiting leads. Tests
  // that set sandbox faults next must not have that work take them, so
  // wait for its closing log line (at most 20 s; a test that cares about
  // the work itself asserts its effects).
  if (res.status === 303) {
    for (let i = 0; i < 200 && finished() === before; i++) await sleep(100);
  }
  return { callbackUrl, res };
}

/** The log line that closes the work after a successful connection. */
const AFTER_CONNECTING = /after connecting: (?!the configuration check)/g;

// ------------------------------------------------------------ form posting

/**
 * POSTs a form submission. `body` is an object (sent as JSON, or as
 * urlencoded/multipart per `type`), `origin` the Origin header (null: none).
 */
export async function submit(worker, formId, fields, { type = 'json', origin = SITE_ORIGIN, accept, headers = {} } = {}) {
  const h = { ...headers };
  if (origin) h.origin = origin;
  let body;
  if (type === 'json') {
    h['content-type'] = 'application/json';
    body = JSON.stringify(fields);
  } else if (type === 'urlencoded') {
    h['content-type'] = 'application/x-www-form-urlencoded';
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(fields)) for (const x of [].concat(v)) params.append(k, x);
    body = params.toString();
  } else if (type === 'multipart') {
    const fd = new FormData();
    for (const [k, v] of Object.entries(fields)) for (const x of [].concat(v)) fd.append(k, x);
    body = fd; // fetch sets the boundary
  } else {
    throw new Error(`unknown body type ${type}`);
  }
  if (accept) h.accept = accept;
  return worker.fetch(`/forms/${formId}`, { method: 'POST', headers: h, body });
}

// ------------------------------------------------------------- leak sweeps

/** Every file under `dir`, recursively, as { file, text } (latin1, so any byte sequence is kept). */
export function readAllFiles(dir) {
  const out = [];
  const walk = (d) => {
    let entries;
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push({ file: p, text: fs.readFileSync(p).toString('latin1') });
    }
  };
  walk(dir);
  return out;
}

/**
 * Where any of `needles` occurs in any of `haystacks` ([{where, text}]):
 * a list of "needle-index in where" strings (the needle itself is not
 * echoed, so a failure message does not leak it either).
 */
export function findLeaks(needles, haystacks) {
  const found = [];
  needles.forEach((n, i) => {
    if (!n || n.length < 6) return;
    for (const h of haystacks) if (h.text.includes(n)) found.push(`secret #${i} (${n.length} chars) in ${h.where}`);
  });
  return found;
}

/** The token strings the sandbox issued (codes, access and refresh tokens). */
export function tokenStrings(state) {
  const out = new Set();
  const visit = (v, key) => {
    if (typeof v === 'string') {
      if (/token|code/i.test(key ?? '') && v.length >= 12) out.add(v);
    } else if (Array.isArray(v)) v.forEach((x) => visit(x, key));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) visit(x, k);
  };
  visit(state.tokens, 'tokens');
  return [...out];
}

/**
 * Every place a secret shows up for this worker: its answers (status,
 * headers, body), its wrangler log, and, for the sandbox's access and
 * refresh tokens and every other token string, its local KV files.
 * `state` is the sandbox's state (for the tokens it issued); `extra` are
 * more strings to look for. An empty list means nothing leaked.
 */
export function secretLeaks(worker, state, extra = []) {
  const tokens = state ? tokenStrings(state) : [];
  const secrets = [...new Set([...tokens, ...knownSecrets(), ...Object.values(worker.secrets).filter((v) => v !== worker.secrets.KEAP_CLIENT_ID && v !== worker.secrets.ALERT_WEBHOOK_URL), ...extra])];
  const seen = worker.transcript().map((t, i) => ({
    where: `answer ${i} (${t.path.split('?')[0]})`,
    text: JSON.stringify([t.status, t.headers, t.body]),
  }));
  seen.push({ where: 'wrangler log', text: worker.logs() });
  const kvDir = path.join(worker.persistDir, 'v3/kv');
  const kv = readAllFiles(kvDir).map((f) => ({ where: `KV ${path.relative(kvDir, f.file)}`, text: f.text }));
  return [...findLeaks(secrets, seen), ...findLeaks(tokens, kv)];
}
