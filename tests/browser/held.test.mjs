// Held posts on /admin in headless Chromium (issue 28): the owner sees a
// post the spam rules held, with its reason and its words shown as text,
// and "Deliver to Keap" sends it to Keap.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { connect, startSandbox, startWorker, stopAll, submit } from '../support/harness.mjs';
import { openBrowser, screenshot } from './browser.mjs';

after(stopAll);

test('/admin lists a held post and "Deliver to Keap" sends it', async () => {
  const sandbox = await startSandbox({ name: 'browser-held-sandbox' });
  const worker = await startWorker({ sandbox, name: 'browser-held' });
  const { res } = await connect(worker);
  assert.equal(res.status, 303);
  const message = 'My shop: https://shop.example <script>document.title="pwned"</script>';
  const held = await submit(worker, 'contact', {
    email: 'held-in-browser@example.com',
    first_name: 'Http://Robin',
    message,
  });
  assert.equal(held.status, 200, held.text);
  const inKeap = async () =>
    (await sandbox.state()).contacts.filter((c) =>
      c.email_addresses.some((e) => e.email === 'held-in-browser@example.com'),
    ).length;
  assert.equal(await inKeap(), 0);

  const b = await openBrowser({ httpCredentials: { username: 'owner', password: worker.adminToken } });
  try {
    const { page } = b;
    await page.goto(`${worker.url}/admin`);
    const section = page.locator('ul.held');
    await section.getByText('held-in-browser@example.com').waitFor();
    await section.getByText('a link in a name field').waitFor();
    // The visitor's markup is text on the page, never run.
    await section.getByText('<script>document.title="pwned"</script>', { exact: false }).waitFor();
    assert.notEqual(await page.title(), 'pwned');
    await screenshot(page, 'admin-held-post');

    const [delivered] = await Promise.all([
      page.waitForResponse((r) => /\/admin\/held\/[0-9]{8}-[0-9a-f]{32}\/release$/.test(r.url()) && r.request().method() === 'POST'),
      section.getByRole('button', { name: 'Deliver to Keap' }).click(),
    ]);
    assert.equal(delivered.status(), 200);
    assert.match(delivered.headers()['content-type'] ?? '', /^text\/html/);
    await page.getByText('Delivered to Keap.').waitFor();
    await screenshot(page, 'admin-held-delivered');

    await page.goto(`${worker.url}/admin`);
    await page.getByText('No post is held.').waitFor();
  } finally {
    await b.close();
  }
  assert.equal(await inKeap(), 1);
  assert.equal((await worker.status()).held.count, 0);
});
