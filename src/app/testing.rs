//! [`TestCtx`]: runs an app's hooks without a server, and records what the
//! app sent, to whom, and whom it closed. For unit tests of apps.

use std::any::Any;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver, Sender};

use serde_json::Value;

use super::client::{parse_query, AppId, ClientId, ClientInfo, ClientKind, CloseStatus};
use super::ctx::{Audience, Clients, Ctx, Notifier};
use super::hooks::{guarded, App};
use super::http::{ApiRequest, ApiResponse};
use super::message::Message;

/// A close an app asked for (or a 1011 after a panic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The client.
    pub client: ClientId,
    /// The close code.
    pub code: u16,
    /// The reason.
    pub reason: String,
}

/// Drives an [`App`] the way the server does (hooks one at a time, closes
/// after the hook, `on_close` after a close, a panic caught, `on_error`
/// told and the client closed with 1011) and records what it sent.
///
/// ```
/// use wslab::{App, ClientId, Ctx, Message, TestCtx};
///
/// struct Shout;
/// impl App for Shout {
///     fn on_message(&mut self, ctx: &mut Ctx, client: ClientId, message: Message) {
///         if let Some(text) = message.as_text() {
///             ctx.broadcast(text.to_uppercase());
///         }
///     }
/// }
///
/// let mut t = TestCtx::new();
/// let mut app = Shout;
/// let a = t.open(&mut app, "/ws/shout");
/// let b = t.open(&mut app, "/ws/shout");
/// t.message(&mut app, a, "hi");
/// assert_eq!(t.texts_to(b), ["HI"]);
/// assert_eq!(t.texts_to(a), ["HI"]);
/// ```
#[derive(Default)]
pub struct TestCtx {
    /// The clients and what they were sent.
    recorder: Recorder,
    /// The next client id.
    next_id: ClientId,
}

/// A test client: its info, rooms and whether a close was asked for.
#[derive(Debug)]
struct Entry {
    /// What the app sees.
    info: ClientInfo,
    /// Its rooms.
    rooms: Vec<String>,
    /// A close was asked for: it gets nothing more.
    closing: bool,
}

/// The [`Clients`] behind a [`TestCtx`].
struct Recorder {
    /// Connected clients, by id.
    clients: BTreeMap<ClientId, Entry>,
    /// Everything sent, in order.
    sent: Vec<(ClientId, Message)>,
    /// Closes asked for in the current hook.
    closing: Vec<Closed>,
    /// Closes carried out.
    closed: Vec<Closed>,
    /// Where notifiers send what helper threads hand them.
    notify_tx: Sender<Box<dyn Any + Send>>,
    /// What helper threads sent through notifiers, not yet taken.
    notified: Receiver<Box<dyn Any + Send>>,
}

impl Default for Recorder {
    fn default() -> Self {
        let (notify_tx, notified) = unbounded();
        Recorder {
            clients: BTreeMap::new(),
            sent: Vec::new(),
            closing: Vec::new(),
            closed: Vec::new(),
            notify_tx,
            notified,
        }
    }
}

impl Clients for Recorder {
    fn send(&mut self, to: &[ClientId], message: &Message) {
        for id in to {
            if self.clients.get(id).is_some_and(|e| !e.closing) {
                self.sent.push((*id, message.clone()));
            }
        }
    }

    fn broadcast(
        &mut self,
        _app: AppId,
        audience: Audience<'_>,
        message: &Message,
        keep: &mut dyn FnMut(ClientId, &ClientInfo) -> bool,
    ) -> usize {
        let rooms: Vec<String> = match audience {
            Audience::App => Vec::new(),
            Audience::Room(room) => vec![room.to_string()],
            Audience::RoomsOf(client) => self.rooms_of(client),
        };
        let mut n = 0;
        for (id, entry) in &self.clients {
            let member = matches!(audience, Audience::App) || entry.rooms.iter().any(|r| rooms.contains(r));
            if member && !entry.closing && keep(*id, &entry.info) {
                self.sent.push((*id, message.clone()));
                n += 1;
            }
        }
        n
    }

    fn join(&mut self, _app: AppId, client: ClientId, room: &str) {
        if let Some(entry) = self.clients.get_mut(&client) {
            if !entry.rooms.iter().any(|r| r == room) {
                entry.rooms.push(room.to_string());
            }
        }
    }

    fn leave(&mut self, _app: AppId, client: ClientId, room: &str) {
        if let Some(entry) = self.clients.get_mut(&client) {
            entry.rooms.retain(|r| r != room);
        }
    }

    fn members(&self, _app: AppId, room: Option<&str>) -> Vec<ClientId> {
        self.clients
            .iter()
            .filter(|(_, e)| room.is_none_or(|room| e.rooms.iter().any(|r| r == room)))
            .map(|(id, _)| *id)
            .collect()
    }

    fn rooms_of(&self, client: ClientId) -> Vec<String> {
        self.clients.get(&client).map(|e| e.rooms.clone()).unwrap_or_default()
    }

    fn info(&self, client: ClientId) -> Option<&ClientInfo> {
        self.clients.get(&client).map(|e| &e.info)
    }

    fn close(&mut self, client: ClientId, code: u16, reason: &str) {
        if let Some(entry) = self.clients.get_mut(&client) {
            if !entry.closing {
                entry.closing = true;
                self.closing.push(Closed { client, code, reason: reason.to_string() });
            }
        }
    }

    fn notifier(&self, _app: AppId) -> Notifier {
        let tx = self.notify_tx.clone();
        Notifier::new(move |payload| tx.send(payload).is_ok())
    }
}

impl TestCtx {
    /// No clients yet.
    pub fn new() -> TestCtx {
        TestCtx { recorder: Recorder::default(), next_id: 1 }
    }

    /// A context for calling an app's hooks by hand.
    pub fn ctx(&mut self) -> Ctx<'_> {
        Ctx::new(&mut self.recorder, 0)
    }

    /// Adds a WebSocket client that opened `path` (with its query string, if
    /// any), without calling `on_open`. Returns its id.
    pub fn connect(&mut self, path: &str) -> ClientId {
        let peer: SocketAddr = ([127, 0, 0, 1], 40000 + (self.next_id % 20000) as u16).into();
        let mut info = ClientInfo::new(0, peer, ClientKind::WebSocket);
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        info.path = path.to_string();
        info.query = parse_query(query);
        info.query_string = query.to_string();
        self.add(info)
    }

    /// Adds a client described by `info` (its `id` is replaced by a fresh one)
    /// without calling `on_open`. Returns its id.
    pub fn add(&mut self, mut info: ClientInfo) -> ClientId {
        let id = self.next_id;
        self.next_id += 1;
        info.id = id;
        self.recorder.clients.insert(id, Entry { info, rooms: Vec::new(), closing: false });
        id
    }

    /// Adds a WebSocket client on `path` and runs `on_open`.
    pub fn open(&mut self, app: &mut dyn App, path: &str) -> ClientId {
        let id = self.connect(path);
        self.run(app, Some(id), "on_open", |a, ctx| a.on_open(ctx, id));
        id
    }

    /// Adds the client `info` and runs `on_open`.
    pub fn open_with(&mut self, app: &mut dyn App, info: ClientInfo) -> ClientId {
        let id = self.add(info);
        self.run(app, Some(id), "on_open", |a, ctx| a.on_open(ctx, id));
        id
    }

    /// `client` sends `message`: runs `on_message`.
    pub fn message(&mut self, app: &mut dyn App, client: ClientId, message: impl Into<Message>) {
        let message = message.into();
        self.run(app, Some(client), "on_message", |a, ctx| a.on_message(ctx, client, message));
    }

    /// `client` sends `value` as JSON text.
    pub fn message_json(&mut self, app: &mut dyn App, client: ClientId, value: Value) {
        self.message(app, client, value);
    }

    /// `client` closes normally (1000): it is removed, then `on_close` runs.
    pub fn disconnect(&mut self, app: &mut dyn App, client: ClientId) {
        self.disconnect_with(app, client, CloseStatus::peer(1000, ""));
    }

    /// `client` goes away as `status` tells (e.g. [`CloseStatus::dropped`]):
    /// it is removed, then `on_close` runs with `status` in its context.
    pub fn disconnect_with(&mut self, app: &mut dyn App, client: ClientId, status: CloseStatus) {
        if self.recorder.clients.remove(&client).is_some() {
            self.run_as(app, None, "on_close", Some(&status), |a, ctx| a.on_close(ctx, client));
        }
    }

    /// `client` broke the protocol: `on_error`, then the server closes it
    /// with 1002 (`on_close`).
    pub fn fail(&mut self, app: &mut dyn App, client: ClientId, error: &str) {
        self.run(app, Some(client), "on_error", |a, ctx| a.on_error(ctx, client, error));
        self.disconnect_with(app, client, CloseStatus::server(1002, "protocol error"));
    }

    /// An HTTP request to one of the app's `/api` routes.
    pub fn request(&mut self, app: &mut dyn App, request: &ApiRequest) -> Option<ApiResponse> {
        let mut response = None;
        self.run(app, None, "on_request", |a, ctx| response = a.on_request(ctx, request));
        response
    }

    /// Hands `payload` to `on_notify`, as a helper thread's notifier would.
    pub fn notify(&mut self, app: &mut dyn App, payload: Box<dyn Any + Send>) {
        self.run(app, None, "on_notify", |a, ctx| a.on_notify(ctx, payload));
    }

    /// Takes what the app's helper threads sent through its notifiers so far.
    pub fn notified(&mut self) -> Vec<Box<dyn Any + Send>> {
        self.recorder.notified.try_iter().collect()
    }

    /// Waits (at most `timeout`) for the next value a helper thread sends
    /// through a notifier, and hands it to `on_notify`, as the dispatcher
    /// would. False when none came in time.
    pub fn deliver_next(&mut self, app: &mut dyn App, timeout: Duration) -> bool {
        match self.recorder.notified.recv_timeout(timeout) {
            Ok(payload) => {
                self.notify(app, payload);
                true
            }
            Err(_) => false,
        }
    }

    /// Runs `on_start`.
    pub fn start(&mut self, app: &mut dyn App) {
        self.run(app, None, "on_start", |a, ctx| a.on_start(ctx));
    }

    /// Runs `on_shutdown` (the clients are still open).
    pub fn shutdown(&mut self, app: &mut dyn App) {
        self.run(app, None, "on_shutdown", |a, ctx| a.on_shutdown(ctx));
    }

    /// Runs `on_stop`.
    pub fn stop(&mut self, app: &mut dyn App) {
        self.run(app, None, "on_stop", |a, ctx| a.on_stop(ctx));
    }

    /// Takes everything sent so far, in order.
    pub fn sent(&mut self) -> Vec<(ClientId, Message)> {
        std::mem::take(&mut self.recorder.sent)
    }

    /// Takes what was sent to `client` so far.
    pub fn sent_to(&mut self, client: ClientId) -> Vec<Message> {
        let (mine, rest) =
            std::mem::take(&mut self.recorder.sent).into_iter().partition(|(id, _)| *id == client);
        self.recorder.sent = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }

    /// Takes what was sent to `client`, as text (binary messages as `<binary>`).
    pub fn texts_to(&mut self, client: ClientId) -> Vec<String> {
        self.sent_to(client).iter().map(|m| m.as_text().unwrap_or("<binary>").to_string()).collect()
    }

    /// Takes what was sent to `client`, parsed as JSON (`Null` for what is not JSON).
    pub fn json_to(&mut self, client: ClientId) -> Vec<Value> {
        self.sent_to(client).iter().map(|m| m.parse_json().unwrap_or(Value::Null)).collect()
    }

    /// Takes the closes carried out so far.
    pub fn closed(&mut self) -> Vec<Closed> {
        std::mem::take(&mut self.recorder.closed)
    }

    /// Whether `client` is connected.
    pub fn is_open(&self, client: ClientId) -> bool {
        self.recorder.clients.contains_key(&client)
    }

    /// The rooms `client` is in.
    pub fn rooms_of(&self, client: ClientId) -> Vec<String> {
        self.recorder.rooms_of(client)
    }

    /// Runs one hook as the dispatcher does, then carries out the closes it
    /// asked for (each followed by `on_close`).
    fn run(
        &mut self,
        app: &mut dyn App,
        client: Option<ClientId>,
        hook: &str,
        f: impl FnOnce(&mut dyn App, &mut Ctx),
    ) {
        self.run_as(app, client, hook, None, f);
    }

    /// [`Self::run`], with `closed` in the hook's context (for `on_close`).
    fn run_as(
        &mut self,
        app: &mut dyn App,
        client: Option<ClientId>,
        hook: &str,
        closed: Option<&CloseStatus>,
        f: impl FnOnce(&mut dyn App, &mut Ctx),
    ) {
        {
            let mut ctx = match closed {
                Some(status) => Ctx::for_close(&mut self.recorder, 0, status),
                None => Ctx::new(&mut self.recorder, 0),
            };
            guarded(app, &mut ctx, "test", hook, client, f);
        }
        while !self.recorder.closing.is_empty() {
            for close in std::mem::take(&mut self.recorder.closing) {
                if self.recorder.clients.remove(&close.client).is_none() {
                    continue;
                }
                let id = close.client;
                let status = CloseStatus::server(close.code, close.reason.clone());
                self.recorder.closed.push(close);
                let mut ctx = Ctx::for_close(&mut self.recorder, 0, &status);
                guarded(app, &mut ctx, "test", "on_close", None, |a, ctx| a.on_close(ctx, id));
            }
        }
    }
}
