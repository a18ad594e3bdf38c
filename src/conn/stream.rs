//! A connection's bytes during its first exchange: plain TCP, or TLS over
//! it (cargo feature `tls`).
//!
//! [`Stream`] is the blocking stream the connection thread reads the
//! request head through and HTTP answers are written to. A WebSocket or
//! backend client then takes it apart ([`Stream::into_parts`]): the socket
//! and the TLS session go to the connection's `wire::Writer`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

#[cfg(feature = "tls")]
use crate::tls::TlsConfig;
use crate::tls::TlsSession;

/// A connection's blocking byte stream.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP; the handshake runs on the first read.
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, Timed>>),
}

/// The socket under TLS. One read of the stream may be many reads of the
/// socket (a handshake that trickles in), so each of them waits only until
/// the deadline of [`Stream::read_until`], not a timeout of its own.
#[cfg(feature = "tls")]
#[derive(Debug)]
pub struct Timed {
    /// The socket.
    sock: TcpStream,
    /// When reads give up (`TimedOut`); none: they block.
    until: Option<Instant>,
}

#[cfg(feature = "tls")]
impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(until) = self.until {
            wait_until(&self.sock, until)?;
        }
        self.sock.read(buf)
    }
}

#[cfg(feature = "tls")]
impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

/// Sets the socket's read timeout to what is left until `until`;
/// `TimedOut` when nothing is.
fn wait_until(socket: &TcpStream, until: Instant) -> io::Result<()> {
    let left = until.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
    }
    socket.set_read_timeout(Some(left))
}

impl Stream {
    /// Wraps an accepted socket in TLS with `config`.
    ///
    /// # Errors
    ///
    /// rustls refused to start a session (it does not, with a valid config).
    #[cfg(feature = "tls")]
    pub fn tls(socket: TcpStream, config: &TlsConfig) -> io::Result<Stream> {
        let session = rustls::ServerConnection::new(config.clone()).map_err(io::Error::other)?;
        Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(session, Timed { sock: socket, until: None }))))
    }

    /// The TCP socket underneath, for timeouts and shutdown.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => &s.sock.sock,
        }
    }

    /// Whether this is TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }

    /// Takes the stream apart for a long-lived client: the socket and the
    /// TLS session, if any. Plaintext that TLS already decrypted but nobody
    /// read yet is appended to `unread`.
    #[cfg_attr(not(feature = "tls"), allow(unused_variables, clippy::ptr_arg))]
    pub fn into_parts(self, unread: &mut Vec<u8>) -> (TcpStream, Option<Box<TlsSession>>) {
        match self {
            Stream::Plain(s) => (s, None),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                let rustls::StreamOwned { mut conn, sock } = *s;
                let _ = conn.reader().read_to_end(unread);
                (sock.sock, Some(Box::new(conn)))
            }
        }
    }

    /// Ends a connection politely: TLS close_notify, FIN, then read (and
    /// drop) what the peer still sends for a moment, so that unread bytes
    /// do not turn the close into a reset that destroys the last answer.
    #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
    pub fn finish(mut self) {
        #[cfg(feature = "tls")]
        if let Stream::Tls(s) = &mut self {
            s.conn.send_close_notify();
            let _ = s.flush();
        }
        let socket = self.tcp();
        let _ = socket.shutdown(Shutdown::Write);
        read_until_closed(socket, Duration::from_secs(1));
    }
}

/// After our last bytes and FIN: reads (and drops) what the peer still
/// sends until it closes too, for at most `within` and 256 KiB, so that
/// unread bytes do not turn the close into a reset that destroys the last
/// answer in flight.
pub(crate) fn read_until_closed(mut socket: &TcpStream, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    let mut sink = [0u8; 512];
    let mut total = 0;
    while total <= 256 * 1024 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match socket.read(&mut sink) {
            Ok(0) => return,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

impl Stream {
    /// Reads what comes, waiting until `until` at most: with TLS that
    /// bounds every socket read the session makes for this one.
    ///
    /// # Errors
    ///
    /// `TimedOut` (or `WouldBlock`) once `until` passed with nothing read,
    /// and what the socket or the session report.
    pub fn read_until(&mut self, buf: &mut [u8], until: Instant) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => {
                wait_until(s, until)?;
                s.read(buf)
            }
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                s.sock.until = Some(until);
                s.read(buf)
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
        }
    }
}
