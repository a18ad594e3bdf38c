//! CORS on `/api/*` (spec §8, docs/protocol.md "CORS"): with
//! `--allow-origin`, the API answers pages of those origins, preflight
//! `OPTIONS` included; other origins get no CORS headers (and `403` to an
//! `OPTIONS`); without `--allow-origin` there are no CORS headers at all.
//! `OPTIONS` never reaches an app.

mod support;

use std::net::SocketAddr;

use serde_json::json;
use support::{http, raw, HttpResponse, TestServer, Ws};

/// The course's Apache, on another port of the lab machine.
const SITE: &str = "http://apache.lab:8000";

fn server() -> TestServer {
    TestServer::with(|c| c.allow_origins = vec!["http://other.lab".into(), SITE.into()])
}

/// The raw bytes of `METHOD path` with `headers` and `body` (a
/// `Content-Length` is added when there is a body).
fn request_bytes(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    format!("{head}\r\n{body}")
}

fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    http(addr, &request_bytes(method, path, headers, body))
}

/// The preflight a browser sends before a `fetch` POST with a JSON body.
fn preflight(addr: SocketAddr, origin: &str, path: &str) -> HttpResponse {
    request(
        addr,
        "OPTIONS",
        path,
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        "",
    )
}

/// The names of the `Access-Control-*` headers of a response.
fn cors_headers(r: &HttpResponse) -> Vec<String> {
    r.head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim().to_string()))
        .filter(|n| n.to_ascii_lowercase().starts_with("access-control-"))
        .collect()
}

fn post_relay(addr: SocketAddr, origin: Option<&str>, body: &str) -> HttpResponse {
    let mut headers = vec![("Content-Type", "application/json")];
    headers.extend(origin.map(|o| ("Origin", o)));
    request(addr, "POST", "/api/relay", &headers, body)
}

/// A relay page registered under `uuid`, its registration proven by a
/// feedback to itself.
fn relay_page(server: &TestServer, uuid: &str) -> Ws {
    let mut ws = server.ws("/ws/relay");
    assert_eq!(ws.recv_json()["opcode"], "ready");
    ws.send_json(json!({"opcode": "uuid", "uuid": uuid}));
    let marker = json!({"opcode": "feedback", "uuid": uuid, "step": "registered"});
    ws.send_json(marker.clone());
    assert_eq!(ws.recv_json(), marker);
    ws
}

#[test]
fn a_preflight_from_an_allowed_origin_gets_204_and_the_cors_headers() {
    let server = server();
    for path in ["/api/relay", "/api/status", "/api/workshops"] {
        let bytes = raw(
            server.addr,
            request_bytes(
                "OPTIONS",
                path,
                &[
                    ("Origin", SITE),
                    ("Access-Control-Request-Method", "POST"),
                    ("Access-Control-Request-Headers", "content-type, x-lab"),
                ],
                "",
            )
            .as_bytes(),
        );
        let r = support::parse_response(&bytes);
        assert_eq!(r.status, 204, "{path}: {}", r.head);
        assert!(r.head.starts_with("HTTP/1.1 204 No Content\r\n"), "{}", r.head);
        assert_eq!(r.header("Access-Control-Allow-Origin").as_deref(), Some(SITE), "{path}");
        assert_eq!(r.header("Access-Control-Allow-Methods").as_deref(), Some("GET, POST, OPTIONS"));
        assert_eq!(r.header("Access-Control-Allow-Headers").as_deref(), Some("content-type, x-lab"));
        assert_eq!(r.header("Access-Control-Max-Age").as_deref(), Some("600"));
        assert_eq!(r.header("Vary").as_deref(), Some("Origin"));
        // A 204 has no body, and so no Content-Length either.
        assert!(r.body.is_empty(), "{path}: {:?}", r.text());
        assert_eq!(r.header("Content-Length"), None, "{}", r.head);
    }
    // A preflight that names no headers is allowed Content-Type.
    let r = request(
        server.addr,
        "OPTIONS",
        "/api/relay",
        &[("Origin", "http://other.lab"), ("Access-Control-Request-Method", "POST")],
        "",
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("Access-Control-Allow-Origin").as_deref(), Some("http://other.lab"));
    assert_eq!(r.header("Access-Control-Allow-Headers").as_deref(), Some("Content-Type"));
}

#[test]
fn a_preflight_from_another_origin_is_refused_with_403_and_a_hint() {
    let server = server();
    for origin in ["http://evil.example", "http://apache.lab", "http://apache.lab:8000/"] {
        let r = preflight(server.addr, origin, "/api/relay");
        assert_eq!(r.status, 403, "{origin}: {}", r.head);
        assert_eq!(cors_headers(&r), Vec::<String>::new(), "{origin}");
        assert_eq!(r.header("Content-Type").as_deref(), Some("text/plain; charset=utf-8"));
        let text = r.text();
        assert_eq!(text.lines().count(), 1, "{text:?}");
        assert!(
            text.contains("not allowed") && text.contains("--allow-origin") && text.contains(origin),
            "{text:?}"
        );
    }
}

#[test]
fn get_status_carries_the_origin_only_for_an_allowed_one() {
    let server = server();
    let r = request(server.addr, "GET", "/api/status", &[("Origin", SITE)], "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Access-Control-Allow-Origin").as_deref(), Some(SITE));
    assert_eq!(r.header("Vary").as_deref(), Some("Origin"));
    assert!(r.json()["uptime_s"].is_u64(), "{}", r.text());

    for headers in [&[("Origin", "http://evil.example")][..], &[]] {
        let r = request(server.addr, "GET", "/api/status", headers, "");
        assert_eq!(r.status, 200);
        assert_eq!(cors_headers(&r), Vec::<String>::new(), "{headers:?}");
        // The answer depends on the Origin, so caches are told.
        assert_eq!(r.header("Vary").as_deref(), Some("Origin"));
    }

    // Errors of the API carry it too, so that the page can read them.
    let r = request(server.addr, "DELETE", "/api/status", &[("Origin", SITE)], "");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Access-Control-Allow-Origin").as_deref(), Some(SITE));
    let r = request(server.addr, "GET", "/api/nothing", &[("Origin", SITE)], "");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("Access-Control-Allow-Origin").as_deref(), Some(SITE));
    // Files are not the API: no CORS there.
    let r = request(server.addr, "GET", "/index.html", &[("Origin", SITE)], "");
    assert_eq!(r.status, 200);
    assert_eq!(cors_headers(&r), Vec::<String>::new());
}

#[test]
fn post_api_relay_from_an_allowed_origin_carries_the_header_and_delivers() {
    let server = server();
    let mut page = relay_page(&server, "cors-page");
    let body = r#"{"opcode":"feedback","uuid":"cors-page","progress":40}"#;
    let r = post_relay(server.addr, Some(SITE), body);
    assert_eq!((r.status, r.json()), (200, json!({"ok": true, "delivered": 1})));
    assert_eq!(r.header("Access-Control-Allow-Origin").as_deref(), Some(SITE));
    assert_eq!(r.header("Vary").as_deref(), Some("Origin"));
    assert_eq!(page.recv_text(), body);

    // A refusal by the relay carries it as well.
    let r = post_relay(server.addr, Some(SITE), r#"{"opcode":"feedback","uuid":"nobody"}"#);
    assert_eq!(r.status, 404);
    assert_eq!(r.header("Access-Control-Allow-Origin").as_deref(), Some(SITE));
    // ...and refusals before the relay (a malformed length; a body too large).
    let r = request(server.addr, "POST", "/api/relay", &[("Origin", SITE), ("Content-Length", "x")], "");
    assert_eq!(r.status, 400);
    assert_eq!(r.header("Access-Control-Allow-Origin").as_deref(), Some(SITE));
    let r = request(server.addr, "POST", "/api/relay", &[("Origin", SITE), ("Content-Length", "70000")], "");
    assert_eq!(r.status, 413);
    assert_eq!(r.header("Access-Control-Allow-Origin").as_deref(), Some(SITE));

    // Another origin's POST is refused, not carried out: CORS would only
    // hide the answer from that page, and a form or a `no-cors` fetch
    // needs no preflight (cross-site request forgery).
    let forged = r#"{"opcode":"feedback","uuid":"cors-page","progress":666}"#;
    let r = post_relay(server.addr, Some("http://evil.example"), forged);
    assert_eq!(r.status, 403);
    assert!(
        r.json()["error"].as_str().unwrap().contains("--allow-origin http://evil.example"),
        "{}",
        r.text()
    );
    assert_eq!(cors_headers(&r), Vec::<String>::new());
    // A script (no Origin) still gets in; the page sees it, and never the forged one.
    let r = post_relay(server.addr, None, body);
    assert_eq!(r.status, 200);
    assert_eq!(page.recv_text(), body);
}

#[test]
fn options_never_reaches_the_relay() {
    for server in [server(), TestServer::start()] {
        let mut page = relay_page(&server, "quiet-page");
        let before = server.status();
        // An OPTIONS that carries a feedback as its body: answered, not relayed.
        let feedback = r#"{"opcode":"feedback","uuid":"quiet-page","progress":99}"#;
        for origin in [SITE, "http://evil.example"] {
            let r = request(
                server.addr,
                "OPTIONS",
                "/api/relay",
                &[("Origin", origin), ("Access-Control-Request-Method", "POST")],
                feedback,
            );
            assert!(r.status == 204 || r.status == 403, "{}", r.head);
        }
        let r = request(server.addr, "OPTIONS", "/api/relay", &[], feedback);
        assert_eq!(r.status, 204);
        let after = server.status();
        assert_eq!(after["messages_in"], before["messages_in"]);
        assert_eq!(after["messages_out"], before["messages_out"]);
        // The next message the page gets is this marker, not the OPTIONS bodies.
        let marker = r#"{"opcode":"feedback","uuid":"quiet-page","marker":true}"#;
        assert_eq!(post_relay(server.addr, None, marker).status, 200);
        assert_eq!(page.recv_text(), marker);
    }
}

#[test]
fn without_allow_origin_there_are_no_cors_headers() {
    let server = TestServer::start();
    let r = request(server.addr, "GET", "/api/status", &[("Origin", SITE)], "");
    assert_eq!(r.status, 200);
    assert_eq!(cors_headers(&r), Vec::<String>::new());
    assert_eq!(r.header("Vary"), None);

    let _page = relay_page(&server, "plain-page");
    let r = post_relay(server.addr, Some(SITE), r#"{"opcode":"feedback","uuid":"plain-page"}"#);
    assert_eq!(r.status, 200);
    assert_eq!(cors_headers(&r), Vec::<String>::new());
    assert_eq!(r.header("Vary"), None);

    // OPTIONS: 204 with Allow, no CORS headers, no body, from any origin.
    for origin in [SITE, "http://evil.example"] {
        let r = preflight(server.addr, origin, "/api/relay");
        assert_eq!(r.status, 204, "{}", r.head);
        assert_eq!(r.header("Allow").as_deref(), Some("GET, HEAD, POST, OPTIONS"));
        assert_eq!(cors_headers(&r), Vec::<String>::new());
        assert_eq!(r.header("Vary"), None);
        assert!(r.body.is_empty());
    }
}

#[test]
fn options_on_a_path_that_is_no_api_route_is_404() {
    let server = server();
    let r = preflight(server.addr, SITE, "/api/nothing");
    assert_eq!(r.status, 404, "{}", r.head);
    let r = request(server.addr, "OPTIONS", "/index.html", &[], "");
    assert_eq!(r.status, 405, "{}", r.head);
}
