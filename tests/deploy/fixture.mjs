// A fresh clone of the repository (its working tree, committed in a new git
// repository in a temporary folder) with a stand-in `wrangler` first on PATH,
// for running scripts/deploy.mjs without a Cloudflare account.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const NODE = path.join(ROOT, 'node_modules/.bin/node');
const STAND_IN = path.join(ROOT, 'tests/deploy/stand-in-wrangler.mjs');

/** Variables of the environment the script reads: never inherited by a test. */
const OWN_VARS = /^(KFW_|KEAP_|CLOUDFLARE_|ALERT_WEBHOOK_URL$|TURNSTILE_SECRET$|CI$|STANDIN_|WRANGLER_OUTPUT_)/;

export function cleanEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !OWN_VARS.test(k)));
}

/**
 * A copy of the repository's files (tracked and untracked, not ignored) in
 * its own git repository, committed, plus a bin folder holding the stand-in
 * wrangler and a TMPDIR of its own. `remove()` deletes it all.
 */
export function freshClone() {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'kfw-deploy-test-'));
  const repo = path.join(base, 'repo');
  const bin = path.join(base, 'bin');
  const tmp = path.join(base, 'tmp');
  const log = path.join(base, 'calls.ndjson');
  for (const dir of [repo, bin, tmp]) fs.mkdirSync(dir);

  const files = execFileSync('git', ['ls-files', '-z', '-co', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
  for (const file of files) {
    const from = path.join(ROOT, file);
    if (!fs.existsSync(from) || fs.lstatSync(from).isDirectory()) continue;
    fs.mkdirSync(path.dirname(path.join(repo, file)), { recursive: true });
    fs.copyFileSync(from, path.join(repo, file));
    fs.chmodSync(path.join(repo, file), fs.statSync(from).mode & 0o777);
  }
  const git = (...args) => execFileSync('git', args, { cwd: repo, encoding: 'utf8' });
  git('init', '-q');
  git('add', '-A');
  git('-c', 'user.name=test', '-c', 'user.email=test@example.com', 'commit', '-q', '--no-gpg-sign', '-m', 'fresh clone');

  fs.writeFileSync(path.join(bin, 'wrangler'), `#!/bin/sh\nexec "${NODE}" "${STAND_IN}" "$@"\n`, { mode: 0o755 });

  return {
    base,
    repo,
    tmp,
    git,
    /** Runs `node scripts/deploy.mjs ...args` (or `cmd`) in the clone; stdin is not a terminal. */
    run(args = [], env = {}, { cmd = [NODE, path.join(repo, 'scripts/deploy.mjs')] } = {}) {
      const r = spawnSync(cmd[0], [...cmd.slice(1), ...args], {
        cwd: repo,
        input: '',
        encoding: 'utf8',
        timeout: 120000,
        env: {
          ...cleanEnv(),
          PATH: `${bin}${path.delimiter}${process.env.PATH}`,
          TMPDIR: tmp,
          KFW_WRANGLER: 'wrangler',
          STANDIN_LOG: log,
          NO_COLOR: '1',
          ...env,
        },
      });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr, output: `${r.stdout}\n${r.stderr}` };
    },
    /** Every call the stand-in wrangler received, in order. */
    calls() {
      if (!fs.existsSync(log)) return [];
      return fs
        .readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line));
    },
    /** The secrets of the one `secret bulk` call (asserts there was exactly one). */
    bulk() {
      const bulks = this.calls().filter((c) => c.args[0] === 'secret' && c.args[1] === 'bulk');
      if (bulks.length !== 1) throw new Error(`expected one \`secret bulk\`, saw ${bulks.length}`);
      return { ...bulks[0].file, secrets: JSON.parse(bulks[0].file.content) };
    },
    wranglerToml: () => fs.readFileSync(path.join(repo, 'wrangler.toml'), 'utf8'),
    remove: () => fs.rmSync(base, { recursive: true, force: true }),
  };
}

/** Every file under `dir` (the .git folder included) that contains `needle`. */
export function filesContaining(dir, needle) {
  const found = [];
  const walk = (d) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isSymbolicLink()) continue;
      if (entry.isDirectory()) walk(p);
      else if (fs.readFileSync(p).includes(needle)) found.push(p);
    }
  };
  walk(dir);
  return found;
}

/** How many times `needle` occurs in `text`. */
export function count(text, needle) {
  return text.split(needle).length - 1;
}
