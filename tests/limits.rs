//! The limits of spec §4 with their exact close codes and HTTP statuses,
//! keepalive, slow and stalled clients, panic isolation, protocol errors,
//! origins, and graceful shutdown.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{client_frame, raw_ws, read_frame, Child, TempDir, TestServer, Ws, WAIT};
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::Message;
use wslab::{App, ClientId, Ctx, Server};

#[test]
fn a_message_one_byte_over_the_limit_gets_1009() {
    let server = TestServer::start();
    let mut ws = server.ws("/ws/echo");
    let limit = 1 << 20;
    ws.send(vec![b'a'; limit]);
    assert_eq!(ws.recv(), Message::binary(vec![b'a'; limit]));
    ws.send(vec![b'a'; limit + 1]);
    assert_eq!(ws.expect_close(), 1009);
}

#[test]
fn a_fragmented_message_over_the_limit_gets_1009() {
    let server = TestServer::with(|c| c.max_message_size = 1000);
    let mut s = raw_ws(server.addr, "/ws/echo");
    let mut first = client_frame(1, &[b'a'; 600]);
    first[0] &= 0x7f; // not final
    s.write_all(&first).unwrap();
    s.write_all(&client_frame(0, &[b'a'; 600])).unwrap();
    let frame = read_frame(&mut s).expect("a close frame");
    assert_eq!(frame.close_code(), Some(1009));
}

#[test]
fn the_connection_over_the_limit_gets_503() {
    let server = TestServer::with(|c| c.max_connections = 3);
    let mut open: Vec<Ws> = (0..3).map(|_| server.ws("/ws/echo")).collect();
    for ws in open.iter_mut() {
        ws.send("here");
        assert_eq!(ws.recv_text(), "here");
    }
    let r = server.get("/");
    assert_eq!(r.status, 503);
    match Ws::try_connect(server.addr, "/ws/echo") {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 503),
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
    // A slot frees up when a client leaves.
    open.pop().unwrap().close();
    support::wait_until("a free slot", || server.get("/").status == 200);
}

#[test]
fn a_request_head_over_8_kib_gets_431() {
    let server = TestServer::start();
    let head = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n", "p".repeat(9 * 1024));
    assert_eq!(support::http(server.addr, &head).status, 431);
}

#[test]
fn half_a_request_head_is_closed_after_the_handshake_timeout() {
    let server = TestServer::with(|c| c.handshake_timeout = Duration::from_millis(300));
    let started = Instant::now();
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut buf = Vec::new();
    let n = s.read_to_end(&mut buf).expect("closed, not timed out");
    assert_eq!(n, 0, "no answer to half a head");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300) && took < WAIT, "closed after {took:?}");
    // A silent connection too.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(s.read(&mut [0u8; 16]).expect("closed, not timed out"), 0);
}

#[test]
fn keepalive_keeps_clients_that_answer_and_closes_those_that_do_not() {
    let server = TestServer::with(|c| c.ping_interval = Duration::from_millis(100));
    let mut alive = server.ws("/ws/echo");
    let mut silent = raw_ws(server.addr, "/ws/echo");
    // tungstenite answers pings while reading: wait for five pings, more than two intervals.
    let mut pings = 0;
    while pings < 5 {
        if let Message::Ping(_) = alive.socket.read().unwrap() {
            pings += 1;
        }
    }
    alive.send("still here");
    assert_eq!(alive.recv_text(), "still here");
    // The silent one got pings, never answered, and was closed.
    loop {
        match read_frame(&mut silent) {
            Some(f) if f.opcode == 9 => continue,
            Some(f) if f.opcode == 8 => break,
            Some(f) => panic!("unexpected frame {f:?}"),
            None => break,
        }
    }
    support::wait_until("the silent client to be gone", || server.status()["connections"]["echo"] == 1);
    // Pings are not data messages: only the echo counts.
    let status = server.status();
    assert_eq!((status["messages_in"].as_u64(), status["messages_out"].as_u64()), (Some(1), Some(1)));
}

#[test]
fn clients_own_pings_are_answered() {
    let server = TestServer::start();
    let mut ws = server.ws("/ws/echo");
    ws.socket.send(Message::Ping(b"are you there".to_vec().into())).unwrap();
    match ws.socket.read().unwrap() {
        Message::Pong(p) => assert_eq!(&p[..], b"are you there"),
        other => panic!("expected pong, got {other:?}"),
    }
}

/// Message `n` of the stalled-client test: 512 bytes, so that 20,000 of
/// them overflow the kernel's socket buffers of a client that never reads.
fn message(n: usize) -> String {
    format!("m{n:<511}")
}

#[test]
fn a_stalled_client_is_closed_with_1008_and_nobody_else_waits() {
    const MESSAGES: usize = 20_000;
    const READERS: usize = 50;
    let server = TestServer::start();
    let mut stalled = raw_ws(server.addr, "/ws/room/busy");
    let received: Arc<Vec<AtomicUsize>> = Arc::new((0..READERS).map(|_| AtomicUsize::new(0)).collect());
    let mut readers = Vec::new();
    for i in 0..READERS {
        let mut ws = server.ws("/ws/room/busy");
        let received = received.clone();
        readers.push(std::thread::spawn(move || {
            for n in 0..MESSAGES {
                assert_eq!(ws.recv_text(), message(n), "reader {i}");
                received[i].store(n + 1, Ordering::Relaxed);
            }
        }));
    }
    // The sender is in the room too, so it gets every message back: a
    // second thread drains its socket so that it does not stall as well.
    let mut sender = raw_ws(server.addr, "/ws/room/busy");
    let mut drain = sender.try_clone().unwrap();
    std::thread::spawn(move || std::io::copy(&mut drain, &mut std::io::sink()));
    let progress = received.clone();
    let sending = std::thread::spawn(move || {
        for n in 0..MESSAGES {
            // Keep honest readers within a window, so that only the stalled one falls behind.
            while n >= 256 && progress.iter().any(|r| r.load(Ordering::Relaxed) + 256 < n) {
                std::thread::yield_now();
            }
            sender.write_all(&client_frame(1, message(n).as_bytes())).unwrap();
        }
        sender
    });
    // The stalled client's outbox fills, and the server lets it go...
    support::wait_until("the stalled client to be dropped", || {
        server.status()["connections"]["room"] == READERS + 1
    });
    // ...with 1008 once it reads again: what fitted in the buffers, then the close.
    let mut code = None;
    while let Some(frame) = read_frame(&mut stalled) {
        if frame.opcode == 8 {
            code = frame.close_code();
            break;
        }
    }
    // Meanwhile everybody else got every message.
    let _sender = sending.join().unwrap();
    for r in readers {
        r.join().expect("a reader missed a message");
    }
    assert_eq!(code, Some(1008));
}

struct Grenade;

impl App for Grenade {
    fn on_message(&mut self, ctx: &mut Ctx, client: ClientId, message: wslab::Message) {
        if message.as_text() == Some("boom") {
            panic!("the student's app panicked");
        }
        ctx.send(client, message);
    }
}

#[test]
fn a_panic_in_an_app_closes_that_client_with_1011_and_nothing_else() {
    let data = TempDir::new("panic");
    let mut server = Server::new(support::test_config(data.path())).unwrap();
    server.mount("grenade", "/ws/grenade", Grenade);
    let server = TestServer::from_server(server, data);
    let mut victim = server.ws("/ws/grenade");
    let mut bystander = server.ws("/ws/grenade");
    let mut echo = server.ws("/ws/echo");
    victim.send("boom");
    assert_eq!(victim.expect_close(), 1011);
    bystander.send("fine");
    assert_eq!(bystander.recv_text(), "fine");
    echo.send("fine too");
    assert_eq!(echo.recv_text(), "fine too");
    let mut again = server.ws("/ws/grenade");
    again.send("new client");
    assert_eq!(again.recv_text(), "new client");
}

#[test]
fn invalid_utf8_in_a_text_frame_gets_1007() {
    let server = TestServer::start();
    let mut ws = server.ws("/ws/echo");
    ws.socket
        .send(Message::Frame(Frame::message(vec![0xce, 0xba, 0xff, 0xfe], OpCode::Data(Data::Text), true)))
        .unwrap();
    assert_eq!(ws.expect_close(), 1007);
}

#[test]
fn an_unmasked_client_frame_gets_1002() {
    let server = TestServer::start();
    let mut s = raw_ws(server.addr, "/ws/echo");
    s.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
    let frame = read_frame(&mut s).expect("a close frame");
    assert_eq!(frame.close_code(), Some(1002));
}

#[test]
fn messages_before_a_protocol_error_are_still_answered() {
    let server = TestServer::start();
    let mut s = raw_ws(server.addr, "/ws/echo");
    let mut bytes = client_frame(1, b"first");
    bytes.extend_from_slice(&[0x81, 0x02, b'h', b'i']); // unmasked
    s.write_all(&bytes).unwrap();
    let echo = read_frame(&mut s).unwrap();
    assert_eq!((echo.opcode, &echo.payload[..]), (1, &b"first"[..]));
    assert_eq!(read_frame(&mut s).unwrap().close_code(), Some(1002));
}

#[test]
fn origins_outside_the_allowed_list_get_403() {
    let server = TestServer::with(|c| c.allow_origins = vec!["http://lab.example".into()]);
    let upgrade = |origin: &str| {
        support::http(
            server.addr,
            &format!(
                "GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Origin: {origin}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Version: 13\r\n\r\n"
            ),
        )
        .status
    };
    assert_eq!(upgrade("http://evil.example"), 403);
    assert_eq!(upgrade("http://lab.example"), 101);
    // Without the flag, any origin is fine.
    let open = TestServer::start();
    let r = support::raw(
        open.addr,
        b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Origin: http://anything\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 13\r\n\r\n\x88\x80\0\0\0\0",
    );
    assert!(r.starts_with(b"HTTP/1.1 101"));
}

#[test]
fn sigterm_closes_every_client_with_1001_and_exits_0() {
    let mut child = Child::start(&[]);
    let mut clients: Vec<Ws> =
        ["/ws/echo", "/ws/room/a", "/"].iter().map(|p| Ws::connect(child.addr(), p)).collect();
    for ws in clients.iter_mut() {
        ws.send("hi");
        assert_eq!(ws.recv_text(), "hi");
    }
    let started = Instant::now();
    child.signal(15);
    for ws in clients.iter_mut() {
        assert_eq!(ws.expect_close(), 1001);
    }
    assert_eq!(child.wait_exit(Duration::from_secs(2)), Some(0));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn sigint_exits_0_too() {
    let mut child = Child::start(&[]);
    let mut ws = Ws::connect(child.addr(), "/ws/echo");
    ws.send("hi");
    assert_eq!(ws.recv_text(), "hi");
    child.signal(2);
    assert_eq!(ws.expect_close(), 1001);
    assert_eq!(child.wait_exit(Duration::from_secs(2)), Some(0));
}

#[test]
#[cfg_attr(not(debug_assertions), ignore = "the fault injection exists in debug builds only")]
fn a_panic_in_a_client_thread_never_leaks_the_client() {
    // Debug builds panic a client thread on this message (see conn/ws.rs).
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wslab"));
    child.env("WSLAB_PANIC_ON", "panic in my thread, please");
    let mut child = Child::spawn(child, &[]);
    let mut bystander = Ws::connect(child.addr(), "/ws/chat");
    bystander.send_json(serde_json::json!({"type": "login", "user": "bystander"}));
    assert_eq!(bystander.recv_json()["type"], "welcome");
    let mut victim = Ws::connect(child.addr(), "/ws/chat");
    victim.send_json(serde_json::json!({"type": "login", "user": "victim"}));
    assert_eq!(victim.recv_json()["type"], "welcome");
    assert_eq!(bystander.recv_json(), serde_json::json!({"type": "join", "user": "victim"}));
    victim.send("panic in my thread, please");
    // The dispatcher saw it leave: its app said so to the others.
    assert_eq!(bystander.recv_json(), serde_json::json!({"type": "leave", "user": "victim"}));
    child.wait_line("injected panic in a connection thread");
    // And everything else goes on.
    bystander.send_json(serde_json::json!({"type": "chat", "text": "still here"}));
    assert_eq!(bystander.recv_json()["text"], "still here");
    let status = support::http(child.addr(), "GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n").json();
    assert_eq!(status["connections"]["chat"], 1);
}

#[test]
fn a_burst_of_small_messages_in_one_write_all_come_back() {
    // A student's loop of 3,000 sends: three times --outbox-size in one
    // round, which a reading client's socket takes at once.
    let server = TestServer::start();
    let mut ws = raw_ws(server.addr, "/ws/echo");
    let burst: Vec<u8> =
        (0..3000u32).flat_map(|n| client_frame(1, (n % 100).to_string().as_bytes())).collect();
    ws.write_all(&burst).unwrap();
    for n in 0..3000u32 {
        let frame = read_frame(&mut ws).expect("an echo, not the end");
        assert_eq!(frame.opcode, 1, "echo {n} is a text frame, not a close");
        assert_eq!(frame.payload, (n % 100).to_string().into_bytes(), "echo {n}");
    }
}
