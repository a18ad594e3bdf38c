#!/usr/bin/env python3
"""`make bench-tls`: fan-out over wss, wslab's server CPU per delivery.

R receivers and one sender join one room over TLS; the sender writes M
small text messages, 100 frames per write, and every client (the sender
too) reads until it has all of them. Prints deliveries per second and
the server's CPU time (from /proc) per delivery, the median of RUNS runs
for each binary given, interleaved, so that two builds can be compared in
one sitting:

    python3 bench/tls_fanout.py --cert C --key K BINARY [BINARY...]

The clients are Python threads with the ssl module: they are slower than
the server, so read the CPU per delivery more than the rate.
"""
import argparse
import base64
import os
import re
import socket
import ssl
import statistics
import subprocess
import tempfile
import threading
import time

PAYLOAD = b"x" * 64
FRAME = 2 + len(PAYLOAD)  # a server frame: 2 header bytes, unmasked
BURST = 100  # frames per write of the sender


def start(binary, cert, key, data):
    """Starts BINARY on a free port; returns the process and its port."""
    proc = subprocess.Popen(
        [binary, "--port", "0", "--tls-cert", cert, "--tls-key", key, "--data", data,
         "--outbox-size", "1000000"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        m = re.search(r"https://[^:/]+:(\d+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, int(m.group(1))
    raise SystemExit(f"{binary} printed no https URL")


def upgrade(port, path, context):
    """A wss client on PATH: the TLS socket and what came after the 101."""
    s = context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("closed during the upgrade")
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head[:80]
    return s, head.split(b"\r\n\r\n", 1)[1]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(binary, args):
    """One run: (deliveries per second, server CPU µs per delivery)."""
    with tempfile.TemporaryDirectory() as data:
        proc, port = start(binary, args.cert, args.key, data)
        try:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            clients = [upgrade(port, "/ws/room/tlsbench", context) for _ in range(args.receivers + 1)]
            want = args.messages * FRAME
            finished = threading.Barrier(len(clients) + 1)
            failed = []

            def receive(sock, already):
                got = len(already)
                while got < want:
                    chunk = sock.recv(65536)
                    if not chunk:
                        failed.append(f"a client was closed after {got} of {want} bytes")
                        break
                    got += len(chunk)
                finished.wait()

            for sock, already in clients:
                threading.Thread(target=receive, args=(sock, already), daemon=True).start()
            burst = (bytes([0x81, 0x80 | len(PAYLOAD)]) + b"\0\0\0\0" + PAYLOAD) * BURST
            sender = clients[-1][0]
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            for _ in range(args.messages // BURST):
                sender.sendall(burst)
            finished.wait(timeout=300)
            cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
            if failed:
                raise SystemExit(failed[0])
            deliveries = args.messages * len(clients)
            return deliveries / (t1 - t0), 1e6 * (cpu1 - cpu0) / deliveries
        finally:
            proc.terminate()
            proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binaries", nargs="+", help="wslab binaries built with --features tls")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--receivers", type=int, default=50)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    args.messages -= args.messages % BURST
    results = {b: [] for b in args.binaries}
    for _ in range(args.runs):
        for binary in args.binaries:
            results[binary].append(run(binary, args))
    print(f"wss fanout: {args.receivers + 1} clients in one room, {args.messages} messages of "
          f"{len(PAYLOAD)} bytes, medians of {args.runs} runs")
    for binary, runs in results.items():
        rate = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{binary}: {rate / 1e6:.2f} M deliveries/s, server CPU {cpu:.3f} µs/delivery "
              f"(runs: {', '.join(f'{c:.3f}' for _, c in runs)})")


if __name__ == "__main__":
    main()
