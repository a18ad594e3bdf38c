#!/usr/bin/env python3
"""job.py: a long job that reports its progress to one relay page (wslab).

Usage: python3 job.py UUID PORT [HOST] [--tls]     (HOST defaults to 127.0.0.1)

--tls: the server runs with --tls-cert (make run-tls); its certificate is
checked against certs/cert.pem (make cert's), or $WSLAB_CA if set, or the
system's certificates when neither file exists.

A plain TCP socket and the standard library only. The script starts straight
with a JSON object (no greeting, so no "ready" line comes back), writes one
object per line and reads one reply line after each:
{"opcode":"next","delivered":1} when it was delivered, or
{"opcode":"error","message":"..."}.
"""

import json
import os
import socket
import ssl
import sys
import time


def connect(host, port, tls):
    """A socket to the server; over TLS with `tls`."""
    # timeout: a reply that takes longer than 10 s is an error.
    sock = socket.create_connection((host, port), timeout=10)
    if not tls:
        return sock
    ca = os.environ.get("WSLAB_CA", "certs/cert.pem")
    context = ssl.create_default_context(cafile=ca if os.path.isfile(ca) else None)
    return context.wrap_socket(sock, server_hostname=host)


def main(argv):
    tls = "--tls" in argv
    argv = [a for a in argv if a != "--tls"]
    if len(argv) < 3:
        print("usage: python3 job.py UUID PORT [HOST] [--tls]", file=sys.stderr)
        return 2
    uuid, port = argv[1], int(argv[2])
    host = argv[3] if len(argv) > 3 else "127.0.0.1"

    print(f"connecting to {host}:{port}" + (" over TLS" if tls else ""))
    with connect(host, port, tls) as sock:
        replies = sock.makefile("r", encoding="utf-8", newline="\n")
        for step in range(1, 11):
            message = {
                "opcode": "feedback",
                "uuid": uuid,
                "progress": step * 10,
                "message": f"step {step} of 10",
            }
            line = json.dumps(message)
            print(f"-> {line}")
            sock.sendall(line.encode("utf-8") + b"\n")
            reply_line = replies.readline()
            if not reply_line:
                print("job.py: no reply: the server closed the connection", file=sys.stderr)
                return 1
            print(f"  <- {reply_line.rstrip()}")
            reply = json.loads(reply_line)
            if not isinstance(reply, dict) or reply.get("opcode") != "next":
                print(f"job.py: error reply: {reply_line.rstrip()}", file=sys.stderr)
                return 1
            if step < 10:
                time.sleep(0.2)  # the "work" of one step: 200 ms
        print('-> {"opcode":"quit"}')
        sock.sendall(b'{"opcode":"quit"}\n')  # no reply: the server closes
    print(f"done: 10 feedback messages sent to {uuid}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (OSError, ValueError) as e:
        print(f"job.py: {e}", file=sys.stderr)
        sys.exit(1)
