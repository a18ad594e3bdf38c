//! The client registry: who is connected, to which app and rooms, and the
//! batches of messages waiting to be handed to each client's thread.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;
use log::warn;
use tungstenite::Message;

use super::{Event, Outgoing};

/// A connection's id, unique for the life of the server; Ratchet calls it `resourceId`.
pub type ClientId = u64;

/// Index of an app in the server's app table.
pub type AppId = usize;

/// How a client is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// A WebSocket client: a browser page, or any other WebSocket library.
    WebSocket,
    /// A backend script on a plain TCP socket sending JSON objects (spec §3.5).
    Socket,
}

/// What the dispatcher knows about a client, readable by apps through [`crate::Ctx::info`].
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// The peer's address.
    pub peer: SocketAddr,
    /// How it is connected.
    pub kind: ClientKind,
    /// The part of the path the route matched as a parameter, e.g. the room
    /// name of `/ws/room/NAME`; empty for exact routes.
    pub param: String,
    pub(crate) app: AppId,
}

/// State shared between the dispatcher and one client's threads.
#[derive(Debug)]
pub struct ClientShared {
    /// Messages handed to the client thread and not yet written.
    pub(crate) queued: AtomicUsize,
    /// Set when the dispatcher closed the client because its outbox was full:
    /// the client thread then skips queued data and sends its close frame.
    pub(crate) abandon: AtomicBool,
    /// When the peer last sent anything, in ms since the server started.
    pub(crate) last_seen_ms: AtomicU64,
    /// The connection, so that the dispatcher can shut down one that is stuck.
    pub(crate) socket: Arc<TcpStream>,
}

impl ClientShared {
    pub(crate) fn new(socket: Arc<TcpStream>, now_ms: u64) -> Self {
        ClientShared {
            queued: AtomicUsize::new(0),
            abandon: AtomicBool::new(false),
            last_seen_ms: AtomicU64::new(now_ms),
            socket,
        }
    }
}

/// The dispatcher's end of a client: its outbox and shared state.
#[derive(Debug)]
pub struct ClientHandle {
    pub(crate) outbox: Sender<Outgoing>,
    pub(crate) shared: Arc<ClientShared>,
}

#[derive(Debug)]
struct Client {
    info: ClientInfo,
    handle: ClientHandle,
    /// Messages sent during this round, handed over as one batch by [`Hub::flush`].
    pending: Vec<Message>,
    rooms: Vec<String>,
    /// A close was requested; nothing more is queued for it.
    doomed: bool,
}

/// A close that an app, the outbox rule or keepalive asked for.
#[derive(Debug)]
pub(crate) struct CloseRequest {
    pub id: ClientId,
    pub code: u16,
    pub reason: String,
}

/// Counters for `/api/status`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Stats {
    pub messages_in: u64,
    pub messages_out: u64,
}

/// The registry the dispatcher owns. Apps reach it through [`crate::Ctx`].
#[derive(Debug)]
pub struct Hub {
    clients: HashMap<ClientId, Client>,
    members: Vec<HashSet<ClientId>>,
    rooms: HashMap<(AppId, String), HashSet<ClientId>>,
    dirty: Vec<ClientId>,
    pub(crate) closing: Vec<CloseRequest>,
    outbox_size: usize,
    pub(crate) stats: Stats,
    pub(crate) events: Sender<Event>,
    pub(crate) started: Instant,
}

impl Hub {
    pub(crate) fn new(apps: usize, outbox_size: usize, events: Sender<Event>) -> Self {
        Hub {
            clients: HashMap::new(),
            members: vec![HashSet::new(); apps],
            rooms: HashMap::new(),
            dirty: Vec::new(),
            closing: Vec::new(),
            outbox_size,
            stats: Stats::default(),
            events,
            started: Instant::now(),
        }
    }

    pub(crate) fn add(&mut self, id: ClientId, info: ClientInfo, handle: ClientHandle) {
        self.members[info.app].insert(id);
        let client = Client { info, handle, pending: Vec::new(), rooms: Vec::new(), doomed: false };
        self.clients.insert(id, client);
    }

    /// Removes a client: hands over what is still pending (unless `abandon`),
    /// then drops its outbox so that its thread can finish. Returns its info.
    pub(crate) fn remove(&mut self, id: ClientId, last: Option<Outgoing>) -> Option<ClientInfo> {
        let mut client = self.clients.remove(&id)?;
        self.members[client.info.app].remove(&id);
        for room in client.rooms.drain(..) {
            let key = (client.info.app, room);
            if let Some(set) = self.rooms.get_mut(&key) {
                set.remove(&id);
                if set.is_empty() {
                    self.rooms.remove(&key);
                }
            }
        }
        let abandon = client.handle.shared.abandon.load(Ordering::Relaxed);
        if !client.pending.is_empty() && !abandon {
            hand_over(&mut client);
        }
        if let Some(last) = last {
            let _ = client.handle.outbox.send(last);
        }
        Some(client.info)
    }

    pub(crate) fn contains(&self, id: ClientId) -> bool {
        self.clients.contains_key(&id)
    }

    pub(crate) fn info(&self, id: ClientId) -> Option<&ClientInfo> {
        self.clients.get(&id).map(|c| &c.info)
    }

    pub(crate) fn handle(&self, id: ClientId) -> Option<&ClientHandle> {
        self.clients.get(&id).map(|c| &c.handle)
    }

    pub(crate) fn ids(&self) -> Vec<ClientId> {
        self.clients.keys().copied().collect()
    }

    pub(crate) fn app_count(&self, app: AppId) -> usize {
        self.members[app].len()
    }

    pub(crate) fn members(&self, app: AppId) -> impl Iterator<Item = ClientId> + '_ {
        self.members[app].iter().copied()
    }

    pub(crate) fn room(&self, app: AppId, room: &str) -> impl Iterator<Item = ClientId> + '_ {
        // Looking up by (AppId, String) needs an owned key; rooms are few per call.
        self.rooms.get(&(app, room.to_string())).into_iter().flatten().copied()
    }

    pub(crate) fn join(&mut self, app: AppId, id: ClientId, room: &str) {
        let Some(client) = self.clients.get_mut(&id) else { return };
        if client.info.app != app || client.rooms.iter().any(|r| r == room) {
            return;
        }
        client.rooms.push(room.to_string());
        self.rooms.entry((app, room.to_string())).or_default().insert(id);
    }

    pub(crate) fn leave(&mut self, app: AppId, id: ClientId, room: &str) {
        if let Some(client) = self.clients.get_mut(&id) {
            client.rooms.retain(|r| r != room);
        }
        let key = (app, room.to_string());
        if let Some(set) = self.rooms.get_mut(&key) {
            set.remove(&id);
            if set.is_empty() {
                self.rooms.remove(&key);
            }
        }
    }

    /// Queues `msg` for client `id`. A client whose outbox is full is closed with 1008.
    pub(crate) fn send(&mut self, id: ClientId, msg: Message) {
        let Some(client) = self.clients.get_mut(&id) else { return };
        queue(client, id, msg, self.outbox_size, &mut self.dirty, &mut self.closing, &mut self.stats);
    }

    /// Queues `msg` for every member of `app` (or of one of its rooms) for which `keep` holds.
    pub(crate) fn send_many(
        &mut self,
        app: AppId,
        room: Option<&str>,
        msg: &Message,
        mut keep: impl FnMut(ClientId, &ClientInfo) -> bool,
    ) -> usize {
        let Hub { clients, members, rooms, dirty, closing, stats, outbox_size, .. } = self;
        let set = match room {
            None => Some(&members[app]),
            Some(r) => rooms.get(&(app, r.to_string())),
        };
        let mut sent = 0;
        for &id in set.into_iter().flatten() {
            if let Some(client) = clients.get_mut(&id) {
                if keep(id, &client.info)
                    && queue(client, id, msg.clone(), *outbox_size, dirty, closing, stats)
                {
                    sent += 1;
                }
            }
        }
        sent
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

    /// Hands every client its pending messages as one batch: one wake-up per
    /// client per round, however many messages it got.
    pub(crate) fn flush(&mut self) {
        for id in self.dirty.drain(..) {
            if let Some(client) = self.clients.get_mut(&id) {
                if !client.pending.is_empty() {
                    hand_over(client);
                }
            }
        }
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

fn hand_over(client: &mut Client) {
    let batch = std::mem::take(&mut client.pending);
    client.handle.shared.queued.fetch_add(batch.len(), Ordering::Relaxed);
    // The outbox is unbounded in slots; its bound is the `queued` count,
    // checked in `queue`. A send error means the client thread is gone and
    // its Close event is on the way.
    let _ = client.handle.outbox.send(Outgoing::Batch(batch));
}

fn queue(
    client: &mut Client,
    id: ClientId,
    msg: Message,
    outbox_size: usize,
    dirty: &mut Vec<ClientId>,
    closing: &mut Vec<CloseRequest>,
    stats: &mut Stats,
) -> bool {
    if client.doomed {
        return false;
    }
    let queued = client.handle.shared.queued.load(Ordering::Relaxed) + client.pending.len();
    if queued >= outbox_size {
        warn!(
            "client {id} ({}): outbox full ({queued} messages queued, limit {outbox_size}), closing with 1008",
            client.info.peer
        );
        client.doomed = true;
        client.handle.shared.abandon.store(true, Ordering::Relaxed);
        client.pending.clear();
        closing.push(CloseRequest { id, code: 1008, reason: "outbox full".into() });
        return false;
    }
    if client.pending.is_empty() {
        dirty.push(id);
    }
    // `/api/status` counts data messages; keepalive pings are not among them.
    if msg.is_text() || msg.is_binary() {
        stats.messages_out += 1;
    }
    client.pending.push(msg);
    true
}
