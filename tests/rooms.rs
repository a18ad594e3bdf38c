//! `/ws/room/NAME` and `/`: everyone in a room, the sender included, gets
//! every message; rooms stay apart; `/` is room `lobby`.

mod support;

use support::TestServer;
use tungstenite::Message;

#[test]
fn everyone_in_the_room_gets_every_message_sender_included() {
    let server = TestServer::start();
    let mut clients: Vec<_> = (0..3).map(|_| server.ws("/ws/room/math")).collect();
    clients[0].send("hello");
    for c in clients.iter_mut() {
        assert_eq!(c.recv_text(), "hello");
    }
    clients[1].send(vec![7u8, 8, 9]);
    for c in clients.iter_mut() {
        assert_eq!(c.recv(), Message::binary(vec![7u8, 8, 9]));
    }
    clients[2].send("text too");
    for c in clients.iter_mut() {
        assert_eq!(c.recv_text(), "text too");
    }
}

#[test]
fn two_rooms_stay_apart() {
    let server = TestServer::start();
    let mut a = server.ws("/ws/room/a");
    let mut b = server.ws("/ws/room/b");
    a.send("for a");
    assert_eq!(a.recv_text(), "for a");
    b.send("for b");
    // b's first message is its own: a's message never reached it.
    assert_eq!(b.recv_text(), "for b");
    a.send("again a");
    assert_eq!(a.recv_text(), "again a");
}

#[test]
fn root_path_joins_lobby() {
    let server = TestServer::start();
    let mut root = server.ws("/");
    let mut lobby = server.ws("/ws/room/lobby");
    lobby.send("ping");
    assert_eq!(lobby.recv_text(), "ping");
    assert_eq!(root.recv_text(), "ping");
    root.send("pong");
    assert_eq!(lobby.recv_text(), "pong");
}

#[test]
fn root_app_flag_puts_another_app_on_root() {
    let server = TestServer::with(|c| c.root_app = "echo".into());
    let mut root = server.ws("/");
    let mut lobby = server.ws("/ws/room/lobby");
    root.send("mine");
    assert_eq!(root.recv_text(), "mine");
    lobby.send("lobby");
    assert_eq!(lobby.recv_text(), "lobby");
}
