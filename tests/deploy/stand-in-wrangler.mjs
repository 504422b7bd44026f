// A stand-in for `wrangler`, for testing scripts/deploy.mjs without a
// Cloudflare account. It answers the commands the script uses the way
// wrangler 4 does, and appends one JSON line per call to $STANDIN_LOG:
// its arguments, its stdin, the wrangler.toml it saw, and for
// `secret bulk <file>` that file's mode and content.
//
//   STANDIN_LOG        where the calls are recorded (required)
//   STANDIN_SECRETS    JSON list of the secret names the worker has; unset:
//                      the worker was never deployed
//   STANDIN_LOGGED_IN  "0": not logged in (until `wrangler login`)
//   STANDIN_ACCOUNTS   how many accounts the login has (default 1)
//   STANDIN_FAIL       a command that fails, e.g. "secret bulk" or "deploy"
//   STANDIN_QUEUES     JSON list of the account's queue names (default none);
//                      `queues create` adds to it for the calls that follow

import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const command = args[0] === 'secret' || args[0] === 'queues' ? args.slice(0, 2).join(' ') : (args[0] ?? '');
const env = process.env;

function readStdin() {
  if (process.stdin.isTTY) return null;
  try {
    return fs.readFileSync(0, 'utf8');
  } catch {
    return null;
  }
}

const record = { args, cwd: process.cwd(), stdin: readStdin() };
const toml = path.join(process.cwd(), 'wrangler.toml');
if (fs.existsSync(toml)) record.wranglerToml = fs.readFileSync(toml, 'utf8');

function done(code, { out = '', err = '' } = {}) {
  fs.appendFileSync(env.STANDIN_LOG, `${JSON.stringify({ ...record, code })}\n`);
  if (out) process.stdout.write(out);
  if (err) process.stderr.write(err);
  process.exit(code);
}

const name = /^name\s*=\s*"([^"]+)"/m.exec(record.wranglerToml ?? '')?.[1] ?? 'worker';
const existing = env.STANDIN_SECRETS === undefined ? null : JSON.parse(env.STANDIN_SECRETS);

if (env.STANDIN_FAIL && command.startsWith(env.STANDIN_FAIL)) {
  done(1, { err: `✘ [ERROR] A request to the Cloudflare API failed (stand-in: ${env.STANDIN_FAIL})\n` });
}

// `login` logs in for the calls that follow (a file beside the log says so).
const loggedInMark = `${env.STANDIN_LOG}.logged-in`;
if (command === 'login') {
  fs.writeFileSync(loggedInMark, '');
  done(0, { out: 'Successfully logged in.\n' });
}

if (command === 'whoami') {
  if (env.STANDIN_LOGGED_IN === '0' && !fs.existsSync(loggedInMark)) done(1, { out: '\n{"loggedIn":false}\n' });
  const accounts = Array.from({ length: Number(env.STANDIN_ACCOUNTS ?? 1) }, (_, i) => ({
    id: `${i}`.padStart(32, 'a'),
    name: `Account ${i}`,
  }));
  done(0, { out: `${JSON.stringify({ loggedIn: true, authType: 'OAuth Token', email: 'owner@example.com', accounts })}\n` });
}

if (command === 'secret list') {
  if (!args.includes('--format') || args[args.indexOf('--format') + 1] !== 'json') done(2, { err: 'stand-in: only --format json\n' });
  if (existing === null) {
    done(1, {
      err:
        `\n✘ [ERROR] Worker "${name}" not found.\n\n  If this is a new Worker, run \`wrangler deploy\` first to create it.\n` +
        "  Otherwise, check that the Worker name is correct and you're logged into the right account.\n\n",
    });
  }
  done(0, { out: `${JSON.stringify(existing.map((n) => ({ name: n, type: 'secret_text' })), null, '  ')}\n` });
}

if (command === 'secret bulk') {
  const file = args[2];
  if (!file) done(2, { err: 'stand-in: give the file\n' });
  const stat = fs.statSync(file);
  const content = fs.readFileSync(file, 'utf8');
  record.file = { path: file, mode: stat.mode & 0o777, dirMode: fs.statSync(path.dirname(file)).mode & 0o777, content };
  const secrets = JSON.parse(content);
  const lines = [`🌀 Processing the secrets for the Worker "${name}"`];
  for (const [k, v] of Object.entries(secrets)) {
    lines.push(v === null ? `💥 Successfully deleted secret for key: ${k}` : `✨ Successfully created secret for key: ${k}`);
  }
  done(0, { out: `${lines.join('\n')}\n\nFinished processing secrets file\n` });
}

// Queues: the account's, plus those created by earlier calls (a file
// beside the log lists them).
const createdQueues = `${env.STANDIN_LOG}.queues`;
const queues = () => [
  ...JSON.parse(env.STANDIN_QUEUES ?? '[]'),
  ...(fs.existsSync(createdQueues) ? fs.readFileSync(createdQueues, 'utf8').split('\n').filter(Boolean) : []),
];

if (command === 'queues list') {
  // wrangler prints a table; a page past the last prints an empty one.
  const page = args.includes('--page') ? Number(args[args.indexOf('--page') + 1]) : 1;
  const rows = page === 1 ? queues() : [];
  const row = (cells) => `│ ${cells.join(' │ ')} │`;
  const lines = [row(['id', 'name', 'created_on', 'modified_on', 'producers', 'consumers'])];
  rows.forEach((q, i) => lines.push(row([`${i}`.padStart(32, 'b'), q, '2026-11-01T00:00:00Z', '2026-11-01T00:00:00Z', '1', '1'])));
  done(0, { out: `┌─┐\n${lines.join('\n')}\n└─┘\n` });
}

if (command === 'queues create') {
  const q = args[2];
  if (!q) done(2, { err: 'stand-in: give the queue name\n' });
  if (queues().includes(q)) done(1, { err: `✘ [ERROR] A queue with the name "${q}" already exists.\n` });
  fs.appendFileSync(createdQueues, `${q}\n`);
  done(0, { out: `🌀 Creating queue '${q}'\n✅ Created queue '${q}'\n` });
}

if (command === 'deploy') {
  // A deploy whose wrangler.toml names a queue the account lacks fails, as wrangler's does.
  const wanted = /\[\[queues\.producers\]\][^[]*?queue\s*=\s*"([^"]+)"/.exec(record.wranglerToml ?? '')?.[1];
  if (wanted && !args.includes('--dry-run') && !queues().includes(wanted)) {
    done(1, { err: `✘ [ERROR] Queue "${wanted}" does not exist. To create it, run: wrangler queues create ${wanted}\n` });
  }
  if (args.includes('--dry-run')) {
    done(0, { out: 'Total Upload: 479.26 KiB / gzip: 200.96 KiB\n--dry-run: exiting now.\n' });
  }
  const url = `https://${name}.owner-sub.workers.dev`;
  if (env.WRANGLER_OUTPUT_FILE_PATH) {
    fs.appendFileSync(
      env.WRANGLER_OUTPUT_FILE_PATH,
      `${JSON.stringify({ type: 'deploy', version: 1, worker_name: name, targets: [url, 'schedule: 0 * * * *'] })}\n`,
    );
  }
  done(0, { out: `Uploaded ${name} (1.00 sec)\nDeployed ${name} triggers (0.50 sec)\n  ${url}\n  schedule: 0 * * * *\n` });
}

done(2, { err: `stand-in wrangler: no answer for \`${args.join(' ')}\`\n` });
