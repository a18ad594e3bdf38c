//! The app API on a real server: what an app sees of the request that
//! opened a client, `on_error` for a panic and for a protocol error, and
//! `Server::empty` with an app of one's own.

mod support;

use std::io::Write;

use serde_json::json;
use support::{raw_ws, read_frame, test_config, TempDir, TestServer, Ws, WAIT};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use wslab::{App, ClientId, CloseStatus, Ctx, Message, Server, TestCtx};

/// Tells each client what it looks like from the server, and tells the
/// watcher (the first client) about every error.
#[derive(Default)]
struct Mirror {
    watcher: Option<ClientId>,
}

impl App for Mirror {
    fn on_open(&mut self, ctx: &mut Ctx, client: ClientId) {
        self.watcher.get_or_insert(client);
        let info = ctx.info(client).unwrap();
        let seen = json!({
            "id": info.id,
            "peer_ip": info.peer.ip().to_string(),
            "path": info.path,
            "param": info.param,
            "query": info.query,
            "origin": info.header("origin"),
            "agent": info.header("User-Agent"),
            "cookie": info.header("Cookie"),
            "subprotocol": info.subprotocol,
        });
        ctx.send_json(client, &seen);
    }

    fn on_message(&mut self, _ctx: &mut Ctx, _client: ClientId, message: Message) {
        if message.as_text() == Some("boom") {
            panic!("the app's bug");
        }
    }

    fn on_close(&mut self, ctx: &mut Ctx, client: ClientId) {
        let status = ctx.close_status().cloned().expect("on_close has a close status");
        if let Some(watcher) = self.watcher.filter(|&w| w != client) {
            let seen = json!({"closed": client, "code": status.code, "reason": status.reason, "by_server": status.by_server});
            ctx.send_json(watcher, &seen);
        }
    }

    fn on_error(&mut self, ctx: &mut Ctx, client: ClientId, error: &str) {
        if let Some(watcher) = self.watcher.filter(|&w| w != client) {
            ctx.send_json(watcher, &json!({"error_of": client, "error": error}));
        }
    }
}

fn mirror_server() -> TestServer {
    let data = TempDir::new("app-api");
    let mut server = Server::empty(test_config(data.path()));
    server.mount("mirror", "/ws/mirror", Mirror::default());
    TestServer::from_server(server, data)
}

#[test]
fn an_app_sees_the_path_query_headers_and_subprotocol() {
    let server = mirror_server();
    let mut request =
        format!("ws://{}/ws/mirror?name=Ann+Lee&room=a%2Fb&flag", server.addr).into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("Origin", "http://lab:8123".parse().unwrap());
    headers.insert("User-Agent", "test-browser/1.0".parse().unwrap());
    headers.insert("Cookie", "session=abc".parse().unwrap());
    headers.insert("Sec-WebSocket-Protocol", "chat, v2".parse().unwrap());
    headers.insert("X-Other", "not kept".parse().unwrap());
    let stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let (mut ws, response) = tungstenite::client::client(request, stream).unwrap();
    assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "chat");
    let seen: serde_json::Value = serde_json::from_str(ws.read().unwrap().to_text().unwrap()).unwrap();
    assert!(seen["id"].as_u64().unwrap() >= 1);
    assert_eq!(seen["peer_ip"], "127.0.0.1");
    assert_eq!(seen["path"], "/ws/mirror");
    assert_eq!(seen["param"], "");
    assert_eq!(seen["query"], json!([["name", "Ann Lee"], ["room", "a/b"], ["flag", ""]]));
    assert_eq!(seen["origin"], "http://lab:8123");
    assert_eq!(seen["agent"], "test-browser/1.0");
    assert_eq!(seen["cookie"], "session=abc");
    assert_eq!(seen["subprotocol"], "chat");
}

#[test]
fn on_error_hears_of_a_panic_in_a_hook_and_of_a_protocol_error() {
    let server = mirror_server();
    let mut watcher = server.ws("/ws/mirror");
    watcher.recv_json();
    let mut buggy = server.ws("/ws/mirror");
    let buggy_id = buggy.recv_json()["id"].clone();
    buggy.send("boom");
    assert_eq!(buggy.expect_close(), 1011);
    let heard = watcher.recv_json();
    assert_eq!(heard["error_of"], buggy_id);
    assert!(heard["error"].as_str().unwrap().contains("the app's bug"), "{heard}");
    let closed = json!({"closed": buggy_id, "code": 1011, "reason": "internal error", "by_server": true});
    assert_eq!(watcher.recv_json(), closed);

    let mut rude = raw_ws(server.addr, "/ws/mirror");
    let first = read_frame(&mut rude).unwrap(); // what the app saw
    let rude_id = serde_json::from_slice::<serde_json::Value>(&first.payload).unwrap()["id"].clone();
    rude.write_all(&[0x81, 0x02, b'h', b'i']).unwrap(); // unmasked: a protocol error
    let close = loop {
        let frame = read_frame(&mut rude).expect("a close frame");
        if frame.opcode == 8 {
            break frame;
        }
    };
    assert_eq!(close.close_code(), Some(1002));
    let heard = watcher.recv_json();
    assert_eq!(heard["error_of"], rude_id);
    assert!(heard["error"].as_str().unwrap().contains("1002"), "{heard}");
    let closed = json!({"closed": rude_id, "code": 1002, "reason": "protocol error", "by_server": true});
    assert_eq!(watcher.recv_json(), closed);
}

#[test]
fn on_close_tells_the_code_and_reason_the_peer_closed_with() {
    let server = mirror_server();
    let mut watcher = server.ws("/ws/mirror");
    watcher.recv_json();
    let mut leaving = server.ws("/ws/mirror");
    let id = leaving.recv_json()["id"].clone();
    let frame = CloseFrame { code: CloseCode::Away, reason: "tab closed".into() };
    leaving.socket.close(Some(frame)).unwrap();
    let _ = leaving.socket.flush();
    let closed = json!({"closed": id, "code": 1001, "reason": "tab closed", "by_server": false});
    assert_eq!(watcher.recv_json(), closed);

    // In a unit test, TestCtx passes the status it is given.
    let mut t = TestCtx::new();
    let mut app = Mirror::default();
    let (a, b) = (t.open(&mut app, "/ws/mirror"), t.open(&mut app, "/ws/mirror"));
    t.sent();
    t.disconnect_with(&mut app, b, CloseStatus::dropped());
    let seen = json!({"closed": b, "code": 1006, "reason": "", "by_server": false});
    assert_eq!(t.json_to(a), vec![seen]);
}

#[test]
fn an_empty_server_with_one_app_has_no_root_app_and_unknown_root_apps_are_refused() {
    let server = mirror_server();
    assert!(Ws::try_connect(server.addr, "/").is_err(), "nothing on / without --root-app");
    let data = TempDir::new("app-api-root");
    let mut config = test_config(data.path());
    config.root_app = "nope".into();
    let mut server = Server::empty(config);
    server.mount("mirror", "/ws/mirror", Mirror::default());
    let error = server.start().err().expect("an unknown --root-app is refused").to_string();
    assert!(error.contains("--root-app nope") && error.contains("mirror"), "{error}");
}
