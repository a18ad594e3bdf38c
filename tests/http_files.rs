//! The HTTP responder: files from `www/`, content types, HEAD, the error
//! statuses, and that nothing outside the web root is ever served.

mod support;

use std::os::unix::fs::symlink;

use support::{http, TempDir, TestServer};

#[test]
fn serves_index_for_root_and_directories() {
    let server = TestServer::start();
    let index = std::fs::read(support::www().join("index.html")).unwrap();
    for path in ["/", "/index.html", "/?x=1", "/index.html?a=b#c"] {
        let r = server.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.body, index, "{path}");
        assert_eq!(r.header("Content-Type").as_deref(), Some("text/html; charset=utf-8"));
        assert_eq!(r.header("Content-Length"), Some(index.len().to_string()));
    }
    let r = server.get("/css/");
    assert_eq!(r.status, 404, "a directory without index.html is not listed");
}

#[test]
fn content_types_by_extension() {
    let root = TempDir::new("www");
    for (name, _) in TYPES {
        std::fs::write(root.path().join(name), b"x").unwrap();
    }
    std::fs::create_dir(root.path().join("sub dir")).unwrap();
    std::fs::write(root.path().join("sub dir/index.html"), b"<p>sub</p>").unwrap();
    let server = TestServer::with(|c| c.www = root.path().to_path_buf());
    for (name, ty) in TYPES {
        let r = server.get(&format!("/{name}"));
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.header("Content-Type").as_deref(), Some(*ty), "{name}");
    }
    let r = server.get("/sub%20dir/");
    assert_eq!((r.status, r.text().as_str()), (200, "<p>sub</p>"));
}

#[test]
fn a_directory_without_its_slash_is_redirected_so_relative_links_work() {
    let root = TempDir::new("www-dirs");
    std::fs::create_dir(root.path().join("sub dir")).unwrap();
    std::fs::write(root.path().join("sub dir/index.html"), b"<link href=style.css>").unwrap();
    std::fs::create_dir(root.path().join("evil.example")).unwrap();
    std::fs::write(root.path().join("evil.example/index.html"), b"x").unwrap();
    std::fs::write(root.path().join("a.txt"), b"x").unwrap();
    let server = TestServer::with(|c| c.www = root.path().to_path_buf());
    let r = server.get("/sub%20dir?x=1#top");
    assert_eq!(r.status, 301, "{}", r.head);
    assert_eq!(r.header("Location").as_deref(), Some("/sub%20dir/?x=1"));
    assert_eq!(server.get("/sub%20dir/?x=1").status, 200);
    // The redirect never leaves the site: `//evil.example/` would.
    let r = server.get("//evil.example");
    assert_eq!(r.header("Location").as_deref(), Some("/evil.example/"), "{}", r.head);
    let head = server.raw(b"HEAD /sub%20dir HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = support::parse_response(&head);
    assert_eq!((head.status, head.body.len()), (301, 0));
    // A file is not a directory: its name with a slash is not found.
    assert_eq!(server.get("/a.txt/").status, 404);
    assert_eq!(server.get("/a.txt").status, 200);
}

const TYPES: &[(&str, &str)] = &[
    ("a.html", "text/html; charset=utf-8"),
    ("a.css", "text/css; charset=utf-8"),
    ("a.js", "text/javascript; charset=utf-8"),
    ("a.mjs", "text/javascript; charset=utf-8"),
    ("a.json", "application/json"),
    ("a.svg", "image/svg+xml"),
    ("a.png", "image/png"),
    ("a.jpg", "image/jpeg"),
    ("a.jpeg", "image/jpeg"),
    ("a.gif", "image/gif"),
    ("a.ico", "image/x-icon"),
    ("a.webp", "image/webp"),
    ("a.txt", "text/plain; charset=utf-8"),
    ("a.wasm", "application/wasm"),
    ("a.woff2", "font/woff2"),
    ("a.map", "application/json"),
    ("a.bin", "application/octet-stream"),
];

#[test]
fn requests_follow_rfc_9112_host_and_absolute_form_and_answers_carry_a_date() {
    let server = TestServer::start();
    let index = std::fs::read(support::www().join("index.html")).unwrap();
    let r = http(server.addr, "GET / HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 400, "HTTP/1.1 without Host");
    assert!(r.text().contains("Host"), "{}", r.text());
    assert_eq!(http(server.addr, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").status, 400);
    let r = http(server.addr, "GET / HTTP/1.0\r\n\r\n");
    assert_eq!((r.status, &r.body), (200, &index), "HTTP/1.0 needs no Host");
    let r = http(server.addr, "GET http://lab:8123/index.html?x HTTP/1.1\r\nHost: lab:8123\r\n\r\n");
    assert_eq!((r.status, &r.body), (200, &index), "absolute form");
    let date = r.header("Date").expect("a Date header");
    assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
    // Too many headers is not the same as too long a head.
    let many: String = (0..70).map(|i| format!("X-{i}: 1\r\n")).collect();
    let r = http(server.addr, &format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n"));
    assert_eq!(r.status, 431);
    assert!(r.text().contains("too many headers"), "{}", r.text());
}

#[test]
fn head_has_the_headers_and_no_body() {
    let server = TestServer::start();
    let full = server.get("/echo.html");
    let head = http(server.addr, "HEAD /echo.html HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), full.header("Content-Length"));
    assert!(head.body.is_empty());
}

#[test]
fn error_statuses() {
    let server = TestServer::start();
    let r = server.get("/no-such-file.html");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("not found"));

    let r = http(server.addr, "POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow").as_deref(), Some("GET, HEAD"));
    let r = http(server.addr, "DELETE / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 405);

    let big = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(9 * 1024));
    assert_eq!(http(server.addr, &big).status, 431);

    assert_eq!(http(server.addr, "GARBAGE\x01\r\n\r\n").status, 400);
    assert_eq!(http(server.addr, "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n").status, 400);
}

#[test]
fn favicon_is_served() {
    let server = TestServer::start();
    assert_eq!(server.get("/favicon.ico").status, 200);
}

#[test]
fn traversal_never_returns_a_byte_from_outside_the_root() {
    // A secret next to the web root, and a symlink inside it pointing out.
    let top = TempDir::new("traversal");
    let root = top.path().join("www");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("index.html"), b"inside").unwrap();
    std::fs::write(top.path().join("secret.txt"), b"TOP-SECRET").unwrap();
    symlink(top.path().join("secret.txt"), root.join("link.txt")).unwrap();
    symlink(top.path(), root.join("updir")).unwrap();
    let server = TestServer::with(|c| c.www = root.clone());
    let secret = top.path().join("secret.txt");
    let absolute = secret.display().to_string();
    let attempts = [
        "/../secret.txt".to_string(),
        "/%2e%2e/secret.txt".into(),
        "/%2E%2E/secret.txt".into(),
        "/..%2fsecret.txt".into(),
        "/..%2Fsecret.txt".into(),
        "/%2F..%2Fsecret.txt".into(),
        "/.%2e/secret.txt".into(),
        "/..\\secret.txt".into(),
        "/%5c..%5csecret.txt".into(),
        "/index.html%00.txt".into(),
        "/%00/../secret.txt".into(),
        format!("/{absolute}"),
        format!("/{}", absolute.replace('/', "%2f")),
        "/link.txt".into(),
        "/updir/secret.txt".into(),
        "/updir/www/index.html/../../secret.txt".into(),
    ];
    for path in &attempts {
        let raw = server.raw(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        let text = String::from_utf8_lossy(&raw);
        assert!(!text.contains("TOP-SECRET"), "{path} leaked: {text}");
        let status = support::parse_response(&raw).status;
        assert!(status == 404 || status == 400, "{path}: {status}");
    }
    // An absolute-form target is not a path under the root either.
    let r = http(server.addr, &format!("GET {absolute} HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert!(r.status == 404 || r.status == 400);
    assert!(!r.text().contains("TOP-SECRET"));
}

#[test]
fn status_counts_follow_connects_and_disconnects() {
    let server = TestServer::start();
    let s = server.status();
    assert_eq!(s["connections"]["echo"], 0);
    assert!(s["uptime_s"].is_u64());
    let mut a = server.ws("/ws/echo");
    let mut b = server.ws("/ws/room/x");
    let mut c = server.ws("/ws/room/y");
    // A round trip on each proves its Open reached the dispatcher.
    for (ws, m) in [(&mut a, "1"), (&mut b, "2"), (&mut c, "3")] {
        ws.send(m);
        assert_eq!(ws.recv_text(), m);
    }
    let s = server.status();
    assert_eq!(s["connections"]["echo"], 1);
    assert_eq!(s["connections"]["room"], 2);
    assert_eq!(s["messages_in"], 3);
    assert_eq!(s["messages_out"], 3);
    a.close();
    drop(b); // vanishes without a close frame
    support::wait_until("echo and room counts to drop", || {
        let s = server.status();
        s["connections"]["echo"] == 0 && s["connections"]["room"] == 1
    });
    let r = http(server.addr, "POST /api/status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(server.get("/api/nope").status, 404);
}
