//! `/ws/chat` (spec §3.3) with real WebSocket clients: login and welcome,
//! join, chat to everyone with the server's name and a `ts`, the simple form,
//! rename, `users`, leave (also when a client vanishes), the 50-message
//! history, every error code, and limits counted in characters.
//!
//! To show that a client did NOT get something, the tests make it get a later
//! message and check that the next one it receives is that one: no sleeps.

mod support;

use std::net::Shutdown;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use support::{TestServer, Ws};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::Message;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Connects to `/ws/chat`, logs in as `name` and returns the client and its welcome.
fn login(server: &TestServer, name: &str) -> (Ws, Value) {
    let mut ws = server.ws("/ws/chat");
    ws.send_json(json!({"type": "login", "user": name}));
    let welcome = ws.recv_json();
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (ws, welcome)
}

/// Sends `{"type":"users"}` and returns the list.
fn users(ws: &mut Ws) -> Value {
    ws.send_json(json!({"type": "users"}));
    let reply = ws.recv_json();
    assert_eq!(reply["type"], "users", "{reply}");
    reply["users"].clone()
}

/// The next message must be an error with `code` and a human-readable message.
fn expect_error(ws: &mut Ws, code: &str) -> Value {
    let m = ws.recv_json();
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(m["code"], code, "{m}");
    assert!(m["message"].as_str().is_some_and(|s| !s.is_empty()), "{m}");
    m
}

fn chat(ws: &mut Ws, text: &str) {
    ws.send_json(json!({"type": "chat", "text": text}));
}

/// The next message must be the chat `text` by `user`.
fn expect_chat(ws: &mut Ws, user: &str, text: &str) -> Value {
    let m = ws.recv_json();
    assert_eq!(m["type"], "chat", "{m}");
    assert_eq!(m["user"], user, "{m}");
    assert_eq!(m["text"], text, "{m}");
    m
}

/// Sends a chat from `ws` as `user` and checks it comes back: proof that
/// nothing else was queued for `ws` before it.
fn roundtrip(ws: &mut Ws, user: &str, text: &str) {
    chat(ws, text);
    expect_chat(ws, user, text);
}

#[test]
fn login_gets_welcome_with_users_and_history_and_others_get_join() {
    let server = TestServer::start();
    let (mut alice, welcome) = login(&server, "alice");
    assert_eq!(welcome, json!({"type": "welcome", "user": "alice", "users": ["alice"], "history": []}));
    roundtrip(&mut alice, "alice", "first");

    let (mut bob, welcome) = login(&server, "bob");
    assert_eq!(welcome["user"], "bob");
    assert_eq!(welcome["users"], json!(["alice", "bob"]));
    let history = welcome["history"].as_array().expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["type"], "chat");
    assert_eq!(history[0]["user"], "alice");
    assert_eq!(history[0]["text"], "first");
    assert!(history[0]["ts"].is_u64());

    assert_eq!(alice.recv_json(), json!({"type": "join", "user": "bob"}));
    // bob got no join for himself: his next message is his own chat.
    roundtrip(&mut bob, "bob", "hello");
    expect_chat(&mut alice, "bob", "hello");
}

#[test]
fn login_trims_the_name() {
    let server = TestServer::start();
    let (mut ws, welcome) = login(&server, "  alice \t");
    assert_eq!(welcome["user"], "alice");
    assert_eq!(users(&mut ws), json!(["alice"]));
}

#[test]
fn chat_goes_to_every_logged_in_client_with_the_server_name_and_a_ts() {
    let server = TestServer::start();
    let (mut alice, _) = login(&server, "alice");
    let (mut bob, _) = login(&server, "bob");
    let (mut carol, _) = login(&server, "carol");
    let mut lurker = server.ws("/ws/chat"); // connected, never logged in
    alice.recv_json(); // join bob
    alice.recv_json(); // join carol
    bob.recv_json(); // join carol

    let before = now_ms();
    chat(&mut bob, "hi all");
    let mut stamps = Vec::new();
    for ws in [&mut alice, &mut bob, &mut carol] {
        let m = expect_chat(ws, "bob", "hi all");
        let keys: Vec<_> = m.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        assert_eq!(keys.len(), 4, "{m}");
        stamps.push(m["ts"].as_u64().expect("ts in ms"));
    }
    let after = now_ms();
    assert!(stamps.iter().all(|&ts| ts == stamps[0] && (before..=after).contains(&ts)), "{stamps:?}");

    // The client that never logged in got nothing: its first message is the
    // answer to its own request.
    assert_eq!(users(&mut lurker), json!(["alice", "bob", "carol"]));
}

#[test]
fn user_field_is_ignored_once_logged_in() {
    let server = TestServer::start();
    let (mut alice, _) = login(&server, "alice");
    let (mut bob, _) = login(&server, "bob");
    alice.recv_json(); // join bob
    alice.send_json(json!({"type": "chat", "user": "bob", "text": "I am bob"}));
    expect_chat(&mut alice, "alice", "I am bob");
    expect_chat(&mut bob, "alice", "I am bob");
    alice.send_json(json!({"type": "chat", "user": "mallory", "text": "still me"}));
    expect_chat(&mut bob, "alice", "still me");
    // The name did not change either.
    assert_eq!(users(&mut bob), json!(["alice", "bob"]));
}

#[test]
fn simple_form_logs_in_then_sends() {
    let server = TestServer::start();
    let (mut alice, _) = login(&server, "alice");
    let mut bob = server.ws("/ws/chat");
    bob.send_json(json!({"type": "chat", "user": " bob ", "text": "hi"}));
    let welcome = bob.recv_json();
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["user"], "bob");
    assert_eq!(welcome["users"], json!(["alice", "bob"]));
    assert_eq!(welcome["history"], json!([]), "the history is from before the message");
    expect_chat(&mut bob, "bob", "hi");
    assert_eq!(alice.recv_json(), json!({"type": "join", "user": "bob"}));
    expect_chat(&mut alice, "bob", "hi");

    // Later messages in the simple form keep the first name.
    bob.send_json(json!({"type": "chat", "user": "robert", "text": "again"}));
    expect_chat(&mut bob, "bob", "again");
    expect_chat(&mut alice, "bob", "again");

    // The simple form follows the login rules.
    let mut third = server.ws("/ws/chat");
    third.send_json(json!({"type": "chat", "user": "alice", "text": "x"}));
    expect_error(&mut third, "name_taken");
    third.send_json(json!({"type": "chat", "user": "   ", "text": "x"}));
    expect_error(&mut third, "bad_name");
    // Neither attempt reached the others.
    roundtrip(&mut alice, "alice", "check");
}

#[test]
fn rename_goes_to_everyone_including_the_renamed_one() {
    let server = TestServer::start();
    let (mut a, _) = login(&server, "a");
    let (mut b, _) = login(&server, "b");
    let mut lurker = server.ws("/ws/chat");
    a.recv_json(); // join b

    a.send_json(json!({"type": "login", "user": " c "}));
    let rename = json!({"type": "rename", "from": "a", "to": "c"});
    assert_eq!(a.recv_json(), rename);
    assert_eq!(b.recv_json(), rename);
    assert_eq!(users(&mut lurker), json!(["b", "c"]), "the lurker got no rename");

    // Messages now carry the new name; the old one is free.
    roundtrip(&mut a, "c", "renamed");
    expect_chat(&mut b, "c", "renamed");
    let (_a2, welcome) = login(&server, "a");
    assert_eq!(welcome["users"], json!(["a", "b", "c"]));
    assert_eq!(a.recv_json(), json!({"type": "join", "user": "a"}));

    // Renaming to a taken name fails and keeps the old name.
    a.send_json(json!({"type": "login", "user": "b"}));
    expect_error(&mut a, "name_taken");
    roundtrip(&mut a, "c", "still c");
}

#[test]
fn login_again_with_the_same_name_is_a_fresh_welcome_for_the_sender_only() {
    let server = TestServer::start();
    let (mut a, _) = login(&server, "a");
    let (mut b, _) = login(&server, "b");
    a.recv_json(); // join b
    chat(&mut a, "one");
    expect_chat(&mut a, "a", "one");
    expect_chat(&mut b, "a", "one");

    b.send_json(json!({"type": "login", "user": "b "}));
    let welcome = b.recv_json();
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["user"], "b");
    assert_eq!(welcome["users"], json!(["a", "b"]));
    assert_eq!(welcome["history"].as_array().map(Vec::len), Some(1));
    // a heard nothing of it.
    roundtrip(&mut a, "a", "two");
}

#[test]
fn users_lists_the_logged_in_names() {
    let server = TestServer::start();
    let mut anon = server.ws("/ws/chat");
    assert_eq!(users(&mut anon), json!([]));
    let (mut zed, _) = login(&server, "zed");
    let (_amy, _) = login(&server, "amy");
    assert_eq!(users(&mut anon), json!(["amy", "zed"]));
    zed.recv_json(); // join amy
    assert_eq!(users(&mut zed), json!(["amy", "zed"]));
}

#[test]
fn leave_when_a_logged_in_client_closes() {
    let server = TestServer::start();
    let (mut a, _) = login(&server, "a");
    let (mut b, _) = login(&server, "b");
    a.recv_json(); // join b
    b.close();
    assert_eq!(a.recv_json(), json!({"type": "leave", "user": "b"}));
    assert_eq!(users(&mut a), json!(["a"]));
    // The name is free again.
    let (_b2, welcome) = login(&server, "b");
    assert_eq!(welcome["user"], "b");
}

#[test]
fn leave_when_a_client_vanishes_without_a_close_frame() {
    let server = TestServer::start();
    let (mut a, _) = login(&server, "a");
    let (mut b, _) = login(&server, "b");
    a.recv_json(); // join b
    match b.socket.get_mut() {
        MaybeTlsStream::Plain(tcp) => tcp.shutdown(Shutdown::Both).expect("shutdown"),
        _ => panic!("expected a plain TCP stream"),
    }
    drop(b);
    assert_eq!(a.recv_json(), json!({"type": "leave", "user": "b"}));
    assert_eq!(users(&mut a), json!(["a"]));
}

#[test]
fn clients_that_never_logged_in_produce_no_leave() {
    let server = TestServer::start();
    let (mut a, _) = login(&server, "a");
    let mut anon = server.ws("/ws/chat");
    assert_eq!(users(&mut anon), json!(["a"])); // its open was handled
    anon.close();
    let mut failed = server.ws("/ws/chat");
    failed.send_json(json!({"type": "login", "user": "a"}));
    expect_error(&mut failed, "name_taken");
    failed.close();
    // Once both are gone (no longer counted), a's next message is its own chat.
    support::wait_until("the anonymous clients to be gone", || server.status()["connections"]["chat"] == 1);
    roundtrip(&mut a, "a", "alone");
}

#[test]
fn history_holds_the_last_50_chat_messages_in_order() {
    let server = TestServer::start();
    let (mut a, _) = login(&server, "a");
    let (mut b, _) = login(&server, "b");
    a.recv_json(); // join b
    for i in 0..60 {
        let (ws, user) = if i % 2 == 0 { (&mut a, "a") } else { (&mut b, "b") };
        roundtrip(ws, user, &format!("m{i}"));
        let other = if i % 2 == 0 { &mut b } else { &mut a };
        expect_chat(other, user, &format!("m{i}"));
    }
    // Joins, renames and errors are not history.
    b.send_json(json!({"type": "login", "user": "bee"}));
    a.recv_json();
    b.recv_json();
    chat(&mut b, "");
    expect_error(&mut b, "empty");

    let (_c, welcome) = login(&server, "c");
    let history = welcome["history"].as_array().expect("history");
    assert_eq!(history.len(), 50);
    for (k, m) in history.iter().enumerate() {
        let i = k + 10;
        assert_eq!(m["type"], "chat", "{m}");
        assert_eq!(m["text"], format!("m{i}"), "{m}");
        // As broadcast: the name at the time, not the current one.
        assert_eq!(m["user"], if i % 2 == 0 { "a" } else { "b" }, "{m}");
    }
    let ts: Vec<u64> = history.iter().filter_map(|m| m["ts"].as_u64()).collect();
    assert_eq!(ts.len(), 50);
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "{ts:?}");
}

#[test]
fn every_error_code_answers_the_sender_only_and_the_connection_stays_usable() {
    let server = TestServer::start();
    let (mut other, _) = login(&server, "other");
    let mut ws = server.ws("/ws/chat");

    ws.send("this is not json");
    expect_error(&mut ws, "bad_json");
    ws.send("[1,2,3]");
    expect_error(&mut ws, "bad_json");
    ws.send(Message::binary(br#"{"type":"users"}"#.to_vec()));
    expect_error(&mut ws, "bad_json");

    ws.send_json(json!({"type": "dance"}));
    expect_error(&mut ws, "unknown_type");
    ws.send_json(json!({"text": "no type"}));
    expect_error(&mut ws, "unknown_type");

    chat(&mut ws, "hi");
    expect_error(&mut ws, "not_logged_in");

    ws.send_json(json!({"type": "login", "user": "other"}));
    expect_error(&mut ws, "name_taken");
    ws.send_json(json!({"type": "login", "user": "   "}));
    expect_error(&mut ws, "bad_name");
    ws.send_json(json!({"type": "login", "user": "x".repeat(33)}));
    expect_error(&mut ws, "bad_name");
    ws.send_json(json!({"type": "login"}));
    expect_error(&mut ws, "bad_name");

    // Still usable: log in, then the text errors.
    ws.send_json(json!({"type": "login", "user": "me"}));
    assert_eq!(ws.recv_json()["type"], "welcome");
    assert_eq!(other.recv_json(), json!({"type": "join", "user": "me"}));
    chat(&mut ws, &"x".repeat(2001));
    expect_error(&mut ws, "too_long");
    chat(&mut ws, "");
    expect_error(&mut ws, "empty");
    chat(&mut ws, " \n\t ");
    expect_error(&mut ws, "empty");
    ws.send_json(json!({"type": "chat"}));
    expect_error(&mut ws, "empty");
    ws.send("{broken");
    expect_error(&mut ws, "bad_json");

    // None of that reached the other client; and this works.
    roundtrip(&mut ws, "me", "fine");
    expect_chat(&mut other, "me", "fine");
}

#[test]
fn limits_count_characters_not_bytes() {
    let server = TestServer::start();
    let emoji32 = "😀".repeat(32);
    let (mut a, welcome) = login(&server, &emoji32);
    assert_eq!(welcome["user"], emoji32.as_str());

    let mut b = server.ws("/ws/chat");
    b.send_json(json!({"type": "login", "user": "😀".repeat(33)}));
    expect_error(&mut b, "bad_name");
    b.send_json(json!({"type": "login", "user": "é".repeat(33)}));
    expect_error(&mut b, "bad_name");
    let accents = format!(" {} ", "é".repeat(32));
    b.send_json(json!({"type": "login", "user": accents}));
    assert_eq!(b.recv_json()["user"], "é".repeat(32));
    a.recv_json(); // join

    let han = "漢".repeat(2000);
    roundtrip(&mut a, &emoji32, &han);
    expect_chat(&mut b, &emoji32, &han);
    chat(&mut a, &"漢".repeat(2001));
    expect_error(&mut a, "too_long");
    let mixed = format!("{}{}", "字🎉é".repeat(666), "xy");
    assert_eq!(mixed.chars().count(), 2000);
    roundtrip(&mut a, &emoji32, &mixed);
    chat(&mut a, &format!("{mixed}!"));
    expect_error(&mut a, "too_long");
    // b only saw the accepted ones.
    expect_chat(&mut b, &emoji32, &mixed);
}

#[test]
fn root_app_chat_puts_the_chat_on_root() {
    let server = TestServer::with(|c| c.root_app = "chat".into());
    let (mut a, _) = login(&server, "a");
    let mut root = server.ws("/");
    root.send_json(json!({"type": "login", "user": "b"}));
    assert_eq!(root.recv_json()["users"], json!(["a", "b"]));
    assert_eq!(a.recv_json(), json!({"type": "join", "user": "b"}));
}

#[test]
fn an_error_answer_is_logged_with_the_client_and_its_address() {
    let data = support::TempDir::new("chat-log");
    let mut child = support::Child::start(&["--data", data.path().to_str().unwrap()]);
    let mut ws = Ws::connect(child.addr(), "/ws/chat");
    ws.send("this is not JSON");
    assert_eq!(ws.recv_json()["code"], "bad_json");
    let line = child.wait_line("chat answered");
    assert!(line.contains("(127.0.0.1:") && line.contains("bad_json"), "{line}");
    let mut relay = Ws::connect(child.addr(), "/ws/relay");
    relay.recv_json();
    relay.send(r#"{"opcode":"feedback","uuid":"nobody"}"#);
    assert_eq!(relay.recv_json()["message"], "unknown uuid");
    let line = child.wait_line("relay error");
    assert!(line.contains("(127.0.0.1:") && line.contains("unknown uuid"), "{line}");
    let mut workshop = Ws::connect(child.addr(), "/ws/workshop");
    workshop.recv_json();
    workshop.send(r#"{"type":"cancel","ticket":"T-none"}"#);
    assert_eq!(workshop.recv_json()["code"], "unknown_ticket");
    let line = child.wait_line("workshop error unknown_ticket");
    assert!(line.contains("(127.0.0.1:"), "{line}");
}

#[test]
fn half_an_emoji_as_json_stringify_writes_it_is_a_replacement_character_not_bad_json() {
    let server = TestServer::start();
    let (mut ann, _) = login(&server, "ann");
    // JSON.stringify({type: "chat", text: "hi 😀".slice(0, 4)}) in a browser:
    ann.send(r#"{"type":"chat","text":"hi \ud83d"}"#);
    let chat = ann.recv_json();
    assert_eq!((chat["type"].as_str(), chat["text"].as_str()), (Some("chat"), Some("hi \u{FFFD}")), "{chat}");
}
