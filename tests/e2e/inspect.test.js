'use strict';
// inspect: the inspector (inspect.html on /ws/inspect, docs/inspector.md)
// next to echo pages. The client list follows the pages that come and go;
// a click on a row shows that client's handshake and its frames both ways,
// live, with pause and filter; close codes show in the list and in the
// frames; the plots draw. Also makes screenshots/inspector.png (the one
// committed as docs/img/inspector.png). Then: the access rule as a page on
// another machine sees it (a refusal, then the token), and the inspector
// coming back by itself after a server restart; both on servers of their own
// (lib/server.js); and a script app's lines with its child, shown among
// the frames of its client.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {
  SHOTS, baseUrl, launchBrowser, Problems, openPage, waitState, screenshot, unique, exactly,
  recordStateDetail, waitFailedRetry,
} = require('./lib/harness');
const { startServer } = require('./lib/server');

let browser;
const servers = [];
before(async () => { browser = await launchBrowser(); });
after(async () => {
  for (const server of servers) await server.stop('SIGKILL');
  if (browser) await browser.close();
});

const INSPECTOR = { width: 1280, height: 900 };
const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS) || 15000;

/**
 * Like openPage, in a context whose user agent ends with " wslab-e2e/TAG":
 * the inspector shows every client of the shared server, and this is how
 * the test tells its own pages' rows from the others'.
 */
async function openTagged(problems, label, url, baseAgent, tag) {
  const context = await browser.newContext({ viewport: { width: 800, height: 640 }, userAgent: baseAgent + ' wslab-e2e/' + tag });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  problems.attach(page, label);
  await page.goto(url);
  return { context, page };
}

/** The inspector's row of the client whose user agent ends with TAG. */
const rowOf = (page, tag) =>
  page.locator('#clients tbody tr[data-client]').filter({ has: page.locator('td.agent[title$=" wslab-e2e/' + tag + '"]') });

/** A frame in the inspector's list: direction, and a payload that is exactly `text`. */
const frame = (page, dir, text) => page.locator('#frames li.frame[data-dir="' + dir + '"][data-opcode="text"]')
  .filter({ has: page.locator('pre.payload', { hasText: exactly(text) }) });

/**
 * screenshots/inspector.png, the README's picture: the page from the top to
 * the end of the conversation, with the handshake folded so that the frames
 * show (the whole page is in inspector-page.png).
 */
async function pictureOfConversation(page) {
  await page.locator('#handshake summary').click();
  await page.locator('#handshake:not([open])').waitFor({ state: 'attached' });
  await page.evaluate(() => window.scrollTo(0, 0));
  const box = await page.locator('#conversation').boundingBox();
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({
    path: path.join(SHOTS, 'inspector.png'), fullPage: true,
    clip: { x: 0, y: 0, width: INSPECTOR.width, height: Math.ceil(box.y + box.height + 16) },
  });
}

async function send(page, text) {
  await page.locator('#msg').fill(text);
  await page.locator('#msg').press('Enter');
}

test('inspect: the client list, a conversation both ways, close codes, the plots', async () => {
  const problems = new Problems();
  const inspector = await openPage(browser, problems, 'inspector', '/inspect.html', { viewport: INSPECTOR });
  const ins = inspector.page;
  const opened = [];
  try {
    await waitState(ins, 'open');
    assert.equal(await ins.locator('#access').isHidden(), true);
    const baseAgent = await ins.evaluate(() => navigator.userAgent);

    // An echo page appears in the list: its app, path, peer, and open.
    const tagA = 'a-' + unique();
    const echo = await openTagged(problems, 'echo', baseUrl() + '/echo.html', baseAgent, tagA);
    opened.push(echo);
    await waitState(echo.page, 'open');
    const rowA = rowOf(ins, tagA);
    await rowA.locator('td.state').filter({ hasText: exactly('open') }).waitFor();
    const idA = await rowA.getAttribute('data-client');
    assert.match(idA, /^\d+$/);
    assert.equal(await rowA.locator('td.id').textContent(), idA);
    assert.equal(await rowA.locator('td.app').textContent(), 'echo');
    assert.equal(await rowA.locator('td.path').textContent(), '/ws/echo');
    assert.match(await rowA.locator('td.peer').textContent(), /^127\.0\.0\.1:\d+$/);
    assert.match(await rowA.locator('td.agent').textContent(), /Chrom/);

    // A second page comes and goes: its row appears, then greys with a close code.
    const tagB = 'b-' + unique();
    const second = await openTagged(problems, 'echo 2', baseUrl() + '/echo.html', baseAgent, tagB);
    await waitState(second.page, 'open');
    const rowB = rowOf(ins, tagB);
    await rowB.locator('td.state').filter({ hasText: exactly('open') }).waitFor();
    assert.notEqual(await rowB.getAttribute('data-client'), idA);
    await second.context.close();
    await ins.locator('#clients tr.closed[data-client]').filter({ has: ins.locator('td.agent[title$=" wslab-e2e/' + tagB + '"]') }).waitFor();
    assert.match(await rowB.getAttribute('data-code'), /^\d{4}$/);
    assert.match(await rowB.locator('td.state').textContent(), /^closed \d{4}\b/);
    assert.equal(await rowA.locator('td.state').textContent(), 'open');

    // Click the first page's row: it is selected, and its handshake shows.
    await rowA.click();
    await ins.locator('#clients tr.selected[data-client="' + idA + '"]').waitFor();
    await ins.locator('#watched').filter({ hasText: 'client ' + idA }).waitFor();
    await ins.locator('#handshake-request').filter({ hasText: /^GET \/ws\/echo(\?\S*)? HTTP\/1\.1\r?\n/ }).waitFor();
    await ins.locator('#handshake-response').filter({ hasText: /101/ }).waitFor();
    assert.match(await ins.locator('#handshake-request').textContent(), /Sec-WebSocket-Key: /i);
    assert.match(await ins.locator('#handshake-response').textContent(), /Sec-WebSocket-Accept: /i);
    assert.equal(await ins.locator('#handshake-note').textContent(), '', 'the inspector was open before this client came: the whole handshake is kept');

    // A message from the echo page: the inspector shows it in, and the echo out, within 1 s.
    const text = 'Hello, inspector ' + tagA;
    await send(echo.page, text);
    await Promise.all([
      frame(ins, 'in', text).waitFor({ timeout: 1000 }),
      frame(ins, 'out', text).waitFor({ timeout: 1000 }),
    ]);
    const bytes = Buffer.byteLength(text);
    assert.equal(await frame(ins, 'in', text).locator('.meta').textContent(), 'in · text · FIN · masked · ' + bytes + ' B');
    assert.equal(await frame(ins, 'out', text).locator('.meta').textContent(), 'out · text · FIN · unmasked · ' + bytes + ' B');

    // JSON is pretty-printed; HTML in a payload stays text.
    await send(echo.page, '{"type":"chat","text":"<b>hi</b>","n":[1,2]}');
    const json = ins.locator('#frames li.frame[data-dir="out"] pre.payload.json').filter({ hasText: '"text": "<b>hi</b>"' });
    await json.waitFor();
    assert.match(await json.textContent(), /^\{\n {2}"type": "chat",\n/);
    assert.equal(await ins.locator('#frames b').count(), 0);

    // The filter shows only the frames containing its text.
    await ins.locator('#filter').fill(tagA);
    await ins.locator('#frames li.frame[data-dir="out"] pre.payload.json').first().waitFor({ state: 'hidden' });
    assert.equal(await frame(ins, 'in', text).isVisible(), true);
    await ins.locator('#filter').fill('');
    await json.waitFor();

    // Pause: new frames wait, counted; Resume shows them.
    await ins.locator('#pause').click();
    await ins.locator('#pause[aria-pressed="true"]').filter({ hasText: 'Resume' }).waitFor();
    const later = 'while paused ' + tagA;
    await send(echo.page, later);
    await echo.page.locator('#log li.received span.text').filter({ hasText: exactly(later) }).waitFor();
    await ins.locator('#paused-count').filter({ hasText: /^([2-9]|\d\d+) waiting$/ }).waitFor();
    assert.equal(await frame(ins, 'out', later).count(), 0);
    await ins.locator('#pause').click();
    await frame(ins, 'out', later).waitFor();
    assert.equal(await frame(ins, 'in', later).count(), 1);
    assert.equal(await ins.locator('#paused-count').textContent(), '');

    // The plots draw from the samples of every second; the log has lines.
    await ins.waitForFunction(() => ['connections', 'messages', 'bytes', 'errors']
      .every((name) => Number(document.getElementById('plot-' + name).dataset.points) >= 3), null, { timeout: TIMEOUT });
    await ins.locator('#legend-connections li[data-series="echo"]').waitFor();
    await ins.locator('#log li').first().waitFor();

    await send(echo.page, 'The inspector shows every frame, both ways.');
    await frame(ins, 'out', 'The inspector shows every frame, both ways.').waitFor();
    // The list counts them at the next tick: four messages each way.
    await rowA.locator('td.in').filter({ hasText: /^4 · \d+ B$/ }).waitFor();
    await rowA.locator('td.out').filter({ hasText: /^4 · \d+ B$/ }).waitFor();
    // This page itself is in the list too, and cannot be picked.
    const own = ins.locator('#clients tr.viewer[data-app="inspect"]').first();
    await own.waitFor();
    await own.click();
    assert.equal(await ins.locator('#clients tr.selected').getAttribute('data-client'), idA);
    await screenshot(ins, 'inspector-page');
    await pictureOfConversation(ins);

    // The echo page disconnects (1000, "bye"): the close frames both ways,
    // and the row greys with the code and the reason.
    await echo.page.locator('#disconnect').click();
    await waitState(echo.page, 'closed');
    const closeIn = ins.locator('#frames li.frame[data-dir="in"][data-opcode="close"]');
    await closeIn.locator('.close').filter({ hasText: exactly('code 1000 · bye') }).waitFor();
    await ins.locator('#frames li.frame[data-dir="out"][data-opcode="close"] .close').filter({ hasText: /^code 1000\b/ }).waitFor();
    await ins.locator('#clients tr.closed[data-client="' + idA + '"][data-code="1000"]').waitFor();
    assert.equal(await rowA.locator('td.state').textContent(), 'closed 1000 bye');

    assert.equal(await ins.locator('#server-error').textContent(), '');
    problems.assertNone();
  } finally {
    await Promise.all([inspector, ...opened].map(({ context }) => context.close()));
  }
});

/** This machine's first IPv4 address that is not loopback, or null. */
function otherAddress() {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list || []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

test('inspect: from another address, refused without the token, open with it', async (t) => {
  const address = otherAddress();
  if (!address) {
    t.skip('this machine has no address but loopback');
    return;
  }
  const token = 'e2e-' + unique() + unique();
  const server = await startServer({ args: ['--host', '0.0.0.0', '--inspect-token', token] });
  servers.push(server);
  const base = 'http://' + address + ':' + server.port;
  const problems = new Problems();
  // A refused upgrade shows on the console as a failed WebSocket; those,
  // on /ws/inspect of this server, are what this test expects.
  const inspectUrl = 'ws://' + address + ':' + server.port + '/ws/inspect';
  problems.ignore = (text) => Problems.failedSocket(inspectUrl, text);
  const { context, page } = await openPage(browser, problems, 'remote inspector', null, { viewport: INSPECTOR });
  const contexts = [context];
  try {
    // No token: the box says how to get in.
    await page.goto(base + '/inspect.html');
    await page.locator('#access[data-reason="refused"]').waitFor();
    assert.match((await page.locator('#access').textContent()).replace(/\s+/g, ' '),
      /open only on the server's machine, or with the token the server printed at start/);
    assert.match(await page.locator('#access-detail').textContent(), /no token/);
    assert.notEqual(await page.locator('#state').getAttribute('data-state'), 'open');
    await screenshot(page, 'inspector-refused');

    // A wrong token (a new #token=... in the address: the page connects again with it): refused too.
    await page.goto(base + '/inspect.html#token=wrong');
    await page.locator('#access[data-reason="refused"] #access-detail').filter({ hasText: /refused the token/ }).waitFor();

    // The right one: open, and the box goes away.
    await page.goto(base + '/inspect.html#token=' + token);
    await waitState(page, 'open');
    await page.locator('#access').waitFor({ state: 'hidden' });

    // The URL the server prints, opened as it is in another browser: open at once.
    const other = await openPage(browser, problems, 'remote inspector 2', null, { viewport: INSPECTOR });
    contexts.push(other.context);
    await other.page.goto(base + '/inspect.html#token=' + token);
    await waitState(other.page, 'open');
    await other.page.waitForFunction(() => Number(document.getElementById('plot-messages').dataset.points) >= 1, null, { timeout: TIMEOUT });
    assert.equal(await other.page.locator('#access').isHidden(), true);
    assert.ok(problems.ignored.length > 0, 'the refusals were seen as failed sockets');
    problems.assertNone();
  } finally {
    await Promise.all(contexts.map((c) => c.close()));
    await server.stop();
  }
});

/**
 * Resolves when a socket to /ws/inspect that the page opens from now on
 * receives a message of this type.
 */
function nextMessage(page, type, timeout) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      page.off('websocket', onSocket);
      reject(new Error('no ' + type + ' message within ' + timeout + ' ms'));
    }, timeout);
    function onSocket(ws) {
      if (!ws.url().includes('/ws/inspect')) return;
      ws.on('framereceived', (frame) => {
        let message = null;
        try { message = JSON.parse(frame.payload); } catch (e) { /* not JSON */ }
        if (!message || message.type !== type) return;
        clearTimeout(timer);
        page.off('websocket', onSocket);
        resolve(message);
      });
    }
    page.on('websocket', onSocket);
  });
}

test('inspect: the inspector comes back by itself after a server restart', async () => {
  let server = await startServer();
  servers.push(server);
  const { port, dataDir } = server;
  const problems = new Problems();
  // While the server is down, the page's attempts fail (as in the reconnect
  // scenario), and so does its one question to /api/status that tells a
  // server that is down from a refusal.
  let down = false;
  problems.ignore = (text) => down && (
    Problems.failedSocket('ws://127.0.0.1:' + port + '/ws/inspect', text) ||
    /request failed: GET \S+\/api\/status net::ERR_CONNECTION_REFUSED/.test(text) ||
    /console error: Failed to load resource: net::ERR_CONNECTION_REFUSED/.test(text));
  // An echo page that is there before any inspector: its handshake was not
  // kept, the inspector shows what an app sees of it.
  const echo = await openPage(browser, problems, 'echo', null);
  const { context, page } = await openPage(browser, problems, 'inspector', null, { viewport: INSPECTOR });
  try {
    await echo.page.goto(server.url + '/echo.html');
    await waitState(echo.page, 'open');
    await page.goto(server.url + '/inspect.html');
    await waitState(page, 'open');
    await page.waitForFunction(() => Number(document.getElementById('plot-messages').dataset.points) >= 1, null, { timeout: TIMEOUT });
    const row = page.locator('#clients tr[data-app="echo"]');
    await row.click();
    await page.locator('#handshake-note').filter({ hasText: /^Partial: / }).waitFor();
    assert.match(await page.locator('#handshake-request').textContent(), /^GET \/ws\/echo HTTP\/1\.1\r\n/);
    assert.equal(await page.locator('#handshake-response').textContent(), '(not kept)');

    await recordStateDetail(page);
    down = true;
    await server.stop('SIGTERM');
    await waitState(echo.page, 'closed');
    await page.locator('#state-detail').filter({ hasText: /^reconnecting in [\d.]+ s$/ }).waitFor();
    // It tried again (0.25 to 0.5 s later), failed, and announced the next
    // try (0.5 to 1 s): backoff with jitter, as in the reconnect scenario.
    await waitFailedRetry(page);
    assert.notEqual(await page.locator('#state').getAttribute('data-state'), 'open');

    // A new socket gets a hello, then ticks: the page is fed again.
    const hello = nextMessage(page, 'hello', 30000);
    const tick = nextMessage(page, 'tick', 30000);
    server = await startServer({ port, dataDir });
    servers.push(server);
    await hello;
    await waitState(page, 'open');
    down = false;
    await tick;
    // The client watched before is gone with the old server.
    await page.locator('#frames li.frame[data-dir="note"]').filter({ hasText: 'pick a client again' }).waitFor();
    assert.equal(await page.locator('#watched').textContent(), 'none');
    assert.equal(await page.locator('#access').isHidden(), true, 'a restart is not a refusal');
    problems.assertNone();
  } finally {
    await Promise.all([context.close(), echo.context.close()]);
    await server.stop();
  }
});

test('inspect: a script app\'s lines with its child among its client\'s frames', async () => {
  const script = require('./lib/server').ROOT + '/examples/scripts/chat.py';
  const server = await startServer({ args: ['--app', "/chat=python3 '" + script + "'"] });
  servers.push(server);
  const problems = new Problems();
  const inspector = await openPage(browser, problems, 'inspector', null, { viewport: INSPECTOR });
  const ins = inspector.page;
  const contexts = [inspector.context];
  try {
    await ins.goto(server.url + '/inspect.html');
    await waitState(ins, 'open');
    const baseAgent = await ins.evaluate(() => navigator.userAgent);
    // A page that talks to the script app as the script's own comment shows.
    const tag = 's-' + unique();
    const student = await openTagged(problems, 'student', server.url + '/favicon.svg', baseAgent, tag);
    contexts.push(student.context);
    await student.page.evaluate((url) => new Promise((resolve, reject) => {
      window.received = [];
      window.ws = new WebSocket(url);
      window.ws.onmessage = (event) => window.received.push(event.data);
      window.ws.onopen = resolve;
      window.ws.onerror = () => reject(new Error('no socket'));
    }), server.url.replace(/^http/, 'ws') + '/chat?name=Ann');
    const row = rowOf(ins, tag);
    await row.locator('td.path').filter({ hasText: exactly('/chat') }).waitFor();
    await row.click();
    await ins.locator('#handshake-request').filter({ hasText: /^GET \/chat\?name=Ann HTTP\/1\.1/ }).waitFor();

    // A rename: wslab tells the child (to-app), the child answers with a
    // broadcast (from-app), and the client gets its text (out).
    await student.page.evaluate(() => window.ws.send('/name Bob'));
    await frame(ins, 'in', '/name Bob').waitFor();
    const toApp = ins.locator('#frames li.frame[data-dir="to-app"][data-opcode="line"]').filter({ hasText: '"/name Bob"' });
    await toApp.waitFor();
    assert.match(await toApp.locator('pre.payload').textContent(), /"type": "message"/);
    assert.match(await toApp.locator('.meta').textContent(), /^to-app · line · \d+ B$/);
    await ins.locator('#frames li.frame[data-dir="from-app"][data-opcode="line"]').filter({ hasText: 'Ann is now Bob' }).waitFor();
    await frame(ins, 'out', 'Ann is now Bob').waitFor();
    await screenshot(ins, 'inspector-script');
    problems.assertNone();
  } finally {
    await Promise.all(contexts.map((c) => c.close()));
    await server.stop();
  }
});
