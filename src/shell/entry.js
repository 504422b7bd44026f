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
/** The request headers the core reads (http::REQUEST_HEADERS), each as
 *  [name, index of the header it stands in for, or -1]
 *  (http::FALLBACK_HEADERS): that one is read only when the other is
 *  missing. A stood-for header comes first (the list is sorted). */
let wanted = [];

function instantiate() {
  const instance = new WebAssembly.Instance(wasmModule, {
    './index_bg.js': imports,
    $SNIPPET_WASM_IMPORTS
  });
  imports.__wbg_set_wasm(instance.exports);
  instance.exports.__wbindgen_start?.();
  imports.connectSettle(imports.settle);
  const names = imports.requestHeaders().split(',');
  const bare = names.map((name) => name.split('?')[0]);
  wanted = names.map((name, i) => {
    const unless = bare.indexOf(name.split('?')[1]);
    return [bare[i], unless < i ? unless : -1];
  });
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
async function readBody(request, head) {
  if (declaredLength(head) > MAX_BODY) return NO_BODY;
  try {
    return new Uint8Array(await request.arrayBuffer());
  } catch {
    return undefined;
  }
}

/** The Content-Length in a request's description (NaN when absent):
 *  read from the text, not asked of the runtime a second time. */
function declaredLength(head) {
  const at = head.indexOf('\ncontent-length:');
  if (at < 0) return NaN;
  return Number(head.slice(at + 16, head.indexOf('\n', at + 16)));
}

/** A request as the core sees it: "METHOD\nURL\nname:value\n...", with
 *  only the headers it reads, in one text (one crossing into the wasm). */
function describeRequest(request) {
  let text = `${request.method}\n${request.url}\n`;
  const headers = request.headers;
  let present = 0;
  for (let i = 0; i < wanted.length; i++) {
    const [name, unless] = wanted[i];
    if (unless >= 0 && present & (1 << unless)) continue;
    const value = headers.get(name);
    if (value !== null) {
      text += `${name}:${value}\n`;
      present |= 1 << i;
    }
  }
  return text;
}

/**
 * Preflight answers the core marked reusable: each depends on nothing but
 * the URL, the request headers the core named and the configuration
 * (which an isolate keeps for life). A browser sends the same preflight
 * for every visitor of a page, so after the first one the wasm is not
 * entered for it, and only the named headers are read. By URL: the names
 * and, by those headers' values, the answers. At most REMEMBERED answers;
 * when full it starts afresh, so odd requests cannot grow it.
 */
const remembered = new Map();
const REMEMBERED = 64;
let rememberedCount = 0;

/** The named headers' values, as one key. A missing header is told from
 *  an empty one (an empty Origin is refused; a missing one falls back to
 *  Referer). A value holds no newline. */
function keyOf(headers, names) {
  let key = '';
  for (const name of names) {
    const value = headers.get(name);
    key += value === null ? '\n' : `=${value}\n`;
  }
  return key;
}

function remember(request, names, response) {
  if (rememberedCount >= REMEMBERED) {
    remembered.clear();
    rememberedCount = 0;
  }
  const list = names.split(',');
  let known = remembered.get(request.url);
  if (known === undefined || known.names.join(',') !== names) {
    known = { names: list, answers: new Map() };
    remembered.set(request.url, known);
  }
  const headers = {};
  for (const [name, value] of response.headers) headers[name] = value;
  known.answers.set(keyOf(request.headers, list), { status: response.status, headers });
  rememberedCount += 1;
}

/** A trap inside a task reaches here as the rejection of its promise. */
function trapped(error) {
  noteTrap(error);
  throw error;
}

/** Calls the wasm's handler with the request's description and body: its
 *  answer, or a promise of it when the request waits on I/O (a preflight
 *  is answered at once). */
function serve(head, env, body) {
  ready();
  let answer;
  try {
    answer = imports.serve(head, env, body);
  } catch (error) {
    noteTrap(error);
    throw error;
  }
  return answer instanceof Promise ? answer.catch(trapped) : answer;
}

/** A preflight: from memory when one that agrees on what its answer
 *  depends on was answered before. */
function preflight(request, env) {
  const known = remembered.get(request.url);
  if (known !== undefined) {
    const init = known.answers.get(keyOf(request.headers, known.names));
    if (init !== undefined) return new Response(null, init);
  }
  const answer = serve(describeRequest(request), env, NO_BODY);
  if (!(answer instanceof Promise)) {
    const names = imports.takeReusable();
    if (names !== undefined) remember(request, names, answer);
  }
  return answer;
}

export default {
  fetch(request, env) {
    const method = request.method;
    if (method === 'OPTIONS') return preflight(request, env);
    const head = describeRequest(request);
    if (method === 'GET' || method === 'HEAD') return serve(head, env, NO_BODY);
    return readBody(request, head).then((body) => serve(head, env, body));
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
