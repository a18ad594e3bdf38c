//! The counter app of docs/writing-an-app.md: everyone sees how many
//! clients are connected, and each client how many messages it sent.
//!
//! `cargo run --example counter_app` (PORT=8123 to change the port), then
//! on two tabs of http://localhost:8080/, in the console:
//!
//! ```js
//! ws = new WebSocket('ws://' + location.host + '/ws/counter?name=ann');
//! ws.onmessage = (e) => console.log(e.data);
//! ws.onopen = () => ws.send('hi');
//! ```

use std::collections::HashMap;

use serde_json::json;
use wslab::{App, ClientId, Ctx, Message, Registration, Server};

/// The app's state. Per-client data lives in a map by client id (Ratchet
/// code sets `$conn->name`); `on_close` removes it.
#[derive(Default)]
pub struct Counter {
    /// Messages sent, per client.
    messages: HashMap<ClientId, u64>,
}

impl App for Counter {
    fn on_open(&mut self, ctx: &mut Ctx, client: ClientId) {
        self.messages.insert(client, 0);
        let name = ctx.info(client).and_then(|i| i.query("name")).unwrap_or("someone").to_string();
        ctx.broadcast_json(&json!({"type": "count", "clients": ctx.clients().len(), "joined": name}));
    }

    fn on_message(&mut self, ctx: &mut Ctx, client: ClientId, _message: Message) {
        let n = self.messages.entry(client).or_default();
        *n += 1;
        ctx.send_json(client, &json!({"type": "you", "messages": *n}));
    }

    fn on_close(&mut self, ctx: &mut Ctx, client: ClientId) {
        self.messages.remove(&client);
        ctx.broadcast_json(&json!({"type": "count", "clients": ctx.clients().len()}));
    }
}

/// The app, mounted on `/ws/counter` (and `--root-app counter` puts it on `/`).
pub fn registration() -> Registration {
    Registration::new("counter", "/ws/counter", Counter::default())
}

#[allow(dead_code)] // the integration test includes this file without calling main
fn main() {
    simple_logger::SimpleLogger::new().with_level(log::LevelFilter::Info).init().unwrap();
    let port = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080);
    let mut server = Server::new(wslab::Config { port, ..wslab::Config::default() }).expect("built-in apps");
    server.register(registration());
    let running = server.start().unwrap_or_else(|e| {
        eprintln!("counter_app: {e}");
        std::process::exit(1);
    });
    running.wait();
}
