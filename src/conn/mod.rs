//! One thread per connection: read the first bytes, classify the peer
//! (spec §1), and hand the connection to the HTTP responder, the WebSocket
//! client loop, or the plain-socket backend reader.

pub mod backend;
pub mod stream;
pub mod ws;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use log::{debug, warn};

use crate::dispatch::clients::ClientShared;
use crate::dispatch::{ClientHandle, ClientId, ClientInfo, Event, Outgoing};
use crate::error::{Error, Result};
use crate::http::{self, Peer, Response};
use crate::server::Shared;
use stream::Link;
pub use stream::Stream;
use ws::{spawn_reader, INBOUND_CHUNKS, WRITE_TIMEOUT};

/// A long-lived client (a WebSocket or a backend socket) after [`attach`]:
/// its reader thread runs and the dispatcher knows it.
pub(crate) struct Attached {
    pub id: ClientId,
    pub link: Link,
    pub shared: Arc<ClientShared>,
    pub inbound: Receiver<Vec<u8>>,
    pub outbox: Receiver<Outgoing>,
}

/// Splits `stream` for a long-lived client, starts its reader thread and
/// registers it with the dispatcher as `info`. Plaintext already read past
/// the head is appended to `unread`.
///
/// `Ok(None)` when the client cannot be taken: no reader thread could be
/// started (then `busy` was written to it), or the server is shutting down.
pub(crate) fn attach(
    stream: Stream,
    unread: &mut Vec<u8>,
    info: ClientInfo,
    busy: &[u8],
    server: &Arc<Shared>,
) -> Result<Option<Attached>> {
    stream.tcp().set_read_timeout(None)?;
    stream.tcp().set_write_timeout(Some(WRITE_TIMEOUT))?;
    let (socket, mut link) = stream.into_link(unread);
    let shared = Arc::new(ClientShared::new(socket, server.now_ms()));
    let (inbound_tx, inbound) = new_channel(|| bounded(INBOUND_CHUNKS));
    if let Err(e) = spawn_reader(shared.clone(), inbound_tx, server.clone()) {
        warn!("{}: cannot start a reader thread ({e}), refusing the client", info.peer);
        link.write_all(busy)?;
        return Ok(None);
    }
    let id = server.next_id();
    let (outbox_tx, outbox) = new_channel(unbounded);
    let handle = ClientHandle { outbox: outbox_tx, shared: shared.clone() };
    if server.events.send(Event::Open { id, info, handle }).is_err() {
        return Ok(None); // shutting down
    }
    Ok(Some(Attached { id, link, shared, inbound, outbox }))
}

/// Makes a channel in a frame of its own: crossbeam's constructors take
/// several hundred bytes of stack, which inlined would sit in [`attach`]'s
/// frame under the reader thread's spawn, the deepest point of a
/// connection thread (see `ws::run`).
#[inline(never)]
fn new_channel<T>(make: impl FnOnce() -> (Sender<T>, Receiver<T>)) -> (Sender<T>, Receiver<T>) {
    make()
}

/// Serves one accepted connection to its end. Errors are logged here: the
/// ones that are just peers going away at debug level, the rest as warnings.
pub(crate) fn handle_connection(stream: TcpStream, peer: SocketAddr, server: Arc<Shared>) {
    // A WebSocket client runs from here, not from inside `serve` (see `ws::run`).
    let result = match serve(stream, peer, &server) {
        Ok(Some(upgrade)) => ws::run(upgrade, &server),
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        if is_noise(&e) {
            debug!("{peer}: {e}");
        } else {
            warn!("{peer}: {e}");
        }
    }
}

/// Errors that only mean the peer went away or was slow.
fn is_noise(e: &Error) -> bool {
    let io_noise = |e: &io::Error| {
        matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
        )
    };
    match e {
        Error::Io(e) => io_noise(e),
        Error::WebSocket(tungstenite::Error::Io(e)) => io_noise(e),
        Error::WebSocket(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => true,
        _ => false,
    }
}

/// Reads the head and answers it, or returns the WebSocket upgrade to run.
#[inline(never)]
fn serve(socket: TcpStream, peer: SocketAddr, server: &Arc<Shared>) -> Result<Option<ws::Upgrade>> {
    socket.set_nodelay(true)?;
    let deadline = Instant::now() + server.config.handshake_timeout;
    let Some(mut stream) = open(socket, peer, server, deadline)? else { return Ok(None) };
    // Read straight into `buf`: a buffer on this thread's stack would stay
    // resident for as long as the connection lasts.
    let mut buf = Vec::with_capacity(2048);
    loop {
        match http::classify(&buf) {
            Peer::NeedMore => {}
            Peer::Http(req) if req.is_upgrade() => return ws::upgrade(stream, peer, buf, req, server),
            Peer::Http(req) => return Ok(http::handle(stream, buf, req, server).map(|()| None)?),
            // The plain-socket peers of spec §3.5 (backend scripts) plug in here.
            Peer::Backend => return backend::serve(stream, peer, buf, server).map(|()| None),
            Peer::Invalid => {
                return refuse(stream, 400, "bad request: this port speaks HTTP and WebSocket").map(|()| None)
            }
            Peer::TooLarge => {
                return refuse(stream, 431, "request head too large (limit 8 KiB)").map(|()| None)
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            debug!("{peer}: nothing complete within the handshake timeout, closing");
            return Ok(None);
        }
        stream.tcp().set_read_timeout(Some(left))?;
        let len = buf.len();
        buf.resize(len + 2048, 0);
        let read = stream.read(&mut buf[len..]);
        buf.truncate(len + read.as_ref().map_or(0, |&n| n));
        match read {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                debug!("{peer}: nothing complete within the handshake timeout, closing");
                return Ok(None);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Starts TLS on a TLS port: the first byte must begin a ClientHello, and
/// anything else (plain HTTP on a TLS port) is closed without an answer.
#[cfg(feature = "tls")]
fn open(socket: TcpStream, peer: SocketAddr, server: &Shared, deadline: Instant) -> Result<Option<Stream>> {
    let Some(config) = &server.tls else { return Ok(Some(Stream::Plain(socket))) };
    let left = deadline.saturating_duration_since(Instant::now()).max(std::time::Duration::from_millis(1));
    socket.set_read_timeout(Some(left))?;
    let mut first = [0u8; 1];
    match socket.peek(&mut first) {
        Ok(1) if first[0] == crate::tls::HANDSHAKE_RECORD => Ok(Some(Stream::tls(socket, config)?)),
        Ok(0) => Ok(None),
        Ok(_) => {
            log::info!("{peer}: not TLS on a TLS port, closed without an answer");
            Ok(None)
        }
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(feature = "tls"))]
fn open(socket: TcpStream, _: SocketAddr, _: &Shared, _: Instant) -> Result<Option<Stream>> {
    Ok(Some(Stream::Plain(socket)))
}

fn refuse(mut stream: Stream, status: u16, message: &str) -> Result<()> {
    Response::text(status, message).write_to(&mut stream, false)?;
    stream.finish();
    Ok(())
}
