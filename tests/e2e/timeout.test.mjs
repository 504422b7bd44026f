// A Keap that hangs: the worker's own time limit on its calls (10 s, the
// answer's body included) queues the lead instead of leaving the visitor
// waiting, and the scheduled run delivers it once Keap answers again.
//
// The sandbox holds the contact write for 12 s and then carries it out, so
// without the limit the worker would answer 200 (created); with it, 202
// (queued). No timing is asserted: the answer's status tells the two apart.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { connect, startSandbox, startWorker, stopAll, submit } from '../support/harness.mjs';

after(stopAll);

describe('a Keap that does not answer in time', () => {
  let sandbox;
  let worker;

  before(async () => {
    sandbox = await startSandbox({ name: 'timeout-sandbox' });
    worker = await startWorker({ sandbox, name: 'timeout' });
    await connect(worker);
  });

  test('the lead is queued, then delivered exactly once by the scheduled run', async () => {
    const email = 'slow-keap@example.com';
    await sandbox.faults({ route: 'contacts_put', hang_ms: 12000, count: 1 });
    const res = await submit(worker, 'contact', { email, first_name: 'Slow', tags: ['newsletter'] });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.json.status, 'queued');
    await sandbox.faults({ clear: true });
    assert.equal((await worker.status()).outbox.pending, 1);

    // Let the held write land in the sandbox (it does Keap's work late, as
    // a real slow Keap would), then deliver.
    let state = await sandbox.state();
    for (let i = 0; i < 40 && !state.contacts.some((c) => c.email_addresses[0]?.email === email); i++) {
      await new Promise((r) => setTimeout(r, 250));
      state = await sandbox.state();
    }
    const run = await worker.scheduled();
    assert.equal(run.status, 200, run.text);

    const status = await worker.status();
    assert.equal(status.outbox.pending, 0);
    assert.equal(status.outbox.dead, 0);
    state = await sandbox.state();
    const found = state.contacts.filter((c) => c.email_addresses.some((e) => e.email === email));
    assert.equal(found.length, 1, 'one contact');
    assert.deepEqual([...found[0].tag_ids].sort(), [101, 103]);
  });
});
