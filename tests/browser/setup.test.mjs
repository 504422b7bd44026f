// The setup assistant in headless Chromium: /admin shows a form's ids with
// Keap's names, the tag list filters, a test lead is sent and its answer
// shown in place, and the form's HTML, copied from /admin, works as is
// from a page on an allowed origin.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { startSiteServer } from '../../scripts/site-server.mjs';
import { connect, freePort, sleep, startSandbox, startWorker, stopAll } from '../support/harness.mjs';
import { openBrowser, screenshot } from './browser.mjs';

let site;
after(async () => {
  await site?.close();
  await stopAll();
});

test('ids by name, a filtered tag list, a test lead, and the copied form posting from the site', async () => {
  const sandbox = await startSandbox({ name: 'browser-setup-sandbox' });
  const sitePort = await freePort();
  const siteOrigin = `http://127.0.0.1:${sitePort}`;
  const worker = await startWorker({
    sandbox,
    name: 'browser-setup',
    allowedOrigins: [siteOrigin],
    forms: {
      contact: { tags: [101], optional_tags: { newsletter: 103 }, custom_fields: { company: 7 }, required: ['email'] },
    },
  });
  const { res } = await connect(worker);
  assert.equal(res.status, 303);
  for (let i = 0; i < 100 && !(await worker.status()).form_checks.contact; i += 1) await sleep(100);

  const b = await openBrowser({
    httpCredentials: { username: 'owner', password: worker.adminToken },
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  try {
    const { page } = b;
    await page.goto(`${worker.url}/admin`);
    const form = page.locator('#form-contact');
    // Each id with Keap's name, in green.
    const row103 = form.locator('tr[data-id="103"]');
    assert.equal(await row103.getAttribute('class'), 'ok');
    assert.match(await row103.innerText(), /optional_tags\.newsletter\s+103\s+Newsletter/);
    assert.match(await form.locator('tr[data-id="7"]').innerText(), /custom_fields\.company\s+7\s+Company/);
    await screenshot(page, 'admin-setup');

    // The tag list, filtered.
    await page.getByRole('link', { name: "Keap's tags" }).click();
    await page.waitForURL(`${worker.url}/admin/keap/tags`);
    assert.equal(await page.locator('#list tbody tr:visible').count(), 3);
    await page.getByRole('searchbox').fill('news');
    await page.waitForFunction(() => document.querySelectorAll('#list tbody tr:not([hidden])').length === 1);
    assert.match(await page.locator('#list tbody tr:visible').innerText(), /103\s+Newsletter/);
    await screenshot(page, 'keap-tags-filtered');

    // A test lead, answered in place.
    await page.goto(`${worker.url}/admin`);
    const email = 'owner.browser.test@example.com';
    await form.getByRole('textbox', { name: 'Email' }).fill(email);
    await form.getByRole('button', { name: 'Send a test lead' }).click();
    const result = form.locator('.test-lead-result');
    await page.waitForFunction(() => /Test lead/.test(document.querySelector('#form-contact .test-lead-result').textContent));
    const contact = (await sandbox.state()).contacts.find((c) => c.email_addresses.some((e) => e.email === email));
    assert.ok(contact, 'the test lead is in Keap');
    assert.equal(await result.textContent(), `Test lead created: contact ${contact.id}, tags 101.`);
    assert.equal(page.url(), `${worker.url}/admin`, 'no navigation');

    // The form's HTML, copied.
    await form.getByRole('button', { name: 'Copy' }).click();
    await form.getByRole('button', { name: 'Copied' }).waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(copied, await form.locator('textarea.snippet').inputValue());
    assert.match(copied, new RegExp(`action="${worker.url}/forms/contact"`));

    // Pasted into a page of the site, it posts as is.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfw-snippet-'));
    fs.writeFileSync(path.join(dir, 'index.html'), `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Contact</title></head><body>\n${copied}</body></html>\n`);
    site = await startSiteServer({ dir, port: sitePort });
    await page.goto(`${siteOrigin}/`);
    const visitor = 'visitor.from.snippet@example.com';
    await page.getByRole('textbox', { name: /^Email/ }).fill(visitor);
    await page.getByRole('textbox', { name: /^Company/ }).fill('Acme');
    await page.getByRole('checkbox', { name: 'Newsletter' }).check();
    await page.getByRole('button', { name: 'Send' }).click();
    await page.waitForURL(`${worker.url}/forms/contact`);
    await screenshot(page, 'snippet-posted');
    const state = await sandbox.state();
    const lead = state.contacts.find((c) => c.email_addresses.some((e) => e.email === visitor));
    assert.ok(lead, 'the lead from the copied form is in Keap');
    assert.deepEqual([...lead.tag_ids].sort(), [101, 103]);
    assert.deepEqual(lead.custom_fields.find((f) => f.id === 7)?.content, 'Acme');
    fs.rmSync(dir, { recursive: true, force: true });
  } finally {
    await b.close();
  }
});
