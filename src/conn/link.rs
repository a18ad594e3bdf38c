//! The stream a connection thread's protocol code (tungstenite, or the
//! backend's JSON framer) runs over: blocking reads straight from the
//! socket, decrypted when TLS is on; writes through the connection's
//! [`Writer`], so that they queue behind the dispatcher's frames, never in
//! the middle of one.

use std::io::{self, Read, Write};
use std::sync::Arc;

use tungstenite::Bytes;

use crate::inspect::tap::Scanner;
use crate::wire::{Plain, Writer};

/// Ciphertext read per call when TLS is on (a record is at most 16 KiB).
const TLS_READ: usize = 4 * 1024;

/// A connection thread's end of its connection.
#[derive(Debug)]
pub(crate) struct Link {
    /// The connection's writer (which owns the socket and the TLS session).
    writer: Arc<Writer>,
    /// Whether reads go through TLS.
    tls: bool,
    /// Ciphertext read from the socket (TLS only; allocated on the first read).
    raw: Vec<u8>,
    /// Where in `raw` the ciphertext not yet handed to the session starts.
    fed: usize,
    /// Where in `raw` the ciphertext read ends.
    filled: usize,
    /// Follows the frames read while an inspector watches (boxed: this
    /// struct lives on the connection thread's stack).
    scanner: Option<Box<Scanner>>,
}

impl Link {
    pub(crate) fn new(writer: Arc<Writer>) -> Link {
        let tls = writer.is_tls();
        Link { writer, tls, raw: Vec::new(), fed: 0, filled: 0, scanner: None }
    }

    /// The connection's writer.
    pub(crate) fn writer(&self) -> &Arc<Writer> {
        &self.writer
    }

    fn read_socket(&self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.writer.socket().read(out) {
                Ok(n) => {
                    if n > 0 {
                        self.writer.touch();
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Shows the bytes just read to the tap, while an inspector watches.
    fn tap(&mut self, bytes: &[u8]) {
        if self.writer.tap().is_on() {
            let scanner = self.scanner.get_or_insert_with(Box::default);
            self.writer.tap().incoming(scanner, bytes);
        } else if self.scanner.is_some() {
            // Off: where the frames are is unknown from now on.
            self.scanner = None;
        }
    }

    fn read_any(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if !self.tls {
            return self.read_socket(out);
        }
        loop {
            match self.writer.read_plain(out)? {
                Plain::Bytes(n) => return Ok(n),
                Plain::End => return Ok(0),
                Plain::Need => {}
            }
            if self.fed == self.filled {
                if self.raw.is_empty() {
                    self.raw = vec![0; TLS_READ];
                }
                let mut raw = std::mem::take(&mut self.raw);
                let read = self.read_socket(&mut raw);
                self.raw = raw;
                match read? {
                    0 => return Ok(0),
                    n => (self.fed, self.filled) = (0, n),
                }
            }
            // The session takes ciphertext until it has plaintext for us; the rest waits.
            let took = self.writer.feed_tls(&self.raw[self.fed..self.filled])?;
            if took == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the TLS session takes no more bytes",
                ));
            }
            self.fed += took;
        }
    }
}

impl Read for Link {
    /// Blocks until the peer sends something (or goes away: `Ok(0)`).
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.read_any(out)?;
        self.tap(&out[..n]);
        Ok(n)
    }
}

impl Write for Link {
    /// Takes the whole frame (tungstenite hands over whole frames): the
    /// writer queues what the socket does not take now.
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.writer.send_one(Bytes::copy_from_slice(data));
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
