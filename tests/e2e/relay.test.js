'use strict';
// relay: a page registers under its UUID; a backend job run with that UUID
// moves the page's progress bar to 100 %, and no other page's; a broadcast
// from one page shows in the other.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');
const {
  launchBrowser, Problems, openPage, waitState, screenshot,
} = require('./lib/harness');
const { VIEWPORTS, assertNoSideScroll, assertInsideWidth } = require('./lib/layout');

const ROOT = path.resolve(__dirname, '..', '..');

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { if (browser) await browser.close(); });

/** Run examples/backend/job.sh UUID PORT from the project directory, as the page tells you to. */
function runJob(uuid, port) {
  return new Promise((resolve, reject) => {
    execFile('sh', ['examples/backend/job.sh', uuid, String(port)], { cwd: ROOT, timeout: 60000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error('job.sh failed: ' + err.message + '\nstdout:\n' + stdout + '\nstderr:\n' + stderr));
        else resolve({ stdout, stderr });
      });
  });
}

async function registered(page) {
  await waitState(page, 'open');
  await page.locator('#registered[data-registered="true"]').waitFor();
  return page.locator('#uuid').textContent();
}

async function broadcast(from, to, text) {
  await from.locator('#msg').fill(text);
  await from.locator('#msg').press('Enter');
  await from.locator('#last-sent').filter({ hasText: text }).waitFor();
  await to.locator('#received li').filter({ hasText: 'Broadcast from' }).filter({ hasText: text }).waitFor();
}

test('relay: a backend job moves one page to 100 %; broadcasts reach the other page',
  async () => {
    const problems = new Problems();
    const ann = await openPage(browser, problems, 'ann', '/relay.html');
    const bob = await openPage(browser, problems, 'bob', '/relay.html');
    try {
      const uuidAnn = await registered(ann.page);
      const uuidBob = await registered(bob.page);
      assert.match(uuidAnn, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.notEqual(uuidAnn, uuidBob);
      const port = new URL(ann.page.url()).port;
      assert.equal(await ann.page.locator('#cmd-sh').textContent(), 'sh examples/backend/job.sh ' + uuidAnn + ' ' + port);

      // A broadcast from bob shows in ann's page, and the other way round
      // (which also proves that the server has both registrations).
      await broadcast(bob.page, ann.page, 'Hello from the second page');
      await broadcast(ann.page, bob.page, 'Hello back from the first page');
      // The sender does not get its own broadcast back.
      assert.equal(await bob.page.locator('#received li').filter({ hasText: 'Hello from the second page' }).count(), 0);
      assert.equal(await ann.page.locator('#received li').filter({ hasText: 'Hello back from the first page' }).count(), 0);

      // The backend job, run with ann's UUID, moves ann's bar to 100 %.
      assert.equal(await ann.page.locator('#progress').evaluate((p) => p.value), 0);
      await runJob(uuidAnn, port);
      await ann.page.locator('#progress-text').filter({ hasText: /^100 %/ }).waitFor();
      assert.equal(await ann.page.locator('#progress').evaluate((p) => p.value), 100);
      // job.sh reports ten steps: 10 %, 20 %, ... 100 %.
      assert.equal(await ann.page.locator('#received li[data-opcode="feedback"]').count(), 10);
      assert.equal(await ann.page.locator('#error').textContent(), '');
      // ...and nothing of it reached bob's page.
      assert.equal(await bob.page.locator('#progress').evaluate((p) => p.value), 0);
      assert.equal(await bob.page.locator('#received li[data-opcode="feedback"]').count(), 0);

      await screenshot(ann.page, 'relay');
      problems.assertNone();
    } finally {
      await Promise.all([ann, bob].map(({ context }) => context.close()));
    }
  });

test('relay: every command shows whole, with its copy button, on a laptop and a phone', async () => {
  for (const viewport of VIEWPORTS) {
    const where = 'relay at ' + viewport.width + 'x' + viewport.height;
    const problems = new Problems();
    const { context, page } = await openPage(browser, problems, viewport.name, '/relay.html', { viewport });
    try {
      const uuid = await registered(page);
      await assertNoSideScroll(page, where);
      const commands = page.locator('#commands li');
      assert.equal(await commands.count(), 4);
      for (let i = 0; i < 4; i++) {
        const code = commands.nth(i).locator('code');
        const id = await code.getAttribute('id');
        // Nothing of the command is hidden: no part of it lies beyond the
        // box (which would need a scrollbar to see), and the box is in the window.
        const { scrollWidth, clientWidth, text } = await code.evaluate((node) => ({
          scrollWidth: node.scrollWidth, clientWidth: node.clientWidth, text: node.textContent,
        }));
        assert.ok(scrollWidth <= clientWidth,
          where + ': #' + id + ' is cut off (' + scrollWidth + ' px of text in a ' + clientWidth + ' px box)');
        await assertInsideWidth(page, code, where + ': #' + id);
        await assertInsideWidth(page, commands.nth(i).locator('button.copy'), where + ': the copy button of #' + id);
        // Wrapped on screen, but still one line to copy and paste.
        assert.ok(!text.includes('\n'), where + ': #' + id + ' has a line break');
        assert.ok(text.includes(uuid), where + ': #' + id + ' lacks the UUID');
      }
      assert.match(await page.locator('#cmd-curl').textContent(), /\/api\/relay$/);
      await screenshot(page, 'relay-commands-' + viewport.name);
      problems.assertNone();
    } finally {
      await context.close();
    }
  }
});
