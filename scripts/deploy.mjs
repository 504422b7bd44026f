// `make deploy`: from a Cloudflare login to a live worker in one command,
// and a safe way to deploy again later.
//
// It checks the wrangler login, asks how the worker talks to Keap (API key
// or OAuth) and which site origins may post, writes ALLOWED_ORIGINS into
// wrangler.toml, makes ADMIN_TOKEN and ENCRYPTION_KEY when the worker does
// not have them yet, deploys (wrangler creates the STORE KV namespace on
// the first deploy), puts the secrets with one `wrangler secret bulk`, and
// prints the /admin URL, the admin password (only when it was just made)
// and what to do next.
//
// An existing ENCRYPTION_KEY is never replaced unless asked for with
// --rotate-encryption-key: everything sealed under the old key (the Keap
// tokens, queued leads) becomes unreadable.
//
// Every answer can come from the environment, for CI (no terminal: a
// missing answer is an error naming its variable):
//
//   KFW_AUTH_MODE            api_key | oauth
//   KEAP_API_KEY             API-key mode: the Keap key (kept when unset and already on the worker)
//   KEAP_CLIENT_ID           OAuth mode: the app's Key     (same)
//   KEAP_CLIENT_SECRET       OAuth mode: the app's Secret  (same)
//   KFW_ALLOWED_ORIGINS      the site's origins, comma-separated (kept when unset
//                            and wrangler.toml already names a non-local one)
//   ALERT_WEBHOOK_URL        optional secret, put when set
//   TURNSTILE_SECRET         optional secret, put when set
//   KFW_DRY_RUN=1            same as --dry-run
//   KFW_ROTATE_ENCRYPTION_KEY=1   same as --rotate-encryption-key
//   KFW_NEW_ADMIN_TOKEN=1    same as --new-admin-token
//   KFW_WRANGLER             the wrangler command to run (default: the repository's own)
//   CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID   wrangler's own, for CI
//
// --dry-run does everything that does not change the account: it reads the
// login and the secret names, asks the questions, builds and runs
// `wrangler deploy --dry-run`, and writes nothing (no secret, no change to
// wrangler.toml).

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline/promises';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CONFIG = path.join(ROOT, 'wrangler.toml');
const WRANGLER_JS = path.join(ROOT, 'node_modules/wrangler/bin/wrangler.js');

const USAGE = `Usage: make deploy   (or: node scripts/deploy.mjs [options])

  --dry-run                 do everything but change the account: no secret is
                            put, wrangler.toml is not written, and the deploy is
                            \`wrangler deploy --dry-run\`
  --rotate-encryption-key   replace the worker's ENCRYPTION_KEY: every sealed Keap
                            token and queued lead becomes unreadable
  --new-admin-token         replace the worker's ADMIN_TOKEN (a lost admin password)
  --help                    this text

Answers from the environment (for CI): KFW_AUTH_MODE (api_key|oauth),
KEAP_API_KEY, KEAP_CLIENT_ID, KEAP_CLIENT_SECRET, KFW_ALLOWED_ORIGINS,
ALERT_WEBHOOK_URL, TURNSTILE_SECRET; KFW_DRY_RUN=1, KFW_ROTATE_ENCRYPTION_KEY=1,
KFW_NEW_ADMIN_TOKEN=1 as the flags; KFW_WRANGLER to run another wrangler.`;

/** A failure the owner can act on: printed without a stack trace. */
class Refusal extends Error {}

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s = '') => console.log(s);
const warn = (s) => console.error(`deploy: ${s}`);

// ------------------------------------------------------------------ options

function parseOptions(argv, env) {
  const flag = (name) => env[name] === '1' || env[name] === 'true';
  const options = {
    dryRun: flag('KFW_DRY_RUN'),
    rotateEncryptionKey: flag('KFW_ROTATE_ENCRYPTION_KEY'),
    newAdminToken: flag('KFW_NEW_ADMIN_TOKEN'),
  };
  for (const arg of argv) {
    if (arg === '--dry-run') options.dryRun = true;
    else if (arg === '--rotate-encryption-key') options.rotateEncryptionKey = true;
    else if (arg === '--new-admin-token') options.newAdminToken = true;
    else if (arg === '--help' || arg === '-h') options.help = true;
    else throw new Refusal(`unknown option ${arg}\n\n${USAGE}`);
  }
  return options;
}

// ------------------------------------------------------------------ origins

/**
 * The origins in a comma-separated list, each exactly as a browser sends it
 * in `Origin` (scheme://host[:port], lower case, no default port, no path,
 * no trailing slash), or a Refusal saying what is wrong with which one.
 */
function parseOrigins(text) {
  const items = String(text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!items.length) {
    throw new Refusal('no origin given: name the site(s) whose forms post here, e.g. https://www.example.com');
  }
  const origins = [];
  for (const item of items) {
    let url;
    try {
      url = new URL(item);
    } catch {
      throw new Refusal(`"${item}" is not an origin: write it as scheme://host[:port], e.g. https://www.example.com`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new Refusal(`"${item}" is not an origin: only http:// and https:// sites can post a form`);
    }
    if (url.username || url.password) {
      throw new Refusal(`"${item}" is not an origin: no user name or password in it`);
    }
    if (item !== url.origin) {
      const why =
        url.pathname !== '/' || url.search || url.hash || /\/$/.test(item)
          ? 'no path, query or trailing slash'
          : 'as the browser writes it (lower case, no default port)';
      throw new Refusal(`"${item}" is not an origin (${why}): write ${url.origin}`);
    }
    if (!origins.includes(url.origin)) origins.push(url.origin);
  }
  return origins;
}

/** Whether every origin is this machine's own (the example's localhost defaults). */
function onlyLocal(origins) {
  return origins.every((o) => ['localhost', '127.0.0.1', '[::1]'].includes(new URL(o).hostname));
}

// ------------------------------------------------------------ wrangler.toml

/** The `[table]` each line of a TOML file belongs to ('' before the first). */
function tables(lines) {
  let current = '';
  return lines.map((line) => {
    const m = /^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$/.exec(line);
    if (m) current = m[1];
    return current;
  });
}

/** A basic TOML string's value on a `key = "..."` line of the given table. */
function readString(toml, table, key) {
  const lines = toml.split('\n');
  const owners = tables(lines);
  const re = new RegExp(`^\\s*${key}\\s*=\\s*"((?:[^"\\\\]|\\\\.)*)"`);
  for (let i = 0; i < lines.length; i += 1) {
    const m = owners[i] === table && re.exec(lines[i]);
    if (m) return JSON.parse(`"${m[1]}"`);
  }
  return undefined;
}

/** The delivery queue `[[queues.producers]]` names, or undefined without one. */
function deliveryQueue(toml) {
  return readString(toml, 'queues.producers', 'queue');
}

/** Whether a top-level `route`/`routes` key gives the worker its own host. */
function hasRoutes(toml) {
  const lines = toml.split('\n');
  const owners = tables(lines);
  return lines.some((line, i) => owners[i] === '' && /^\s*routes?\s*=/.test(line));
}

/** wrangler.toml with `[vars] ALLOWED_ORIGINS` set to these origins. */
function withAllowedOrigins(toml, origins) {
  const value = `ALLOWED_ORIGINS = ${JSON.stringify(origins.join(','))}`;
  const lines = toml.split('\n');
  const owners = tables(lines);
  const at = lines.findIndex((line, i) => owners[i] === 'vars' && /^\s*ALLOWED_ORIGINS\s*=/.test(line));
  if (at >= 0) {
    lines[at] = value;
    return lines.join('\n');
  }
  const vars = lines.findIndex((line, i) => owners[i] === 'vars' && /^\s*\[\s*vars\s*\]/.test(line));
  if (vars >= 0) {
    lines.splice(vars + 1, 0, value);
    return lines.join('\n');
  }
  return `${toml.replace(/\n*$/, '\n')}\n[vars]\n${value}\n`;
}

// ----------------------------------------------------------------- wrangler

function wranglerCommand(args) {
  // KFW_WRANGLER: another wrangler (the tests' stand-in); otherwise the
  // repository's own, which needs Node 22 (this script's node).
  if (process.env.KFW_WRANGLER) return [process.env.KFW_WRANGLER, args];
  if (!fs.existsSync(WRANGLER_JS)) {
    throw new Refusal(`wrangler is not installed (${path.relative(ROOT, WRANGLER_JS)}): run \`make deploy\` or scripts/setup.sh`);
  }
  return [process.execPath, [WRANGLER_JS, ...args]];
}

function wranglerEnv(extra = {}) {
  return {
    ...process.env,
    // wrangler's [build] command and wrangler itself find Node 22 first.
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
    WRANGLER_SEND_METRICS: process.env.WRANGLER_SEND_METRICS ?? 'false',
    ...extra,
  };
}

/** Runs wrangler and returns what it printed (for reading, not showing). */
function wranglerQuiet(args) {
  const [cmd, argv] = wranglerCommand(args);
  const r = spawnSync(cmd, argv, {
    cwd: ROOT,
    env: wranglerEnv({ NO_COLOR: '1', FORCE_COLOR: '0' }),
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.error) throw new Refusal(`could not run wrangler (${cmd}): ${r.error.message}`);
  return { code: r.status, out: r.stdout ?? '', err: r.stderr ?? '' };
}

/** Runs wrangler in front of the owner (its output shown, its prompts answered). */
function wranglerShown(args, { interactive, env = {} } = {}) {
  const [cmd, argv] = wranglerCommand(args);
  const r = spawnSync(cmd, argv, {
    cwd: ROOT,
    env: wranglerEnv(env),
    stdio: [interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'],
  });
  if (r.error) throw new Refusal(`could not run wrangler (${cmd}): ${r.error.message}`);
  return r.status;
}

/** The login wrangler uses (`whoami --json`), or null when there is none. */
function whoami() {
  const r = wranglerQuiet(['whoami', '--json']);
  let info = null;
  try {
    info = JSON.parse(r.out.slice(r.out.indexOf('{')));
  } catch {
    // not JSON: an error, shown below
  }
  if (info && info.loggedIn === false) return null;
  if (r.code !== 0 || !info || info.loggedIn !== true) {
    throw new Refusal(`\`wrangler whoami\` failed:\n${`${r.out}\n${r.err}`.trim()}`);
  }
  return { email: typeof info.email === 'string' ? info.email : null, accounts: Array.isArray(info.accounts) ? info.accounts : [] };
}

/**
 * The names of the secrets the deployed worker has; an empty list when the
 * worker does not exist yet. Anything else that goes wrong stops here, so
 * that a failed read is never taken for "no ENCRYPTION_KEY yet".
 */
function secretNames() {
  const r = wranglerQuiet(['secret', 'list', '--format', 'json']);
  const text = `${r.out}\n${r.err}`;
  if (r.code !== 0) {
    // wrangler's words for a Worker that was never deployed.
    if (/Worker "[^"]*"(?: \(env: [^)]*\))? not found/.test(text) && /run `wrangler deploy` first/.test(text)) {
      return { exists: false, names: [] };
    }
    throw new Refusal(`\`wrangler secret list\` failed, so it is not known which secrets the worker has:\n${text.trim()}`);
  }
  const start = r.out.indexOf('[');
  let list;
  try {
    list = JSON.parse(r.out.slice(start));
  } catch {
    throw new Refusal(`\`wrangler secret list\` answered something that is not a JSON list:\n${r.out.trim()}`);
  }
  if (!Array.isArray(list) || list.some((s) => typeof s?.name !== 'string')) {
    throw new Refusal('`wrangler secret list` answered a list without secret names');
  }
  return { exists: true, names: list.map((s) => s.name) };
}

// ---------------------------------------------------------------- questions

/** Asks on the terminal, or takes the answer from the environment. */
class Questions {
  constructor(interactive) {
    this.interactive = interactive;
  }

  async ask(question, { env, fallback, secret = false } = {}) {
    if (env && process.env[env] !== undefined && process.env[env] !== '') return process.env[env];
    if (!this.interactive) {
      if (fallback !== undefined) return fallback;
      throw new Refusal(`no answer for "${question}": set ${env} (no terminal to ask on)`);
    }
    const hint = fallback === undefined ? '' : secret ? ' [Enter keeps the current one]' : fallback ? ` [${fallback}]` : '';
    const answer = secret ? await askHidden(`${question}${hint}: `) : await askLine(`${question}${hint}: `);
    return answer.trim() === '' && fallback !== undefined ? fallback : answer.trim();
  }
}

async function askLine(prompt) {
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    return await rl.question(prompt);
  } finally {
    rl.close();
  }
}

/** A line typed without echo (a key or a secret). */
function askHidden(prompt) {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stdout.write(prompt);
    let value = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (fn) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stdout.write('\n');
      fn();
    };
    const onData = (chunk) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done(() => resolve(value));
        if (ch === '\u0003') return done(() => reject(new Refusal('stopped')));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

function checkOneLine(name, value) {
  if (!value) throw new Refusal(`${name} is empty`);
  if (/\s/.test(value)) throw new Refusal(`${name} must be one word with no spaces`);
  return value;
}

function checkUrl(name, value) {
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new Refusal(`${name} must be a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Refusal(`${name} must be an http(s) URL`);
  return value;
}

// ------------------------------------------------------------------ secrets

/** base64 of 32 bytes from the OS's cryptographic random source. */
const newEncryptionKey = () => randomBytes(32).toString('base64');
/** 32 bytes, URL-safe base64 (43 characters): typed into a browser's prompt. */
const newAdminToken = () => randomBytes(32).toString('base64url');

/**
 * Writes the secrets to a file only this user can read, in a folder of its
 * own outside the repository, runs `wrangler secret bulk` on it, and removes
 * the folder whatever happens (an exit or a signal included).
 */
function putSecrets(secrets, { interactive }) {
  const base = fs.realpathSync(os.tmpdir());
  const rel = path.relative(ROOT, base);
  if (!rel.startsWith('..') && !path.isAbsolute(rel)) {
    throw new Refusal(`the temporary folder ${base} is inside the repository; set TMPDIR to a folder outside it`);
  }
  const dir = fs.mkdtempSync(path.join(base, 'kfw-deploy-'));
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  const onSignal = (sig) => {
    remove();
    process.exit(128 + (os.constants.signals[sig] ?? 1));
  };
  process.on('exit', remove);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, onSignal);
  try {
    fs.chmodSync(dir, 0o700);
    const file = path.join(dir, 'secrets.json');
    fs.writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    const code = wranglerShown(['secret', 'bulk', file], { interactive });
    if (code !== 0) throw new Refusal(`\`wrangler secret bulk\` failed (exit ${code}); nothing printed above was kept, run again`);
  } finally {
    remove();
    process.removeListener('exit', remove);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.removeListener(sig, onSignal);
  }
}

// ------------------------------------------------------------------- deploy

/** The queue names in the tables `wrangler queues list` prints, one page. */
function listedQueues(text) {
  const names = [];
  for (const line of text.split('\n')) {
    const cells = line.split(/[│|]/).map((c) => c.trim());
    // id │ name │ created_on │ ...: the name is the cell after the id.
    if (cells.length > 3 && /^[0-9a-f]{32}$/.test(cells[1])) names.push(cells[2]);
  }
  return names;
}

/** Whether the account has the queue `name` (`wrangler queues list`, page by page). */
function queueExists(name) {
  for (let page = 1; page <= 20; page += 1) {
    const r = wranglerQuiet(['queues', 'list', '--page', String(page)]);
    if (r.code !== 0) throw new Refusal(`\`wrangler queues list\` failed:\n${`${r.out}\n${r.err}`.trim()}`);
    const names = listedQueues(r.out);
    if (names.includes(name)) return true;
    if (names.length === 0) return false;
  }
  return false;
}

/**
 * Creates the delivery queue wrangler.toml names when the account does not
 * have it yet (a deploy with a missing queue fails). Without one in
 * wrangler.toml, nothing to do.
 */
function ensureQueue(toml, { dryRun, interactive }) {
  const name = deliveryQueue(toml);
  if (!name) return;
  if (queueExists(name)) {
    say(`Delivery queue: ${name} (exists).`);
    return;
  }
  if (dryRun) {
    say(`Delivery queue: ${name} would be created (\`wrangler queues create ${name}\`).`);
    return;
  }
  say(`Delivery queue: creating ${name}...`);
  const code = wranglerShown(['queues', 'create', name], { interactive });
  if (code !== 0) throw new Refusal(`\`wrangler queues create ${name}\` failed (exit ${code}): see its message above`);
}

/**
 * Deploys (or, dry, builds and checks) and returns the URLs wrangler reports
 * for the worker, read from its machine-readable output file.
 */
function deploy({ dryRun, origins, interactive }) {
  const dir = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), 'kfw-deploy-out-'));
  try {
    const outputFile = path.join(dir, 'output.ndjson');
    const args = ['deploy'];
    if (dryRun) {
      // The origins go on the command line: wrangler.toml stays as it is.
      args.push('--dry-run', '--outdir', path.join(dir, 'dist'), '--var', `ALLOWED_ORIGINS:${origins.join(',')}`);
    }
    const code = wranglerShown(args, { interactive, env: { WRANGLER_OUTPUT_FILE_PATH: outputFile } });
    if (code !== 0) throw new Refusal(`\`wrangler ${args.join(' ')}\` failed (exit ${code}): see its message above`);
    const targets = [];
    if (fs.existsSync(outputFile)) {
      for (const line of fs.readFileSync(outputFile, 'utf8').split('\n')) {
        try {
          const entry = JSON.parse(line);
          if (entry?.type === 'deploy' && Array.isArray(entry.targets)) targets.push(...entry.targets);
        } catch {
          // not a JSON line
        }
      }
    }
    return targets.filter((t) => typeof t === 'string');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The worker's base URL as wrangler reported it (its workers.dev one first). */
function workerUrl(targets) {
  const urls = targets
    .map((t) => (/^https?:\/\//.test(t) ? t : `https://${t}`))
    .map((t) => {
      try {
        return new URL(t.replace(/\/\*$/, ''));
      } catch {
        return null;
      }
    })
    .filter((u) => u && !u.hostname.includes('*'));
  // workers.dev serves every path; a route may serve only some.
  const any = urls.find((u) => u.hostname.endsWith('.workers.dev')) ?? urls[0];
  return any ? any.origin : null;
}

// --------------------------------------------------------------------- main

async function main() {
  const options = parseOptions(process.argv.slice(2), process.env);
  if (options.help) {
    say(USAGE);
    return;
  }
  const interactive = Boolean(process.stdin.isTTY) && !process.env.CI;
  const q = new Questions(interactive);
  const dry = options.dryRun;
  if (dry) say(`${bold('Dry run: nothing on your Cloudflare account or in wrangler.toml will change.')}\n`);

  // 1. The login.
  let account = whoami();
  if (!account && interactive && !dry) {
    const answer = await askLine('wrangler is not logged in to Cloudflare. Log in now (a browser opens)? [Y/n] ');
    if (/^(y(es)?)?$/i.test(answer.trim()) && wranglerShown(['login'], { interactive }) === 0) account = whoami();
  }
  let worker = { exists: false, names: [] };
  if (!account) {
    const how =
      'Log in with `npx wrangler login` (a browser opens), or for CI set CLOUDFLARE_API_TOKEN ' +
      '(and CLOUDFLARE_ACCOUNT_ID), then run `make deploy` again.';
    if (!dry) throw new Refusal(`wrangler is not logged in to Cloudflare. ${how}`);
    warn(`wrangler is not logged in; the dry run takes the worker as new. ${how}`);
  } else {
    say(`Cloudflare: logged in${account.email ? ` as ${account.email}` : ''}.`);
    if (account.accounts.length > 1 && !interactive && !process.env.CLOUDFLARE_ACCOUNT_ID) {
      const list = account.accounts.map((a) => `  ${a.id}  ${a.name}`).join('\n');
      throw new Refusal(`this login has ${account.accounts.length} Cloudflare accounts; set CLOUDFLARE_ACCOUNT_ID to one of:\n${list}`);
    }
    worker = secretNames();
  }
  const has = (name) => worker.names.includes(name);
  const toml = fs.readFileSync(CONFIG, 'utf8');
  const name = readString(toml, '', 'name') ?? 'keap-form-worker';
  say(
    worker.exists
      ? `Worker ${name}: deployed, with the secrets ${worker.names.join(', ') || '(none)'}.`
      : `Worker ${name}: not deployed yet; this is its first deploy.`,
  );
  say();

  // 2. How the worker talks to Keap.
  const modeDefault = has('KEAP_API_KEY')
    ? 'api_key'
    : has('KEAP_CLIENT_ID')
      ? 'oauth'
      : process.env.KEAP_API_KEY
        ? 'api_key'
        : process.env.KEAP_CLIENT_ID
          ? 'oauth'
          : interactive
            ? 'api_key'
            : undefined;
  if (interactive && !process.env.KFW_AUTH_MODE) {
    say('How does the worker talk to Keap?');
    say('  api_key  a Service Account Key or Personal Access Token (Keap: Settings > API Settings)');
    say('  oauth    a developer app from keys.developer.keap.com (its Key and Secret)');
  }
  const mode = (await q.ask('api_key or oauth', { env: 'KFW_AUTH_MODE', fallback: modeDefault })).toLowerCase().replace('-', '_');
  if (mode !== 'api_key' && mode !== 'oauth') throw new Refusal(`KFW_AUTH_MODE must be api_key or oauth, not "${mode}"`);

  const secrets = {};
  /** A secret from the environment or the owner; kept on the worker when not given. */
  const credential = async (secretName, question, check) => {
    const keep = has(secretName) ? '' : undefined;
    const value = await q.ask(question, { env: secretName, fallback: keep, secret: true });
    if (value === '' && keep !== undefined) return;
    secrets[secretName] = check(secretName, value);
  };
  if (mode === 'api_key') {
    await credential('KEAP_API_KEY', 'Keap API key', checkOneLine);
  } else {
    await credential('KEAP_CLIENT_ID', "Keap app's Key (client id)", checkOneLine);
    await credential('KEAP_CLIENT_SECRET', "Keap app's Secret", checkOneLine);
    if (has('KEAP_API_KEY')) {
      // It would win over OAuth: the same bulk removes it (null deletes).
      say(`The worker has a KEAP_API_KEY, which wins over OAuth: it ${dry ? 'would be' : 'is'} removed.`);
      if (interactive && !dry) {
        const answer = await askLine('Remove KEAP_API_KEY and use OAuth? [y/N] ');
        if (!/^y(es)?$/i.test(answer.trim())) throw new Refusal('stopped; nothing changed');
      }
      secrets.KEAP_API_KEY = null;
    }
  }
  for (const optional of ['ALERT_WEBHOOK_URL', 'TURNSTILE_SECRET']) {
    const value = process.env[optional];
    if (value) secrets[optional] = optional === 'ALERT_WEBHOOK_URL' ? checkUrl(optional, value) : checkOneLine(optional, value);
  }

  // 3. The site's origins.
  const current = readString(toml, 'vars', 'ALLOWED_ORIGINS');
  let currentOrigins = null;
  try {
    currentOrigins = parseOrigins(current);
  } catch {
    // none yet, or not valid: ask
  }
  const originsDefault = currentOrigins && !onlyLocal(currentOrigins) ? currentOrigins.join(',') : undefined;
  let origins;
  for (;;) {
    const answer = await q.ask('Your site\'s origin(s), comma-separated (e.g. https://www.example.com,https://example.com)', {
      env: 'KFW_ALLOWED_ORIGINS',
      fallback: originsDefault,
    });
    try {
      origins = parseOrigins(answer);
      break;
    } catch (e) {
      if (!interactive || process.env.KFW_ALLOWED_ORIGINS || !(e instanceof Refusal)) throw e;
      warn(e.message);
    }
  }
  if (onlyLocal(origins)) warn('every origin is this machine\'s own: a form on a public site will be refused');

  // 4. ADMIN_TOKEN and ENCRYPTION_KEY.
  let adminPassword = null;
  if (!has('ADMIN_TOKEN') || options.newAdminToken) {
    adminPassword = newAdminToken();
    secrets.ADMIN_TOKEN = adminPassword;
  }
  if (!has('ENCRYPTION_KEY')) {
    secrets.ENCRYPTION_KEY = newEncryptionKey();
  } else if (options.rotateEncryptionKey) {
    warn(
      'replacing ENCRYPTION_KEY: the Keap tokens and every queued lead sealed under the old key ' +
        'become unreadable (reconnect on /admin afterwards; queued leads are lost).',
    );
    if (interactive && !dry) {
      const answer = await askLine('Type ROTATE to replace the key, anything else stops: ');
      if (answer.trim() !== 'ROTATE') throw new Refusal('stopped; ENCRYPTION_KEY unchanged');
    }
    secrets.ENCRYPTION_KEY = newEncryptionKey();
  }

  // 5. wrangler.toml, the deploy, the secrets.
  const updated = withAllowedOrigins(toml, origins);
  if (dry) {
    say(`\nwrangler.toml would get: ALLOWED_ORIGINS = "${origins.join(',')}"`);
  } else if (updated !== toml) {
    fs.writeFileSync(CONFIG, updated);
    say(`\nwrangler.toml: ALLOWED_ORIGINS = "${origins.join(',')}"`);
  }
  if (account) ensureQueue(updated, { dryRun: dry, interactive });
  say(`\n${bold(`Building and ${dry ? 'checking (dry run)' : 'deploying'} ${name}...`)}`);
  const targets = deploy({ dryRun: dry, origins, interactive });

  const names = Object.keys(secrets).filter((k) => secrets[k] !== null).sort();
  const removed = Object.keys(secrets).filter((k) => secrets[k] === null);
  const what = [names.length ? `put ${names.join(', ')}` : '', removed.length ? `remove ${removed.join(', ')}` : '']
    .filter(Boolean)
    .join(' and ');
  if (dry) {
    say(`\nDry run: would ${what || 'put no secret'} with one \`wrangler secret bulk\`.`);
    if (has('ENCRYPTION_KEY') && !options.rotateEncryptionKey) say('ENCRYPTION_KEY: the worker\'s own is kept.');
    say('Dry run done: nothing was changed.');
    return;
  }
  if (what) {
    say(`\n${bold(`Secrets: ${what}...`)}`);
    putSecrets(secrets, { interactive });
  }

  // 6. Where to go next.
  const redirect = readString(updated, 'vars', 'OAUTH_REDIRECT_URI');
  const base = workerUrl(targets);
  const site = base ?? `https://${name}.<your workers.dev subdomain>.workers.dev`;
  say(`\n${bold('Deployed.')}`);
  say(`  Admin page      ${site}/admin`);
  if (adminPassword) {
    say(`  Admin password  ${bold(adminPassword)}`);
    say('                  (any user name; shown this once: keep it in a password manager.');
    say('                  A lost one: `make deploy` with --new-admin-token.)');
  } else {
    say('  Admin password  the ADMIN_TOKEN set earlier (unchanged)');
  }
  if (has('ENCRYPTION_KEY') && !options.rotateEncryptionKey) say('  ENCRYPTION_KEY  kept (the sealed tokens and queued leads stay readable)');
  if (mode === 'oauth') {
    const callback = redirect ?? `${site}/oauth/callback`;
    say(`  OAuth callback  ${callback}`);
    say('                  register exactly this URL on your Keap app (keys.developer.keap.com)');
    if (!redirect && hasRoutes(updated)) say('                  (or your route\'s host, if you open /admin there)');
  }
  say('\nNext:');
  if (mode === 'oauth') say(`  1. Open ${site}/admin and click Connect to Keap.`);
  else say(`  1. Open ${site}/admin: it shows the API key in use (nothing to connect).`);
  say('  2. Its setup pages list your Keap tags and custom fields with their ids: put them in');
  say('     wrangler.toml\'s [vars.FORMS.<form id>], then `make deploy` again.');
  say(`  3. Put the form on your site, posting to ${site}/forms/<form id>.`);
}

main().catch((e) => {
  if (e instanceof Refusal) {
    warn(e.message);
    process.exit(1);
  }
  throw e;
});
