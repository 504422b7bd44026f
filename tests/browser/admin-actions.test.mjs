// The admin page's buttons in headless Chromium (issue 19): "Refresh now",
// "Deliver now" and "Check the ids now" post forms whose answers are pages
// a person reads, not the JSON a script gets from the same routes. They
// post from the worker's own origin, so the cross-site refusal (issue 27)
// lets them through.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { connect, startSandbox, startWorker, stopAll, submit } from '../support/harness.mjs';
import { openBrowser, screenshot } from './browser.mjs';

after(stopAll);

test('"Refresh now", "Deliver now" and "Check the ids now" on /admin land on their HTML pages', async () => {
  const sandbox = await startSandbox({ name: 'browser-actions-sandbox' });
  const worker = await startWorker({ sandbox, name: 'browser-actions' });
  const { res } = await connect(worker);
  assert.equal(res.status, 303);
  // One lead held for our own credentials (Keap no longer takes the
  // access token), so the page offers "Deliver now" and nothing retries it
  // before "Refresh now".
  await sandbox.expireAccessTokens();
  const queued = await submit(worker, 'contact', { email: 'button-press@example.com' });
  assert.equal(queued.status, 202, queued.text);

  const b = await openBrowser({ httpCredentials: { username: 'owner', password: worker.adminToken } });
  try {
    const { page } = b;
    await page.goto(`${worker.url}/admin`);
    const [refreshed] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${worker.url}/admin/refresh` && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Refresh now' }).click(),
    ]);
    assert.equal(refreshed.status(), 200);
    assert.match(refreshed.headers()['content-type'] ?? '', /^text\/html/);
    await page.getByText('Refresh done').first().waitFor();
    await screenshot(page, 'admin-refresh-now');

    await page.goto(`${worker.url}/admin`);
    const [delivered] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${worker.url}/admin/replay` && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Deliver now' }).click(),
    ]);
    assert.equal(delivered.status(), 200);
    assert.match(delivered.headers()['content-type'] ?? '', /^text\/html/);
    await page.getByText(/1 lead\(s\) delivered/).waitFor();
    await screenshot(page, 'admin-deliver-now');

    await page.goto(`${worker.url}/admin`);
    const [checked] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${worker.url}/admin/check` && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Check the ids now' }).first().click(),
    ]);
    assert.equal((await checked.request().allHeaders()).origin, worker.url, 'a same-origin post says so');
    assert.equal(checked.status(), 200);
    assert.match(checked.headers()['content-type'] ?? '', /^text\/html/);
    await page.getByRole('heading', { name: 'Configuration checked' }).waitFor();
    await screenshot(page, 'admin-check-now');
  } finally {
    await b.close();
  }
  assert.equal((await worker.status()).outbox.pending, 0);
});
