//! The [`App`] trait, in the shape of Ratchet's `MessageComponentInterface`,
//! and how the server calls its hooks.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use log::error;

use super::client::ClientId;
use super::ctx::Ctx;
use super::http::{ApiRequest, ApiResponse};
use super::message::Message;

/// A WebSocket app. Every hook has a default body that does nothing, so an
/// app writes only the ones it needs.
///
/// Every hook runs on the dispatcher thread, one at a time, so an app needs
/// no locks. A panic in a hook is caught: `on_error` hears of it, the client
/// it concerns is closed with 1011, and everyone else goes on.
pub trait App: Send + 'static {
    /// A client connected to this app (its handshake is done). Ratchet's `onOpen`.
    fn on_open(&mut self, ctx: &mut Ctx, client: ClientId) {
        let _ = (ctx, client);
    }

    /// A client sent a text or binary message. Ratchet's `onMessage`.
    fn on_message(&mut self, ctx: &mut Ctx, client: ClientId, message: Message) {
        let _ = (ctx, client, message);
    }

    /// A client left: it closed, vanished, or was closed by the server. It can
    /// no longer be sent to. Ratchet's `onClose`.
    fn on_close(&mut self, ctx: &mut Ctx, client: ClientId) {
        let _ = (ctx, client);
    }

    /// Something went wrong with a client: it broke the protocol (then it is
    /// closed with 1002, 1007 or 1009), or one of this app's hooks panicked
    /// while handling it (then it is closed with 1011). `on_close` follows.
    /// Ratchet's `onError`.
    fn on_error(&mut self, ctx: &mut Ctx, client: ClientId, error: &str) {
        let _ = (ctx, client, error);
    }

    /// Called once when the dispatcher starts, before any client. Apps that
    /// run helper threads start them here (see [`Ctx::notifier`]).
    fn on_start(&mut self, ctx: &mut Ctx) {
        let _ = ctx;
    }

    /// Called once when the server starts to shut down, before its clients
    /// are closed with 1001: send them what they are still owed (the
    /// workshop app finishes its write to disk and sends the replies that
    /// waited for it). `on_close` of each client and `on_stop` follow.
    fn on_shutdown(&mut self, ctx: &mut Ctx) {
        let _ = ctx;
    }

    /// Called once when the server shuts down, after every client was closed.
    /// Finish pending work (such as writes to disk) before returning.
    fn on_stop(&mut self, ctx: &mut Ctx) {
        let _ = ctx;
    }

    /// An HTTP request to an `/api` route registered for this app. `None` answers 404.
    fn on_request(&mut self, ctx: &mut Ctx, request: &ApiRequest) -> Option<ApiResponse> {
        let _ = (ctx, request);
        None
    }

    /// Something one of this app's helper threads sent through a [`super::Notifier`].
    fn on_notify(&mut self, ctx: &mut Ctx, payload: Box<dyn Any + Send>) {
        let _ = (ctx, payload);
    }
}

/// Runs one hook of app `name` under `catch_unwind`. A panic is logged;
/// when the hook was handling `client`, the app's `on_error` hears of it
/// (itself guarded) and the client is closed with 1011.
pub(crate) fn guarded(
    app: &mut dyn App,
    ctx: &mut Ctx,
    name: &str,
    hook: &str,
    client: Option<ClientId>,
    f: impl FnOnce(&mut dyn App, &mut Ctx),
) {
    let Err(panic) = catch_unwind(AssertUnwindSafe(|| f(&mut *app, &mut *ctx))) else { return };
    let what = panic_message(&panic);
    let Some(id) = client else {
        error!("app {name}: panic in {hook}: {what}");
        return;
    };
    error!("app {name}: panic in {hook} for client {id}: {what}; closing it with 1011");
    let error = format!("panic in {hook}: {what}");
    if let Err(again) = catch_unwind(AssertUnwindSafe(|| app.on_error(ctx, id, &error))) {
        error!("app {name}: panic in on_error for client {id}: {}", panic_message(&again));
    }
    ctx.close_with(id, 1011, "internal error");
}

/// The text of a panic's payload.
pub(crate) fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}
