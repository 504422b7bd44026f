// The Worker's entry module, given to worker-build as its shim
// (CUSTOM_SHIM in scripts/build.sh, which fills in the $SNIPPET_ lines).
//
// worker-build's default entry wraps every request in a class instance
// behind two Proxies, so that it can restart the wasm after a trap; the
// benchmark measured that at about a third of a preflight's CPU above
// wrangler's own cost. This entry is a plain module Worker instead, and
// keeps the restart: a trap (a Rust panic aborts) marks the instance
// broken, and the next event runs on a fresh one. Wasm runs only inside
// the calls below or inside runtime.js's settlement callback, and a trap
// there rejects every waiting answer, so each trap reaches noteTrap().

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

instantiate();

/** The most body read: a little over the form limit, so the core can tell
 *  "too large" (413, from the declared length) from "just fits". */
const MAX_BODY = 64 * 1024;
/** The body of a request that has none, or one too large to read. */
const NO_BODY = new Uint8Array(0);

/** Reads the body here, natively, so the wasm does not wait for it: one
 *  await fewer in Rust. Undefined marks a body that could not be read. */
async function readBody(request) {
  const declared = Number(request.headers.get('content-length'));
  if (declared > MAX_BODY) return NO_BODY;
  try {
    return new Uint8Array(await request.arrayBuffer());
  } catch {
    return undefined;
  }
}

/** A trap inside a task reaches here as the rejection of its promise. */
function trapped(error) {
  noteTrap(error);
  throw error;
}

/** Calls the wasm's handler with the request's body: its answer, or a
 *  promise of it when the request waits on I/O (a preflight is answered
 *  at once). */
function serve(request, env, body) {
  ready();
  let answer;
  try {
    answer = imports.serve(request, env, body);
  } catch (error) {
    noteTrap(error);
    throw error;
  }
  return answer instanceof Promise ? answer.catch(trapped) : answer;
}

export default {
  fetch(request, env) {
    const method = request.method;
    if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return serve(request, env, NO_BODY);
    return readBody(request).then((body) => serve(request, env, body));
  },
  async scheduled(event, env) {
    ready();
    try {
      return await imports.scheduled(event, env);
    } catch (error) {
      noteTrap(error);
      throw error;
    }
  },
};
