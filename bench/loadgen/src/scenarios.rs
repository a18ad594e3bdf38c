//! The scenarios. Each takes a started server and returns its figures as a
//! JSON object (numbers only, so that runs can be combined by median).

use std::time::Duration;

use serde_json::{Map, Value};

use crate::hist::Hist;
use crate::net::{now_ns, Ev, Net, State, TEXT};
use crate::procfs;
use crate::servers::Server;

pub type Metrics = Map<String, Value>;

/// Every knob, with the defaults.
#[derive(Clone, Debug)]
pub struct Params {
    /// fanout: clients in the room, senders among them, messages per sender, bytes, window.
    pub n: usize,
    pub s: usize,
    pub m: usize,
    pub b: usize,
    pub w: usize,
    /// fanout-rate: total messages per second, for this long.
    pub rate: f64,
    pub rate_secs: f64,
    /// echo: clients, seconds.
    pub echo_k: usize,
    pub echo_secs: f64,
    /// conns: connections, idle window.
    pub conns: usize,
    pub idle_secs: f64,
    /// chat: clients, ms between messages, seconds.
    pub chat_clients: usize,
    pub chat_interval_ms: f64,
    pub chat_secs: f64,
    /// reserve: reservations, clients.
    pub reservations: usize,
    pub reserve_clients: usize,
}

impl Params {
    pub fn full() -> Params {
        Params {
            n: 100,
            s: 10,
            m: 1000,
            b: 64,
            w: 16,
            rate: 500.0,
            rate_secs: 5.0,
            echo_k: 4,
            echo_secs: 5.0,
            conns: 15_000,
            idle_secs: 5.0,
            chat_clients: 300,
            chat_interval_ms: 10.0,
            chat_secs: 10.0,
            reservations: 2000,
            reserve_clients: 100,
        }
    }

    /// `make bench QUICK=1`: the same scenarios, shorter, one run each.
    pub fn quick() -> Params {
        Params {
            m: 400,
            rate_secs: 2.0,
            echo_secs: 2.0,
            conns: 2000,
            idle_secs: 2.0,
            chat_secs: 3.0,
            reservations: 1000,
            ..Params::full()
        }
    }
}

pub(crate) fn ms(ns: u64) -> Value {
    Value::from((ns as f64 / 1e4).round() / 100.0)
}

pub(crate) fn num(x: f64, digits: i32) -> Value {
    let p = 10f64.powi(digits);
    Value::from((x * p).round() / p)
}

pub(crate) fn latency(m: &mut Metrics, prefix: &str, h: &Hist) {
    m.insert(format!("{prefix}p50_ms"), ms(h.quantile(0.5)));
    m.insert(format!("{prefix}p90_ms"), ms(h.quantile(0.9)));
    m.insert(format!("{prefix}p99_ms"), ms(h.quantile(0.99)));
    m.insert(format!("{prefix}max_ms"), ms(h.max));
}

/// Polls until every queued connection is open (or failed, which is an error).
fn open_all(net: &mut Net, timeout: Duration, f: &mut impl FnMut(usize, Ev, u64)) -> Result<f64, String> {
    let start = now_ns();
    let deadline = start + timeout.as_nanos() as u64;
    while net.pending() > 0 {
        if now_ns() > deadline {
            return Err(format!(
                "only {} of {} connections open after {timeout:?}",
                net.opened,
                net.conns.len()
            ));
        }
        net.poll(Some(Duration::from_millis(100)), f).map_err(|e| e.to_string())?;
    }
    if net.failed > 0 {
        return Err(format!(
            "{} of {} connections failed: {}",
            net.failed,
            net.conns.len(),
            net.last_error.clone().unwrap_or_default()
        ));
    }
    Ok((now_ns() - start) as f64 / 1e9)
}

/// Payload of a timed message: sender, sequence number, send time, padding.
pub(crate) fn stamp(buf: &mut Vec<u8>, sender: u32, seq: u32, t: u64, len: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.clear();
    for shift in (0..8).rev() {
        buf.push(HEX[((sender >> (shift * 4)) & 15) as usize]);
    }
    for shift in (0..8).rev() {
        buf.push(HEX[((seq >> (shift * 4)) & 15) as usize]);
    }
    for shift in (0..16).rev() {
        buf.push(HEX[((t >> (shift * 4)) & 15) as usize]);
    }
    buf.resize(len.max(32), b'.');
}

fn hex(bytes: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for &b in bytes {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | d as u64;
    }
    Some(v)
}

pub(crate) fn unstamp(data: &[u8]) -> Option<(u32, u32, u64)> {
    if data.len() < 32 {
        return None;
    }
    Some((hex(&data[..8])? as u32, hex(&data[8..16])? as u32, hex(&data[16..32])?))
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fan {
    /// W unanswered messages per sender, as fast as the server goes.
    Window,
    /// A fixed total rate.
    Rate,
    /// `Window`, plus one client that never reads.
    Stalled,
    /// `Window`, with an inspector (`/ws/inspect`) watching one receiver.
    Inspected,
}

/// `fanout-inspected`: a viewer of `/ws/inspect` that watches the first
/// client on `path` and reads (and drops) everything it is sent, on a
/// thread of its own, until `stop`. The thread returns the frames it saw.
fn inspector(
    addr: std::net::SocketAddr,
    path: &str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<std::thread::JoinHandle<u64>, String> {
    use tokio_tungstenite::tungstenite::{client, Message};
    let stream = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let (mut ws, _) =
        client(format!("ws://{addr}/ws/inspect"), stream).map_err(|e| format!("inspector: {e}"))?;
    let hello: Value = match ws.read().map_err(|e| e.to_string())? {
        Message::Text(t) => serde_json::from_str(&t).map_err(|e| e.to_string())?,
        other => return Err(format!("inspector: expected hello, got {other:?}")),
    };
    let id = hello["clients"]
        .as_array()
        .and_then(|list| list.iter().filter(|c| c["path"] == path).filter_map(|c| c["id"].as_u64()).min())
        .ok_or("inspector: no client of the room in hello")?;
    let watch = serde_json::json!({"type": "watch", "client": id}).to_string();
    ws.send(Message::text(watch)).map_err(|e| e.to_string())?;
    ws.get_mut().set_read_timeout(Some(Duration::from_millis(200))).map_err(|e| e.to_string())?;
    Ok(std::thread::spawn(move || {
        let mut frames = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            match ws.read() {
                Ok(Message::Text(t)) if t.starts_with("{\"type\":\"frames\"") || t.contains("\"frames\"") => {
                    frames += t.matches("\"dir\"").count() as u64;
                }
                Ok(_) => {}
                Err(tokio_tungstenite::tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        frames
    }))
}

/// What one pass of senders and receivers measured.
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

/// Clients `0..n` are in one room; clients `0..s` send `per_sender` messages
/// of `b` bytes each, keeping `w` of their own unanswered (or, with `rate`,
/// at that total rate). Every client must receive every message.
#[allow(clippy::too_many_arguments)]
fn pass(
    net: &mut Net,
    pid: u32,
    n: usize,
    s: usize,
    per_sender: usize,
    b: usize,
    w: usize,
    rate: Option<f64>,
) -> Result<Pass, String> {
    let total = s * per_sender;
    let expected = (n * total) as u64;
    let mut hist = Hist::default();
    let mut delivered = 0u64;
    let mut misordered = 0u64;
    let mut closed_early = 0u64;
    let mut next_seq = vec![0u32; n * s];
    let mut acked = vec![0usize; s];
    let mut sent = vec![0usize; s];
    let mut sent_total = 0usize;
    let mut buf = Vec::with_capacity(b.max(32));
    let mut last = 0u64;
    let cpu0 = procfs::cpu_ns(pid);
    let gen0 = procfs::self_cpu_ns();
    let t0 = now_ns();
    let deadline = t0 + 120_000_000_000;
    let interval = rate.map_or(0, |r| (1e9 / r) as u64);
    while delivered < expected && closed_early == 0 {
        let now = now_ns();
        if rate.is_some() {
            while sent_total < total && t0 + sent_total as u64 * interval <= now {
                let k = sent_total % s;
                stamp(&mut buf, k as u32, sent[k] as u32, now_ns(), b);
                net.send(k, TEXT, &buf);
                sent[k] += 1;
                sent_total += 1;
            }
        } else {
            for k in 0..s {
                while sent[k] < per_sender && sent[k] - acked[k] < w {
                    stamp(&mut buf, k as u32, sent[k] as u32, now_ns(), b);
                    net.send(k, TEXT, &buf);
                    sent[k] += 1;
                }
            }
        }
        if now > deadline {
            break;
        }
        let timeout = if rate.is_some() && sent_total < total {
            Duration::from_nanos((t0 + sent_total as u64 * interval).saturating_sub(now_ns()))
        } else {
            Duration::from_millis(200)
        };
        net.poll(Some(timeout), &mut |i, ev, now| match ev {
            Ev::Msg { data, .. } if i < n => {
                if let Some((k, seq, t)) = unstamp(data) {
                    let k = k as usize;
                    if k < s {
                        let slot = &mut next_seq[i * s + k];
                        if seq != *slot {
                            misordered += 1;
                        }
                        *slot = seq + 1;
                        if i == k {
                            acked[k] += 1;
                        }
                    }
                    hist.record(now.saturating_sub(t));
                    delivered += 1;
                    last = now;
                }
            }
            Ev::Closed | Ev::Failed if i < n => closed_early += 1,
            _ => {}
        })
        .map_err(|e| e.to_string())?;
    }
    Ok(Pass {
        delivered,
        expected,
        misordered,
        closed_early,
        hist,
        secs: (last.max(t0 + 1) - t0) as f64 / 1e9,
        server_cpu_ns: procfs::cpu_ns(pid) - cpu0,
        gen_cpu_ns: procfs::self_cpu_ns() - gen0,
    })
}

/// Bytes sent to the room after the measured pass of `stalled`, to push the
/// stalled client past what the kernel buffers for it (about 4 MiB here).
const FLOOD_BYTES: usize = 16 << 20;
/// Message size of that flood.
const FLOOD_MESSAGE: usize = 4096;

/// `fanout`, `fanout-rate` and `stalled`.
pub fn fanout(srv: &Server, p: &Params, mode: Fan) -> Result<Metrics, String> {
    fanout_on(srv, p, mode, &format!("/ws/room/bench{}", now_ns() % 1_000_000_007))
}

/// `fanout` on the WebSocket path `room` (a room, or a script app's path).
pub fn fanout_on(srv: &Server, p: &Params, mode: Fan, room: &str) -> Result<Metrics, String> {
    let mut net = Net::new(srv.addr).map_err(|e| e.to_string())?;
    let room = room.to_string();
    let (n, s) = (p.n, p.s.min(p.n));
    for _ in 0..n {
        net.open(&room);
    }
    let stalled = (mode == Fan::Stalled).then(|| net.open(&room));
    open_all(&mut net, Duration::from_secs(30), &mut |_, _, _| {})?;
    if let Some(st) = stalled {
        net.pause(st);
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let viewer = match mode {
        Fan::Inspected => Some(inspector(srv.addr, &room, stop.clone())?),
        _ => None,
    };
    let (per_sender, rate) = match mode {
        Fan::Rate => (((p.rate * p.rate_secs / s as f64).round() as usize).max(1), Some(p.rate)),
        _ => (p.m, None),
    };
    // A short unmeasured pass first: threads, buffers and the JIT warmed up.
    let warm = pass(&mut net, srv.pid, n, s, (per_sender / 10).clamp(1, 100), p.b, p.w, None)?;
    if warm.delivered < warm.expected {
        return Err(format!("warm-up: {} of {} delivered", warm.delivered, warm.expected));
    }
    let r = pass(&mut net, srv.pid, n, s, per_sender, p.b, p.w, rate)?;

    let mut m = Metrics::new();
    m.insert("clients".into(), n.into());
    m.insert("senders".into(), s.into());
    m.insert("messages".into(), (s * per_sender).into());
    m.insert("bytes".into(), p.b.into());
    match rate {
        Some(rate) => m.insert("rate".into(), rate.into()),
        None => m.insert("window".into(), p.w.into()),
    };
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
    if let Some(viewer) = viewer {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let frames = viewer.join().map_err(|_| "inspector thread panicked")?;
        m.insert("inspector_frames".into(), frames.into());
    }

    if let Some(st) = stalled {
        // The measured pass fits in the kernel's socket buffers of the
        // stalled client. A flood of larger messages goes past them, so
        // that the server must queue for it: and let it go, or not.
        let rss0 = procfs::rss_bytes(srv.pid);
        let per_sender = FLOOD_BYTES.div_ceil(FLOOD_MESSAGE * s);
        let flood = pass(&mut net, srv.pid, n, s, per_sender, FLOOD_MESSAGE, p.w, None)?;
        let rss1 = procfs::rss_bytes(srv.pid);
        m.insert("flood_mib".into(), num((s * per_sender * FLOOD_MESSAGE) as f64 / 1048576.0, 1));
        m.insert("flood_loss".into(), (flood.expected - flood.delivered.min(flood.expected)).into());
        m.insert("flood_delivered_per_s".into(), num(flood.delivered as f64 / flood.secs, 0));
        m.insert("flood_rss_growth_mib".into(), num((rss1 as f64 - rss0 as f64) / 1048576.0, 1));
        // Now read what the stalled client was sent: a close frame at the
        // end means the server let it go; all the messages and silence mean
        // it kept them for it.
        let all = (s * (p.m + (p.m / 10).clamp(1, 100) + per_sender)) as u64;
        let mut quiet_since = now_ns();
        let mut got = net.conns[st].received;
        let give_up = now_ns() + 30_000_000_000;
        let mut on = |_: usize, _: Ev, _| {};
        net.resume(st, &mut on);
        while net.conns[st].state != State::Closed && now_ns() < give_up {
            net.poll(Some(Duration::from_millis(100)), &mut on).map_err(|e| e.to_string())?;
            let r = net.conns[st].received;
            if r != got {
                got = r;
                quiet_since = now_ns();
            } else if r >= all && now_ns() - quiet_since > 2_000_000_000 {
                break; // everything arrived, and no close
            }
        }
        let c = &net.conns[st];
        m.insert("stalled_closed".into(), u8::from(c.state == State::Closed).into());
        m.insert("stalled_close_code".into(), c.close_code.unwrap_or(0).into());
        m.insert("stalled_received".into(), c.received.into());
        m.insert("stalled_sent".into(), all.into());
    }
    net.drop_all();
    Ok(m)
}

/// `echo`: K clients, each sending its next message when the last came back.
pub fn echo(srv: &Server, p: &Params) -> Result<Metrics, String> {
    let mut net = Net::new(srv.addr).map_err(|e| e.to_string())?;
    for _ in 0..p.echo_k {
        net.open("/ws/echo");
    }
    open_all(&mut net, Duration::from_secs(30), &mut |_, _, _| {})?;
    let mut hist = Hist::default();
    let mut buf = Vec::new();
    let mut due: Vec<usize> = (0..p.echo_k).collect();
    let mut done = 0u64;
    let mut closed = 0u64;
    let cpu0 = procfs::cpu_ns(srv.pid);
    let gen0 = procfs::self_cpu_ns();
    let t0 = now_ns();
    let end = t0 + (p.echo_secs * 1e9) as u64;
    let mut seq = 0u32;
    let mut last = t0;
    while now_ns() < end {
        for &i in &due {
            stamp(&mut buf, i as u32, seq, now_ns(), p.b);
            seq = seq.wrapping_add(1);
            net.send(i, TEXT, &buf);
        }
        due.clear();
        net.poll(Some(Duration::from_millis(100)), &mut |i, ev, now| match ev {
            Ev::Msg { data, .. } => {
                if let Some((_, _, t)) = unstamp(data) {
                    hist.record(now.saturating_sub(t));
                    done += 1;
                    last = now;
                    due.push(i);
                }
            }
            Ev::Closed | Ev::Failed => closed += 1,
            _ => {}
        })
        .map_err(|e| e.to_string())?;
        if closed > 0 {
            return Err("an echo client was closed".into());
        }
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
    net.drop_all();
    Ok(m)
}

/// `conns`: C idle connections; what they cost the server.
pub fn conns(srv: &Server, p: &Params) -> Result<Metrics, String> {
    let mut net = Net::new(srv.addr).map_err(|e| e.to_string())?;
    net.max_connecting = 64;
    std::thread::sleep(Duration::from_millis(300));
    let rss0 = procfs::rss_bytes(srv.pid);
    let gen0 = procfs::self_cpu_ns();
    for _ in 0..p.conns {
        net.open("/ws/echo");
    }
    // Closes show in `held` at the end.
    let mut on = |_: usize, _: Ev, _| {};
    // Refused connections (503 past the server's limit) are counted, not fatal.
    let start = now_ns();
    while net.pending() > 0 && now_ns() < start + 120_000_000_000 {
        net.poll(Some(Duration::from_millis(100)), &mut on).map_err(|e| e.to_string())?;
    }
    let open_secs = (now_ns() - start) as f64 / 1e9;
    let opened = net.opened;
    if net.failed > 0 {
        eprintln!(
            "  conns: {} refused or failed: {}",
            net.failed,
            net.last_error.clone().unwrap_or_default()
        );
    }
    let gen_open = procfs::self_cpu_ns() - gen0;
    // Each connection sends one message and gets it back before it goes
    // idle, as a page's connection does (a login, a first message): the
    // server's buffers and stacks are then as they stay, not as fresh.
    let mut echoed = 0usize;
    let say_hello = std::env::var_os("LOADGEN_SILENT").is_none();
    for i in 0..net.conns.len() {
        if say_hello && net.conns[i].state == State::Open {
            net.send(i, TEXT, b"hello, I am idle from now on");
        }
    }
    let deadline = now_ns() + 60_000_000_000;
    while say_hello && echoed < opened && now_ns() < deadline {
        net.poll(Some(Duration::from_millis(100)), &mut |_, ev, _| {
            if let Ev::Msg { .. } = ev {
                echoed += 1;
            }
        })
        .map_err(|e| e.to_string())?;
    }
    // Let the server finish what the opens started (threads parking, logs).
    let settle = now_ns() + 1_000_000_000;
    while now_ns() < settle {
        net.poll(Some(Duration::from_millis(200)), &mut on).map_err(|e| e.to_string())?;
    }
    let rss1 = procfs::rss_bytes(srv.pid);
    let threads = procfs::threads(srv.pid);
    let vcsw0 = procfs::voluntary_switches(srv.pid);
    let cpu0 = procfs::cpu_ns(srv.pid);
    let end = now_ns() + (p.idle_secs * 1e9) as u64;
    while now_ns() < end {
        let left = Duration::from_nanos(end.saturating_sub(now_ns()));
        net.poll(Some(left), &mut on).map_err(|e| e.to_string())?;
    }
    let cpu = procfs::cpu_ns(srv.pid) - cpu0;
    let vcsw = procfs::voluntary_switches(srv.pid) - vcsw0;
    let held = net.conns.iter().filter(|c| c.state == State::Open).count();
    let mut m = Metrics::new();
    m.insert("connections".into(), p.conns.into());
    m.insert("opened".into(), opened.into());
    m.insert("refused".into(), net.failed.into());
    m.insert("held".into(), held.into());
    m.insert("echoed".into(), echoed.into());
    m.insert("conns_per_s".into(), num(opened as f64 / open_secs, 0));
    m.insert("rss_mib".into(), num(rss1 as f64 / 1048576.0, 1));
    m.insert(
        "rss_mib_per_1000".into(),
        num((rss1.saturating_sub(rss0)) as f64 / 1048576.0 / opened.max(1) as f64 * 1000.0, 2),
    );
    m.insert("threads".into(), threads.into());
    m.insert("idle_secs".into(), p.idle_secs.into());
    m.insert("idle_cpu_ms".into(), num(cpu as f64 / 1e6, 3));
    m.insert("idle_voluntary_switches".into(), vcsw.into());
    m.insert("gen_cpu_ms_opening".into(), num(gen_open as f64 / 1e6, 1));
    if let Some(secs) = std::env::var("LOADGEN_HOLD").ok().and_then(|v| v.parse::<u64>().ok()) {
        eprintln!("  holding {} connections for {secs} s (LOADGEN_HOLD)", net.opened);
        std::thread::sleep(Duration::from_secs(secs));
    }
    net.drop_all();
    Ok(m)
}

/// The `chat` load: logged-in clients, one message every `interval` from a
/// random one; latency from send to each receipt.
struct ChatLoad {
    base: usize,
    clients: usize,
    welcomed: usize,
    interval: u64,
    next_due: u64,
    rng: u64,
    sent: u64,
    received: u64,
    errors: u64,
    /// Histograms per phase (`phase` picks the one that records).
    hists: Vec<Hist>,
    /// Phase of each sent message, by its number.
    phase_of: Vec<u8>,
    phase: usize,
}

const CHAT_PREFIX: &[u8] = b"{\"type\":\"chat\",";
const TEXT_KEY: &[u8] = b"\"text\":\"bench ";

impl ChatLoad {
    fn open(net: &mut Net, clients: usize, interval_ms: f64, phases: usize) -> ChatLoad {
        let base = net.conns.len();
        for _ in 0..clients {
            net.open("/ws/chat");
        }
        ChatLoad {
            base,
            clients,
            welcomed: 0,
            interval: (interval_ms * 1e6) as u64,
            next_due: 0,
            rng: 0x2545_F491_4F6C_DD1D,
            sent: 0,
            received: 0,
            errors: 0,
            hists: vec![Hist::default(); phases],
            phase_of: Vec::new(),
            phase: 0,
        }
    }

    fn owns(&self, i: usize) -> bool {
        i >= self.base && i < self.base + self.clients
    }

    /// Handles an event of one of its clients.
    fn on_event(&mut self, net_sends: &mut Vec<(usize, Vec<u8>)>, i: usize, ev: &Ev, now: u64) {
        match ev {
            Ev::Open => {
                let login = format!("{{\"type\":\"login\",\"user\":\"bench{}\"}}", i - self.base);
                net_sends.push((i, login.into_bytes()));
            }
            Ev::Msg { data, .. } => {
                if data.starts_with(CHAT_PREFIX) {
                    if let Some(at) = find(data, TEXT_KEY) {
                        let digits = &data[at + TEXT_KEY.len()..];
                        if digits.len() >= 24 {
                            if let (Some(n), Some(t)) = (hex(&digits[..8]), hex(&digits[8..24])) {
                                let phase = self.phase_of.get(n as usize).copied().unwrap_or(0) as usize;
                                self.hists[phase].record(now.saturating_sub(t));
                                self.received += 1;
                            }
                        }
                    }
                } else if data.starts_with(b"{\"type\":\"welcome\"") {
                    self.welcomed += 1;
                } else if data.starts_with(b"{\"type\":\"error\"") {
                    self.errors += 1;
                }
            }
            _ => {}
        }
    }

    /// Sends the messages that are due; returns the time of the next one.
    fn tick(&mut self, net: &mut Net) -> u64 {
        let now = now_ns();
        if self.next_due == 0 {
            self.next_due = now;
        }
        while self.next_due <= now {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            let from = self.base + (self.rng % self.clients as u64) as usize;
            let text = format!("{{\"type\":\"chat\",\"text\":\"bench {:08x}{:016x}\"}}", self.sent, now_ns());
            net.send(from, TEXT, text.as_bytes());
            self.phase_of.push(self.phase as u8);
            self.sent += 1;
            self.next_due += self.interval;
        }
        self.next_due
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Polls `net` until `until` (ns) or `done()`, feeding chat events to `chat`.
fn run_chat(
    net: &mut Net,
    chat: &mut ChatLoad,
    ticking: bool,
    until: u64,
    mut done: impl FnMut(&ChatLoad) -> bool,
) -> Result<(), String> {
    let mut sends = Vec::new();
    while now_ns() < until && !done(chat) {
        let next = if ticking { chat.tick(net) } else { until };
        let timeout = Duration::from_nanos(next.min(until).saturating_sub(now_ns()));
        net.poll(Some(timeout), &mut |i, ev, now| {
            if chat.owns(i) {
                chat.on_event(&mut sends, i, &ev, now);
            }
        })
        .map_err(|e| e.to_string())?;
        for (i, msg) in sends.drain(..) {
            net.send(i, TEXT, &msg);
        }
    }
    Ok(())
}

/// Opens the chat clients and logs them in; then lets the joins settle.
fn chat_login(net: &mut Net, chat: &mut ChatLoad) -> Result<(), String> {
    let mut sends = Vec::new();
    let deadline = now_ns() + 60_000_000_000;
    while chat.welcomed < chat.clients {
        if now_ns() > deadline {
            return Err(format!("only {} of {} chat clients logged in", chat.welcomed, chat.clients));
        }
        net.poll(Some(Duration::from_millis(100)), &mut |i, ev, now| {
            if chat.owns(i) {
                chat.on_event(&mut sends, i, &ev, now);
            }
        })
        .map_err(|e| e.to_string())?;
        for (i, msg) in sends.drain(..) {
            net.send(i, TEXT, &msg);
        }
        if net.failed > 0 {
            return Err(format!("chat clients failed: {}", net.last_error.clone().unwrap_or_default()));
        }
    }
    let settle = now_ns() + 500_000_000;
    run_chat(net, chat, false, settle, |_| false)
}

/// `chat`: 300 logged-in clients, a message every 10 ms from a random one.
pub fn chat(srv: &Server, p: &Params) -> Result<Metrics, String> {
    let mut net = Net::new(srv.addr).map_err(|e| e.to_string())?;
    let mut chat = ChatLoad::open(&mut net, p.chat_clients, p.chat_interval_ms, 1);
    chat_login(&mut net, &mut chat)?;
    let cpu0 = procfs::cpu_ns(srv.pid);
    let gen0 = procfs::self_cpu_ns();
    let t0 = now_ns();
    run_chat(&mut net, &mut chat, true, t0 + (p.chat_secs * 1e9) as u64, |_| false)?;
    let expected = chat.sent * chat.clients as u64;
    run_chat(&mut net, &mut chat, false, now_ns() + 5_000_000_000, |c| c.received >= expected)?;
    let cpu = procfs::cpu_ns(srv.pid) - cpu0;
    let gen = procfs::self_cpu_ns() - gen0;
    let mut m = Metrics::new();
    m.insert("clients".into(), chat.clients.into());
    m.insert("messages".into(), chat.sent.into());
    m.insert("delivered".into(), chat.received.into());
    m.insert("loss".into(), expected.saturating_sub(chat.received).into());
    latency(&mut m, "", &chat.hists[0]);
    m.insert("errors".into(), chat.errors.into());
    m.insert("server_cpu_ms".into(), num(cpu as f64 / 1e6, 1));
    m.insert("gen_cpu_ms".into(), num(gen as f64 / 1e6, 1));
    net.drop_all();
    Ok(m)
}

/// `reserve`: a burst of reservations while the chat load runs.
pub fn reserve(srv: &Server, p: &Params) -> Result<Metrics, String> {
    let mut net = Net::new(srv.addr).map_err(|e| e.to_string())?;
    let mut chat = ChatLoad::open(&mut net, p.chat_clients, p.chat_interval_ms, 3);
    let wbase = net.conns.len();
    let wn = p.reserve_clients;
    for _ in 0..wn {
        net.open("/ws/workshop");
    }
    chat_login(&mut net, &mut chat)?;
    // Phase 0: chat alone, for a baseline.
    let t = now_ns();
    run_chat(&mut net, &mut chat, true, t + 1_000_000_000, |_| false)?;

    // Phase 1: the burst. Each workshop client reserves its share, one at a time.
    chat.phase = 1;
    let quota: Vec<usize> =
        (0..wn).map(|k| p.reservations / wn + usize::from(k < p.reservations % wn)).collect();
    let mut made = vec![0usize; wn];
    let mut asked_at = vec![0u64; wn];
    let mut reserved = 0usize;
    let mut errors = 0usize;
    let mut states = 0u64;
    let mut hist = Hist::default();
    let mut sends: Vec<(usize, Vec<u8>)> = Vec::new();
    let request = |k: usize, n: usize| {
        format!("{{\"type\":\"reserve\",\"workshop\":\"bench\",\"name\":\"client{k} seat{n}\"}}").into_bytes()
    };
    let cpu0 = procfs::cpu_ns(srv.pid);
    let t0 = now_ns();
    for k in 0..wn {
        if quota[k] > 0 {
            asked_at[k] = now_ns();
            net.send(wbase + k, TEXT, &request(k, 0));
        }
    }
    let deadline = t0 + 120_000_000_000;
    let mut t1 = t0;
    while reserved + errors < p.reservations && now_ns() < deadline {
        let next = chat.tick(&mut net);
        let timeout = Duration::from_nanos(next.saturating_sub(now_ns()));
        net.poll(Some(timeout), &mut |i, ev, now| {
            if chat.owns(i) {
                chat.on_event(&mut sends, i, &ev, now);
            } else if i >= wbase && i < wbase + wn {
                if let Ev::Msg { data, .. } = ev {
                    let k = i - wbase;
                    if data.starts_with(b"{\"type\":\"state\"") {
                        states += 1;
                        return;
                    }
                    let ok = find(data, b"\"type\":\"reserved\"").is_some();
                    if ok || find(data, b"\"type\":\"error\"").is_some() {
                        if ok {
                            reserved += 1;
                            hist.record(now.saturating_sub(asked_at[k]));
                        } else {
                            errors += 1;
                        }
                        made[k] += 1;
                        t1 = now;
                        if made[k] < quota[k] {
                            asked_at[k] = now_ns();
                            sends.push((i, request(k, made[k])));
                        }
                    }
                }
            }
        })
        .map_err(|e| e.to_string())?;
        for (i, msg) in sends.drain(..) {
            net.send(i, TEXT, &msg);
        }
    }
    let cpu = procfs::cpu_ns(srv.pid) - cpu0;
    let secs = (t1.max(t0 + 1) - t0) as f64 / 1e9;
    // The data file holds every reservation that was answered.
    let file = std::fs::read_to_string(srv.dir.join("data/reservations.json")).unwrap_or_default();
    let on_disk = file.matches("\"ticket\"").count();

    // Phase 2: chat alone again, briefly; then the deliveries still on the way.
    chat.phase = 2;
    run_chat(&mut net, &mut chat, true, now_ns() + 500_000_000, |_| false)?;
    let expected = chat.sent * chat.clients as u64;
    run_chat(&mut net, &mut chat, false, now_ns() + 5_000_000_000, |c| c.received >= expected)?;

    let mut m = Metrics::new();
    m.insert("reservations".into(), p.reservations.into());
    m.insert("clients".into(), wn.into());
    m.insert("reserved".into(), reserved.into());
    m.insert("errors".into(), errors.into());
    m.insert("on_disk".into(), on_disk.into());
    m.insert("reservations_per_s".into(), num(reserved as f64 / secs, 0));
    m.insert("seconds".into(), num(secs, 3));
    latency(&mut m, "reserve_", &hist);
    m.insert("state_messages".into(), states.into());
    m.insert("chat_clients".into(), chat.clients.into());
    latency(&mut m, "chat_burst_", &chat.hists[1]);
    m.insert("chat_burst_messages".into(), chat.hists[1].n.into());
    m.insert("chat_before_p99_ms".into(), ms(chat.hists[0].quantile(0.99)));
    m.insert("chat_loss".into(), expected.saturating_sub(chat.received).into());
    m.insert("server_cpu_ms".into(), num(cpu as f64 / 1e6, 1));
    net.drop_all();
    Ok(m)
}
