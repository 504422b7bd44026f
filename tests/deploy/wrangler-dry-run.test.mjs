// The real wrangler (node_modules) on the repository's own wrangler.toml,
// STORE with no id: `wrangler deploy --dry-run` of the built worker, and
// `scripts/deploy.mjs --dry-run` with no Cloudflare login. Needs the build
// (build/index.js, made by scripts/build.sh); without it these fail.
//
// wrangler runs wrangler.toml's [build] command (sh scripts/build.sh) before
// every deploy, dry or not, and has no flag to skip it, so each dry run
// below rebuilds (cargo has nothing to do; wasm-bindgen and wasm-opt run).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { NODE, ROOT, cleanEnv } from './fixture.mjs';

const WRANGLER_JS = path.join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
const CONFIG = path.join(ROOT, 'wrangler.toml');

let tmp;
let configBefore;
before(() => {
  const missing = [
    [path.join(ROOT, 'build/index.js'), 'sh scripts/build.sh'],
    [path.join(ROOT, 'build/index_bg.wasm'), 'sh scripts/build.sh'],
    [WRANGLER_JS, 'scripts/setup.sh'],
    [NODE, 'scripts/setup.sh'],
  ].filter(([file]) => !fs.existsSync(file));
  assert.deepEqual(
    missing.map(([file, fix]) => `${path.relative(ROOT, file)} (run \`${fix}\`)`),
    [],
    'the dry runs need the built worker and the npm packages',
  );
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kfw-wrangler-dry-run-'));
  configBefore = fs.readFileSync(CONFIG, 'utf8');
});
after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** No login: wrangler's config folder is an empty one, no API token. */
function env() {
  const config = path.join(tmp, 'config');
  fs.mkdirSync(config, { recursive: true });
  return {
    ...cleanEnv(),
    XDG_CONFIG_HOME: config,
    WRANGLER_SEND_METRICS: 'false',
    CI: '1',
    NO_COLOR: '1',
    FORCE_COLOR: '0',
    PATH: `${path.dirname(NODE)}${path.delimiter}${process.env.PATH}`,
  };
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: ROOT, env: env(), encoding: 'utf8', input: '', timeout: 600000 });
  return { code: r.status, output: `${r.stdout}\n${r.stderr}`, stdout: r.stdout };
}

test("wrangler.toml's STORE has no id", () => {
  const block = /\[\[kv_namespaces\]\]\n((?:(?!\[)[^\n]*\n)*)/.exec(configBefore)?.[1];
  assert.ok(block, 'a [[kv_namespaces]] table');
  assert.match(block, /^binding = "STORE"$/m);
  assert.doesNotMatch(block, /^\s*(id|preview_id)\s*=/m);
});

test('wrangler deploy --dry-run succeeds on the repository\'s own wrangler.toml', () => {
  const outdir = path.join(tmp, 'out');
  const r = run(NODE, [WRANGLER_JS, 'deploy', '--dry-run', '--outdir', outdir]);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /env\.STORE\s+KV Namespace/);
  assert.match(r.output, /--dry-run: exiting now/);
  const files = fs.readdirSync(outdir);
  assert.ok(files.includes('index.js'), files.join(', '));
  assert.ok(files.some((f) => f.endsWith('.wasm')), files.join(', '));
  assert.equal(fs.readFileSync(CONFIG, 'utf8'), configBefore, 'wrangler.toml changed');
});

test('scripts/deploy.mjs --dry-run with the real wrangler and no login changes nothing', () => {
  const r = spawnSync(NODE, [path.join(ROOT, 'scripts/deploy.mjs'), '--dry-run'], {
    cwd: ROOT,
    input: '',
    encoding: 'utf8',
    timeout: 600000,
    env: {
      ...env(),
      TMPDIR: tmp,
      KFW_AUTH_MODE: 'api_key',
      KEAP_API_KEY: 'KeapAK-dry-run-only',
      KFW_ALLOWED_ORIGINS: 'https://www.example.com',
    },
  });
  const output = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, output);
  assert.match(output, /not logged in; the dry run takes the worker as new/);
  // The origins reach wrangler as --var (which it prints as hidden), not through wrangler.toml.
  assert.match(output, /env\.ALLOWED_ORIGINS \("\(hidden\)"\)/);
  assert.match(output, /ALLOWED_ORIGINS = "https:\/\/www\.example\.com"/);
  assert.match(output, /--dry-run: exiting now/);
  assert.match(output, /nothing was changed/);
  assert.equal(fs.readFileSync(CONFIG, 'utf8'), configBefore, 'wrangler.toml changed');
  assert.deepEqual(
    fs.readdirSync(tmp).filter((f) => f.startsWith('kfw-deploy-')),
    [],
    'scripts/deploy.mjs left a temporary folder behind',
  );
});
