"""A minimal RFC 6455 client on asyncio streams, and a one-request HTTP client.

Just what the soak needs: the opening handshake (checked: 101 and the
Sec-WebSocket-Accept), masked frames out, unmasked frames in, pings answered
with pongs, continuation frames reassembled, the close handshake. No
extensions, no subprotocols. The standard library only.
"""

import asyncio
import base64
import hashlib
import os
import struct

HOST = "127.0.0.1"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class Closed(Exception):
    """The connection ended: a close frame (code set), or EOF / an error (code None)."""

    def __init__(self, code=None, reason="", why=""):
        super().__init__(f"closed (code {code}) {why} {reason}".strip())
        self.code = code
        self.reason = reason
        self.why = why


class HandshakeError(Exception):
    def __init__(self, status, head):
        super().__init__(f"handshake answered {status}: {head[:200]!r}")
        self.status = status


def xor_mask(data, key):
    n = len(data)
    if not n:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def encode_frame(op, payload, fin=True):
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    key = os.urandom(4)
    return head + key + xor_mask(payload, key)


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def upgrade_request(port, path, key):
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def check_upgrade_answer(head, key):
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    if status != 101:
        raise HandshakeError(status, head)
    want = accept_for(key).encode()
    if b"sec-websocket-accept: " + want.lower() not in head.lower():
        raise HandshakeError(status, head)


class WS:
    def __init__(self, reader, writer):
        self.r = reader
        self.w = writer
        self.close_sent = False
        self.close_code = None
        self.bytes_in = 0
        self.bytes_out = 0

    @classmethod
    async def connect(cls, port, path, timeout=5.0):
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
        try:
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write(upgrade_request(port, path, key))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            check_upgrade_answer(head, key)
        except BaseException:
            writer.close()
            raise
        return cls(reader, writer)

    def _write(self, data):
        if self.w.is_closing():
            raise Closed(None, why="our side is closed")
        self.w.write(data)
        self.bytes_out += len(data)

    async def send(self, payload, binary=False):
        if isinstance(payload, str):
            payload = payload.encode()
        self._write(encode_frame(BINARY if binary else TEXT, payload))
        if self.w.transport.get_write_buffer_size() > 256 * 1024:
            try:
                await asyncio.wait_for(self.w.drain(), 10)
            except (ConnectionError, OSError) as e:
                raise Closed(None, why=f"drain: {e!r}")
            except asyncio.TimeoutError:
                raise Closed(None, why="drain: nothing taken for 10 s")

    async def recv(self):
        """The next data message as (opcode, bytes). Raises Closed at the end."""
        op0 = None
        parts = []
        try:
            while True:
                h = await self.r.readexactly(2)
                b0, b1 = h[0], h[1]
                fin = b0 & 0x80
                op = b0 & 0x0F
                n = b1 & 0x7F
                if b1 & 0x80:
                    raise Closed(None, why="masked frame from the server")
                if n == 126:
                    n = struct.unpack("!H", await self.r.readexactly(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", await self.r.readexactly(8))[0]
                payload = await self.r.readexactly(n) if n else b""
                self.bytes_in += 2 + n
                if op == PING:
                    if not self.close_sent and not self.w.is_closing():
                        self._write(encode_frame(PONG, payload))
                    continue
                if op == PONG:
                    continue
                if op == CLOSE:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    self.close_code = code
                    if not self.close_sent and not self.w.is_closing():
                        self.close_sent = True
                        self._write(encode_frame(CLOSE, payload[:2]))
                    raise Closed(code, payload[2:].decode("utf-8", "replace"), why="close frame")
                if op == 0:
                    parts.append(payload)
                else:
                    op0 = op
                    parts = [payload]
                if fin:
                    return op0, b"".join(parts)
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as e:
            raise Closed(None, why=f"eof: {type(e).__name__}")

    def send_close(self, code=1000):
        if self.close_sent or self.w.is_closing():
            return
        self.close_sent = True
        try:
            self._write(encode_frame(CLOSE, struct.pack("!H", code)))
        except Closed:
            pass

    def abort(self):
        try:
            self.w.close()
        except Exception:
            pass


async def http(port, method, path, body=None, timeout=5.0):
    """One request (Connection: close); returns (status, body bytes)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
    try:
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        data = b""
        if body is not None:
            data = body if isinstance(body, bytes) else body.encode()
            head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        writer.write(head.encode() + b"\r\n" + data)
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    top, _, rest = raw.partition(b"\r\n\r\n")
    parts = top.split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, rest
