//! `/ws/chat`: chat with login (spec §3.3).
//!
//! Every message is a JSON object with a `type`. A client logs in with
//! `{"type":"login","user":"alice"}` (or with the simple form, a `chat`
//! carrying a `user`), then its `chat` messages go to every logged-in client
//! under the name the server stored for it; the last [`HISTORY_LEN`] of them
//! are replayed to each newcomer. Errors answer the sender only and leave the
//! connection open.
//!
//! The unit tests at the bottom drive it through [`crate::TestCtx`], no server.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use log::{debug, info};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::app::{App, ClientId, Ctx, Message};

/// The longest name, in characters (Unicode code points), after trimming.
pub const MAX_NAME_CHARS: usize = 32;

/// The longest chat text, in characters (Unicode code points).
pub const MAX_TEXT_CHARS: usize = 2000;

/// How many `chat` messages the history keeps (the newest ones).
pub const HISTORY_LEN: usize = 50;

/// The chat app (spec §3.3).
#[derive(Debug, Default)]
pub struct Chat {
    /// The name of every logged-in client.
    names: HashMap<ClientId, String>,
    /// The same, by name; sorted, which gives the `users` lists their order.
    by_name: BTreeMap<String, ClientId>,
    /// The last [`HISTORY_LEN`] chat messages, oldest first.
    history: VecDeque<ChatLine>,
}

/// A `chat` message as it is broadcast and kept in the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct ChatLine {
    #[serde(rename = "type")]
    kind: &'static str,
    user: String,
    text: String,
    ts: u64,
}

/// Every other message the server sends, `type` first.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Out<'a> {
    Welcome { user: &'a str, users: Vec<&'a str>, history: &'a VecDeque<ChatLine> },
    Join { user: &'a str },
    Leave { user: &'a str },
    Rename { from: &'a str, to: &'a str },
    Users { users: Vec<&'a str> },
    Error { code: Code, message: &'a str },
}

/// The error codes of spec §3.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Code {
    BadJson,
    UnknownType,
    NotLoggedIn,
    NameTaken,
    BadName,
    TooLong,
    Empty,
}

/// An error to answer the sender with.
#[derive(Debug)]
struct Fault {
    code: Code,
    message: String,
}

fn fault(code: Code, message: impl Into<String>) -> Fault {
    Fault { code, message: message.into() }
}

/// Our own message types always serialize (strings, numbers, lists of them).
fn encode(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("chat messages serialize")
}

/// Server time in ms since the epoch.
fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// At most 40 characters of `s`, for quoting client input in error messages.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_string(),
    }
}

/// The trimmed name in `user`, if it is a valid name (1 to 32 characters).
fn valid_name(user: Option<&Value>) -> Result<String, Fault> {
    let Some(Value::String(raw)) = user else {
        return Err(fault(
            Code::BadName,
            format!("\"user\" must be a string: your name, 1 to {MAX_NAME_CHARS} characters"),
        ));
    };
    let name = raw.trim();
    if name.is_empty() {
        return Err(fault(Code::BadName, "the name is empty (spaces around it do not count)"));
    }
    let n = name.chars().count();
    if n > MAX_NAME_CHARS {
        return Err(fault(
            Code::BadName,
            format!("the name is {n} characters long; at most {MAX_NAME_CHARS} are allowed"),
        ));
    }
    Ok(name.to_string())
}

impl Chat {
    /// Handles one message from `client`, with `now_ms` as the time for a `chat`.
    fn handle(&mut self, ctx: &mut Ctx, client: ClientId, message: &Message, now_ms: u64) {
        if let Err(e) = self.dispatch(ctx, client, message, now_ms) {
            let line = encode(&Out::Error { code: e.code, message: &e.message });
            let peer = ctx.info(client).map(|i| i.peer.to_string()).unwrap_or_default();
            info!("client {client} ({peer}): chat answered {line}");
            ctx.send(client, line);
        }
    }

    /// `client` is gone: forgets its name and tells the others it left.
    fn leave(&mut self, ctx: &mut Ctx, client: ClientId) {
        let Some(name) = self.names.remove(&client) else { return };
        self.by_name.remove(&name);
        info!("chat: client {client} left ({name:?})");
        ctx.send_to(&self.logged_in(), encode(&Out::Leave { user: &name }));
    }

    fn dispatch(
        &mut self,
        ctx: &mut Ctx,
        client: ClientId,
        message: &Message,
        now_ms: u64,
    ) -> Result<(), Fault> {
        let text = match message {
            Message::Text(text) => text.as_str(),
            Message::Binary(_) => {
                return Err(fault(Code::BadJson, "binary messages are not accepted: send JSON as text"))
            }
        };
        let value: Value = crate::app::parse_json(text)
            .map_err(|e| fault(Code::BadJson, format!("the message is not valid JSON: {e}")))?;
        let Value::Object(object) = value else {
            return Err(fault(Code::BadJson, "the message must be a JSON object with a \"type\""));
        };
        match object.get("type") {
            Some(Value::String(kind)) => match kind.as_str() {
                "login" => self.login(ctx, client, object.get("user")),
                "chat" => self.chat(ctx, client, &object, now_ms),
                "users" => {
                    ctx.send(client, encode(&Out::Users { users: self.user_list() }));
                    Ok(())
                }
                other => Err(fault(
                    Code::UnknownType,
                    format!("unknown type {:?}: use login, chat or users", shorten(other)),
                )),
            },
            Some(_) => Err(fault(Code::UnknownType, "\"type\" must be a string: login, chat or users")),
            None => Err(fault(Code::UnknownType, "the message has no \"type\": use login, chat or users")),
        }
    }

    /// Logs `client` in as `user`, or renames it if it is logged in already.
    fn login(&mut self, ctx: &mut Ctx, client: ClientId, user: Option<&Value>) -> Result<(), Fault> {
        let name = valid_name(user)?;
        let current = self.names.get(&client).cloned();
        if current.as_deref() == Some(name.as_str()) {
            // Logging in again under the same name changes nothing for the
            // others; the client gets a fresh welcome (users, history).
            debug!("chat: client {client} logged in again as {name:?}");
            ctx.send(client, self.welcome(&name));
            return Ok(());
        }
        if self.by_name.contains_key(&name) {
            return Err(fault(Code::NameTaken, format!("the name {name:?} is taken: pick another one")));
        }
        self.names.insert(client, name.clone());
        self.by_name.insert(name.clone(), client);
        match current {
            Some(from) => {
                self.by_name.remove(&from);
                info!("chat: client {client} renamed {from:?} to {name:?}");
                ctx.send_to(&self.logged_in(), encode(&Out::Rename { from: &from, to: &name }));
            }
            None => {
                info!("chat: client {client} joined as {name:?}");
                ctx.send(client, self.welcome(&name));
                let others: Vec<ClientId> = self.names.keys().copied().filter(|&c| c != client).collect();
                ctx.send_to(&others, encode(&Out::Join { user: &name }));
            }
        }
        Ok(())
    }

    fn chat(
        &mut self,
        ctx: &mut Ctx,
        client: ClientId,
        object: &Map<String, Value>,
        now_ms: u64,
    ) -> Result<(), Fault> {
        if !self.names.contains_key(&client) {
            match object.get("user") {
                // The simple form: log in first, then send.
                Some(user) if !user.is_null() => self.login(ctx, client, Some(user))?,
                _ => {
                    return Err(fault(
                        Code::NotLoggedIn,
                        "log in first with {\"type\":\"login\",\"user\":\"your name\"} \
                         (or give \"user\" with the chat message)",
                    ))
                }
            }
        }
        let text = match object.get("text") {
            Some(Value::String(text)) => text,
            None | Some(Value::Null) => return Err(fault(Code::Empty, "the message has no \"text\"")),
            Some(_) => return Err(fault(Code::BadJson, "\"text\" must be a string")),
        };
        if text.trim().is_empty() {
            return Err(fault(Code::Empty, "the text is empty"));
        }
        let n = text.chars().count();
        if n > MAX_TEXT_CHARS {
            return Err(fault(
                Code::TooLong,
                format!("the text is {n} characters long; at most {MAX_TEXT_CHARS} are allowed"),
            ));
        }
        // The name is the one stored for the connection, whatever `user` says.
        let user = self.names.get(&client).cloned().unwrap_or_default();
        let line = ChatLine { kind: "chat", user, text: text.clone(), ts: now_ms };
        let encoded = encode(&line);
        self.history.push_back(line);
        while self.history.len() > HISTORY_LEN {
            self.history.pop_front();
        }
        ctx.send_to(&self.logged_in(), encoded);
        Ok(())
    }

    fn welcome(&self, name: &str) -> String {
        encode(&Out::Welcome { user: name, users: self.user_list(), history: &self.history })
    }

    /// The names of the logged-in clients, sorted.
    fn user_list(&self) -> Vec<&str> {
        self.by_name.keys().map(String::as_str).collect()
    }

    /// Every logged-in client.
    fn logged_in(&self) -> Vec<ClientId> {
        self.names.keys().copied().collect()
    }
}

impl App for Chat {
    fn on_message(&mut self, ctx: &mut Ctx, client: ClientId, message: Message) {
        self.handle(ctx, client, &message, now_ms());
    }

    fn on_close(&mut self, ctx: &mut Ctx, client: ClientId) {
        self.leave(ctx, client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestCtx;
    use serde_json::json;

    /// Drives a [`Chat`] through a [`TestCtx`]: clients 1, 2, ... exist as
    /// soon as a test names them, and each call returns what was sent, to
    /// whom, as JSON (recipients of one message in id order).
    struct Harness {
        chat: Chat,
        t: TestCtx,
        now: u64,
    }

    impl Default for Harness {
        fn default() -> Self {
            Harness { chat: Chat::default(), t: TestCtx::new(), now: 0 }
        }
    }

    impl Harness {
        fn client(&mut self, id: ClientId) {
            while !self.t.is_open(id) {
                self.t.open(&mut self.chat, "/ws/chat");
            }
        }

        fn send(&mut self, client: ClientId, message: Value) -> Vec<(ClientId, Value)> {
            self.now += 1;
            let now = self.now;
            self.send_at(client, Message::text(message.to_string()), now)
        }

        fn send_raw(&mut self, client: ClientId, message: Message) -> Vec<(ClientId, Value)> {
            self.send_at(client, message, 7)
        }

        fn send_at(&mut self, client: ClientId, message: Message, now: u64) -> Vec<(ClientId, Value)> {
            self.client(client);
            self.chat.handle(&mut self.t.ctx(), client, &message, now);
            self.out()
        }

        /// `client` goes away (the server's on_close).
        fn leave(&mut self, client: ClientId) -> Vec<(ClientId, Value)> {
            self.client(client);
            self.t.disconnect(&mut self.chat, client);
            self.out()
        }

        fn login(&mut self, client: ClientId, name: &str) -> Vec<(ClientId, Value)> {
            self.send(client, json!({"type": "login", "user": name}))
        }

        /// What was sent, as JSON; a run of one message to several clients in id order.
        fn out(&mut self) -> Vec<(ClientId, Value)> {
            let mut all: Vec<(ClientId, Value)> = Vec::new();
            let mut run: Vec<(ClientId, Value)> = Vec::new();
            for (id, message) in self.t.sent() {
                let value: Value = message.parse_json().expect("JSON out");
                if run.last().is_some_and(|(_, v)| *v != value) {
                    run.sort_by_key(|(id, _)| *id);
                    all.append(&mut run);
                }
                run.push((id, value));
            }
            run.sort_by_key(|(id, _)| *id);
            all.append(&mut run);
            all
        }

        /// The raw text sent last.
        fn texts(&mut self, client: ClientId, message: &str, now: u64) -> Vec<String> {
            self.client(client);
            self.chat.handle(&mut self.t.ctx(), client, &Message::text(message), now);
            self.t.sent().iter().map(|(_, m)| m.as_text().unwrap_or_default().to_string()).collect()
        }
    }

    fn error_code(out: &[(ClientId, Value)]) -> (ClientId, String) {
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].1["type"], "error", "{out:?}");
        assert!(out[0].1["message"].as_str().is_some_and(|m| !m.is_empty()));
        (out[0].0, out[0].1["code"].as_str().unwrap_or_default().to_string())
    }

    #[test]
    fn login_welcomes_and_announces() {
        let mut h = Harness::default();
        let out = h.login(1, "  alice ");
        assert_eq!(
            out,
            vec![(1, json!({"type": "welcome", "user": "alice", "users": ["alice"], "history": []}))]
        );
        let out = h.login(2, "bob");
        assert_eq!(
            out,
            vec![
                (2, json!({"type": "welcome", "user": "bob", "users": ["alice", "bob"], "history": []})),
                (1, json!({"type": "join", "user": "bob"})),
            ]
        );
    }

    #[test]
    fn messages_start_with_their_type() {
        let mut h = Harness::default();
        let out = h.texts(1, r#"{"type":"login","user":"a"}"#, 1);
        assert!(out[0].starts_with(r#"{"type":"welcome","#), "{}", out[0]);
        let out = h.texts(1, r#"{"type":"chat","text":"x"}"#, 5);
        assert_eq!(out[0], r#"{"type":"chat","user":"a","text":"x","ts":5}"#);
    }

    #[test]
    fn names_are_trimmed_and_counted_in_characters() {
        let mut h = Harness::default();
        assert_eq!(error_code(&h.login(1, "   ")), (1, "bad_name".into()));
        assert_eq!(error_code(&h.login(1, "")), (1, "bad_name".into()));
        assert_eq!(error_code(&h.login(1, &"é".repeat(33))), (1, "bad_name".into()));
        let out = h.send(1, json!({"type": "login", "user": 5}));
        assert_eq!(error_code(&out), (1, "bad_name".into()));
        let out = h.send(1, json!({"type": "login"}));
        assert_eq!(error_code(&out), (1, "bad_name".into()));
        let name = "🎉".repeat(32);
        assert_eq!(h.login(1, &format!(" {name}\t"))[0].1["user"], json!(name));
        assert_eq!(error_code(&h.login(2, &name)), (2, "name_taken".into()));
    }

    #[test]
    fn rename_goes_to_everyone_and_frees_the_old_name() {
        let mut h = Harness::default();
        h.login(1, "a");
        h.login(2, "b");
        let out = h.login(1, "c");
        let rename = json!({"type": "rename", "from": "a", "to": "c"});
        assert_eq!(out, vec![(1, rename.clone()), (2, rename)]);
        assert_eq!(error_code(&h.login(1, "b")), (1, "name_taken".into()));
        assert_eq!(h.login(3, "a")[0].1["users"], json!(["a", "b", "c"]));
    }

    #[test]
    fn same_name_again_is_a_fresh_welcome_for_the_sender_only() {
        let mut h = Harness::default();
        h.login(1, "a");
        h.login(2, "b");
        let out = h.login(2, " b ");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 2);
        assert_eq!(out[0].1["type"], "welcome");
    }

    #[test]
    fn chat_uses_the_stored_name() {
        let mut h = Harness::default();
        h.login(1, "alice");
        h.login(2, "bob");
        let out = h.send(1, json!({"type": "chat", "user": "bob", "text": "hi"}));
        assert_eq!(out.len(), 2);
        for (_, m) in &out {
            assert_eq!(m["user"], "alice");
            assert_eq!(m["text"], "hi");
            assert!(m["ts"].as_u64().is_some());
        }
    }

    #[test]
    fn simple_form_logs_in_first() {
        let mut h = Harness::default();
        h.login(1, "alice");
        let out = h.send(2, json!({"type": "chat", "user": " bob ", "text": "hi"}));
        let types: Vec<_> =
            out.iter().map(|(c, m)| (*c, m["type"].as_str().unwrap_or("").to_string())).collect();
        assert_eq!(
            types,
            vec![(2, "welcome".into()), (1, "join".into()), (1, "chat".into()), (2, "chat".into())]
        );
        assert_eq!(out[3].1["user"], "bob");
        // Not logged in and no user: not_logged_in; a taken name: name_taken.
        assert_eq!(error_code(&h.send(3, json!({"type": "chat", "text": "x"}))), (3, "not_logged_in".into()));
        let out = h.send(3, json!({"type": "chat", "user": "bob", "text": "x"}));
        assert_eq!(error_code(&out), (3, "name_taken".into()));
    }

    #[test]
    fn text_limits() {
        let mut h = Harness::default();
        h.login(1, "a");
        assert_eq!(h.send(1, json!({"type": "chat", "text": "漢".repeat(2000)})).len(), 1);
        let out = h.send(1, json!({"type": "chat", "text": "漢".repeat(2001)}));
        assert_eq!(error_code(&out), (1, "too_long".into()));
        for text in [json!(""), json!("  \n"), Value::Null] {
            let out = h.send(1, json!({"type": "chat", "text": text}));
            assert_eq!(error_code(&out), (1, "empty".into()));
        }
        assert_eq!(error_code(&h.send(1, json!({"type": "chat"}))), (1, "empty".into()));
    }

    #[test]
    fn history_keeps_the_last_50_in_order() {
        let mut h = Harness::default();
        h.login(1, "a");
        for i in 0..60 {
            h.send(1, json!({"type": "chat", "text": format!("m{i}")}));
        }
        let out = h.login(2, "b");
        let history = out[0].1["history"].as_array().cloned().unwrap_or_default();
        assert_eq!(history.len(), HISTORY_LEN);
        for (i, m) in history.iter().enumerate() {
            assert_eq!(m["text"], format!("m{}", i + 10));
            assert_eq!(m["type"], "chat");
            assert_eq!(m["user"], "a");
        }
        assert_eq!(h.chat.history.len(), HISTORY_LEN);
    }

    #[test]
    fn bad_input_gets_its_code() {
        let mut h = Harness::default();
        assert_eq!(error_code(&h.send_raw(1, Message::text("{nope"))), (1, "bad_json".into()));
        assert_eq!(error_code(&h.send_raw(1, Message::text("[1,2]"))), (1, "bad_json".into()));
        assert_eq!(error_code(&h.send_raw(1, Message::binary(b"{}".to_vec()))), (1, "bad_json".into()));
        assert_eq!(error_code(&h.send(1, json!({"type": "dance"}))), (1, "unknown_type".into()));
        assert_eq!(error_code(&h.send(1, json!({"user": "a"}))), (1, "unknown_type".into()));
        assert_eq!(error_code(&h.send(1, json!({"type": 3}))), (1, "unknown_type".into()));
        let long = "x".repeat(10_000);
        let out = h.send(1, json!({"type": long}));
        assert!(out[0].1["message"].as_str().is_some_and(|m| m.len() < 200));
    }

    #[test]
    fn users_works_before_login() {
        let mut h = Harness::default();
        h.login(1, "zed");
        h.login(2, "amy");
        assert_eq!(
            h.send(3, json!({"type": "users"})),
            vec![(3, json!({"type": "users", "users": ["amy", "zed"]}))]
        );
    }

    #[test]
    fn only_logged_in_clients_leave() {
        let mut h = Harness::default();
        h.login(1, "a");
        h.login(2, "b");
        assert!(h.leave(3).is_empty());
        let out = h.leave(2);
        assert_eq!(out, vec![(1, json!({"type": "leave", "user": "b"}))]);
        assert!(h.leave(1).is_empty());
        // The name is free again.
        assert_eq!(h.login(4, "b")[0].1["type"], "welcome");
    }
}
