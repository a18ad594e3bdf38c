//! A WebSocket client: the upgrade, then its thread's blocking loop.
//!
//! The connection thread answers the upgrade and then runs tungstenite's
//! blocking `read()` straight on the socket (through `Link`) for as long
//! as the client stays, turning messages into events for the dispatcher.
//! It writes nothing of its own but tungstenite's pongs and close replies,
//! which go through the connection's writer like the dispatcher's frames,
//! so frames never interleave. An idle client is a thread blocked in
//! `read()`: no CPU, no wake-ups; a message for it is written by the
//! dispatcher the moment it is sent.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, Sender};
use log::{debug, info, warn};
use tungstenite::error::ProtocolError;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use super::link::Link;
use super::stream::{read_until_closed, Stream};
use super::upgrade::check;
use super::{attach, send_and_close};
use crate::app::{ClientId, ClientInfo, CloseStatus};
use crate::dispatch::Event;
use crate::error::Result;
use crate::http::{Request, Response};
use crate::inspect::{access, Handshake};
use crate::state::Shared;
use crate::wire::encode::close_frame;
use crate::wire::Writer;

/// After the peer closed, how long its last replies may take to come back
/// from the dispatcher before the close reply goes out.
const LEAVE_GRACE: Duration = Duration::from_secs(1);
/// How long the close reply may take to go out, and after a protocol
/// error how long the peer has to answer our close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// tungstenite's read buffer, and the most it reads per `read` call: kept
/// per client and never shrunk, so small (1 KiB keeps an idle client at
/// about 12 KiB of RSS; 4 KiB cost 15). A larger message grows it as
/// needed, but is read 1 KiB per system call.
const READ_BUFFER: usize = 1024;

/// Checks an upgrade request and prepares its 101, or refuses it before
/// any 101 (`Ok(None)`). The caller then hands the [`Upgrade`] to [`run`].
///
/// `buf` holds every byte read so far: the head, and maybe the first frames.
#[inline(never)]
pub(crate) fn upgrade(
    stream: Stream,
    peer: SocketAddr,
    buf: Vec<u8>,
    req: Request,
    server: &Arc<Shared>,
) -> Result<Option<Box<Upgrade>>> {
    let accepted = match check(&req, &server.routes, &server.config.allow_origins) {
        Ok(accepted) => accepted,
        Err(refusal) => {
            if let Some(why) = refusal.log {
                if refusal.response.status == 403 {
                    warn!("{peer}: {why}");
                } else {
                    info!("{peer}: {why}");
                }
            }
            return send_and_close(stream, &refusal.response).map(|()| None);
        }
    };
    if let Some(inspect) = server.inspect.as_ref().filter(|i| i.app == accepted.route.app) {
        let token = req
            .target()
            .split_once('?')
            .and_then(|(_, q)| q.split('&').find_map(|pair| pair.strip_prefix("token=")));
        if !access::allowed(peer.ip(), req.header("origin"), req.header("host"), token, &inspect.token) {
            let origin = req.header("origin").unwrap_or("none");
            warn!("{peer}: inspector refused (origin {origin}: not this server's own page on this machine, and no valid token)");
            return send_and_close(stream, &Response::text(403, access::REFUSED)).map(|()| None);
        }
    }
    let unread = buf[req.head_len..].to_vec();
    let info = accepted.client_info(&req, peer);
    let response = accepted.response;
    let handshake = server.inspect.as_ref().filter(|i| i.switch.is_on()).map(|_| {
        let request = String::from_utf8_lossy(&buf[..req.head_len]).into_owned();
        Box::new(Handshake { request, response: response.clone() })
    });
    // The head and its parsed headers are dropped here.
    // Boxed, the upgrade and the client's info stay out of the frames under
    // the client loop: a connection thread's deepest point is about 200
    // bytes from its third stack page (4 KiB more per client).
    Ok(Some(Box::new(Upgrade { stream, peer, unread, info: Box::new(info), response, handshake })))
}

/// An upgrade request that passed every check: what [`run`] needs to
/// answer it with 101 and serve the client.
pub(crate) struct Upgrade {
    /// The connection.
    stream: Stream,
    /// The peer's address.
    peer: SocketAddr,
    /// Bytes that came after the head (maybe the first frames).
    unread: Vec<u8>,
    /// Who the client is, for the dispatcher.
    info: Box<ClientInfo>,
    /// The 101 response.
    response: String,
    /// The request head and the 101, when an inspector is open.
    handshake: Option<Box<Handshake>>,
}

/// Answers an [`Upgrade`] and runs the client until it is gone.
///
/// Called from the top of the connection thread, once the frames that read
/// and checked the head have returned: every stack page a connection thread
/// touches stays resident for as long as its client stays, so the client
/// loop runs as high on the stack as it can.
#[inline(never)]
#[allow(clippy::boxed_local)] // boxed on purpose: see `upgrade`
pub(crate) fn run(upgrade: Box<Upgrade>, server: &Arc<Shared>) -> Result<()> {
    let Upgrade { stream, peer, mut unread, info, response, handshake } = *upgrade;
    let Some((id, link)) = attach(stream, &mut unread, info, Some(response.as_bytes()), handshake, server)?
    else {
        return Ok(());
    };
    drop(response);
    serve_client(id, link, peer, unread, server)
}

/// The client loop, in a frame of its own.
#[inline(never)]
fn serve_client(
    id: ClientId,
    link: Link,
    peer: SocketAddr,
    unread: Vec<u8>,
    server: &Arc<Shared>,
) -> Result<()> {
    let mut client = Client::new(id, link, peer, unread, server);
    let flow = client.read_messages();
    client.end(flow)
}

/// Fault injection for the tests, in debug builds only: with the
/// environment variable `WSLAB_PANIC_ON` set, a text message equal to its
/// value panics the connection thread, so that a test can show that the
/// dispatcher still sees the client leave.
#[cfg(debug_assertions)]
fn injected_panic(message: &Message) {
    static TRIGGER: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let trigger = TRIGGER.get_or_init(|| std::env::var("WSLAB_PANIC_ON").ok());
    if let (Some(trigger), Message::Text(text)) = (trigger, message) {
        if text.as_str() == trigger {
            panic!("injected panic in a connection thread (WSLAB_PANIC_ON)");
        }
    }
}

/// How reading ended.
enum Flow {
    /// The peer sent a close frame (with this code and reason).
    PeerClosed(CloseStatus),
    /// The connection is gone (end of stream, reset, shut down by the server).
    Gone,
    /// The peer broke the protocol: close with this code.
    Fail(u16, &'static str),
    /// The peer does not read what it asks for: close with this code,
    /// dropping what waits for it (it would never be read).
    Abandon(u16, &'static str),
}

/// One WebSocket client's thread.
struct Client {
    /// Its id.
    id: ClientId,
    /// The peer's address, for logs.
    peer: SocketAddr,
    /// The protocol, over the socket.
    ws: WebSocket<Link>,
    /// The connection's writer (also inside `ws`'s link).
    writer: Arc<Writer>,
    /// The dispatcher was told that this client left.
    left: bool,
    /// The server (whether it is stopping).
    server: Arc<Shared>,
}

impl Drop for Client {
    /// Whatever ends the thread, a panic included, the dispatcher sees the
    /// client leave, and the socket is shut down.
    fn drop(&mut self) {
        self.leave(CloseStatus::dropped(), None);
        self.writer.shutdown();
    }
}

impl Client {
    /// The client, built in a frame of its own that is gone by the time
    /// the client loop runs.
    #[inline(never)]
    fn new(id: ClientId, link: Link, peer: SocketAddr, unread: Vec<u8>, server: &Arc<Shared>) -> Client {
        // Whole frames go to the writer one `write` each (trap: a frame
        // handed over in pieces could be split by the dispatcher's).
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(0)
            .max_message_size(Some(server.config.max_message_size))
            .max_frame_size(Some(server.config.max_message_size));
        let writer = link.writer().clone();
        let ws = if unread.is_empty() {
            WebSocket::from_raw_socket(link, Role::Server, Some(config))
        } else {
            WebSocket::from_partially_read(link, unread, Role::Server, Some(config))
        };
        Client { id, peer, ws, writer, left: false, server: server.clone() }
    }

    /// Reads messages until the peer closes, fails or goes away, and passes
    /// data messages to the dispatcher. Pings are answered by tungstenite
    /// (its next `read` writes the pong before it blocks).
    fn read_messages(&mut self) -> Flow {
        use tungstenite::Error as E;
        loop {
            match self.ws.read() {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                    #[cfg(debug_assertions)]
                    injected_panic(&message);
                    let message = match message {
                        Message::Text(text) => crate::app::Message::Text(text),
                        Message::Binary(data) => crate::app::Message::Binary(data),
                        _ => continue,
                    };
                    if self.server.events.send(Event::Message { id: self.id, message }).is_err() {
                        return Flow::Gone;
                    }
                }
                Ok(Message::Close(frame)) => {
                    let status = match frame {
                        Some(f) => CloseStatus::peer(f.code.into(), f.reason.as_str()),
                        None => CloseStatus::peer(1005, ""),
                    };
                    return Flow::PeerClosed(status);
                }
                // A peer that sends pings and never reads the pongs: they
                // would pile up in the writer (one per ping) without bound.
                Ok(Message::Ping(_)) if self.writer.backlog() >= self.server.config.outbox_size => {
                    warn!(
                        "client {} ({}): {} pongs waiting, the peer pings without reading, closing with 1008",
                        self.id,
                        self.peer,
                        self.writer.backlog()
                    );
                    return Flow::Abandon(1008, "pings without reading the pongs");
                }
                Ok(_) => {} // pongs only prove life (the link stamps every read)
                Err(E::Capacity(e)) => {
                    warn!(
                        "client {} ({}): {e} (limit {} bytes), closing with 1009",
                        self.id, self.peer, self.server.config.max_message_size
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
                Err(E::Io(e)) => {
                    debug!("client {} ({}): {e}", self.id, self.peer);
                    return Flow::Gone;
                }
                Err(e) => {
                    debug!("client {} ({}): {e}", self.id, self.peer);
                    let _ = self.server.events.send(Event::Error { id: self.id, error: e.to_string() });
                    return Flow::Gone;
                }
            }
        }
    }

    fn end(&mut self, flow: Flow) -> Result<()> {
        match flow {
            Flow::Gone => Ok(()),
            Flow::PeerClosed(status) => {
                // The replies to what the peer sent before its Close go
                // first; then the close reply tungstenite queued.
                self.leave_and_wait(status);
                match self.ws.flush() {
                    Ok(()) | Err(tungstenite::Error::ConnectionClosed) => {}
                    Err(e) => return Err(e.into()),
                }
                // The handshake is done: TLS close_notify, and the server closes TCP first (RFC 6455 §7.1.1).
                self.writer.finish();
                self.writer.wait_drained(CLOSE_TIMEOUT);
                Ok(())
            }
            Flow::Abandon(code, reason) => {
                let error = format!("{reason} (close {code})");
                let _ = self.server.events.send(Event::Error { id: self.id, error });
                self.leave_and_wait(CloseStatus::server(code, reason));
                // The close frame goes next, before the pongs that wait (they are dropped).
                self.writer.close(Some(close_frame(code, reason)), true, true);
                self.writer.wait_drained(CLOSE_TIMEOUT);
                Ok(())
            }
            Flow::Fail(code, reason) => {
                // The app's on_error hears of it (before on_close, which the leave brings).
                let error = format!("{reason} (close {code})");
                let _ = self.server.events.send(Event::Error { id: self.id, error });
                self.leave_and_wait(CloseStatus::server(code, reason));
                let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                match self.ws.close(Some(frame)) {
                    Ok(()) | Err(tungstenite::Error::ConnectionClosed) => {}
                    Err(e) => return Err(e.into()),
                }
                self.writer.finish();
                if !self.writer.wait_drained(CLOSE_TIMEOUT) {
                    return Ok(());
                }
                // Read (and drop) what the peer still sends until it closes,
                // so that our close frame is not lost to a reset.
                read_until_closed(self.writer.socket(), CLOSE_TIMEOUT);
                Ok(())
            }
        }
    }

    /// Tells the dispatcher the client left, and waits (a moment at most)
    /// until it let go: by then the replies to the client's last messages
    /// are in the writer. Not while the server stops: the dispatcher may
    /// have ended, and the event would wait unanswered for the whole grace.
    fn leave_and_wait(&mut self, status: CloseStatus) {
        let (ack, acked) = bounded(1);
        if self.leave(status, Some(ack)) && !self.server.stopping.load(Ordering::SeqCst) {
            let _ = acked.recv_timeout(LEAVE_GRACE);
        }
    }

    /// Sends the leave event once; true when this call sent it.
    fn leave(&mut self, status: CloseStatus, ack: Option<Sender<()>>) -> bool {
        if self.left {
            return false;
        }
        self.left = true;
        self.server.events.send(Event::Close { id: self.id, status: Box::new(status), ack }).is_ok()
    }
}
