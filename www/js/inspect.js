/*
 * inspect.js: the inspector page (inspect.html).
 *
 * One WebSocket, /ws/inspect, brings everything (docs/inspector.md):
 *   hello      once: the apps, the last five minutes of samples, the
 *              clients, the log
 *   tick       every second: one more sample, the whole client list again,
 *              the new log lines
 *   handshake  the watched client's request head and 101 answer
 *   frames     the watched client's frames (replace: true = all kept so far)
 *   error      a request of ours that the server could not do
 * and the page sends {"type":"watch","client":ID} when a row is clicked.
 *
 * Times from the server are milliseconds since the server started; `now` in
 * hello and tick says what that is at the moment of sending, so
 * Date.now() - now turns them into clock times.
 *
 * Like every page here: text from the network goes into the page through
 * textContent only (el() and setText() from common.js), never innerHTML.
 */
'use strict';

const WINDOW_MS = 5 * 60 * 1000; // the plots show the last five minutes
const MAX_FRAMES = 1000;         // frames kept in the list (and in the pause buffer)
const MAX_LOG = 200;             // log lines kept, as on the server

const ARROWS = { in: '→', out: '←', 'to-app': '⇢', 'from-app': '⇠', note: '·' };
const DIR_WORDS = {
  in: 'in: from the client',
  out: 'out: to the client',
  'to-app': 'to the script app',
  'from-app': 'from the script app',
  note: 'a note about the frame log',
};

// The inspector's own app: its clients are listed (the pages like this
// one) but cannot be watched, and the plots never count them.
const VIEWER_PATH = '/ws/inspect';
const VIEWER_APP = 'inspect';

const view = {
  apps: [],            // app names, in the server's order, then any new ones
  samples: [],         // SAMPLEs, oldest first, at most five minutes' worth
  serverNow: 0,        // the server's clock at the last hello/tick
  clockOffset: 0,      // Date.now() - server time
  clients: new Map(),  // id -> CLIENT, from the last hello/tick
  rows: new Map(),     // id -> <tr>
  watched: null,       // the id we watch, or null
  paused: false,
  waiting: [],         // frames that arrived while paused
  logSeq: -1,          // seq of the last log line shown
  everOpen: false,     // the socket opened at least once since the page loaded
  attemptOpened: false,
};

/* ------------------------------------------------------------ formatting */

/** A server time (ms since it started) as a 24-hour clock time: 14:03:27 (.123 with ms). */
function clock(t, withMs) {
  const date = new Date(Number(t) + view.clockOffset);
  if (!Number.isFinite(date.getTime())) return '';
  return date.toLocaleTimeString([], {
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
    fractionalSecondDigits: withMs ? 3 : undefined,
  });
}

/** 5 s ago, 3 min ago: how long before the server's now. */
function ago(t) {
  const s = Math.max(0, Math.round((view.serverNow - Number(t)) / 1000));
  if (s < 2) return 'now';
  if (s < 120) return s + ' s ago';
  if (s < 7200) return Math.floor(s / 60) + ' min ago';
  return Math.floor(s / 3600) + ' h ago';
}

/** 900 B, 4.1 KiB, 2 MiB */
function formatBytes(n) {
  n = Number(n) || 0;
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return (i === 0 || n >= 10 ? Math.round(n) : Math.round(n * 10) / 10) + ' ' + units[i];
}

/** 950, 1.2 k, 35 k */
function formatCount(n) {
  n = Number(n) || 0;
  if (n < 1000) return String(Math.round(n * 10) / 10);
  if (n < 1e6) return (n < 10000 ? Math.round(n / 100) / 10 : Math.round(n / 1000)) + ' k';
  return Math.round(n / 1e5) / 10 + ' M';
}

/**
 * "Chrome 126 · Linux" from a user agent string, or its first word; the
 * table shows this and keeps the whole string in the title.
 */
function shortAgent(agent) {
  agent = String(agent || '');
  if (!agent) return '';
  const browsers = [
    [/Edg\/(\d+)/, 'Edge'], [/OPR\/(\d+)/, 'Opera'], [/Firefox\/(\d+)/, 'Firefox'],
    [/HeadlessChrome\/(\d+)/, 'HeadlessChrome'], [/Chrome\/(\d+)/, 'Chrome'],
    [/Version\/(\d+)[\d.]* .*Safari\//, 'Safari'],
  ];
  let name = null;
  for (const [re, label] of browsers) {
    const m = re.exec(agent);
    if (m) {
      name = label + ' ' + m[1];
      break;
    }
  }
  if (!name) return agent.split(/[\s(]/)[0].slice(0, 32); // curl/8.5, Python/3.12 websockets/12
  const systems = [[/Android/, 'Android'], [/iPhone|iPad/, 'iOS'], [/Windows/, 'Windows'],
    [/Mac OS X|Macintosh/, 'macOS'], [/CrOS/, 'ChromeOS'], [/Linux/, 'Linux']];
  const system = systems.find(([re]) => re.test(agent));
  return system ? name + ' · ' + system[1] : name;
}

/** JSON text pretty-printed, or null if it is not a JSON object or array. */
function prettyJson(text) {
  const start = text.trimStart()[0];
  if (start !== '{' && start !== '[') return null;
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch (e) {
    return null;
  }
}

/** "48 65 6c 6c 6f" from "48656c6c6f". */
function spacedHex(hex) {
  return String(hex).replace(/(..)(?!$)/g, '$1 ');
}

/* ------------------------------------------------------------------ plots */

/* The colours of the lines: CSS custom properties (style.css), so that the
 * dark theme has its own. An app keeps its colour: its place in view.apps. */
function cssColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}
const PALETTE = ['--plot-1', '--plot-2', '--plot-3', '--plot-4', '--plot-5', '--plot-6', '--plot-7', '--plot-8'];
const appColor = (app) => PALETTE[Math.max(0, view.apps.indexOf(app)) % PALETTE.length];

const PLOTS = [
  {
    id: 'plot-connections', legend: 'legend-connections', format: formatCount,
    series: () => view.apps.filter((app) => app !== VIEWER_APP).map((app) => ({
      name: app, color: appColor(app), value: (s) => Number((s.connections || {})[app]) || 0,
    })),
  },
  {
    id: 'plot-messages', legend: 'legend-messages', format: formatCount, unit: '/s',
    series: () => [
      { name: 'in', color: '--plot-in', value: (s) => Number(s.messages_in) || 0 },
      { name: 'out', color: '--plot-out', value: (s) => Number(s.messages_out) || 0 },
    ],
  },
  {
    id: 'plot-bytes', legend: 'legend-bytes', format: formatBytes, unit: '/s', binary: true,
    series: () => [
      { name: 'in', color: '--plot-in', value: (s) => Number(s.bytes_in) || 0 },
      { name: 'out', color: '--plot-out', value: (s) => Number(s.bytes_out) || 0 },
    ],
  },
  {
    id: 'plot-errors', legend: 'legend-errors', format: formatCount, unit: '/s',
    series: () => [{ name: 'errors', color: '--bad', value: (s) => Number(s.errors) || 0 }],
  },
];

/** A round top for the y axis: 1, 2, 5, 10, 20, 50, ... (in KiB, MiB for bytes). */
function niceMax(value, binary) {
  if (!(value > 0)) return 1;
  let unit = 1;
  if (binary) while (value / unit >= 1024) unit *= 1024;
  const scaled = value / unit;
  const step = Math.pow(10, Math.floor(Math.log10(scaled)));
  for (const m of [1, 2, 5, 10]) {
    if (m * step >= scaled) return m * step * unit;
  }
  return 10 * step * unit;
}

/** Draw one chart on its canvas, sharp on high-DPI screens. */
function drawPlot(plot) {
  const canvas = byId(plot.id);
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (!width || !height) return;
  // The canvas has devicePixelRatio pixels per CSS pixel; drawing is in CSS pixels.
  const dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);

  const end = view.serverNow;
  const start = end - WINDOW_MS;
  const samples = view.samples.filter((s) => s.t >= start && s.t <= end);
  const series = plot.series();
  let top = 0;
  for (const line of series) for (const s of samples) top = Math.max(top, line.value(s));
  const max = niceMax(top, plot.binary);

  const pad = { left: 52, right: 10, top: 8, bottom: 20 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  const x = (t) => pad.left + ((t - start) / WINDOW_MS) * w;
  const y = (v) => pad.top + h - (v / max) * h;

  // Axes: grid lines at 0, half and max; the time from -5 min to now.
  const muted = cssColor('--muted');
  ctx.font = '11px system-ui, sans-serif';
  ctx.lineWidth = 1;
  ctx.strokeStyle = cssColor('--border');
  ctx.fillStyle = muted;
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'right';
  for (const v of [0, max / 2, max]) {
    const py = Math.round(y(v)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(pad.left, py);
    ctx.lineTo(pad.left + w, py);
    ctx.stroke();
    if (v !== max / 2) ctx.fillText(plot.format(v) + (v ? plot.unit || '' : ''), pad.left - 6, py);
  }
  ctx.textBaseline = 'alphabetic';
  // "−5 min" at the left end when it fits beside "−4", else "−5".
  const first = ctx.measureText('−5 min').width + ctx.measureText('−4').width / 2 + 8 < w / 5 ? '−5 min' : '−5';
  for (let m = 5; m >= 0; m--) {
    const px = x(end - m * 60000);
    ctx.textAlign = m === 5 ? 'left' : m === 0 ? 'right' : 'center';
    ctx.fillText(m === 0 ? 'now' : m === 5 ? first : '−' + m, px, height - 5);
  }

  // One line per series; a gap of more than 2.5 s between two samples (no
  // inspector was open then) breaks the line instead of bridging it.
  ctx.lineWidth = 1.75;
  ctx.lineJoin = 'round';
  for (const line of series) {
    if (plot.id === 'plot-connections' && !samples.some((s) => line.value(s) > 0)) continue;
    const color = cssColor(line.color);
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.beginPath();
    let prev = null;
    let runLength = 0;
    let lastX = 0;
    let lastY = 0;
    for (const s of samples) {
      const px = x(s.t);
      const py = y(line.value(s));
      if (prev === null || s.t - prev > 2500) {
        if (runLength === 1) ctx.fillRect(lastX - 1.5, lastY - 1.5, 3, 3); // a lone sample: a dot
        ctx.moveTo(px, py);
        runLength = 0;
      } else {
        ctx.lineTo(px, py);
      }
      runLength += 1;
      prev = s.t;
      lastX = px;
      lastY = py;
    }
    if (runLength === 1) ctx.fillRect(lastX - 1.5, lastY - 1.5, 3, 3);
    ctx.stroke();
  }
  canvas.dataset.points = String(samples.length);

  // The legend: one item per line with its latest value.
  const latest = samples[samples.length - 1];
  const items = series.map((line) => {
    const value = latest ? line.value(latest) : 0;
    return el('li', { dataset: { series: line.name }, class: value ? null : 'zero' },
      el('span', { class: 'swatch', style: 'background:' + cssColor(line.color) }),
      line.name + ' ',
      el('strong', {}, plot.format(value) + (plot.unit || '')));
  });
  byId(plot.legend).replaceChildren(...items);
  canvas.setAttribute('aria-label', canvas.previousElementSibling.textContent + ': ' +
    series.map((line) => line.name + ' ' + plot.format(latest ? line.value(latest) : 0)).join(', '));
}

function drawPlots() {
  for (const plot of PLOTS) drawPlot(plot);
}

function addApps(names) {
  for (const name of names) if (!view.apps.includes(name)) view.apps.push(String(name));
}

/** Keep a sample; also learn apps the server did not list in hello. */
function addSample(sample) {
  if (!sample || !Number.isFinite(Number(sample.t))) return;
  addApps(Object.keys(sample.connections || {}));
  const last = view.samples[view.samples.length - 1];
  if (last && last.t === sample.t) view.samples[view.samples.length - 1] = sample;
  else view.samples.push(sample);
  const oldest = view.serverNow - WINDOW_MS - 5000;
  while (view.samples.length && view.samples[0].t < oldest) view.samples.shift();
}

/* ----------------------------------------------------------- client list */

function cell(name) {
  return el('td', { class: name });
}

function newRow(id) {
  const tr = el('tr', { tabindex: '0', dataset: { client: String(id) } },
    cell('id'), cell('app'), cell('path'), cell('peer'), cell('agent'), cell('since'),
    cell('in'), cell('out'), cell('queued'), cell('last-seen'), cell('state'));
  return tr;
}

function fill(tr, name, text, title) {
  const td = tr.querySelector('td.' + name);
  if (td.textContent !== text) td.textContent = text;
  if (title !== undefined && td.title !== title) td.title = title;
}

function updateRow(tr, c) {
  tr.dataset.app = String(c.app ?? '');
  fill(tr, 'id', String(c.id));
  fill(tr, 'app', String(c.app ?? '') + (c.kind && c.kind !== 'websocket' ? ' (' + c.kind + ')' : ''));
  fill(tr, 'path', String(c.path ?? ''));
  fill(tr, 'peer', String(c.peer ?? ''));
  fill(tr, 'agent', shortAgent(c.agent), String(c.agent ?? ''));
  fill(tr, 'since', clock(c.since), 'connected ' + ago(c.since));
  fill(tr, 'in', formatCount(c.messages_in) + ' · ' + formatBytes(c.bytes_in),
    c.messages_in + ' messages, ' + c.bytes_in + ' bytes from the client');
  fill(tr, 'out', formatCount(c.messages_out) + ' · ' + formatBytes(c.bytes_out),
    c.messages_out + ' messages, ' + c.bytes_out + ' bytes to the client');
  fill(tr, 'queued', String(c.queued ?? 0));
  fill(tr, 'last-seen', ago(c.last_seen), clock(c.last_seen));
  const viewer = c.path === VIEWER_PATH;
  tr.classList.toggle('viewer', viewer);
  tr.title = viewer ? 'an inspector (this page, or another one): it cannot be watched' : '';
  const closed = c.closed;
  tr.classList.toggle('closed', Boolean(closed));
  if (closed) {
    tr.dataset.code = String(closed.code ?? '');
    fill(tr, 'state', 'closed ' + (closed.code ?? '') + (closed.reason ? ' ' + closed.reason : ''),
      'closed by the ' + (closed.by_server ? 'server' : 'client') + ' at ' + clock(closed.at));
  } else {
    delete tr.dataset.code;
    fill(tr, 'state', 'open', '');
  }
  const selected = c.id === view.watched;
  tr.classList.toggle('selected', selected);
  tr.setAttribute('aria-selected', String(selected));
}

/**
 * The table follows the server's list: same rows, same order (newest first,
 * then closed); `unlisted` open clients (the oldest) did not fit in it.
 */
function renderClients(list, unlisted) {
  const tbody = byId('clients').tBodies[0];
  view.clients = new Map();
  list.forEach((c, index) => {
    if (!c || c.id === undefined) return;
    view.clients.set(c.id, c);
    let tr = view.rows.get(c.id);
    if (!tr) {
      tr = newRow(c.id);
      view.rows.set(c.id, tr);
    }
    updateRow(tr, c);
    // Rows are updated in place, not rebuilt, so a click is never lost.
    if (tbody.children[index] !== tr) tbody.insertBefore(tr, tbody.children[index] || null);
  });
  for (const [id, tr] of view.rows) {
    if (!view.clients.has(id)) {
      tr.remove();
      view.rows.delete(id);
    }
  }
  const closed = list.filter((c) => c && c.closed).length;
  const more = Number(unlisted) > 0 ? ' (and ' + Number(unlisted) + ' older ones not listed: the newest 500 are)' : '';
  setText('clients-count', (list.length - closed) + ' open' + more + ', ' + closed + ' closed');
  updateWatched();
}

/* ----------------------------------------------------- the conversation */

function updateWatched() {
  const c = view.clients.get(view.watched);
  let text = 'none';
  if (view.watched !== null) {
    text = 'client ' + view.watched;
    if (c) text += ' · ' + c.app + ' · ' + c.path + ' · ' + c.peer + (c.closed ? ' · closed' : '');
  }
  setText('watched', text);
  byId('unwatch').hidden = view.watched === null;
  byId('conversation-hint').hidden = view.watched !== null;
  for (const [id, tr] of view.rows) {
    tr.classList.toggle('selected', id === view.watched);
    tr.setAttribute('aria-selected', String(id === view.watched));
  }
}

function watch(id) {
  if (id === view.watched) return;
  view.watched = id;
  resetConversation();
  setText('server-error', '');
  conn.send({ type: 'watch', client: id });
  updateWatched();
}

function unwatch() {
  if (view.watched === null) return;
  conn.send({ type: 'unwatch' });
  view.watched = null;
  resetConversation();
  updateWatched();
}

function resetConversation() {
  byId('frames').replaceChildren();
  view.waiting = [];
  updatePaused();
  byId('handshake').hidden = true;
  setText('handshake-request', '');
  setText('handshake-response', '');
  setText('handshake-note', '');
}

function showHandshake(msg) {
  byId('handshake').hidden = false;
  setText('handshake-request', msg.request == null ? '(not known)' : String(msg.request));
  setText('handshake-response', msg.response == null
    ? '(not kept)' : String(msg.response));
  setText('handshake-note', msg.partial
    ? 'Partial: this client connected before an inspector was open, so this is the request line and the ' +
      'headers an app sees, not the bytes that came in; the 101 answer was not kept.'
    : '');
}

/** One <li> for a FRAME (docs/inspector.md). */
function frameItem(f) {
  const dir = String(f.dir ?? '');
  const data = { dir };
  if (f.opcode !== undefined) data.opcode = String(f.opcode);
  const li = el('li', { class: 'frame', dataset: data },
    el('time', {}, clock(f.t, true)),
    el('span', { class: 'dir', title: DIR_WORDS[dir] || dir }, ARROWS[dir] || '?'));

  let searchable;
  if (dir === 'note') {
    li.append(el('span', { class: 'meta' }, 'note'), el('span', { class: 'text' }, String(f.text ?? '')));
    searchable = String(f.text ?? '');
  } else {
    const meta = [dir, String(f.opcode ?? '')];
    // Lines (a backend socket's, a script app's) have no FIN bit and no mask.
    if (f.opcode !== 'line') {
      if (typeof f.fin === 'boolean') meta.push(f.fin ? 'FIN' : 'not FIN');
      if (typeof f.masked === 'boolean') meta.push(f.masked ? 'masked' : 'unmasked');
    }
    if (f.len !== undefined) meta.push(f.len + ' B');
    li.append(el('span', { class: 'meta' }, meta.join(' · ')));
    if (f.opcode === 'close') {
      li.append(el('span', { class: 'close' },
        f.code !== undefined && f.code !== null ? 'code ' + f.code + (f.reason ? ' · ' + f.reason : '') : 'no code'));
    }
    let payload = null;
    if (typeof f.text === 'string') {
      // A close frame's payload is its code and reason, shown above.
      if (f.opcode !== 'close' && f.text !== '') {
        const pretty = prettyJson(f.text);
        payload = el('pre', { class: 'payload' + (pretty ? ' json' : '') }, pretty ?? f.text);
      }
      searchable = f.text;
    } else if (typeof f.hex === 'string') {
      if (f.opcode !== 'close' && f.hex !== '') payload = el('pre', { class: 'payload hex' }, spacedHex(f.hex));
      searchable = f.hex;
    }
    if (payload) li.append(payload);
    if (f.cut) li.append(el('span', { class: 'cut' }, 'cut: the first 4 KiB of ' + f.len + ' bytes'));
    searchable = (searchable || '') + ' ' + (f.reason || '');
  }
  li.dataset.search = searchable.toLowerCase();
  li.hidden = !matchesFilter(li);
  return li;
}

function matchesFilter(li) {
  const needle = byId('filter').value.trim().toLowerCase();
  return needle === '' || (li.dataset.search || '').includes(needle);
}

/** Append frames to the list; follow the end unless the reader scrolled up. */
function showFrames(frames) {
  if (!frames.length) return;
  const list = byId('frames');
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
  list.append(...frames.map(frameItem));
  while (list.children.length > MAX_FRAMES) list.firstElementChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function onFrames(msg) {
  if (msg.client !== view.watched) return; // an answer for a client we left
  const frames = Array.isArray(msg.frames) ? msg.frames : [];
  if (msg.replace) {
    // All the frames the server kept: what we show starts again from them.
    byId('frames').replaceChildren();
    view.waiting = [];
    showFrames(frames);
  } else if (view.paused) {
    view.waiting.push(...frames);
    if (view.waiting.length > MAX_FRAMES) view.waiting.splice(0, view.waiting.length - MAX_FRAMES);
  } else {
    showFrames(frames);
  }
  updatePaused();
}

function updatePaused() {
  const button = byId('pause');
  button.textContent = view.paused ? 'Resume' : 'Pause';
  button.setAttribute('aria-pressed', String(view.paused));
  setText('paused-count', view.paused ? view.waiting.length + ' waiting' : '');
}

function togglePause() {
  view.paused = !view.paused;
  if (!view.paused) {
    const frames = view.waiting;
    view.waiting = [];
    showFrames(frames);
  }
  updatePaused();
}

/** A line of our own in the frame list (a FRAME with dir "note"). */
function localNote(text) {
  showFrames([{ t: Date.now() - view.clockOffset, dir: 'note', text }]);
}

/* ------------------------------------------------------------------ log */

function logItem(line) {
  const level = String(line.level ?? 'INFO').toUpperCase();
  return el('li', { dataset: { level } },
    el('time', {}, clock(line.t)),
    el('span', { class: 'level' }, level),
    el('span', { class: 'text' }, String(line.text ?? '')));
}

function addLog(lines, replace) {
  const list = byId('log');
  if (replace) {
    list.replaceChildren();
    view.logSeq = -1;
  }
  // Lines carry a sequence number: one that came in hello may come again
  // in the first tick.
  lines = lines.filter((line) => {
    if (!Number.isFinite(line.seq)) return true;
    if (line.seq <= view.logSeq) return false;
    view.logSeq = line.seq;
    return true;
  });
  const atBottom = replace || list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
  list.append(...lines.map(logItem));
  while (list.children.length > MAX_LOG) list.firstElementChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

/* -------------------------------------------------------- the messages */

function setClock(now) {
  if (!Number.isFinite(Number(now))) return;
  view.serverNow = Number(now);
  view.clockOffset = Date.now() - view.serverNow;
}

function onHello(msg) {
  // A server that restarted counts its time from zero again, and its
  // client ids start over: a watched id would be another client now.
  const restarted = Number(msg.now) < view.serverNow;
  setClock(msg.now);
  view.apps = [];
  addApps(Array.isArray(msg.apps) ? msg.apps : []);
  view.samples = [];
  (Array.isArray(msg.history) ? msg.history : []).forEach(addSample);
  renderClients(Array.isArray(msg.clients) ? msg.clients : [], msg.unlisted);
  addLog(Array.isArray(msg.log) ? msg.log : [], true);
  drawPlots();
  if (view.watched !== null) {
    const c = view.clients.get(view.watched);
    if (!restarted && c && !c.closed) {
      // The server forgot our watch with the old socket: ask again.
      conn.send({ type: 'watch', client: view.watched });
    } else {
      localNote('the connection to the server was lost and client ' + view.watched + ' is gone: pick a client again');
      view.watched = null;
      updateWatched();
    }
  }
}

function onTick(msg) {
  setClock(msg.now);
  addSample(msg.sample);
  if (Array.isArray(msg.clients)) renderClients(msg.clients, msg.unlisted);
  if (Array.isArray(msg.log)) addLog(msg.log, false);
  drawPlots();
}

function onError(msg) {
  const text = String(msg.message ?? 'error');
  setText('server-error', 'The server says: ' + text);
  // "no client 7": the one we asked for is gone.
  const m = /^no client (\d+)/.exec(text);
  if (m && Number(m[1]) === view.watched) {
    view.watched = null;
    resetConversation();
    updateWatched();
  }
}

function onMessage(data) {
  const msg = parseJson(data);
  if (!msg) return;
  switch (msg.type) {
    case 'hello': onHello(msg); break;
    case 'tick': onTick(msg); break;
    case 'handshake': if (msg.client === view.watched) showHandshake(msg); break;
    case 'frames': onFrames(msg); break;
    case 'error': onError(msg); break;
    default: break; // unknown types are ignored, so a newer server does not break this page
  }
}

/* ------------------------------------------------------------ access */

/** /ws/inspect, with ?token= from the #token=... part of this page's address. */
function inspectPath() {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  return '/ws/inspect' + (token ? '?token=' + encodeURIComponent(token) : '');
}

function hasToken() {
  return Boolean(new URLSearchParams(location.hash.slice(1)).get('token'));
}

function showAccess(reason) {
  const box = byId('access');
  box.hidden = false;
  box.dataset.reason = reason;
  setText('access-detail', reason === 'refused'
    ? (hasToken()
      ? 'The server answers, but it refused the token in this address: it makes a new one at every start.'
      : 'The server answers, but it refused this page\'s socket to /ws/inspect (403): this address has no token.')
    : 'The server does not answer at the moment (stopped, or restarting?); this page keeps trying.');
}

function hideAccess() {
  byId('access').hidden = true;
  delete byId('access').dataset.reason;
}

/*
 * A refused upgrade (403) looks, to a page, like any failed connection: the
 * close event, code 1006, before any open; browsers do not show the status.
 * So ask the server something over plain HTTP: if it answers, it is up and
 * it refused the socket; if not, it is down.
 */
async function explainFailure() {
  let reachable = false;
  try {
    await fetch('/api/status', { cache: 'no-store' });
    reachable = true;
  } catch (e) {
    reachable = false;
  }
  if (conn.isOpen) return; // it worked meanwhile
  if (reachable) showAccess('refused');
  else if (!view.everOpen) showAccess('unreachable');
  else hideAccess(); // the server is restarting: the indicator says so
}

/* ------------------------------------------------------------ wiring */

const conn = new Connection(inspectPath(), {
  reconnect: true, // backoff with jitter, 0.25-0.5 s, 0.5-1 s, ... 4-8 s, while the server restarts
  onOpen() {
    view.attemptOpened = true;
    view.everOpen = true;
    hideAccess();
  },
  onMessage,
  onClose() {
    if (!view.attemptOpened) explainFailure();
  },
  onState(name) {
    if (name === 'connecting') view.attemptOpened = false;
  },
});

byId('clients').tBodies[0].addEventListener('click', (event) => {
  const tr = event.target.closest('tr[data-client]');
  if (tr && !tr.classList.contains('viewer')) watch(Number(tr.dataset.client));
});
byId('clients').tBodies[0].addEventListener('keydown', (event) => {
  const tr = event.target.closest('tr[data-client]');
  if (tr && !tr.classList.contains('viewer') && (event.key === 'Enter' || event.key === ' ')) {
    event.preventDefault();
    watch(Number(tr.dataset.client));
  }
});
byId('unwatch').addEventListener('click', unwatch);
byId('pause').addEventListener('click', togglePause);
byId('clear').addEventListener('click', () => {
  byId('frames').replaceChildren();
  view.waiting = [];
  updatePaused();
});
byId('filter').addEventListener('input', () => {
  const list = byId('frames');
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
  for (const li of list.children) li.hidden = !matchesFilter(li);
  if (atBottom) list.scrollTop = list.scrollHeight; // still following the end
});
byId('frames-tools').addEventListener('submit', (event) => event.preventDefault());

// A new #token=... in the address: connect again with it.
window.addEventListener('hashchange', () => {
  conn.url = wsUrl(inspectPath());
  conn.connect();
});

// The time axis is the server's: between ticks nothing moves, but a resize
// (or a zoom, which changes devicePixelRatio) needs a redraw.
window.addEventListener('resize', drawPlots);

updatePaused();
drawPlots();
conn.connect();
