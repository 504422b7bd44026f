// A page elsewhere cannot act with the owner's browser login (issue 27),
// in headless Chromium: signed in to /admin (HTTP Basic), the browser
// opens a page on another origin whose form auto-submits a test lead to
// /admin/test-lead. The worker refuses it (403 cross_site_request) and the
// address never reaches Keap; the admin page's own test lead still works.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, test } from 'node:test';
import { connect, freePort, startSandbox, startWorker, stopAll } from '../support/harness.mjs';
import { openBrowser, screenshot } from './browser.mjs';

const servers = [];
after(async () => {
  for (const s of servers) {
    s.closeAllConnections?.();
    await new Promise((r) => s.close(r));
  }
  await stopAll();
});

/** A page that posts a test lead for `email` to `action` as soon as it loads. */
function attackPage(action, email) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Win a prize</title></head><body>
<form id="f" method="post" action="${action}">
<input type="hidden" name="form" value="contact"><input type="hidden" name="email" value="${email}">
</form><script>document.getElementById('f').submit();</script></body></html>`;
}

/** Serves `html` at `/` on `host`:a free port; returns its origin. */
async function serveElsewhere(host, html) {
  const port = await freePort();
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  servers.push(server);
  return `http://${host}:${port}`;
}

test('a page on another origin that auto-submits a test lead, in a browser signed in to /admin, creates nothing', async () => {
  const sandbox = await startSandbox({ name: 'browser-cross-site-sandbox' });
  const worker = await startWorker({ sandbox, name: 'browser-cross-site' });
  const { res } = await connect(worker);
  assert.equal(res.status, 303);

  const b = await openBrowser({ httpCredentials: { username: 'owner', password: worker.adminToken } });
  try {
    const { page } = b;
    // Signed in: the browser now sends the credentials to the worker by itself.
    assert.equal((await page.goto(`${worker.url}/admin`)).status(), 200);

    // `localhost` is another site than the worker's 127.0.0.1; another
    // port on 127.0.0.1 is the same site but another origin.
    const victims = [];
    for (const [host, tag] of [['localhost', 'cross-site'], ['127.0.0.1', 'same-site']]) {
      const email = `victim-${tag}@example.com`;
      victims.push(email);
      const elsewhere = await serveElsewhere(host, attackPage(`${worker.url}/admin/test-lead`, email));
      const [posted] = await Promise.all([
        page.waitForResponse((r) => r.url() === `${worker.url}/admin/test-lead` && r.request().method() === 'POST'),
        page.goto(`${elsewhere}/`),
      ]);
      const sent = await posted.request().allHeaders();
      assert.equal(sent.origin, elsewhere, `${tag}: the browser said where the post came from`);
      assert.equal(posted.status(), 403, `${tag}: ${await posted.text()}`);
      await page.waitForURL(`${worker.url}/admin/test-lead`);
      await page.getByText('Refused: this came from another site').waitFor();
      await screenshot(page, `cross-site-refused-${tag}`);
      // The way back is a link the owner follows from here.
      await page.getByRole('link', { name: 'Open the admin page' }).click();
      await page.waitForURL(`${worker.url}/admin`);
    }

    // The admin page's own test lead, in the same signed-in browser, works.
    const own = 'owner-own-button@example.com';
    const form = page.locator('#form-contact');
    await form.getByRole('textbox', { name: 'Email' }).fill(own);
    await form.getByRole('button', { name: 'Send a test lead' }).click();
    await page.waitForFunction(() => /Test lead created/.test(document.querySelector('#form-contact .test-lead-result').textContent));

    const state = await sandbox.state();
    assert.ok(state.contacts.some((c) => c.email_addresses.some((e) => e.email === own)), 'the own test lead is in Keap');
    const held = JSON.stringify(state);
    for (const email of victims) assert.ok(!held.includes(email), `${email} reached the sandbox`);
    assert.equal((await worker.status()).outbox.pending, 0, 'nothing queued');
  } finally {
    await b.close();
  }
});

test('another site cannot frame /admin', async () => {
  const sandbox = await startSandbox({ name: 'browser-frame-sandbox' });
  const worker = await startWorker({ sandbox, name: 'browser-frame' });
  const b = await openBrowser({ httpCredentials: { username: 'owner', password: worker.adminToken } });
  try {
    const { page } = b;
    assert.equal((await page.goto(`${worker.url}/admin`)).status(), 200);
    const elsewhere = await serveElsewhere(
      'localhost',
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Frame</title></head><body><iframe src="${worker.url}/admin"></iframe></body></html>`,
    );
    const [framed] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${worker.url}/admin`),
      page.goto(`${elsewhere}/`),
    ]);
    assert.equal(framed.headers()['x-frame-options'], 'DENY');
    // The frame is blocked: once loaded, it shows Chromium's error page, not /admin.
    await page.waitForLoadState('load');
    const frame = page.frames().find((f) => f !== page.mainFrame());
    assert.ok(frame, 'the page has its frame');
    await frame.waitForLoadState('load');
    const shown = await frame.evaluate(() => document.body?.innerText ?? '').catch(() => '');
    assert.doesNotMatch(shown, /Not connected yet|Connect to Keap|Sign in required/);
  } finally {
    await b.close();
  }
});
