//! wslab: a WebSocket server for teaching real-time web pages.
//!
//! One port serves the course's pages over HTTP, WebSocket apps (echo,
//! rooms, chat, workshop seats, relay) and plain-socket backend scripts.
//!
//! # From the top
//!
//! ```text
//!             accept thread (server.rs)
//!                  │ one thread per connection, for its whole life
//!                  ▼
//!   conn/: read the head, classify the peer
//!      │ HTTP                  │ WebSocket                 │ `{` / `php process`
//!      ▼                       ▼                           ▼
//!   conn/respond.rs        conn/ws.rs: blocking        conn/backend.rs
//!   http/: files, /api     tungstenite read()          JSON framer
//!                              │ Event                     │
//!                              ▼                           ▼
//!                 dispatch/: the dispatcher thread owns the client
//!                 registry and the apps (apps/: echo, room, ... App trait)
//!                              │ frames encoded once, one send per client per round
//!                              ▼
//!                 wire/: each connection's Writer (non-blocking send,
//!                 TLS), flusher threads for what a socket did not take
//! ```
//!
//! - [`server`]: [`Server`] mounts apps, binds, runs the accept loop; [`Running`] stops it.
//! - [`conn`]: a connection's thread: classification, HTTP answers, the upgrade, the client loops.
//! - `dispatch`: the dispatcher thread and its client registry (private).
//! - `wire`: what goes to a peer: encoding, the per-connection writer, the flushers (private).
//! - [`app`]: the app API: [`App`], [`Ctx`], [`ClientInfo`], [`Message`], [`Registration`], [`TestCtx`].
//! - [`apps`]: the built-in apps and [`apps::builtin`], the list that mounts them.
//! - [`http`]: request heads, responses, the `www/` responder, `/api`.
//! - [`inspect`]: the inspector's taps (frames both ways while one watches), access, the kept log;
//!   `dispatch/inspector.rs` is its dispatcher side.
//!
//! No thread ever polls: a connection's thread blocks in `read`, the
//! dispatcher in `select!`, a flusher in a bounded `send`; an idle client
//! costs no CPU and a message reaches it at once.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod apps;
pub mod config;
pub mod conn;
mod dispatch;
pub mod error;
pub mod http;
pub mod inspect;
mod routes;
pub mod server;
mod state;
pub mod tls;
mod wire;

pub use app::{
    ApiRequest, ApiResponse, App, ClientId, ClientInfo, ClientKind, CloseStatus, Closed, Ctx, Message,
    Notifier, Registration, TestCtx,
};
pub use config::Config;
pub use error::{Error, Result};
pub use server::{Running, Server, Stopper};
