//! Script apps (`--app PATH=COMMAND`, spec §7) with real `python3`
//! children: every event and command, the example chat as copied, crash
//! and restart, garbage on stdout, a child that stops reading, shutdown.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::{test_config, Child, TempDir, TestServer, Ws};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use wslab::config::ScriptSpec;
use wslab::Server;

/// A server with the script apps `apps` (path, command) and the built-ins.
fn server_with(tag: &str, apps: &[(&str, String)]) -> TestServer {
    let data = TempDir::new(tag);
    let mut config = test_config(data.path());
    config.scripts = apps
        .iter()
        .map(|(path, command)| ScriptSpec { path: path.to_string(), command: command.clone() })
        .collect();
    TestServer::from_server(Server::new(config).unwrap(), data)
}

/// Writes `source` to a Python file in `dir` and returns the command that runs it.
fn python(dir: &Path, name: &str, source: &str) -> String {
    let file: PathBuf = dir.join(name);
    std::fs::write(&file, source).unwrap();
    format!("python3 '{}'", file.display())
}

/// Reads stdin events; answers through `reply(event)` (Python source of a function body).
const PROBE: &str = r#"
import base64, json, os, sys, time
def out(**c):
    print(json.dumps(c), flush=True)
out(type="hello", version=1)
for line in sys.stdin:
    e = json.loads(line)
    t = e["type"]
    if t == "close":
        out(type="broadcast", text="closed %d %d %s %s" % (e["id"], e["code"], e["reason"] or "-", e["by_server"]))
    elif t == "open":
        out(type="send", to=[e["id"]], text=json.dumps(e))
    elif t == "message" and "binary" in e:
        out(type="send", to=e["id"], text="binary:" + e["binary"])
    elif t == "message":
        m = e["text"]
        if m == "bin":
            out(type="send", to=e["id"], binary=base64.b64encode(b"\x00\xff").decode())
        elif m == "others":
            out(type="broadcast", text="from %d" % e["id"], **{"except": e["id"]})
        elif m == "all":
            out(type="broadcast", text="to all")
        elif m == "close":
            out(type="close", id=e["id"], code=4001, reason="bye")
        elif m == "log":
            out(type="log", level="warn", message="a line for the log")
        elif m == "mute":
            sys.stdout.flush()
            os.close(1)
            time.sleep(60)
        elif m == "die":
            print("dying now", file=sys.stderr, flush=True)
            sys.exit(3)
        else:
            out(type="send", to=e["id"], text="echo:" + m)
"#;

/// Waits for the probe app on `/probe` to be restarted, and checks that it answers.
fn probe_comes_back(server: &TestServer) {
    let mut back = None;
    support::wait_until("the app to be back", || {
        back = Ws::try_connect(server.addr, "/probe").ok();
        back.is_some()
    });
    let mut back = back.unwrap();
    back.recv_text();
    back.send("again");
    assert_eq!(back.recv_text(), "echo:again");
}

/// The client id in the probe's first message to `ws` (its `open` event).
fn opened_id(ws: &mut Ws) -> u64 {
    let open: Value = serde_json::from_str(&ws.recv_text()).unwrap();
    open["id"].as_u64().unwrap()
}

#[test]
fn every_event_reaches_the_child_and_every_command_is_carried_out() {
    let dir = TempDir::new("probe");
    let server = server_with("probe", &[("/probe", python(dir.path(), "probe.py", PROBE))]);
    let mut a = server.ws("/probe?name=Ann+Lee&x");
    let open: Value = serde_json::from_str(&a.recv_text()).unwrap();
    assert_eq!(open["type"], "open");
    assert_eq!(open["path"], "/probe");
    assert_eq!(open["query"], json!([["name", "Ann Lee"], ["x", ""]]));
    assert_eq!(open["query_string"], "name=Ann+Lee&x");
    assert!(open["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(open["id"].as_u64().is_some());
    let mut b = server.ws("/probe");
    let b_id = opened_id(&mut b);
    a.send("hi");
    assert_eq!(a.recv_text(), "echo:hi");
    a.send("bin");
    assert_eq!(a.recv(), tungstenite::Message::binary(vec![0u8, 255]));
    a.send(vec![1u8, 2, 3]);
    assert_eq!(a.recv_text(), "binary:AQID");
    a.send("others");
    assert!(b.recv_text().starts_with("from "));
    a.send("all");
    assert_eq!(a.recv_text(), "to all");
    assert_eq!(b.recv_text(), "to all");
    b.send("close");
    assert_eq!(b.expect_close(), 4001);
    // The child hears each close with its code and reason, and who closed.
    assert_eq!(a.recv_text(), format!("closed {b_id} 4001 bye True"));
    let mut c = server.ws("/probe");
    let c_id = opened_id(&mut c);
    c.socket.close(Some(CloseFrame { code: CloseCode::Library(4002), reason: "gone".into() })).unwrap();
    let _ = c.socket.flush();
    assert_eq!(a.recv_text(), format!("closed {c_id} 4002 gone False"));
    let mut d = server.ws("/probe");
    let d_id = opened_id(&mut d);
    drop(d); // no close frame: 1006
    assert_eq!(a.recv_text(), format!("closed {d_id} 1006 - False"));
    a.send("still");
    assert_eq!(a.recv_text(), "echo:still");
    assert_eq!(server.status()["connections"]["/probe"], 1);
}

#[test]
fn the_python_chat_example_runs_as_copied() {
    let server = server_with("chat-py", &[("/chat", "python3 examples/scripts/chat.py".into())]);
    support::course_chat_conversation(&server, "/chat");
}

#[test]
fn a_child_that_dies_closes_its_clients_with_1011_gets_503s_and_comes_back() {
    let dir = TempDir::new("crash");
    let server = server_with("crash", &[("/probe", python(dir.path(), "probe.py", PROBE))]);
    let mut a = server.ws("/probe");
    a.recv_text();
    let mut other = server.ws("/probe");
    other.recv_text();
    a.send("die");
    assert_eq!(a.expect_close(), 1011);
    assert_eq!(other.expect_close(), 1011);
    match Ws::try_connect(server.addr, "/probe") {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        Err(e) => panic!("expected 503 while the app is down, got {e}"),
        Ok(_) => panic!("expected 503 while the app is down, got a 101"),
    }
    // The built-in apps are not affected.
    let mut echo = server.ws("/ws/echo");
    echo.send("fine");
    assert_eq!(echo.recv_text(), "fine");
    // Restarted after a second.
    probe_comes_back(&server);
}

#[test]
fn a_child_that_closes_its_stdout_but_keeps_running_is_ended_and_restarted() {
    let dir = TempDir::new("mute");
    let server = server_with("mute", &[("/probe", python(dir.path(), "probe.py", PROBE))]);
    let mut a = server.ws("/probe");
    a.recv_text();
    a.send("mute");
    // It can never answer again: ended after a grace of 2 s, not in 60.
    assert_eq!(a.expect_close(), 1011);
    probe_comes_back(&server);
}

#[test]
fn garbage_on_stdout_is_logged_and_skipped() {
    let dir = TempDir::new("garbage");
    let source = r#"
import json, sys
print("this is not JSON", flush=True)
print('{"type":"fly"}', flush=True)
print('{"type":"send","to":999999,"text":"nobody"}', flush=True)
print('{"type":"send","text":"no to"}', flush=True)
print('{"type":"close","id":999999}', flush=True)
print("x" * 3000000, flush=True)
print(json.dumps({"type": "hello", "version": 1}), flush=True)
for line in sys.stdin:
    e = json.loads(line)
    if e["type"] == "message":
        print(json.dumps({"type": "send", "to": e["id"], "text": e["text"]}), flush=True)
        print("\x00\xff garbage again {", flush=True)
"#;
    let server = server_with("garbage", &[("/g", python(dir.path(), "garbage.py", source))]);
    let mut a = server.ws("/g");
    for i in 0..3 {
        a.send(format!("m{i}"));
        assert_eq!(a.recv_text(), format!("m{i}"));
    }
}

#[test]
fn a_child_that_stops_reading_gets_its_flooding_client_closed_with_1013_and_nobody_else_waits() {
    let dir = TempDir::new("stuck");
    let source = r#"
import json, time
print(json.dumps({"type": "hello", "version": 1}), flush=True)
time.sleep(3600)
"#;
    let server = server_with("stuck", &[("/stuck", python(dir.path(), "stuck.py", source))]);
    let mut flood = server.ws("/stuck");
    let big = "y".repeat(1024);
    let mut echo = server.ws("/ws/echo");
    // The pipe takes about 64 KiB, the queue 1024 lines: this cannot all fit.
    for _ in 0..4000 {
        if flood.socket.send(tungstenite::Message::text(big.clone())).is_err() {
            break;
        }
    }
    assert_eq!(flood.expect_close(), 1013);
    echo.send("unaffected");
    assert_eq!(echo.recv_text(), "unaffected");
}

#[test]
fn a_message_of_the_largest_size_goes_through_the_child_and_back() {
    let dir = TempDir::new("large");
    let server = server_with("large", &[("/probe", python(dir.path(), "probe.py", PROBE))]);
    let mut a = server.ws("/probe");
    a.recv_text();
    // Just under --max-message-size (1 MiB): its base64 in the command line is 1.33 MiB.
    a.send(vec![7u8; 1_000_000]);
    let back = a.recv_text();
    assert!(back.starts_with("binary:BwcH"), "{}", &back[..back.len().min(40)]);
    assert_eq!(back.len(), "binary:".len() + 1_000_000usize.div_ceil(3) * 4);
}

#[test]
fn a_child_that_falls_behind_still_hears_of_every_client_that_leaves() {
    let dir = TempDir::new("behind");
    let gate = dir.path().join("gate");
    assert!(std::process::Command::new("mkfifo").arg(&gate).status().unwrap().success());
    // Reads nothing until the test opens the gate; then tells the first
    // client (the watcher) of every other client's close.
    let source = format!(
        r#"
import json, sys
print(json.dumps({{"type": "hello", "version": 1}}), flush=True)
open({gate:?}).close()
watcher = None
for line in sys.stdin:
    e = json.loads(line)
    if e["type"] == "open" and watcher is None:
        watcher = e["id"]
    elif e["type"] == "close" and e["id"] != watcher:
        print(json.dumps({{"type": "send", "to": [watcher], "text": "closed %d" % e["id"]}}), flush=True)
"#,
        gate = gate.display().to_string()
    );
    let server = server_with("behind", &[("/behind", python(dir.path(), "behind.py", &source))]);
    let mut watcher = server.ws("/behind");
    let mut flood = server.ws("/behind");
    let big = "y".repeat(1024);
    for _ in 0..4000 {
        if flood.socket.send(tungstenite::Message::text(big.clone())).is_err() {
            break;
        }
    }
    assert_eq!(flood.expect_close(), 1013);
    // The queue was full when the flood client left: its close still reaches the child.
    std::fs::OpenOptions::new().write(true).open(&gate).unwrap();
    let closed = watcher.recv_text();
    assert!(closed.starts_with("closed "), "{closed}");
}

#[test]
fn shutdown_gives_the_child_eof_on_its_stdin() {
    let dir = TempDir::new("eof");
    let marker = dir.path().join("saw-eof");
    let source = format!(
        r#"
import json, sys
print(json.dumps({{"type": "hello", "version": 1}}), flush=True)
for line in sys.stdin:
    pass
open({marker:?}, "w").write("eof")
"#,
        marker = marker.display().to_string()
    );
    let mut server = server_with("eof", &[("/e", python(dir.path(), "eof.py", &source))]);
    let mut a = server.ws("/e");
    a.send("x");
    server.stop();
    assert!(marker.exists(), "the child saw the end of its stdin before the server stopped");
}

#[test]
fn an_app_on_slash_is_the_root_app() {
    let dir = TempDir::new("root");
    let server = server_with("root", &[("/", python(dir.path(), "probe.py", PROBE))]);
    let mut a = server.ws("/");
    let open: Value = serde_json::from_str(&a.recv_text()).unwrap();
    assert_eq!(open["path"], "/");
    // The built-in apps stay on their own paths.
    let mut room = server.ws("/ws/room/r");
    room.send("r");
    assert_eq!(room.recv_text(), "r");
}

#[test]
fn a_command_that_cannot_start_is_one_clear_line_and_exit_1() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wslab"))
        .args(["--host", "127.0.0.1", "--port", "0", "--app", "/x=no-such-program-wslab --flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("wslab: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("no-such-program-wslab") && errors[0].contains("not found"), "{stderr}");
}

#[test]
fn the_childs_stderr_and_log_commands_reach_the_servers_log() {
    let dir = TempDir::new("log");
    let command = python(dir.path(), "probe.py", PROBE);
    let mut child = Child::start(&["--app", &format!("/probe={command}")]);
    let mut a = Ws::connect(child.addr(), "/probe");
    a.recv_text();
    a.send("log");
    child.wait_line("app /probe: a line for the log");
    a.send("die");
    child.wait_line("app /probe: dying now");
    let exit = child.wait_line("process ended");
    assert!(exit.contains("exit status: 3"), "{exit}");
}

#[test]
fn ctrl_c_in_a_terminal_reaches_wslab_not_the_child_so_it_hears_every_close() {
    use std::os::unix::process::CommandExt;
    let dir = TempDir::new("ctrlc");
    let closes = dir.path().join("closes");
    let source = format!(
        r#"
import json, sys
print(json.dumps({{"type": "hello", "version": 1}}), flush=True)
for line in sys.stdin:
    e = json.loads(line)
    if e["type"] == "open":
        print(json.dumps({{"type": "send", "to": [e["id"]], "text": "hi"}}), flush=True)
    elif e["type"] == "close":
        open({closes:?}, "a").write("close %d %d\n" % (e["id"], e["code"]))
"#,
        closes = closes.display().to_string()
    );
    let app = format!("/c={}", python(dir.path(), "c.py", &source));
    // A terminal's Ctrl-C goes to the whole foreground process group: wslab in a group of its own here.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wslab"));
    cmd.process_group(0);
    let data = dir.path().join("data");
    let mut server = Child::spawn(cmd, &["--app", &app, "--data", data.to_str().unwrap()]);
    let mut a = Ws::connect(server.addr(), "/c");
    assert_eq!(a.recv_text(), "hi");
    let group = format!("-{}", server.child.id());
    assert!(std::process::Command::new("kill").args(["-INT", "--", &group]).status().unwrap().success());
    assert_eq!(a.expect_close(), 1001);
    assert_eq!(server.wait_exit(support::WAIT), Some(0));
    let seen = std::fs::read_to_string(&closes).unwrap_or_default();
    assert!(seen.contains(" 1001"), "the child heard the close: {seen:?}");
}
