// Counts KV operations from outside a worker: wraps `env.STORE` in an
// object with the same methods that tallies each call, and answers
// `GET /__bench/kv` with the tally. The benchmark runs ours and the
// baseline behind this wrapper only in its separate counting phase, so the
// timed runs measure the workers alone. `WORKER` is replaced by the path of
// the wrapped worker's module when the benchmark copies this file.
import Inner from 'WORKER';

const counts = { get: 0, getWithMetadata: 0, put: 0, delete: 0, list: 0 };

function countingStore(store) {
  const out = {};
  for (const op of Object.keys(counts)) {
    out[op] = (...args) => {
      counts[op] += 1;
      return store[op](...args);
    };
  }
  return out;
}

function countingEnv(env) {
  const store = env.STORE && countingStore(env.STORE);
  return new Proxy(env, { get: (target, key) => (key === 'STORE' ? store : Reflect.get(target, key)) });
}

function tally(request) {
  return new URL(request.url).pathname === '/__bench/kv'
    ? new Response(JSON.stringify(counts), { headers: { 'content-type': 'application/json' } })
    : null;
}

// ours is a WorkerEntrypoint class; the baseline a plain object.
const wrapped =
  typeof Inner === 'function'
    ? class extends Inner {
        constructor(ctx, env) {
          super(ctx, countingEnv(env));
        }
        fetch(request) {
          return tally(request) ?? super.fetch(request);
        }
      }
    : {
        fetch(request, env, ctx) {
          return tally(request) ?? Inner.fetch(request, countingEnv(env), ctx);
        },
      };

export default wrapped;
