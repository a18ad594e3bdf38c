'use strict';
// echo: a sent message comes back; the readyState indicator follows the
// socket through open, closed and open again.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { launchBrowser, Problems, openPage, waitState, screenshot, exactly } = require('./lib/harness');

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { if (browser) await browser.close(); });

test('echo: messages come back, the indicator shows the readyState', async () => {
  const problems = new Problems();
  const { context, page } = await openPage(browser, problems, 'echo', '/echo.html');
  try {
    await waitState(page, 'open');
    assert.equal(await page.locator('#state').textContent(), 'open');
    assert.equal(await page.locator('#send').isEnabled(), true);
    await page.locator('#log li.info').filter({ hasText: /connected to ws:\/\/127\.0\.0\.1:\d+\/ws\/echo/ }).waitFor();

    // A text message, sent with Enter.
    await page.locator('#msg').fill('Hello, echo! <b>not bold</b>');
    await page.locator('#msg').press('Enter');
    await page.locator('#log li.sent span.text').filter({ hasText: exactly('Hello, echo! <b>not bold</b>') }).waitFor();
    await page.locator('#log li.received span.text').filter({ hasText: exactly('Hello, echo! <b>not bold</b>') }).waitFor();
    assert.equal(await page.locator('#msg').inputValue(), '');
    assert.equal(await page.locator('#log b').count(), 0, 'a message is shown as text, never as HTML');

    // A binary message with the Send button: it comes back as binary.
    await page.locator('#binary').check();
    await page.locator('#msg').fill('bytes: äö 😀');
    await page.locator('#send').click();
    const binary = page.locator('#log li.received').filter({ hasText: 'bytes: äö 😀' });
    await binary.waitFor();
    assert.equal(await binary.locator('.meta').textContent(), 'binary, 16 bytes');
    await page.locator('#binary').uncheck();

    // Disconnect: closing, then closed; Connect: open again, and it works.
    await page.locator('#disconnect').click();
    await waitState(page, 'closed');
    await page.locator('#log li.info').filter({ hasText: 'closed with code 1000 (bye)' }).waitFor();
    assert.equal(await page.locator('#send').isDisabled(), true);
    assert.equal(await page.locator('#connect').isEnabled(), true);
    await page.locator('#connect').click();
    await waitState(page, 'open');
    await page.locator('#msg').fill('back again');
    await page.locator('#msg').press('Enter');
    await page.locator('#log li.received span.text').filter({ hasText: exactly('back again') }).waitFor();

    await screenshot(page, 'echo');
    problems.assertNone();
  } finally {
    await context.close();
  }
});
