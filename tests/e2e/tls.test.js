'use strict';
// tls: the chat page over https, its WebSocket over wss, on a server of its
// own started with a certificate made for this test (`make cert`'s script).
// Chromium runs with --ignore-certificate-errors because the certificate is
// self-signed; the page itself is what is under test.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { launchBrowser, Problems, waitState, screenshot, exactly } = require('./lib/harness');
const { startServer, ROOT } = require('./lib/server');

let browser;
let server;
let certs;
before(async () => {
  certs = fs.mkdtempSync(path.join(process.env.WSLAB_E2E_TMP || os.tmpdir(), 'certs-'));
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

test('tls: the relay page shows jobs that speak TLS, and its job command moves the page to 100 %', async () => {
  const problems = new Problems();
  const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
  context.setDefaultTimeout(15000);
  try {
    const page = await context.newPage();
    problems.attach(page, 'relay');
    await page.goto(server.url + '/relay.html');
    await waitState(page, 'open');
    await page.locator('#registered[data-registered="true"]').waitFor();
    const uuid = await page.locator('#uuid').textContent();
    const port = new URL(page.url()).port;
    const command = await page.locator('#cmd-sh').textContent();
    assert.equal(command, 'sh examples/backend/job.sh ' + uuid + ' ' + port + ' --tls');
    assert.match(await page.locator('#cmd-curl').textContent(), /^curl --cacert certs\/cert\.pem .* https:\/\//);
    // Run as the page says, from the project directory; the certificate is
    // this test's, not certs/cert.pem, so WSLAB_CA names it.
    await new Promise((resolve, reject) => {
      execFile('sh', command.split(' ').slice(1), {
        cwd: ROOT, timeout: 60000, env: { ...process.env, WSLAB_CA: path.join(certs, 'cert.pem') },
      }, (err, stdout, stderr) => {
        if (err) reject(new Error('job.sh failed: ' + err.message + '\nstdout:\n' + stdout + '\nstderr:\n' + stderr));
        else resolve();
      });
    });
    await page.locator('#progress-text').filter({ hasText: /^100 %/ }).waitFor();
    problems.assertNone();
  } finally {
    await context.close();
  }
});
