//! wslab: a WebSocket server for teaching real-time web pages.
//!
//! One port serves the course's pages over HTTP, WebSocket apps (echo,
//! rooms, chat, workshop seats, relay) and plain-socket backend scripts.
//!
//! # From the top
//!
//! ```text
//!             accept thread (server.rs)
//!                  │ one thread per connection
//!                  ▼
//!   conn/mod.rs: read the head, classify the peer
//!      │ HTTP               │ WebSocket                     │ `{` / `php process`
//!      ▼                    ▼                               ▼
//!   http/: files, /api   conn/ws.rs                      conn/backend.rs
//!                         reader thread ──bytes──► client thread
//!                                                   │ Event ▲ Outgoing (batches)
//!                                                   ▼       │
//!                                 dispatch/: the dispatcher thread
//!                                 owns the client registry and the apps
//!                                 apps/: echo, room, ... (App trait)
//! ```
//!
//! - [`server`]: [`Server`] mounts apps, binds, runs the accept loop; [`Running`] stops it.
//! - [`conn`]: per-connection threads: classification, the WebSocket client loop.
//! - [`dispatch`]: the dispatcher thread and its client registry.
//! - [`apps`]: the [`App`] trait, [`Ctx`], and the built-in apps.
//! - [`http`]: request heads, the `www/` responder, `/api`.
//!
//! No thread ever polls: the reader blocks in `read`, the client thread and
//! the dispatcher block in `select!`, so an idle client costs no CPU and a
//! message reaches it at once.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod apps;
pub mod config;
pub mod conn;
pub mod dispatch;
pub mod error;
pub mod http;
pub mod server;
mod state;
pub mod tls;
pub mod wire;

pub use apps::{ApiRequest, ApiResponse, App, Ctx, Message, Notifier, Registration};
pub use config::Config;
pub use dispatch::{ClientId, ClientInfo, ClientKind};
pub use error::{Error, Result};
pub use server::{Running, Server, Stopper};
