//! Plain-socket backend scripts (spec §3.5): JSON values in, one JSON line out per message.
//!
//! A backend socket has two threads, like a WebSocket client: a reader thread
//! does blocking reads and forwards the bytes, and the connection thread
//! cuts them into messages ([`Framer`]), hands each to the relay app as a
//! [`ClientKind::Socket`] client, and writes the app's reply as one line. It
//! takes the next message only once the reply to the previous one is
//! written, the way phpWebSocketServer's PHP client waits for its ack; a
//! client that sends many messages at once gets its replies in order, and
//! TCP flow control holds it back while its messages wait. The thread waits
//! in `select!` on bytes and its outbox, so an idle backend costs no CPU, and
//! a close the server decides on (quit, keepalive, shutdown) happens at once.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{never, select, Receiver, Sender};
use log::{debug, info};
use serde::de::IgnoredAny;
use tungstenite::Message;

use super::stream::{Link, Stream};
use super::{attach, Attached};
use crate::apps::relay;
use crate::dispatch::clients::ClientShared;
use crate::dispatch::{ClientId, ClientInfo, ClientKind, Event, Outgoing};
use crate::error::Result;
use crate::http::PHP_GREETING;
use crate::server::Shared;

/// Largest message a backend may send, in bytes (leading whitespace not counted).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// The greeting line `php process` may not be longer than this.
const GREETING_MAX: usize = 256;
/// After an error line, how long the server reads (and drops) what the peer
/// still sends before it closes, so that the line is not lost to a reset.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves a backend script that opened a plain TCP socket. `buf` holds the
/// bytes read so far (`{...` or the `php process` greeting).
pub(crate) fn serve(
    mut stream: Stream,
    peer: SocketAddr,
    mut buf: Vec<u8>,
    server: &Arc<Shared>,
) -> Result<()> {
    let Some(route) = server.routes.websocket(relay::PATH) else {
        info!("{peer}: plain-socket backend refused: no relay app on {}", relay::PATH);
        return refuse(stream, "this server has no relay app for backend sockets");
    };
    let greeted = buf.starts_with(PHP_GREETING);
    if greeted && !read_greeting(&mut stream, &mut buf, server.config.handshake_timeout)? {
        info!("{peer}: plain-socket backend refused: bad greeting line");
        return refuse(stream, "expected the greeting \"php process\" and an empty line");
    }

    let param = if greeted { relay::GREETED } else { "" };
    let info = ClientInfo { peer, kind: ClientKind::Socket, param: param.into(), app: route.app };
    let busy = error_line("server busy, try again later");
    let Some(Attached { id, link, shared, inbound, outbox }) =
        attach(stream, &mut buf, info, busy.as_bytes(), server)?
    else {
        return Ok(());
    };
    let mut backend = Backend {
        id,
        peer,
        link,
        shared,
        inbound,
        outbox,
        events: server.events.clone(),
        framer: Framer::new(buf),
        ready_due: greeted,
        waiting: 0,
        left: false,
    };
    backend.run()
}

/// Reads the rest of the legacy greeting line into `buf` and takes it out.
/// True when the line is `php process` (trailing spaces and CR allowed).
/// The empty line after it is whitespace before the first JSON value, which
/// the [`Framer`] skips; a client that waits for `ready` before sending it
/// would otherwise wait forever.
fn read_greeting(stream: &mut Stream, buf: &mut Vec<u8>, timeout: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + timeout;
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
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "greeting incomplete"));
        }
        stream.tcp().set_read_timeout(Some(left))?;
        match stream.read(&mut chunk) {
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

/// `{"opcode":"error","message":...}` and a newline.
fn error_line(message: &str) -> String {
    let mut line = relay::error_line(message);
    line.push('\n');
    line
}

/// The connection thread of one registered backend socket.
struct Backend {
    id: ClientId,
    peer: SocketAddr,
    /// Writes (through TLS when it is on) and decrypts what the reader brings.
    link: Link,
    shared: Arc<ClientShared>,
    inbound: Receiver<Vec<u8>>,
    outbox: Receiver<Outgoing>,
    events: Sender<Event>,
    framer: Framer,
    /// The app's `ready` line is still to come (the client sent the greeting).
    ready_due: bool,
    /// Messages handed to the app whose reply is not written yet.
    waiting: usize,
    /// The dispatcher was told that this client left.
    left: bool,
}

impl Drop for Backend {
    /// Whatever ends the thread, a panic included, the dispatcher sees the
    /// client leave, and the reader thread is woken by the shutdown.
    fn drop(&mut self) {
        self.announce_leave();
        let _ = self.shared.socket.shutdown(Shutdown::Both);
    }
}

impl Backend {
    fn run(&mut self) -> Result<()> {
        let mut eof = false;
        loop {
            if self.waiting == 0 {
                match self.framer.next(eof) {
                    Frame::Message(text) => {
                        let message = Message::text(text);
                        if self.events.send(Event::Message { id: self.id, message }).is_err() {
                            return Ok(()); // shutting down
                        }
                        self.waiting += 1;
                        continue;
                    }
                    Frame::Need if eof => return Ok(()),
                    Frame::Need => {}
                    Frame::Fail(why) => {
                        info!("client {} ({}): {why}; closing the backend socket", self.id, self.peer);
                        return self.fail(&why);
                    }
                }
            }
            // Read on only while the buffer holds less than one message: a
            // client far ahead of its replies waits in TCP flow control.
            let bytes =
                if eof || self.framer.buffered() > MAX_MESSAGE { never() } else { self.inbound.clone() };
            select! {
                recv(bytes) -> chunk => match chunk {
                    Ok(chunk) => {
                        let mut plain = Vec::new();
                        if let Err(e) = self.link.feed(&chunk, &mut plain) {
                            debug!("client {} ({}): {e}", self.id, self.peer);
                            return Ok(());
                        }
                        self.framer.push(&plain);
                    }
                    // From now on `bytes` is `never()`: a dropped channel would fire forever.
                    Err(_) => eof = true,
                },
                recv(self.outbox) -> out => match out {
                    Ok(Outgoing::Batch(batch)) => self.write_batch(batch)?,
                    // `quit`: no reply, just the end of the connection.
                    Ok(Outgoing::Close(1000, _)) => return self.finish(),
                    Ok(Outgoing::Close(code, reason)) => {
                        debug!("client {} ({}): closed by the server ({code} {reason})", self.id, self.peer);
                        return self.fail(&format!("closed by the server: {reason}"));
                    }
                    // The dispatcher let go without a close: it has stopped.
                    Err(_) => return self.fail("server shutting down"),
                },
            }
        }
    }

    /// Writes the app's lines; each but the `ready` answers one message.
    fn write_batch(&mut self, batch: Vec<Message>) -> Result<()> {
        let n = batch.len();
        let mut bytes = Vec::new();
        for message in batch {
            if let Message::Text(text) = message {
                bytes.extend_from_slice(text.as_bytes());
                bytes.push(b'\n');
                if self.ready_due {
                    self.ready_due = false;
                } else {
                    self.waiting = self.waiting.saturating_sub(1);
                }
            }
        }
        if !self.shared.abandon.load(Ordering::Relaxed) {
            self.link.write_all(&bytes)?;
        }
        self.shared.queued.fetch_sub(n, Ordering::Relaxed);
        Ok(())
    }

    /// Sends one error line, then closes.
    fn fail(&mut self, why: &str) -> Result<()> {
        self.announce_leave();
        self.link.write_all(error_line(why).as_bytes())?;
        self.finish()
    }

    /// Closes politely: FIN, then read (and drop) what the peer still sends
    /// until it closes too or a moment passes, so that unread bytes do not
    /// turn the close into a reset that destroys the last line in flight.
    fn finish(&mut self) -> Result<()> {
        self.announce_leave();
        self.link.close_notify();
        let _ = self.shared.socket.shutdown(Shutdown::Write);
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        while self.inbound.recv_deadline(deadline).is_ok() {}
        Ok(())
    }

    fn announce_leave(&mut self) {
        if !self.left {
            self.left = true;
            let _ = self.events.send(Event::Close { id: self.id });
        }
    }
}

/// What [`Framer::next`] found in the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Not a complete value yet: read more.
    Need,
    /// One complete JSON value (any kind: the app refuses non-objects), as sent.
    Message(String),
    /// The stream cannot go on: too big, or not JSON. Send this and close.
    Fail(String),
}

/// The shape of the value being scanned, known from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Nothing scanned yet.
    Unknown,
    /// An object or array: it ends where its brackets balance.
    Nested,
    /// A string: it ends at its closing quote.
    Str,
    /// A number or literal: it ends before the next delimiter (or at the end
    /// of the stream), since `12` might still become `123`.
    Scalar,
}

/// Cuts a byte stream into JSON values, with or without whitespace between
/// them, at most [`MAX_MESSAGE`] bytes each.
///
/// A scanner that only tracks strings and bracket depth finds where a value
/// ends, in one pass over the bytes however they are split; serde_json then
/// checks that value once. While a value is incomplete, serde_json looks at
/// it each time the buffer has doubled, so that bytes that are not JSON get
/// their error at once rather than after 64 KiB, at a linear total cost.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Bytes of the current value scanned so far.
    scanned: usize,
    shape: Shape,
    depth: usize,
    in_string: bool,
    escape: bool,
    /// Buffer length at the last syntax check of the incomplete value.
    checked: usize,
}

impl Framer {
    /// A framer that starts with the bytes already read.
    pub fn new(buf: Vec<u8>) -> Framer {
        Framer {
            buf,
            scanned: 0,
            shape: Shape::Unknown,
            depth: 0,
            in_string: false,
            escape: false,
            checked: 0,
        }
    }

    /// Adds bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held, the current value's included.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete value, if the buffer holds one. `eof`: no more bytes will come.
    pub fn next(&mut self, eof: bool) -> Frame {
        if self.shape == Shape::Unknown {
            let blank = self.buf.iter().take_while(|&&b| is_blank(b)).count();
            self.buf.drain(..blank);
        }
        if self.buf.is_empty() {
            return Frame::Need;
        }
        let end = match self.scan() {
            Some(end) => end,
            None if eof => self.buf.len(),
            None if self.buf.len() > MAX_MESSAGE => return too_big(),
            None => return self.check_early(),
        };
        if end > MAX_MESSAGE {
            return too_big();
        }
        let bytes: Vec<u8> = self.buf.drain(..end).collect();
        *self = Framer::new(std::mem::take(&mut self.buf));
        let Ok(text) = String::from_utf8(bytes) else {
            return Frame::Fail("not JSON: invalid UTF-8".into());
        };
        match serde_json::from_str::<IgnoredAny>(&text) {
            Ok(_) => Frame::Message(text),
            Err(e) if e.is_eof() => Frame::Fail("the stream ended in the middle of a JSON value".into()),
            Err(e) => Frame::Fail(format!("not JSON: {e}")),
        }
    }

    /// Scans on from where it stopped; the end of the value, if it is in the buffer.
    fn scan(&mut self) -> Option<usize> {
        let limit = self.buf.len().min(MAX_MESSAGE + 1);
        while self.scanned < limit {
            let i = self.scanned;
            let b = self.buf[i];
            self.scanned += 1;
            match self.shape {
                Shape::Unknown => match b {
                    b'{' | b'[' => {
                        self.shape = Shape::Nested;
                        self.depth = 1;
                    }
                    b'"' => {
                        self.shape = Shape::Str;
                        self.in_string = true;
                    }
                    // A stray closing bracket or separator: one byte that serde refuses.
                    b'}' | b']' | b',' | b':' => return Some(1),
                    _ => self.shape = Shape::Scalar,
                },
                Shape::Scalar => {
                    if is_blank(b) || b"{}[],:\"".contains(&b) {
                        return Some(i);
                    }
                }
                Shape::Nested | Shape::Str if self.in_string => {
                    if self.escape {
                        self.escape = false;
                    } else if b == b'\\' {
                        self.escape = true;
                    } else if b == b'"' {
                        self.in_string = false;
                        if self.shape == Shape::Str {
                            return Some(i + 1);
                        }
                    }
                }
                Shape::Nested | Shape::Str => match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                },
            }
        }
        None
    }

    /// Looks at an incomplete value with serde_json when the buffer has
    /// doubled since the last look: bytes that can never become JSON fail now.
    fn check_early(&mut self) -> Frame {
        if self.buf.len() < 2 * self.checked {
            return Frame::Need;
        }
        self.checked = self.buf.len();
        let mut values = serde_json::Deserializer::from_slice(&self.buf).into_iter::<IgnoredAny>();
        match values.next() {
            Some(Err(e)) if !e.is_eof() => Frame::Fail(format!("not JSON: {e}")),
            _ => Frame::Need,
        }
    }
}

/// JSON's whitespace.
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn too_big() -> Frame {
    Frame::Fail(format!("message over {MAX_MESSAGE} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(framer: &mut Framer, eof: bool) -> Vec<Frame> {
        let mut out = Vec::new();
        loop {
            match framer.next(eof) {
                Frame::Need => return out,
                f @ Frame::Fail(_) => {
                    out.push(f);
                    return out;
                }
                m => out.push(m),
            }
        }
    }

    fn msg(s: &str) -> Frame {
        Frame::Message(s.to_string())
    }

    #[test]
    fn values_with_and_without_whitespace_between() {
        let mut f = Framer::new(b"{\"a\":1}{\"b\":[1,{\"c\":\"}\"}]}\n\r\n {\"d\":\"x\\\"}\"}  ".to_vec());
        assert_eq!(
            messages(&mut f, false),
            vec![msg("{\"a\":1}"), msg("{\"b\":[1,{\"c\":\"}\"}]}"), msg("{\"d\":\"x\\\"}\"}")]
        );
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn a_value_split_anywhere_comes_out_once_complete() {
        let text = "{\"opcode\":\"feedback\",\"message\":\"a \\\\\\\" { [ } ] b\",\"n\":[1,2,{}]}";
        for split in 0..text.len() {
            let mut f = Framer::new(Vec::new());
            f.push(&text.as_bytes()[..split]);
            assert_eq!(messages(&mut f, false), vec![], "split at {split}");
            f.push(&text.as_bytes()[split..]);
            assert_eq!(messages(&mut f, false), vec![msg(text)], "split at {split}");
        }
        // Byte by byte, too.
        let mut f = Framer::new(Vec::new());
        let mut got = Vec::new();
        for &b in text.as_bytes() {
            f.push(&[b]);
            got.extend(messages(&mut f, false));
        }
        assert_eq!(got, vec![msg(text)]);
    }

    #[test]
    fn values_that_are_not_objects_are_messages_too() {
        let mut f = Framer::new(b"[1,2] \"s\" 42 true\nnull{}".to_vec());
        assert_eq!(
            messages(&mut f, false),
            vec![msg("[1,2]"), msg("\"s\""), msg("42"), msg("true"), msg("null"), msg("{}")]
        );
        // A number at the end may go on; at the end of the stream it is complete.
        let mut f = Framer::new(b"12".to_vec());
        assert_eq!(messages(&mut f, false), vec![]);
        f.push(b"3 ");
        assert_eq!(messages(&mut f, false), vec![msg("123")]);
        let mut f = Framer::new(b"7".to_vec());
        assert_eq!(messages(&mut f, true), vec![msg("7")]);
    }

    #[test]
    fn bytes_that_are_not_json_fail_at_once() {
        for bad in [&b"{oops}"[..], b"{\"a\" 1}", b"hello", b"}", b"{\"a\":1,,", b"{\"a\":tru3"] {
            let mut f = Framer::new(bad.to_vec());
            let frames = messages(&mut f, false);
            assert!(
                matches!(frames.last(), Some(Frame::Fail(m)) if m.starts_with("not JSON")),
                "{bad:?}: {frames:?}"
            );
        }
        // After good values, too.
        let mut f = Framer::new(b"{\"a\":1}\n{\"b\": nope}\n".to_vec());
        let frames = messages(&mut f, false);
        assert_eq!(frames[0], msg("{\"a\":1}"));
        assert!(matches!(&frames[1], Frame::Fail(m) if m.starts_with("not JSON")));
        // Invalid UTF-8 inside a string.
        let mut f = Framer::new(b"{\"a\":\"\xff\"}".to_vec());
        assert!(matches!(f.next(false), Frame::Fail(_)));
    }

    #[test]
    fn a_value_cut_off_by_the_end_of_the_stream_fails() {
        let mut f = Framer::new(b"{\"a\":".to_vec());
        assert_eq!(f.next(false), Frame::Need);
        assert!(matches!(f.next(true), Frame::Fail(m) if m.contains("ended")));
        let mut f = Framer::new(b" \n".to_vec());
        assert_eq!(f.next(true), Frame::Need);
    }

    #[test]
    fn sixty_four_kib_pass_and_one_byte_more_fails() {
        let object = |len: usize| {
            let head = "{\"p\":\"";
            let pad = "x".repeat(len - head.len() - 2);
            format!("{head}{pad}\"}}")
        };
        let exact = object(MAX_MESSAGE);
        assert_eq!(exact.len(), MAX_MESSAGE);
        let mut f = Framer::new(format!("\n\n{exact}").into_bytes());
        assert_eq!(f.next(false), msg(&exact));

        let over = object(MAX_MESSAGE + 1);
        let mut f = Framer::new(over.clone().into_bytes());
        assert!(matches!(f.next(false), Frame::Fail(m) if m.contains("over")));
        // Incomplete and already over the limit: no need to wait for the rest.
        let mut f = Framer::new(over.as_bytes()[..MAX_MESSAGE + 1].to_vec());
        assert!(matches!(f.next(false), Frame::Fail(m) if m.contains("over")));
        let mut f = Framer::new(over.as_bytes()[..MAX_MESSAGE].to_vec());
        assert_eq!(f.next(false), Frame::Need);
    }
}
