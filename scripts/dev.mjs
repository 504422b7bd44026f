// `make dev`: the whole flow on one machine with no Keap account.
//
// Starts the Keap sandbox (a local Keap), the worker in `wrangler dev`
// (workerd, local KV) pointed at it with wrangler.toml's FORMS, and the
// example site (site/) on its own origin, then prints the URLs to open.
// Ctrl-C stops everything.
//
// Local secrets (ADMIN_TOKEN, ENCRYPTION_KEY, the sandbox's OAuth client)
// are generated once into .wrangler/dev/dev.vars (gitignored) so the
// browser's remembered admin password keeps working; your own .dev.vars
// is not read. The sandbox forgets everything when it stops, so the
// worker's local KV (.wrangler/dev/state) starts empty on every run too.
//
// Ports: DEV_WORKER_PORT (8787), DEV_SITE_PORT (8788), DEV_SANDBOX_PORT (8789).

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startDoh } from '../tests/support/doh.mjs';
import { startSiteServer } from './site-server.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODE = path.join(ROOT, 'node_modules/.bin/node');
const WRANGLER = path.join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
const SANDBOX = path.join(ROOT, 'target/release/keap-sandbox');
const DEV_DIR = path.join(ROOT, '.wrangler/dev');
const DEV_VARS = path.join(DEV_DIR, 'dev.vars');
const STATE_DIR = path.join(DEV_DIR, 'state');

const port = (name, fallback) => {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(n) || n <= 0 || n > 65535) fail(`${name} must be a port number`);
  return n;
};
const WORKER_PORT = port('DEV_WORKER_PORT', 8787);
const SITE_PORT = port('DEV_SITE_PORT', 8788);
const SANDBOX_PORT = port('DEV_SANDBOX_PORT', 8789);

const children = [];
let stopping = false;

function fail(message) {
  console.error(`dev: ${message}`);
  stopAll(1);
}

function stopAll(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGTERM'); // its whole process group (workerd too)
    } catch {
      // already gone
    }
  }
  setTimeout(() => {
    for (const child of children) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    process.exit(code);
  }, 1500).unref();
  if (!children.length) process.exit(code);
}

function start(name, cmd, args, options = {}) {
  const child = spawn(cmd, args, { cwd: ROOT, detached: true, ...options });
  children.push(child);
  child.once('exit', (code, signal) => {
    if (!stopping) fail(`${name} stopped (${code ?? signal}); see the lines above`);
  });
  return child;
}

/** The local secrets, made once and then reused. */
function devSecrets() {
  const existing = {};
  if (fs.existsSync(DEV_VARS)) {
    for (const line of fs.readFileSync(DEV_VARS, 'utf8').split('\n')) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line);
      if (m) existing[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
    }
  }
  const secrets = {
    KEAP_CLIENT_ID: 'sandbox-client',
    KEAP_CLIENT_SECRET: 'sandbox-secret',
    ADMIN_TOKEN: existing.ADMIN_TOKEN || `dev-${randomBytes(12).toString('hex')}`,
    ENCRYPTION_KEY: existing.ENCRYPTION_KEY || randomBytes(32).toString('base64'),
  };
  fs.mkdirSync(DEV_DIR, { recursive: true });
  fs.writeFileSync(
    DEV_VARS,
    '# Local secrets for `make dev` (the Keap sandbox); made once by scripts/dev.mjs.\n' +
      Object.entries(secrets)
        .map(([k, v]) => `${k}="${v}"`)
        .join('\n') +
      '\n',
    { mode: 0o600 },
  );
  return secrets;
}

async function waitFor(url, what, child, timeoutMs = 90000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  fail(`${what} did not answer ${url} within ${timeoutMs / 1000} s`);
}

async function main() {
  for (const [file, hint] of [
    [SANDBOX, 'cargo build --release -p keap-sandbox'],
    [path.join(ROOT, 'build/index.js'), 'sh scripts/build.sh'],
    [WRANGLER, 'scripts/setup.sh'],
  ]) {
    if (!fs.existsSync(file)) fail(`${path.relative(ROOT, file)} is missing: run \`${hint}\` (or \`make dev\`)`);
  }
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => stopAll(0));

  // 1. The Keap sandbox.
  const sandbox = start('keap-sandbox', SANDBOX, ['--port', String(SANDBOX_PORT)], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const sandboxUrl = await new Promise((resolve) => {
    readline.createInterface({ input: sandbox.stdout }).once('line', (line) => {
      const m = /listening on (http:\/\/\S+)/.exec(line);
      if (m) resolve(m[1].replace(/\/$/, ''));
      else fail(`unexpected first line from keap-sandbox: ${line}`);
    });
  });
  sandbox.stdout.resume();

  // 2. The worker, configured for the sandbox and the example site.
  const secrets = devSecrets();
  fs.rmSync(STATE_DIR, { recursive: true, force: true });
  const siteOrigins = [`http://127.0.0.1:${SITE_PORT}`, `http://localhost:${SITE_PORT}`];
  const workerUrl = `http://127.0.0.1:${WORKER_PORT}`;
  // The tests' stand-in DNS-over-HTTPS resolver answers the domain check
  // (docs/CONTRACT.md 3.10), so it works offline and the same every time.
  const doh = await startDoh();
  const vars = {
    ALLOWED_ORIGINS: siteOrigins.join(','),
    DOH_URL: doh.url,
    KEAP_AUTHORIZE_URL: `${sandboxUrl}/app/oauth/authorize`,
    KEAP_TOKEN_URL: `${sandboxUrl}/token`,
    KEAP_API_URL: `${sandboxUrl}/crm/rest`,
  };
  const worker = start(
    'wrangler dev',
    NODE,
    [
      WRANGLER,
      'dev',
      '--local',
      '--ip',
      '127.0.0.1',
      '--port',
      String(WORKER_PORT),
      '--show-interactive-dev-session=false',
      '--env-file',
      DEV_VARS,
      '--persist-to',
      STATE_DIR,
      ...Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`]),
    ],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', PATH: `${path.dirname(NODE)}:${process.env.PATH}` },
    },
  );
  await waitFor(`${workerUrl}/health`, 'the worker', worker);

  // 3. The example site, its form pointed at the local worker.
  const site = await startSiteServer({ workerUrl, port: SITE_PORT }).catch((e) =>
    fail(`the example site could not listen on port ${SITE_PORT}: ${e.message}`),
  );
  if (stopping) return;

  const b = (s) => `\x1b[1m${s}\x1b[0m`;
  console.log(`
${b('keap-form-worker is running locally (no Keap account needed)')}

  Example site    ${site.url}
  Worker admin    ${workerUrl}/admin
                  user name: anything, password: ${b(secrets.ADMIN_TOKEN)}
  Keap sandbox    ${sandboxUrl}/_sandbox/   (the contacts and tags "Keap" received)

  1. Open the admin page, click ${b('Connect to Keap')}, then ${b('Allow')}.
  2. Send the example form; the contact appears in the sandbox view.
     Sent before connecting, it waits in the outbox (/admin shows it) and
     goes to Keap as soon as you connect; ${b('Deliver now')} sends waiting leads too.
  3. /admin also lists Keap's tags and fields by name, checks each form's ids,
     sends a test lead and shows each form's HTML to copy.
  4. An address at nowhere.invalid or null-mx.test is refused (its domain
     takes no mail); a name with a link in it is held for review on /admin.

  Ctrl-C stops everything.
`);
}

main().catch((e) => fail(e.stack || String(e)));
