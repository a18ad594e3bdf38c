//! `/ws/relay`, backend sockets and `POST /api/relay`: the opcode protocol of
//! phpWebSocketServer (spec §3.5), in which a backend script reports back to
//! one browser page by the UUID that page registered.
//!
//! Browser pages connect over WebSocket (`/ws/relay`, or `/` with
//! `--root-app relay`). Backend scripts connect on a plain socket (handled by
//! `conn/backend.rs`, which registers them here as [`ClientKind::Socket`]
//! clients) or `POST` one message to `/api/relay`. All three kinds of sender
//! go through the same rules in `Relay::route`.

use std::collections::HashMap;

use log::{debug, info};
use serde_json::{json, Map, Value};

use crate::app::{ApiRequest, ApiResponse, App, ClientId, ClientKind, Ctx, Message};

/// Where the relay is mounted; plain-socket backends join the app found here.
pub const PATH: &str = "/ws/relay";

/// The `/api` route of [`App::on_request`].
pub const API_PATH: &str = "/api/relay";

/// Longest UUID a client may register under, in characters.
pub const MAX_UUID_CHARS: usize = 128;

/// What every browser (and every greeted socket) gets on connect. `os` tells
/// the legacy JavaScript client that it need not wait for acks.
pub const READY: &str = r#"{"opcode":"ready","os":"linux"}"#;

/// The relay app: who is registered under which UUID.
///
/// A UUID names one client. When a second client registers a UUID that is
/// taken (a reloaded page that kept its UUID, say), the newest one wins: it
/// gets the feedback from then on, and the previous holder is no longer
/// registered at all (it gets no broadcasts until it registers again).
#[derive(Debug, Default)]
pub struct Relay {
    by_uuid: HashMap<String, ClientId>,
    by_client: HashMap<ClientId, String>,
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Sent on to this many browser clients (a feedback: 1; a broadcast: the others).
    Delivered(usize),
    /// The sender is now registered under its UUID (no reply on success).
    Registered,
    /// `quit`: close the sender, no reply.
    Quit,
    /// Refused: the sender hears why.
    Refused(Refusal),
}

/// Why a message was refused; each has its text and its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    /// The text is not JSON at all (serde's words).
    NotJson(String),
    /// A binary WebSocket message.
    Binary,
    /// JSON, but not an object.
    NotObject,
    /// `uuid` registration with a missing, empty, too long or non-string UUID.
    BadUuid,
    /// `uuid` registration from a socket client or over HTTP.
    CannotRegister,
    /// `feedback` without a string `uuid`.
    FeedbackWithoutUuid,
    /// `feedback` to a UUID nobody is registered under.
    UnknownUuid,
}

impl Refusal {
    fn message(&self) -> String {
        match self {
            Refusal::NotJson(e) => format!("not JSON: {e}"),
            Refusal::Binary => "expected a JSON text message, got a binary one".into(),
            Refusal::NotObject => "expected a JSON object with an \"opcode\" key".into(),
            Refusal::BadUuid => format!("the uuid must be a string of 1 to {MAX_UUID_CHARS} characters"),
            Refusal::CannotRegister => {
                "only WebSocket clients can register a uuid; a backend sends \"feedback\" to one".into()
            }
            Refusal::FeedbackWithoutUuid => "a feedback needs a \"uuid\" string".into(),
            Refusal::UnknownUuid => "unknown uuid".into(),
        }
    }

    fn status(&self) -> u16 {
        match self {
            Refusal::UnknownUuid => 404,
            _ => 400,
        }
    }
}

/// `{"opcode":"error","message":...}` as text, `opcode` first as in the protocol.
pub(crate) fn error_line(message: &str) -> String {
    format!(r#"{{"opcode":"error","message":{}}}"#, Value::from(message))
}

impl Relay {
    /// Applies the rules of spec §3.5 to one message. `from` is the sending
    /// client (`None` for `POST /api/relay`); `may_register` says whether it
    /// may register a UUID (browsers only). `text` is passed on unchanged.
    fn route(&mut self, ctx: &mut Ctx, from: Option<ClientId>, may_register: bool, text: &str) -> Outcome {
        let value: Value = match crate::app::parse_json(text) {
            Ok(v) => v,
            Err(e) => return Outcome::Refused(Refusal::NotJson(e.to_string())),
        };
        let Value::Object(object) = value else { return Outcome::Refused(Refusal::NotObject) };
        match object.get("opcode").and_then(Value::as_str) {
            Some("uuid") => match from {
                Some(client) if may_register => self.register(client, &object),
                _ => Outcome::Refused(Refusal::CannotRegister),
            },
            Some("feedback") => {
                let Some(uuid) = object.get("uuid").and_then(Value::as_str) else {
                    return Outcome::Refused(Refusal::FeedbackWithoutUuid);
                };
                match self.by_uuid.get(uuid) {
                    Some(&target) => {
                        ctx.send(target, text);
                        Outcome::Delivered(1)
                    }
                    None => Outcome::Refused(Refusal::UnknownUuid),
                }
            }
            Some("quit") => Outcome::Quit,
            // Anything else, a message without an opcode included, goes to
            // every other registered browser client.
            _ => {
                let registered = &self.by_client;
                let sent = ctx.broadcast_if(text, |id, _| Some(id) != from && registered.contains_key(&id));
                Outcome::Delivered(sent)
            }
        }
    }

    /// Registers `client` under the UUID of a `uuid` message: its `uuid` key,
    /// or `message` in the legacy form.
    fn register(&mut self, client: ClientId, object: &Map<String, Value>) -> Outcome {
        let uuid = object.get("uuid").or_else(|| object.get("message")).and_then(Value::as_str);
        let Some(uuid) = uuid.filter(|u| (1..=MAX_UUID_CHARS).contains(&u.chars().count())) else {
            return Outcome::Refused(Refusal::BadUuid);
        };
        if let Some(old) = self.by_client.remove(&client) {
            if self.by_uuid.get(&old) == Some(&client) {
                self.by_uuid.remove(&old);
            }
        }
        if let Some(previous) = self.by_uuid.insert(uuid.to_string(), client) {
            if previous != client {
                info!(
                    "relay: uuid {uuid:?} moves from client {previous} to client {client} (the newest wins)"
                );
                self.by_client.remove(&previous);
            }
        }
        self.by_client.insert(client, uuid.to_string());
        debug!("relay: client {client} registered as {uuid:?}");
        Outcome::Registered
    }

    fn forget(&mut self, client: ClientId) {
        if let Some(uuid) = self.by_client.remove(&client) {
            if self.by_uuid.get(&uuid) == Some(&client) {
                self.by_uuid.remove(&uuid);
            }
        }
    }
}

impl App for Relay {
    fn on_open(&mut self, ctx: &mut Ctx, client: ClientId) {
        let greet = ctx
            .info(client)
            .is_some_and(|i| matches!(i.kind, ClientKind::WebSocket | ClientKind::Socket { greeted: true }));
        if greet {
            ctx.send(client, READY);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx, client: ClientId, message: Message) {
        let Some(kind) = ctx.info(client).map(|i| i.kind) else { return };
        let outcome = match &message {
            Message::Text(text) => self.route(ctx, Some(client), kind == ClientKind::WebSocket, text),
            Message::Binary(_) => Outcome::Refused(Refusal::Binary),
        };
        match outcome {
            Outcome::Quit => ctx.close_with(client, 1000, "quit"),
            Outcome::Refused(why) => {
                let peer = ctx.info(client).map(|i| i.peer.to_string()).unwrap_or_default();
                info!("client {client} ({peer}): relay error: {}", why.message());
                ctx.send(client, error_line(&why.message()))
            }
            // A socket client reads one line per message it sent.
            Outcome::Delivered(n) if !kind.is_websocket() => {
                ctx.send(client, format!(r#"{{"opcode":"next","delivered":{n}}}"#))
            }
            Outcome::Delivered(_) | Outcome::Registered => {}
        }
    }

    fn on_close(&mut self, _ctx: &mut Ctx, client: ClientId) {
        self.forget(client);
    }

    fn on_request(&mut self, ctx: &mut Ctx, request: &ApiRequest) -> Option<ApiResponse> {
        if request.path != API_PATH {
            return None;
        }
        if request.method != "POST" {
            return Some(ApiResponse::wrong_method("POST", "use POST with a JSON object as the body"));
        }
        let text = match std::str::from_utf8(&request.body) {
            Ok(text) => text.trim_matches([' ', '\t', '\r', '\n']),
            Err(_) => return Some(ApiResponse::error(400, "not JSON: the body is not UTF-8")),
        };
        if text.is_empty() {
            return Some(ApiResponse::error(
                400,
                "the body is empty: send one JSON object (curl: -d '{...}')",
            ));
        }
        Some(match self.route(ctx, None, false, text) {
            Outcome::Delivered(n) => ApiResponse::ok(json!({"ok": true, "delivered": n})),
            Outcome::Quit => ApiResponse::ok(json!({"ok": true, "delivered": 0})),
            Outcome::Registered => ApiResponse::error(400, &Refusal::CannotRegister.message()),
            Outcome::Refused(why) => ApiResponse::error(why.status(), &why.message()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_answer_with_their_status() {
        assert_eq!(Refusal::UnknownUuid.status(), 404);
        assert_eq!(Refusal::UnknownUuid.message(), "unknown uuid");
        assert_eq!(Refusal::NotObject.status(), 400);
        assert_eq!(Refusal::NotJson("x".into()).status(), 400);
    }

    use crate::{ClientInfo, TestCtx};

    fn backend(t: &mut TestCtx, app: &mut Relay, greeted: bool) -> ClientId {
        let info = ClientInfo::new(0, "127.0.0.1:2".parse().unwrap(), ClientKind::Socket { greeted });
        t.open_with(app, info)
    }

    #[test]
    fn feedback_reaches_the_registered_page_and_the_socket_hears_next() {
        let mut t = TestCtx::new();
        let mut app = Relay::default();
        let page = t.open(&mut app, "/ws/relay");
        assert_eq!(t.texts_to(page), [READY]);
        t.message(&mut app, page, r#"{"opcode":"uuid","uuid":"u1"}"#);
        assert!(t.sent().is_empty(), "registering has no reply");
        let job = backend(&mut t, &mut app, false);
        assert!(t.sent().is_empty(), "no ready for a socket without the greeting");
        let feedback = r#"{"opcode":"feedback","uuid":"u1","progress":50}"#;
        t.message(&mut app, job, feedback);
        assert_eq!(t.texts_to(page), [feedback]);
        assert_eq!(t.json_to(job), [json!({"opcode": "next", "delivered": 1})]);
        t.message(&mut app, job, r#"{"opcode":"feedback","uuid":"nobody"}"#);
        assert_eq!(t.json_to(job), [json!({"opcode": "error", "message": "unknown uuid"})]);
    }

    #[test]
    fn quit_closes_the_sender_and_frees_its_uuid() {
        let mut t = TestCtx::new();
        let mut app = Relay::default();
        let page = t.open(&mut app, "/ws/relay");
        t.message(&mut app, page, r#"{"opcode":"uuid","uuid":"u"}"#);
        t.message(&mut app, page, r#"{"opcode":"quit"}"#);
        assert_eq!(t.closed(), [crate::Closed { client: page, code: 1000, reason: "quit".into() }]);
        assert!(!t.is_open(page));
        let greeted = backend(&mut t, &mut app, true);
        assert_eq!(t.texts_to(greeted), [READY], "a greeted socket gets ready");
        t.message(&mut app, greeted, r#"{"opcode":"feedback","uuid":"u"}"#);
        assert_eq!(t.json_to(greeted), [json!({"opcode": "error", "message": "unknown uuid"})]);
    }

    #[test]
    fn other_messages_go_to_the_other_registered_pages_and_http_counts_them() {
        let mut t = TestCtx::new();
        let mut app = Relay::default();
        let a = t.open(&mut app, "/ws/relay");
        let b = t.open(&mut app, "/ws/relay");
        let unregistered = t.open(&mut app, "/ws/relay");
        t.sent();
        t.message(&mut app, a, r#"{"opcode":"uuid","uuid":"a"}"#);
        t.message(&mut app, b, r#"{"opcode":"uuid","uuid":"b"}"#);
        t.message(&mut app, a, r#"{"note":1}"#);
        assert_eq!(t.sent(), vec![(b, Message::text(r#"{"note":1}"#))]);
        let request =
            ApiRequest { method: "POST".into(), path: API_PATH.into(), body: br#"{"x":2}"#.to_vec() };
        let response = t.request(&mut app, &request).unwrap();
        assert_eq!(response.body, json!({"ok": true, "delivered": 2}));
        assert!(t.texts_to(unregistered).is_empty());
        assert_eq!(t.sent().len(), 2, "a and b");
        t.message(&mut app, a, vec![1u8]);
        assert_eq!(t.json_to(a)[0]["opcode"], "error");
    }

    #[test]
    fn error_lines_are_json_objects() {
        assert_eq!(error_line("say \"hi\""), r#"{"opcode":"error","message":"say \"hi\""}"#);
        let ready: Value = serde_json::from_str(READY).unwrap();
        assert_eq!(ready, json!({"opcode": "ready", "os": "linux"}));
    }
}
