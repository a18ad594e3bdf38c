'use strict';
// Start and stop a wslab server from a test (the reconnect scenario needs
// its own server, which it stops and starts again on the same port).
// run.sh starts the shared server itself and passes WSLAB_BIN, WSLAB_WWW and
// WSLAB_WORKSHOPS so that a test can start another one the same way.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = process.env.WSLAB_BIN || path.join(ROOT, 'target', 'release', 'wslab');
const WWW = process.env.WSLAB_WWW || path.join(ROOT, 'www');
const WORKSHOPS = process.env.WSLAB_WORKSHOPS || path.join(__dirname, '..', 'workshops.json');

// Servers still running when this test process exits are killed with it.
const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

// The log line wslab prints once it listens: "open http://127.0.0.1:PORT/"
// (followed by " (this machine)" when it listens on every address).
const READY = /open (https?):\/\/127\.0\.0\.1:(\d+)\//;

/**
 * Start wslab on 127.0.0.1. port 0 takes a free port; the real one is read
 * from the log. Resolves to { port, url, dataDir, log(), stop(signal) }.
 */
function startServer({ port = 0, dataDir, args = [], timeoutMs = 20000 } = {}) {
  // run.sh passes its temporary directory, which it removes at the end.
  const data = dataDir || fs.mkdtempSync(path.join(process.env.WSLAB_E2E_TMP || os.tmpdir(), 'data-'));
  const child = spawn(BIN, ['--host', '127.0.0.1', '--port', String(port), '--data', data,
    '--www', WWW, '--workshops', WORKSHOPS, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let logText = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  return new Promise((resolve, reject) => {
    let pending = '';
    let done = false;
    const timer = setTimeout(() => fail(new Error('wslab did not print its URL within ' + timeoutMs + ' ms')), timeoutMs);
    function fail(err) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      err.message += '\nserver log:\n' + logText;
      reject(err);
    }
    child.once('error', fail);
    child.once('exit', (code, signal) => fail(new Error('wslab exited early (' + (signal || code) + ')')));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      logText += chunk;
      if (done) return;
      pending += chunk;
      const match = READY.exec(pending);
      if (!match) return;
      done = true;
      clearTimeout(timer);
      const realPort = Number(match[2]);
      resolve({
        port: realPort,
        url: match[1] + '://127.0.0.1:' + realPort,
        dataDir: data,
        log: () => logText,
        /** Stop the server (SIGTERM: it closes every WebSocket with 1001) and wait for it to exit. */
        async stop(sig = 'SIGTERM') {
          if (child.exitCode === null && child.signalCode === null) child.kill(sig);
          return exited;
        },
      });
    });
  });
}

module.exports = { startServer, ROOT };
