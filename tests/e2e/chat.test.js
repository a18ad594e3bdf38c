'use strict';
// chat: two users join, see each other online, talk, one leaves; a taken
// name is refused; a message with HTML in it shows as text. Also makes the
// picture of two windows side by side (screenshots/chat-two-windows.png,
// the one committed as docs/img/chat.png).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {
  SHOTS, launchBrowser, Problems, openPage, waitState, screenshot, exactly,
} = require('./lib/harness');

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { if (browser) await browser.close(); });

const WINDOW = { width: 780, height: 640 };

async function join(page, name) {
  await waitState(page, 'open');
  await page.locator('#join:enabled').waitFor();
  await page.locator('#name').fill(name);
  await page.locator('#name').press('Enter');
}

function chatLine(page, user, text) {
  return page.locator('#messages li.chat')
    .filter({ has: page.locator('span.user', { hasText: exactly(user) }) })
    .filter({ has: page.locator('span.text', { hasText: exactly(text) }) });
}

const notice = (page, text) => page.locator('#messages li.notice span.text').filter({ hasText: exactly(text) });
const online = (page) => page.locator('#users li').evaluateAll((items) => items.map((li) => li.dataset.user));

/** Two screenshots side by side, as two browser windows on one desk. */
async function sideBySide(left, right, captions, file) {
  const [a, b] = await Promise.all([left.screenshot(), right.screenshot()]);
  const src = (png) => 'data:image/png;base64,' + png.toString('base64');
  const problems = new Problems();
  const { context, page } = await openPage(browser, problems, 'composite', null, {
    viewport: { width: WINDOW.width * 2 + 72, height: WINDOW.height + 80 },
  });
  try {
    await page.setContent(`<!doctype html><html><head><style>
      body { margin: 0; padding: 20px; background: #d9dee5; display: flex; gap: 24px;
             font: 14px system-ui, sans-serif; }
      figure { margin: 0; border-radius: 8px; overflow: hidden; background: #fff;
               box-shadow: 0 4px 16px rgba(0, 0, 0, .25); }
      figcaption { padding: 8px 12px; background: #3b4252; color: #eceff4; }
      img { display: block; }
    </style></head><body>
      <figure><figcaption>${captions[0]}</figcaption><img id="a" src="${src(a)}"></figure>
      <figure><figcaption>${captions[1]}</figcaption><img id="b" src="${src(b)}"></figure>
    </body></html>`);
    await page.waitForFunction(() => [...document.images].every((img) => img.complete && img.naturalWidth > 0));
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, file), fullPage: true });
    problems.assertNone();
  } finally {
    await context.close();
  }
}

test('chat: join, who is online, talk, taken name, HTML as text, leave', async () => {
  const problems = new Problems();
  const alice = await openPage(browser, problems, 'alice', '/chat.html', { viewport: WINDOW });
  const bob = await openPage(browser, problems, 'bob', '/chat.html', { viewport: WINDOW });
  let carol = null;
  try {
    // Before joining, sending is impossible.
    await waitState(alice.page, 'open');
    assert.equal(await alice.page.locator('#msg').isDisabled(), true);

    await join(alice.page, 'alice');
    await alice.page.locator('#me').filter({ hasText: exactly('alice') }).waitFor();
    await notice(alice.page, 'You joined as alice.').waitFor();
    assert.equal(await alice.page.locator('#join').textContent(), 'Rename');

    await join(bob.page, 'bob');
    await bob.page.locator('#me').filter({ hasText: exactly('bob') }).waitFor();
    await notice(alice.page, 'bob joined.').waitFor();

    // Both see both in the online list, themselves marked.
    for (const page of [alice.page, bob.page]) {
      await page.locator('#users li[data-user="bob"]').waitFor();
      assert.deepEqual(await online(page), ['alice', 'bob']);
    }
    await alice.page.locator('#users li.me[data-user="alice"]').waitFor();
    await bob.page.locator('#users li.me[data-user="bob"]').waitFor();

    // They talk; each message shows in both windows, one's own marked.
    await alice.page.locator('#msg').fill('Hi Bob! Are you coming to the workshop?');
    await alice.page.locator('#msg').press('Enter');
    await chatLine(bob.page, 'alice', 'Hi Bob! Are you coming to the workshop?').waitFor();
    await chatLine(alice.page, 'alice', 'Hi Bob! Are you coming to the workshop?').and(alice.page.locator('li.mine')).waitFor();
    assert.equal(await alice.page.locator('#msg').inputValue(), '');

    await bob.page.locator('#msg').fill('Yes, I booked a seat in Rust 101.');
    await bob.page.locator('#send').click();
    await chatLine(alice.page, 'bob', 'Yes, I booked a seat in Rust 101.').waitFor();

    // A message with HTML in it is shown as the text it is.
    const html = '<img src=x onerror="window.__pwned=1"><b>bold?</b> &amp; <script>window.__pwned=2</script>';
    await bob.page.locator('#msg').fill(html);
    await bob.page.locator('#msg').press('Enter');
    await chatLine(alice.page, 'bob', html).waitFor();
    await chatLine(bob.page, 'bob', html).waitFor();
    for (const page of [alice.page, bob.page]) {
      assert.equal(await page.locator('#messages img, #messages b, #messages script').count(), 0);
      assert.equal(await page.evaluate(() => window.__pwned), undefined);
    }

    // An empty message is refused by the page, with a reason.
    await alice.page.locator('#msg').fill('   ');
    await alice.page.locator('#msg').press('Enter');
    await alice.page.locator('#error[data-code="empty"]').waitFor();

    await alice.page.locator('#msg').fill('See you there!');
    await alice.page.locator('#msg').press('Enter');
    await chatLine(bob.page, 'alice', 'See you there!').waitFor();
    assert.equal(await alice.page.locator('#error').textContent(), '');

    await screenshot(alice.page, 'chat');
    await sideBySide(alice.page, bob.page, ['Window 1: alice', 'Window 2: bob'], 'chat-two-windows.png');

    // A third user asks for a name that is taken.
    carol = await openPage(browser, problems, 'carol', '/chat.html', { viewport: WINDOW });
    await join(carol.page, 'alice');
    await carol.page.locator('#error[data-code="name_taken"]').waitFor();
    assert.match(await carol.page.locator('#error').textContent(), /taken/);
    assert.equal(await carol.page.locator('#me').textContent(), '');
    assert.equal(await carol.page.locator('#msg').isDisabled(), true);
    await screenshot(carol.page, 'chat-name-taken');
    // Another name works, and the history arrives with it.
    await join(carol.page, '  carol  '); // the server trims the name
    await carol.page.locator('#me').filter({ hasText: exactly('carol') }).waitFor();
    assert.equal(await carol.page.locator('#error').textContent(), '');
    await chatLine(carol.page, 'alice', 'See you there!').waitFor();
    await chatLine(carol.page, 'bob', html).waitFor();
    await notice(alice.page, 'carol joined.').waitFor();

    // bob closes his window: the others see him leave.
    await bob.context.close();
    bob.closed = true;
    await notice(alice.page, 'bob left.').waitFor();
    await notice(carol.page, 'bob left.').waitFor();
    await alice.page.locator('#users li[data-user="bob"]').waitFor({ state: 'detached' });
    assert.deepEqual(await online(alice.page), ['alice', 'carol']);

    problems.assertNone();
  } finally {
    await Promise.all([alice, bob, carol].filter((w) => w && !w.closed).map(({ context }) => context.close()));
  }
});
