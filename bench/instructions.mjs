// The instruction benchmark: how many CPU instructions each worker's fetch
// handler costs per call inside workerd, counted by valgrind (callgrind),
// so that a change of 1% is measurable where CPU time moves by ±10%
// between rounds.
//
//   make bench-instructions        (or: node bench/instructions.mjs, after a build)
//
// workerd itself (the binary wrangler runs) serves the handler benchmark's
// worker (handler/worker.js: ours's, the baseline's and `none`'s fetch
// handlers called many times per request, KV and Keap in memory), from a
// config written here, without wrangler, under valgrind. Each worker and
// scenario runs twice, with the same warm-up (INSTR_WARM requests of 50
// calls) and then INSTR_REPS requests of INSTR_C1, then INSTR_C2, calls:
// the difference between the two runs' totals, divided by the extra calls,
// is one call, free of start-up, compilation of the warm-up and the
// requests' own cost. `none` only builds each request; minus it, what is
// left is the handler's own. Everything workerd does for a call counts:
// its JavaScript and wasm, the runtime's C++ behind each API call, the
// garbage collector and the compiler tiering code up (V8's --predictable
// runs these on the one thread, so they land in the count).
//
// Compiling is a one-time cost that lands wherever a function first gets
// hot: ours's JavaScript glue reaches V8's optimising tier only after some
// 7,500 calls, so a window there counted 109k instructions of compiling
// per call. Each figure is therefore also given without V8's compilers
// (functions in v8::internal::compiler, maglev, baseline, interpreter and
// the wasm compilers, summed from callgrind's profile): the cost of a
// call once the code is compiled, which no warm-up length moves.
//
// Which wasm functions have reached TurboFan by the window still moves
// the figures: two builds differing by a few thousand instructions can
// swap places between runs. To compare builds, INSTR_V8_FLAGS=--no-liftoff
// compiles all of the wasm with TurboFan up front (slow to start, and not
// how workerd runs it), which leaves only the steady cost of a call: runs
// of one build then agree to about 1k per submission.
//
// Env: BENCH_BUILD (ours, default build/), BENCH_VARIANT (another build),
// INSTR_SCENARIOS (submission,preflight), INSTR_WARM (30), INSTR_REPS
// (10), INSTR_C1 (10), INSTR_C2 (110), INSTR_V8_FLAGS (more V8 flags,
// space-separated).

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import workerdPackage from 'workerd';

import { DEFAULT_FORMS, ROOT, SITE_ORIGIN, freePort, sleep } from '../tests/support/harness.mjs';
import { compatibilityDate, copyBuilds, requireBuilds } from './launch.mjs';

const BENCH = path.join(ROOT, 'bench');
const WORKERD = workerdPackage.default ?? workerdPackage;
const BUILD = path.resolve(process.env.BENCH_BUILD ?? path.join(ROOT, 'build'));
const VARIANT = process.env.BENCH_VARIANT ? path.resolve(process.env.BENCH_VARIANT) : null;
const SCENARIOS = (process.env.INSTR_SCENARIOS ?? 'submission,preflight').split(',');
const WARM = Number(process.env.INSTR_WARM ?? 30);
const REPS = Number(process.env.INSTR_REPS ?? 10);
const C1 = Number(process.env.INSTR_C1 ?? 10);
const C2 = Number(process.env.INSTR_C2 ?? 110);
const WORKERS = ['ours', ...(VARIANT ? ['variant'] : []), 'baseline', 'none'];
// The same V8 work from one run to the next: compilation and GC on the
// main thread, fixed seeds for hashing and Math.random.
const V8_FLAGS = [
  '--predictable',
  '--random-seed=1',
  '--hash-seed=1',
  ...(process.env.INSTR_V8_FLAGS ?? '').split(' ').filter(Boolean),
];

/** A workerd config serving handler/worker.js with both builds of ours. */
function prepare(dir, port) {
  copyBuilds(dir, BUILD, VARIANT);
  fs.copyFileSync(path.join(BENCH, 'handler/worker.js'), path.join(dir, 'worker.js'));
  fs.copyFileSync(path.join(BENCH, 'handler/stubs.js'), path.join(dir, 'stubs.js'));
  fs.copyFileSync(path.join(BENCH, 'baseline/worker.js'), path.join(dir, 'baseline.js'));
  const js = ['worker.js', 'stubs.js', 'baseline.js', 'ours/index.js', 'variant/index.js'];
  const wasm = ['ours/index_bg.wasm', 'variant/index_bg.wasm'];
  const modules = [
    ...js.map((m) => `(name = "${m}", esModule = embed "${m}")`),
    ...wasm.map((m) => `(name = "${m}", wasm = embed "${m}")`),
  ];
  const text = (s) => JSON.stringify(s);
  fs.writeFileSync(
    path.join(dir, 'config.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .bench) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
  v8Flags = [ ${V8_FLAGS.map(text).join(', ')} ],
);
const bench :Workerd.Worker = (
  modules = [ ${modules.join(',\n    ')} ],
  compatibilityDate = ${text(compatibilityDate())},
  bindings = [
    (name = "FORMS", json = ${text(JSON.stringify(DEFAULT_FORMS))}),
    (name = "ALLOWED_ORIGINS", text = ${text(SITE_ORIGIN)}),
  ],
);
`,
  );
}

/** A function of V8's compilers (bytecode, Sparkplug, Maglev, TurboFan,
 *  Turboshaft, Liftoff, the wasm decoders), by its demangled name. */
const COMPILING =
  /^v8::internal::(compiler::|maglev::|baseline::|interpreter::|Compiler::|wasm::(Liftoff|WasmFullDecoder|WasmDecoder|TurboshaftGraph|WasmGraphBuilder|CompilationState|.*[Cc]ompil))/;

/** The instructions spent in V8's compilers, from a callgrind profile. */
function compiling(profile) {
  const report = execFileSync('callgrind_annotate', ['--threshold=100', profile], { maxBuffer: 1 << 30 }).toString();
  let sum = 0;
  for (const line of report.split('\n')) {
    const row = /^\s*([\d,]+) \([ \d.]+%\)\s+(?:\S*?:(?=[^:]))?(.*)$/.exec(line);
    if (row && COMPILING.test(row[2])) sum += Number(row[1].replaceAll(',', ''));
  }
  return sum;
}

/** Instructions of one workerd run (all, and in V8's compilers): warm-up,
 *  then REPS requests of `calls` calls of `worker` in `scenario`. */
async function instructions(worker, scenario, calls) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfw-instr-'));
  try {
    prepare(dir, port);
    const log = path.join(dir, 'valgrind.log');
    const profile = path.join(dir, 'callgrind.out');
    const args = ['--tool=callgrind', `--callgrind-out-file=${profile}`, `--log-file=${log}`, WORKERD, 'serve', 'config.capnp'];
    const child = spawn('valgrind', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const url = (w, n) => `http://127.0.0.1:${port}/?worker=${w}&scenario=${scenario}&calls=${n}`;
    const get = async (u) => {
      const res = await fetch(u);
      const body = await res.text();
      if (res.status !== 200) throw new Error(`${u}: ${res.status} ${body}`);
    };
    try {
      // Up once it answers (a refused connection never reaches the worker).
      for (let tries = 0; ; tries++) {
        try {
          await get(url('none', 1));
          break;
        } catch (error) {
          if (tries > 600 || child.exitCode !== null) throw new Error(`workerd did not start: ${error.message}\n${stderr.slice(-2000)}`);
          await sleep(250);
        }
      }
      for (let i = 0; i < WARM; i++) await get(url(worker, 50));
      for (let i = 0; i < REPS; i++) await get(url(worker, calls));
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    const refs = /I\s+refs:\s+([\d,]+)/.exec(fs.readFileSync(log, 'utf8'));
    if (!refs) throw new Error(`valgrind gave no count for ${worker} ${scenario}:\n${fs.readFileSync(log, 'utf8').slice(-2000)}`);
    return { all: Number(refs[1].replaceAll(',', '')), compiling: compiling(profile) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
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
  requireBuilds(BUILD, ...(VARIANT ? [VARIANT] : []));
  const cells = SCENARIOS.flatMap((scenario) => WORKERS.map((worker) => ({ scenario, worker })));
  const counts = await pool(cells.flatMap((c) => [C1, C2].map((n) => () => instructions(c.worker, c.scenario, n))));
  const slope = (low, high) => Math.round((high - low) / (REPS * (C2 - C1)));
  const perCall = {};
  const compiledPerCall = {};
  cells.forEach((c, i) => {
    const [low, high] = counts.slice(2 * i, 2 * i + 2);
    (perCall[c.scenario] ??= {})[c.worker] = slope(low.all, high.all);
    (compiledPerCall[c.scenario] ??= {})[c.worker] = slope(low.all - low.compiling, high.all - high.compiling);
  });
  const ownOf = (table) =>
    Object.fromEntries(
      Object.entries(table).map(([s, r]) => [s, Object.fromEntries(WORKERS.filter((w) => w !== 'none').map((w) => [w, r[w] - r.none]))]),
    );
  const own = ownOf(perCall);
  const compiledOwn = ownOf(compiledPerCall);

  const k = (n) => `${(n / 1000).toFixed(1)}k`;
  const table = (title, rows, owns) => {
    const lines = [
      title,
      '',
      `| scenario | ours |${VARIANT ? ' variant |' : ''} baseline | none | ours own |${VARIANT ? ' variant own | variant − ours |' : ''} baseline own | ours − baseline | ours ÷ baseline (own) |`,
      `|---|---:|${VARIANT ? '---:|' : ''}---:|---:|---:|${VARIANT ? '---:|---:|' : ''}---:|---:|---:|`,
    ];
    for (const [scenario, r] of Object.entries(rows)) {
      const o = owns[scenario];
      const variant = VARIANT ? ` ${k(o.variant)} | ${k(r.variant - r.ours)} (${(((r.variant - r.ours) / o.ours) * 100).toFixed(1)}%) |` : '';
      lines.push(
        `| ${scenario} | ${k(r.ours)} |${VARIANT ? ` ${k(r.variant)} |` : ''} ${k(r.baseline)} | ${k(r.none)} | ${k(o.ours)} |${variant} ${k(o.baseline)} | ${k(r.ours - r.baseline)} | ${(o.ours / o.baseline).toFixed(2)} |`,
      );
    }
    return lines.join('\n');
  };
  const how = `slope from ${C1} to ${C2} calls per request, ${REPS} requests, after ${WARM * 50} calls to warm up; own = minus none`;
  console.log(table(`Instructions per handler call in workerd ${workerdPackage.version} under valgrind (${how}):`, perCall, own));
  console.log('');
  console.log(table("The same without V8's compilers (the cost of a call once its code is compiled):", compiledPerCall, compiledOwn));
  const out = path.join(BENCH, 'results', `instructions-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(
    out,
    JSON.stringify(
      {
        when: new Date().toISOString(),
        workerd: WORKERD,
        build: BUILD,
        variant: VARIANT,
        warm_calls: WARM * 50,
        reps: REPS,
        c1: C1,
        c2: C2,
        instructions_per_call: perCall,
        own_per_call: own,
        without_compiling_per_call: compiledPerCall,
        without_compiling_own_per_call: compiledOwn,
      },
      null,
      2,
    ),
  );
  console.log(`\nwritten: ${path.relative(ROOT, out)}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
