#!/usr/bin/env python3
"""make soak (issue 16): every app of wslab at once, for SOAK_S seconds, on loopback.

    python3 tests/soak/soak.py --seconds 600 [--bin target/release/wslab]

Starts target/release/wslab on a free port (--port 0 --host 127.0.0.1) with a
temporary --data directory and tests/soak/workshops.json, runs every app at
once (rooms, chat, workshop, relay from socket and HTTP backends, echo),
churns connections in cycles, stalls one room client per minute, kill -9s the
server half way and restarts it on the same port with the same data, then
checks what it promised. Writes target/soak/report.md; exit code 1 when an
assertion failed. What is checked, and how, is in tests/soak/README.md.

The standard library only (wsclient.py is the WebSocket client).
"""

import argparse
import array
import asyncio
import collections
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True   # no __pycache__ in tests/soak
sys.path.insert(0, str(Path(__file__).resolve().parent))
from wsclient import (  # noqa: E402
    BINARY, CLOSE, HOST, PING, TEXT, WS, Closed, encode_frame, check_upgrade_answer,
    http, upgrade_request,
)
import base64  # noqa: E402
import struct  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = ROOT / "target" / "soak"

ROOMS = ["soak-a", "soak-b", "soak-c", "soak-d"]
RSS_WINDOW = (5, 10)      # churn cycles (1-based) whose RSS must be within RSS_TOLERANCE
RSS_TOLERANCE = 0.05
RSS_MIN_S = 240            # shorter runs have no cycle 10 after the restart: reported, not asserted
CYCLE_S = 10.0             # one churn cycle
STALL_PERIOD = 60.0        # one stalled client per minute ...
STALL_OFFSET = 5.0         # ... the first 5 s into each server process's life
STALL_MSG = 1024           # flood message size (the outbox counts messages: small ones fill it too)
TAIL = 60.0                # the harness stops by itself within SOAK_S + TAIL

T0 = time.monotonic()


def clock():
    return time.monotonic() - T0


def log(msg):
    print(f"[soak {clock():7.1f}s] {msg}", flush=True)


# ---------------------------------------------------------------------------
# Bookkeeping


class Failures:
    def __init__(self):
        self.counts = collections.Counter()
        self.samples = collections.defaultdict(list)

    def add(self, kind, detail):
        self.counts[kind] += 1
        if len(self.samples[kind]) < 6:
            self.samples[kind].append(f"{clock():.1f}s: {detail}")
        if self.counts[kind] <= 3:
            log(f"FAIL {kind}: {detail}")

    def total(self):
        return sum(self.counts.values())


async def wait_until(cond, evt, timeout):
    """Waits for cond() to hold, re-checked each time evt is set; False on timeout."""
    deadline = time.monotonic() + timeout
    while not cond():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        evt.clear()
        if cond():
            return True
        try:
            await asyncio.wait_for(evt.wait(), left)
        except asyncio.TimeoutError:
            return cond()
    return True


def proc_status(pid):
    """VmRSS (KiB) and Threads of a process, from /proc/PID/status."""
    rss = threads = anon = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
    except OSError:
        pass
    return rss, threads, anon


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def die_with_parent():
    """In the server's child process: SIGKILL when the harness dies, however it dies."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except Exception:
        pass


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class Live:
    """The sessions connected right now, with an event on every departure."""

    def __init__(self):
        self.items = set()
        self.changed = asyncio.Event()

    def add(self, s):
        self.items.add(s)

    def discard(self, s):
        if s in self.items:
            self.items.discard(s)
            self.changed.set()


class Ledger:
    """Every reservation and cancellation the server acknowledged."""

    def __init__(self, soak, workshops):
        self.soak = soak
        self.ids = [w["id"] for w in workshops]
        self.cap = {w["id"]: w["capacity"] for w in workshops}
        self.live = {}            # ticket -> (workshop, name): acknowledged, not cancelled
        self.count = collections.Counter()
        self.ready_at = {}        # ticket -> when it may be cancelled or probed
        self.busy = set()         # tickets a request is out for
        self.cancelled = set()    # tickets whose cancellation was acknowledged
        self.issued = set()
        self.unknown_res = set()  # (workshop, lowercase name) of reserves unanswered at the kill
        self.unknown_cancel = set()
        self.cancelling = collections.Counter()  # workshop -> cancels sent, not yet answered
        self.n = collections.Counter()
        self.max_live = collections.Counter()

    def fail(self, kind, detail):
        self.soak.fail.add(kind, detail)

    def ack_reserve(self, ticket, w, name):
        if not re.fullmatch(r"T-[0-9a-f]{32}", ticket or ""):
            self.fail("workshop-ticket", f"malformed ticket {ticket!r}")
        if ticket in self.issued:
            self.fail("workshop-ticket", f"ticket {ticket} issued twice")
            return
        self.issued.add(ticket)
        self.live[ticket] = (w, name)
        self.count[w] += 1
        self.n["reserved"] += 1
        self.ready_at[ticket] = time.monotonic() + random.uniform(0.3, 2.0)
        self.max_live[w] = max(self.max_live[w], self.count[w] - self.cancelling[w])
        if self.soak.kill_armed:
            # "a confirmed reservation survives kill -9 right after the confirmation"
            self.soak.do_kill(f"right after reserved {ticket} ({w}, {name}) was read")
        # Answers to different clients come on different sockets: with one write for
        # a cancel and the reservation of the seat it freed, the reservation's answer
        # may be read first. Only what is left when every cancel still unanswered
        # has happened must fit.
        if self.count[w] - self.cancelling[w] > self.cap[w]:
            self.fail("workshop-overbooked",
                      f"{w}: {self.count[w]} acknowledged reservations ({self.cancelling[w]} cancels unanswered), "
                      f"capacity {self.cap[w]}")

    def drop(self, ticket):
        w, _ = self.live.pop(ticket)
        self.count[w] -= 1
        self.busy.discard(ticket)
        self.ready_at.pop(ticket, None)
        return w

    def ack_cancel(self, ticket):
        self.drop(ticket)
        self.cancelled.add(ticket)
        self.n["cancelled"] += 1

    def take(self):
        now = time.monotonic()
        cands = [t for t in self.live if t not in self.busy and self.ready_at.get(t, 0) <= now]
        if not cands:
            return None
        t = random.choice(cands)
        self.busy.add(t)
        return t

    def release(self, t):
        self.busy.discard(t)

    def unanswered(self, req):
        """A request whose answer the kill took: its effect is unknown."""
        kind = req[0]
        if kind == "reserve":
            self.unknown_res.add((req[1], req[2].lower()))
        elif kind == "cancel":
            self.unknown_cancel.add(req[1])
        else:
            self.release(req[1])

    def reconcile_after_crash(self, entries):
        """The data file after kill -9 against the ledger; the ledger is the file afterwards."""
        disk = {}
        for r in entries:
            if r["ticket"] in disk:
                self.fail("workshop-disk", f"ticket {r['ticket']} twice in the data file")
            disk[r["ticket"]] = (r["workshop"], r["name"])
        fig = {"on_disk": len(disk), "acknowledged_live": len(self.live),
               "unanswered_reserves": len(self.unknown_res),
               "unanswered_cancels": len(self.unknown_cancel), "adopted": 0,
               "cancels_applied": 0, "lost": 0}
        for t, (w, name) in list(self.live.items()):
            if t in disk:
                if disk[t][0] != w or disk[t][1] != name:
                    self.fail("workshop-disk", f"{t}: acknowledged as {w}/{name}, on disk {disk[t]}")
            elif t in self.unknown_cancel:
                self.drop(t)            # its cancel reached the disk; the answer was lost
                self.cancelled.add(t)
                fig["cancels_applied"] += 1
            else:
                fig["lost"] += 1
                self.fail("workshop-lost", f"acknowledged reservation {t} ({w}, {name}) not on disk after kill -9")
                self.drop(t)
        for t, (w, name) in disk.items():
            if t in self.live:
                continue
            key = (w, name.strip().lower())
            if key in self.unknown_res:
                self.unknown_res.discard(key)
                self.issued.add(t)
                self.live[t] = (w, name)
                self.count[w] += 1
                self.ready_at[t] = 0
                fig["adopted"] += 1
            elif t in self.cancelled:
                self.fail("workshop-resurrected", f"{t} ({w}, {name}): cancel acknowledged, on disk after kill -9")
            else:
                self.fail("workshop-disk", f"{t} ({w}, {name}) on disk, never requested")
        for w in self.ids:
            n = sum(1 for (ww, _) in disk.values() if ww == w)
            if n > self.cap[w]:
                self.fail("workshop-overbooked", f"{w}: {n} reservations on disk, capacity {self.cap[w]}")
        self.unknown_res.clear()
        self.unknown_cancel.clear()
        self.busy.clear()
        self.cancelling.clear()
        return fig

    def check_state(self, state, where):
        ws = state.get("workshops")
        if not isinstance(ws, list) or [w.get("id") for w in ws] != self.ids:
            self.fail("workshop-state", f"{where}: workshops {ws!r:.200}")
            return None
        avail = {}
        for w in ws:
            a, c = w.get("available"), w.get("capacity")
            if c != self.cap[w["id"]]:
                self.fail("workshop-state", f"{where}: {w['id']} capacity {c}")
            if not isinstance(a, int) or a < 0 or a > self.cap[w["id"]]:
                self.fail("workshop-overbooked", f"{where}: {w['id']} available {a} of {c}")
            avail[w["id"]] = a
        return avail


# ---------------------------------------------------------------------------
# Sessions: one client connection each


class Session:
    app = "?"

    def __init__(self, soak, duration=None):
        self.soak = soak
        self.id = soak.new_id()
        self.ws = None
        self.gen = soak.gen
        self.cut = False          # its server was killed under it
        self.broken = False       # it ended for another reason than us or the kill
        self.leaving = False
        self.stop_requested = False
        self.ready = False
        self.ready_evt = asyncio.Event()
        self.evt = asyncio.Event()
        self.done = asyncio.Event()
        self.until = None if duration is None else time.monotonic() + duration
        self.reader_task = None

    def keep_going(self):
        if self.cut or self.broken or self.stop_requested or self.soak.stopping or self.server_gone():
            return False
        return self.until is None or time.monotonic() < self.until

    def fail(self, kind, detail):
        self.soak.fail.add(kind, f"{self.app} #{self.id}: {detail}")

    def server_gone(self):
        return self.soak.killing or self.gen != self.soak.gen

    def set_ready(self):
        self.ready = True
        self.ready_evt.set()

    async def open(self, path):
        soak = self.soak
        self.gen = soak.gen
        try:
            self.ws = await WS.connect(soak.port, path)
        except Exception as e:
            if self.server_gone() or soak.stopping:
                self.cut = True
            else:
                self.fail("connect", f"{path}: {e!r}")
                self.broken = True
            self.done.set()
            return False
        if self.server_gone():
            self.cut = True
            self.ws.abort()
            self.done.set()
            return False
        soak.stats[f"{self.app}_connections"] += 1
        soak.live.add(self)
        self.registered()
        self.reader_task = asyncio.create_task(self._read_loop())
        return True

    def registered(self):
        pass

    def on_message(self, op, payload):
        pass

    def on_lost(self):
        pass

    async def _read_loop(self):
        try:
            while True:
                op, payload = await self.ws.recv()
                try:
                    self.on_message(op, payload)
                except Exception as e:
                    self.fail("harness", f"on_message: {e!r} on {payload[:160]!r}")
        except Closed as e:
            self.ended(e)
        except asyncio.CancelledError:
            pass
        except Exception as e:
            self.ended(Closed(None, why=repr(e)))
        finally:
            self.ws.abort()
            self.soak.live.discard(self)
            self.done.set()
            self.evt.set()

    def ended(self, e):
        if self.leaving and e.code == 1000:
            return
        if self.server_gone():
            self.cut = True
        elif self.leaving:
            self.fail("close", f"closing with 1000 got {e}")
        else:
            self.broken = True
            self.fail("dropped", f"connection ended while the server was up: {e}")
        self.on_lost()

    async def close(self):
        self.leaving = True
        if self.ws is None or self.done.is_set():
            return
        self.ws.send_close(1000)
        try:
            await asyncio.wait_for(self.done.wait(), 5)
        except asyncio.TimeoutError:
            if not self.server_gone():
                self.fail("close", "no close reply within 5 s")
            if self.reader_task:
                self.reader_task.cancel()
            self.ws.abort()

    async def run(self):
        raise NotImplementedError

    def finish(self):
        pass

    async def life(self):
        try:
            await self.run()
        except Closed:
            pass   # a send on a connection that ended: its reader says why
        except asyncio.CancelledError:
            raise
        except Exception as e:
            import traceback
            self.fail("harness", f"{e!r} {traceback.format_exc()[-600:]}")
        finally:
            if self.ws is not None and not self.done.is_set():
                try:
                    await asyncio.wait_for(self.done.wait(), 3)
                except asyncio.TimeoutError:
                    if self.reader_task:
                        self.reader_task.cancel()
                    self.ws.abort()
            try:
                self.finish()
            except Exception as e:
                self.fail("harness", f"finish: {e!r}")

    async def pace(self, mean):
        await asyncio.sleep(min(random.expovariate(1.0 / mean), mean * 4))


class Sequenced:
    """Numbered messages and the check that each receiver got them all, in order.

    Every session that joins a room (or the chat) is recorded in that room's
    `members` (per server process) before it sends anything, with `sent` (its
    highest sequence number written) and `echoed` (its highest one it got back).
    When receiver B is ready (its join is processed: its own hello came back, or
    its chat welcome), it notes lower[A] = A.sent for every member A: each
    message of A numbered above that was written after the server registered B,
    so B must get it. When B leaves it notes upper[A] = A.echoed, then sends bye
    and waits for it: every message of A the server had processed before B's bye
    reaches B before its bye. B must get all of (lower[A], upper[A]] of each A,
    and from each sender exactly seq, seq + 1, ... (no gap, no repeat, in order).
    A session cut by the kill -9 is checked for order and gaps only.
    """

    kind = "?"

    def init_seq(self):
        self.sent = -1
        self.echoed = -1
        self.first = {}
        self.last = {}
        self.lower = None
        self.upper = None

    def note(self, sid, seq):
        if sid not in self.members:
            self.fail(f"{self.kind}-foreign", f"got a message from #{sid}, not a member here")
            return
        last = self.last.get(sid)
        if last is None:
            self.first[sid] = seq
        elif seq != last + 1:
            self.fail(f"{self.kind}-order", f"from #{sid}: got {seq} after {last}")
        self.last[sid] = seq
        if sid == self.id:
            self.echoed = seq
            self.evt.set()

    def snapshot_lower(self):
        self.lower = {sid: m.sent for sid, m in self.members.items()}

    def snapshot_upper(self):
        self.upper = {sid: m.echoed for sid, m in self.members.items()}

    def verify(self):
        if self.lower is None:
            return
        for sid, first in self.first.items():
            lo = self.lower.get(sid, -1)
            if first > lo + 1:
                self.fail(f"{self.kind}-lost", f"from #{sid}: {lo + 1}..{first - 1} never arrived (then {first})")
        if self.cut or self.broken or self.upper is None:
            return
        for sid, up in self.upper.items():
            lo = self.lower.get(sid, -1)
            if up <= lo:
                continue
            last = self.last.get(sid)
            if last is None or last < up:
                self.fail(f"{self.kind}-lost", f"from #{sid}: expected up to {up} (from {lo + 1}), last got {last}")
            else:
                self.soak.stats[f"{self.kind}_pairs_checked"] += 1
                self.soak.stats[f"{self.kind}_messages_checked"] += up - lo


class Answered:
    """Requests that the server answers one by one, in order: `fifo` holds
    what was sent and not yet answered, oldest first."""

    def init_fifo(self):
        self.fifo = collections.deque()

    async def settle(self, kind, what):
        """After the last request: waits (10 s at most) for the answers still
        due, fails with `kind` if some never came, and closes."""
        if self.cut or self.broken:
            return
        await wait_until(lambda: not self.fifo or self.done.is_set(), self.evt, 10)
        if self.fifo and not (self.cut or self.broken):
            self.fail(kind, f"{len(self.fifo)} {what} within 10 s: {[str(r)[:80] for r in list(self.fifo)[:3]]}")
        await self.close()


class RoomMember(Session, Sequenced):
    app = "room"
    kind = "room"

    def __init__(self, soak, room, duration=None, pace=0.1, pad_max=200, quiet=False):
        super().__init__(soak, duration)
        self.room = room
        self.pace_s = pace
        self.pad_max = pad_max
        self.quiet = quiet
        self.members = {}
        self.init_seq()

    def registered(self):
        self.members = self.soak.streams(self.gen, "room:" + self.room)
        self.members[self.id] = self

    async def send_seq(self, pad=""):
        self.sent += 1
        await self.ws.send(f"{self.id}|{self.sent}|{time.monotonic():.6f}|{pad}")
        self.soak.stats["room_sent"] += 1
        return self.sent

    def on_message(self, op, payload):
        if op != TEXT:
            self.fail("room-unexpected", f"opcode {op}")
            return
        sid, seq, t, _ = payload.decode().split("|", 3)
        self.note(int(sid), int(seq))
        self.soak.stats["room_received"] += 1
        lat = time.monotonic() - float(t)
        (self.soak.lat_stall if self.soak.stalling else self.soak.lat_room).append(lat)

    async def run(self):
        if not await self.open(f"/ws/room/{self.room}"):
            return
        await self.send_seq("hello")
        await wait_until(lambda: self.echoed >= 0 or self.done.is_set(), self.evt, 5)
        if self.echoed < 0:
            if not (self.cut or self.broken):
                self.fail("room-ready", "its hello did not come back within 5 s")
            return
        self.snapshot_lower()
        self.set_ready()
        while self.keep_going():
            if self.quiet:
                await asyncio.sleep(0.05)
                continue
            await self.send_seq("p" * random.randint(0, self.pad_max))
            await self.pace(self.pace_s)
        await self.bye()

    async def bye(self):
        if self.cut or self.broken:
            return
        self.snapshot_upper()
        target = await self.send_seq("bye")
        await wait_until(lambda: self.echoed >= target or self.done.is_set(), self.evt, 10)
        if self.echoed < target and not (self.cut or self.broken):
            self.fail("room-bye", "its bye did not come back within 10 s")
            self.upper = None
        await self.close()

    def finish(self):
        self.verify()


class ChatUser(Session, Sequenced):
    app = "chat"
    kind = "chat"

    def __init__(self, soak, duration=None, pace=0.3, simple=False):
        super().__init__(soak, duration)
        self.pace_s = pace
        self.simple = simple
        self.name = f"u{self.id}"
        self.members = {}
        self.online = set()
        self.welcomed = False
        self.init_seq()

    def registered(self):
        self.members = self.soak.streams(self.gen, "chat")
        self.members[self.id] = self

    async def send_seq(self, extra=""):
        self.sent += 1
        msg = {"type": "chat", "text": f"{self.id}|{self.sent}|{time.monotonic():.6f}|{extra}"}
        if self.simple and self.sent == 0:
            msg["user"] = self.name
        await self.ws.send(json.dumps(msg))
        self.soak.stats["chat_sent"] += 1
        return self.sent

    def on_message(self, op, payload):
        m = json.loads(payload)
        t = m.get("type")
        st = self.soak.stats
        if t == "welcome":
            users = m.get("users", [])
            if m.get("user") != self.name or self.name not in users or users != sorted(users):
                self.fail("chat-welcome", f"{m!r:.300}")
            if not isinstance(m.get("history"), list) or len(m["history"]) > 50:
                self.fail("chat-welcome", f"history {m.get('history')!r:.200}")
            self.online = set(users)
            self.welcomed = True
            st["chat_logins"] += 1
            self.evt.set()
        elif t == "join":
            u = m.get("user")
            if not self.welcomed or u in self.online:
                self.fail("chat-presence", f"join of {u} (welcomed {self.welcomed}, online already: {u in self.online})")
            self.online.add(u)
            st["chat_joins_seen"] += 1
        elif t == "leave":
            u = m.get("user")
            if u not in self.online:
                self.fail("chat-presence", f"leave of {u}, who was not online")
            self.online.discard(u)
            st["chat_leaves_seen"] += 1
        elif t == "chat":
            u = m.get("user")
            sid, seq, ts, _ = m["text"].split("|", 3)
            if not self.welcomed or u not in self.online:
                self.fail("chat-presence", f"chat from {u}, not online here")
            if u != f"u{sid}":
                self.fail("chat-user", f"chat of #{sid} came as from {u}")
            self.note(int(sid), int(seq))
            st["chat_received"] += 1
            self.soak.lat_chat.append(time.monotonic() - float(ts))
        else:
            self.fail("chat-unexpected", f"{m!r:.300}")

    async def run(self):
        if not await self.open("/ws/chat"):
            return
        if self.simple:
            await self.send_seq("hello")
        else:
            await self.ws.send(json.dumps({"type": "login", "user": self.name}))
        await wait_until(lambda: self.welcomed or self.done.is_set(), self.evt, 5)
        if not self.welcomed:
            if not (self.cut or self.broken):
                self.fail("chat-ready", "no welcome within 5 s")
            return
        self.snapshot_lower()
        self.set_ready()
        while self.keep_going():
            await self.send_seq()
            await self.pace(self.pace_s)
        if self.cut or self.broken:
            return
        self.snapshot_upper()
        target = await self.send_seq("bye")
        await wait_until(lambda: self.echoed >= target or self.done.is_set(), self.evt, 10)
        if self.echoed < target and not (self.cut or self.broken):
            self.fail("chat-bye", "its bye did not come back within 10 s")
            self.upper = None
        await self.close()   # the logout: the others get a leave

    def finish(self):
        self.verify()


class WorkshopClient(Session, Answered):
    app = "workshop"

    def __init__(self, soak, duration=None, pace=0.15):
        super().__init__(soak, duration)
        self.pace_s = pace
        self.init_fifo()
        self.k = 0
        self.got_state = False

    def on_message(self, op, payload):
        L = self.soak.ledger
        m = json.loads(payload)
        t = m.get("type")
        if t == "state":
            L.check_state(m, "state")
            L.n["states"] += 1
            self.got_state = True
            self.evt.set()
            return
        if not self.fifo:
            self.fail("workshop-reply", f"an answer to no request: {m!r:.200}")
            return
        req = self.fifo.popleft()
        self.evt.set()
        kind = req[0]
        if kind == "cancel":
            L.cancelling[req[2]] -= 1
        if t == "reserved":
            if kind == "reserve" and m.get("workshop") == req[1] and m.get("name") == req[2]:
                L.ack_reserve(m.get("ticket"), req[1], req[2])
            elif kind == "probe":
                self.fail("workshop-lost", f"the server did not know acknowledged {req[1]} ({req[2]}, {req[3]}): "
                          f"reserving the name again answered reserved")
                L.release(req[1])
                L.ack_reserve(m.get("ticket"), req[2], m.get("name"))
            else:
                self.fail("workshop-order", f"{m!r:.200} answered {req!r}")
        elif t == "cancelled":
            if kind == "cancel" and m.get("ticket") == req[1] and m.get("workshop") == req[2]:
                L.ack_cancel(req[1])
            else:
                self.fail("workshop-order", f"{m!r:.200} answered {req!r}")
                if kind != "reserve":
                    L.release(req[1])
        elif t == "error":
            code = m.get("code")
            if kind == "reserve" and code == "full":
                L.n["full"] += 1
            elif kind == "probe" and code == "duplicate":
                L.n["probes_duplicate"] += 1
                L.release(req[1])
            elif kind in ("probe", "cancel") and code in ("full", "unknown_ticket"):
                self.fail("workshop-lost", f"acknowledged {req[1]} {L.live.get(req[1])}: {kind} answered {code}")
                if req[1] in L.live:
                    L.drop(req[1])
            else:
                self.fail("workshop-error", f"{req!r}: {code} {m.get('message')}")
                if kind != "reserve":
                    L.release(req[1])
        else:
            self.fail("workshop-unexpected", f"{m!r:.200}")

    def on_lost(self):
        for req in self.fifo:
            self.soak.ledger.unanswered(req)
        self.fifo.clear()

    async def op(self):
        L = self.soak.ledger
        r = random.random()
        if r < 0.4:
            t = L.take()
            if t:
                self.fifo.append(("cancel", t, L.live[t][0]))
                L.cancelling[L.live[t][0]] += 1
                L.n["cancel_sent"] += 1
                await self.ws.send(json.dumps({"type": "cancel", "ticket": t}))
                return
        elif r < 0.5:
            t = L.take()
            if t:
                w, name = L.live[t]
                asked = random.choice([name, name.upper(), f" {name}\t"])
                self.fifo.append(("probe", t, w, name))
                L.n["probes_sent"] += 1
                await self.ws.send(json.dumps({"type": "reserve", "workshop": w, "name": asked}))
                return
        w = random.choice(L.ids)
        self.k += 1
        name = f"n{self.id}-{self.k}"
        asked = f"  {name} " if random.random() < 0.1 else name
        self.fifo.append(("reserve", w, name))
        L.n["reserve_sent"] += 1
        await self.ws.send(json.dumps({"type": "reserve", "workshop": w, "name": asked}))

    async def run(self):
        if not await self.open("/ws/workshop"):
            return
        await wait_until(lambda: self.got_state or self.done.is_set(), self.evt, 5)
        if not self.got_state:
            if not (self.cut or self.broken):
                self.fail("workshop-ready", "no state within 5 s")
            return
        self.set_ready()
        while self.keep_going():
            if len(self.fifo) < 3:
                await self.op()
            if self.soak.workshop_burst:
                # The kill is coming: every workshop client keeps 3 requests in flight.
                await wait_until(lambda: len(self.fifo) < 3 or not self.keep_going(), self.evt, 1)
            else:
                await self.pace(self.pace_s)
        await self.settle("workshop-reply", "requests unanswered")


class RelayPage(Session):
    app = "relay"

    def __init__(self, soak, duration=None):
        super().__init__(soak, duration)
        self.uuid = f"soak-{self.id}-{os.urandom(4).hex()}"
        self.sent = collections.Counter()    # backend -> highest seq sent to this page
        self.acked = collections.Counter()   # backend -> highest seq acknowledged delivered
        self.last = {}
        self.inflight = 0
        self.got_hello = False

    def on_message(self, op, payload):
        m = json.loads(payload)
        o = m.get("opcode")
        if o == "ready":
            self.got_hello = True
            self.evt.set()
        elif o == "feedback":
            if m.get("uuid") != self.uuid:
                self.fail("relay-foreign", f"feedback for {m.get('uuid')}")
                return
            src, seq = m["src"], m["seq"]
            last = self.last.get(src, 0)
            if seq != last + 1:
                self.fail("relay-order", f"from {src}: got {seq} after {last}")
            self.last[src] = seq
            self.soak.stats["relay_received"] += 1
            self.evt.set()
        else:
            self.fail("relay-unexpected", f"{m!r:.200}")

    async def run(self):
        if not await self.open("/ws/relay"):
            return
        await wait_until(lambda: self.got_hello or self.done.is_set(), self.evt, 5)
        if self.got_hello:
            form = random.choice([{"opcode": "uuid", "uuid": self.uuid}, {"opcode": "uuid", "message": self.uuid}])
            await self.ws.send(json.dumps(form))
            await self.ws.send(json.dumps({"opcode": "feedback", "uuid": self.uuid, "src": "self", "seq": 1}))
            await wait_until(lambda: "self" in self.last or self.done.is_set(), self.evt, 5)
        if "self" not in self.last:
            if not (self.cut or self.broken):
                self.fail("relay-ready", f"no ready or no own feedback within 5 s (ready: {self.got_hello})")
            return
        self.soak.relay_targets[self.uuid] = self
        self.set_ready()
        while self.keep_going():
            await asyncio.sleep(0.1)
        self.soak.relay_targets.pop(self.uuid, None)
        if self.cut or self.broken:
            return
        await wait_until(lambda: self.inflight == 0 or self.done.is_set(), self.evt, 10)
        got_all = lambda: all(self.last.get(s, 0) >= a for s, a in self.acked.items())  # noqa: E731
        await wait_until(lambda: got_all() or self.done.is_set(), self.evt, 10)
        if not (self.cut or self.broken):
            if not got_all():
                missing = {s: (self.last.get(s, 0), a) for s, a in self.acked.items() if self.last.get(s, 0) < a}
                self.fail("relay-lost", f"acknowledged feedback never arrived (backend: (last got, last acked)) {missing}")
            else:
                self.soak.stats["relay_pages_checked"] += 1
        if random.random() < 0.5:
            self.leaving = True   # quit: the server closes with 1000
            await self.ws.send(json.dumps({"opcode": "quit"}))
            try:
                await asyncio.wait_for(self.done.wait(), 5)
            except asyncio.TimeoutError:
                self.fail("close", "quit did not close the connection within 5 s")
        else:
            await self.close()

    def finish(self):
        self.soak.relay_targets.pop(self.uuid, None)


class Backend(Session):
    """Feedback to the ready pages: a plain socket (JSON lines, or PHP's
    greeting and objects with no newline), or POST /api/relay."""

    app = "backend"

    def __init__(self, soak, duration=None, mode="lines", pace=0.05, messages=400):
        super().__init__(soak, duration)
        self.mode = mode
        self.pace_s = pace
        self.messages = messages
        self.src = f"{mode[0]}{self.id}"

    def lost(self, e):
        if self.server_gone() or self.soak.stopping and isinstance(e, ConnectionRefusedError):
            self.cut = True
        else:
            self.broken = True
            self.fail("relay-backend", f"{self.mode}: {e!r}")

    async def run(self):
        soak = self.soak
        r = w = None
        if self.mode != "http":
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection(HOST, soak.port), 5)
                soak.stats["backend_socket_connections"] += 1
                self.set_ready()
                if self.mode == "php":
                    w.write(b"php process\n\n")
                    line = await asyncio.wait_for(r.readline(), 5)
                    if json.loads(line) != {"opcode": "ready", "os": "linux"}:
                        self.fail("relay-backend", f"greeting answered {line!r}")
            except (OSError, asyncio.TimeoutError, ValueError) as e:
                self.lost(e)
                if w:
                    w.close()
                return
        if self.mode == "http":
            self.set_ready()
        n = 0
        try:
            while self.keep_going() and n < self.messages:
                if self.server_gone():
                    self.cut = True
                    break
                pages = [p for p in soak.relay_targets.values() if p.gen == self.gen and p.ready]
                if not pages:
                    await asyncio.sleep(0.1)
                    continue
                p = random.choice(pages)
                p.inflight += 1
                try:
                    seq = p.sent[self.src] + 1
                    p.sent[self.src] = seq
                    msg = json.dumps({"opcode": "feedback", "uuid": p.uuid, "src": self.src, "seq": seq,
                                      "progress": seq % 101, "message": f"step {seq}"})
                    if self.mode == "http":
                        status, body = await http(soak.port, "POST", "/api/relay", msg)
                        ok = status == 200 and json.loads(body) == {"ok": True, "delivered": 1}
                        reply = (status, body[:200])
                    else:
                        w.write(msg.encode() + (b"" if self.mode == "php" else b"\n"))
                        line = await asyncio.wait_for(r.readline(), 5)
                        reply = json.loads(line) if line else "EOF"
                        ok = reply == {"opcode": "next", "delivered": 1}
                    if ok:
                        p.acked[self.src] = seq
                        soak.stats[f"relay_acked_{'http' if self.mode == 'http' else 'socket'}"] += 1
                    elif self.server_gone():
                        self.cut = True
                    else:
                        self.fail("relay-backend", f"{self.mode} feedback to a ready page answered {reply!r}")
                finally:
                    p.inflight -= 1
                    p.evt.set()
                n += 1
                await self.pace(self.pace_s)
            if w and not (self.cut or self.broken):
                w.write(b'{"opcode":"quit"}\n')
                rest = await asyncio.wait_for(r.read(), 5)
                if rest:
                    self.fail("relay-backend", f"quit answered {rest[:200]!r}")
        except (OSError, asyncio.TimeoutError, ValueError, asyncio.IncompleteReadError) as e:
            self.lost(e)
        finally:
            if w:
                w.close()


class EchoClient(Session, Answered):
    app = "echo"

    def __init__(self, soak, duration=None, pace=0.05):
        super().__init__(soak, duration)
        self.pace_s = pace
        self.init_fifo()

    def on_message(self, op, payload):
        if not self.fifo:
            self.fail("echo-unexpected", f"{len(payload)} bytes, nothing was sent")
            return
        want_op, want = self.fifo.popleft()
        self.evt.set()
        if op != want_op or payload != want:
            self.fail("echo-mismatch", f"sent {want_op}/{len(want)} bytes, got {op}/{len(payload)} bytes")
        else:
            self.soak.stats["echo_ok"] += 1
            self.soak.stats["echo_bytes"] += len(payload)

    async def run(self):
        if not await self.open("/ws/echo"):
            return
        self.set_ready()
        while self.keep_going():
            if len(self.fifo) < 4:
                r = random.random()
                n = random.randint(0, 125) if r < 0.7 else random.randint(126, 65535) if r < 0.96 else random.randint(65536, 300000)
                if random.random() < 0.1:
                    payload = ("é漢😀x" * (n // 10 + 1))[: max(1, n // 4)].encode()
                    self.fifo.append((TEXT, payload))
                    await self.ws.send(payload)
                else:
                    payload = os.urandom(n)
                    self.fifo.append((BINARY, payload))
                    await self.ws.send(payload, binary=True)
                self.soak.stats["echo_sent"] += 1
            await self.pace(self.pace_s)
        await self.settle("echo-lost", "messages not echoed")


class StalledClient:
    """Joins a room, then reads nothing (a receive buffer of 4 KiB) until told to drain."""

    def __init__(self, soak):
        self.soak = soak
        self.sock = None
        self.buf = bytearray()

    async def open(self, room):
        loop = asyncio.get_running_loop()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        self.sock = s
        await asyncio.wait_for(loop.sock_connect(s, (HOST, self.soak.port)), 5)
        key = base64.b64encode(os.urandom(16)).decode()
        await loop.sock_sendall(s, upgrade_request(self.soak.port, f"/ws/room/{room}", key))
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = await asyncio.wait_for(loop.sock_recv(s, 4096), 5)
            if not chunk:
                raise ConnectionError("EOF in the handshake")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        check_upgrade_answer(head + b"\r\n\r\n", key)
        self.buf = bytearray(rest)

    async def drain(self, timeout):
        """Reads until the close frame: (data frames, bytes, close code or None, why)."""
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        frames = nbytes = 0
        buf = self.buf
        try:
            while True:
                i = 0
                while len(buf) - i >= 2:
                    b0, b1 = buf[i], buf[i + 1]
                    n, h = b1 & 0x7F, 2
                    if n == 126:
                        if len(buf) - i < 4:
                            break
                        n, h = struct.unpack_from("!H", buf, i + 2)[0], 4
                    elif n == 127:
                        if len(buf) - i < 10:
                            break
                        n, h = struct.unpack_from("!Q", buf, i + 2)[0], 10
                    if len(buf) - i < h + n:
                        break
                    op = b0 & 0x0F
                    payload = bytes(buf[i + h:i + h + n])
                    i += h + n
                    if op == CLOSE:
                        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                        try:
                            await loop.sock_sendall(self.sock, encode_frame(CLOSE, payload[:2]))
                        except OSError:
                            pass
                        return frames, nbytes, code, "close frame"
                    if op != PING:
                        frames += 1
                        nbytes += n
                del buf[:i]
                left = deadline - time.monotonic()
                if left <= 0:
                    return frames, nbytes, None, f"no close frame within {timeout:.0f} s"
                chunk = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 18), left)
                if not chunk:
                    return frames, nbytes, None, "EOF without a close frame"
                buf += chunk
        except asyncio.TimeoutError:
            return frames, nbytes, None, f"no close frame within {timeout:.0f} s"
        except OSError as e:
            return frames, nbytes, None, f"{e!r}"
        finally:
            self.sock.close()


# ---------------------------------------------------------------------------
# The run


class Soak:
    def __init__(self, args):
        self.args = args
        self.seconds = args.seconds
        self.bin = args.bin
        self.workshops_file = HERE / "workshops.json"
        self.workshops = json.loads(self.workshops_file.read_text())
        self.fail = Failures()
        self.stats = collections.Counter()
        self.ledger = Ledger(self, self.workshops)
        self.live = Live()
        self.server_up = asyncio.Event()
        self.killing = False
        self.kill_armed = False
        self.workshop_burst = False
        self.kill_evt = asyncio.Event()
        self.stopping = False
        self.stalling = False
        self.stall_busy = False   # a stall is under way, its drain included
        self.gen = 1
        self.port = 0
        self.proc = None
        self.logs = []
        self._id = 0
        self._streams = {}
        self.relay_targets = {}
        self.current = {}         # persistent slot -> its session now
        self.lat_room = array.array("d")
        self.lat_stall = array.array("d")
        self.lat_chat = array.array("d")
        self.cycles = []          # dicts: phase, cycle, t, rss, fds, threads, clients, seconds
        self.stalls = []
        self.phases = []
        self.kill = {}
        self.end = {}
        self.reconnect_s = []
        self.data = Path(tempfile.mkdtemp(prefix="wslab-soak-"))
        self.t_start = None

    def new_id(self):
        self._id += 1
        return self._id

    def streams(self, gen, key):
        return self._streams.setdefault((gen, key), {})

    # -- the server process --

    async def start_server(self, port):
        """Starts wslab; returns once it prints its URL (retries while the port is still taken)."""
        deadline = time.monotonic() + 15
        attempt = 0
        while True:
            attempt += 1
            logf = OUT / f"server-{self.gen}.log"
            fh = open(logf, "wb")
            cmd = [str(self.bin), "--host", HOST, "--port", str(port), "--data", str(self.data),
                   "--workshops", str(self.workshops_file), "--www", str(ROOT / "www")]
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    preexec_fn=die_with_parent)
            fh.close()
            found = None
            while time.monotonic() < deadline:
                text = logf.read_text(errors="replace")
                mt = re.search(r"open http://127\.0\.0\.1:(\d+)/", text)
                if mt:
                    found = int(mt.group(1))
                    break
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.02)
            if found:
                self.proc = proc
                self.port = found
                if logf not in self.logs:
                    self.logs.append(logf)
                return attempt
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            text = logf.read_text(errors="replace")
            if "already in use" in text and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                continue
            raise RuntimeError(f"wslab did not start: {text[-500:]}")

    def pid(self):
        return self.proc.pid

    def sample(self):
        rss, threads, anon = proc_status(self.pid())
        return {"rss": rss, "anon": anon, "fds": fd_count(self.pid()), "threads": threads}

    async def settle_fds(self, target, timeout):
        """Waits (polling /proc, the only way to watch it) until the server has at most target fds."""
        deadline = time.monotonic() + timeout
        n = fd_count(self.pid())
        while n is not None and n > target and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            n = fd_count(self.pid())
        return n

    # -- persistent clients --

    async def slot(self, idx, factory):
        after_cut = False
        while not self.stopping:
            if not self.server_up.is_set():
                try:
                    await asyncio.wait_for(self.server_up.wait(), max(0.1, self.t_end - time.monotonic()))
                except asyncio.TimeoutError:
                    return
                await asyncio.sleep(random.uniform(0.05, 0.5))   # reconnect jitter
            if self.stopping:
                return
            s = factory()
            self.current[idx] = s
            task = asyncio.create_task(s.life())
            if after_cut:
                self.stats["reconnects"] += 1
                try:
                    await asyncio.wait_for(s.ready_evt.wait(), 10)
                    self.reconnect_s.append(time.monotonic() - self.kill.get("restarted_at", time.monotonic()))
                except asyncio.TimeoutError:
                    pass
            await task
            after_cut = s.cut
            if s.broken:
                await asyncio.sleep(0.5)

    def persistent_factories(self):
        f = []
        for room in ROOMS:
            for _ in range(3):
                f.append(lambda room=room: RoomMember(self, room, pace=0.1))
        for _ in range(5):
            f.append(lambda: ChatUser(self, pace=0.3))
        for _ in range(5):
            f.append(lambda: WorkshopClient(self, pace=0.15))
        for _ in range(3):
            f.append(lambda: RelayPage(self))
        f.append(lambda: Backend(self, mode="lines", pace=0.05, messages=400))
        f.append(lambda: Backend(self, mode="php", pace=0.05, messages=400))
        f.append(lambda: Backend(self, mode="http", pace=0.1, messages=10 ** 9))
        for _ in range(2):
            f.append(lambda: EchoClient(self, pace=0.05))
        return f

    # -- churn --

    async def http_visitor(self):
        path = random.choice(["/", "/room.html", "/chat.html", "/workshop.html", "/relay.html",
                              "/echo.html", "/js/common.js", "/api/status", "/api/workshops"])
        try:
            status, body = await http(self.port, "GET", path)
        except (OSError, asyncio.TimeoutError) as e:
            if not (self.killing or self.stopping):
                self.fail.add("http", f"GET {path}: {e!r}")
            return
        self.stats["http_requests"] += 1
        if status != 200:
            if not self.killing:
                self.fail.add("http", f"GET {path}: {status}")
            return
        if path == "/api/workshops":
            self.ledger.check_state(json.loads(body), "GET /api/workshops")
        elif path == "/api/status":
            json.loads(body)

    async def churn_cycle(self, cycle_s):
        """One cycle: 16 page slots (6 room members, 3 chat users, 2 echo, 2 relay
        pages, a backend socket, 2 workshop clients) and 3 HTTP visitors, each
        coming and going (connect, work 1.5-3.5 s, leave) for cycle_s; the cycle
        ends when the last has left."""
        gen = self.gen
        end = time.monotonic() + cycle_s
        made = collections.Counter()
        kinds = (
            [lambda d: RoomMember(self, random.choice(ROOMS), duration=d, pace=0.1)] * 6
            + [lambda d: ChatUser(self, duration=d, pace=0.3, simple=random.random() < 0.5)] * 3
            + [lambda d: EchoClient(self, duration=d)] * 2
            + [lambda d: RelayPage(self, duration=d + 0.5)] * 2
            + [lambda d: Backend(self, duration=d, mode=random.choice(["lines", "php"]))]
            + [lambda d: WorkshopClient(self, duration=d)] * 2
        )

        def going():
            return time.monotonic() < end and not self.stopping and gen == self.gen and not self.killing

        async def page(make):
            while going():
                s = make(min(random.uniform(1.5, 3.5), max(0.5, end - time.monotonic())))
                await s.life()
                made[s.app] += 1
                if s.broken:
                    await asyncio.sleep(0.5)

        async def visitor():
            while going():
                await self.http_visitor()
                made["http"] += 1
                await asyncio.sleep(random.uniform(0.2, 1.0))

        tasks = [asyncio.create_task(page(k)) for k in kinds] + [asyncio.create_task(visitor()) for _ in range(3)]
        _, pending = await asyncio.wait(tasks, timeout=cycle_s + 40)
        for t in pending:
            t.cancel()
        whole = gen == self.gen and not self.killing
        if pending and whole:
            self.fail.add("churn", f"{len(pending)} page slots of a cycle did not end within 40 s of its end")
        return sum(made.values()), whole

    async def churn_loop(self, phase):
        k = 0
        cycle_s = CYCLE_S
        phase["cycle_s"] = cycle_s
        while time.monotonic() < phase["end"] - 1 and not self.stopping and self.gen == phase["gen"]:
            t0 = time.monotonic()
            before = fd_count(self.pid())
            clients, whole = await self.churn_cycle(min(cycle_s, phase["end"] - time.monotonic()))
            if not whole:
                break
            k += 1
            fds = await self.settle_fds((before or 0) + 2, 5)
            # A stall flood in progress holds its messages in the server (in
            # flight to the stalled client, given back when it is closed):
            # the cycle's RSS is read after it, so that a plateau shows as one.
            deadline = time.monotonic() + 40
            while self.stall_busy and time.monotonic() < deadline and not self.stopping:
                await asyncio.sleep(0.1)
            s = self.sample()
            s.update({"phase": phase["name"], "cycle": k, "t": round(clock(), 1), "clients": clients,
                      "seconds": round(time.monotonic() - t0, 2), "fds": fds, "fds_before": before})
            self.cycles.append(s)
        phase["cycles"] = k

    # -- stalls --

    async def stall(self, k):
        room = f"stall-{k}"
        gen = self.gen
        watchers = [RoomMember(self, room, quiet=True) for _ in range(2)]
        flooder = RoomMember(self, room, quiet=True)
        members = watchers + [flooder]
        tasks = [asyncio.create_task(m.life()) for m in members]
        rec = {"k": k, "room": room, "t": round(clock(), 1)}
        try:
            ok = await asyncio.wait_for(asyncio.gather(*(m.ready_evt.wait() for m in members)), 10)
        except asyncio.TimeoutError:
            ok = None
        stalled = StalledClient(self)
        try:
            if ok is None:
                raise RuntimeError("room members not ready within 10 s")
            await stalled.open(room)
        except Exception as e:
            if gen == self.gen:
                self.fail.add("stall", f"{room}: {e!r}")
            for m in members:
                m.stop_requested = True
            await asyncio.wait(tasks, timeout=30)
            return
        wmem = int(open("/proc/sys/net/ipv4/tcp_wmem").read().split()[2])
        n = int((wmem + 1024 * STALL_MSG) / STALL_MSG * 1.5) + 256
        pad = "f" * STALL_MSG
        self.stalling = True
        t0 = time.monotonic()
        sent = 0
        try:
            for _ in range(n):
                if flooder.cut or flooder.broken:
                    break
                await flooder.send_seq(pad)
                sent += 1
                if flooder.sent - flooder.echoed > 64:
                    await wait_until(lambda: flooder.sent - flooder.echoed <= 32 or flooder.done.is_set(),
                                     flooder.evt, 10)
        except Closed:
            pass
        rec["flood_s"] = round(time.monotonic() - t0, 2)
        # Read at once: a socket write blocked for 10 s drops the connection, close frame and all.
        draining = asyncio.create_task(stalled.drain(20))
        for m in members:
            m.stop_requested = True
        await asyncio.wait(tasks, timeout=30)
        self.stalling = False
        frames, nbytes, code, why = await draining
        rec.update({"flood_messages": sent, "flood_mib": round(sent * STALL_MSG / 2 ** 20, 1),
                    "stalled_got": frames, "close": code, "why": why,
                    "others_ok": all(not (m.broken or m.cut) for m in members)})
        self.stalls.append(rec)
        if gen != self.gen:
            rec["cut"] = True
            return
        if code != 1008:
            self.fail.add("stall", f"{room}: the stalled client was not closed with 1008: {code} ({why}); "
                          f"it read {frames} of {sent} flood messages")

    async def stall_loop(self, phase):
        k = 0
        while True:
            at = phase["start"] + STALL_OFFSET + STALL_PERIOD * k
            if at + 25 > phase["end"]:
                return
            await asyncio.sleep(max(0, at - time.monotonic()))
            if self.stopping or self.gen != phase["gen"]:
                return
            self.stall_busy = True
            try:
                await self.stall(f"{phase['gen']}-{k + 1}")
            finally:
                self.stall_busy = False
            k += 1

    # -- ticker --

    async def ticker(self):
        while True:
            await asyncio.sleep(30)
            st = self.stats
            s = self.sample() if self.proc and self.proc.poll() is None else {}
            log(f"rooms {st['room_received']} chat {st['chat_received']} reserved {self.ledger.n['reserved']} "
                f"relay {st['relay_received']} echo {st['echo_ok']} cycles {len(self.cycles)} "
                f"rss {s.get('rss')} KiB fds {s.get('fds')} failures {self.fail.total()}")

    # -- phases --

    async def persistent_ready(self):
        """Waits until every persistent client of this server process is connected and ready."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            now = [s for s in self.current.values() if s.gen == self.gen]
            if len(now) == len(self.persistent_factories()):
                left = max(0.01, deadline - time.monotonic())
                try:
                    await asyncio.wait_for(asyncio.gather(*(s.ready_evt.wait() for s in now)), left)
                    return True
                except asyncio.TimeoutError:
                    break
            await asyncio.sleep(0.05)
        slow = [f"{s.app}#{s.id}(gen {s.gen}, cut {s.cut}, broken {s.broken}, done {s.done.is_set()})"
                for s in self.current.values() if s.gen != self.gen or not s.ready]
        self.fail.add("connect", f"the persistent clients were not all ready within 15 s: {slow}")
        return False

    async def phase(self, name, end):
        await self.persistent_ready()
        ph = {"name": name, "gen": self.gen, "start": time.monotonic(), "end": end, "pid": self.pid()}
        self.phases.append(ph)
        tasks = [asyncio.create_task(self.churn_loop(ph)), asyncio.create_task(self.stall_loop(ph))]
        await asyncio.sleep(max(0, end - time.monotonic()))
        return ph, tasks

    def do_kill(self, trigger):
        if self.killing:
            return
        k = self.kill
        self.kill_armed = False
        self.killing = True
        self.server_up.clear()
        k["pid_before"] = self.pid()
        k["sample_before"] = self.sample()
        k["at"] = round(clock(), 1)
        k["trigger"] = trigger
        k["workshop_in_flight"] = sum(len(s.fifo) for s in self.live.items if isinstance(s, WorkshopClient))
        self.gen += 1
        os.kill(self.pid(), signal.SIGKILL)
        k["t_kill"] = time.monotonic()
        self.workshop_burst = False
        self.kill_evt.set()

    async def kill_and_restart(self, tasks):
        k = self.kill
        # Every workshop client fills its pipeline; then the next reserved read
        # from any client kills at once, with the others' requests in flight.
        self.workshop_burst = True
        in_flight = lambda: sum(len(s.fifo) for s in self.live.items if isinstance(s, WorkshopClient))  # noqa: E731
        t = time.monotonic()
        while in_flight() < 10 and time.monotonic() - t < 1:
            await asyncio.sleep(0.01)
        self.kill_armed = True
        try:
            await asyncio.wait_for(self.kill_evt.wait(), 3)
        except asyncio.TimeoutError:
            self.do_kill("half way (no reservation answered within 3 s of it)")
        t_kill = k["t_kill"]
        await asyncio.get_running_loop().run_in_executor(None, self.proc.wait)
        # Every client of the old process sees its connection end (answers already in
        # its socket buffer are still read: an acknowledgement is an acknowledgement).
        ok = await wait_until(lambda: not any(s.gen != self.gen for s in self.live.items), self.live.changed, 15)
        if not ok:
            self.fail.add("kill", f"{sum(1 for s in self.live.items if s.gen != self.gen)} "
                          "clients did not notice the kill within 15 s")
        _, pending = await asyncio.wait(tasks, timeout=30)
        for t in pending:
            t.cancel()
        # The durability check: the data file as the crash left it, against the ledger.
        path = self.data / "reservations.json"
        try:
            entries = json.loads(path.read_text())["reservations"] if path.exists() else []
        except (OSError, ValueError, KeyError) as e:
            self.fail.add("workshop-disk", f"data file unreadable after kill -9: {e!r}")
            entries = []
        k["disk"] = self.ledger.reconcile_after_crash(entries)
        t_restart = time.monotonic()
        k["start_attempts"] = await self.start_server(self.port)
        k["restart_ms"] = round((time.monotonic() - t_restart) * 1000)
        k["down_s"] = round(time.monotonic() - t_kill, 2)
        k["pid_after"] = self.pid()
        k["restarted_at"] = time.monotonic()
        k["fds_start"] = fd_count(self.pid())
        # The restarted server tells the same seats.
        status, body = await http(self.port, "GET", "/api/workshops")
        avail = self.ledger.check_state(json.loads(body), "GET /api/workshops after the restart") if status == 200 else None
        want = {w: self.ledger.cap[w] - self.ledger.count[w] for w in self.ledger.ids}
        if avail != want:
            self.fail.add("workshop-lost", f"after the restart available {avail}, the ledger says {want}")
        k["available_after"] = avail
        self.killing = False
        self.server_up.set()

    async def final_workshop_check(self):
        L = self.ledger
        e = self.end
        status, body = await http(self.port, "GET", "/api/workshops")
        avail = L.check_state(json.loads(body), "GET /api/workshops at the end") if status == 200 else None
        want = {w: L.cap[w] - L.count[w] for w in L.ids}
        e["available"] = avail
        e["live"] = dict(L.count)
        if avail != want:
            self.fail.add("workshop-lost", f"at the end available {avail}, the ledger says {want}")
        disk = json.loads((self.data / "reservations.json").read_text())["reservations"]
        on_disk = {r["ticket"] for r in disk}
        e["on_disk"] = len(on_disk)
        if on_disk != set(L.live):
            self.fail.add("workshop-disk", f"at the end: on disk, not in the ledger {sorted(on_disk - set(L.live))[:5]}; "
                          f"in the ledger, not on disk {sorted(set(L.live) - on_disk)[:5]}")
        # Through the protocol, from a fresh client: every live reservation is known
        # (its name again: duplicate), cancelled tickets are gone, then cancel them all.
        ws = await WS.connect(self.port, "/ws/workshop")

        async def ask(msg):
            await ws.send(json.dumps(msg))
            while True:
                op, payload = await asyncio.wait_for(ws.recv(), 5)
                m = json.loads(payload)
                if m.get("type") != "state":
                    return m

        probes = cancelled_gone = cancelled_now = 0
        for t, (w, name) in list(L.live.items()):
            m = await ask({"type": "reserve", "workshop": w, "name": name})
            probes += 1
            if m.get("code") != "duplicate":
                self.fail.add("workshop-lost", f"at the end {t} ({w}, {name}): reserving again answered {m!r:.200}")
        for t in random.sample(sorted(L.cancelled), min(100, len(L.cancelled))):
            m = await ask({"type": "cancel", "ticket": t})
            cancelled_gone += 1
            if m.get("code") != "unknown_ticket":
                self.fail.add("workshop-resurrected", f"at the end cancelled {t}: cancelling again answered {m!r:.200}")
        for t in list(L.live):
            m = await ask({"type": "cancel", "ticket": t})
            if m.get("type") == "cancelled" and m.get("ticket") == t:
                L.ack_cancel(t)
                cancelled_now += 1
            else:
                self.fail.add("workshop-lost", f"at the end cancelling {t}: {m!r:.200}")
        ws.send_close(1000)
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except Closed:
            pass
        ws.abort()
        status, body = await http(self.port, "GET", "/api/workshops")
        avail = L.check_state(json.loads(body), "GET /api/workshops after cancelling all")
        if avail != L.cap:
            self.fail.add("workshop-state", f"after cancelling every reservation available {avail}, capacity {L.cap}")
        e.update({"probes": probes, "cancelled_checked": cancelled_gone, "cancelled_at_end": cancelled_now})

    async def run(self):
        OUT.mkdir(parents=True, exist_ok=True)
        for old in OUT.glob("server-*.log"):
            old.unlink()
        self.t_start = time.monotonic()
        self.t_end = self.t_start + self.seconds
        half = self.t_start + self.seconds / 2
        await self.start_server(0)
        log(f"wslab pid {self.pid()} on port {self.port}, data {self.data}")
        self.fds_start_a = fd_count(self.pid())
        self.server_up.set()
        ticker = asyncio.create_task(self.ticker())
        slots = [asyncio.create_task(self.slot(i, f)) for i, f in enumerate(self.persistent_factories())]
        ph_a, tasks = await self.phase("before the kill", half)
        await self.kill_and_restart(tasks)
        log(f"kill -9 of pid {self.kill['pid_before']} {self.kill['trigger']}, "
            f"{self.kill['workshop_in_flight']} workshop requests in flight")
        log(f"restarted: pid {self.pid()} on port {self.port} after {self.kill['down_s']} s; "
            f"on disk {self.kill['disk']}")
        ph_b, tasks = await self.phase("after the restart", self.t_end)
        log("time is up: every client leaves")
        self.stopping = True
        _, pending = await asyncio.wait(tasks + slots, timeout=30)
        for t in pending:
            t.cancel()
        if pending:
            self.fail.add("stop", f"{len(pending)} client loops did not end within 30 s of the stop")
        ticker.cancel()
        e = self.end
        e["t_stop"] = round(clock(), 1)
        e["sample_all_gone"] = self.sample()
        e["fds_start"] = self.kill.get("fds_start")
        e["fds_end"] = await self.settle_fds(e["fds_start"], 15)
        if e["fds_end"] is None or e["fds_end"] > e["fds_start"]:
            self.fail.add("fds", f"the server holds {e['fds_end']} file descriptors after every client left, "
                          f"{e['fds_start']} at its start")
        e["sample_end"] = self.sample()
        await self.final_workshop_check()

    def stop_server(self):
        """SIGTERM; the protocol says exit 0 within 2 s."""
        if not self.proc or self.proc.poll() is not None:
            return
        t = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = "killed after 5 s"
        self.end["sigterm_exit"] = code
        self.end["sigterm_s"] = round(time.monotonic() - t, 2)
        if code != 0:
            self.fail.add("shutdown", f"SIGTERM: exit {code}")

    def check_logs(self):
        panics = []
        levels = collections.Counter()
        kinds = collections.Counter()
        for f in self.logs:
            for line in f.read_text(errors="replace").splitlines():
                if "panic" in line.lower():
                    panics.append(f"{f.name}: {line[:300]}")
                mt = re.search(r"\b(ERROR|WARN)\b", line)
                if mt:
                    levels[mt.group(1)] += 1
                    msg = re.sub(r"^.*?\b(?:ERROR|WARN)\b\s*(\[[^\]]*\]\s*)?", "", line)
                    msg = re.sub(r"\d+(\.\d+)*(:\d+)?", "N", msg)
                    kinds[msg[:90]] += 1
        for p in panics[:5]:
            self.fail.add("panic", p)
        if len(panics) > 5:
            self.fail.counts["panic"] += len(panics) - 5
        self.end["panics"] = len(panics)
        self.end["log_levels"] = dict(levels)
        self.end["log_kinds"] = kinds.most_common(12)

    def check_rss(self):
        res = {}
        for ph in self.phases:
            cyc = [c for c in self.cycles if c["phase"] == ph["name"]]
            lo, hi = RSS_WINDOW
            win = [c["rss"] for c in cyc if lo <= c["cycle"] <= hi and c["rss"]]
            r = {"cycles": len(cyc), "window": win}
            if len(win) == hi - lo + 1:
                r["spread"] = (max(win) - min(win)) / min(win)
                r["last"] = cyc[-1]["rss"]
                r["last_vs_window"] = (cyc[-1]["rss"] - max(win)) / max(win)
            res[ph["name"]] = r
        self.end["rss"] = res
        b = res.get("after the restart", {})
        if self.seconds < RSS_MIN_S:
            self.end["rss_asserted"] = False
            return
        self.end["rss_asserted"] = True
        if "spread" not in b:
            self.fail.add("rss", f"after the restart only {b.get('cycles', 0)} churn cycles: "
                          f"cycles {RSS_WINDOW[0]}-{RSS_WINDOW[1]} are needed (a longer SOAK_S)")
        elif b["spread"] > RSS_TOLERANCE:
            self.fail.add("rss", f"RSS of cycles {RSS_WINDOW[0]}-{RSS_WINDOW[1]} after the restart not within "
                          f"{RSS_TOLERANCE:.0%}: {b['window']} KiB (spread {b['spread']:.1%})")


# ---------------------------------------------------------------------------
# The report


def fmt(n):
    return f"{n:,}" if isinstance(n, int) else str(n)


def ms(v):
    return "–" if v is None else f"{v * 1000:.2f}"


def write_report(soak, wall):
    st, L, k, e = soak.stats, soak.ledger, soak.kill, soak.end
    ok = soak.fail.total() == 0
    out = []
    w = out.append
    w("# wslab soak report\n")
    w(f"`make soak SOAK_S={soak.seconds:g}`: {'**PASSED**, every assertion held' if ok else '**FAILED**'}; "
      f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {os.cpu_count()} cores; wall time {wall:.0f} s "
      f"(load {soak.seconds:g} s, then the checks).\n")
    w("## Assertions\n")
    w("| assertion | result |")
    w("|---|---|")
    fc = soak.fail.counts
    groups = [
        ("no reservation acknowledged and then lost (kill -9 included)", ["workshop-lost", "workshop-disk", "workshop-resurrected"]),
        ("no seat overbooked (acknowledged ≤ capacity, 0 ≤ available ≤ capacity in every state)", ["workshop-overbooked"]),
        ("every workshop answer in request order, no unexpected error", ["workshop-order", "workshop-error", "workshop-reply", "workshop-ticket", "workshop-state", "workshop-unexpected", "workshop-ready"]),
        ("rooms: every message a connected member should get, in order", ["room-lost", "room-order", "room-foreign", "room-bye", "room-ready", "room-unexpected"]),
        ("chat: every message in order, joins and leaves consistent", ["chat-lost", "chat-order", "chat-foreign", "chat-bye", "chat-ready", "chat-presence", "chat-user", "chat-welcome", "chat-unexpected"]),
        ("relay: every feedback acknowledged as delivered arrived, in order", ["relay-lost", "relay-order", "relay-foreign", "relay-backend", "relay-ready", "relay-unexpected"]),
        ("echo: every message back byte for byte", ["echo-mismatch", "echo-lost", "echo-unexpected"]),
        ("stalled client closed with 1008, the others unaffected", ["stall"]),
        ("no connection dropped or refused while the server was up", ["dropped", "connect", "close", "http", "churn", "kill", "stop"]),
        (f"RSS of churn cycles {RSS_WINDOW[0]}–{RSS_WINDOW[1]} after the restart within {RSS_TOLERANCE:.0%}"
         + ("" if e.get("rss_asserted") else f" (not asserted: SOAK_S < {RSS_MIN_S})"), ["rss"]),
        ("0 panics in the server's logs", ["panic"]),
        ("file descriptors back to the start once the clients left", ["fds"]),
        ("SIGTERM at the end: exit 0", ["shutdown"]),
        ("the harness itself (exceptions, timeout)", ["harness", "timeout"]),
    ]
    seen = set()
    for title, kinds in groups:
        n = sum(fc[x] for x in kinds)
        seen.update(kinds)
        w(f"| {title} | {'ok' if n == 0 else f'**{n} failure(s)**'} |")
    other = {x: n for x, n in fc.items() if x not in seen}
    if other:
        w(f"| other | **{other}** |")
    w("")
    if soak.fail.total():
        w("## Failures\n")
        for kind, n in sorted(fc.items()):
            w(f"- **{kind}**: {n}")
            for s in soak.fail.samples[kind]:
                w(f"  - {s}")
        w("")
    w("## Messages per app\n")
    w("| app | figure | value |")
    w("|---|---|---:|")
    rows = [
        ("rooms", "connections", st["room_connections"]),
        ("rooms", "messages sent", st["room_sent"]),
        ("rooms", "messages received (deliveries)", st["room_received"]),
        ("rooms", "receiver×sender streams checked complete", st["room_pairs_checked"]),
        ("rooms", "messages those streams had to carry", st["room_messages_checked"]),
        ("rooms", "latency p50 / p99 / max ms (outside stalls)",
         f"{ms(pct(soak.lat_room, 50))} / {ms(pct(soak.lat_room, 99))} / {ms(max(soak.lat_room) if soak.lat_room else None)}"),
        ("rooms", "latency p50 / p99 / max ms (during stall floods)",
         f"{ms(pct(soak.lat_stall, 50))} / {ms(pct(soak.lat_stall, 99))} / {ms(max(soak.lat_stall) if soak.lat_stall else None)}"),
        ("chat", "logins (welcome)", st["chat_logins"]),
        ("chat", "messages sent", st["chat_sent"]),
        ("chat", "messages received", st["chat_received"]),
        ("chat", "joins / leaves seen", f"{fmt(st['chat_joins_seen'])} / {fmt(st['chat_leaves_seen'])}"),
        ("chat", "streams checked complete", st["chat_pairs_checked"]),
        ("chat", "latency p50 / p99 ms", f"{ms(pct(soak.lat_chat, 50))} / {ms(pct(soak.lat_chat, 99))}"),
        ("relay", "pages", st["relay_connections"]),
        ("relay", "backend sockets", st["backend_socket_connections"]),
        ("relay", "feedback acknowledged: socket / HTTP", f"{fmt(st['relay_acked_socket'])} / {fmt(st['relay_acked_http'])}"),
        ("relay", "feedback received by pages (own probes included)", st["relay_received"]),
        ("relay", "pages checked complete at leave", st["relay_pages_checked"]),
        ("echo", "connections", st["echo_connections"]),
        ("echo", "messages echoed byte for byte", st["echo_ok"]),
        ("echo", "bytes echoed", st["echo_bytes"]),
        ("http", "GET of pages and /api", st["http_requests"]),
    ]
    for a, b, c in rows:
        w(f"| {a} | {b} | {fmt(c)} |")
    w("")
    w("## Reservations\n")
    n = L.n
    w(f"Workshops (`tests/soak/workshops.json`): " + ", ".join(f"{i} {L.cap[i]}" for i in L.ids) + " seats.\n")
    w("| figure | value |")
    w("|---|---:|")
    for a, b in [("reserve requests", n["reserve_sent"]), ("reserved (acknowledged)", n["reserved"]),
                 ("full", n["full"]), ("cancel requests", n["cancel_sent"]), ("cancelled (acknowledged)", n["cancelled"]),
                 ("probes of live reservations (name again: duplicate)", n["probes_duplicate"]),
                 ("state messages received", n["states"]),
                 ("most acknowledged at once, per workshop", ", ".join(f"{i} {L.max_live[i]}/{L.cap[i]}" for i in L.ids))]:
        w(f"| {a} | {fmt(b)} |")
    d = k.get("disk", {})
    w(f"| at the kill: acknowledged live / on disk | {d.get('acknowledged_live')} / {d.get('on_disk')} |")
    w(f"| at the kill: unanswered reserves / cancels | {d.get('unanswered_reserves')} / {d.get('unanswered_cancels')} |")
    w(f"| at the kill: unanswered reserves found on disk / cancels found applied | {d.get('adopted')} / {d.get('cancels_applied')} |")
    w(f"| at the kill: acknowledged and lost | {d.get('lost')} |")
    w(f"| at the end: live / on disk / probed / cancelled tickets checked gone | {e.get('live')} / {e.get('on_disk')} / {e.get('probes')} / {e.get('cancelled_checked')} |")
    w("")
    w("## Kill -9 and restart\n")
    w(f"- kill -9 at {k.get('at')} s, {k.get('trigger')}, with {k.get('workshop_in_flight')} workshop requests "
      f"unanswered (pid {k.get('pid_before')}, RSS {k.get('sample_before', {}).get('rss')} KiB, "
      f"{k.get('sample_before', {}).get('fds')} fds); restarted on the same port as pid {k.get('pid_after')} "
      f"in {k.get('restart_ms')} ms ({k.get('start_attempts')} attempt(s)); down {k.get('down_s')} s in all.")
    if soak.reconnect_s:
        w(f"- {len(soak.reconnect_s)} persistent clients reconnected, the last ready {max(soak.reconnect_s):.2f} s "
          f"after the restart (median {pct(soak.reconnect_s, 50):.2f} s).")
    w(f"- seats after the restart: {k.get('available_after')}.")
    w("")
    w("## Stalled clients\n")
    w("| # | at s | flood messages (MiB) | flood s | stalled client read | close | others ok |")
    w("|---|---:|---:|---:|---:|---|---|")
    for r in soak.stalls:
        w(f"| {r['k']} | {r['t']} | {r.get('flood_messages')} ({r.get('flood_mib')}) | {r.get('flood_s')} | "
          f"{r.get('stalled_got')} | {r.get('close')} ({r.get('why')}) | {r.get('others_ok')} |")
    w("")
    w("## Churn cycles, RSS and file descriptors\n")
    w(f"A cycle ({CYCLE_S:g} s): 16 page slots (6 room members, "
      "3 chat users, 2 echo, 2 relay pages, a backend socket, 2 workshop clients) and 3 HTTP visitors, each "
      "connecting, working 1.5–3.5 s and leaving, again and again until the cycle's time is up; once the last "
      "has left, the server's fd count is awaited back to its level before the cycle (≤ 5 s), and VmRSS "
      "(RssAnon), fds and threads are read from /proc/PID/status and /proc/PID/fd. The persistent clients "
      "(12 room, 5 chat, 5 workshop, 3 relay pages, 3 backends, 2 echo) stay connected all along.\n")
    for name, r in e.get("rss", {}).items():
        sp = f"spread {r['spread']:.1%}" if "spread" in r else "not enough cycles"
        lv = f"; last cycle {r['last']:,} KiB ({r['last_vs_window']:+.1%} against the window's max)" if "last" in r else ""
        w(f"- {name}: {r['cycles']} cycles; cycles {RSS_WINDOW[0]}–{RSS_WINDOW[1]}: {r['window']} KiB, {sp}{lv}.")
    w(f"- file descriptors: {soak.fds_start_a} at the first start; after the restart {e.get('fds_start')} at start, "
      f"{e.get('sample_all_gone', {}).get('fds')} when the clients had left, {e.get('fds_end')} after waiting.")
    w(f"- end: RSS {e.get('sample_end', {}).get('rss')} KiB, threads {e.get('sample_end', {}).get('threads')}.")
    w("")
    w("| phase | cycle | at s | seconds | connections | RSS KiB | RssAnon KiB | fds (before) | threads |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in soak.cycles:
        w(f"| {c['phase']} | {c['cycle']} | {c['t']} | {c['seconds']} | {c['clients']} | {fmt(c['rss'])} | "
          f"{fmt(c['anon'])} | {c['fds']} ({c['fds_before']}) | {c['threads']} |")
    w("")
    w("## Server log\n")
    w(f"- panics: {e.get('panics')}; lines by level: {e.get('log_levels')}; SIGTERM at the end: exit "
      f"{e.get('sigterm_exit')} in {e.get('sigterm_s')} s.")
    for msg, cnt in e.get("log_kinds", []):
        w(f"  - {cnt}× `{msg.strip()}`")
    w(f"- logs: {', '.join(str(p.relative_to(ROOT)) for p in soak.logs)}")
    w("")
    path = OUT / "report.md"
    path.write_text("\n".join(out) + "\n")
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_S", 600)))
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "wslab")
    args = ap.parse_args()
    if not args.bin.exists():
        sys.exit(f"soak: {args.bin} is missing: cargo build --release first (make soak does)")
    soak = Soak(args)

    def on_term(signum, frame):
        raise SystemExit(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)

    def watchdog():
        # Last resort if the event loop itself is stuck: stop within SOAK_S + TAIL.
        log("watchdog: the run did not end in time; killing the server")
        if soak.proc and soak.proc.poll() is None:
            soak.proc.kill()
        try:
            soak.fail.add("timeout", "watchdog fired")
            write_report(soak, time.monotonic() - T0)
        finally:
            os._exit(3)

    dog = threading.Timer(args.seconds + TAIL - 2, watchdog)
    dog.daemon = True
    dog.start()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(asyncio.wait_for(soak.run(), args.seconds + TAIL - 12))
    except asyncio.TimeoutError:
        soak.fail.add("timeout", f"the run did not finish within SOAK_S + {TAIL - 12:.0f} s")
    except (KeyboardInterrupt, SystemExit) as e:
        soak.fail.add("harness", f"interrupted: {e!r}")
    except Exception as e:
        import traceback
        soak.fail.add("harness", f"{e!r} {traceback.format_exc()[-800:]}")
    finally:
        try:
            soak.stop_server()
        except Exception as e:
            soak.fail.add("harness", f"stop: {e!r}")
        if soak.proc and soak.proc.poll() is None:
            soak.proc.kill()
    soak.check_logs()
    soak.check_rss()
    report = write_report(soak, time.monotonic() - T0)
    dog.cancel()
    if soak.fail.total() == 0:
        import shutil
        shutil.rmtree(soak.data, ignore_errors=True)
    else:
        log(f"data directory kept: {soak.data}")
    log(f"report: {report}")
    log("PASSED" if soak.fail.total() == 0 else f"FAILED: {dict(soak.fail.counts)}")
    sys.exit(0 if soak.fail.total() == 0 else 1)


if __name__ == "__main__":
    main()
