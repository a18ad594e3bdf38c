//! `/ws/echo` sends every text and binary message back unchanged, and the
//! handshake refuses unknown paths with 404 before any 101.

mod support;

use support::{TestServer, Ws};
use tungstenite::Message;

#[test]
fn echoes_text_and_binary_with_their_type() {
    let server = TestServer::start();
    let mut ws = server.ws("/ws/echo");
    ws.send("héllo 漢字 🎉");
    assert_eq!(ws.recv(), Message::text("héllo 漢字 🎉"));
    ws.send(vec![0u8, 1, 2, 255]);
    assert_eq!(ws.recv(), Message::binary(vec![0u8, 1, 2, 255]));
    ws.send("");
    assert_eq!(ws.recv(), Message::text(""));
}

#[test]
fn many_messages_come_back_in_order() {
    let server = TestServer::start();
    let mut ws = server.ws("/ws/echo");
    for i in 0..500 {
        ws.send(format!("m{i}"));
    }
    for i in 0..500 {
        assert_eq!(ws.recv_text(), format!("m{i}"));
    }
}

#[test]
fn a_message_sent_just_before_close_is_still_echoed() {
    let server = TestServer::start();
    let mut ws = server.ws("/ws/echo");
    ws.send("last words");
    ws.close();
    assert_eq!(ws.recv(), Message::text("last words"));
}

#[test]
fn unknown_websocket_path_gets_404_and_no_101() {
    let server = TestServer::start();
    for path in ["/ws/nope", "/ws/room/", "/ws/room/bad name", "/ws/echo/x"] {
        let err = Ws::try_connect(server.addr, &path.replace(' ', "%20")).err().expect("connected");
        match err {
            tungstenite::Error::Http(response) => assert_eq!(response.status(), 404, "{path}"),
            other => panic!("{path}: {other}"),
        }
    }
    let raw = server.raw(
        b"GET /ws/nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    assert!(!text.contains("101"), "{text}");
}

#[test]
fn handshake_answers_the_rfc_accept_key() {
    let server = TestServer::start();
    // RFC 6455 section 1.3's example key and accept value.
    let raw = server.raw(
        b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x88\x80\0\0\0\0",
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{text}");
}

#[test]
fn handshakes_rfc_6455_forbids_get_400_and_no_101() {
    let server = TestServer::start();
    let upgrade = |version: &str, host: &str, key: &str| {
        let head = format!(
            "GET /ws/echo HTTP/{version}\r\n{host}Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        support::parse_response(&server.raw(head.as_bytes()))
    };
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    assert_eq!(upgrade("1.1", "Host: x\r\n", key).status, 101);
    for (version, host, key, why) in [
        ("1.1", "Host: x\r\n", "abc", "16 bytes in base64"),
        ("1.1", "Host: x\r\n", "not base64 at all, this key!", "16 bytes in base64"),
        ("1.0", "Host: x\r\n", key, "HTTP/1.1"),
        ("1.1", "", key, "Host"),
        ("1.1", "Host: x\r\nHost: y\r\n", key, "Host"),
    ] {
        let r = upgrade(version, host, key);
        assert_eq!(r.status, 400, "{version} {host:?} {key}: {}", r.head);
        assert!(r.text().contains(why), "{}", r.text());
    }
}

#[test]
fn wrong_version_gets_426() {
    let server = TestServer::start();
    let r = support::parse_response(&server.raw(
        b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
    ));
    assert_eq!(r.status, 426);
    assert_eq!(r.header("Sec-WebSocket-Version").as_deref(), Some("13"));
}
