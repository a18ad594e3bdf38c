//! WebSocket clients: the handshake, then the client thread's blocking loop.
//!
//! Each client has two threads. The reader waits in a blocking `peek`, reads
//! the raw bytes that are there and forwards them on a channel. The client thread owns
//! the tungstenite `WebSocket`, over [`Wire`], a stream that reads those
//! bytes (`WouldBlock` when there are none yet) and writes to the socket; it
//! waits with `select!` on inbound bytes and its outbox. Only the client
//! thread writes frames, so frames never interleave, and tungstenite keeps
//! its state across `WouldBlock`, so pongs and close replies stay right.
//! Nothing wakes up unless bytes arrive or a message is queued.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{never, select, Receiver, Sender};
use log::{debug, info, warn};
use tungstenite::error::ProtocolError;
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::frame::coding::{CloseCode, Data as OpData, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use super::stream::{Link, Stream};
use super::{attach, refuse, Attached};
use crate::dispatch::clients::ClientShared;
use crate::dispatch::{ClientId, ClientInfo, ClientKind, Event, Outgoing};
use crate::error::Result;
use crate::http::Request;
use crate::server::Shared;

/// A socket write that blocks longer than this fails, and the client is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After the peer closed, how long its last replies may take to come back
/// from the dispatcher before the close reply goes out.
const LEAVE_GRACE: Duration = Duration::from_secs(1);
/// How long the server waits for the peer's reply to its close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Most bytes one wake-up of the reader thread takes from the socket.
const CHUNK: usize = 8 * 1024;
/// The reader waits in a `peek` of this many bytes, into its own stack, and
/// allocates a chunk only when bytes are there: exactly their size, or
/// [`CHUNK`] when the peek came back full. An idle client holds no read buffer.
const PEEK: usize = 256;
/// tungstenite's read buffer: small, because it is allocated (and touched)
/// per client and never shrinks; a larger message grows it as needed.
const READ_BUFFER: usize = 1024;
/// Reader thread stack: it only copies bytes.
const READER_STACK: usize = 64 * 1024;
/// Inbound chunks queued between reader and client thread; a full queue
/// stops the reader, and TCP flow control then slows the sender.
pub(super) const INBOUND_CHUNKS: usize = 4;

/// Checks an upgrade request and prepares its 101, or refuses it before
/// any 101 (`Ok(None)`). The caller then hands the [`Upgrade`] to [`run`].
///
/// `buf` holds every byte read so far: the head, and maybe the first frames.
pub(crate) fn upgrade(
    mut stream: Stream,
    peer: SocketAddr,
    buf: Vec<u8>,
    req: Request,
    server: &Arc<Shared>,
) -> Result<Option<Upgrade>> {
    let path = req.path();
    let Some(route) = server.routes.websocket(path) else {
        info!("{peer}: WebSocket upgrade on {path}: no app there, 404");
        return refuse(stream, 404, &format!("no WebSocket app on {path}")).map(|()| None);
    };
    if req.method != "GET" {
        return refuse(stream, 400, "a WebSocket upgrade must be a GET").map(|()| None);
    }
    let origins = &server.config.allow_origins;
    if !origins.is_empty() {
        let origin = req.header("Origin").unwrap_or("");
        if !origins.iter().any(|o| o == origin) {
            warn!("{peer}: WebSocket upgrade from origin {origin:?} refused (not in --allow-origin), 403");
            return refuse(stream, 403, "origin not allowed").map(|()| None);
        }
    }
    if !req.header_has("Connection", "upgrade") {
        return refuse(stream, 400, "missing Connection: Upgrade").map(|()| None);
    }
    if req.header("Sec-WebSocket-Version") != Some("13") {
        let mut r = crate::http::Response::text(426, "WebSocket version 13 required");
        r = r.with("Sec-WebSocket-Version", "13");
        r.write_to(&mut stream, false)?;
        stream.finish();
        return Ok(None);
    }
    let Some(key) = req.header("Sec-WebSocket-Key").filter(|k| !k.is_empty()) else {
        return refuse(stream, 400, "missing Sec-WebSocket-Key").map(|()| None);
    };
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        derive_accept_key(key.as_bytes())
    );
    // A page that asks for subprotocols gets the first one back, so that
    // student code passing one still connects (browsers fail the connection
    // when the server picks none).
    if let Some(first) = req.header("Sec-WebSocket-Protocol").and_then(|p| p.split(',').next()) {
        response.push_str(&format!("Sec-WebSocket-Protocol: {}\r\n", first.trim()));
    }
    response.push_str("\r\n");
    let unread = buf[req.head_len..].to_vec();
    let info = ClientInfo { peer, kind: ClientKind::WebSocket, param: route.param, app: route.app };
    // The head and its parsed headers are dropped here.
    Ok(Some(Upgrade { stream, peer, unread, info, response }))
}

/// An upgrade request that passed every check: what [`run`] needs to
/// answer it with 101 and serve the client.
pub(crate) struct Upgrade {
    stream: Stream,
    peer: SocketAddr,
    /// Bytes that came after the head (maybe the first frames).
    unread: Vec<u8>,
    info: ClientInfo,
    /// The 101 response.
    response: String,
}

/// Answers an [`Upgrade`] and runs the client until it is gone.
///
/// Called from the top of the connection thread, once the frames that read
/// and checked the head have returned: every stack page a connection thread
/// touches stays resident for as long as its client stays, so the reader
/// thread's spawn (glibc's `pthread_create` is deep) and the client loop
/// run as high on the stack as they can. This keeps a client's thread to
/// two pages (8 KiB) instead of three: the deepest point is the spawn
/// (about 7 KiB below the top), then the client loop reading a message.
#[inline(never)]
pub(crate) fn run(upgrade: Upgrade, server: &Arc<Shared>) -> Result<()> {
    let Upgrade { stream, peer, mut unread, info, response } = upgrade;
    let busy =
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 12\r\nConnection: close\r\n\r\nserver busy\n";
    let Some(attached) = attach(stream, &mut unread, info, busy, server)? else {
        return Ok(());
    };
    serve_client(attached, peer, unread, response, server)
}

/// The client loop, in a frame of its own: the reader thread was spawned
/// from a shallower one, without the client on the stack under it.
#[inline(never)]
fn serve_client(
    attached: Attached,
    peer: SocketAddr,
    unread: Vec<u8>,
    response: String,
    server: &Shared,
) -> Result<()> {
    let mut client = Client::new(attached, peer, unread, server);
    // The 101 goes out after the Open event is queued, so a message sent by
    // anyone who saw this client connect reaches the dispatcher after it.
    client.ws.get_mut().write_all(response.as_bytes())?;
    drop(response);
    client.run()
}

/// Starts the thread that does blocking reads of raw bytes from the socket and
/// forwards them on `inbound`; dropping `inbound` means end of stream.
pub(super) fn spawn_reader(
    shared: Arc<ClientShared>,
    inbound: Sender<Vec<u8>>,
    server: Arc<Shared>,
) -> io::Result<()> {
    thread::Builder::new().name("ws-reader".into()).stack_size(READER_STACK).spawn(move || {
        let mut peeked = [0u8; PEEK];
        loop {
            let n = match shared.socket.peek(&mut peeked) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            // The bytes are there: this read does not wait.
            let mut chunk = vec![0u8; if n < PEEK { n } else { CHUNK }];
            match (&*shared.socket).read(&mut chunk) {
                Ok(0) => break,
                Ok(got) => {
                    chunk.truncate(got);
                    shared.last_seen_ms.store(server.now_ms(), Ordering::Relaxed);
                    if inbound.send(chunk).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        // Dropping `inbound` tells the client thread: end of stream.
    })?;
    Ok(())
}

/// The stream tungstenite sees: reads come from the reader thread's chunks
/// (decrypted by the [`Link`] when TLS is on), writes go through the link
/// to the socket.
#[derive(Debug)]
pub(crate) struct Wire {
    link: Link,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl Wire {
    fn push(&mut self, chunk: &[u8]) -> io::Result<()> {
        if self.pos >= self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.link.feed(chunk, &mut self.buf)
    }
}

impl Read for Wire {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let left = &self.buf[self.pos..];
        if !left.is_empty() {
            let n = left.len().min(out.len());
            out[..n].copy_from_slice(&left[..n]);
            self.pos += n;
            if self.pos == self.buf.len() {
                // Consumed: an idle client keeps no chunk.
                self.buf = Vec::new();
                self.pos = 0;
            }
            Ok(n)
        } else if self.eof {
            // Only now, after the reader saw the end: tungstenite takes Ok(0) as the peer gone.
            Ok(0)
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }
}

impl Write for Wire {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.link.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Fault injection for the tests, in debug builds only: with the
/// environment variable `WSLAB_PANIC_ON` set, a text message equal to its
/// value panics the client thread, so that a test can show that the
/// dispatcher still sees the client leave.
#[cfg(debug_assertions)]
fn injected_panic(message: &Message) {
    static TRIGGER: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let trigger = TRIGGER.get_or_init(|| std::env::var("WSLAB_PANIC_ON").ok());
    if let (Some(trigger), Message::Text(text)) = (trigger, message) {
        if text.as_str() == trigger {
            panic!("injected panic in a client thread (WSLAB_PANIC_ON)");
        }
    }
}

/// How reading the inbound bytes ended.
enum Flow {
    /// Everything read; wait for more.
    Continue,
    /// The peer sent a close frame.
    PeerClosed,
    /// The connection is gone (end of stream, reset, or the server stopped).
    Gone,
    /// The peer broke the protocol: close with this code.
    Fail(u16, &'static str),
}

struct Client {
    id: ClientId,
    peer: SocketAddr,
    ws: WebSocket<Wire>,
    inbound: Receiver<Vec<u8>>,
    outbox: Receiver<Outgoing>,
    shared: Arc<ClientShared>,
    events: Sender<Event>,
    max_message_size: usize,
    /// The dispatcher was told that this client left.
    left: bool,
}

impl Drop for Client {
    /// Whatever ends the thread, a panic included, the dispatcher sees the
    /// client leave, and the reader thread is woken by the shutdown.
    fn drop(&mut self) {
        self.announce_leave();
        let _ = self.shared.socket.shutdown(Shutdown::Both);
    }
}

impl Client {
    /// The client, built in a frame of its own that is gone by the time
    /// the client loop runs.
    #[inline(never)]
    fn new(attached: Attached, peer: SocketAddr, unread: Vec<u8>, server: &Shared) -> Client {
        let Attached { id, link, shared, inbound, outbox } = attached;
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(16 * 1024)
            .max_message_size(Some(server.config.max_message_size))
            .max_frame_size(Some(server.config.max_message_size));
        let wire = Wire { link, buf: unread, pos: 0, eof: false };
        Client {
            id,
            peer,
            ws: WebSocket::from_raw_socket(wire, Role::Server, Some(config)),
            inbound,
            outbox,
            shared,
            events: server.events.clone(),
            max_message_size: server.config.max_message_size,
            left: false,
        }
    }

    fn run(&mut self) -> Result<()> {
        // Frames may have come with the request head. (Only then: a first
        // read would allocate tungstenite's read buffer for nothing.)
        if !self.ws.get_ref().buf.is_empty() {
            match self.read_messages() {
                Flow::Continue => {}
                flow => return self.end(flow),
            }
        }
        loop {
            select! {
                recv(self.inbound) -> chunk => {
                    match chunk {
                        Ok(chunk) => {
                            if let Err(e) = self.ws.get_mut().push(&chunk) {
                                debug!("client {} ({}): {e}", self.id, self.peer);
                                return Ok(());
                            }
                        }
                        Err(_) => self.ws.get_mut().eof = true,
                    }
                    match self.read_messages() {
                        Flow::Continue => {}
                        flow => return self.end(flow),
                    }
                }
                recv(self.outbox) -> out => match out {
                    Ok(Outgoing::Batch(batch)) => self.write_batch(batch)?,
                    Ok(Outgoing::Close(code, reason)) => return self.close(code, &reason),
                    // The dispatcher let go without a close: it has stopped.
                    Err(_) => return self.close(1001, "server shutting down"),
                }
            }
        }
    }

    /// Reads every complete message out of the bytes received so far and
    /// passes data messages to the dispatcher.
    fn read_messages(&mut self) -> Flow {
        use tungstenite::Error as E;
        loop {
            match self.ws.read() {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                    #[cfg(debug_assertions)]
                    injected_panic(&message);
                    if self.events.send(Event::Message { id: self.id, message }).is_err() {
                        return Flow::Gone;
                    }
                }
                Ok(Message::Close(_)) => return Flow::PeerClosed,
                Ok(_) => {} // pings are answered by tungstenite; pongs only prove life
                Err(E::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return Flow::Continue,
                Err(E::Capacity(e)) => {
                    warn!(
                        "client {} ({}): {e} (limit {} bytes), closing with 1009",
                        self.id, self.peer, self.max_message_size
                    );
                    return Flow::Fail(1009, "message too big");
                }
                Err(E::Utf8(_)) => {
                    info!(
                        "client {} ({}): invalid UTF-8 in a text message, closing with 1007",
                        self.id, self.peer
                    );
                    return Flow::Fail(1007, "invalid UTF-8");
                }
                Err(E::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => return Flow::Gone,
                Err(E::Protocol(e)) => {
                    info!("client {} ({}): protocol error: {e}, closing with 1002", self.id, self.peer);
                    return Flow::Fail(1002, "protocol error");
                }
                Err(E::ConnectionClosed | E::AlreadyClosed) => return Flow::Gone,
                Err(e) => {
                    debug!("client {} ({}): {e}", self.id, self.peer);
                    let _ = self.events.send(Event::Error { id: self.id, error: e.to_string() });
                    return Flow::Gone;
                }
            }
        }
    }

    fn end(&mut self, flow: Flow) -> Result<()> {
        match flow {
            Flow::Continue => Ok(()),
            Flow::Gone => Ok(()),
            Flow::PeerClosed => {
                self.write_last_replies()?;
                // Sends the close reply tungstenite queued when it read the peer's close.
                match self.ws.flush() {
                    Ok(()) | Err(tungstenite::Error::ConnectionClosed) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Flow::Fail(code, reason) => {
                self.write_last_replies()?;
                let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                self.ws.close(Some(frame))?;
                // Read (and drop) what the peer still sends until it closes,
                // so that our close frame is not lost to a reset.
                let _ = self.shared.socket.shutdown(Shutdown::Write);
                let deadline = Instant::now() + CLOSE_TIMEOUT;
                while self.inbound.recv_deadline(deadline).is_ok() {}
                Ok(())
            }
        }
    }

    /// Tells the dispatcher the client left, then writes the replies to its
    /// last messages until the dispatcher lets go (or a grace period ends).
    /// Tungstenite refuses data after a close, so these go out as raw frames.
    fn write_last_replies(&mut self) -> Result<()> {
        self.announce_leave();
        let deadline = Instant::now() + LEAVE_GRACE;
        loop {
            match self.outbox.recv_deadline(deadline) {
                Ok(Outgoing::Batch(batch)) => {
                    let n = batch.len();
                    let mut bytes = Vec::new();
                    for message in batch {
                        let frame = match message {
                            Message::Text(t) => Frame::message(t, OpCode::Data(OpData::Text), true),
                            Message::Binary(b) => Frame::message(b, OpCode::Data(OpData::Binary), true),
                            _ => continue,
                        };
                        frame.format(&mut bytes)?;
                    }
                    self.ws.get_mut().write_all(&bytes)?;
                    self.shared.queued.fetch_sub(n, Ordering::Relaxed);
                }
                Ok(Outgoing::Close(..)) => {}
                Err(_) => return Ok(()),
            }
        }
    }

    fn write_batch(&mut self, batch: Vec<Message>) -> Result<()> {
        let n = batch.len();
        if !self.shared.abandon.load(Ordering::Relaxed) {
            for message in batch {
                self.ws.write(message)?;
            }
            self.ws.flush()?;
        }
        self.shared.queued.fetch_sub(n, Ordering::Relaxed);
        Ok(())
    }

    /// Closes on the server's behalf: the close frame, then the peer's reply
    /// (or the timeout).
    fn close(&mut self, code: u16, reason: &str) -> Result<()> {
        self.announce_leave();
        let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
        self.ws.close(Some(frame))?;
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        let inbound = self.inbound.clone();
        let mut outbox = self.outbox.clone();
        loop {
            select! {
                recv(inbound) -> chunk => {
                    match chunk {
                        Ok(chunk) => {
                            if self.ws.get_mut().push(&chunk).is_err() {
                                return Ok(());
                            }
                        }
                        Err(_) => return Ok(()),
                    }
                    loop {
                        match self.ws.read() {
                            Ok(Message::Close(_)) => return Ok(()),
                            Ok(_) => {}
                            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(_) => return Ok(()),
                        }
                    }
                }
                recv(outbox) -> out => {
                    if out.is_err() {
                        outbox = never(); // a dropped channel would fire forever
                    }
                }
                default(deadline.saturating_duration_since(Instant::now())) => return Ok(()),
            }
        }
    }

    fn announce_leave(&mut self) {
        if !self.left {
            self.left = true;
            let _ = self.events.send(Event::Close { id: self.id });
        }
    }
}
