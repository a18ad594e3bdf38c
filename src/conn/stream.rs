//! A connection's bytes: plain TCP, or TLS over it (cargo feature `tls`).
//!
//! [`Stream`] is the blocking stream the connection thread reads the
//! request head through and HTTP answers are written to. A WebSocket or
//! backend client then splits it ([`Stream::into_link`]): the reader
//! thread reads raw bytes from the shared socket, and the client thread
//! owns the [`Link`], which turns those bytes into plaintext (decrypting
//! when TLS is on) and encrypts what it writes. The TLS state never leaves
//! the client thread, so the no-polling design stays as it is.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// A TLS server session.
#[cfg(feature = "tls")]
pub type TlsSession = rustls::ServerConnection;
/// A TLS server session: none can exist in a build without the `tls` feature.
#[cfg(not(feature = "tls"))]
#[derive(Debug)]
pub enum TlsSession {}

/// The server's TLS configuration.
#[cfg(feature = "tls")]
pub type TlsConfig = Arc<rustls::ServerConfig>;
/// The server's TLS configuration: none can exist without the `tls` feature.
#[cfg(not(feature = "tls"))]
#[derive(Debug, Clone)]
pub enum TlsConfig {}

/// A connection's blocking byte stream.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP; the handshake runs on the first read.
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
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
        Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(session, socket))))
    }

    /// The TCP socket underneath, for timeouts and shutdown.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => &s.sock,
        }
    }

    /// Whether this is TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }

    /// Splits the stream for a long-lived client: the socket, shared with
    /// the reader thread, and the [`Link`] the client thread writes through.
    /// Plaintext that TLS already decrypted but nobody read yet is appended
    /// to `unread`.
    #[cfg_attr(not(feature = "tls"), allow(unused_variables, clippy::ptr_arg))]
    pub fn into_link(self, unread: &mut Vec<u8>) -> (Arc<TcpStream>, Link) {
        match self {
            Stream::Plain(s) => {
                let socket = Arc::new(s);
                (socket.clone(), Link { socket, tls: None })
            }
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                let rustls::StreamOwned { mut conn, sock } = *s;
                let _ = conn.reader().read_to_end(unread);
                let socket = Arc::new(sock);
                (socket.clone(), Link { socket, tls: Some(Box::new(conn)) })
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
        let mut socket = self.tcp();
        let _ = socket.shutdown(Shutdown::Write);
        let _ = socket.set_read_timeout(Some(Duration::from_secs(1)));
        let mut sink = [0u8; 4096];
        let mut total = 0;
        while let Ok(n) = socket.read(&mut sink) {
            total += n;
            if n == 0 || total > 256 * 1024 {
                break;
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

/// The client thread's end of a split connection: raw bytes from the
/// reader thread go in through [`Link::feed`], plaintext goes out through
/// [`Link::write_all`].
#[derive(Debug)]
pub struct Link {
    socket: Arc<TcpStream>,
    tls: Option<Box<TlsSession>>,
}

impl Link {
    /// Turns raw bytes from the socket into plaintext, appended to `out`.
    ///
    /// # Errors
    ///
    /// The peer broke TLS; the connection cannot go on.
    pub fn feed(&mut self, raw: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        match self.tls.as_deref_mut() {
            None => {
                out.extend_from_slice(raw);
                Ok(())
            }
            #[cfg(feature = "tls")]
            Some(tls) => {
                let mut raw = raw;
                while !raw.is_empty() {
                    tls.read_tls(&mut raw)?;
                    let state = tls.process_new_packets();
                    // Alerts, key updates and handshake replies go out at once.
                    write_tls(tls, &self.socket)?;
                    state.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    match tls.reader().read_to_end(out) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            #[cfg(not(feature = "tls"))]
            Some(never) => match *never {},
        }
    }

    /// Sends TLS close_notify (nothing for plain TCP).
    pub fn close_notify(&mut self) {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.send_close_notify();
            let _ = write_tls(tls, &self.socket);
        }
    }
}

impl Write for Link {
    /// Writes plaintext to the peer, encrypted when TLS is on. A write that
    /// blocks past the socket's write timeout fails with `TimedOut`, never
    /// `WouldBlock` (which tungstenite would take as "try later").
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.tls.as_deref_mut() {
            None => (&*self.socket).write(data).map_err(timed_out),
            #[cfg(feature = "tls")]
            Some(tls) => {
                let n = tls.writer().write(data)?;
                write_tls(tls, &self.socket)?;
                Ok(n)
            }
            #[cfg(not(feature = "tls"))]
            Some(never) => match *never {},
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes every pending TLS record to the socket.
#[cfg(feature = "tls")]
fn write_tls(tls: &mut TlsSession, mut socket: &TcpStream) -> io::Result<()> {
    while tls.wants_write() {
        tls.write_tls(&mut socket).map_err(timed_out)?;
    }
    Ok(())
}

/// A blocking write that hit the socket's write timeout reports
/// `WouldBlock`; callers that treat that as "try later" must not see it.
fn timed_out(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(io::ErrorKind::TimedOut, "socket write timed out")
    } else {
        e
    }
}
