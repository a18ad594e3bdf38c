//! One connection's writer: everything that goes to a peer passes here.
//!
//! The dispatcher hands it whole frames (or JSON lines) and it sends them
//! at once with a non-blocking `send`; the connection's own thread reads
//! from the same socket in blocking mode and writes its pongs and close
//! replies through the same writer. A small mutex around the pending bytes
//! and the send keeps frames whole and in order: each call hands over whole
//! units, and a unit is never split by another one.
//!
//! What the socket does not take waits in the pending buffer, and a
//! [`Flushers`] thread writes it with a blocking send (bounded by the
//! socket's send timeout) until the buffer is empty. The dispatcher never
//! waits for a socket; it counts [`Writer::backlog`] against
//! `--outbox-size`.
//!
//! With TLS, the session lives here too: plaintext waits as it was handed
//! over and is encrypted under the lock just before it is sent, a little
//! ahead of the socket, so that a discarding close can still drop whole
//! messages (records once encrypted must all go out, or the peer's
//! decryption breaks at the gap). The reading thread takes the lock only
//! to decrypt what it read without it.

use std::collections::VecDeque;
#[cfg(feature = "tls")]
use std::io::Read;
use std::io::{self, IoSlice, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use log::debug;
use socket2::SockRef;
use tungstenite::Bytes;

use super::flusher::Flushers;
use super::round::Share;
use crate::inspect::Tap;
use crate::tls::TlsSession;

/// Flags of the dispatcher's sends: never block, and never raise SIGPIPE
/// for a peer that is gone (the error says so).
const SEND_FLAGS: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
/// Most units one send call takes (well under the kernel's `IOV_MAX`).
const MAX_SLICES: usize = 64;
/// Most pending units one non-blocking send of the queue takes. Small: the
/// connection threads run this too (the 101, pongs), and every stack page
/// one of them touches stays resident for the life of the connection.
const PENDING_SLICES: usize = 8;
/// TLS: how much plaintext is encrypted at a time, ahead of the socket:
/// one record's worth, so that small units go out together as one record.
const SEAL_AHEAD: usize = 16 * 1024;

/// A connection's writer, shared by its thread, the dispatcher and a flusher.
#[derive(Debug)]
pub struct Writer {
    /// The socket. Its own thread reads it; every write goes through `state`.
    socket: TcpStream,
    /// When the peer last sent anything, in ms since `epoch` (keepalive).
    last_seen_ms: AtomicU64,
    /// The server's clock start, for `last_seen_ms`.
    epoch: Instant,
    /// Units queued and not yet wholly sent (plaintext ones included); read
    /// without the lock by the dispatcher's outbox rule.
    backlog: AtomicUsize,
    /// The pending bytes and the send.
    state: Mutex<State>,
    /// Signalled when the pending buffer empties or the writer breaks.
    drained: Condvar,
    /// Who writes what the socket did not take at once.
    flushers: Arc<Flushers>,
    /// Records what goes out (and, for the connection thread, what comes
    /// in) while an inspector watches.
    tap: Tap,
}

/// What the writer's lock guards.
#[derive(Debug, Default)]
struct State {
    /// The TLS session, when the connection speaks TLS.
    tls: Option<Box<TlsSession>>,
    /// Threads waiting in [`Writer::wait_drained`] (a notify costs a system
    /// call, so only when somebody waits).
    waiters: usize,
    /// Whole write units (wire bytes: ciphertext with TLS), oldest first.
    pending: VecDeque<Bytes>,
    /// TLS only: whole units not yet encrypted, behind `pending`.
    plain: VecDeque<Bytes>,
    /// TLS only: units encrypted together into one unit of `pending`,
    /// beyond one each, until `pending` empties (the outbox rule counts them).
    merged: usize,
    /// Bytes of the front unit already sent.
    sent: usize,
    /// Until [`Writer::uncork`] everything waits (the 101 goes first).
    corked: bool,
    /// A flusher thread owns the sending; others only append.
    flushing: bool,
    /// Units at the front that a flusher is sending right now (kept by a discarding close).
    in_flight: usize,
    /// The last unit (a close frame, or a backend's last line) is queued:
    /// later writes are swallowed.
    closed: bool,
    /// Shut the write side down once drained (backend sockets: FIN after the last line).
    fin: bool,
    /// The socket failed or was shut down: nothing more is sent.
    broken: bool,
}

impl State {
    /// Nothing (more) to send.
    fn idle(&self) -> bool {
        self.is_empty() || self.broken
    }

    /// No unit waits, encrypted or not.
    fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.plain.is_empty()
    }

    /// Units waiting: what the outbox rule counts.
    fn units(&self) -> usize {
        self.pending.len() + self.plain.len() + self.merged
    }

    /// Queues a whole unit: plaintext to encrypt later with TLS, else wire bytes.
    fn queue(&mut self, unit: Bytes) {
        if self.tls.is_some() {
            self.plain.push_back(unit);
        } else {
            self.pending.push_back(unit);
        }
    }

    /// Nothing to send and no flusher sending.
    fn done(&self) -> bool {
        self.idle() && !self.flushing
    }
}

/// What the reading side got from [`Writer::read_plain`].
#[derive(Debug)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub enum Plain {
    /// This many plaintext bytes.
    Bytes(usize),
    /// None decrypted yet: read more ciphertext.
    Need,
    /// The peer ended the TLS session.
    End,
}

impl Writer {
    /// A writer for `socket`. With `first`, the writer starts corked with
    /// those bytes queued (the 101), so that nothing the dispatcher sends
    /// can overtake them; [`Writer::uncork`] lets them go.
    pub fn new(
        socket: TcpStream,
        tls: Option<Box<TlsSession>>,
        first: Option<&[u8]>,
        flushers: Arc<Flushers>,
        epoch: Instant,
    ) -> Arc<Writer> {
        let writer = Arc::new(Writer {
            socket,
            last_seen_ms: AtomicU64::new(epoch.elapsed().as_millis() as u64),
            epoch,
            backlog: AtomicUsize::new(0),
            state: Mutex::new(State { tls, corked: first.is_some(), ..State::default() }),
            drained: Condvar::new(),
            flushers,
            tap: Tap::default(),
        });
        if let Some(first) = first {
            let mut state = writer.lock();
            state.queue(Bytes::copy_from_slice(first));
            writer.backlog.store(1, Ordering::Relaxed);
        }
        writer
    }

    /// The socket, for the connection thread's reads (`&TcpStream` is `Read`).
    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// The connection's tap (see [`crate::inspect::tap`]).
    pub fn tap(&self) -> &Tap {
        &self.tap
    }

    /// Whether the connection speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.lock().tls.is_some()
    }

    /// Units queued and not yet sent: what the outbox rule counts.
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Notes that the peer sent something now.
    pub fn touch(&self) {
        self.last_seen_ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// When the peer last sent anything, in ms since the server started.
    pub fn last_seen_ms(&self) -> u64 {
        self.last_seen_ms.load(Ordering::Relaxed)
    }

    /// Lets the corked bytes (and whatever came after them) go.
    pub fn uncork(self: &Arc<Self>) {
        let mut state = self.lock();
        state.corked = false;
        self.push_on(state);
    }

    /// Queues `units` (whole frames or lines, plaintext) in order and sends
    /// what the socket takes now, without blocking. `units` is left empty.
    /// After a close, or once the socket failed, they are dropped.
    pub fn send(self: &Arc<Self>, units: &mut Vec<Bytes>) {
        let mut state = self.lock();
        if state.closed || state.broken {
            units.clear();
            return;
        }
        if self.tap.is_on() {
            self.tap.outgoing(units.iter());
        }
        for unit in units.drain(..) {
            state.queue(unit);
        }
        self.push_on(state);
    }

    /// Queues the units of `share`, in its order, and sends what the
    /// socket takes now: in one `send` of the joined buffer when the share
    /// has one, else straight from the round's table. Only what the socket
    /// did not take is kept, as whole units (a reference count, no copy),
    /// so the outbox rule still counts messages. After a close, or once
    /// the socket failed, nothing.
    pub fn send_indexed(self: &Arc<Self>, share: Share<'_>) {
        let order = share.order;
        let mut state = self.lock();
        if state.closed || state.broken {
            return;
        }
        let pick = |i: &u32| &share.units[*i as usize];
        if self.tap.is_on() {
            self.tap.outgoing(order.iter().map(pick));
        }
        if state.tls.is_some() {
            state.plain.extend(order.iter().map(pick).cloned());
        } else if !state.pending.is_empty() || state.corked || state.flushing {
            state.pending.extend(order.iter().map(pick).cloned());
        } else {
            let (done, offset) = match share.joined {
                Some(joined) => self.send_joined(joined, order.iter().map(pick), order.len(), &mut state),
                None => {
                    let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                    self.send_now(order.iter().map(pick), order.len(), 0, &mut slices, &mut state)
                }
            };
            state.pending.extend(order[done..].iter().map(pick).cloned());
            state.sent = offset;
        }
        self.push_on(state);
    }

    /// Sends `joined` (the bytes of `units`, `count` of them, one after
    /// another) with one non-blocking send. Returns how many units went out
    /// whole and how much of the next one did; a failed socket is broken off.
    fn send_joined<'a>(
        &self,
        joined: &[u8],
        units: impl Iterator<Item = &'a Bytes>,
        count: usize,
        state: &mut State,
    ) -> (usize, usize) {
        let Some(sent) = self.send_once(state, |socket| socket.send_with_flags(joined, SEND_FLAGS)) else {
            return (count, 0);
        };
        let (mut done, mut left) = (0, sent);
        for unit in units {
            if left < unit.len() {
                return (done, left);
            }
            left -= unit.len();
            done += 1;
        }
        (done, 0)
    }

    /// Sends `units` (`count` of them, the first from byte `offset` on)
    /// without blocking, until the socket is full, through `slices` (the
    /// caller's buffer: its length is how many units one call takes).
    /// Returns how many units went out whole and how much of the next one
    /// did; a failed socket is broken off.
    fn send_now<'a>(
        &self,
        units: impl Iterator<Item = &'a Bytes> + Clone,
        count: usize,
        mut offset: usize,
        slices: &mut [IoSlice<'a>],
        state: &mut State,
    ) -> (usize, usize) {
        let mut done = 0; // units wholly sent
        while done < count {
            let mut total = 0;
            let mut n_slices = 0;
            for (slot, (i, unit)) in slices.iter_mut().zip(units.clone().skip(done).enumerate()) {
                let bytes = if i == 0 { &unit[offset..] } else { &unit[..] };
                total += bytes.len();
                *slot = IoSlice::new(bytes);
                n_slices += 1;
            }
            let slices = &slices[..n_slices];
            let Some(n) = self.send_once(state, |socket| socket.send_vectored_with_flags(slices, SEND_FLAGS))
            else {
                return (count, 0);
            };
            let full = n == total;
            step(units.clone(), &mut done, &mut offset, n);
            if !full {
                break; // the socket is full
            }
        }
        (done, offset)
    }

    /// One non-blocking `send`, again when interrupted: the bytes the socket
    /// took (0 when it is full), or `None` when it failed and the writer was
    /// broken off.
    fn send_once(&self, state: &mut State, send: impl Fn(SockRef<'_>) -> io::Result<usize>) -> Option<usize> {
        loop {
            match send(SockRef::from(&self.socket)) {
                Ok(n) => return Some(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(0),
                Err(e) => {
                    debug!("send failed: {e}");
                    self.break_off(state);
                    return None;
                }
            }
        }
    }

    /// Queues one unit; see [`Writer::send`].
    pub fn send_one(self: &Arc<Self>, unit: Bytes) {
        let mut units = vec![unit];
        self.send(&mut units);
    }

    /// Queues the last unit (`last`: a close frame, an error line) after
    /// what is pending, and accepts nothing after it. With `discard`, the
    /// pending units are dropped first, except one partly sent or in a
    /// flusher's hands (a frame is never cut) and, with TLS, those already
    /// encrypted. With `fin`, TLS close_notify follows, and the write side
    /// is shut down once everything went out.
    pub fn close(self: &Arc<Self>, last: Option<Bytes>, discard: bool, fin: bool) {
        let mut state = self.lock();
        if state.closed || state.broken {
            return;
        }
        if discard {
            state.plain.clear();
            if state.tls.is_none() {
                let keep = state.in_flight.max(usize::from(state.sent > 0)).min(state.pending.len());
                state.pending.truncate(keep);
            }
        }
        if let Some(last) = last {
            if self.tap.is_on() {
                self.tap.outgoing([&last]);
            }
            state.queue(last);
        }
        state.closed = true;
        if fin {
            end_stream(&mut state);
        }
        self.push_on(state);
    }

    /// Ends the stream politely once the close handshake is done: after
    /// everything queued (the close frames included, even once the writer
    /// is closed), TLS close_notify, then the write side is shut down. What
    /// the peer still sends can be read.
    pub fn finish(self: &Arc<Self>) {
        let mut state = self.lock();
        if state.broken {
            return;
        }
        end_stream(&mut state);
        self.push_on(state);
    }

    /// Shuts the socket down both ways and drops what is pending: the
    /// connection's thread wakes from its `read`, a flusher from its send.
    pub fn shutdown(&self) {
        let mut state = self.lock();
        self.break_off(&mut state);
    }

    /// Whether everything queued went out (or can no longer go out).
    pub fn is_drained(&self) -> bool {
        self.lock().done()
    }

    /// Waits until everything queued went out, for at most `timeout`.
    /// True when it did.
    pub fn wait_drained(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while !state.done() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state.waiters += 1;
            state = self.drained.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0;
            state.waiters -= 1;
        }
        true
    }

    /// TLS only: takes plaintext that the session has decrypted.
    pub fn read_plain(&self, out: &mut [u8]) -> io::Result<Plain> {
        let mut state = self.lock();
        let Some(tls) = state.tls.as_deref_mut() else { return Ok(Plain::End) };
        read_plain(tls, out)
    }

    /// TLS only: hands the session ciphertext the connection thread read
    /// (without the lock), and queues what the session answers (alerts,
    /// key updates) behind what is pending. Returns how many bytes of `raw`
    /// the session took: it stops once it has plaintext to read, which
    /// [`Writer::read_plain`] must take before more ciphertext can go in
    /// (the session holds only so much plaintext).
    ///
    /// # Errors
    ///
    /// The peer broke TLS; the connection cannot go on.
    pub fn feed_tls(self: &Arc<Self>, raw: &[u8]) -> io::Result<usize> {
        let mut state = self.lock();
        let result = feed(&mut state, raw);
        if state.pending.back().is_some() || result.is_err() {
            self.push_on(state);
        }
        result
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// After units were queued: sends what the socket takes now (unless a
    /// flusher owns the sending or the writer is corked), and hands the
    /// rest to a flusher.
    fn push_on(self: &Arc<Self>, mut state: MutexGuard<'_, State>) {
        if !state.corked && !state.flushing && !state.broken {
            self.try_send(&mut state);
            if state.is_empty() {
                self.on_drained(&mut state);
            } else if !state.broken {
                state.flushing = true;
                self.backlog.store(state.units(), Ordering::Relaxed);
                drop(state);
                self.flushers.submit(self.clone());
                return;
            }
        }
        self.backlog.store(if state.broken { 0 } else { state.units() }, Ordering::Relaxed);
    }

    /// Sends pending units without blocking until the socket is full
    /// (with TLS, encrypting them a little at a time as it goes).
    #[inline(never)]
    fn try_send(&self, state: &mut State) {
        loop {
            seal_ahead(state);
            let pending = std::mem::take(&mut state.pending);
            let mut slices = [IoSlice::new(&[]); PENDING_SLICES];
            let (done, offset) = self.send_now(pending.iter(), pending.len(), state.sent, &mut slices, state);
            if state.broken {
                return;
            }
            state.pending = pending;
            state.pending.drain(..done);
            state.sent = offset;
            if state.pending.is_empty() {
                state.merged = 0;
            }
            if !state.pending.is_empty() || state.plain.is_empty() {
                return;
            }
        }
    }

    /// A flusher's work: blocking sends (bounded by the socket's send
    /// timeout) until the pending buffer is empty. A send that fails or
    /// times out shuts the connection down.
    pub(super) fn flush_blocking(&self) {
        loop {
            let (units, offset) = {
                let mut state = self.lock();
                if state.idle() {
                    state.flushing = false;
                    self.on_drained(&mut state);
                    self.backlog.store(0, Ordering::Relaxed);
                    return;
                }
                seal_ahead(&mut state);
                let units: Vec<Bytes> = state.pending.iter().take(MAX_SLICES).cloned().collect();
                state.in_flight = units.len();
                (units, state.sent)
            };
            let mut slices: Vec<IoSlice> = units.iter().map(|u| IoSlice::new(u)).collect();
            slices[0] = IoSlice::new(&units[0][offset..]);
            match (&self.socket).write_vectored(&slices) {
                Ok(0) => {
                    self.shutdown();
                }
                Ok(n) => {
                    let mut state = self.lock();
                    state.in_flight = 0;
                    if !state.broken {
                        advance(&mut state, n);
                        self.backlog.store(state.units(), Ordering::Relaxed);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.lock().in_flight = 0,
                Err(e) => {
                    // A send timeout (the peer read nothing for that long) or a dead peer.
                    debug!("flush failed: {e}");
                    self.shutdown();
                }
            }
        }
    }

    /// Everything queued went out: the FIN if one is due, and wake waiters.
    fn on_drained(&self, state: &mut State) {
        if state.fin && !state.broken {
            state.fin = false;
            let _ = self.socket.shutdown(Shutdown::Write);
        }
        if state.waiters > 0 {
            self.drained.notify_all();
        }
    }

    fn break_off(&self, state: &mut State) {
        state.broken = true;
        state.in_flight = 0;
        state.pending.clear();
        state.plain.clear();
        state.merged = 0;
        state.sent = 0;
        self.backlog.store(0, Ordering::Relaxed);
        let _ = self.socket.shutdown(Shutdown::Both);
        if state.waiters > 0 {
            self.drained.notify_all();
        }
    }
}

/// After everything queued: TLS close_notify, and the write side shut down
/// once it all went out. Nothing more is accepted.
fn end_stream(state: &mut State) {
    seal(state, usize::MAX);
    close_notify(state);
    state.closed = true;
    state.fin = true;
}

/// Moves the place (`done` units wholly, `offset` bytes of the next) on by
/// `n` bytes through `units`, the same units it counts from.
#[inline]
fn step<'a>(units: impl Iterator<Item = &'a Bytes>, done: &mut usize, offset: &mut usize, mut n: usize) {
    for unit in units.skip(*done) {
        let left = unit.len() - *offset;
        if n < left {
            *offset += n;
            return;
        }
        n -= left;
        *done += 1;
        *offset = 0;
        if n == 0 {
            return;
        }
    }
}

/// Takes `n` sent bytes off the front of the pending units.
fn advance(state: &mut State, mut n: usize) {
    while n > 0 {
        let Some(front) = state.pending.front() else { return };
        let left = front.len() - state.sent;
        if n >= left {
            n -= left;
            state.pending.pop_front();
            state.sent = 0;
        } else {
            state.sent += n;
            n = 0;
        }
    }
    while state.pending.front().is_some_and(|u| u.len() == state.sent) {
        state.pending.pop_front();
        state.sent = 0;
    }
    if state.pending.is_empty() {
        state.merged = 0;
    }
}

/// TLS: once the encrypted units have all gone out, encrypts the next
/// [`SEAL_AHEAD`] bytes or so of plaintext units.
fn seal_ahead(state: &mut State) {
    if state.pending.is_empty() {
        seal(state, SEAL_AHEAD);
    }
}

/// TLS: encrypts plaintext units, at least `ahead` bytes of them when there
/// are, behind the units already encrypted: small ones together, up to
/// [`SEAL_AHEAD`] bytes into one unit of records (one record, not one per
/// frame), a larger one alone.
#[cfg(feature = "tls")]
fn seal(state: &mut State, ahead: usize) {
    let Some(tls) = state.tls.as_deref_mut() else { return };
    let mut sealed = 0;
    while sealed < ahead && !state.plain.is_empty() {
        let (mut count, mut bytes) = (0, 0);
        for unit in &state.plain {
            if count > 0 && bytes + unit.len() > SEAL_AHEAD {
                break;
            }
            count += 1;
            bytes += unit.len();
        }
        let unit = encrypt(tls, state.plain.iter().take(count));
        state.plain.drain(..count);
        state.merged += count - 1;
        sealed += bytes;
        state.pending.push_back(unit);
    }
}

#[cfg(not(feature = "tls"))]
fn seal(_: &mut State, _: usize) {}

/// Encrypts `units`, one after another, into one unit of TLS records.
#[cfg(feature = "tls")]
fn encrypt<'a>(tls: &mut TlsSession, units: impl Iterator<Item = &'a Bytes> + Clone) -> Bytes {
    let total: usize = units.clone().map(|u| u.len()).sum();
    let mut out = Vec::with_capacity(total + total / 256 + 64);
    let (mut done, mut offset) = (0, 0); // units wholly taken, bytes of the next one
    loop {
        // On the heap: connection threads run this too (trap 6 of docs/architecture.md).
        let slices: Vec<IoSlice> = (units.clone().skip(done).enumerate())
            .map(|(i, unit)| IoSlice::new(if i == 0 { &unit[offset..] } else { &unit[..] }))
            .collect();
        if slices.is_empty() {
            break; // all of it taken
        }
        // rustls takes plaintext only up to its buffer limit: encrypt, drain, go on.
        let taken = tls.writer().write_vectored(&slices).unwrap_or(0);
        while tls.wants_write() {
            if tls.write_tls(&mut out).is_err() {
                break;
            }
        }
        if taken == 0 {
            break; // the session takes nothing more (it failed)
        }
        step(units.clone(), &mut done, &mut offset, taken);
    }
    Bytes::from(out)
}

#[cfg(feature = "tls")]
fn read_plain(tls: &mut TlsSession, out: &mut [u8]) -> io::Result<Plain> {
    match tls.reader().read(out) {
        Ok(0) => Ok(Plain::End),
        Ok(n) => Ok(Plain::Bytes(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Plain::Need),
        Err(e) => Err(e),
    }
}

#[cfg(not(feature = "tls"))]
fn read_plain(tls: &mut TlsSession, _: &mut [u8]) -> io::Result<Plain> {
    match *tls {}
}

/// Feeds ciphertext to the session until it has plaintext to read (see
/// [`Writer::feed_tls`]); its answers are queued as one unit.
#[cfg(feature = "tls")]
fn feed(state: &mut State, raw: &[u8]) -> io::Result<usize> {
    let Some(tls) = state.tls.as_deref_mut() else { return Ok(0) };
    let mut rest = raw;
    let mut result = Ok(());
    while !rest.is_empty() {
        if let Err(e) = tls.read_tls(&mut rest) {
            result = Err(e);
            break;
        }
        match tls.process_new_packets() {
            Ok(io) if io.plaintext_bytes_to_read() > 0 || io.peer_has_closed() => break,
            Ok(_) => {}
            Err(e) => {
                result = Err(io::Error::new(io::ErrorKind::InvalidData, e));
                break;
            }
        }
    }
    // Alerts, key updates and handshake replies go out behind what is pending.
    let mut out = Vec::new();
    while tls.wants_write() {
        if tls.write_tls(&mut out).is_err() {
            break;
        }
    }
    if !out.is_empty() && !state.broken {
        state.pending.push_back(Bytes::from(out));
    }
    result.map(|()| raw.len() - rest.len())
}

#[cfg(not(feature = "tls"))]
fn feed(state: &mut State, _: &[u8]) -> io::Result<usize> {
    if let Some(never) = state.tls.as_deref() {
        match *never {}
    }
    Ok(0)
}

#[cfg(feature = "tls")]
fn close_notify(state: &mut State) {
    if let Some(tls) = state.tls.as_deref_mut() {
        tls.send_close_notify();
        let mut out = Vec::new();
        while tls.wants_write() {
            if tls.write_tls(&mut out).is_err() {
                break;
            }
        }
        if !out.is_empty() {
            state.pending.push_back(Bytes::from(out));
        }
    }
}

#[cfg(not(feature = "tls"))]
fn close_notify(_: &mut State) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Round;
    use std::io::Read;
    use std::net::TcpListener;

    /// A writer on one end of a loopback connection, and the other end.
    fn pair(first: Option<&[u8]>) -> (Arc<Writer>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        (Writer::new(server, None, first, Flushers::new(4), Instant::now()), client)
    }

    fn read_exactly(peer: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut out = vec![0; n];
        peer.read_exact(&mut out).unwrap();
        out
    }

    #[test]
    fn units_go_out_whole_and_in_order() {
        let (writer, mut peer) = pair(None);
        let mut units = vec![Bytes::from_static(b"one "), Bytes::from_static(b"two ")];
        writer.send(&mut units);
        assert!(units.is_empty());
        writer.send_one(Bytes::from_static(b"three"));
        assert_eq!(read_exactly(&mut peer, 13), b"one two three");
        assert!(writer.is_drained());
        assert_eq!(writer.backlog(), 0);
    }

    #[test]
    fn corked_bytes_go_first() {
        let (writer, mut peer) = pair(Some(b"HTTP/1.1 101\r\n\r\n"));
        writer.send_one(Bytes::from_static(b"frame"));
        assert_eq!(writer.backlog(), 2);
        writer.uncork();
        assert_eq!(read_exactly(&mut peer, 21), b"HTTP/1.1 101\r\n\r\nframe");
    }

    #[test]
    fn what_the_socket_does_not_take_is_flushed_when_the_peer_reads() {
        let (writer, mut peer) = pair(None);
        // Far more than the kernel buffers hold; the peer reads only later.
        let unit = Bytes::from(vec![7u8; 64 * 1024]);
        for _ in 0..64 {
            writer.send_one(unit.clone());
        }
        assert!(writer.backlog() > 0, "the socket cannot take 4 MiB at once");
        let got = read_exactly(&mut peer, 64 * 64 * 1024);
        assert!(got.iter().all(|&b| b == 7));
        assert!(writer.wait_drained(Duration::from_secs(10)));
        assert_eq!(writer.backlog(), 0);
    }

    #[test]
    fn a_round_sent_from_the_table_keeps_what_did_not_fit_in_order() {
        let (writer, mut peer) = pair(None);
        // Units of distinct bytes, far more than the socket takes at once,
        // picked out of order and one twice.
        let units: Vec<Bytes> = (0u8..8).map(|b| Bytes::from(vec![b; 512 * 1024])).collect();
        let order = [3u32, 1, 4, 1, 5, 0, 2, 6, 7];
        writer.send_indexed(Share::unjoined(&units, &order));
        assert!(writer.backlog() > 0, "4.5 MiB do not fit at once");
        let got = read_exactly(&mut peer, order.len() * 512 * 1024);
        for (chunk, &i) in got.chunks(512 * 1024).zip(&order) {
            assert!(chunk.iter().all(|&b| b == i as u8), "unit {i} out of place");
        }
        assert!(writer.wait_drained(Duration::from_secs(10)));
    }

    #[test]
    fn a_joined_share_that_does_not_fit_keeps_the_rest_as_whole_units() {
        // A peer with a small receive window, so that the one send is partial.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        peer.set_recv_buffer_size(4096).unwrap();
        peer.connect(&listener.local_addr().unwrap().into()).unwrap();
        let mut peer: TcpStream = peer.into();
        peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let (server, _) = listener.accept().unwrap();
        SockRef::from(&server).set_send_buffer_size(4096).unwrap();
        server.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        let writer = Writer::new(server, None, None, Flushers::new(2), Instant::now());

        let mut round = Round::default();
        let order: Vec<u32> =
            (0..600u32).map(|i| round.push(Bytes::from(vec![(i % 251) as u8; 100]))).collect();
        let share = round.share(&order);
        assert!(share.joined.is_some(), "600 units of 100 bytes are joined");
        writer.send_indexed(share);
        let waiting = writer.backlog();
        assert!(waiting > 0 && waiting < order.len(), "part went in the one send, {waiting} units wait");
        let got = read_exactly(&mut peer, order.len() * 100);
        for (i, chunk) in got.chunks(100).enumerate() {
            assert!(chunk.iter().all(|&b| b == (i % 251) as u8), "unit {i} out of place");
        }
        assert!(writer.wait_drained(Duration::from_secs(10)));
        assert_eq!(writer.backlog(), 0);
    }

    #[test]
    fn writes_from_two_threads_never_interleave() {
        let (writer, mut peer) = pair(None);
        let units = 2_000;
        let threads: Vec<_> = [b'a', b'b']
            .into_iter()
            .map(|byte| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for _ in 0..units {
                        writer.send_one(Bytes::from(vec![byte; 1000]));
                    }
                })
            })
            .collect();
        let got = read_exactly(&mut peer, 2 * units * 1000);
        for t in threads {
            t.join().unwrap();
        }
        for (i, chunk) in got.chunks(1000).enumerate() {
            assert!(chunk.iter().all(|&b| b == chunk[0]), "unit {i} is mixed");
        }
    }

    #[test]
    fn after_a_close_nothing_more_is_written() {
        let (writer, mut peer) = pair(None);
        writer.send_one(Bytes::from_static(b"data"));
        writer.close(Some(Bytes::from_static(b"CLOSE")), false, true);
        writer.send_one(Bytes::from_static(b"late"));
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap(); // the FIN ends it
        assert_eq!(got, b"dataCLOSE");
    }

    #[test]
    fn a_discarding_close_keeps_the_unit_that_is_partly_sent() {
        let (writer, mut peer) = pair(None);
        let big = Bytes::from(vec![1u8; 8 * 1024 * 1024]);
        writer.send_one(big.clone());
        writer.send_one(Bytes::from(vec![2u8; 1024]));
        writer.close(Some(Bytes::from_static(b"END")), true, true);
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), big.len() + 3, "the big unit whole, the queued one dropped, then the close");
        assert!(got[..big.len()].iter().all(|&b| b == 1));
        assert_eq!(&got[big.len()..], b"END");
    }

    #[test]
    fn shutdown_drops_what_is_pending_and_wakes_the_reader() {
        let (writer, peer) = pair(None);
        let unit = Bytes::from(vec![0u8; 1024 * 1024]);
        for _ in 0..16 {
            writer.send_one(unit.clone());
        }
        writer.shutdown();
        assert_eq!(writer.backlog(), 0);
        assert!(writer.wait_drained(Duration::from_secs(5)));
        let mut buf = [0u8; 16];
        assert_eq!(writer.socket().read(&mut buf).unwrap(), 0, "reads see the end");
        drop(peer);
    }

    /// A TLS writer on one end of a loopback connection, its handshake
    /// done, and the other end with its rustls client.
    #[cfg(feature = "tls")]
    fn tls_pair() -> (Arc<Writer>, TcpStream, rustls::ClientConnection) {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let dir = std::env::temp_dir().join(format!("wslab-unit-writer-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        // The certificate `make cert` makes (for localhost and this machine).
        let made = std::process::Command::new("sh")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/make-cert.sh"))
            .arg(&dir)
            .output()
            .expect("sh .ci/make-cert.sh");
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        let config = crate::tls::load(&cert, &key).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(&cert).unwrap()).unwrap();
        let client_config =
            rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        let _ = std::fs::remove_dir_all(&dir);

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut socket, _) = listener.accept().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let server = std::thread::spawn(move || {
            let mut session = rustls::ServerConnection::new(config).unwrap();
            while session.is_handshaking() {
                session.complete_io(&mut socket).unwrap();
            }
            (session, socket)
        });
        let name = "localhost".try_into().unwrap();
        let mut client = rustls::ClientConnection::new(Arc::new(client_config), name).unwrap();
        while client.is_handshaking() {
            client.complete_io(&mut peer).unwrap();
        }
        let (session, socket) = server.join().unwrap();
        let writer = Writer::new(socket, Some(Box::new(session)), None, Flushers::new(4), Instant::now());
        (writer, peer, client)
    }

    /// Reads and decrypts until the peer ends the stream: the plaintext,
    /// and how many application-data records it came in.
    #[cfg(feature = "tls")]
    fn read_tls_to_end(peer: &mut TcpStream, client: &mut rustls::ClientConnection) -> (Vec<u8>, usize) {
        let (mut raw, mut plain, mut records) = (Vec::new(), Vec::new(), 0);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = peer.read(&mut buf).unwrap();
            if n == 0 {
                return (plain, records);
            }
            raw.extend_from_slice(&buf[..n]);
            // Count whole records by their 5-byte headers (type, version, length).
            while raw.len() >= 5 && raw.len() >= 5 + usize::from(u16::from_be_bytes([raw[3], raw[4]])) {
                records += usize::from(raw[0] == 23);
                raw.drain(..5 + usize::from(u16::from_be_bytes([raw[3], raw[4]])));
            }
            let mut fed = &buf[..n];
            while !fed.is_empty() {
                client.read_tls(&mut fed).unwrap();
                client.process_new_packets().expect("every record decrypts");
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = client.reader().read(&mut chunk) {
                    plain.extend_from_slice(&chunk[..n]);
                }
            }
        }
    }

    #[cfg(feature = "tls")]
    #[test]
    fn small_units_go_out_together_in_one_tls_record() {
        let (writer, mut peer, mut client) = tls_pair();
        let mut units: Vec<Bytes> = (0..100).map(|i| Bytes::from(format!("{i:>70}"))).collect();
        let expected: Vec<u8> = units.concat();
        writer.send(&mut units);
        writer.close(None, false, true);
        let (plain, records) = read_tls_to_end(&mut peer, &mut client);
        assert_eq!(plain, expected);
        // One for the 100 units; the session may add its tickets (encrypted handshake records).
        assert!(records <= 3, "{records} records for 100 small units");
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_discarding_tls_close_drops_only_what_was_never_encrypted() {
        let (writer, mut peer, mut client) = tls_pair();
        let big = Bytes::from(vec![1u8; 8 * 1024 * 1024]);
        writer.send_one(big.clone());
        for _ in 0..10 {
            writer.send_one(Bytes::from(vec![2u8; 1024]));
        }
        assert!(writer.backlog() >= 11, "the big unit and the ten behind it wait");
        writer.close(Some(Bytes::from_static(b"END")), true, true);
        // Every record decrypts (no gap where encrypted units were dropped).
        let (plain, _) = read_tls_to_end(&mut peer, &mut client);
        assert_eq!(plain.len(), big.len() + 3, "the big unit whole, the queued ones dropped, then the close");
        assert!(plain[..big.len()].iter().all(|&b| b == 1));
        assert_eq!(&plain[big.len()..], b"END");
    }
}
