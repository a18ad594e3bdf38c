'use strict';
// Layout checks with the browser's real layout (getBoundingClientRect,
// scrollWidth): what the eye would see as cut off, overflowing or out of
// line, at the widths the pages must look right at.

const assert = require('node:assert/strict');

/** A laptop and a narrow phone. */
const VIEWPORTS = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
];

/** The page does not scroll sideways: nothing sticks out at the right. */
async function assertNoSideScroll(page, where) {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: document.documentElement.clientWidth,
  }));
  assert.ok(scroll <= width, where + ': the page scrolls sideways (' + scroll + ' px wide in a ' + width + ' px window)');
}

/** `locator` is visible and lies inside the window's width. */
async function assertInsideWidth(page, locator, where) {
  assert.ok(await locator.isVisible(), where + ': not visible');
  const box = await locator.boundingBox();
  const width = await page.evaluate(() => document.documentElement.clientWidth);
  assert.ok(box.x >= 0 && box.x + box.width <= width + 0.5,
    where + ': from x=' + box.x + ' to ' + (box.x + box.width) + ', outside a window ' + width + ' px wide');
}

/** Whether two positions in CSS pixels are the same on screen. */
function same(a, b) {
  return Math.abs(a - b) < 1;
}

module.exports = { VIEWPORTS, assertNoSideScroll, assertInsideWidth, same };
