//! One thread per connection, for its whole life, in the order things happen:
//!
//! 1. [`stream`]: TLS starts, when the port speaks it (`open` here);
//! 2. [`classify`](mod@classify): the first bytes say what the peer is (spec §1);
//! 3. `respond`: a plain HTTP request is answered and closed; or
//! 4. [`upgrade`]: a WebSocket upgrade is checked, then [`ws`] runs the
//!    client: a blocking tungstenite loop straight on the socket; or
//! 5. [`backend`]: a backend script's plain socket, cut into JSON values by
//!    [`framer`].
//!
//! A long-lived client's thread only reads. Everything it and the
//! dispatcher write goes through the connection's `wire::Writer`,
//! which `link` puts under tungstenite.

pub mod backend;
pub mod classify;
pub mod framer;
pub(crate) mod link;
pub(crate) mod respond;
pub mod stream;
pub mod upgrade;
pub mod ws;

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, warn};

use crate::app::{ClientId, ClientInfo};
use crate::dispatch::Event;
use crate::error::{Error, Result};
use crate::http::{Request, Response};
use crate::inspect::Handshake;
use crate::state::Shared;
use crate::wire::Writer;
use classify::{classify, Peer};
use link::Link;
pub use stream::Stream;

/// A socket write (a flusher's) that blocks longer than this fails, and the
/// client is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Registers a long-lived client (WebSocket or backend socket) with the
/// dispatcher: its writer is made from `stream` (corked with `first`, the
/// 101, when given), and the Open event is queued before anything is
/// written, so that nothing the dispatcher sends can overtake the 101.
/// Plaintext already read past the head is appended to `unread`.
///
/// `None` when the server is shutting down.
///
/// Not inlined: its frame (the writer's making, the `Open` event) is gone
/// before the client loop runs under the caller (see `ws::run`).
#[inline(never)]
pub(crate) fn attach(
    stream: Stream,
    unread: &mut Vec<u8>,
    mut info: Box<ClientInfo>,
    first: Option<&[u8]>,
    handshake: Option<Box<Handshake>>,
    server: &Arc<Shared>,
) -> Result<Option<(ClientId, Link)>> {
    let (socket, tls) = stream.into_parts(unread);
    socket.set_read_timeout(None)?;
    socket.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let writer = Writer::new(socket, tls, first, server.flushers.clone(), server.started);
    let id = server.next_id();
    info.id = id;
    if server.events.send(Event::Open { id, info, writer: writer.clone(), handshake }).is_err()
        || server.stopping.load(Ordering::SeqCst)
    {
        // Shutting down: the dispatcher may never see this client.
        writer.shutdown();
        return Ok(None);
    }
    writer.uncork();
    Ok(Some((id, Link::new(writer))))
}

/// Serves one accepted connection to its end. Errors are logged here: the
/// ones that are just peers going away at debug level, the rest as warnings.
pub(crate) fn handle_connection(stream: TcpStream, peer: SocketAddr, server: Arc<Shared>) {
    // A WebSocket upgrade is checked, and its client runs, from here, not
    // from inside `serve`: the frames of reading the head are gone by
    // then, so the deepest of the upgrade's checks (the accept key) stays
    // within the two stack pages that the client loop needs, and no page
    // stays resident for the client's life that only its handshake touched
    // (docs/architecture.md, "Memory per connection").
    let result = match serve(stream, peer, &server) {
        Ok(Some(asked)) => {
            let UpgradeRequest { stream, buf, req } = *asked;
            match ws::upgrade(stream, peer, buf, req, &server) {
                Ok(Some(upgrade)) => ws::run(upgrade, &server),
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            }
        }
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
                | io::ErrorKind::NotConnected
        )
    };
    match e {
        Error::Io(e) => io_noise(e),
        Error::WebSocket(tungstenite::Error::Io(e)) => io_noise(e),
        Error::WebSocket(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => true,
        _ => false,
    }
}

/// A WebSocket upgrade request as `serve` read it, not yet checked.
struct UpgradeRequest {
    /// The connection.
    stream: Stream,
    /// Every byte read so far: the head, and maybe the first frames.
    buf: Vec<u8>,
    /// The parsed head.
    req: Request,
}

/// Reads the head and answers it, or returns the WebSocket upgrade
/// request for the caller to check and run.
#[inline(never)]
fn serve(socket: TcpStream, peer: SocketAddr, server: &Arc<Shared>) -> Result<Option<Box<UpgradeRequest>>> {
    socket.set_nodelay(true)?;
    let deadline = Instant::now() + server.config.handshake_timeout;
    let Some(mut stream) = open(socket, peer, server, deadline)? else { return Ok(None) };
    // Read straight into `buf`: a buffer on this thread's stack would stay
    // resident for as long as the connection lasts.
    let mut buf = Vec::with_capacity(2048);
    loop {
        match classify(&buf) {
            Peer::NeedMore => {}
            // (A plain request with a malformed head gets its 400 from `respond`.)
            Peer::Http(req) if req.is_upgrade() => {
                if let Err(bad) = req.body() {
                    return refuse(stream, bad.status, &bad.line()).map(|()| None);
                }
                return Ok(Some(Box::new(UpgradeRequest { stream, buf, req })));
            }
            Peer::Http(req) => return Ok(respond::respond(stream, buf, req, server).map(|()| None)?),
            // The plain-socket peers of spec §3.5 (backend scripts) plug in here.
            Peer::Backend => return backend::serve(stream, peer, buf, deadline, server).map(|()| None),
            Peer::Invalid => {
                return refuse(stream, 400, "bad request: this port speaks HTTP and WebSocket").map(|()| None)
            }
            Peer::TooLarge(why) => return refuse(stream, 431, why).map(|()| None),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            debug!("{peer}: nothing complete within the handshake timeout, closing");
            return Ok(None);
        }
        let len = buf.len();
        buf.resize(len + 2048, 0);
        let read = stream.read_until(&mut buf[len..], deadline);
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

/// Starts TLS on a TLS port: the first byte must begin a ClientHello.
/// A plain-HTTP request (it starts with a method's capital letter) gets a
/// plain `400` that says the port speaks https, then a clean close;
/// anything else that is not TLS is closed without an answer (spec §6).
#[cfg(feature = "tls")]
fn open(socket: TcpStream, peer: SocketAddr, server: &Shared, deadline: Instant) -> Result<Option<Stream>> {
    let Some(config) = &server.tls else { return Ok(Some(Stream::Plain(socket))) };
    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    socket.set_read_timeout(Some(left))?;
    let mut first = [0u8; 1];
    match socket.peek(&mut first) {
        Ok(1) if first[0] == crate::tls::HANDSHAKE_RECORD => Ok(Some(Stream::tls(socket, config)?)),
        Ok(0) => Ok(None),
        Ok(_) if first[0].is_ascii_uppercase() => {
            log::info!("{peer}: plain HTTP on a TLS port, 400");
            // What of the request has arrived names the host the user typed, and the method.
            let mut arrived = vec![0u8; 2048];
            let n = socket.peek(&mut arrived).unwrap_or(0);
            let (host, head_only) = match classify(&arrived[..n]) {
                Peer::Http(req) => {
                    (req.header("host").filter(|h| is_host(h)).map(str::to_owned), req.method() == "HEAD")
                }
                _ => (None, false),
            };
            let host =
                host.unwrap_or_else(|| socket.local_addr().map_or("HOST:PORT".into(), |a| a.to_string()));
            let message = format!("this port speaks https: open https://{host}/ (and wss:// for WebSockets)");
            let mut stream = Stream::Plain(socket);
            Response::text(400, &message).write_to(&mut stream, head_only)?;
            stream.finish();
            Ok(None)
        }
        Ok(_) => {
            log::info!("{peer}: not TLS on a TLS port, closed without an answer");
            Stream::Plain(socket).finish();
            Ok(None)
        }
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether a `Host` header is a host (and port) fit to print back: no
/// spaces, markup or anything else.
#[cfg(feature = "tls")]
fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

#[cfg(not(feature = "tls"))]
fn open(socket: TcpStream, _: SocketAddr, _: &Shared, _: Instant) -> Result<Option<Stream>> {
    Ok(Some(Stream::Plain(socket)))
}

/// Answers with a short text `status` and closes.
fn refuse(stream: Stream, status: u16, message: &str) -> Result<()> {
    send_and_close(stream, &Response::text(status, message))
}

/// Writes `response` and closes politely.
fn send_and_close(mut stream: Stream, response: &Response) -> Result<()> {
    response.write_to(&mut stream, false)?;
    stream.finish();
    Ok(())
}
