// Two delivery figures of `make bench` (issue 26), in workerd against the
// Keap sandbox:
//
// 1. a passing failure's time to Keap: Keap answers one 503 to a post;
//    the time from the visitor's answer (202) until the contact is in the
//    sandbox, without and with the delivery queue;
// 2. a 120-lead backlog's time to drain after reconnecting: 120 leads
//    held while re-authorization was needed, then the owner connects.
//    With the queue: the time until all are in the sandbox. Without it:
//    how many the connecting invocation delivers, and how many hourly
//    Cron runs the rest need (their runs are triggered back to back here;
//    in production each is an hour apart).
//
// Settings: BENCH_DELIVERY_ROUNDS (5), BENCH_BACKLOG (120). Writes
// bench/results/deliveries-<time>.json and deliveries-latest.json.

import fs from 'node:fs';
import path from 'node:path';

import { ROOT, connect, sleep, startSandbox, startWorker, stopAll, submit } from '../tests/support/harness.mjs';

const ROUNDS = Number(process.env.BENCH_DELIVERY_ROUNDS ?? 5);
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 120);
const RESULTS = path.join(ROOT, 'bench/results');

const has = (state, email) => state.contacts.some((c) => c.email_addresses.some((e) => e.email === email));

async function until(check, limitMs) {
  const start = Date.now();
  while (Date.now() - start < limitMs) {
    if (await check()) return Date.now() - start;
    await sleep(50);
  }
  return null;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : null;
};

async function passingFailure(queue) {
  const sandbox = await startSandbox({ name: `bench-blip-${queue ? 'queue' : 'plain'}-sandbox` });
  const worker = await startWorker({ sandbox, name: `bench-blip-${queue ? 'queue' : 'plain'}`, queue: queue || undefined });
  await connect(worker);
  const times = [];
  for (let i = 0; i < ROUNDS; i += 1) {
    const email = `blip-${i}@example.com`;
    await sandbox.faults({ route: 'contacts_put', status: 503, count: 1 });
    const res = await submit(worker, 'contact', { email, message: 'Hello' });
    if (res.status !== 202) throw new Error(`expected 202, got ${res.status}: ${res.text}`);
    const took = await until(async () => has(await sandbox.state(), email), 60_000);
    if (took === null) throw new Error(`${email} not in Keap within 60 s`);
    times.push(took);
  }
  await worker.stop();
  await sandbox.stop();
  return { median_ms: median(times), max_ms: Math.max(...times), samples_ms: times };
}

async function backlog(queue) {
  const sandbox = await startSandbox({ name: `bench-backlog-${queue ? 'queue' : 'plain'}-sandbox` });
  await sandbox.config({ expires_in: 3 * 3600 });
  const worker = await startWorker({ sandbox, name: `bench-backlog-${queue ? 'queue' : 'plain'}`, queue: queue || undefined });
  await connect(worker);
  await sandbox.revokeRefreshTokens();
  await sandbox.expireAccessTokens();
  await worker.scheduled();
  const emails = Array.from({ length: BACKLOG }, (_, i) => `held-${i}@example.com`);
  for (const email of emails) await submit(worker, 'contact', { email, message: 'Waited' });
  const started = Date.now();
  await connect(worker);
  const all = async () => {
    const state = await sandbox.state();
    return emails.every((e) => has(state, e));
  };
  let result;
  if (queue) {
    const took = await until(all, 600_000);
    result = { all_in_keap_ms: took };
  } else {
    // What the connecting invocation delivered, then Cron runs back to back.
    await sleep(2000);
    const state = await sandbox.state();
    const byConnecting = emails.filter((e) => has(state, e)).length;
    let runs = 0;
    while (!(await all()) && runs < 50) {
      await worker.scheduled();
      runs += 1;
    }
    result = { delivered_by_connecting: byConnecting, cron_runs_for_the_rest: runs, at_hourly_runs_h: runs };
  }
  await worker.stop();
  await sandbox.stop();
  return result;
}

async function main() {
  const result = {
    at: new Date().toISOString(),
    rounds: ROUNDS,
    backlog: BACKLOG,
    passing_failure: { without_queue: await passingFailure(false), with_queue: await passingFailure(true) },
    backlog_after_reconnecting: { with_queue: await backlog(true), without_queue: await backlog(false) },
  };
  fs.mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, `deliveries-${result.at.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(result, null, 2));
  fs.writeFileSync(path.join(RESULTS, 'deliveries-latest.json'), JSON.stringify(result, null, 2));
  const pf = result.passing_failure;
  const bl = result.backlog_after_reconnecting;
  console.log(`
Deliveries (${ROUNDS} rounds; ${BACKLOG}-lead backlog)
  one 503, time from the answer to Keap    without queue: median ${pf.without_queue.median_ms} ms (max ${pf.without_queue.max_ms})
                                           with queue:    median ${pf.with_queue.median_ms} ms (max ${pf.with_queue.max_ms})
  ${BACKLOG} held leads after reconnecting      with queue:    all in Keap in ${bl.with_queue.all_in_keap_ms} ms
                                           without queue: ${bl.without_queue.delivered_by_connecting} by the connection, the rest in ${bl.without_queue.cron_runs_for_the_rest} hourly Cron run(s) (about ${bl.without_queue.at_hourly_runs_h} h)
  ${path.relative(ROOT, file)}`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(stopAll);
