// A small load generator: `count` requests from `make(i)` with Node's
// fetch (keep-alive connections are reused), at most `concurrency` in flight. Returns wall time,
// latencies and the statuses seen.

/** Sends requests and records what came back: latencies, statuses and
 *  failures (a thrown fetch, or a status other than `expect`). */
function recorder({ url, make, expect }) {
  const latencies = [];
  const statuses = {};
  let failures = 0;
  const t0 = performance.now();
  return {
    async send(i) {
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
    },
    t0,
    result() {
      latencies.sort((a, b) => a - b);
      return { wallMs: performance.now() - t0, latencies, statuses, failures };
    },
  };
}

export async function load({ url, make, count, concurrency, expect }) {
  const r = recorder({ url, make, expect });
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < count; i = next++) await r.send(i);
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return r.result();
}

/**
 * The same, open loop: request i starts at `i / rate` seconds whatever the
 * answers do (a late start is sent at once). Every worker then sees the
 * same arrivals, so its CPU per request does not depend on how fast it
 * answers, as it does at a fixed concurrency when workerd has idle time.
 */
export async function loadAtRate({ url, make, count, rate, expect }) {
  const r = recorder({ url, make, expect });
  const inFlight = [];
  for (let i = 0; i < count; i++) {
    const wait = r.t0 + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(r.send(i));
  }
  await Promise.all(inFlight);
  return r.result();
}

/** The q-quantile of sorted numbers (nearest rank). */
export function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function median(xs) {
  return quantile([...xs].sort((a, b) => a - b), 0.5);
}
