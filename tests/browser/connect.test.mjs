// The owner's one-time authorization, clicked through in headless
// Chromium: /admin behind Basic auth, Connect, the Keap sandbox's consent
// page, Allow, and back on /admin, connected.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { SANDBOX_TENANT, startSandbox, startWorker, stopAll } from '../support/harness.mjs';
import { openBrowser, screenshot } from './browser.mjs';

after(stopAll);

test('Connect on /admin, Allow on Keap\'s consent page, and /admin shows the connection', async () => {
  const sandbox = await startSandbox({ name: 'browser-connect-sandbox' });
  const worker = await startWorker({ sandbox, name: 'browser-connect' });
  const b = await openBrowser({ httpCredentials: { username: 'owner', password: worker.adminToken } });
  try {
    const { page } = b;
    const admin = await page.goto(`${worker.url}/admin`);
    assert.equal(admin.status(), 200);
    await page.getByText(/Not connected yet/).waitFor();
    await screenshot(page, 'admin-before-connect');

    await page.getByRole('link', { name: 'Connect to Keap' }).click();
    await page.waitForURL((u) => u.href.startsWith(`${sandbox.url}/app/oauth/authorize`));
    await screenshot(page, 'sandbox-consent');
    await page.locator('#allow').click();

    await page.waitForURL(`${worker.url}/admin`);
    await page.getByText(/^Connected/).waitFor();
    const text = await page.locator('body').innerText();
    assert.match(text, new RegExp(SANDBOX_TENANT), 'the page names the connected Keap app');
    await screenshot(page, 'admin-connected');
  } finally {
    await b.close();
  }
  const status = await worker.status();
  assert.equal(status.connected, true);
  assert.match(status.tenant ?? '', new RegExp(`^${SANDBOX_TENANT}\\b`));
  assert.equal((await sandbox.state()).counts.token_authorization_code, 1);
});
