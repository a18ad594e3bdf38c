//! The client registry: who is connected, to which app and rooms, and the
//! frames queued for each client in the current round.
//!
//! A message is encoded once ([`Encoded`]) into the round's table of
//! frames ([`Round`]), and each recipient queues its index; [`Hub::flush`]
//! then hands each recipient's writer everything it got in the round: one
//! non-blocking send per client, of its frames joined into one buffer
//! (built once for all the clients that got the same frames), or straight
//! from the table when they are large (no reference count per delivery
//! unless the socket is full).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;
use log::warn;
use tungstenite::Bytes;

use super::Event;
use crate::app::{AppId, Audience, ClientId, ClientInfo, ClientKind, Clients, Message, Notifier};
use crate::inspect::{Dir, Handshake};
use crate::wire::{encode, Round, Writer};

/// Hashes client ids (sequential `u64`s) with one multiplication: SipHash
/// was 5 % of the dispatcher's time in `fanout`, and ids come from the
/// server, not from peers, so there is nothing to defend against.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        let x = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 32);
    }
}

/// A map keyed by client id.
type IdMap<V> = HashMap<ClientId, V, BuildHasherDefault<IdHasher>>;
/// A set of client ids.
type IdSet = HashSet<ClientId, BuildHasherDefault<IdHasher>>;

/// One registered client.
#[derive(Debug)]
struct Client {
    /// Who it is.
    info: ClientInfo,
    /// Where its bytes go.
    writer: Arc<Writer>,
    /// Units queued in this round (indices into [`Hub::round`]), handed to
    /// the writer by [`Hub::flush`].
    pending: Vec<u32>,
    /// The rooms it is in (of its app).
    rooms: Vec<String>,
    /// A close was requested; nothing more is queued for it.
    doomed: bool,
    /// Its outbox overflowed: what is still queued is dropped at the close.
    abandoned: bool,
    /// What it sent and got, for the inspector's client list.
    counts: Counts,
    /// Its handshake, when it connected while an inspector was open.
    handshake: Option<Box<Handshake>>,
}

/// What one client sent and got.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    /// When it joined, in ms since the server started.
    pub since_ms: u64,
    /// Data messages from it.
    pub messages_in: u64,
    /// Data messages queued to it.
    pub messages_out: u64,
    /// Payload bytes of the messages from it.
    pub bytes_in: u64,
    /// Payload bytes of the messages queued to it.
    pub bytes_out: u64,
}

/// One client as the inspector lists it.
pub(crate) struct Entry<'a> {
    /// Its id.
    pub id: ClientId,
    /// Who it is.
    pub info: &'a ClientInfo,
    /// Its writer (queued messages, last seen).
    pub writer: &'a Writer,
    /// What it sent and got.
    pub counts: Counts,
}

/// A message encoded once, in the form each kind of client needs.
#[derive(Debug)]
pub(crate) struct Encoded<'a> {
    /// The message.
    message: &'a Message,
    /// Its WebSocket frame's index in the round, made on first use.
    frame: Option<Option<u32>>,
    /// Its backend line's index in the round, made on first use.
    line: Option<Option<u32>>,
}

impl<'a> Encoded<'a> {
    pub(crate) fn new(message: &'a Message) -> Self {
        Encoded { message, frame: None, line: None }
    }

    /// The index in `round` of the bytes for a client of `kind`; `None`
    /// when it has no such form (binary for a backend).
    fn for_kind(&mut self, kind: ClientKind, round: &mut Round) -> Option<u32> {
        let message = self.message;
        let mut add = |unit: Option<Bytes>| unit.map(|u| round.push(u));
        match kind {
            ClientKind::WebSocket => *self.frame.get_or_insert_with(|| add(Some(encode::message(message)))),
            ClientKind::Socket { .. } => *self.line.get_or_insert_with(|| add(encode::line(message))),
        }
    }
}

/// A close that an app, the outbox rule or keepalive asked for.
#[derive(Debug)]
pub(crate) struct CloseRequest {
    /// The client.
    pub id: ClientId,
    /// The close code.
    pub code: u16,
    /// The close reason.
    pub reason: String,
}

/// Counters for `/api/status` and the inspector's plots.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Stats {
    /// Data messages received from clients.
    pub messages_in: u64,
    /// Data messages queued to clients.
    pub messages_out: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Payload bytes queued.
    pub bytes_out: u64,
    /// Protocol errors, panics, limit closes and app error replies (counted
    /// while an inspector is open; see docs/inspector.md).
    pub errors: u64,
}

/// The registry the dispatcher owns. Apps reach it through [`crate::Ctx`].
#[derive(Debug)]
pub struct Hub {
    /// Every connected client, boxed: the table has room for up to twice
    /// as many entries as it holds, and an empty slot then costs 16 bytes,
    /// not a whole `Client` (0.3 MiB per 1,000 idle clients).
    clients: IdMap<Box<Client>>,
    /// The clients of each app, by app id.
    members: Vec<IdSet>,
    /// The members of each room, by app id and room name.
    rooms: Vec<HashMap<String, IdSet>>,
    /// The frames and lines encoded in this round, each once.
    round: Round,
    /// Clients with units queued in this round.
    dirty: Vec<ClientId>,
    /// Closes asked for and not yet carried out.
    pub(crate) closing: Vec<CloseRequest>,
    /// `--outbox-size`: most messages waiting for one client.
    outbox_size: usize,
    /// Counters for `/api/status`.
    pub(crate) stats: Stats,
    /// The dispatcher's own channel (for notifiers).
    pub(crate) events: Sender<Event>,
    /// When the server started.
    pub(crate) started: Instant,
    /// An inspector is open: app error replies are counted.
    pub(crate) inspected: bool,
}

impl Hub {
    pub(crate) fn new(apps: usize, outbox_size: usize, events: Sender<Event>, started: Instant) -> Self {
        Hub {
            clients: IdMap::default(),
            members: vec![IdSet::default(); apps],
            rooms: (0..apps).map(|_| HashMap::new()).collect(),
            round: Round::default(),
            dirty: Vec::new(),
            closing: Vec::new(),
            outbox_size,
            stats: Stats::default(),
            events,
            started,
            inspected: false,
        }
    }

    pub(crate) fn add(
        &mut self,
        id: ClientId,
        info: ClientInfo,
        writer: Arc<Writer>,
        handshake: Option<Box<Handshake>>,
    ) {
        self.members[info.app].insert(id);
        let counts = Counts { since_ms: self.now_ms(), ..Counts::default() };
        let client = Client {
            info,
            writer,
            pending: Vec::new(),
            rooms: Vec::new(),
            doomed: false,
            abandoned: false,
            counts,
            handshake,
        };
        self.clients.insert(id, Box::new(client));
    }

    /// Counts a message of `len` bytes from `id`; returns the client's app.
    pub(crate) fn received(&mut self, id: ClientId, len: usize) -> Option<AppId> {
        let client = self.clients.get_mut(&id)?;
        client.counts.messages_in += 1;
        client.counts.bytes_in += len as u64;
        self.stats.messages_in += 1;
        self.stats.bytes_in += len as u64;
        Some(client.info.app)
    }

    /// Every client, as the inspector lists it.
    pub(crate) fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        self.clients.iter().map(|(&id, c)| Entry { id, info: &c.info, writer: &c.writer, counts: c.counts })
    }

    /// One client, as the inspector lists it.
    pub(crate) fn entry(&self, id: ClientId) -> Option<Entry<'_>> {
        self.clients.get(&id).map(|c| Entry { id, info: &c.info, writer: &c.writer, counts: c.counts })
    }

    /// The handshake kept for `id` (one that connected while an inspector was open).
    pub(crate) fn handshake(&self, id: ClientId) -> Option<&Handshake> {
        self.clients.get(&id)?.handshake.as_deref()
    }

    /// Removes a client. What it got in this round is handed to its writer
    /// first (unless its outbox overflowed); with `close`, the server closes
    /// it: a close frame for a WebSocket, an error line (none for code 1000)
    /// and the end of the stream for a backend. Returns its info and writer.
    pub(crate) fn remove(
        &mut self,
        id: ClientId,
        close: Option<(u16, &str)>,
    ) -> Option<(ClientInfo, Arc<Writer>)> {
        let mut client = self.clients.remove(&id)?;
        let app = client.info.app();
        self.members[app].remove(&id);
        for room in client.rooms.drain(..) {
            remove_member(&mut self.rooms[app], &room, id);
        }
        if !client.abandoned && !client.pending.is_empty() {
            client.writer.send_indexed(self.round.share(&client.pending));
        }
        if let Some((code, reason)) = close {
            let last = match client.info.kind {
                ClientKind::WebSocket => Some(encode::close_frame(code, reason)),
                ClientKind::Socket { .. } if code == 1000 => None,
                ClientKind::Socket { .. } => {
                    Some(Bytes::from(encode::error_line(&format!("closed by the server: {reason}"))))
                }
            };
            let fin = !client.info.kind.is_websocket();
            client.writer.close(last, client.abandoned, fin);
        }
        Some((client.info, client.writer))
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, id: ClientId) -> bool {
        self.clients.contains_key(&id)
    }

    pub(crate) fn info(&self, id: ClientId) -> Option<&ClientInfo> {
        self.clients.get(&id).map(|c| &c.info)
    }

    pub(crate) fn writer(&self, id: ClientId) -> Option<&Arc<Writer>> {
        self.clients.get(&id).map(|c| &c.writer)
    }

    pub(crate) fn ids(&self) -> Vec<ClientId> {
        self.clients.keys().copied().collect()
    }

    pub(crate) fn app_count(&self, app: AppId) -> usize {
        self.members[app].len()
    }

    /// The members of `room` of `app`.
    pub(crate) fn room(&self, app: AppId, room: &str) -> impl Iterator<Item = ClientId> + '_ {
        self.rooms[app].get(room).into_iter().flatten().copied()
    }

    pub(crate) fn join(&mut self, app: AppId, id: ClientId, room: &str) {
        let Some(client) = self.clients.get_mut(&id) else { return };
        if client.info.app() != app || client.rooms.iter().any(|r| r == room) {
            return;
        }
        client.rooms.push(room.to_string());
        match self.rooms[app].get_mut(room) {
            Some(set) => {
                set.insert(id);
            }
            None => {
                self.rooms[app].insert(room.to_string(), IdSet::from_iter([id]));
            }
        }
    }

    pub(crate) fn leave(&mut self, app: AppId, id: ClientId, room: &str) {
        if let Some(client) = self.clients.get_mut(&id) {
            client.rooms.retain(|r| r != room);
        }
        remove_member(&mut self.rooms[app], room, id);
    }

    /// Queues `msg` for client `id`. A client whose outbox is full is closed with 1008.
    #[cfg(test)]
    pub(crate) fn send(&mut self, id: ClientId, msg: &Message) {
        self.send_list(&[id], msg);
    }

    /// Queues `msg`, encoded once, for each of `ids`.
    pub(crate) fn send_list(&mut self, ids: &[ClientId], msg: &Message) {
        self.count_error_reply(msg);
        let mut encoded = Encoded::new(msg);
        let (clients, mut queue) = self.queue();
        for id in ids {
            if let Some(client) = clients.get_mut(id) {
                queue.push(client, *id, &mut encoded);
            }
        }
    }

    /// Queues `msg`, encoded once, for the `audience` of `app` for which
    /// `keep` holds. Returns how many got it.
    pub(crate) fn send_many(
        &mut self,
        app: AppId,
        audience: Audience<'_>,
        msg: &Message,
        keep: &mut dyn FnMut(ClientId, &ClientInfo) -> bool,
    ) -> usize {
        self.count_error_reply(msg);
        let Hub { clients, members, rooms, round, dirty, closing, stats, outbox_size, .. } = self;
        let mut queue = Queue { round, dirty, closing, stats, outbox_size: *outbox_size };
        let mut encoded = Encoded::new(msg);
        let mut sent = 0;
        let mut deliver = |id: ClientId, clients: &mut IdMap<Box<Client>>| {
            if let Some(client) = clients.get_mut(&id) {
                if keep(id, &client.info) && queue.push(client, id, &mut encoded) {
                    sent += 1;
                }
            }
        };
        match audience {
            Audience::App => members[app].iter().for_each(|&id| deliver(id, clients)),
            Audience::Room(room) => {
                rooms[app].get(room).into_iter().flatten().for_each(|&id| deliver(id, clients))
            }
            Audience::RoomsOf(of) => {
                // The sender's room list is lent out for the loop, not cloned.
                let Some(names) = clients.get_mut(&of).map(|c| std::mem::take(&mut c.rooms)) else {
                    return 0;
                };
                match names.as_slice() {
                    [one] => rooms[app].get(one).into_iter().flatten().for_each(|&id| deliver(id, clients)),
                    many => {
                        let mut seen = IdSet::default();
                        for set in many.iter().filter_map(|name| rooms[app].get(name)) {
                            for &id in set {
                                if seen.insert(id) {
                                    deliver(id, clients);
                                }
                            }
                        }
                    }
                }
                if let Some(client) = clients.get_mut(&of) {
                    client.rooms = names;
                }
            }
        }
        sent
    }

    /// While an inspector is open: counts `msg` among the errors when it is
    /// an app's error reply (`"type":"error"` or `"opcode":"error"`).
    fn count_error_reply(&mut self, msg: &Message) {
        if self.inspected {
            if let Some(text) = msg.as_text().filter(|t| t.starts_with('{')) {
                if text.contains("\"type\":\"error\"") || text.contains("\"opcode\":\"error\"") {
                    self.stats.errors += 1;
                }
            }
        }
    }

    /// Queues the keepalive's ping for client `id`.
    pub(crate) fn ping(&mut self, id: ClientId) {
        let (clients, mut queue) = self.queue();
        if let Some(client) = clients.get_mut(&id) {
            let unit = queue.round.push(Bytes::from_static(encode::PING_FRAME));
            queue.push_unit(client, id, unit);
        }
    }

    /// Asks for client `id` to be closed with `code` once the current hook returns.
    pub(crate) fn close(&mut self, id: ClientId, code: u16, reason: &str) {
        if let Some(client) = self.clients.get_mut(&id) {
            if !client.doomed {
                client.doomed = true;
                self.closing.push(CloseRequest { id, code, reason: reason.to_string() });
            }
        }
    }

    /// Hands every client what it got in this round: one send per client,
    /// however many messages (joined into one buffer when they are small,
    /// built once for the clients that got the same ones).
    pub(crate) fn flush(&mut self) {
        for id in self.dirty.drain(..) {
            if let Some(client) = self.clients.get_mut(&id) {
                if !client.pending.is_empty() {
                    client.writer.send_indexed(self.round.share(&client.pending));
                    client.pending.clear();
                }
            }
        }
        self.round.clear();
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The clients, and what queueing to them touches, borrowed apart.
    fn queue(&mut self) -> (&mut IdMap<Box<Client>>, Queue<'_>) {
        let Hub { clients, round, dirty, closing, stats, outbox_size, .. } = self;
        (clients, Queue { round, dirty, closing, stats, outbox_size: *outbox_size })
    }
}

/// Takes `id` out of `room`; a room without members is dropped.
fn remove_member(rooms: &mut HashMap<String, IdSet>, room: &str, id: ClientId) {
    if let Some(set) = rooms.get_mut(room) {
        set.remove(&id);
        if set.is_empty() {
            rooms.remove(room);
        }
    }
}

impl Clients for Hub {
    fn send(&mut self, to: &[ClientId], message: &Message) {
        self.send_list(to, message);
    }

    fn broadcast(
        &mut self,
        app: AppId,
        audience: Audience<'_>,
        message: &Message,
        keep: &mut dyn FnMut(ClientId, &ClientInfo) -> bool,
    ) -> usize {
        self.send_many(app, audience, message, keep)
    }

    fn join(&mut self, app: AppId, client: ClientId, room: &str) {
        Hub::join(self, app, client, room);
    }

    fn leave(&mut self, app: AppId, client: ClientId, room: &str) {
        Hub::leave(self, app, client, room);
    }

    fn members(&self, app: AppId, room: Option<&str>) -> Vec<ClientId> {
        match room {
            None => self.members[app].iter().copied().collect(),
            Some(room) => self.room(app, room).collect(),
        }
    }

    fn rooms_of(&self, client: ClientId) -> Vec<String> {
        self.clients.get(&client).map(|c| c.rooms.clone()).unwrap_or_default()
    }

    fn info(&self, client: ClientId) -> Option<&ClientInfo> {
        Hub::info(self, client)
    }

    fn close(&mut self, client: ClientId, code: u16, reason: &str) {
        Hub::close(self, client, code, reason);
    }

    fn tracing(&self) -> bool {
        self.inspected
    }

    fn trace(&mut self, client: ClientId, to_app: bool, line: &str) {
        if let Some(writer) = self.inspected.then(|| self.writer(client)).flatten() {
            if writer.tap().is_on() {
                writer.tap().line(if to_app { Dir::ToApp } else { Dir::FromApp }, line);
            }
        }
    }

    fn notifier(&self, app: AppId) -> Notifier {
        let events = self.events.clone();
        Notifier::new(move |payload| events.send(Event::Notify { app, payload }).is_ok())
    }
}

/// The parts of the [`Hub`] that queueing a unit touches, borrowed apart
/// from the clients and the member and room sets being iterated.
struct Queue<'a> {
    /// The round's encoded units.
    round: &'a mut Round,
    /// Clients with units queued in this round.
    dirty: &'a mut Vec<ClientId>,
    /// Closes asked for.
    closing: &'a mut Vec<CloseRequest>,
    /// Counters for `/api/status`.
    stats: &'a mut Stats,
    /// `--outbox-size`.
    outbox_size: usize,
}

impl Queue<'_> {
    /// Queues the encoded message for `client`; false when it was not
    /// (closing, full, or no form for its kind).
    fn push(&mut self, client: &mut Client, id: ClientId, encoded: &mut Encoded) -> bool {
        if client.doomed {
            return false;
        }
        let Some(unit) = encoded.for_kind(client.info.kind, self.round) else { return false };
        // `/api/status` counts data messages; keepalive pings come through `push_unit` alone.
        let queued = self.push_unit(client, id, unit);
        if queued {
            let len = encoded.message.len() as u64;
            self.stats.messages_out += 1;
            self.stats.bytes_out += len;
            client.counts.messages_out += 1;
            client.counts.bytes_out += len;
        }
        queued
    }

    /// The outbox rule: a client with `--outbox-size` messages waiting
    /// (queued in this round, or still in its writer) is closed with 1008.
    /// A round that brings one client more than [`Queue::share_max`] hands
    /// them to its writer as they come, so that a burst its socket takes
    /// at once (a student's loop of 3,000 sends) is not counted as waiting.
    fn push_unit(&mut self, client: &mut Client, id: ClientId, unit: u32) -> bool {
        if client.doomed {
            return false;
        }
        let queued = client.writer.backlog() + client.pending.len();
        if queued >= self.outbox_size {
            warn!(
                "client {id} ({}): outbox full ({queued} messages waiting, limit {}), closing with 1008",
                client.info.peer, self.outbox_size
            );
            client.doomed = true;
            client.abandoned = true;
            client.pending.clear();
            self.closing.push(CloseRequest { id, code: 1008, reason: "outbox full".into() });
            return false;
        }
        if client.pending.is_empty() {
            self.dirty.push(id);
        }
        client.pending.push(unit);
        if client.pending.len() >= self.share_max() {
            client.writer.send_indexed(self.round.share(&client.pending));
            client.pending.clear();
        }
        true
    }

    /// The most units a client's share of a round holds before they go to
    /// its writer: half the outbox, at most 256 (a round is rarely more).
    fn share_max(&self) -> usize {
        (self.outbox_size / 2).clamp(1, 256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Flushers;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    /// A client's writer on one end of a loopback connection, and the peer's end.
    fn connection() -> (Arc<Writer>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        (Writer::new(server, None, None, Flushers::new(2), Instant::now()), peer)
    }

    fn hub(outbox_size: usize) -> Hub {
        let (events, _) = crossbeam_channel::unbounded();
        Hub::new(2, outbox_size, events, Instant::now())
    }

    fn info(app: AppId, kind: ClientKind) -> ClientInfo {
        ClientInfo::new(0, "127.0.0.1:1".parse().unwrap(), kind).with_app(app)
    }

    fn read_n(peer: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut out = vec![0; n];
        peer.read_exact(&mut out).unwrap();
        out
    }

    /// Adds a WebSocket client of `app` and returns its peer's socket.
    fn add(hub: &mut Hub, id: ClientId, app: AppId) -> TcpStream {
        let (writer, peer) = connection();
        hub.add(id, info(app, ClientKind::WebSocket), writer, None);
        peer
    }

    #[test]
    fn a_round_is_written_at_flush_in_order_as_frames() {
        let mut hub = hub(16);
        let mut peer = add(&mut hub, 1, 0);
        hub.send(1, &Message::text("a"));
        hub.send(1, &Message::text("bc"));
        assert_eq!(hub.stats.messages_out, 2);
        hub.flush();
        assert_eq!(read_n(&mut peer, 7), [0x81, 1, b'a', 0x81, 2, b'b', b'c']);
    }

    #[test]
    fn broadcasts_reach_the_app_or_the_room_and_no_one_else() {
        let mut hub = hub(16);
        let mut a = add(&mut hub, 1, 0);
        let mut b = add(&mut hub, 2, 0);
        let mut other_app = add(&mut hub, 3, 1);
        hub.join(0, 1, "r");
        hub.join(1, 2, "r"); // the wrong app: refused
        assert_eq!(hub.room(0, "r").collect::<Vec<_>>(), vec![1]);
        assert_eq!(hub.send_many(0, Audience::Room("r"), &Message::text("room"), &mut |_, _| true), 1);
        assert_eq!(hub.send_many(0, Audience::App, &Message::text("all"), &mut |id, _| id != 1), 1);
        hub.send(3, &Message::text("x"));
        hub.flush();
        assert_eq!(read_n(&mut a, 6), [0x81, 4, b'r', b'o', b'o', b'm']);
        assert_eq!(read_n(&mut b, 5), [0x81, 3, b'a', b'l', b'l']);
        assert_eq!(read_n(&mut other_app, 3), [0x81, 1, b'x']);
        hub.leave(0, 1, "r");
        assert_eq!(hub.room(0, "r").count(), 0);
    }

    #[test]
    fn a_broadcast_to_the_rooms_of_a_client_reaches_each_member_once() {
        let mut hub = hub(16);
        let mut a = add(&mut hub, 1, 0);
        let mut b = add(&mut hub, 2, 0);
        let _c = add(&mut hub, 3, 0);
        for room in ["x", "y"] {
            hub.join(0, 1, room);
            hub.join(0, 2, room);
        }
        assert_eq!(hub.send_many(0, Audience::RoomsOf(1), &Message::text("m"), &mut |_, _| true), 2);
        hub.flush();
        assert_eq!(read_n(&mut a, 3), [0x81, 1, b'm']);
        assert_eq!(read_n(&mut b, 3), [0x81, 1, b'm']);
    }

    #[test]
    fn removing_a_client_takes_it_out_of_its_rooms_and_hands_over_its_round() {
        let mut hub = hub(16);
        let mut peer = add(&mut hub, 1, 0);
        hub.join(0, 1, "r");
        hub.send(1, &Message::text("last"));
        let (info, _) = hub.remove(1, None).unwrap();
        assert_eq!(info.app, 0);
        assert!(!hub.contains(1));
        assert_eq!(hub.room(0, "r").count(), 0);
        assert_eq!(hub.app_count(0), 0);
        assert_eq!(read_n(&mut peer, 6), [0x81, 4, b'l', b'a', b's', b't']);
        assert!(hub.remove(1, None).is_none());
    }

    #[test]
    fn a_full_outbox_closes_that_client_with_1008_and_drops_its_round() {
        let mut hub = hub(3);
        let _peer = add(&mut hub, 1, 0);
        // A message the peer's socket cannot take (it reads nothing), so that the rest waits.
        hub.send(1, &Message::binary(vec![0u8; 32 << 20]));
        for n in 0..4 {
            hub.send(1, &Message::text(format!("{n}")));
        }
        assert_eq!(hub.closing.len(), 1);
        assert_eq!((hub.closing[0].id, hub.closing[0].code), (1, 1008));
        assert_eq!(hub.stats.messages_out, 3, "nothing is queued past the bound");
        // Doomed: later sends are refused, and a second close is not asked for.
        hub.close(1, 1000, "bye");
        assert_eq!(hub.closing.len(), 1);
        assert_eq!(hub.send_many(0, Audience::App, &Message::text("x"), &mut |_, _| true), 0);
    }

    #[test]
    fn a_burst_that_the_socket_takes_is_not_an_overflow() {
        let mut hub = hub(16);
        let mut peer = add(&mut hub, 1, 0);
        // 100 messages in one round, six times the outbox: they go to the writer as they come.
        for n in 0..100u8 {
            hub.send(1, &Message::binary(vec![n]));
        }
        hub.flush();
        assert!(hub.closing.is_empty(), "closed for a burst its socket took");
        let got = read_n(&mut peer, 300);
        assert!(got.chunks(3).enumerate().all(|(n, f)| f == [0x82, 1, n as u8]), "in order");
    }

    #[test]
    fn a_server_close_sends_the_close_frame_after_the_data() {
        let mut hub = hub(16);
        let mut peer = add(&mut hub, 1, 0);
        hub.send(1, &Message::text("hi"));
        hub.remove(1, Some((1000, "bye")));
        assert_eq!(read_n(&mut peer, 4), [0x81, 2, b'h', b'i']);
        assert_eq!(read_n(&mut peer, 7), [0x88, 5, 0x03, 0xE8, b'b', b'y', b'e']);
    }

    #[test]
    fn a_backend_gets_lines_an_error_line_at_a_close_and_the_end_of_the_stream() {
        let mut hub = hub(16);
        let (writer, mut peer) = connection();
        hub.add(1, info(0, ClientKind::Socket { greeted: false }), writer, None);
        hub.send(1, &Message::text("{\"a\":1}"));
        hub.send(1, &Message::binary(vec![1, 2])); // no line form: skipped
        hub.remove(1, Some((1001, "keepalive timeout")));
        let mut got = String::new();
        peer.read_to_string(&mut got).unwrap();
        assert_eq!(
            got,
            "{\"a\":1}\n{\"opcode\":\"error\",\"message\":\"closed by the server: keepalive timeout\"}\n"
        );
    }

    #[test]
    fn quit_ends_a_backend_with_no_line() {
        let mut hub = hub(16);
        let (writer, mut peer) = connection();
        hub.add(1, info(0, ClientKind::Socket { greeted: true }), writer, None);
        hub.remove(1, Some((1000, "quit")));
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        assert!(got.is_empty());
    }
}
