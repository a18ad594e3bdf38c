//! The second peer of `make bench`: the server a Rust programmer would write
//! with tokio (multi-thread runtime) and tokio-tungstenite, written the way a
//! good tokio server is:
//!   /ws/room/NAME  every message goes to everyone in room NAME, sender included
//!   /ws/echo       every message goes back to its sender
//!   anything else  404 (from the handshake callback)
//! Per client a reader task (this connection's task) and a writer task; the
//! writer takes from an unbounded channel of `Message` (a clone is a refcount
//! of its `Bytes`), feeds every message queued and flushes once per batch.
//! Usage: rust-tokio-peer [--host 127.0.0.1] [--port 0]
//! Prints `open http://127.0.0.1:PORT/ (this machine)` on stderr, as wslab does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Same message size limit as wslab's default and the Node peer's.
const MAX_MESSAGE: usize = 1 << 20;

type Tx = UnboundedSender<Message>;
type Rooms = Mutex<HashMap<String, Vec<(u64, Tx)>>>;

struct Shared {
    rooms: Rooms,
    next_id: AtomicU64,
}

#[derive(Clone, PartialEq, Eq)]
enum Route {
    Echo,
    Room(String),
}

fn route_of(path: &str) -> Option<Route> {
    if path == "/ws/echo" {
        return Some(Route::Echo);
    }
    let name = path.strip_prefix("/ws/room/")?;
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    ok.then(|| Route::Room(name.to_string()))
}

fn arg(args: &[String], name: &str, fallback: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| fallback.to_string())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let host = arg(&args, "--host", "127.0.0.1");
    let port: u16 = arg(&args, "--port", "0").parse().unwrap_or_else(|_| {
        eprintln!("usage: rust-tokio-peer [--host 127.0.0.1] [--port 0]");
        std::process::exit(2)
    });
    let listener = match TcpListener::bind((host.as_str(), port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {host}:{port}: {e}");
            std::process::exit(1)
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    eprintln!("open http://127.0.0.1:{port}/ (this machine)");

    let shared = Arc::new(Shared { rooms: Mutex::new(HashMap::new()), next_id: AtomicU64::new(1) });
    let accept = async {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    tokio::spawn(client(stream, peer, shared.clone()));
                }
                // Out of file descriptors and the like: wait a little, go on.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
    };
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = accept => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    std::process::exit(0);
}

/// One connection: the handshake, then this task reads; a spawned task writes.
async fn client(stream: TcpStream, _peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let mut route = None;
    // The callback's type is tungstenite's: its error is a whole HTTP response.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        match route_of(req.uri().path()) {
            Some(r) => {
                route = Some(r);
                Ok(resp)
            }
            None => {
                let mut err = ErrorResponse::new(Some("WebSocket only: /ws/room/NAME, /ws/echo\n".into()));
                *err.status_mut() = StatusCode::NOT_FOUND;
                Err(err)
            }
        }
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await else {
        return;
    };
    let Some(route) = route else { return };
    let (sink, mut source) = ws.split();
    let (tx, rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_loop(sink, rx));
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    if let Route::Room(name) = &route {
        shared.rooms.lock().expect("rooms").entry(name.clone()).or_default().push((id, tx.clone()));
    }

    while let Some(Ok(msg)) = source.next().await {
        if !(msg.is_text() || msg.is_binary()) {
            // Pings are answered and closes replied to by tungstenite itself.
            continue;
        }
        match &route {
            Route::Echo => {
                let _ = tx.send(msg);
            }
            Route::Room(name) => {
                let rooms = shared.rooms.lock().expect("rooms");
                if let Some(members) = rooms.get(name) {
                    for (_, member) in members {
                        let _ = member.send(msg.clone());
                    }
                }
            }
        }
    }

    if let Route::Room(name) = &route {
        let mut rooms = shared.rooms.lock().expect("rooms");
        if let Some(members) = rooms.get_mut(name) {
            members.retain(|(other, _)| *other != id);
            if members.is_empty() {
                rooms.remove(name);
            }
        }
    }
    // The last sender gone, the writer sends what is queued, then the close.
    drop(tx);
    let _ = writer.await;
}

/// Everything queued goes out in one batch: `feed` each, one `flush`.
async fn write_loop(
    mut sink: SplitSink<WebSocketStream<TcpStream>, Message>,
    mut rx: UnboundedReceiver<Message>,
) {
    while let Some(msg) = rx.recv().await {
        if sink.feed(msg).await.is_err() {
            return;
        }
        while let Ok(msg) = rx.try_recv() {
            if sink.feed(msg).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}
