// The instruction benchmark: how many CPU instructions each worker's fetch
// handler costs per request, counted by valgrind (callgrind), so that a
// change of 1–2% is measurable where CPU time in workerd moves by ±10%
// between rounds. It runs the handlers in Node (V8, like workerd), with
// the handler benchmark's in-memory KV and Keap (bench/handler/stubs.js);
// what Node's own Request and Response cost differs from workerd's, so it
// ranks changes to ours rather than replacing the workerd figures.
//
//   make bench-instructions        (or: node bench/instructions.mjs, after a build)
//
// Each worker and scenario runs twice under valgrind, with the same warm-up
// and INSTR_N1 then INSTR_N2 measured requests: the difference between the
// two runs' totals, divided by INSTR_N2 − INSTR_N1, is the cost of one
// request, free of start-up, compilation and warm-up.
// Env: BENCH_BUILD (ours, default build/), BENCH_VARIANT (another build),
// INSTR_SCENARIOS (submission,preflight), INSTR_WARM (1500),
// INSTR_N1 (300), INSTR_N2 (3300).

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { DEFAULT_FORMS, SITE_ORIGIN } from '../tests/support/harness.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const BUILD = path.resolve(process.env.BENCH_BUILD ?? path.join(ROOT, 'build'));
const VARIANT = process.env.BENCH_VARIANT ? path.resolve(process.env.BENCH_VARIANT) : null;
const SCENARIOS = (process.env.INSTR_SCENARIOS ?? 'submission,preflight').split(',');
const WARM = Number(process.env.INSTR_WARM ?? 1500);
const N1 = Number(process.env.INSTR_N1 ?? 300);
const N2 = Number(process.env.INSTR_N2 ?? 3300);
const WORKERS = { ours: BUILD, ...(VARIANT && { variant: VARIANT }), baseline: path.join(ROOT, 'bench/baseline/worker.js') };
const RUN = path.join(ROOT, 'bench/instructions/run.mjs');

/** Instructions of one run: `count` requests after the warm-up. */
async function instructions(target, scenario, count) {
  // --predictable and fixed seeds keep V8's own work (compilation, hashing)
  // the same from one run to the next.
  const args = ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, '--predictable', '--random-seed=1', '--hash-seed=1', RUN, target, scenario, String(WARM), String(count)];
  const env = { ...process.env, FORMS: JSON.stringify(DEFAULT_FORMS), ALLOWED_ORIGINS: SITE_ORIGIN };
  const { stderr } = await promisify(execFile)('valgrind', args, { env, maxBuffer: 64 << 20 });
  const refs = /I\s+refs:\s+([\d,]+)/.exec(stderr);
  if (!refs) throw new Error(`valgrind gave no count for ${target} ${scenario}:\n${stderr.slice(-2000)}`);
  return Number(refs[1].replaceAll(',', ''));
}

/** Runs the jobs, at most one per CPU at a time. */
async function pool(jobs) {
  const results = new Array(jobs.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(os.availableParallelism?.() ?? 1, jobs.length)) }, async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  });
  await Promise.all(lanes);
  return results;
}

async function main() {
  for (const f of ['index.js', 'index_bg.wasm']) {
    for (const folder of [BUILD, VARIANT].filter(Boolean)) {
      if (!fs.existsSync(path.join(folder, f))) throw new Error(`${folder}/${f} is missing: run sh scripts/build.sh first`);
    }
  }
  const cells = SCENARIOS.flatMap((scenario) => Object.entries(WORKERS).map(([worker, target]) => ({ scenario, worker, target })));
  const counts = await pool(cells.flatMap((c) => [N1, N2].map((n) => () => instructions(c.target, c.scenario, n))));
  const results = {};
  cells.forEach((c, i) => {
    const [low, high] = counts.slice(2 * i, 2 * i + 2);
    ((results[c.scenario] ??= {})[c.worker] = Math.round((high - low) / (N2 - N1)));
  });

  const k = (n) => `${(n / 1000).toFixed(1)}k`;
  const lines = [
    `Instructions per request in Node ${process.version} under valgrind (slope from ${N1} to ${N2} requests after ${WARM} to warm up):`,
    '',
    `| scenario | ours |${VARIANT ? ' variant | variant − ours |' : ''} baseline | ours − baseline | ours ÷ baseline |`,
    `|---|---:|${VARIANT ? '---:|---:|' : ''}---:|---:|---:|`,
  ];
  for (const [scenario, r] of Object.entries(results)) {
    const variant = VARIANT ? ` ${k(r.variant)} | ${k(r.variant - r.ours)} (${(((r.variant - r.ours) / r.ours) * 100).toFixed(1)}%) |` : '';
    lines.push(`| ${scenario} | ${k(r.ours)} |${variant} ${k(r.baseline)} | ${k(r.ours - r.baseline)} | ${(r.ours / r.baseline).toFixed(2)} |`);
  }
  console.log(lines.join('\n'));
  const out = path.join(ROOT, 'bench/results', `instructions-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ when: new Date().toISOString(), node: process.version, build: BUILD, variant: VARIANT, warm: WARM, n1: N1, n2: N2, instructions_per_request: results }, null, 2));
  console.log(`\nwritten: ${path.relative(ROOT, out)}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
