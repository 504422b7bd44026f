// The Worker's entry module, given to worker-build as its shim
// (CUSTOM_SHIM in scripts/build.sh, which fills in the $SNIPPET_ lines).
//
// worker-build's default entry wraps every request in a class instance
// behind two Proxies, so that it can restart the wasm after a trap; the
// benchmark measured that at about a third of a preflight's CPU above
// wrangler's own cost. This entry is a plain module Worker instead, and
// keeps the restart: a trap (a Rust panic aborts) marks the instance
// broken, and the next event runs on a fresh one.

import * as imports from './index_bg.js';
import wasmModule from './index.wasm';
$SNIPPET_JS_IMPORTS

let broken = false;

function instantiate() {
  const instance = new WebAssembly.Instance(wasmModule, {
    './index_bg.js': imports,
    $SNIPPET_WASM_IMPORTS
  });
  imports.__wbg_set_wasm(instance.exports);
  instance.exports.__wbindgen_start?.();
}

function noteTrap(error) {
  if (error instanceof WebAssembly.RuntimeError) {
    console.error('keap-form-worker: the wasm trapped; the next request starts a fresh instance');
    broken = true;
  }
}

function ready() {
  if (broken) {
    broken = false;
    instantiate();
  }
}

// A trap inside an awaited Rust future surfaces here, not at the call.
addEventListener('error', (event) => noteTrap(event.error));

instantiate();

// Where the body read below waits for the wasm (see runtime.js's
// requestBody): a symbol shared by both modules.
const BODY = Symbol.for('keap-form-worker.body');
/** The most body read: a little over the form limit, so the core can tell
 *  "too large" (413, from the declared length) from "just fits". */
const MAX_BODY = 64 * 1024;

/** Reads the body here, natively, so the wasm does not wait for it: one
 *  await fewer in Rust, whose every await costs a closure pair and a
 *  microtask. `false` marks a body that could not be read. */
async function withBody(request) {
  const declared = Number(request.headers.get('content-length'));
  if (declared > MAX_BODY) return;
  try {
    request[BODY] = new Uint8Array(await request.arrayBuffer());
  } catch {
    request[BODY] = false;
  }
}

function run(request, env, ctx) {
  ready();
  try {
    return imports.fetch(request, env, ctx);
  } catch (error) {
    noteTrap(error);
    throw error;
  }
}

export default {
  fetch(request, env, ctx) {
    const method = request.method;
    if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return run(request, env, ctx);
    return withBody(request).then(() => run(request, env, ctx));
  },
  async scheduled(event, env, ctx) {
    ready();
    try {
      return await imports.scheduled(event, env, ctx);
    } catch (error) {
      noteTrap(error);
      throw error;
    }
  },
};
