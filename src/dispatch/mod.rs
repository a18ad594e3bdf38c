//! The dispatcher thread: owns the client registry and the apps, turns
//! [`Event`]s from connection threads into app hook calls, and writes what
//! the apps send: each round's frames for a client in one non-blocking send.

pub mod clients;
pub mod inspector;

use std::any::Any;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{at, never, select, tick, Receiver, Sender};
use log::{debug, info, warn};
use serde_json::{json, Value};

use crate::app::hooks::guarded;
use crate::app::{
    ApiRequest, ApiResponse, App, AppId, ClientId, ClientInfo, ClientKind, CloseStatus, Ctx, Message,
};
use crate::inspect::{Handshake, Record, Switch};
use crate::wire::Writer;
pub use clients::Hub;
use inspector::Inspector;

/// How many events the dispatcher handles before it writes what they sent.
/// Bounds the latency a long burst can add to the first message in it.
const MAX_ROUND: usize = 4096;
/// How often the inspector's plots get a sample (while one is open).
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// How long a client closed by the server has to answer the close frame
/// (counted from when the frame went out) before its socket is shut down.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// What connection threads, HTTP handlers and app helpers tell the dispatcher.
///
/// Fields: `id` is the client concerned, `app` the app addressed, `reply`
/// where the answer goes.
#[allow(missing_docs)]
pub enum Event {
    /// A client finished its handshake and joined `info.app`; `writer` is
    /// where its bytes go.
    Open { id: ClientId, info: Box<ClientInfo>, writer: Arc<Writer>, handshake: Option<Box<Handshake>> },
    /// A client sent a text or binary message.
    Message { id: ClientId, message: Message },
    /// A client is gone (closed, failed, or its thread ended), as `status`
    /// tells. With `ack`, the dispatcher answers once it has let go of the
    /// client: everything sent to it before has been handed to its writer.
    Close { id: ClientId, status: Box<CloseStatus>, ack: Option<Sender<()>> },
    /// A client's connection failed with an error before it went away.
    Error { id: ClientId, error: String },
    /// An HTTP request for an app's `/api` route.
    Request { app: AppId, request: ApiRequest, reply: Sender<ApiResponse> },
    /// `GET /api/status`.
    Status { reply: Sender<Value> },
    /// Something an app's helper thread sent through a [`crate::Notifier`].
    Notify { app: AppId, payload: Box<dyn Any + Send> },
    /// Close every client with 1001, stop the apps, and end the thread.
    Shutdown,
}

/// A registered app and its name (used in logs and `/api/status`).
pub(crate) struct Slot {
    /// The name of its registration.
    pub name: String,
    /// The app.
    pub app: Box<dyn App>,
}

/// A client closed by the server, waiting for its peer's close reply.
struct Closing {
    /// When its socket is shut down if it is still open.
    at: Instant,
    /// Its writer.
    writer: Arc<Writer>,
}

impl PartialEq for Closing {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Closing {}
impl PartialOrd for Closing {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Closing {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at.cmp(&other.at)
    }
}

/// The dispatcher's state: the apps and the registry.
pub(crate) struct Dispatcher {
    /// The apps, by app id.
    apps: Vec<Slot>,
    /// The client registry.
    hub: Hub,
    /// `--ping-interval` (zero: no keepalive).
    ping_interval: Duration,
    /// Clients closed by the server, earliest deadline first.
    closing: BinaryHeap<Reverse<Closing>>,
    /// The inspector, unless `--no-inspect`.
    inspector: Option<Inspector>,
    /// The taps' records for the inspector (never ready without one).
    records: Receiver<Record>,
    /// The apps' names, by app id.
    names: Vec<String>,
}

impl Dispatcher {
    /// `started` is the server's clock start, the one writers stamp
    /// `last_seen` with; `inspect`, the inspector's app slot and switch.
    pub(crate) fn new(
        apps: Vec<Slot>,
        outbox_size: usize,
        ping_interval: Duration,
        events: Sender<Event>,
        started: Instant,
        inspect: Option<(AppId, Switch)>,
    ) -> Self {
        let hub = Hub::new(apps.len(), outbox_size, events, started);
        let names = apps.iter().map(|slot| slot.name.clone()).collect();
        let (inspector, records) = match inspect {
            Some((app, switch)) => {
                let (inspector, records) = Inspector::new(app, switch, started);
                (Some(inspector), records)
            }
            None => (None, never()),
        };
        Dispatcher { apps, hub, ping_interval, closing: BinaryHeap::new(), inspector, records, names }
    }

    /// Runs until [`Event::Shutdown`] or until every sender is gone.
    /// Returns the writers of the clients still closing, for the caller to
    /// shut down once its grace period is over.
    pub(crate) fn run(mut self, events: Receiver<Event>) -> Vec<Arc<Writer>> {
        for app in 0..self.apps.len() {
            self.call(app, None, "on_start", |a, ctx| a.on_start(ctx));
        }
        let ticker = if self.ping_interval.is_zero() { never() } else { tick(self.ping_interval) };
        let (sampler, no_sampler) = (tick(SAMPLE_EVERY), never());
        let records = self.records.clone();
        loop {
            let deadline = self.closing.peek().map_or_else(never, |c| at(c.0.at));
            let inspected = self.inspector.as_ref().is_some_and(Inspector::is_open);
            let sampler = if inspected { &sampler } else { &no_sampler };
            select! {
                recv(events) -> event => {
                    let Ok(event) = event else { break };
                    if !self.handle(event) {
                        break;
                    }
                    // Drain what else is queued, then hand out one batch per client.
                    let mut stop = false;
                    for _ in 0..MAX_ROUND {
                        match events.try_recv() {
                            Ok(event) => {
                                if !self.handle(event) {
                                    stop = true;
                                    break;
                                }
                            }
                            Err(_) => break,
                        }
                    }
                    self.hub.flush();
                    if stop {
                        break;
                    }
                }
                recv(ticker) -> _ => {
                    self.keepalive();
                    self.hub.flush();
                }
                recv(deadline) -> _ => self.expire_closes(),
                recv(records) -> record => {
                    let Ok(record) = record else { continue };
                    let mut batch = vec![record];
                    batch.extend(records.try_iter().take(MAX_ROUND));
                    if let Some(inspector) = self.inspector.as_mut() {
                        inspector.records(&mut self.hub, batch);
                    }
                    self.hub.flush();
                }
                recv(sampler) -> _ => {
                    if let Some(inspector) = self.inspector.as_mut() {
                        inspector.tick(&mut self.hub, &self.names);
                    }
                    self.hub.flush();
                }
            }
        }
        self.shutdown();
        self.closing.drain().map(|c| c.0.writer).collect()
    }

    /// Shuts down the sockets of closed clients that did not answer in
    /// time. A writer still sending (a slow reader) gets the time again
    /// from now: the peer cannot answer a close frame it has not read.
    fn expire_closes(&mut self) {
        let now = Instant::now();
        while self.closing.peek().is_some_and(|c| c.0.at <= now) {
            let Some(Reverse(closing)) = self.closing.pop() else { break };
            if closing.writer.is_drained() {
                closing.writer.shutdown();
            } else {
                self.closing.push(Reverse(Closing { at: now + CLOSE_TIMEOUT, writer: closing.writer }));
            }
        }
    }

    /// Handles one event; false means stop.
    fn handle(&mut self, event: Event) -> bool {
        match event {
            Event::Open { id, info, writer, handshake } => {
                let app = info.app;
                let param = if info.param.is_empty() { String::new() } else { format!(" {}", info.param) };
                info!("client {id} ({}) opened: {}{param}", info.peer, self.apps[app].name);
                self.hub.add(id, *info, writer, handshake);
                match self.inspector.as_mut().filter(|i| i.is_viewer_app(app)) {
                    Some(inspector) => inspector.viewer_open(&mut self.hub, id, &self.names),
                    None => self.call(app, Some(id), "on_open", |a, ctx| a.on_open(ctx, id)),
                }
            }
            Event::Message { id, message } => {
                let Some(app) = self.hub.received(id, message.len()) else { return true };
                match self.inspector.as_mut().filter(|i| i.is_viewer_app(app)) {
                    Some(inspector) => inspector.viewer_message(&mut self.hub, id, &message),
                    None => self.call(app, Some(id), "on_message", |a, ctx| a.on_message(ctx, id, message)),
                }
            }
            Event::Close { id, status, ack } => {
                if self.leave(id, false, &status) {
                    self.process_closes();
                }
                if let Some(ack) = ack {
                    let _ = ack.send(());
                }
            }
            Event::Error { id, error } => {
                self.hub.stats.errors += 1;
                if let Some(app) = self.hub.info(id).map(|i| i.app) {
                    self.call(app, Some(id), "on_error", |a, ctx| a.on_error(ctx, id, &error));
                }
            }
            Event::Request { app, request, reply } => {
                let mut response = None;
                self.call(app, None, "on_request", |a, ctx| response = a.on_request(ctx, &request));
                let response = response.unwrap_or_else(|| ApiResponse::error(404, "not found"));
                let _ = reply.send(response);
            }
            Event::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Event::Notify { app, payload } => {
                self.call(app, None, "on_notify", |a, ctx| a.on_notify(ctx, payload));
            }
            Event::Shutdown => return false,
        }
        true
    }

    /// Calls one app hook (see [`guarded`]: a panic is logged, `on_error`
    /// hears of it and the client is closed with 1011), then carries out
    /// the closes it asked for.
    fn call(
        &mut self,
        app: AppId,
        client: Option<ClientId>,
        hook: &str,
        f: impl FnOnce(&mut dyn App, &mut Ctx),
    ) {
        let slot = &mut self.apps[app];
        let mut ctx = Ctx::new(&mut self.hub, app);
        guarded(slot.app.as_mut(), &mut ctx, &slot.name, hook, client, f);
        self.process_closes();
    }

    /// Closes the clients that apps, the outbox rule or keepalive asked to close,
    /// and tells their apps (which may ask for more closes).
    fn process_closes(&mut self) {
        while let Some(req) = self.hub.closing.pop() {
            if matches!(req.code, 1008 | 1011 | 1013) {
                self.hub.stats.errors += 1;
            }
            let status = CloseStatus::server(req.code, req.reason);
            self.leave(req.id, true, &status);
        }
    }

    /// Removes client `id`, which left as `status` tells (with `by_server`,
    /// the server closes it with that code), and runs its app's
    /// `on_close`; the closes that asks for are carried out by the caller.
    /// False when the client was already gone.
    fn leave(&mut self, id: ClientId, by_server: bool, status: &CloseStatus) -> bool {
        let viewer = match (self.inspector.as_mut(), self.hub.info(id).map(|i| i.app)) {
            (_, None) => return false,
            (Some(inspector), Some(app)) if inspector.is_viewer_app(app) => true,
            (Some(inspector), Some(_)) => {
                inspector.client_closing(&mut self.hub, id, status, &self.names);
                false
            }
            (None, Some(_)) => false,
        };
        let close = by_server.then_some((status.code, status.reason.as_str()));
        let Some((info, writer)) = self.hub.remove(id, close) else { return false };
        if by_server {
            self.closing.push(Reverse(Closing { at: Instant::now() + CLOSE_TIMEOUT, writer }));
            info!("client {id} ({}) closed by the server: {} {}", info.peer, status.code, status.reason);
        } else {
            info!("client {id} ({}) closed: {} ({})", info.peer, self.apps[info.app].name, status.code);
        }
        if viewer {
            if let Some(inspector) = self.inspector.as_mut() {
                inspector.viewer_close(&mut self.hub, id);
            }
            return true;
        }
        let slot = &mut self.apps[info.app];
        let mut ctx = Ctx::for_close(&mut self.hub, info.app, status);
        guarded(slot.app.as_mut(), &mut ctx, &slot.name, "on_close", None, |a, ctx| a.on_close(ctx, id));
        true
    }

    /// Pings every client; closes those that sent nothing for two intervals.
    fn keepalive(&mut self) {
        let now = self.hub.now_ms();
        let limit = 2 * self.ping_interval.as_millis() as u64;
        for id in self.hub.ids() {
            let Some(writer) = self.hub.writer(id) else { continue };
            let silent = now.saturating_sub(writer.last_seen_ms());
            let kind = self.hub.info(id).map(|i| i.kind);
            if silent > limit {
                let peer = self.hub.info(id).map(|i| i.peer.to_string()).unwrap_or_default();
                warn!("client {id} ({peer}): silent for {silent} ms, closing it (keepalive)");
                self.hub.close(id, 1001, "keepalive timeout");
            } else if kind == Some(ClientKind::WebSocket) {
                self.hub.ping(id);
            }
        }
        self.process_closes();
    }

    fn status(&self) -> Value {
        let mut connections = serde_json::Map::new();
        for (i, slot) in self.apps.iter().enumerate() {
            let n = self.hub.app_count(i) as u64;
            let entry = connections.entry(slot.name.clone()).or_insert(json!(0));
            *entry = json!(entry.as_u64().unwrap_or(0) + n);
        }
        json!({
            "uptime_s": self.hub.started.elapsed().as_secs(),
            "connections": connections,
            "messages_in": self.hub.stats.messages_in,
            "messages_out": self.hub.stats.messages_out,
        })
    }

    fn shutdown(&mut self) {
        for app in 0..self.apps.len() {
            self.call(app, None, "on_shutdown", |a, ctx| a.on_shutdown(ctx));
        }
        let ids = self.hub.ids();
        info!("shutting down: closing {} clients with 1001", ids.len());
        for id in ids {
            self.hub.close(id, 1001, "server shutting down");
        }
        self.process_closes();
        let started = Instant::now();
        for app in 0..self.apps.len() {
            self.call(app, None, "on_stop", |a, ctx| a.on_stop(ctx));
        }
        debug!("apps stopped in {:?}", started.elapsed());
    }
}
