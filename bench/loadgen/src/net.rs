//! Many WebSocket client connections on one thread: mio (epoll) and a
//! minimal RFC 6455 client codec, so that the generator spends as little
//! CPU per message as it can. Reads go through one shared scratch buffer,
//! so an idle connection costs a few dozen bytes here; writes are queued
//! per connection and written with one `write()` per connection per loop.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// Nanoseconds since the generator started (monotonic).
pub fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

pub const TEXT: u8 = 1;
pub const BINARY: u8 = 2;
const CLOSE: u8 = 8;
const PING: u8 = 9;
const PONG: u8 = 10;

const SCRATCH: usize = 512 * 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    /// Waiting for a connect slot (at most `max_connecting` handshakes at once).
    Queued,
    Connecting,
    Handshake,
    Open,
    Closed,
}

/// What happened on a connection.
pub enum Ev<'a> {
    /// The handshake finished (101).
    Open,
    /// A text or binary message.
    Msg { data: &'a [u8] },
    /// The server closed (close frame or end of stream; the code is in `Conn::close_code`).
    Closed,
    /// Connecting or the handshake failed (the reason is in `Net::last_error`).
    Failed,
}

pub struct Conn {
    stream: Option<TcpStream>,
    pub state: State,
    path: Box<str>,
    /// The bytes of an incomplete frame (or head) from the last read.
    partial: Vec<u8>,
    wbuf: Vec<u8>,
    /// A paused connection is not read (the `stalled` client).
    paused: bool,
    close_sent: bool,
    pub close_code: Option<u16>,
    /// Messages received, for callers that only count.
    pub received: u64,
}

pub struct Net {
    poll: Poll,
    events: Events,
    addr: SocketAddr,
    pub conns: Vec<Conn>,
    queue: VecDeque<usize>,
    connecting: usize,
    /// Connects and handshakes in flight at once: keeps the server's accept backlog from overflowing.
    pub max_connecting: usize,
    dirty: Vec<usize>,
    scratch: Vec<u8>,
    rng: u64,
    pub opened: usize,
    pub closed: usize,
    pub failed: usize,
    pub last_error: Option<String>,
}

impl Net {
    pub fn new(addr: SocketAddr) -> io::Result<Net> {
        Ok(Net {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            addr,
            conns: Vec::new(),
            queue: VecDeque::new(),
            connecting: 0,
            max_connecting: 64,
            dirty: Vec::new(),
            scratch: vec![0; SCRATCH],
            rng: 0x9E37_79B9_7F4A_7C15 ^ now_ns(),
            opened: 0,
            closed: 0,
            failed: 0,
            last_error: None,
        })
    }

    /// Queues a connection to `path`; it connects when a slot is free.
    pub fn open(&mut self, path: &str) -> usize {
        let i = self.conns.len();
        self.conns.push(Conn {
            stream: None,
            state: State::Queued,
            path: path.into(),
            partial: Vec::new(),
            wbuf: Vec::new(),
            paused: false,
            close_sent: false,
            close_code: None,
            received: 0,
        });
        self.queue.push_back(i);
        i
    }

    /// Stops reading connection `i` (the `stalled` client).
    pub fn pause(&mut self, i: usize) {
        self.conns[i].paused = true;
    }

    pub fn resume(&mut self, i: usize, f: &mut impl FnMut(usize, Ev, u64)) {
        self.conns[i].paused = false;
        let Net { conns, scratch, dirty, rng, .. } = self;
        let mut counts = Counts::default();
        read_all(i, &mut conns[i], scratch, dirty, rng, &mut counts, now_ns(), f);
        self.apply(counts);
    }

    /// Queues a message; it is written by the next `flush` (every `poll` flushes first).
    pub fn send(&mut self, i: usize, op: u8, payload: &[u8]) {
        let c = &mut self.conns[i];
        if c.state != State::Open || c.close_sent {
            return;
        }
        if c.wbuf.is_empty() {
            self.dirty.push(i);
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        frame(&mut c.wbuf, op, payload, self.rng as u32);
    }

    /// Writes what is queued, as far as the sockets take it.
    pub fn flush(&mut self) {
        let mut counts = Counts::default();
        for i in std::mem::take(&mut self.dirty) {
            flush_one(&mut self.conns[i], &mut counts);
        }
        self.apply(counts);
    }

    fn apply(&mut self, c: Counts) {
        self.opened += c.opened;
        self.closed += c.closed;
        self.failed += c.failed;
        self.connecting -= c.done_connecting;
        if c.error.is_some() {
            self.last_error = c.error;
        }
    }

    fn start_connects(&mut self) {
        while self.connecting < self.max_connecting {
            let Some(i) = self.queue.pop_front() else { break };
            let c = &mut self.conns[i];
            match TcpStream::connect(self.addr) {
                Ok(mut s) => {
                    let _ = s.set_nodelay(true);
                    if let Err(e) = self.poll.registry().register(
                        &mut s,
                        Token(i),
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        c.state = State::Closed;
                        self.failed += 1;
                        self.last_error = Some(format!("register: {e}"));
                        continue;
                    }
                    c.stream = Some(s);
                    c.state = State::Connecting;
                    self.connecting += 1;
                }
                Err(e) => {
                    c.state = State::Closed;
                    self.failed += 1;
                    self.last_error = Some(format!("connect: {e}"));
                }
            }
        }
    }

    /// Connections not yet open, closed or failed.
    pub fn pending(&self) -> usize {
        self.queue.len() + self.connecting
    }

    /// Waits for events (at most `timeout`) and hands each message to `f`
    /// with the time the read returned.
    pub fn poll(&mut self, timeout: Option<Duration>, f: &mut impl FnMut(usize, Ev, u64)) -> io::Result<()> {
        self.start_connects();
        self.flush();
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let now = now_ns();
        let Net { events, conns, scratch, dirty, rng, .. } = self;
        let mut counts = Counts::default();
        for ev in events.iter() {
            let i = ev.token().0;
            let c = &mut conns[i];
            if c.state == State::Connecting {
                let s = c.stream.as_mut().expect("stream");
                let err = match s.take_error() {
                    Ok(Some(e)) | Err(e) => Some(e.to_string()),
                    Ok(None) => match s.peer_addr() {
                        Ok(_) => None,
                        Err(e) if e.kind() == ErrorKind::NotConnected => continue, // not yet
                        Err(e) => Some(e.to_string()),
                    },
                };
                if let Some(e) = err {
                    fail(c, &mut counts, format!("connect: {e}"), i, f);
                    continue;
                }
                c.state = State::Handshake;
                let req = format!(
                    "GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                    c.path
                );
                c.wbuf.extend_from_slice(req.as_bytes());
                flush_one(c, &mut counts);
            } else if ev.is_writable() && !c.wbuf.is_empty() {
                flush_one(c, &mut counts);
            }
            if (ev.is_readable() || ev.is_read_closed() || ev.is_error()) && !c.paused {
                read_all(i, c, scratch, dirty, rng, &mut counts, now, f);
            }
        }
        self.apply(counts);
        Ok(())
    }

    /// Closes every socket at once (no close handshake).
    pub fn drop_all(&mut self) {
        for c in &mut self.conns {
            if let Some(mut s) = c.stream.take() {
                let _ = self.poll.registry().deregister(&mut s);
            }
            c.state = State::Closed;
        }
    }
}

#[derive(Default)]
struct Counts {
    opened: usize,
    closed: usize,
    failed: usize,
    done_connecting: usize,
    error: Option<String>,
}

fn fail(c: &mut Conn, counts: &mut Counts, why: String, i: usize, f: &mut impl FnMut(usize, Ev, u64)) {
    if matches!(c.state, State::Connecting | State::Handshake) {
        counts.done_connecting += 1;
    }
    c.state = State::Closed;
    c.stream = None;
    counts.failed += 1;
    f(i, Ev::Failed, now_ns());
    counts.error = Some(why);
}

fn gone(c: &mut Conn, counts: &mut Counts, code: Option<u16>, i: usize, f: &mut impl FnMut(usize, Ev, u64)) {
    if c.state == State::Closed {
        return;
    }
    if c.state != State::Open {
        return fail(c, counts, "closed during the handshake".into(), i, f);
    }
    c.state = State::Closed;
    c.close_code = code;
    c.stream = None;
    counts.closed += 1;
    f(i, Ev::Closed, now_ns());
}

/// A client frame: FIN, opcode, masked payload.
fn frame(out: &mut Vec<u8>, op: u8, payload: &[u8], mask: u32) {
    out.push(0x80 | op);
    let n = payload.len();
    if n < 126 {
        out.push(0x80 | n as u8);
    } else if n <= 0xffff {
        out.push(0x80 | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    let key = mask.to_be_bytes();
    out.extend_from_slice(&key);
    let start = out.len();
    out.extend_from_slice(payload);
    for (j, b) in out[start..].iter_mut().enumerate() {
        *b ^= key[j & 3];
    }
}

fn flush_one(c: &mut Conn, counts: &mut Counts) {
    let Some(s) = c.stream.as_mut() else {
        c.wbuf.clear();
        return;
    };
    let mut done = 0;
    while done < c.wbuf.len() {
        match s.write(&c.wbuf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                // The read side reports the end; just drop what cannot go out.
                counts.error = Some(format!("write: {e}"));
                c.wbuf.clear();
                return;
            }
        }
    }
    c.wbuf.drain(..done);
}

#[allow(clippy::too_many_arguments)]
fn read_all(
    i: usize,
    c: &mut Conn,
    scratch: &mut [u8],
    dirty: &mut Vec<usize>,
    rng: &mut u64,
    counts: &mut Counts,
    now: u64,
    f: &mut impl FnMut(usize, Ev, u64),
) {
    loop {
        let Some(s) = c.stream.as_mut() else { return };
        let plen = c.partial.len();
        if plen >= scratch.len() {
            return fail(c, counts, "a frame larger than the read buffer".into(), i, f);
        }
        scratch[..plen].copy_from_slice(&c.partial);
        let room = scratch.len() - plen;
        let n = match s.read(&mut scratch[plen..]) {
            Ok(0) => {
                c.partial.clear();
                return gone(c, counts, None, i, f);
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => {
                c.partial.clear();
                return gone(c, counts, None, i, f);
            }
        };
        c.partial.clear();
        let data = &scratch[..plen + n];
        let used = parse(i, c, data, dirty, rng, counts, now, f);
        if c.state == State::Closed {
            return;
        }
        c.partial.extend_from_slice(&data[used..]);
        if n < room {
            // A short read drained the socket; the next edge brings more.
            return;
        }
    }
}

/// Parses the head (during the handshake) and every complete frame in
/// `data`; returns the bytes used.
#[allow(clippy::too_many_arguments)]
fn parse(
    i: usize,
    c: &mut Conn,
    data: &[u8],
    dirty: &mut Vec<usize>,
    rng: &mut u64,
    counts: &mut Counts,
    now: u64,
    f: &mut impl FnMut(usize, Ev, u64),
) -> usize {
    let mut pos = 0;
    if c.state == State::Handshake {
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
            if data.len() > 16 * 1024 {
                fail(c, counts, "response head too long".into(), i, f);
            }
            return 0;
        };
        counts.done_connecting += 1;
        if !data.starts_with(b"HTTP/1.1 101") {
            let line =
                String::from_utf8_lossy(&data[..data[..end].iter().position(|&b| b == b'\r').unwrap_or(end)])
                    .into_owned();
            c.state = State::Closed;
            c.stream = None;
            counts.failed += 1;
            f(i, Ev::Failed, now);
            counts.error = Some(format!("handshake: {line}"));
            return data.len();
        }
        c.state = State::Open;
        counts.opened += 1;
        f(i, Ev::Open, now);
        pos = end + 4;
    }
    while data.len() - pos >= 2 {
        let b0 = data[pos];
        let b1 = data[pos + 1];
        let op = b0 & 0x0f;
        let mut len = (b1 & 0x7f) as u64;
        let mut head = 2;
        if len == 126 {
            if data.len() - pos < 4 {
                break;
            }
            len = u16::from_be_bytes([data[pos + 2], data[pos + 3]]) as u64;
            head = 4;
        } else if len == 127 {
            if data.len() - pos < 10 {
                break;
            }
            len = u64::from_be_bytes(data[pos + 2..pos + 10].try_into().expect("8 bytes"));
            head = 10;
        }
        let masked = b1 & 0x80 != 0;
        if masked {
            head += 4;
        }
        if ((data.len() - pos) as u64) < head as u64 + len {
            break;
        }
        let start = pos + head;
        let end = start + len as usize;
        pos = end;
        let payload = &data[start..end];
        match op {
            TEXT | BINARY | 0 => {
                c.received += 1;
                f(i, Ev::Msg { data: payload }, now);
            }
            CLOSE => {
                let code = (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                if !c.close_sent {
                    // Echo the close, as RFC 6455 asks.
                    let mut out = Vec::new();
                    frame(&mut out, CLOSE, &payload[..payload.len().min(2)], *rng as u32);
                    if let Some(s) = c.stream.as_mut() {
                        let _ = s.write_all(&out);
                    }
                    c.close_sent = true;
                }
                gone(c, counts, code, i, f);
                return data.len();
            }
            PING => {
                if c.wbuf.is_empty() {
                    dirty.push(i);
                }
                *rng ^= *rng << 13;
                *rng ^= *rng >> 7;
                *rng ^= *rng << 17;
                frame(&mut c.wbuf, PONG, payload, *rng as u32);
            }
            _ => {}
        }
    }
    pos
}
