//! The inspector's taps: what connection threads and writers record for
//! `/inspect.html` (docs/inspector.md), and who may look.
//!
//! - [`tap`]: each connection's [`Tap`], switched on while an inspector
//!   watches that client: frames both ways as [`Record`]s, sent to the
//!   dispatcher, which keeps the last 500 per watched client
//!   (`dispatch/inspector.rs`). Switched off, a tap is one relaxed load.
//! - [`access`]: loopback clients, or the token printed at start.
//! - [`log`]: the server's log, kept for the inspector as well as printed.
//!
//! This module imports neither the dispatcher nor the connection code:
//! they call into it.

pub mod access;
pub mod log;
pub mod tap;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use tap::{Dir, Record, Sink, Tap};

/// Whether an inspector is open: connection threads then keep the
/// handshakes of new clients. Set by the dispatcher, read by everyone.
#[derive(Debug, Clone, Default)]
pub struct Switch(Arc<AtomicBool>);

impl Switch {
    /// Whether an inspector is open.
    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Says whether an inspector is open.
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }
}

/// A client's handshake as it went over the wire, kept for the inspector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The request head (request line and headers).
    pub request: String,
    /// The 101 answer.
    pub response: String,
}

/// What the connection code needs to know about the inspector.
#[derive(Debug, Clone)]
pub struct Inspect {
    /// The app id its WebSocket endpoint (`/ws/inspect`) is routed to.
    pub app: crate::app::AppId,
    /// The token that clients other than loopback ones must bring.
    pub token: String,
    /// Whether an inspector is open.
    pub switch: Switch,
}
