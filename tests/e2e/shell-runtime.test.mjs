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

  /** Settles once `calls` has `n` entries. */
  async function settled(calls, n) {
    while (calls.length < n) await new Promise((resolve) => setTimeout(resolve, 2));
    return calls;
  }

  /** Settles once `calls` has an entry. */
  async function settledOnce(calls) {
    return (await settled(calls, 1))[0];
  }

  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  test('send() splits its head and settles with the answer; the limit ends with no timer running', async () => {
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
        const limit = runtime.fetchLimit(10_000);
        const body = new TextEncoder().encode('{"a":1}');
        runtime.send(limit, 'PUT\nhttps://k.test/v1/contacts\nAccept:application/json\nContent-Type:application/json\n', body, 4);
        const { slot, ok, value } = await settledOnce(calls);
        assert.deepEqual([slot, ok, value.status, Object.keys(value)], [4, true, 201, ['status', 'body']]);
        assert.equal(new TextDecoder().decode(value.body), '{"id":7}');
        runtime.send(limit, 'GET\nhttps://k.test/v1/contacts/7\n', new Uint8Array(0), 5);
        await settled(calls, 2);
        assert.equal(timers(), before + 1, 'one timer for both fetches');
        runtime.endFetchLimit(limit);
      },
    );
    assert.deepEqual(seen[0], {
      url: 'https://k.test/v1/contacts',
      method: 'PUT',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: '{"a":1}',
    });
    assert.equal(seen.length, 2);
    assert.equal(timers(), before, 'the limit\'s timer is cleared when the request ends');
  });

  test('send() past its time limit aborts the fetch and settles as a timeout; the next fetch is not aborted', async () => {
    const { calls, callback } = recorder();
    runtime.setSettle(callback);
    const limit = runtime.fetchLimit(20);
    let aborted = false;
    await withFetch(
      (url, init) =>
        url.endsWith('/hangs')
          ? new Promise((resolve, reject) => {
              init.signal.addEventListener('abort', () => {
                aborted = true;
                reject(init.signal.reason);
              });
            })
          : Promise.resolve(new Response(init.signal.aborted ? 'aborted' : 'ok')),
      async () => {
        runtime.send(limit, 'GET\nhttps://k.test/hangs\n', new Uint8Array(0), 5);
        const { slot, ok, value } = await settledOnce(calls);
        assert.deepEqual([slot, ok, value], [5, true, { status: 0, failure: 'timeout' }]);
        runtime.send(limit, 'GET\nhttps://k.test/quick\n', new Uint8Array(0), 6);
        const [, second] = await settled(calls, 2);
        assert.equal(new TextDecoder().decode(second.value.body), 'ok');
      },
    );
    runtime.endFetchLimit(limit);
    assert.ok(aborted, 'the fetch saw the abort');
  });

  test('each fetch of a request gets the whole limit, counted from its own start', async () => {
    const { calls, callback } = recorder();
    runtime.setSettle(callback);
    const limit = runtime.fetchLimit(60);
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    await withFetch(
      async (url, init) => {
        // 40 ms each: within the limit for each fetch, though the second
        // ends 80 ms after the first began.
        await sleep(40);
        if (init.signal.aborted) throw init.signal.reason;
        return new Response(url);
      },
      async () => {
        runtime.send(limit, 'GET\nhttps://k.test/one\n', new Uint8Array(0), 1);
        await settled(calls, 1);
        runtime.send(limit, 'GET\nhttps://k.test/two\n', new Uint8Array(0), 2);
        const [first, second] = await settled(calls, 2);
        assert.equal(first.value.status, 200);
        assert.equal(second.value.status, 200, 'the second fetch was not cut at the first one\'s deadline');
      },
    );
    runtime.endFetchLimit(limit);
  });

  test('send() settles a fetch that fails at once as a network failure', async () => {
    const { calls, callback } = recorder();
    runtime.setSettle(callback);
    const limit = runtime.fetchLimit(10_000);
    await withFetch(
      async () => {
        throw new TypeError('connection refused');
      },
      async () => {
        runtime.send(limit, 'POST\nhttps://k.test/x\n', new Uint8Array([1]), 6);
        const { value } = await settledOnce(calls);
        assert.deepEqual(value, { status: 0, failure: 'network' });
      },
    );
    runtime.endFetchLimit(limit);
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
