/*
 * wslab common.js: helpers shared by the demo pages.
 *
 * Every page loads this file with a plain <script> tag (no modules, no build
 * step), so everything below is a global function or class:
 *
 *   byId(id)                  document.getElementById
 *   el(tag, attrs, ...kids)   create an element; strings become text nodes
 *   setText(id, text)         set an element's textContent
 *   appendToList(list, item)  append to a log list and keep it scrolled down
 *   parseJson(text)           JSON object or null (never throws)
 *   formatTime(ms), timeEl(ms)
 *   wsUrl(path)               ws://host:port/path (wss:// on https pages)
 *   showState(readyState)     update the #state indicator
 *   class Connection          a WebSocket with the indicator and reconnects
 *
 * Safety rule of these pages: text from the network or from users goes into
 * the page only through textContent / text nodes, never through innerHTML,
 * so a chat message like "<img src=x onerror=alert(1)>" is shown as text.
 */
'use strict';

/* ------------------------------------------------------------------ DOM */

/** Shortcut for document.getElementById. */
function byId(id) {
  return document.getElementById(id);
}

/**
 * Create an element without any HTML parsing.
 *   el('li', { class: 'sent', dataset: { kind: 'x' } }, 'some text', otherNode)
 * Strings and numbers become text nodes; null/undefined/false are skipped.
 * Attribute values false/null/undefined are left out, true gives "".
 */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2).toLowerCase(), value);
    } else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Set the text of the element with this id (does nothing if it is missing). */
function setText(id, text) {
  const node = byId(id);
  if (node) node.textContent = text;
}

/**
 * Append `item` to a scrolling list. If the reader was at the bottom, stay at
 * the bottom; if they scrolled up to read, leave them there. Old entries
 * beyond `max` are dropped so a long session does not eat memory.
 */
function appendToList(list, item, max = 500) {
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
  list.append(item);
  while (list.children.length > max) list.firstElementChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

/** Parse JSON text; return the value if it is a plain object, else null. */
function parseJson(text) {
  if (typeof text !== 'string') return null;
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : null;
  } catch (e) {
    return null;
  }
}

/** "14:03:27" for a time in ms since the epoch (now if missing). */
function formatTime(ms) {
  const date = Number.isFinite(ms) ? new Date(ms) : new Date();
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** A <time> element for a time in ms since the epoch (now if missing). */
function timeEl(ms) {
  const date = Number.isFinite(ms) ? new Date(ms) : new Date();
  return el('time', { datetime: date.toISOString() }, formatTime(date.getTime()));
}

/* ------------------------------------------------------------ WebSocket */

/**
 * The WebSocket URL for a path on the server that sent this page: same host
 * and port, and wss:// (WebSocket over TLS) when the page came over https://.
 */
function wsUrl(path) {
  return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;
}

/*
 * WebSocket.readyState is a number; these are its four values in order:
 *   0 CONNECTING  the opening handshake (an HTTP Upgrade request) is running
 *   1 OPEN        messages can be sent and received
 *   2 CLOSING     a close frame was sent or received, waiting for the other
 *   3 CLOSED      the connection is gone (or never opened)
 */
const STATE_NAMES = ['connecting', 'open', 'closing', 'closed'];

/**
 * Show a readyState in the page's #state element: its text and its
 * data-state attribute both become the lower-case name ("open"), and CSS
 * colours it by data-state. Returns the name.
 */
function showState(readyState) {
  const name = STATE_NAMES[readyState] || 'closed';
  const node = byId('state');
  if (node && node.dataset.state !== name) {
    node.dataset.state = name;
    node.textContent = name;
  }
  return name;
}

/** Optional detail next to the indicator, e.g. "retrying in 2 s". */
function showStateDetail(text) {
  setText('state-detail', text);
}

/**
 * One WebSocket connection to `path`, with the #state indicator kept up to
 * date and (optionally) reconnection with exponential backoff and jitter.
 *
 *   const conn = new Connection('/ws/echo', {
 *     onOpen()                 the socket is open: you may send now
 *     onMessage(data, event)   data is a string (text frame) or an
 *                              ArrayBuffer (binary frame)
 *     onClose(event, retryMs)  the socket closed; retryMs is the delay
 *                              before the next attempt, or null if none
 *     onState(name)            the indicator changed ('open', ...)
 *     reconnect: true          try again after an unexpected close
 *     minDelay: 500, maxDelay: 8000   backoff bounds in milliseconds
 *     jitter: true             randomise each delay (false: exactly the
 *                              backoff steps, e.g. for a test)
 *   });
 *   conn.connect();
 *   conn.send({ type: 'chat', text: 'hi' });   // objects are sent as JSON
 *   conn.close();                              // no reconnect after this
 *
 * The reconnect schedule: the backoff step d starts at minDelay and doubles
 * after every failed attempt up to maxDelay (0.5 s, 1 s, 2 s, 4 s, 8 s, 8 s,
 * ...), and goes back to minDelay once a socket opens. With jitter ("equal
 * jitter") the wait is a random time between d/2 and d: 0.25-0.5 s, then
 * 0.5-1 s, 1-2 s, 2-4 s, 4-8 s, 4-8 s, ... So the first retry still comes
 * within half a second, no wait is ever longer than maxDelay, and when a
 * server restarts under a room full of pages, their reconnects are spread
 * over a quarter of a second instead of all arriving at the same moment.
 * #state-detail shows the wait rounded to a tenth: "reconnecting in 0.4 s".
 */
class Connection {
  constructor(path, options = {}) {
    this.path = path;
    this.url = wsUrl(path);
    this.options = options;
    this.reconnect = Boolean(options.reconnect);
    this.minDelay = options.minDelay || 500;
    this.maxDelay = options.maxDelay || 8000;
    this.jitter = options.jitter !== false;
    this.delay = this.minDelay; // next backoff step (the wait is d/2 to d with jitter)
    this.ws = null;
    this.timer = null; // pending reconnect
    this.stopped = false; // close() was called: do not reconnect
    this.lastState = null;
  }

  /** Open the socket (closing any previous one of this Connection). */
  connect() {
    clearTimeout(this.timer);
    this.stopped = false;
    Connection.current = this; // this connection now owns the indicator
    showStateDetail('');

    if (this.ws && this.ws.readyState < WebSocket.CLOSING) this.ws.close(1000);

    let ws;
    try {
      // The constructor starts the opening handshake and returns at once;
      // readyState is CONNECTING until the 'open' event.
      ws = new WebSocket(this.url);
    } catch (err) {
      // Only for a malformed URL, e.g. a page opened from file://.
      this.ws = null;
      this._update();
      showStateDetail('cannot connect: ' + err.message);
      return;
    }
    // Binary frames arrive as ArrayBuffer (the default would be Blob).
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this._update();

    ws.addEventListener('open', () => {
      if (ws !== this.ws) return; // an old socket of ours, ignore it
      this.delay = this.minDelay; // it worked: start backoff from scratch
      this._update();
      if (this.options.onOpen) this.options.onOpen();
    });

    ws.addEventListener('message', (event) => {
      if (ws !== this.ws) return;
      if (this.options.onMessage) this.options.onMessage(event.data, event);
    });

    // 'error' carries no detail (browsers hide it on purpose) and is always
    // followed by 'close', so all the work happens in the close handler.
    ws.addEventListener('error', () => {});

    ws.addEventListener('close', (event) => {
      if (ws !== this.ws) return;
      this._update();
      let retryMs = null;
      if (this.reconnect && !this.stopped) {
        // Exponential backoff: 0.5 s, 1 s, 2 s, 4 s, 8 s, 8 s, ...
        // so a server that is down is not hammered by every open page, and
        // jitter, so that the pages of a whole room do not all come back in
        // the same instant when it restarts: each wait is random between
        // half the step and the step (0.25-0.5 s, 0.5-1 s, ...).
        retryMs = this.jitter
          ? Math.round(this.delay / 2 + Math.random() * (this.delay / 2))
          : this.delay;
        this.delay = Math.min(this.delay * 2, this.maxDelay);
        this.timer = setTimeout(() => this.connect(), retryMs);
        // Seconds rounded to a tenth: "0.4", "1.3", "8".
        showStateDetail('reconnecting in ' + Math.round(retryMs / 100) / 10 + ' s');
      }
      if (retryMs === null) {
        clearInterval(this.watch); // nothing left to watch
        this.watch = null;
      }
      if (this.options.onClose) this.options.onClose(event, retryMs);
    });

    // The browser fires no event when the *server* starts the closing
    // handshake (OPEN -> CLOSING), so look at readyState a few times a second.
    if (!this.watch) this.watch = setInterval(() => this._update(), 250);
  }

  /**
   * Send a string, an ArrayBuffer / typed array / Blob (a binary frame), or
   * any other value as JSON text. Returns false if the socket is not open.
   */
  send(data) {
    if (!this.isOpen) return false;
    const raw =
      typeof data === 'string' || data instanceof ArrayBuffer ||
      ArrayBuffer.isView(data) || data instanceof Blob
        ? data
        : JSON.stringify(data);
    this.ws.send(raw);
    return true;
  }

  /** Start the closing handshake (default code 1000, normal closure). */
  close(code = 1000, reason = '') {
    this.stopped = true;
    clearTimeout(this.timer);
    showStateDetail('');
    if (this.ws && this.ws.readyState < WebSocket.CLOSING) this.ws.close(code, reason);
    this._update();
  }

  /** The socket's readyState, CLOSED when there is no socket. */
  get readyState() {
    return this.ws ? this.ws.readyState : WebSocket.CLOSED;
  }

  get isOpen() {
    return this.readyState === WebSocket.OPEN;
  }

  /** Refresh the indicator (if this connection owns it) and call onState. */
  _update() {
    if (Connection.current !== this) return;
    const name = showState(this.readyState);
    if (name !== this.lastState) {
      this.lastState = name;
      if (this.options.onState) this.options.onState(name);
    }
  }
}

/** The Connection that the #state indicator shows. */
Connection.current = null;
