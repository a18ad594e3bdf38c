//! HTTP/1.x: the request head (parsed with httparse), responses, and the
//! handler for every request that is not a WebSocket upgrade.

pub mod api;
pub mod files;

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use crate::conn::Stream;
use crate::server::Shared;

/// Largest request head accepted; a longer one gets 431 (spec §4).
pub const MAX_HEAD: usize = 8 * 1024;
/// Most headers accepted in one request head; more get 431.
const MAX_HEADERS: usize = 64;

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target as sent, e.g. `/chat.html?x=1`.
    pub target: String,
    /// Header names (as sent) and values.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Length of the head in bytes, blank line included; what follows is body
    /// (or, after an upgrade, WebSocket frames).
    pub head_len: usize,
}

impl Request {
    /// The first value of header `name` (case-insensitive), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    /// Whether header `name` holds `token` in its comma-separated list (case-insensitive).
    pub fn header_has(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The path part of the target, before any `?`.
    pub fn path(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or("")
    }

    /// Whether this asks for a WebSocket upgrade.
    pub fn is_upgrade(&self) -> bool {
        self.header_has("Upgrade", "websocket")
    }
}

/// What the first bytes of a connection say it is (spec §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// Not enough bytes yet to tell.
    NeedMore,
    /// A complete HTTP request head.
    Http(Request),
    /// A backend script on a plain socket: `{` or the legacy `php process`.
    Backend,
    /// Not HTTP and not a backend: answer 400.
    Invalid,
    /// A request head over [`MAX_HEAD`] or with too many headers: answer 431.
    TooLarge,
}

/// The legacy greeting of phpWebSocketServer's PHP client.
pub const PHP_GREETING: &[u8] = b"php process";

/// Classifies a connection by the bytes read so far. Never panics, whatever the bytes.
pub fn classify(buf: &[u8]) -> Peer {
    let Some(&first) = buf.first() else { return Peer::NeedMore };
    if first == b'{' || buf.starts_with(PHP_GREETING) {
        return Peer::Backend;
    }
    if PHP_GREETING.starts_with(buf) {
        return Peer::NeedMore;
    }
    parse_head(buf)
}

fn parse_head(buf: &[u8]) -> Peer {
    // On the heap, not the stack: the 2 KiB would stay resident on every
    // connection thread's stack for as long as its client stays connected.
    let mut headers = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(head_len)) if head_len <= MAX_HEAD => Peer::Http(Request {
            method: req.method.unwrap_or_default().to_string(),
            target: req.path.unwrap_or_default().to_string(),
            headers: req.headers.iter().map(|h| (h.name.to_string(), h.value.to_vec())).collect(),
            head_len,
        }),
        Ok(httparse::Status::Complete(_)) => Peer::TooLarge,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => Peer::TooLarge,
        Ok(httparse::Status::Partial) => Peer::NeedMore,
        Err(httparse::Error::TooManyHeaders) => Peer::TooLarge,
        Err(_) => Peer::Invalid,
    }
}

/// An HTTP response with a fully known body.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra headers (Content-Type, Allow, ...).
    pub headers: Vec<(&'static str, String)>,
    /// The body; sent for every method but HEAD.
    pub body: Vec<u8>,
}

impl Response {
    /// A short plain-text response, for errors.
    pub fn text(status: u16, body: &str) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", "text/plain; charset=utf-8".into())],
            body: format!("{body}\n").into_bytes(),
        }
    }

    /// A JSON response.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", "application/json".into()), ("Cache-Control", "no-store".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// Adds a header.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Writes the response; `head_only` leaves the body out (HEAD requests).
    pub fn write_to(&self, out: &mut impl Write, head_only: bool) -> io::Result<()> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", self.body.len()));
        let mut bytes = head.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        out.write_all(&bytes)?;
        out.flush()
    }
}

/// The reason phrase for the statuses wslab sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Largest request body accepted (`POST /api/relay`).
pub const MAX_BODY: usize = 64 * 1024;

/// Answers one plain HTTP request and closes the connection.
///
/// `buf` holds everything read so far: the head, and maybe part of the body.
pub(crate) fn handle(mut stream: Stream, buf: Vec<u8>, req: Request, server: &Shared) -> io::Result<()> {
    let head_only = req.method == "HEAD";
    let response = if req.path().starts_with("/api/") {
        match read_body(&mut stream, &buf[req.head_len..], &req, server.config.handshake_timeout) {
            Ok(body) => api::handle(&req, body, server),
            Err(response) => response,
        }
    } else {
        files::handle(&req, &server.config.www)
    };
    log::debug!("{} {} -> {}", req.method, req.target, response.status);
    response.write_to(&mut stream, head_only)?;
    stream.finish();
    Ok(())
}

/// Reads the request body: `Content-Length` bytes, at most [`MAX_BODY`].
/// Requests without a body (GET, HEAD, no length) get an empty one.
fn read_body(
    stream: &mut Stream,
    already: &[u8],
    req: &Request,
    timeout: Duration,
) -> Result<Vec<u8>, Response> {
    let length = match req.header("Content-Length") {
        None if req.method == "POST" || req.method == "PUT" => {
            return Err(Response::json(
                411,
                &serde_json::json!({"ok": false, "error": "Content-Length required"}),
            ))
        }
        None => return Ok(Vec::new()),
        Some(v) => v.parse::<usize>().map_err(|_| {
            Response::json(400, &serde_json::json!({"ok": false, "error": "bad Content-Length"}))
        })?,
    };
    if length > MAX_BODY {
        return Err(Response::json(
            413,
            &serde_json::json!({"ok": false, "error": format!("body over {MAX_BODY} bytes")}),
        ));
    }
    let mut body = already[..already.len().min(length)].to_vec();
    let deadline = Instant::now() + timeout;
    let mut chunk = [0u8; 8192];
    while body.len() < length {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.tcp().set_read_timeout(Some(left)).is_err() {
            return Err(Response::text(400, "request body timed out"));
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Err(Response::text(400, "request body incomplete")),
            Ok(n) => body.extend_from_slice(&chunk[..n.min(length - body.len())]),
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_first_bytes() {
        assert_eq!(classify(b""), Peer::NeedMore);
        assert_eq!(classify(b"{\"opcode\""), Peer::Backend);
        assert_eq!(classify(b"php"), Peer::NeedMore);
        assert_eq!(classify(b"php process\n\n"), Peer::Backend);
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Peer::NeedMore);
        assert_eq!(classify(b"\x00\x01garbage\r\n\r\n"), Peer::Invalid);
        let Peer::Http(req) = classify(b"GET /a?b HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\n\r\nrest")
        else {
            panic!("not http")
        };
        assert_eq!(req.path(), "/a");
        assert!(req.is_upgrade());
        assert_eq!(req.head_len, 50);
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(9000, b'a');
        assert_eq!(classify(&big), Peer::TooLarge);
    }
}
