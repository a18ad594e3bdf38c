//! The attacks other WebSocket servers fell to (docs/security.md), each
//! against the real binary on a real socket: the peer gets the clear error
//! (a close code or an HTTP status), another client on the same server is
//! answered as before, and the server's memory stays bounded.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use support::{client_frame, raw_ws, read_frame, Child, TempDir, Ws, WAIT};

/// The server with `args`, and its data directory.
fn server(tag: &str, args: &[&str]) -> (Child, TempDir) {
    let data = TempDir::new(tag);
    let mut all = vec!["--data", data.path().to_str().unwrap()];
    all.extend_from_slice(args);
    (Child::start(&all), data)
}

/// The server process's resident memory, in bytes.
fn rss(child: &Child) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.child.id())).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// Another client is served as before: an echo comes back.
fn others_are_served(addr: SocketAddr) {
    let mut ws = Ws::connect(addr, "/ws/echo");
    ws.send("still here?");
    assert_eq!(ws.recv_text(), "still here?");
}

/// Reads frames until a close frame; returns its code (`None`: the stream
/// ended without one).
fn close_code(s: &mut TcpStream) -> Option<u16> {
    while let Some(frame) = read_frame(s) {
        if frame.opcode == 8 {
            return frame.close_code();
        }
    }
    None
}

/// A masked client frame with FIN as given.
fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = client_frame(opcode, payload);
    if !fin {
        f[0] &= 0x7f;
    }
    f
}

/// Writes `bytes` in pieces until done or the server stops taking them.
fn write_all_or_stop(s: &mut TcpStream, bytes: &[u8]) {
    for piece in bytes.chunks(64 * 1024) {
        if s.write_all(piece).is_err() {
            return;
        }
    }
}

/// Reads until the peer ends the stream (true) or the read times out (false).
fn reads_to_the_end(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn a_message_that_never_finishes_in_one_byte_continuations_is_cut_at_the_size_limit() {
    let (child, _data) = server("never-ends", &["--max-message-size", "64KiB"]);
    let before = rss(&child);
    let mut s = raw_ws(child.addr(), "/ws/echo");
    let mut bytes = frame(1, false, b"a");
    for _ in 0..100_000 {
        bytes.extend(frame(0, false, b"b"));
    }
    let writer = {
        let mut s = s.try_clone().unwrap();
        thread::spawn(move || write_all_or_stop(&mut s, &bytes))
    };
    assert_eq!(close_code(&mut s), Some(1009));
    writer.join().unwrap();
    others_are_served(child.addr());
    assert!(rss(&child) < before + (16 << 20), "RSS grew from {before} to {}", rss(&child));
}

#[test]
fn empty_continuations_add_nothing_and_the_message_still_ends() {
    let (child, _data) = server("empty-cont", &["--max-message-size", "64KiB"]);
    let before = rss(&child);
    let mut s = raw_ws(child.addr(), "/ws/echo");
    let mut bytes = frame(1, false, b"a");
    for _ in 0..100_000 {
        bytes.extend(frame(0, false, b""));
    }
    bytes.extend(frame(0, true, b"z"));
    let writer = {
        let mut s = s.try_clone().unwrap();
        thread::spawn(move || write_all_or_stop(&mut s, &bytes))
    };
    let echo = read_frame(&mut s).expect("the echo of the message");
    assert_eq!((echo.opcode, echo.payload.as_slice()), (1, &b"az"[..]));
    writer.join().unwrap();
    others_are_served(child.addr());
    assert!(rss(&child) < before + (16 << 20), "RSS grew from {before} to {}", rss(&child));
}

#[test]
fn a_frame_length_of_2_pow_63_gets_1009_before_any_allocation() {
    let (child, _data) = server("huge-length", &[]);
    let before = rss(&child);
    for length in [1u64 << 63, u64::MAX >> 1, (1 << 20) + 1] {
        let mut s = raw_ws(child.addr(), "/ws/echo");
        let mut header = vec![0x82, 0x80 | 127];
        header.extend_from_slice(&length.to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        header.extend_from_slice(b"only a few bytes follow");
        s.write_all(&header).unwrap();
        assert_eq!(close_code(&mut s), Some(1009), "length {length}");
    }
    others_are_served(child.addr());
    assert!(rss(&child) < before + (16 << 20), "RSS grew from {before} to {}", rss(&child));
}

/// Sends `head` on a new connection and returns the status line's code.
fn status_of(addr: SocketAddr, head: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write_all_or_stop(&mut s, head);
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status in {text:?}"))
}

const UPGRADE: &str = "GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

#[test]
fn heads_with_a_thousand_headers_huge_protocol_lists_or_no_colon_get_clear_answers() {
    let (child, _data) = server("heads", &[]);
    let addr = child.addr();
    let many: String = (0..1000).map(|i| format!("x{i}:y\r\n")).collect();
    assert_eq!(status_of(addr, format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()), 431);
    assert_eq!(status_of(addr, format!("{UPGRADE}{many}\r\n").as_bytes()), 431);

    // 7 KiB lists (CVE-2021-32640, CVE-2020-7662): answered at once, no extension taken.
    let protocols: String = (0..1024).map(|i| format!("p{i:04}, ")).collect::<String>() + "last";
    assert!(protocols.len() > 6 * 1024);
    let head = format!("{UPGRADE}Sec-WebSocket-Protocol: {protocols}\r\n\r\n");
    assert_eq!(status_of(addr, head.as_bytes()), 101);
    let extensions: String =
        (0..640).map(|i| format!("x-{i:03}; a=1, ")).collect::<String>() + "permessage-deflate";
    assert!(extensions.len() > 6 * 1024);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(format!("{UPGRADE}Sec-WebSocket-Extensions: {extensions}\r\n\r\n").as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(!head.contains("sec-websocket-extensions"), "no extension is negotiated: {head}");

    assert_eq!(status_of(addr, b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"), 400);
    others_are_served(addr);
}

/// Sends `at_once`, then `dripped` one byte every 100 ms from a thread of
/// its own; true when the server ended the connection before all was sent.
fn cut_while_dripping(addr: SocketAddr, at_once: &[u8], dripped: Vec<u8>) -> bool {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    s.write_all(at_once).unwrap();
    let mut w = s.try_clone().unwrap();
    let drip = thread::spawn(move || {
        for b in dripped {
            if w.write_all(&[b]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(100)); // the attack's pace
        }
    });
    let cut = reads_to_the_end(&mut s);
    let _ = s.shutdown(std::net::Shutdown::Both);
    drip.join().unwrap();
    cut
}

#[test]
fn a_head_or_a_body_sent_one_byte_every_100_ms_is_cut_at_the_handshake_timeout() {
    let (child, _data) = server("slowloris", &["--handshake-timeout", "1s"]);
    let addr = child.addr();
    // 200 bytes at 10 per second would take 20 s; the timeout is for the whole head.
    let head = format!("GET /ws/echo HTTP/1.1\r\nHost: x\r\nX-Slow: {}\r\n\r\n", "a".repeat(150));
    assert!(cut_while_dripping(addr, b"", head.into_bytes()), "the head was not cut");
    let body = "{\"uuid\":\"x\",\"message\":\"".to_string() + &"a".repeat(150) + "\"}";
    let post = format!(
        "POST /api/relay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    assert!(cut_while_dripping(addr, post.as_bytes(), body.into_bytes()), "the body was not cut");
    // The legacy greeting's last letter just before the timeout, then a
    // space at a time: the deadline is still the one of the first byte.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    let started = std::time::Instant::now();
    s.write_all(b"php proces").unwrap();
    let mut w = s.try_clone().unwrap();
    let drip = thread::spawn(move || {
        thread::sleep(Duration::from_millis(900)); // the attack's pace
        for b in std::iter::once(b's').chain(std::iter::repeat_n(b' ', 30)) {
            if w.write_all(&[b]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    assert!(reads_to_the_end(&mut s), "the greeting was not cut");
    let cut_at = started.elapsed();
    let _ = s.shutdown(std::net::Shutdown::Both);
    drip.join().unwrap();
    assert!(cut_at < Duration::from_millis(1600), "cut after {cut_at:?}, not at the 1 s handshake timeout");
    others_are_served(addr);
}

#[test]
fn more_connections_from_one_address_than_allowed_get_503_and_others_get_in() {
    let (child, _data) = server("per-ip", &["--max-connections-per-ip", "3"]);
    let addr = child.addr();
    let mut mine: Vec<Ws> = (0..3).map(|_| Ws::connect(addr, "/ws/echo")).collect();
    match Ws::try_connect(addr, "/ws/echo") {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        Err(e) => panic!("expected 503, got {e}"),
        Ok(_) => panic!("expected 503, got a 101"),
    }
    // Another address (127.0.0.2 is this machine too) is not held back.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into()).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let (mut other, _) = tungstenite::client::client(format!("ws://{addr}/ws/echo"), stream).unwrap();
    other.send("from .2".into()).unwrap();
    assert_eq!(other.read().unwrap().into_text().unwrap().as_str(), "from .2");
    // One leaves: one more may come.
    mine.pop().unwrap().close();
    support::wait_until("a place to free up", || Ws::try_connect(addr, "/ws/echo").is_ok());
}

#[test]
fn a_ping_flood_without_reading_the_pongs_is_closed_with_1008() {
    let (child, _data) = server("ping-flood", &[]);
    let before = rss(&child);
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&child.addr().into()).unwrap();
    let mut s: TcpStream = socket.into();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(UPGRADE.as_bytes()).unwrap();
    s.write_all(b"\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    // Pings with the largest payload, never reading: until the server stops taking them.
    let ping = client_frame(9, &[b'p'; 125]);
    let batch: Vec<u8> = ping.iter().copied().cycle().take(ping.len() * 1000).collect();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut sent = 0;
    while sent < 1_000_000 && s.write_all(&batch).is_ok() {
        sent += 1000;
    }
    let mut child = child;
    child.wait_line("pings without reading");
    others_are_served(child.addr());
    assert!(rss(&child) < before + (64 << 20), "RSS grew from {before} to {}", rss(&child));
    // A client that never reads never sees the close frame; its connection ends.
    assert!(reads_to_the_end(&mut s), "the flooding client was not closed (after {sent} pings)");
}

#[test]
fn a_backend_sending_64_kib_of_braces_gets_an_error_line_and_is_closed() {
    let (child, _data) = server("braces", &[]);
    let mut s = TcpStream::connect(child.addr()).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let writer = {
        let mut s = s.try_clone().unwrap();
        thread::spawn(move || write_all_or_stop(&mut s, &vec![b'{'; 64 * 1024 + 16]))
    };
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    writer.join().unwrap();
    assert!(answer.starts_with("{\"opcode\":\"error\""), "{answer:?}");
    assert!(answer.trim_end().ends_with('}') && answer.lines().count() == 1, "{answer:?}");
    others_are_served(child.addr());
}

#[test]
fn a_thousand_silent_sockets_are_closed_at_the_handshake_timeout_and_others_get_in() {
    let _ = rlimit::increase_nofile_limit(8192);
    let (child, _data) = server("silent", &["--handshake-timeout", "1s"]);
    let before = rss(&child);
    let mut silent: Vec<TcpStream> = (0..1000).map(|_| TcpStream::connect(child.addr()).unwrap()).collect();
    others_are_served(child.addr());
    for s in &mut silent {
        s.set_read_timeout(Some(WAIT)).unwrap();
        assert!(reads_to_the_end(s), "a silent socket was kept past the timeout");
    }
    others_are_served(child.addr());
    assert!(rss(&child) < before + (64 << 20), "RSS grew from {before} to {}", rss(&child));
}
