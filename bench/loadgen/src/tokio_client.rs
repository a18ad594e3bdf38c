//! `--client tokio`: `fanout` and `echo` with clients built on
//! tokio-tungstenite instead of the lean codec of `net.rs`: a client as an
//! application would write it. One current-thread tokio runtime (one thread,
//! as the lean generator, so that the generator takes at most one of the
//! cores it shares with the server), one task and one `WebSocketStream` per
//! client. The figures are the same as those of `scenarios.rs`, measured the
//! same way; what changes is what the generator spends per message.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::hist::Hist;
use crate::net::now_ns;
use crate::procfs;
use crate::scenarios::{latency, num, stamp, unstamp, Metrics, Params};
use crate::servers::Server;

type Ws = WebSocketStream<TcpStream>;

/// The scenarios this client runs; the others are skipped with a note.
pub fn can(scenario: &str) -> bool {
    matches!(scenario, "fanout" | "echo")
}

fn runtime() -> Result<Runtime, String> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())
}

async fn open(addr: SocketAddr, path: &str) -> Result<Ws, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let url = format!("ws://127.0.0.1:{}{path}", addr.port());
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, None)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

/// `n` connections to `path`, at most 64 handshakes at once (as `net.rs`).
async fn open_many(addr: SocketAddr, path: &str, n: usize) -> Result<Vec<Ws>, String> {
    let mut all = Vec::with_capacity(n);
    while all.len() < n {
        let batch = (n - all.len()).min(64);
        let opened = futures_util::future::try_join_all((0..batch).map(|_| open(addr, path))).await?;
        all.extend(opened);
    }
    Ok(all)
}

fn text(buf: &[u8]) -> Message {
    // `stamp` writes hex digits and dots only.
    Message::text(String::from_utf8(buf.to_vec()).expect("ASCII"))
}

fn payload(msg: &Message) -> Option<&[u8]> {
    match msg {
        Message::Text(t) => Some(t.as_bytes()),
        Message::Binary(b) => Some(b),
        _ => None,
    }
}

/// What one client saw in one pass.
struct Member {
    ws: Ws,
    delivered: u64,
    misordered: u64,
    closed_early: bool,
    hist: Hist,
    last: u64,
}

/// Client `i` of the room: receives until it has every message of the pass;
/// if `i < s`, it also sends `per_sender` messages, keeping `w` of its own
/// unanswered (it sees its own messages come back: the sender is included).
async fn member(mut ws: Ws, i: usize, s: usize, per_sender: usize, b: usize, w: usize) -> Member {
    let expected = (s * per_sender) as u64;
    let (mut delivered, mut misordered, mut last) = (0u64, 0u64, 0u64);
    let mut closed_early = false;
    let mut hist = Hist::default();
    let mut next_seq = vec![0u32; s];
    let (mut sent, mut acked) = (0usize, 0usize);
    let mut buf = Vec::with_capacity(b.max(32));
    // As in `scenarios.rs`: a pass gives up after 120 s.
    let give_up = tokio::time::sleep(Duration::from_secs(120));
    tokio::pin!(give_up);
    while delivered < expected {
        if i < s && sent < per_sender && sent - acked < w {
            let mut ok = true;
            while ok && sent < per_sender && sent - acked < w {
                stamp(&mut buf, i as u32, sent as u32, now_ns(), b);
                ok = ws.feed(text(&buf)).await.is_ok();
                sent += 1;
            }
            if !ok || ws.flush().await.is_err() {
                closed_early = true;
                break;
            }
        }
        let msg = tokio::select! {
            biased;
            msg = ws.next() => msg,
            _ = &mut give_up => break,
        };
        let now = now_ns();
        let Some(Ok(msg)) = msg else {
            closed_early = true;
            break;
        };
        let Some((k, seq, t)) = payload(&msg).and_then(unstamp) else { continue };
        let k = k as usize;
        if k >= s {
            continue;
        }
        if seq != next_seq[k] {
            misordered += 1;
        }
        next_seq[k] = seq + 1;
        if k == i {
            acked += 1;
        }
        hist.record(now.saturating_sub(t));
        delivered += 1;
        last = now;
    }
    Member { ws, delivered, misordered, closed_early, hist, last }
}

/// What one pass measured, over every client.
struct Pass {
    delivered: u64,
    expected: u64,
    misordered: u64,
    closed_early: u64,
    hist: Hist,
    secs: f64,
    server_cpu_ns: u64,
    gen_cpu_ns: u64,
}

/// One pass of every client of the room, each its own task; the streams
/// come back in `clients` for the next pass.
async fn pass(
    clients: &mut Vec<Ws>,
    pid: u32,
    s: usize,
    per_sender: usize,
    b: usize,
    w: usize,
) -> Result<Pass, String> {
    let n = clients.len();
    let cpu0 = procfs::cpu_ns(pid);
    let gen0 = procfs::self_cpu_ns();
    let t0 = now_ns();
    let tasks: Vec<_> = clients
        .drain(..)
        .enumerate()
        .map(|(i, ws)| tokio::spawn(member(ws, i, s, per_sender, b, w)))
        .collect();
    let mut r = Pass {
        delivered: 0,
        expected: (n * s * per_sender) as u64,
        misordered: 0,
        closed_early: 0,
        hist: Hist::default(),
        secs: 0.0,
        server_cpu_ns: 0,
        gen_cpu_ns: 0,
    };
    let mut last = t0 + 1;
    for task in tasks {
        let m = task.await.map_err(|e| format!("client task: {e}"))?;
        r.delivered += m.delivered;
        r.misordered += m.misordered;
        r.closed_early += u64::from(m.closed_early);
        r.hist.merge(&m.hist);
        last = last.max(m.last);
        clients.push(m.ws);
    }
    r.secs = (last - t0) as f64 / 1e9;
    r.server_cpu_ns = procfs::cpu_ns(pid) - cpu0;
    r.gen_cpu_ns = procfs::self_cpu_ns() - gen0;
    Ok(r)
}

/// `fanout` (the windowed mode only) with tokio-tungstenite clients.
pub fn fanout(srv: &Server, p: &Params) -> Result<Metrics, String> {
    let rt = runtime()?;
    rt.block_on(async {
        let room = format!("/ws/room/bench{}", now_ns() % 1_000_000_007);
        let (n, s) = (p.n, p.s.min(p.n));
        let mut clients = open_many(srv.addr, &room, n).await?;
        // Warm-up first, unmeasured, as in `scenarios::fanout`.
        let warm = pass(&mut clients, srv.pid, s, (p.m / 10).clamp(1, 100), p.b, p.w).await?;
        if warm.delivered < warm.expected {
            return Err(format!("warm-up: {} of {} delivered", warm.delivered, warm.expected));
        }
        let r = pass(&mut clients, srv.pid, s, p.m, p.b, p.w).await?;
        drop(clients);

        let mut m = Metrics::new();
        m.insert("clients".into(), n.into());
        m.insert("senders".into(), s.into());
        m.insert("messages".into(), (s * p.m).into());
        m.insert("bytes".into(), p.b.into());
        m.insert("window".into(), p.w.into());
        m.insert("delivered".into(), r.delivered.into());
        m.insert("delivered_per_s".into(), num(r.delivered as f64 / r.secs, 0));
        m.insert("loss".into(), (r.expected - r.delivered.min(r.expected)).into());
        m.insert("misordered".into(), r.misordered.into());
        m.insert("closed_early".into(), r.closed_early.into());
        latency(&mut m, "", &r.hist);
        m.insert("seconds".into(), num(r.secs, 3));
        let per = |ns: u64| num(ns as f64 / 1e3 / r.delivered.max(1) as f64, 3);
        m.insert("server_cpu_ms".into(), num(r.server_cpu_ns as f64 / 1e6, 1));
        m.insert("server_cpu_us_per_msg".into(), per(r.server_cpu_ns));
        m.insert("gen_cpu_ms".into(), num(r.gen_cpu_ns as f64 / 1e6, 1));
        m.insert("gen_cpu_us_per_msg".into(), per(r.gen_cpu_ns));
        Ok(m)
    })
}

/// What one echo client did.
struct Echoer {
    done: u64,
    hist: Hist,
    last: u64,
    closed: bool,
}

/// One echo client: send, await the reply, again, until `end` (ns).
async fn echoer(mut ws: Ws, i: usize, b: usize, end: u64) -> Echoer {
    let mut e = Echoer { done: 0, hist: Hist::default(), last: 0, closed: false };
    let mut buf = Vec::with_capacity(b.max(32));
    let mut seq = 0u32;
    let give_up =
        tokio::time::sleep(Duration::from_nanos(end.saturating_sub(now_ns())) + Duration::from_secs(5));
    tokio::pin!(give_up);
    while now_ns() < end {
        stamp(&mut buf, i as u32, seq, now_ns(), b);
        seq = seq.wrapping_add(1);
        if ws.send(text(&buf)).await.is_err() {
            e.closed = true;
            break;
        }
        // Skips anything that is not the echo (a ping, say).
        loop {
            let msg = tokio::select! {
                biased;
                msg = ws.next() => msg,
                _ = &mut give_up => None,
            };
            let now = now_ns();
            let Some(Ok(msg)) = msg else {
                e.closed = true;
                return e;
            };
            if let Some((_, _, t)) = payload(&msg).and_then(unstamp) {
                e.hist.record(now.saturating_sub(t));
                e.done += 1;
                e.last = now;
                break;
            }
        }
    }
    e
}

/// `echo` with tokio-tungstenite clients.
pub fn echo(srv: &Server, p: &Params) -> Result<Metrics, String> {
    let rt = runtime()?;
    rt.block_on(async {
        let clients = open_many(srv.addr, "/ws/echo", p.echo_k).await?;
        let cpu0 = procfs::cpu_ns(srv.pid);
        let gen0 = procfs::self_cpu_ns();
        let t0 = now_ns();
        let end = t0 + (p.echo_secs * 1e9) as u64;
        let tasks: Vec<_> =
            clients.into_iter().enumerate().map(|(i, ws)| tokio::spawn(echoer(ws, i, p.b, end))).collect();
        let (mut done, mut closed, mut last) = (0u64, 0u64, t0 + 1);
        let mut hist = Hist::default();
        for task in tasks {
            let e = task.await.map_err(|e| format!("client task: {e}"))?;
            done += e.done;
            closed += u64::from(e.closed);
            hist.merge(&e.hist);
            last = last.max(e.last);
        }
        if closed > 0 {
            return Err("an echo client was closed".into());
        }
        let cpu = procfs::cpu_ns(srv.pid) - cpu0;
        let gen = procfs::self_cpu_ns() - gen0;
        let secs = (last - t0) as f64 / 1e9;
        let mut m = Metrics::new();
        m.insert("clients".into(), p.echo_k.into());
        m.insert("bytes".into(), p.b.into());
        m.insert("round_trips".into(), done.into());
        m.insert("round_trips_per_s".into(), num(done as f64 / secs, 0));
        latency(&mut m, "", &hist);
        m.insert("server_cpu_ms".into(), num(cpu as f64 / 1e6, 1));
        m.insert("server_cpu_us_per_msg".into(), num(cpu as f64 / 1e3 / done.max(1) as f64, 3));
        m.insert("gen_cpu_ms".into(), num(gen as f64 / 1e6, 1));
        Ok(m)
    })
}
