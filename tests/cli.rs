//! The `wslab` binary: a taken port is one clear line and exit 1, `--help`
//! lists the flags, bad flags are refused, and idle clients cost no wake-ups.

mod support;

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use support::{Child, Ws};

fn wslab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wslab"))
}

#[test]
fn taken_port_is_one_clear_line_and_exit_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = wslab().args(["--host", "127.0.0.1", "--port", &port.to_string()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("port {port} is already in use")), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn help_lists_every_flag() {
    let out = wslab().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--host",
        "--port",
        "--www",
        "--data",
        "--workshops",
        "--root-app",
        "--log-level",
        "--max-connections",
        "--max-message-size",
        "--outbox-size",
        "--handshake-timeout",
        "--ping-interval",
        "--allow-origin",
        "--app",
        "wslab ratchet DIR",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    // The --root-app choices come from the apps' registrations.
    assert!(help.contains("echo, lobby, chat, workshop, relay"), "{help}");
}

#[test]
fn bad_flags_are_refused_with_exit_1() {
    for args in [&["--nope"][..], &["--port", "x"], &["--max-message-size", "lots"], &["--root-app", "bogus"]]
    {
        let out = wslab().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("wslab: "), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
    // The error lists what --help lists, and the inspector is not the root app.
    for name in ["bogus", "inspect"] {
        let out = wslab().args(["--root-app", name, "--port", "0"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "--root-app {name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.trim_end().ends_with("choose one of echo, lobby, chat, workshop, relay"), "{stderr}");
    }
}

#[test]
fn first_log_lines_print_the_urls_with_the_real_port() {
    let mut child = Child::start(&[]);
    assert_ne!(child.port, 0);
    let mut ws = Ws::connect(child.addr(), "/ws/echo");
    ws.send("up");
    assert_eq!(ws.recv_text(), "up");
    // The URLs come first, before anything the apps log.
    assert_eq!(child.log.len(), 2, "{:?}", child.log);
    assert!(child.log[0].contains(&format!("on port {}", child.port)), "{:?}", child.log);
    assert!(child.log[1].contains(&format!("open http://127.0.0.1:{}/", child.port)), "{:?}", child.log);
    child.signal(15);
    assert_eq!(child.wait_exit(Duration::from_secs(5)), Some(0));
}

fn voluntary_switches(pid: u32) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if let Some(n) = line.strip_prefix("voluntary_ctxt_switches:") {
                total += n.trim().parse::<u64>().unwrap();
            }
        }
    }
    total
}

#[test]
fn idle_clients_cost_no_wakeups() {
    // Keepalive pings are real work, not polling: push them out of the window.
    let child = Child::start(&["--ping-interval", "3600s"]);
    let mut clients: Vec<Ws> = (0..500).map(|_| Ws::connect(child.addr(), "/ws/echo")).collect();
    // Every client has been served once, so all threads are up and parked.
    for ws in clients.iter_mut() {
        ws.send("x");
    }
    for ws in clients.iter_mut() {
        assert_eq!(ws.recv_text(), "x");
    }
    let pid = child.child.id();
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().count();
    assert!((500..550).contains(&threads), "expected one thread per client, found {threads}");
    let before = voluntary_switches(pid);
    // The measurement window itself, not a wait for an event.
    std::thread::sleep(Duration::from_secs(2));
    let after = voluntary_switches(pid);
    assert!(
        after - before < 200,
        "{} voluntary context switches in 2 s with 500 idle clients",
        after - before
    );
    drop(clients);
}

#[cfg(not(feature = "tls"))]
#[test]
fn tls_flags_without_the_tls_feature_are_one_clear_line_and_exit_1() {
    let out = wslab()
        .args(["--host", "127.0.0.1", "--port", "0", "--tls-cert", "c.pem", "--tls-key", "k.pem"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("wslab: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("built without TLS"), "{stderr}");
}

/// `wslab` started under `prlimit` with the open-file limit `soft:hard`.
fn under_file_limit(soft: u64, hard: u64, args: &[&str]) -> Child {
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--nofile={soft}:{hard}")).arg("--").arg(env!("CARGO_BIN_EXE_wslab"));
    Child::spawn(cmd, args)
}

/// The hard open-file limit of this process, with its soft limit raised to it.
fn raise_own_file_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).expect("raise the open-file limit")
}

#[test]
fn started_with_a_soft_file_limit_of_1024_it_holds_2000_clients() {
    let hard = raise_own_file_limit();
    assert!(hard >= 4200, "this test needs a hard open-file limit of 4200 (both ends), found {hard}");
    let child = under_file_limit(1024, hard, &["--ping-interval", "0"]);
    let mut clients: Vec<Ws> = (0..2000).map(|_| Ws::connect(child.addr(), "/ws/echo")).collect();
    // Every one of them is still there: each answers.
    for (i, ws) in clients.iter_mut().enumerate() {
        ws.send(format!("{i}"));
    }
    for (i, ws) in clients.iter_mut().enumerate() {
        assert_eq!(ws.recv_text(), format!("{i}"));
    }
}

#[test]
fn a_hard_file_limit_below_max_connections_is_one_log_line_and_503_past_it() {
    raise_own_file_limit();
    // 200 descriptors leave room for 136 connections (64 are kept for the rest).
    let mut child = under_file_limit(200, 200, &["--ping-interval", "0"]);
    let line = child.wait_line("open-file limit");
    assert!(line.contains("at most 136 connections"), "{line}");
    assert!(line.contains("prlimit") || line.contains("ulimit"), "says how to raise it: {line}");
    let held: Vec<Ws> = (0..136).map(|_| Ws::connect(child.addr(), "/ws/echo")).collect();
    match Ws::try_connect(child.addr(), "/ws/echo") {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        Err(e) => panic!("expected 503, got {e}"),
        Ok(_) => panic!("expected 503, got a 101"),
    }
    drop(held);
}

#[test]
fn a_closed_stderr_never_stops_the_server() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let data = support::TempDir::new("stderr-gone");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wslab"))
        .args(["--port", "0", "--host", "127.0.0.1", "--data"])
        .arg(data.path())
        .arg("--www")
        .arg(support::www())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let port: u16 = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "no port line");
        if let Some(rest) = line.split("http://127.0.0.1:").nth(1) {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
    };
    // Nobody reads the log any more (`wslab | head`, a parent gone): every
    // log line now fails to print, in every thread that logs.
    drop(stderr);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..3 {
        let mut ws = Ws::connect(addr, "/ws/echo");
        ws.send("still answering");
        assert_eq!(ws.recv_text(), "still answering");
    }
    let ok = Command::new("kill").arg("-15").arg(child.id().to_string()).status().unwrap();
    assert!(ok.success());
    let deadline = std::time::Instant::now() + support::WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "wslab did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20)); // polling the exit status, bounded by WAIT
    };
    assert_eq!(status.code(), Some(0));
}
