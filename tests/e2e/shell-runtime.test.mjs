// src/shell/runtime.js on its own, in Node: how the wasm's tasks are
// resumed (one settlement callback, slots) and what happens when the wasm
// traps. A trap cannot be provoked through any route, so the recovery is
// tested here, with a settlement callback that throws as a trap would.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as runtime from '../../src/shell/runtime.js';

/** A promise and its resolvers. */
function pending() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A settlement callback that records what it is given. */
function recorder() {
  const calls = [];
  const callback = (slot, ok, value) => calls.push({ slot, ok, value });
  return { calls, callback };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** A text's UTF-8 bytes, as KV gives a value read as an ArrayBuffer. */
const bytes = (text) => new TextEncoder().encode(text);

describe('runtime.js', () => {
  test('an asynchronous call settles its slot with the value', async () => {
    const { calls, callback } = recorder();
    runtime.setSettle(callback);
    const store = {
      get: async (key, type) => (key === 'k' && type === 'arrayBuffer' ? bytes(`value of ${key}`).buffer : null),
    };
    runtime.kvGet(store, 'k', 7);
    runtime.kvGet(store, 'absent', 8);
    assert.deepEqual(calls, [], 'never synchronously');
    await tick();
    assert.deepEqual(calls, [
      { slot: 7, ok: true, value: bytes('value of k') },
      { slot: 8, ok: true, value: null },
    ]);
  });

  test('a call that throws at once settles its slot as a failure', async () => {
    const { calls, callback } = recorder();
    runtime.setSettle(callback);
    const store = { put: () => assert.fail('not reached: the metadata is not JSON') };
    runtime.kvPut(store, 'k', 'v', undefined, '{not json', 3);
    await tick();
    assert.equal(calls.length, 1);
    assert.equal(calls[0].slot, 3);
    assert.equal(calls[0].ok, false);
    assert.ok(calls[0].value instanceof SyntaxError);
  });

  test('a deferred answer resolves once, by its id', async () => {
    runtime.setSettle(() => {});
    const first = runtime.deferred(1);
    const second = runtime.deferred(2);
    runtime.resolveDeferred(2, 'two');
    runtime.resolveDeferred(2, 'again');
    runtime.resolveDeferred(99, 'nobody');
    runtime.resolveDeferred(1, 'one');
    assert.equal(await first, 'one');
    assert.equal(await second, 'two');
  });

  test('a trap while resuming a task rejects every waiting answer', async () => {
    const trap = new WebAssembly.RuntimeError('unreachable');
    runtime.setSettle(() => {
      throw trap;
    });
    const a = runtime.deferred(1);
    const b = runtime.deferred(2);
    const gate = pending();
    runtime.kvGet({ get: () => gate.promise }, 'k', 5);
    gate.resolve(bytes('x').buffer);
    await assert.rejects(a, (e) => e === trap);
    await assert.rejects(b, (e) => e === trap);
  });

  test('a new instance drops what an earlier one left waiting', async () => {
    runtime.setSettle(() => {});
    const orphan = runtime.deferred(1);
    const gate = pending();
    runtime.kvGet({ get: () => gate.promise }, 'k', 1);
    // The instance is replaced (after a trap) before the KV read returns.
    const { calls, callback } = recorder();
    runtime.setSettle(callback);
    await assert.rejects(orphan, /restarted after a fault/);
    gate.resolve(bytes('stale').buffer);
    await tick();
    assert.deepEqual(calls, [], "the old instance's slot 1 is not the new one's");
    runtime.kvGet({ get: async () => bytes('fresh').buffer }, 'k', 1);
    await tick();
    assert.deepEqual(calls, [{ slot: 1, ok: true, value: bytes('fresh') }]);
  });

  test('later() asks for a run through slot 0', async () => {
    const { calls, callback } = recorder();
    runtime.setSettle(callback);
    runtime.later();
    await tick();
    assert.deepEqual(calls, [{ slot: 0, ok: true, value: undefined }]);
  });

  /** Runs `body` with `fetch` replaced by `stub`. */
  async function withFetch(stub, body) {
    const real = globalThis.fetch;
    globalThis.fetch = stub;
    try {
      return await body();
    } finally {
      globalThis.fetch = real;
    }
  }

  /** Settles once `calls` has an entry. */
  async function settledOnce(calls) {
    while (calls.length === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    return calls[0];
  }

  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  test('send() splits its head, settles with the answer and leaves no timer running', async () => {
    const { calls, callback } = recorder();
    runtime.setSettle(callback);
    const before = timers();
    const seen = [];
    await withFetch(
      async (url, init) => {
        seen.push({ url, method: init.method, headers: init.headers, body: new TextDecoder().decode(init.body) });
        return new Response('{"id":7}', { status: 201, headers: { 'retry-after': '30' } });
      },
      async () => {
        const body = new TextEncoder().encode('{"a":1}');
        runtime.send('PUT\nhttps://k.test/v1/contacts\nAccept:application/json\nContent-Type:application/json\n', body, 10_000, 4);
        const { slot, ok, value } = await settledOnce(calls);
        assert.deepEqual([slot, ok, value.status, value.retryAfter], [4, true, 201, '30']);
        assert.equal(new TextDecoder().decode(value.body), '{"id":7}');
      },
    );
    assert.deepEqual(seen, [
      {
        url: 'https://k.test/v1/contacts',
        method: 'PUT',
        headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
        body: '{"a":1}',
      },
    ]);
    assert.equal(timers(), before, 'the time limit timer is cleared once the answer is read');
  });

  test('send() past its time limit aborts the fetch and settles as a timeout', async () => {
    const { calls, callback } = recorder();
    runtime.setSettle(callback);
    let aborted = false;
    await withFetch(
      (url, init) =>
        new Promise((resolve, reject) => {
          init.signal.addEventListener('abort', () => {
            aborted = true;
            reject(init.signal.reason);
          });
        }),
      async () => {
        runtime.send('GET\nhttps://k.test/hangs\n', new Uint8Array(0), 20, 5);
        const { slot, ok, value } = await settledOnce(calls);
        assert.deepEqual([slot, ok, value], [5, true, { failure: 'timeout' }]);
      },
    );
    assert.ok(aborted, 'the fetch saw the abort');
  });

  test('send() settles a fetch that fails at once as a network failure', async () => {
    const { calls, callback } = recorder();
    runtime.setSettle(callback);
    const before = timers();
    await withFetch(
      async () => {
        throw new TypeError('connection refused');
      },
      async () => {
        runtime.send('POST\nhttps://k.test/x\n', new Uint8Array([1]), 10_000, 6);
        const { value } = await settledOnce(calls);
        assert.deepEqual(value, { failure: 'network' });
      },
    );
    assert.equal(timers(), before);
  });

  test('makeResponse() copies the body out and sets each header line, a repeated name joined', async () => {
    const body = new TextEncoder().encode('{"ok":true}');
    const response = runtime.makeResponse(202, 'Content-Type:application/json\nVary:Origin\nvary:Accept\nodd line\n', body);
    body.fill(0); // the wasm's memory is reused after the call
    assert.equal(response.status, 202);
    assert.equal(response.headers.get('content-type'), 'application/json');
    assert.equal(response.headers.get('vary'), 'Origin, Accept');
    assert.equal(await response.text(), '{"ok":true}');
    const empty = runtime.makeResponse(204, 'Access-Control-Allow-Origin:https://a.example\n', new Uint8Array(0));
    assert.equal(empty.body, null);
    assert.equal(empty.headers.get('access-control-allow-origin'), 'https://a.example');
  });
});
