//! Property tests at the socket level, against the real binary: a head and
//! frames cut into random pieces (each its own write, `TCP_NODELAY`) give
//! the same answers as when sent whole; random bytes where a request head
//! belongs never get a 101 and never make the server panic.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use support::{client_frame, read_frame, Child, TempDir, WAIT};

const UPGRADE: &[u8] = b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Cases per property: each is a connection or two to the server.
const CASES: u32 = 64;

/// A server for one property, and its data directory.
fn server(tag: &str) -> (Child, TempDir) {
    let data = TempDir::new(tag);
    let child = Child::start(&["--data", data.path().to_str().unwrap(), "--handshake-timeout", "2s"]);
    (child, data)
}

/// `bytes` cut at `cuts` (taken modulo its length), in order.
fn pieces(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for p in points {
        out.push(bytes[start..p].to_vec());
        start = p;
    }
    out.push(bytes[start..].to_vec());
    out
}

/// Sends `chunks` (one write each) and returns the answer's status line
/// and the payloads of the first `expected` frames after it.
fn converse(addr: SocketAddr, chunks: &[Vec<u8>], expected: usize) -> (String, Vec<Vec<u8>>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    for chunk in chunks.iter().filter(|c| !c.is_empty()) {
        s.write_all(chunk).unwrap();
    }
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let echoes = (0..expected).map(|_| read_frame(&mut s).expect("an echo").payload).collect();
    (String::from_utf8_lossy(&head).lines().next().unwrap_or("").to_string(), echoes)
}

/// The server's log so far shows no panic.
fn no_panic_so_far(child: &mut Child) -> Result<(), TestCaseError> {
    let log = child.log_now();
    prop_assert!(!log.iter().any(|l| l.contains("panicked")), "{}", log.join("\n"));
    Ok(())
}

#[test]
fn a_head_and_frames_cut_anywhere_get_the_same_echoes_as_whole() {
    let (child, _data) = server("split-frames");
    let addr = child.addr();
    let child = std::cell::RefCell::new(child);
    let cases =
        (prop::collection::vec("[a-zA-Z0-9 éü€]{0,300}", 1..6), prop::collection::vec(any::<usize>(), 0..24));
    let mut runner = TestRunner::new(Config { cases: CASES, ..Config::default() });
    runner
        .run(&cases, |(messages, cuts)| {
            let mut bytes = UPGRADE.to_vec();
            for m in &messages {
                bytes.extend(client_frame(1, m.as_bytes()));
            }
            let whole = converse(addr, &[bytes.clone()], messages.len());
            let split = converse(addr, &pieces(&bytes, &cuts), messages.len());
            prop_assert_eq!(&whole.0, "HTTP/1.1 101 Switching Protocols");
            prop_assert_eq!(&whole, &split);
            let sent: Vec<Vec<u8>> = messages.iter().map(|m| m.as_bytes().to_vec()).collect();
            prop_assert_eq!(whole.1, sent);
            no_panic_so_far(&mut child.borrow_mut())
        })
        .unwrap();
}

#[test]
fn random_bytes_where_a_head_belongs_never_get_a_101_or_a_panic() {
    let (child, _data) = server("random-heads");
    let addr = child.addr();
    let child = std::cell::RefCell::new(child);
    let prefixes: Vec<&[u8]> =
        vec![b"", b"GET /ws/echo HTTP/1.1\r\n", b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n"];
    let cases = (prop::collection::vec(any::<u8>(), 0..3000), prop::sample::select(prefixes));
    let mut runner = TestRunner::new(Config { cases: CASES, ..Config::default() });
    runner
        .run(&cases, |(bytes, prefix)| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(WAIT)).unwrap();
            let mut all = prefix.to_vec();
            all.extend_from_slice(&bytes);
            let _ = s.write_all(&all);
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer);
            prop_assert!(!answer.starts_with(b"HTTP/1.1 101"), "{:?}", String::from_utf8_lossy(&answer));
            no_panic_so_far(&mut child.borrow_mut())
        })
        .unwrap();
}
