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

/** The q-quantile of sorted numbers (nearest rank). */
export function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function median(xs) {
  return quantile([...xs].sort((a, b) => a - b), 0.5);
}
