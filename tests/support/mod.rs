//! Shared test helpers: an in-process [`TestServer`] on an ephemeral port,
//! a blocking WebSocket client [`Ws`], raw HTTP, and the server binary as a
//! child process ([`Child`]). Every wait has a timeout; nothing sleeps.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver};
use serde_json::Value;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};
use wslab::{Config, Running, Server};

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// The project's `www/`.
pub fn www() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("www")
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "wslab-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The configuration tests start from: loopback, port 0, the project's
/// `www/`, a fresh data directory.
pub fn test_config(data: &Path) -> Config {
    Config {
        host: "127.0.0.1".parse().unwrap(),
        port: 0,
        www: www(),
        data: data.to_path_buf(),
        ..Config::default()
    }
}

/// A server running in this process on 127.0.0.1:0; stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    running: Option<Running>,
    pub data: TempDir,
}

impl TestServer {
    /// Starts a server with the default test configuration.
    pub fn start() -> TestServer {
        Self::with(|_| {})
    }

    /// Starts a server after `change` adjusted the test configuration.
    pub fn with(change: impl FnOnce(&mut Config)) -> TestServer {
        let data = TempDir::new("data");
        let mut config = test_config(data.path());
        change(&mut config);
        Self::from_server(Server::new(config).expect("server config"), data)
    }

    /// Starts an already assembled server (for tests that mount their own apps).
    pub fn from_server(server: Server, data: TempDir) -> TestServer {
        let running = server.start().expect("start server");
        TestServer { addr: running.local_addr(), running: Some(running), data }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Connects a WebSocket client to `path`.
    pub fn ws(&self, path: &str) -> Ws {
        Ws::connect(self.addr, path)
    }

    /// Sends raw bytes, reads until the server closes, returns what came back.
    pub fn raw(&self, request: &[u8]) -> Vec<u8> {
        raw(self.addr, request)
    }

    /// A GET of `path`: status, head, body.
    pub fn get(&self, path: &str) -> HttpResponse {
        http(self.addr, &format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n"))
    }

    /// `/api/status` as JSON.
    pub fn status(&self) -> Value {
        let r = self.get("/api/status");
        assert_eq!(r.status, 200);
        serde_json::from_slice(&r.body).unwrap()
    }

    /// Stops the server now (dropping does the same).
    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `check` holds, re-checking each time `probe` returns; fails after [`WAIT`].
pub fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    // Each check is a request/response round trip to the server, so this
    // loop is paced by real events, not by sleeps.
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

/// An HTTP response, parsed.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request` and parses the response.
pub fn http(addr: SocketAddr, request: &str) -> HttpResponse {
    parse_response(&raw(addr, request.as_bytes()))
}

pub fn parse_response(bytes: &[u8]) -> HttpResponse {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    HttpResponse { status, head, body: bytes[split + 4..].to_vec() }
}

/// Sends raw bytes and reads until the server closes the connection.
pub fn raw(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// A blocking WebSocket client with a read timeout.
pub struct Ws {
    pub socket: WebSocket<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    pub fn connect(addr: SocketAddr, path: &str) -> Ws {
        Self::try_connect(addr, path).unwrap_or_else(|e| panic!("connect {path}: {e}"))
    }

    pub fn try_connect(addr: SocketAddr, path: &str) -> Result<Ws, tungstenite::Error> {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let url = format!("ws://{addr}{path}");
        let (socket, _) =
            tungstenite::client::client(url, MaybeTlsStream::Plain(stream)).map_err(|e| match e {
                tungstenite::HandshakeError::Failure(e) => e,
                tungstenite::HandshakeError::Interrupted(_) => panic!("handshake interrupted"),
            })?;
        Ok(Ws { socket })
    }

    pub fn send(&mut self, m: impl Into<Message>) {
        self.socket.send(m.into()).unwrap();
    }

    pub fn send_json(&mut self, v: Value) {
        self.send(v.to_string());
    }

    /// The next data message (pings and pongs are skipped).
    pub fn recv(&mut self) -> Message {
        loop {
            match self.socket.read() {
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                Ok(m) => return m,
                Err(e) => panic!("recv: {e}"),
            }
        }
    }

    pub fn recv_text(&mut self) -> String {
        match self.recv() {
            Message::Text(t) => t.to_string(),
            other => panic!("expected text, got {other:?}"),
        }
    }

    pub fn recv_json(&mut self) -> Value {
        let t = self.recv_text();
        serde_json::from_str(&t).unwrap_or_else(|e| panic!("not JSON ({e}): {t}"))
    }

    /// Reads until the server's close frame and returns its code.
    pub fn expect_close(&mut self) -> u16 {
        loop {
            match self.socket.read() {
                Ok(Message::Close(Some(frame))) => return u16::from(frame.code),
                Ok(Message::Close(None)) => return u16::from(CloseCode::Status),
                Ok(_) => {}
                Err(e) => panic!("expected a close frame, got {e}"),
            }
        }
    }

    pub fn close(&mut self) {
        let _ = self.socket.close(None);
        let _ = self.socket.flush();
    }
}

/// The server binary as a child process; killed when dropped.
pub struct Child {
    pub child: std::process::Child,
    pub port: u16,
    lines: Receiver<String>,
    pub log: Vec<String>,
}

impl Child {
    /// Starts `wslab` with `args` (plus `--port 0 --host 127.0.0.1` unless
    /// given) and waits for the line announcing the port.
    pub fn start(args: &[&str]) -> Child {
        Self::spawn(Command::new(env!("CARGO_BIN_EXE_wslab")), args)
    }

    /// Like [`Child::start`], with a command prepared by the caller (environment).
    pub fn spawn(mut cmd: Command, args: &[&str]) -> Child {
        if !args.contains(&"--port") {
            cmd.args(["--port", "0"]);
        }
        if !args.contains(&"--host") {
            cmd.args(["--host", "127.0.0.1"]);
        }
        if !args.contains(&"--www") {
            cmd.arg("--www").arg(www());
        }
        cmd.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn wslab");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut me = Child { child, port: 0, lines, log: Vec::new() };
        let line = me.wait_line("://127.0.0.1:");
        let port = line.split("127.0.0.1:").nth(1).unwrap().split('/').next().unwrap();
        me.port = port.parse().unwrap();
        me
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Waits for a log line containing `needle` and returns it.
    pub fn wait_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.lines.recv_deadline(deadline) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no log line with {needle:?}; log so far:\n{}", self.log.join("\n")),
            }
        }
    }

    /// The log so far, with every line the server wrote until now (no wait).
    pub fn log_now(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
        &self.log
    }

    /// Sends a signal by number (15 TERM, 9 KILL) with the `kill` command.
    pub fn signal(&self, sig: i32) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "wslab did not exit within {within:?}");
            // Drain log lines meanwhile; this also paces the loop.
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(20)) {
                self.log.push(line);
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw TCP socket that completed a WebSocket handshake on `path` and
/// then does only what the test tells it to (stall, send bad frames).
pub fn raw_ws(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    s
}

/// One frame as the server sent it (servers never mask).
#[derive(Debug)]
pub struct RawFrame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// The close code of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == 8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// Reads one frame from a raw socket; `None` at end of stream.
pub fn read_frame(s: &mut TcpStream) -> Option<RawFrame> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).ok()?;
    let mut len = (h[1] & 0x7f) as u64;
    if len == 126 {
        let mut b = [0u8; 2];
        s.read_exact(&mut b).ok()?;
        len = u16::from_be_bytes(b) as u64;
    } else if len == 127 {
        let mut b = [0u8; 8];
        s.read_exact(&mut b).ok()?;
        len = u64::from_be_bytes(b);
    }
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload).ok()?;
    Some(RawFrame { opcode: h[0] & 0x0f, payload })
}

/// A masked client frame (`fin` set) with `opcode` and `payload`.
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65536 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// The course's chat exercise, as both script examples (chat.py, chat.php)
/// implement it on `path`: welcome, join, messages to the others with the
/// sender's name, `/name` renames, leave.
pub fn course_chat_conversation(server: &TestServer, path: &str) {
    let mut ann = server.ws(&format!("{path}?name=Ann"));
    assert_eq!(ann.recv_text(), "welcome, Ann");
    let mut bob = server.ws(&format!("{path}?name=Bob"));
    assert_eq!(bob.recv_text(), "welcome, Bob");
    assert_eq!(ann.recv_text(), "Bob joined");
    bob.send("hi all");
    assert_eq!(ann.recv_text(), "Bob: hi all");
    ann.send("/name Anna");
    assert_eq!(ann.recv_text(), "Ann is now Anna");
    assert_eq!(bob.recv_text(), "Ann is now Anna");
    ann.send("hello Bob");
    assert_eq!(bob.recv_text(), "Anna: hello Bob");
    bob.close();
    assert_eq!(ann.recv_text(), "Bob left");
}
