// The real wrangler (node_modules) on the repository's own wrangler.toml,
// STORE with no id: `wrangler deploy --dry-run` of the built worker, and
// `scripts/deploy.mjs --dry-run` with no Cloudflare login. Needs the build
// (build/index.js, made by scripts/build.sh); without it these fail.
//
// wrangler runs wrangler.toml's [build] command (sh scripts/build.sh) before
// every deploy, dry or not, and has no flag to skip it. The dry runs below
// set KFW_REUSE_BUILD=1, so that command keeps the build `make test` has
// just made when it is newer than every source (and builds otherwise):
// wrangler.toml, its [build] command and the bundling are still the real
// ones, without wasm-bindgen and wasm-opt running again for each dry run.

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
    KFW_REUSE_BUILD: '1',
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

test('scripts/build.sh with KFW_REUSE_BUILD=1 keeps a build newer than its sources, and only then', () => {
  const out = path.join(tmp, 'fresh-build');
  fs.mkdirSync(out);
  for (const f of ['index.js', 'index_bg.wasm']) fs.copyFileSync(path.join(ROOT, 'build', f), path.join(out, f));
  const wasm = fs.readFileSync(path.join(out, 'index_bg.wasm'));
  const build = (extra) =>
    spawnSync('sh', [path.join(ROOT, 'scripts/build.sh')], {
      cwd: ROOT,
      encoding: 'utf8',
      // PATH without worker-build: building instead of keeping fails here.
      env: { ...env(), HOME: tmp, PATH: path.dirname(NODE) + path.delimiter + '/usr/bin:/bin', OUT_DIR: out, ...extra },
    });
  let r = build({});
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /kept \(KFW_REUSE_BUILD=1\)/);
  assert.deepEqual(fs.readFileSync(path.join(out, 'index_bg.wasm')), wasm);
  // Older than the sources, without the variable, or with a file missing: it builds (and fails here).
  const old = new Date('2000-01-01T00:00:00Z');
  fs.utimesSync(path.join(out, 'index.js'), old, old);
  r = build({});
  assert.notEqual(r.status, 0, 'a stale build was kept');
  assert.match(r.stderr, /worker-build: .*not found/);
  assert.doesNotMatch(r.stdout, /kept/);
  fs.utimesSync(path.join(out, 'index.js'), new Date(), new Date());
  r = build({ KFW_REUSE_BUILD: '' });
  assert.notEqual(r.status, 0, 'kept without KFW_REUSE_BUILD');
  assert.match(r.stderr, /worker-build: .*not found/);
  fs.rmSync(path.join(out, 'index_bg.wasm'));
  r = build({});
  assert.notEqual(r.status, 0, 'kept with index_bg.wasm missing');
  assert.match(r.stderr, /worker-build: .*not found/);
});

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
