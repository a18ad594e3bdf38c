'use strict';
// index: the landing page reads /api/status, and every demo link opens a
// page that works, with no console error and no failed request.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { launchBrowser, Problems, openPage, waitState, screenshot } = require('./lib/harness');

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { if (browser) await browser.close(); });

// Each link, the heading of the page it opens, and what that page looks like
// once it works.
const DEMOS = [
  { id: 'link-echo', file: 'echo.html', title: 'Echo', ready: (page) => waitState(page, 'open') },
  {
    id: 'link-room', file: 'room.html', title: 'Room',
    // room.html joins nothing until asked: join the default room.
    ready: async (page) => {
      await page.locator('#join').click();
      await waitState(page, 'open');
      await page.locator('#current-room').filter({ hasText: 'lobby' }).waitFor();
    },
  },
  { id: 'link-chat', file: 'chat.html', title: 'Chat', ready: (page) => waitState(page, 'open') },
  {
    id: 'link-workshop', file: 'workshop.html', title: 'Workshops',
    ready: async (page) => {
      await waitState(page, 'open');
      await page.locator('#workshops li[data-id]').first().waitFor();
    },
  },
  {
    id: 'link-relay', file: 'relay.html', title: 'Relay',
    ready: async (page) => {
      await waitState(page, 'open');
      await page.locator('#registered[data-registered="true"]').waitFor();
    },
  },
  {
    // This browser is on the server's machine: the inspector lets it in.
    id: 'link-inspect', file: 'inspect.html', title: 'Inspector',
    ready: async (page) => {
      await waitState(page, 'open');
      await page.locator('#clients-count').filter({ hasText: /^\d+ open, \d+ closed$/ }).waitFor();
    },
  },
];

test('index: the status box shows live figures from /api/status', async () => {
  const problems = new Problems();
  const { context, page } = await openPage(browser, problems, 'index', '/');
  try {
    await waitState(page, 'open');
    await page.locator('#status-uptime').filter({ hasText: /\d+ s$/ }).waitFor();
    assert.match(await page.locator('#status-total').textContent(), /^\d+$/);
    assert.match(await page.locator('#status-in').textContent(), /^\d+$/);
    assert.equal(await page.locator('#status-error').textContent(), '');
    assert.equal(await page.locator('#demos a').count(), DEMOS.length);
    await screenshot(page, 'index');
    problems.assertNone();
  } finally {
    await context.close();
  }
});

for (const demo of DEMOS) {
  test('index: #' + demo.id + ' opens ' + demo.file + ' with no errors', async () => {
    const problems = new Problems();
    // Leaving a page cancels what it still has in flight at that moment:
    // the index's /api/status poll (every 3 s), or the favicon Chromium
    // fetches after a page's load. Those aborts are the browser's doing,
    // not an error of either page, so they alone are let through (a
    // missing favicon would still fail the test, as an HTTP 404).
    problems.ignore = (text) =>
      /^request failed: GET \S+\/(api\/status|favicon\.(svg|ico)) net::ERR_ABORTED/.test(text);
    const { context, page } = await openPage(browser, problems, demo.file, '/');
    try {
      await waitState(page, 'open');
      await Promise.all([
        page.waitForURL('**/' + demo.file),
        page.locator('#' + demo.id).click(),
      ]);
      await page.waitForLoadState('load');
      assert.equal(await page.locator('h1').textContent(), demo.title);
      await demo.ready(page);
      // Back to the index, which still works.
      await page.locator('header a.home').click();
      await page.waitForURL(/\/index\.html$/);
      await waitState(page, 'open');
      problems.assertNone();
    } finally {
      await context.close();
    }
  });
}
