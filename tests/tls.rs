//! TLS on the same port (feature `tls`): https pages, wss apps, backend
//! scripts over TLS, plain text refused without an answer, and clear errors
//! for bad certificate files.
#![cfg(feature = "tls")]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use support::{TempDir, TestServer, WAIT};
use tungstenite::{Message, WebSocket};

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A self-signed certificate for localhost, 127.0.0.1 and this machine:
/// the one `make cert` makes.
fn make_cert(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let ok = Command::new("sh")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/make-cert.sh"))
        .arg(dir)
        .output()
        .expect("sh .ci/make-cert.sh");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    (dir.join("cert.pem"), dir.join("key.pem"))
}

fn tls_server() -> (TestServer, TempDir, Arc<rustls::ClientConfig>) {
    let dir = TempDir::new("tls");
    let (cert, key) = make_cert(dir.path());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let client = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let server = TestServer::with(|c| {
        c.tls_cert = Some(cert);
        c.tls_key = Some(key);
    });
    (server, dir, Arc::new(client))
}

fn connect(addr: SocketAddr, client: &Arc<rustls::ClientConfig>) -> Tls {
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(client.clone(), name).unwrap();
    rustls::StreamOwned::new(conn, sock)
}

fn wss(addr: SocketAddr, client: &Arc<rustls::ClientConfig>, path: &str) -> WebSocket<Tls> {
    let stream = connect(addr, client);
    let (ws, _) = tungstenite::client::client(format!("wss://localhost:{}{path}", addr.port()), stream)
        .unwrap_or_else(|e| panic!("wss handshake: {e}"));
    ws
}

fn read_to_end_lossy(stream: &mut impl Read) -> String {
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn pages_over_https() {
    let (server, _dir, client) = tls_server();
    let mut s = connect(server.addr, &client);
    s.write_all(b"GET /chat.html HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let text = read_to_end_lossy(&mut s);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("<html") || text.contains("<!doctype") || text.contains("<!DOCTYPE"));
    let mut s = connect(server.addr, &client);
    s.write_all(b"GET /api/status HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    assert!(read_to_end_lossy(&mut s).contains("\"uptime_s\""));
}

#[test]
fn echo_and_rooms_over_wss() {
    let (server, _dir, client) = tls_server();
    let mut echo = wss(server.addr, &client, "/ws/echo");
    echo.send(Message::text("secret hello")).unwrap();
    assert_eq!(echo.read().unwrap(), Message::text("secret hello"));
    let big = vec![7u8; 300_000];
    echo.send(Message::binary(big.clone())).unwrap();
    assert_eq!(echo.read().unwrap(), Message::binary(big));

    let mut a = wss(server.addr, &client, "/ws/room/tls");
    let mut b = wss(server.addr, &client, "/ws/room/tls");
    a.send(Message::text("to the room")).unwrap();
    assert_eq!(a.read().unwrap(), Message::text("to the room"));
    assert_eq!(b.read().unwrap(), Message::text("to the room"));
}

#[test]
fn a_backend_script_over_tls_reaches_its_page() {
    let (server, _dir, client) = tls_server();
    let mut page = wss(server.addr, &client, "/ws/relay");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(page.read().unwrap().to_text().unwrap()).unwrap()["opcode"],
        "ready"
    );
    page.send(Message::text(json!({"opcode": "uuid", "message": "tls-page"}).to_string())).unwrap();
    // PHP's ssl:// socket: the greeting, then objects with no newline.
    let mut backend = BufReader::new(connect(server.addr, &client));
    backend.get_mut().write_all(b"php process\n\n").unwrap();
    let mut line = String::new();
    backend.read_line(&mut line).unwrap();
    assert!(line.contains("\"ready\""), "{line}");
    for p in [50, 100] {
        let msg = json!({"opcode": "feedback", "uuid": "tls-page", "progress": p});
        backend.get_mut().write_all(msg.to_string().as_bytes()).unwrap();
        line.clear();
        backend.read_line(&mut line).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&line).unwrap(),
            json!({"opcode": "next", "delivered": 1})
        );
        let got: serde_json::Value = serde_json::from_str(page.read().unwrap().to_text().unwrap()).unwrap();
        assert_eq!(got["progress"], p);
    }
}

#[test]
fn plain_http_on_a_tls_port_gets_400_saying_https_and_other_bytes_no_answer() {
    let (server, _dir, _client) = tls_server();
    let mut plain = std::net::TcpStream::connect(server.addr).unwrap();
    plain.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    plain.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut bytes = Vec::new();
    // A clean close: the end of the stream, never a reset.
    plain.read_to_end(&mut bytes).expect("a clean close");
    let answer = String::from_utf8(bytes).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    assert_eq!(body.lines().count(), 1, "{answer}");
    assert!(body.contains("https"), "{answer}");
    let answer = server.raw(b"{\"opcode\":\"feedback\"}");
    assert!(answer.is_empty());
}

#[test]
fn bad_certificate_files_are_one_clear_line_and_exit_1() {
    let dir = TempDir::new("badcert");
    let (cert, key) = make_cert(dir.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let other = TempDir::new("othercert");
    let (_, other_key) = make_cert(other.path());
    let cases = [
        (missing.clone(), key.clone(), missing.clone()),
        (garbage.clone(), key.clone(), garbage.clone()),
        (cert.clone(), garbage.clone(), garbage.clone()),
        (cert.clone(), missing.clone(), missing.clone()),
        (cert.clone(), other_key.clone(), other_key.clone()),
    ];
    for (c, k, named) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_wslab"))
            .args(["--host", "127.0.0.1", "--port", "0", "--tls-cert"])
            .arg(&c)
            .arg("--tls-key")
            .arg(&k)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("wslab: ")).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(errors[0].contains(&named.display().to_string()), "{stderr} should name {}", named.display());
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn the_binary_prints_https_urls() {
    let dir = TempDir::new("tlsbin");
    let (cert, key) = make_cert(dir.path());
    let mut child =
        support::Child::start(&["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    assert!(child.log.iter().any(|l| l.contains("https://127.0.0.1:")));
    child.signal(15);
    assert_eq!(child.wait_exit(std::time::Duration::from_secs(5)), Some(0));
}

#[test]
fn a_stalled_tls_handshake_is_closed_by_the_handshake_timeout_and_blocks_nobody() {
    let dir = TempDir::new("tlsstall");
    let (cert, key) = make_cert(dir.path());
    let server = TestServer::with(|c| {
        c.tls_cert = Some(cert.clone());
        c.tls_key = Some(key.clone());
        c.handshake_timeout = std::time::Duration::from_millis(300);
    });
    // Half a ClientHello record header, then nothing.
    let mut stalled = TcpStream::connect(server.addr).unwrap();
    stalled.set_read_timeout(Some(WAIT)).unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01]).unwrap();
    // Meanwhile others are served at once.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(&cert).unwrap()).unwrap();
    let client =
        Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth());
    let mut echo = wss(server.addr, &client, "/ws/echo");
    echo.send(Message::text("not blocked")).unwrap();
    assert_eq!(echo.read().unwrap(), Message::text("not blocked"));
    let mut rest = Vec::new();
    let n = stalled.read_to_end(&mut rest).expect("closed by the server, not timed out here");
    assert_eq!(n, 0);
}

#[test]
fn a_stalled_wss_client_gets_its_1008_in_a_tls_stream_it_can_still_read() {
    let (server, _dir, client) = tls_server();
    let mut stalled = wss(server.addr, &client, "/ws/room/busy");
    let mut sender = wss(server.addr, &client, "/ws/room/busy");
    // 16 KiB messages, one round trip each (the sender is in the room), until
    // the stalled client's outbox overflows and the server lets it go.
    let big = "x".repeat(16 * 1024);
    let mut sent = 0;
    let rooms = || {
        let mut s = connect(server.addr, &client);
        s.write_all(b"GET /api/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
        let text = read_to_end_lossy(&mut s);
        let body = text.split_once("\r\n\r\n").expect("an HTTP answer").1;
        serde_json::from_str::<serde_json::Value>(body).unwrap()["connections"]["room"].clone()
    };
    while rooms() == 2 {
        for _ in 0..64 {
            sender.send(Message::text(big.clone())).unwrap();
            assert_eq!(sender.read().unwrap(), Message::text(big.clone()));
        }
        sent += 64;
        assert!(sent < 20_000, "the stalled client was never closed");
    }
    // What the server had already encrypted, then the close: one unbroken
    // TLS stream, so the client reads its 1008 rather than a decrypt error.
    let code = loop {
        match stalled.read() {
            Ok(Message::Text(t)) => assert_eq!(t.as_str(), big),
            Ok(Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => panic!("the stalled client's stream broke: {e}"),
        }
    };
    assert_eq!(code, Some(1008));
}

#[test]
fn wss_messages_just_over_a_record_back_to_back_all_come_back() {
    // 17,000 bytes: a 16 KiB record and a small one each, so the server's
    // reads end mid-record and the session decrypts more than one record
    // from one read: the plaintext must be taken before more goes in.
    let (server, _dir, client) = tls_server();
    let mut echo = wss(server.addr, &client, "/ws/echo");
    let messages: Vec<String> = (0..10).map(|i| format!("{i}").repeat(17_000)).collect();
    for m in &messages {
        echo.send(Message::text(m.clone())).unwrap();
    }
    for m in &messages {
        assert_eq!(echo.read().unwrap(), Message::text(m.clone()));
    }
}

/// Reads until the server ends the stream: true when it ended it with TLS
/// close_notify (tungstenite's `ConnectionClosed`), not a bare FIN.
fn ends_cleanly(ws: &mut WebSocket<Tls>) -> bool {
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => return true,
            Err(e) => {
                eprintln!("the stream ended with {e}");
                return false;
            }
        }
    }
}

#[test]
fn after_a_wss_close_handshake_the_server_sends_close_notify() {
    let (server, _dir, client) = tls_server();
    // The client closes.
    let mut echo = wss(server.addr, &client, "/ws/echo");
    echo.close(None).unwrap();
    assert!(ends_cleanly(&mut echo), "client-initiated close");
    // The server closes (quit on the relay), the client answers.
    let mut relay = wss(server.addr, &client, "/ws/relay");
    relay.send(Message::text(json!({"opcode": "quit"}).to_string())).unwrap();
    assert!(ends_cleanly(&mut relay), "server-initiated close");
}

#[test]
fn a_tls_handshake_that_trickles_in_is_closed_by_the_handshake_timeout() {
    let dir = TempDir::new("tlstrickle");
    let (cert, key) = make_cert(dir.path());
    let server = TestServer::with(|c| {
        c.tls_cert = Some(cert.clone());
        c.tls_key = Some(key.clone());
        c.handshake_timeout = std::time::Duration::from_millis(300);
    });
    // A real ClientHello, sent a byte at a time: each byte would restart a
    // timeout per read, but the handshake timeout counts from the start.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(&cert).unwrap()).unwrap();
    let config =
        Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth());
    let mut hello = Vec::new();
    rustls::ClientConnection::new(config, ServerName::try_from("localhost").unwrap())
        .unwrap()
        .write_tls(&mut hello)
        .unwrap();
    let mut slow = TcpStream::connect(server.addr).unwrap();
    // The pace: a read that waits 100 ms for the server's verdict between bytes.
    slow.set_read_timeout(Some(std::time::Duration::from_millis(100))).unwrap();
    let started = std::time::Instant::now();
    let mut sent = 0;
    let closed = loop {
        if sent == hello.len() || started.elapsed() > WAIT {
            break false;
        }
        if slow.write_all(&hello[sent..=sent]).is_err() {
            break true;
        }
        sent += 1;
        match slow.read(&mut [0u8; 64]) {
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            _ => break true, // an answer, an alert, the end, a reset: the server gave up on it
        }
    };
    assert!(closed, "still open after {sent} of {} bytes in {:?}", hello.len(), started.elapsed());
}

#[test]
fn plain_http_on_a_tls_port_names_the_https_url_and_a_head_gets_no_body() {
    let (server, _dir, _client) = tls_server();
    let ask = |request: &[u8]| {
        let mut plain = TcpStream::connect(server.addr).unwrap();
        plain.set_read_timeout(Some(WAIT)).unwrap();
        plain.write_all(request).unwrap();
        let mut bytes = Vec::new();
        plain.read_to_end(&mut bytes).expect("a clean close");
        String::from_utf8(bytes).unwrap()
    };
    let answer = ask(b"GET /chat.html HTTP/1.1\r\nHost: labhost:8123\r\n\r\n");
    assert!(
        answer.trim_end().ends_with("open https://labhost:8123/ (and wss:// for WebSockets)"),
        "{answer}"
    );
    let answer = ask(b"HEAD / HTTP/1.1\r\nHost: labhost:8123\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.ends_with("\r\n\r\n"), "a HEAD answer has no body: {answer}");
    // No usable Host: the server's own address.
    let answer = ask(b"GET / HTTP/1.0\r\n\r\n");
    assert!(answer.contains(&format!("open https://{}/", server.addr)), "{answer}");
}

#[test]
fn the_example_jobs_with_tls_reach_their_page_as_the_relay_page_says() {
    let (server, dir, client) = tls_server();
    let php = Command::new("php").arg("--version").output().is_ok_and(|o| o.status.success());
    let mut jobs = vec![("python3", "job.py"), ("sh", "job.sh")];
    if php {
        jobs.push(("php", "job.php"));
    }
    for (program, script) in jobs {
        let uuid = format!("tls-{script}");
        let mut page = wss(server.addr, &client, "/ws/relay");
        page.read().unwrap(); // ready
        page.send(Message::text(json!({"opcode": "uuid", "uuid": uuid}).to_string())).unwrap();
        // The registration is in once the page hears its own feedback.
        let ping = json!({"opcode": "feedback", "uuid": uuid, "progress": 0}).to_string();
        page.send(Message::text(ping)).unwrap();
        page.read().unwrap();
        let output = Command::new(program)
            .arg(format!("examples/backend/{script}"))
            .args([uuid.as_str(), &server.addr.port().to_string(), "--tls"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("WSLAB_CA", dir.path().join("cert.pem"))
            .output()
            .unwrap();
        let log =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{script} --tls:\n{log}");
        let mut last = 0;
        while last < 100 {
            let got: serde_json::Value =
                serde_json::from_str(page.read().unwrap().to_text().unwrap()).unwrap();
            last = got["progress"].as_u64().unwrap();
        }
    }
}
