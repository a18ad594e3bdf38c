//! The apps wslab ships, each in a file of its own, and [`builtin`], the one
//! list that mounts them.
//!
//! # Adding an app
//!
//! 1. Write a type that implements [`crate::App`] in `src/apps/NAME.rs`
//!    (see `echo.rs`, the smallest, or `examples/counter_app.rs`).
//! 2. Add `pub mod NAME;` below and one line to [`builtin`].
//!
//! Its name is then a `--root-app` choice, it shows in `--help` and in
//! `/api/status`. Apps run on the dispatcher thread, one hook at a time, so
//! they need no locks; they never touch sockets: every hook gets a
//! [`crate::Ctx`].

pub mod chat;
pub mod echo;
pub mod relay;
pub mod room;
pub mod script;
pub mod workshop;

use crate::app::Registration;

/// The apps wslab ships, mounted at the paths of the protocol. Apps that
/// read files (the workshop's list and reservations) do it when the server
/// starts.
pub fn builtin() -> Vec<Registration> {
    vec![
        Registration::new("echo", "/ws/echo", echo::Echo),
        Registration::prefix("room", "/ws/room/", room::valid_name, room::Rooms).root_as("lobby", "lobby"),
        Registration::new("chat", "/ws/chat", chat::Chat::default()),
        Registration::build("workshop", "/ws/workshop", workshop::Workshops::new).api("/api/workshops"),
        Registration::new("relay", relay::PATH, relay::Relay::default()).api(relay::API_PATH).backends(),
    ]
}

/// The `--root-app` choices of the built-in apps, in order.
pub fn root_choices() -> Vec<String> {
    builtin().iter().map(|r| r.root_name().to_string()).collect()
}
