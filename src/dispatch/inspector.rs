//! The inspector's dispatcher side: its viewers (the clients of
//! `/ws/inspect`), the frames kept for the clients they watch, the samples
//! of the plots, and the messages of docs/inspector.md.
//!
//! Viewers are ordinary clients of the registry (writer, limits,
//! keepalive), of an app slot that does nothing ([`Viewers`]); the
//! dispatcher hands their events here instead. Taps send [`Record`]s on a
//! channel of their own, which the dispatcher drains into [`Inspector::records`].
//! With no viewer, none of this runs: no tick, no tap on, no copy.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use serde_json::{json, Map, Value};

use super::clients::{Entry, Hub, Stats};
use crate::app::{App, AppId, ClientId, ClientKind, CloseStatus, Message};
use crate::inspect::tap::KEEP;
use crate::inspect::{log, Dir, Record, Sink, Switch};

/// Frames kept per watched client.
pub const RING: usize = 500;
/// Samples kept: five minutes of seconds.
pub const HISTORY: usize = 300;
/// How long a closed client stays in the list, in ms.
const CLOSED_FOR_MS: u64 = 60_000;
/// Most closed clients kept.
const CLOSED_MAX: usize = 500;
/// Most open clients listed.
const LIST_MAX: usize = 500;
/// Records waiting for the dispatcher before taps drop (and count) them.
const RECORD_QUEUE: usize = 16 * 1024;
/// The least time between two watches of one viewer: each sends the frames
/// kept so far again (up to a few MiB of JSON, built on the dispatcher), so
/// a flood of watches would hold up every client.
const WATCH_EVERY: Duration = Duration::from_millis(100);
/// Messages a viewer may have waiting before live frames skip it (a
/// `frames` message holds at most [`RING`] frames, about 2 MiB).
const VIEWER_BACKLOG: usize = 4;

/// The app slot of `/ws/inspect`: its hooks do nothing, the dispatcher
/// hands its clients' events to the [`Inspector`].
pub(crate) struct Viewers;

impl App for Viewers {}

/// A client closed while an inspector was open.
struct Closed {
    /// When, in ms since the server started.
    at_ms: u64,
    /// Its line in the client list (with `closed` set).
    listed: Value,
}

/// The inspector's state on the dispatcher thread.
pub(crate) struct Inspector {
    /// The app id of `/ws/inspect`.
    app: AppId,
    /// On while a viewer is connected (connection threads keep handshakes then).
    switch: Switch,
    /// Where taps send records (cloned into each [`Sink`]).
    records_tx: Sender<Record>,
    /// Each viewer and the client it watches.
    viewers: HashMap<ClientId, Option<ClientId>>,
    /// When each viewer's last watch was taken.
    watched_at: HashMap<ClientId, Instant>,
    /// Watches that came too soon after the last one: the latest of each
    /// viewer, taken at the next tick.
    deferred: HashMap<ClientId, ClientId>,
    /// The frames kept for each watched client, as JSON.
    rings: HashMap<ClientId, VecDeque<Value>>,
    /// Frames each viewer was not sent while its socket was behind.
    unsent: HashMap<ClientId, usize>,
    /// The samples of the plots, oldest first.
    history: VecDeque<Value>,
    /// Clients closed in the last minute, oldest first.
    closed: VecDeque<Closed>,
    /// The counters at the last sample.
    last: Stats,
    /// The last log line handed out.
    log_seq: u64,
    /// The server's clock start.
    epoch: Instant,
}

impl Inspector {
    /// The inspector of the app slot `app`; returns it and the channel
    /// the dispatcher drains records from.
    pub(crate) fn new(app: AppId, switch: Switch, epoch: Instant) -> (Inspector, Receiver<Record>) {
        let (records_tx, records) = bounded(RECORD_QUEUE);
        let inspector = Inspector {
            app,
            switch,
            records_tx,
            viewers: HashMap::new(),
            watched_at: HashMap::new(),
            deferred: HashMap::new(),
            rings: HashMap::new(),
            unsent: HashMap::new(),
            history: VecDeque::new(),
            closed: VecDeque::new(),
            last: Stats::default(),
            log_seq: 0,
            epoch,
        };
        (inspector, records)
    }

    /// Whether `app` is the inspector's own.
    pub(crate) fn is_viewer_app(&self, app: AppId) -> bool {
        app == self.app
    }

    /// Whether a viewer is connected (then the dispatcher ticks each second).
    pub(crate) fn is_open(&self) -> bool {
        !self.viewers.is_empty()
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// A viewer connected: it gets `hello`.
    pub(crate) fn viewer_open(&mut self, hub: &mut Hub, id: ClientId, names: &[String]) {
        if self.viewers.is_empty() {
            self.last = hub.stats;
            self.switch.set(true);
            hub.inspected = true;
        }
        self.viewers.insert(id, None);
        let kept = log::since(0);
        let (clients, unlisted) = self.list(hub, names);
        let hello = json!({
            "type": "hello",
            "now": self.now_ms(),
            "apps": names,
            "history": self.history,
            "clients": clients,
            "unlisted": unlisted,
            "log": log_lines(&kept),
        });
        if self.viewers.len() == 1 {
            // Later viewers may get a line twice (in hello and in a tick): lines carry `seq`.
            self.log_seq = kept.last().map_or(0, |l| l.seq);
        }
        send_quiet(hub, &[id], &hello);
    }

    /// A viewer sent a command.
    pub(crate) fn viewer_message(&mut self, hub: &mut Hub, id: ClientId, message: &Message) {
        let command = message.parse_json().unwrap_or(Value::Null);
        match command["type"].as_str() {
            Some("watch") => {
                let Some(target) = command["client"].as_u64() else {
                    return reply_error(hub, id, "watch needs a \"client\" id");
                };
                // Not too often, and once the last one's frames were read: the
                // latest of those that come sooner is taken at the next tick.
                if self.may_watch(hub, id) {
                    self.deferred.remove(&id);
                    self.take_watch(hub, id, target);
                } else {
                    self.deferred.insert(id, target);
                }
            }
            Some("unwatch") => {
                self.deferred.remove(&id);
                if let Some(old) = self.viewers.insert(id, None).flatten() {
                    self.let_go(hub, old);
                }
            }
            _ => reply_error(
                hub,
                id,
                "unknown command: use {\"type\":\"watch\",\"client\":ID} or {\"type\":\"unwatch\"}",
            ),
        }
    }

    /// Whether `viewer` may have a watch now: [`WATCH_EVERY`] after its
    /// last one, whose frames its socket has taken.
    fn may_watch(&self, hub: &Hub, viewer: ClientId) -> bool {
        let recent = self.watched_at.get(&viewer).is_some_and(|at| at.elapsed() < WATCH_EVERY);
        !recent && hub.writer(viewer).is_none_or(|w| w.backlog() <= 2)
    }

    /// Takes `viewer`'s watch of `target`, or says why not.
    fn take_watch(&mut self, hub: &mut Hub, viewer: ClientId, target: ClientId) {
        self.watched_at.insert(viewer, Instant::now());
        let watchable = hub.info(target).map(|info| info.app != self.app);
        match watchable {
            Some(true) => self.watch(hub, viewer, target),
            Some(false) => reply_error(hub, viewer, "inspector clients cannot be watched"),
            None if self.rings.contains_key(&target) => self.watch(hub, viewer, target),
            None => reply_error(hub, viewer, &format!("no client {target}")),
        }
    }

    /// `viewer` watches `target`: its tap goes on; the viewer gets the
    /// handshake and the frames kept so far.
    fn watch(&mut self, hub: &mut Hub, viewer: ClientId, target: ClientId) {
        self.unsent.remove(&viewer);
        if let Some(old) = self.viewers.insert(viewer, Some(target)).flatten() {
            if old != target {
                self.let_go(hub, old);
            }
        }
        if let Some(entry) = hub.entry(target) {
            if !entry.writer.tap().is_on() {
                let lines = !entry.info.kind.is_websocket();
                let sink =
                    Sink { client: target, records: self.records_tx.clone(), epoch: self.epoch, lines };
                entry.writer.tap().attach(sink);
            }
        }
        let ring = self.rings.entry(target).or_default();
        let frames: Vec<&Value> = ring.iter().collect();
        let replay = json!({"type": "frames", "client": target, "replace": true, "frames": frames});
        let handshake = handshake_json(hub, target);
        send_quiet(hub, &[viewer], &handshake);
        send_quiet(hub, &[viewer], &replay);
    }

    /// Nobody may watch `target` any more: its tap goes off and its ring is dropped.
    fn let_go(&mut self, hub: &mut Hub, target: ClientId) {
        if self.viewers.values().any(|w| *w == Some(target)) {
            return;
        }
        self.rings.remove(&target);
        if let Some(writer) = hub.writer(target) {
            writer.tap().detach();
        }
    }

    /// A viewer left.
    pub(crate) fn viewer_close(&mut self, hub: &mut Hub, id: ClientId) {
        self.watched_at.remove(&id);
        self.unsent.remove(&id);
        self.deferred.remove(&id);
        if let Some(Some(watched)) = self.viewers.remove(&id) {
            self.let_go(hub, watched);
        }
        if self.viewers.is_empty() {
            self.switch.set(false);
            hub.inspected = false;
            self.closed.clear();
        }
    }

    /// A client (not a viewer) is about to be removed, as `status` tells:
    /// it stays in the list, greyed, for a minute.
    pub(crate) fn client_closing(
        &mut self,
        hub: &mut Hub,
        id: ClientId,
        status: &CloseStatus,
        names: &[String],
    ) {
        if !self.is_open() {
            return;
        }
        let Some(entry) = hub.entry(id) else { return };
        let at_ms = self.now_ms();
        let mut listed = client_json(&entry, names);
        listed["closed"] =
            json!({"code": status.code, "reason": status.reason, "by_server": status.by_server, "at": at_ms});
        if self.closed.len() == CLOSED_MAX {
            self.closed.pop_front();
        }
        self.closed.push_back(Closed { at_ms, listed });
        if self.rings.contains_key(&id) {
            let note = json!({"t": at_ms, "dir": "note", "text": format!("closed: {} {}", status.code, status.reason)});
            self.push_frames(hub, id, vec![note]);
        }
    }

    /// Records from the taps: kept in their clients' rings and sent to
    /// the viewers watching them, one message per client.
    pub(crate) fn records(&mut self, hub: &mut Hub, batch: Vec<Record>) {
        let mut by_client: Vec<(ClientId, Vec<Value>)> = Vec::new();
        for record in batch {
            let frame = frame_json(&record);
            match by_client.iter_mut().find(|(c, _)| *c == record.client) {
                Some((_, frames)) => frames.push(frame),
                None => by_client.push((record.client, vec![frame])),
            }
        }
        for (client, mut frames) in by_client {
            if let Some(dropped) = hub.writer(client).map(|w| w.tap().take_dropped()).filter(|&n| n > 0) {
                let text = format!("{dropped} frames dropped: the inspector could not keep up");
                frames.push(json!({"t": self.now_ms(), "dir": "note", "text": text}));
            }
            self.push_frames(hub, client, frames);
        }
    }

    fn push_frames(&mut self, hub: &mut Hub, client: ClientId, mut frames: Vec<Value>) {
        if !self.rings.contains_key(&client) {
            return;
        }
        // More than a ring's worth at once: only the newest are kept, and shown.
        if frames.len() > RING {
            let over = frames.len() - (RING - 1);
            frames.drain(..over);
            let note = format!("{over} frames dropped: the inspector could not keep up");
            frames.insert(0, json!({"t": self.now_ms(), "dir": "note", "text": note}));
        }
        let Some(ring) = self.rings.get_mut(&client) else { return };
        for frame in &frames {
            if ring.len() == RING {
                ring.pop_front();
            }
            ring.push_back(frame.clone());
        }
        // A viewer whose socket is behind gets no more frames until it has
        // caught up, then a note of how many it missed: a `frames` message
        // may be megabytes, so its outbox must not fill with them.
        let mut watchers: Vec<ClientId> = Vec::new();
        for viewer in self.viewers.iter().filter(|(_, w)| **w == Some(client)).map(|(v, _)| *v) {
            if hub.writer(viewer).is_some_and(|w| w.backlog() > VIEWER_BACKLOG) {
                *self.unsent.entry(viewer).or_default() += frames.len();
                continue;
            }
            match self.unsent.remove(&viewer) {
                Some(missed) => {
                    let note = format!("{missed} frames not shown: the inspector could not keep up");
                    let mut caught_up = frames.clone();
                    caught_up.push(json!({"t": self.now_ms(), "dir": "note", "text": note}));
                    let message =
                        json!({"type": "frames", "client": client, "replace": false, "frames": caught_up});
                    send_quiet(hub, &[viewer], &message);
                }
                None => watchers.push(viewer),
            }
        }
        if !watchers.is_empty() {
            let message = json!({"type": "frames", "client": client, "replace": false, "frames": frames});
            send_quiet(hub, &watchers, &message);
        }
    }

    /// Once a second while a viewer is connected: a sample, the client
    /// list and the new log lines, to every viewer.
    pub(crate) fn tick(&mut self, hub: &mut Hub, names: &[String]) {
        let ready: Vec<(ClientId, ClientId)> =
            self.deferred.iter().map(|(&v, &t)| (v, t)).filter(|&(v, _)| self.may_watch(hub, v)).collect();
        for (viewer, target) in ready {
            self.deferred.remove(&viewer);
            self.take_watch(hub, viewer, target);
        }
        // Viewers that caught up hear what they missed, without waiting for a new frame.
        let caught_up: Vec<ClientId> = self
            .unsent
            .keys()
            .copied()
            .filter(|&v| hub.writer(v).is_none_or(|w| w.backlog() <= VIEWER_BACKLOG))
            .collect();
        for viewer in caught_up {
            let (Some(missed), Some(Some(client))) = (self.unsent.remove(&viewer), self.viewers.get(&viewer))
            else {
                continue;
            };
            let note = format!("{missed} frames not shown: the inspector could not keep up");
            let frames = [json!({"t": self.now_ms(), "dir": "note", "text": note})];
            send_quiet(
                hub,
                &[viewer],
                &json!({"type": "frames", "client": client, "replace": false, "frames": frames}),
            );
        }
        let now = self.now_ms();
        let mut connections = Map::new();
        for (app, name) in names.iter().enumerate() {
            if app == self.app {
                continue;
            }
            let n = hub.app_count(app) as u64;
            let entry = connections.entry(name.clone()).or_insert(json!(0));
            *entry = json!(entry.as_u64().unwrap_or(0) + n);
        }
        let (s, last) = (hub.stats, self.last);
        let sample = json!({
            "t": now,
            "connections": connections,
            "messages_in": s.messages_in - last.messages_in,
            "messages_out": s.messages_out - last.messages_out,
            "bytes_in": s.bytes_in - last.bytes_in,
            "bytes_out": s.bytes_out - last.bytes_out,
            "errors": s.errors - last.errors,
        });
        self.last = s;
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(sample.clone());
        while self.closed.front().is_some_and(|c| now.saturating_sub(c.at_ms) > CLOSED_FOR_MS) {
            self.closed.pop_front();
        }
        let lines = log::since(self.log_seq);
        if let Some(last) = lines.last() {
            self.log_seq = last.seq;
        }
        let (clients, unlisted) = self.list(hub, names);
        let tick = json!({
            "type": "tick",
            "now": now,
            "sample": sample,
            "clients": clients,
            "unlisted": unlisted,
            "log": log_lines(&lines),
        });
        let viewers: Vec<ClientId> = self.viewers.keys().copied().collect();
        send_quiet(hub, &viewers, &tick);
    }

    /// The client list: open clients newest first (at most [`LIST_MAX`]),
    /// then the closed ones; and how many open ones were left out.
    fn list(&self, hub: &Hub, names: &[String]) -> (Vec<Value>, usize) {
        let mut open: Vec<Entry> = hub.entries().collect();
        open.sort_unstable_by_key(|e| std::cmp::Reverse(e.id));
        let mut list: Vec<Value> = open.iter().take(LIST_MAX).map(|e| client_json(e, names)).collect();
        list.extend(self.closed.iter().rev().map(|c| c.listed.clone()));
        (list, open.len().saturating_sub(LIST_MAX))
    }
}

/// Sends `value` to `to` without counting it in the plots' figures: the
/// inspector's own traffic is not what a viewer wants to see there.
fn send_quiet(hub: &mut Hub, to: &[ClientId], value: &Value) {
    let stats = hub.stats;
    hub.send_list(to, &Message::json(value));
    hub.stats = stats;
}

fn reply_error(hub: &mut Hub, id: ClientId, message: &str) {
    send_quiet(hub, &[id], &json!({"type": "error", "message": message}));
}

/// A client's line in the list (docs/inspector.md, CLIENT).
fn client_json(entry: &Entry, names: &[String]) -> Value {
    let info = entry.info;
    let c = entry.counts;
    json!({
        "id": entry.id,
        "app": names.get(info.app).map_or("", String::as_str),
        "path": info.path,
        "peer": info.peer.to_string(),
        "kind": if info.kind == ClientKind::WebSocket { "websocket" } else { "socket" },
        "agent": info.header("User-Agent"),
        "since": c.since_ms,
        "last_seen": entry.writer.last_seen_ms(),
        "messages_in": c.messages_in,
        "messages_out": c.messages_out,
        "bytes_in": c.bytes_in,
        "bytes_out": c.bytes_out,
        "queued": entry.writer.backlog(),
        "closed": null,
    })
}

/// The `handshake` message for `id`: as it went over the wire when it was
/// kept, otherwise what the app sees of it.
fn handshake_json(hub: &Hub, id: ClientId) -> Value {
    if let Some(h) = hub.handshake(id) {
        return json!({"type": "handshake", "client": id, "request": h.request, "response": h.response});
    }
    let Some(info) = hub.info(id) else {
        return json!({"type": "handshake", "client": id, "request": null, "response": null, "partial": true});
    };
    // A backend socket has no HTTP handshake: its greeting, if it sent one
    // (the app's answer to it, if any, is among its frames).
    if let ClientKind::Socket { greeted } = info.kind {
        let request = if greeted { "php process\n\n" } else { "" };
        return json!({"type": "handshake", "client": id, "request": request, "response": ""});
    }
    let mut target = info.path.clone();
    if !info.query_string.is_empty() {
        target = format!("{target}?{}", info.query_string);
    }
    let mut request = format!("GET {target} HTTP/1.1\r\n");
    for (name, value) in &info.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    json!({"type": "handshake", "client": id, "request": request, "response": null, "partial": true})
}

/// A frame record as JSON (docs/inspector.md, FRAME).
pub(crate) fn frame_json(r: &Record) -> Value {
    let opcode = match r.opcode {
        None => "line",
        Some(0) => "continuation",
        Some(1) => "text",
        Some(2) => "binary",
        Some(8) => "close",
        Some(9) => "ping",
        Some(10) => "pong",
        Some(_) => "reserved",
    };
    let dir = r.dir.name();
    let mut frame =
        json!({"t": r.t_ms, "dir": dir, "opcode": opcode, "fin": r.fin, "masked": r.masked, "len": r.len});
    let mut payload = &r.payload[..];
    if r.opcode == Some(8) && payload.len() >= 2 {
        frame["code"] = json!(u16::from_be_bytes([payload[0], payload[1]]));
        payload = &payload[2..];
        frame["reason"] = json!(String::from_utf8_lossy(payload));
    }
    if (r.payload.len() as u64) < r.len {
        frame["cut"] = json!(true);
    }
    match std::str::from_utf8(payload) {
        Ok(text) => frame["text"] = json!(text),
        // A text cut at 4 KiB may end in the middle of a character.
        Err(e) if e.error_len().is_none() && payload.len() == KEEP => {
            frame["text"] = json!(String::from_utf8_lossy(&payload[..e.valid_up_to()]))
        }
        Err(_) => frame["hex"] = json!(payload.iter().map(|b| format!("{b:02x}")).collect::<String>()),
    }
    if matches!(r.dir, Dir::ToApp | Dir::FromApp) {
        frame["opcode"] = json!("line");
    }
    frame
}

fn log_lines(lines: &[log::Line]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| json!({"seq": l.seq, "t": l.t_ms, "level": l.level.as_str(), "text": l.text}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::Bytes;

    fn record(opcode: Option<u8>, payload: &[u8], len: u64) -> Record {
        Record {
            client: 1,
            t_ms: 5,
            dir: Dir::In,
            opcode,
            fin: true,
            masked: true,
            len,
            payload: Bytes::copy_from_slice(payload),
        }
    }

    #[test]
    fn frames_show_text_hex_close_codes_and_cuts() {
        let text = frame_json(&record(Some(1), b"{\"a\":1}", 7));
        assert_eq!(text["opcode"], "text");
        assert_eq!(text["text"], "{\"a\":1}");
        assert!(text.get("cut").is_none());
        let binary = frame_json(&record(Some(2), &[0, 255], 2));
        assert_eq!(binary["hex"], "00ff");
        let close = frame_json(&record(Some(8), b"\x03\xe8bye", 5));
        assert_eq!((close["code"].as_u64(), close["reason"].as_str()), (Some(1000), Some("bye")));
        let mut long = vec![b'a'; KEEP - 1];
        long.push(0xc3); // the first byte of a two-byte character, cut
        let cut = frame_json(&record(Some(1), &long, 10_000));
        assert_eq!(cut["cut"], true);
        assert_eq!(cut["text"].as_str().unwrap().len(), KEEP - 1);
        assert_eq!(frame_json(&record(None, b"{\"x\":1}", 7))["opcode"], "line");
    }
}
