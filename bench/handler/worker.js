// The handler benchmark's worker (see bench/handler.mjs): calls ours's and
// the baseline's fetch handlers many times per incoming request, inside
// workerd, with KV and the Keap API replaced by answers made in memory.
// What a request to it costs, divided by the calls, is each handler's own
// CPU (parsing, deciding, building requests and answers, crossing into
// wasm) far above the few milliseconds workerd spends per request, which
// swamp it in the end-to-end benchmark.
//
//   GET /?worker=ours|variant|baseline|none&scenario=submission|preflight&calls=50
//
// `variant` is another build of ours, for before-and-after figures.
// `none` only builds each request (and reads a post's body): the harness's
// own cost, subtracted from the others.

import ours from './ours/index.js';
// Another build of ours (BENCH_VARIANT), or a second copy of ours.
import variant from './variant/index.js';
import baseline from './baseline.js';

import { connectOne, env, keap, SCENARIOS } from './stubs.js';

/** Connects both builds of ours by their own OAuth flow, so that they
 *  read a sealed token. */
let connected = false;
async function connect() {
  await connectOne(ours);
  await connectOne(variant);
  connected = true;
}

const HANDLERS = { ours, variant, baseline, none: null };

export default {
  async fetch(request, own) {
    env.FORMS = own.FORMS;
    env.ALLOWED_ORIGINS = own.ALLOWED_ORIGINS;
    const query = new URL(request.url).searchParams;
    const scenario = SCENARIOS[query.get('scenario') ?? 'submission'];
    const name = query.get('worker') ?? 'ours';
    const calls = Number(query.get('calls') ?? 50);
    if (!scenario || !(name in HANDLERS) || !(calls > 0)) return new Response('bad query', { status: 400 });
    const handler = HANDLERS[name];
    const realFetch = globalThis.fetch;
    globalThis.fetch = keap;
    try {
      if (!connected) await connect();
      for (let i = 0; i < calls; i++) {
        const req = scenario.make();
        if (!handler) {
          if (req.method === 'POST') await req.arrayBuffer();
          continue;
        }
        const res = await handler.fetch(req, env);
        const body = await res.text();
        if (res.status !== scenario.status) return new Response(`${name} answered ${res.status}: ${body}`, { status: 500 });
      }
    } finally {
      globalThis.fetch = realFetch;
    }
    return new Response('ok');
  },
};
