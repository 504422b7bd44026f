// A small load generator: `count` requests from `make(i)` with Node's
// fetch (keep-alive connections are reused), at most `concurrency` in flight. Returns wall time,
// latencies and the statuses seen.

export async function load({ url, make, count, concurrency, expect }) {
  const latencies = [];
  const statuses = {};
  let next = 0;
  let failures = 0;
  const t0 = performance.now();
  const lane = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const { path, init } = make(i);
      const start = performance.now();
      try {
        const res = await fetch(url + path, init);
        await res.arrayBuffer();
        latencies.push(performance.now() - start);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        if (expect && res.status !== expect) failures += 1;
      } catch {
        failures += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const wallMs = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  return { wallMs, latencies, statuses, failures };
}

/**
 * The same, open loop: request i starts at `i / rate` seconds whatever the
 * answers do (a late start is sent at once). Every worker then sees the
 * same arrivals, so its CPU per request does not depend on how fast it
 * answers, as it does at a fixed concurrency when workerd has idle time.
 */
export async function loadAtRate({ url, make, count, rate, expect }) {
  const latencies = [];
  const statuses = {};
  let failures = 0;
  const t0 = performance.now();
  const one = async (i) => {
    const { path, init } = make(i);
    const start = performance.now();
    try {
      const res = await fetch(url + path, init);
      await res.arrayBuffer();
      latencies.push(performance.now() - start);
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      if (expect && res.status !== expect) failures += 1;
    } catch {
      failures += 1;
    }
  };
  const inFlight = [];
  for (let i = 0; i < count; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(one(i));
  }
  await Promise.all(inFlight);
  const wallMs = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  return { wallMs, latencies, statuses, failures };
}

/** The q-quantile of sorted numbers (nearest rank). */
export function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function median(xs) {
  return quantile([...xs].sort((a, b) => a - b), 0.5);
}
