//! Plain-socket backend scripts (spec §3.5): JSON values in, one JSON line
//! out per message.
//!
//! A backend socket has one thread, like a WebSocket client: it reads the
//! socket (blocking), cuts the bytes into messages ([`Framer`]) and hands
//! each to the app that takes plain-socket clients (the relay), as a
//! [`ClientKind::Socket`] client. The app's replies are written by the
//! dispatcher through the connection's writer as JSON lines, in the order
//! of the messages they answer. A backend that sends far ahead of reading
//! its replies meets the same bound as a WebSocket client
//! (`--outbox-size`). An idle backend is a thread blocked in `read()`.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender};
use log::{debug, info};
use tungstenite::Bytes;

use super::attach;
use super::classify::PHP_GREETING;
use super::framer::{Frame, Framer};
use super::link::Link;
use super::stream::{read_until_closed, Stream};
use crate::app::{ClientId, ClientInfo, ClientKind, CloseStatus, Message};
use crate::dispatch::Event;
use crate::error::Result;
use crate::inspect::tap::Dir;
use crate::state::Shared;
use crate::wire::encode::error_line;
use crate::wire::Writer;

/// The greeting line `php process` may not be longer than this.
const GREETING_MAX: usize = 256;
/// After the peer closed or failed, how long the dispatcher may take to let
/// go of the client (its last replies are written by then).
const LEAVE_GRACE: Duration = Duration::from_secs(1);
/// After an error line, how long the server reads (and drops) what the peer
/// still sends before it closes, so that the line is not lost to a reset.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Bytes read per `read` call.
const CHUNK: usize = 4 * 1024;

/// Serves a backend script that opened a plain TCP socket. `buf` holds the
/// bytes read so far (`{...` or the `php process` greeting); `deadline`
/// is the handshake timeout's, counted from the connection's start, which
/// the greeting line must make.
pub(crate) fn serve(
    mut stream: Stream,
    peer: SocketAddr,
    mut buf: Vec<u8>,
    deadline: Instant,
    server: &Arc<Shared>,
) -> Result<()> {
    let Some(app) = server.routes.backend_app() else {
        info!("{peer}: plain-socket backend refused: no app takes backend sockets");
        return refuse(stream, "this server has no app for backend sockets");
    };
    let greeted = buf.starts_with(PHP_GREETING);
    if greeted && !read_greeting(&mut stream, &mut buf, deadline)? {
        info!("{peer}: plain-socket backend refused: bad greeting line");
        return refuse(stream, "expected the greeting \"php process\" and an empty line");
    }

    let info = Box::new(ClientInfo::new(0, peer, ClientKind::Socket { greeted }).with_app(app));
    let Some((id, link)) = attach(stream, &mut buf, info, None, None, server)? else {
        return Ok(());
    };
    let writer = link.writer().clone();
    let mut backend = Backend {
        id,
        peer,
        link,
        writer,
        events: server.events.clone(),
        framer: Framer::new(buf),
        left: false,
        server: server.clone(),
    };
    backend.run()
}

/// Reads the rest of the legacy greeting line into `buf` and takes it out.
/// True when the line is `php process` (trailing spaces and CR allowed).
/// The empty line after it is whitespace before the first JSON value, which
/// the [`Framer`] skips; a client that waits for `ready` before sending it
/// would otherwise wait forever.
fn read_greeting(stream: &mut Stream, buf: &mut Vec<u8>, deadline: Instant) -> io::Result<bool> {
    let mut chunk = [0u8; 512];
    loop {
        if let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let good = buf[..end].trim_ascii_end() == PHP_GREETING;
            buf.drain(..=end);
            return Ok(good);
        }
        if buf.len() > GREETING_MAX {
            return Ok(false);
        }
        match stream.read_until(&mut chunk, deadline) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Writes one error line and closes, for a backend that is never registered.
fn refuse(mut stream: Stream, message: &str) -> Result<()> {
    stream.write_all(error_line(message).as_bytes())?;
    stream.finish();
    Ok(())
}

/// The connection thread of one registered backend socket.
struct Backend {
    /// Its client id.
    id: ClientId,
    /// The peer's address, for logs.
    peer: SocketAddr,
    /// Reads from the socket (decrypted when TLS is on).
    link: Link,
    /// The connection's writer.
    writer: Arc<Writer>,
    /// The dispatcher's channel.
    events: Sender<Event>,
    /// Cuts the bytes into JSON values.
    framer: Framer,
    /// The dispatcher was told that this client left.
    left: bool,
    /// The server (whether it is stopping).
    server: Arc<Shared>,
}

impl Drop for Backend {
    /// Whatever ends the thread, a panic included, the dispatcher sees the
    /// client leave, and the socket is shut down.
    fn drop(&mut self) {
        self.leave(CloseStatus::dropped(), None);
        self.writer.shutdown();
    }
}

impl Backend {
    fn run(&mut self) -> Result<()> {
        let mut chunk = vec![0u8; CHUNK];
        let mut eof = false;
        loop {
            match self.framer.next(eof) {
                Frame::Message(text) => {
                    self.writer.tap().line(Dir::In, &text);
                    let message = Message::text(text);
                    if self.events.send(Event::Message { id: self.id, message }).is_err() {
                        return Ok(()); // shutting down
                    }
                    continue;
                }
                Frame::Need if eof => return self.finish(None),
                Frame::Need => {}
                Frame::Fail(why) => {
                    info!("client {} ({}): {why}; closing the backend socket", self.id, self.peer);
                    return self.finish(Some(&why));
                }
            }
            match self.link.read(&mut chunk) {
                Ok(0) => eof = true,
                Ok(n) => self.framer.push(&chunk[..n]),
                Err(e) => {
                    debug!("client {} ({}): {e}", self.id, self.peer);
                    return Ok(());
                }
            }
        }
    }

    /// Ends the connection: the replies to the messages before, then the
    /// error line (if `why`), the FIN, and a moment of reading (and
    /// dropping) what the peer still sends, so that unread bytes do not
    /// turn the close into a reset that destroys the last line in flight.
    fn finish(&mut self, why: Option<&str>) -> Result<()> {
        let (ack, acked) = bounded(1);
        // A socket client has no close frame: 1000 for its end of stream
        // (or `quit`), 1002 with the reason for a message that broke it off.
        let status = match why {
            Some(why) => CloseStatus::server(1002, why),
            None => CloseStatus::peer(1000, ""),
        };
        // Not while the server stops: the dispatcher may have ended (see `ws.rs`).
        if self.leave(status, Some(ack)) && !self.server.stopping.load(Ordering::SeqCst) {
            let _ = acked.recv_timeout(LEAVE_GRACE);
        }
        let last = why.map(|why| Bytes::from(error_line(why)));
        self.writer.close(last, false, true);
        if !self.writer.wait_drained(CLOSE_TIMEOUT) {
            return Ok(());
        }
        read_until_closed(self.writer.socket(), CLOSE_TIMEOUT);
        Ok(())
    }

    /// Sends the leave event once; true when this call sent it.
    fn leave(&mut self, status: CloseStatus, ack: Option<Sender<()>>) -> bool {
        if self.left {
            return false;
        }
        self.left = true;
        self.events.send(Event::Close { id: self.id, status: Box::new(status), ack }).is_ok()
    }
}
