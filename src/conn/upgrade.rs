//! The checks on a WebSocket upgrade request, as a pure function of the
//! parsed head: the route and the 101 to send, or the refusal to answer
//! before any 101.

use tungstenite::handshake::derive_accept_key;

use std::net::SocketAddr;

use crate::app::client::{parse_query, KEPT_HEADERS};
use crate::app::{ClientInfo, ClientKind};
use crate::http::{cors, Request, Response};
use crate::routes::{Route, Routes};

/// An upgrade that passed every check.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    /// Where the client goes.
    pub route: Route,
    /// The 101 response, head only.
    pub response: String,
    /// The subprotocol chosen (the first one offered), if any.
    pub subprotocol: Option<String>,
}

impl Accepted {
    /// What the app will know of the client: the route, the path, the
    /// query, the headers it may look at, the subprotocol.
    pub fn client_info(&self, req: &Request, peer: SocketAddr) -> ClientInfo {
        let mut info = ClientInfo::new(0, peer, ClientKind::WebSocket).with_app(self.route.app);
        info.path = req.path().to_string();
        info.param = self.route.param.clone();
        let query = req.target().split_once('?').map_or("", |(_, q)| q);
        let query = query.split('#').next().unwrap_or("");
        info.query = parse_query(query);
        info.query_string = query.to_string();
        info.headers = KEPT_HEADERS
            .iter()
            .filter_map(|&name| req.header(name).map(|v| (name.to_string(), v.to_string())))
            .collect();
        info.subprotocol = self.subprotocol.clone();
        info
    }
}

/// An upgrade refused before any 101.
#[derive(Debug)]
pub struct Refusal {
    /// What to answer.
    pub response: Response,
    /// Why, for the log (`None`: not worth a line).
    pub log: Option<String>,
}

fn refuse(status: u16, message: &str) -> Refusal {
    Refusal { response: Response::text(status, message), log: None }
}

/// Whether `key` is 16 bytes in base64, as RFC 6455 §4.1 has the client
/// send (22 characters of the alphabet and `==`; Node's `ws` checks the same).
fn is_key(key: &str) -> bool {
    let key = key.as_bytes();
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22].iter().all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// Checks an upgrade request (spec §1, §4): a WebSocket app on the path,
/// GET, an allowed origin, `Connection: Upgrade`, version 13 and a key.
///
/// With `allow_origins` set, a request without an `Origin` header is
/// accepted: browsers always send one, so its absence means a script (curl,
/// Python, PHP), which an origin check cannot and need not stop.
pub fn check(req: &Request, routes: &Routes, allow_origins: &[String]) -> Result<Accepted, Refusal> {
    let path = req.path();
    let Some(route) = routes.websocket(path) else {
        return Err(Refusal {
            response: Response::text(404, &format!("no WebSocket app on {path}")),
            log: Some(format!("WebSocket upgrade on {path}: no app there, 404")),
        });
    };
    if !routes.is_up(route.app) {
        return Err(Refusal {
            response: Response::busy(&format!("the app on {path} is restarting, try again in a moment")),
            log: Some(format!("WebSocket upgrade on {path}: the app is down (restarting), 503")),
        });
    }
    if req.method() != "GET" {
        return Err(refuse(400, "a WebSocket upgrade must be a GET"));
    }
    if req.version == 0 {
        return Err(refuse(400, "a WebSocket upgrade needs HTTP/1.1 (RFC 6455 §4.1)"));
    }
    if !allow_origins.is_empty() {
        if let Some(origin) = req.header("Origin") {
            if !allow_origins.iter().any(|o| o == origin) {
                return Err(Refusal {
                    response: cors::origin_refused(origin),
                    log: Some(format!(
                        "WebSocket upgrade from origin {origin:?} refused (not in --allow-origin), 403"
                    )),
                });
            }
        }
    }
    if !req.header_has("Connection", "upgrade") {
        return Err(refuse(400, "missing Connection: Upgrade"));
    }
    if req.header("Sec-WebSocket-Version") != Some("13") {
        let response =
            Response::text(426, "WebSocket version 13 required").with("Sec-WebSocket-Version", "13");
        return Err(Refusal { response, log: None });
    }
    let Some(key) = req.header("Sec-WebSocket-Key").filter(|k| !k.is_empty()) else {
        return Err(refuse(400, "missing Sec-WebSocket-Key"));
    };
    if req.headers().filter(|(n, _)| n.eq_ignore_ascii_case("Sec-WebSocket-Key")).count() > 1 {
        return Err(refuse(400, "more than one Sec-WebSocket-Key (RFC 6455 §11.3.1)"));
    }
    if !is_key(key) {
        return Err(refuse(
            400,
            "Sec-WebSocket-Key must be 16 bytes in base64, 24 characters (RFC 6455 §4.1)",
        ));
    }
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        derive_accept_key(key.as_bytes())
    );
    // A page that asks for subprotocols gets the first one back, so that
    // student code passing one still connects (browsers fail the connection
    // when the server picks none).
    let subprotocol = req
        .header("Sec-WebSocket-Protocol")
        .and_then(|p| p.split(',').next())
        .map(|first| first.trim().to_string())
        .filter(|first| !first.is_empty());
    if let Some(first) = &subprotocol {
        response.push_str(&format!("Sec-WebSocket-Protocol: {first}\r\n"));
    }
    response.push_str("\r\n");
    Ok(Accepted { route, response, subprotocol })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::classify::{classify, Peer};

    fn routes() -> Routes {
        let mut routes = Routes::default();
        routes.exact("/ws/echo", 0, "");
        routes
    }

    fn head(text: &str) -> Request {
        match classify(text.as_bytes()) {
            Peer::Http(req) => req,
            other => panic!("not a head: {other:?}"),
        }
    }

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn upgrade(path: &str, extra: &str) -> Request {
        head(&format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
        ))
    }

    fn with_key(key: &str) -> Request {
        head(&format!(
            "GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
        ))
    }

    fn status(result: Result<Accepted, Refusal>) -> u16 {
        match result {
            Ok(_) => 101,
            Err(r) => r.response.status,
        }
    }

    #[test]
    fn a_good_upgrade_gets_the_accept_key_of_rfc_6455() {
        let accepted = check(&upgrade("/ws/echo", ""), &routes(), &[]).unwrap();
        assert_eq!(accepted.route, Route { app: 0, param: String::new() });
        assert!(accepted.response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(accepted.response.ends_with("\r\n\r\n"));
    }

    #[test]
    fn the_first_subprotocol_offered_is_chosen() {
        let req = upgrade("/ws/echo", "Sec-WebSocket-Protocol: chat, superchat\r\n");
        let accepted = check(&req, &routes(), &[]).unwrap();
        assert!(accepted.response.contains("Sec-WebSocket-Protocol: chat\r\n"));
    }

    #[test]
    fn refusals_come_before_any_101() {
        assert_eq!(status(check(&upgrade("/nowhere", ""), &routes(), &[])), 404);
        let post = head(&format!(
            "POST /ws/echo HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
        ));
        assert_eq!(status(check(&post, &routes(), &[])), 400);
        let old = head(&format!(
            "GET /ws/echo HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
        ));
        let refusal = check(&old, &routes(), &[]).unwrap_err();
        assert_eq!(refusal.response.status, 426);
        assert!(refusal.response.headers.iter().any(|(n, v)| *n == "Sec-WebSocket-Version" && v == "13"));
        let keyless = head("GET /ws/echo HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n");
        assert_eq!(status(check(&keyless, &routes(), &[])), 400);
        let no_connection = head(&format!(
            "GET /ws/echo HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
        ));
        assert_eq!(status(check(&no_connection, &routes(), &[])), 400);
        let http10 = head(&format!(
            "GET /ws/echo HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
        ));
        assert_eq!(status(check(&http10, &routes(), &[])), 400);
    }

    #[test]
    fn the_key_must_be_sixteen_bytes_in_base64() {
        for good in
            [KEY, "x3JJHMbDL1EzLkh9GBhXDw==", "AAAAAAAAAAAAAAAAAAAA+/==", "  x3JJHMbDL1EzLkh9GBhXDw== "]
        {
            let req = with_key(good);
            assert_eq!(status(check(&req, &routes(), &[])), 101, "{good:?}");
        }
        let twice = head(&format!(
            "GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
        ));
        assert_eq!(status(check(&twice, &routes(), &[])), 400);
        for bad in [
            "dGhlIHNhbXBsZS1ub25jZ-==",
            "abc",
            "x3JJHMbDL1EzLkh9GBhXDw=",
            "x3JJHMbDL1EzLkh9GBhXDw",
            "x3JJHMbDL1EzLkh9GBhX!w==",
            "dGhlIHNhbXBsZSBub25jZQ==dGhl",
        ] {
            let req = with_key(bad);
            let refusal = check(&req, &routes(), &[]).unwrap_err();
            assert_eq!(refusal.response.status, 400, "{bad:?}");
            assert!(String::from_utf8_lossy(&refusal.response.body).contains("16 bytes in base64"));
        }
    }

    #[test]
    fn allowed_origins_pass_others_get_403_and_scripts_without_origin_pass() {
        let allowed = vec!["http://lab:8123".to_string()];
        let good = upgrade("/ws/echo", "Origin: http://lab:8123\r\n");
        let bad = upgrade("/ws/echo", "Origin: http://evil.example\r\n");
        let script = upgrade("/ws/echo", "");
        assert_eq!(status(check(&good, &routes(), &allowed)), 101);
        assert_eq!(status(check(&bad, &routes(), &allowed)), 403);
        let refusal = check(&bad, &routes(), &allowed).unwrap_err();
        assert_eq!(
            String::from_utf8(refusal.response.body).unwrap().trim_end(),
            "origin http://evil.example is not allowed here: start wslab with --allow-origin http://evil.example",
            "says how to let it in"
        );
        assert_eq!(status(check(&script, &routes(), &allowed)), 101);
        assert_eq!(status(check(&bad, &routes(), &[])), 101, "no list: every origin");
    }
}
