//! [`Ctx`]: what an app's hooks act through, and [`Clients`], the registry
//! behind it (the dispatcher's, or [`crate::TestCtx`]'s recorder in tests).

use std::any::Any;
use std::sync::Arc;

use serde::Serialize;

use super::client::{AppId, ClientId, ClientInfo, CloseStatus};
use super::message::Message;

/// Who a broadcast goes to (before its filter).
#[derive(Debug, Clone, Copy)]
pub enum Audience<'a> {
    /// Every client of the app.
    App,
    /// The members of one room of the app.
    Room(&'a str),
    /// The members of every room this client is in (each once).
    RoomsOf(ClientId),
}

/// The client registry as app hooks see it. The server's dispatcher
/// implements it; so does the recorder behind [`crate::TestCtx`]. Apps use
/// it through [`Ctx`], never directly.
pub trait Clients {
    /// Queues `message` (encoded once) for each of `to`; unknown or closing clients are skipped.
    fn send(&mut self, to: &[ClientId], message: &Message);
    /// Queues `message` for the `audience` of `app` for which `keep` holds; returns how many.
    fn broadcast(
        &mut self,
        app: AppId,
        audience: Audience<'_>,
        message: &Message,
        keep: &mut dyn FnMut(ClientId, &ClientInfo) -> bool,
    ) -> usize;
    /// Puts `client` (of `app`) in `room`.
    fn join(&mut self, app: AppId, client: ClientId, room: &str);
    /// Takes `client` out of `room`.
    fn leave(&mut self, app: AppId, client: ClientId, room: &str);
    /// The clients of `app`, or of one of its rooms.
    fn members(&self, app: AppId, room: Option<&str>) -> Vec<ClientId>;
    /// The rooms `client` is in.
    fn rooms_of(&self, client: ClientId) -> Vec<String>;
    /// What is known about `client`.
    fn info(&self, client: ClientId) -> Option<&ClientInfo>;
    /// Asks for `client` to be closed once the current hook returns.
    fn close(&mut self, client: ClientId, code: u16, reason: &str);
    /// A handle for `app`'s helper threads.
    fn notifier(&self, app: AppId) -> Notifier;
    /// Whether an inspector is open (then [`Clients::trace`] may show lines).
    fn tracing(&self) -> bool {
        false
    }
    /// Shows `line`, exchanged with something behind the app about
    /// `client` (`to_app`: toward it), to an inspector watching `client`.
    fn trace(&mut self, _client: ClientId, _to_app: bool, _line: &str) {}
}

/// What an app hook acts through: sending, rooms, closing, client info.
///
/// Messages are encoded once and queued; when the hook returns and the
/// dispatcher's round ends, each client gets everything it was sent in one
/// write.
pub struct Ctx<'a> {
    /// The registry.
    clients: &'a mut dyn Clients,
    /// The app whose hook runs.
    app: AppId,
    /// In `on_close`: how the client's connection ended.
    closed: Option<&'a CloseStatus>,
}

impl<'a> Ctx<'a> {
    /// A context for `app`'s hooks over `clients`.
    pub fn new(clients: &'a mut dyn Clients, app: AppId) -> Self {
        Ctx { clients, app, closed: None }
    }

    /// A context for `app`'s `on_close`, which tells how the client left.
    pub fn for_close(clients: &'a mut dyn Clients, app: AppId, status: &'a CloseStatus) -> Self {
        Ctx { clients, app, closed: Some(status) }
    }

    /// In `on_close`: the close code and reason and who closed (see
    /// [`CloseStatus`]); `None` in the other hooks.
    pub fn close_status(&self) -> Option<&CloseStatus> {
        self.closed
    }

    /// Sends `message` to one client. Unknown or closed clients are skipped.
    pub fn send(&mut self, client: ClientId, message: impl Into<Message>) {
        self.clients.send(&[client], &message.into());
    }

    /// Sends `value` as JSON text to one client.
    pub fn send_json(&mut self, client: ClientId, value: &impl Serialize) {
        self.clients.send(&[client], &Message::json(value));
    }

    /// Sends `message` to each of `clients`; it is encoded once.
    pub fn send_to(&mut self, clients: &[ClientId], message: impl Into<Message>) {
        self.clients.send(clients, &message.into());
    }

    /// Sends `message` to every client of this app. Returns how many got it.
    pub fn broadcast(&mut self, message: impl Into<Message>) -> usize {
        self.clients.broadcast(self.app, Audience::App, &message.into(), &mut |_, _| true)
    }

    /// Sends `value` as JSON text to every client of this app.
    pub fn broadcast_json(&mut self, value: &impl Serialize) -> usize {
        self.broadcast(Message::json(value))
    }

    /// Sends `message` to every client of this app but `except` (the sender, usually).
    pub fn broadcast_except(&mut self, except: ClientId, message: impl Into<Message>) -> usize {
        self.clients.broadcast(self.app, Audience::App, &message.into(), &mut |id, _| id != except)
    }

    /// Sends `message` to every client of this app for which `keep` holds.
    pub fn broadcast_if(
        &mut self,
        message: impl Into<Message>,
        mut keep: impl FnMut(ClientId, &ClientInfo) -> bool,
    ) -> usize {
        self.clients.broadcast(self.app, Audience::App, &message.into(), &mut keep)
    }

    /// Sends `message` to every member of `room` (rooms belong to this app).
    pub fn broadcast_room(&mut self, room: &str, message: impl Into<Message>) -> usize {
        self.clients.broadcast(self.app, Audience::Room(room), &message.into(), &mut |_, _| true)
    }

    /// Sends `value` as JSON text to every member of `room`.
    pub fn broadcast_room_json(&mut self, room: &str, value: &impl Serialize) -> usize {
        self.broadcast_room(room, Message::json(value))
    }

    /// Sends `message` to everyone in the rooms `client` is in (`client`
    /// included when it is in one), without naming them.
    pub fn broadcast_rooms_of(&mut self, client: ClientId, message: impl Into<Message>) -> usize {
        self.clients.broadcast(self.app, Audience::RoomsOf(client), &message.into(), &mut |_, _| true)
    }

    /// Puts `client` in `room`; a room exists while it has members.
    pub fn join(&mut self, client: ClientId, room: &str) {
        self.clients.join(self.app, client, room);
    }

    /// Takes `client` out of `room`.
    pub fn leave(&mut self, client: ClientId, room: &str) {
        self.clients.leave(self.app, client, room);
    }

    /// The members of `room`.
    pub fn room_members(&self, room: &str) -> Vec<ClientId> {
        self.clients.members(self.app, Some(room))
    }

    /// The rooms `client` is in.
    pub fn rooms_of(&self, client: ClientId) -> Vec<String> {
        self.clients.rooms_of(client)
    }

    /// Every client of this app.
    pub fn clients(&self) -> Vec<ClientId> {
        self.clients.members(self.app, None)
    }

    /// Whether `client` is connected.
    pub fn is_open(&self, client: ClientId) -> bool {
        self.clients.info(client).is_some()
    }

    /// What is known about `client`: address, path, query, headers (see [`ClientInfo`]).
    pub fn info(&self, client: ClientId) -> Option<&ClientInfo> {
        self.clients.info(client)
    }

    /// Closes `client` normally (1000) after what was sent to it so far;
    /// the app's `on_close` follows. Ratchet's `$conn->close()`.
    pub fn close(&mut self, client: ClientId) {
        self.clients.close(client, 1000, "");
    }

    /// Closes `client` with a WebSocket close `code` (1000 normal, 1008
    /// policy, 1011 error, 4000-4999 your own) and `reason`.
    pub fn close_with(&mut self, client: ClientId, code: u16, reason: &str) {
        self.clients.close(client, code, reason);
    }

    /// Whether an inspector is open: an app that talks to a process of its
    /// own (a script app) then shows the lines it exchanges, with [`Ctx::trace`].
    pub fn is_traced(&self) -> bool {
        self.clients.tracing()
    }

    /// Shows `line`, which the app exchanged about `client` with a process
    /// of its own (`to_app`: sent to it), to an inspector watching `client`.
    pub fn trace(&mut self, client: ClientId, to_app: bool, line: &str) {
        self.clients.trace(client, to_app, line);
    }

    /// A handle that other threads use to send this app values, which arrive
    /// in [`crate::App::on_notify`] on the dispatcher thread.
    pub fn notifier(&self) -> Notifier {
        self.clients.notifier(self.app)
    }
}

/// Sends values from an app's helper thread back to the app (see [`crate::App::on_notify`]).
#[derive(Clone)]
pub struct Notifier {
    /// Hands a payload to the app; false once the server has stopped.
    deliver: Arc<dyn Fn(Box<dyn Any + Send>) -> bool + Send + Sync>,
}

impl Notifier {
    /// A notifier that hands payloads to `deliver`.
    pub fn new(deliver: impl Fn(Box<dyn Any + Send>) -> bool + Send + Sync + 'static) -> Notifier {
        Notifier { deliver: Arc::new(deliver) }
    }

    /// Delivers `payload` to the app's `on_notify`. Returns false once the
    /// server has stopped.
    pub fn notify<T: Any + Send>(&self, payload: T) -> bool {
        (self.deliver)(Box::new(payload))
    }
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notifier")
    }
}
