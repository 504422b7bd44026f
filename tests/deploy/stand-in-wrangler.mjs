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

import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const command = args[0] === 'secret' ? args.slice(0, 2).join(' ') : (args[0] ?? '');
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

if (command === 'deploy') {
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
