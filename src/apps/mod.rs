//! The app trait, the context apps act through, and the path → app table.
//!
//! # Adding an app
//!
//! 1. Write a type that implements [`App`] in a file of its own (see
//!    `echo.rs`, the smallest, or `examples/hello_app.rs`).
//! 2. Mount it on a path: `server.mount("/ws/hello", Hello::default())` in
//!    your own `main`, or add one line to [`builtin`] to ship it with wslab.
//!
//! Apps run on the dispatcher thread, one hook at a time, so they need no
//! locks. They never touch sockets: every hook gets a [`Ctx`] through which
//! it sends, broadcasts, joins rooms and closes clients.

pub mod chat;
pub mod echo;
pub mod relay;
pub mod room;
pub mod workshop;

use std::any::Any;

use crossbeam_channel::Sender;
use serde_json::Value;
pub use tungstenite::Message;

use crate::config::Config;
use crate::dispatch::{AppId, ClientId, ClientInfo, Event, Hub};
use crate::error::Result;

/// A WebSocket app, in the shape of Ratchet's `MessageComponentInterface`.
///
/// Every hook runs on the dispatcher thread. A panic in a hook is caught: the
/// client it concerns is closed with 1011 and everyone else goes on.
pub trait App: Send + 'static {
    /// A client connected to this app (its handshake is done).
    fn on_open(&mut self, ctx: &mut Ctx, client: ClientId) {
        let _ = (ctx, client);
    }

    /// A client sent a text or binary message.
    fn on_message(&mut self, ctx: &mut Ctx, client: ClientId, message: Message);

    /// A client left: it closed, vanished, or was closed by the server. It can
    /// no longer be sent to.
    fn on_close(&mut self, ctx: &mut Ctx, client: ClientId) {
        let _ = (ctx, client);
    }

    /// A client's connection failed; `on_close` follows.
    fn on_error(&mut self, ctx: &mut Ctx, client: ClientId, error: &str) {
        let _ = (ctx, client, error);
    }

    /// Called once when the dispatcher starts, before any client. Apps that
    /// run helper threads start them here (see [`Ctx::notifier`]).
    fn on_start(&mut self, ctx: &mut Ctx) {
        let _ = ctx;
    }

    /// Called once when the server shuts down, after every client was closed.
    /// Finish pending work (such as writes to disk) before returning.
    fn on_stop(&mut self, ctx: &mut Ctx) {
        let _ = ctx;
    }

    /// An HTTP request to an `/api` route mounted for this app. `None` answers 404.
    fn on_request(&mut self, ctx: &mut Ctx, request: &ApiRequest) -> Option<ApiResponse> {
        let _ = (ctx, request);
        None
    }

    /// Something one of this app's helper threads sent through a [`Notifier`].
    fn on_notify(&mut self, ctx: &mut Ctx, payload: Box<dyn Any + Send>) {
        let _ = (ctx, payload);
    }
}

/// An HTTP request handed to [`App::on_request`].
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The request body (at most 64 KiB).
    pub body: Vec<u8>,
}

/// The answer to an [`ApiRequest`]: a status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// HTTP status code.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

impl ApiResponse {
    /// `200` with `body`.
    pub fn ok(body: Value) -> Self {
        ApiResponse { status: 200, body }
    }

    /// `status` with `{"ok":false,"error":message}`.
    pub fn error(status: u16, message: &str) -> Self {
        ApiResponse { status, body: serde_json::json!({"ok": false, "error": message}) }
    }
}

/// What an app hook acts through: sending, rooms, closing, client info.
///
/// Messages are encoded once and queued; when the dispatcher finishes its
/// round it writes each client everything it got in one non-blocking send.
pub struct Ctx<'a> {
    hub: &'a mut Hub,
    app: AppId,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(hub: &'a mut Hub, app: AppId) -> Self {
        Ctx { hub, app }
    }

    /// Sends `message` to one client. Unknown or closed clients are skipped.
    pub fn send(&mut self, client: ClientId, message: impl Into<Message>) {
        self.hub.send(client, &message.into());
    }

    /// Sends `message` to each of `clients`. The message is encoded once.
    pub fn send_to(&mut self, clients: &[ClientId], message: impl Into<Message>) {
        self.hub.send_list(clients, &message.into());
    }

    /// Sends `message` to every client of this app. Returns how many got it.
    pub fn broadcast(&mut self, message: impl Into<Message>) -> usize {
        self.hub.send_many(self.app, None, &message.into(), |_, _| true)
    }

    /// Sends `message` to every client of this app for which `keep` holds.
    pub fn broadcast_if(
        &mut self,
        message: impl Into<Message>,
        keep: impl FnMut(ClientId, &ClientInfo) -> bool,
    ) -> usize {
        self.hub.send_many(self.app, None, &message.into(), keep)
    }

    /// Sends `message` to every member of `room` (rooms belong to this app).
    pub fn broadcast_room(&mut self, room: &str, message: impl Into<Message>) -> usize {
        self.hub.send_many(self.app, Some(room), &message.into(), |_, _| true)
    }

    /// Puts `client` in `room`; a room exists while it has members.
    pub fn join(&mut self, client: ClientId, room: &str) {
        self.hub.join(self.app, client, room);
    }

    /// Takes `client` out of `room`.
    pub fn leave(&mut self, client: ClientId, room: &str) {
        self.hub.leave(self.app, client, room);
    }

    /// The members of `room`.
    pub fn room_members(&self, room: &str) -> Vec<ClientId> {
        self.hub.room(self.app, room).collect()
    }

    /// Every client of this app.
    pub fn clients(&self) -> Vec<ClientId> {
        self.hub.members(self.app).collect()
    }

    /// Whether `client` is connected (and not being closed).
    pub fn is_open(&self, client: ClientId) -> bool {
        self.hub.contains(client)
    }

    /// What is known about `client`: peer address, kind, path parameter.
    pub fn info(&self, client: ClientId) -> Option<&ClientInfo> {
        self.hub.info(client)
    }

    /// Closes `client` with a WebSocket close `code` (1000 normal, 1008
    /// policy, 1011 error, ...) after what was sent to it so far. The app's
    /// `on_close` follows.
    pub fn close(&mut self, client: ClientId, code: u16, reason: &str) {
        self.hub.close(client, code, reason);
    }

    /// A handle that other threads use to send this app values, which arrive
    /// in [`App::on_notify`] on the dispatcher thread.
    pub fn notifier(&self) -> Notifier {
        Notifier { app: self.app, events: self.hub.events.clone() }
    }
}

/// Sends values from an app's helper thread back to the app (see [`App::on_notify`]).
#[derive(Clone)]
pub struct Notifier {
    app: AppId,
    events: Sender<Event>,
}

impl Notifier {
    /// Delivers `payload` to the app's `on_notify`. Returns false once the
    /// server has stopped.
    pub fn notify<T: Any + Send>(&self, payload: T) -> bool {
        self.events.send(Event::Notify { app: self.app, payload: Box::new(payload) }).is_ok()
    }
}

/// Where a WebSocket upgrade goes: an app, and the path parameter for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The app.
    pub app: AppId,
    /// The parameter (e.g. a room name); empty for exact paths.
    pub param: String,
}

enum Pattern {
    Exact(String),
    Prefix(String, fn(&str) -> bool),
}

/// The path → app table, consulted by connection threads before the 101.
#[derive(Default)]
pub struct Routes {
    /// WebSocket paths: pattern, app, parameter.
    ws: Vec<(Pattern, AppId, String)>,
    /// `/api` paths and the app that answers them.
    api: Vec<(String, AppId)>,
    /// The app that takes plain-socket backend clients (spec §3.5), if any.
    backend: Option<AppId>,
}

impl Routes {
    /// Routes `path` exactly to `app`, with `param` as its parameter.
    pub(crate) fn exact(&mut self, path: &str, app: AppId, param: &str) {
        self.ws.push((Pattern::Exact(path.to_string()), app, param.to_string()));
    }

    /// Routes every `prefix` + NAME with `valid(NAME)` to `app`, NAME as parameter.
    pub(crate) fn prefix(&mut self, prefix: &str, app: AppId, valid: fn(&str) -> bool) {
        self.ws.push((Pattern::Prefix(prefix.to_string(), valid), app, String::new()));
    }

    /// Routes HTTP requests on `path` to `app`'s `on_request`.
    pub(crate) fn api(&mut self, path: &str, app: AppId) {
        self.api.push((path.to_string(), app));
    }

    /// The app for a WebSocket upgrade on `path`, if any.
    pub fn websocket(&self, path: &str) -> Option<Route> {
        self.ws.iter().find_map(|(pattern, app, param)| match pattern {
            Pattern::Exact(p) if p == path => Some(Route { app: *app, param: param.clone() }),
            Pattern::Prefix(p, valid) => {
                let rest = path.strip_prefix(p.as_str())?;
                valid(rest).then(|| Route { app: *app, param: rest.to_string() })
            }
            _ => None,
        })
    }

    /// Makes `app` the one that takes plain-socket backend clients.
    pub(crate) fn backends(&mut self, app: AppId) {
        self.backend = Some(app);
    }

    /// The app that takes plain-socket backend clients, if any.
    pub fn backend_app(&self) -> Option<AppId> {
        self.backend
    }

    /// The app that answers HTTP requests on `path`, if any.
    pub fn api_app(&self, path: &str) -> Option<AppId> {
        self.api.iter().find(|(p, _)| p == path).map(|(_, app)| *app)
    }
}

/// Where an app is mounted: its WebSocket path (or prefix) and its `/api` routes.
pub enum Mount {
    /// One exact path, e.g. `/ws/echo`.
    Path(&'static str),
    /// A prefix followed by a parameter that `valid` accepts, e.g. `/ws/room/NAME`.
    Prefix(&'static str, fn(&str) -> bool),
}

/// One app ready to be registered: its name, mount and instance.
pub struct Registration {
    /// Name used in logs, `/api/status` and `--root-app`.
    pub name: String,
    /// WebSocket path(s).
    pub mount: Mount,
    /// `/api/...` paths answered by [`App::on_request`].
    pub api: Vec<String>,
    /// Whether it takes the plain-socket backend clients of spec §3.5 (as
    /// [`crate::ClientKind::Socket`] clients); the last such app does.
    pub backends: bool,
    /// The app.
    pub app: Box<dyn App>,
}

/// The apps wslab ships, mounted at the paths of the protocol.
///
/// # Errors
///
/// An app whose configuration (files given on the command line) is invalid.
pub fn builtin(config: &Config) -> Result<Vec<Registration>> {
    Ok(vec![
        Registration {
            name: "echo".into(),
            mount: Mount::Path("/ws/echo"),
            api: vec![],
            backends: false,
            app: Box::new(echo::Echo),
        },
        Registration {
            name: "room".into(),
            mount: Mount::Prefix("/ws/room/", room::valid_name),
            api: vec![],
            backends: false,
            app: Box::new(room::Rooms),
        },
        Registration {
            name: "chat".into(),
            mount: Mount::Path("/ws/chat"),
            api: vec![],
            backends: false,
            app: Box::new(chat::Chat::default()),
        },
        Registration {
            name: "workshop".into(),
            mount: Mount::Path("/ws/workshop"),
            api: vec!["/api/workshops".into()],
            backends: false,
            app: Box::new(workshop::Workshops::new(config)?),
        },
        Registration {
            name: "relay".into(),
            mount: Mount::Path(relay::PATH),
            api: vec![relay::API_PATH.into()],
            backends: true,
            app: Box::new(relay::Relay::default()),
        },
    ])
}
