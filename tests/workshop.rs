//! `/ws/workshop` and `GET /api/workshops` (spec §3.4): state, reserve, cancel, every
//! error code, a race for the last seats, durability across `kill -9`, and a start-up
//! that refuses bad files and leaves them alone.

mod support;

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};

use serde_json::{json, Value};
use support::{Child, TempDir, TestServer, Ws, WAIT};
use tungstenite::Message;

const PATH: &str = "/ws/workshop";

/// How many seats `state` says are left in workshop `id`.
fn available(state: &Value, id: &str) -> u64 {
    assert_eq!(state["type"], "state", "not a state message: {state}");
    let list = state["workshops"].as_array().expect("workshops list");
    let w = list.iter().find(|w| w["id"] == id).unwrap_or_else(|| panic!("no workshop {id} in {state}"));
    w["available"].as_u64().expect("available")
}

/// Reads past `state` messages to the next reply; returns it and the states seen on the way.
fn reply(ws: &mut Ws) -> (Value, Vec<Value>) {
    let mut states = Vec::new();
    loop {
        let m = ws.recv_json();
        if m["type"] == "state" {
            states.push(m);
        } else {
            return (m, states);
        }
    }
}

fn reserve(ws: &mut Ws, workshop: &str, name: &str) -> Value {
    ws.send_json(json!({"type": "reserve", "workshop": workshop, "name": name}));
    reply(ws).0
}

fn cancel(ws: &mut Ws, ticket: &str) -> Value {
    ws.send_json(json!({"type": "cancel", "ticket": ticket}));
    reply(ws).0
}

/// Asserts `m` is an error with `code` and a message in words.
fn assert_error(m: &Value, code: &str) {
    assert_eq!(m["type"], "error", "expected error {code}, got {m}");
    assert_eq!(m["code"], code, "{m}");
    assert!(m["message"].as_str().is_some_and(|s| !s.is_empty()), "no message in {m}");
}

fn ticket_of(m: &Value) -> String {
    assert_eq!(m["type"], "reserved", "expected reserved, got {m}");
    let t = m["ticket"].as_str().expect("ticket").to_string();
    assert!(
        t.len() == 34 && t.starts_with("T-") && t[2..].bytes().all(|b| b.is_ascii_hexdigit()),
        "ticket {t} is not T- and 32 hex digits"
    );
    t
}

/// A workshops file in `dir`.
fn workshops_file(dir: &Path, content: &str) -> PathBuf {
    let path = dir.join("workshops.json");
    std::fs::write(&path, content).unwrap();
    path
}

/// A server with one workshop `small` of `capacity` seats (and `big`, 100).
fn small_server(capacity: u32) -> (TestServer, TempDir) {
    let dir = TempDir::new("workshops");
    let list = format!(
        r#"[{{"id":"small","title":"Small room","capacity":{capacity}}},
            {{"id":"big","title":"Big hall","capacity":100}}]"#
    );
    let file = workshops_file(dir.path(), &list);
    (TestServer::with(|c| c.workshops = Some(file)), dir)
}

/// The tickets in a data directory's `reservations.json`.
fn tickets_on_disk(data: &Path) -> HashSet<String> {
    let text = std::fs::read_to_string(data.join("reservations.json")).expect("reservations.json");
    let file: Value = serde_json::from_str(&text).expect("reservations.json is JSON");
    assert_eq!(file["version"], 1);
    file["reservations"]
        .as_array()
        .expect("reservations list")
        .iter()
        .map(|r| r["ticket"].as_str().expect("ticket").to_string())
        .collect()
}

/// Starts the binary with `args`, expecting it to refuse: its exit code and stderr.
fn start_fails(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wslab"))
        .args(["--port", "0", "--host", "127.0.0.1"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wslab");
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let mut log = String::new();
        let _ = stderr.read_to_string(&mut log);
        let _ = tx.send(log);
    });
    match rx.recv_timeout(WAIT) {
        Ok(log) => (child.wait().unwrap().code(), log),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("wslab {args:?} did not stop within {WAIT:?}");
        }
    }
}

#[test]
fn state_on_connect_lists_the_built_in_sample() {
    let server = TestServer::start();
    let mut ws = server.ws(PATH);
    let state = ws.recv_json();
    assert_eq!(state["type"], "state");
    let list = state["workshops"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    for w in list {
        assert!(w["id"].as_str().is_some_and(|s| !s.is_empty()), "{w}");
        assert!(w["title"].as_str().is_some_and(|s| !s.is_empty()), "{w}");
        assert_eq!(w["available"], w["capacity"], "{w}");
    }
    assert_eq!(available(&state, "rust-101"), 20);
}

#[test]
fn reserve_and_cancel_reach_everyone() {
    let server = TestServer::start();
    let mut a = server.ws(PATH);
    let mut b = server.ws(PATH);
    a.recv_json();
    b.recv_json();

    a.send_json(json!({"type": "reserve", "workshop": "rust-101", "name": "  Alice  "}));
    let (reserved, states) = reply(&mut a);
    assert_eq!(reserved["workshop"], "rust-101");
    assert_eq!(reserved["name"], "Alice", "the name is trimmed");
    let ticket = ticket_of(&reserved);
    assert_eq!(reserved.as_object().unwrap().len(), 4, "{reserved}");
    assert_eq!(states.len(), 1, "one change, one state");
    assert_eq!(available(&states[0], "rust-101"), 19);
    assert_eq!(available(&b.recv_json(), "rust-101"), 19, "the other client hears of it too");

    let cancelled = cancel(&mut a, &ticket);
    assert_eq!(cancelled, json!({"type": "cancelled", "ticket": ticket, "workshop": "rust-101"}));
    assert_eq!(available(&b.recv_json(), "rust-101"), 20);

    // A change by b reaches a.
    let t = ticket_of(&reserve(&mut b, "websockets", "Bob"));
    let state = a.recv_json();
    assert_eq!(available(&state, "websockets"), 11);
    assert_eq!(available(&state, "rust-101"), 20);
    // A ticket is all it takes to cancel, whoever holds it.
    assert_eq!(cancel(&mut a, &t)["type"], "cancelled");
    assert_eq!(available(&b.recv_json(), "websockets"), 12);
}

#[test]
fn every_error_code_and_the_connection_stays_open() {
    let (server, _dir) = small_server(1);
    let mut ws = server.ws(PATH);
    ws.recv_json();

    for bad in ["not json", "{\"type\":", "[1,2]", "\"reserve\"", "42"] {
        ws.send(bad);
        assert_error(&reply(&mut ws).0, "bad_json");
    }
    ws.send(Message::binary(b"{\"type\":\"reserve\"}".to_vec()));
    assert_error(&reply(&mut ws).0, "bad_json");

    for bad in [json!({}), json!({"type": "dance"}), json!({"type": 7}), json!({"kind": "reserve"})] {
        ws.send_json(bad);
        assert_error(&reply(&mut ws).0, "unknown_type");
    }

    assert_error(&reserve(&mut ws, "nope", "Alice"), "unknown_workshop");
    ws.send_json(json!({"type": "reserve", "name": "Alice"}));
    assert_error(&reply(&mut ws).0, "unknown_workshop");

    for name in ["", "   ", &"x".repeat(65)] {
        assert_error(&reserve(&mut ws, "big", name), "bad_name");
    }
    ws.send_json(json!({"type": "reserve", "workshop": "big"}));
    assert_error(&reply(&mut ws).0, "bad_name");
    ws.send_json(json!({"type": "reserve", "workshop": "big", "name": 42}));
    assert_error(&reply(&mut ws).0, "bad_name");
    // 64 characters are fine, however many bytes they take.
    let long = "é".repeat(64);
    assert_eq!(reserve(&mut ws, "big", &long)["name"], long.as_str());

    ticket_of(&reserve(&mut ws, "big", "Alice"));
    assert_error(&reserve(&mut ws, "big", "Alice"), "duplicate");
    assert_error(&reserve(&mut ws, "big", " alice "), "duplicate");
    ticket_of(&reserve(&mut ws, "small", "Alice")); // another workshop: fine

    assert_error(&reserve(&mut ws, "small", "Bob"), "full");
    // A duplicate in a full workshop says duplicate, the more useful answer.
    assert_error(&reserve(&mut ws, "small", "ALICE"), "duplicate");

    assert_error(&cancel(&mut ws, "T-00000000000000000000000000000000"), "unknown_ticket");
    ws.send_json(json!({"type": "cancel"}));
    assert_error(&reply(&mut ws).0, "unknown_ticket");

    // Still open and working.
    ticket_of(&reserve(&mut ws, "big", "Carol"));
}

#[test]
fn api_workshops_is_the_state_message() {
    let server = TestServer::start();
    let mut ws = server.ws(PATH);
    let first = ws.recv_json();
    let r = server.get("/api/workshops");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").is_some_and(|t| t.contains("json")));
    assert_eq!(r.json(), first);

    ticket_of(&reserve(&mut ws, "rust-101", "Alice"));
    let r = server.get("/api/workshops");
    assert_eq!(r.json(), server.ws(PATH).recv_json());
    assert_eq!(available(&r.json(), "rust-101"), 19);

    let post = server.raw(b"POST /api/workshops HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}");
    let post = support::parse_response(&post);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow").as_deref(), Some("GET, HEAD"), "{}", post.head);
}

#[test]
fn cancel_frees_the_seat_for_someone_else() {
    let (server, _dir) = small_server(1);
    let mut a = server.ws(PATH);
    let mut b = server.ws(PATH);
    a.recv_json();
    b.recv_json();
    let ticket = ticket_of(&reserve(&mut a, "small", "Alice"));
    assert_error(&reserve(&mut b, "small", "Bob"), "full");

    assert_eq!(cancel(&mut a, &ticket)["type"], "cancelled");
    assert_error(&cancel(&mut a, &ticket), "unknown_ticket");
    assert_error(&cancel(&mut b, &ticket), "unknown_ticket");

    let bobs = ticket_of(&reserve(&mut b, "small", "Bob"));
    assert_ne!(bobs, ticket);
    assert_error(&reserve(&mut a, "small", "Alice"), "full");
    assert_eq!(tickets_on_disk(&server.data.0), HashSet::from([bobs]));
}

#[test]
fn replies_come_in_the_order_of_the_requests() {
    let (server, _dir) = small_server(1);
    let mut ws = server.ws(PATH);
    ws.recv_json();
    // The first needs the disk, the others do not: they still wait behind it.
    ws.send_json(json!({"type": "reserve", "workshop": "small", "name": "Alice"}));
    ws.send_json(json!({"type": "reserve", "workshop": "small", "name": "Bob"}));
    ws.send_json(json!({"type": "cancel", "ticket": "T-nope"}));
    ws.send_json(json!({"type": "reserve", "workshop": "big", "name": "Bob"}));
    ws.send_json(json!({"type": "reserve", "workshop": "big", "name": ""}));
    let ticket = ticket_of(&reply(&mut ws).0);
    assert_error(&reply(&mut ws).0, "full");
    assert_error(&reply(&mut ws).0, "unknown_ticket");
    assert_eq!(reply(&mut ws).0["workshop"], "big");
    assert_error(&reply(&mut ws).0, "bad_name");
    assert_eq!(cancel(&mut ws, &ticket)["type"], "cancelled");
}

#[test]
fn sixty_clients_race_for_ten_seats() {
    let (server, _dir) = small_server(10);
    let clients: Vec<Ws> = (0..60)
        .map(|_| {
            let mut ws = server.ws(PATH);
            assert_eq!(available(&ws.recv_json(), "small"), 10);
            ws
        })
        .collect();
    let start = Arc::new(Barrier::new(clients.len()));
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                ws.send_json(json!({"type": "reserve", "workshop": "small", "name": format!("visitor {i}")}));
                let (answer, states) = reply(&mut ws);
                // Every client hears of every change: it sees the last seat go.
                let mut last = states.last().map(|s| available(s, "small"));
                while last != Some(0) {
                    last = Some(available(&ws.recv_json(), "small"));
                }
                answer
            })
        })
        .collect();
    let answers: Vec<Value> = threads.into_iter().map(|t| t.join().expect("client thread")).collect();

    let tickets: HashSet<String> =
        answers.iter().filter(|a| a["type"] == "reserved").map(ticket_of).collect();
    let full = answers.iter().filter(|a| a["type"] == "error" && a["code"] == "full").count();
    assert_eq!(tickets.len(), 10, "{answers:?}");
    assert_eq!(full, 50, "{answers:?}");

    let state = server.ws(PATH).recv_json();
    assert_eq!(available(&state, "small"), 0);
    assert_eq!(server.get("/api/workshops").json(), state);
    // `reserved` went out only once on disk: the file holds exactly those ten.
    assert_eq!(tickets_on_disk(&server.data.0), tickets);
}

#[test]
fn a_burst_shares_states_but_everyone_sees_the_final_count() {
    // 20 clients send 5 reservations each without waiting: the changes made
    // while a write is under way are announced together when it ends, but
    // the last `state` every client gets shows every seat taken.
    const CLIENTS: usize = 20;
    const EACH: usize = 5;
    let (server, _dir) = small_server(1000);
    let mut clients: Vec<Ws> = (0..CLIENTS)
        .map(|_| {
            let mut ws = server.ws(PATH);
            assert_eq!(available(&ws.recv_json(), "small"), 1000);
            ws
        })
        .collect();
    for (i, ws) in clients.iter_mut().enumerate() {
        for k in 0..EACH {
            ws.send_json(json!({"type": "reserve", "workshop": "small", "name": format!("c{i} seat {k}")}));
        }
    }
    let left = 1000 - (CLIENTS * EACH) as u64;
    let mut tickets = HashSet::new();
    for ws in clients.iter_mut() {
        let mut replies = 0;
        let mut last = 1000;
        while replies < EACH || last != left {
            let m = ws.recv_json();
            if m["type"] == "state" {
                let now = available(&m, "small");
                assert!(now <= last, "seat counts only go down here: {now} after {last}");
                last = now;
            } else {
                assert_eq!(m["type"], "reserved", "{m}");
                // Its `state` came first.
                assert!(last < 1000);
                tickets.insert(ticket_of(&m));
                replies += 1;
            }
        }
    }
    assert_eq!(tickets.len(), CLIENTS * EACH);
    assert_eq!(tickets_on_disk(&server.data.0), tickets);
}

#[test]
fn reservations_survive_a_restart_in_the_documented_format() {
    let data = TempDir::new("restart");
    let dir = data.path().to_path_buf();
    let ticket = {
        let server = TestServer::with(|c| c.data = dir.clone());
        let mut ws = server.ws(PATH);
        ws.recv_json();
        ticket_of(&reserve(&mut ws, "websockets", "Alice"))
    };
    let text = std::fs::read_to_string(dir.join("reservations.json")).unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(file["version"], 1);
    let r = &file["reservations"][0];
    assert_eq!(
        (r["ticket"].as_str(), r["workshop"].as_str(), r["name"].as_str()),
        (Some(ticket.as_str()), Some("websockets"), Some("Alice"))
    );
    assert!(r["at"].as_u64().is_some_and(|at| at > 1_600_000_000_000), "at is ms since the epoch: {r}");

    let server = TestServer::with(|c| c.data = dir.clone());
    let mut ws = server.ws(PATH);
    assert_eq!(available(&ws.recv_json(), "websockets"), 11);
    assert_error(&reserve(&mut ws, "websockets", "Alice"), "duplicate");
    assert_eq!(cancel(&mut ws, &ticket)["type"], "cancelled");
}

#[test]
fn a_failed_write_is_undone_and_answered_unavailable() {
    let server = TestServer::start();
    let mut a = server.ws(PATH);
    let mut b = server.ws(PATH);
    a.recv_json();
    b.recv_json();
    let kept = ticket_of(&reserve(&mut a, "rust-101", "Kept"));
    assert_eq!(available(&b.recv_json(), "rust-101"), 19);

    // A directory where the temporary file goes makes every write fail.
    let blocker = server.data.0.join("reservations.json.tmp");
    std::fs::create_dir(&blocker).unwrap();
    a.send_json(json!({"type": "reserve", "workshop": "rust-101", "name": "Lost"}));
    let (answer, _) = reply(&mut a);
    assert_error(&answer, "unavailable");
    // Everyone saw the seat taken, then given back.
    assert_eq!(available(&b.recv_json(), "rust-101"), 18);
    assert_eq!(available(&b.recv_json(), "rust-101"), 19);
    assert_eq!(available(&server.get("/api/workshops").json(), "rust-101"), 19);
    assert_error(&cancel(&mut a, &kept), "unavailable");
    assert_eq!(available(&server.get("/api/workshops").json(), "rust-101"), 19, "the ticket is still valid");
    assert_eq!(tickets_on_disk(&server.data.0), HashSet::from([kept.clone()]));

    std::fs::remove_dir(&blocker).unwrap();
    let lost_again = ticket_of(&reserve(&mut a, "rust-101", "Lost"));
    assert_eq!(tickets_on_disk(&server.data.0), HashSet::from([kept, lost_again]));
}

#[test]
fn a_reservation_survives_kill_9_the_moment_it_is_confirmed() {
    let data = TempDir::new("crash");
    let dir = data.path().to_str().unwrap().to_string();
    let mut tickets = Vec::new();
    for round in 0..4u64 {
        let mut child = Child::start(&["--data", &dir]);
        let mut ws = Ws::connect(child.addr(), PATH);
        assert_eq!(available(&ws.recv_json(), "rust-101"), 20 - round, "round {round}");
        let ticket = ticket_of(&reserve(&mut ws, "rust-101", &format!("crash {round}")));
        child.signal(9);
        assert_eq!(child.wait_exit(WAIT), None, "killed by a signal");
        tickets.push(ticket);
    }
    let child = Child::start(&["--data", &dir]);
    let mut ws = Ws::connect(child.addr(), PATH);
    assert_eq!(available(&ws.recv_json(), "rust-101"), 16);
    assert_eq!(tickets_on_disk(data.path()), tickets.iter().cloned().collect());
    for ticket in &tickets {
        assert_eq!(cancel(&mut ws, ticket)["type"], "cancelled");
    }
}

#[test]
fn at_sigterm_every_seat_on_disk_was_answered_to_its_sender_before_the_1001() {
    let data = TempDir::new("term-burst");
    let workshops = data.path().join("workshops.json");
    std::fs::write(&workshops, r#"[{"id":"big","title":"Big","capacity":1000}]"#).unwrap();
    let dir = data.path().join("data");
    let mut child =
        Child::start(&["--data", dir.to_str().unwrap(), "--workshops", workshops.to_str().unwrap()]);
    let mut ws = Ws::connect(child.addr(), PATH);
    ws.recv_json();
    // A burst, not waiting for the replies: most of it waits for the disk
    // when the signal comes.
    for i in 0..300 {
        let request = json!({"type": "reserve", "workshop": "big", "name": format!("n{i}")});
        ws.socket.send(Message::text(request.to_string())).unwrap();
    }
    let mut answered = HashSet::new();
    let mut signalled = false;
    let code = loop {
        match ws.socket.read() {
            Ok(Message::Text(text)) => {
                let m: Value = serde_json::from_str(text.as_str()).unwrap();
                if m["type"] == "reserved" {
                    answered.insert(ticket_of(&m));
                    if !signalled {
                        child.signal(15);
                        signalled = true;
                    }
                }
            }
            Ok(Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(e) => panic!("no close frame: {e}"),
        }
    };
    assert_eq!(code, Some(1001));
    assert_eq!(child.wait_exit(WAIT), Some(0));
    let on_disk = tickets_on_disk(&dir);
    assert!(on_disk.len() > 1, "the burst reached the disk");
    let unanswered = on_disk.difference(&answered).count();
    let unsaved = answered.difference(&on_disk).count();
    assert_eq!((unanswered, unsaved), (0, 0), "seats saved but never answered, answered but not saved");
}

#[test]
fn sigterm_keeps_the_reservations_and_exits_0() {
    let data = TempDir::new("term");
    let dir = data.path().to_str().unwrap().to_string();
    let mut child = Child::start(&["--data", &dir]);
    let mut ws = Ws::connect(child.addr(), PATH);
    ws.recv_json();
    let ticket = ticket_of(&reserve(&mut ws, "php-ratchet", "Term"));
    child.signal(15);
    assert_eq!(ws.expect_close(), 1001);
    assert_eq!(child.wait_exit(WAIT), Some(0));
    assert_eq!(tickets_on_disk(data.path()), HashSet::from([ticket]));
}

#[test]
fn a_corrupt_data_file_stops_the_start_and_is_left_alone() {
    let corrupt: [&[u8]; 5] = [
        b"this is not json",
        b"{\"version\":1,\"reservations\":[{\"ticket\":\"T-1\"",
        b"[]",
        b"",
        b"{\"version\":1,\"reservations\":[{\"ticket\":\"T-1\",\"workshop\":\"rust-101\",\"name\":\"A\"}]}",
    ];
    for bytes in corrupt {
        let data = TempDir::new("corrupt");
        let file = data.path().join("reservations.json");
        std::fs::write(&file, bytes).unwrap();
        let (code, log) = start_fails(&["--data", data.path().to_str().unwrap()]);
        assert_eq!(code, Some(1), "{log}");
        assert!(log.contains(&file.display().to_string()), "the message names the file: {log}");
        assert_eq!(std::fs::read(&file).unwrap(), bytes, "the file is left as it was");
        assert!(!data.path().join("reservations.json.tmp").exists());
    }
}

#[test]
fn invalid_workshops_files_stop_the_start() {
    let data = TempDir::new("lists");
    let reservations = r#"{"version":1,"reservations":[
        {"ticket":"T-0123456789abcdef0123456789abcdef","workshop":"a","name":"Ann","at":1732233600000},
        {"ticket":"T-fedcba9876543210fedcba9876543210","workshop":"a","name":"Ben","at":1732233600001}]}"#;
    let data_file = data.path().join("reservations.json");
    std::fs::write(&data_file, reservations).unwrap();
    let lists = [
        ("bad JSON", r#"[{"id":"a","title":"A","capacity":5}"#),
        ("not a list", r#"{"id":"a","title":"A","capacity":5}"#),
        ("no capacity", r#"[{"id":"a","title":"A"}]"#),
        ("negative capacity", r#"[{"id":"a","title":"A","capacity":-1}]"#),
        ("duplicate ids", r#"[{"id":"a","title":"A","capacity":5},{"id":"a","title":"B","capacity":5}]"#),
        ("capacity below the seats reserved", r#"[{"id":"a","title":"A","capacity":1}]"#),
        ("a workshop with seats reserved is gone", r#"[{"id":"b","title":"B","capacity":5}]"#),
    ];
    for (what, list) in lists {
        let file = workshops_file(data.path(), list);
        let (code, log) =
            start_fails(&["--data", data.path().to_str().unwrap(), "--workshops", file.to_str().unwrap()]);
        assert_eq!(code, Some(1), "{what}: {log}");
        assert!(log.contains(&file.display().to_string()), "{what}: the message names the file: {log}");
        assert_eq!(std::fs::read_to_string(&data_file).unwrap(), reservations, "{what}");
    }
    let missing = data.path().join("missing.json");
    let (code, log) =
        start_fails(&["--data", data.path().to_str().unwrap(), "--workshops", missing.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("missing.json"), "{log}");

    // The same reservations with a list that fits: the server starts and counts them.
    let file = workshops_file(data.path(), r#"[{"id":"a","title":"A","capacity":2}]"#);
    let child =
        Child::start(&["--data", data.path().to_str().unwrap(), "--workshops", file.to_str().unwrap()]);
    let mut ws = Ws::connect(child.addr(), PATH);
    let state = ws.recv_json();
    assert_eq!(
        state,
        json!({"type": "state", "workshops": [
            {"id": "a", "title": "A", "capacity": 2, "available": 0}
        ]})
    );
    assert_error(&reserve(&mut ws, "a", "Cy"), "full");
}

#[test]
fn tickets_are_not_a_sequence() {
    let server = TestServer::start();
    let mut ws = server.ws(PATH);
    ws.recv_json();
    let tickets: Vec<String> =
        (0..8).map(|i| ticket_of(&reserve(&mut ws, "rust-101", &format!("person {i}")))).collect();
    let distinct: HashSet<&String> = tickets.iter().collect();
    assert_eq!(distinct.len(), tickets.len());
    // Neighbouring tickets differ in many of their 32 digits, not just the last few.
    for pair in tickets.windows(2) {
        let same = pair[0].bytes().zip(pair[1].bytes()).skip(2).filter(|(a, b)| a == b).count();
        assert!(same < 20, "{} and {} look related", pair[0], pair[1]);
    }
}
