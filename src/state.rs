//! What every connection thread shares with the server: the configuration,
//! the routes, the dispatcher's channel, the TLS configuration, the
//! flushers, and the connection count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::config::Config;
use crate::dispatch::Event;
use crate::inspect::Inspect;
use crate::routes::Routes;
use crate::tls::TlsConfig;
use crate::wire::Flushers;

/// The server's shared state, one `Arc` of it per connection thread.
pub(crate) struct Shared {
    /// The configuration (with `max_connections` lowered to what the machine allows).
    pub config: Config,
    /// The path → app table.
    pub routes: Routes,
    /// The dispatcher's event channel.
    pub events: Sender<Event>,
    /// TLS configuration when the port speaks TLS (`--tls-cert`, `--tls-key`).
    pub tls: Option<TlsConfig>,
    /// The threads that write what a socket did not take at once.
    pub flushers: Arc<Flushers>,
    /// The next client id.
    pub next_id: AtomicU64,
    /// When the server started: the clock of keepalive.
    pub started: Instant,
    /// Connection threads running.
    pub connections: Mutex<usize>,
    /// Connections at once per peer address (kept only with `--max-connections-per-ip`).
    pub per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// Signalled when `connections` reaches 0.
    pub all_closed: Condvar,
    /// Set once the server is stopping: the accept loop ends.
    pub stopping: AtomicBool,
    /// The inspector's endpoint, token and switch (`None` with `--no-inspect`).
    pub inspect: Option<Inspect>,
}

impl Shared {
    /// A new client id.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}
