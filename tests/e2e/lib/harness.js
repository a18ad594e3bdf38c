'use strict';
// Shared helpers of the end-to-end tests: the browser, pages that record
// their console errors and failed requests, waiting helpers, screenshots.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const SHOTS = path.join(__dirname, '..', 'screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS) || 15000;

/** http://127.0.0.1:PORT of the server run.sh started. */
function baseUrl() {
  const url = process.env.WSLAB_URL;
  if (!url) throw new Error('WSLAB_URL is not set: run these tests with `make e2e` (or sh tests/e2e/run.sh)');
  return url.replace(/\/+$/, '');
}

/**
 * Debian's Chromium, headless. Playwright's own browser download does not
 * work here, hence executablePath. launch() gives Chromium a fresh, empty
 * --user-data-dir of its own (a new temporary profile, deleted on close);
 * Playwright refuses that flag in args for that reason.
 */
function launchBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      ...extraArgs,
    ],
  });
}

/**
 * Collects what must not happen on a page: console errors, uncaught
 * exceptions, failed requests, HTTP error responses, WebSocket errors.
 * `ignore(text)` may let expected ones through (the reconnect scenario only).
 */
class Problems {
  constructor() {
    this.list = [];
    this.ignored = [];
    this.ignore = null;
  }

  attach(page, label) {
    const add = (text) => {
      if (this.ignore && this.ignore(text)) this.ignored.push(label + ': ' + text);
      else this.list.push(label + ': ' + text);
    };
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const where = msg.location() && msg.location().url ? ' (' + msg.location().url + ')' : '';
      add('console error: ' + msg.text() + where);
    });
    page.on('pageerror', (err) => add('uncaught exception: ' + err.message));
    page.on('requestfailed', (request) => {
      const failure = request.failure();
      add('request failed: ' + request.method() + ' ' + request.url() + ' ' + (failure ? failure.errorText : ''));
    });
    page.on('response', (response) => {
      if (response.status() >= 400) add('HTTP ' + response.status() + ' for ' + response.request().method() + ' ' + response.url());
    });
    page.on('websocket', (ws) => {
      ws.on('socketerror', (error) => add('WebSocket error on ' + ws.url() + ': ' + error));
    });
  }

  /**
   * Whether `text` is a failed connect of a WebSocket to `url` (with or
   * without a query): Chromium's console error ("WebSocket connection to
   * 'URL' failed: ...") or the socket's own error.
   */
  static failedSocket(url, text) {
    const consoleError = "console error: WebSocket connection to '" + url;
    return ((text.startsWith(consoleError + "'") || text.startsWith(consoleError + '?')) && text.includes("' failed")) ||
      text.startsWith('WebSocket error on ' + url);
  }

  assertNone() {
    assert.deepEqual(this.list, [], 'console errors or failed requests:\n  ' + this.list.join('\n  '));
  }
}

/**
 * A new browser context (its own cookies and localStorage, like a second
 * browser) with one page at `urlPath`, watched by `problems`.
 */
async function openPage(browser, problems, label, urlPath, { viewport = { width: 960, height: 720 } } = {}) {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  problems.attach(page, label);
  if (urlPath !== null) await page.goto(baseUrl() + urlPath);
  return { context, page };
}

/** Wait until the page's #state indicator shows `name` (open, closed, ...). */
function waitState(page, name, options) {
  return page.locator('#state[data-state="' + name + '"]').waitFor(options);
}

/*
 * A page's reconnect announcements in #state-detail (common.js, class
 * Connection): the first wait after a close is 0.25 to 0.5 s, shown rounded
 * to a tenth ("0.3" to "0.5"); after a failed attempt the next is 0.5 to 1 s
 * ("0.5" to "1").
 */
const FIRST_RETRY = /^reconnecting in 0\.[345] s$/;
const SECOND_RETRY = /^reconnecting in (0\.[5-9]|1) s$/;

/**
 * Record every text the page's #state-detail shows from now on, in
 * window.__stateDetail. An announcement lasts only as long as its wait (a
 * quarter of a second for the first), so a test that polls could miss one;
 * the record misses none. Call it before the server goes away.
 */
function recordStateDetail(page) {
  return page.evaluate(() => {
    const node = document.getElementById('state-detail');
    const seen = [node.textContent];
    window.__stateDetail = seen;
    new MutationObserver(() => {
      if (node.textContent !== seen[seen.length - 1]) seen.push(node.textContent);
    }).observe(node, { childList: true, characterData: true, subtree: true });
  });
}

/**
 * Wait until the page, since recordStateDetail, announced its first retry
 * (FIRST_RETRY), started it (connect() empties #state-detail), and, as that
 * attempt failed, announced the next one right after (SECOND_RETRY).
 */
function waitFailedRetry(page, options = {}) {
  return page.waitForFunction(([first, second]) => {
    const seen = window.__stateDetail || [];
    const at = seen.findIndex((text) => new RegExp(first).test(text));
    return at >= 0 && seen[at + 1] === '' && seen.length > at + 2 &&
      new RegExp(second).test(seen[at + 2]);
  }, [FIRST_RETRY.source, SECOND_RETRY.source], options);
}

/** Save a full-page screenshot as screenshots/NAME.png and return the PNG. */
async function screenshot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  return page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

/** A random suffix, so that names and rooms of one run never meet another's. */
function unique() {
  return Math.random().toString(36).slice(2, 8);
}

/** A RegExp matching exactly `text` (for locator filters, which match substrings). */
function exactly(text) {
  return new RegExp('^' + text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '$');
}

module.exports = {
  SHOTS, baseUrl, launchBrowser, Problems, openPage, waitState, screenshot, unique, exactly,
  FIRST_RETRY, SECOND_RETRY, recordStateDetail, waitFailedRetry,
};
