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

export default {
  fetch(request, env, ctx) {
    ready();
    try {
      return imports.fetch(request, env, ctx);
    } catch (error) {
      noteTrap(error);
      throw error;
    }
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
