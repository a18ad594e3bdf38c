'use strict';
// room: a message typed in one window appears in the other window in the
// same room, and only there.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  launchBrowser, Problems, openPage, waitState, screenshot, exactly, unique, baseUrl,
} = require('./lib/harness');
const { VIEWPORTS, assertNoSideScroll, assertInsideWidth } = require('./lib/layout');

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { if (browser) await browser.close(); });

const received = (page, text) => page.locator('#log li.received span.text').filter({ hasText: exactly(text) });

test('room: a message reaches every window in its room and no other room', async () => {
  const problems = new Problems();
  const math = 'math-' + unique();
  const art = 'art-' + unique();
  // Three independent browsers: ann and bob in one room (joined by the
  // ?room= link), cid in another (joined with the form).
  const ann = await openPage(browser, problems, 'ann', '/room.html?room=' + math);
  const bob = await openPage(browser, problems, 'bob', '/room.html?room=' + math);
  const cid = await openPage(browser, problems, 'cid', '/room.html');
  try {
    for (const { page } of [ann, bob]) {
      await waitState(page, 'open');
      await page.locator('#current-room').filter({ hasText: exactly(math) }).waitFor();
    }

    // A bad room name is refused by the page, with a reason.
    await cid.page.locator('#room').fill('no spaces!');
    await cid.page.locator('#join').click();
    await cid.page.locator('#error').filter({ hasText: 'A room name is 1 to 64' }).waitFor();
    assert.equal(await cid.page.locator('#state').getAttribute('data-state'), 'closed');
    await cid.page.locator('#room').fill(art);
    await cid.page.locator('#join').click();
    await waitState(cid.page, 'open');
    await cid.page.locator('#current-room').filter({ hasText: exactly(art) }).waitFor();
    assert.equal(await cid.page.locator('#error').textContent(), '');
    assert.match(cid.page.url(), new RegExp('\\?room=' + art + '$'));

    // ann types; bob sees it, and so does ann (the sender is in the room).
    await ann.page.locator('#msg').fill('2+2?');
    await ann.page.locator('#msg').press('Enter');
    await received(bob.page, '2+2?').waitFor();
    await received(ann.page, '2+2?').waitFor();

    // bob answers.
    await bob.page.locator('#msg').fill('4');
    await bob.page.locator('#send').click();
    await received(ann.page, '4').waitFor();

    // cid talks in the other room and hears only that. The server handles
    // messages in order, so once cid has its own message back, ann's and
    // bob's would have reached cid too if they were going to.
    await cid.page.locator('#msg').fill('colours!');
    await cid.page.locator('#msg').press('Enter');
    await received(cid.page, 'colours!').waitFor();
    assert.equal(await received(cid.page, '2+2?').count(), 0, 'a message of room ' + math + ' reached room ' + art);
    assert.equal(await received(cid.page, '4').count(), 0, 'a message of room ' + math + ' reached room ' + art);
    // ...and the other way round: bob answers once more and ann gets it,
    // without cid's message in between.
    await bob.page.locator('#msg').fill('done');
    await bob.page.locator('#msg').press('Enter');
    await received(ann.page, 'done').waitFor();
    assert.equal(await received(ann.page, 'colours!').count(), 0, 'a message of room ' + art + ' reached room ' + math);
    assert.equal(await received(bob.page, 'colours!').count(), 0, 'a message of room ' + art + ' reached room ' + math);

    // Leaving closes the socket.
    await cid.page.locator('#leave').click();
    await waitState(cid.page, 'closed');
    await cid.page.locator('#log li.info').filter({ hasText: 'left room ' + art + ' (close code 1000)' }).waitFor();
    assert.equal(await cid.page.locator('#current-room').textContent(), '');

    await screenshot(ann.page, 'room');
    problems.assertNone();
  } finally {
    await Promise.all([ann, bob, cid].map(({ context }) => context.close()));
  }
});

test('room: a fresh page says to press Join (and does not connect), on a laptop and a phone', async () => {
  for (const viewport of VIEWPORTS) {
    const where = 'room at ' + viewport.width + 'x' + viewport.height;
    const problems = new Problems();
    const { context, page } = await openPage(browser, problems, viewport.name, null, { viewport });
    try {
      const sockets = [];
      page.on('websocket', (ws) => sockets.push(ws.url()));
      await page.goto(baseUrl() + '/room.html');
      await page.locator('#room').waitFor();

      // Closed, and the words next to the indicator say what to do.
      assert.equal(await page.locator('#state').getAttribute('data-state'), 'closed');
      const hint = page.locator('#state-detail');
      assert.match(await hint.textContent(), /pick a room and press Join/, where);
      await assertInsideWidth(page, hint, where + ': the hint');
      await assertInsideWidth(page, page.locator('#join'), where + ': the Join button');
      await assertNoSideScroll(page, where);
      // The room field has the focus: type a name, press Enter.
      assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.id), 'room');
      assert.deepEqual(sockets, [], where + ': the page connected by itself');
      await screenshot(page, 'room-start-' + viewport.name);

      // Joining clears the hint; leaving brings it back.
      const name = 'hint-' + unique();
      await page.locator('#room').fill(name);
      await page.locator('#room').press('Enter');
      await waitState(page, 'open');
      assert.equal(await hint.textContent(), '');
      assert.equal(sockets.length, 1);
      await page.locator('#leave').click();
      await waitState(page, 'closed');
      await hint.filter({ hasText: 'press Join' }).waitFor();
      problems.assertNone();
    } finally {
      await context.close();
    }
  }
});
