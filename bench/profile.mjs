// Where does a worker's CPU go?
//
//   node bench/profile.mjs [ours|baseline|floor] [submission|preflight]
//
// Runs that worker under wrangler dev against the sandbox, measures its
// workerd CPU over BENCH_REQUESTS (500) requests, then records a V8 CPU
// profile through the DevTools inspector over as many more and prints the
// functions with the most samples (self), each with its share of the CPU
// measured over the profiled requests. wasm functions are named only in a
// build that keeps the names section, which wasm-opt drops:
//   OUT_DIR=target/build-names sh scripts/build.sh --no-opt
//   BENCH_BUILD=target/build-names node bench/profile.mjs ours submission
// The profile is saved in bench/results/.

import fs from 'node:fs';
import path from 'node:path';

import { ROOT, stopAll } from '../tests/support/harness.mjs';
import { load } from './load.mjs';
import { benchSetup, runDir } from './run.mjs';

const which = process.argv[2] ?? 'ours';
const scenario = process.argv[3] ?? 'submission';
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 500);

async function inspector(port) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl);
  // The inspector proxy wants a local Origin.
  const ws = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: 'http://localhost' } });
  await new Promise((r, j) => {
    ws.onopen = r;
    ws.onerror = j;
  });
  let id = 0;
  const pending = new Map();
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)(msg);
      pending.delete(msg.id);
    }
  };
  const send = (method, params = {}) =>
    new Promise((r) => {
      id += 1;
      pending.set(id, r);
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { send, close: () => ws.close() };
}

async function main() {
  const { insts, submission, preflight } = await benchSetup({ only: [which] });
  const make = scenario === 'preflight' ? preflight : submission;
  const inst = insts[which];
  await load({ url: inst.url, make, count: 100, concurrency: 8 });
  const c0 = inst.cpu();
  const plain = await load({ url: inst.url, make, count: REQUESTS, concurrency: 8 });
  const c1 = inst.cpu();
  console.log(`${which}: unprofiled, workerd CPU ${((c1.sched - c0.sched) / 1e6 / REQUESTS).toFixed(2)} ms per submission, p50 ${plain.latencies[plain.latencies.length >> 1].toFixed(1)} ms`);
  const dev = await inspector(inst.inspectorPort);
  await dev.send('Profiler.enable');
  await dev.send('Profiler.setSamplingInterval', { interval: 100 });
  await dev.send('Profiler.start');
  const p0 = inst.cpu();
  const r = await load({ url: inst.url, make, count: REQUESTS, concurrency: 8 });
  const p1 = inst.cpu();
  const { result } = await dev.send('Profiler.stop');
  dev.close();
  const profile = result.profile;
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  const file = path.join(ROOT, `bench/results/profile-${which}-${scenario}.cpuprofile`);
  fs.writeFileSync(file, JSON.stringify(profile));

  // Samples are counted, not weighted by their time deltas: workerd's
  // sampler may run far less often than asked (about every 1.7 ms on a
  // 2-core machine), and a delta then covers whatever ran in between. A
  // function's share of the busy samples, times the workerd CPU measured
  // over the same requests, estimates its cost per request.
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const self = new Map();
  let busy = 0;
  for (const node of profile.nodes) {
    const n = counts.get(node.id) ?? 0;
    const f = node.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url ? path.basename(f.url) : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + n);
    if (f.functionName !== '(idle)') busy += n;
  }
  const cpuPerReq = (p1.sched - p0.sched) / 1e6 / REQUESTS;
  const intervalMs = (profile.endTime - profile.startTime) / 1000 / profile.samples.length;
  console.log(
    `${which}: ${REQUESTS} requests, statuses ${JSON.stringify(r.statuses)}; profiled workerd CPU ${cpuPerReq.toFixed(2)} ms per request; ` +
      `${profile.samples.length} samples, one per ${intervalMs.toFixed(2)} ms on average; share of busy samples, and that share of the CPU:`,
  );
  for (const [k, n] of [...self].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, 40)) {
    const share = n / busy;
    console.log(`${(share * 100).toFixed(1).padStart(6)}%  ${(share * cpuPerReq).toFixed(3).padStart(7)} ms/req  ${k.slice(0, 140)}`);
  }
  // wrangler's bundle (what the profile's line numbers refer to) is
  // deleted when it exits: keep a copy beside the profile.
  const tmp = path.join(inst.dir, '.wrangler/tmp');
  for (const d of fs.existsSync(tmp) ? fs.readdirSync(tmp) : []) {
    if (!d.startsWith('dev-')) continue;
    const bundle = fs.readdirSync(path.join(tmp, d)).find((f) => f.endsWith('.js'));
    if (bundle) fs.copyFileSync(path.join(tmp, d, bundle), file.replace(/\.cpuprofile$/, '.bundle.js'));
  }
  await Promise.all(Object.values(insts).map((i) => i.stop()));
  await stopAll();
  fs.rmSync(runDir, { recursive: true, force: true });
}

main().catch(async (e) => {
  console.error(e);
  await stopAll();
  process.exit(1);
});
