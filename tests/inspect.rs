//! The inspector on a real server (docs/inspector.md): who may connect to
//! `/ws/inspect`, `--no-inspect`, and what a viewer sees of another client:
//! the list, its handshake, every frame both ways, the close, the plots'
//! samples.

mod support;

use std::io::Write;
use std::process::Command;

use serde_json::{json, Value};
use support::{client_frame, http, raw_ws, read_frame, Child, TestServer, Ws};

/// Reads messages until one of `kind` comes (others, such as ticks, are skipped).
fn next_of(viewer: &mut Ws, kind: &str) -> Value {
    loop {
        let message = viewer.recv_json();
        if message["type"] == kind {
            return message;
        }
    }
}

/// Reads `frames` messages until `n` frames of `client` arrived; returns them.
fn frames(viewer: &mut Ws, client: &Value, n: usize) -> Vec<Value> {
    let mut got = Vec::new();
    while got.len() < n {
        let message = next_of(viewer, "frames");
        if &message["client"] == client {
            got.extend(message["frames"].as_array().unwrap().iter().filter(|f| f["dir"] != "note").cloned());
        }
    }
    got
}

/// The first client in a tick's list for which `want` holds.
fn listed(viewer: &mut Ws, want: impl Fn(&Value) -> bool) -> Value {
    loop {
        let tick = next_of(viewer, "tick");
        if let Some(entry) = tick["clients"].as_array().unwrap().iter().find(|c| want(c)) {
            return entry.clone();
        }
    }
}

#[test]
fn a_viewer_sees_the_list_the_handshake_and_every_frame_both_ways() {
    let server = TestServer::start();
    let mut viewer = server.ws("/ws/inspect");
    let hello = viewer.recv_json();
    assert_eq!(hello["type"], "hello");
    assert!(hello["apps"].as_array().unwrap().iter().any(|a| a == "echo"), "{hello}");

    // A client that connects while the inspector is open: its whole handshake is kept.
    let mut echo = raw_ws(server.addr, "/ws/echo?x=1");
    let entry = listed(&mut viewer, |c| c["path"] == "/ws/echo");
    let id = entry["id"].clone();
    assert_eq!((entry["app"].as_str(), entry["kind"].as_str()), (Some("echo"), Some("websocket")));
    assert!(entry["closed"].is_null());

    viewer.send_json(json!({"type": "watch", "client": id}));
    let handshake = next_of(&mut viewer, "handshake");
    assert!(
        handshake["request"].as_str().unwrap().starts_with("GET /ws/echo?x=1 HTTP/1.1\r\n"),
        "{handshake}"
    );
    assert!(handshake["response"].as_str().unwrap().starts_with("HTTP/1.1 101"), "{handshake}");
    assert_eq!(next_of(&mut viewer, "frames")["replace"], true);

    // A text message and its echo.
    echo.write_all(&client_frame(1, b"{\"hi\":1}")).unwrap();
    assert_eq!(read_frame(&mut echo).unwrap().payload, b"{\"hi\":1}");
    let got = frames(&mut viewer, &id, 2);
    let summary = |f: &Value| (f["dir"].clone(), f["opcode"].clone(), f["fin"].clone(), f["masked"].clone());
    assert_eq!(summary(&got[0]), (json!("in"), json!("text"), json!(true), json!(true)));
    assert_eq!(got[0]["text"], "{\"hi\":1}");
    assert_eq!(got[0]["len"], 8);
    assert_eq!(summary(&got[1]), (json!("out"), json!("text"), json!(true), json!(false)));
    assert_eq!(got[1]["text"], "{\"hi\":1}");

    // A fragmented binary message: each frame as it went, FIN and all; and a ping.
    let mut first = client_frame(2, &[0xff, 0x00]);
    first[0] &= 0x7f; // FIN off
    echo.write_all(&first).unwrap();
    echo.write_all(&client_frame(0, &[0x01])).unwrap();
    echo.write_all(&client_frame(9, b"p")).unwrap();
    let got = frames(&mut viewer, &id, 5);
    let (dirs, opcodes): (Vec<_>, Vec<_>) =
        got.iter().map(|f| (f["dir"].clone(), f["opcode"].clone())).unzip();
    let mut ins: Vec<_> =
        dirs.iter().zip(&opcodes).filter(|(d, _)| *d == "in").map(|(_, o)| o.clone()).collect();
    ins.sort_by_key(|o| o.to_string());
    assert_eq!(ins, vec![json!("binary"), json!("continuation"), json!("ping")], "{got:?}");
    let binary_in = got.iter().find(|f| f["dir"] == "in" && f["opcode"] == "binary").unwrap();
    assert_eq!((binary_in["fin"].clone(), binary_in["hex"].clone()), (json!(false), json!("ff00")));
    let out: Vec<_> = got.iter().filter(|f| f["dir"] == "out").map(|f| f["opcode"].clone()).collect();
    assert!(out.contains(&json!("binary")) && out.contains(&json!("pong")), "{got:?}");

    // The list counts what went both ways; a sample counts it too.
    let entry = listed(&mut viewer, |c| c["id"] == id && c["messages_in"] == 2);
    assert_eq!(entry["messages_out"], 2);
    assert!(entry["bytes_in"].as_u64().unwrap() >= 10);

    // The client closes: its close frame, then it stays in the list with the code.
    echo.write_all(&client_frame(8, b"\x0f\xa1bye")).unwrap(); // 4001 "bye"
    let got = frames(&mut viewer, &id, 2);
    let close_in = got.iter().find(|f| f["dir"] == "in").unwrap();
    assert_eq!((close_in["opcode"].clone(), close_in["code"].clone()), (json!("close"), json!(4001)));
    assert_eq!(close_in["reason"], "bye");
    let entry = listed(&mut viewer, |c| c["id"] == id && !c["closed"].is_null());
    assert_eq!(entry["closed"]["code"], 4001);
    assert_eq!(entry["closed"]["by_server"], false);
}

#[test]
fn samples_count_messages_and_errors_and_leave_the_inspectors_own_traffic_out() {
    let server = TestServer::start();
    let mut viewer = server.ws("/ws/inspect");
    viewer.recv_json();
    let mut echo = server.ws("/ws/echo");
    echo.send("one");
    echo.recv_text();
    // An app's error reply (the chat app without a login) counts as an error.
    let mut chat = server.ws("/ws/chat");
    chat.send_json(json!({"type": "message", "text": "before login"}));
    let reply = chat.recv_json();
    assert_eq!(reply["type"], "error", "{reply}");
    let (mut messages_in, mut errors) = (0, 0);
    while messages_in < 2 || errors < 1 {
        let sample = next_of(&mut viewer, "tick")["sample"].clone();
        messages_in += sample["messages_in"].as_u64().unwrap();
        errors += sample["errors"].as_u64().unwrap();
        assert!(sample["connections"].get("inspect").is_none(), "{sample}");
    }
    assert_eq!(messages_in, 2);
    // Ticks go on without counting themselves.
    let sample = next_of(&mut viewer, "tick")["sample"].clone();
    assert_eq!(sample["messages_out"], 0, "{sample}");
    assert_eq!(sample["connections"]["echo"], 1);
}

#[test]
fn viewers_cannot_watch_viewers_or_unknown_clients() {
    let server = TestServer::start();
    let mut viewer = server.ws("/ws/inspect");
    viewer.recv_json();
    viewer.send_json(json!({"type": "watch", "client": 999_999}));
    assert_eq!(next_of(&mut viewer, "error")["message"], "no client 999999");
    let other = server.ws("/ws/inspect");
    let entry = listed(&mut viewer, |c| c["app"] == "inspect");
    viewer.send_json(json!({"type": "watch", "client": entry["id"]}));
    assert_eq!(next_of(&mut viewer, "error")["message"], "inspector clients cannot be watched");
    drop(other);
}

#[test]
fn other_machines_need_the_token_and_get_a_403_that_says_how_to_get_in() {
    // The binary in a debug build treats loopback clients as remote with this variable.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wslab"));
    cmd.env("WSLAB_INSPECT_LOOPBACK_IS_REMOTE", "1");
    let server = Child::spawn(cmd, &["--inspect-token", "let-me-in-42"]);
    match Ws::try_connect(server.addr(), "/ws/inspect") {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
            assert!(body.contains("token"), "{body}");
        }
        other => panic!("expected 403, got {:?}", other.map(|_| "a 101")),
    }
    match Ws::try_connect(server.addr(), "/ws/inspect?token=wrong-token") {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| "a 101")),
    }
    let mut viewer = Ws::connect(server.addr(), "/ws/inspect?token=let-me-in-42");
    assert_eq!(viewer.recv_json()["type"], "hello");
    // The page itself is served to anyone: the token is in its #fragment.
    assert_eq!(http(server.addr(), "GET /inspect.html HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
}

#[test]
fn the_token_is_printed_at_start_and_loopback_needs_none() {
    let mut server = Child::start(&[]);
    let line = server.wait_line("inspect: ");
    let token = line.split("#token=").nth(1).expect("a token in the inspect line").trim();
    assert_eq!(token.len(), 32, "{line}");
    let mut viewer = Ws::connect(server.addr(), "/ws/inspect");
    assert_eq!(viewer.recv_json()["type"], "hello");
}

#[test]
fn no_inspect_turns_it_off() {
    let server = TestServer::with(|c| c.inspect = false);
    match Ws::try_connect(server.addr, "/ws/inspect") {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 404),
        other => panic!("expected 404, got {:?}", other.map(|_| "a 101")),
    }
    for spelling in
        ["/inspect.html", "//inspect.html", "/./inspect.html", "/%69nspect.html", "/inspect%2ehtml?x"]
    {
        assert_eq!(server.get(spelling).status, 404, "{spelling}");
    }
    assert_eq!(server.get("/index.html").status, 200);
    assert!(server.status()["connections"].get("inspect").is_none());
}

#[test]
fn for_a_script_app_the_lines_exchanged_with_the_child_are_shown() {
    let data = support::TempDir::new("inspect-script");
    let script = data.path().join("echo.py");
    std::fs::write(
        &script,
        "import json, sys\n\
         print(json.dumps({'type': 'hello', 'version': 1}), flush=True)\n\
         for line in sys.stdin:\n\
         \x20   e = json.loads(line)\n\
         \x20   if e['type'] == 'message':\n\
         \x20       print(json.dumps({'type': 'send', 'to': e['id'], 'text': 'echo:' + e['text']}), flush=True)\n",
    )
    .unwrap();
    let mut config = support::test_config(data.path());
    config.scripts = vec![wslab::config::ScriptSpec {
        path: "/probe".into(),
        command: format!("python3 '{}'", script.display()),
    }];
    let server = TestServer::from_server(wslab::Server::new(config).unwrap(), data);
    let mut viewer = server.ws("/ws/inspect");
    viewer.recv_json();
    let mut client = server.ws("/probe");
    let id = listed(&mut viewer, |c| c["path"] == "/probe")["id"].clone();
    viewer.send_json(json!({"type": "watch", "client": id}));
    next_of(&mut viewer, "handshake");
    client.send("hi");
    assert_eq!(client.recv_text(), "echo:hi");
    let got = frames(&mut viewer, &id, 4);
    let to_app = got.iter().find(|f| f["dir"] == "to-app").expect("a line to the child");
    assert_eq!(to_app["opcode"], "line");
    assert!(to_app["text"].as_str().unwrap().contains("\"type\":\"message\""), "{to_app}");
    let from_app = got.iter().find(|f| f["dir"] == "from-app").expect("a line from the child");
    assert!(from_app["text"].as_str().unwrap().contains("echo:hi"), "{from_app}");
    assert!(got.iter().any(|f| f["dir"] == "in" && f["text"] == "hi"));
    assert!(got.iter().any(|f| f["dir"] == "out" && f["text"] == "echo:hi"));
}

#[test]
fn on_this_machine_another_sites_page_needs_the_token_too() {
    // A browser on the lab machine runs any site's page, and WebSockets are
    // not bound by the same-origin policy: only this server's own page may
    // skip the token.
    let server = TestServer::start();
    let upgrade = |origin: &str, host: &str| {
        let request = format!(
            "GET /ws/inspect HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        // The status line only: a 101 stays open.
        let mut socket = std::net::TcpStream::connect(server.addr).unwrap();
        socket.set_read_timeout(Some(support::WAIT)).unwrap();
        std::io::Write::write_all(&mut socket, request.as_bytes()).unwrap();
        let mut status = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(socket), &mut status).unwrap();
        status.split(' ').nth(1).unwrap_or("").to_string()
    };
    let own = format!("127.0.0.1:{}", server.addr.port());
    assert_eq!(upgrade(&format!("http://{own}"), &own), "101", "the inspector's own page");
    assert_eq!(upgrade("http://evil.example", &own), "403", "another site's page");
    let rebound = format!("rebound.example:{}", server.addr.port());
    assert_eq!(upgrade(&format!("http://{rebound}"), &rebound), "403", "a name rebound to 127.0.0.1");
}

#[test]
fn a_flood_of_watches_gets_few_replays_and_the_last_one_wins() {
    let server = TestServer::start();
    let mut viewer = server.ws("/ws/inspect");
    viewer.recv_json();
    let mut a = server.ws("/ws/echo");
    let mut b = server.ws("/ws/echo");
    a.send("a");
    a.recv_text();
    b.send("b");
    b.recv_text();
    let id_a = listed(&mut viewer, |c| c["app"] == "echo")["id"].clone();
    let id_b = listed(&mut viewer, |c| c["app"] == "echo" && c["id"] != id_a)["id"].clone();
    // 200 watches at once, ending on b: each would build a replay on the dispatcher.
    for n in 0..200 {
        let target = if n % 2 == 0 { &id_a } else { &id_b };
        viewer.send_json(json!({"type": "watch", "client": target}));
    }
    let (mut replays, mut last, mut ticks) = (0, Value::Null, 0);
    while ticks < 3 {
        let message = viewer.recv_json();
        match message["type"].as_str() {
            Some("frames") if message["replace"] == true => {
                replays += 1;
                last = message["client"].clone();
            }
            Some("tick") => ticks += 1,
            _ => {}
        }
    }
    assert!(replays <= 4, "{replays} replays for 200 watches");
    assert_eq!(last, id_b, "the latest watch is the one that holds");
}

#[test]
fn a_viewer_that_stops_reading_is_skipped_not_flooded_and_told_what_it_missed() {
    let server = TestServer::start();
    let mut viewer = server.ws("/ws/inspect");
    viewer.recv_json();
    let mut echo = server.ws("/ws/echo");
    echo.send("first");
    echo.recv_text();
    let id = listed(&mut viewer, |c| c["app"] == "echo")["id"].clone();
    viewer.send_json(json!({"type": "watch", "client": id}));
    assert_eq!(next_of(&mut viewer, "frames")["replace"], true);
    // The viewer reads nothing while 3,000 messages of 3 KB go both ways:
    // a `frames` message each, about 18 MB, far past its socket's buffers
    // and its outbox of 1,024 messages.
    let text = "x".repeat(3000);
    for _ in 0..3000 {
        echo.send(text.as_str());
        echo.recv_text();
    }
    // Now it reads: what was queued, then, at the next tick, a note of the
    // frames it was not sent. Never a 1008: its outbox never filled.
    loop {
        match viewer.socket.read() {
            Ok(tungstenite::Message::Text(message)) => {
                let message: Value = serde_json::from_str(message.as_str()).unwrap();
                let notes = message["frames"].as_array().into_iter().flatten().filter(|f| f["dir"] == "note");
                if notes.into_iter().any(|f| f["text"].as_str().unwrap().contains("frames not shown")) {
                    break;
                }
            }
            Ok(tungstenite::Message::Close(frame)) => panic!("the viewer was closed: {frame:?}"),
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn a_backend_sockets_messages_are_one_frame_each_however_they_were_split() {
    let server = TestServer::start();
    let mut viewer = server.ws("/ws/inspect");
    viewer.recv_json();
    let mut backend = std::net::TcpStream::connect(server.addr).unwrap();
    backend.set_read_timeout(Some(support::WAIT)).unwrap();
    backend.write_all(b"php process\n\n").unwrap();
    let mut reader = std::io::BufReader::new(backend.try_clone().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut reader, &mut line).unwrap(); // ready
    let id = listed(&mut viewer, |c| c["kind"] == "socket")["id"].clone();
    viewer.send_json(json!({"type": "watch", "client": id}));
    let handshake = next_of(&mut viewer, "handshake");
    assert_eq!(handshake["request"], "php process\n\n", "{handshake}");
    assert!(handshake.get("partial").is_none(), "{handshake}");
    next_of(&mut viewer, "frames");
    // One message in two writes, then one of 60 KB, which the server reads
    // 4 KiB at a time.
    backend.write_all(b"{\"opcode\":").unwrap();
    backend.flush().unwrap();
    backend.write_all(b"\"split\"}").unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
    let big = format!("{{\"opcode\":\"big\",\"pad\":\"{}\"}}", "x".repeat(60_000));
    backend.write_all(big.as_bytes()).unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
    let got: Vec<Value> = frames(&mut viewer, &id, 4).into_iter().filter(|f| f["dir"] == "in").collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["text"], "{\"opcode\":\"split\"}");
    assert_eq!(got[1]["len"], big.len());
    assert_eq!(got[1]["cut"], true);
}

#[test]
fn past_500_open_clients_the_list_says_how_many_it_left_out() {
    let server = TestServer::start();
    let mut viewer = server.ws("/ws/inspect");
    assert_eq!(viewer.recv_json()["unlisted"], 0);
    let clients: Vec<_> = (0..505).map(|_| raw_ws(server.addr, "/ws/echo")).collect();
    loop {
        let tick = next_of(&mut viewer, "tick");
        let listed = tick["clients"].as_array().unwrap().iter().filter(|c| c["closed"].is_null()).count();
        // 505 echo clients and the viewer: 500 listed, 6 left out.
        if tick["unlisted"] == 6 {
            assert_eq!(listed, 500);
            break;
        }
    }
    drop(clients);
}
