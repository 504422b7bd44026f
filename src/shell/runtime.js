// The runtime calls the shell makes, each shaped so that one call crosses
// the JS/wasm boundary once: header lists travel as one "name:value\n"
// text (a header value can hold neither a newline nor, in its name, a
// colon), a fetch and the reading of its body are one step, a KV value
// comes back as bytes and KV's listing as one JSON text. (The incoming
// request is described by entry.js, which copies only the headers the
// core reads.) What each call costs is measured in bench/.
//
// An asynchronous call takes a `slot` instead of returning a promise: its
// outcome goes to the wasm's one settlement callback, `settle(slot, ok,
// value)`, which resumes the waiting Rust task right there (src/executor.rs).

/** The wasm's settlement callback, its export `settle` (set once per
 *  instance, by entry.js through the wasm's `connectSettle`). */
let settle = () => {};

/** Promises handed out for requests still running: id -> {resolve, reject}. */
const waiting = new Map();

/** Rejects every waiting promise: the wasm trapped, its tasks are gone. */
function failAll(error) {
  for (const { reject } of waiting.values()) reject(error);
  waiting.clear();
}

/** Counts instances: an outcome meant for an earlier instance's slot is
 *  dropped, since the new instance numbers its slots afresh. */
let generation = 0;

export function setSettle(callback) {
  // A new instance after a trap: what the old one left waiting cannot end.
  failAll(new Error('keap-form-worker restarted after a fault'));
  settle = callback;
  generation += 1;
}

function deliver(born, slot, ok, value) {
  if (born !== generation) return;
  try {
    settle(slot, ok, value);
  } catch (error) {
    failAll(error);
  }
}

/** Hands the outcome of `start()` (a promise, or a throw) to slot `slot`. */
function watch(start, slot) {
  let promise;
  try {
    promise = start();
  } catch (error) {
    promise = Promise.reject(error);
  }
  const born = generation;
  promise.then(
    (value) => deliver(born, slot, true, value),
    (error) => deliver(born, slot, false, error),
  );
}

/** Asks for a run of the wasm's ready tasks soon (slot 0 is no slot). */
export function later() {
  const born = generation;
  queueMicrotask(() => deliver(born, 0, true, undefined));
}

/** A promise for the answer of request task `id`, still running. */
export function deferred(id) {
  return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
}

export function resolveDeferred(id, value) {
  const entry = waiting.get(id);
  if (entry !== undefined) {
    waiting.delete(id);
    entry.resolve(value);
  }
}

/** "name:value\n" lines into a plain object, which costs the runtime less
 *  than a `Headers`. A repeated name gets its values joined by ", ", as
 *  `Headers` would (the core sets each name once, so none repeats now). */
function headerObject(text) {
  const headers = {};
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1);
    headers[name] = Object.hasOwn(headers, name) ? `${headers[name]}, ${value}` : value;
  }
  return headers;
}

/**
 * `headerObject(text)`, made once per text: a worker sends the same few
 * sets of headers again and again (its answer to a site, each kind of
 * Keap call), and a lookup costs less than splitting the text again. The
 * objects are frozen: fetch and Response only read them. At most
 * HEADER_SETS; when full it starts afresh.
 */
const headerSets = new Map();
const HEADER_SETS = 64;

function headersOf(text) {
  let headers = headerSets.get(text);
  if (headers === undefined) {
    if (headerSets.size >= HEADER_SETS) headerSets.clear();
    headers = Object.freeze(headerObject(text));
    headerSets.set(text, headers);
  }
  return headers;
}

/** The worker's answer. A body is copied out of wasm memory first; the
 *  headers go as a plain object, as for a fetch (see headerObject). */
export function makeResponse(status, headers, body) {
  const payload = body.length > 0 ? body.slice() : null;
  return new Response(payload, { status, headers: headersOf(headers) });
}

/**
 * The time limit of one request's fetches: one AbortController and one
 * timer for all of them, instead of one of each per fetch, which cost a
 * submission about 27k instructions in workerd (bench/README.md). Each
 * fetch still gets `timeoutMs` of its own: the timer is set for the
 * first fetch; when it fires while a fetch runs that started later, it
 * is set again for what that fetch has left. An abort ends the
 * controller, so the next fetch gets a new one. The signal is kept beside
 * its controller, read from it once. The fetches of one
 * request run one after another; were two to overlap, the later one's
 * start would count for both.
 */
export function fetchLimit(timeoutMs) {
  return { timeoutMs, controller: undefined, signal: undefined, timer: undefined, since: 0, running: 0 };
}

/** Clears the limit's timer: the request is over. */
export function endFetchLimit(limit) {
  if (limit.timer !== undefined) clearTimeout(limit.timer);
  limit.timer = undefined;
}

function arm(limit, ms) {
  limit.timer = setTimeout(() => {
    limit.timer = undefined;
    if (limit.running === 0) return;
    const left = limit.since + limit.timeoutMs - Date.now();
    if (left > 0) arm(limit, left);
    else {
      limit.controller.abort();
      limit.controller = undefined;
    }
  }, ms);
}

/**
 * Sends a request and reads the whole answer within `limit`: its
 * AbortSignal bounds the body too. `head` is "METHOD\nURL\nname:value\n...":
 * one text, so one decoding. Settles `slot` with `{ status, body }` or
 * `{ status: 0, failure: "timeout" | "network" }` (status first, so an
 * answer is read with one getter fewer). The core reads no header of an
 * answer. Outgoing headers go as a plain object, which costs less than
 * `Headers`.
 */
export function send(limit, head, body, slot) {
  watch(() => exchange(limit, head, body), slot);
}

async function exchange(limit, head, body) {
  if (limit.controller === undefined) {
    limit.controller = new AbortController();
    limit.signal = limit.controller.signal;
  }
  const signal = limit.signal;
  limit.since = Date.now();
  limit.running += 1;
  if (limit.timer === undefined) arm(limit, limit.timeoutMs);
  const methodEnd = head.indexOf('\n');
  const urlEnd = head.indexOf('\n', methodEnd + 1);
  const init = {
    method: head.slice(0, methodEnd),
    headers: headersOf(head.slice(urlEnd + 1)),
    signal,
  };
  // A GET or HEAD may not carry a body, not even an empty one.
  if (body.length > 0) init.body = body.slice();
  try {
    const response = await fetch(head.slice(methodEnd + 1, urlEnd), init);
    const data = new Uint8Array(await response.arrayBuffer());
    return { status: response.status, body: data };
  } catch {
    return { status: 0, failure: signal.aborted ? 'timeout' : 'network' };
  } finally {
    limit.running -= 1;
  }
}

/** A text binding (var or secret); an object var (FORMS) as JSON text. */
export function envText(env, name) {
  const value = env[name];
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A binding that is an object (KV namespace, rate limiter), or undefined. */
export function binding(env, name) {
  const value = env[name];
  return value !== null && typeof value === 'object' ? value : undefined;
}

/** Settles `slot` with the value's bytes, or null: as bytes, the value is
 *  neither decoded into a JS string here nor copied back out of one into
 *  the wasm, character by character. */
export function kvGet(store, key, slot) {
  watch(() => store.get(key, 'arrayBuffer').then((value) => (value === null ? null : new Uint8Array(value))), slot);
}

export function kvPut(store, key, value, ttl, metadata, slot) {
  watch(() => {
    const options = {};
    if (ttl !== undefined) options.expirationTtl = ttl;
    if (metadata !== undefined) options.metadata = JSON.parse(metadata);
    return store.put(key, value, options);
  }, slot);
}

export function kvDelete(store, key, slot) {
  watch(() => store.delete(key), slot);
}

/** Settles `slot` with one page of a listing as JSON: `{keys: [{name,
 *  metadata}], cursor}`, metadata as JSON text or null, cursor null on the
 *  last page. */
export function kvList(store, prefix, cursor, limit, slot) {
  watch(() => listPage(store, prefix, cursor, limit), slot);
}

async function listPage(store, prefix, cursor, limit) {
  const options = { prefix, limit };
  if (cursor !== undefined) options.cursor = cursor;
  const page = await store.list(options);
  return JSON.stringify({
    keys: page.keys.map((k) => ({
      name: k.name,
      metadata: k.metadata === undefined || k.metadata === null ? null : JSON.stringify(k.metadata),
    })),
    cursor: page.list_complete ? null : (page.cursor ?? null),
  });
}

/** Settles `slot` with true (allowed), false (limited) or undefined (the
 *  limiter failed). */
export function rateLimit(limiter, key, slot) {
  watch(() => limit(limiter, key), slot);
}

async function limit(limiter, key) {
  try {
    const outcome = await limiter.limit({ key });
    return typeof outcome?.success === 'boolean' ? outcome.success : undefined;
  } catch {
    return undefined;
  }
}

export function sleep(ms, slot) {
  watch(() => new Promise((resolve) => setTimeout(resolve, ms)), slot);
}

export function log(line) {
  console.log(line);
}
