//! The crate's [`Error`] and [`Result`].

use std::fmt;
use std::io;
use std::path::PathBuf;

/// `Result` with wslab's [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop the server from starting or a connection from going on.
#[derive(Debug)]
pub enum Error {
    /// A socket or file operation failed. At the socket edge this is mostly a
    /// peer going away: log it at debug level and drop the connection.
    Io(io::Error),
    /// The command line is wrong. Print the message and `--help`'s hint, exit 1.
    Usage(String),
    /// The port asked for is taken. Print the message and exit 1.
    PortInUse(u16),
    /// A data or configuration file could not be read or is invalid. The
    /// server must not start, and the file must not be overwritten.
    File {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The WebSocket protocol failed on a connection; close it.
    WebSocket(tungstenite::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "io: {e}"),
            Error::Usage(m) => write!(f, "{m}"),
            Error::PortInUse(port) => write!(f, "port {port} is already in use"),
            Error::File { path, message } => write!(f, "{}: {message}", path.display()),
            Error::WebSocket(e) => write!(f, "websocket: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::WebSocket(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<tungstenite::Error> for Error {
    fn from(e: tungstenite::Error) -> Self {
        Error::WebSocket(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            other => io::Error::other(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_clear_line() {
        assert_eq!(Error::PortInUse(8123).to_string(), "port 8123 is already in use");
        let e = Error::File { path: "data/reservations.json".into(), message: "not JSON".into() };
        assert_eq!(e.to_string(), "data/reservations.json: not JSON");
    }
}
