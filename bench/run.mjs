// The benchmark (`make bench`): our worker, a plain JavaScript baseline and
// a constant-answer floor, side by side under `wrangler dev --local`
// against the Keap sandbox. Prints a table and writes
// bench/results/bench-<time>.json (and latest.json).
//
// Ours is whatever `sh scripts/build.sh` left where wrangler.toml's `main`
// points (build/index.js and the .wasm beside it): every top-level .js,
// .mjs and .wasm file of that folder is copied, so the benchmark does not
// depend on how the entry module is made.
//
// Settings (environment): BENCH_ROUNDS (15), BENCH_REQUESTS (200 per worker,
// scenario and round), BENCH_CONCURRENCY (8), BENCH_RATE (open-loop rates
// per scenario instead, e.g. submission:90,preflight:200), BENCH_COLD (3
// restarts per worker for the first request after start; at least 1),
// BENCH_BUILD (another build folder to measure as ours), BENCH_VARIANT (a
// second build folder, same layout, run alongside as `variant`), BENCH_PIN
// (0: no CPU pinning). Needs the build and the sandbox
// (cargo build --release -p keap-sandbox): `make bench` does both.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

import {
  DEFAULT_FORMS,
  NODE,
  ROOT,
  SANDBOX_CLIENT_ID,
  SANDBOX_CLIENT_SECRET,
  SITE_ORIGIN,
  WRANGLER_JS,
  build,
  connect,
  consent,
  startDoh,
  startSandbox,
  stopAll,
} from '../tests/support/harness.mjs';
import { instance, pinProcesses } from './launch.mjs';
import { load, loadAtRate, median, quantile } from './load.mjs';
import { sections } from './sections.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 200);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
/** Open-loop rates instead of a fixed concurrency, per scenario, e.g.
 *  BENCH_RATE=submission:80,preflight:200 (requests per second). */
const RATES = Object.fromEntries(
  (process.env.BENCH_RATE ?? '')
    .split(',')
    .map((pair) => pair.split(':'))
    .filter(([name, rate]) => name && Number(rate) > 0)
    .map(([name, rate]) => [name.trim(), Number(rate)]),
);
const howLoaded = (scenario) =>
  RATES[scenario] ? `${RATES[scenario]} requests/s (open loop)` : `concurrency ${CONCURRENCY}`;
/** Restarts per worker for the first request after start: always measured. */
const COLD = Math.max(1, Number(process.env.BENCH_COLD ?? 3) || 0);
const BENCH = path.join(ROOT, 'bench');
/** wrangler.toml's `main`: the entry module the build makes. */
const MAIN = /^main\s*=\s*"([^"]+)"/m.exec(fs.readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8'))?.[1] ?? 'build/index.js';
const MAIN_FILE = path.basename(MAIN);
/** The build of ours to measure: wrangler.toml's `main` folder, or BENCH_BUILD. */
const BUILD = path.resolve(process.env.BENCH_BUILD ?? path.join(ROOT, path.dirname(MAIN)));
/** A second build of ours (same layout) run alongside as `variant`. */
const VARIANT = process.env.BENCH_VARIANT ? path.resolve(process.env.BENCH_VARIANT) : null;
/** What a worker's folder holds: its entry module and the .js, .mjs and
 *  .wasm files beside it, by name. */
function buildFiles(folder) {
  const names = fs.existsSync(folder) ? fs.readdirSync(folder).filter((f) => /\.(m?js|wasm)$/.test(f)) : [];
  if (!names.includes(MAIN_FILE) || !names.some((f) => f.endsWith('.wasm'))) {
    throw new Error(`${folder} holds no build (${MAIN_FILE} and a .wasm): run sh scripts/build.sh first`);
  }
  return Object.fromEntries(names.map((f) => [f, path.join(folder, f)]));
}
const WORKERS = ['ours', ...(VARIANT ? ['variant'] : []), 'baseline', 'floor'];
const RESULTS = path.join(BENCH, 'results');
const TOKEN_KEY = 'keap_token';

const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

// ------------------------------------------------------------------ sizes

/** Raw and gzipped sizes of a build's wasm (all .wasm files together,
 *  with the code and data sections) and its JavaScript. */
function sizesOf(folder) {
  const files = Object.values(buildFiles(folder));
  const read = (isWasm) => files.filter((f) => f.endsWith('.wasm') === isWasm).map((f) => fs.readFileSync(f));
  const total = (bytes) => ({
    raw: bytes.reduce((a, b) => a + b.length, 0),
    gzip: bytes.reduce((a, b) => a + gzipSync(b, { level: 9 }).length, 0),
  });
  const wasm = read(true);
  const section = (name) =>
    wasm.flatMap((b) => sections(b)).filter((x) => x.name === name).reduce((a, x) => a + x.size, 0);
  return { wasm: { ...total(wasm), code: section('code'), data: section('data') }, js: total(read(false)) };
}

function sizes() {
  const ours = sizesOf(BUILD);
  return {
    ...ours,
    ...(VARIANT && (({ wasm, js }) => ({ variant_wasm: wasm, variant_js: js }))(sizesOf(VARIANT))),
  };
}

// ------------------------------------------------------------- the three

export const runDir = path.join(RESULTS, `run-${new Date().toISOString().replace(/[:.]/g, '-')}`);
const secretsOurs = {
  KEAP_CLIENT_ID: SANDBOX_CLIENT_ID,
  KEAP_CLIENT_SECRET: SANDBOX_CLIENT_SECRET,
  ADMIN_TOKEN: `admin-${randomBytes(18).toString('hex')}`,
  ENCRYPTION_KEY: randomBytes(32).toString('base64'),
};

/** `FORMS` for the variant when it differs (a build older than a form key
 *  the current one uses refuses it): BENCH_VARIANT_FORMS='{"contact":{...}}'. */
const VARIANT_FORMS = process.env.BENCH_VARIANT_FORMS ? { FORMS: JSON.parse(process.env.BENCH_VARIANT_FORMS) } : {};

function makeInstances(sandbox, doh) {
  const common = { ALLOWED_ORIGINS: SITE_ORIGIN, FORMS: DEFAULT_FORMS };
  // Ours checks each address's domain (docs/CONTRACT.md 3.10): against
  // the tests' stand-in resolver, never the internet. A domain's answer is
  // kept for its TTL, so a delivered submission's figure is the hot path.
  const dns = { DOH_URL: doh.url };
  return {
    ours: instance({
      name: 'ours',
      dir: path.join(runDir, 'ours'),
      files: buildFiles(BUILD),
      main: MAIN_FILE,
      vars: { ...common, ...dns, ...sandbox.keapVars },
      secrets: secretsOurs,
    }),
    ...(VARIANT && {
      variant: instance({
        name: 'variant',
        dir: path.join(runDir, 'variant'),
        files: buildFiles(VARIANT),
        main: MAIN_FILE,
        vars: { ...common, ...dns, ...VARIANT_FORMS, ...sandbox.keapVars },
        secrets: secretsOurs,
      }),
    }),
    baseline: instance({
      name: 'baseline',
      dir: path.join(runDir, 'baseline'),
      files: { 'worker.js': path.join(BENCH, 'baseline/worker.js') },
      main: 'worker.js',
      vars: { ...common, KEAP_API_URL: sandbox.keapVars.KEAP_API_URL },
    }),
    floor: instance({
      name: 'floor',
      dir: path.join(runDir, 'floor'),
      files: { 'worker.js': path.join(BENCH, 'floor/worker.js') },
      main: 'worker.js',
      kv: false,
    }),
  };
}

/** The same worker behind bench/counting.js, on the same KV folder. */
function countingTwin(inst, innerMain) {
  const text = fs.readFileSync(path.join(BENCH, 'counting.js'), 'utf8').replace("'WORKER'", `'./${innerMain}'`);
  fs.writeFileSync(path.join(inst.dir, 'counting.js'), text);
  const config = JSON.parse(fs.readFileSync(inst.configFile, 'utf8'));
  config.main = './counting.js';
  fs.writeFileSync(inst.configFile, JSON.stringify(config, null, 2));
  return inst;
}

// ------------------------------------------------------------- requests

let emailSeq = 0;
const runTag = randomBytes(3).toString('hex');
const preflight = () => ({
  path: '/forms/contact',
  init: {
    method: 'OPTIONS',
    headers: { origin: SITE_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
  },
});
const submission = () => ({
  path: '/forms/contact',
  init: {
    method: 'POST',
    headers: { origin: SITE_ORIGIN, 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ email: `bench-${runTag}-${++emailSeq}@example.com`, first_name: 'Ada', last_name: 'Lovelace' }),
  },
});
const SCENARIOS = {
  preflight: { make: preflight, expect: { ours: 204, variant: 204, baseline: 204, floor: 204 } },
  submission: { make: submission, expect: { ours: 200, variant: 200, baseline: 200, floor: 200 } },
};

/** A harness-shaped view of an instance, for harness.connect/consent. */
function harnessView(inst, adminToken) {
  const wrapRes = async (res) => {
    const text = await res.text();
    return { status: res.status, text, header: (n) => res.headers.get(n) };
  };
  const f = async (p, init = {}) => wrapRes(await fetch(new URL(p, inst.url), { redirect: 'manual', ...init }));
  return {
    fetch: f,
    logs: () => fs.readFileSync(path.join(inst.dir, 'wrangler.log'), 'utf8'),
    admin: (p, init = {}) =>
      f(p, { ...init, headers: { accept: 'application/json', authorization: `Bearer ${adminToken}`, ...(init.headers || {}) } }),
  };
}

/** A plain access token for the baseline: the code grant, done directly. */
async function baselineToken(sandbox) {
  const redirect = 'http://127.0.0.1:9/callback';
  const authorize = new URL(sandbox.keapVars.KEAP_AUTHORIZE_URL);
  for (const [k, v] of Object.entries({
    client_id: SANDBOX_CLIENT_ID,
    redirect_uri: redirect,
    response_type: 'code',
    scope: 'full',
    state: 'bench',
  })) {
    authorize.searchParams.set(k, v);
  }
  const start = { status: 302, header: () => authorize.href };
  const { callbackUrl } = await consent({ admin: async () => start });
  const code = new URL(callbackUrl).searchParams.get('code');
  const res = await fetch(sandbox.keapVars.KEAP_TOKEN_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      client_id: SANDBOX_CLIENT_ID,
      client_secret: SANDBOX_CLIENT_SECRET,
      redirect_uri: redirect,
    }),
  });
  const body = await res.json();
  if (!body.access_token) throw new Error(`token exchange answered ${res.status}`);
  return body.access_token;
}

function seedBaseline(inst, accessToken) {
  execFileSync(
    NODE,
    [WRANGLER_JS, 'kv', 'key', 'put', TOKEN_KEY, JSON.stringify({ access_token: accessToken }), '--binding', 'STORE', '--local', '--persist-to', inst.persistDir, '-c', inst.configFile],
    { cwd: inst.dir, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1', PATH: `${path.dirname(NODE)}:${process.env.PATH}` } },
  );
}

async function once(inst, make) {
  const { path: p, init } = make();
  const t0 = performance.now();
  const res = await fetch(inst.url + p, init);
  await res.arrayBuffer();
  return { ms: performance.now() - t0, status: res.status };
}

const keapCalls = (state) => ({
  contacts_put: state.counts.contacts_put ?? 0,
  tags_post: state.counts.tags_post ?? 0,
  other: Object.entries(state.counts)
    .filter(([k]) => k !== 'contacts_put' && k !== 'tags_post')
    .reduce((a, [, v]) => a + v, 0),
});

// ---------------------------------------------------------------- phases

async function measureRounds(insts, sandbox) {
  const names = WORKERS;
  const samples = []; // { round, scenario, worker, rps, p50, p99, cpuStat, cpuSched, failures, keap }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [scenario, { make, expect }] of Object.entries(SCENARIOS)) {
      // Rotate who goes first so position in the round is no bias either.
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const name of order) {
        const inst = insts[name];
        const before = keapCalls(await sandbox.state());
        const pids = inst.workerdPids();
        const c0 = inst.cpu();
        const r = RATES[scenario]
          ? await loadAtRate({ url: inst.url, make, count: REQUESTS, rate: RATES[scenario], expect: expect[name] })
          : await load({ url: inst.url, make, count: REQUESTS, concurrency: CONCURRENCY, expect: expect[name] });
        const c1 = inst.cpu();
        const after = keapCalls(await sandbox.state());
        samples.push({
          round,
          scenario,
          worker: name,
          workerd_pids: pids.length,
          rps: (REQUESTS / r.wallMs) * 1000,
          p50_ms: quantile(r.latencies, 0.5),
          p99_ms: quantile(r.latencies, 0.99),
          cpu_ms_per_req: (c1.stat - c0.stat) / 1e6 / REQUESTS,
          cpu_sched_ms_per_req: (c1.sched - c0.sched) / 1e6 / REQUESTS,
          statuses: r.statuses,
          failures: r.failures,
          keap_per_req: {
            contacts_put: (after.contacts_put - before.contacts_put) / REQUESTS,
            tags_post: (after.tags_post - before.tags_post) / REQUESTS,
            other: (after.other - before.other) / REQUESTS,
          },
        });
        const s = samples.at(-1);
        log(`round ${round + 1}/${ROUNDS} ${scenario.padEnd(10)} ${name.padEnd(8)} ${s.rps.toFixed(0)} req/s p50 ${s.p50_ms.toFixed(1)} ms cpu ${s.cpu_sched_ms_per_req.toFixed(2)} ms/req${r.failures ? ` FAILURES ${r.failures} ${JSON.stringify(r.statuses)}` : ''}`);
      }
    }
  }
  return samples;
}

async function measureCold(insts) {
  const out = [];
  for (let k = 0; k < COLD; k++) {
    for (const name of WORKERS) {
      const inst = insts[name];
      await inst.stop();
      await inst.start();
      const cpuReady = inst.cpu();
      const first = await once(inst, submission);
      const cpuFirst = inst.cpu();
      const second = await once(inst, submission);
      out.push({
        sample: k,
        worker: name,
        ready_ms: inst.readyMs,
        first_ms: first.ms,
        first_status: first.status,
        second_ms: second.ms,
        cpu_start_ms: cpuReady.sched / 1e6,
        cpu_first_ms: (cpuFirst.sched - cpuReady.sched) / 1e6,
      });
      const s = out.at(-1);
      log(`cold ${k + 1}/${COLD} ${name.padEnd(8)} ready ${s.ready_ms.toFixed(0)} ms, first request ${s.first_ms.toFixed(1)} ms (${s.first_status}), second ${s.second_ms.toFixed(1)} ms, workerd cpu start ${s.cpu_start_ms.toFixed(0)} ms + first ${s.cpu_first_ms.toFixed(1)} ms`);
    }
  }
  return out;
}

async function countKv(insts, sandbox) {
  const out = {};
  for (const [name, main] of [
    ['ours', MAIN_FILE],
    ['baseline', 'worker.js'],
  ]) {
    const inst = insts[name];
    await inst.stop();
    countingTwin(inst, main);
    await inst.start();
    await once(inst, submission); // warm: start-up reads are not the path's
    const k0 = await (await fetch(`${inst.url}/__bench/kv`)).json();
    const s0 = keapCalls(await sandbox.state());
    const n = 5;
    const statuses = [];
    for (let i = 0; i < n; i++) statuses.push((await once(inst, submission)).status);
    const k1 = await (await fetch(`${inst.url}/__bench/kv`)).json();
    const s1 = keapCalls(await sandbox.state());
    await inst.stop();
    out[name] = {
      submissions: n,
      statuses,
      kv_reads: (k1.get + k1.getWithMetadata + k1.list - k0.get - k0.getWithMetadata - k0.list) / n,
      kv_writes: (k1.put + k1.delete - k0.put - k0.delete) / n,
      keap_calls: (s1.contacts_put + s1.tags_post + s1.other - s0.contacts_put - s0.tags_post - s0.other) / n,
    };
    log(`counted ${name}: ${JSON.stringify(out[name])}`);
  }
  return out;
}

// --------------------------------------------------------------- summary

function summarize(samples, cold) {
  const by = (scenario, worker, key) => samples.filter((s) => s.scenario === scenario && s.worker === worker).map((s) => s[key]);
  const perRound = (scenario, key, f) =>
    [...new Set(samples.map((s) => s.round))].map((round) => {
      const v = (w) => samples.find((s) => s.round === round && s.scenario === scenario && s.worker === w)[key];
      return f(v);
    });
  const scenarios = {};
  for (const scenario of Object.keys(SCENARIOS)) {
    const row = {};
    for (const worker of WORKERS) {
      row[worker] = {
        rps: median(by(scenario, worker, 'rps')),
        p50_ms: median(by(scenario, worker, 'p50_ms')),
        p99_ms: median(by(scenario, worker, 'p99_ms')),
        cpu_ms: median(by(scenario, worker, 'cpu_sched_ms_per_req')),
        cpu_stat_ms: median(by(scenario, worker, 'cpu_ms_per_req')),
        failures: by(scenario, worker, 'failures').reduce((a, b) => a + b, 0),
        keap_per_req: samples.find((s) => s.scenario === scenario && s.worker === worker).keap_per_req,
      };
    }
    for (const key of ['cpu_ms', 'p50_ms', 'p99_ms']) {
      const src = key === 'cpu_ms' ? 'cpu_sched_ms_per_req' : key;
      for (const w of WORKERS.filter((w) => w !== 'floor')) {
        row[w][`${key}_above_floor`] = median(perRound(scenario, src, (v) => v(w) - v('floor')));
      }
      for (const w of WORKERS.filter((w) => w !== 'floor' && w !== 'baseline')) {
        const name = w === 'ours' ? '' : `${w}_`;
        row[`${name}${key}_ratio_above_floor`] = median(
          perRound(scenario, src, (v) => (v(w) - v('floor')) / (v('baseline') - v('floor'))),
        );
        row[`${name}${key}_ratio`] = median(perRound(scenario, src, (v) => v(w) / v('baseline')));
      }
    }
    // Paired per round: each round's difference, so drift between rounds
    // cancels; the quartiles show whether a difference is resolved.
    for (const w of WORKERS.filter((w) => w !== 'floor' && w !== 'baseline')) {
      const diffs = perRound(scenario, 'cpu_sched_ms_per_req', (v) => v(w) - v('baseline')).sort((a, b) => a - b);
      row[w].cpu_ms_minus_baseline = { median: median(diffs), q1: quantile(diffs, 0.25), q3: quantile(diffs, 0.75) };
    }
    scenarios[scenario] = row;
  }
  const coldBy = (worker, key) => median(cold.filter((c) => c.worker === worker).map((c) => c[key]));
  const coldRows = {};
  for (const worker of WORKERS) {
    coldRows[worker] = Object.fromEntries(['ready_ms', 'first_ms', 'second_ms', 'cpu_start_ms', 'cpu_first_ms'].map((k) => [k, coldBy(worker, k)]));
  }
  return { scenarios, cold: coldRows };
}

/** What docs/CONTRACT.md (3.7) says a delivered submission costs ours. */
const EXPECTED_PER_SUBMISSION = { kv_reads: 1, kv_writes: 0, keap_calls: 2 };
const EXPECTED_WORDS = '1 KV read, 0 KV writes and 2 Keap calls per delivered submission';

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;

function table(result) {
  const { sizes: sz, summary, counts } = result;
  const lines = [];
  lines.push('| file | raw | gzip -9 |', '|---|---:|---:|');
  lines.push(`| wasm | ${kb(sz.wasm.raw)} (code ${kb(sz.wasm.code)}, data ${kb(sz.wasm.data)}) | ${kb(sz.wasm.gzip)} |`);
  lines.push(`| JavaScript (entry module, glue) | ${kb(sz.js.raw)} | ${kb(sz.js.gzip)} |`);
  if (sz.variant_wasm) {
    lines.push(`| variant wasm | ${kb(sz.variant_wasm.raw)} | ${kb(sz.variant_wasm.gzip)} |`);
    lines.push(`| variant JavaScript | ${kb(sz.variant_js.raw)} | ${kb(sz.variant_js.gzip)} |`);
  }
  lines.push('');
  lines.push(`First request after start (median of ${COLD} restart${COLD === 1 ? '' : 's'} per worker; the first request is a delivered submission):`, '');
  lines.push('| worker | wrangler start → ready | workerd CPU to ready | first request | its workerd CPU | second request |', '|---|---:|---:|---:|---:|---:|');
  for (const [w, c] of Object.entries(summary.cold)) {
    lines.push(`| ${w} | ${f1(c.ready_ms)} ms | ${f1(c.cpu_start_ms)} ms | ${f1(c.first_ms)} ms | ${f1(c.cpu_first_ms)} ms | ${f1(c.second_ms)} ms |`);
  }
  for (const [scenario, row] of Object.entries(summary.scenarios)) {
    lines.push('');
    lines.push(`${scenario === 'preflight' ? 'Preflight (OPTIONS)' : 'Delivered submission (JSON POST → KV read, PUT contact, POST tags)'}, ${howLoaded(scenario)}, median of ${ROUNDS} rounds × ${REQUESTS} requests:`, '');
    lines.push('| worker | req/s | p50 | p99 | workerd CPU/req | CPU above floor | p50 above floor |', '|---|---:|---:|---:|---:|---:|---:|');
    for (const w of WORKERS) {
      const r = row[w];
      lines.push(`| ${w} | ${r.rps.toFixed(0)} | ${f1(r.p50_ms)} ms | ${f1(r.p99_ms)} ms | ${f2(r.cpu_ms)} ms | ${w === 'floor' ? '' : `${f2(r.cpu_ms_above_floor)} ms`} | ${w === 'floor' ? '' : `${f1(r.p50_ms_above_floor)} ms`} |`);
    }
    lines.push(`| ours ÷ baseline | | ${f2(row.p50_ms_ratio)} | ${f2(row.p99_ms_ratio)} | ${f2(row.cpu_ms_ratio)} | ${f2(row.cpu_ms_ratio_above_floor)} | ${f2(row.p50_ms_ratio_above_floor)} |`);
    if (VARIANT) {
      lines.push(`| variant ÷ baseline | | ${f2(row.variant_p50_ms_ratio)} | ${f2(row.variant_p99_ms_ratio)} | ${f2(row.variant_cpu_ms_ratio)} | ${f2(row.variant_cpu_ms_ratio_above_floor)} | ${f2(row.variant_p50_ms_ratio_above_floor)} |`);
    }
    lines.push('');
    for (const w of WORKERS.filter((w) => row[w].cpu_ms_minus_baseline)) {
      const d = row[w].cpu_ms_minus_baseline;
      lines.push(`${w} − baseline, workerd CPU per request, paired by round: median ${f2(d.median)} ms (middle half ${f2(d.q1)} to ${f2(d.q3)} ms).`);
    }
  }
  if (counts) {
    lines.push('', 'Per delivered submission (Keap calls counted by the sandbox, KV operations by a counting wrapper around `STORE`):', '');
    lines.push('| worker | Keap calls | KV reads | KV writes |', '|---|---:|---:|---:|');
    for (const [w, c] of Object.entries(counts)) lines.push(`| ${w} | ${c.keap_calls} | ${c.kv_reads} | ${c.kv_writes} |`);
    const o = counts.ours;
    const off = Object.entries(EXPECTED_PER_SUBMISSION).filter(([k, v]) => o?.[k] !== v);
    lines.push(
      '',
      off.length
        ? `OURS DIFFERS from the contract's ${EXPECTED_WORDS}: ${off.map(([k]) => `${k} ${o?.[k]}`).join(', ')}.`
        : `Ours makes the contract's ${EXPECTED_WORDS}.`,
    );
  }
  return lines.join('\n');
}

/**
 * Starts the sandbox and the workers named in `only` (default all), the
 * baseline's KV seeded with a plain token and ours connected by the real
 * OAuth flow. Also used by bench/profile.mjs.
 */
let pinning = 'not pinned';

export async function benchSetup({ only = WORKERS } = {}) {
  build();
  pinning = pinProcesses();
  fs.mkdirSync(runDir, { recursive: true });
  const sandbox = await startSandbox({ name: 'bench-sandbox' });
  const doh = await startDoh();
  const all = makeInstances(sandbox, doh);
  const insts = Object.fromEntries(only.map((n) => [n, all[n]]));
  if (insts.baseline) seedBaseline(insts.baseline, await baselineToken(sandbox));
  await Promise.all(Object.values(insts).map((i) => i.start()));
  for (const name of ['ours', 'variant'].filter((n) => insts[n])) {
    log(`connecting ${name} to the sandbox (OAuth)`);
    const view = harnessView(insts[name], secretsOurs.ADMIN_TOKEN);
    const { res } = await connect(view);
    const status = JSON.parse((await view.admin('/admin/status')).text);
    if (!status.connected) throw new Error(`${name} did not connect (callback ${res.status})`);
  }
  return { sandbox, insts, submission, preflight };
}

// ------------------------------------------------------------------- main

async function main() {
  const t0 = Date.now();
  const load1 = os.loadavg();
  const sz = sizes();
  log(`wasm ${kb(sz.wasm.raw)} (${kb(sz.wasm.gzip)} gzipped), JavaScript ${kb(sz.js.raw)} (${kb(sz.js.gzip)} gzipped)`);

  const { sandbox, insts } = await benchSetup();

  log('warming up');
  for (const inst of Object.values(insts)) {
    for (const { make } of Object.values(SCENARIOS)) await load({ url: inst.url, make, count: 40, concurrency: CONCURRENCY });
  }
  for (const [name, inst] of Object.entries(insts)) {
    const r = await once(inst, submission);
    if (r.status !== 200) throw new Error(`${name}: a submission answered ${r.status}`);
  }

  const samples = await measureRounds(insts, sandbox);
  const cold = await measureCold(insts);
  const counts = await countKv(insts, sandbox);
  await Promise.all(Object.values(insts).map((i) => i.stop()));
  await stopAll();

  const result = {
    at: new Date().toISOString(),
    settings: { rounds: ROUNDS, requests: REQUESTS, concurrency: CONCURRENCY, rates: RATES, cold_samples: COLD },
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, pinning, loadavg_start: load1, loadavg_end: os.loadavg() },
    duration_s: (Date.now() - t0) / 1000,
    sizes: sz,
    summary: summarize(samples, cold),
    counts,
    samples,
    cold,
  };
  fs.mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, `bench-${result.at.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(result, null, 2));
  fs.writeFileSync(path.join(RESULTS, 'latest.json'), JSON.stringify(result, null, 2));
  console.log(table(result));
  console.log(`\nload average ${load1.map((x) => x.toFixed(2)).join(' ')} at start, ${result.machine.loadavg_end.map((x) => x.toFixed(2)).join(' ')} at end; ${pinning}; ${result.duration_s.toFixed(0)} s; ${path.relative(ROOT, file)}`);
  fs.rmSync(runDir, { recursive: true, force: true });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch(async (e) => {
    console.error(e);
    await stopAll();
    process.exit(1);
  });
}
