// Starts one worker under `wrangler dev --local` for the benchmark, with the
// same flags as tests/support/harness.mjs (whose startWorker always runs
// build/index.js, while the benchmark also needs the baseline and floor
// workers and the pids of workerd to read its CPU time). Each instance has
// its own folder (its files, config, log and KV) and can be restarted on
// the same KV for cold-start samples.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { NODE, WRANGLER_JS, freePort, sleep } from '../tests/support/harness.mjs';

const live = new Set();
process.on('exit', () => {
  for (const pid of live) killGroup(pid, 'SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => process.exit(130));
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // gone
  }
}

/** Every pid whose process group is `pgid`, with its command name. */
function groupMembers(pgid) {
  const out = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      if (Number(fields[2]) === pgid) out.push({ pid: Number(entry), comm });
    } catch {
      // exited while listing
    }
  }
  return out;
}

const TICK_NS = 1e7; // CLK_TCK = 100 on Linux

/**
 * CPU pinning, so that workerd's CPU time is not inflated by sharing a
 * core with the load generator, the sandbox and wrangler's node process:
 * with at least two CPUs, `pinProcesses()` keeps this process (and so
 * every child it starts later) off the last CPU, and each instance's
 * workerd threads are moved onto it once wrangler says Ready. BENCH_PIN=0
 * turns it off; it needs `taskset` (util-linux).
 */
const CPUS = os.availableParallelism?.() ?? os.cpus().length;
const PIN = process.env.BENCH_PIN !== '0' && CPUS >= 2 && hasTaskset();
const WORKERD_CPU = String(CPUS - 1);

function hasTaskset() {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function taskset(cpus, pid) {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
  } catch {
    // exited meanwhile
  }
}

/** Call before starting anything: children inherit the affinity. Returns
 *  a description of the arrangement for the results. */
export function pinProcesses() {
  if (!PIN) return 'not pinned';
  taskset(`0-${CPUS - 2}`, process.pid);
  return `workerd on CPU ${WORKERD_CPU}; load generator, sandbox and wrangler on CPU 0${CPUS > 2 ? `-${CPUS - 2}` : ''}`;
}

/**
 * CPU time so far of the given processes, in ns, two ways:
 * `stat` = utime+stime from /proc/<pid>/stat (10 ms ticks), `sched` = the
 * run time of every thread from /proc/<pid>/task/<tid>/schedstat (ns).
 */
export function cpuOf(pids) {
  let stat = 0;
  let sched = 0;
  for (const pid of pids) {
    try {
      const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      stat += (Number(f[11]) + Number(f[12])) * TICK_NS;
      for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
        try {
          sched += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
        } catch {
          // thread exited
        }
      }
    } catch {
      // process exited
    }
  }
  return { stat, sched };
}

/**
 * Prepares an instance folder: `files` ({name: sourcePath or {text}}) are
 * copied in, `main` names the entry among them. Returns a handle whose
 * `start()` runs wrangler dev on a fresh port and resolves once it says
 * Ready (no request is sent, so the first one is the caller's).
 */
export function instance({ name, dir, files, main, vars = {}, secrets = {}, kv = true }) {
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, src] of Object.entries(files)) {
    const to = path.join(dir, file);
    if (typeof src === 'string') fs.copyFileSync(src, to);
    else fs.writeFileSync(to, src.text);
  }
  const persistDir = path.join(dir, 'state');
  fs.mkdirSync(persistDir, { recursive: true });
  const config = {
    name: `bench-${name}`,
    main: `./${main}`,
    compatibility_date: compatibilityDate(),
    ...(kv ? { kv_namespaces: [{ binding: 'STORE', id: `bench-${name}` }] } : {}),
    vars,
  };
  const configFile = path.join(dir, 'wrangler.json');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  fs.writeFileSync(
    path.join(dir, '.dev.vars'),
    Object.entries(secrets)
      .map(([k, v]) => `${k}=${JSON.stringify(String(v))}`)
      .join('\n') + '\n',
    { mode: 0o600 },
  );
  const env = {
    ...process.env,
    // wrangler's local trace store writes every request and subrequest into
    // SQLite inside workerd, a cost that grows with the store and that no
    // deployed worker pays: off, for all three alike.
    X_LOCAL_OBSERVABILITY: 'false',
    WRANGLER_SEND_METRICS: 'false',
    CI: '1',
    NO_COLOR: '1',
    FORCE_COLOR: '0',
    PATH: `${path.dirname(NODE)}:${process.env.PATH}`,
  };

  const handle = {
    name,
    dir,
    persistDir,
    configFile,
    url: null,
    pid: null,
    /** The pids of workerd in this instance's process group. */
    workerdPids: () => groupMembers(handle.pid).filter((p) => p.comm.startsWith('workerd')).map((p) => p.pid),
    cpu: () => cpuOf(handle.workerdPids()),
    async start({ timeoutMs = 90000 } = {}) {
      const port = await freePort();
      const inspectorPort = await freePort();
      handle.inspectorPort = inspectorPort;
      const logFile = path.join(dir, 'wrangler.log');
      fs.writeFileSync(logFile, '');
      const logFd = fs.openSync(logFile, 'a');
      const t0 = performance.now();
      const child = spawn(
        NODE,
        [
          WRANGLER_JS,
          'dev',
          '--local',
          '--ip',
          '127.0.0.1',
          '--port',
          String(port),
          '--inspector-port',
          String(inspectorPort),
          '--show-interactive-dev-session=false',
          '-c',
          configFile,
          '--persist-to',
          persistDir,
        ],
        { cwd: dir, stdio: ['ignore', logFd, logFd], env, detached: true },
      );
      fs.closeSync(logFd);
      handle.pid = child.pid;
      handle.child = child;
      live.add(child.pid);
      handle.exited = new Promise((r) => child.once('exit', r));
      handle.url = `http://127.0.0.1:${port}`;
      handle.inspectorPort = inspectorPort;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const log = fs.readFileSync(logFile, 'utf8');
        if (/Ready on http/.test(log)) break;
        if (child.exitCode !== null) throw new Error(`${name}: wrangler exited:\n${log.slice(-2000)}`);
        if (Date.now() > deadline) throw new Error(`${name}: not ready in ${timeoutMs / 1000} s:\n${log.slice(-2000)}`);
        await sleep(25);
      }
      handle.readyMs = performance.now() - t0;
      if (PIN) for (const pid of handle.workerdPids()) taskset(WORKERD_CPU, pid);
      return handle;
    },
    async stop() {
      if (!handle.pid) return;
      const pid = handle.pid;
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), 3000);
      await handle.exited;
      clearTimeout(timer);
      killGroup(pid, 'SIGKILL');
      // Wait for workerd too, so its CPU does not bleed into the next sample.
      for (let i = 0; i < 100 && groupMembers(pid).length; i++) await sleep(20);
      live.delete(pid);
      handle.pid = null;
    },
  };
  return handle;
}

let cachedDate;
function compatibilityDate() {
  if (!cachedDate) {
    const toml = fs.readFileSync(new URL('../wrangler.toml', import.meta.url), 'utf8');
    cachedDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1] ?? '2026-11-01';
  }
  return cachedDate;
}
