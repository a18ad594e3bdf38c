//! A connection's tap: while an inspector watches the client, every frame
//! both ways becomes a [`Record`] sent to the dispatcher. Switched off, the
//! only cost on the read and write paths is [`Tap::is_on`], one relaxed
//! atomic load.
//!
//! Outgoing units are whole frames (or, for a backend socket, whole lines),
//! so the writer's side reads one header per unit. Incoming bytes come in
//! reads of any size; a [`Scanner`] follows the frames across them. A tap
//! switched on while a frame is half read cannot know where the next one
//! starts: the scanner takes the start of a read as a frame start only when
//! it looks like one (masked, no RSV bits, a known opcode), and tries again
//! at the next read otherwise.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crossbeam_channel::{Sender, TrySendError};
use tungstenite::Bytes;

use crate::app::ClientId;

/// Payload bytes kept per frame.
pub const KEEP: usize = 4 * 1024;

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// From the client.
    In,
    /// To the client.
    Out,
    /// A line from wslab to a script app's child, about this client.
    ToApp,
    /// A line from a script app's child, about this client.
    FromApp,
}

impl Dir {
    /// As docs/inspector.md names it.
    pub fn name(self) -> &'static str {
        match self {
            Dir::In => "in",
            Dir::Out => "out",
            Dir::ToApp => "to-app",
            Dir::FromApp => "from-app",
        }
    }
}

/// One frame (or line) seen by a tap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The client it belongs to.
    pub client: ClientId,
    /// When, in ms since the server started.
    pub t_ms: u64,
    /// Which way.
    pub dir: Dir,
    /// The WebSocket opcode; `None` for a line (backend socket, script app).
    pub opcode: Option<u8>,
    /// The FIN bit.
    pub fin: bool,
    /// Whether the payload was masked.
    pub masked: bool,
    /// The payload length on the wire.
    pub len: u64,
    /// The payload (unmasked), at most [`KEEP`] bytes of it.
    pub payload: Bytes,
}

/// Where a switched-on tap sends its records.
#[derive(Debug, Clone)]
pub struct Sink {
    /// The client watched.
    pub client: ClientId,
    /// The dispatcher's record channel (bounded: records that do not fit are counted, not waited for).
    pub records: Sender<Record>,
    /// The server's clock start.
    pub epoch: Instant,
    /// The client's units are lines (a backend socket), not frames.
    pub lines: bool,
}

/// One connection's tap (inside its writer, shared by its thread and the dispatcher).
#[derive(Debug, Default)]
pub struct Tap {
    /// Whether an inspector watches: the one thing the hot paths read.
    on: AtomicBool,
    /// Where records go while on.
    sink: Mutex<Option<Sink>>,
    /// Records dropped because the channel was full.
    dropped: AtomicU64,
}

impl Tap {
    /// Whether an inspector watches this client.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Starts recording into `sink`.
    pub fn attach(&self, sink: Sink) {
        *self.lock() = Some(sink);
        self.on.store(true, Ordering::Relaxed);
    }

    /// Stops recording.
    pub fn detach(&self) {
        self.on.store(false, Ordering::Relaxed);
        *self.lock() = None;
    }

    /// Records dropped since the last call (the inspector could not keep up).
    pub fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }

    /// Records outgoing units (whole frames, or lines for a backend).
    pub fn outgoing<'a>(&self, units: impl IntoIterator<Item = &'a Bytes>) {
        let Some(sink) = self.sink() else { return };
        for unit in units {
            let record = if sink.lines {
                Some(line_record(&sink, Dir::Out, unit))
            } else {
                parse_header(unit).map(|h| {
                    let end = (h.header_len + KEEP).min(unit.len());
                    let payload = unit.slice(h.header_len.min(end)..end);
                    frame_record(&sink, Dir::Out, &h, payload)
                })
            };
            if let Some(record) = record {
                self.emit(&sink, record);
            }
        }
    }

    /// Records a line to or from a script app's child about this client.
    pub fn line(&self, dir: Dir, line: &str) {
        if let Some(sink) = self.sink() {
            let record = line_record(&sink, dir, &Bytes::copy_from_slice(line.as_bytes()));
            self.emit(&sink, record);
        }
    }

    /// Records what `scanner` finds in `bytes`, just read from the client.
    /// A backend socket's reads are not its messages (one may come in many
    /// reads, or many in one): its thread records each whole message with
    /// [`Tap::line`] instead.
    pub fn incoming(&self, scanner: &mut Scanner, bytes: &[u8]) {
        let Some(sink) = self.sink() else { return };
        if sink.lines {
            return;
        }
        scanner.feed(bytes, &mut |header, payload| {
            self.emit(&sink, frame_record(&sink, Dir::In, header, Bytes::from(payload)));
        });
    }

    fn sink(&self) -> Option<Sink> {
        self.lock().clone()
    }

    fn emit(&self, sink: &Sink, record: Record) {
        if let Err(TrySendError::Full(_)) = sink.records.try_send(record) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Sink>> {
        self.sink.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn frame_record(sink: &Sink, dir: Dir, h: &Header, payload: Bytes) -> Record {
    Record {
        client: sink.client,
        t_ms: sink.epoch.elapsed().as_millis() as u64,
        dir,
        opcode: Some(h.opcode),
        fin: h.fin,
        masked: h.mask.is_some(),
        len: h.len,
        payload,
    }
}

fn line_record(sink: &Sink, dir: Dir, line: &Bytes) -> Record {
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    let kept = text.len().min(KEEP);
    Record {
        client: sink.client,
        t_ms: sink.epoch.elapsed().as_millis() as u64,
        dir,
        opcode: None,
        fin: true,
        masked: false,
        len: text.len() as u64,
        payload: line.slice(0..kept),
    }
}

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// FIN.
    pub fin: bool,
    /// The opcode (low four bits of the first byte).
    pub opcode: u8,
    /// The masking key, when the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub len: u64,
    /// The header's own length in bytes.
    pub header_len: usize,
}

/// Reads a frame header at the start of `bytes`; `None` when it is not all there.
pub fn parse_header(bytes: &[u8]) -> Option<Header> {
    let (&b0, rest) = bytes.split_first()?;
    let &b1 = rest.first()?;
    let (len, mut at) = match b1 & 0x7f {
        126 => (u64::from(u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?)), 4),
        127 => (u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?), 10),
        n => (u64::from(n), 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let key: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(key)
    } else {
        None
    };
    Some(Header { fin: b0 & 0x80 != 0, opcode: b0 & 0x0f, mask, len, header_len: at })
}

/// Whether `h` (with the first byte `b0`) can be a client's frame: masked,
/// no RSV bits (wslab negotiates no extension), a defined opcode, control
/// frames whole and short.
fn plausible(b0: u8, h: &Header) -> bool {
    let control = h.opcode >= 8;
    h.mask.is_some()
        && b0 & 0x70 == 0
        && matches!(h.opcode, 0 | 1 | 2 | 8 | 9 | 10)
        && (!control || (h.fin && h.len <= 125))
}

/// Follows a client's frames across reads, for its tap.
#[derive(Debug, Default)]
pub struct Scanner {
    /// Where the scanner is.
    state: Scan,
}

/// A [`Scanner`]'s place in the byte stream.
#[derive(Debug, Default)]
enum Scan {
    /// Not at a known frame start: the next read's first byte may be one.
    #[default]
    Lost,
    /// Reading a header: the bytes of it so far (at most 14).
    Header(Vec<u8>),
    /// Reading a payload.
    Payload {
        /// The frame's header.
        header: Header,
        /// Payload bytes still to come.
        left: u64,
        /// The kept part (unmasked), up to [`KEEP`] bytes.
        kept: Vec<u8>,
        /// Payload bytes seen so far (for the mask's phase).
        seen: u64,
    },
}

impl Scanner {
    /// Feeds the bytes of one read; `found` gets each frame whose payload
    /// ended in them (header and kept payload).
    pub fn feed(&mut self, mut bytes: &[u8], found: &mut dyn FnMut(&Header, Vec<u8>)) {
        if matches!(self.state, Scan::Lost) {
            match bytes.first() {
                // The read starts where a frame can: take it as one, checked below.
                Some(_) => self.state = Scan::Header(Vec::with_capacity(14)),
                None => return,
            }
        }
        while !bytes.is_empty() {
            match &mut self.state {
                Scan::Lost => return, // resynchronised at the next read
                Scan::Header(got) => {
                    let take = (14 - got.len()).min(bytes.len());
                    let before = got.len();
                    got.extend_from_slice(&bytes[..take]);
                    match parse_header(got) {
                        Some(h) if plausible(got[0], &h) => {
                            bytes = &bytes[h.header_len - before..];
                            let kept = Vec::with_capacity(h.len.min(KEEP as u64) as usize);
                            self.state = Scan::Payload { header: h, left: h.len, kept, seen: 0 };
                        }
                        Some(_) => self.state = Scan::Lost,
                        None if got.len() >= 14 => self.state = Scan::Lost,
                        None => bytes = &bytes[take..],
                    }
                }
                Scan::Payload { header, left, kept, seen } => {
                    let take = (*left).min(bytes.len() as u64) as usize;
                    let room = KEEP.saturating_sub(kept.len()).min(take);
                    for (i, &b) in bytes[..room].iter().enumerate() {
                        let phase = ((*seen + i as u64) % 4) as usize;
                        kept.push(header.mask.map_or(b, |m| b ^ m[phase]));
                    }
                    *seen += take as u64;
                    *left -= take as u64;
                    bytes = &bytes[take..];
                    if *left == 0 {
                        found(header, std::mem::take(kept));
                        self.state = Scan::Header(Vec::with_capacity(14));
                    }
                }
            }
        }
        if let Scan::Payload { header, left: 0, kept, .. } = &mut self.state {
            found(header, std::mem::take(kept));
            self.state = Scan::Header(Vec::with_capacity(14));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn client_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let key = [1u8, 2, 3, 4];
        let mut f = vec![opcode | if fin { 0x80 } else { 0 }];
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
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        f
    }

    fn scan(chunks: &[&[u8]]) -> Vec<(Header, Vec<u8>)> {
        let mut scanner = Scanner::default();
        let mut out = Vec::new();
        for chunk in chunks {
            scanner.feed(chunk, &mut |h, p| out.push((*h, p)));
        }
        out
    }

    #[test]
    fn frames_are_found_whole_or_split_anywhere() {
        let mut bytes = client_frame(1, true, b"hello");
        bytes.extend(client_frame(9, true, b""));
        bytes.extend(client_frame(2, false, &[0xff; 300]));
        bytes.extend(client_frame(0, true, b"end"));
        let whole = scan(&[&bytes]);
        assert_eq!(whole.len(), 4);
        assert_eq!(whole[0].1, b"hello");
        assert_eq!((whole[1].0.opcode, whole[1].0.len), (9, 0));
        assert_eq!((whole[2].0.opcode, whole[2].0.fin, whole[2].1.len()), (2, false, 300));
        assert!(whole[3].0.fin && whole[3].1 == b"end");
        for cut in 1..bytes.len() {
            assert_eq!(scan(&[&bytes[..cut], &bytes[cut..]]), whole, "cut at {cut}");
        }
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(scan(&bytewise), whole);
    }

    #[test]
    fn payloads_are_kept_to_4_kib_and_huge_lengths_allocate_nothing() {
        let big = vec![b'x'; 100_000];
        let found = scan(&[&client_frame(1, true, &big)]);
        assert_eq!(found[0].0.len, 100_000);
        assert_eq!(found[0].1.len(), KEEP);
        // A header claiming 2^63 bytes: followed, never allocated for.
        let mut huge = vec![0x82, 0x80 | 127];
        huge.extend_from_slice(&(1u64 << 63).to_be_bytes());
        huge.extend_from_slice(&[0, 0, 0, 0]);
        huge.extend_from_slice(&[7; 10]);
        let mut scanner = Scanner::default();
        let mut n = 0;
        scanner.feed(&huge, &mut |_, _| n += 1);
        assert_eq!(n, 0);
        match &scanner.state {
            Scan::Payload { kept, left, .. } => {
                assert!(kept.capacity() <= KEEP);
                assert_eq!(*left, (1u64 << 63) - 10);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_tap_switched_on_mid_frame_waits_for_a_read_that_starts_one() {
        let frame = client_frame(1, true, b"a long enough text message");
        let next = client_frame(1, true, b"next");
        let mut scanner = Scanner::default();
        let mut found = Vec::new();
        // Starts in the middle of the first frame's payload: ASCII text
        // never looks like a masked header.
        scanner.feed(&frame[10..], &mut |_, p| found.push(p));
        assert!(found.is_empty());
        scanner.feed(&next, &mut |_, p| found.push(p));
        assert_eq!(found, vec![b"next".to_vec()]);
    }

    #[test]
    fn server_frames_are_read_from_whole_units() {
        let (tx, rx) = crossbeam_channel::bounded(4);
        let tap = Tap::default();
        assert!(!tap.is_on());
        tap.attach(Sink { client: 7, records: tx, epoch: Instant::now(), lines: false });
        let text = Bytes::from_static(b"\x81\x08hi there");
        let close = Bytes::from_static(b"\x88\x05\x03\xe9bye");
        tap.outgoing([&text, &close]);
        let a = rx.try_recv().unwrap();
        assert_eq!(
            (a.client, a.dir, a.opcode, a.fin, a.masked, a.len),
            (7, Dir::Out, Some(1), true, false, 8)
        );
        assert_eq!(&a.payload[..], b"hi there");
        let b = rx.try_recv().unwrap();
        assert_eq!(b.opcode, Some(8));
        assert_eq!(&b.payload[..], b"\x03\xe9bye");
        // A full channel drops and counts, never blocks.
        for _ in 0..10 {
            tap.outgoing([&text]);
        }
        assert_eq!(tap.take_dropped(), 6);
        tap.detach();
        assert!(!tap.is_on());
    }
}
