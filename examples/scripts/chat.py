#!/usr/bin/env python3
"""A chat server for wslab in plain Python (no library): every message goes
to all the other clients, with the sender's name. `/name Ann` sets it.

    make run PORT=8123 ARGS="--app /chat='python3 examples/scripts/chat.py'"

then in a browser console on http://labhost:8123/:

    ws = new WebSocket('ws://' + location.host + '/chat?name=Ann');
    ws.onmessage = (e) => console.log(e.data);
    ws.onopen = () => ws.send('hi all');

wslab writes one JSON object per line on stdin (hello, open, message,
close, error) and reads one per line on stdout (send, broadcast, close,
log): docs/scripts.md. Anything else goes to stderr, which wslab logs.
"""
import json
import sys

names = {}  # client id -> name, as Ratchet code keeps $conn->name


def out(**command):
    # One line per command, flushed at once: wslab reads line by line.
    print(json.dumps(command), flush=True)


out(type="hello", version=1)
for line in sys.stdin:
    event = json.loads(line)
    kind = event["type"]
    if kind == "open":
        query = dict(event["query"])
        names[event["id"]] = query.get("name") or "guest%d" % event["id"]
        print("client %d joined as %s" % (event["id"], names[event["id"]]), file=sys.stderr)
        out(type="broadcast", text="%s joined" % names[event["id"]], **{"except": event["id"]})
        out(type="send", to=event["id"], text="welcome, %s" % names[event["id"]])
    elif kind == "message" and "text" in event:
        client, text = event["id"], event["text"]
        if text.startswith("/name "):
            old, names[client] = names[client], text[6:].strip() or names[client]
            out(type="broadcast", text="%s is now %s" % (old, names[client]))
        else:
            out(type="broadcast", text="%s: %s" % (names[client], text), **{"except": client})
    elif kind == "message":
        out(type="send", to=event["id"], text="binary messages are not read here")
    elif kind == "close":
        gone = names.pop(event["id"], None)
        if gone:
            out(type="broadcast", text="%s left" % gone)
