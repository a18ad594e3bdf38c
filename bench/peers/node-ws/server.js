'use strict';
// The peer of `make bench`: the Node server a course would write instead of
// using wslab. The `ws` package, written the way its README shows:
//   /ws/room/NAME  every message goes to everyone in room NAME, sender included
//   /ws/echo       every message goes back to its sender
// Usage: node server.js [--host 127.0.0.1] [--port 0]
// Prints `open http://127.0.0.1:PORT/ (this machine)` on stderr, as wslab does.

const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

const args = process.argv.slice(2);
function arg(name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}
const host = arg('--host', '127.0.0.1');
const port = Number(arg('--port', '0'));

// Same message size limit as wslab's default (1 MiB); no compression (ws's default).
const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
const rooms = new Map(); // name -> Set of sockets

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('WebSocket only: /ws/room/NAME, /ws/echo\n');
});

server.on('upgrade', (req, socket, head) => {
  const path = req.url.split('?')[0];
  let room = null;
  if (path !== '/ws/echo') {
    const m = /^\/ws\/room\/([A-Za-z0-9_-]{1,64})$/.exec(path);
    if (!m) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    room = m[1];
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('error', () => {});
    if (room === null) {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      return;
    }
    let members = rooms.get(room);
    if (!members) {
      members = new Set();
      rooms.set(room, members);
    }
    members.add(ws);
    ws.on('message', (data, isBinary) => {
      for (const client of members) {
        if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
      }
    });
    ws.on('close', () => {
      members.delete(ws);
      if (members.size === 0 && rooms.get(room) === members) rooms.delete(room);
    });
  });
});

server.listen(port, host, () => {
  console.error(`open http://127.0.0.1:${server.address().port}/ (this machine)`);
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
