'use strict';
// tls: the chat page over https, its WebSocket over wss, on a server of its
// own started with a certificate made for this test (`make cert`'s script).
// Chromium runs with --ignore-certificate-errors because the certificate is
// self-signed; the page itself is what is under test.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { launchBrowser, Problems, waitState, screenshot, exactly } = require('./lib/harness');
const { startServer, ROOT } = require('./lib/server');

let browser;
let server;
before(async () => {
  const certs = fs.mkdtempSync(path.join(process.env.WSLAB_E2E_TMP || os.tmpdir(), 'certs-'));
  execFileSync('sh', [path.join(ROOT, '.ci', 'make-cert.sh'), certs], { stdio: 'ignore' });
  server = await startServer({
    args: ['--tls-cert', path.join(certs, 'cert.pem'), '--tls-key', path.join(certs, 'key.pem')],
  });
  browser = await launchBrowser(['--ignore-certificate-errors']);
});
after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

test('tls: two users chat over https and wss', async () => {
  assert.match(server.url, /^https:/);
  const problems = new Problems();
  const pages = [];
  try {
    for (const name of ['ana', 'ben']) {
      const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
      context.setDefaultTimeout(15000);
      const page = await context.newPage();
      problems.attach(page, name);
      await page.goto(server.url + '/chat.html');
      assert.equal(new URL(page.url()).protocol, 'https:');
      await waitState(page, 'open');
      await page.locator('#name').fill(name);
      await page.locator('#name').press('Enter');
      await page.locator('#me').filter({ hasText: exactly(name) }).waitFor();
      pages.push({ context, page });
    }
    const [ana, ben] = pages.map((p) => p.page);
    // The page chose wss by itself, because it was loaded over https.
    await ana.locator('#users li[data-user="ben"]').waitFor();
    await ana.locator('#msg').fill('encrypted hello');
    await ana.locator('#msg').press('Enter');
    await ben.locator('#messages li.chat span.text').filter({ hasText: exactly('encrypted hello') }).waitFor();
    await screenshot(ben, 'chat-over-https');
    problems.assertNone();
  } finally {
    for (const { context } of pages) await context.close();
  }
});
