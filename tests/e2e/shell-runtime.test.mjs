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

describe('runtime.js', () => {
  test('an asynchronous call settles its slot with the value', async () => {
    const { calls, callback } = recorder();
    runtime.setSettle(callback);
    const store = { get: async (key) => `value of ${key}` };
    runtime.kvGet(store, 'k', 7);
    assert.deepEqual(calls, [], 'never synchronously');
    await tick();
    assert.deepEqual(calls, [{ slot: 7, ok: true, value: 'value of k' }]);
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
    gate.resolve('x');
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
    gate.resolve('stale');
    await tick();
    assert.deepEqual(calls, [], "the old instance's slot 1 is not the new one's");
    runtime.kvGet({ get: async () => 'fresh' }, 'k', 1);
    await tick();
    assert.deepEqual(calls, [{ slot: 1, ok: true, value: 'fresh' }]);
  });

  test('later() asks for a run through slot 0', async () => {
    const { calls, callback } = recorder();
    runtime.setSettle(callback);
    runtime.later();
    await tick();
    assert.deepEqual(calls, [{ slot: 0, ok: true, value: undefined }]);
  });
});
