//! Bytes on their way to a peer.
//!
//! - [`encode`]: frames and lines, encoded once for every recipient.
//! - [`round`]: a dispatcher round's units, and a client's share of them
//!   joined into one buffer.
//! - [`writer`]: one connection's writer: the pending bytes, the
//!   non-blocking send, the TLS session.
//! - [`flusher`]: the threads that write what a socket did not take at once.
//!
//! Nothing here knows about apps, the dispatcher or HTTP: the dispatcher
//! (`dispatch/`) and the connection threads (`conn/`) both write through it.

pub mod encode;
pub mod flusher;
pub mod round;
pub mod writer;

pub use flusher::Flushers;
pub use round::Round;
pub use writer::{Plain, Writer};
