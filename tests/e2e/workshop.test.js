'use strict';
// workshop: seats left change live in every window; tickets are kept in
// localStorage. The server runs with tests/e2e/workshops.json, whose
// "pairing" workshop has 2 seats and whose "websockets" workshop has a
// title long enough to take two lines in its card and to overflow the
// select on a phone.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  launchBrowser, Problems, openPage, waitState, screenshot, exactly, unique,
} = require('./lib/harness');
const { VIEWPORTS, assertNoSideScroll, assertInsideWidth, same } = require('./lib/layout');

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { if (browser) await browser.close(); });

const item = (page, id) => page.locator('#workshops li[data-id="' + id + '"]');

/** Seats left in a workshop as the page shows them (0 when "full"). */
async function seatsLeft(page, id) {
  const li = item(page, id);
  await li.waitFor();
  if (await li.evaluate((node) => node.classList.contains('full'))) return 0;
  return Number(await li.locator('.left').textContent());
}

/** Wait until the page shows `left` seats left in workshop `id`. */
async function waitLeft(page, id, left) {
  if (left === 0) {
    await item(page, id).and(page.locator('li.full')).waitFor();
  } else {
    await item(page, id).locator('.left').filter({ hasText: exactly(String(left)) }).waitFor();
  }
}

async function ready(page) {
  await waitState(page, 'open');
  await page.locator('#workshops li[data-id]').first().waitFor();
}

test('workshop: reserve, cancel and full show live in another window; tickets survive a reload',
  async () => {
    const problems = new Problems();
    const ann = await openPage(browser, problems, 'ann', '/workshop.html');
    const bob = await openPage(browser, problems, 'bob', '/workshop.html');
    try {
      await ready(ann.page);
      await ready(bob.page);
      assert.deepEqual(
        await bob.page.locator('#workshops li').evaluateAll((items) => items.map((li) => li.dataset.id)),
        ['rust-101', 'websockets', 'pairing']);
      assert.equal(await ann.page.locator('#no-tickets').isVisible(), true);
      // If bob's page reloaded, this mark would be gone.
      await bob.page.evaluate(() => { window.__noReload = 'still the same page'; });

      // ann reserves a seat in Rust 101; bob's count goes down by one.
      const before = await seatsLeft(bob.page, 'rust-101');
      assert.ok(before > 0, 'Rust 101 has seats left');
      const annName = 'Ann ' + unique();
      await ann.page.locator('#reserve-name').fill(annName);
      await item(ann.page, 'rust-101').locator('button.reserve').click();
      await ann.page.locator('#notice').filter({ hasText: 'Reserved: ' + annName + ' has a seat in Rust 101' }).waitFor();
      await waitLeft(bob.page, 'rust-101', before - 1);
      await waitLeft(ann.page, 'rust-101', before - 1);
      const capacity = Number(await item(bob.page, 'rust-101').locator('progress').getAttribute('max'));
      assert.equal(await item(bob.page, 'rust-101').locator('progress').evaluate((p) => p.value), capacity - before + 1);
      assert.equal(await item(bob.page, 'rust-101').locator('.seats').textContent(),
        (capacity - before + 1) + ' of ' + capacity + ' taken, ' + (before - 1) + ' left');
      const ticketItem = ann.page.locator('#tickets li[data-ticket]');
      await ticketItem.waitFor();
      const ticket = await ticketItem.getAttribute('data-ticket');
      assert.match(ticket, /^T-/);
      assert.equal(await ann.page.locator('#no-tickets').isHidden(), true);
      // The same name cannot take a second seat in the same workshop.
      await item(ann.page, 'rust-101').locator('button.reserve').click();
      await ann.page.locator('#error[data-code="duplicate"]').waitFor();
      await screenshot(ann.page, 'workshop');

      // The ticket survives a reload (localStorage), and so does the name.
      await ann.page.reload();
      await ready(ann.page);
      await ann.page.locator('#tickets li[data-ticket="' + ticket + '"]').filter({ hasText: annName }).waitFor();
      assert.equal(await ann.page.locator('#tickets li').count(), 1);
      assert.equal(await ann.page.locator('#reserve-name').inputValue(), annName);
      await waitLeft(ann.page, 'rust-101', before - 1);

      // Cancelling it from the reloaded page gives the seat back, in bob's window too.
      await ann.page.locator('#tickets li[data-ticket="' + ticket + '"] button.cancel').click();
      await ann.page.locator('#notice').filter({ hasText: 'Cancelled ticket ' + ticket }).waitFor();
      await waitLeft(bob.page, 'rust-101', before);
      await ann.page.locator('#tickets li').waitFor({ state: 'detached' });
      assert.equal(await ann.page.locator('#no-tickets').isVisible(), true);

      // The last seats of "pairing" go, one from each window, chosen with
      // the form; then it shows as full everywhere.
      const pairingLeft = await seatsLeft(bob.page, 'pairing');
      assert.ok(pairingLeft >= 2, 'pairing has its 2 seats');
      for (let i = 0; i < pairingLeft; i++) {
        const { page } = i % 2 === 0 ? bob : ann;
        const name = 'Pair ' + i + ' ' + unique();
        await page.locator('#reserve-name').fill(name);
        await page.locator('#reserve-workshop').selectOption('pairing');
        await page.locator('#reserve').click();
        await page.locator('#notice').filter({ hasText: 'Reserved: ' + name }).waitFor();
        await waitLeft(i % 2 === 0 ? ann.page : bob.page, 'pairing', pairingLeft - i - 1);
      }
      for (const { page } of [ann, bob]) {
        await waitLeft(page, 'pairing', 0);
        const full = item(page, 'pairing');
        assert.equal(await full.locator('.seats').textContent(), 'full');
        assert.equal(await full.locator('button.reserve').isDisabled(), true);
        assert.equal(await full.locator('button.reserve').textContent(), 'Full');
        assert.equal(await page.locator('#reserve-workshop option[value="pairing"]').isDisabled(), true);
        assert.match(await page.locator('#reserve-workshop option[value="pairing"]').textContent(), /\(full\)$/);
      }
      assert.equal(await bob.page.evaluate(() => window.__noReload), 'still the same page');
      await screenshot(bob.page, 'workshop-full');

      problems.assertNone();
    } finally {
      await Promise.all([ann, bob].map(({ context }) => context.close()));
    }
  });

/**
 * For every option of the select: the width it needs on one line (a copy of
 * the select holding only that option, at its natural width), and the
 * select's box and scroll sizes while that option is the chosen one.
 */
function measureOptions(page) {
  return page.locator('#reserve-workshop').evaluate((select) => {
    const chosen = select.selectedIndex;
    const found = [];
    for (let i = 0; i < select.options.length; i++) {
      select.selectedIndex = i; // no change event: nothing is sent
      const probe = select.cloneNode(false);
      probe.removeAttribute('id');
      probe.append(new Option(select.options[i].text));
      probe.style.cssText =
        'position:absolute;visibility:hidden;width:max-content;max-width:none;white-space:nowrap;field-sizing:fixed';
      select.parentNode.append(probe);
      const oneLine = probe.getBoundingClientRect();
      probe.remove();
      const box = select.getBoundingClientRect();
      found.push({
        text: select.options[i].text,
        need: oneLine.width,
        oneLineHeight: oneLine.height,
        width: box.width,
        height: box.height,
        scrollHeight: select.scrollHeight,
        clientHeight: select.clientHeight,
        whiteSpace: getComputedStyle(select).whiteSpace,
      });
    }
    select.selectedIndex = chosen;
    return found;
  });
}

test('workshop: no option of the select is cut off and the cards of a row line up, on a laptop and a phone',
  async () => {
    for (const viewport of VIEWPORTS) {
      const where = 'workshop at ' + viewport.width + 'x' + viewport.height;
      const problems = new Problems();
      const { context, page } = await openPage(browser, problems, viewport.name, '/workshop.html', { viewport });
      try {
        await ready(page);
        await page.locator('#reserve-workshop option').first().waitFor({ state: 'attached' });
        await assertNoSideScroll(page, where);
        await assertInsideWidth(page, page.locator('#reserve-workshop'), where + ': the select');
        await assertInsideWidth(page, page.locator('#reserve'), where + ': the Reserve button');

        // The select: every option, when chosen, shows whole: either the
        // select is as wide as the option needs on one line, or the option
        // wraps and the select is tall enough for all of its lines.
        const options = await measureOptions(page);
        assert.equal(options.length, 3);
        for (const o of options) {
          const oneLine = o.width >= o.need - 0.5;
          const wrapsWhole = !/^(nowrap|pre)$/.test(o.whiteSpace) && o.scrollHeight <= o.clientHeight &&
            o.height > o.oneLineHeight + 1;
          assert.ok(oneLine || wrapsWhole, where + ': option "' + o.text + '" is cut off: it needs ' + o.need +
            ' px on one line, the select is ' + o.width + ' px wide and ' + o.height + ' px high (' +
            o.scrollHeight + ' px of content in ' + o.clientHeight + ')');
          // On a laptop there is room for every title on one line.
          if (viewport.width >= 1280) assert.ok(oneLine, where + ': option "' + o.text + '" does not fit on one line');
        }

        // The cards: those in one row (same top) have their bar, their
        // seats line and their button at the same height, whatever the
        // length of their titles.
        const cards = await page.locator('#workshops li').evaluateAll((items) => items.map((li) => {
          const top = (selector) => li.querySelector(selector).getBoundingClientRect().top;
          return {
            id: li.dataset.id,
            top: li.getBoundingClientRect().top,
            titleLines: Math.round(li.querySelector('.title').getBoundingClientRect().height /
              parseFloat(getComputedStyle(li.querySelector('.title')).lineHeight)),
            bar: top('progress'),
            seats: top('.seats'),
            button: top('button.reserve'),
          };
        }));
        const rows = [];
        for (const card of cards) {
          const row = rows.find((r) => same(r[0].top, card.top));
          if (row) row.push(card);
          else rows.push([card]);
        }
        for (const row of rows) {
          for (const card of row.slice(1)) {
            for (const part of ['bar', 'seats', 'button']) {
              assert.ok(same(card[part], row[0][part]), where + ': the ' + part + ' of ' + card.id + ' is at ' +
                card[part] + ', that of ' + row[0].id + ' at ' + row[0][part]);
            }
          }
        }
        if (viewport.width >= 1280) {
          // The check above means something only if a row mixes titles of
          // one and two lines: the fixture's long title sees to that.
          assert.ok(rows.some((row) => row.length > 1 && new Set(row.map((c) => c.titleLines)).size > 1),
            where + ': no row mixes one- and two-line titles: ' + JSON.stringify(cards));
        }
        await page.locator('#reserve-workshop').selectOption('websockets');
        await screenshot(page, 'workshop-layout-' + viewport.name);
        problems.assertNone();
      } finally {
        await context.close();
      }
    }
  });
