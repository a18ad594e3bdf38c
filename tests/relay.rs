//! The relay (spec §3.5): browsers on `/ws/relay` (or `/` with `--root-app relay`), backend scripts on plain sockets and `POST /api/relay`, and the example jobs of `examples/backend/` run for real.

mod support;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{json, Value};
use support::{http, HttpResponse, TestServer, Ws, WAIT};
use tungstenite::Message;

fn ready() -> Value {
    json!({"opcode": "ready", "os": "linux"})
}

fn next(delivered: usize) -> Value {
    json!({"opcode": "next", "delivered": delivered})
}

/// The text of an `{"opcode":"error"}` message (fails on anything else).
fn error_text(v: &Value) -> String {
    assert_eq!(v["opcode"], "error", "expected an error, got {v}");
    v["message"].as_str().expect("error message").to_string()
}

/// A fresh UUID-like name, unique in this test run.
fn fresh_uuid(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A browser client on `path` that has had its `ready`.
fn browser_on(server: &TestServer, path: &str) -> Ws {
    let mut ws = server.ws(path);
    assert_eq!(ws.recv_json(), ready());
    ws
}

fn browser(server: &TestServer) -> Ws {
    browser_on(server, "/ws/relay")
}

/// Registers `ws` under `uuid`, with the key `key` (`message`: the legacy
/// form, or `uuid`), and waits until the server has done it: registration
/// has no reply, so a feedback to itself proves it.
fn register(ws: &mut Ws, key: &str, uuid: &str) {
    let mut message = json!({"opcode": "uuid"});
    message[key] = json!(uuid);
    ws.send_json(message);
    sync(ws, uuid);
}

/// Sends a feedback to `uuid` (the client's own) and waits for it: every
/// message queued for `ws` before it has arrived by then, so the next one
/// proves what did not come.
fn sync(ws: &mut Ws, uuid: &str) {
    let marker = json!({"opcode": "feedback", "uuid": uuid, "sync": fresh_uuid("sync")});
    ws.send_json(marker.clone());
    assert_eq!(ws.recv_json(), marker, "the first message after a sync point");
}

/// A backend script on a plain socket, reading one line per reply.
struct Backend {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Backend {
    fn connect(addr: SocketAddr) -> Backend {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Backend { stream, reader }
    }

    /// Connects with the legacy greeting and reads the `ready`.
    fn greeted(addr: SocketAddr) -> Backend {
        let mut b = Backend::connect(addr);
        b.write("php process\n\n");
        assert_eq!(b.json(), ready());
        b
    }

    fn write(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).unwrap();
    }

    /// The next line, without its newline; fails if the server closed.
    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("a reply line");
        assert!(n > 0, "the server closed the socket instead of replying");
        assert!(line.ends_with('\n'), "a reply line ends with a newline: {line:?}");
        line.trim_end().to_string()
    }

    fn json(&mut self) -> Value {
        let line = self.line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Sends `v` as one line and returns the reply.
    fn send(&mut self, v: Value) -> Value {
        self.write(format!("{v}\n"));
        self.json()
    }

    /// The server closes the socket with nothing more to say.
    fn expect_closed(&mut self) {
        let mut rest = String::new();
        match self.reader.read_line(&mut rest) {
            Ok(0) => {}
            Ok(_) => panic!("expected the end of the stream, got {rest:?}"),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected the end of the stream, got {e}"),
        }
    }
}

fn post(addr: SocketAddr, body: &str) -> HttpResponse {
    http(
        addr,
        &format!(
            "POST /api/relay HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// A JSON object of exactly `len` bytes: a feedback to `uuid` with padding.
fn feedback_of_size(uuid: &str, len: usize) -> String {
    let head = format!(r#"{{"opcode":"feedback","uuid":"{uuid}","pad":""#);
    let pad = "x".repeat(len - head.len() - 2);
    let text = format!("{head}{pad}\"}}");
    assert_eq!(text.len(), len);
    text
}

// ---------------------------------------------------------------- browsers

#[test]
fn browsers_get_ready_with_os_on_connect() {
    let server = TestServer::start();
    let mut ws = server.ws("/ws/relay");
    assert_eq!(ws.recv_text(), r#"{"opcode":"ready","os":"linux"}"#);
}

#[test]
fn both_registration_forms_get_their_feedback_and_nobody_else_does() {
    let server = TestServer::start();
    let (ua, ub, uc) = (fresh_uuid("a"), fresh_uuid("b"), fresh_uuid("c"));
    let mut a = browser(&server);
    let mut b = browser(&server);
    let mut c = browser(&server); // not registered while the feedback flows
    register(&mut a, "message", &ua); // the legacy form
    register(&mut b, "uuid", &ub);
    let mut s = Backend::connect(server.addr);

    // Delivered unchanged: the same text, spacing and key order included.
    let to_a = format!(r#"{{"opcode":"feedback", "uuid":"{ua}", "progress":40, "message":"für a"}}"#);
    s.write(format!("{to_a}\n"));
    assert_eq!(s.json(), next(1));
    assert_eq!(a.recv_text(), to_a);

    let to_b = json!({"opcode": "feedback", "uuid": ub, "progress": 50});
    assert_eq!(s.send(to_b.clone()), next(1));
    // b's first message since its sync is its own feedback: a's never came.
    assert_eq!(b.recv_json(), to_b);
    // a got nothing after its own feedback, c and the socket nothing at all.
    sync(&mut a, &ua);
    register(&mut c, "uuid", &uc);
    assert_eq!(s.send(json!({"opcode": "feedback", "uuid": uc})), next(1));
    assert_eq!(c.recv_json(), json!({"opcode": "feedback", "uuid": uc}));
}

#[test]
fn feedback_to_an_unknown_uuid_answers_the_sender_with_an_error() {
    let server = TestServer::start();
    let mut ws = browser(&server);
    ws.send_json(json!({"opcode": "feedback", "uuid": "nobody", "message": "x"}));
    assert_eq!(ws.recv_json(), json!({"opcode": "error", "message": "unknown uuid"}));
    ws.send_json(json!({"opcode": "feedback", "message": "no uuid"}));
    assert!(error_text(&ws.recv_json()).contains("uuid"));

    let mut s = Backend::connect(server.addr);
    assert_eq!(
        s.send(json!({"opcode": "feedback", "uuid": "nobody"})),
        json!({"opcode": "error", "message": "unknown uuid"})
    );
    // The socket stays open.
    assert_eq!(s.send(json!({"opcode": "note"})), next(0));
}

#[test]
fn quit_closes_a_browser_with_1000_and_frees_its_uuid() {
    let server = TestServer::start();
    let u = fresh_uuid("quit");
    let mut ws = browser(&server);
    register(&mut ws, "uuid", &u);
    ws.send_json(json!({"opcode": "quit"}));
    assert_eq!(ws.expect_close(), 1000);
    let mut s = Backend::connect(server.addr);
    assert_eq!(error_text(&s.send(json!({"opcode": "feedback", "uuid": u}))), "unknown uuid");
}

#[test]
fn quit_closes_a_socket_with_no_reply() {
    let server = TestServer::start();
    let mut s = Backend::greeted(server.addr);
    assert_eq!(s.send(json!({"opcode": "note"})), next(0));
    s.write(r#"{"opcode":"quit"}"#);
    s.expect_closed();
}

#[test]
fn other_messages_reach_the_other_registered_browsers_only() {
    let server = TestServer::start();
    let (ua, ub, uc) = (fresh_uuid("a"), fresh_uuid("b"), fresh_uuid("c"));
    let mut a = browser(&server);
    let mut b = browser(&server);
    let mut c = browser(&server); // not registered
    register(&mut a, "uuid", &ua);
    register(&mut b, "message", &ub);
    let mut s = Backend::greeted(server.addr);

    let text = r#"{"opcode":"chat",  "z":1, "a":[1, 2], "message":"hi"}"#;
    a.send(text);
    assert_eq!(b.recv_text(), text);
    // Not back to the sender, not to c, not to the socket.
    sync(&mut a, &ua);
    assert_eq!(s.send(json!({"opcode": "feedback", "uuid": ua, "n": 1})), next(1));
    assert_eq!(a.recv_json(), json!({"opcode": "feedback", "uuid": ua, "n": 1}));

    // From a socket: to every registered browser; the reply counts them.
    assert_eq!(s.send(json!({"opcode": "note", "from": "socket"})), next(2));
    assert_eq!(a.recv_json(), json!({"opcode": "note", "from": "socket"}));
    assert_eq!(b.recv_json(), json!({"opcode": "note", "from": "socket"}));
    // A message without an opcode is "any other message" too.
    b.send(r#"{"message":"no opcode"}"#);
    assert_eq!(a.recv_text(), r#"{"message":"no opcode"}"#);

    register(&mut c, "uuid", &uc);
    sync(&mut b, &ub);
}

#[test]
fn bad_json_and_values_that_are_not_objects_keep_a_browser_connected() {
    let server = TestServer::start();
    let mut ws = browser(&server);
    ws.send("not json");
    assert!(error_text(&ws.recv_json()).starts_with("not JSON"));
    for not_object in ["[1,2]", "42", "\"text\"", "null"] {
        ws.send(not_object);
        assert!(error_text(&ws.recv_json()).contains("object"), "{not_object}");
    }
    ws.send(vec![1u8, 2, 3]);
    assert!(error_text(&ws.recv_json()).contains("binary"));
    register(&mut ws, "uuid", &fresh_uuid("still-open"));
}

#[test]
fn a_uuid_is_1_to_128_characters() {
    let server = TestServer::start();
    let mut ws = browser(&server);
    for bad in [json!(""), json!("x".repeat(129)), json!(42), json!(null)] {
        ws.send_json(json!({"opcode": "uuid", "uuid": bad}));
        assert!(error_text(&ws.recv_json()).contains("1 to 128"), "{bad}");
    }
    ws.send_json(json!({"opcode": "uuid"}));
    assert!(error_text(&ws.recv_json()).contains("1 to 128"));
    register(&mut ws, "uuid", &"é".repeat(128));
    register(&mut ws, "message", &"x".repeat(128));
}

#[test]
fn the_newest_registration_of_a_uuid_wins() {
    let server = TestServer::start();
    let u = fresh_uuid("shared");
    let mut a = browser(&server);
    let mut b = browser(&server);
    register(&mut a, "uuid", &u);
    register(&mut b, "uuid", &u);
    let mut s = Backend::connect(server.addr);
    assert_eq!(s.send(json!({"opcode": "feedback", "uuid": u, "n": 2})), next(1));
    assert_eq!(b.recv_json(), json!({"opcode": "feedback", "uuid": u, "n": 2}));
    // a lost the registration: no feedback, no broadcasts.
    assert_eq!(s.send(json!({"opcode": "note"})), next(1));
    assert_eq!(b.recv_json(), json!({"opcode": "note"}));
    register(&mut a, "uuid", &fresh_uuid("a-again"));
}

#[test]
fn the_legacy_javascript_client_works_on_root_with_root_app_relay() {
    let server = TestServer::with(|c| c.root_app = "relay".into());
    let u = fresh_uuid("root");
    // phpWebSocketServer's JavaScript client: ws://host:port, no path,
    // waits for ready, registers with the legacy form.
    let mut ws = browser_on(&server, "/");
    register(&mut ws, "message", &u);
    let mut s = Backend::greeted(server.addr);
    let feedback = json!({"opcode": "feedback", "uuid": u, "progress": 10});
    assert_eq!(s.send(feedback.clone()), next(1));
    assert_eq!(ws.recv_json(), feedback);
    // /ws/relay is the same app.
    let mut other = browser(&server);
    let u2 = fresh_uuid("root-2");
    register(&mut other, "uuid", &u2);
    assert_eq!(s.send(json!({"opcode": "note"})), next(2));
    assert_eq!(ws.recv_json(), json!({"opcode": "note"}));
}

#[test]
fn socket_clients_count_under_relay_in_status() {
    let server = TestServer::start();
    let _browser = browser(&server);
    let _s = Backend::greeted(server.addr);
    let mut plain = Backend::connect(server.addr);
    assert_eq!(plain.send(json!({"opcode": "note"})), next(0));
    assert_eq!(server.status()["connections"]["relay"], 3);
}

// ---------------------------------------------------------- plain sockets

#[test]
fn the_legacy_greeting_gets_ready_with_lf_or_crlf() {
    let server = TestServer::start();
    for greeting in ["php process\n\n", "php process\r\n\r\n", "php process\n"] {
        let mut s = Backend::connect(server.addr);
        s.write(greeting);
        assert_eq!(s.json(), ready(), "{greeting:?}");
        assert_eq!(s.send(json!({"opcode": "note"})), next(0));
    }
    // The greeting may arrive in pieces.
    let mut s = Backend::connect(server.addr);
    s.write("php pro");
    s.write("cess\r\n");
    s.write("\r\n");
    assert_eq!(s.json(), ready());
}

#[test]
fn a_bad_greeting_line_gets_an_error_and_is_closed() {
    let server = TestServer::start();
    let mut s = Backend::connect(server.addr);
    s.write("php processing\n\n");
    assert!(error_text(&s.json()).contains("php process"));
    s.expect_closed();
}

#[test]
fn a_socket_that_starts_with_an_object_gets_no_ready() {
    let server = TestServer::start();
    let mut s = Backend::connect(server.addr);
    assert_eq!(s.send(json!({"opcode": "note"})), next(0));
}

#[test]
fn objects_without_newlines_get_one_reply_each_like_the_legacy_php_client() {
    let server = TestServer::start();
    let u = fresh_uuid("php");
    let mut ws = browser(&server);
    register(&mut ws, "message", &u);
    let mut s = Backend::greeted(server.addr);
    for step in 1..=10 {
        let feedback = json!({"opcode": "feedback", "uuid": u, "progress": step * 10});
        // No newline: the server must see the object end by its last brace.
        s.write(feedback.to_string());
        assert_eq!(s.json(), next(1));
        assert_eq!(ws.recv_json(), feedback);
    }
}

#[test]
fn many_messages_in_one_write_get_their_replies_in_order() {
    let server = TestServer::start();
    let u = fresh_uuid("many");
    let mut ws = browser(&server);
    register(&mut ws, "uuid", &u);
    let mut s = Backend::connect(server.addr);
    let mut batch = String::new();
    for i in 0..200 {
        batch.push_str(&json!({"opcode": "feedback", "uuid": u, "i": i}).to_string());
        // Newlines, CRLF, spaces, or nothing at all between the objects.
        batch.push_str(["\n", "\r\n", " ", ""][i % 4]);
        if i % 50 == 49 {
            batch.push_str("[\"not\", \"an object\"]\n");
        }
    }
    s.write(&batch);
    for i in 0..200 {
        assert_eq!(s.json(), next(1), "reply {i}");
        if i % 50 == 49 {
            assert!(error_text(&s.json()).contains("object"));
        }
    }
    for i in 0..200 {
        assert_eq!(ws.recv_json()["i"], i);
    }
}

#[test]
fn a_message_of_64_kib_passes_and_one_over_closes_the_socket_with_an_error() {
    let server = TestServer::start();
    let u = fresh_uuid("big");
    let mut ws = browser(&server);
    register(&mut ws, "uuid", &u);
    let mut s = Backend::connect(server.addr);
    let exact = feedback_of_size(&u, 64 * 1024);
    s.write(format!("{exact}\n"));
    assert_eq!(s.json(), next(1));
    assert_eq!(ws.recv_text(), exact);
    // Whitespace before a message does not count.
    s.write(format!("\n\r\n  {exact}"));
    assert_eq!(s.json(), next(1));
    assert_eq!(ws.recv_text(), exact);

    s.write(feedback_of_size(&u, 64 * 1024 + 1));
    assert!(error_text(&s.json()).contains("over 65536 bytes"));
    s.expect_closed();

    // Also when the message never ends.
    let mut s = Backend::connect(server.addr);
    s.write(format!("{{\"pad\":\"{}", "y".repeat(100 * 1024)));
    assert!(error_text(&s.json()).contains("over 65536 bytes"));
    s.expect_closed();
}

#[test]
fn json_that_is_not_an_object_gets_an_error_and_the_socket_stays_open() {
    let server = TestServer::start();
    let mut s = Backend::greeted(server.addr);
    s.write("[1,2]\n\"text\"\n42\nnull\ntrue ");
    for _ in 0..5 {
        assert!(error_text(&s.json()).contains("object"));
    }
    assert_eq!(s.send(json!({"opcode": "note"})), next(0));
}

#[test]
fn bytes_that_are_not_json_get_an_error_and_the_socket_is_closed() {
    let server = TestServer::start();
    let mut s = Backend::connect(server.addr);
    s.write("{\"opcode\":\"note\"}\n{oops}\n");
    assert_eq!(s.json(), next(0));
    assert!(error_text(&s.json()).starts_with("not JSON"));
    s.expect_closed();

    // An object that can never become JSON fails at once, without waiting
    // for the rest of it.
    let mut s = Backend::connect(server.addr);
    s.write("{ this is not json");
    assert!(error_text(&s.json()).starts_with("not JSON"));
    s.expect_closed();

    // Invalid UTF-8 inside a string.
    let mut s = Backend::connect(server.addr);
    s.write(b"{\"opcode\":\"note\",\"x\":\"\xff\xfe\"}\n");
    assert!(error_text(&s.json()).starts_with("not JSON"));
    s.expect_closed();
}

#[test]
fn a_socket_cannot_register_a_uuid() {
    let server = TestServer::start();
    let mut s = Backend::connect(server.addr);
    let reply = s.send(json!({"opcode": "uuid", "message": "mine"}));
    assert!(error_text(&reply).contains("only WebSocket clients"));
    assert_eq!(s.send(json!({"opcode": "note"})), next(0));
}

#[test]
fn a_socket_silent_for_two_ping_intervals_is_closed_with_an_error_line() {
    let server = TestServer::with(|c| c.ping_interval = Duration::from_millis(100));
    let mut s = Backend::greeted(server.addr);
    assert_eq!(s.send(json!({"opcode": "note"})), next(0));
    assert!(error_text(&s.json()).contains("keepalive timeout"));
    s.expect_closed();
}

#[test]
fn a_server_shutdown_tells_an_idle_socket_and_closes_it() {
    let mut server = TestServer::start();
    let mut s = Backend::greeted(server.addr);
    let stopper = std::thread::spawn(move || server.stop());
    assert!(error_text(&s.json()).contains("shutting down"));
    s.expect_closed();
    drop(s);
    stopper.join().unwrap();
}

// -------------------------------------------------------- POST /api/relay

#[test]
fn post_api_relay_delivers_a_feedback_and_counts_it() {
    let server = TestServer::start();
    let (ua, ub) = (fresh_uuid("a"), fresh_uuid("b"));
    let mut a = browser(&server);
    let mut b = browser(&server);
    register(&mut a, "uuid", &ua);
    register(&mut b, "uuid", &ub);

    let body = format!(r#"{{"opcode":"feedback", "uuid":"{ua}", "progress":70}}"#);
    let r = post(server.addr, &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Content-Type").as_deref(), Some("application/json"));
    assert_eq!(r.json(), json!({"ok": true, "delivered": 1}));
    assert_eq!(a.recv_text(), body);

    let r = post(server.addr, r#"{"opcode":"note","message":"to all"}"#);
    assert_eq!(r.json(), json!({"ok": true, "delivered": 2}));
    assert_eq!(a.recv_json()["message"], "to all");
    assert_eq!(b.recv_json()["message"], "to all");
    sync(&mut b, &ub);

    // Exactly 64 KiB is allowed.
    let big = feedback_of_size(&ub, 64 * 1024);
    let r = post(server.addr, &big);
    assert_eq!((r.status, r.json()), (200, json!({"ok": true, "delivered": 1})));
    assert_eq!(b.recv_text(), big);
}

#[test]
fn post_api_relay_to_an_unknown_uuid_is_404() {
    let server = TestServer::start();
    let r = post(server.addr, r#"{"opcode":"feedback","uuid":"nobody"}"#);
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"ok": false, "error": "unknown uuid"}));
}

#[test]
fn post_api_relay_refuses_bodies_that_are_not_json_objects_with_400() {
    let server = TestServer::start();
    for body in ["", "nope", "[1,2]", "42", "{\"opcode\":", "{\"opcode\":\"feedback\"}"] {
        let r = post(server.addr, body);
        assert_eq!(r.status, 400, "{body:?}: {}", r.text());
        let v = r.json();
        assert_eq!(v["ok"], false);
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
    let r = post(server.addr, r#"{"opcode":"uuid","uuid":"x"}"#);
    assert_eq!(r.status, 400);
}

#[test]
fn post_api_relay_takes_a_chunked_body_as_python_and_node_stream_it() {
    let server = TestServer::start();
    let ua = fresh_uuid("chunked");
    let mut a = browser(&server);
    register(&mut a, "uuid", &ua);
    let body = format!(r#"{{"opcode":"feedback","uuid":"{ua}","progress":70}}"#);
    let (first, second) = body.split_at(10);
    let request = format!(
        "POST /api/relay HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{first}\r\n{:X};ext=1\r\n{second}\r\n0\r\n\r\n",
        first.len(),
        second.len()
    );
    let r = http(server.addr, &request);
    assert_eq!((r.status, r.json()), (200, json!({"ok": true, "delivered": 1})), "{}", r.head);
    assert_eq!(a.recv_text(), body);

    // Over 64 KiB once decoded: 413, as with a length.
    let big = "x".repeat(40 * 1024);
    let over = format!(
        "POST /api/relay HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n\
         {n:x}\r\n{big}\r\n{n:x}\r\n{big}\r\n0\r\n\r\n",
        n = big.len()
    );
    assert_eq!(http(server.addr, &over).status, 413);
    // Not chunked framing; a length beside a coding (a smuggling attempt); a coding it does not know.
    let bad =
        "POST /api/relay HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n";
    assert_eq!(http(server.addr, bad).status, 400);
    let both =
        "POST /api/relay HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}";
    let r = http(server.addr, both);
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"].as_str().unwrap().contains("Content-Length and Transfer-Encoding"),
        "{}",
        r.text()
    );
    let gzip = "POST /api/relay HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(http(server.addr, gzip).status, 501);
}

#[test]
fn post_api_relay_without_a_body_is_400_and_at_most_64_kib() {
    let server = TestServer::start();
    // No Content-Length and no Transfer-Encoding: no body (RFC 9112 §6.3).
    let r = http(server.addr, "POST /api/relay HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("the body is empty"), "{}", r.text());
    // ...and what follows such a head is not its body: a hand-written
    // request that forgot its length hears so.
    let r = http(server.addr, "POST /api/relay HTTP/1.1\r\nHost: test\r\n\r\n{\"opcode\":\"x\"}");
    assert_eq!(r.status, 411);
    assert!(r.json()["error"].as_str().unwrap().contains("add Content-Length"), "{}", r.text());
    // A body that stops coming: 408, in JSON like every answer of /api/relay.
    let quick = TestServer::with(|c| c.handshake_timeout = Duration::from_millis(500));
    let mut stalled = std::net::TcpStream::connect(quick.addr).unwrap();
    stalled.write_all(b"POST /api/relay HTTP/1.1\r\nHost: test\r\nContent-Length: 50\r\n\r\n{\"opc").unwrap();
    let mut answer = Vec::new();
    stalled.set_read_timeout(Some(support::WAIT)).unwrap();
    let _ = stalled.read_to_end(&mut answer);
    let r = support::parse_response(&answer);
    assert_eq!(r.status, 408, "{}", r.head);
    assert!(r.json()["error"].as_str().unwrap().contains("did not all arrive"), "{}", r.text());
    // A method the route does not take is 405 before anything about the body.
    let r = http(server.addr, "POST /api/status HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(r.status, 405);
    let big = feedback_of_size("x", 64 * 1024 + 1);
    let r = post(server.addr, &big);
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["ok"], false);
    let r = server.get("/api/relay");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow").as_deref(), Some("POST"), "{}", r.head);
}

// ------------------------------------------------------ the example jobs

/// A job process, killed if the test fails before it ends.
struct Job(Option<std::process::Child>);

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `program script UUID PORT` in the project directory.
fn start_job(program: &str, script: &str, uuid: &str, port: u16) -> Job {
    let child = Command::new(program)
        .arg(Path::new("examples/backend").join(script))
        .args([uuid, &port.to_string()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    Job(Some(child))
}

/// Runs a job for a registered browser and checks that the ten feedbacks
/// arrive in order and the job ends with success.
fn job_reports_ten_steps(program: &str, script: &str) {
    let server = TestServer::start();
    let u = fresh_uuid("job");
    let mut ws = browser(&server);
    register(&mut ws, "message", &u);
    let mut job = start_job(program, script, &u, server.addr.port());
    for step in 1..=10 {
        let expected = json!({
            "opcode": "feedback",
            "uuid": u,
            "progress": step * 10,
            "message": format!("step {step} of 10"),
        });
        assert_eq!(ws.recv_json(), expected, "{script}: step {step}");
    }
    let output = job.0.take().unwrap().wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("step 10 of 10"), "{script} prints what it does:\n{stdout}");
    // The socket jobs end with quit: the browser hears nothing more.
    sync(&mut ws, &u);
}

/// Runs a job for a UUID nobody registered: it must fail and say why.
fn job_fails_on_an_error_reply(program: &str, script: &str) {
    let server = TestServer::start();
    let mut job = start_job(program, script, &fresh_uuid("nobody"), server.addr.port());
    let output = job.0.take().unwrap().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{script} must exit non-zero on an error reply");
    assert!(stderr.contains("unknown uuid"), "{script} says why:\n{stderr}");
}

/// Whether `php` can run the PHP job; where it cannot, the test says so
/// and passes, unless `WSLAB_REQUIRE_PHP=1` (CI) makes it fail.
fn php_available() -> bool {
    let found = Command::new("php").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("WSLAB_REQUIRE_PHP").as_deref() != Ok("1"),
            "php not found, and WSLAB_REQUIRE_PHP=1 requires it (apt-get install php-cli)"
        );
        eprintln!("SKIPPED: php not found");
    }
    found
}

#[test]
fn job_py_reports_ten_steps_over_a_plain_socket() {
    job_reports_ten_steps("python3", "job.py");
}

#[test]
fn job_sh_reports_ten_steps_with_curl_and_post_api_relay() {
    job_reports_ten_steps("sh", "job.sh");
}

#[test]
fn job_php_reports_ten_steps_like_the_legacy_php_client() {
    if php_available() {
        job_reports_ten_steps("php", "job.php");
    }
}

#[test]
fn jobs_exit_non_zero_on_an_error_reply() {
    job_fails_on_an_error_reply("python3", "job.py");
    job_fails_on_an_error_reply("sh", "job.sh");
    if php_available() {
        job_fails_on_an_error_reply("php", "job.php");
    }
}

#[test]
fn binary_messages_from_browsers_are_refused() {
    let server = TestServer::start();
    let mut ws = browser(&server);
    ws.send(Message::binary(b"{\"opcode\":\"note\"}".to_vec()));
    assert!(error_text(&ws.recv_json()).contains("binary"));
}

#[test]
fn a_post_that_expects_100_continue_gets_it_before_it_sends_the_body() {
    let server = TestServer::start();
    let body = json!({"opcode": "broadcast", "text": "x".repeat(2000)}).to_string();
    let mut socket = TcpStream::connect(server.addr).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    // What curl sends for a body over 1 KiB: the head, then it waits.
    write!(
        socket,
        "POST /api/relay HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(socket.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    reader.read_line(&mut line).unwrap();
    socket.write_all(body.as_bytes()).unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200 "), "{line}");
}
