// The example site (site/) in headless Chromium, served on its own
// loopback origin, posting through the real worker (workerd) to the Keap
// sandbox: the enhanced form, a site the worker does not allow, and the
// plain form with JavaScript off.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startSiteServer } from '../../scripts/site-server.mjs';
import { DEFAULT_FORMS, freePort, SANDBOX_API_KEY, startSandbox, startWorker, stopAll } from '../support/harness.mjs';
import { openBrowser, screenshot } from './browser.mjs';

let sandbox;
let worker;
let site; // an allowed origin
let foreign; // the same pages on an origin the worker does not allow

before(async () => {
  sandbox = await startSandbox({ name: 'browser-site-sandbox' });
  const sitePort = await freePort();
  const siteOrigin = `http://127.0.0.1:${sitePort}`;
  worker = await startWorker({
    sandbox,
    name: 'browser-site',
    secrets: { KEAP_API_KEY: SANDBOX_API_KEY },
    allowedOrigins: [siteOrigin],
    forms: { contact: { ...DEFAULT_FORMS.contact, error_redirect: `${siteOrigin}/oops.html` } },
  });
  site = await startSiteServer({ workerUrl: worker.url, port: sitePort });
  foreign = await startSiteServer({ workerUrl: worker.url });
});

after(async () => {
  await site?.close();
  await foreign?.close();
  await stopAll();
});

const contactsFor = async (email) =>
  (await sandbox.state()).contacts.filter((c) => (c.email_addresses || []).some((e) => e.email === email));

test('the enhanced form shows a field error, then sends the contact with its tags and says so', async () => {
  const b = await openBrowser();
  try {
    const { page } = b;
    await page.goto(site.url);
    assert.equal(await page.getByRole('textbox', { name: /Leave this empty/ }).count(), 0, 'the honeypot is hidden from assistive technology');
    const trap = await page.locator('input[name="_gotcha"]').boundingBox();
    assert.ok(!trap || trap.x + trap.width <= 0, 'the honeypot is off-screen');

    // An address the browser accepts but the worker refuses: the error
    // lands on the field.
    await page.getByRole('textbox', { name: /^Email/ }).fill('jane@example');
    await page.getByRole('button', { name: 'Send' }).click();
    const email = page.getByRole('textbox', { name: /^Email/ });
    await page.waitForFunction(() => document.querySelector('#email').getAttribute('aria-invalid') === 'true');
    assert.match(await page.locator('#email-error').textContent(), /valid email/);
    assert.match(await page.getByRole('status').textContent(), /valid email/);
    assert.ok(await email.evaluate((el) => el === document.activeElement), 'focus moves to the field at fault');

    await email.fill('jane.browser@example.com');
    await page.getByLabel('First name').fill('Jane');
    await page.getByLabel('Last name').fill('Browser');
    await page.getByLabel('Send me the newsletter').check();
    await page.getByLabel(/You may email me/).check();
    // Keap answers slowly this time, so the sending state can be seen.
    await sandbox.faults({ delay_ms: 1500 });
    const send = page.getByRole('button', { name: 'Send' });
    await send.click();
    assert.ok(await send.isDisabled(), 'the button is disabled while sending');
    assert.match(await page.getByRole('status').textContent(), /Sending/);
    await page.getByRole('status').getByText('Thank you! Your message has been sent.').waitFor();
    await sandbox.faults({ clear: true });
    assert.equal(await email.getAttribute('aria-invalid'), null, 'the error is cleared');
    assert.equal(await email.inputValue(), '', 'the form is reset');
    assert.ok(await page.getByRole('button', { name: 'Send' }).isEnabled());
    assert.equal(new URL(page.url()).origin, site.origin, 'the page stayed');
    await screenshot(page, 'site-enhanced-success');

    const [contact] = await contactsFor('jane.browser@example.com');
    assert.ok(contact, 'the contact reached the sandbox');
    assert.equal(contact.given_name, 'Jane');
    assert.equal(contact.family_name, 'Browser');
    assert.deepEqual([...contact.tag_ids].sort(), [101, 103]);
    assert.ok(contact.opt_in_reason, 'consent sent the opt-in reason');
  } finally {
    await b.close();
  }
});

test('opened from a campaign link, the enhanced form sends its message, page and UTM parameters into a Keap note', async () => {
  const b = await openBrowser();
  try {
    const { page } = b;
    const landing = `${site.url.replace(/\/$/, '')}/?utm_source=browser-test&utm_medium=email&utm_campaign=spring&gclid=g-42`;
    await page.goto(landing);
    await page.getByRole('textbox', { name: /^Email/ }).fill('note.browser@example.com');
    await page.getByLabel('Message').fill('Hello from the browser.\nSecond line.');
    await page.getByLabel(/You may email me/).check();
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByRole('status').getByText('Thank you! Your message has been sent.').waitFor();
    assert.equal(await page.getByLabel('Message').inputValue(), '', 'the form is reset');
    await screenshot(page, 'site-message-sent');

    const [contact] = await contactsFor('note.browser@example.com');
    assert.ok(contact, 'the contact reached the sandbox');
    assert.equal(contact.notes.length, 1, 'one note');
    const { body } = contact.notes[0];
    for (const part of [
      'Hello from the browser.\nSecond line.',
      `Page: ${landing}`,
      'utm_source: browser-test',
      'utm_medium: email',
      'utm_campaign: spring',
      'gclid: g-42',
      'Consent: given',
      'You may email me about my request',
    ]) {
      assert.ok(body.includes(part), `${JSON.stringify(part)} in ${body}`);
    }
  } finally {
    await b.close();
  }
});

test('from an origin the worker does not allow, the browser blocks the answer and nothing reaches Keap', async () => {
  const before = await sandbox.state();
  const b = await openBrowser();
  try {
    const { page } = b;
    const refused = [];
    page.on('response', (r) => {
      if (r.url().startsWith(worker.url)) refused.push(r.status());
    });
    await page.goto(foreign.url);
    await page.getByRole('textbox', { name: /^Email/ }).fill('mallory@example.com');
    await page.getByRole('button', { name: 'Send' }).click();
    // fetch() is blocked (no Access-Control-Allow-Origin); the script then
    // falls back to the plain post, which the worker refuses as well.
    await page.getByText('This form cannot be sent from this website.').waitFor();
    assert.ok(
      b.console.some((l) => /CORS|Access-Control-Allow-Origin/.test(l)),
      `the browser reports the CORS block; console: ${b.console.join(' | ')}`,
    );
    assert.ok(refused.length >= 1 && refused.every((s) => s === 403), `the worker answered ${refused}`);
    await screenshot(page, 'site-foreign-origin-refused');
  } finally {
    await b.close();
  }
  const after = await sandbox.state();
  assert.equal(after.counts.contacts_put, before.counts.contacts_put, 'no contact call reached the sandbox');
  assert.equal((await contactsFor('mallory@example.com')).length, 0);
});

test('with JavaScript off, the plain form posts and the browser follows the 303 to the thank-you page', async () => {
  const b = await openBrowser({ javaScriptEnabled: false });
  try {
    const { page } = b;
    await page.goto(site.url);
    await page.getByRole('textbox', { name: /^Email/ }).fill('plain.form@example.com');
    await page.getByLabel('Message').fill('Sent the plain way.');
    await page.getByLabel('Send me the newsletter').check();
    const [response] = await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'Send' }).click(),
    ]);
    const redirect = await response.request().redirectedFrom()?.response();
    assert.equal(redirect?.status(), 303, 'the worker answered the post with a 303');
    assert.equal(page.url(), `${site.origin}/thanks.html`);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Thank you');
    await screenshot(page, 'site-plain-thanks');
    const [contact] = await contactsFor('plain.form@example.com');
    assert.ok(contact, 'the contact reached the sandbox');
    assert.deepEqual([...contact.tag_ids].sort(), [101, 103]);
    assert.equal(contact.notes.length, 1, 'the message is a note');
    const { body } = contact.notes[0];
    assert.ok(body.startsWith('Sent the plain way.'), body);
    // No script filled _page: the Referer header (the page's origin, under
    // the browser's default cross-origin policy) stands in.
    assert.ok(body.includes(`Page: ${site.origin}/`), body);
  } finally {
    await b.close();
  }
});

test('when form.js does not load, a refused plain post lands on oops.html, which names the problem', async () => {
  const b = await openBrowser();
  try {
    const { page } = b;
    await page.route('**/form.js', (route) => route.abort());
    await page.goto(site.url);
    await page.getByRole('textbox', { name: /^Email/ }).fill('jane@example');
    await Promise.all([page.waitForURL(/\/oops\.html\?/), page.getByRole('button', { name: 'Send' }).click()]);
    const url = new URL(page.url());
    assert.equal(url.origin, site.origin);
    assert.equal(url.searchParams.get('error'), 'invalid_email');
    assert.match(await page.locator('#reason').textContent(), /email address does not look right/);
    await screenshot(page, 'site-plain-oops');
  } finally {
    await b.close();
  }
});
