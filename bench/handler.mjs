// The handler benchmark: each worker's own CPU per call, inside workerd.
//
//   make bench-handler        (or: node bench/handler.mjs, after a build)
//
// In the end-to-end benchmark (run.mjs), workerd spends 3 to 5 ms of CPU
// per request on its own, and that moves by more between rounds than the
// handlers' difference. Here one `wrangler dev --local` instance runs
// handler/worker.js, which calls ours's (build/, or BENCH_BUILD), another
// build's (BENCH_VARIANT, a folder with index.js and index_bg.wasm, when
// set) and the baseline's fetch handlers HANDLER_CALLS (50) times per request, with KV
// and Keap answered in memory, and `none`, which only builds the requests.
// Rounds interleave ours, baseline and none; each measures workerd's CPU
// (every thread's run time, /proc/<pid>/task/*/schedstat) over
// HANDLER_REQUESTS (10) requests. Printed per call: each worker's CPU, that
// minus `none` (the handler's own), and ours − baseline paired by round
// with its middle half. Results go to results/handler-<time>.json.
//
// What it leaves out: the real fetch and KV (their cost depends on how a
// body is read, which both workers do alike: one request body, one KV
// value and two answers each) and workerd's per-request work.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { DEFAULT_FORMS, ROOT, SITE_ORIGIN } from '../tests/support/harness.mjs';
import { copyBuilds, instance, pinProcesses, requireBuilds } from './launch.mjs';
import { median, quantile } from './load.mjs';

const ROUNDS = Number(process.env.HANDLER_ROUNDS ?? 30);
const REQUESTS = Number(process.env.HANDLER_REQUESTS ?? 10);
const CALLS = Number(process.env.HANDLER_CALLS ?? 50);
const SCENARIOS = (process.env.HANDLER_SCENARIOS ?? 'submission,preflight').split(',');
const BENCH = path.join(ROOT, 'bench');
const BUILD = path.resolve(process.env.BENCH_BUILD ?? path.join(ROOT, 'build'));
const VARIANT = process.env.BENCH_VARIANT ? path.resolve(process.env.BENCH_VARIANT) : null;
const WORKERS = ['ours', ...(VARIANT ? ['variant'] : []), 'baseline', 'none'];

const us = (x) => x.toFixed(1);

async function main() {
  requireBuilds(BUILD, VARIANT ?? BUILD);
  const pinning = pinProcesses();
  const dir = path.join(BENCH, 'results', `handler-run-${process.pid}`);
  fs.rmSync(dir, { recursive: true, force: true });
  copyBuilds(dir, BUILD, VARIANT);
  const inst = instance({
    name: 'handler',
    dir,
    files: {
      'worker.js': path.join(BENCH, 'handler/worker.js'),
      'stubs.js': path.join(BENCH, 'handler/stubs.js'),
      'baseline.js': path.join(BENCH, 'baseline/worker.js'),
    },
    main: 'worker.js',
    vars: { FORMS: DEFAULT_FORMS, ALLOWED_ORIGINS: SITE_ORIGIN },
    kv: false,
  });
  await inst.start();
  try {
    const call = async (worker, scenario) => {
      const res = await fetch(`${inst.url}/?worker=${worker}&scenario=${scenario}&calls=${CALLS}`);
      const text = await res.text();
      if (res.status !== 200) throw new Error(`${worker} ${scenario}: ${text}`);
    };
    // Warm-up: compiles and tiers up what each path runs.
    for (const scenario of SCENARIOS) for (const w of WORKERS) for (let i = 0; i < 10; i++) await call(w, scenario);

    const results = {};
    for (const scenario of SCENARIOS) {
      const perCall = Object.fromEntries(WORKERS.map((w) => [w, []]));
      for (let round = 0; round < ROUNDS; round++) {
        // The order rotates each round, so no worker always runs first.
        const order = WORKERS.map((_, i) => WORKERS[(i + round) % WORKERS.length]);
        for (const w of order) {
          const before = inst.cpu().sched;
          for (let i = 0; i < REQUESTS; i++) await call(w, scenario);
          perCall[w].push((inst.cpu().sched - before) / 1e3 / (REQUESTS * CALLS));
        }
      }
      const own = (w) => perCall[w].map((x, i) => x - perCall.none[i]);
      const paired = (a, b) => {
        const d = perCall[a].map((x, i) => x - perCall[b][i]).sort((x, y) => x - y);
        return { median: median(d), q1: quantile(d, 0.25), q3: quantile(d, 0.75) };
      };
      results[scenario] = {
        cpu_us_per_call: Object.fromEntries(WORKERS.map((w) => [w, median(perCall[w])])),
        handler_us_per_call: Object.fromEntries(WORKERS.filter((w) => w !== 'none').map((w) => [w, median(own(w))])),
        ours_minus_baseline_us: paired('ours', 'baseline'),
        ...(VARIANT && { variant_minus_ours_us: paired('variant', 'ours') }),
        rounds: perCall,
      };
    }

    const lines = [
      `Handler CPU in workerd per call, µs (${ROUNDS} rounds × ${REQUESTS} requests × ${CALLS} calls; KV and Keap in memory; ${pinning}):`,
      '',
      '| scenario | ours | baseline | none | ours − none | baseline − none | ours − baseline, paired (middle half) |',
      '|---|---:|---:|---:|---:|---:|---:|',
    ];
    for (const [scenario, r] of Object.entries(results)) {
      const c = r.cpu_us_per_call;
      const d = r.ours_minus_baseline_us;
      lines.push(
        `| ${scenario} | ${us(c.ours)} | ${us(c.baseline)} | ${us(c.none)} | ${us(r.handler_us_per_call.ours)} | ${us(r.handler_us_per_call.baseline)} | ${us(d.median)} (${us(d.q1)} to ${us(d.q3)}) |`,
      );
    }
    if (VARIANT) {
      lines.push('', `variant (${path.relative(ROOT, VARIANT) || VARIANT}) − ours, paired by round:`);
      for (const [scenario, r] of Object.entries(results)) {
        const d = r.variant_minus_ours_us;
        lines.push(`- ${scenario}: ${us(d.median)} µs per call (middle half ${us(d.q1)} to ${us(d.q3)}); variant − none ${us(r.handler_us_per_call.variant)} µs`);
      }
    }
    console.log(lines.join('\n'));
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const out = path.join(BENCH, 'results', `handler-${stamp}.json`);
    fs.writeFileSync(
      out,
      JSON.stringify({ when: new Date().toISOString(), build: BUILD, variant: VARIANT, host: { cpus: os.cpus().length, pinning }, rounds: ROUNDS, requests: REQUESTS, calls: CALLS, results }, null, 2),
    );
    console.log(`\nwritten: ${path.relative(ROOT, out)}`);
  } finally {
    await inst.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
