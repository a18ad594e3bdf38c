'use strict';
// A script app in the browser: www/chat.html, unchanged, against
// examples/scripts/chat-protocol.php (a Ratchet app speaking the /ws/chat
// protocol) mounted on /ws/chat with --app, after `wslab ratchet DIR`.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { launchBrowser, Problems, openPage, waitState, exactly } = require('./lib/harness');
const { startServer, ROOT } = require('./lib/server');

const BIN = process.env.WSLAB_BIN || path.join(ROOT, 'target', 'release', 'wslab');

let browser;
let server;
before(async () => { browser = await launchBrowser(); });
after(async () => {
  if (server) await server.stop();
  if (browser) await browser.close();
});

async function join(page, name) {
  await waitState(page, 'open');
  await page.locator('#join:enabled').waitFor();
  await page.locator('#name').fill(name);
  await page.locator('#name').press('Enter');
  await page.locator('#me').filter({ hasText: exactly(name) }).waitFor();
}

function chatLine(page, user, text) {
  return page.locator('#messages li.chat')
    .filter({ has: page.locator('span.user', { hasText: exactly(user) }) })
    .filter({ has: page.locator('span.text', { hasText: exactly(text) }) });
}

test('script app: chat.html against chat-protocol.php (Ratchet on wslab)', async () => {
  const dir = fs.mkdtempSync(path.join(process.env.WSLAB_E2E_TMP || os.tmpdir(), 'ratchet-'));
  fs.copyFileSync(path.join(ROOT, 'examples', 'scripts', 'chat-protocol.php'), path.join(dir, 'chat-protocol.php'));
  execFileSync(BIN, ['ratchet', dir]);
  server = await startServer({ args: ['--app', `/ws/chat=php '${path.join(dir, 'chat-protocol.php')}'`] });
  const problems = new Problems();
  const ann = await openPage(browser, problems, 'ann', null);
  const bob = await openPage(browser, problems, 'bob', null);
  try {
    await ann.page.goto(server.url + '/chat.html');
    await bob.page.goto(server.url + '/chat.html');
    await join(ann.page, 'ann');
    await join(bob.page, 'bob');
    const users = await ann.page.locator('#users li').evaluateAll((items) => items.map((li) => li.dataset.user));
    assert.deepEqual(users.sort(), ['ann', 'bob']);
    await ann.page.locator('#msg').fill('hello from PHP');
    await ann.page.locator('#msg').press('Enter');
    await chatLine(bob.page, 'ann', 'hello from PHP').waitFor();
    await chatLine(ann.page, 'ann', 'hello from PHP').waitFor();
    assert.match(server.log(), /app \/ws\/chat: started php/);
    problems.assertNone();
  } finally {
    await ann.context.close();
    await bob.context.close();
  }
});
