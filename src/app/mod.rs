//! The app API: everything an app is written against, and nothing else.
//!
//! - [`App`]: the hooks (Ratchet's `MessageComponentInterface`), all with
//!   default bodies.
//! - [`Ctx`]: what a hook acts through (send, broadcast, rooms, close, info).
//! - [`ClientId`], [`ClientInfo`]: who a client is and the request that
//!   opened it.
//! - [`Message`]: text or binary.
//! - [`ApiRequest`], [`ApiResponse`]: an app's `/api` routes.
//! - [`Registration`]: where an app is mounted, one constructor call.
//! - [`TestCtx`]: runs an app's hooks in a unit test, no sockets.
//!
//! This module imports neither the dispatcher nor the built-in apps: the
//! dispatcher's registry implements [`Clients`], which [`Ctx`] works over,
//! and so does the recorder behind [`TestCtx`].

pub mod client;
pub mod ctx;
pub mod hooks;
pub mod http;
pub mod json;
pub mod message;
pub mod registration;
pub mod testing;

pub use client::{AppId, ClientId, ClientInfo, ClientKind, CloseStatus};
pub use ctx::{Audience, Clients, Ctx, Notifier};
pub use hooks::App;
pub use http::{ApiRequest, ApiResponse};
pub use json::parse_json;
pub use message::Message;
pub use registration::{Mount, Registration};
pub use testing::{Closed, TestCtx};
