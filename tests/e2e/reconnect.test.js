'use strict';
// reconnect: the server is restarted while two chat pages are open. The
// pages show that they lost the connection, come back by themselves, log in
// again under the same names, and work. This scenario runs its own server
// (lib/server.js), so that stopping it disturbs no other test.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  launchBrowser, Problems, openPage, waitState, screenshot, exactly, FIRST_RETRY, recordStateDetail, waitFailedRetry,
} = require('./lib/harness');
const { startServer } = require('./lib/server');

let browser;
let server;
before(async () => { browser = await launchBrowser(); });
after(async () => {
  if (server) await server.stop('SIGKILL');
  if (browser) await browser.close();
});

const notice = (page, text) => page.locator('#messages li.notice span.text').filter({ hasText: text });
const chatLine = (page, user, text) => page.locator('#messages li.chat')
  .filter({ has: page.locator('span.user', { hasText: exactly(user) }) })
  .filter({ has: page.locator('span.text', { hasText: exactly(text) }) });

async function join(page, name) {
  await waitState(page, 'open');
  await page.locator('#join:enabled').waitFor();
  await page.locator('#name').fill(name);
  await page.locator('#name').press('Enter');
  await page.locator('#me').filter({ hasText: exactly(name) }).waitFor();
}

test('reconnect: chat pages survive a server restart on the same port', async (t) => {
  server = await startServer();
  const { port, dataDir } = server;
  const problems = new Problems();
  // While the server is down, each reconnect attempt of a page fails, and
  // Chromium reports that on the console ("WebSocket connection to
  // 'ws://127.0.0.1:PORT/ws/chat' failed: ...") and as a WebSocket error.
  // Those, and only those, are expected while `down` is true; any other
  // problem, or one of these at another time, still fails the test.
  let down = false;
  const wsUrl = 'ws://127.0.0.1:' + port + '/ws/chat';
  problems.ignore = (text) => down && Problems.failedSocket(wsUrl, text);

  const ann = await openPage(browser, problems, 'ann', null);
  const bob = await openPage(browser, problems, 'bob', null);
  try {
    await ann.page.goto(server.url + '/chat.html');
    await bob.page.goto(server.url + '/chat.html');
    await join(ann.page, 'ann');
    await join(bob.page, 'bob');
    await ann.page.locator('#msg').fill('before the restart');
    await ann.page.locator('#msg').press('Enter');
    await chatLine(bob.page, 'ann', 'before the restart').waitFor();

    // Stop the server (SIGTERM: it closes every WebSocket with 1001 "going away").
    await Promise.all([ann.page, bob.page].map(recordStateDetail));
    down = true;
    const exit = await server.stop('SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null }, 'wslab exits 0 on SIGTERM');
    for (const page of [ann.page, bob.page]) {
      await notice(page, /^Connection lost \(code \d+\)\. Reconnecting…$/).waitFor();
      await page.locator('#state-detail').filter({ hasText: /^reconnecting in [\d.]+ s$/ }).waitFor();
      assert.notEqual(await page.locator('#state').getAttribute('data-state'), 'open');
      await page.locator('#msg:disabled').waitFor();
      assert.equal(await page.locator('#users li').count(), 0);
    }
    // Stay down until both pages have tried to reconnect and failed: the
    // first retry comes 0.25 to 0.5 s after the close (backoff with jitter),
    // and when it fails the next is announced in 0.5 to 1 s. Every text of
    // #state-detail is recorded, so neither page's announcements can pass
    // unseen while the test looks at the other.
    await Promise.all([ann.page, bob.page].map((page) => waitFailedRetry(page)));
    for (const [page, name] of [[ann.page, 'ann'], [bob.page, 'bob']]) {
      const seen = await page.evaluate(() => window.__stateDetail);
      assert.match(seen.find((text) => text !== ''), FIRST_RETRY, 'the first retry is announced soon: ' + seen.join(' | '));
      t.diagnostic(name + "'s #state-detail while down: " + seen.map((text) => JSON.stringify(text)).join(', '));
    }
    assert.equal(await notice(ann.page, /^Connection lost/).count(), 1, 'one notice per outage, not one per attempt');
    await screenshot(ann.page, 'chat-reconnecting');

    // Start it again on the same port, with the same data directory.
    server = await startServer({ port, dataDir });
    assert.equal(server.port, port);

    // The pages come back by themselves and log in again.
    for (const [page, name] of [[ann.page, 'ann'], [bob.page, 'bob']]) {
      await waitState(page, 'open', { timeout: 30000 });
      await notice(page, exactly('Connected again.')).waitFor();
      await notice(page, exactly('You are back as ' + name + '.')).waitFor();
      await page.locator('#me').filter({ hasText: exactly(name) }).waitFor();
      await page.locator('#msg:enabled').waitFor();
    }
    down = false;
    for (const page of [ann.page, bob.page]) {
      await page.locator('#users li[data-user="ann"]').waitFor();
      await page.locator('#users li[data-user="bob"]').waitFor();
    }
    // One outage, one notice (not one per failed attempt).
    assert.equal(await notice(ann.page, /^Connection lost/).count(), 1);

    // And they work.
    await bob.page.locator('#msg').fill('after the restart');
    await bob.page.locator('#msg').press('Enter');
    await chatLine(ann.page, 'bob', 'after the restart').waitFor();
    await chatLine(bob.page, 'bob', 'after the restart').waitFor();
    // The earlier message is shown once, not repeated.
    assert.equal(await chatLine(ann.page, 'ann', 'before the restart').count(), 1);

    await screenshot(ann.page, 'chat-reconnected');
    t.diagnostic('expected while the server was down: ' + problems.ignored.length +
      ' failed WebSocket connection attempts' + (problems.ignored.length ? ', e.g. ' + problems.ignored[0] : ''));
    problems.assertNone();
  } finally {
    await Promise.all([ann, bob].map(({ context }) => context.close()));
    await server.stop();
    server = null;
  }
});
