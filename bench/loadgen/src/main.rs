//! `make bench`: runs every scenario against wslab and, where they can,
//! against the peers (the Node `ws` one, the tokio-tungstenite one) in the
//! same run, interleaved (A B C A B C ...), prints one JSON line per run and
//! per median, then the table.
//!
//! ```text
//! wslab-loadgen [--quick] [--runs N] [--only fanout,echo,...] [--servers wslab,node-ws,rust-tokio]
//!               [--client lean|tokio] [--root DIR] [--n 100 --s 10 --m 1000 --b 64 --w 16 --rate 500 ...]
//! ```
//!
//! `--client tokio` runs `fanout` and `echo` with clients on tokio-tungstenite
//! (`tokio_client.rs`) instead of the lean ones of `net.rs`, and skips the rest.

mod hist;
mod net;
mod procfs;
mod scenarios;
mod servers;
mod tokio_client;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use scenarios::{Fan, Metrics, Params};
use servers::{Kind, Options, Programs, Server};

const ALL: &[&str] = &[
    "fanout",
    "fanout-inspected",
    "fanout-rate",
    "echo",
    "conns",
    "stalled",
    "chat",
    "reserve",
    "script-fanout",
    "script-fanout-jit",
];
/// PHP's own JIT (opcache), for `script-fanout-jit`: the same app, the same code.
const PHP_JIT: &str = "-d opcache.enable_cli=1 -d opcache.jit=tracing -d opcache.jit_buffer_size=64M";
/// The PHP app of `script-fanout` (after `wslab ratchet` there, which bench/run.sh does).
const SCRIPT_APP: &str = "bench/peers/php-mychat/server.php";

/// The clients the scenarios run with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Client {
    /// `net.rs`: one thread, epoll, a minimal codec (the default).
    Lean,
    /// `tokio_client.rs`: tokio-tungstenite, one task per client (fanout and echo only).
    Tokio,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::Lean => "lean",
            Client::Tokio => "tokio",
        }
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: wslab-loadgen [--quick] [--runs N] [--only {}] [--servers wslab,node-ws,rust-tokio]\n\
         \x20      [--client lean|tokio] [--root DIR] [--wslab BINARY] [--tokio-peer BINARY]\n\
         \x20      [--n N --s S --m M --b B --w W --rate R --rate-secs T --echo-k K --echo-secs T\n\
         \x20       --conns C --idle-secs T --chat-clients N --chat-secs T --reservations R --reserve-clients N]",
        ALL.join(",")
    );
    std::process::exit(2)
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() == 2 && args[0] == "--table" {
        return table_from(&args[1]);
    }
    let quick = take_flag(&mut args, "--quick");
    let mut p = if quick { Params::quick() } else { Params::full() };
    let mut runs: usize = if quick { 1 } else { 3 };
    let mut only: Vec<String> = ALL.iter().map(|s| s.to_string()).collect();
    let mut kinds = vec![Kind::Wslab, Kind::Node];
    let mut root = PathBuf::from(".");
    let mut wslab: Option<PathBuf> = None;
    let mut tokio_peer: Option<PathBuf> = None;
    let mut client = Client::Lean;
    let mut i = 0;
    while i < args.len() {
        let key = args[i].as_str();
        let val = args.get(i + 1).cloned().unwrap_or_else(|| usage());
        let f = || val.parse::<f64>().unwrap_or_else(|_| usage());
        match key {
            "--runs" => runs = f() as usize,
            "--only" => only = val.split(',').map(str::to_string).collect(),
            "--servers" => {
                kinds = val
                    .split(',')
                    .map(|s| match s {
                        "wslab" => Kind::Wslab,
                        "node" | "node-ws" => Kind::Node,
                        "tokio" | "rust-tokio" => Kind::Tokio,
                        _ => usage(),
                    })
                    .collect()
            }
            "--root" => root = PathBuf::from(&val),
            "--wslab" => wslab = Some(PathBuf::from(&val)),
            "--tokio-peer" => tokio_peer = Some(PathBuf::from(&val)),
            "--client" => {
                client = match val.as_str() {
                    "lean" => Client::Lean,
                    "tokio" => Client::Tokio,
                    _ => usage(),
                }
            }
            "--n" => p.n = f() as usize,
            "--s" => p.s = f() as usize,
            "--m" => p.m = f() as usize,
            "--b" => p.b = f() as usize,
            "--w" => p.w = f() as usize,
            "--rate" => p.rate = f(),
            "--rate-secs" => p.rate_secs = f(),
            "--echo-k" => p.echo_k = f() as usize,
            "--echo-secs" => p.echo_secs = f(),
            "--conns" => p.conns = f() as usize,
            "--idle-secs" => p.idle_secs = f(),
            "--chat-clients" => p.chat_clients = f() as usize,
            "--chat-interval-ms" => p.chat_interval_ms = f(),
            "--chat-secs" => p.chat_secs = f(),
            "--reservations" => p.reservations = f() as usize,
            "--reserve-clients" => p.reserve_clients = f() as usize,
            _ => usage(),
        }
        i += 2;
    }
    for s in &only {
        if !ALL.contains(&s.as_str()) {
            usage();
        }
    }
    let nofile = procfs::raise_nofile();
    let mut programs = servers::default_programs(&root);
    if let Some(path) = wslab {
        programs.wslab = path;
    }
    if let Some(path) = tokio_peer {
        programs.tokio_peer = path;
    }
    let machine = procfs::machine();
    println!(
        "{}",
        json!({
            "machine": machine,
            "quick": quick,
            "client": client.name(),
            "runs": runs,
            "fd_limit": nofile,
            "vm.max_map_count": procfs::sysctl("vm/max_map_count"),
            "kernel.pid_max": procfs::sysctl("kernel/pid_max"),
            "params": format!("{p:?}"),
        })
    );
    if nofile < (p.conns as u64 + 100) && only.iter().any(|s| s == "conns") && client == Client::Lean {
        eprintln!("warning: the open-file limit is {nofile}, below the {} connections of `conns`", p.conns);
    }

    // results[scenario][server] = runs
    let mut results: BTreeMap<String, BTreeMap<&'static str, Vec<Metrics>>> = BTreeMap::new();
    for scenario in ALL.iter().filter(|s| only.iter().any(|o| o == *s)) {
        if client == Client::Tokio && !tokio_client::can(scenario) {
            let note = "skipped: --client tokio runs fanout and echo only";
            eprintln!("{scenario}: {note}");
            println!("{}", json!({"scenario": scenario, "client": client.name(), "note": note}));
            continue;
        }
        for run in 1..=runs {
            for &kind in &kinds {
                if !kind.can(scenario) {
                    continue;
                }
                match run_one(scenario, kind, &programs, &p, run, client) {
                    Ok(mut m) => {
                        let mut line = Metrics::new();
                        line.insert("scenario".into(), json!(scenario));
                        line.insert("server".into(), json!(kind.name()));
                        line.insert("run".into(), json!(run));
                        line.append(&mut m.clone());
                        println!("{}", Value::Object(line));
                        results
                            .entry(scenario.to_string())
                            .or_default()
                            .entry(kind.name())
                            .or_default()
                            .push(std::mem::take(&mut m));
                    }
                    Err(e) => {
                        println!(
                            "{}",
                            json!({"scenario": scenario, "server": kind.name(), "run": run, "error": e})
                        );
                    }
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }

    let mut medians: BTreeMap<(String, &'static str), Metrics> = BTreeMap::new();
    for (scenario, by_server) in &results {
        for (server, runs) in by_server {
            let m = median(runs);
            let mut line = Metrics::new();
            line.insert("scenario".into(), json!(scenario));
            line.insert("server".into(), json!(server));
            line.insert("run".into(), json!("median"));
            line.insert("runs".into(), json!(runs.len()));
            line.append(&mut m.clone());
            println!("{}", Value::Object(line));
            medians.insert((scenario.clone(), server), m);
        }
    }
    println!();
    print_table(&medians, &machine, runs, client.name());
}

/// `--table FILE`: the table again, from the JSON lines of an earlier run.
fn table_from(path: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2)
    });
    let mut machine = String::new();
    let mut runs = 0;
    let mut client = "lean".to_string();
    let mut medians: BTreeMap<(String, &'static str), Metrics> = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(line) else { continue };
        if let Some(Value::String(name)) = m.get("machine") {
            machine = name.clone();
        }
        if let Some(Value::String(name)) = m.get("client") {
            if m.contains_key("machine") {
                client = name.clone();
            }
        }
        if m.get("run") != Some(&json!("median")) {
            continue;
        }
        let scenario = m.remove("scenario").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let server = match m.remove("server").as_ref().and_then(Value::as_str) {
            Some("wslab") => "wslab",
            Some("rust-tokio") => "rust-tokio",
            _ => "node-ws",
        };
        runs = m.get("runs").and_then(Value::as_u64).unwrap_or(0) as usize;
        medians.insert((scenario, server), m);
    }
    print_table(&medians, &machine, runs, &client);
}

fn take_flag(args: &mut Vec<String>, flag: &str) -> bool {
    let before = args.len();
    args.retain(|a| a != flag);
    args.len() != before
}

fn run_one(
    scenario: &str,
    kind: Kind,
    programs: &Programs,
    p: &Params,
    run: usize,
    client: Client,
) -> Result<Metrics, String> {
    let mut opts = Options::default();
    match scenario {
        // Keepalive off, so that the idle window measures idleness, not pings.
        "conns" => opts.args = vec!["--ping-interval".into(), "0".into()],
        "script-fanout" | "script-fanout-jit" => {
            let script = std::env::current_dir().map_err(|e| e.to_string())?.join(SCRIPT_APP);
            let flags = if scenario == "script-fanout-jit" { PHP_JIT } else { "" };
            opts.args = vec!["--app".into(), format!("/ws/script=php {flags} '{}'", script.display())];
        }
        "reserve" => {
            opts.workshops = Some(
                json!([{"id": "bench", "title": "Benchmark workshop", "capacity": p.reservations + 1000}])
                    .to_string(),
            )
        }
        _ => {}
    }
    let server = Server::start(kind, programs, &format!("{scenario}-{run}"), &opts)?;
    eprintln!("{scenario} #{run} on {} (pid {}, {})", kind.name(), server.pid, server.addr);
    let result = match (client, scenario) {
        (Client::Tokio, "fanout") => tokio_client::fanout(&server, p),
        (Client::Tokio, "echo") => tokio_client::echo(&server, p),
        (Client::Tokio, _) => Err(format!("--client tokio does not run {scenario}")),
        (_, scenario) => match scenario {
            "fanout" => scenarios::fanout(&server, p, Fan::Window),
            "fanout-inspected" => scenarios::fanout(&server, p, Fan::Inspected),
            "fanout-rate" => scenarios::fanout(&server, p, Fan::Rate),
            "stalled" => scenarios::fanout(&server, p, Fan::Stalled),
            "script-fanout" | "script-fanout-jit" => {
                scenarios::fanout_on(&server, p, Fan::Window, "/ws/script")
            }
            "echo" => scenarios::echo(&server, p),
            "conns" => scenarios::conns(&server, p),
            "chat" => scenarios::chat(&server, p),
            "reserve" => scenarios::reserve(&server, p),
            _ => Err(format!("unknown scenario {scenario}")),
        },
    };
    let result = result.map(|mut m| {
        if kind == Kind::Wslab {
            m.insert("server_warnings".into(), json!(server.log_count(" WARN ")));
        }
        m
    });
    server.stop();
    result
}

/// The median of each numeric field over the runs.
fn median(runs: &[Metrics]) -> Metrics {
    let mut out = Metrics::new();
    let Some(first) = runs.first() else { return out };
    for key in first.keys() {
        let mut xs: Vec<f64> = runs.iter().filter_map(|m| m.get(key).and_then(Value::as_f64)).collect();
        if xs.is_empty() {
            continue;
        }
        xs.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let mid = if xs.len() % 2 == 1 {
            xs[xs.len() / 2]
        } else {
            (xs[xs.len() / 2 - 1] + xs[xs.len() / 2]) / 2.0
        };
        out.insert(key.clone(), json!(mid));
    }
    out
}

fn fmt(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(x) if x.is_nan() => "–".into(),
        Some(x) if x.fract() == 0.0 && x.abs() < 1_000.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 10_000.0 || x.fract() == 0.0 => {
            let s = format!("{:.0}", x);
            let mut out = String::new();
            for (i, c) in s.chars().enumerate() {
                if i > 0 && (s.len() - i) % 3 == 0 && c != '-' {
                    out.push(',');
                }
                out.push(c);
            }
            out
        }
        Some(x) if x.abs() >= 100.0 => format!("{:.0}", x),
        Some(x) if x.abs() >= 10.0 => format!("{:.1}", x),
        Some(x) => format!("{:.2}", x),
    }
}

fn print_table(
    medians: &BTreeMap<(String, &'static str), Metrics>,
    machine: &str,
    runs: usize,
    client: &str,
) {
    let get = |s: &str, server: &str, key: &str| -> Option<f64> {
        medians.get(&(s.to_string(), server)).and_then(|m| m.get(key)).and_then(Value::as_f64)
    };
    let w = |s: &str, k: &str| get(s, "wslab", k);
    let n = |s: &str, k: &str| get(s, "node-ws", k);
    let t = |s: &str, k: &str| get(s, "rust-tokio", k);
    // The tokio columns only when the tokio peer ran: without it, the table is as before.
    let tokio = medians.keys().any(|(_, server)| *server == "rust-tokio");
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    };
    let verdict = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "–",
    };
    // One table line: scenario, figure, one value per server, the ratios, target, verdict.
    let line =
        |scenario: &str, label: &str, values: [String; 3], ratios: [String; 2], target: &str, v: &str| {
            let [a, b, c] = values;
            let [rn, rt] = ratios;
            if tokio {
                println!("| {scenario} | {label} | {a} | {b} | {c} | {rn} | {rt} | {target} | {v} |");
            } else {
                println!("| {scenario} | {label} | {a} | {b} | {rn} | {target} | {v} |");
            }
        };
    let clients = match client {
        "tokio" => "tokio-tungstenite clients (--client tokio)",
        _ => "lean clients",
    };
    let ran: Vec<&str> = [("wslab", "wslab"), ("node-ws", "Node ws"), ("rust-tokio", "rust-tokio")]
        .iter()
        .filter(|(server, _)| medians.keys().any(|(_, s)| s == server))
        .map(|(_, label)| *label)
        .collect();
    let ran = match ran.as_slice() {
        [] => "no server".to_string(),
        [one] => format!("{one} alone"),
        [init @ .., last] => format!("{} and {last} interleaved", init.join(", ")),
    };
    println!("Medians of {runs} run(s) each, {ran}, {clients}; {machine}");
    println!();
    if tokio {
        println!(
            "| scenario | figure | wslab | Node ws | rust-tokio | wslab/Node | wslab/tokio | target | |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---|---|");
    } else {
        println!("| scenario | figure | wslab | Node ws | wslab/Node | target | |");
        println!("|---|---|---:|---:|---:|---|---|");
    }
    let row = |scenario: &str, label: &str, key: &str, target: &str, ok: Option<bool>, show_ratio: bool| {
        if !medians.contains_key(&(scenario.to_string(), "wslab")) {
            return;
        }
        let (a, b, c) = (w(scenario, key), n(scenario, key), t(scenario, key));
        let r = |x: Option<f64>| {
            if show_ratio {
                ratio(a, x).map(|r| format!("{r:.2}×")).unwrap_or("–".into())
            } else {
                String::new()
            }
        };
        let v = if target.is_empty() { "" } else { verdict(ok) };
        line(scenario, label, [fmt(a), fmt(b), fmt(c)], [r(b), r(c)], target, v);
    };
    // Targets of issue 12 (docs/performance.md). With --client tokio, the
    // tokio peer is the one to beat; with lean clients, Node's ratios.
    let fan_ratio = ratio(w("fanout", "delivered_per_s"), n("fanout", "delivered_per_s"));
    let fan_tokio = ratio(w("fanout", "delivered_per_s"), t("fanout", "delivered_per_s"));
    let (fan_target, fan_ok) = match (fan_ratio, fan_tokio) {
        (_, Some(rt)) if client == "tokio" => ("≥ 1.0× tokio", Some(rt >= 1.0)),
        (Some(rn), rt) => ("≥ 40× Node, ≥ 1.0× tokio", Some(rn >= 40.0 && rt.is_none_or(|r| r >= 1.0))),
        (None, _) => ("≥ 40× Node", None),
    };
    row("fanout", "delivered msg/s", "delivered_per_s", fan_target, fan_ok, true);
    row("fanout", "loss", "loss", "0", w("fanout", "loss").map(|l| l == 0.0), false);
    for (label, key) in [
        ("latency p50 ms", "p50_ms"),
        ("latency p90 ms", "p90_ms"),
        ("latency p99 ms", "p99_ms"),
        ("latency max ms", "max_ms"),
    ] {
        row("fanout", label, key, "", None, true);
    }
    let cpu = w("fanout", "server_cpu_us_per_msg");
    row(
        "fanout",
        "server CPU µs/delivered msg",
        "server_cpu_us_per_msg",
        "≤ 0.25",
        cpu.map(|c| c <= 0.25),
        true,
    );
    row("fanout", "generator CPU µs/delivered msg", "gen_cpu_us_per_msg", "", None, true);

    let p99 = w("fanout-rate", "p99_ms");
    let node_p99 = n("fanout-rate", "p99_ms");
    let ok = p99.map(|p| p <= 10.0 && node_p99.is_none_or(|q| p <= q));
    row("fanout-rate", "delivered msg/s", "delivered_per_s", "", None, true);
    row("fanout-rate", "loss", "loss", "0", w("fanout-rate", "loss").map(|l| l == 0.0), false);
    row("fanout-rate", "latency p50 ms", "p50_ms", "", None, true);
    row("fanout-rate", "latency p99 ms", "p99_ms", "≤ Node, ≤ 10", ok, true);
    row("fanout-rate", "latency max ms", "max_ms", "", None, true);
    let rate_cpu =
        ratio(w("fanout-rate", "server_cpu_us_per_msg"), n("fanout-rate", "server_cpu_us_per_msg"));
    row(
        "fanout-rate",
        "server CPU µs/delivered msg",
        "server_cpu_us_per_msg",
        "≤ 0.5× Node",
        rate_cpu.map(|r| r <= 0.5),
        true,
    );

    let echo_node = ratio(w("echo", "round_trips_per_s"), n("echo", "round_trips_per_s"));
    let echo_tokio = ratio(w("echo", "round_trips_per_s"), t("echo", "round_trips_per_s"));
    let (echo_target, echo_ok) = if client == "tokio" {
        (
            "≥ 1.0× Node and tokio",
            echo_node
                .or(echo_tokio)
                .map(|_| echo_node.is_none_or(|r| r >= 1.0) && echo_tokio.is_none_or(|r| r >= 1.0)),
        )
    } else {
        ("≥ 1.2× Node, ≥ 1.0× tokio", echo_node.map(|r| r >= 1.2 && echo_tokio.is_none_or(|t| t >= 1.0)))
    };
    row("echo", "round trips/s", "round_trips_per_s", echo_target, echo_ok, true);
    row("echo", "latency p50 ms", "p50_ms", "", None, true);
    row("echo", "latency p99 ms", "p99_ms", "", None, true);
    row("echo", "server CPU µs/round trip", "server_cpu_us_per_msg", "", None, true);

    let conns = w("conns", "connections");
    row(
        "conns",
        "held",
        "held",
        "all, ≥ 15,000",
        w("conns", "held").map(|h| Some(h) >= conns && h >= 15_000.0),
        false,
    );
    row("conns", "connections/s", "conns_per_s", "", None, true);
    row(
        "conns",
        "server RSS MiB per 1,000",
        "rss_mib_per_1000",
        "≤ 12",
        w("conns", "rss_mib_per_1000").map(|r| r <= 12.0),
        true,
    );
    row("conns", "server threads", "threads", "", None, false);
    row("conns", "idle CPU ms", "idle_cpu_ms", "0", w("conns", "idle_cpu_ms").map(|c| c < 0.5), false);
    row(
        "conns",
        "idle voluntary context switches",
        "idle_voluntary_switches",
        "< 100",
        w("conns", "idle_voluntary_switches").map(|c| c < 100.0),
        false,
    );

    let keep = ratio(w("stalled", "delivered_per_s"), w("fanout", "delivered_per_s"));
    row(
        "stalled",
        "delivered msg/s to the others",
        "delivered_per_s",
        "≥ 90 % of fanout",
        keep.map(|k| k >= 0.9),
        true,
    );
    let share = |k: Option<f64>| k.map(|k| format!("{:.0} %", k * 100.0)).unwrap_or("–".into());
    if keep.is_some() {
        let node = ratio(n("stalled", "delivered_per_s"), n("fanout", "delivered_per_s"));
        let tok = ratio(t("stalled", "delivered_per_s"), t("fanout", "delivered_per_s"));
        line(
            "stalled",
            "… as a share of fanout",
            [share(keep), share(node), share(tok)],
            Default::default(),
            "",
            "",
        );
    }
    row("stalled", "loss (the others)", "loss", "0", w("stalled", "loss").map(|l| l == 0.0), false);
    // script-fanout: only wslab runs it; the references are Node's fanout and
    // wslab's own room app (fanout) of the same run.
    for (scenario, what) in
        [("script-fanout", "PHP MyChat"), ("script-fanout-jit", "the same, PHP with its JIT")]
    {
        let Some(script) = w(scenario, "delivered_per_s") else { continue };
        let vs_node = n("fanout", "delivered_per_s").map(|n| script / n);
        let vs_room = w("fanout", "delivered_per_s").map(|r| script / r);
        let ok = match (vs_node, vs_room) {
            (Some(a), Some(b)) => Some(a >= 5.0 && b >= 0.3),
            _ => None,
        };
        line(
            scenario,
            &format!("delivered msg/s ({what}; Node: its fanout)"),
            [fmt(Some(script)), fmt(n("fanout", "delivered_per_s")), String::new()],
            [vs_node.map(|r| format!("{r:.2}×")).unwrap_or("–".into()), String::new()],
            "≥ 5× Node, ≥ 0.3× room app",
            verdict(ok),
        );
        line(
            scenario,
            "… as a share of wslab's room app (fanout)",
            [share(vs_room), String::new(), String::new()],
            Default::default(),
            "",
            "",
        );
        row(scenario, "loss", "loss", "0", w(scenario, "loss").map(|l| l == 0.0), false);
    }
    // fanout-inspected: only wslab runs it; the reference is its own fanout of the same run.
    if let Some(watched) = w("fanout-inspected", "delivered_per_s") {
        let keep = w("fanout", "delivered_per_s").map(|f| watched / f);
        line(
            "fanout-inspected",
            "delivered msg/s, an inspector watching one client",
            [fmt(Some(watched)), String::new(), String::new()],
            Default::default(),
            "≥ 80 % of fanout",
            verdict(keep.map(|k| k >= 0.8)),
        );
        line(
            "fanout-inspected",
            "… as a share of fanout (no inspector)",
            [share(keep), String::new(), String::new()],
            Default::default(),
            "",
            "",
        );
    }
    row("script-fanout", "latency p99 ms", "p99_ms", "", None, false);
    row(
        "script-fanout",
        "wslab CPU µs/delivered msg (PHP not counted)",
        "server_cpu_us_per_msg",
        "",
        None,
        false,
    );
    let yes = |x: Option<f64>| match x {
        Some(c) if c >= 1.0 => "yes",
        Some(_) => "no",
        None => "–",
    };
    let closed = w("stalled", "stalled_closed");
    let code = |x: Option<f64>| x.filter(|&c| c > 0.0).map(|c| format!(" ({c:.0})")).unwrap_or_default();
    let closed_cell = |server: &str| {
        format!(
            "{}{}",
            yes(get("stalled", server, "stalled_closed")),
            code(get("stalled", server, "stalled_close_code"))
        )
    };
    if closed.is_some() {
        line(
            "stalled",
            "stalled client closed (close code)",
            [closed_cell("wslab"), closed_cell("node-ws"), closed_cell("rust-tokio")],
            Default::default(),
            "yes",
            verdict(closed.map(|c| c >= 1.0)),
        );
    }

    row("chat", "latency p50 ms", "p50_ms", "", None, false);
    row("chat", "latency p99 ms", "p99_ms", "", None, false);
    row("chat", "loss", "loss", "0", w("chat", "loss").map(|l| l == 0.0), false);

    let rps = w("reserve", "reservations_per_s");
    row(
        "reserve",
        "durable reservations/s",
        "reservations_per_s",
        "≥ 2,000",
        rps.map(|r| r >= 2000.0),
        false,
    );
    row("reserve", "reserved / on disk", "on_disk", "", None, false);
    row("reserve", "reservation latency p99 ms", "reserve_p99_ms", "", None, false);
    row("reserve", "chat p50 ms during the burst", "chat_burst_p50_ms", "", None, false);
    let cp = w("reserve", "chat_burst_p99_ms");
    row("reserve", "chat p99 ms during the burst", "chat_burst_p99_ms", "≤ 20", cp.map(|c| c <= 20.0), false);
    row("reserve", "chat p99 ms before the burst", "chat_before_p99_ms", "", None, false);
}
