//! Your first wslab app: a greeter that says hello, tells everyone who
//! joined and left, and passes every message on with its sender's number.
//!
//! Run it with `cargo run --example hello_app` (PORT=8123 to change the
//! port), then in a browser console on two tabs of http://localhost:8080/:
//!
//! ```js
//! ws = new WebSocket('ws://' + location.host + '/ws/hello');
//! ws.onmessage = (e) => console.log(e.data);
//! ws.onopen = () => ws.send('hi all');
//! ```
//!
//! The built-in apps (echo, rooms, chat, ...) keep running beside it.

use wslab::{App, ClientId, Config, Ctx, Message, Server};

/// The app's state: just how many messages it passed on. It lives on the
/// dispatcher thread, so it needs no lock.
#[derive(Default)]
pub struct Hello {
    messages: u64,
}

impl App for Hello {
    fn on_open(&mut self, ctx: &mut Ctx, client: ClientId) {
        let online = ctx.clients().len();
        ctx.send(client, format!("hello, you are #{client}; {online} online"));
        ctx.broadcast_if(format!("#{client} joined"), |id, _| id != client);
    }

    fn on_message(&mut self, ctx: &mut Ctx, client: ClientId, message: Message) {
        let Message::Text(text) = message else {
            ctx.send(client, "I only read text");
            return;
        };
        self.messages += 1;
        ctx.broadcast(format!("#{client} says: {text} (message {} here)", self.messages));
    }

    fn on_close(&mut self, ctx: &mut Ctx, client: ClientId) {
        ctx.broadcast(format!("#{client} left"));
    }
}

#[allow(dead_code)] // the integration test includes this file without calling main
fn main() {
    simple_logger::SimpleLogger::new().with_level(log::LevelFilter::Info).init().unwrap();
    let port = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080);
    let config = Config { port, ..Config::default() };
    let mut server = Server::new(config).expect("built-in apps");
    server.mount("hello", "/ws/hello", Hello::default());
    let running = server.start().unwrap_or_else(|e| {
        eprintln!("hello_app: {e}");
        std::process::exit(1);
    });
    log::info!("open http://localhost:{}/ and connect to /ws/hello", running.local_addr().port());
    running.wait();
}
